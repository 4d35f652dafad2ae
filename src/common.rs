//! Pieces shared by the subcommands: data root, split selection, exit codes, progress.

use anyhow::{Context, Result};
use clap::ValueEnum;
use indicatif::{ProgressBar, ProgressStyle};
use lbebm_data::{Split, DATA_ENV};
use std::path::{Path, PathBuf};

/// Exit code 2: the user's input (files, flags, models) is at fault.
#[derive(Debug)]
pub struct BadInput(pub String);

impl std::fmt::Display for BadInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}
impl std::error::Error for BadInput {}

/// 2 when the cause is bad input (a data file, a checkpoint, a config, a flag), 1 else.
pub fn exit_code(e: &anyhow::Error) -> u8 {
    for c in e.chain() {
        if c.is::<BadInput>() || c.is::<lbebm_data::DataError>() {
            return 2;
        }
        if let Some(m) = c.downcast_ref::<lbebm_model::ModelError>() {
            return match m {
                lbebm_model::ModelError::Config(_) | lbebm_model::ModelError::Checkpoint { .. } => {
                    2
                }
                _ => 1,
            };
        }
    }
    1
}

/// `all` or one split.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SplitArg {
    All,
    Eth,
    Hotel,
    Univ,
    Zara1,
    Zara2,
}

impl SplitArg {
    pub fn splits(self) -> Vec<Split> {
        match self {
            SplitArg::All => Split::ALL.to_vec(),
            SplitArg::Eth => vec![Split::Eth],
            SplitArg::Hotel => vec![Split::Hotel],
            SplitArg::Univ => vec![Split::Univ],
            SplitArg::Zara1 => vec![Split::Zara1],
            SplitArg::Zara2 => vec![Split::Zara2],
        }
    }
}

/// The ETH/UCY root: `--data`, else `$LBEBM_DATA_DIR`.
pub fn data_root(arg: Option<&Path>) -> Result<PathBuf> {
    let p = match arg {
        Some(p) => p.to_path_buf(),
        None => match std::env::var_os(DATA_ENV) {
            Some(v) if !v.is_empty() => PathBuf::from(v),
            _ => {
                return Err(BadInput(format!(
                    "no data root: pass --data DIR or set {DATA_ENV} (the Social-GAN ETH/UCY layout <root>/<split>/{{train,val,test}})"
                ))
                .into())
            }
        },
    };
    if !p.is_dir() {
        return Err(BadInput(format!("data root {} is not a folder", p.display())).into());
    }
    Ok(p)
}

pub fn bar(len: u64, msg: &str) -> ProgressBar {
    // indicatif draws nothing when stderr is not a terminal.
    let pb = ProgressBar::new(len);
    pb.set_style(
        ProgressStyle::with_template(
            "{msg:>12} [{bar:30}] {pos}/{len} {elapsed_precise} eta {eta} {prefix}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    pb.set_message(msg.to_string());
    pb
}

/// Parses `--device`.
pub fn device(s: &str) -> Result<lbebm_model::Device> {
    lbebm_model::parse_device(s).context("--device")
}

/// The model behind `--model`: a checkpoint folder, or the shipped `models/default`
/// embedded in this binary at build time (so it is found from any directory).
pub fn load_model(
    arg: Option<&Path>,
    dev: &lbebm_model::Device,
) -> Result<(lbebm_model::checkpoint::Loaded, String)> {
    match arg {
        Some(p) => {
            let l = lbebm_model::checkpoint::load(p, dev)
                .with_context(|| format!("loading model {}", p.display()))?;
            Ok((l, p.display().to_string()))
        }
        None => embedded_default(dev),
    }
}

fn embedded_default(
    dev: &lbebm_model::Device,
) -> Result<(lbebm_model::checkpoint::Loaded, String)> {
    let (cfg, w) = lbebm_default_model::embedded().ok_or_else(|| {
        BadInput("this binary was built without models/default; pass --model DIR".into())
    })?;
    let l =
        lbebm_model::checkpoint::load_bytes(cfg, w, Path::new("<embedded models/default>"), dev)?;
    Ok((l, "models/default (embedded)".into()))
}

/// Moves a finished temporary file into place with ordinary permissions (temporary
/// files are created owner-only).
pub fn persist(tmp: tempfile::NamedTempFile, path: &Path) -> Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o644));
    }
    tmp.persist(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}
