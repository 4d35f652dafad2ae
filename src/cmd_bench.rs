//! `lbebm bench`: latency of prediction and of one training step at the reference
//! sizes, on synthetic scenes (no data needed). Medians and p90 over the timed runs
//! after a warm-up; prediction also as agent-samples per second.

use crate::common::{device, load_model, BadInput};
use anyhow::Result;
use clap::Args;
use lbebm_model::checkpoint;
use lbebm_model::model::TrainNoise;
use lbebm_model::train::{batch_grads, seeded_init, Adam};
use lbebm_model::{Config, LbebmPredictor};
use lbebm_types::{AgentWindow, Scene, Vec2, OBS_LEN};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::json;
use std::path::PathBuf;
use std::time::Instant;

#[derive(Args)]
pub struct BenchArgs {
    /// Agents predicted per timed run.
    #[arg(long, default_value_t = 32)]
    agents: usize,
    /// Agents per synthetic scene: --agents is cut into scenes of this many (the last
    /// may be smaller). Social pooling mixes agents of a scene only.
    #[arg(long, default_value_t = 32)]
    scene_agents: usize,
    /// Agents per forward pass (whole scenes, as `eval` batches them): a timed run is
    /// one pass per batch.
    #[arg(long, default_value_t = 512)]
    batch_agents: usize,
    /// Samples per agent.
    #[arg(long, default_value_t = 20)]
    samples: usize,
    /// Worker threads (default: all cores). Must be given before other work starts,
    /// so it is applied at program start.
    #[arg(long)]
    pub threads: Option<usize>,
    #[arg(long, default_value = "cpu")]
    device: String,
    /// Timed repetitions of each measurement.
    #[arg(long, default_value_t = 30)]
    reps: usize,
    /// Untimed runs before the timed ones.
    #[arg(long, default_value_t = 3)]
    warmup: usize,
    /// Idle milliseconds before each prediction run (untimed), as between the scenes of a
    /// live input (the ROS node at 10 Hz: 100): the threads sleep and the caches cool
    /// down, which back-to-back runs never see.
    #[arg(long, default_value_t = 0)]
    gap_ms: u64,
    /// Agents per training batch.
    #[arg(long, default_value_t = 70)]
    batch: usize,
    /// Use this checkpoint for prediction (default: a freshly initialised model at the
    /// reference sizes; latency does not depend on the weights' values).
    #[arg(long)]
    model: Option<PathBuf>,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
    /// On a GPU, draw the sampling noise on the device (its own generator, seeded from
    /// ours) instead of on the host (the default: the CPU's numbers on every device).
    #[arg(long)]
    device_noise: bool,
    /// Skip the training-step measurement.
    #[arg(long)]
    no_train: bool,
    /// Parts each training batch is cut into, computed side by side (`train.batch_parts`;
    /// default: the training default, 2).
    #[arg(long)]
    parts: Option<usize>,
}

/// `agents` walkers in scenes of `per_scene` (the last one takes the rest).
fn synthetic(agents: usize, per_scene: usize, seed: u64) -> Vec<Scene> {
    let mut r = StdRng::seed_from_u64(seed);
    (0..agents.div_ceil(per_scene))
        .map(|i| Scene {
            source: "bench".into(),
            t: i as f64,
            agents: (0..per_scene.min(agents - i * per_scene))
                .map(|a| {
                    let p0 = Vec2::new(r.gen_range(-8.0..8.0), r.gen_range(-8.0..8.0));
                    let v = Vec2::new(r.gen_range(-0.6..0.6), r.gen_range(-0.6..0.6));
                    AgentWindow {
                        id: a.to_string(),
                        obs: std::array::from_fn(|k| p0 + v * k as f32),
                        future: Some(std::array::from_fn(|k| p0 + v * (k + OBS_LEN) as f32)),
                    }
                })
                .collect(),
        })
        .collect()
}

/// What ran the benchmark: the device asked for and, on a GPU, its name, compute
/// capability and memory.
pub fn device_report(name: &str, dev: &lbebm_model::Device) -> serde_json::Value {
    let mut r = json!({
        "device": name,
        "cuda_build": cfg!(feature = "cuda"),
        "threads": candle_core::utils::get_num_threads(),
    });
    gpu_details(&mut r, dev);
    r
}

#[cfg(feature = "cuda")]
fn gpu_details(r: &mut serde_json::Value, dev: &lbebm_model::Device) {
    let Ok(cuda) = dev.as_cuda_device() else {
        return;
    };
    let ctx = cuda.cuda_stream().context().clone();
    if let Ok(n) = ctx.name() {
        r["gpu"] = json!(n);
    }
    if let Ok((major, minor)) = ctx.compute_capability() {
        r["compute_capability"] = json!(format!("{major}.{minor}"));
    }
    if let Ok(m) = ctx.total_mem() {
        r["gpu_memory_gib"] = json!(m as f64 / (1u64 << 30) as f64);
    }
}

#[cfg(not(feature = "cuda"))]
fn gpu_details(_: &mut serde_json::Value, _: &lbebm_model::Device) {}

fn stats(mut v: Vec<f64>) -> (f64, f64) {
    v.sort_by(f64::total_cmp);
    let q = |p: f64| v[((v.len() - 1) as f64 * p).round() as usize];
    (q(0.5), q(0.9))
}

pub fn run(a: BenchArgs) -> Result<()> {
    if a.agents == 0
        || a.samples == 0
        || a.reps < 1
        || a.batch == 0
        || a.scene_agents == 0
        || a.batch_agents == 0
    {
        return Err(BadInput(
            "--agents, --samples, --reps, --batch, --scene-agents and --batch-agents must be positive"
                .into(),
        )
        .into());
    }
    let dev = device(&a.device)?;
    let threads = candle_core::utils::get_num_threads();
    let warm = a.warmup;
    // Prediction.
    let mut model = match &a.model {
        Some(m) => load_model(Some(m), &dev)?.0.model,
        None => {
            let (m, vm) = checkpoint::build(&Config::default().check()?, &dev)?;
            seeded_init(&vm, 1)?;
            m
        }
    };
    model.device_noise = a.device_noise;
    let mut p = LbebmPredictor::new(model, 7, "bench")?;
    let scenes = synthetic(a.agents, a.scene_agents, 1);
    let batches = lbebm_eval::scene_batches(&scenes, a.batch_agents);
    let mut times = Vec::with_capacity(a.reps);
    for i in 0..warm + a.reps {
        if a.gap_ms > 0 {
            std::thread::sleep(std::time::Duration::from_millis(a.gap_ms));
        }
        let t0 = Instant::now();
        for b in &batches {
            // The forecasts are read back to the host: the time includes the device's work.
            let out = p.forecast(b, a.samples)?;
            std::hint::black_box(&out);
        }
        if i >= warm {
            times.push(t0.elapsed().as_secs_f64() * 1e3);
        }
    }
    let (pm, p90) = stats(times);
    let mut report = json!({
        "device": device_report(&a.device, &dev),
        "predict": {
            "agents": a.agents,
            "samples": a.samples,
            "drawn_per_agent": a.samples.max(p.candidates()),
            "scenes": scenes.len(),
            "scene_agents": a.scene_agents.min(a.agents),
            "batches": batches.len(),
            "threads": threads,
            "fast_path": p.backend() == lbebm_model::sampler::Backend::Cpu,
            "device_noise": a.device_noise && !dev.is_cpu(),
            "reps": a.reps,
            "median_ms": pm,
            "p90_ms": p90,
            "agent_samples_per_s": (a.agents * a.samples) as f64 / (pm / 1e3),
        },
    });
    if !a.no_train {
        let cfg = Config::default().check()?;
        let (model, vm) = checkpoint::build(&cfg, &dev)?;
        seeded_init(&vm, 1)?;
        let mut adam = Adam::new(&vm, 1e-4)?;
        let scenes = synthetic(a.batch, 7.min(a.batch), 2);
        let n = a.batch;
        let parts = a.parts.unwrap_or(cfg.train.batch_parts);
        if parts == 0 {
            return Err(BadInput("--parts must be at least 1".into()).into());
        }
        let mut rng = StdRng::seed_from_u64(3);
        let mut times = Vec::with_capacity(a.reps);
        for i in 0..warm + a.reps {
            // Everything a training batch does: inputs to tensors, noise, forward,
            // backward, optimiser.
            let t0 = Instant::now();
            let z0 = lbebm_model::model::randn(&mut rng, (n, cfg.model.zdim), 2.0, &dev)?;
            let noise = TrainNoise::draw(&mut rng, n, cfg.model.zdim, cfg.langevin.steps);
            let (_, _, g) = batch_grads(&model, &scenes, None, &z0, &noise, parts, &dev)?;
            adam.step_sum(&g)?;
            if i >= warm {
                times.push(t0.elapsed().as_secs_f64() * 1e3);
            }
        }
        let (tm, t90) = stats(times);
        report["train_step"] = json!({
            "batch": n,
            "threads": threads,
            "parts": parts,
            "reps": a.reps,
            "median_ms": tm,
            "p90_ms": t90,
            "agents_per_s": n as f64 / (tm / 1e3),
        });
    }
    if a.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        let p = &report["predict"];
        println!(
            "predict {} agents x {} samples ({} scenes, {} batches) on {}, {} threads: median {:.2} ms, p90 {:.2} ms, {:.0} agent-samples/s",
            p["agents"],
            p["samples"],
            p["scenes"],
            p["batches"],
            a.device,
            threads,
            pm,
            p90,
            p["agent_samples_per_s"].as_f64().unwrap_or(f64::NAN)
        );
        if let Some(t) = report.get("train_step") {
            println!(
                "train step, batch {}, {} threads, {} parts: median {:.2} ms, p90 {:.2} ms",
                t["batch"],
                threads,
                t["parts"],
                t["median_ms"].as_f64().unwrap_or(f64::NAN),
                t["p90_ms"].as_f64().unwrap_or(f64::NAN)
            );
        }
    }
    Ok(())
}
