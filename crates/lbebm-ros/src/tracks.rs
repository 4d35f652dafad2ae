//! Incoming `People` messages → checked observations → per-track histories → scenes.
//!
//! Nothing here trusts message data: non-finite numbers, empty or repeated names,
//! invalid stamps, out-of-order and duplicate stamps, ids reused for another person
//! and oversized messages are counted and skipped or clipped, never a panic.

use crate::msgs::People;
use lbebm_data::tracks::{Track, TIME_EPS};
use lbebm_types::{AgentWindow, Scene, Vec2, DT, OBS_LEN};
use std::collections::{HashMap, HashSet, VecDeque};

/// A `People` message after checking: stamp in seconds, frame, people in message order.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckedPeople {
    /// Header stamp in seconds (the receive time if it was zero).
    pub stamp: f64,
    /// Header frame id (may be empty).
    pub frame: String,
    /// (name, position in `frame`)
    pub people: Vec<(String, [f64; 3])>,
    /// What was skipped.
    pub report: CheckReport,
}

/// What was wrong with a message (all counts of skipped people).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CheckReport {
    /// People with a NaN or infinite position.
    pub non_finite: usize,
    /// People without a name (no track id).
    pub unnamed: usize,
    /// People whose name came earlier in the message.
    pub repeated_name: usize,
    /// People past `max_agents`, not even looked at.
    pub clipped: usize,
    /// The stamp was zero and replaced by the receive time.
    pub zero_stamp: bool,
}

impl CheckReport {
    /// Nothing was skipped, clipped or replaced.
    pub fn is_clean(&self) -> bool {
        *self == CheckReport::default()
    }
}

/// A message that is skipped whole.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum MessageError {
    #[error("invalid header stamp (nanosec {0} is not below one second)")]
    /// `nanosec` of the header stamp is one second or more.
    BadStamp(u32),
}

/// Checks a message. `max_agents` clips the people list; `now` (seconds, same clock as
/// the stamps) replaces a zero stamp.
pub fn check_people(
    msg: &People,
    max_agents: usize,
    now: f64,
) -> Result<CheckedPeople, MessageError> {
    let mut report = CheckReport::default();
    let stamp = msg
        .header
        .stamp
        .to_secs()
        .ok_or(MessageError::BadStamp(msg.header.stamp.nanosec))?;
    let stamp = if msg.header.stamp.sec == 0 && msg.header.stamp.nanosec == 0 {
        report.zero_stamp = true;
        now
    } else {
        stamp
    };
    let n = msg.people.len();
    if n > max_agents {
        report.clipped = n - max_agents;
    }
    let mut seen = HashSet::new();
    let mut people = Vec::with_capacity(n.min(max_agents));
    for p in msg.people.iter().take(max_agents) {
        let name = p.name.trim();
        if name.is_empty() {
            report.unnamed += 1;
            continue;
        }
        let pos = [p.position.x, p.position.y, p.position.z];
        if !pos.iter().all(|v| v.is_finite()) {
            report.non_finite += 1;
            continue;
        }
        if !seen.insert(name) {
            report.repeated_name += 1;
            continue;
        }
        people.push((name.to_string(), pos));
    }
    Ok(CheckedPeople {
        stamp,
        frame: crate::tf::normalize_frame(&msg.header.frame_id).to_string(),
        people,
        report,
    })
}

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

/// Points kept per track at most (the history window is 2.8 s; this covers 100 Hz).
const MAX_POINTS: usize = 400;

#[derive(Debug, Clone)]
struct RawTrack {
    t: VecDeque<f64>,
    p: VecDeque<[f64; 2]>,
    /// Receive time of the last observation (node clock, seconds).
    seen_at: f64,
}

impl RawTrack {
    fn new(t: f64, p: [f64; 2], seen_at: f64) -> Self {
        RawTrack {
            t: VecDeque::from([t]),
            p: VecDeque::from([p]),
            seen_at,
        }
    }
    fn last_t(&self) -> f64 {
        self.t.back().copied().unwrap_or(f64::NEG_INFINITY)
    }
    fn last_p(&self) -> [f64; 2] {
        self.p.back().copied().unwrap_or([0.0, 0.0])
    }
    fn push(&mut self, t: f64, p: [f64; 2], seen_at: f64) {
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

/// One agent of a scene, as the outputs need it.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentMeta {
    /// The track id (`Person.name`).
    pub id: String,
    /// Stamp of the last observation (seconds).
    pub stamp: f64,
    /// Last observed position in the fixed frame.
    pub position: [f64; 2],
    /// History steps that were observed (the rest extrapolated).
    pub observed: usize,
}

/// A scene ready for the model, with what is needed to publish its predictions.
#[derive(Debug, Clone, PartialEq)]
pub struct SceneJob {
    /// Histories relative to `origin` (f32 keeps centimetres near the origin only).
    pub scene: Scene,
    /// Where the scene's coordinates are relative to, in the fixed frame.
    pub origin: [f64; 2],
    /// Newest stamp in the scene.
    pub stamp: f64,
    /// The fixed frame.
    pub frame: String,
    /// The scene's agents, in the scene's order.
    pub agents: Vec<AgentMeta>,
}

/// Histories of every live track, in the fixed frame.
#[derive(Debug, Clone)]
pub struct TrackStore {
    cfg: TrackConfig,
    tracks: HashMap<String, RawTrack>,
    newest: Option<f64>,
    dirty: bool,
}

impl TrackStore {
    /// An empty store.
    pub fn new(cfg: TrackConfig) -> Self {
        TrackStore {
            cfg,
            tracks: HashMap::new(),
            newest: None,
            dirty: false,
        }
    }

    /// Live tracks.
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
        if !stamp.is_finite() {
            return r;
        }
        if let Some(newest) = self.newest {
            if stamp < newest - self.cfg.timeout {
                // a bag restarted or the clock was reset: old histories mean nothing now
                r.time_reset = true;
                self.tracks.clear();
                self.newest = None;
                self.dirty = true;
            }
        }
        self.newest = Some(self.newest.map_or(stamp, |n| n.max(stamp)));
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
                Some(tr) => {
                    let last = tr.last_t();
                    if stamp < last - TIME_EPS {
                        r.out_of_order += 1;
                        continue;
                    }
                    if stamp <= last + TIME_EPS {
                        r.duplicate += 1;
                        continue;
                    }
                    let lp = tr.last_p();
                    let dist = ((p[0] - lp[0]).powi(2) + (p[1] - lp[1]).powi(2)).sqrt();
                    let gap = stamp - last;
                    if dist / gap > self.cfg.max_speed || gap > self.cfg.timeout {
                        *tr = RawTrack::new(stamp, *p, seen_at);
                        r.reused += 1;
                        r.added += 1;
                        continue;
                    }
                    tr.push(stamp, *p, seen_at);
                    r.added += 1;
                }
            }
        }
        if r.added > 0 {
            self.dirty = true;
        }
        r
    }

    /// Drops tracks not seen for longer than the timeout, by stamp (relative to the
    /// newest stamp) or by receive time (relative to `now`). Returns how many.
    pub fn expire(&mut self, now: f64) -> usize {
        let before = self.tracks.len();
        let newest = self.newest.unwrap_or(f64::NEG_INFINITY);
        let timeout = self.cfg.timeout;
        self.tracks
            .retain(|_, tr| newest - tr.last_t() <= timeout && now - tr.seen_at <= timeout);
        let n = before - self.tracks.len();
        if n > 0 {
            self.dirty = true;
        }
        if self.tracks.is_empty() {
            self.newest = None;
        }
        n
    }

    /// The current scene: every track with a history (at least two grid points, i.e.
    /// 0.4 s of observations), most recently seen first, at most `max_agents`.
    /// Each history ends at that track's last observation.
    pub fn scene(&self, frame: &str, source: &str) -> SceneJob {
        let mut ids: Vec<(&String, &RawTrack)> = self.tracks.iter().collect();
        ids.sort_by(|a, b| b.1.last_t().total_cmp(&a.1.last_t()).then(a.0.cmp(b.0)));
        let mut hist = Vec::new();
        for (id, tr) in ids {
            if hist.len() >= self.cfg.max_agents {
                break;
            }
            let track = Track {
                id: id.clone(),
                t: tr.t.iter().copied().collect(),
                p: tr.p.iter().copied().collect(),
            };
            let t = tr.last_t();
            if let Some(h) = track.history(t, DT, OBS_LEN) {
                if h.pts.len() == OBS_LEN && h.pts.iter().flatten().all(|v| v.is_finite()) {
                    hist.push((id.clone(), t, tr.last_p(), h));
                }
            }
        }
        // recentre so that f32 keeps its precision in large map frames
        let origin = if hist.is_empty() {
            [0.0, 0.0]
        } else {
            let n = hist.len() as f64;
            let cx = hist.iter().map(|h| h.2[0]).sum::<f64>() / n;
            let cy = hist.iter().map(|h| h.2[1]).sum::<f64>() / n;
            [cx.round(), cy.round()]
        };
        let stamp = hist.iter().map(|h| h.1).fold(f64::NEG_INFINITY, f64::max);
        let mut agents = Vec::with_capacity(hist.len());
        let mut windows = Vec::with_capacity(hist.len());
        for (id, t, last, h) in hist {
            let mut obs = [Vec2::zeros(); OBS_LEN];
            for (o, p) in obs.iter_mut().zip(&h.pts) {
                *o = Vec2::new((p[0] - origin[0]) as f32, (p[1] - origin[1]) as f32);
            }
            windows.push(AgentWindow {
                id: id.clone(),
                obs,
                future: None,
            });
            agents.push(AgentMeta {
                id,
                stamp: t,
                position: last,
                observed: h.observed,
            });
        }
        SceneJob {
            scene: Scene {
                source: source.to_string(),
                t: if stamp.is_finite() { stamp } else { 0.0 },
                agents: windows,
            },
            origin,
            stamp: if stamp.is_finite() {
                stamp
            } else {
                self.newest.unwrap_or(0.0)
            },
            frame: frame.to_string(),
            agents,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::msgs::{Header, Person, Point, Time};

    fn cfg() -> TrackConfig {
        TrackConfig {
            timeout: 1.0,
            max_agents: 4,
            max_speed: 10.0,
        }
    }

    fn person(name: &str, x: f64, y: f64) -> Person {
        Person {
            name: name.into(),
            position: Point { x, y, z: 0.0 },
            ..Default::default()
        }
    }

    fn people(sec: i32, nanosec: u32, ps: Vec<Person>) -> People {
        People {
            header: Header {
                stamp: Time { sec, nanosec },
                frame_id: "/map".into(),
            },
            people: ps,
        }
    }

    fn obs(id: &str, x: f64, y: f64) -> (String, [f64; 2]) {
        (id.to_string(), [x, y])
    }

    #[test]
    fn check_skips_and_clips_bad_people() {
        let m = people(
            10,
            500_000_000,
            vec![
                person("a", 1.0, 2.0),
                person("", 0.0, 0.0),
                person("b", f64::NAN, 0.0),
                person("c", f64::INFINITY, 0.0),
                person("a", 5.0, 5.0),
                person("d", 3.0, 4.0),
                person("e", 0.0, 0.0),
            ],
        );
        let c = check_people(&m, 6, 0.0).unwrap();
        assert_eq!(c.stamp, 10.5);
        assert_eq!(c.frame, "map");
        assert_eq!(
            c.people,
            vec![("a".into(), [1.0, 2.0, 0.0]), ("d".into(), [3.0, 4.0, 0.0])]
        );
        assert_eq!(
            c.report,
            CheckReport {
                non_finite: 2,
                unnamed: 1,
                repeated_name: 1,
                clipped: 1,
                zero_stamp: false
            }
        );
    }

    #[test]
    fn ten_thousand_people_are_clipped() {
        let ps = (0..10_000)
            .map(|i| person(&i.to_string(), i as f64, 0.0))
            .collect();
        let c = check_people(&people(1, 0, ps), 64, 0.0).unwrap();
        assert_eq!(c.people.len(), 64);
        assert_eq!(c.report.clipped, 10_000 - 64);
    }

    #[test]
    fn bad_and_zero_stamps() {
        assert_eq!(
            check_people(&people(1, 1_000_000_000, vec![]), 4, 0.0),
            Err(MessageError::BadStamp(1_000_000_000))
        );
        let c = check_people(&people(0, 0, vec![]), 4, 42.0).unwrap();
        assert_eq!(c.stamp, 42.0);
        assert!(c.report.zero_stamp);
        // an empty message is fine
        assert!(check_people(&people(3, 0, vec![]), 4, 0.0)
            .unwrap()
            .people
            .is_empty());
    }

    #[test]
    fn histories_resample_onto_the_model_grid() {
        let mut s = TrackStore::new(cfg());
        // 10 Hz, walking +x at 1 m/s, stamps jittered
        for i in 0..40 {
            let t = 100.0 + i as f64 * 0.1 + if i % 2 == 0 { 0.01 } else { -0.01 };
            s.observe(t, &[obs("a", t - 100.0, 0.0)], 0.0);
        }
        let job = s.scene("map", "test");
        assert_eq!(job.agents.len(), 1);
        let last_t = 100.0 + 3.9 - 0.01;
        assert!((job.stamp - last_t).abs() < 1e-9);
        assert_eq!(job.agents[0].observed, OBS_LEN);
        let o = job.origin;
        let w = &job.scene.agents[0].obs;
        for (k, p) in w.iter().enumerate() {
            let t = last_t - (OBS_LEN - 1 - k) as f64 * DT;
            assert!(
                ((p.x as f64 + o[0]) - (t - 100.0)).abs() < 1e-4,
                "{k}: {p:?}"
            );
            assert!((p.y as f64 + o[1]).abs() < 1e-6);
        }
    }

    #[test]
    fn short_tracks_wait_then_extrapolate_backwards() {
        let mut s = TrackStore::new(cfg());
        s.observe(0.0, &[obs("a", 0.0, 0.0)], 0.0);
        assert!(
            s.scene("map", "t").agents.is_empty(),
            "one point: no history"
        );
        s.observe(0.2, &[obs("a", 0.2, 0.0)], 0.0);
        assert!(
            s.scene("map", "t").agents.is_empty(),
            "0.2 s: one grid point"
        );
        s.observe(0.4, &[obs("a", 0.4, 0.0)], 0.0);
        let job = s.scene("map", "t");
        assert_eq!(job.agents[0].observed, 2);
        let w = &job.scene.agents[0].obs;
        let x0 = w[0].x as f64 + job.origin[0];
        assert!(
            (x0 - (0.4 - 7.0 * 0.4)).abs() < 1e-5,
            "constant velocity: {x0}"
        );
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

    #[test]
    fn scene_is_clipped_to_max_agents_newest_first() {
        let mut s = TrackStore::new(cfg());
        for i in 0..6 {
            let t = i as f64 * 0.1;
            let ps: Vec<_> = (0..4).map(|a| obs(&format!("p{a}"), a as f64, t)).collect();
            s.observe(t, &ps, t);
            // two more people, in a second message; seen slightly later
            let qs: Vec<_> = (0..2)
                .map(|a| obs(&format!("q{a}"), a as f64, 9.0))
                .collect();
            s.observe(t + 0.01, &qs, t);
        }
        assert_eq!(s.len(), 6);
        let job = s.scene("map", "t");
        assert_eq!(job.agents.len(), 4);
        assert_eq!(job.scene.agents.len(), 4);
        assert_eq!(job.agents[0].id, "q0");
        assert_eq!(job.agents[1].id, "q1");
        assert!((job.stamp - 0.51).abs() < 1e-9);
    }

    #[test]
    fn large_coordinates_keep_precision() {
        let mut s = TrackStore::new(cfg());
        for i in 0..10 {
            let t = i as f64 * 0.4;
            s.observe(t, &[obs("a", 500_000.0 + 0.013 * i as f64, 4_000_000.0)], t);
        }
        let job = s.scene("map", "t");
        let w = &job.scene.agents[0].obs;
        let d = (w[7].x - w[6].x) as f64;
        assert!((d - 0.013).abs() < 1e-5, "{d}");
    }
}
