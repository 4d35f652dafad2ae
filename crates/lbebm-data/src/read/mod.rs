//! Readers for track files.
//!
//! Modules (each uses only those listed before it): `types` (rows, time kinds, formats,
//! whole files), `fields` (one field: text, numbers, coordinates, ids), `line_ends`
//! (line-end normalisation while streaming), `sgan` (Social-GAN text), `csv_format`
//! (CSV with a header), `reader` (format detection and [`RowReader`]), `file`
//! (whole-file reading: [`read_track_file`], [`read_track_bytes`]).

mod csv_format;
mod fields;
mod file;
mod line_ends;
mod reader;
mod sgan;
mod types;

pub use fields::MAX_COORD;
pub use file::{read_track_bytes, read_track_file};
pub use reader::RowReader;
pub use types::{Format, Row, TimeKind, TrackFile};
