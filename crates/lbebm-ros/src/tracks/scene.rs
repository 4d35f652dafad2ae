//! Scene building: the live tracks' histories on the model's grid, recentred on the
//! workspace's local origin, with what the outputs need to publish the predictions.

use super::history::RawTrack;
use super::store::TrackStore;
use lbebm_types::{local_origin, to_local, AgentWindow, Scene, Vec2, OBS_LEN};

/// Who an agent of a scene is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// A tracked person: predicted and published.
    Person,
    /// The robot itself (`robot_frame`): a neighbour the model sees, never published.
    Robot,
}

/// One agent of a scene, as the outputs need it.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentMeta {
    /// The track id (`Person.name`; the robot's frame for the robot).
    pub id: String,
    /// A person, or the robot.
    pub role: Role,
    /// Stamp of the last observation (seconds).
    pub stamp: f64,
    /// Last observed position in the fixed frame.
    pub position: [f64; 2],
    /// History steps that were observed (the rest extrapolated).
    pub observed: usize,
}

/// A scene ready for the model, with what is needed to publish its predictions.
#[derive(Debug, Clone, PartialEq)]
pub struct SceneJob {
    /// Histories relative to `origin` (f32 keeps centimetres near the origin only).
    pub scene: Scene,
    /// Where the scene's coordinates are relative to, in the fixed frame.
    pub origin: [f64; 2],
    /// Newest stamp in the scene.
    pub stamp: f64,
    /// The fixed frame.
    pub frame: String,
    /// The scene's agents, in the scene's order (the robot, if any, last).
    pub agents: Vec<AgentMeta>,
}

impl SceneJob {
    /// The people of the scene (the agents to publish).
    pub fn people(&self) -> usize {
        self.agents
            .iter()
            .filter(|a| a.role == Role::Person)
            .count()
    }
}

impl TrackStore {
    /// The current scene: every track with a history (at least two grid points, i.e.
    /// 0.4 s of observations), most recently seen first, at most `max_agents`, then the
    /// robot (id `robot`, never published) when it has a history and there is anyone
    /// to predict. Each history ends at that track's last observation.
    pub fn scene(&self, frame: &str, source: &str) -> SceneJob {
        let mut ids: Vec<(&String, &RawTrack)> = self.tracks.iter().collect();
        ids.sort_by(|a, b| b.1.last_t().total_cmp(&a.1.last_t()).then(a.0.cmp(b.0)));
        let mut hist = Vec::new();
        for (id, tr) in ids {
            if hist.len() >= self.cfg.max_agents {
                break;
            }
            if let Some(h) = tr.history(id) {
                hist.push((id.clone(), Role::Person, tr.last_t(), tr.last_p(), h));
            }
        }
        if let Some(tr) = self.robot.as_ref().filter(|_| !hist.is_empty()) {
            if let Some(h) = tr.history("robot") {
                hist.push((
                    "robot".to_string(),
                    Role::Robot,
                    tr.last_t(),
                    tr.last_p(),
                    h,
                ));
            }
        }
        // recentre so that f32 keeps its precision in large map frames: the workspace's
        // one rule over the agents' last positions ([0, 0] for an empty scene)
        let origin = local_origin(hist.iter().map(|h| h.3));
        let stamp = hist.iter().map(|h| h.2).fold(f64::NEG_INFINITY, f64::max);
        let mut agents = Vec::with_capacity(hist.len());
        let mut windows = Vec::with_capacity(hist.len());
        for (id, role, t, last, h) in hist {
            let mut obs = [Vec2::zeros(); OBS_LEN];
            for (o, p) in obs.iter_mut().zip(&h.pts) {
                *o = to_local(*p, origin);
            }
            windows.push(AgentWindow {
                id: id.clone(),
                obs,
                future: None,
            });
            agents.push(AgentMeta {
                id,
                role,
                stamp: t,
                position: last,
                observed: h.observed,
            });
        }
        SceneJob {
            scene: Scene {
                source: source.to_string(),
                t: if stamp.is_finite() { stamp } else { 0.0 },
                agents: windows,
            },
            origin,
            stamp: if stamp.is_finite() {
                stamp
            } else {
                self.newest.unwrap_or(0.0)
            },
            frame: frame.to_string(),
            agents,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::store::tests::{cfg, obs};
    use super::*;
    use lbebm_types::DT;

    #[test]
    fn histories_resample_onto_the_model_grid() {
        let mut s = TrackStore::new(cfg());
        // 10 Hz, walking +x at 1 m/s, stamps jittered
        for i in 0..40 {
            let t = 100.0 + i as f64 * 0.1 + if i % 2 == 0 { 0.01 } else { -0.01 };
            s.observe(t, &[obs("a", t - 100.0, 0.0)], 0.0);
        }
        let job = s.scene("map", "test");
        assert_eq!(job.agents.len(), 1);
        let last_t = 100.0 + 3.9 - 0.01;
        assert!((job.stamp - last_t).abs() < 1e-9);
        assert_eq!(job.agents[0].observed, OBS_LEN);
        let o = job.origin;
        let w = &job.scene.agents[0].obs;
        for (k, p) in w.iter().enumerate() {
            let t = last_t - (OBS_LEN - 1 - k) as f64 * DT;
            assert!(
                ((p.x as f64 + o[0]) - (t - 100.0)).abs() < 1e-4,
                "{k}: {p:?}"
            );
            assert!((p.y as f64 + o[1]).abs() < 1e-6);
        }
    }

    #[test]
    fn short_tracks_wait_then_extrapolate_backwards() {
        let mut s = TrackStore::new(cfg());
        s.observe(0.0, &[obs("a", 0.0, 0.0)], 0.0);
        assert!(
            s.scene("map", "t").agents.is_empty(),
            "one point: no history"
        );
        s.observe(0.2, &[obs("a", 0.2, 0.0)], 0.0);
        assert!(
            s.scene("map", "t").agents.is_empty(),
            "0.2 s: one grid point"
        );
        s.observe(0.4, &[obs("a", 0.4, 0.0)], 0.0);
        let job = s.scene("map", "t");
        assert_eq!(job.agents[0].observed, 2);
        let w = &job.scene.agents[0].obs;
        let x0 = w[0].x as f64 + job.origin[0];
        assert!(
            (x0 - (0.4 - 7.0 * 0.4)).abs() < 1e-5,
            "constant velocity: {x0}"
        );
    }

    #[test]
    fn scene_is_clipped_to_max_agents_newest_first() {
        let mut s = TrackStore::new(cfg());
        for i in 0..6 {
            let t = i as f64 * 0.1;
            let ps: Vec<_> = (0..4).map(|a| obs(&format!("p{a}"), a as f64, t)).collect();
            s.observe(t, &ps, t);
            // two more people, in a second message; seen slightly later
            let qs: Vec<_> = (0..2)
                .map(|a| obs(&format!("q{a}"), a as f64, 9.0))
                .collect();
            s.observe(t + 0.01, &qs, t);
        }
        assert_eq!(s.len(), 6);
        let job = s.scene("map", "t");
        assert_eq!(job.agents.len(), 4);
        assert_eq!(job.scene.agents.len(), 4);
        assert_eq!(job.agents[0].id, "q0");
        assert_eq!(job.agents[1].id, "q1");
        assert!((job.stamp - 0.51).abs() < 1e-9);
    }

    #[test]
    fn large_coordinates_keep_precision() {
        let mut s = TrackStore::new(cfg());
        for i in 0..10 {
            let t = i as f64 * 0.4;
            s.observe(t, &[obs("a", 500_000.0 + 0.013 * i as f64, 4_000_000.0)], t);
        }
        let job = s.scene("map", "t");
        let w = &job.scene.agents[0].obs;
        let d = (w[7].x - w[6].x) as f64;
        assert!((d - 0.013).abs() < 1e-5, "{d}");
    }
}
