//! `lbebm eval`: best-of-K ADE/FDE on the test folders, one table, optional JSON.

use crate::common::{
    bar, checkpoint_for, data_root, device, write_atomic, BadInput, SplitArg, EVAL_SEED,
};
use anyhow::{Context, Result};
use clap::Args;
use lbebm_data::{load_part, Part, Split};
use lbebm_eval::{
    average, evaluate, stretched, with_obs_noise, ConstantVelocity, Predictor, Score, TopOne,
};
use lbebm_model::{checkpoint, LbebmPredictor};
use serde::Serialize;
use std::path::{Path, PathBuf};

#[derive(Args)]
pub struct EvalArgs {
    /// `cv` (constant velocity), a checkpoint folder, or a folder holding one
    /// checkpoint per split (`models/` → `models/<split>`).
    #[arg(long, default_value = "models")]
    pub model: String,
    #[arg(long, value_enum, default_value = "all")]
    pub split: SplitArg,
    /// ETH/UCY root (default: $LBEBM_DATA_DIR, else datasets/eth_ucy here or in the repository).
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
    /// Add Gaussian noise of this σ (metres, seeded) to the observed positions, as a
    /// tracker would; the true futures stay clean.
    #[arg(long, default_value_t = 0.0, value_parser = non_negative_metres)]
    pub obs_noise: f64,
    /// Stretch every scene by this factor in space (observations and truth), so that
    /// walkers move this many times farther per step: a check, on `--val` folders, of
    /// how the model generalises to walkers faster than its training scenes hold (as
    /// ETH's test file's are). Errors are in stretched metres.
    #[arg(long, default_value_t = 1.0, value_parser = stretch_factor)]
    pub stretch: f64,
}

fn stretch_factor(s: &str) -> std::result::Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && (0.1..=10.0).contains(&v) => Ok(v),
        _ => Err(format!("{s:?} is not a factor in [0.1, 10]")),
    }
}

fn non_negative_metres(s: &str) -> std::result::Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && (0.0..=10.0).contains(&v) => Ok(v),
        _ => Err(format!("{s:?} is not a number of metres in [0, 10]")),
    }
}

/// Seed of the observation noise (`--obs-noise`), fixed like the evaluation seed.
const OBS_NOISE_SEED: u64 = 5;

#[derive(Serialize)]
struct SplitRow {
    split: String,
    windows: usize,
    ade: f64,
    fde: f64,
    top1: TopOne,
    rank_rho: Option<f64>,
}

#[derive(Serialize)]
struct Avg {
    ade: f64,
    fde: f64,
    top1: TopOne,
    rank_rho: Option<f64>,
}

#[derive(Serialize)]
struct Report {
    model: String,
    samples: usize,
    /// σ of the noise added to the observed positions (metres; 0: clean).
    obs_noise: f64,
    /// Factor the scenes were stretched by in space (1: as recorded).
    stretch: f64,
    /// The CPU kernels the matrix products ran on: the numbers are reproduced exactly on
    /// machines with the same ones (float rounding differs between kernel families).
    kernels: &'static str,
    splits: Vec<SplitRow>,
    average: Option<Avg>,
}

fn predictor(a: &EvalArgs, split: Split, dev: &lbebm_model::Device) -> Result<Box<dyn Predictor>> {
    if a.model == "cv" {
        return Ok(Box::new(ConstantVelocity));
    }
    let dir = checkpoint_for(Path::new(&a.model), split)?;
    let ck = checkpoint::load(&dir, dev).with_context(|| format!("loading {}", dir.display()))?;
    let mut p = LbebmPredictor::new(ck.model, a.seed, dir.display().to_string())?;
    if let Some(s) = a.steps {
        p.set_steps(s);
    }
    if let Some(c) = a.candidates {
        p.set_candidates(c);
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
        let mut scenes = load_part(&root, split, part)?;
        if a.stretch != 1.0 {
            scenes = stretched(&scenes, a.stretch as f32);
        }
        if a.obs_noise > 0.0 {
            scenes = with_obs_noise(&scenes, a.obs_noise as f32, OBS_NOISE_SEED);
        }
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
            top1: s.top1,
            rank_rho: s.rank_rho,
        });
        scores.push(s);
    }
    let avg = average(&scores).map(|(ade, fde)| {
        let n = scores.len() as f64;
        let rhos: Vec<f64> = scores.iter().filter_map(|s| s.rank_rho).collect();
        Avg {
            ade,
            fde,
            top1: TopOne {
                ade: scores.iter().map(|s| s.top1.ade).sum::<f64>() / n,
                fde: scores.iter().map(|s| s.top1.fde).sum::<f64>() / n,
            },
            rank_rho: (!rhos.is_empty()).then(|| rhos.iter().sum::<f64>() / rhos.len() as f64),
        }
    });
    println!(
        "model {}  best-of-{}  ({} split{}{})",
        a.model,
        a.samples,
        if a.val { "val" } else { "test" },
        if rows.len() == 1 { "" } else { "s" },
        if a.obs_noise > 0.0 {
            format!(", observation noise σ = {} m", a.obs_noise)
        } else {
            String::new()
        } + &if a.stretch != 1.0 {
            format!(", stretched ×{}", a.stretch)
        } else {
            String::new()
        }
    );
    println!(
        "{:<8} {:>8} {:>8} {:>8} {:>9} {:>9} {:>8}",
        "split", "windows", "ADE", "FDE", "top1 ADE", "top1 FDE", "rank ρ"
    );
    let rho = |r: Option<f64>| r.map_or("-".to_string(), |v| format!("{v:.3}"));
    for r in &rows {
        println!(
            "{:<8} {:>8} {:>8.3} {:>8.3} {:>9.3} {:>9.3} {:>8}",
            r.split,
            r.windows,
            r.ade,
            r.fde,
            r.top1.ade,
            r.top1.fde,
            rho(r.rank_rho)
        );
    }
    if rows.len() > 1 {
        if let Some(v) = &avg {
            println!(
                "{:<8} {:>8} {:>8.3} {:>8.3} {:>9.3} {:>9.3} {:>8}",
                "average",
                "",
                v.ade,
                v.fde,
                v.top1.ade,
                v.top1.fde,
                rho(v.rank_rho)
            );
        }
    }
    if let Some(path) = &a.json {
        let rep = Report {
            model: a.model.clone(),
            samples: a.samples,
            obs_noise: a.obs_noise,
            stretch: a.stretch,
            kernels: lbebm_model::kernels::cpu_kernels(),
            splits: rows,
            average: avg,
        };
        write_atomic(path, &serde_json::to_vec_pretty(&rep)?)?;
    }
    Ok(())
}
