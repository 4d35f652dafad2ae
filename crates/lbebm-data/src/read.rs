//! Readers for track files.

use crate::{DataError, Result};
use csv::{ByteRecord, ReaderBuilder, Trim};
use std::io::Read;
use std::path::Path;

/// One observation of one agent.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// Frame number (Social-GAN files, CSV `frame`) or seconds (CSV `t`).
    pub t: f64,
    pub id: String,
    pub x: f64,
    pub y: f64,
    /// 1-based line in the source file, for error messages further down the pipeline.
    pub line: u64,
}

/// What the time column counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeKind {
    Frame,
    Seconds,
}

/// Input formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Decide from the first non-empty line: a header naming columns means CSV.
    Auto,
    /// Social-GAN text: `frame id x y`, tab or space separated, no header.
    Sgan,
    /// CSV with a header naming `frame` or `t`, `id`, `x`, `y` (other columns ignored).
    Csv,
}

/// The rows of one file, in file order.
#[derive(Debug, Clone)]
pub struct TrackFile {
    pub rows: Vec<Row>,
    pub time: TimeKind,
}

fn parse_err(file: &Path, line: u64, msg: impl Into<String>) -> DataError {
    DataError::Parse {
        file: file.to_path_buf(),
        line,
        msg: msg.into(),
    }
}

fn field<'a>(file: &Path, line: u64, raw: &'a [u8], what: &str) -> Result<&'a str> {
    std::str::from_utf8(raw)
        .map_err(|_| parse_err(file, line, format!("{what} is not valid UTF-8")))
}

fn number(file: &Path, line: u64, raw: &[u8], what: &str) -> Result<f64> {
    let s = field(file, line, raw, what)?;
    let v: f64 = s
        .parse()
        .map_err(|_| parse_err(file, line, format!("{what} {s:?} is not a number")))?;
    if !v.is_finite() {
        return Err(parse_err(file, line, format!("{what} {s:?} is not finite")));
    }
    // −0 and 0 are the same time or place; adding 0 turns −0 into +0, so that values
    // compare equal bit for bit too.
    Ok(v + 0.0)
}

/// Coordinates beyond this are refused: they cannot be metres on Earth, and squaring
/// them in the metrics would overflow f32.
pub const MAX_COORD: f64 = 1e7;

fn coord(file: &Path, line: u64, raw: &[u8], what: &str) -> Result<f64> {
    let v = number(file, line, raw, what)?;
    if v.abs() > MAX_COORD {
        return Err(parse_err(
            file,
            line,
            format!("{what} {v:e} is out of range (|value| > {MAX_COORD:e})"),
        ));
    }
    Ok(v)
}

/// Canonical id text: Social-GAN ids are written as floats (`1.0`), keep `1`.
fn canonical_id(s: &str) -> String {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && v.fract() == 0.0 && v.abs() < 1e15 => format!("{}", v as i64),
        _ => s.to_string(),
    }
}

/// Reads a whole track file. `Format::Auto` looks at the first non-empty line: if its
/// first field is not a number, it is a CSV header.
pub fn read_track_file(path: &Path, format: Format) -> Result<TrackFile> {
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|mut f| f.read_to_end(&mut bytes))
        .map_err(|source| DataError::Io {
            file: path.to_path_buf(),
            source,
        })?;
    read_track_bytes(path, &bytes, format)
}

/// As [`read_track_file`], on bytes already in memory; `path` only names them in errors.
pub fn read_track_bytes(path: &Path, bytes: &[u8], format: Format) -> Result<TrackFile> {
    // Old Mac line ends (a lone `\r`): the csv crate counts lines by `\n` only, so turn
    // them into `\n` for line numbers that match what an editor shows.
    let normalized;
    let bytes = if has_lone_cr(bytes) {
        normalized = lone_cr_to_lf(bytes);
        &normalized[..]
    } else {
        bytes
    };
    let first = bytes
        .split(|&b| b == b'\n')
        .map(|l| l.trim_ascii())
        .find(|l| !l.is_empty());
    let Some(first) = first else {
        return Err(DataError::Empty {
            file: path.to_path_buf(),
        });
    };
    let format = match format {
        Format::Auto => {
            let tok = first
                .split(|b| b.is_ascii_whitespace() || *b == b',')
                .find(|t| !t.is_empty())
                .unwrap_or(first);
            let numeric = std::str::from_utf8(tok)
                .ok()
                .and_then(|s| s.parse::<f64>().ok())
                .is_some();
            if numeric {
                Format::Sgan
            } else {
                Format::Csv
            }
        }
        f => f,
    };
    let out = match format {
        Format::Sgan => read_sgan(path, bytes, first),
        _ => read_csv(path, bytes),
    }?;
    if out.rows.is_empty() {
        return Err(DataError::Empty {
            file: path.to_path_buf(),
        });
    }
    Ok(out)
}

fn has_lone_cr(b: &[u8]) -> bool {
    b.iter()
        .enumerate()
        .any(|(i, &c)| c == b'\r' && b.get(i + 1) != Some(&b'\n'))
}

fn lone_cr_to_lf(b: &[u8]) -> Vec<u8> {
    b.iter()
        .enumerate()
        .map(|(i, &c)| {
            if c == b'\r' && b.get(i + 1) != Some(&b'\n') {
                b'\n'
            } else {
                c
            }
        })
        .collect()
}

/// Header names for an error message: quoted and escaped, so a hostile header cannot
/// break the one-line reason or send control characters to the terminal.
fn shown_names(names: &[String]) -> String {
    let mut s = names
        .iter()
        .map(|n| format!("{:?}", n.chars().take(40).collect::<String>()))
        .collect::<Vec<_>>()
        .join(", ");
    if s.len() > 200 {
        let cut = (0..=200)
            .rev()
            .find(|&i| s.is_char_boundary(i))
            .unwrap_or(0);
        s.truncate(cut);
        s.push_str(", ...");
    }
    s
}

fn read_sgan(path: &Path, bytes: &[u8], first: &[u8]) -> Result<TrackFile> {
    // Social-GAN files are tab separated; some copies use spaces. Empty fields from
    // repeated separators are dropped, so runs of spaces work too.
    let delim = if first.contains(&b'\t') { b'\t' } else { b' ' };
    let mut rdr = ReaderBuilder::new()
        .has_headers(false)
        .delimiter(delim)
        .flexible(true)
        .trim(Trim::All)
        .from_reader(bytes);
    let mut rows = Vec::new();
    let mut rec = ByteRecord::new();
    loop {
        let line_guess = rdr.position().line();
        match rdr.read_byte_record(&mut rec) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => return Err(parse_err(path, line_guess, e.to_string())),
        }
        let line = rec.position().map(|p| p.line()).unwrap_or(line_guess);
        let fields: Vec<&[u8]> = rec.iter().filter(|f| !f.is_empty()).collect();
        if fields.is_empty() {
            continue;
        }
        if fields.len() < 4 {
            return Err(parse_err(
                path,
                line,
                format!(
                    "too few fields: expected 4 (frame id x y), found {}",
                    fields.len()
                ),
            ));
        }
        if fields.len() > 4 {
            return Err(parse_err(
                path,
                line,
                format!(
                    "too many fields: expected 4 (frame id x y), found {}",
                    fields.len()
                ),
            ));
        }
        let t = number(path, line, fields[0], "frame")?;
        let id = canonical_id(field(path, line, fields[1], "id")?);
        let x = coord(path, line, fields[2], "x")?;
        let y = coord(path, line, fields[3], "y")?;
        rows.push(Row { t, id, x, y, line });
    }
    Ok(TrackFile {
        rows,
        time: TimeKind::Frame,
    })
}

fn read_csv(path: &Path, bytes: &[u8]) -> Result<TrackFile> {
    // Flexible, with the field count checked here, so that blank and whitespace-only
    // lines can be skipped instead of refused.
    let mut rdr = ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .trim(Trim::All)
        .from_reader(bytes);
    let header = rdr
        .byte_headers()
        .map_err(|e| parse_err(path, 1, e.to_string()))?
        .clone();
    let names: Vec<String> = header
        .iter()
        .map(|h| String::from_utf8_lossy(h).trim().to_ascii_lowercase())
        .collect();
    let find = |n: &str| names.iter().position(|h| h == n);
    let (ti, time) = match (find("t"), find("frame")) {
        (Some(i), _) => (i, TimeKind::Seconds),
        (None, Some(i)) => (i, TimeKind::Frame),
        (None, None) => {
            return Err(parse_err(
                path,
                1,
                format!(
                    "missing time column: the header needs `frame` or `t` (found: {})",
                    shown_names(&names)
                ),
            ))
        }
    };
    let need = |n: &str| {
        find(n).ok_or_else(|| {
            parse_err(
                path,
                1,
                format!("missing column `{n}` (found: {})", shown_names(&names)),
            )
        })
    };
    let (ii, xi, yi) = (need("id")?, need("x")?, need("y")?);
    let mut rows = Vec::new();
    let mut rec = ByteRecord::new();
    loop {
        let line_guess = rdr.position().line();
        match rdr.read_byte_record(&mut rec) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => {
                let line = e.position().map(|p| p.line()).unwrap_or(line_guess);
                let msg = match e.kind() {
                    csv::ErrorKind::UnequalLengths {
                        expected_len, len, ..
                    } => format!("expected {expected_len} fields as in the header, found {len}"),
                    _ => e.to_string(),
                };
                return Err(parse_err(path, line, msg));
            }
        }
        let line = rec.position().map(|p| p.line()).unwrap_or(line_guess);
        if rec.iter().all(|f| f.is_empty()) {
            continue;
        }
        if rec.len() != names.len() {
            return Err(parse_err(
                path,
                line,
                format!(
                    "expected {} fields as in the header, found {}",
                    names.len(),
                    rec.len()
                ),
            ));
        }
        let t = number(
            path,
            line,
            &rec[ti],
            if time == TimeKind::Seconds {
                "t"
            } else {
                "frame"
            },
        )?;
        let id_raw = field(path, line, &rec[ii], "id")?;
        if id_raw.is_empty() {
            return Err(parse_err(path, line, "empty id"));
        }
        let id = canonical_id(id_raw);
        let x = coord(path, line, &rec[xi], "x")?;
        let y = coord(path, line, &rec[yi], "y")?;
        rows.push(Row { t, id, x, y, line });
    }
    Ok(TrackFile { rows, time })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(s: &str, f: Format) -> Result<TrackFile> {
        read_track_bytes(Path::new("mem.txt"), s.as_bytes(), f)
    }

    #[test]
    fn sgan_tabs_and_spaces() {
        let a = read("0\t1.0\t1.5\t2.5\n10\t1.0\t1.6\t2.6\n", Format::Auto).unwrap();
        let b = read("0  1   1.5 2.5\n10 1 1.6 2.6\n\n", Format::Sgan).unwrap();
        assert_eq!(a.rows.len(), 2);
        assert_eq!(a.rows, b.rows);
        assert_eq!(a.rows[1].id, "1");
        assert_eq!(a.rows[1].line, 2);
        assert_eq!(a.time, TimeKind::Frame);
    }

    #[test]
    fn sgan_errors_name_line_and_cause() {
        let e = read("0\t1\t1\t1\n10\t1\tabc\t2\n", Format::Sgan).unwrap_err();
        let m = e.to_string();
        assert!(m.contains("mem.txt:2") && m.contains("not a number"), "{m}");
        let m = read("0\t1\t1\n", Format::Sgan).unwrap_err().to_string();
        assert!(m.contains(":1") && m.contains("too few fields"), "{m}");
        let m = read("0\t1\tNaN\t1\n", Format::Sgan)
            .unwrap_err()
            .to_string();
        assert!(m.contains("not finite"), "{m}");
        let m = read("0\t1\tinf\t1\n", Format::Sgan)
            .unwrap_err()
            .to_string();
        assert!(m.contains("not finite"), "{m}");
        let m = read("0\t1\t1e300\t1\n", Format::Sgan)
            .unwrap_err()
            .to_string();
        assert!(m.contains("out of range"), "{m}");
        assert!(matches!(
            read("", Format::Auto),
            Err(DataError::Empty { .. })
        ));
        assert!(matches!(
            read("\n  \n", Format::Sgan),
            Err(DataError::Empty { .. })
        ));
    }

    #[test]
    fn csv_with_header() {
        let f = read("t,id,x,y,extra\n0.0,a,1,2,z\n0.4,a,1.5,2,z\n", Format::Auto).unwrap();
        assert_eq!(f.time, TimeKind::Seconds);
        assert_eq!(f.rows.len(), 2);
        assert_eq!(f.rows[1].id, "a");
        assert_eq!(f.rows[1].line, 3);
        let f = read("frame,ID,X,Y\n3,1,0,0\n", Format::Csv).unwrap();
        assert_eq!(f.time, TimeKind::Frame);
    }

    #[test]
    fn csv_errors() {
        let m = read("t,id,x\n0,1,2\n", Format::Csv)
            .unwrap_err()
            .to_string();
        assert!(m.contains("missing column `y`") && m.contains(":1"), "{m}");
        let m = read("time,id,x,y\n0,1,2,3\n", Format::Csv)
            .unwrap_err()
            .to_string();
        assert!(m.contains("missing time column"), "{m}");
        let m = read("t,id,x,y\n0,1,2,3\n0.4,1,2\n", Format::Csv)
            .unwrap_err()
            .to_string();
        assert!(m.contains(":3") && m.contains("expected 4 fields"), "{m}");
        let m = read("t,id,x,y\n0,1,2,-inf\n", Format::Csv)
            .unwrap_err()
            .to_string();
        assert!(m.contains(":2") && m.contains("not finite"), "{m}");
        assert!(matches!(
            read("t,id,x,y\n", Format::Csv),
            Err(DataError::Empty { .. })
        ));
    }

    #[test]
    fn invalid_utf8_is_an_error_not_a_panic() {
        let bytes = b"0\t1\t\xff\xfe\t2\n";
        let e = read_track_bytes(Path::new("bin"), bytes, Format::Sgan).unwrap_err();
        assert!(e.to_string().contains("UTF-8"), "{e}");
    }
}
