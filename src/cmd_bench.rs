//! `lbebm bench`: latency of prediction and of one training step at the reference
//! sizes, on synthetic scenes (no data needed). Medians and p90 over ≥ 20 runs after a
//! warm-up.

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
    /// Agents in the predicted scene.
    #[arg(long, default_value_t = 32)]
    agents: usize,
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
    /// Skip the training-step measurement.
    #[arg(long)]
    no_train: bool,
    /// Parts each training batch is cut into, computed side by side (`train.batch_parts`;
    /// default: the training default, 2).
    #[arg(long)]
    parts: Option<usize>,
}

fn synthetic(n_scenes: usize, per_scene: usize, seed: u64) -> Vec<Scene> {
    let mut r = StdRng::seed_from_u64(seed);
    (0..n_scenes)
        .map(|i| Scene {
            source: "bench".into(),
            t: i as f64,
            agents: (0..per_scene)
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

fn stats(mut v: Vec<f64>) -> (f64, f64) {
    v.sort_by(f64::total_cmp);
    let q = |p: f64| v[((v.len() - 1) as f64 * p).round() as usize];
    (q(0.5), q(0.9))
}

pub fn run(a: BenchArgs) -> Result<()> {
    if a.agents == 0 || a.samples == 0 || a.reps < 1 || a.batch == 0 {
        return Err(
            BadInput("--agents, --samples, --reps and --batch must be positive".into()).into(),
        );
    }
    let dev = device(&a.device)?;
    let threads = candle_core::utils::get_num_threads();
    let warm = 3;
    // Prediction.
    let model = match &a.model {
        Some(m) => load_model(Some(m), &dev)?.0.model,
        None => {
            let (m, vm) = checkpoint::build(&Config::default().check()?, &dev)?;
            seeded_init(&vm, 1)?;
            m
        }
    };
    let mut p = LbebmPredictor::new(model, 7, "bench");
    let scene = synthetic(1, a.agents, 1);
    let mut times = Vec::with_capacity(a.reps);
    for i in 0..warm + a.reps {
        let t0 = Instant::now();
        let out = p.forecast(&scene, a.samples)?;
        std::hint::black_box(&out);
        if i >= warm {
            times.push(t0.elapsed().as_secs_f64() * 1e3);
        }
    }
    let (pm, p90) = stats(times);
    let mut report = json!({
        "predict": {"agents": a.agents, "samples": a.samples, "threads": threads, "median_ms": pm, "p90_ms": p90},
    });
    if !a.no_train {
        let cfg = Config::default().check()?;
        let (model, vm) = checkpoint::build(&cfg, &dev)?;
        seeded_init(&vm, 1)?;
        let mut adam = Adam::new(&vm, 1e-4)?;
        let per = 7.min(a.batch);
        let scenes = synthetic(a.batch.div_ceil(per), per, 2);
        let mut agents = 0;
        let scenes: Vec<Scene> = scenes
            .into_iter()
            .map(|mut s| {
                let take = per.min(a.batch - agents);
                s.agents.truncate(take);
                agents += take;
                s
            })
            .filter(|s| !s.is_empty())
            .collect();
        let n = agents;
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
        report["train_step"] =
            json!({"batch": n, "threads": threads, "parts": parts, "median_ms": tm, "p90_ms": t90});
    }
    if a.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        let p = &report["predict"];
        println!(
            "predict {} agents x {} samples, {} threads: median {:.2} ms, p90 {:.2} ms",
            p["agents"], p["samples"], threads, pm, p90
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
