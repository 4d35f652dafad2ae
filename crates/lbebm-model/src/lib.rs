//! The Latent Belief Energy-Based Model (Pang et al., CVPR 2021) on candle.
//!
//! A past encoder and non-local social pooling give each agent a context `c`; a latent
//! belief `z` is drawn from an energy-based prior `p(z|c) ∝ exp(−E(z,c))·N(0,σ²I)` by
//! short-run Langevin dynamics; decoders turn `(c, z)` into a sparse plan (sub-goals)
//! and then a full 12-step trajectory.
//!
//! The crate knows nothing of files beyond its own checkpoints, nor of ROS or the CLI.
//!
//! Modules from the leaves up (each uses only those above it):
//!
//! | module | what |
//! |---|---|
//! | [`config`] | the serde config and its checked form |
//! | [`kernels`] | CPU kernels on slices: the one `gemm` wrapper, GELU with its derivative |
//! | [`ops`] | candle operations with hand-written backward passes (fused layer, GELU) |
//! | [`nn`] | network modules: MLP, energy net with its gradient in z |
//! | [`langevin`] | the Langevin sampler, written once for both backends |
//! | [`cpu`] | the CPU sampler on plain buffers |
//! | [`social`] | social pooling and the scene mask |
//! | [`model`] | the LB-EBM network on candle tensors (any device), training forward pass |
//! | [`batch`] | scenes to model tensors: frames, normalisation, masks |
//! | [`sampler`] | the CPU and tensor samplers behind one interface |
//! | [`rank`] | covering and scoring the K returned samples |
//! | [`predictor`] | [`LbebmPredictor`]: scenes in, ranked forecasts in world coordinates out |
//! | [`checkpoint`] | checkpoint folders: weights, resolved config, meta |
//! | [`train`] | loss, Adam, replay buffer, the training loop |

pub mod batch;
pub mod checkpoint;
pub mod config;
pub mod cpu;
pub mod kernels;
pub mod langevin;
pub mod model;
pub mod nn;
pub mod ops;
pub mod predictor;
pub mod rank;
pub mod sampler;
pub mod social;
pub mod train;

/// Helpers shared by the unit tests.
#[cfg(test)]
mod test_util {
    use candle_core::Tensor;

    /// The bit patterns of a tensor's values, for exact comparisons (empty on error).
    pub(crate) fn bits(t: &Tensor) -> Vec<u32> {
        t.flatten_all()
            .and_then(|t| t.to_vec1::<f32>())
            .map(|v| v.iter().map(|x| x.to_bits()).collect())
            .unwrap_or_default()
    }
}

pub use candle_core::Device;
pub use config::{CheckedConfig, Config};
pub use model::Lbebm;
pub use predictor::LbebmPredictor;

use std::path::PathBuf;

/// Errors of the model crate.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// A config value out of range or inconsistent.
    #[error("invalid config: {0}")]
    Config(String),
    /// A checkpoint folder that cannot be read or does not match its config.
    #[error("{path}: {msg}")]
    Checkpoint {
        /// The file or folder at fault.
        path: PathBuf,
        /// What is wrong with it.
        msg: String,
    },
    /// Training produced a non-finite loss.
    #[error("training diverged (non-finite loss) in epoch {} batch {batch}; the last good checkpoint is kept", epoch + 1)]
    Diverged {
        /// Epoch (0-based).
        epoch: usize,
        /// Batch within the epoch.
        batch: usize,
    },
    /// Input data unusable for the model (no scenes, no futures to train on).
    #[error("{0}")]
    Data(String),
    /// A tensor operation failed.
    #[error(transparent)]
    Tensor(#[from] candle_core::Error),
}

/// Parses `cpu` or `cuda:N` (`cuda` alone means `cuda:0`).
pub fn parse_device(s: &str) -> Result<Device, ModelError> {
    let s = s.trim().to_ascii_lowercase();
    if s == "cpu" {
        return Ok(Device::Cpu);
    }
    let idx = match s.strip_prefix("cuda") {
        Some("") => 0,
        Some(rest) => rest
            .strip_prefix(':')
            .and_then(|n| n.parse::<usize>().ok())
            .ok_or_else(|| {
                ModelError::Config(format!("unknown device {s:?} (expected cpu or cuda:N)"))
            })?,
        None => {
            return Err(ModelError::Config(format!(
                "unknown device {s:?} (expected cpu or cuda:N)"
            )))
        }
    };
    Device::new_cuda(idx).map_err(|e| {
        // The first line of candle's error only: it may carry a backtrace.
        let why = e.to_string();
        let why = why.lines().next().unwrap_or_default().to_string();
        let hint = if cfg!(feature = "cuda") {
            "this build has CUDA, but no usable GPU, driver or CUDA library was found"
        } else {
            "build with --features cuda on a machine with a CUDA GPU"
        };
        ModelError::Config(format!(
            "device cuda:{idx} is not available ({why}); {hint}"
        ))
    })
}
