//! `lbebm predict`: track files in, K sampled futures per agent out (CSV or JSON),
//! optionally a picture.
//!
//! [`run`] reads the flags once into a checked plan, opens the input ([`source`]),
//! predicts batches of whole time steps, and streams the results ([`output`]).

mod job;
mod output;

use crate::common::{bar, device, load_model, BadInput, EVAL_SEED};
use crate::plot::{self, Panel, PlotAgent};
use anyhow::{Context, Result};
use clap::{Args, ValueEnum};
use job::{Job, Skipped};
use lbebm_data::read::Format;
use lbebm_data::source::{input_time, spatial_groups, Source};
use lbebm_data::MAX_GAP;
use lbebm_model::LbebmPredictor;
use lbebm_types::{to_local, to_world, AgentForecast, AgentWindow, Scene, DT, OBS_LEN, PRED_LEN};
use output::{OutKind, Output};
use std::path::{Path, PathBuf};

/// Scenes larger than this are cut into spatial groups (sorted along x), which bounds
/// the social-pooling matrix (it grows with the square of the scene size).
const MAX_SCENE_AGENTS: usize = 256;
/// Agents per model call.
const BATCH_AGENTS: usize = 512;

/// `--format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FormatArg {
    /// CSV when the first line is a header, Social-GAN text otherwise.
    Auto,
    /// Social-GAN text: `frame id x y`, tab or space separated.
    Sgan,
    /// CSV with a header: `frame` or `t` (seconds), `id`, `x`, `y`.
    Csv,
}

/// `lbebm predict`'s flags.
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

/// Runs `lbebm predict`.
pub fn run(a: PredictArgs) -> Result<()> {
    let kind = check(&a)?;
    let mut src = Source::open(&a.input, format_of(a.format), a.dt, a.max_gap)?;
    let times = prediction_times(&a, &src)?;
    let dev = device(&a.device)?;
    let (loaded, model_name) = load_model(a.model.as_deref(), &dev)?;
    let mut pred = LbebmPredictor::new(loaded.model, a.seed, model_name.clone())?;
    if let Some(s) = a.steps {
        pred.set_steps(s);
    }
    if let Some(c) = a.candidates {
        pred.set_candidates(c);
    }
    let mut out = Output::create(&a.output, kind, &model_name, a.samples, src.time)?;
    let done = predict_all(&a, &mut src, &mut pred, &times, &mut out)?;
    if done.predicted == 0 {
        drop(out);
        return Err(BadInput(format!(
            "{}: no agent has 2 or more observed steps at the prediction time{}",
            a.input.display(),
            if a.every_step { "s" } else { "" }
        ))
        .into());
    }
    if let (Some(p), Some(panel)) = (&a.plot, done.last_panel) {
        plot::draw(p, &[panel]).with_context(|| format!("drawing {}", p.display()))?;
    }
    out.finish(&done.skipped)?;
    for s in &done.skipped {
        eprintln!("skipped agent {} at t={}: {}", s.id, s.t, s.reason);
    }
    eprintln!(
        "{} predictions ({} samples each) written to {}",
        done.predicted,
        a.samples,
        a.output.display()
    );
    Ok(())
}

/// The output's kind; every flag checked before any work (and the output folders made).
fn check(a: &PredictArgs) -> Result<OutKind> {
    let ext = |p: &Path| {
        p.extension()
            .map(|e| e.to_string_lossy().to_ascii_lowercase())
    };
    let kind = match ext(&a.output).as_deref() {
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
        if !matches!(ext(p).as_deref(), Some("svg") | Some("png")) {
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
    Ok(kind)
}

fn format_of(f: FormatArg) -> Format {
    match f {
        FormatArg::Auto => Format::Auto,
        FormatArg::Sgan => Format::Sgan,
        FormatArg::Csv => Format::Csv,
    }
}

/// The times to predict at (seconds): `--at`, every 0.4 s step, or the last time.
fn prediction_times(a: &PredictArgs, src: &Source) -> Result<Vec<f64>> {
    let (spu, t_first, t_last) = (src.spu, src.t_first, src.t_last);
    if let Some(at) = a.at {
        let t = at * spu;
        if !(t_first - 1e-6..=t_last + 1e-6).contains(&t) {
            return Err(BadInput(format!(
                "--at {at} is outside the input's time range [{}, {}]",
                t_first / spu,
                t_last / spu
            ))
            .into());
        }
        return Ok(vec![t]);
    }
    if a.every_step {
        // The 0.4 s grid back from the last time, at the steps nearest to an actual
        // observation: bounded by the number of rows, whatever the gaps between them.
        let ks: std::collections::BTreeSet<u64> = src
            .times
            .iter()
            .map(|&t| ((t_last - t * spu) / DT).round() as u64)
            .collect();
        return Ok(ks
            .into_iter()
            .rev()
            .map(|k| t_last - k as f64 * DT)
            .collect());
    }
    Ok(vec![t_last])
}

/// What [`predict_all`] made.
struct Done {
    predicted: usize,
    skipped: Vec<Skipped>,
    last_panel: Option<Panel>,
}

/// Predicts at every time of `times`, in batches of whole time steps of about
/// [`BATCH_AGENTS`] agents, writing each time's forecasts as they come.
fn predict_all(
    a: &PredictArgs,
    src: &mut Source,
    pred: &mut LbebmPredictor,
    times: &[f64],
    out: &mut Output,
) -> Result<Done> {
    let (spu, origin) = (src.spu, src.origin);
    let mut done = Done {
        predicted: 0,
        skipped: Vec::new(),
        last_panel: None,
    };
    let pb = bar(times.len() as u64, "predicting");
    let mut ti = 0;
    while ti < times.len() {
        // Gather whole time steps until the batch is full.
        let mut jobs: Vec<Vec<Job>> = Vec::new();
        let mut n = 0;
        while ti < times.len() && (n == 0 || n < BATCH_AGENTS) {
            let js = jobs_at(src, times[ti], &mut done.skipped)?;
            n += js.len();
            jobs.push(js);
            ti += 1;
        }
        let (scenes, owners) = scenes_of(&jobs, &a.input, origin);
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
            let t = input_time(js[0].t_sec, spu);
            out.write_time(t, &list, js, origin)?;
            done.predicted += list.len();
            if a.plot.is_some() {
                done.last_panel = Some(panel(js, &list, origin, t));
            }
        }
        pb.inc(jobs.len() as u64);
    }
    pb.finish_and_clear();
    Ok(done)
}

/// The agents to predict at `t` (seconds), and those that cannot be.
fn jobs_at(src: &mut Source, t: f64, skipped: &mut Vec<Skipped>) -> Result<Vec<Job>> {
    let spu = src.spu;
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
            None => skipped.push(Skipped {
                t: input_time(t, spu),
                id: tr.id.clone(),
                reason: "fewer than 2 observed steps",
            }),
        }
    }
    Ok(js)
}

/// The model's scenes for a batch of time steps (spatial groups of each), relative to
/// `origin`, and for each scene its time step and job indices.
#[allow(clippy::type_complexity)]
fn scenes_of(
    jobs: &[Vec<Job>],
    input: &Path,
    origin: [f64; 2],
) -> (Vec<Scene>, Vec<(usize, Vec<usize>)>) {
    let mut scenes = Vec::new();
    let mut owners = Vec::new();
    for (k, js) in jobs.iter().enumerate() {
        let xs: Vec<f64> = js.iter().map(|j| j.obs[OBS_LEN - 1][0]).collect();
        for group in spatial_groups(&xs, MAX_SCENE_AGENTS) {
            scenes.push(Scene {
                source: input.display().to_string(),
                t: js[group[0]].t_sec,
                agents: group
                    .iter()
                    .map(|&j| AgentWindow {
                        id: js[j].id.clone(),
                        obs: std::array::from_fn(|i| to_local(js[j].obs[i], origin)),
                        future: None,
                    })
                    .collect(),
            });
            owners.push((k, group));
        }
    }
    (scenes, owners)
}

/// The plot of one time's forecasts.
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
                                let q = to_world(p, origin);
                                (q[0], q[1])
                            })
                            .collect()
                    })
                    .collect(),
            })
            .collect(),
    }
}
