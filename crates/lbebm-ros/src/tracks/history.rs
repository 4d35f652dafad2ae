//! One track's raw history (stamped positions in the fixed frame, bounded in length)
//! and its resampling onto the model's grid.

use lbebm_data::tracks::{History, Track, TIME_EPS};
use lbebm_types::{DT, OBS_LEN};
use std::collections::VecDeque;

/// Points kept per track at most (the history window is 2.8 s; this covers 100 Hz).
const MAX_POINTS: usize = 400;

/// One track's observations, oldest first, trimmed to the model's history window.
#[derive(Debug, Clone)]
pub(super) struct RawTrack {
    t: VecDeque<f64>,
    p: VecDeque<[f64; 2]>,
    /// Receive time of the last observation (node clock, seconds).
    pub(super) seen_at: f64,
}

impl RawTrack {
    /// A track of one observation at `t`, received at `seen_at`.
    pub(super) fn new(t: f64, p: [f64; 2], seen_at: f64) -> Self {
        RawTrack {
            t: VecDeque::from([t]),
            p: VecDeque::from([p]),
            seen_at,
        }
    }
    /// Stamp of the last observation.
    pub(super) fn last_t(&self) -> f64 {
        self.t.back().copied().unwrap_or(f64::NEG_INFINITY)
    }
    /// Position of the last observation.
    pub(super) fn last_p(&self) -> [f64; 2] {
        self.p.back().copied().unwrap_or([0.0, 0.0])
    }
    /// Appends an observation (stamps must ascend) and drops what the window no longer
    /// needs.
    pub(super) fn push(&mut self, t: f64, p: [f64; 2], seen_at: f64) {
        self.t.push_back(t);
        self.p.push_back(p);
        self.seen_at = seen_at;
        // keep one point at or before the window start, for interpolation
        let start = t - (OBS_LEN - 1) as f64 * DT - TIME_EPS;
        while self.t.len() >= 2 && (self.t[1] <= start || self.t.len() > MAX_POINTS) {
            self.t.pop_front();
            self.p.pop_front();
        }
    }

    /// The history on the model's grid (`OBS_LEN` points `DT` apart, the last at the
    /// track's last observation); `None` while the track is too short (fewer than two
    /// grid points) or when a point is not finite.
    pub(super) fn history(&self, id: &str) -> Option<History> {
        let track = Track {
            id: id.to_string(),
            t: self.t.iter().copied().collect(),
            p: self.p.iter().copied().collect(),
        };
        let h = track.history(self.last_t(), DT, OBS_LEN)?;
        (h.pts.len() == OBS_LEN && h.pts.iter().flatten().all(|v| v.is_finite())).then_some(h)
    }
}
