//! CSV with a header naming `frame` or `t`, `id`, `x`, `y` (other columns ignored).

use super::fields::{canonical_id, coord, field, number, parse_err};
use super::types::{Row, TimeKind};
use crate::Result;
use csv::{ByteRecord, Reader, ReaderBuilder, Trim};
use std::io::Read;
use std::path::Path;

/// Where the columns are, from the header.
#[derive(Debug, Clone, Copy)]
pub(super) struct CsvLayout {
    /// The time column (`t` or `frame`).
    ti: usize,
    /// The `id` column.
    ii: usize,
    /// The `x` column.
    xi: usize,
    /// The `y` column.
    yi: usize,
    /// Fields per record, as in the header.
    fields: usize,
    /// What the time column counts.
    time: TimeKind,
}

impl CsvLayout {
    /// What the time column counts.
    pub(super) fn time(&self) -> TimeKind {
        self.time
    }
}

/// A csv reader over `src` with its header read; `line_offset` blank lines were cut
/// off before the header.
pub(super) fn reader<'a>(
    path: &Path,
    src: Box<dyn Read + 'a>,
    line_offset: u64,
) -> Result<(Reader<Box<dyn Read + 'a>>, CsvLayout)> {
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
    let layout = CsvLayout {
        ti,
        ii,
        xi,
        yi,
        fields: names.len(),
        time,
    };
    Ok((rdr, layout))
}

/// The row of the record at `line`; `None` for a blank line.
pub(super) fn row(path: &Path, line: u64, rec: &ByteRecord, l: &CsvLayout) -> Result<Option<Row>> {
    if rec.iter().all(|f| f.is_empty()) {
        return Ok(None);
    }
    if rec.len() != l.fields {
        return Err(parse_err(
            path,
            line,
            format!(
                "expected {} fields as in the header, found {}",
                l.fields,
                rec.len()
            ),
        ));
    }
    let t = number(
        path,
        line,
        &rec[l.ti],
        if l.time == TimeKind::Seconds {
            "t"
        } else {
            "frame"
        },
    )?;
    let id_raw = field(path, line, &rec[l.ii], "id")?;
    if id_raw.is_empty() {
        return Err(parse_err(path, line, "empty id"));
    }
    let id = canonical_id(id_raw);
    let x = coord(path, line, &rec[l.xi], "x")?;
    let y = coord(path, line, &rec[l.yi], "y")?;
    Ok(Some(Row { t, id, x, y, line }))
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
