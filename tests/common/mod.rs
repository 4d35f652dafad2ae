//! Helpers for the integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The ETH/UCY root: `$LBEBM_DATA_DIR`, else the repository's own `datasets/eth_ucy`.
/// Missing data is a failure, never a skip: these tests are the anchor of every reported
/// number.
pub fn data_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("LBEBM_DATA_DIR").filter(|v| !v.is_empty()) {
        let p = PathBuf::from(d);
        assert!(p.is_dir(), "LBEBM_DATA_DIR={} is not a folder", p.display());
        return p;
    }
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("datasets/eth_ucy");
    assert!(
        p.join("eth").is_dir(),
        "ETH/UCY data not found at {}",
        p.display()
    );
    p
}

pub fn lbebm() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_lbebm"));
    c.env_remove("LBEBM_DATA_DIR");
    c
}

pub fn run(c: &mut Command) -> Output {
    c.output().expect("cannot start lbebm")
}

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}
