//! The inference worker: takes the newest scene, runs the model, publishes.
//!
//! It runs on its own thread and is fed by [`crate::latest`], so the DDS side never
//! waits for inference and a scene that arrives while the model is busy replaces the
//! one waiting (stale work is dropped).

use crate::diagnostics::{self, Health};
use crate::msgs::{MarkerArray, PredictionArray};
use crate::output::{build, MarkerStyle};
use crate::tracks::SceneJob;
use crate::NodeError;
use crossbeam_channel::Receiver;
use lbebm_eval::Predictor;
use lbebm_model::{checkpoint, LbebmPredictor};
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Where finished messages go (the DDS publishers in the node; a vector in tests).
pub trait Sink {
    /// Publishes the predictions of one scene and, if made, its markers.
    fn publish(&mut self, predictions: PredictionArray, markers: Option<MarkerArray>);
}

/// A scene, what to make of it, and when its input arrived.
#[derive(Debug, Clone)]
pub struct Job {
    /// The scene.
    pub scene: SceneJob,
    /// What to make of it (the parameters when it was handed over).
    pub cfg: WorkerConfig,
    /// When the newest input in it was received.
    pub received: Instant,
    /// When it was handed to the worker.
    pub submitted: Instant,
}

/// What the worker makes of each scene.
#[derive(Debug, Clone, Copy)]
pub struct WorkerConfig {
    /// K: sampled futures per person.
    pub k: usize,
    /// Whether to make a `MarkerArray` too.
    pub markers: bool,
    /// How the markers look.
    pub style: MarkerStyle,
}

impl WorkerConfig {
    /// What the parameters ask for.
    pub fn from_params(p: &crate::Params) -> Self {
        WorkerConfig {
            k: p.num_samples,
            markers: p.publish_markers,
            style: MarkerStyle {
                lifetime: p.marker_lifetime,
                ..Default::default()
            },
        }
    }
}

/// Totals, logged at the end.
#[derive(Debug, Clone, Default)]
pub struct WorkerStats {
    /// Scenes predicted.
    pub scenes: u64,
    /// Scenes the model failed on.
    pub failures: u64,
    /// Time spent in the model, in total.
    pub total_inference: Duration,
    /// The longest inference.
    pub max_inference: Duration,
    /// Inference times in ms of the first [`WorkerStats::KEPT`] scenes (for the median).
    pub inference_ms: Vec<f32>,
}

impl WorkerStats {
    /// Inference times kept for the median (an hour at 30 Hz; 400 kB).
    pub const KEPT: usize = 100_000;

    /// The median inference time in ms of the scenes kept.
    pub fn median_ms(&self) -> Option<f64> {
        let mut v: Vec<f64> = self.inference_ms.iter().map(|&x| f64::from(x)).collect();
        crate::diagnostics::quantile(&mut v, 0.5)
    }
}

/// Runs until every sender has gone; counts and times each scene in `health`.
pub fn run(
    model: &mut dyn Predictor,
    jobs: &Receiver<Job>,
    sink: &mut dyn Sink,
    health: &Mutex<Health>,
) -> WorkerStats {
    let mut st = WorkerStats::default();
    for job in jobs.iter() {
        let cfg = &job.cfg;
        let t0 = Instant::now();
        let forecast = if job.scene.scene.is_empty() {
            None
        } else {
            let one = model
                .predict(std::slice::from_ref(&job.scene.scene), cfg.k)
                .map(|mut v| v.pop());
            match one {
                Ok(Some(f)) if f.agents.len() == job.scene.agents.len() => Some(f),
                Ok(f) => {
                    st.failures += 1;
                    let why = format!(
                        "model returned {} forecasts for {} agents",
                        f.map_or(0, |f| f.agents.len()),
                        job.scene.agents.len()
                    );
                    tracing::error!("{why}; scene skipped");
                    diagnostics::lock(health).failed(Instant::now(), why);
                    continue;
                }
                Err(e) => {
                    st.failures += 1;
                    tracing::error!("inference failed, scene skipped: {e}");
                    diagnostics::lock(health).failed(Instant::now(), e.to_string());
                    continue;
                }
            }
        };
        let dt = t0.elapsed();
        st.scenes += 1;
        st.total_inference += dt;
        st.max_inference = st.max_inference.max(dt);
        if st.inference_ms.len() < WorkerStats::KEPT {
            st.inference_ms.push((dt.as_secs_f64() * 1e3) as f32);
        }
        let (preds, markers, skipped) = build(&job.scene, forecast.as_ref(), &cfg.style);
        if skipped > 0 {
            tracing::warn!("{skipped} agent(s) had only non-finite samples; left out");
        }
        tracing::debug!(
            agents = preds.agents.len(),
            inference_ms = dt.as_secs_f64() * 1e3,
            queued_ms = (t0 - job.submitted).as_secs_f64() * 1e3,
            "scene predicted"
        );
        sink.publish(preds, cfg.markers.then_some(markers));
        let done = Instant::now();
        diagnostics::lock(health).predicted(done, dt, done.duration_since(job.received));
    }
    diagnostics::lock(health).worker_stopped();
    st
}

/// Where the model comes from.
pub use lbebm_default_model::ModelSource;

/// The model to load for a `model` parameter: a folder, or (empty) the model compiled
/// in, or else `models/default` next to the executable or in the working directory.
pub fn model_source(param: &str) -> Result<ModelSource, NodeError> {
    if !param.is_empty() {
        return Ok(ModelSource::Dir(PathBuf::from(param)));
    }
    if lbebm_default_model::embedded().is_some() {
        return Ok(ModelSource::Embedded);
    }
    let mut candidates = vec![PathBuf::from("models/default")];
    if let Ok(exe) = std::env::current_exe() {
        for up in exe.ancestors().skip(1).take(4) {
            candidates.push(up.join("models/default"));
        }
    }
    candidates
        .into_iter()
        .find(|d| d.join(checkpoint::CONFIG).is_file() && d.join(checkpoint::WEIGHTS).is_file())
        .map(ModelSource::Dir)
        .ok_or_else(|| {
            NodeError::NoModel(
                "this binary was built without models/default and none was found; \
                 set the model parameter (-p model:=DIR) or pass --model DIR"
                    .into(),
            )
        })
}

/// Loads the predictor (`device`: `cpu` or `cuda:N`).
pub fn load_predictor(
    src: &ModelSource,
    device: &str,
    seed: u64,
) -> Result<LbebmPredictor, NodeError> {
    let dev = lbebm_model::parse_device(device)?;
    let loaded = lbebm_default_model::load(src, &dev)?;
    let name = src.name();
    Ok(LbebmPredictor::new(loaded.model, seed, name)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::latest::latest;
    use crate::tracks::{TrackConfig, TrackStore};
    use lbebm_types::{Scene, SceneForecast, PRED_LEN};

    /// The harness's constant velocity (K identical samples), slowed down by `delay`.
    struct Cv {
        delay: Duration,
        calls: usize,
    }
    impl Predictor for Cv {
        fn name(&self) -> String {
            "cv".into()
        }
        fn predict(
            &mut self,
            scenes: &[Scene],
            k: usize,
        ) -> Result<Vec<SceneForecast>, lbebm_eval::BoxError> {
            self.calls += 1;
            std::thread::sleep(self.delay);
            lbebm_eval::ConstantVelocity.predict(scenes, k)
        }
    }

    #[derive(Default)]
    struct Collect(Vec<(PredictionArray, Option<MarkerArray>)>);
    impl Sink for Collect {
        fn publish(&mut self, p: PredictionArray, m: Option<MarkerArray>) {
            self.0.push((p, m));
        }
    }

    fn walking_scene(t_end: f64) -> SceneJob {
        let mut s = TrackStore::new(TrackConfig {
            timeout: 1.0,
            max_agents: 8,
            max_speed: 10.0,
        });
        let mut t = t_end - 3.0;
        while t <= t_end + 1e-9 {
            s.observe(t, &[("a".into(), [1000.0 + t, 5.0])], 0.0);
            t += 0.1;
        }
        s.scene("map", "test")
    }

    #[test]
    fn worker_publishes_world_coordinates_and_drops_stale_scenes() {
        let (tx, rx) = latest::<Job>();
        let h = std::thread::spawn(move || {
            let mut m = Cv {
                delay: Duration::from_millis(30),
                calls: 0,
            };
            let mut sink = Collect::default();
            let health = Mutex::new(Health::default());
            let st = run(&mut m, &rx, &mut sink, &health);
            (sink, st, m.calls, health)
        });
        let cfg = WorkerConfig {
            k: 3,
            markers: true,
            style: MarkerStyle::default(),
        };
        for i in 0..20 {
            tx.send(Job {
                scene: walking_scene(10.0 + i as f64 * 0.1),
                cfg,
                received: Instant::now(),
                submitted: Instant::now(),
            })
            .expect("alive");
            std::thread::sleep(Duration::from_millis(2));
        }
        drop(tx);
        let (sink, st, calls, health) = h.join().expect("worker");
        assert!(calls < 20, "stale scenes were not dropped ({calls})");
        assert_eq!(st.scenes as usize, sink.0.len());
        let s = diagnostics::lock(&health).status(Instant::now(), &Default::default());
        let predicted = s.values.iter().find(|kv| kv.key == "scenes predicted");
        assert_eq!(
            predicted.map(|kv| kv.value.clone()),
            Some(st.scenes.to_string())
        );
        assert_eq!(
            s.level,
            crate::msgs::DiagnosticStatus::ERROR,
            "the worker stopped"
        );
        let (p, m) = sink.0.last().expect("published");
        assert!(m.is_some());
        let a = &p.agents[0];
        assert_eq!(a.samples.len(), 3);
        assert_eq!(a.samples[0].positions.len(), PRED_LEN);
        // the last scene ended at t = 11.9 with x = 1000 + t, walking 1 m/s
        let end = &a.samples[0].positions[PRED_LEN - 1];
        assert!(
            (end.x - (1000.0 + 11.9 + 12.0 * 0.4)).abs() < 1e-3,
            "{end:?}"
        );
        assert!((end.y - 5.0).abs() < 1e-4);
        assert!((a.position.x - 1011.9).abs() < 1e-6);
    }

    #[test]
    fn empty_scene_publishes_without_inference() {
        let (tx, rx) = latest::<Job>();
        let empty = TrackStore::new(TrackConfig {
            timeout: 1.0,
            max_agents: 8,
            max_speed: 10.0,
        })
        .scene("map", "t");
        tx.send(Job {
            scene: empty,
            cfg: WorkerConfig {
                k: 3,
                markers: false,
                style: MarkerStyle::default(),
            },
            received: Instant::now(),
            submitted: Instant::now(),
        })
        .expect("alive");
        drop(tx);
        let mut m = Cv {
            delay: Duration::ZERO,
            calls: 0,
        };
        let mut sink = Collect::default();
        run(&mut m, &rx, &mut sink, &Mutex::new(Health::default()));
        assert_eq!(m.calls, 0);
        assert_eq!(sink.0.len(), 1);
        assert!(sink.0[0].0.agents.is_empty());
        assert!(sink.0[0].1.is_none());
    }

    #[test]
    fn a_real_model_predicts_a_scene() {
        // a tiny randomly initialised model, saved and loaded like a checkpoint
        let dir = tempfile::tempdir().expect("tmp");
        let mut cfg = lbebm_model::Config::default();
        cfg.model.enc_past = vec![16];
        cfg.model.enc_plan = vec![8];
        cfg.model.enc_latent = vec![8];
        cfg.model.dec_plan = vec![16];
        cfg.model.dec_traj = vec![16];
        cfg.model.nl_theta = vec![8];
        cfg.model.nl_phi = vec![8];
        cfg.model.nl_g = vec![8];
        cfg.model.nl_dim = 8;
        cfg.model.ebm_hidden = vec![8];
        cfg.langevin.test_steps = 2;
        let checked = cfg.clone().check().expect("valid config");
        let (_, vm) = checkpoint::build(&checked, &candle_core::Device::Cpu).expect("build");
        lbebm_model::train::seeded_init(&vm, 1).expect("init");
        checkpoint::save(
            dir.path(),
            &vm,
            &cfg,
            &checkpoint::Meta::default(),
            candle_core::DType::F32,
        )
        .expect("save");
        let mut p = load_predictor(&ModelSource::Dir(dir.path().into()), "cpu", 0).expect("load");
        let job = walking_scene(20.0);
        let f = p
            .forecast(std::slice::from_ref(&job.scene), 4)
            .expect("forecast")
            .pop()
            .expect("one scene");
        assert_eq!(f.agents.len(), 1);
        assert_eq!(f.agents[0].samples.len(), 4);
        let (preds, _, skipped) = build(&job, Some(&f), &MarkerStyle::default());
        assert_eq!(skipped, 0);
        // an untrained model still predicts near the person, in world coordinates
        let first = &preds.agents[0].samples[0].positions[0];
        assert!(
            (first.x - 1020.0).abs() < 50.0 && (first.y - 5.0).abs() < 50.0,
            "{first:?}"
        );
        // a bad folder is an error, not a panic
        assert!(load_predictor(&ModelSource::Dir("/nonexistent".into()), "cpu", 0).is_err());
    }
}
