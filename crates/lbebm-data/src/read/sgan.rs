//! The Social-GAN text format: `frame id x y`, tab or space separated, no header.

use super::fields::{canonical_id, coord, field, number, parse_err};
use super::types::Row;
use crate::Result;
use csv::{ByteRecord, Reader, ReaderBuilder, Trim};
use std::io::Read;
use std::path::Path;

/// A csv reader for Social-GAN text whose first non-empty line is `first`.
pub(super) fn reader<'a>(src: Box<dyn Read + 'a>, first: &[u8]) -> Reader<Box<dyn Read + 'a>> {
    // Social-GAN files are tab separated; some copies use spaces. Empty
    // fields from repeated separators are dropped, so runs of spaces work too.
    let delim = if first.contains(&b'\t') { b'\t' } else { b' ' };
    ReaderBuilder::new()
        .has_headers(false)
        .delimiter(delim)
        .flexible(true)
        .trim(Trim::All)
        .from_reader(src)
}

/// The row of the record at `line`; `None` for a blank line.
pub(super) fn row(path: &Path, line: u64, rec: &ByteRecord) -> Result<Option<Row>> {
    let fields: Vec<&[u8]> = rec.iter().filter(|f| !f.is_empty()).collect();
    if fields.is_empty() {
        return Ok(None);
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
    Ok(Some(Row { t, id, x, y, line }))
}
