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
    Eth,
    Hotel,
    Univ,
    Zara1,
    Zara2,
}

impl Split {
    pub const ALL: [Split; 5] = [
        Split::Eth,
        Split::Hotel,
        Split::Univ,
        Split::Zara1,
        Split::Zara2,
    ];

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
    Train,
    Val,
    Test,
}

impl Part {
    pub const ALL: [Part; 3] = [Part::Train, Part::Val, Part::Test];
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
    pub scenes: usize,
    pub windows: usize,
}

impl SplitStats {
    pub fn of(scenes: &[Scene]) -> Self {
        Self {
            scenes: scenes.len(),
            windows: scenes.iter().map(|s| s.agents.len()).sum(),
        }
    }
}
