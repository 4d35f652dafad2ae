//! Writing predictions: CSV rows or one JSON document, streamed to a temporary file
//! that replaces the output only when complete.

use super::job::{Job, Skipped};
use anyhow::Result;
use lbebm_data::read::TimeKind;
use lbebm_types::{to_world, AgentForecast, DT};
use serde::Serialize;
use std::io::Write;
use std::path::{Path, PathBuf};

/// The output's format, from its extension.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum OutKind {
    Csv,
    Json,
}

/// Streams results into a temporary file beside the output; `finish` renames it into
/// place, so a failure never leaves a half-written output.
pub(super) struct Output {
    kind: OutKind,
    w: std::io::BufWriter<tempfile::NamedTempFile>,
    path: PathBuf,
    first: bool,
}

/// The document's head (keys in the order they are written: alphabetical, as for every
/// object here); `predictions` and `skipped` follow as they are made.
#[derive(Serialize)]
struct Head<'a> {
    model: &'a str,
    samples: usize,
    step_seconds: f64,
    time_unit: &'static str,
}

/// The predictions at one time.
#[derive(Serialize)]
struct TimeOut<'a> {
    agents: Vec<AgentOut<'a>>,
    t: f64,
}

/// One agent's K samples, rank 0 first.
#[derive(Serialize)]
struct AgentOut<'a> {
    id: &'a str,
    observed_steps: usize,
    samples: Vec<SampleOut>,
}

/// One sample: its rank, energy, weight and 12 positions (world coordinates).
#[derive(Serialize)]
struct SampleOut {
    energy: f64,
    points: Vec<[f64; 2]>,
    rank: usize,
    weight: f64,
}

/// An agent left out, and why.
#[derive(Serialize)]
struct SkippedOut<'a> {
    id: &'a str,
    reason: &'a str,
    t: f64,
}

impl Output {
    /// Starts the output at `path` (written to a temporary file beside it).
    pub(super) fn create(
        path: &Path,
        kind: OutKind,
        model: &str,
        k: usize,
        time: TimeKind,
    ) -> Result<Self> {
        let tmp = crate::common::temp_beside(path, "")?;
        let mut w = std::io::BufWriter::new(tmp);
        match kind {
            OutKind::Csv => writeln!(w, "t,agent_id,sample,step,x,y,energy,weight")?,
            OutKind::Json => {
                let head = serde_json::to_string(&Head {
                    model,
                    samples: k,
                    step_seconds: DT,
                    time_unit: if time == TimeKind::Seconds {
                        "s"
                    } else {
                        "frame"
                    },
                })?;
                // The head's object stays open: the predictions stream into it.
                let open = head.strip_suffix('}').unwrap_or(&head);
                write!(w, "{open},\"predictions\":[")?;
            }
        }
        Ok(Self {
            kind,
            w,
            path: path.to_path_buf(),
            first: true,
        })
    }

    /// Writes the forecasts of one time `t` (input units): `list` pairs an index into
    /// `js` with its forecast, in model coordinates relative to `origin`.
    pub(super) fn write_time(
        &mut self,
        t: f64,
        list: &[(usize, &AgentForecast)],
        js: &[Job],
        origin: [f64; 2],
    ) -> Result<()> {
        match self.kind {
            OutKind::Csv => {
                for (j, af) in list {
                    let w = af.weights();
                    for (rank, s) in af.ranked().into_iter().enumerate() {
                        for (step, p) in af.samples[s].iter().enumerate() {
                            let q = to_world(p, origin);
                            writeln!(
                                self.w,
                                "{t},{},{rank},{},{},{},{},{}",
                                csv_field(&js[*j].id),
                                step + 1,
                                q[0],
                                q[1],
                                af.energies[s],
                                w[s]
                            )?;
                        }
                    }
                }
            }
            OutKind::Json => {
                let agents = list
                    .iter()
                    .map(|(j, af)| {
                        let w = af.weights();
                        let samples = af
                            .ranked()
                            .into_iter()
                            .enumerate()
                            .map(|(rank, s)| SampleOut {
                                energy: af.energies[s] as f64,
                                points: af.samples[s].iter().map(|p| to_world(p, origin)).collect(),
                                rank,
                                weight: w[s] as f64,
                            })
                            .collect();
                        AgentOut {
                            id: &js[*j].id,
                            observed_steps: js[*j].observed,
                            samples,
                        }
                    })
                    .collect();
                if !self.first {
                    write!(self.w, ",")?;
                }
                serde_json::to_writer(&mut self.w, &TimeOut { agents, t })?;
            }
        }
        self.first = false;
        Ok(())
    }

    /// Closes the document with the agents left out and moves it into place.
    pub(super) fn finish(mut self, skipped: &[Skipped]) -> Result<()> {
        if self.kind == OutKind::Json {
            let sk: Vec<SkippedOut> = skipped
                .iter()
                .map(|s| SkippedOut {
                    id: &s.id,
                    reason: s.reason,
                    t: s.t,
                })
                .collect();
            write!(self.w, "],\"skipped\":{}}}", serde_json::to_string(&sk)?)?;
        }
        let tmp = self
            .w
            .into_inner()
            .map_err(|e| anyhow::anyhow!("writing {}: {e}", self.path.display()))?;
        tmp.as_file().sync_all().ok();
        crate::common::persist(tmp, &self.path)
    }
}

/// Quotes an id for CSV when it needs it.
fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}
