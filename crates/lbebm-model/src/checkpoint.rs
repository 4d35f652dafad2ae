//! Checkpoint folders: `model.safetensors` (weights, stored as f16 to keep shipped
//! models small; computed in f32), `config.toml` (the resolved config the weights were
//! trained with) and `meta.json` (epoch, validation scores, training time).
//!
//! Every file is written to a temporary name and renamed into place, so a crash never
//! leaves a half-written file behind.

use crate::config::{CheckedConfig, Config};
use crate::model::Lbebm;
use crate::ModelError;
use candle_core::{DType, Device, Tensor};
use candle_nn::{VarBuilder, VarMap};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// File of the weights inside a checkpoint folder.
pub const WEIGHTS: &str = "model.safetensors";
/// File of the resolved config the weights were trained with.
pub const CONFIG: &str = "config.toml";
/// File of the training summary ([`Meta`]).
pub const META: &str = "meta.json";

/// What a checkpoint says about how it was made.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Meta {
    /// Epoch of the kept weights (1-based).
    pub epoch: usize,
    /// Validation best-of-K ADE of the kept weights, metres.
    pub val_ade: Option<f64>,
    /// Validation best-of-K FDE of the kept weights, metres.
    pub val_fde: Option<f64>,
    /// Validation windows scored.
    pub val_windows: Option<usize>,
    /// Wall time of the training run, seconds.
    pub train_seconds: f64,
    /// Free text: which data the weights saw.
    pub trained_on: String,
}

fn ck_err(path: &Path, msg: impl Into<String>) -> ModelError {
    ModelError::Checkpoint {
        path: path.to_path_buf(),
        msg: msg.into(),
    }
}

/// Saves tensors as safetensors at `path` through a temporary file in the same folder
/// and a rename: a failure never leaves a half-written file.
pub(crate) fn save_tensors_atomic(
    map: &HashMap<String, Tensor>,
    path: &Path,
) -> Result<(), ModelError> {
    let tmp = tmp_name(path);
    candle_core::safetensors::save(map, &tmp)
        .and_then(|_| std::fs::rename(&tmp, path).map_err(candle_core::Error::from))
        .map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            ck_err(path, format!("cannot write: {e}"))
        })
}

/// Writes `bytes` to `path` through a temporary file in the same folder and a rename.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), ModelError> {
    let tmp = tmp_name(path);
    std::fs::write(&tmp, bytes)
        .and_then(|_| std::fs::rename(&tmp, path))
        .map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            ck_err(path, format!("cannot write: {e}"))
        })
}

fn tmp_name(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(format!(".tmp{}", std::process::id()));
    PathBuf::from(s)
}

/// The model's variables, sorted by name (a stable order for optimisers and seeds).
pub fn sorted_vars(vm: &VarMap) -> Vec<(String, candle_core::Var)> {
    let data = vm.data().lock().expect("varmap lock poisoned");
    let mut v: Vec<_> = data.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

/// Saves weights (as `dtype`, f16 for shipping), config and meta into `dir`.
pub fn save(
    dir: &Path,
    vm: &VarMap,
    cfg: &Config,
    meta: &Meta,
    dtype: DType,
) -> Result<(), ModelError> {
    std::fs::create_dir_all(dir).map_err(|e| ck_err(dir, format!("cannot create folder: {e}")))?;
    write_atomic(&dir.join(CONFIG), cfg.to_toml().as_bytes())?;
    let mut map = HashMap::new();
    for (k, v) in sorted_vars(vm) {
        map.insert(k, v.as_tensor().to_dtype(dtype)?.to_device(&Device::Cpu)?);
    }
    save_tensors_atomic(&map, &dir.join(WEIGHTS))?;
    let m = serde_json::to_vec_pretty(meta).map_err(|e| ck_err(dir, e.to_string()))?;
    write_atomic(&dir.join(META), &m)
}

/// Reads and validates a checkpoint's config.
pub fn load_config(dir: &Path) -> Result<CheckedConfig, ModelError> {
    let p = dir.join(CONFIG);
    let text = std::fs::read_to_string(&p).map_err(|e| ck_err(&p, format!("cannot read: {e}")))?;
    Config::from_toml(&text)
        .and_then(Config::check)
        .map_err(|e| ck_err(&p, e.to_string()))
}

/// The folder's `meta.json`, or defaults when it is missing or unreadable (it is informative only).
pub fn load_meta(dir: &Path) -> Meta {
    std::fs::read(dir.join(META))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default()
}

/// Builds the model described by `cfg` with fresh variables on `dev`.
pub fn build(cfg: &CheckedConfig, dev: &Device) -> Result<(Lbebm, VarMap), ModelError> {
    let vm = VarMap::new();
    let vb = VarBuilder::from_varmap(&vm, DType::F32, dev);
    let model = Lbebm::new(cfg, vb)?;
    Ok((model, vm))
}

/// Copies `tensors` into `vm`, refusing missing, unexpected or mis-shaped tensors.
pub fn assign(
    vm: &VarMap,
    tensors: &HashMap<String, Tensor>,
    path: &Path,
) -> Result<(), ModelError> {
    let vars = sorted_vars(vm);
    let mut problems = Vec::new();
    for (name, var) in &vars {
        match tensors.get(name) {
            None => problems.push(format!("missing tensor {name}")),
            Some(t) if t.dims() != var.dims() => problems.push(format!(
                "tensor {name} has shape {:?}, the config needs {:?}",
                t.dims(),
                var.dims()
            )),
            Some(_) => {}
        }
    }
    let known: std::collections::HashSet<&str> = vars.iter().map(|(n, _)| n.as_str()).collect();
    let mut extra: Vec<&String> = tensors
        .keys()
        .filter(|k| !known.contains(k.as_str()))
        .collect();
    extra.sort();
    for e in extra {
        problems.push(format!("unexpected tensor {e}"));
    }
    if !problems.is_empty() {
        let n = problems.len();
        problems.truncate(3);
        return Err(ck_err(
            path,
            format!(
                "weights do not match config.toml ({n} problem{}): {}{}",
                if n == 1 { "" } else { "s" },
                problems.join("; "),
                if n > 3 { "; ..." } else { "" }
            ),
        ));
    }
    for (name, var) in &vars {
        let t = &tensors[name];
        let t = t.to_dtype(DType::F32)?.to_device(var.device())?;
        if t.flatten_all()?
            .to_vec1::<f32>()?
            .iter()
            .any(|x| !x.is_finite())
        {
            return Err(ck_err(
                path,
                format!("tensor {name} holds NaN or infinite values"),
            ));
        }
        var.set(&t)?;
    }
    Ok(())
}

/// A loaded checkpoint.
pub struct Loaded {
    /// The network with the checkpoint's weights.
    pub model: Lbebm,
    /// The weights as variables (for further training).
    pub vars: VarMap,
    /// The config stored beside the weights.
    pub config: CheckedConfig,
    /// The training summary stored beside the weights.
    pub meta: Meta,
}

/// Builds a model from a config's text and safetensors bytes (for weights embedded in
/// a binary); `label` names them in errors.
pub fn load_bytes(
    config_toml: &str,
    weights: &[u8],
    label: &Path,
    dev: &Device,
) -> Result<Loaded, ModelError> {
    let config = Config::from_toml(config_toml)
        .and_then(Config::check)
        .map_err(|e| ck_err(label, e.to_string()))?;
    let (model, vars) = build(&config, dev)?;
    let tensors = candle_core::safetensors::load_buffer(weights, &Device::Cpu)
        .map_err(|e| ck_err(label, format!("unreadable safetensors data: {e}")))?;
    assign(&vars, &tensors, label)?;
    Ok(Loaded {
        model,
        vars,
        config,
        meta: Meta::default(),
    })
}

/// Loads `dir` onto `dev`, checking that weights and config agree.
pub fn load(dir: &Path, dev: &Device) -> Result<Loaded, ModelError> {
    if !dir.is_dir() {
        return Err(ck_err(
            dir,
            "not a checkpoint folder (expected model.safetensors and config.toml)",
        ));
    }
    let config = load_config(dir)?;
    let (model, vars) = build(&config, dev)?;
    let wpath = dir.join(WEIGHTS);
    if !wpath.is_file() {
        return Err(ck_err(&wpath, "missing weights file"));
    }
    let tensors = candle_core::safetensors::load(&wpath, &Device::Cpu)
        .map_err(|e| ck_err(&wpath, format!("unreadable safetensors file: {e}")))?;
    assign(&vars, &tensors, &wpath)?;
    Ok(Loaded {
        model,
        vars,
        config,
        meta: load_meta(dir),
    })
}
