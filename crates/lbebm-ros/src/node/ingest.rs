//! Message handling without any network: [`Ingest`] checks, transforms and stores
//! observations, and hands the newest scene to the worker at most `rate_hz` times a second.

use super::clock::Clock;
use crate::diagnostics::{self, SharedHealth};
use crate::latest::LatestSender;
use crate::msgs::{People, TfMessage};
use crate::params::{LiveParams, Params};
use crate::tf::TfBuffer;
use crate::topics::{PEOPLE, TF, TF_STATIC};
use crate::tracks::{check_people, TrackConfig, TrackStore};
use crate::worker::{Job, WorkerConfig};
use crate::{warn_throttled, Throttle};
use nalgebra::Point3;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn track_config(p: &Params) -> TrackConfig {
    TrackConfig {
        timeout: p.track_timeout,
        max_agents: p.max_agents,
        max_speed: p.max_speed,
    }
}

/// Message handling: checks, transforms and stores observations, and hands the newest
/// scene to the worker at most `rate_hz` times a second. No network.
pub(crate) struct Ingest {
    /// The tracks.
    pub(crate) store: TrackStore,
    /// The transforms received.
    pub(crate) tf: TfBuffer,
    params: Params,
    live: Arc<LiveParams>,
    /// The generation of `live` that `params` reflects.
    seen: u64,
    health: SharedHealth,
    /// When the newest accepted `People` message arrived.
    last_received: Instant,
    jobs: LatestSender<Job>,
    throttle: Throttle,
    clock: Clock,
    period: Duration,
    last_submit: Option<Instant>,
    /// The last scene handed over was empty (do not repeat it).
    sent_empty: bool,
    /// Scenes handed to the worker.
    pub(crate) submitted: u64,
}

impl Ingest {
    /// Handles messages with the parameters of `live` (re-read when they change),
    /// handing scenes to `jobs` and counting what it does in `health`.
    pub(crate) fn new(
        live: Arc<LiveParams>,
        jobs: LatestSender<Job>,
        health: SharedHealth,
    ) -> Self {
        let mut seen = 0;
        let params = live.changed_since(&mut seen).unwrap_or_else(|| live.get());
        Ingest {
            store: TrackStore::new(track_config(&params)),
            tf: TfBuffer::new(),
            period: Duration::from_secs_f64(1.0 / params.rate_hz),
            params,
            live,
            seen,
            health,
            last_received: Instant::now(),
            jobs,
            throttle: Throttle::new(Duration::from_secs(5)),
            clock: Clock::new(),
            last_submit: None,
            sent_empty: true,
            submitted: 0,
        }
    }

    /// Scenes replaced before the worker took them.
    pub(crate) fn dropped(&self) -> u64 {
        self.jobs.dropped()
    }

    /// Picks up parameters changed at run time (`ros2 param set`).
    fn refresh(&mut self) {
        if let Some(p) = self.live.changed_since(&mut self.seen) {
            self.store.set_config(track_config(&p));
            self.period = Duration::from_secs_f64(1.0 / p.rate_hz);
            self.params = p;
        }
    }

    /// The robot's position in the fixed frame now, if `robot_frame` is set and its
    /// transform known (the newest transform: the buffer keeps no history).
    fn robot_position(&mut self) -> Option<[f64; 2]> {
        let robot = self.params.robot_frame.as_str();
        if robot.is_empty() {
            return None;
        }
        let fixed = self.params.fixed_frame.as_str();
        match self.tf.lookup(fixed, robot) {
            Some(iso) => Some([iso.translation.x, iso.translation.y]),
            None => {
                warn_throttled!(
                    self.throttle,
                    "no_robot_tf",
                    "no transform from robot_frame {robot} to {fixed}: predicting without the robot"
                );
                None
            }
        }
    }

    /// Stores the transforms of a `/tf` or `/tf_static` message.
    pub(crate) fn on_tf(&mut self, msg: &TfMessage) {
        for t in &msg.transforms {
            if let Err(e) = self.tf.insert(t) {
                warn_throttled!(self.throttle, "tf", "bad transform skipped: {e}");
            }
        }
    }

    /// Checks, transforms and stores a `People` message; may hand a scene over.
    pub(crate) fn on_people(&mut self, msg: &People) {
        self.refresh();
        let checked = match check_people(msg, self.params.max_agents, Clock::wall()) {
            Ok(c) => c,
            Err(e) => {
                warn_throttled!(self.throttle, "bad_msg", "People message skipped: {e}");
                return;
            }
        };
        let r = &checked.report;
        if r.clipped > 0 {
            warn_throttled!(
                self.throttle,
                "clipped",
                "People message with {} people clipped to max_agents = {}",
                msg.people.len(),
                self.params.max_agents
            );
        }
        if r.non_finite + r.unnamed + r.repeated_name > 0 {
            warn_throttled!(
                self.throttle,
                "bad_people",
                "skipped people: {} with non-finite positions, {} without a name, {} repeated names",
                r.non_finite,
                r.unnamed,
                r.repeated_name
            );
        }
        if r.zero_stamp {
            warn_throttled!(
                self.throttle,
                "zero_stamp",
                "People message without a stamp: using the receive time"
            );
        }
        let fixed = self.params.fixed_frame.as_str();
        let frame = if checked.frame.is_empty() {
            warn_throttled!(
                self.throttle,
                "no_frame",
                "People message without frame_id: assuming {fixed}"
            );
            fixed
        } else {
            checked.frame.as_str()
        };
        let Some(iso) = self.tf.lookup(fixed, frame) else {
            warn_throttled!(
                self.throttle,
                "no_tf",
                "no transform from {frame} to {fixed} (from {}, {}): People message skipped",
                TF.name,
                TF_STATIC.name
            );
            return;
        };
        let obs: Vec<(String, [f64; 2])> = checked
            .people
            .into_iter()
            .map(|(id, p)| {
                let q = iso * Point3::new(p[0], p[1], p[2]);
                (id, [q.x, q.y])
            })
            .collect();
        let now = self.clock.mono();
        let rep = self.store.observe(checked.stamp, &obs, now);
        if let Some(p) = self.robot_position() {
            self.store.observe_robot(checked.stamp, p, now);
        }
        self.last_received = Instant::now();
        diagnostics::lock(&self.health).received(self.last_received, self.store.len());
        if rep.time_reset {
            tracing::warn!("time went back by more than track_timeout: every track cleared");
        }
        if rep.out_of_order + rep.duplicate > 0 {
            warn_throttled!(
                self.throttle,
                "order",
                "skipped {} out-of-order and {} duplicate observations",
                rep.out_of_order,
                rep.duplicate
            );
        }
        if rep.reused > 0 {
            warn_throttled!(
                self.throttle,
                "reused",
                "{} track(s) jumped faster than max_speed: restarted as new people",
                rep.reused
            );
        }
        self.maybe_submit();
    }

    /// Periodic work: drop old tracks, flush a scene held back by the rate limit.
    pub(crate) fn on_tick(&mut self) {
        self.refresh();
        let n = self.store.expire(self.clock.mono());
        if n > 0 {
            tracing::debug!("{n} track(s) dropped after track_timeout");
            diagnostics::lock(&self.health).tracked(self.store.len());
        }
        self.maybe_submit();
    }

    fn maybe_submit(&mut self) {
        if !self.store.is_dirty() {
            return;
        }
        // 10 % slack: input at exactly rate_hz, with jitter, is not held back
        if self
            .last_submit
            .is_some_and(|t| t.elapsed() < self.period.mul_f64(0.9))
        {
            return;
        }
        self.store.take_dirty();
        let job = self.store.scene(&self.params.fixed_frame, PEOPLE.name);
        if job.agents.is_empty() {
            if self.sent_empty {
                return;
            }
            self.sent_empty = true;
        } else {
            self.sent_empty = false;
        }
        let now = Instant::now();
        self.last_submit = Some(now);
        self.submitted += 1;
        let sent = self.jobs.send(Job {
            scene: job,
            cfg: WorkerConfig::from_params(&self.params),
            received: self.last_received,
            submitted: now,
        });
        if sent.is_err() {
            warn_throttled!(self.throttle, "worker", "inference worker is gone");
        }
        diagnostics::lock(&self.health).dropped_total(now, self.jobs.dropped());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::latest::latest;
    use crate::msgs::{
        Header, Person, Point, Quaternion, Time, Transform, TransformStamped, Vector3,
    };

    fn people(frame: &str, t: f64, ps: &[(&str, f64, f64)]) -> People {
        People {
            header: Header {
                stamp: Time::from_secs(t),
                frame_id: frame.into(),
            },
            people: ps
                .iter()
                .map(|(n, x, y)| Person {
                    name: n.to_string(),
                    position: Point {
                        x: *x,
                        y: *y,
                        z: 0.0,
                    },
                    ..Default::default()
                })
                .collect(),
        }
    }

    fn params(rate: f64) -> Params {
        Params {
            rate_hz: rate,
            ..Params::default()
        }
    }

    fn ingest(p: Params) -> (Ingest, crossbeam_channel::Receiver<Job>, Arc<LiveParams>) {
        let (tx, rx) = latest();
        let live = LiveParams::new(p);
        let ing = Ingest::new(live.clone(), tx, SharedHealth::default());
        (ing, rx, live)
    }

    #[test]
    fn people_in_the_fixed_frame_become_scenes() {
        let (mut ing, rx, _) = ingest(params(1000.0));
        for i in 0..10 {
            let t = 50.0 + i as f64 * 0.1;
            ing.on_people(&people("map", t, &[("a", t, 0.0), ("b", 0.0, t)]));
        }
        let job: Job = rx.try_recv().expect("a scene");
        assert_eq!(job.scene.agents.len(), 2);
        assert_eq!(job.scene.frame, "map");
    }

    #[test]
    fn other_frames_need_a_transform() {
        let (mut ing, rx, _) = ingest(params(1000.0));
        for i in 0..10 {
            let t = 50.0 + i as f64 * 0.1;
            ing.on_people(&people("base_link", t, &[("a", 1.0, 0.0)]));
        }
        assert!(rx.try_recv().is_err(), "no transform: skipped");
        assert!(ing.store.is_empty());
        // the robot drives along +x at 1 m/s and sees a person standing at x = 10
        for i in 0..10 {
            let t = 60.0 + i as f64 * 0.1;
            ing.on_tf(&TfMessage {
                transforms: vec![TransformStamped {
                    header: Header {
                        stamp: Time::from_secs(t),
                        frame_id: "map".into(),
                    },
                    child_frame_id: "base_link".into(),
                    transform: Transform {
                        translation: Vector3 {
                            x: t - 60.0,
                            y: 0.0,
                            z: 0.0,
                        },
                        rotation: Quaternion::default(),
                    },
                }],
            });
            ing.on_people(&people("base_link", t, &[("a", 10.0 - (t - 60.0), 0.0)]));
        }
        let job: Job = rx.try_recv().expect("a scene");
        let a = &job.scene.scene.agents[0];
        let o = job.scene.origin;
        for p in &a.obs[6..] {
            assert!(
                (p.x as f64 + o[0] - 10.0).abs() < 1e-4,
                "standing still in map: {p:?}"
            );
        }
    }

    #[test]
    fn the_rate_limit_holds_back_and_the_tick_flushes() {
        let (mut ing, rx, _) = ingest(params(5.0));
        for i in 0..10 {
            let t = 50.0 + i as f64 * 0.1;
            ing.on_people(&people("map", t, &[("a", t, 0.0)]));
        }
        let first: Job = rx.try_recv().expect("first scene");
        assert!(rx.try_recv().is_err(), "held back by the 5 Hz limit");
        std::thread::sleep(Duration::from_millis(210));
        ing.on_tick();
        let second: Job = rx.try_recv().expect("flushed");
        assert!(second.scene.stamp > first.scene.stamp);
        // nothing new: nothing sent
        std::thread::sleep(Duration::from_millis(210));
        ing.on_tick();
        assert!(rx.try_recv().is_err());
    }

    fn tf(t: f64, child: &str, x: f64, y: f64) -> TfMessage {
        TfMessage {
            transforms: vec![TransformStamped {
                header: Header {
                    stamp: Time::from_secs(t),
                    frame_id: "map".into(),
                },
                child_frame_id: child.into(),
                transform: Transform {
                    translation: Vector3 { x, y, z: 0.0 },
                    rotation: Quaternion::default(),
                },
            }],
        }
    }

    #[test]
    fn runtime_parameters_reach_the_next_scene() {
        // (1e9 Hz: no rate limit, so that the newest scene is the one waiting)
        let (mut ing, rx, live) = ingest(params(1e9));
        let walk = |ing: &mut Ingest, t0: f64| {
            for i in 0..10 {
                let t = t0 + i as f64 * 0.1;
                let ps = [("a", t, 0.0), ("b", 0.0, t), ("c", t, t)];
                ing.on_people(&people("map", t, &ps));
            }
        };
        walk(&mut ing, 50.0);
        let job: Job = rx.try_recv().expect("a scene");
        assert_eq!((job.cfg.k, job.cfg.markers), (20, true));
        assert_eq!(job.scene.agents.len(), 3);
        live.set("num_samples", &ros2_client::ParameterValue::Integer(5))
            .unwrap();
        live.set(
            "publish_markers",
            &ros2_client::ParameterValue::Boolean(false),
        )
        .unwrap();
        live.set("max_agents", &ros2_client::ParameterValue::Integer(2))
            .unwrap();
        walk(&mut ing, 51.0);
        let job: Job = rx.try_recv().expect("a scene");
        assert_eq!((job.cfg.k, job.cfg.markers), (5, false));
        assert_eq!(job.scene.agents.len(), 2, "max_agents applies at once");
    }

    #[test]
    fn the_robot_is_a_neighbour_that_is_never_published() {
        use crate::output::{build, MarkerStyle};
        use crate::tracks::Role;
        use lbebm_eval::Predictor;
        let (mut ing, rx, _) = ingest(Params {
            robot_frame: "base_link".into(),
            ..params(1e9)
        });
        // the robot drives along +y; two people walk along +x
        for i in 0..10 {
            let t = 50.0 + i as f64 * 0.1;
            ing.on_tf(&tf(t, "base_link", 3.0, t - 50.0));
            ing.on_people(&people("map", t, &[("a", t, 0.0), ("b", t, 1.0)]));
        }
        let job: Job = rx.try_recv().expect("a scene");
        let roles: Vec<Role> = job.scene.agents.iter().map(|a| a.role).collect();
        assert_eq!(roles, [Role::Person, Role::Person, Role::Robot]);
        assert_eq!(job.scene.scene.agents.len(), 3, "the model sees the robot");
        assert_eq!(job.scene.people(), 2);
        let robot = &job.scene.scene.agents[2];
        let o = job.scene.origin;
        let last = robot.obs[lbebm_types::OBS_LEN - 1];
        assert!((last.x as f64 + o[0] - 3.0).abs() < 1e-4, "{last:?}");
        assert!((last.y as f64 + o[1] - 0.9).abs() < 1e-4, "{last:?}");
        let f = lbebm_eval::ConstantVelocity
            .predict(std::slice::from_ref(&job.scene.scene), 3)
            .expect("cv")
            .pop()
            .expect("one scene");
        let (preds, markers, _) = build(&job.scene, Some(&f), &MarkerStyle::default());
        let ids: Vec<&str> = preds.agents.iter().map(|a| a.id.as_str()).collect();
        assert_eq!(ids, ["a", "b"], "the robot is not published");
        assert!(markers
            .markers
            .iter()
            .all(|m| m.points.iter().all(|p| p.x > 40.0)));

        // the robot's transform stops: its track expires and people are still predicted
        let (mut ing, rx, _) = ingest(Params {
            robot_frame: "base_link".into(),
            ..params(1e9)
        });
        for i in 0..10 {
            let t = 50.0 + i as f64 * 0.1;
            ing.on_people(&people("map", t, &[("a", t, 0.0)]));
        }
        let job: Job = rx.try_recv().expect("a scene without the robot");
        assert_eq!(job.scene.agents.len(), 1);
        assert!(!ing.store.has_robot());
    }

    #[test]
    fn bad_messages_never_panic() {
        let (mut ing, _rx, _) = ingest(params(1e9));
        let mut m = people("map", 1.0, &[("a", f64::NAN, 0.0), ("", 1.0, 1.0)]);
        ing.on_people(&m);
        m.header.stamp.nanosec = 2_000_000_000;
        ing.on_people(&m);
        ing.on_people(&people("", 0.0, &[("a", 1.0, 1.0)]));
        ing.on_people(&people("map", 1e12, &[("a", 1.0, 1.0)]));
        ing.on_people(&people("map", -1e12, &[("a", 1.0, 1.0)]));
        let many: Vec<(String, f64, f64)> = (0..10_000)
            .map(|i| (format!("p{i}"), i as f64, 0.0))
            .collect();
        let refs: Vec<(&str, f64, f64)> =
            many.iter().map(|(n, x, y)| (n.as_str(), *x, *y)).collect();
        ing.on_people(&people("map", 5.0, &refs));
        assert!(ing.store.len() <= Params::default().max_agents * 8);
        ing.on_tf(&TfMessage {
            transforms: vec![TransformStamped::default()],
        });
        ing.on_tick();
    }
}
