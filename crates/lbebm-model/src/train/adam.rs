//! Adam with a fused CPU update and state that can be saved and resumed.

use crate::checkpoint::sorted_vars;
use crate::ModelError;
use candle_core::{backprop::GradStore, DType, Device, Tensor, Var};
use candle_nn::VarMap;
use std::collections::HashMap;
use std::path::Path;

/// Adam (no weight decay unless [`Adam::weight_decay`] is set; the reference has none), with
/// state that can be saved and resumed.
/// On the CPU the update is one fused pass over plain buffers per variable (about a
/// dozen tensor operations, each allocating, otherwise).
pub struct Adam {
    vars: Vec<(String, Var)>,
    m: Vec<Vec<f32>>,
    v: Vec<Vec<f32>>,
    /// Steps taken (for the bias correction).
    pub t: usize,
    /// Learning rate.
    pub lr: f64,
    /// Decoupled weight decay (AdamW): every step multiplies each weight by
    /// `1 − lr·weight_decay` before the Adam update. 0: plain Adam.
    pub weight_decay: f64,
    b1: f64,
    b2: f64,
    eps: f64,
}

impl Adam {
    /// Zero moments for every variable of `vm`, in name order.
    pub fn new(vm: &VarMap, lr: f64) -> Result<Self, ModelError> {
        let vars = sorted_vars(vm);
        let m: Vec<Vec<f32>> = vars
            .iter()
            .map(|(_, v)| vec![0.0; v.elem_count()])
            .collect();
        let v = m.clone();
        Ok(Self {
            vars,
            m,
            v,
            t: 0,
            lr,
            weight_decay: 0.0,
            b1: 0.9,
            b2: 0.999,
            eps: 1e-8,
        })
    }

    /// A step on the sum of several gradients (of the parts of one batch).
    pub fn step_sum(&mut self, grads: &[GradStore]) -> Result<(), ModelError> {
        self.t += 1;
        let bc1 = 1.0 - self.b1.powi(self.t as i32);
        let bc2 = 1.0 - self.b2.powi(self.t as i32);
        // lr·m̂/(√v̂ + ε) with the bias corrections folded into two scalars.
        let k = AdamConsts {
            b1: self.b1 as f32,
            b2: self.b2 as f32,
            step: (self.lr / bc1) as f32,
            inv_sqrt_bc2: (1.0 / bc2.sqrt()) as f32,
            eps: self.eps as f32,
            shrink: (1.0 - self.lr * self.weight_decay) as f32,
        };
        for (i, (_, var)) in self.vars.iter().enumerate() {
            let gs: Vec<&Tensor> = grads
                .iter()
                .filter_map(|g| g.get(var.as_tensor()))
                .collect();
            if gs.is_empty() {
                continue;
            }
            let (m, v) = (&mut self.m[i], &mut self.v[i]);
            if var.device().is_cpu() && gs.iter().all(|g| g.dtype() == DType::F32) {
                // In place on the weights' own buffer, summing the parts' gradients on
                // the way: no copies, no allocation.
                let gs = gs
                    .iter()
                    .map(|g| g.contiguous())
                    .collect::<candle_core::Result<Vec<_>>>()?;
                let op = AdamInPlace {
                    k,
                    grads: &gs,
                    mv: std::sync::Mutex::new((m, v)),
                };
                var.as_tensor().inplace_op1(&op)?;
                continue;
            }
            let mut sum = gs[0].clone();
            for g in &gs[1..] {
                sum = (sum + *g)?;
            }
            let g = sum.flatten_all()?.to_dtype(DType::F32)?.to_vec1::<f32>()?;
            let mut w = var.as_tensor().flatten_all()?.to_vec1::<f32>()?;
            adam_update(&mut w, &[&g], m, v, k);
            var.set(&Tensor::from_vec(w, var.dims(), var.device())?)?;
        }
        Ok(())
    }

    pub(super) fn state(&self) -> candle_core::Result<HashMap<String, Tensor>> {
        let mut map = HashMap::new();
        for (i, (n, var)) in self.vars.iter().enumerate() {
            map.insert(format!("w/{n}"), var.as_tensor().to_device(&Device::Cpu)?);
            map.insert(
                format!("m/{n}"),
                Tensor::from_slice(&self.m[i], var.dims(), &Device::Cpu)?,
            );
            map.insert(
                format!("v/{n}"),
                Tensor::from_slice(&self.v[i], var.dims(), &Device::Cpu)?,
            );
        }
        Ok(map)
    }

    pub(super) fn restore(
        &mut self,
        map: &HashMap<String, Tensor>,
        path: &Path,
    ) -> Result<(), ModelError> {
        let err = |n: &str| {
            super::cannot_resume(
                path,
                format!("the training state lacks {n} or its shape differs"),
            )
        };
        for (i, (n, var)) in self.vars.iter().enumerate() {
            let get = |p: &str| {
                map.get(&format!("{p}/{n}"))
                    .filter(|t| t.dims() == var.dims())
                    .ok_or_else(|| err(&format!("{p}/{n}")))
            };
            let dev = var.device().clone();
            var.set(&get("w")?.to_dtype(DType::F32)?.to_device(&dev)?)?;
            self.m[i] = get("m")?
                .flatten_all()?
                .to_dtype(DType::F32)?
                .to_vec1::<f32>()?;
            self.v[i] = get("v")?
                .flatten_all()?
                .to_dtype(DType::F32)?
                .to_vec1::<f32>()?;
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Copy)]
struct AdamConsts {
    b1: f32,
    b2: f32,
    step: f32,
    inv_sqrt_bc2: f32,
    eps: f32,
    /// Weight decay's factor, 1 when off (then no pass over the weights at all, so plain
    /// Adam stays bit for bit what it was).
    shrink: f32,
}

/// Updates weights `w` from the sum of gradients `gs`, moments `m`, `v`; in parallel
/// chunks when the variable is large enough to pay for the threads.
fn adam_update(w: &mut [f32], gs: &[&[f32]], m: &mut [f32], v: &mut [f32], k: AdamConsts) {
    use rayon::prelude::*;
    const CHUNK: usize = 1 << 15;
    if w.len() < 2 * CHUNK {
        adam_chunk(w, gs, 0, m, v, k);
        return;
    }
    w.par_chunks_mut(CHUNK)
        .zip(m.par_chunks_mut(CHUNK))
        .zip(v.par_chunks_mut(CHUNK))
        .enumerate()
        .for_each(|(i, ((w, m), v))| adam_chunk(w, gs, i * CHUNK, m, v, k));
}

/// Elements `at..at + w.len()`.
fn adam_chunk(
    w: &mut [f32],
    gs: &[&[f32]],
    at: usize,
    m: &mut [f32],
    v: &mut [f32],
    k: AdamConsts,
) {
    let n = w.len();
    let mut sum;
    let g: &[f32] = match gs {
        [g] => &g[at..at + n],
        _ => {
            sum = gs[0][at..at + n].to_vec();
            for g in &gs[1..] {
                for (s, x) in sum.iter_mut().zip(&g[at..at + n]) {
                    *s += x;
                }
            }
            &sum
        }
    };
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
        // SAFETY: the CPU supports the features the function is compiled for.
        unsafe { adam_chunk_avx2(w, g, m, v, k) };
        return;
    }
    adam_chunk_plain(w, g, m, v, k);
}

/// The same loop compiled for AVX2 + FMA (8 lanes, vector sqrt and divide; Rust does
/// not contract a·b + c into an FMA, so the result is the plain loop's, bit for bit).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn adam_chunk_avx2(w: &mut [f32], g: &[f32], m: &mut [f32], v: &mut [f32], k: AdamConsts) {
    adam_chunk_plain(w, g, m, v, k)
}

#[inline(always)]
fn adam_chunk_plain(w: &mut [f32], g: &[f32], m: &mut [f32], v: &mut [f32], k: AdamConsts) {
    let (b1, b2) = (k.b1, k.b2);
    if k.shrink != 1.0 {
        for w in w.iter_mut() {
            *w *= k.shrink;
        }
    }
    for (((w, &g), m), v) in w.iter_mut().zip(g).zip(m.iter_mut()).zip(v.iter_mut()) {
        *m = b1 * *m + (1.0 - b1) * g;
        *v = b2 * *v + (1.0 - b2) * g * g;
        *w -= k.step * *m / (v.sqrt() * k.inv_sqrt_bc2 + k.eps);
    }
}

/// [`adam_update`] as a candle in-place op on a variable's CPU buffer, reading the
/// (contiguous, f32, CPU) gradients' buffers directly.
struct AdamInPlace<'a> {
    k: AdamConsts,
    grads: &'a [Tensor],
    mv: std::sync::Mutex<(&'a mut Vec<f32>, &'a mut Vec<f32>)>,
}

impl candle_core::InplaceOp1 for AdamInPlace<'_> {
    fn name(&self) -> &'static str {
        "adam-in-place"
    }

    fn cpu_fwd(
        &self,
        s1: &mut candle_core::CpuStorage,
        l1: &candle_core::Layout,
    ) -> candle_core::Result<()> {
        use candle_core::{CpuStorage, Storage};
        let CpuStorage::F32(w) = s1 else {
            candle_core::bail!("adam-in-place: f32 weights only")
        };
        let Some((a, b)) = l1.contiguous_offsets() else {
            candle_core::bail!("adam-in-place: non-contiguous weights")
        };
        let guards: Vec<_> = self.grads.iter().map(|g| g.storage_and_layout()).collect();
        let mut gs: Vec<&[f32]> = Vec::with_capacity(guards.len());
        for (st, l) in &guards {
            let (Storage::Cpu(CpuStorage::F32(g)), Some((c, d))) = (&**st, l.contiguous_offsets())
            else {
                candle_core::bail!("adam-in-place: gradients must be contiguous f32 on the CPU")
            };
            if d - c != b - a {
                candle_core::bail!("adam-in-place: gradient size differs")
            }
            gs.push(&g[c..d]);
        }
        let mut mv = self
            .mv
            .lock()
            .map_err(|_| candle_core::Error::Msg("adam-in-place: poisoned state".into()))?;
        let (m, v) = &mut *mv;
        if b - a != m.len() {
            candle_core::bail!("adam-in-place: sizes differ")
        }
        adam_update(&mut w[a..b], &gs, m, v, self.k);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn consts(shrink: f32) -> AdamConsts {
        AdamConsts {
            b1: 0.9,
            b2: 0.999,
            step: 0.1,
            inv_sqrt_bc2: 1.0,
            eps: 1e-8,
            shrink,
        }
    }

    #[test]
    fn weight_decay_shrinks_every_weight_before_the_update_and_off_changes_nothing() {
        // A zero gradient with zero moments moves nothing: only the decay acts.
        let mut w = vec![1.0f32, -2.0, 0.5];
        let (mut m, mut v) = (vec![0.0; 3], vec![0.0; 3]);
        adam_chunk_plain(&mut w, &[0.0; 3], &mut m, &mut v, consts(0.9));
        assert_eq!(w, vec![0.9, -1.8, 0.45]);
        // With a gradient, decay on = decay first, then the same Adam step as without.
        let g = [0.3f32, -0.1, 0.0];
        let (mut a, mut b) = (vec![1.0f32, -2.0, 0.5], vec![0.9f32, -1.8, 0.45]);
        let (mut ma, mut va) = (vec![0.0; 3], vec![0.0; 3]);
        let (mut mb, mut vb) = (vec![0.0; 3], vec![0.0; 3]);
        adam_chunk_plain(&mut a, &g, &mut ma, &mut va, consts(0.9));
        adam_chunk_plain(&mut b, &g, &mut mb, &mut vb, consts(1.0));
        assert_eq!(a, b);
        assert_eq!((ma, va), (mb, vb));
    }
}
