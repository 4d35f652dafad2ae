//! The shipped `models/default` checkpoint, compiled in (no file system at run time),
//! and the one way the CLI and the ROS node load a model: a checkpoint folder or this
//! embedded copy ([`ModelSource`], [`load`]).

use lbebm_model::checkpoint::{self, Loaded};
use lbebm_model::{Device, ModelError};
use std::path::{Path, PathBuf};

/// Where a model comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum ModelSource {
    /// A checkpoint folder (`model.safetensors` and `config.toml`).
    Dir(PathBuf),
    /// `models/default`, compiled into this binary.
    Embedded,
}

impl ModelSource {
    /// How reports and logs name the model.
    pub fn name(&self) -> String {
        match self {
            ModelSource::Dir(d) => d.display().to_string(),
            ModelSource::Embedded => "models/default (embedded)".into(),
        }
    }
}

/// Loads the model of `src` onto `dev`.
///
/// # Errors
/// [`ModelError::Checkpoint`] when the folder cannot be read or does not match its
/// config, or when the binary was built without `models/default`.
pub fn load(src: &ModelSource, dev: &Device) -> Result<Loaded, ModelError> {
    match src {
        ModelSource::Dir(d) => checkpoint::load(d, dev),
        ModelSource::Embedded => {
            let path = Path::new("<embedded models/default>");
            let (cfg, w) = embedded().ok_or_else(|| ModelError::Checkpoint {
                path: path.to_path_buf(),
                msg: "this binary was built without models/default; pass a checkpoint folder"
                    .into(),
            })?;
            checkpoint::load_bytes(cfg, w, path, dev)
        }
    }
}

/// `(config.toml text, model.safetensors bytes)` of `models/default`, or `None` when the
/// crate was built without those files.
#[cfg(lbebm_default_model)]
pub fn embedded() -> Option<(&'static str, &'static [u8])> {
    Some((
        include_str!(env!("LBEBM_DEFAULT_CONFIG")),
        include_bytes!(env!("LBEBM_DEFAULT_WEIGHTS")),
    ))
}

/// `(config.toml text, model.safetensors bytes)` of `models/default`, or `None` when the
/// crate was built without those files.
#[cfg(not(lbebm_default_model))]
pub fn embedded() -> Option<(&'static str, &'static [u8])> {
    None
}
