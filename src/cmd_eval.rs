//! `lbebm eval`: best-of-K ADE/FDE on the test folders, one table, optional JSON.

use crate::common::{bar, data_root, device, BadInput, SplitArg};
use anyhow::{Context, Result};
use clap::Args;
use lbebm_data::{load_part, Part, Split};
use lbebm_eval::{average, evaluate, ConstantVelocity, Predictor, Score};
use lbebm_model::{checkpoint, LbebmPredictor};
use serde::Serialize;
use std::path::{Path, PathBuf};

/// Default evaluation seed: fixed, so the table is reproducible.
pub const EVAL_SEED: u64 = 20210407;

#[derive(Args)]
pub struct EvalArgs {
    /// `cv` (constant velocity), a checkpoint folder, or a folder holding one
    /// checkpoint per split (`models/` → `models/<split>`).
    #[arg(long, default_value = "models")]
    pub model: String,
    #[arg(long, value_enum, default_value = "all")]
    pub split: SplitArg,
    /// ETH/UCY root (default: $LBEBM_DATA_DIR).
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Samples per agent (best-of-K).
    #[arg(long, default_value_t = 20)]
    pub samples: usize,
    /// Also write the results as JSON.
    #[arg(long)]
    pub json: Option<PathBuf>,
    #[arg(long, default_value_t = EVAL_SEED)]
    pub seed: u64,
    /// Langevin steps at test time (default: the checkpoint's `test_steps`).
    #[arg(long)]
    pub steps: Option<usize>,
    /// Candidates per agent to choose the K samples from (default: the checkpoint's
    /// `candidates`; 0 turns it off).
    #[arg(long)]
    pub candidates: Option<usize>,
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// Evaluate on the validation folder instead of test (for model selection).
    #[arg(long)]
    pub val: bool,
}

#[derive(Serialize)]
struct SplitRow {
    split: String,
    windows: usize,
    ade: f64,
    fde: f64,
}

#[derive(Serialize)]
struct Avg {
    ade: f64,
    fde: f64,
}

#[derive(Serialize)]
struct Report {
    model: String,
    samples: usize,
    /// The CPU kernels the matrix products ran on: the numbers are reproduced exactly on
    /// machines with the same ones (float rounding differs between kernel families).
    kernels: &'static str,
    splits: Vec<SplitRow>,
    average: Option<Avg>,
}

/// Which checkpoint evaluates `split` when `--model` is a folder.
pub fn checkpoint_for(model: &Path, split: Split) -> Result<PathBuf> {
    if model.join(checkpoint::CONFIG).is_file() {
        return Ok(model.to_path_buf());
    }
    let sub = model.join(split.name());
    if sub.join(checkpoint::CONFIG).is_file() {
        return Ok(sub);
    }
    Err(BadInput(format!(
        "{}: neither a checkpoint (config.toml + model.safetensors) nor a folder with {}/",
        model.display(),
        split.name()
    ))
    .into())
}

fn predictor(a: &EvalArgs, split: Split, dev: &lbebm_model::Device) -> Result<Box<dyn Predictor>> {
    if a.model == "cv" {
        return Ok(Box::new(ConstantVelocity));
    }
    let dir = checkpoint_for(Path::new(&a.model), split)?;
    let ck = checkpoint::load(&dir, dev).with_context(|| format!("loading {}", dir.display()))?;
    let mut p = LbebmPredictor::new(ck.model, a.seed, dir.display().to_string());
    if let Some(s) = a.steps {
        p.steps = s;
    }
    if let Some(c) = a.candidates {
        p.candidates = c;
    }
    Ok(Box::new(p))
}

pub fn run(a: EvalArgs) -> Result<()> {
    if a.samples == 0 {
        return Err(BadInput("--samples must be at least 1".into()).into());
    }
    let root = data_root(a.data.as_deref())?;
    let dev = device(&a.device)?;
    let part = if a.val { Part::Val } else { Part::Test };
    let mut rows = Vec::new();
    let mut scores = Vec::new();
    for split in a.split.splits() {
        let scenes = load_part(&root, split, part)?;
        // A fresh predictor (and noise stream) per split: a split's numbers do not
        // depend on which splits were evaluated before it.
        let mut p = predictor(&a, split, &dev)?;
        let pb = bar(scenes.len() as u64, split.name());
        let s: Score = evaluate(p.as_mut(), &scenes, a.samples, 512, &mut |n| {
            pb.inc(n as u64)
        })
        .with_context(|| format!("evaluating {split}"))?;
        pb.finish_and_clear();
        rows.push(SplitRow {
            split: split.name().into(),
            windows: s.windows,
            ade: s.ade,
            fde: s.fde,
        });
        scores.push(s);
    }
    let avg = average(&scores).map(|(ade, fde)| Avg { ade, fde });
    println!(
        "model {}  best-of-{}  ({} split{})",
        a.model,
        a.samples,
        if a.val { "val" } else { "test" },
        if rows.len() == 1 { "" } else { "s" }
    );
    println!("{:<8} {:>8} {:>8} {:>8}", "split", "windows", "ADE", "FDE");
    for r in &rows {
        println!(
            "{:<8} {:>8} {:>8.3} {:>8.3}",
            r.split, r.windows, r.ade, r.fde
        );
    }
    if rows.len() > 1 {
        if let Some(v) = &avg {
            println!("{:<8} {:>8} {:>8.3} {:>8.3}", "average", "", v.ade, v.fde);
        }
    }
    if let Some(path) = &a.json {
        let rep = Report {
            model: a.model.clone(),
            samples: a.samples,
            kernels: lbebm_model::fast::cpu_kernels(),
            splits: rows,
            average: avg,
        };
        write_atomic(path, &serde_json::to_vec_pretty(&rep)?)?;
    }
    Ok(())
}

/// Writes through a temporary file in the destination folder, then renames.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let mut tmp = tempfile::NamedTempFile::new_in(dir)
        .with_context(|| format!("cannot write into {}", dir.display()))?;
    tmp.write_all(bytes)?;
    crate::common::persist(tmp, path)
}
