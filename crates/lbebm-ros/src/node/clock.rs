//! The node's clocks: monotonic seconds since start, and wall-clock (ROS) time.

use std::time::Instant;

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
