//! Seeded initialisation of every variable, like PyTorch's `nn.Linear`.

use crate::checkpoint::sorted_vars;
use crate::ModelError;
use candle_core::Tensor;
use candle_nn::VarMap;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::collections::HashMap;

/// Fills every variable like PyTorch's `nn.Linear` (uniform ±1/√fan_in, weight and bias
/// from the same layer's fan-in), from a seeded generator.
pub fn seeded_init(vm: &VarMap, seed: u64) -> Result<(), ModelError> {
    let vars = sorted_vars(vm);
    let shapes: HashMap<String, Vec<usize>> = vars
        .iter()
        .map(|(n, v)| (n.clone(), v.dims().to_vec()))
        .collect();
    let mut rng = StdRng::seed_from_u64(seed);
    for (name, var) in &vars {
        let fan_in = if let Some(stem) = name.strip_suffix(".bias") {
            shapes
                .get(&format!("{stem}.weight"))
                .and_then(|s| s.get(1).copied())
                .unwrap_or(var.dims()[0])
        } else {
            var.dims().get(1).copied().unwrap_or(1)
        };
        let b = 1.0 / (fan_in as f32).sqrt();
        let n = var.elem_count();
        let v: Vec<f32> = (0..n).map(|_| rng.gen_range(-b..b)).collect();
        var.set(&Tensor::from_vec(v, var.dims(), var.device())?)?;
    }
    Ok(())
}
