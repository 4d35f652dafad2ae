//! The live tracks: observations from checked messages become per-track histories;
//! stale tracks expire, reused ids and time resets are detected.

use super::history::RawTrack;
use lbebm_data::tracks::TIME_EPS;
use std::collections::HashMap;

/// Limits of the track store.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TrackConfig {
    /// Seconds without an observation (by stamp or by receive time) before a track is
    /// dropped.
    pub timeout: f64,
    /// Most tracks in a scene (the newest are kept).
    pub max_agents: usize,
    /// m/s: a faster jump restarts the track (the id was given to someone else).
    pub max_speed: f64,
}

/// What one `observe` call did, for logging.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ObserveReport {
    /// Points appended to tracks.
    pub added: usize,
    /// Tracks started.
    pub new_tracks: usize,
    /// Points older than the track's last point (skipped).
    pub out_of_order: usize,
    /// Points at the track's last stamp (skipped).
    pub duplicate: usize,
    /// Tracks restarted because the id jumped implausibly far.
    pub reused: usize,
    /// Every track was cleared because time went back by more than the timeout.
    pub time_reset: bool,
}

/// Histories of every live track, in the fixed frame (the scene is built by
/// [`TrackStore::scene`]).
#[derive(Debug, Clone)]
pub struct TrackStore {
    pub(super) cfg: TrackConfig,
    pub(super) tracks: HashMap<String, RawTrack>,
    /// The robot's own track (`robot_frame`), kept apart so that no person's name can
    /// collide with it; it joins scenes as a neighbour only.
    pub(super) robot: Option<RawTrack>,
    pub(super) newest: Option<f64>,
    dirty: bool,
}

impl TrackStore {
    /// An empty store.
    pub fn new(cfg: TrackConfig) -> Self {
        TrackStore {
            cfg,
            tracks: HashMap::new(),
            robot: None,
            newest: None,
            dirty: false,
        }
    }

    /// Changes the limits (run-time parameters); the tracks stay.
    pub fn set_config(&mut self, cfg: TrackConfig) {
        self.cfg = cfg;
    }

    /// Live tracks of people (the robot not counted).
    pub fn len(&self) -> usize {
        self.tracks.len()
    }

    /// No live track.
    pub fn is_empty(&self) -> bool {
        self.tracks.is_empty()
    }

    /// Whether anything changed since the last [`TrackStore::take_dirty`].
    pub fn take_dirty(&mut self) -> bool {
        std::mem::take(&mut self.dirty)
    }

    /// Whether anything changed, without clearing the flag.
    pub fn is_dirty(&self) -> bool {
        self.dirty
    }

    /// Adds the observations of one message (positions already in the fixed frame).
    /// `seen_at` is the node's clock at receipt, used to drop tracks when input stops.
    pub fn observe(
        &mut self,
        stamp: f64,
        people: &[(String, [f64; 2])],
        seen_at: f64,
    ) -> ObserveReport {
        let mut r = ObserveReport::default();
        if !self.advance_time(stamp, &mut r) {
            return r;
        }
        for (id, p) in people.iter().take(self.cfg.max_agents) {
            if !(p[0].is_finite() && p[1].is_finite()) {
                continue;
            }
            match self.tracks.get_mut(id) {
                None => {
                    if self.tracks.len() >= self.cfg.max_agents * 8 {
                        // bounded memory even if every message brings new ids
                        continue;
                    }
                    self.tracks
                        .insert(id.clone(), RawTrack::new(stamp, *p, seen_at));
                    r.new_tracks += 1;
                    r.added += 1;
                }
                Some(tr) => extend(tr, stamp, *p, seen_at, &self.cfg, &mut r),
            }
        }
        if r.added > 0 {
            self.dirty = true;
        }
        r
    }

    /// Adds the robot's own position at `stamp` (same checks as a person's). It does
    /// not mark the store changed: the robot alone never triggers a prediction.
    pub fn observe_robot(&mut self, stamp: f64, p: [f64; 2], seen_at: f64) -> ObserveReport {
        let mut r = ObserveReport::default();
        let finite = p[0].is_finite() && p[1].is_finite();
        if !finite || !self.advance_time(stamp, &mut r) {
            return r;
        }
        match &mut self.robot {
            None => {
                self.robot = Some(RawTrack::new(stamp, p, seen_at));
                r.new_tracks += 1;
                r.added += 1;
            }
            Some(tr) => extend(tr, stamp, p, seen_at, &self.cfg, &mut r),
        }
        r
    }

    /// Whether the robot's track is live.
    pub fn has_robot(&self) -> bool {
        self.robot.is_some()
    }

    /// Moves the newest stamp on; clears every track when time went back by more than
    /// the timeout. False for a stamp that is not finite.
    fn advance_time(&mut self, stamp: f64, r: &mut ObserveReport) -> bool {
        if !stamp.is_finite() {
            return false;
        }
        if let Some(newest) = self.newest {
            if stamp < newest - self.cfg.timeout {
                // a bag restarted or the clock was reset: old histories mean nothing now
                r.time_reset = true;
                self.tracks.clear();
                self.robot = None;
                self.newest = None;
                self.dirty = true;
            }
        }
        self.newest = Some(self.newest.map_or(stamp, |n| n.max(stamp)));
        true
    }

    /// Drops tracks not seen for longer than the timeout, by stamp (relative to the
    /// newest stamp) or by receive time (relative to `now`). Returns how many.
    pub fn expire(&mut self, now: f64) -> usize {
        let before = self.tracks.len();
        let newest = self.newest.unwrap_or(f64::NEG_INFINITY);
        let timeout = self.cfg.timeout;
        let live = |tr: &RawTrack| newest - tr.last_t() <= timeout && now - tr.seen_at <= timeout;
        self.tracks.retain(|_, tr| live(tr));
        if self.robot.as_ref().is_some_and(|tr| !live(tr)) {
            self.robot = None;
        }
        let n = before - self.tracks.len();
        if n > 0 {
            self.dirty = true;
        }
        if self.tracks.is_empty() && self.robot.is_none() {
            self.newest = None;
        }
        n
    }
}

/// Appends one observation to a live track, or restarts it (an id reused: the jump was
/// faster than `max_speed`, or the gap longer than the timeout); skips out-of-order and
/// duplicate stamps. Counts what it did in `r`.
fn extend(
    tr: &mut RawTrack,
    stamp: f64,
    p: [f64; 2],
    seen_at: f64,
    cfg: &TrackConfig,
    r: &mut ObserveReport,
) {
    let last = tr.last_t();
    if stamp < last - TIME_EPS {
        r.out_of_order += 1;
        return;
    }
    if stamp <= last + TIME_EPS {
        r.duplicate += 1;
        return;
    }
    let lp = tr.last_p();
    let dist = ((p[0] - lp[0]).powi(2) + (p[1] - lp[1]).powi(2)).sqrt();
    let gap = stamp - last;
    if dist / gap > cfg.max_speed || gap > cfg.timeout {
        *tr = RawTrack::new(stamp, p, seen_at);
        r.reused += 1;
        r.added += 1;
        return;
    }
    tr.push(stamp, p, seen_at);
    r.added += 1;
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// The limits the tests of the tracks use.
    pub(in crate::tracks) fn cfg() -> TrackConfig {
        TrackConfig {
            timeout: 1.0,
            max_agents: 4,
            max_speed: 10.0,
        }
    }

    /// One observation of `id` at (x, y).
    pub(in crate::tracks) fn obs(id: &str, x: f64, y: f64) -> (String, [f64; 2]) {
        (id.to_string(), [x, y])
    }

    #[test]
    fn out_of_order_duplicate_and_reused_ids() {
        let mut s = TrackStore::new(cfg());
        s.observe(1.0, &[obs("a", 0.0, 0.0)], 0.0);
        let r = s.observe(1.1, &[obs("a", 0.1, 0.0)], 0.0);
        assert_eq!(r.added, 1);
        let r = s.observe(1.05, &[obs("a", 0.05, 0.0)], 0.0);
        assert_eq!(r.out_of_order, 1);
        let r = s.observe(1.1, &[obs("a", 0.1, 0.0)], 0.0);
        assert_eq!(r.duplicate, 1);
        // 50 m in 0.1 s: the id now names someone else
        let r = s.observe(1.2, &[obs("a", 50.0, 0.0)], 0.0);
        assert_eq!(r.reused, 1);
        let r = s.observe(1.3, &[obs("a", 50.1, 0.0)], 0.0);
        assert_eq!(r.added, 1);
        assert!(
            s.scene("map", "t").agents.is_empty(),
            "restarted track too short"
        );
    }

    #[test]
    fn time_going_back_clears_tracks() {
        let mut s = TrackStore::new(cfg());
        s.observe(100.0, &[obs("a", 0.0, 0.0)], 0.0);
        let r = s.observe(5.0, &[obs("b", 0.0, 0.0)], 0.0);
        assert!(r.time_reset);
        assert_eq!(s.len(), 1);
    }

    #[test]
    fn tracks_expire_by_stamp_and_by_receive_time() {
        let mut s = TrackStore::new(cfg());
        s.observe(0.0, &[obs("a", 0.0, 0.0), obs("b", 1.0, 0.0)], 0.0);
        s.observe(0.5, &[obs("b", 1.1, 0.0)], 0.5);
        assert_eq!(s.expire(0.5), 0);
        s.observe(1.6, &[obs("b", 1.2, 0.0)], 1.6);
        assert_eq!(s.expire(1.6), 1, "a is 1.6 s behind the newest stamp");
        assert!(s.take_dirty());
        // input stops: b goes when the node's clock passes the timeout
        assert_eq!(s.expire(2.0), 0);
        assert_eq!(s.expire(2.7), 1);
        assert!(s.is_empty());
    }
}
