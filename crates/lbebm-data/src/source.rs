//! A track file as a source of predictions: its tracks streamed through a sliding
//! window when its rows are in time order, held whole otherwise; its time unit in
//! seconds; and the local origin of its positions. What `lbebm predict` reads, for any
//! front end that predicts from files.

use crate::read::{read_track_file, Format, RowReader, TimeKind};
use crate::stream::{scan, Window};
use crate::tracks::{split_at_gaps, tracks_from_rows, Track};
use crate::{DataError, Result};
use lbebm_types::{DT, OBS_LEN, PRED_LEN};
use std::path::Path;

fn time_err(path: &Path, msg: String) -> DataError {
    DataError::Time {
        file: path.to_path_buf(),
        msg,
    }
}

/// Seconds per unit of the time column, from the distinct times (ascending).
pub fn seconds_per_unit(path: &Path, kind: TimeKind, ts: &[f64], dt: Option<f64>) -> Result<f64> {
    match (kind, dt) {
        (TimeKind::Seconds, Some(_)) => {
            Err(time_err(path, "--dt applies to frame-numbered input; this file's time column `t` is already in seconds".into()))
        }
        (TimeKind::Seconds, None) => Ok(1.0),
        (TimeKind::Frame, Some(d)) if d.is_finite() && d > 0.0 => Ok(d),
        (TimeKind::Frame, Some(d)) => Err(time_err(path, format!("--dt must be a positive number of seconds, not {d}"))),
        (TimeKind::Frame, None) => {
            let mut steps: Vec<f64> = ts.windows(2).map(|w| w[1] - w[0]).filter(|d| *d > 0.0).collect();
            if steps.is_empty() {
                return Ok(DT);
            }
            steps.sort_by(f64::total_cmp);
            let step = steps[steps.len() / 2];
            let spu = DT / step;
            if !spu.is_finite() {
                return Err(time_err(path, format!(
                    "the frames' step {step:e} is too small to be 0.4 s; state the seconds per frame with --dt"
                )));
            }
            Ok(spu)
        }
    }
}

/// A track file's tracks, whole in memory or through a sliding window.
pub struct Source {
    /// What the time column counts.
    pub time: TimeKind,
    /// Seconds per unit of the time column.
    pub spu: f64,
    /// Distinct values of the time column (input units).
    pub times: Vec<f64>,
    /// The corner of the positions' bounding box: the local origin of the model's
    /// inputs (independent of row order).
    pub origin: [f64; 2],
    /// Seconds.
    pub t_first: f64,
    /// Seconds.
    pub t_last: f64,
    tracks: Tracks,
}

enum Tracks {
    /// Rows out of time order: the whole file is held.
    All(Vec<Track>),
    /// Rows in time order (recorded data): only those near the prediction time are held,
    /// so memory does not grow with the file.
    Window(Box<Window<'static>>),
}

impl Source {
    /// Opens `path` (`format`; `dt` seconds per frame, or found from the frames' most
    /// common step; tracks cut at silences longer than `max_gap` seconds).
    pub fn open(path: &Path, format: Format, dt: Option<f64>, max_gap: f64) -> Result<Self> {
        let back = (OBS_LEN - 1) as f64 * DT;
        let ahead = PRED_LEN as f64 * DT;
        let range_err = |t: f64, spu: f64, line: u64| DataError::Parse {
            file: path.to_path_buf(),
            line,
            msg: format!("time {t} is out of range at {spu:e} s per unit"),
        };
        if let Some(sc) = scan(RowReader::open(path, format)?)? {
            let spu = seconds_per_unit(path, sc.time, &sc.times, dt)?;
            let (first, last) = (sc.times[0], sc.times[sc.times.len() - 1]);
            for (t, line) in [(first, sc.first_line), (last, sc.last_line)] {
                if !(t * spu).is_finite() {
                    return Err(range_err(t, spu, line));
                }
            }
            let w = Window::new(RowReader::open(path, format)?, spu, max_gap, back, ahead);
            return Ok(Self {
                time: sc.time,
                spu,
                origin: sc.origin,
                t_first: first * spu,
                t_last: last * spu,
                times: sc.times,
                tracks: Tracks::Window(Box::new(w)),
            });
        }
        tracing::info!(
            "{}: rows are not in time order; reading the whole file",
            path.display()
        );
        let tf = read_track_file(path, format)?;
        let mut times: Vec<f64> = tf.rows.iter().map(|r| r.t).collect();
        times.sort_by(f64::total_cmp);
        times.dedup();
        let spu = seconds_per_unit(path, tf.time, &times, dt)?;
        let tracks = split_at_gaps(tracks_from_rows(&tf.rows, path, spu)?, max_gap);
        let origin = lbebm_types::local_origin(tf.rows.iter().map(|r| [r.x, r.y]));
        let t_first = tracks
            .iter()
            .map(Track::first)
            .fold(f64::INFINITY, f64::min);
        let t_last = tracks
            .iter()
            .map(Track::last)
            .fold(f64::NEG_INFINITY, f64::max);
        Ok(Self {
            time: tf.time,
            spu,
            times,
            origin,
            t_first,
            t_last,
            tracks: Tracks::All(tracks),
        })
    }

    /// Tracks enough for predictions at `t` (seconds; non-decreasing from call to call).
    pub fn tracks_at(&mut self, t: f64) -> Result<&[Track]> {
        match &mut self.tracks {
            Tracks::All(v) => Ok(v),
            Tracks::Window(w) => Ok(w.tracks_at(t)?),
        }
    }
}

/// Seconds back to the input's time unit, rounded to 1e-9 of a unit (the 0.4 s grid
/// arithmetic would otherwise print 9.999999999999998 for frame 10).
pub fn input_time(t_sec: f64, spu: f64) -> f64 {
    ((t_sec / spu) * 1e9).round() / 1e9
}

/// Indices `0..xs.len()` cut into groups of at most `max` for the model's scenes (social
/// pooling grows with the square of a scene's size): in order when they fit in one
/// group, else sorted by `xs` (each agent's last x) so that neighbours stay together.
pub fn spatial_groups(xs: &[f64], max: usize) -> Vec<Vec<usize>> {
    if xs.is_empty() || max == 0 {
        return vec![];
    }
    let mut idx: Vec<usize> = (0..xs.len()).collect();
    if xs.len() > max {
        idx.sort_by(|&a, &b| xs[a].total_cmp(&xs[b]));
    }
    idx.chunks(max).map(|c| c.to_vec()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spatial_groups_keep_neighbours_together() {
        assert_eq!(spatial_groups(&[3.0, 1.0, 2.0], 5), vec![vec![0, 1, 2]]);
        assert_eq!(
            spatial_groups(&[3.0, 1.0, 2.0, 0.0], 2),
            vec![vec![3, 1], vec![2, 0]]
        );
        assert!(spatial_groups(&[], 2).is_empty());
    }

    #[test]
    fn seconds_per_unit_from_frames_and_refusals() {
        let p = Path::new("f");
        let spu = seconds_per_unit(p, TimeKind::Frame, &[0.0, 10.0, 20.0], None).unwrap();
        assert!((spu - 0.04).abs() < 1e-12);
        assert_eq!(
            seconds_per_unit(p, TimeKind::Seconds, &[0.0], None).unwrap(),
            1.0
        );
        assert!(seconds_per_unit(p, TimeKind::Seconds, &[0.0], Some(0.1)).is_err());
        assert!(seconds_per_unit(p, TimeKind::Frame, &[0.0], Some(-1.0)).is_err());
    }
}
