//! Scenes → tensors in the model frame, and model outputs → world coordinates.

use crate::config::Frame;
use crate::model::scene_mask;
use candle_core::{Device, Result, Tensor};
use lbebm_types::{AgentWindow, Normalizer, Scene, Vec2, OBS_LEN, PRED_LEN};

/// Below this displacement (metres) a stretch of the history says nothing reliable
/// about the heading: 0.1 m over 0.8 s is a slow shuffle, within tracker noise.
const MIN_HEADING_DISP: f32 = 0.1;

/// The direction an agent is walking in at its last observation, in radians: from the
/// last 0.8 s, else from the whole history, else `None` (standing still).
pub fn heading(a: &AgentWindow) -> Option<f32> {
    let last = a.last_obs();
    [a.obs[OBS_LEN - 3], a.obs[0]]
        .into_iter()
        .map(|p| last - p)
        .find(|d| d.norm() >= MIN_HEADING_DISP)
        .map(|d| d.y.atan2(d.x))
}

/// The normaliser of one agent: origin at its last observation, scaled, rotated by
/// `angle` in the world frame, or so that its heading points along +x in the heading
/// frame (`angle` then only turns agents that stand still).
pub fn normalizer(a: &AgentWindow, frame: Frame, scale: f32, angle: f32) -> Normalizer {
    let angle = match frame {
        Frame::World => angle,
        Frame::Heading => heading(a).map_or(angle, |h| -h),
    };
    Normalizer::new(a.last_obs(), scale, angle)
}

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
        Self::with_frame(scenes, Frame::World, scale, angles, dev)
    }

    /// [`SceneBatch::new`] in the given agent frame (see [`normalizer`]).
    pub fn with_frame(
        scenes: &[Scene],
        frame: Frame,
        scale: f32,
        angles: Option<&[f32]>,
        dev: &Device,
    ) -> Result<Self> {
        let n: usize = scenes.iter().map(|s| s.len()).sum();
        let mut obs = Vec::with_capacity(n * OBS_LEN * 2);
        let mut fut = Vec::with_capacity(n * PRED_LEN * 2);
        let mut have_fut = true;
        let mut norms = Vec::with_capacity(n);
        for (si, s) in scenes.iter().enumerate() {
            let angle = angles.map_or(0.0, |a| a[si]);
            for a in &s.agents {
                let nm = normalizer(a, frame, scale, angle);
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
