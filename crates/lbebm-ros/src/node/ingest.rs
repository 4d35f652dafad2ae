//! Message handling without any network: [`Ingest`] checks, transforms and stores
//! observations, and hands the newest scene to the worker at most `rate_hz` times a second.

use super::clock::Clock;
use crate::latest::LatestSender;
use crate::msgs::{People, TfMessage};
use crate::params::Params;
use crate::tf::TfBuffer;
use crate::topics::{PEOPLE, TF, TF_STATIC};
use crate::tracks::{check_people, TrackConfig, TrackStore};
use crate::worker::Job;
use crate::{warn_throttled, Throttle};
use nalgebra::Point3;
use std::time::{Duration, Instant};

/// Message handling: checks, transforms and stores observations, and hands the newest
/// scene to the worker at most `rate_hz` times a second. No network.
pub(crate) struct Ingest {
    /// The tracks.
    pub(crate) store: TrackStore,
    /// The transforms received.
    pub(crate) tf: TfBuffer,
    params: Params,
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
    /// Handles messages for `params`, handing scenes to `jobs`.
    pub(crate) fn new(params: &Params, jobs: LatestSender<Job>) -> Self {
        Ingest {
            store: TrackStore::new(TrackConfig {
                timeout: params.track_timeout,
                max_agents: params.max_agents,
                max_speed: params.max_speed,
            }),
            tf: TfBuffer::new(),
            params: params.clone(),
            jobs,
            throttle: Throttle::new(Duration::from_secs(5)),
            clock: Clock::new(),
            period: Duration::from_secs_f64(1.0 / params.rate_hz),
            last_submit: None,
            sent_empty: true,
            submitted: 0,
        }
    }

    /// Scenes replaced before the worker took them.
    pub(crate) fn dropped(&self) -> u64 {
        self.jobs.dropped()
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
        let rep = self.store.observe(checked.stamp, &obs, self.clock.mono());
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
        let n = self.store.expire(self.clock.mono());
        if n > 0 {
            tracing::debug!("{n} track(s) dropped after track_timeout");
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
        if self
            .jobs
            .send(Job {
                scene: job,
                submitted: now,
            })
            .is_err()
        {
            warn_throttled!(self.throttle, "worker", "inference worker is gone");
        }
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

    #[test]
    fn people_in_the_fixed_frame_become_scenes() {
        let (tx, rx) = latest();
        let mut ing = Ingest::new(&params(1000.0), tx);
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
        let (tx, rx) = latest();
        let mut ing = Ingest::new(&params(1000.0), tx);
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
        let (tx, rx) = latest();
        let mut ing = Ingest::new(&params(5.0), tx);
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

    #[test]
    fn bad_messages_never_panic() {
        let (tx, _rx) = latest();
        let mut ing = Ingest::new(&params(1000.0), tx);
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
