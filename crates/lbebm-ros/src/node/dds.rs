//! The DDS wiring: the ros2-client node with its parameters, subscriptions and
//! publishers, the spinner (parameter services, graph), the inference worker and tick
//! threads, the message loop and the shutdown.

use super::clock::Clock;
use super::dds_config::{parse_domain_id, topic_qos};
use super::ingest::Ingest;
use crate::diagnostics::{self, NodeInfo, SharedHealth};
use crate::latest::latest;
use crate::msgs::{DiagnosticArray, Header, MarkerArray, People, PredictionArray, TfMessage, Time};
use crate::params::{LiveParams, Resolved};
use crate::topics::{Topic, DIAGNOSTICS, PEOPLE, PREDICTIONS, PREDICTION_MARKERS, TF, TF_STATIC};
use crate::worker::{self, Job, ModelSource, Sink};
use crate::{warn_throttled, NodeError, Throttle};
use futures::{pin_mut, FutureExt, StreamExt};
use ros2_client::{
    Context, ContextOptions, MessageTypeName, Name, NodeName, NodeOptions, Publisher,
};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

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

/// Bytes of the model's weights (0 if they cannot be read: diagnostics only).
fn model_bytes(src: &ModelSource) -> u64 {
    match src {
        ModelSource::Dir(d) => {
            std::fs::metadata(d.join(lbebm_model::checkpoint::WEIGHTS)).map_or(0, |m| m.len())
        }
        ModelSource::Embedded => {
            lbebm_default_model::embedded().map_or(0, |(_, weights)| weights.len() as u64)
        }
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

    // Declared parameters, served by the standard parameter services: `ros2 param set`
    // changes those that can change while running (checked by their rules; the next
    // scene uses them) and refuses the others with the reason.
    let live = LiveParams::new(p.clone());
    let (live_check, live_set) = (live.clone(), live.clone());
    let mut opts = NodeOptions::new()
        .enable_rosout(true)
        .start_parameter_services(true)
        .parameter_validator(Box::new(move |name, v| {
            live_check.check(name, v).map(|_| ())
        }))
        .parameter_set_action(Box::new(move |name, v| live_set.set(name, v)));
    for (name, v) in p.all() {
        opts = opts.declare_parameter(name, v);
    }
    let node_name =
        NodeName::new(&r.namespace, &r.node_name).map_err(|e| ros_err("bad node name", e))?;
    let mut node = context
        .new_node(node_name, opts)
        .map_err(|e| ros_err("cannot create the node", e))?;

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
    let diagnostics_t = topic(&DIAGNOSTICS)?;

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

    let diagnostics_pub = node
        .create_publisher::<DiagnosticArray>(&diagnostics_t, Some(topic_qos(&DIAGNOSTICS)))
        .map_err(|e| ros_err(&format!("publisher {}", DIAGNOSTICS.name), e))?;

    let health = SharedHealth::default();
    let (jobs_tx, jobs_rx) = latest::<Job>();
    let worker_health = health.clone();
    let worker_thread = std::thread::Builder::new()
        .name("lbebm-worker".into())
        .spawn(move || {
            let mut sink = sink;
            let st = worker::run(&mut predictor, &jobs_rx, &mut sink, &worker_health);
            if st.scenes > 0 {
                tracing::info!(
                    "worker: {} scenes, mean inference {:.1} ms, median {:.1} ms, max {:.1} ms, {} failures",
                    st.scenes,
                    st.total_inference.as_secs_f64() * 1e3 / st.scenes as f64,
                    st.median_ms().unwrap_or(f64::NAN),
                    st.max_inference.as_secs_f64() * 1e3,
                    st.failures
                );
            }
        })
        .map_err(|e| NodeError::Worker(format!("cannot start: {e}")))?;

    // Ticks: track expiry and flushing a scene held back by the rate limit, a tenth of
    // the (run-time) rate's period apart.
    let (tick_tx, tick_rx) = async_channel::bounded::<()>(1);
    let tick_live = live.clone();
    let tick_thread = std::thread::Builder::new()
        .name("lbebm-tick".into())
        .spawn(move || loop {
            let rate = tick_live.rate_hz();
            std::thread::sleep(Duration::from_secs_f64((0.1 / rate).clamp(0.005, 0.1)));
            if let Err(async_channel::TrySendError::Closed(_)) = tick_tx.try_send(()) {
                break;
            }
        })
        .map_err(|e| ros_err("cannot start the tick thread", e))?;

    // Diagnostics at 1 Hz, until `stop_diag` is set.
    let info = NodeInfo {
        node: node.fully_qualified_name(),
        model_bytes: model_bytes(&src),
        model: src.name(),
        device: p.device.clone(),
    };
    let stop_diag = Arc::new(AtomicBool::new(false));
    let diag_thread = {
        let (health, stop) = (health.clone(), stop_diag.clone());
        let mut throttle = Throttle::new(Duration::from_secs(5));
        std::thread::Builder::new()
            .name("lbebm-diagnostics".into())
            .spawn(move || {
                let mut next = Instant::now();
                while !stop.load(Ordering::Relaxed) {
                    if Instant::now() >= next {
                        next += Duration::from_secs(1);
                        let status = diagnostics::lock(&health).status(Instant::now(), &info);
                        let msg = DiagnosticArray {
                            header: Header {
                                stamp: Time::from_secs(Clock::wall()),
                                frame_id: String::new(),
                            },
                            status: vec![status],
                        };
                        if let Err(e) = diagnostics_pub.publish(msg) {
                            warn_throttled!(
                                throttle,
                                "diag",
                                "publishing diagnostics failed: {e:?}"
                            );
                        }
                    }
                    std::thread::sleep(Duration::from_millis(20));
                }
            })
            .map_err(|e| ros_err("cannot start the diagnostics thread", e))?
    };

    tracing::info!(
        "node {} on ROS domain {domain}: predicting into frame {} at most {} Hz",
        node.fully_qualified_name(),
        p.fixed_frame,
        p.rate_hz
    );

    let mut ingest = Ingest::new(live, jobs_tx, health);
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
    stop_diag.store(true, Ordering::Relaxed);
    join_within(diag_thread, Duration::from_millis(100), "diagnostics");
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
