//! The shipped `models/default` checkpoint, compiled in (no file system at run time).

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
