//! The DDS side: a ros2-client node with its parameters, subscriptions and publishers,
//! the spinner (parameter services, graph), the inference worker thread and the
//! message loop. [`Ingest`] holds the message handling without any network.

use crate::latest::{latest, LatestSender};
use crate::msgs::{MarkerArray, People, PredictionArray, TfMessage};
use crate::output::MarkerStyle;
use crate::params::{Params, Resolved};
use crate::tf::TfBuffer;
use crate::topics::{Topic, PEOPLE, PREDICTIONS, PREDICTION_MARKERS, TF, TF_STATIC};
use crate::tracks::{check_people, TrackConfig, TrackStore};
use crate::worker::{self, Job, Sink, WorkerConfig};
use crate::{warn_throttled, NodeError, Throttle};
use futures::{pin_mut, FutureExt, StreamExt};
use nalgebra::Point3;
use ros2_client::{
    qos::{Durability, History, QosProfile, WhenFull},
    Context, ContextOptions, MessageTypeName, Name, NodeName, NodeOptions, Publisher,
};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Parses `ROS_DOMAIN_ID` (unset or empty: 0).
pub(crate) fn parse_domain_id(v: Option<&str>) -> Result<u16, NodeError> {
    match v.map(str::trim) {
        None | Some("") => Ok(0),
        Some(s) => s
            .parse::<u16>()
            .ok()
            .filter(|d| *d <= 232)
            .ok_or_else(|| NodeError::DomainId(s.to_string())),
    }
}

/// The QoS of ROS 2's defaults: reliable, keep-last `depth`, volatile.
pub(crate) fn ros_default_qos(depth: usize) -> QosProfile {
    QosProfile::publisher_default()
        .reliability_reliable(WhenFull::DEFAULT)
        .durability(Durability::Volatile)
        .history(History::KeepLast { depth })
}

/// The QoS of a topic of the table: [`ros_default_qos`] with its depth, transient-local
/// where the table says so.
pub(crate) fn topic_qos(t: &Topic) -> QosProfile {
    let q = ros_default_qos(t.depth);
    if t.transient_local {
        q.durability(Durability::TransientLocal)
    } else {
        q
    }
}

/// Seconds on a monotonic clock since the node started.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Clock(Instant);

impl Clock {
    /// A clock started now.
    pub(crate) fn new() -> Self {
        Clock(Instant::now())
    }
    /// Seconds since the clock started.
    pub(crate) fn mono(&self) -> f64 {
        self.0.elapsed().as_secs_f64()
    }
    /// Wall-clock (ROS) time in seconds.
    pub(crate) fn wall() -> f64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0)
    }
}

impl Default for Clock {
    fn default() -> Self {
        Self::new()
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

struct DdsSink {
    predictions: Publisher<PredictionArray>,
    markers: Publisher<MarkerArray>,
    throttle: Throttle,
}

impl Sink for DdsSink {
    fn publish(&mut self, p: PredictionArray, m: Option<MarkerArray>) {
        if let Err(e) = self.predictions.publish(p) {
            warn_throttled!(self.throttle, "pub", "publishing predictions failed: {e:?}");
        }
        if let Some(m) = m {
            if let Err(e) = self.markers.publish(m) {
                warn_throttled!(self.throttle, "pubm", "publishing markers failed: {e:?}");
            }
        }
    }
}

fn ros_err(what: &str, e: impl std::fmt::Debug) -> NodeError {
    NodeError::Ros(format!("{what}: {e:?}"))
}

fn join_within(h: JoinHandle<()>, limit: Duration, what: &str) {
    let t0 = Instant::now();
    while !h.is_finished() {
        if t0.elapsed() > limit {
            tracing::warn!("{what} still busy at shutdown; not waiting for it");
            return;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    if h.join().is_err() {
        tracing::error!("{what} panicked");
    }
}

/// Loads the model, starts the node and runs until `shutdown` receives (or closes).
pub fn run(r: &Resolved, shutdown: async_channel::Receiver<()>) -> Result<(), NodeError> {
    let p = &r.params;
    let src = worker::model_source(&p.model)?;
    let t0 = Instant::now();
    let mut predictor = worker::load_predictor(&src, &p.device, p.seed)?;
    tracing::info!(
        "model {} loaded in {:.2} s on {}; K = {}",
        predictor.name(),
        t0.elapsed().as_secs_f64(),
        p.device,
        p.num_samples
    );

    let domain = parse_domain_id(std::env::var("ROS_DOMAIN_ID").ok().as_deref())?;
    let context = Context::with_options(ContextOptions::new().domain_id(domain))
        .map_err(|e| ros_err("cannot create the DDS participant", e))?;

    // Declared parameters, visible through the standard parameter services; they are
    // read once at start, so changes at run time are refused.
    let started = Arc::new(AtomicBool::new(false));
    let started_v = started.clone();
    let mut opts = NodeOptions::new()
        .enable_rosout(true)
        .start_parameter_services(true)
        .parameter_validator(Box::new(move |name, _| {
            if started_v.load(Ordering::Relaxed) {
                Err(format!(
                    "{name} is read at start only: restart with -p {name}:=VALUE"
                ))
            } else {
                Ok(())
            }
        }));
    for (name, v) in p.all() {
        opts = opts.declare_parameter(name, v);
    }
    let node_name =
        NodeName::new(&r.namespace, &r.node_name).map_err(|e| ros_err("bad node name", e))?;
    let mut node = context
        .new_node(node_name, opts)
        .map_err(|e| ros_err("cannot create the node", e))?;
    started.store(true, Ordering::Relaxed);

    // The spinner serves the parameter services and follows the ROS graph.
    let spinner = node
        .spinner()
        .map_err(|e| ros_err("cannot create the spinner", e))?;
    let spin_thread = std::thread::Builder::new()
        .name("ros-spinner".into())
        .spawn(move || {
            if let Err(e) = futures::executor::block_on(spinner.spin()) {
                tracing::error!("spinner stopped: {e:?}");
            }
        })
        .map_err(|e| ros_err("cannot start the spinner thread", e))?;

    let topic = |t: &Topic| {
        let full = r.remaps.resolve(t.name);
        let n = Name::parse(&full).map_err(|e| ros_err(&format!("bad topic name {full}"), e))?;
        let topic = node
            .create_topic(
                &n,
                MessageTypeName::new(t.package, t.type_name),
                &topic_qos(t),
            )
            .map_err(|e| ros_err(&format!("cannot create topic {full}"), e))?;
        tracing::info!("topic {full} ({})", t.message_type());
        Ok::<_, NodeError>(topic)
    };
    let people_t = topic(&PEOPLE)?;
    let tf_t = topic(&TF)?;
    let tf_static_t = topic(&TF_STATIC)?;
    let preds_t = topic(&PREDICTIONS)?;
    let markers_t = topic(&PREDICTION_MARKERS)?;

    let people_sub = node
        .create_subscription::<People>(&people_t, Some(topic_qos(&PEOPLE)))
        .map_err(|e| ros_err(&format!("subscription {}", PEOPLE.name), e))?;
    let tf_sub = node
        .create_subscription::<TfMessage>(&tf_t, Some(topic_qos(&TF)))
        .map_err(|e| ros_err(&format!("subscription {}", TF.name), e))?;
    let tf_static_sub = node
        .create_subscription::<TfMessage>(&tf_static_t, Some(topic_qos(&TF_STATIC)))
        .map_err(|e| ros_err(&format!("subscription {}", TF_STATIC.name), e))?;
    let sink = DdsSink {
        predictions: node
            .create_publisher(&preds_t, Some(topic_qos(&PREDICTIONS)))
            .map_err(|e| ros_err(&format!("publisher {}", PREDICTIONS.name), e))?,
        markers: node
            .create_publisher(&markers_t, Some(topic_qos(&PREDICTION_MARKERS)))
            .map_err(|e| ros_err(&format!("publisher {}", PREDICTION_MARKERS.name), e))?,
        throttle: Throttle::new(Duration::from_secs(5)),
    };

    let (jobs_tx, jobs_rx) = latest::<Job>();
    let wcfg = WorkerConfig {
        k: p.num_samples,
        markers: p.publish_markers,
        style: MarkerStyle {
            lifetime: p.marker_lifetime,
            ..Default::default()
        },
    };
    let worker_thread = std::thread::Builder::new()
        .name("lbebm-worker".into())
        .spawn(move || {
            let mut sink = sink;
            let st = worker::run(&mut predictor, &jobs_rx, &mut sink, &wcfg);
            if st.scenes > 0 {
                tracing::info!(
                    "worker: {} scenes, mean inference {:.1} ms, max {:.1} ms, {} failures",
                    st.scenes,
                    st.total_inference.as_secs_f64() * 1e3 / st.scenes as f64,
                    st.max_inference.as_secs_f64() * 1e3,
                    st.failures
                );
            }
        })
        .map_err(|e| NodeError::Worker(format!("cannot start: {e}")))?;

    // Ticks: track expiry and flushing a scene held back by the rate limit.
    let (tick_tx, tick_rx) = async_channel::bounded::<()>(1);
    let tick = Duration::from_secs_f64((0.1 / p.rate_hz).clamp(0.005, 0.1));
    let tick_thread = std::thread::Builder::new()
        .name("lbebm-tick".into())
        .spawn(move || loop {
            std::thread::sleep(tick);
            if let Err(async_channel::TrySendError::Closed(_)) = tick_tx.try_send(()) {
                break;
            }
        })
        .map_err(|e| ros_err("cannot start the tick thread", e))?;

    tracing::info!(
        "node {} on ROS domain {domain}: predicting into frame {} at most {} Hz",
        node.fully_qualified_name(),
        p.fixed_frame,
        p.rate_hz
    );

    let mut ingest = Ingest::new(p, jobs_tx);
    let mut read_throttle = Throttle::new(Duration::from_secs(5));
    let result = futures::executor::block_on(async {
        let people = people_sub.async_stream();
        let tf = tf_sub.async_stream();
        let tf_static = tf_static_sub.async_stream();
        let ticks = tick_rx.fuse();
        let stop = shutdown.recv().fuse();
        pin_mut!(people, tf, tf_static, ticks, stop);
        loop {
            futures::select! {
                m = people.select_next_some() => match m {
                    Ok((msg, _)) => ingest.on_people(&msg),
                    Err(e) => warn_throttled!(read_throttle, "read", "unreadable People message skipped: {e:?}"),
                },
                m = tf.select_next_some() => match m {
                    Ok((msg, _)) => ingest.on_tf(&msg),
                    Err(e) => warn_throttled!(read_throttle, "readtf", "unreadable {} message skipped: {e:?}", TF.name),
                },
                m = tf_static.select_next_some() => match m {
                    Ok((msg, _)) => ingest.on_tf(&msg),
                    Err(e) => warn_throttled!(read_throttle, "readtfs", "unreadable {} message skipped: {e:?}", TF_STATIC.name),
                },
                _ = ticks.select_next_some() => {
                    if worker_thread.is_finished() {
                        return Err(NodeError::Worker("the inference thread stopped".into()));
                    }
                    ingest.on_tick();
                }
                _ = stop => {
                    tracing::info!("shutting down");
                    return Ok(());
                }
                complete => return Ok(()),
            }
        }
    });

    // Shutdown: stop feeding the worker, let it finish the scene in hand (briefly),
    // then drop the DDS entities (which stops the spinner) so peers see the node leave.
    // The whole shutdown must fit in 1 s of the signal; a 64-agent scene can take that
    // long on a loaded machine, so the worker gets 250 ms (it was 600 ms, which left a
    // loaded machine too little for the rest: the interop test saw 0.65 s in total).
    let (submitted, dropped) = (ingest.submitted, ingest.dropped());
    drop(ingest);
    // the tick thread ends by itself now that its channel is closed
    drop(tick_thread);
    join_within(
        worker_thread,
        Duration::from_millis(250),
        "inference worker",
    );
    tracing::info!("{submitted} scenes handed to the worker, {dropped} replaced before inference");
    drop(people_sub);
    drop(tf_sub);
    drop(tf_static_sub);
    // dropping the node stops the spinner
    drop(node);
    join_within(spin_thread, Duration::from_millis(300), "spinner");
    drop(context);
    result
}

#[cfg(test)]
mod tests {
    use super::*;
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
    fn domain_ids() {
        assert_eq!(parse_domain_id(None).unwrap(), 0);
        assert_eq!(parse_domain_id(Some("")).unwrap(), 0);
        assert_eq!(parse_domain_id(Some(" 42 ")).unwrap(), 42);
        assert!(parse_domain_id(Some("233")).is_err());
        assert!(parse_domain_id(Some("x")).is_err());
    }

    #[test]
    fn qos_is_reliable_keep_last_volatile() {
        let q = ros_default_qos(10);
        assert!(matches!(
            q.reliability,
            ros2_client::qos::Reliability::Reliable { .. }
        ));
        assert_eq!(q.history, History::KeepLast { depth: 10 });
        assert_eq!(q.durability, Durability::Volatile);
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
