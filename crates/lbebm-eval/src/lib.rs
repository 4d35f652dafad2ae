//! Metrics (pure functions), the [`Predictor`] abstraction, the constant-velocity
//! baseline, and the evaluation loop that drives a predictor over scenes.

pub mod metrics;

pub use metrics::{ade, best_of_k, fde, spearman};

use lbebm_types::{AgentForecast, Future, Scene, SceneForecast, Vec2, OBS_LEN};
use serde::{Deserialize, Serialize};

/// Errors a predictor may report; the loop passes them on untouched.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Why [`evaluate`] stopped.
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    /// The predictor reported an error.
    #[error("predictor failed: {0}")]
    Predictor(#[source] BoxError),
    /// The predictor returned the wrong number of scene, agent or sample forecasts.
    #[error("predictor returned {got} forecasts for {want} {what}")]
    Shape {
        /// How many it returned.
        got: usize,
        /// How many were asked for.
        want: usize,
        /// What was counted: `"scenes"`, `"agents"` or `"samples"`.
        what: &'static str,
    },
    /// An agent of a scene being scored has no ground-truth future.
    #[error("scene {source_name} at t={t}: an agent has no ground-truth future")]
    NoGroundTruth {
        /// The scene's [`Scene::source`].
        source_name: String,
        /// The scene's [`Scene::t`]: time or frame number of its last observed step.
        t: f64,
    },
}

/// Anything that turns observed scenes into K sampled futures per agent.
pub trait Predictor {
    /// A short name for reports.
    fn name(&self) -> String;
    /// One forecast per scene, one [`AgentForecast`] per agent, `k` samples each.
    /// Only `obs` of each agent may be read; `future` is for scoring.
    fn predict(&mut self, scenes: &[Scene], k: usize) -> Result<Vec<SceneForecast>, BoxError>;
}

/// Extrapolates the last observed velocity (from the last two observed positions).
/// Deterministic: every one of the K samples is the same.
#[derive(Debug, Clone, Copy, Default)]
pub struct ConstantVelocity;

impl ConstantVelocity {
    /// The [`lbebm_types::PRED_LEN`] future steps continuing the last observed step of
    /// `obs` (standing still when `obs` has a single position).
    fn extrapolate(obs: &[Vec2]) -> Future {
        let n = obs.len();
        let last = obs[n - 1];
        let v = if n >= 2 {
            last - obs[n - 2]
        } else {
            Vec2::zeros()
        };
        std::array::from_fn(|i| last + v * (i + 1) as f32)
    }
}

impl Predictor for ConstantVelocity {
    fn name(&self) -> String {
        "cv".into()
    }
    fn predict(&mut self, scenes: &[Scene], k: usize) -> Result<Vec<SceneForecast>, BoxError> {
        Ok(scenes
            .iter()
            .map(|s| SceneForecast {
                agents: s
                    .agents
                    .iter()
                    .map(|a| {
                        let f = Self::extrapolate(&a.obs[..OBS_LEN]);
                        AgentForecast::from_energies(vec![f; k], vec![0.0; k])
                    })
                    .collect(),
            })
            .collect())
    }
}

/// Best-of-K ADE/FDE over one set of scenes, with the errors of the sample the
/// predictor ranks first and how well its ranking orders the samples by error.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Score {
    /// Number of agent windows scored.
    pub windows: usize,
    /// Mean over windows of the smallest ADE among the K samples (metres).
    pub ade: f64,
    /// Mean over windows of the smallest FDE among the K samples (metres), minimised
    /// separately from the ADE.
    pub fde: f64,
    /// ADE/FDE of the rank-0 sample (the predictor's single best guess).
    pub top1: TopOne,
    /// Spearman ρ between each sample's published rank and its ADE, averaged over the
    /// agents where it is defined (positive: earlier ranks have smaller errors); `None`
    /// when no agent's samples differ.
    pub rank_rho: Option<f64>,
}

/// Errors of one chosen sample per window.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TopOne {
    /// Mean ADE of the chosen samples (metres).
    pub ade: f64,
    /// Mean FDE of the chosen samples (metres).
    pub fde: f64,
}

/// Sums per-window errors; [`Accumulator::score`] averages them.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Accumulator {
    n: usize,
    ade: f64,
    fde: f64,
    top1_ade: f64,
    top1_fde: f64,
    rho_sum: f64,
    rho_n: usize,
}

impl Accumulator {
    /// Adds one agent's forecast, scored against its true future.
    fn add(&mut self, forecast: &AgentForecast, truth: &Future) {
        let (a, f) = best_of_k(&forecast.samples, truth);
        self.n += 1;
        self.ade += a as f64;
        self.fde += f as f64;
        let order = forecast.ranked();
        if let Some(&first) = order.first() {
            self.top1_ade += ade(&forecast.samples[first], truth) as f64;
            self.top1_fde += fde(&forecast.samples[first], truth) as f64;
        }
        let rank: Vec<f32> = (0..order.len()).map(|r| r as f32).collect();
        let err: Vec<f32> = order
            .iter()
            .map(|&i| ade(&forecast.samples[i], truth))
            .collect();
        if let Some(r) = spearman(&rank, &err) {
            self.rho_sum += r;
            self.rho_n += 1;
        }
    }

    /// The averages over the windows added so far (zeros when none were).
    fn score(&self) -> Score {
        let n = self.n.max(1) as f64;
        Score {
            windows: self.n,
            ade: self.ade / n,
            fde: self.fde / n,
            top1: TopOne {
                ade: self.top1_ade / n,
                fde: self.top1_fde / n,
            },
            rank_rho: (self.rho_n > 0).then(|| self.rho_sum / self.rho_n as f64),
        }
    }
}

/// Drives `predictor` over `scenes` in batches of about `batch_agents` agents (whole
/// scenes only), scoring best-of-`k`. `progress` is told how many scenes are done.
pub fn evaluate(
    predictor: &mut dyn Predictor,
    scenes: &[Scene],
    k: usize,
    batch_agents: usize,
    progress: &mut dyn FnMut(usize),
) -> Result<Score, EvalError> {
    let mut acc = Accumulator::default();
    for chunk in scene_batches(scenes, batch_agents) {
        let out = predictor.predict(chunk, k).map_err(EvalError::Predictor)?;
        if out.len() != chunk.len() {
            return Err(EvalError::Shape {
                got: out.len(),
                want: chunk.len(),
                what: "scenes",
            });
        }
        for (s, f) in chunk.iter().zip(&out) {
            if f.agents.len() != s.agents.len() {
                return Err(EvalError::Shape {
                    got: f.agents.len(),
                    want: s.agents.len(),
                    what: "agents",
                });
            }
            for (a, af) in s.agents.iter().zip(&f.agents) {
                let truth = a.future.as_ref().ok_or_else(|| EvalError::NoGroundTruth {
                    source_name: s.source.clone(),
                    t: s.t,
                })?;
                if af.samples.len() != k {
                    return Err(EvalError::Shape {
                        got: af.samples.len(),
                        want: k,
                        what: "samples",
                    });
                }
                acc.add(af, truth);
            }
        }
        progress(chunk.len());
    }
    Ok(acc.score())
}

/// The scenes with Gaussian noise of σ `sigma` metres (per coordinate, seeded) added to
/// every observed position, as a tracker's jitter would; the true futures stay clean.
pub fn with_obs_noise(scenes: &[Scene], sigma: f32, seed: u64) -> Vec<Scene> {
    use rand::{Rng, SeedableRng};
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut out = scenes.to_vec();
    for s in &mut out {
        for a in &mut s.agents {
            for p in &mut a.obs {
                let dx: f32 = rng.sample(rand_distr::StandardNormal);
                let dy: f32 = rng.sample(rand_distr::StandardNormal);
                *p += Vec2::new(dx, dy) * sigma;
            }
        }
    }
    out
}

/// The scenes stretched by `factor` in space about the world origin, observations and
/// futures alike: walkers cover `factor` times the distance per step, as they appear to
/// in ETH's test file (a validation check of how a model generalises to faster
/// walkers than its training scenes hold; errors come out in stretched metres).
pub fn stretched(scenes: &[Scene], factor: f32) -> Vec<Scene> {
    let mut out = scenes.to_vec();
    for s in &mut out {
        for a in &mut s.agents {
            for p in a.obs.iter_mut().chain(a.future.iter_mut().flatten()) {
                *p *= factor;
            }
        }
    }
    out
}

/// Consecutive runs of whole scenes holding about `max_agents` agents each (a scene
/// larger than that is a batch of its own).
pub fn scene_batches(scenes: &[Scene], max_agents: usize) -> Vec<&[Scene]> {
    pack(scenes.iter().map(Scene::len), max_agents)
        .into_iter()
        .map(|r| &scenes[r])
        .collect()
}

/// Cuts a sequence of groups of `sizes` agents into consecutive runs of about
/// `max_agents` agents each, never splitting a group: a run closes before the group that
/// would take it past `max_agents` (a group larger than that is a run of its own).
/// Returns the runs as index ranges into the sequence.
pub fn pack(
    sizes: impl IntoIterator<Item = usize>,
    max_agents: usize,
) -> Vec<std::ops::Range<usize>> {
    let mut out = Vec::new();
    let (mut start, mut n, mut len) = (0, 0, 0);
    for (i, s) in sizes.into_iter().enumerate() {
        if n > 0 && n + s > max_agents {
            out.push(start..i);
            start = i;
            n = 0;
        }
        n += s;
        len = i + 1;
    }
    if start < len {
        out.push(start..len);
    }
    out
}

/// The benchmark average: the plain mean of the per-split scores.
pub fn average(scores: &[Score]) -> Option<(f64, f64)> {
    if scores.is_empty() {
        return None;
    }
    let n = scores.len() as f64;
    Some((
        scores.iter().map(|s| s.ade).sum::<f64>() / n,
        scores.iter().map(|s| s.fde).sum::<f64>() / n,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use lbebm_types::{AgentWindow, PRED_LEN};

    fn straight(id: &str, v: f32) -> AgentWindow {
        AgentWindow {
            id: id.into(),
            obs: std::array::from_fn(|i| Vec2::new(v * i as f32, 1.0)),
            future: Some(std::array::from_fn(|i| {
                Vec2::new(v * (i + OBS_LEN) as f32, 1.0)
            })),
        }
    }

    #[test]
    fn pack_keeps_groups_whole_and_covers_everything() {
        assert_eq!(pack([3, 3, 3, 10, 1, 1], 6), vec![0..2, 2..3, 3..4, 4..6]);
        assert_eq!(pack([], 6), Vec::<std::ops::Range<usize>>::new());
        assert_eq!(pack([7], 6), vec![0..1]);
    }

    #[test]
    fn cv_is_exact_on_straight_lines() {
        let scenes = vec![Scene {
            source: "s".into(),
            t: 0.0,
            agents: vec![straight("a", 0.5), straight("b", -0.3)],
        }];
        let s = evaluate(&mut ConstantVelocity, &scenes, 3, 100, &mut |_| {}).unwrap();
        assert_eq!(s.windows, 2);
        assert!(s.ade < 1e-5 && s.fde < 1e-5, "{s:?}");
        assert!(s.top1.ade < 1e-5 && s.top1.fde < 1e-5, "{s:?}");
        // All K samples are equal: no ranking to judge.
        assert_eq!(s.rank_rho, None);
        // Noise moves the observations only, by about σ.
        let noisy = with_obs_noise(&scenes, 0.1, 7);
        let a = &noisy[0].agents[0];
        assert_eq!(a.future, scenes[0].agents[0].future);
        let moved: f32 = a
            .obs
            .iter()
            .zip(&scenes[0].agents[0].obs)
            .map(|(p, q)| (p - q).norm())
            .sum::<f32>()
            / OBS_LEN as f32;
        assert!(moved > 0.03 && moved < 0.3, "{moved}");
        assert_eq!(with_obs_noise(&scenes, 0.1, 7), noisy);
        // Stretching scales observations and futures alike; CV stays exact, and its
        // error on a curved track grows by the factor.
        let far = stretched(&scenes, 2.0);
        assert_eq!(far[0].agents[0].obs[3], scenes[0].agents[0].obs[3] * 2.0);
        let f = far[0].agents[1].future.as_ref().unwrap()[11];
        assert_eq!(f, scenes[0].agents[1].future.as_ref().unwrap()[11] * 2.0);
        let s2 = evaluate(&mut ConstantVelocity, &far, 3, 100, &mut |_| {}).unwrap();
        assert!(s2.ade < 1e-5 && s2.fde < 1e-5, "{s2:?}");
    }

    #[test]
    fn batches_keep_scenes_whole() {
        let sc = |n| Scene {
            source: "s".into(),
            t: 0.0,
            agents: vec![straight("a", 1.0); n],
        };
        let scenes = vec![sc(3), sc(3), sc(5), sc(1)];
        let b = scene_batches(&scenes, 6);
        let sizes: Vec<usize> = b.iter().map(|x| x.len()).collect();
        assert_eq!(sizes, vec![2, 2]);
        assert_eq!(b.iter().map(|x| x.len()).sum::<usize>(), 4);
        let f: [Vec2; PRED_LEN] = [Vec2::zeros(); PRED_LEN];
        assert_eq!(ade(&f, &f), 0.0);
    }

    #[test]
    fn average_is_mean_of_splits() {
        let s = |a, f| Score {
            windows: 1,
            ade: a,
            fde: f,
            top1: TopOne { ade: a, fde: f },
            rank_rho: None,
        };
        let (a, f) = average(&[s(1.0, 2.0), s(3.0, 4.0)]).unwrap();
        assert_eq!((a, f), (2.0, 3.0));
        assert!(average(&[]).is_none());
    }
}
