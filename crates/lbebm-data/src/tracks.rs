//! Free-form tracks (any sampling rate) → fixed-step histories for the model.
//!
//! Used by the CLI's `predict` and by the ROS node: rows are grouped per agent, sorted
//! by time, and resampled onto the model's 0.4 s grid by linear interpolation.

use crate::read::Row;
use crate::{DataError, Result};
use std::collections::HashMap;
use std::path::Path;

/// One agent's observations, sorted by time (seconds), positions in f64 so that
/// large world coordinates keep their precision.
#[derive(Debug, Clone, PartialEq)]
pub struct Track {
    /// Agent id, as in the rows.
    pub id: String,
    /// Observation times in seconds, ascending.
    pub t: Vec<f64>,
    /// Positions `[x, y]` at those times, in the input's coordinates (metres).
    pub p: Vec<[f64; 2]>,
}

/// A resampled history: `n` positions, oldest first, the last at the query time.
#[derive(Debug, Clone, PartialEq)]
pub struct History {
    /// The `n` positions `[x, y]`, oldest first, one every `dt` seconds.
    pub pts: Vec<[f64; 2]>,
    /// How many of them come from the track itself; the older rest were completed by
    /// extrapolating the earliest observed velocity backwards.
    pub observed: usize,
}

/// Times closer than this (seconds) count as equal.
pub const TIME_EPS: f64 = 1e-6;

/// Groups rows into tracks, in id order (`seconds_per_unit` converts the time column to seconds),
/// sorting each by time. Two rows of the same agent at the same time are refused,
/// naming both lines.
pub fn tracks_from_rows(rows: &[Row], file: &Path, seconds_per_unit: f64) -> Result<Vec<Track>> {
    if !(seconds_per_unit.is_finite() && seconds_per_unit > 0.0) {
        return Err(DataError::Parse {
            file: file.to_path_buf(),
            line: rows.first().map_or(1, |r| r.line),
            msg: format!(
                "the time step gives {seconds_per_unit:e} s per time unit; state it with --dt"
            ),
        });
    }
    let mut by_id: HashMap<&str, Vec<&Row>> = HashMap::new();
    for r in rows {
        by_id.entry(r.id.as_str()).or_default().push(r);
    }
    // Tracks in id order (numeric ids numerically), whatever the row order.
    let mut order: Vec<&str> = by_id.keys().copied().collect();
    crate::window::sort_ids(&mut order);
    let mut out = Vec::with_capacity(order.len());
    for id in order {
        let mut v = by_id.remove(id).unwrap_or_default();
        v.sort_by(|a, b| a.t.total_cmp(&b.t).then(a.line.cmp(&b.line)));
        for w in v.windows(2) {
            if (w[1].t - w[0].t).abs() * seconds_per_unit < TIME_EPS {
                return Err(DataError::Parse {
                    file: file.to_path_buf(),
                    line: w[1].line,
                    msg: format!(
                        "duplicate row for agent {} at time {} (also on line {})",
                        id, w[1].t, w[0].line
                    ),
                });
            }
        }
        if let Some(r) = v.iter().find(|r| !(r.t * seconds_per_unit).is_finite()) {
            return Err(DataError::Parse {
                file: file.to_path_buf(),
                line: r.line,
                msg: format!(
                    "time {} is out of range at {seconds_per_unit:e} s per unit",
                    r.t
                ),
            });
        }
        out.push(Track {
            id: id.to_string(),
            t: v.iter().map(|r| r.t * seconds_per_unit).collect(),
            p: v.iter().map(|r| [r.x, r.y]).collect(),
        });
    }
    Ok(out)
}

/// The longest silence (seconds) between two observations of one agent that
/// interpolation bridges by default; after a longer one the agent starts a new track
/// (a new history, no interpolated positions across the gap).
pub const MAX_GAP: f64 = 2.0;

/// Cuts each track wherever two consecutive observations are more than `max_gap`
/// seconds apart. Pieces keep the id and the order; at any time at most one piece of
/// an id spans it. Bounding the gap also bounds how far a streaming reader must look
/// around a prediction time.
pub fn split_at_gaps(tracks: Vec<Track>, max_gap: f64) -> Vec<Track> {
    let mut out = Vec::with_capacity(tracks.len());
    for tr in tracks {
        let mut start = 0;
        for i in 1..=tr.t.len() {
            if i == tr.t.len() || tr.t[i] - tr.t[i - 1] > max_gap {
                out.push(Track {
                    id: tr.id.clone(),
                    t: tr.t[start..i].to_vec(),
                    p: tr.p[start..i].to_vec(),
                });
                start = i;
            }
        }
    }
    out
}

impl Track {
    /// Time of the first observation (seconds); panics on an empty track.
    pub fn first(&self) -> f64 {
        self.t[0]
    }
    /// Time of the last observation (seconds); panics on an empty track.
    pub fn last(&self) -> f64 {
        self.t[self.t.len() - 1]
    }

    /// Whether the track spans time `t`.
    pub fn covers(&self, t: f64) -> bool {
        !self.t.is_empty() && self.first() - TIME_EPS <= t && t <= self.last() + TIME_EPS
    }

    /// Linear interpolation at `t` (None outside the track's span).
    pub fn at(&self, t: f64) -> Option<[f64; 2]> {
        if !self.covers(t) {
            return None;
        }
        let i = self.t.partition_point(|&x| x < t - TIME_EPS);
        if i >= self.t.len() {
            return self.p.last().copied();
        }
        if (self.t[i] - t).abs() <= TIME_EPS || i == 0 {
            return Some(self.p[i]);
        }
        let (t0, t1) = (self.t[i - 1], self.t[i]);
        let a = (t - t0) / (t1 - t0);
        let (p0, p1) = (self.p[i - 1], self.p[i]);
        Some([p0[0] + a * (p1[0] - p0[0]), p0[1] + a * (p1[1] - p0[1])])
    }

    /// `n` positions at `t − (n−1)·dt … t`. Needs the track to span `t` and at least
    /// two grid points inside the track; older missing points are completed by
    /// constant-velocity extrapolation backwards from the two earliest grid points.
    pub fn history(&self, t: f64, dt: f64, n: usize) -> Option<History> {
        if !self.covers(t) || n == 0 {
            return None;
        }
        let mut got: Vec<[f64; 2]> = Vec::with_capacity(n);
        for k in 0..n {
            match self.at(t - k as f64 * dt) {
                Some(p) => got.push(p),
                None => break,
            }
        }
        if got.len() < 2.min(n) {
            return None;
        }
        let observed = got.len();
        while got.len() < n {
            let m = got.len();
            let (a, b) = (got[m - 1], got[m - 2]);
            got.push([2.0 * a[0] - b[0], 2.0 * a[1] - b[1]]);
        }
        got.reverse();
        Some(History { pts: got, observed })
    }

    /// Positions at `t + dt … t + n·dt` where the track has them.
    pub fn future(&self, t: f64, dt: f64, n: usize) -> Vec<Option<[f64; 2]>> {
        (1..=n).map(|k| self.at(t + k as f64 * dt)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(t: f64, id: &str, x: f64, line: u64) -> Row {
        Row {
            t,
            id: id.into(),
            x,
            y: -x,
            line,
        }
    }

    #[test]
    fn sorts_interpolates_and_completes() {
        // 10 Hz, unsorted, 1 m/s along x.
        let mut rows: Vec<Row> = (0..20)
            .map(|i| row(i as f64 * 0.1, "a", i as f64 * 0.1, i + 1))
            .collect();
        rows.reverse();
        let tr = tracks_from_rows(&rows, Path::new("f"), 1.0).unwrap();
        assert_eq!(tr.len(), 1);
        let h = tr[0].history(1.9, 0.4, 8).unwrap();
        assert_eq!(h.observed, 5); // 1.9, 1.5, 1.1, 0.7, 0.3
        assert_eq!(h.pts.len(), 8);
        for (k, p) in h.pts.iter().enumerate() {
            let want = 1.9 - (7 - k) as f64 * 0.4;
            assert!((p[0] - want).abs() < 1e-9, "{k}: {p:?} vs {want}");
        }
        let f = tr[0].future(1.5, 0.4, 3);
        assert!(f[0].is_some() && f[1].is_none());
    }

    #[test]
    fn long_gaps_split_tracks() {
        let rows: Vec<Row> = [0.0, 0.4, 0.8, 5.0, 5.4]
            .iter()
            .enumerate()
            .map(|(i, &t)| row(t, "a", t, i as u64 + 1))
            .collect();
        let tr = split_at_gaps(
            tracks_from_rows(&rows, Path::new("f"), 1.0).unwrap(),
            MAX_GAP,
        );
        assert_eq!(tr.len(), 2);
        assert_eq!((tr[0].t.len(), tr[1].t.len()), (3, 2));
        assert!(tr.iter().all(|t| t.id == "a"));
        // Inside the gap no piece spans the time; after it the history is fresh.
        assert!(!tr.iter().any(|t| t.covers(3.0)));
        assert_eq!(tr[1].history(5.4, 0.4, 8).unwrap().observed, 2);
        // A gap of exactly max_gap is still bridged.
        assert_eq!(split_at_gaps(tr.clone(), 10.0).len(), 2);
        let one = tracks_from_rows(&rows[..4], Path::new("f"), 1.0).unwrap();
        assert_eq!(split_at_gaps(one, 4.5).len(), 1);
    }

    #[test]
    fn single_points_and_duplicates() {
        let tr = tracks_from_rows(&[row(0.0, "a", 0.0, 1)], Path::new("f"), 1.0).unwrap();
        assert!(tr[0].history(0.0, 0.4, 8).is_none());
        let e = tracks_from_rows(
            &[row(0.0, "a", 0.0, 1), row(0.0, "a", 1.0, 2)],
            Path::new("f"),
            1.0,
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("f:2") && e.contains("line 1"), "{e}");
    }
}
