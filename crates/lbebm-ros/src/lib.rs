//! The LB-EBM ROS 2 node: `people_msgs/People` tracks in, predicted futures out
//! (`lbebm_msgs/PredictionArray` and `visualization_msgs/MarkerArray`), on
//! [ros2-client](https://crates.io/crates/ros2-client) (pure Rust over DDS: no ROS 2
//! installation needed, interoperates with ROS 2 nodes).
//!
//! Everything but [`node`] is plain, testable code without network: message mirrors
//! ([`msgs`]), parameters and `--ros-args` ([`params`]), the topic table ([`topics`]),
//! transforms ([`tf`]), track histories and message checking ([`tracks`]), output
//! messages ([`output`]), the newest-only channel ([`latest`]), the inference worker
//! ([`worker`]) and the node's health for `/diagnostics` ([`diagnostics`]).

pub mod diagnostics;
pub mod latest;
pub mod msgs;
pub mod node;
pub mod output;
pub mod params;
pub mod tf;
pub mod topics;
pub mod tracks;
pub mod worker;

pub use params::{CliArgs, Params};

/// Errors of the node.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// A bad command line, parameter file or parameter.
    #[error(transparent)]
    Params(#[from] params::ParamError),
    /// The model could not be loaded or run.
    #[error(transparent)]
    Model(#[from] lbebm_model::ModelError),
    /// No model where the `model` parameter points.
    #[error("no model: {0}")]
    NoModel(String),
    /// `ROS_DOMAIN_ID` is not a domain id.
    #[error("ROS_DOMAIN_ID={0:?} is not a domain id (0..=232)")]
    DomainId(String),
    /// Creating a DDS participant, node, topic, reader or writer failed.
    #[error("ROS 2 / DDS: {0}")]
    Ros(String),
    /// The inference thread could not start or stopped.
    #[error("inference worker: {0}")]
    Worker(String),
}

/// Logs a warning at most once per period per key, counting what it held back.
#[derive(Debug)]
pub struct Throttle {
    period: std::time::Duration,
    last: std::collections::HashMap<&'static str, (std::time::Instant, u64)>,
}

impl Throttle {
    /// At most one message per key and `period`.
    pub fn new(period: std::time::Duration) -> Self {
        Throttle {
            period,
            last: Default::default(),
        }
    }

    /// Whether a message for `key` may be logged now; if so, also how many were held
    /// back since the last one.
    pub fn allow(&mut self, key: &'static str) -> Option<u64> {
        let now = std::time::Instant::now();
        match self.last.get_mut(key) {
            Some((t, n)) if now.duration_since(*t) < self.period => {
                *n += 1;
                None
            }
            Some((t, n)) => {
                let held = *n;
                *t = now;
                *n = 0;
                Some(held)
            }
            None => {
                self.last.insert(key, (now, 0));
                Some(0)
            }
        }
    }
}

/// `tracing::warn!` through a [`Throttle`].
#[macro_export]
macro_rules! warn_throttled {
    ($throttle:expr, $key:literal, $($arg:tt)+) => {
        if let Some(held) = $throttle.allow($key) {
            if held > 0 {
                tracing::warn!("{} ({} similar messages suppressed)", format_args!($($arg)+), held);
            } else {
                tracing::warn!($($arg)+);
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttle_holds_back_repeats() {
        let mut t = Throttle::new(std::time::Duration::from_millis(50));
        assert_eq!(t.allow("a"), Some(0));
        assert_eq!(t.allow("a"), None);
        assert_eq!(t.allow("a"), None);
        assert_eq!(t.allow("b"), Some(0));
        std::thread::sleep(std::time::Duration::from_millis(60));
        assert_eq!(t.allow("a"), Some(2));
    }
}
