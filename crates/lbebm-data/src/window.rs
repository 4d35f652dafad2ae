//! Social-GAN windowing: rows of one file → scenes of complete agent windows.

use crate::read::Row;
use crate::{DataError, Result};
use lbebm_types::{AgentWindow, Scene, Vec2, OBS_LEN, SEQ_LEN};
use std::collections::HashMap;
use std::path::Path;

/// How windows are cut.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WindowRule {
    /// Step between the first frames of consecutive windows, in annotated frames.
    pub skip: usize,
    /// A window is kept when at least this many agents are complete in it. Social-GAN
    /// keeps scenes with more than `min_ped = 1` agents... but counts with `> 1` on the
    /// number of agents considered, see [`WindowRule::SGAN`].
    pub min_agents: usize,
}

impl WindowRule {
    /// The rule behind the published ETH/UCY window counts.
    pub const SGAN: WindowRule = WindowRule {
        skip: 1,
        min_agents: 1,
    };
}

impl Default for WindowRule {
    fn default() -> Self {
        Self::SGAN
    }
}

/// Cuts `rows` (one file, any order) into scenes: every run of [`SEQ_LEN`] consecutive
/// annotated frames is a candidate scene; an agent belongs to it when it has exactly one
/// observation in each of those frames. Agents keep the order of their ids.
///
/// Two rows for the same agent and frame are an error naming both lines.
pub fn sgan_scenes(rows: &[Row], file: &Path, rule: WindowRule) -> Result<Vec<Scene>> {
    // −0 and 0 are one frame: key frames by the bits of `t + 0.0`.
    let key = |t: f64| (t + 0.0).to_bits();
    let mut frames: Vec<f64> = rows.iter().map(|r| r.t + 0.0).collect();
    frames.sort_by(f64::total_cmp);
    frames.dedup_by(|a, b| a.to_bits() == b.to_bits());
    let index: HashMap<u64, usize> = frames
        .iter()
        .enumerate()
        .map(|(i, f)| (f.to_bits(), i))
        .collect();
    // Per frame: agent id → row index.
    let mut per_frame: Vec<HashMap<&str, usize>> = vec![HashMap::new(); frames.len()];
    for (ri, r) in rows.iter().enumerate() {
        let Some(&fi) = index.get(&key(r.t)) else {
            return Err(DataError::Parse {
                file: file.to_path_buf(),
                line: r.line,
                msg: format!("frame {} is not a usable number", r.t),
            });
        };
        if let Some(prev) = per_frame[fi].insert(r.id.as_str(), ri) {
            return Err(DataError::Parse {
                file: file.to_path_buf(),
                line: r.line,
                msg: format!(
                    "duplicate observation of agent {} at time {} (also on line {})",
                    r.id, r.t, rows[prev].line
                ),
            });
        }
    }
    let source = file
        .file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut scenes = Vec::new();
    if frames.len() < SEQ_LEN {
        return Ok(scenes);
    }
    let mut start = 0;
    while start + SEQ_LEN <= frames.len() {
        let mut ids: Vec<&str> = per_frame[start].keys().copied().collect();
        sort_ids(&mut ids);
        let mut agents = Vec::new();
        for id in ids {
            let mut pts = [Vec2::zeros(); SEQ_LEN];
            let complete = (0..SEQ_LEN).all(|k| match per_frame[start + k].get(id) {
                Some(&ri) => {
                    pts[k] = Vec2::new(rows[ri].x as f32, rows[ri].y as f32);
                    true
                }
                None => false,
            });
            if complete {
                agents.push(AgentWindow {
                    id: id.to_string(),
                    obs: std::array::from_fn(|i| pts[i]),
                    future: Some(std::array::from_fn(|i| pts[OBS_LEN + i])),
                });
            }
        }
        if agents.len() >= rule.min_agents.max(1) {
            scenes.push(Scene {
                source: source.clone(),
                t: frames[start + OBS_LEN - 1],
                agents,
            });
        }
        start += rule.skip.max(1);
    }
    Ok(scenes)
}

/// Numeric ids in numeric order, then the rest in text order.
pub(crate) fn sort_ids(ids: &mut [&str]) {
    ids.sort_by(|a, b| match (a.parse::<f64>(), b.parse::<f64>()) {
        (Ok(x), Ok(y)) => x.total_cmp(&y),
        (Ok(_), Err(_)) => std::cmp::Ordering::Less,
        (Err(_), Ok(_)) => std::cmp::Ordering::Greater,
        _ => a.cmp(b),
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(t: f64, id: &str, x: f64, line: u64) -> Row {
        Row {
            t,
            id: id.into(),
            x,
            y: 0.0,
            line,
        }
    }

    #[test]
    fn windows_need_all_twenty_frames() {
        let mut rows = Vec::new();
        let mut line = 1;
        // Agent 1 present in frames 0..22, agent 2 in frames 0..19 missing frame 5.
        for f in 0..22 {
            rows.push(row(f as f64 * 10.0, "1", f as f64, line));
            line += 1;
            if f != 5 && f < 20 {
                rows.push(row(f as f64 * 10.0, "2", -(f as f64), line));
                line += 1;
            }
        }
        let s = sgan_scenes(&rows, Path::new("f.txt"), WindowRule::SGAN).unwrap();
        assert_eq!(s.len(), 3, "22 frames give 3 windows of 20");
        assert!(s
            .iter()
            .all(|sc| sc.agents.len() == 1 && sc.agents[0].id == "1"));
        assert_eq!(s[0].t, 70.0);
        assert_eq!(s[1].agents[0].obs[0].x, 1.0);
        assert_eq!(s[1].agents[0].future.unwrap()[11].x, 20.0);
    }

    #[test]
    fn duplicates_are_refused_with_both_lines() {
        let rows = vec![row(0.0, "1", 0.0, 1), row(0.0, "1", 1.0, 7)];
        let e = sgan_scenes(&rows, Path::new("f.txt"), WindowRule::SGAN).unwrap_err();
        let m = e.to_string();
        assert!(m.contains("f.txt:7") && m.contains("line 1"), "{m}");
    }
}
