//! Bounded-memory reading of time-ordered track files, in two passes.
//!
//! [`scan`] reads the file once and keeps only what is small: the distinct times, the
//! bounding-box corner, the row count. When the rows come in time order (as recorded
//! data does), a [`Window`] then reads the file a second time and holds only the rows
//! near the prediction time, so a file of any length is predicted in bounded memory.
//! Files in another order are the caller's to load whole.

use crate::read::{Row, RowReader, TimeKind};
use crate::tracks::{split_at_gaps, tracks_from_rows, Track, TIME_EPS};
use crate::{DataError, Result};
use std::collections::{HashMap, VecDeque};

/// What the first pass learns.
#[derive(Debug, Clone)]
pub struct Scan {
    /// What the time column counts.
    pub time: TimeKind,
    /// Number of rows read.
    pub(crate) rows: u64,
    /// Distinct values of the time column (input units), ascending.
    pub times: Vec<f64>,
    /// Smallest x and smallest y.
    pub origin: [f64; 2],
    /// Line of the first row (for errors about the time range).
    pub first_line: u64,
    /// Line of the last row (for errors about the time range).
    pub last_line: u64,
}

/// First pass. `Ok(None)` as soon as a row goes back in time: the file is not in time
/// order. Two rows of one agent at exactly the same time are refused here, as
/// [`tracks_from_rows`] would.
pub fn scan(mut r: RowReader<'_>) -> Result<Option<Scan>> {
    let mut s = Scan {
        time: r.time(),
        rows: 0,
        times: Vec::new(),
        origin: [f64::INFINITY, f64::INFINITY],
        first_line: 0,
        last_line: 0,
    };
    // Ids seen at the current time, for the duplicate check.
    let mut at_time: HashMap<String, u64> = HashMap::new();
    while let Some(row) = r.next_row()? {
        match s.times.last() {
            Some(&last) if row.t < last => return Ok(None),
            Some(&last) if row.t == last => {}
            _ => {
                s.times.push(row.t);
                at_time.clear();
            }
        }
        if let Some(prev) = at_time.insert(row.id.clone(), row.line) {
            return Err(DataError::Parse {
                file: r.path().to_path_buf(),
                line: row.line,
                msg: format!(
                    "duplicate row for agent {} at time {} (also on line {prev})",
                    row.id, row.t
                ),
            });
        }
        s.origin = [s.origin[0].min(row.x), s.origin[1].min(row.y)];
        if s.rows == 0 {
            s.first_line = row.line;
        }
        s.last_line = row.line;
        s.rows += 1;
    }
    if s.rows == 0 {
        return Err(DataError::Empty {
            file: r.path().to_path_buf(),
        });
    }
    Ok(Some(s))
}

/// Second pass over a time-ordered file: the tracks around a time, from the rows within
/// `back + max_gap` before it and `ahead + max_gap` after it. Within that reach they
/// are exactly the tracks of the whole file cut at gaps longer than `max_gap`
/// ([`split_at_gaps`]): an interpolation never needs a row further away, since a gap
/// longer than `max_gap` ends a track.
pub struct Window<'a> {
    reader: RowReader<'a>,
    spu: f64,
    max_gap: f64,
    back: f64,
    ahead: f64,
    rows: VecDeque<Row>,
    pending: Option<Row>,
    tracks: Vec<Track>,
    stale: bool,
    last_t: f64,
    peak_rows: usize,
}

/// Slack (seconds) on the window's edges, above the tracks' time tolerance.
const EDGE: f64 = 1e3 * TIME_EPS;

impl<'a> Window<'a> {
    /// `spu`: seconds per unit of the time column. `back` / `ahead`: how far before and
    /// after a query time its predictions look (history and ground-truth future).
    pub fn new(reader: RowReader<'a>, spu: f64, max_gap: f64, back: f64, ahead: f64) -> Self {
        Self {
            reader,
            spu,
            max_gap,
            back,
            ahead,
            rows: VecDeque::new(),
            pending: None,
            tracks: Vec::new(),
            stale: true,
            last_t: f64::NEG_INFINITY,
            peak_rows: 0,
        }
    }

    /// The tracks that matter at `t` (seconds). Calls must come with non-decreasing `t`.
    pub fn tracks_at(&mut self, t: f64) -> Result<&[Track]> {
        debug_assert!(t >= self.last_t, "Window::tracks_at going back in time");
        self.last_t = t;
        let keep_from = t - self.back - self.max_gap - EDGE;
        let read_to = t + self.ahead + self.max_gap + EDGE;
        loop {
            let row = match self.pending.take() {
                Some(r) => r,
                None => match self.reader.next_row()? {
                    Some(r) => r,
                    None => break,
                },
            };
            if row.t * self.spu > read_to {
                self.pending = Some(row);
                break;
            }
            self.rows.push_back(row);
            self.stale = true;
            // Drop what is already too old while reading, so that a long stretch
            // before the first query time is never held at once.
            self.drop_before(keep_from);
            self.peak_rows = self.peak_rows.max(self.rows.len());
        }
        self.drop_before(keep_from);
        if self.stale {
            let rows = self.rows.make_contiguous();
            self.tracks = split_at_gaps(
                tracks_from_rows(rows, self.reader.path(), self.spu)?,
                self.max_gap,
            );
            self.stale = false;
        }
        Ok(&self.tracks)
    }

    /// Forgets the rows before `t` (seconds).
    fn drop_before(&mut self, t: f64) {
        while self.rows.front().is_some_and(|r| r.t * self.spu < t) {
            self.rows.pop_front();
            self.stale = true;
        }
    }

    /// The most rows held at once so far.
    pub fn peak_rows(&self) -> usize {
        self.peak_rows
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::read::{read_track_bytes, Format};
    use std::path::Path;

    /// A time-ordered Social-GAN text: agents come and go, with short and long gaps.
    fn recording() -> String {
        let mut s = String::new();
        let mut seed = 7u64;
        let mut rnd = move || {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (seed >> 33) as f64 / (1u64 << 31) as f64
        };
        for f in 0..400 {
            for a in 0..12 {
                // Agent a is seen in 1 frame of (a % 4 + 1), and never in frames
                // 100..100 + 8a (a long gap for the later agents).
                let gap = (100..100 + 8 * a).contains(&f);
                if f % (a % 4 + 1) == 0 && !gap && rnd() > 0.1 {
                    s += &format!(
                        "{}\t{a}\t{:.3}\t{:.3}\n",
                        f * 4,
                        f as f64 * 0.1 + a as f64,
                        rnd()
                    );
                }
            }
        }
        s
    }

    #[test]
    fn window_tracks_match_the_whole_file() {
        let text = recording();
        let path = Path::new("rec.txt");
        let whole = read_track_bytes(path, text.as_bytes(), Format::Sgan).unwrap();
        let spu = 0.1; // frames 4 apart are 0.4 s
        let all = split_at_gaps(tracks_from_rows(&whole.rows, path, spu).unwrap(), 2.0);
        let s = scan(RowReader::from_reader(path, text.as_bytes(), Format::Sgan).unwrap())
            .unwrap()
            .unwrap();
        assert_eq!(s.rows as usize, whole.rows.len());
        let (back, ahead) = (2.8, 4.8);
        let mut w = Window::new(
            RowReader::from_reader(path, text.as_bytes(), Format::Sgan).unwrap(),
            spu,
            2.0,
            back,
            ahead,
        );
        let mut compared = 0;
        for &tu in &s.times {
            let t = tu * spu;
            let near = w.tracks_at(t).unwrap().to_vec();
            for tr in all.iter().filter(|tr| tr.covers(t)) {
                let mine: Vec<&Track> = near
                    .iter()
                    .filter(|x| x.id == tr.id && x.covers(t))
                    .collect();
                assert_eq!(mine.len(), 1, "{} at {t}", tr.id);
                assert_eq!(
                    mine[0].history(t, 0.4, 8),
                    tr.history(t, 0.4, 8),
                    "{} at {t}",
                    tr.id
                );
                assert_eq!(
                    mine[0].future(t, 0.4, 12),
                    tr.future(t, 0.4, 12),
                    "{} at {t}",
                    tr.id
                );
                compared += 1;
            }
            assert_eq!(
                near.iter().filter(|x| x.covers(t)).count(),
                all.iter().filter(|x| x.covers(t)).count()
            );
        }
        assert!(compared > 1000, "{compared}");
        // 2.8 + 4.8 + 2 × 2 s around a time: about 30 frames of at most 12 agents.
        assert!(w.peak_rows() < 12 * 32, "{}", w.peak_rows());
    }

    #[test]
    fn scan_refuses_exact_duplicates_and_reports_disorder() {
        let p = Path::new("d.txt");
        let dup = "0\t1\t0\t0\n0\t2\t0\t0\n0\t1\t1\t1\n";
        let e = scan(RowReader::from_reader(p, dup.as_bytes(), Format::Sgan).unwrap())
            .unwrap_err()
            .to_string();
        assert!(e.contains("d.txt:3") && e.contains("line 1"), "{e}");
        let back = "0\t1\t0\t0\n10\t1\t1\t0\n5\t2\t0\t0\n";
        assert!(
            scan(RowReader::from_reader(p, back.as_bytes(), Format::Sgan).unwrap())
                .unwrap()
                .is_none()
        );
    }
}
