//! `lbebm train`: one pipeline for every split, driven by a config file.

use crate::common::{bar, data_root, device, BadInput};
use anyhow::{Context, Result};
use clap::Args;
use indicatif::ProgressBar;
use lbebm_data::{load_part, Part, Split};
use lbebm_model::train::{self, EpochReport, Losses, Observer, TrainRun};
use lbebm_model::Config;
use lbebm_types::Scene;
use std::path::PathBuf;

#[derive(Args)]
pub struct TrainArgs {
    /// Training config (TOML), e.g. configs/eth.toml.
    #[arg(long)]
    config: PathBuf,
    /// ETH/UCY root (default: $LBEBM_DATA_DIR, else datasets/eth_ucy here or in the repository).
    #[arg(long)]
    data: Option<PathBuf>,
    /// Split to train for. Default: the config file's stem (configs/eth.toml → eth);
    /// `all` trains on train+val of every scene for deployment (validating on val).
    #[arg(long)]
    split: Option<String>,
    /// Output checkpoint folder.
    #[arg(long)]
    out: PathBuf,
    #[arg(long, default_value = "cpu")]
    device: String,
    /// Continue from the training state in --out.
    #[arg(long)]
    resume: bool,
    /// Override the config's epoch count.
    #[arg(long)]
    epochs: Option<usize>,
    /// Override the config's `train.batch_parts`: cut each batch into N parts computed
    /// side by side (N = cores is fastest; the result depends on N, not on the cores).
    #[arg(long)]
    batch_parts: Option<usize>,
    /// Use only the first N training scenes (quick runs and tests).
    #[arg(long)]
    max_scenes: Option<usize>,
    /// Use only the first N validation scenes.
    #[arg(long)]
    max_val_scenes: Option<usize>,
}

struct Bars {
    pb: Option<ProgressBar>,
    n: usize,
    run: Losses,
}

impl Observer for Bars {
    fn epoch_start(&mut self, epoch: usize, batches: usize) {
        let pb = bar(batches as u64, &format!("epoch {}", epoch + 1));
        self.pb = Some(pb);
        self.n = 0;
        self.run = Losses::default();
    }
    fn batch(&mut self, l: &Losses) {
        self.n += 1;
        let k = 1.0 / self.n as f64;
        self.run.total += (l.total - self.run.total) * k;
        self.run.future += (l.future - self.run.future) * k;
        self.run.kld += (l.kld - self.run.kld) * k;
        self.run.cd += (l.cd - self.run.cd) * k;
        if let Some(pb) = &self.pb {
            pb.set_prefix(format!(
                "loss {:.1} fut {:.1} kld {:.2} cd {:.3}",
                self.run.total, self.run.future, self.run.kld, self.run.cd
            ));
            pb.inc(1);
        }
    }
    fn validating(&mut self, scenes: usize) {
        if let Some(pb) = &self.pb {
            pb.finish_and_clear();
        }
        self.pb = Some(bar(scenes as u64, "validating"));
    }
    fn validated(&mut self, scenes: usize) {
        if let Some(pb) = &self.pb {
            pb.inc(scenes as u64);
        }
    }
    fn epoch_end(&mut self, r: &EpochReport) {
        if let Some(pb) = self.pb.take() {
            pb.finish_and_clear();
        }
        let variety = if r.mean.variety > 0.0 {
            format!("  best-of-many {:>8.2}", r.mean.variety)
        } else {
            String::new()
        };
        eprintln!(
            "epoch {:>3}  lr {:.2e}  loss {:>9.2}  plan {:>8.2}  future {:>8.2}  kld {:>6.2}  cd {:>7.3}{}  val ADE {:.3} FDE {:.3}{}  ({:.0} s)",
            r.epoch, r.lr, r.mean.total, r.mean.plan, r.mean.future, r.mean.kld, r.mean.cd,
            variety, r.val_ade, r.val_fde, if r.best { "  *best" } else { "" }, r.seconds
        );
    }
}

pub fn run(a: TrainArgs) -> Result<()> {
    let text = std::fs::read_to_string(&a.config)
        .map_err(|e| BadInput(format!("{}: cannot read: {e}", a.config.display())))?;
    let mut cfg = Config::from_toml(&text).with_context(|| a.config.display().to_string())?;
    if let Some(p) = a.batch_parts {
        cfg.train.batch_parts = p;
    }
    if let Some(e) = a.epochs {
        cfg.train.epochs = e;
    }
    let cfg = cfg
        .check()
        .with_context(|| a.config.display().to_string())?;
    let split_name = match &a.split {
        Some(s) => s.clone(),
        None => a
            .config
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default(),
    };
    let root = data_root(a.data.as_deref())?;
    let dev = device(&a.device)?;
    let (mut tr, mut va, trained_on): (Vec<Scene>, Vec<Scene>, String) =
        if split_name == "all" || split_name == "default" {
            // Deployment model: every scene's train and val data. The test folders are
            // never read; validation (for the progress report and checkpoint choice) uses
            // the val folders, which are then also seen in training.
            let mut tr = Vec::new();
            let mut va = Vec::new();
            // The eth split's train+val holds every scene except ETH; hotel's holds ETH.
            tr.extend(load_part(&root, Split::Eth, Part::Train)?);
            tr.extend(
                load_part(&root, Split::Hotel, Part::Train)?
                    .into_iter()
                    .filter(|s| s.source.starts_with("biwi_eth")),
            );
            va.extend(load_part(&root, Split::Eth, Part::Val)?);
            va.extend(
                load_part(&root, Split::Hotel, Part::Val)?
                    .into_iter()
                    .filter(|s| s.source.starts_with("biwi_eth")),
            );
            let mut both = tr.clone();
            both.extend(va.iter().cloned());
            (both, va, "train+val of all ETH/UCY scenes".into())
        } else {
            let split: Split = split_name
                .parse()
                .map_err(|e: String| BadInput(format!("{e}; pass --split")))?;
            (
                load_part(&root, split, Part::Train)?,
                load_part(&root, split, Part::Val)?,
                format!("{split} train (checkpoint chosen on {split} val)"),
            )
        };
    if let Some(n) = a.max_scenes {
        tr.truncate(n);
    }
    if let Some(n) = a.max_val_scenes {
        va.truncate(n);
    }
    eprintln!(
        "training on {} scenes ({} windows), validating on {} scenes ({} windows)",
        tr.len(),
        tr.iter().map(|s| s.len()).sum::<usize>(),
        va.len(),
        va.iter().map(|s| s.len()).sum::<usize>()
    );
    let mut obs = Bars {
        pb: None,
        n: 0,
        run: Losses::default(),
    };
    let s = train::train(
        TrainRun {
            cfg,
            out: &a.out,
            device: &dev,
            resume: a.resume,
            trained_on,
        },
        &tr,
        &va,
        &mut obs,
    )?;
    println!(
        "done: {} epochs in {:.0} s; best epoch {} with val ADE {:.3} FDE {:.3}; checkpoint in {}",
        s.epochs_run,
        s.seconds,
        s.best_epoch,
        s.best_val_ade,
        s.best_val_fde,
        a.out.display()
    );
    Ok(())
}
