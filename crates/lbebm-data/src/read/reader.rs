//! [`RowReader`]: rows of a track file one at a time, after deciding the format from
//! the first non-empty line.

use super::csv_format::{self, CsvLayout};
use super::fields::parse_err;
use super::line_ends::CrToLf;
use super::sgan;
use super::types::{Format, Row, TimeKind};
use crate::{DataError, Result};
use csv::ByteRecord;
use std::io::Read;
use std::path::{Path, PathBuf};

/// How far the first non-empty line is looked for (a binary file may have no line end).
const SNIFF_LIMIT: usize = 64 << 10;

/// The format of the records, decided at the start.
enum Layout {
    /// Social-GAN text.
    Sgan,
    /// CSV, with its columns.
    Csv(CsvLayout),
}

/// Rows of a track file, one at a time, in file order: memory does not grow with the
/// file. Errors name the file, the line and the cause.
pub struct RowReader<'a> {
    path: PathBuf,
    rdr: csv::Reader<Box<dyn Read + 'a>>,
    layout: Layout,
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
        let (rdr, layout) = match format {
            Format::Csv => {
                let (rdr, layout) = csv_format::reader(path, src, line_offset)?;
                (rdr, Layout::Csv(layout))
            }
            _ => (sgan::reader(src, &first), Layout::Sgan),
        };
        Ok(Self {
            path: path.to_path_buf(),
            rdr,
            layout,
            rec: ByteRecord::new(),
            line_offset,
        })
    }

    /// What the time column counts.
    pub fn time(&self) -> TimeKind {
        match &self.layout {
            Layout::Sgan => TimeKind::Frame,
            Layout::Csv(l) => l.time(),
        }
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
                            Layout::Csv(_),
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
            let row = match &self.layout {
                Layout::Sgan => sgan::row(path, line, &self.rec)?,
                Layout::Csv(l) => csv_format::row(path, line, &self.rec, l)?,
            };
            if let Some(row) = row {
                return Ok(Some(row));
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
