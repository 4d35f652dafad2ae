//! The input file as tracks: streamed through a sliding window when its rows are in
//! time order, held whole otherwise; and its time unit in seconds.

use crate::common::BadInput;
use anyhow::Result;
use lbebm_data::read::{read_track_file, Format, RowReader, TimeKind};
use lbebm_data::stream::{scan, Window};
use lbebm_data::{split_at_gaps, tracks_from_rows, Track};
use lbebm_types::{DT, OBS_LEN, PRED_LEN};
use std::path::Path;

/// Seconds per unit of the time column, from the distinct times (ascending).
fn seconds_per_unit(kind: TimeKind, ts: &[f64], dt: Option<f64>) -> Result<f64> {
    match (kind, dt) {
        (TimeKind::Seconds, Some(_)) => {
            Err(BadInput("--dt applies to frame-numbered input; this file's time column `t` is already in seconds".into()).into())
        }
        (TimeKind::Seconds, None) => Ok(1.0),
        (TimeKind::Frame, Some(d)) if d.is_finite() && d > 0.0 => Ok(d),
        (TimeKind::Frame, Some(d)) => Err(BadInput(format!("--dt must be a positive number of seconds, not {d}")).into()),
        (TimeKind::Frame, None) => {
            let mut steps: Vec<f64> = ts.windows(2).map(|w| w[1] - w[0]).filter(|d| *d > 0.0).collect();
            if steps.is_empty() {
                return Ok(DT);
            }
            steps.sort_by(f64::total_cmp);
            let step = steps[steps.len() / 2];
            let spu = DT / step;
            if !spu.is_finite() {
                return Err(BadInput(format!(
                    "the frames' step {step:e} is too small to be 0.4 s; state the seconds per frame with --dt"
                ))
                .into());
            }
            Ok(spu)
        }
    }
}

/// The input's tracks, whole in memory or through a sliding window.
pub(super) struct Source {
    pub(super) time: TimeKind,
    /// Seconds per unit of the time column.
    pub(super) spu: f64,
    /// Distinct values of the time column (input units).
    pub(super) times: Vec<f64>,
    /// The corner of the positions' bounding box: the local origin of the model's
    /// inputs (independent of row order).
    pub(super) origin: [f64; 2],
    /// Seconds.
    pub(super) t_first: f64,
    /// Seconds.
    pub(super) t_last: f64,
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
    pub(super) fn open(path: &Path, format: Format, dt: Option<f64>, max_gap: f64) -> Result<Self> {
        let back = (OBS_LEN - 1) as f64 * DT;
        let ahead = PRED_LEN as f64 * DT;
        let range_err = |t: f64, spu: f64, line: u64| {
            BadInput(format!(
                "{}:{line}: time {t} is out of range at {spu:e} s per unit",
                path.display()
            ))
        };
        if let Some(sc) = scan(RowReader::open(path, format)?)? {
            let spu = seconds_per_unit(sc.time, &sc.times, dt)?;
            let (first, last) = (sc.times[0], sc.times[sc.times.len() - 1]);
            for (t, line) in [(first, sc.first_line), (last, sc.last_line)] {
                if !(t * spu).is_finite() {
                    return Err(range_err(t, spu, line).into());
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
        let spu = seconds_per_unit(tf.time, &times, dt)?;
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
    pub(super) fn tracks_at(&mut self, t: f64) -> Result<&[Track]> {
        match &mut self.tracks {
            Tracks::All(v) => Ok(v),
            Tracks::Window(w) => Ok(w.tracks_at(t)?),
        }
    }
}

/// Seconds back to the input's time unit, rounded to 1e-9 of a unit (the 0.4 s grid
/// arithmetic would otherwise print 9.999999999999998 for frame 10).
pub(super) fn input_time(t_sec: f64, spu: f64) -> f64 {
    ((t_sec / spu) * 1e9).round() / 1e9
}
