//! Track files in, scenes of agent windows out.
//!
//! * [`read`]: the Social-GAN text format (`frame id x y`, tab or space separated) and
//!   CSV with a header, both on the `csv` crate, with errors naming file, line and cause.
//! * [`window`]: the Social-GAN windowing rule (every 20 consecutive annotated frames of
//!   one file form a scene; an agent belongs to it when present in all 20).
//! * [`split`]: the five ETH/UCY leave-one-out splits under a data root.

pub mod read;
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
    #[error("{file}: cannot read: {source}")]
    Io {
        file: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{file}:{line}: {msg}")]
    Parse {
        file: PathBuf,
        line: u64,
        msg: String,
    },
    #[error("{file}: the file holds no observations")]
    Empty { file: PathBuf },
    #[error("{dir}: {msg}")]
    Layout { dir: PathBuf, msg: String },
}

pub type Result<T> = std::result::Result<T, DataError>;
