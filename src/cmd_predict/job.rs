//! What one prediction is about: an agent at a time, or why it is left out.

/// One agent to predict at one time.
pub(super) struct Job {
    /// The prediction time, seconds.
    pub(super) t_sec: f64,
    /// The agent's id in the input.
    pub(super) id: String,
    /// Observed steps of the 8 (the rest were extrapolated backwards).
    pub(super) observed: usize,
    /// The 8 positions up to `t_sec`, world coordinates.
    pub(super) obs: Vec<[f64; 2]>,
    /// Up to 12 positions after `t_sec` when the input has them (plots only).
    pub(super) truth: Vec<[f64; 2]>,
}

/// An agent that could not be predicted at a time, and why.
pub(super) struct Skipped {
    /// Input time units.
    pub(super) t: f64,
    /// The agent's id in the input.
    pub(super) id: String,
    /// Why.
    pub(super) reason: &'static str,
}
