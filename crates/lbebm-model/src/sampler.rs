//! The two ways to draw samples behind one interface, chosen once when a predictor is
//! built: the CPU sampler of [`crate::cpu`] and the candle tensor path of
//! [`crate::model`] (any device). Both return host buffers in the same layout and, for
//! the same seed, the same numbers up to float rounding.

use crate::batch::SceneBatch;
use crate::cpu::CpuModel;
use crate::langevin::Draw;
use crate::model::Lbebm;
use candle_core::{DType, Result};

/// Which implementation draws the samples.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// [`CpuModel`]: plain buffers and fused kernels (CPU only).
    Cpu,
    /// [`Lbebm::sample`]: candle operations on the model's device.
    Tensor,
}

/// Draws `draw.k` samples per agent of a batch.
pub trait Sampler: Send + Sync {
    /// Which implementation this is.
    fn backend(&self) -> Backend;

    /// Futures `[N·K·24]` (agent-major, model frame) and energies `[N·K]`, on the host.
    /// `obs` is `batch.obs` already copied to the host.
    fn sample(
        &self,
        batch: &SceneBatch,
        obs: &[f32],
        draw: Draw,
        rng: &mut dyn rand::RngCore,
    ) -> Result<(Vec<f32>, Vec<f32>)>;
}

impl Sampler for CpuModel {
    fn backend(&self) -> Backend {
        Backend::Cpu
    }

    fn sample(
        &self,
        batch: &SceneBatch,
        obs: &[f32],
        draw: Draw,
        rng: &mut dyn rand::RngCore,
    ) -> Result<(Vec<f32>, Vec<f32>)> {
        CpuModel::sample(self, obs, batch, draw, rng)
    }
}

impl Sampler for Lbebm {
    fn backend(&self) -> Backend {
        Backend::Tensor
    }

    fn sample(
        &self,
        batch: &SceneBatch,
        _obs: &[f32],
        draw: Draw,
        rng: &mut dyn rand::RngCore,
    ) -> Result<(Vec<f32>, Vec<f32>)> {
        let (fut, en) = Lbebm::sample(self, &batch.obs, &self.social_mask(batch)?, draw, rng)?;
        Ok((
            fut.to_dtype(DType::F32)?.flatten_all()?.to_vec1::<f32>()?,
            en.to_dtype(DType::F32)?.to_vec1::<f32>()?,
        ))
    }
}

/// The sampler for `backend` over `model`'s current weights.
///
/// # Errors
/// [`Backend::Cpu`] for a model on another device, or when its weights cannot be copied.
pub fn build(model: &Lbebm, backend: Backend) -> Result<Box<dyn Sampler>> {
    match backend {
        Backend::Cpu if !model.device().is_cpu() => {
            candle_core::bail!("the CPU sampler needs a model on the CPU")
        }
        Backend::Cpu => Ok(Box::new(model.cpu_model()?)),
        Backend::Tensor => Ok(Box::new(model.clone())),
    }
}
