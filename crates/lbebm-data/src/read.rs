//! Readers for track files.

use crate::{DataError, Result};
use csv::{ByteRecord, ReaderBuilder, Trim};
use std::io::Read;
use std::path::{Path, PathBuf};

/// One observation of one agent.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// Frame number (Social-GAN files, CSV `frame`) or seconds (CSV `t`).
    pub t: f64,
    /// Agent id as text; a numeric id with no fractional part is written as an integer
    /// (`1.0` becomes `1`).
    pub id: String,
    /// x position, in the file's units (metres for the ETH/UCY files).
    pub x: f64,
    /// y position, in the file's units (metres for the ETH/UCY files).
    pub y: f64,
    /// 1-based line in the source file, for error messages further down the pipeline.
    pub line: u64,
}

/// What the time column counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeKind {
    /// Frame numbers (Social-GAN files, CSV `frame` column); seconds per frame are
    /// given or inferred elsewhere.
    Frame,
    /// Seconds (CSV `t` column).
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
    /// Every observation, in file order (never empty).
    pub rows: Vec<Row>,
    /// What the rows' `t` counts.
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
    collect(RowReader::open(path, format)?)
}

/// As [`read_track_file`], on bytes already in memory; `path` only names them in errors.
pub fn read_track_bytes(path: &Path, bytes: &[u8], format: Format) -> Result<TrackFile> {
    collect(RowReader::from_reader(path, bytes, format)?)
}

fn collect(mut r: RowReader<'_>) -> Result<TrackFile> {
    let mut rows = Vec::new();
    while let Some(row) = r.next_row()? {
        rows.push(row);
    }
    if rows.is_empty() {
        return Err(DataError::Empty { file: r.path });
    }
    Ok(TrackFile { rows, time: r.time })
}

/// Normalises line ends while streaming, so that the csv crate's line numbers match
/// what an editor shows: old Mac line ends (a lone `\r`) and `\r\n` become `\n` (the
/// csv crate counts `\n` only), and an empty line gets one space (the csv crate skips
/// empty lines without counting them; a whitespace-only record is counted, then skipped
/// by the readers here).
struct CrToLf<R> {
    inner: R,
    chunk: Vec<u8>,
    out: Vec<u8>,
    pos: usize,
    pending_cr: bool,
    line_start: bool,
    eof: bool,
}

impl<R: Read> CrToLf<R> {
    fn new(inner: R) -> Self {
        Self {
            inner,
            chunk: vec![0; 64 << 10],
            out: Vec::with_capacity(64 << 10),
            pos: 0,
            pending_cr: false,
            line_start: true,
            eof: false,
        }
    }
}

impl<R> CrToLf<R> {
    fn end_line(&mut self) {
        if self.line_start {
            self.out.push(b' ');
        }
        self.out.push(b'\n');
        self.line_start = true;
    }
}

impl<R: Read> Read for CrToLf<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        loop {
            if self.pos < self.out.len() {
                let n = buf.len().min(self.out.len() - self.pos);
                buf[..n].copy_from_slice(&self.out[self.pos..self.pos + n]);
                self.pos += n;
                return Ok(n);
            }
            if self.eof || buf.is_empty() {
                return Ok(0);
            }
            self.out.clear();
            self.pos = 0;
            let n = match self.inner.read(&mut self.chunk) {
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if n == 0 {
                self.eof = true;
                if std::mem::take(&mut self.pending_cr) {
                    self.end_line();
                }
                continue;
            }
            let chunk = std::mem::take(&mut self.chunk);
            for &b in &chunk[..n] {
                if std::mem::take(&mut self.pending_cr) {
                    // `\r\n` and a lone `\r` both end one line.
                    self.end_line();
                    if b == b'\n' {
                        continue;
                    }
                }
                match b {
                    b'\r' => self.pending_cr = true,
                    b'\n' => self.end_line(),
                    _ => {
                        self.out.push(b);
                        self.line_start = false;
                    }
                }
            }
            self.chunk = chunk;
        }
    }
}

/// How far the first non-empty line is looked for (a binary file may have no line end).
const SNIFF_LIMIT: usize = 64 << 10;

enum Layout {
    Sgan,
    Csv {
        ti: usize,
        ii: usize,
        xi: usize,
        yi: usize,
        fields: usize,
    },
}

/// Rows of a track file, one at a time, in file order: memory does not grow with the
/// file. Errors name the file, the line and the cause.
pub struct RowReader<'a> {
    path: PathBuf,
    rdr: csv::Reader<Box<dyn Read + 'a>>,
    layout: Layout,
    time: TimeKind,
    rec: ByteRecord,
    /// Blank lines cut off before the first line with content.
    line_offset: u64,
}

impl<'a> RowReader<'a> {
    /// Opens a file. `Format::Auto` decides from the first non-empty line.
    pub fn open(path: &Path, format: Format) -> Result<RowReader<'static>> {
        let f = std::fs::File::open(path).map_err(|source| DataError::Io {
            file: path.to_path_buf(),
            source,
        })?;
        RowReader::from_reader(path, f, format)
    }

    /// Reads from any reader; `path` only names it in errors.
    pub fn from_reader(path: &Path, r: impl Read + 'a, format: Format) -> Result<Self> {
        let io = |source| DataError::Io {
            file: path.to_path_buf(),
            source,
        };
        let mut r = CrToLf::new(r);
        // Read ahead to the first non-empty line, then put what was read back in front.
        let mut head = Vec::new();
        let mut buf = [0u8; 8 << 10];
        let first: Vec<u8> = loop {
            let complete = head.split(|&b| b == b'\n').count() - 1;
            let found = head
                .split(|&b| b == b'\n')
                .take(complete)
                .map(|l| l.trim_ascii())
                .find(|l| !l.is_empty());
            if let Some(l) = found {
                break l.to_vec();
            }
            if head.len() >= SNIFF_LIMIT {
                break head.trim_ascii().to_vec();
            }
            let n = loop {
                match r.read(&mut buf) {
                    Ok(n) => break n,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(io(e)),
                }
            };
            if n == 0 {
                break head
                    .split(|&b| b == b'\n')
                    .map(|l| l.trim_ascii())
                    .find(|l| !l.is_empty())
                    .unwrap_or_default()
                    .to_vec();
            }
            head.extend_from_slice(&buf[..n]);
        };
        if first.is_empty() {
            return Err(DataError::Empty {
                file: path.to_path_buf(),
            });
        }
        let format = match format {
            Format::Auto => {
                let tok = first
                    .split(|b| b.is_ascii_whitespace() || *b == b',')
                    .find(|t| !t.is_empty())
                    .unwrap_or(&first);
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
        // Blank lines before the first one with content are cut off (a CSV header must
        // come first for the csv crate) and counted back into the line numbers.
        let skip = head
            .split_inclusive(|&b| b == b'\n')
            .take_while(|l| l.trim_ascii().is_empty() && l.ends_with(b"\n"))
            .count();
        let cut: usize = head
            .split_inclusive(|&b| b == b'\n')
            .take(skip)
            .map(<[u8]>::len)
            .sum();
        head.drain(..cut);
        let line_offset = skip as u64;
        let src: Box<dyn Read + 'a> = Box::new(std::io::Cursor::new(head).chain(r));
        match format {
            Format::Csv => Self::csv(path, src, line_offset),
            _ => {
                // Social-GAN files are tab separated; some copies use spaces. Empty
                // fields from repeated separators are dropped, so runs of spaces work too.
                let delim = if first.contains(&b'\t') { b'\t' } else { b' ' };
                let rdr = ReaderBuilder::new()
                    .has_headers(false)
                    .delimiter(delim)
                    .flexible(true)
                    .trim(Trim::All)
                    .from_reader(src);
                Ok(Self {
                    path: path.to_path_buf(),
                    rdr,
                    layout: Layout::Sgan,
                    time: TimeKind::Frame,
                    rec: ByteRecord::new(),
                    line_offset,
                })
            }
        }
    }

    fn csv(path: &Path, src: Box<dyn Read + 'a>, line_offset: u64) -> Result<Self> {
        // Flexible, with the field count checked here, so that blank and
        // whitespace-only lines can be skipped instead of refused.
        let mut rdr = ReaderBuilder::new()
            .has_headers(true)
            .flexible(true)
            .trim(Trim::All)
            .from_reader(src);
        let header = rdr
            .byte_headers()
            .map_err(|e| parse_err(path, 1 + line_offset, e.to_string()))?
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
                    1 + line_offset,
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
                    1 + line_offset,
                    format!("missing column `{n}` (found: {})", shown_names(&names)),
                )
            })
        };
        let (ii, xi, yi) = (need("id")?, need("x")?, need("y")?);
        Ok(Self {
            path: path.to_path_buf(),
            rdr,
            layout: Layout::Csv {
                ti,
                ii,
                xi,
                yi,
                fields: names.len(),
            },
            time,
            rec: ByteRecord::new(),
            line_offset,
        })
    }

    /// What the time column counts.
    pub fn time(&self) -> TimeKind {
        self.time
    }

    /// The name errors carry.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The next row, `None` at the end of the file.
    pub fn next_row(&mut self) -> Result<Option<Row>> {
        let path = self.path.as_path();
        loop {
            let line_guess = self.rdr.position().line() + self.line_offset;
            match self.rdr.read_byte_record(&mut self.rec) {
                Ok(false) => return Ok(None),
                Ok(true) => {}
                Err(e) => {
                    let line = e
                        .position()
                        .map(|p| p.line() + self.line_offset)
                        .unwrap_or(line_guess);
                    let msg = match (e.kind(), &self.layout) {
                        (
                            csv::ErrorKind::UnequalLengths {
                                expected_len, len, ..
                            },
                            Layout::Csv { .. },
                        ) => {
                            format!("expected {expected_len} fields as in the header, found {len}")
                        }
                        _ => e.to_string(),
                    };
                    let line = if matches!(self.layout, Layout::Sgan) {
                        line_guess
                    } else {
                        line
                    };
                    return Err(parse_err(path, line, msg));
                }
            }
            let line = self
                .rec
                .position()
                .map(|p| p.line() + self.line_offset)
                .unwrap_or(line_guess);
            match self.layout {
                Layout::Sgan => {
                    let fields: Vec<&[u8]> = self.rec.iter().filter(|f| !f.is_empty()).collect();
                    if fields.is_empty() {
                        continue;
                    }
                    if fields.len() != 4 {
                        return Err(parse_err(
                            path,
                            line,
                            format!(
                                "too {} fields: expected 4 (frame id x y), found {}",
                                if fields.len() < 4 { "few" } else { "many" },
                                fields.len()
                            ),
                        ));
                    }
                    let t = number(path, line, fields[0], "frame")?;
                    let id = canonical_id(field(path, line, fields[1], "id")?);
                    let x = coord(path, line, fields[2], "x")?;
                    let y = coord(path, line, fields[3], "y")?;
                    return Ok(Some(Row { t, id, x, y, line }));
                }
                Layout::Csv {
                    ti,
                    ii,
                    xi,
                    yi,
                    fields,
                } => {
                    let rec = &self.rec;
                    if rec.iter().all(|f| f.is_empty()) {
                        continue;
                    }
                    if rec.len() != fields {
                        return Err(parse_err(
                            path,
                            line,
                            format!(
                                "expected {} fields as in the header, found {}",
                                fields,
                                rec.len()
                            ),
                        ));
                    }
                    let t = number(
                        path,
                        line,
                        &rec[ti],
                        if self.time == TimeKind::Seconds {
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
                    return Ok(Some(Row { t, id, x, y, line }));
                }
            }
        }
    }
}

impl Iterator for RowReader<'_> {
    type Item = Result<Row>;
    fn next(&mut self) -> Option<Result<Row>> {
        self.next_row().transpose()
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn read(s: &str, f: Format) -> Result<TrackFile> {
        read_track_bytes(Path::new("mem.txt"), s.as_bytes(), f)
    }

    /// Hands out one byte per read, so that every `\r` falls on a chunk boundary.
    struct Trickle<'a>(&'a [u8]);
    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            match (self.0.split_first(), buf.is_empty()) {
                (Some((&b, rest)), false) => {
                    buf[0] = b;
                    self.0 = rest;
                    Ok(1)
                }
                _ => Ok(0),
            }
        }
    }

    #[test]
    fn line_ends_are_normalised_across_reads() {
        let mut out = Vec::new();
        CrToLf::new(Trickle(b"a\rb\r\nc\r\r\nd\r"))
            .read_to_end(&mut out)
            .unwrap();
        assert_eq!(out, b"a\nb\nc\n \nd\n");
        // Streaming in single bytes gives the rows and line numbers of a whole read.
        let text = b"0\t1\t1\t2\r10\t1\t2\t2\r\n\r\n20\t1\t3\t2";
        let whole = read_track_bytes(Path::new("m"), text, Format::Auto).unwrap();
        let mut r = RowReader::from_reader(Path::new("m"), Trickle(text), Format::Auto).unwrap();
        let mut rows = Vec::new();
        while let Some(row) = r.next_row().unwrap() {
            rows.push(row);
        }
        assert_eq!(rows, whole.rows);
        assert_eq!(rows.iter().map(|r| r.line).collect::<Vec<_>>(), [1, 2, 4]);
        // Blank lines before, between and after rows, in both formats: errors name the
        // line an editor shows.
        for (text, line) in [
            (&b"\n\n0\t1\t1\t2\n\n\n5\t1\t1\tx\n"[..], 6),
            (b"\r\n \r\nt,id,x,y\r\n0,1,1,2\r\n\r\n\r\n0.4,1,x,2\r\n", 7),
            (b"t,id,x,y\n0,1,1,2\n\n\n0.4,1,1,2,5\n", 5),
            (b"\n\nt,id,y\n", 3),
        ] {
            let e = read_track_bytes(Path::new("m"), text, Format::Auto)
                .unwrap_err()
                .to_string();
            assert!(e.starts_with(&format!("m:{line}:")), "{e}");
        }
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
