//! `lbebm data stats`.

use crate::common::{data_root, SplitArg};
use anyhow::Result;
use clap::{Args, Subcommand};
use lbebm_data::{load_part, Part, SplitStats};
use std::path::PathBuf;

#[derive(Subcommand)]
pub enum DataCmd {
    /// Scene and window counts of train/val/test for each split.
    Stats(StatsArgs),
}

#[derive(Args)]
pub struct StatsArgs {
    /// ETH/UCY root (default: $LBEBM_DATA_DIR, else datasets/eth_ucy here or in the repository).
    #[arg(long)]
    data: Option<PathBuf>,
    #[arg(long, value_enum, default_value = "all")]
    split: SplitArg,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

pub fn run(cmd: DataCmd) -> Result<()> {
    let DataCmd::Stats(a) = cmd;
    let root = data_root(a.data.as_deref())?;
    let mut rows = Vec::new();
    for split in a.split.splits() {
        let mut r = serde_json::Map::new();
        r.insert("split".into(), split.name().into());
        for part in Part::ALL {
            let st = SplitStats::of(&load_part(&root, split, part)?);
            r.insert(
                part.name().into(),
                serde_json::json!({"scenes": st.scenes, "windows": st.windows}),
            );
        }
        rows.push(serde_json::Value::Object(r));
    }
    if a.json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(());
    }
    println!(
        "{:<6} {:>12} {:>12} {:>12} {:>12} {:>12} {:>12}",
        "split", "train scenes", "train wins", "val scenes", "val wins", "test scenes", "test wins"
    );
    for r in &rows {
        let g = |p: &str, k: &str| r[p][k].as_u64().unwrap_or(0);
        println!(
            "{:<6} {:>12} {:>12} {:>12} {:>12} {:>12} {:>12}",
            r["split"].as_str().unwrap_or(""),
            g("train", "scenes"),
            g("train", "windows"),
            g("val", "scenes"),
            g("val", "windows"),
            g("test", "scenes"),
            g("test", "windows")
        );
    }
    Ok(())
}
