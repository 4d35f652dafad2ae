//! Embeds the shipped default model (`models/default` at the workspace root), so that the
//! `lbebm` CLI and `lbebm_node` find it wherever they are run from.
use std::path::Path;

fn main() {
    println!("cargo::rustc-check-cfg=cfg(lbebm_default_model)");
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models/default");
    let w = dir.join("model.safetensors");
    let c = dir.join("config.toml");
    println!("cargo::rerun-if-changed={}", w.display());
    println!("cargo::rerun-if-changed={}", c.display());
    if w.is_file() && c.is_file() {
        println!("cargo::rustc-cfg=lbebm_default_model");
        println!("cargo::rustc-env=LBEBM_DEFAULT_WEIGHTS={}", w.display());
        println!("cargo::rustc-env=LBEBM_DEFAULT_CONFIG={}", c.display());
    }
}
