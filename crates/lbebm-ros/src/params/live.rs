//! Parameters while the node runs: `ros2 param set` (the standard parameter services)
//! checks a change here and stores it; the ingest side and the worker pick the new
//! values up before their next scene.

use super::table::{Change, Params, PARAMS};
use ros2_client::ParameterValue;
use std::sync::{Arc, Mutex, MutexGuard};

/// The node's current parameters, shared between the parameter services, the ingest
/// side and the worker. Each change bumps a generation, so that readers copy the
/// parameters only when something changed.
#[derive(Debug)]
pub struct LiveParams {
    inner: Mutex<(u64, Params)>,
}

impl LiveParams {
    /// Starts from the parameters the node was started with (generation 0).
    pub fn new(p: Params) -> Arc<Self> {
        Arc::new(LiveParams {
            inner: Mutex::new((0, p)),
        })
    }

    fn lock(&self) -> MutexGuard<'_, (u64, Params)> {
        // a panic elsewhere while holding the lock leaves valid parameters behind
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A copy of the current parameters.
    pub fn get(&self) -> Params {
        self.lock().1.clone()
    }

    /// The current input rate, without copying the rest (the tick thread reads it at
    /// every tick).
    pub fn rate_hz(&self) -> f64 {
        self.lock().1.rate_hz
    }

    /// The current parameters if they changed since generation `*seen` (which is then
    /// brought up to date).
    pub fn changed_since(&self, seen: &mut u64) -> Option<Params> {
        let g = self.lock();
        (g.0 != *seen).then(|| {
            *seen = g.0;
            g.1.clone()
        })
    }

    /// The parameters with `name` set to `v`, if that change is allowed now: the value
    /// passes the parameter's rule and, unless it equals the current value, the
    /// parameter can change at run time. The error is the reason, for the caller of
    /// `set_parameters`.
    pub fn check(&self, name: &str, v: &ParameterValue) -> Result<Params, String> {
        let mut p = self.get();
        let Some(spec) = PARAMS.iter().find(|s| s.name == name) else {
            return Err(format!("{name} is not a parameter of this node"));
        };
        let before = p.get(name);
        p.set(name, v).map_err(|e| e.to_string())?;
        if spec.change == Change::Restart && p.get(name) != before {
            return Err(format!(
                "{name} is read at start only (the running pipeline depends on it): \
                 restart the node with -p {name}:=VALUE"
            ));
        }
        Ok(p)
    }

    /// Checks and stores a change (see [`LiveParams::check`]).
    pub fn set(&self, name: &str, v: &ParameterValue) -> Result<(), String> {
        let p = self.check(name, v)?;
        let mut g = self.lock();
        if g.1 != p {
            tracing::info!("parameter {name} set to {v:?}");
            g.0 += 1;
            g.1 = p;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runtime_changes_are_checked_and_seen_once() {
        let live = LiveParams::new(Params::default());
        let mut seen = 0;
        assert!(live.changed_since(&mut seen).is_none());
        live.set("num_samples", &ParameterValue::Integer(5))
            .unwrap();
        let p = live.changed_since(&mut seen).expect("changed");
        assert_eq!(p.num_samples, 5);
        assert!(live.changed_since(&mut seen).is_none());
        // out of range: refused with the rule's message, nothing changes
        let e = live
            .set("num_samples", &ParameterValue::Integer(0))
            .unwrap_err();
        assert_eq!(e, "parameter num_samples: must be in 1..=1000, got 0");
        assert!(live.changed_since(&mut seen).is_none());
        // setting the same value again is no change
        live.set("num_samples", &ParameterValue::Integer(5))
            .unwrap();
        assert!(live.changed_since(&mut seen).is_none());
        live.set("rate_hz", &ParameterValue::Integer(4)).unwrap();
        assert_eq!(live.get().rate_hz, 4.0);
        assert_eq!(live.rate_hz(), 4.0);
    }

    #[test]
    fn start_only_parameters_are_refused_with_the_reason() {
        let live = LiveParams::new(Params::default());
        for (name, v) in [
            ("model", ParameterValue::String("/tmp/m".into())),
            ("device", ParameterValue::String("cuda:0".into())),
            ("fixed_frame", ParameterValue::String("odom".into())),
            ("seed", ParameterValue::Integer(3)),
            ("robot_frame", ParameterValue::String("base_link".into())),
        ] {
            let e = live.set(name, &v).unwrap_err();
            assert!(e.contains("read at start only") && e.contains(name), "{e}");
        }
        // the value it already has is accepted (ros2-client checks the declared values)
        for (name, v) in Params::default().all() {
            live.set(name, &v).unwrap();
        }
        assert!(live.set("nope", &ParameterValue::Integer(1)).is_err());
        assert_eq!(live.get(), Params::default());
    }
}
