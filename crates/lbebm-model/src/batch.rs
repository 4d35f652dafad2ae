//! Scenes → tensors in the model frame, and model outputs → world coordinates.

use crate::config::Frame;
use crate::social::{neighbour_mask, scene_mask};
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

/// The input frame of every agent, from the model config.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FrameSpec {
    /// The agent-centric frame: world axes or each agent's heading.
    pub frame: Frame,
    /// Model units per metre.
    pub scale: f32,
    /// Metres per step that every agent is scaled to (0: off).
    pub speed_ref: f32,
    /// Bounds of the speed factor.
    pub speed_clamp: [f32; 2],
    /// Nearest neighbours described beside each agent's history (`model.neighbours`).
    pub neighbours: usize,
    /// Metres within which a neighbour counts (`model.neighbour_range`; 0: no limit).
    pub neighbour_range: f32,
    /// Whether the batch carries the pairs' geometry for social pooling's edge net
    /// (`model.social_edges`).
    pub edges: bool,
}

/// Numbers per neighbour in a model input row (`model.neighbours`): a presence flag
/// (1), its last observed position and its last step (x, y each), in the agent's frame.
pub const NEIGHBOUR_FEATURES: usize = 5;

/// Numbers per ordered pair of agents of a scene for social pooling's edge net
/// (`model.social_edges`): where the other agent was last and its last step (x, y each),
/// in the agent's own frame, in metres (model units over `data_scale`: rotated, and scaled
/// with the agent's speed factor).
pub const EDGE_FEATURES: usize = 4;

/// Another agent `b` as `nm`'s agent sees it: where `b` was last and its last step, in that
/// agent's model frame (what both the neighbour inputs and the edge net read).
fn seen_from(nm: &Normalizer, b: &AgentWindow) -> [f32; 4] {
    let q = nm.to_model(b.obs[OBS_LEN - 1]);
    let r = nm.to_model(b.obs[OBS_LEN - 2]);
    [q.x, q.y, q.x - r.x, q.y - r.y]
}

/// Width of a model input row: the agent's 8 observed positions, then its neighbours.
pub fn input_width(neighbours: usize) -> usize {
    OBS_LEN * 2 + NEIGHBOUR_FEATURES * neighbours
}

impl FrameSpec {
    /// The frame settings of a model config.
    pub fn of(m: &crate::config::ModelConfig) -> Self {
        Self {
            frame: m.frame,
            scale: m.data_scale,
            speed_ref: m.speed_ref,
            speed_clamp: m.speed_clamp,
            neighbours: m.neighbours,
            neighbour_range: m.neighbour_range,
            edges: m.social_edges > 0,
        }
    }

    /// Translation, rotation and scale only: the world frame of earlier versions.
    pub fn world(scale: f32) -> Self {
        Self {
            frame: Frame::World,
            scale,
            speed_ref: 0.0,
            speed_clamp: [1.0, 1.0],
            neighbours: 0,
            neighbour_range: 0.0,
            edges: false,
        }
    }

    /// The normaliser of one agent: origin at its last observation; rotated by `angle`
    /// in the world frame, or so that its heading points along +x in the heading frame
    /// (`angle` then only turns agents that stand still); scaled, and with speed
    /// normalisation also by `speed_ref / v`.
    pub fn normalizer(&self, a: &AgentWindow, angle: f32) -> Normalizer {
        let angle = match self.frame {
            Frame::World => angle,
            Frame::Heading => heading(a).map_or(angle, |h| -h),
        };
        let mut scale = self.scale;
        if self.speed_ref > 0.0 {
            let v =
                a.obs.windows(2).map(|w| (w[1] - w[0]).norm()).sum::<f32>() / (OBS_LEN - 1) as f32;
            let [lo, hi] = self.speed_clamp;
            let f = if v > 0.0 { self.speed_ref / v } else { hi };
            scale *= f.clamp(lo, hi);
        }
        Normalizer::new(a.last_obs(), scale, angle)
    }
}

/// A batch of whole scenes as model inputs.
#[derive(Debug)]
pub struct SceneBatch {
    /// `[N, input_width]`: observed positions relative to each agent's last one, scaled
    /// (the first 16 numbers of a row), then its nearest neighbours as
    /// [`FrameSpec::neighbours`] asks ([`input_width`]).
    pub obs: Tensor,
    /// `[N, 24]` scaled relative futures, when every agent has ground truth.
    pub future: Option<Tensor>,
    /// One normaliser per agent, to map predictions back to the world.
    pub norms: Vec<Normalizer>,
    /// Agents per scene, in batch order (social pooling stays within a scene).
    pub scene_sizes: Vec<usize>,
    /// Each agent's last observed position in the world (metres, before any rotation):
    /// what `model.social_radius` measures distances between.
    pub last: Vec<[f32; 2]>,
    /// With [`FrameSpec::edges`]: for each scene, its `s × s` ordered pairs (agent `i`'s
    /// row, then the other `j`), [`EDGE_FEATURES`] numbers each, the scenes one after
    /// another; empty without.
    pub edges: Vec<f32>,
}

impl SceneBatch {
    /// `angles[i]` rotates scene `i` (augmentation); `None` means no rotation.
    pub fn new(scenes: &[Scene], scale: f32, angles: Option<&[f32]>, dev: &Device) -> Result<Self> {
        Self::with_frame(scenes, FrameSpec::world(scale), angles, dev)
    }

    /// [`SceneBatch::new`] in the given agent frame (see [`FrameSpec::normalizer`]).
    pub fn with_frame(
        scenes: &[Scene],
        spec: FrameSpec,
        angles: Option<&[f32]>,
        dev: &Device,
    ) -> Result<Self> {
        let n: usize = scenes.iter().map(|s| s.len()).sum();
        let width = input_width(spec.neighbours);
        let mut obs = Vec::with_capacity(n * width);
        let mut fut = Vec::with_capacity(n * PRED_LEN * 2);
        let mut have_fut = true;
        let mut norms = Vec::with_capacity(n);
        let mut last = Vec::with_capacity(n);
        let mut edges = Vec::new();
        if spec.edges {
            edges.reserve(pairs(scenes.iter().map(|s| s.len())) * EDGE_FEATURES);
        }
        let mut order = Vec::new();
        let range2 = match spec.neighbour_range {
            r if r > 0.0 => r * r,
            _ => f32::INFINITY,
        };
        for (si, s) in scenes.iter().enumerate() {
            let angle = angles.map_or(0.0, |a| a[si]);
            for (i, a) in s.agents.iter().enumerate() {
                let nm = spec.normalizer(a, angle);
                let now = a.last_obs();
                for p in &a.obs {
                    let q = nm.to_model(*p);
                    obs.extend_from_slice(&[q.x, q.y]);
                }
                if spec.neighbours > 0 {
                    // The nearest others at the last observation (ties: scene order),
                    // within the range if there is one.
                    order.clear();
                    order.extend(
                        s.agents
                            .iter()
                            .enumerate()
                            .filter(|&(j, _)| j != i)
                            .map(|(j, b)| ((b.last_obs() - now).norm_squared(), j))
                            .filter(|&(d2, _)| d2 <= range2),
                    );
                    order.sort_by(|x, y| x.0.total_cmp(&y.0).then(x.1.cmp(&y.1)));
                    for slot in 0..spec.neighbours {
                        match order.get(slot) {
                            Some(&(_, j)) => {
                                obs.push(1.0);
                                obs.extend_from_slice(&seen_from(&nm, &s.agents[j]));
                            }
                            None => obs.extend_from_slice(&[0.0; NEIGHBOUR_FEATURES]),
                        }
                    }
                }
                if spec.edges {
                    // In metres (over the scale): the edge net's inputs stay small.
                    for b in &s.agents {
                        edges.extend(seen_from(&nm, b).map(|v| v / spec.scale));
                    }
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
                last.push([now.x, now.y]);
            }
        }
        let scene_sizes: Vec<usize> = scenes.iter().map(|s| s.len()).collect();
        Ok(Self {
            obs: Tensor::from_vec(obs, (n, width), dev)?,
            future: if have_fut && n > 0 {
                Some(Tensor::from_vec(fut, (n, PRED_LEN * 2), dev)?)
            } else {
                None
            },
            norms,
            scene_sizes,
            last,
            edges,
        })
    }

    /// `[N, N, EDGE_FEATURES]`: [`SceneBatch::edges`] laid out as every pair of the batch,
    /// zeros between scenes (social pooling's mask removes those pairs).
    ///
    /// # Errors
    /// When the batch was built without edges.
    pub fn edge_tensor(&self) -> Result<Tensor> {
        self.check_edges()?;
        let n = self.len();
        let mut full = vec![0.0f32; n * n * EDGE_FEATURES];
        let (mut start, mut at) = (0, 0);
        for &s in &self.scene_sizes {
            for i in start..start + s {
                let row = (i * n + start) * EDGE_FEATURES;
                full[row..row + s * EDGE_FEATURES]
                    .copy_from_slice(&self.edges[at..at + s * EDGE_FEATURES]);
                at += s * EDGE_FEATURES;
            }
            start += s;
        }
        Tensor::from_vec(full, (n, n, EDGE_FEATURES), self.obs.device())
    }

    /// Ordered pairs of agents within the batch's scenes (`Σ s²`): the rows of
    /// [`SceneBatch::edges`].
    pub fn pairs(&self) -> usize {
        pairs(self.scene_sizes.iter().copied())
    }

    /// Whether [`SceneBatch::edges`] holds every pair's geometry (an edge net needs it).
    ///
    /// # Errors
    /// When the batch was built without edges (or with the wrong number of them).
    pub fn check_edges(&self) -> Result<()> {
        let pairs = self.pairs();
        if self.edges.len() != pairs * EDGE_FEATURES {
            candle_core::bail!(
                "the batch carries {} edge numbers for {pairs} pairs of agents",
                self.edges.len()
            );
        }
        Ok(())
    }

    /// `[N, N]` additive social mask (built on demand: it grows with N²).
    pub fn mask(&self) -> Result<Tensor> {
        scene_mask(&self.scene_sizes, self.obs.device())
    }

    /// [`SceneBatch::mask`] restricted to neighbours within `radius` metres of each
    /// other (`model.social_radius`; 0: the whole scene, the same as `mask`).
    pub fn mask_within(&self, radius: f32) -> Result<Tensor> {
        neighbour_mask(&self.scene_sizes, &self.last, radius, self.obs.device())
    }

    /// Agents in the batch.
    pub fn len(&self) -> usize {
        self.norms.len()
    }
    /// Whether the batch holds no agent.
    pub fn is_empty(&self) -> bool {
        self.norms.is_empty()
    }
}

/// Ordered pairs of agents within scenes of the given sizes.
fn pairs(sizes: impl Iterator<Item = usize>) -> usize {
    sizes.map(|s| s * s).sum()
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Walks from `start` along `dir` at `step` metres per 0.4 s.
    fn walker(start: Vec2, dir: Vec2, step: f32) -> AgentWindow {
        AgentWindow {
            id: "a".into(),
            obs: std::array::from_fn(|i| start + dir * step * i as f32),
            future: Some(std::array::from_fn(|i| {
                start + dir * step * (i + OBS_LEN) as f32
            })),
        }
    }

    fn spec(frame: Frame, speed_ref: f32, clamp: [f32; 2]) -> FrameSpec {
        FrameSpec {
            frame,
            scale: 10.0,
            speed_ref,
            speed_clamp: clamp,
            neighbours: 0,
            neighbour_range: 0.0,
            edges: false,
        }
    }

    /// Each row holds the agent's history, then its nearest neighbours in its own frame,
    /// nearest first; missing ones are zeros.
    #[test]
    fn rows_describe_the_nearest_neighbours_in_the_agents_frame() {
        let walkers = [
            walker(Vec2::new(0.0, 0.0), Vec2::new(1.0, 0.0), 0.5),
            walker(Vec2::new(0.0, 5.0), Vec2::new(0.0, 1.0), 0.4),
            walker(Vec2::new(0.0, 1.0), Vec2::new(-1.0, 0.0), 0.3),
        ];
        let scene = |agents: &[AgentWindow]| Scene {
            source: "test".into(),
            t: 0.0,
            agents: agents.to_vec(),
        };
        let mut sp = spec(Frame::Heading, 0.0, [1.0, 1.0]);
        sp.neighbours = 3;
        let scenes = [scene(&walkers), scene(&walkers[..1])];
        let rows_of = |sp: FrameSpec| {
            let b = SceneBatch::with_frame(&scenes, sp, None, &Device::Cpu).unwrap();
            assert_eq!(b.obs.dims(), [4, input_width(sp.neighbours)]);
            b.obs.to_vec2::<f32>().unwrap()
        };
        assert_eq!(input_width(3), 16 + 15);
        let rows = rows_of(sp);
        // Agent 0 (last at (3.5, 0), walking +x): nearest is agent 2, then agent 1.
        let nm = sp.normalizer(&walkers[0], 0.0);
        for (slot, j) in [(0, 2), (1, 1)] {
            let o = &walkers[j].obs;
            let (q, r) = (nm.to_model(o[OBS_LEN - 1]), nm.to_model(o[OBS_LEN - 2]));
            let got = &rows[0][16 + 5 * slot..16 + 5 * (slot + 1)];
            assert_eq!(got, [1.0, q.x, q.y, q.x - r.x, q.y - r.y], "slot {slot}");
        }
        // In agent 0's frame agent 2 walks towards -x: its last step points backwards.
        assert!(rows[0][16 + 3] < 0.0, "{:?}", &rows[0][16..21]);
        // Two others only: the third slot is empty; alone in its scene: all empty.
        assert!(rows[0][26..31].iter().all(|&v| v == 0.0));
        assert!(rows[3][16..].iter().all(|&v| v == 0.0));
        // The history itself is as without neighbours.
        let plain = rows_of(spec(Frame::Heading, 0.0, [1.0, 1.0]));
        for (r, p) in rows.iter().zip(&plain) {
            assert_eq!(&r[..16], &p[..]);
        }
        // Within 6 m of agent 0 (agent 2 is 5.7 m away, agent 1 8.6 m): agent 2 alone.
        let near = rows_of(FrameSpec {
            neighbour_range: 6.0,
            ..sp
        });
        assert_eq!(&near[0][..21], &rows[0][..21]);
        assert!(
            near[0][21..].iter().all(|&v| v == 0.0),
            "{:?}",
            &near[0][21..]
        );
    }

    #[test]
    fn heading_frame_points_the_walker_along_x_and_round_trips() {
        let a = walker(Vec2::new(3.0, -1.0), Vec2::new(0.0, 1.0), 0.5);
        let nm = spec(Frame::Heading, 0.0, [1.0, 1.0]).normalizer(&a, 0.7);
        let f = a.future.unwrap();
        let q = nm.to_model(f[0]);
        // One step ahead: +x, scaled by 10; back to the world exactly.
        assert!((q.x - 5.0).abs() < 1e-4 && q.y.abs() < 1e-4, "{q:?}");
        assert!((nm.to_world(q) - f[0]).norm() < 1e-5);
        // In the world frame the augmentation angle is used as given.
        let w = spec(Frame::World, 0.0, [1.0, 1.0]).normalizer(&a, 0.7);
        assert_eq!(w.angle, 0.7);
        // Standing still: no heading, the given angle stays.
        let still = walker(Vec2::new(1.0, 1.0), Vec2::new(1.0, 0.0), 0.0);
        assert_eq!(heading(&still), None);
        assert_eq!(
            spec(Frame::Heading, 0.0, [1.0, 1.0])
                .normalizer(&still, 0.3)
                .angle,
            0.3
        );
    }

    #[test]
    fn speed_cap_shrinks_fast_walkers_only() {
        let cap = spec(Frame::Heading, 0.6, [0.25, 1.0]);
        let fast = walker(Vec2::zeros(), Vec2::new(1.0, 0.0), 1.2);
        assert!((cap.normalizer(&fast, 0.0).scale - 5.0).abs() < 1e-4);
        let slow = walker(Vec2::zeros(), Vec2::new(1.0, 0.0), 0.3);
        assert_eq!(cap.normalizer(&slow, 0.0).scale, 10.0);
        // Full normalisation also stretches slow walkers, up to the clamp.
        let full = spec(Frame::Heading, 0.6, [0.25, 4.0]);
        assert!((full.normalizer(&slow, 0.0).scale - 20.0).abs() < 1e-4);
        let still = walker(Vec2::zeros(), Vec2::new(1.0, 0.0), 0.0);
        assert_eq!(full.normalizer(&still, 0.0).scale, 40.0);
    }
}
