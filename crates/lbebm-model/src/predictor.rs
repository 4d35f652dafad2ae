//! The LB-EBM model behind the evaluation harness's [`Predictor`] interface.

use crate::batch::{to_world, FrameSpec, SceneBatch};
use crate::fast::FastModel;
use crate::model::Lbebm;
use lbebm_eval::{BoxError, Predictor};
use lbebm_types::{softmax, AgentForecast, Scene, SceneForecast, OBS_LEN, PRED_LEN};
use rand::rngs::StdRng;
use rand::SeedableRng;

/// Samples K futures per agent with a seeded noise source, so that the same seed over
/// the same scenes in the same order gives the same numbers.
pub struct LbebmPredictor {
    pub model: Lbebm,
    /// The CPU fast path (same results as the tensor path up to rounding); `None` on
    /// other devices or when turned off with [`LbebmPredictor::use_fast_path`].
    fast: Option<FastModel>,
    rng: StdRng,
    /// Langevin steps at prediction time.
    pub steps: usize,
    /// Candidates drawn per agent before choosing K that cover them (0: off).
    pub candidates: usize,
    pub name: String,
}

impl LbebmPredictor {
    pub fn new(model: Lbebm, seed: u64, name: impl Into<String>) -> Self {
        let steps = model.config().langevin.test_steps;
        let candidates = model.config().langevin.candidates;
        let fast = if model.device().is_cpu() {
            FastModel::new(&model).ok()
        } else {
            None
        };
        Self {
            model,
            fast,
            rng: StdRng::seed_from_u64(seed),
            steps,
            candidates,
            name: name.into(),
        }
    }

    /// Whether predictions go through the CPU fast path.
    pub fn uses_fast_path(&self) -> bool {
        self.fast.is_some()
    }

    /// Chooses between the CPU fast path and the candle tensor path.
    pub fn use_fast_path(&mut self, on: bool) {
        self.fast = if on && self.model.device().is_cpu() {
            FastModel::new(&self.model).ok()
        } else {
            None
        };
    }

    /// Restarts the noise stream (so a split's evaluation does not depend on what ran
    /// before it).
    pub fn reseed(&mut self, seed: u64) {
        self.rng = StdRng::seed_from_u64(seed);
    }

    /// Forecasts for scenes, world coordinates; each agent's weights (from the
    /// configured [`crate::config::RankConfig`]) say which sample ranks first.
    pub fn forecast(
        &mut self,
        scenes: &[Scene],
        k: usize,
    ) -> candle_core::Result<Vec<SceneForecast>> {
        let dev = self.model.device().clone();
        let m = &self.model.config().model;
        let b = SceneBatch::with_frame(scenes, FrameSpec::of(m), None, &dev)?;
        if b.is_empty() {
            return Ok(scenes
                .iter()
                .map(|_| SceneForecast { agents: vec![] })
                .collect());
        }
        let k_out = k;
        let k = if self.candidates > k {
            self.candidates
        } else {
            k
        };
        // The observed rows on the host: the fast path's input and the ranking's.
        let obs = b.obs.flatten_all()?.to_vec1::<f32>()?;
        let (fut, en) = match &self.fast {
            Some(fm) => fm.sample(&obs, &b.scene_sizes, k, self.steps, &mut self.rng, true),
            None => {
                let (fut, en) =
                    self.model
                        .sample(&b.obs, &b.mask()?, k, self.steps, &mut self.rng, true)?;
                (
                    fut.to_dtype(candle_core::DType::F32)?
                        .flatten_all()?
                        .to_vec1::<f32>()?,
                    en.to_dtype(candle_core::DType::F32)?.to_vec1::<f32>()?,
                )
            }
        };
        // Per agent: which K of the drawn samples to return, and their scores. Agents are
        // independent here, so they are shared out among the threads (same result).
        use rayon::prelude::*;
        let rank = &self.model.config().rank;
        const D: usize = PRED_LEN * 2;
        let forecasts: Vec<AgentForecast> = (0..b.len())
            .into_par_iter()
            .map(|agent| {
                let nm = &b.norms[agent];
                let cands = &fut[agent * k * D..(agent + 1) * k * D];
                let energies = &en[agent * k..(agent + 1) * k];
                let obs_row = &obs[agent * OBS_LEN * 2..(agent + 1) * OBS_LEN * 2];
                let ch = crate::rank::choose(rank, cands, energies, obs_row, nm.scale, k_out);
                let mut samples: Vec<_> = ch
                    .chosen
                    .iter()
                    .map(|&j| to_world(&cands[j * D..(j + 1) * D], nm))
                    .collect();
                if let Some((slot, x)) = &ch.best_guess {
                    samples[*slot] = to_world(x, nm);
                }
                AgentForecast {
                    samples,
                    energies: ch.chosen.iter().map(|&j| energies[j]).collect(),
                    weights: softmax(&ch.scores),
                }
            })
            .collect();
        let mut rest = forecasts.into_iter();
        let out = scenes
            .iter()
            .map(|s| SceneForecast {
                agents: rest.by_ref().take(s.len()).collect(),
            })
            .collect();
        Ok(out)
    }
}

impl Predictor for LbebmPredictor {
    fn name(&self) -> String {
        self.name.clone()
    }
    fn predict(&mut self, scenes: &[Scene], k: usize) -> Result<Vec<SceneForecast>, BoxError> {
        Ok(self.forecast(scenes, k)?)
    }
}
