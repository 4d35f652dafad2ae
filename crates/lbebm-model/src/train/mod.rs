//! Training: the paper's loss ([`loss`]), Adam with a step decay ([`adam`]),
//! persistent Langevin chains ([`replay`]), best-on-validation checkpoints, resumable
//! state, divergence detection.

mod adam;
mod ema;
mod init;
mod loss;
mod replay;

pub use adam::Adam;
pub use ema::Ema;
pub use init::{seeded_init, start_from_training_data};
pub use loss::{batch_grads, batch_grads_kl, kl_weight, Losses};
pub use replay::Replay;

use crate::checkpoint::{self, Meta};
use crate::config::CheckedConfig;
use crate::model::{randn, Lbebm, TrainNoise};
use crate::predictor::LbebmPredictor;
use crate::ModelError;
use candle_core::{DType, Device};
use lbebm_types::Scene;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::time::Instant;

/// Seed of the validation sampler: fixed, so validation scores compare across epochs.
pub const VAL_SEED: u64 = 0x0005_eed0_f7a1;

/// Name of the resumable training state inside the output folder (f32 weights, the
/// optimiser's moments, the weights' average if any and the buffer of persistent chains;
/// not needed to use the model).
pub const STATE: &str = "train_state.safetensors";
/// The training state's counters and history, beside [`STATE`].
pub const STATE_META: &str = "train_state.json";

/// Hooks for progress display; the library itself prints nothing.
pub trait Observer {
    /// An epoch of `batches` batches starts.
    fn epoch_start(&mut self, _epoch: usize, _batches: usize) {}
    /// A batch is done.
    fn batch(&mut self, _losses: &Losses) {}
    /// Validation of `scenes` scenes starts.
    fn validating(&mut self, _scenes: usize) {}
    /// `scenes` more scenes were validated.
    fn validated(&mut self, _scenes: usize) {}
    /// An epoch ended.
    fn epoch_end(&mut self, _report: &EpochReport) {}
}

/// Does nothing.
pub struct Quiet;
impl Observer for Quiet {}

/// One epoch's summary.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EpochReport {
    /// Epoch number (1-based).
    pub epoch: usize,
    /// Learning rate during the epoch.
    pub lr: f64,
    /// Mean losses over its batches.
    pub mean: Losses,
    /// Validation best-of-K ADE, metres.
    pub val_ade: f64,
    /// Validation best-of-K FDE, metres.
    pub val_fde: f64,
    /// Whether this epoch's weights were kept as the best so far.
    pub best: bool,
    /// Wall time of the epoch with its validation, seconds.
    pub seconds: f64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct StateMeta {
    /// Epochs completed.
    epoch: usize,
    adam_t: usize,
    best_ade: Option<f64>,
    best_fde: Option<f64>,
    bad_epochs: usize,
    seconds: f64,
    history: Vec<EpochReport>,
}

/// Result of a training run.
#[derive(Debug, Clone)]
pub struct Summary {
    /// Epochs run (with those of a resumed run).
    pub epochs_run: usize,
    /// Epoch of the kept weights.
    pub best_epoch: usize,
    /// Validation ADE of the kept weights, metres.
    pub best_val_ade: f64,
    /// Validation FDE of the kept weights, metres.
    pub best_val_fde: f64,
    /// Wall time, seconds.
    pub seconds: f64,
    /// Every epoch's report.
    pub history: Vec<EpochReport>,
}

/// Splits scene indices (in `order`) into batches of whole scenes of about
/// `max_agents` agents.
fn batches(scenes: &[Scene], order: &[usize], max_agents: usize) -> Vec<Vec<usize>> {
    lbebm_eval::pack(order.iter().map(|&i| scenes[i].len()), max_agents)
        .into_iter()
        .map(|r| order[r].to_vec())
        .collect()
}

/// Mirrors and scales whole scenes and jitters the observed positions as `t` asks.
/// Draws nothing for what is off, so configs without them reproduce the random stream
/// of earlier versions.
fn augment(scenes: &mut [Scene], t: &crate::config::TrainConfig, rng: &mut StdRng) {
    if !t.mirror && t.scale_sigma == 0.0 && t.obs_noise == 0.0 {
        return;
    }
    for s in scenes.iter_mut() {
        let flip = t.mirror && rng.gen_bool(0.5);
        let factor = if t.scale_sigma > 0.0 {
            (t.scale_sigma as f32 * rng.sample::<f32, _>(rand_distr::StandardNormal)).exp()
        } else {
            1.0
        };
        let map = |p: &mut lbebm_types::Vec2| {
            if flip {
                p.y = -p.y;
            }
            *p *= factor;
        };
        for a in &mut s.agents {
            a.obs.iter_mut().for_each(map);
            if let Some(f) = a.future.as_mut() {
                f.iter_mut().for_each(map);
            }
        }
    }
    if t.obs_noise > 0.0 {
        // After mirroring and scaling: the noise is in metres of the scene as trained on.
        let sigma = t.obs_noise as f32;
        for a in scenes.iter_mut().flat_map(|s| s.agents.iter_mut()) {
            for p in &mut a.obs {
                p.x += sigma * rng.sample::<f32, _>(rand_distr::StandardNormal);
                p.y += sigma * rng.sample::<f32, _>(rand_distr::StandardNormal);
            }
        }
    }
}

/// Validation best-of-K ADE/FDE (metres) with a fixed seed.
pub fn validate(
    model: &Lbebm,
    val: &[Scene],
    k: usize,
    obs: &mut dyn Observer,
) -> Result<lbebm_eval::Score, ModelError> {
    // With training's chains (temperature 1, starting points of σ `init_sigma`): the
    // prediction-only temperature and starting σ are chosen afterwards, on validation too,
    // with the checkpoint this picks (so adding them to a config retrains the same weights).
    let model = model.with_training_chains()?;
    let mut p = LbebmPredictor::new(model.clone(), VAL_SEED, "val")?;
    let t = &model.config().train;
    if !t.val_covering {
        // Plain samples: covering the candidates is then a prediction-time choice, made
        // afterwards on validation too.
        p.set_candidates(0);
    } else if t.val_candidates > 0 {
        p.set_candidates(t.val_candidates);
    }
    obs.validating(val.len());
    let s = lbebm_eval::evaluate(&mut p, val, k, 512, &mut |n| obs.validated(n))
        .map_err(|e| ModelError::Data(e.to_string()))?;
    Ok(s)
}

/// Everything `train` needs besides the data.
pub struct TrainRun<'a> {
    /// The checked config to train.
    pub cfg: CheckedConfig,
    /// Checkpoint folder to write (created if missing).
    pub out: &'a Path,
    /// Device to train on.
    pub device: &'a Device,
    /// Continue from the training state in `out`.
    pub resume: bool,
    /// Free text stored in the checkpoint's meta.
    pub trained_on: String,
}

/// Trains on `train`, keeps the best-on-`val` checkpoint in `run.out`.
pub fn train(
    run: TrainRun,
    train: &[Scene],
    val: &[Scene],
    obs: &mut dyn Observer,
) -> Result<Summary, ModelError> {
    let cfg = &run.cfg;
    let t = &cfg.train;
    if train.is_empty() {
        return Err(ModelError::Data("no training scenes".into()));
    }
    if val.is_empty() {
        return Err(ModelError::Data("no validation scenes".into()));
    }
    let (model, vm) = checkpoint::build(cfg, run.device)?;
    seeded_init(&vm, t.seed)?;
    start_from_training_data(&vm, cfg, train)?;
    let mut adam = Adam::new(&vm, t.lr)?;
    adam.weight_decay = t.weight_decay;
    let mut ema = if t.ema > 0.0 {
        Some(Ema::new(&vm, t.ema)?)
    } else {
        None
    };
    let mut st = StateMeta::default();
    let mut replay = Replay::new(cfg.model.zdim, cfg.langevin.replay_size);
    let state_path = run.out.join(STATE);
    std::fs::create_dir_all(run.out).map_err(|e| ModelError::Checkpoint {
        path: run.out.to_path_buf(),
        msg: format!("cannot create: {e}"),
    })?;
    if run.resume {
        let on_disk = checkpoint::load_config(run.out)?;
        if on_disk.model != cfg.model {
            return Err(cannot_resume(
                &run.out.join(checkpoint::CONFIG),
                "the model section differs from the config given",
            ));
        }
        let map = candle_core::safetensors::load(&state_path, &Device::Cpu)
            .map_err(|e| cannot_resume(&state_path, e))?;
        adam.restore(&map, &state_path)?;
        if let Some(e) = ema.as_mut() {
            e.restore(&map, &state_path)?;
        }
        replay.restore(&map, &state_path)?;
        let sm = std::fs::read(run.out.join(STATE_META))
            .ok()
            .and_then(|b| serde_json::from_slice::<StateMeta>(&b).ok())
            .ok_or_else(|| cannot_resume(&run.out.join(STATE_META), "missing or unreadable"))?;
        adam.t = sm.adam_t;
        st = sm;
        tracing::info!(epoch = st.epoch, "resuming");
    }
    let started = Instant::now();
    let base_seconds = st.seconds;
    for epoch in st.epoch..t.epochs {
        let t0 = Instant::now();
        // One generator per epoch, derived from the seed: a resumed run continues
        // exactly as an uninterrupted one would from that epoch on.
        let mut rng =
            StdRng::seed_from_u64(t.seed.wrapping_mul(1_000_003).wrapping_add(epoch as u64));
        adam.lr = t.lr * t.lr_gamma.powi((epoch / t.lr_step) as i32);
        let mut order: Vec<usize> = (0..train.len()).collect();
        order.shuffle(&mut rng);
        let bs = batches(train, &order, t.batch_agents);
        obs.epoch_start(epoch, bs.len());
        let mut sum = Losses::default();
        for (bi, idx) in bs.iter().enumerate() {
            let mut scenes: Vec<Scene> = idx.iter().map(|&i| train[i].clone()).collect();
            augment(&mut scenes, t, &mut rng);
            let angles: Option<Vec<f32>> = t.rotate.then(|| {
                scenes
                    .iter()
                    .map(|_| rng.gen_range(0.0..std::f32::consts::TAU))
                    .collect()
            });
            let n: usize = scenes.iter().map(Scene::len).sum();
            let z0 = if replay.is_full() {
                replay.sample(n, &mut rng, run.device)?
            } else {
                randn(
                    &mut rng,
                    (n, cfg.model.zdim),
                    cfg.langevin.init_sigma,
                    run.device,
                )?
            };
            let noise = TrainNoise::draw_with_variety(
                &mut rng,
                n,
                cfg.model.zdim,
                cfg.langevin.steps,
                t.variety_samples,
            );
            let (l, z_neg, grads) = batch_grads_kl(
                &model,
                &scenes,
                angles.as_deref(),
                &z0,
                &noise,
                t.batch_parts,
                kl_weight(t, epoch, bi, bs.len()),
                run.device,
            )?;
            if !l.total.is_finite() {
                return Err(ModelError::Diverged { epoch, batch: bi });
            }
            adam.step_sum(&grads)?;
            if let Some(e) = ema.as_mut() {
                e.update(adam.t)?;
            }
            replay.push(&z_neg.flatten_all()?.to_vec1::<f32>()?);
            for (a, x) in [
                (&mut sum.total, l.total),
                (&mut sum.plan, l.plan),
                (&mut sum.future, l.future),
                (&mut sum.kld, l.kld),
                (&mut sum.cd, l.cd),
                (&mut sum.subgoal, l.subgoal),
                (&mut sum.variety, l.variety),
            ] {
                *a += x / bs.len() as f64;
            }
            obs.batch(&l);
        }
        // With an average of the weights, validation and the checkpoint read it; the raw
        // weights come back before the next epoch trains on.
        let raw = ema.as_ref().map(Ema::swap_in).transpose()?;
        let score = validate(&model, val, t.val_samples, obs)?;
        let better = st.best_ade.is_none_or(|b| score.ade < b);
        st.seconds = base_seconds + started.elapsed().as_secs_f64();
        if better {
            st.best_ade = Some(score.ade);
            st.best_fde = Some(score.fde);
            st.bad_epochs = 0;
            let meta = Meta {
                epoch: epoch + 1,
                val_ade: Some(score.ade),
                val_fde: Some(score.fde),
                val_windows: Some(score.windows),
                train_seconds: st.seconds,
                trained_on: run.trained_on.clone(),
            };
            checkpoint::save(run.out, &vm, cfg, &meta, DType::F16)?;
        } else {
            st.bad_epochs += 1;
        }
        if let (Some(e), Some(raw)) = (ema.as_ref(), raw) {
            e.put_back(raw)?;
        }
        let report = EpochReport {
            epoch: epoch + 1,
            lr: adam.lr,
            mean: sum,
            val_ade: score.ade,
            val_fde: score.fde,
            best: better,
            seconds: t0.elapsed().as_secs_f64(),
        };
        tracing::info!(
            epoch = epoch + 1,
            val_ade = score.ade,
            val_fde = score.fde,
            best = better,
            "epoch done"
        );
        obs.epoch_end(&report);
        st.history.push(report);
        st.epoch = epoch + 1;
        st.adam_t = adam.t;
        save_state(run.out, &adam, ema.as_ref(), &replay, &st)?;
        if t.patience > 0 && st.bad_epochs >= t.patience {
            tracing::info!(epoch = epoch + 1, "early stop: no validation gain");
            break;
        }
    }
    let best_epoch = checkpoint::load_meta(run.out).epoch;
    Ok(Summary {
        epochs_run: st.epoch,
        best_epoch,
        best_val_ade: st.best_ade.unwrap_or(f64::NAN),
        best_val_fde: st.best_fde.unwrap_or(f64::NAN),
        seconds: st.seconds,
        history: st.history,
    })
}

/// Why `--resume` cannot go on from the training state at `path`.
fn cannot_resume(path: &Path, why: impl std::fmt::Display) -> ModelError {
    ModelError::Checkpoint {
        path: path.to_path_buf(),
        msg: format!("cannot resume: {why}"),
    }
}

fn save_state(
    dir: &Path,
    adam: &Adam,
    ema: Option<&Ema>,
    replay: &Replay,
    st: &StateMeta,
) -> Result<(), ModelError> {
    let mut map = adam.state()?;
    if let Some(e) = ema {
        e.state(&mut map)?;
    }
    replay.state(&mut map)?;
    checkpoint::save_tensors_atomic(&map, &dir.join(STATE))?;
    let j = serde_json::to_vec_pretty(st).map_err(|e| ModelError::Data(e.to_string()))?;
    checkpoint::write_atomic(&dir.join(STATE_META), &j)
}

#[cfg(test)]
mod tests {
    use super::*;
    use lbebm_types::{AgentWindow, Vec2};

    fn scene() -> Scene {
        Scene {
            source: "s".into(),
            t: 0.0,
            agents: vec![AgentWindow {
                id: "a".into(),
                obs: std::array::from_fn(|i| Vec2::new(i as f32, 1.0 + i as f32)),
                future: Some(std::array::from_fn(|i| Vec2::new(2.0, i as f32))),
            }],
        }
    }

    #[test]
    fn augmentation_off_draws_nothing_and_on_mirrors_or_scales() {
        let mut t = crate::config::TrainConfig::default();
        let mut rng = StdRng::seed_from_u64(3);
        let mut s = vec![scene()];
        augment(&mut s, &t, &mut rng);
        assert_eq!(s[0], scene());
        // The generator is untouched: the next draw is the first of a fresh one.
        assert_eq!(rng.gen::<u64>(), StdRng::seed_from_u64(3).gen::<u64>());
        t.mirror = true;
        let mut flips = 0;
        for seed in 0..20 {
            let mut s = vec![scene()];
            augment(&mut s, &t, &mut StdRng::seed_from_u64(seed));
            let (a, b) = (&s[0].agents[0], &scene().agents[0]);
            if a.obs[3].y == -b.obs[3].y {
                flips += 1;
                assert_eq!(a.future.unwrap()[5].y, -b.future.unwrap()[5].y);
            } else {
                assert_eq!(a, b);
            }
        }
        assert!((5..=15).contains(&flips), "{flips} of 20 mirrored");
        t.mirror = false;
        t.scale_sigma = 0.2;
        let mut s = vec![scene()];
        augment(&mut s, &t, &mut StdRng::seed_from_u64(1));
        let (a, b) = (&s[0].agents[0], &scene().agents[0]);
        let f = a.obs[4].x / b.obs[4].x;
        assert!(
            f != 1.0 && (a.obs[4].y / b.obs[4].y - f).abs() < 1e-5,
            "one factor per scene"
        );
    }

    #[test]
    fn observation_noise_jitters_the_history_only_by_about_sigma() {
        let t = crate::config::TrainConfig {
            obs_noise: 0.05,
            ..Default::default()
        };
        let mut s = vec![scene(); 200];
        augment(&mut s, &t, &mut StdRng::seed_from_u64(7));
        let clean = scene().agents.remove(0);
        let mut sq = 0.0f64;
        for a in s.iter().map(|s| &s.agents[0]) {
            assert_eq!(a.future, clean.future, "the truth stays clean");
            for (p, q) in a.obs.iter().zip(&clean.obs) {
                assert_ne!(p, q);
                sq += ((p.x - q.x).powi(2) + (p.y - q.y).powi(2)) as f64;
            }
        }
        let sigma = (sq / (2.0 * 200.0 * 8.0)).sqrt();
        assert!((0.045..0.055).contains(&sigma), "σ {sigma}");
    }
}
