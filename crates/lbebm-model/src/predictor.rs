//! The LB-EBM model behind the evaluation harness's [`Predictor`] interface.

use crate::batch::{to_world, SceneBatch};
use crate::fast::FastModel;
use crate::model::Lbebm;
use lbebm_eval::{BoxError, Predictor};
use lbebm_types::{AgentForecast, Scene, SceneForecast, PRED_LEN};
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

    /// Forecasts for scenes, world coordinates, samples in sampling order.
    pub fn forecast(
        &mut self,
        scenes: &[Scene],
        k: usize,
    ) -> candle_core::Result<Vec<SceneForecast>> {
        let dev = self.model.device().clone();
        let scale = self.model.config().model.data_scale;
        let b = SceneBatch::new(scenes, scale, None, &dev)?;
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
        let (fut, en) = match &self.fast {
            Some(fm) => {
                let obs = b.obs.flatten_all()?.to_vec1::<f32>()?;
                fm.sample(&obs, &b.scene_sizes, k, self.steps, &mut self.rng, true)
            }
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
        let (fut, en, k) = if k > k_out {
            select_covering(&fut, &en, b.len(), k, k_out)
        } else {
            (fut, en, k)
        };
        let mut out = Vec::with_capacity(scenes.len());
        let mut agent = 0;
        for s in scenes {
            let mut agents = Vec::with_capacity(s.len());
            for _ in 0..s.len() {
                let nm = &b.norms[agent];
                let samples = (0..k)
                    .map(|j| {
                        let r = (agent * k + j) * PRED_LEN * 2;
                        to_world(&fut[r..r + PRED_LEN * 2], nm)
                    })
                    .collect();
                let energies = en[agent * k..(agent + 1) * k].to_vec();
                agents.push(AgentForecast { samples, energies });
                agent += 1;
            }
            out.push(SceneForecast { agents });
        }
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

/// For each agent, picks `k_out` of its `k` samples that cover them: k-means on the
/// flattened trajectories (farthest-point start from the lowest-energy sample, so it is
/// deterministic), then the member nearest each centre.
fn select_covering(
    fut: &[f32],
    en: &[f32],
    n: usize,
    k: usize,
    k_out: usize,
) -> (Vec<f32>, Vec<f32>, usize) {
    const D: usize = PRED_LEN * 2;
    let mut out_f = Vec::with_capacity(n * k_out * D);
    let mut out_e = Vec::with_capacity(n * k_out);
    let dist = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum::<f32>();
    for a in 0..n {
        let rows: Vec<&[f32]> = (0..k)
            .map(|j| &fut[(a * k + j) * D..(a * k + j + 1) * D])
            .collect();
        let e = &en[a * k..(a + 1) * k];
        // Farthest-point initialisation.
        let first = (0..k).min_by(|&i, &j| e[i].total_cmp(&e[j])).unwrap_or(0);
        let mut centres: Vec<Vec<f32>> = vec![rows[first].to_vec()];
        let mut near: Vec<f32> = rows.iter().map(|r| dist(r, rows[first])).collect();
        while centres.len() < k_out {
            let far = (0..k)
                .max_by(|&i, &j| near[i].total_cmp(&near[j]))
                .unwrap_or(0);
            centres.push(rows[far].to_vec());
            for (i, r) in rows.iter().enumerate() {
                near[i] = near[i].min(dist(r, rows[far]));
            }
        }
        // Lloyd iterations.
        let mut assign = vec![0usize; k];
        for _ in 0..10 {
            for (i, r) in rows.iter().enumerate() {
                assign[i] = (0..k_out)
                    .min_by(|&c, &d| dist(r, &centres[c]).total_cmp(&dist(r, &centres[d])))
                    .unwrap_or(0);
            }
            for (c, centre) in centres.iter_mut().enumerate() {
                let members: Vec<usize> = (0..k).filter(|&i| assign[i] == c).collect();
                if members.is_empty() {
                    continue;
                }
                for (d, v) in centre.iter_mut().enumerate() {
                    *v = members.iter().map(|&i| rows[i][d]).sum::<f32>() / members.len() as f32;
                }
            }
        }
        // The member nearest each centre (distinct samples).
        let mut used = vec![false; k];
        for centre in &centres {
            let pick = (0..k)
                .filter(|&i| !used[i])
                .min_by(|&i, &j| dist(rows[i], centre).total_cmp(&dist(rows[j], centre)))
                .unwrap_or(0);
            used[pick] = true;
            out_f.extend_from_slice(rows[pick]);
            out_e.push(e[pick]);
        }
    }
    (out_f, out_e, k_out)
}
