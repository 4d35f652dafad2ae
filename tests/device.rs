//! `--device`: a GPU that this build cannot use is refused with exit code 2 and a message
//! that says why, before any work starts, by every command that takes the flag.

mod common;

use common::{lbebm, repo, run};
use std::process::Output;

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A CUDA device that cannot be had here: without the `cuda` feature any; with it, an
/// ordinal no machine has.
fn missing_gpu() -> &'static str {
    if cfg!(feature = "cuda") {
        "cuda:999"
    } else {
        "cuda:0"
    }
}

fn refused(args: &[&str], needles: &[&str]) {
    // Without a backtrace the error is one line (candle adds one to driver errors).
    let o = run(lbebm()
        .current_dir(repo())
        .env_remove("RUST_BACKTRACE")
        .env_remove("RUST_LIB_BACKTRACE")
        .args(args));
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
    assert!(o.stdout.is_empty(), "{args:?} printed results: {err}");
    for n in needles {
        assert!(err.contains(n), "{args:?}: {n:?} not in {err:?}");
    }
    assert_eq!(err.trim().lines().count(), 1, "{args:?}: one line: {err:?}");
}

#[test]
fn an_unavailable_gpu_is_refused_by_every_command() {
    let gpu = missing_gpu();
    let mut needles = vec!["--device", "not available"];
    if !cfg!(feature = "cuda") {
        needles.push("--features cuda");
    }
    refused(
        &["bench", "--device", gpu, "--reps", "1", "--no-train"],
        &needles,
    );
    refused(&["eval", "--split", "eth", "--device", gpu], &needles);
    let out = tempfile::tempdir().expect("temporary folder");
    let out_s = out.path().join("ck");
    refused(
        &[
            "train",
            "--config",
            "configs/eth.toml",
            "--epochs",
            "1",
            "--max-scenes",
            "2",
            "--device",
            gpu,
            "--out",
            out_s.to_str().expect("utf-8 path"),
        ],
        &needles,
    );
    assert!(!out_s.exists(), "train created its output before refusing");
    let tracks = out.path().join("tracks.txt");
    std::fs::write(&tracks, "0 1 0.0 0.0\n10 1 0.4 0.0\n").expect("write tracks");
    refused(
        &[
            "predict",
            "--input",
            tracks.to_str().expect("utf-8 path"),
            "--output",
            out.path().join("p.csv").to_str().expect("utf-8 path"),
            "--device",
            gpu,
        ],
        &needles,
    );
}

#[test]
fn an_unknown_device_name_is_refused() {
    refused(
        &["bench", "--device", "gpu0", "--reps", "1", "--no-train"],
        &["--device", "unknown device", "cpu or cuda:N"],
    );
    refused(
        &["bench", "--device", "cuda:x", "--reps", "1", "--no-train"],
        &["--device", "unknown device"],
    );
}

#[test]
fn version_says_whether_the_build_has_cuda() {
    let o = run(lbebm().arg("--version"));
    assert!(o.status.success());
    let v = String::from_utf8_lossy(&o.stdout);
    if cfg!(feature = "cuda") {
        assert!(v.contains("CUDA backend"), "{v}");
    } else {
        assert!(v.contains("CPU only"), "{v}");
    }
}

/// `bench` cuts its agents into scenes and passes like `eval`, and reports the device and
/// agent-samples per second.
#[test]
fn bench_reports_device_scenes_and_throughput() {
    let o = run(lbebm().args([
        "bench",
        "--device",
        "cpu",
        "--agents",
        "40",
        "--scene-agents",
        "16",
        "--batch-agents",
        "32",
        "--samples",
        "2",
        "--reps",
        "1",
        "--warmup",
        "0",
        "--batch",
        "9",
        "--json",
    ]));
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("one JSON object");
    assert_eq!(v["device"]["device"], "cpu");
    assert_eq!(v["device"]["cuda_build"], cfg!(feature = "cuda"));
    let p = &v["predict"];
    assert_eq!(p["agents"], 40);
    // Scenes of 16, 16 and 8 agents; passes of at most 32 agents: [16, 16] and [8].
    assert_eq!(p["scenes"], 3);
    assert_eq!(p["batches"], 2);
    assert_eq!(p["device_noise"], false);
    let rate = p["agent_samples_per_s"].as_f64().expect("a rate");
    let ms = p["median_ms"].as_f64().expect("a time");
    assert!(rate > 0.0 && ms > 0.0);
    assert!(
        (rate * ms / 1e3 - 80.0).abs() < 1e-6,
        "{rate} × {ms} ms ≠ 80"
    );
    assert_eq!(v["train_step"]["batch"], 9);
    assert!(v["train_step"]["median_ms"].as_f64().expect("a time") > 0.0);
    for bad in [
        ["--scene-agents", "0"],
        ["--batch-agents", "0"],
        ["--agents", "0"],
    ] {
        let o = run(lbebm()
            .args(["bench", "--no-train", "--reps", "1"])
            .args(bad));
        assert_eq!(o.status.code(), Some(2), "{bad:?}: {}", stderr(&o));
    }
}
