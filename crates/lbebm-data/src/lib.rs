//! Track files in, scenes of agent windows out.
//!
//! * [`read`]: the Social-GAN text format (`frame id x y`, tab or space separated) and
//!   CSV with a header, both on the `csv` crate, with errors naming file, line and cause.
//! * [`window`]: the Social-GAN windowing rule (every 20 consecutive annotated frames of
//!   one file form a scene; an agent belongs to it when present in all 20).
//! * [`split`]: the five ETH/UCY leave-one-out splits under a data root.

pub mod read;
pub mod source;
pub mod split;
pub mod stream;
pub mod tracks;
pub mod window;

pub use read::{read_track_file, Format, Row, RowReader, TimeKind, TrackFile};
pub use split::{load_part, Part, Split, SplitStats, DATA_ENV};
pub use tracks::{split_at_gaps, tracks_from_rows, History, Track, MAX_GAP};
pub use window::{sgan_scenes, WindowRule};

use std::path::PathBuf;

/// Everything that can go wrong while reading track data.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// A file or folder could not be opened or read.
    #[error("{file}: cannot read: {source}")]
    Io {
        /// The file or folder being read.
        file: PathBuf,
        /// The underlying I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A line of a track file is malformed or inconsistent with the rest.
    #[error("{file}:{line}: {msg}")]
    Parse {
        /// The file (or the name given to in-memory data).
        file: PathBuf,
        /// 1-based line number, as an editor shows it.
        line: u64,
        /// What is wrong with the line.
        msg: String,
    },
    /// The file has no rows (only blank lines, or only a CSV header).
    #[error("{file}: the file holds no observations")]
    Empty {
        /// The empty file.
        file: PathBuf,
    },
    /// The time column cannot be turned into seconds as asked.
    #[error("{msg}")]
    Time {
        /// The file.
        file: PathBuf,
        /// What is wrong (names the `--dt` choice where it applies).
        msg: String,
    },
    /// A data folder does not have the expected layout.
    #[error("{dir}: {msg}")]
    Layout {
        /// The folder that was searched.
        dir: PathBuf,
        /// What was expected there.
        msg: String,
    },
}

/// `std::result::Result` with a [`DataError`].
pub(crate) type Result<T> = std::result::Result<T, DataError>;
