//! Scenes → tensors in the model frame, and model outputs → world coordinates.

use crate::model::scene_mask;
use candle_core::{Device, Result, Tensor};
use lbebm_types::{Normalizer, Scene, Vec2, OBS_LEN, PRED_LEN};

/// A batch of whole scenes as model inputs.
#[derive(Debug)]
pub struct SceneBatch {
    /// `[N, 16]`: observed positions relative to each agent's last one, scaled.
    pub obs: Tensor,
    /// `[N, 24]` scaled relative futures, when every agent has ground truth.
    pub future: Option<Tensor>,
    /// One normaliser per agent, to map predictions back to the world.
    pub norms: Vec<Normalizer>,
    pub scene_sizes: Vec<usize>,
}

impl SceneBatch {
    /// `angles[i]` rotates scene `i` (augmentation); `None` means no rotation.
    pub fn new(scenes: &[Scene], scale: f32, angles: Option<&[f32]>, dev: &Device) -> Result<Self> {
        let n: usize = scenes.iter().map(|s| s.len()).sum();
        let mut obs = Vec::with_capacity(n * OBS_LEN * 2);
        let mut fut = Vec::with_capacity(n * PRED_LEN * 2);
        let mut have_fut = true;
        let mut norms = Vec::with_capacity(n);
        for (si, s) in scenes.iter().enumerate() {
            let angle = angles.map_or(0.0, |a| a[si]);
            for a in &s.agents {
                let nm = Normalizer::new(a.last_obs(), scale, angle);
                for p in &a.obs {
                    let q = nm.to_model(*p);
                    obs.extend_from_slice(&[q.x, q.y]);
                }
                match &a.future {
                    Some(f) => {
                        for p in f {
                            let q = nm.to_model(*p);
                            fut.extend_from_slice(&[q.x, q.y]);
                        }
                    }
                    None => have_fut = false,
                }
                norms.push(nm);
            }
        }
        let scene_sizes: Vec<usize> = scenes.iter().map(|s| s.len()).collect();
        Ok(Self {
            obs: Tensor::from_vec(obs, (n, OBS_LEN * 2), dev)?,
            future: if have_fut && n > 0 {
                Some(Tensor::from_vec(fut, (n, PRED_LEN * 2), dev)?)
            } else {
                None
            },
            norms,
            scene_sizes,
        })
    }

    /// `[N, N]` additive social mask (built on demand: it grows with N²).
    pub fn mask(&self) -> Result<Tensor> {
        scene_mask(&self.scene_sizes, self.obs.device())
    }

    pub fn len(&self) -> usize {
        self.norms.len()
    }
    pub fn is_empty(&self) -> bool {
        self.norms.is_empty()
    }
}

/// Picks the sub-goal steps out of `[N, 24]` futures: `[N, 2·len]`.
pub fn plan_of(future: &Tensor, subgoals: &[usize]) -> Result<Tensor> {
    let parts = subgoals
        .iter()
        .map(|&i| future.narrow(1, 2 * i, 2))
        .collect::<Result<Vec<_>>>()?;
    Tensor::cat(&parts, 1)
}

/// Model-frame future rows (flat x,y pairs) back to world positions.
pub fn to_world(row: &[f32], nm: &Normalizer) -> [Vec2; PRED_LEN] {
    std::array::from_fn(|i| nm.to_world(Vec2::new(row[2 * i], row[2 * i + 1])))
}
