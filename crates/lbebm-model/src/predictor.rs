//! The LB-EBM model behind the evaluation harness's [`Predictor`] interface.

use crate::batch::{to_world, FrameSpec, SceneBatch};
use crate::langevin::{Diffusion, Draw};
use crate::model::Lbebm;
use crate::sampler::{self, Backend, Sampler};
use lbebm_eval::{BoxError, Predictor};
use lbebm_types::{softmax, AgentForecast, Scene, SceneForecast, OBS_LEN, PRED_LEN};
use rand::rngs::StdRng;
use rand::SeedableRng;

/// Samples K futures per agent with a seeded noise source, so that the same seed over
/// the same scenes in the same order gives the same numbers.
pub struct LbebmPredictor {
    model: Lbebm,
    sampler: Box<dyn Sampler>,
    rng: StdRng,
    steps: usize,
    candidates: usize,
    name: String,
}

impl LbebmPredictor {
    /// A predictor over `model`, sampling with the CPU sampler on the CPU and the tensor
    /// path elsewhere; Langevin steps and candidates from the model's config.
    ///
    /// # Errors
    /// When the CPU sampler cannot copy the weights.
    pub fn new(
        model: Lbebm,
        seed: u64,
        name: impl Into<String>,
    ) -> Result<Self, crate::ModelError> {
        let backend = if model.device().is_cpu() {
            Backend::Cpu
        } else {
            Backend::Tensor
        };
        let sampler = sampler::build(&model, backend)?;
        Ok(Self {
            steps: model.config().langevin.test_steps,
            candidates: model.config().langevin.candidates,
            sampler,
            model,
            rng: StdRng::seed_from_u64(seed),
            name: name.into(),
        })
    }

    /// Which implementation draws the samples.
    pub fn backend(&self) -> Backend {
        self.sampler.backend()
    }

    /// Draws with `backend` from now on.
    ///
    /// # Errors
    /// [`Backend::Cpu`] for a model that is not on the CPU.
    pub fn set_backend(&mut self, backend: Backend) -> Result<(), crate::ModelError> {
        self.sampler = sampler::build(&self.model, backend)?;
        Ok(())
    }

    /// The name reports give the predictor.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The model.
    pub fn model(&self) -> &Lbebm {
        &self.model
    }

    /// Langevin steps at prediction time.
    pub fn steps(&self) -> usize {
        self.steps
    }

    /// Candidates drawn per agent (0: off).
    pub fn candidates(&self) -> usize {
        self.candidates
    }

    /// Langevin steps at prediction time (default: the config's `test_steps`).
    pub fn set_steps(&mut self, steps: usize) {
        self.steps = steps;
    }

    /// Candidates drawn per agent before choosing K that cover them (0: off; default:
    /// the config's `candidates`).
    pub fn set_candidates(&mut self, candidates: usize) {
        self.candidates = candidates;
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
        let width = b.obs.dim(1)?;
        let draw = Draw {
            k,
            steps: self.steps,
            diffusion: Diffusion::On,
        };
        let (fut, en) = self.sampler.sample(&b, &obs, draw, &mut self.rng)?;
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
                // The agent's own history: the first 16 numbers of its row.
                let obs_row = &obs[agent * width..agent * width + OBS_LEN * 2];
                let ch = crate::rank::choose(rank, cands, energies, obs_row, nm.scale, k_out);
                let mut samples: Vec<_> = match &ch.rows {
                    Some(rows) => rows.iter().map(|x| to_world(x, nm)).collect(),
                    None => ch
                        .chosen
                        .iter()
                        .map(|&j| to_world(&cands[j * D..(j + 1) * D], nm))
                        .collect(),
                };
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
