//! Pieces shared by the subcommands: data root, split selection, exit codes, progress.

use anyhow::{Context, Result};
use clap::ValueEnum;
use indicatif::{ProgressBar, ProgressStyle};
use lbebm_data::{Split, DATA_ENV};
use lbebm_default_model::ModelSource;
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

/// The benchmark folder of a checkout, relative to the repository root.
const SHIPPED_DATA: &str = "datasets/eth_ucy";

/// The ETH/UCY root, first found of: `--data DIR`, `$LBEBM_DATA_DIR`, `datasets/eth_ucy`
/// under the current directory, and the repository's own copy at the path this binary
/// was built from (so a fresh clone needs no flag, from any directory).
pub fn data_root(arg: Option<&Path>) -> Result<PathBuf> {
    let env = std::env::var_os(DATA_ENV).filter(|v| !v.is_empty());
    let built = Path::new(env!("CARGO_MANIFEST_DIR")).join(SHIPPED_DATA);
    find_data_root(
        arg,
        env.map(PathBuf::from),
        &[PathBuf::from(SHIPPED_DATA), built],
    )
}

/// [`data_root`] with its inputs given: an explicit choice (flag, then variable) must
/// exist; otherwise the first fallback folder that holds the benchmark wins.
fn find_data_root(
    arg: Option<&Path>,
    env: Option<PathBuf>,
    fallbacks: &[PathBuf],
) -> Result<PathBuf> {
    if let Some(p) = arg {
        return existing_root(p.to_path_buf(), "--data");
    }
    if let Some(p) = env {
        return existing_root(p, DATA_ENV);
    }
    if let Some(p) = fallbacks.iter().find(|p| p.join("eth").is_dir()) {
        return Ok(p.clone());
    }
    let tried: Vec<String> = fallbacks.iter().map(|p| p.display().to_string()).collect();
    Err(BadInput(format!(
        "ETH/UCY data not found: tried --data DIR (not given), {DATA_ENV} (not set), {} \
         (the Social-GAN layout <root>/<split>/{{train,val,test}})",
        tried.join(", ")
    ))
    .into())
}

fn existing_root(p: PathBuf, from: &str) -> Result<PathBuf> {
    if !p.is_dir() {
        return Err(BadInput(format!(
            "data root {} (from {from}) is not a folder",
            p.display()
        ))
        .into());
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
    let src = match arg {
        Some(p) => ModelSource::Dir(p.to_path_buf()),
        None => ModelSource::Embedded,
    };
    let l = lbebm_default_model::load(&src, dev)
        .with_context(|| format!("loading model {}", src.name()))?;
    Ok((l, src.name()))
}

/// Seed of every command's sampler unless `--seed` says otherwise: evaluation numbers
/// are reproducible by default.
pub const EVAL_SEED: u64 = 20210407;

/// Which checkpoint evaluates `split` when `--model` is a folder: the folder itself when
/// it is a checkpoint, else its `<split>` subfolder.
pub fn checkpoint_for(model: &Path, split: Split) -> Result<PathBuf> {
    if model.join(lbebm_model::checkpoint::CONFIG).is_file() {
        return Ok(model.to_path_buf());
    }
    let sub = model.join(split.name());
    if sub.join(lbebm_model::checkpoint::CONFIG).is_file() {
        return Ok(sub);
    }
    Err(BadInput(format!(
        "{}: neither a checkpoint (config.toml + model.safetensors) nor a folder with {}/",
        model.display(),
        split.name()
    ))
    .into())
}

/// A temporary file in `path`'s folder (with `suffix`), to write and then [`persist`]
/// into place: a failure never leaves a half-written output.
pub fn temp_beside(path: &Path, suffix: &str) -> Result<tempfile::NamedTempFile> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    tempfile::Builder::new()
        .suffix(suffix)
        .tempfile_in(dir)
        .map_err(|e| {
            BadInput(format!(
                "{}: cannot write into {}: {e}",
                path.display(),
                dir.display()
            ))
            .into()
        })
}

/// Writes `bytes` to `path` through [`temp_beside`] and [`persist`].
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    let mut tmp = temp_beside(path, "")?;
    tmp.write_all(bytes)?;
    persist(tmp, path)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_root_order_and_error() {
        let d = tempfile::tempdir().unwrap();
        let with = d.path().join("with");
        std::fs::create_dir_all(with.join("eth")).unwrap();
        let without = d.path().join("without");
        std::fs::create_dir_all(&without).unwrap();
        let fallbacks = [without.clone(), with.clone()];
        // The flag wins, then the variable, then the first fallback holding the data.
        let got = find_data_root(Some(&without), Some(with.clone()), &fallbacks).unwrap();
        assert_eq!(got, without);
        assert_eq!(
            find_data_root(None, Some(without.clone()), &fallbacks).unwrap(),
            without
        );
        assert_eq!(find_data_root(None, None, &fallbacks).unwrap(), with);
        // An explicit choice that does not exist is an error, never a silent fallback.
        let gone = d.path().join("gone");
        let e = find_data_root(None, Some(gone.clone()), &fallbacks)
            .unwrap_err()
            .to_string();
        assert!(e.contains(DATA_ENV) && e.contains("gone"), "{e}");
        let e = find_data_root(Some(&gone), None, &fallbacks)
            .unwrap_err()
            .to_string();
        assert!(e.contains("--data"), "{e}");
        // Nothing found: the error names all four places.
        let e = find_data_root(None, None, &[without.clone(), d.path().join("x")])
            .unwrap_err()
            .to_string();
        for needle in ["--data", DATA_ENV, "without", "/x"] {
            assert!(e.contains(needle), "{needle} missing from {e}");
        }
    }
}
