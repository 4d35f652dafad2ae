//! One field of a record: UTF-8 text, finite numbers, coordinates in range, canonical
//! ids; errors name the file, the line and the cause.

use crate::{DataError, Result};
use std::path::Path;

/// A parse error at `line` of `file`.
pub(super) fn parse_err(file: &Path, line: u64, msg: impl Into<String>) -> DataError {
    DataError::Parse {
        file: file.to_path_buf(),
        line,
        msg: msg.into(),
    }
}

/// The field as text.
pub(super) fn field<'a>(file: &Path, line: u64, raw: &'a [u8], what: &str) -> Result<&'a str> {
    std::str::from_utf8(raw)
        .map_err(|_| parse_err(file, line, format!("{what} is not valid UTF-8")))
}

/// The field as a finite number (−0 read as +0).
pub(super) fn number(file: &Path, line: u64, raw: &[u8], what: &str) -> Result<f64> {
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

/// The field as a finite coordinate no larger than [`MAX_COORD`] in magnitude.
pub(super) fn coord(file: &Path, line: u64, raw: &[u8], what: &str) -> Result<f64> {
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
pub(super) fn canonical_id(s: &str) -> String {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && v.fract() == 0.0 && v.abs() < 1e15 => format!("{}", v as i64),
        _ => s.to_string(),
    }
}
