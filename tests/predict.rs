//! `lbebm predict` end to end with the shipped default model: both input formats, the
//! outputs' contents, short histories, and every bad-input case.

mod common;
use common::*;
use std::path::{Path, PathBuf};

/// Straight walkers in Social-GAN text (frames 10 apart = 0.4 s), one late arrival with
/// two points and one with a single point.
fn sgan_scene() -> String {
    let mut s = String::new();
    for f in 0..10 {
        let fr = f * 10;
        s += &format!("{fr}\t1\t{:.2}\t0.0\n", f as f64 * 0.5);
        s += &format!("{fr}\t2\t5.0\t{:.2}\n", f as f64 * 0.4);
        s += &format!("{fr}\t3\t{:.2}\t3.0\n", 8.0 - f as f64 * 0.45);
    }
    s += "80\t4\t1.0\t1.0\n90\t4\t1.3\t1.2\n";
    s += "90\t5\t-3.0\t-3.0\n";
    s
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

fn predict(args: &[&str]) -> std::process::Output {
    run(lbebm().arg("predict").args(args))
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn sgan_input_to_csv_output() {
    let d = tempfile::tempdir().unwrap();
    let inp = write(d.path(), "scene.txt", &sgan_scene());
    let out = d.path().join("pred.csv");
    let o = predict(&["--input", s(&inp), "--output", s(&out), "--samples", "5"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = std::fs::read_to_string(&out).unwrap();
    let mut lines = text.lines();
    assert_eq!(
        lines.next(),
        Some("t,agent_id,sample,step,x,y,energy,weight")
    );
    let rows: Vec<Vec<String>> = lines
        .map(|l| l.split(',').map(String::from).collect())
        .collect();
    // Agents 1–4 predicted (4 has two points), 5 skipped: 4 agents × 5 samples × 12 steps.
    assert_eq!(rows.len(), 4 * 5 * 12);
    assert!(rows.iter().all(|r| r[0] == "90"));
    let ids: std::collections::BTreeSet<&str> = rows.iter().map(|r| r[1].as_str()).collect();
    assert_eq!(
        ids.into_iter().collect::<Vec<_>>(),
        vec!["1", "2", "3", "4"]
    );
    for r in &rows {
        let step: usize = r[3].parse().unwrap();
        let sample: usize = r[2].parse().unwrap();
        assert!((1..=12).contains(&step) && sample < 5);
        assert!(
            r[4].parse::<f64>().unwrap().is_finite() && r[6].parse::<f32>().unwrap().is_finite()
        );
    }
    // Samples are numbered by rank: the weight never increases with the sample number,
    // and an agent's weights sum to 1.
    let w = |id: &str, sample: &str| -> f32 {
        rows.iter().find(|r| r[1] == id && r[2] == sample).unwrap()[7]
            .parse()
            .unwrap()
    };
    for id in ["1", "2", "3", "4"] {
        for k in 1..5 {
            assert!(w(id, &(k - 1).to_string()) >= w(id, &k.to_string()));
        }
        let sum: f32 = (0..5).map(|k| w(id, &k.to_string())).sum();
        assert!((sum - 1.0).abs() < 1e-4, "{sum}");
    }
    // Walker 1 goes +x at 1.25 m/s: its samples' last points stay near x = 4.5 + 12·0.5.
    let finals: Vec<f64> = rows
        .iter()
        .filter(|r| r[1] == "1" && r[3] == "12")
        .map(|r| r[4].parse().unwrap())
        .collect();
    let mean = finals.iter().sum::<f64>() / finals.len() as f64;
    assert!((mean - 10.5).abs() < 3.0, "walker 1 ends near x={mean}");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("skipped agent 5"), "{err}");
}

#[test]
fn csv_input_to_json_output_with_plots_from_another_directory() {
    let d = tempfile::tempdir().unwrap();
    let example = repo().join("datasets/examples/crossing.csv");
    let out = d.path().join("sub/pred.json");
    let svg = d.path().join("sub/pic.svg");
    let o = run(lbebm().current_dir(d.path()).args([
        "predict",
        "--input",
        s(&example),
        "--output",
        s(&out),
        "--plot",
        s(&svg),
        "--samples",
        "4",
    ]));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    assert_eq!(v["samples"], 4);
    assert_eq!(v["time_unit"], "s");
    let preds = v["predictions"].as_array().unwrap();
    assert_eq!(preds.len(), 1);
    assert!((preds[0]["t"].as_f64().unwrap() - 6.0).abs() < 1e-9);
    let agents = preds[0]["agents"].as_array().unwrap();
    assert_eq!(agents.len(), 7);
    let gus = agents.iter().find(|a| a["id"] == "gus").unwrap();
    assert!(
        gus["observed_steps"].as_u64().unwrap() < 8,
        "gus arrives late"
    );
    for a in agents {
        let smp = a["samples"].as_array().unwrap();
        assert_eq!(smp.len(), 4);
        let w: f64 = smp.iter().map(|x| x["weight"].as_f64().unwrap()).sum();
        assert!((w - 1.0).abs() < 1e-4);
        let ws: Vec<f64> = smp.iter().map(|x| x["weight"].as_f64().unwrap()).collect();
        assert!(
            ws.windows(2).all(|p| p[0] >= p[1]),
            "ranked by weight: {ws:?}"
        );
        let ranks: Vec<u64> = smp.iter().map(|x| x["rank"].as_u64().unwrap()).collect();
        assert_eq!(ranks, vec![0, 1, 2, 3]);
        assert!(smp
            .iter()
            .all(|x| x["energy"].as_f64().unwrap().is_finite()));
        assert_eq!(smp[0]["points"].as_array().unwrap().len(), 12);
    }
    let pic = std::fs::read_to_string(&svg).unwrap();
    assert!(
        pic.starts_with("<svg") && pic.contains("polyline"),
        "an SVG with lines"
    );
    let png = d.path().join("pic.png");
    let o = predict(&[
        "--input",
        s(&example),
        "--output",
        s(&d.path().join("p.csv")),
        "--plot",
        s(&png),
        "--samples",
        "2",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(&std::fs::read(&png).unwrap()[..4], b"\x89PNG");
}

#[test]
fn every_step_and_at() {
    let d = tempfile::tempdir().unwrap();
    let inp = write(d.path(), "scene.txt", &sgan_scene());
    let out = d.path().join("all.json");
    let o = predict(&[
        "--input",
        s(&inp),
        "--output",
        s(&out),
        "--samples",
        "2",
        "--every-step",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    let ts: Vec<f64> = v["predictions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["t"].as_f64().unwrap())
        .collect();
    // Frames 10..90 have agents with two or more steps; frame 0 has only single points.
    assert_eq!(ts, (1..10).map(|f| (f * 10) as f64).collect::<Vec<_>>());
    assert!(!v["skipped"].as_array().unwrap().is_empty());
    let out = d.path().join("at.csv");
    let o = predict(&[
        "--input",
        s(&inp),
        "--output",
        s(&out),
        "--samples",
        "2",
        "--at",
        "40",
    ]);
    assert!(o.status.success());
    let text = std::fs::read_to_string(&out).unwrap();
    assert!(text.lines().skip(1).all(|l| l.starts_with("40,")));
    assert_eq!(text.lines().count(), 1 + 3 * 2 * 12);
}

#[test]
fn unsorted_rows_give_the_same_result_as_sorted_ones() {
    let d = tempfile::tempdir().unwrap();
    let sorted = write(d.path(), "a.txt", &sgan_scene());
    let text = sgan_scene();
    let mut lines: Vec<&str> = text.lines().collect();
    lines.reverse();
    let shuffled = write(d.path(), "b.txt", &(lines.join("\n") + "\n"));
    let (o1, o2) = (d.path().join("a.csv"), d.path().join("b.csv"));
    assert!(predict(&["--input", s(&sorted), "--output", s(&o1)])
        .status
        .success());
    assert!(predict(&["--input", s(&shuffled), "--output", s(&o2)])
        .status
        .success());
    let (a, b) = (
        std::fs::read_to_string(&o1).unwrap(),
        std::fs::read_to_string(&o2).unwrap(),
    );
    assert!(
        a == b,
        "outputs differ:\n{}\n---\n{}",
        &a[..a.len().min(400)],
        &b[..b.len().min(400)]
    );
}

/// Runs predict on `text` and checks: exit code 2, a one-line reason naming the file
/// (and `needle`), and no output file.
fn refused(name: &str, text: Option<&[u8]>, extra: &[&str], needle: &str) {
    let d = tempfile::tempdir().unwrap();
    let inp = d.path().join(name);
    if let Some(t) = text {
        std::fs::write(&inp, t).unwrap();
    }
    let out = d.path().join("out.csv");
    let mut args = vec!["--input", s(&inp), "--output", s(&out)];
    args.extend_from_slice(extra);
    let o = predict(&args);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{name}: {err}");
    assert!(err.contains(needle), "{name}: expected {needle:?} in {err}");
    assert!(!out.exists(), "{name}: an output file was left behind");
    let leftovers: Vec<_> = std::fs::read_dir(d.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(leftovers.len() <= 1, "{name}: stray files {leftovers:?}");
}

#[test]
fn bad_inputs_exit_2_with_a_reason_and_no_output() {
    refused("missing.csv", None, &[], "missing.csv");
    refused(
        "empty.csv",
        Some(b""),
        &[],
        "empty.csv: the file holds no observations",
    );
    refused(
        "header_only.csv",
        Some(b"t,id,x,y\n"),
        &[],
        "no observations",
    );
    refused(
        "nocol.csv",
        Some(b"t,id,x\n0,1,2\n"),
        &[],
        "nocol.csv:1: missing column `y`",
    );
    refused(
        "notime.csv",
        Some(b"time,id,x,y\n0,1,2,3\n"),
        &[],
        "missing time column",
    );
    refused(
        "text.csv",
        Some(b"t,id,x,y\n0,1,2,3\n0.4,1,abc,3\n"),
        &[],
        "text.csv:3: x \"abc\" is not a number",
    );
    refused(
        "nan.txt",
        Some(b"0\t1\t1\t1\n10\t1\tNaN\t2\n"),
        &[],
        "nan.txt:2: x \"NaN\" is not finite",
    );
    refused(
        "inf.txt",
        Some(b"0\t1\t1\t1\n10\t1\t2\tinf\n"),
        &[],
        "inf.txt:2: y \"inf\" is not finite",
    );
    refused("huge.txt", Some(b"0\t1\t1e300\t1\n"), &[], "out of range");
    refused(
        "short.txt",
        Some(b"0\t1\t1\n"),
        &[],
        "short.txt:1: too few fields",
    );
    refused(
        "dup.txt",
        Some(b"0\t1\t1\t1\n0\t1\t2\t2\n10\t1\t3\t3\n"),
        &[],
        "dup.txt:2: duplicate",
    );
    refused(
        "bin.txt",
        Some(b"0\t1\t\xff\xfe\t1\n"),
        &[],
        "not valid UTF-8",
    );
    refused(
        "fmt.txt",
        Some(b"0\t1\t1\t1\n"),
        &["--format", "xml"],
        "invalid value 'xml'",
    );
    refused(
        "ok.txt",
        Some(b"0\t1\t1\t1\n"),
        &[],
        "no agent has 2 or more observed steps",
    );
}

#[test]
fn mismatched_model_folder_is_refused() {
    let d = tempfile::tempdir().unwrap();
    let m = d.path().join("model");
    std::fs::create_dir(&m).unwrap();
    let shipped = repo().join("models/default");
    std::fs::copy(
        shipped.join("model.safetensors"),
        m.join("model.safetensors"),
    )
    .unwrap();
    let cfg = std::fs::read_to_string(shipped.join("config.toml")).unwrap();
    std::fs::write(m.join("config.toml"), cfg.replace("zdim = 16", "zdim = 8")).unwrap();
    let inp = write(d.path(), "scene.txt", &sgan_scene());
    let out = d.path().join("out.csv");
    let o = predict(&["--input", s(&inp), "--output", s(&out), "--model", s(&m)]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("do not match"), "{err}");
    assert!(!out.exists());
}
