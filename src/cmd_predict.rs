//! `lbebm predict`: track files in, K sampled futures per agent out (CSV or JSON),
//! optionally a picture.

use crate::common::EVAL_SEED;
use crate::common::{bar, device, load_model, BadInput};
use crate::plot::{self, Panel, PlotAgent};
use anyhow::{Context, Result};
use clap::{Args, ValueEnum};
use lbebm_data::read::{read_track_file, Format, RowReader, TimeKind};
use lbebm_data::stream::{scan, Window};
use lbebm_data::{split_at_gaps, tracks_from_rows, Track, MAX_GAP};
use lbebm_model::LbebmPredictor;
use lbebm_types::{AgentForecast, AgentWindow, Scene, Vec2, DT, OBS_LEN, PRED_LEN};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Scenes larger than this are cut into spatial groups (sorted along x), which bounds
/// the social-pooling matrix (it grows with the square of the scene size).
pub const MAX_SCENE_AGENTS: usize = 256;
/// Agents per model call.
const BATCH_AGENTS: usize = 512;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FormatArg {
    /// CSV when the first line is a header, Social-GAN text otherwise.
    Auto,
    /// Social-GAN text: `frame id x y`, tab or space separated.
    Sgan,
    /// CSV with a header: `frame` or `t` (seconds), `id`, `x`, `y`.
    Csv,
}

#[derive(Args)]
pub struct PredictArgs {
    /// Track file (Social-GAN text or CSV).
    #[arg(long)]
    input: PathBuf,
    #[arg(long, value_enum, default_value = "auto")]
    format: FormatArg,
    /// Output file: `.csv` or `.json`.
    #[arg(long)]
    output: PathBuf,
    /// Checkpoint folder (default: the shipped models/default, built into the binary).
    #[arg(long)]
    model: Option<PathBuf>,
    /// Samples per agent.
    #[arg(long, default_value_t = 20)]
    samples: usize,
    /// Picture of the (last) predicted scene: `.svg` or `.png`.
    #[arg(long)]
    plot: Option<PathBuf>,
    #[arg(long, default_value = "cpu")]
    device: String,
    #[arg(long, default_value_t = EVAL_SEED)]
    seed: u64,
    /// Seconds per frame unit, for frame-numbered input. Default: the most common step
    /// between consecutive frames is the model's 0.4 s.
    #[arg(long)]
    dt: Option<f64>,
    /// Predict at this time (input units) instead of at the last one.
    #[arg(long, conflicts_with = "every_step")]
    at: Option<f64>,
    /// Predict at every 0.4 s step of the input.
    #[arg(long)]
    every_step: bool,
    /// Langevin steps (default: the model's test_steps).
    #[arg(long)]
    steps: Option<usize>,
    /// Draw this many candidates per agent and return the K that cover them best
    /// (default: the model's `candidates`; 0 turns it off).
    #[arg(long)]
    candidates: Option<usize>,
    /// Longest silence (seconds) of one agent that is bridged by interpolation; after a
    /// longer one the agent starts afresh.
    #[arg(long, default_value_t = MAX_GAP)]
    max_gap: f64,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum OutKind {
    Csv,
    Json,
}

/// One agent to predict at one time.
struct Job {
    t_sec: f64,
    id: String,
    observed: usize,
    obs: Vec<[f64; 2]>,
    truth: Vec<[f64; 2]>,
}

/// Seconds per unit of the time column, from the distinct times (ascending).
fn seconds_per_unit(kind: TimeKind, ts: &[f64], dt: Option<f64>) -> Result<f64> {
    match (kind, dt) {
        (TimeKind::Seconds, Some(_)) => {
            Err(BadInput("--dt applies to frame-numbered input; this file's time column `t` is already in seconds".into()).into())
        }
        (TimeKind::Seconds, None) => Ok(1.0),
        (TimeKind::Frame, Some(d)) if d.is_finite() && d > 0.0 => Ok(d),
        (TimeKind::Frame, Some(d)) => Err(BadInput(format!("--dt must be a positive number of seconds, not {d}")).into()),
        (TimeKind::Frame, None) => {
            let mut steps: Vec<f64> = ts.windows(2).map(|w| w[1] - w[0]).filter(|d| *d > 0.0).collect();
            if steps.is_empty() {
                return Ok(DT);
            }
            steps.sort_by(f64::total_cmp);
            let step = steps[steps.len() / 2];
            let spu = DT / step;
            if !spu.is_finite() {
                return Err(BadInput(format!(
                    "the frames' step {step:e} is too small to be 0.4 s; state the seconds per frame with --dt"
                ))
                .into());
            }
            Ok(spu)
        }
    }
}

pub fn run(a: PredictArgs) -> Result<()> {
    let kind = match a
        .output
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .as_deref()
    {
        Some("csv") => OutKind::Csv,
        Some("json") => OutKind::Json,
        _ => {
            return Err(BadInput(format!(
                "{}: the output must end in .csv or .json",
                a.output.display()
            ))
            .into())
        }
    };
    if let Some(p) = &a.plot {
        let ok = matches!(
            p.extension()
                .map(|e| e.to_string_lossy().to_ascii_lowercase())
                .as_deref(),
            Some("svg") | Some("png")
        );
        if !ok {
            return Err(BadInput(format!(
                "{}: the plot must end in .svg or .png",
                p.display()
            ))
            .into());
        }
    }
    if a.output.is_dir() {
        return Err(BadInput(format!(
            "{}: is a folder, not an output file",
            a.output.display()
        ))
        .into());
    }
    if a.samples == 0 || a.samples > 1000 {
        return Err(BadInput("--samples must be between 1 and 1000".into()).into());
    }
    let format = match a.format {
        FormatArg::Auto => Format::Auto,
        FormatArg::Sgan => Format::Sgan,
        FormatArg::Csv => Format::Csv,
    };
    for p in [Some(&a.output), a.plot.as_ref()].into_iter().flatten() {
        if let Some(d) = p.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(d)
                .map_err(|e| BadInput(format!("{}: cannot create folder: {e}", d.display())))?;
        }
    }
    if !(a.max_gap.is_finite() && a.max_gap > 0.0) {
        return Err(BadInput(format!(
            "--max-gap must be a positive number of seconds, not {}",
            a.max_gap
        ))
        .into());
    }
    let mut src = Source::open(&a.input, format, a.dt, a.max_gap)?;
    let (spu, time_kind) = (src.spu, src.time);
    // Work relative to one point of the input: large world coordinates (UTM, say) keep
    // their precision through the f32 model.
    // The corner of the bounding box: independent of row order, so unsorted input gives
    // exactly the same numbers as sorted input.
    let origin = src.origin;
    let dev = device(&a.device)?;
    let (loaded, model_name) = load_model(a.model.as_deref(), &dev)?;
    let mut pred = LbebmPredictor::new(loaded.model, a.seed, model_name.clone())?;
    if let Some(s) = a.steps {
        pred.set_steps(s);
    }
    if let Some(c) = a.candidates {
        pred.set_candidates(c);
    }
    let (t_first, t_last) = (src.t_first, src.t_last);
    let times: Vec<f64> = if let Some(at) = a.at {
        let t = at * spu;
        if !(t_first - 1e-6..=t_last + 1e-6).contains(&t) {
            return Err(BadInput(format!(
                "--at {at} is outside the input's time range [{}, {}]",
                t_first / spu,
                t_last / spu
            ))
            .into());
        }
        vec![t]
    } else if a.every_step {
        // The 0.4 s grid back from the last time, at the steps nearest to an actual
        // observation: bounded by the number of rows, whatever the gaps between them.
        let ks: std::collections::BTreeSet<u64> = src
            .times
            .iter()
            .map(|&t| ((t_last - t * spu) / DT).round() as u64)
            .collect();
        ks.into_iter()
            .rev()
            .map(|k| t_last - k as f64 * DT)
            .collect()
    } else {
        vec![t_last]
    };

    let mut out = Output::create(&a.output, kind, &model_name, a.samples, time_kind)?;
    let mut skipped: Vec<(f64, String, &'static str)> = Vec::new();
    let pb = bar(times.len() as u64, "predicting");
    let mut last_panel: Option<Panel> = None;
    let mut predicted = 0usize;
    let mut ti = 0;
    while ti < times.len() {
        // Gather whole time steps until the batch is full.
        let mut jobs: Vec<Vec<Job>> = Vec::new();
        let mut n = 0;
        while ti < times.len() && (n == 0 || n < BATCH_AGENTS) {
            let t = times[ti];
            let mut js = Vec::new();
            for tr in src.tracks_at(t)?.iter().filter(|tr| tr.covers(t)) {
                match tr.history(t, DT, OBS_LEN) {
                    Some(h) => js.push(Job {
                        t_sec: t,
                        id: tr.id.clone(),
                        observed: h.observed,
                        obs: h.pts,
                        truth: tr
                            .future(t, DT, PRED_LEN)
                            .into_iter()
                            .map_while(|p| p)
                            .collect(),
                    }),
                    None => skipped.push((
                        input_time(t, spu),
                        tr.id.clone(),
                        "fewer than 2 observed steps",
                    )),
                }
            }
            n += js.len();
            jobs.push(js);
            ti += 1;
        }
        let mut scenes = Vec::new();
        let mut owners = Vec::new(); // (time index in `jobs`, job indices)
        for (k, js) in jobs.iter().enumerate() {
            for group in spatial_groups(js) {
                scenes.push(Scene {
                    source: a.input.display().to_string(),
                    t: js[group[0]].t_sec,
                    agents: group
                        .iter()
                        .map(|&j| AgentWindow {
                            id: js[j].id.clone(),
                            obs: std::array::from_fn(|i| rel(js[j].obs[i], origin)),
                            future: None,
                        })
                        .collect(),
                });
                owners.push((k, group));
            }
        }
        let fc = pred
            .forecast(&scenes, a.samples)
            .context("prediction failed")?;
        let mut per_time: Vec<Vec<(usize, &AgentForecast)>> = vec![Vec::new(); jobs.len()];
        for ((k, group), sf) in owners.iter().zip(&fc) {
            for (&j, af) in group.iter().zip(&sf.agents) {
                per_time[*k].push((j, af));
            }
        }
        for (k, mut list) in per_time.into_iter().enumerate() {
            list.sort_by_key(|(j, _)| *j);
            if list.is_empty() {
                continue;
            }
            let js = &jobs[k];
            out.write_time(input_time(js[0].t_sec, spu), &list, js, origin)?;
            predicted += list.len();
            if a.plot.is_some() {
                last_panel = Some(panel(js, &list, origin, input_time(js[0].t_sec, spu)));
            }
        }
        pb.inc(jobs.len() as u64);
    }
    pb.finish_and_clear();
    if predicted == 0 {
        drop(out);
        return Err(BadInput(format!(
            "{}: no agent has 2 or more observed steps at the prediction time{}",
            a.input.display(),
            if a.every_step { "s" } else { "" }
        ))
        .into());
    }
    if let (Some(p), Some(panel)) = (&a.plot, last_panel) {
        plot::draw(p, &[panel]).with_context(|| format!("drawing {}", p.display()))?;
    }
    out.finish(&skipped)?;
    for (t, id, why) in &skipped {
        eprintln!("skipped agent {id} at t={t}: {why}");
    }
    eprintln!(
        "{} predictions ({} samples each) written to {}",
        predicted,
        a.samples,
        a.output.display()
    );
    Ok(())
}

/// The input's tracks, whole in memory or through a sliding window.
struct Source {
    time: TimeKind,
    spu: f64,
    /// Distinct values of the time column (input units).
    times: Vec<f64>,
    origin: [f64; 2],
    /// Seconds.
    t_first: f64,
    t_last: f64,
    tracks: Tracks,
}

enum Tracks {
    /// Rows out of time order: the whole file is held.
    All(Vec<Track>),
    /// Rows in time order (recorded data): only those near the prediction time are held,
    /// so memory does not grow with the file.
    Window(Box<Window<'static>>),
}

impl Source {
    fn open(path: &Path, format: Format, dt: Option<f64>, max_gap: f64) -> Result<Self> {
        let back = (OBS_LEN - 1) as f64 * DT;
        let ahead = PRED_LEN as f64 * DT;
        let range_err = |t: f64, spu: f64, line: u64| {
            BadInput(format!(
                "{}:{line}: time {t} is out of range at {spu:e} s per unit",
                path.display()
            ))
        };
        if let Some(sc) = scan(RowReader::open(path, format)?)? {
            let spu = seconds_per_unit(sc.time, &sc.times, dt)?;
            let (first, last) = (sc.times[0], sc.times[sc.times.len() - 1]);
            for (t, line) in [(first, sc.first_line), (last, sc.last_line)] {
                if !(t * spu).is_finite() {
                    return Err(range_err(t, spu, line).into());
                }
            }
            let w = Window::new(RowReader::open(path, format)?, spu, max_gap, back, ahead);
            return Ok(Self {
                time: sc.time,
                spu,
                origin: sc.origin,
                t_first: first * spu,
                t_last: last * spu,
                times: sc.times,
                tracks: Tracks::Window(Box::new(w)),
            });
        }
        tracing::info!(
            "{}: rows are not in time order; reading the whole file",
            path.display()
        );
        let tf = read_track_file(path, format)?;
        let mut times: Vec<f64> = tf.rows.iter().map(|r| r.t).collect();
        times.sort_by(f64::total_cmp);
        times.dedup();
        let spu = seconds_per_unit(tf.time, &times, dt)?;
        let tracks = split_at_gaps(tracks_from_rows(&tf.rows, path, spu)?, max_gap);
        let origin = tf.rows.iter().fold([f64::INFINITY, f64::INFINITY], |o, r| {
            [o[0].min(r.x), o[1].min(r.y)]
        });
        let t_first = tracks
            .iter()
            .map(Track::first)
            .fold(f64::INFINITY, f64::min);
        let t_last = tracks
            .iter()
            .map(Track::last)
            .fold(f64::NEG_INFINITY, f64::max);
        Ok(Self {
            time: tf.time,
            spu,
            times,
            origin,
            t_first,
            t_last,
            tracks: Tracks::All(tracks),
        })
    }

    /// Tracks enough for predictions at `t` (seconds; non-decreasing from call to call).
    fn tracks_at(&mut self, t: f64) -> Result<&[Track]> {
        match &mut self.tracks {
            Tracks::All(v) => Ok(v),
            Tracks::Window(w) => Ok(w.tracks_at(t)?),
        }
    }
}

/// Seconds back to the input's time unit, rounded to 1e-9 of a unit (the 0.4 s grid
/// arithmetic would otherwise print 9.999999999999998 for frame 10).
fn input_time(t_sec: f64, spu: f64) -> f64 {
    ((t_sec / spu) * 1e9).round() / 1e9
}

fn rel(p: [f64; 2], o: [f64; 2]) -> Vec2 {
    Vec2::new((p[0] - o[0]) as f32, (p[1] - o[1]) as f32)
}

fn abs(p: &Vec2, o: [f64; 2]) -> [f64; 2] {
    [p.x as f64 + o[0], p.y as f64 + o[1]]
}

/// Indices of `jobs` cut into groups of at most [`MAX_SCENE_AGENTS`], neighbours in x
/// kept together.
fn spatial_groups(jobs: &[Job]) -> Vec<Vec<usize>> {
    if jobs.is_empty() {
        return vec![];
    }
    let mut idx: Vec<usize> = (0..jobs.len()).collect();
    if jobs.len() > MAX_SCENE_AGENTS {
        idx.sort_by(|&a, &b| jobs[a].obs[OBS_LEN - 1][0].total_cmp(&jobs[b].obs[OBS_LEN - 1][0]));
    }
    idx.chunks(MAX_SCENE_AGENTS).map(|c| c.to_vec()).collect()
}

fn panel(js: &[Job], list: &[(usize, &AgentForecast)], origin: [f64; 2], t: f64) -> Panel {
    Panel {
        title: format!("t = {t}"),
        agents: list
            .iter()
            .map(|(j, af)| PlotAgent {
                obs: js[*j].obs[OBS_LEN - js[*j].observed..]
                    .iter()
                    .map(|p| (p[0], p[1]))
                    .collect(),
                truth: js[*j].truth.iter().map(|p| (p[0], p[1])).collect(),
                samples: af
                    .ranked()
                    .into_iter()
                    .map(|s| {
                        af.samples[s]
                            .iter()
                            .map(|p| {
                                let q = abs(p, origin);
                                (q[0], q[1])
                            })
                            .collect()
                    })
                    .collect(),
            })
            .collect(),
    }
}

/// Streams results into a temporary file beside the output; `finish` renames it into
/// place, so a failure never leaves a half-written output.
struct Output {
    kind: OutKind,
    w: std::io::BufWriter<tempfile::NamedTempFile>,
    path: PathBuf,
    first: bool,
}

impl Output {
    fn create(path: &Path, kind: OutKind, model: &str, k: usize, time: TimeKind) -> Result<Self> {
        let tmp = crate::common::temp_beside(path, "")?;
        let mut w = std::io::BufWriter::new(tmp);
        match kind {
            OutKind::Csv => writeln!(w, "t,agent_id,sample,step,x,y,energy,weight")?,
            OutKind::Json => write!(
                w,
                "{{\"model\":{},\"samples\":{k},\"step_seconds\":{DT},\"time_unit\":\"{}\",\"predictions\":[",
                serde_json::to_string(model)?,
                if time == TimeKind::Seconds { "s" } else { "frame" }
            )?,
        }
        Ok(Self {
            kind,
            w,
            path: path.to_path_buf(),
            first: true,
        })
    }

    fn write_time(
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
                            let q = abs(p, origin);
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
                let agents: Vec<serde_json::Value> = list
                    .iter()
                    .map(|(j, af)| {
                        let w = af.weights();
                        let samples: Vec<serde_json::Value> = af
                            .ranked()
                            .into_iter()
                            .enumerate()
                            .map(|(rank, s)| {
                                let pts: Vec<[f64; 2]> = af.samples[s].iter().map(|p| abs(p, origin)).collect();
                                serde_json::json!({"rank": rank, "energy": af.energies[s], "weight": w[s], "points": pts})
                            })
                            .collect();
                        serde_json::json!({"id": js[*j].id, "observed_steps": js[*j].observed, "samples": samples})
                    })
                    .collect();
                if !self.first {
                    write!(self.w, ",")?;
                }
                serde_json::to_writer(&mut self.w, &serde_json::json!({"t": t, "agents": agents}))?;
            }
        }
        self.first = false;
        Ok(())
    }

    fn finish(mut self, skipped: &[(f64, String, &'static str)]) -> Result<()> {
        if self.kind == OutKind::Json {
            let sk: Vec<serde_json::Value> = skipped
                .iter()
                .map(|(t, id, why)| serde_json::json!({"t": t, "id": id, "reason": why}))
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
