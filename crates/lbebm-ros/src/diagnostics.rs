//! The node's health, as ROS 2 users read it on `/diagnostics`: counters and recent
//! timings that the ingest side and the worker update ([`Health`]), and the one
//! `DiagnosticStatus` made of them each second ([`Health::status`]). No network.

use crate::msgs::{DiagnosticStatus, KeyValue};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// How far back the timings and the warnings look.
pub const WINDOW: Duration = Duration::from_secs(5);

/// What the status names besides the counters: fixed while the node runs.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NodeInfo {
    /// The node's fully qualified name (the status is `<name>: prediction`).
    pub node: String,
    /// The model: its folder, or `embedded`.
    pub model: String,
    /// Bytes of the model's weights.
    pub model_bytes: u64,
    /// `cpu` or `cuda:N`.
    pub device: String,
}

/// Counters since start and timings of the last [`WINDOW`].
#[derive(Debug, Default)]
pub struct Health {
    received: u64,
    predicted: u64,
    dropped: u64,
    failures: u64,
    people: usize,
    worker_stopped: bool,
    arrivals: VecDeque<Instant>,
    /// (when, inference ms, receipt of the newest input → published, ms)
    scenes: VecDeque<(Instant, f64, f64)>,
    drops: VecDeque<Instant>,
    errors: VecDeque<(Instant, String)>,
}

/// [`Health`] shared between threads.
pub type SharedHealth = Arc<Mutex<Health>>;

/// Locks shared health; a panic elsewhere leaves counters that are still worth reading.
pub fn lock(h: &Mutex<Health>) -> MutexGuard<'_, Health> {
    h.lock().unwrap_or_else(|e| e.into_inner())
}

fn prune<T>(q: &mut VecDeque<T>, now: Instant, at: impl Fn(&T) -> Instant) {
    while q
        .front()
        .is_some_and(|x| now.duration_since(at(x)) > WINDOW)
    {
        q.pop_front();
    }
}

/// The `q`-quantile (0..=1) of `v` by nearest rank; `None` when empty.
pub fn quantile(v: &mut [f64], q: f64) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let i = ((q * v.len() as f64).ceil() as usize).clamp(1, v.len()) - 1;
    Some(v[i])
}

impl Health {
    /// A `People` message was accepted; `people` tracks are live now.
    pub fn received(&mut self, now: Instant, people: usize) {
        self.received += 1;
        self.people = people;
        self.arrivals.push_back(now);
        prune(&mut self.arrivals, now, |t| *t);
    }

    /// Tracks were dropped or added outside a message (expiry).
    pub fn tracked(&mut self, people: usize) {
        self.people = people;
    }

    /// The newest-only channel has replaced `total` scenes since start.
    pub fn dropped_total(&mut self, now: Instant, total: u64) {
        for _ in self.dropped..total {
            self.drops.push_back(now);
        }
        self.dropped = self.dropped.max(total);
        prune(&mut self.drops, now, |t| *t);
    }

    /// A scene was predicted and published.
    pub fn predicted(&mut self, now: Instant, inference: Duration, since_receipt: Duration) {
        self.predicted += 1;
        self.scenes.push_back((
            now,
            inference.as_secs_f64() * 1e3,
            since_receipt.as_secs_f64() * 1e3,
        ));
        prune(&mut self.scenes, now, |s| s.0);
    }

    /// The model failed on a scene.
    pub fn failed(&mut self, now: Instant, why: String) {
        self.failures += 1;
        self.errors.push_back((now, why));
        prune(&mut self.errors, now, |e| e.0);
    }

    /// The inference thread has stopped: nothing will be predicted any more.
    pub fn worker_stopped(&mut self) {
        self.worker_stopped = true;
    }

    /// The status now: ERROR when the model failed in the last [`WINDOW`] or the worker
    /// stopped; WARN when scenes were dropped in it or the median inference took longer
    /// than the input's period; else OK. Key-values: latencies (p50, p99 over the
    /// window), counters, the model and the device.
    pub fn status(&mut self, now: Instant, info: &NodeInfo) -> DiagnosticStatus {
        prune(&mut self.arrivals, now, |t| *t);
        prune(&mut self.scenes, now, |s| s.0);
        prune(&mut self.drops, now, |t| *t);
        prune(&mut self.errors, now, |e| e.0);
        let mut inf: Vec<f64> = self.scenes.iter().map(|s| s.1).collect();
        let mut e2e: Vec<f64> = self.scenes.iter().map(|s| s.2).collect();
        let (inf50, inf99) = (quantile(&mut inf, 0.5), quantile(&mut inf, 0.99));
        let (e2e50, e2e99) = (quantile(&mut e2e, 0.5), quantile(&mut e2e, 0.99));
        // the input's period: the mean gap between the messages of the window
        let period = match (self.arrivals.front(), self.arrivals.back()) {
            (Some(a), Some(b)) if self.arrivals.len() >= 2 => {
                Some(b.duration_since(*a).as_secs_f64() * 1e3 / (self.arrivals.len() - 1) as f64)
            }
            _ => None,
        };
        let secs = WINDOW.as_secs();
        let (level, message) = if self.worker_stopped {
            (
                DiagnosticStatus::ERROR,
                "the inference thread stopped".to_string(),
            )
        } else if let Some((_, why)) = self.errors.back() {
            (
                DiagnosticStatus::ERROR,
                format!(
                    "{} inference failure(s) in the last {secs} s: {why}",
                    self.errors.len()
                ),
            )
        } else if !self.drops.is_empty() {
            (
                DiagnosticStatus::WARN,
                format!(
                    "{} scene(s) dropped in the last {secs} s: inference is slower than the input",
                    self.drops.len()
                ),
            )
        } else if let Some((i, p)) = inf50.zip(period).filter(|(i, p)| i > p) {
            (
                DiagnosticStatus::WARN,
                format!("inference p50 {i:.1} ms exceeds the input period {p:.1} ms"),
            )
        } else if self.arrivals.is_empty() {
            (
                DiagnosticStatus::OK,
                format!("no people received in the last {secs} s"),
            )
        } else {
            (DiagnosticStatus::OK, "predicting".to_string())
        };
        let ms = |v: Option<f64>| v.map_or_else(|| "n/a".to_string(), |v| format!("{v:.1}"));
        let kv = |k: &str, v: String| KeyValue {
            key: k.to_string(),
            value: v,
        };
        DiagnosticStatus {
            level,
            name: format!("{}: prediction", info.node),
            message,
            hardware_id: info.device.clone(),
            values: vec![
                kv("inference p50 ms", ms(inf50)),
                kv("inference p99 ms", ms(inf99)),
                kv("receipt to publish p50 ms", ms(e2e50)),
                kv("receipt to publish p99 ms", ms(e2e99)),
                kv("input period ms", ms(period)),
                kv("scenes received", self.received.to_string()),
                kv("scenes predicted", self.predicted.to_string()),
                kv("scenes dropped", self.dropped.to_string()),
                kv("inference failures", self.failures.to_string()),
                kv("tracked people", self.people.to_string()),
                kv("model", info.model.clone()),
                kv("model size bytes", info.model_bytes.to_string()),
                kv("device", info.device.clone()),
            ],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value<'a>(s: &'a DiagnosticStatus, key: &str) -> &'a str {
        &s.values.iter().find(|kv| kv.key == key).expect(key).value
    }

    #[test]
    fn quantiles_by_nearest_rank() {
        let mut v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(quantile(&mut v, 0.5), Some(50.0));
        assert_eq!(quantile(&mut v, 0.99), Some(99.0));
        assert_eq!(quantile(&mut [3.0], 0.99), Some(3.0));
        assert_eq!(quantile(&mut [], 0.5), None);
    }

    #[test]
    fn levels_follow_failures_drops_and_slow_inference() {
        let info = NodeInfo {
            node: "/lbebm_node".into(),
            model: "embedded".into(),
            model_bytes: 1234,
            device: "cpu".into(),
        };
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        let mut h = Health::default();
        let s = h.status(t0, &info);
        assert_eq!(s.level, DiagnosticStatus::OK);
        assert_eq!(s.name, "/lbebm_node: prediction");
        assert_eq!(value(&s, "inference p50 ms"), "n/a");
        assert_eq!(value(&s, "model size bytes"), "1234");

        // 10 Hz input, 20 ms inference, 25 ms from receipt to publish: OK
        for i in 0..20u64 {
            h.received(at(i * 100), 3);
            h.predicted(
                at(i * 100 + 25),
                Duration::from_millis(20),
                Duration::from_millis(25),
            );
        }
        let s = h.status(at(1950), &info);
        assert_eq!(s.level, DiagnosticStatus::OK, "{}", s.message);
        assert_eq!(value(&s, "inference p50 ms"), "20.0");
        assert_eq!(value(&s, "receipt to publish p99 ms"), "25.0");
        assert_eq!(value(&s, "input period ms"), "100.0");
        assert_eq!(value(&s, "scenes received"), "20");
        assert_eq!(value(&s, "tracked people"), "3");

        // inference slower than the input: WARN
        // (the window then holds only slow scenes)
        for i in 20..80u64 {
            h.received(at(i * 100), 3);
            h.predicted(
                at(i * 100 + 90),
                Duration::from_millis(150),
                Duration::from_millis(160),
            );
        }
        let s = h.status(at(8000), &info);
        assert_eq!(s.level, DiagnosticStatus::WARN);
        assert!(
            s.message.contains("exceeds the input period"),
            "{}",
            s.message
        );
        assert_eq!(value(&s, "inference p50 ms"), "150.0");

        // dropped scenes: WARN, until they leave the window
        h.dropped_total(at(8000), 2);
        let s = h.status(at(8001), &info);
        assert_eq!(s.level, DiagnosticStatus::WARN);
        assert!(s.message.starts_with("2 scene(s) dropped"), "{}", s.message);
        assert_eq!(value(&s, "scenes dropped"), "2");
        let s = h.status(at(13_100), &info);
        assert_eq!(s.level, DiagnosticStatus::OK, "{}", s.message);
        assert!(s.message.starts_with("no people received"), "{}", s.message);

        // a model failure: ERROR, with the reason
        h.failed(at(13_200), "NaN in the decoder".into());
        let s = h.status(at(13_300), &info);
        assert_eq!(s.level, DiagnosticStatus::ERROR);
        assert!(s.message.contains("NaN in the decoder"), "{}", s.message);
        assert_eq!(h.status(at(19_000), &info).level, DiagnosticStatus::OK);
        h.worker_stopped();
        assert_eq!(h.status(at(19_001), &info).level, DiagnosticStatus::ERROR);
    }
}
