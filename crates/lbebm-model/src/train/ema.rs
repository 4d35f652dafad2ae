//! An exponential moving average of the weights (`train.ema`): validation and the saved
//! checkpoints read the average, training goes on with the raw weights.

use crate::checkpoint::sorted_vars;
use crate::ModelError;
use candle_core::{DType, Device, Tensor, Var};
use candle_nn::VarMap;
use std::collections::HashMap;
use std::path::Path;

/// The averaged weights, one f32 buffer per variable in name order (as [`super::Adam`]).
pub struct Ema {
    decay: f64,
    vars: Vec<(String, Var)>,
    shadow: Vec<Vec<f32>>,
}

fn flat(var: &Var) -> candle_core::Result<Vec<f32>> {
    var.as_tensor()
        .flatten_all()?
        .to_dtype(DType::F32)?
        .to_vec1::<f32>()
}

impl Ema {
    /// Starts the average at the weights as they are (the initialisation).
    pub fn new(vm: &VarMap, decay: f64) -> Result<Self, ModelError> {
        let vars = sorted_vars(vm);
        let shadow = vars
            .iter()
            .map(|(_, v)| flat(v))
            .collect::<candle_core::Result<Vec<_>>>()?;
        Ok(Self {
            decay,
            vars,
            shadow,
        })
    }

    /// The decay used after optimiser step `t` (1-based): faster at first, so that the
    /// average does not drag the initial weights along for hundreds of steps.
    pub fn decay_at(&self, t: usize) -> f64 {
        self.decay.min((1.0 + t as f64) / (10.0 + t as f64))
    }

    /// Folds the current weights in, after optimiser step `t`.
    pub fn update(&mut self, t: usize) -> Result<(), ModelError> {
        let d = self.decay_at(t) as f32;
        for ((_, var), s) in self.vars.iter().zip(self.shadow.iter_mut()) {
            let w = flat(var)?;
            for (s, w) in s.iter_mut().zip(&w) {
                *s = d * *s + (1.0 - d) * w;
            }
        }
        Ok(())
    }

    /// Puts the average into the variables and returns the raw weights, for
    /// [`Ema::put_back`].
    pub fn swap_in(&self) -> Result<Vec<Tensor>, ModelError> {
        let mut raw = Vec::with_capacity(self.vars.len());
        for ((_, var), s) in self.vars.iter().zip(&self.shadow) {
            raw.push(var.as_tensor().copy()?);
            var.set(&Tensor::from_slice(s, var.dims(), var.device())?)?;
        }
        Ok(raw)
    }

    /// Restores the raw weights that [`Ema::swap_in`] returned.
    pub fn put_back(&self, raw: Vec<Tensor>) -> Result<(), ModelError> {
        for ((_, var), w) in self.vars.iter().zip(raw) {
            var.set(&w)?;
        }
        Ok(())
    }

    /// The average as `ema/<name>` tensors, for the resumable training state.
    pub(super) fn state(&self, map: &mut HashMap<String, Tensor>) -> candle_core::Result<()> {
        for ((n, var), s) in self.vars.iter().zip(&self.shadow) {
            map.insert(
                format!("ema/{n}"),
                Tensor::from_slice(s, var.dims(), &Device::Cpu)?,
            );
        }
        Ok(())
    }

    /// Reads the average back from a training state written by [`Ema::state`].
    pub(super) fn restore(
        &mut self,
        map: &HashMap<String, Tensor>,
        path: &Path,
    ) -> Result<(), ModelError> {
        for ((n, var), s) in self.vars.iter().zip(self.shadow.iter_mut()) {
            let t = map
                .get(&format!("ema/{n}"))
                .filter(|t| t.dims() == var.dims())
                .ok_or_else(|| {
                    super::cannot_resume(
                        path,
                        format!(
                            "the training state lacks ema/{n} or its shape differs (was it trained without train.ema?)"
                        ),
                    )
                })?;
            *s = t.flatten_all()?.to_dtype(DType::F32)?.to_vec1::<f32>()?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one_var(vals: &[f32]) -> (VarMap, Var) {
        let vm = VarMap::new();
        let t = Tensor::from_slice(vals, vals.len(), &Device::Cpu).unwrap();
        let var = Var::from_tensor(&t).unwrap();
        vm.data().lock().unwrap().insert("w".into(), var.clone());
        (vm, var)
    }

    fn values(var: &Var) -> Vec<f32> {
        var.as_tensor().to_vec1::<f32>().unwrap()
    }

    #[test]
    fn the_average_follows_the_weights_and_swaps_in_and_out() {
        let (vm, var) = one_var(&[0.0, 4.0]);
        let mut e = Ema::new(&vm, 0.5).unwrap();
        // Early steps average faster than the configured decay, later ones use it.
        assert!((e.decay_at(1) - 2.0 / 11.0).abs() < 1e-12);
        assert_eq!(e.decay_at(1000), 0.5);
        var.set(&Tensor::new(&[2.0f32, 0.0], &Device::Cpu).unwrap())
            .unwrap();
        e.update(1000).unwrap();
        // 0.5·start + 0.5·now.
        let raw = e.swap_in().unwrap();
        assert_eq!(values(&var), vec![1.0, 2.0]);
        e.put_back(raw).unwrap();
        assert_eq!(values(&var), vec![2.0, 0.0]);
        // The state round-trips into a fresh average.
        let mut map = HashMap::new();
        e.state(&mut map).unwrap();
        let mut f = Ema::new(&vm, 0.5).unwrap();
        f.restore(&map, Path::new("state")).unwrap();
        f.swap_in().unwrap();
        assert_eq!(values(&var), vec![1.0, 2.0]);
        // A state without the average names what is missing.
        let e = f
            .restore(&HashMap::new(), Path::new("state"))
            .expect_err("must fail")
            .to_string();
        assert!(e.contains("ema/w"), "{e}");
    }
}
