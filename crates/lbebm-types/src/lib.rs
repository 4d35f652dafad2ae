//! Core types shared by every part of the LB-EBM system: positions, agent windows,
//! scenes, forecasts, and the normalisation that maps world coordinates into the
//! model's frame and back.
//!
//! Nothing here knows about files, tensors, ROS or the command line.

use nalgebra::{Rotation2, Vector2};
use serde::{Deserialize, Serialize};

/// Observed steps per window (3.2 s at 2.5 Hz).
pub const OBS_LEN: usize = 8;
/// Predicted steps per window (4.8 s at 2.5 Hz).
pub const PRED_LEN: usize = 12;
/// Observed plus predicted steps.
pub const SEQ_LEN: usize = OBS_LEN + PRED_LEN;
/// Seconds between two model steps.
pub const DT: f64 = 0.4;

/// A 2-D position or displacement, in metres unless stated otherwise.
pub type Vec2 = Vector2<f32>;

/// One predicted future: positions at the 12 future steps.
pub type Future = [Vec2; PRED_LEN];

/// A local origin for the model's f32 inputs: the corner (smallest x, smallest y) of the
/// points' bounding box. Large world coordinates (UTM, map frames) keep their precision
/// relative to it, and it does not depend on the order of the points. The CLI takes it
/// over a whole input file, the ROS node over each scene. `[0, 0]` for no points.
pub fn local_origin(points: impl IntoIterator<Item = [f64; 2]>) -> [f64; 2] {
    let o = points
        .into_iter()
        .fold([f64::INFINITY, f64::INFINITY], |o, p| {
            [o[0].min(p[0]), o[1].min(p[1])]
        });
    if o[0].is_finite() && o[1].is_finite() {
        o
    } else {
        [0.0, 0.0]
    }
}

/// A world position relative to `origin`, as the model's f32.
pub fn to_local(p: [f64; 2], origin: [f64; 2]) -> Vec2 {
    Vec2::new((p[0] - origin[0]) as f32, (p[1] - origin[1]) as f32)
}

/// A position relative to `origin` back in world coordinates.
pub fn to_world(v: &Vec2, origin: [f64; 2]) -> [f64; 2] {
    [v.x as f64 + origin[0], v.y as f64 + origin[1]]
}

/// One agent inside one scene: its observed history and, when known, its true future.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentWindow {
    /// Track identifier as found in the input.
    pub id: String,
    /// Observed positions, oldest first; the last one is "now".
    pub obs: [Vec2; OBS_LEN],
    /// Ground-truth future (evaluation and training only).
    pub future: Option<Future>,
}

impl AgentWindow {
    /// The last observed position, the origin of the model's frame for this agent.
    pub fn last_obs(&self) -> Vec2 {
        self.obs[OBS_LEN - 1]
    }
}

/// Agents that share the same time window. Social pooling only mixes agents of one scene.
#[derive(Debug, Clone, PartialEq)]
pub struct Scene {
    /// Where the scene came from (file name, topic, ...), for reports.
    pub source: String,
    /// Time (or frame number) of the last observed step.
    pub t: f64,
    /// The scene's agents; a [`SceneForecast`] lists their forecasts in this order.
    pub agents: Vec<AgentWindow>,
}

impl Scene {
    /// Number of agents in the scene.
    pub fn len(&self) -> usize {
        self.agents.len()
    }
    /// Whether the scene has no agents.
    pub fn is_empty(&self) -> bool {
        self.agents.is_empty()
    }
}

/// K sampled futures for one agent, in world coordinates, each with the energy the
/// model gave its latent belief and a normalised weight: how likely the sample is
/// relative to the other K (the weights sum to 1; the predictor says how it scored
/// them). A predictor without either reports zero energies and equal weights.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentForecast {
    /// The K sampled futures, world coordinates (metres), in the predictor's sample order.
    pub samples: Vec<Future>,
    /// Energy of each sample's latent belief (lower is more likely); zeros when the
    /// predictor has none.
    pub energies: Vec<f32>,
    /// Normalised weight of each sample (non-negative, summing to 1).
    pub weights: Vec<f32>,
}

impl AgentForecast {
    /// Weights from energies alone: the softmax of the negative energies.
    pub fn from_energies(samples: Vec<Future>, energies: Vec<f32>) -> Self {
        let weights = softmax(&energies.iter().map(|e| -e).collect::<Vec<_>>());
        Self {
            samples,
            energies,
            weights,
        }
    }

    /// Sample indices from the most to the least likely: by decreasing weight, ties
    /// broken by increasing energy, then by index.
    pub fn ranked(&self) -> Vec<usize> {
        let mut idx: Vec<usize> = (0..self.samples.len()).collect();
        let w = |i: usize| self.weights.get(i).copied().unwrap_or(0.0);
        let e = |i: usize| self.energies.get(i).copied().unwrap_or(0.0);
        idx.sort_by(|&a, &b| w(b).total_cmp(&w(a)).then(e(a).total_cmp(&e(b))));
        idx
    }

    /// The normalised weight of each sample.
    pub fn weights(&self) -> &[f32] {
        &self.weights
    }
}

/// `exp(x_i) / Σ exp(x_j)`, computed stably; equal weights when all are −∞ or NaN.
pub fn softmax(x: &[f32]) -> Vec<f32> {
    let m = x.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let e: Vec<f32> = x.iter().map(|&v| (v - m).exp()).collect();
    let s: f32 = e.iter().sum();
    if s.is_finite() && s > 0.0 {
        e.iter().map(|v| v / s).collect()
    } else {
        vec![1.0 / x.len().max(1) as f32; x.len()]
    }
}

/// Forecasts for every agent of a scene, in the scene's agent order.
#[derive(Debug, Clone, PartialEq)]
pub struct SceneForecast {
    /// One forecast per agent, in the order of [`Scene::agents`].
    pub agents: Vec<AgentForecast>,
}

/// Maps one agent's world coordinates into the model frame (relative to its last
/// observed position, optionally rotated, times a scale) and back.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Normalizer {
    /// World position (metres) that becomes the model frame's origin, `[x, y]`.
    pub(crate) origin: [f32; 2],
    /// Model units per metre, applied after translation and rotation.
    pub scale: f32,
    /// Rotation applied after translation, in radians.
    pub angle: f32,
}

impl Normalizer {
    /// A normaliser with the given origin (world metres), scale (model units per metre)
    /// and rotation (radians).
    pub fn new(origin: Vec2, scale: f32, angle: f32) -> Self {
        Self {
            origin: [origin.x, origin.y],
            scale,
            angle,
        }
    }

    /// Relative to the last observed point of `w`, scaled, no rotation.
    pub fn for_window(w: &AgentWindow, scale: f32) -> Self {
        Self::new(w.last_obs(), scale, 0.0)
    }

    fn origin(&self) -> Vec2 {
        Vec2::new(self.origin[0], self.origin[1])
    }

    /// World position (metres) to model frame: translate to the origin, rotate by
    /// `angle`, multiply by `scale`.
    pub fn to_model(&self, p: Vec2) -> Vec2 {
        Rotation2::new(self.angle) * (p - self.origin()) * self.scale
    }

    /// Model frame back to world position (metres): the inverse of
    /// [`Normalizer::to_model`].
    pub fn to_world(&self, q: Vec2) -> Vec2 {
        Rotation2::new(-self.angle) * (q / self.scale) + self.origin()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn window() -> AgentWindow {
        let obs = std::array::from_fn(|i| Vec2::new(i as f32, 2.0 * i as f32));
        let fut = std::array::from_fn(|i| Vec2::new((i + OBS_LEN) as f32, 0.5));
        AgentWindow {
            id: "7".into(),
            obs,
            future: Some(fut),
        }
    }

    #[test]
    fn local_origin_is_the_corner_and_round_trips() {
        let pts = [[500_010.5, 4_200_003.25], [500_000.0, 4_200_010.0]];
        let o = local_origin(pts);
        assert_eq!(o, [500_000.0, 4_200_003.25]);
        let rev: Vec<[f64; 2]> = pts.iter().rev().copied().collect();
        assert_eq!(local_origin(rev), o);
        assert_eq!(to_world(&to_local(pts[0], o), o), pts[0]);
        assert_eq!(local_origin(std::iter::empty()), [0.0, 0.0]);
    }

    #[test]
    fn normalizer_round_trips() {
        let w = window();
        let n = Normalizer::new(w.last_obs(), 60.0, 0.7);
        for p in w.obs.iter().chain(w.future.unwrap().iter()) {
            let back = n.to_world(n.to_model(*p));
            assert!((back - p).norm() < 1e-4, "{back:?} vs {p:?}");
        }
        assert!(n.to_model(w.last_obs()).norm() < 1e-6);
    }

    #[test]
    fn ranking_and_weights_follow_energy() {
        let f =
            AgentForecast::from_energies(vec![[Vec2::zeros(); PRED_LEN]; 3], vec![2.0, -1.0, 0.5]);
        assert_eq!(f.ranked(), vec![1, 2, 0]);
        let w = f.weights();
        assert!((w.iter().sum::<f32>() - 1.0).abs() < 1e-6);
        assert!(w[1] > w[2] && w[2] > w[0]);
        // Stored weights rank, not energies; equal weights fall back to energy order.
        let g = AgentForecast {
            weights: vec![0.2, 0.2, 0.6],
            ..f.clone()
        };
        assert_eq!(g.ranked(), vec![2, 1, 0]);
        let eq = softmax(&[f32::NEG_INFINITY; 4]);
        assert_eq!(eq, vec![0.25; 4]);
    }
}
