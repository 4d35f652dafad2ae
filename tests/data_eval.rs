//! The data pipeline's correctness anchor and the evaluation harness, end to end.

mod common;
use common::*;
use lbebm_data::{load_part, Part, Split};
use lbebm_eval::{evaluate, ConstantVelocity};

#[test]
fn test_window_counts_match_social_gan() {
    let out = run(lbebm()
        .args(["data", "stats", "--json", "--data"])
        .arg(data_dir()));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let want = [
        ("eth", 364),
        ("hotel", 1197),
        ("univ", 24334),
        ("zara1", 2356),
        ("zara2", 5910),
    ];
    let rows = v.as_array().unwrap();
    assert_eq!(rows.len(), 5);
    for (row, (name, n)) in rows.iter().zip(want) {
        assert_eq!(row["split"], name);
        assert_eq!(row["test"]["windows"], n, "{name}");
        assert!(
            row["train"]["windows"].as_u64().unwrap() > 5000,
            "{name} train"
        );
        assert!(row["val"]["windows"].as_u64().unwrap() > 1000, "{name} val");
    }
}

#[test]
fn cv_table_matches_the_harness_and_known_values() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("cv.json");
    let out = run(lbebm()
        .args([
            "eval",
            "--model",
            "cv",
            "--split",
            "all",
            "--samples",
            "20",
            "--json",
        ])
        .arg(&json)
        .arg("--data")
        .arg(data_dir()));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(table.contains("average"), "{table}");
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    assert_eq!(v["model"], "cv");
    assert_eq!(v["samples"], 20);
    let root = data_dir();
    let mut sum = (0.0, 0.0);
    for (row, split) in v["splits"].as_array().unwrap().iter().zip(Split::ALL) {
        let scenes = load_part(&root, split, Part::Test).unwrap();
        let s = evaluate(&mut ConstantVelocity, &scenes, 20, 512, &mut |_| {}).unwrap();
        assert_eq!(row["split"], split.name());
        assert_eq!(row["windows"].as_u64().unwrap() as usize, s.windows);
        assert!((row["ade"].as_f64().unwrap() - s.ade).abs() < 1e-12);
        assert!((row["fde"].as_f64().unwrap() - s.fde).abs() < 1e-12);
        sum.0 += s.ade / 5.0;
        sum.1 += s.fde / 5.0;
    }
    let avg = &v["average"];
    assert!((avg["ade"].as_f64().unwrap() - sum.0).abs() < 1e-12);
    // The published constant-velocity figures: ≈0.53 / 1.15 on average, ETH 1.07 / 2.28.
    assert!(
        (sum.0 - 0.53).abs() < 0.01 && (sum.1 - 1.15).abs() < 0.01,
        "{sum:?}"
    );
    let eth = &v["splits"][0];
    assert!((eth["ade"].as_f64().unwrap() - 1.07).abs() < 0.01);
    assert!((eth["fde"].as_f64().unwrap() - 2.28).abs() < 0.01);
}

#[test]
fn missing_data_root_is_a_usage_error() {
    let out = run(lbebm().args(["eval", "--model", "cv"]));
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("LBEBM_DATA_DIR"), "{err}");
    let out = run(lbebm().args(["eval", "--model", "cv", "--split", "nowhere"]));
    assert_eq!(out.status.code(), Some(2));
    let out = run(lbebm().args(["eval", "--model", "cv", "--data", "/nonexistent/x"]));
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn a_folder_that_is_no_checkpoint_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(lbebm()
        .args(["eval", "--split", "eth", "--model"])
        .arg(dir.path())
        .arg("--data")
        .arg(data_dir()));
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("neither a checkpoint"), "{err}");
}
