//! `lbebm figure`: a picture of a few test scenes with the model's samples.

use crate::common::{checkpoint_for, EVAL_SEED};
use crate::common::{data_root, device, BadInput};
use crate::plot::{self, Panel, PlotAgent};
use anyhow::{Context, Result};
use clap::Args;
use lbebm_data::{load_part, Part, Split};
use lbebm_model::{checkpoint, LbebmPredictor};
use std::path::{Path, PathBuf};

#[derive(Args)]
pub struct FigureArgs {
    /// A checkpoint folder, or a folder with one per split (`models`).
    #[arg(long, default_value = "models")]
    model: PathBuf,
    /// Which split's test scenes to draw.
    #[arg(long)]
    split: String,
    /// ETH/UCY root (default: $LBEBM_DATA_DIR, else datasets/eth_ucy here or in the repository).
    #[arg(long)]
    data: Option<PathBuf>,
    /// Number of scenes (evenly spread over the split; scenes with 2–6 agents).
    #[arg(long, default_value_t = 3)]
    scenes: usize,
    #[arg(long, default_value_t = 20)]
    samples: usize,
    #[arg(long, default_value_t = EVAL_SEED)]
    seed: u64,
    #[arg(long, default_value = "cpu")]
    device: String,
    /// `.svg` or `.png`.
    #[arg(long)]
    out: PathBuf,
}

pub fn run(a: FigureArgs) -> Result<()> {
    let split: Split = a.split.parse().map_err(BadInput)?;
    if a.scenes == 0 || a.scenes > 12 {
        return Err(BadInput("--scenes must be between 1 and 12".into()).into());
    }
    let root = data_root(a.data.as_deref())?;
    let dir = checkpoint_for(Path::new(&a.model), split)?;
    let ck = checkpoint::load(&dir, &device(&a.device)?)
        .with_context(|| format!("loading {}", dir.display()))?;
    let scenes = load_part(&root, split, Part::Test)?;
    let pool: Vec<_> = scenes
        .iter()
        .filter(|s| (2..=6).contains(&s.len()))
        .collect();
    if pool.is_empty() {
        return Err(BadInput(format!("{split}: no test scene with 2 to 6 agents")).into());
    }
    let n = a.scenes.min(pool.len());
    let picked: Vec<_> = (0..n)
        .map(|i| pool[(2 * i + 1) * pool.len() / (2 * n)].clone())
        .collect();
    let mut p = LbebmPredictor::new(ck.model, a.seed, dir.display().to_string())?;
    let fc = p.forecast(&picked, a.samples)?;
    let pt = |v: &lbebm_types::Vec2| (v.x as f64, v.y as f64);
    let panels: Vec<Panel> = picked
        .iter()
        .zip(&fc)
        .map(|(s, f)| Panel {
            title: format!("{split} · {} · frame {}", s.source, s.t),
            agents: s
                .agents
                .iter()
                .zip(&f.agents)
                .map(|(w, af)| PlotAgent {
                    obs: w.obs.iter().map(pt).collect(),
                    truth: w
                        .future
                        .map(|f| f.iter().map(pt).collect())
                        .unwrap_or_default(),
                    samples: af
                        .ranked()
                        .into_iter()
                        .map(|k| af.samples[k].iter().map(pt).collect())
                        .collect(),
                })
                .collect(),
        })
        .collect();
    if let Some(d) = a.out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(d)?;
    }
    plot::draw(&a.out, &panels)?;
    eprintln!("wrote {}", a.out.display());
    Ok(())
}
