//! The five ETH/UCY leave-one-out splits.

use crate::read::{read_track_file, Format};
use crate::window::{sgan_scenes, WindowRule};
use crate::{DataError, Result};
use lbebm_types::Scene;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

/// Environment variable naming the data root when no `--data` is given.
pub const DATA_ENV: &str = "LBEBM_DATA_DIR";

/// A leave-one-scene-out split, named after its test scene.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Split {
    /// Test scene ETH (BIWI/ETH dataset, `eth`).
    Eth,
    /// Test scene Hotel (BIWI/ETH dataset, `hotel`).
    Hotel,
    /// Test scene Univ (UCY dataset, `univ`).
    Univ,
    /// Test scene Zara1 (UCY dataset, `zara1`).
    Zara1,
    /// Test scene Zara2 (UCY dataset, `zara2`).
    Zara2,
}

impl Split {
    /// All five splits: eth, hotel, univ, zara1, zara2.
    pub const ALL: [Split; 5] = [
        Split::Eth,
        Split::Hotel,
        Split::Univ,
        Split::Zara1,
        Split::Zara2,
    ];

    /// Lower-case name: the folder under the data root, and what [`FromStr`] accepts
    /// (case-insensitively).
    pub fn name(self) -> &'static str {
        match self {
            Split::Eth => "eth",
            Split::Hotel => "hotel",
            Split::Univ => "univ",
            Split::Zara1 => "zara1",
            Split::Zara2 => "zara2",
        }
    }
}

impl fmt::Display for Split {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Split {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        Split::ALL
            .into_iter()
            .find(|x| x.name().eq_ignore_ascii_case(s))
            .ok_or_else(|| {
                format!("unknown split {s:?} (expected eth, hotel, univ, zara1 or zara2)")
            })
    }
}

/// Train, validation or test folder of a split.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Part {
    /// Training scenes, from the recordings other than the held-out one.
    Train,
    /// Validation scenes, from the same recordings as training.
    Val,
    /// Test scenes: the held-out recording(s) the split is named after.
    Test,
}

impl Part {
    /// Train, val and test, in that order.
    pub const ALL: [Part; 3] = [Part::Train, Part::Val, Part::Test];
    /// Folder name under `<root>/<split>/`: `train`, `val` or `test`.
    pub fn name(self) -> &'static str {
        match self {
            Part::Train => "train",
            Part::Val => "val",
            Part::Test => "test",
        }
    }
}

impl fmt::Display for Part {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The `.txt` files of one folder, sorted by name so that runs are reproducible.
pub fn part_files(root: &Path, split: Split, part: Part) -> Result<Vec<PathBuf>> {
    let dir = root.join(split.name()).join(part.name());
    let rd = std::fs::read_dir(&dir).map_err(|source| DataError::Io {
        file: dir.clone(),
        source,
    })?;
    let mut files = Vec::new();
    for e in rd {
        let e = e.map_err(|source| DataError::Io {
            file: dir.clone(),
            source,
        })?;
        let p = e.path();
        if p.extension().is_some_and(|x| x == "txt") {
            files.push(p);
        }
    }
    files.sort();
    if files.is_empty() {
        return Err(DataError::Layout {
            dir,
            msg: "no .txt track files here; expected the Social-GAN ETH/UCY layout <root>/<split>/{train,val,test}/*.txt".into(),
        });
    }
    Ok(files)
}

/// Every scene of one folder of a split, file by file.
pub fn load_part(root: &Path, split: Split, part: Part) -> Result<Vec<Scene>> {
    let mut scenes = Vec::new();
    for f in part_files(root, split, part)? {
        let tf = read_track_file(&f, Format::Sgan)?;
        scenes.extend(sgan_scenes(&tf.rows, &f, WindowRule::SGAN)?);
    }
    tracing::debug!(%split, %part, scenes = scenes.len(), "loaded");
    Ok(scenes)
}

/// Scene and window counts of one folder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SplitStats {
    /// Number of scenes (20-frame windows with at least one complete agent).
    pub scenes: usize,
    /// Number of agent windows, summed over the scenes.
    pub windows: usize,
}

impl SplitStats {
    /// Counts the scenes and agent windows of `scenes`.
    pub fn of(scenes: &[Scene]) -> Self {
        Self {
            scenes: scenes.len(),
            windows: scenes.iter().map(|s| s.agents.len()).sum(),
        }
    }
}
