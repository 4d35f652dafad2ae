//! Shared pieces of the fuzz targets: the path from track-file bytes to model input,
//! as `lbebm predict` and `lbebm eval` take it, with the invariants checked on the way.

use lbebm_data::read::{read_track_bytes, Format, TimeKind};
use lbebm_data::{sgan_scenes, tracks_from_rows, Row, WindowRule};
use lbebm_types::{AgentWindow, Normalizer, Scene, Vec2, DT, OBS_LEN, PRED_LEN};
use std::path::Path;

/// The name parse errors carry.
pub const FILE: &str = "fuzz-input";

/// With `--features strict`, the product bugs already reported (each with an input in
/// fuzz/regressions/ and a `// BUG:` test in tests/reliability.rs) stop the fuzzer too.
/// Without it they are stepped around, so a run can find new ones.
pub const STRICT: bool = cfg!(feature = "strict");

/// Hands out the bytes in small reads of varying size, so that line ends fall on read
/// boundaries.
struct Chunks<'a>(&'a [u8], usize);

impl std::io::Read for Chunks<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.1 = self.1 % 7 + 1;
        let n = self.1.min(buf.len()).min(self.0.len());
        buf[..n].copy_from_slice(&self.0[..n]);
        self.0 = &self.0[n..];
        Ok(n)
    }
}

/// The streaming reader, fed in small pieces, gives exactly the rows of a whole read.
fn assert_streams_alike(data: &[u8], format: Format, rows: &[Row]) {
    let mut r = lbebm_data::RowReader::from_reader(Path::new(FILE), Chunks(data, 0), format)
        .expect("a whole read succeeded but the streaming one failed to open");
    for want in rows {
        let got = r
            .next_row()
            .expect("a whole read succeeded but the streaming one failed");
        assert_eq!(got.as_ref(), Some(want), "streamed row differs");
    }
    assert!(matches!(r.next_row(), Ok(None)), "streaming read has extra rows");
}

/// Parses `data` and checks what every successful parse promises: at least one row,
/// finite times and coordinates, coordinates within `MAX_COORD`, and 1-based strictly
/// increasing line numbers (every record ends at a line end once the reader has turned
/// `\r` and `\r\n` into `\n`; see fuzz/README.md). A streaming read in small pieces
/// gives the same rows. Errors name the file and fit on one line.
pub fn parse(data: &[u8], format: Format) -> Option<(Vec<Row>, TimeKind)> {
    match read_track_bytes(Path::new(FILE), data, format) {
        Ok(tf) => {
            assert!(!tf.rows.is_empty(), "Ok with no rows");
            let mut last_line = 0;
            for r in &tf.rows {
                assert!(r.t.is_finite(), "non-finite time {r:?}");
                assert!(
                    r.x.is_finite() && r.y.is_finite(),
                    "non-finite coordinate {r:?}"
                );
                assert!(
                    r.x.abs() <= lbebm_data::read::MAX_COORD
                        && r.y.abs() <= lbebm_data::read::MAX_COORD,
                    "coordinate out of range {r:?}"
                );
                assert!(
                    r.line >= 1 && r.line > last_line,
                    "line numbers {last_line} then {}",
                    r.line
                );
                last_line = r.line;
            }
            assert_streams_alike(data, format, &tf.rows);
            Some((tf.rows, tf.time))
        }
        Err(e) => {
            let m = e.to_string();
            assert!(m.starts_with(FILE), "error does not name the file: {m}");
            // Known: a CSV header is echoed raw, so a quoted header field holding a
            // newline gives a multi-line message
            // (regressions/parse_auto/header-newline-in-error-message).
            if STRICT || !m.contains("(found: ") {
                assert!(!m.contains('\n'), "multi-line error: {m:?}");
            }
            None
        }
    }
}

/// Seconds per time unit, as `lbebm predict` computes it without `--dt`
/// (a copy of `seconds_per_unit` in src/cmd_predict.rs).
pub fn seconds_per_unit(kind: TimeKind, rows: &[Row]) -> f64 {
    if kind == TimeKind::Seconds {
        return 1.0;
    }
    let mut ts: Vec<f64> = rows.iter().map(|r| r.t).collect();
    ts.sort_by(f64::total_cmp);
    ts.dedup();
    let mut steps: Vec<f64> = ts
        .windows(2)
        .map(|w| w[1] - w[0])
        .filter(|d| *d > 0.0)
        .collect();
    if steps.is_empty() {
        return DT;
    }
    steps.sort_by(f64::total_cmp);
    DT / steps[steps.len() / 2]
}

/// Rows → tracks → 8-step histories at the last time and at a few earlier grid times →
/// scenes relative to the input's bounding-box corner (as `predict` builds them) →
/// model-frame coordinates. Every point that reaches the model must be finite.
/// Also cuts the rows into Social-GAN windows (as `eval`/`train` do).
pub fn build_scenes(rows: &[Row], kind: TimeKind) -> Vec<Scene> {
    let spu = seconds_per_unit(kind, rows);
    let mut scenes = Vec::new();
    if let Ok(tracks) = tracks_from_rows(rows, Path::new(FILE), spu) {
        let origin = rows.iter().fold([f64::INFINITY, f64::INFINITY], |o, r| {
            [o[0].min(r.x), o[1].min(r.y)]
        });
        let t_last = tracks
            .iter()
            .map(|t| t.last())
            .fold(f64::NEG_INFINITY, f64::max);
        // Bounded: --every-step would walk the whole span, which is the CLI's business.
        for k in 0..4 {
            let t = t_last - k as f64 * DT;
            let mut agents = Vec::new();
            for tr in tracks.iter().filter(|tr| tr.covers(t)) {
                assert!(!tr.t.is_empty() && tr.t.len() == tr.p.len());
                assert!(tr.t.windows(2).all(|w| w[0] <= w[1]), "track not sorted");
                if let Some(h) = tr.history(t, DT, OBS_LEN) {
                    assert_eq!(h.pts.len(), OBS_LEN);
                    assert!((2..=OBS_LEN).contains(&h.observed));
                    // Known: times beyond f64 range after the frame → seconds conversion
                    // become inf and interpolate to NaN
                    // (regressions/scene_builder/time-overflow-gives-nan-history).
                    let overflow = tr.t.iter().any(|x| !x.is_finite());
                    for p in h.pts.iter().filter(|_| STRICT || !overflow) {
                        assert!(
                            p[0].is_finite() && p[1].is_finite(),
                            "non-finite history point {p:?} for agent {} at t={t} (track times {:?})",
                            tr.id,
                            tr.t
                        );
                    }
                    if overflow && !STRICT {
                        continue;
                    }
                    agents.push(AgentWindow {
                        id: tr.id.clone(),
                        obs: std::array::from_fn(|i| {
                            let q = h.pts[i];
                            Vec2::new((q[0] - origin[0]) as f32, (q[1] - origin[1]) as f32)
                        }),
                        future: None,
                    });
                }
                let _ = tr.future(t, DT, PRED_LEN);
            }
            if !agents.is_empty() {
                scenes.push(Scene {
                    source: FILE.into(),
                    t,
                    agents,
                });
            }
        }
    }
    // Known: frames -0 and 0 in one file panic in sgan_scenes (dedup treats them as
    // equal, the index does not) (regressions/scene_builder/negative-zero-frame-...).
    let signed_zeros = rows.iter().any(|r| r.t == 0.0 && r.t.is_sign_negative())
        && rows.iter().any(|r| r.t == 0.0 && r.t.is_sign_positive());
    if kind == TimeKind::Frame && (STRICT || !signed_zeros) {
        if let Ok(ws) = sgan_scenes(rows, Path::new(FILE), WindowRule::SGAN) {
            scenes.extend(ws.into_iter().take(16));
        }
    }
    for s in &scenes {
        for a in &s.agents {
            let n = Normalizer::for_window(a, 60.0);
            for p in a.obs.iter().chain(a.future.iter().flatten()) {
                let q = n.to_model(*p);
                assert!(
                    q.x.is_finite() && q.y.is_finite(),
                    "non-finite model input {q:?}"
                );
            }
        }
    }
    scenes
}
