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
fn data_root_is_found_without_flags_and_bad_roots_are_usage_errors() {
    // From a folder that holds no data, with no flag and no variable: the repository's
    // own copy (at the path the binary was built from) is used.
    let dir = tempfile::tempdir().unwrap();
    let out = run(lbebm()
        .current_dir(dir.path())
        .args(["data", "stats", "--split", "hotel"]));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = run(lbebm()
        .env("LBEBM_DATA_DIR", "/nonexistent/x")
        .args(["eval", "--model", "cv"]));
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("LBEBM_DATA_DIR"), "{err}");
    let out = run(lbebm().args(["eval", "--model", "cv", "--split", "nowhere"]));
    assert_eq!(out.status.code(), Some(2));
    let out = run(lbebm().args(["eval", "--model", "cv", "--data", "/nonexistent/x"]));
    assert_eq!(out.status.code(), Some(2));
}

/// The shipped benchmark files are byte-identical to the Social-GAN release: every file
/// listed in `datasets/eth_ucy/SHA256SUMS` has that digest, and no other file is there.
#[test]
fn shipped_benchmark_matches_its_checksums() {
    let root = repo().join("datasets/eth_ucy");
    let list = std::fs::read_to_string(root.join("SHA256SUMS")).unwrap();
    let mut listed = Vec::new();
    for line in list.lines().filter(|l| !l.trim().is_empty()) {
        let (sum, name) = line.split_once("  ").expect("sha256sum format");
        let name = name.trim_start_matches("./");
        let bytes = std::fs::read(root.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(sha256_hex(&bytes), sum, "{name} differs from the release");
        listed.push(name.to_string());
    }
    assert_eq!(listed.len(), 74);
    let mut found = Vec::new();
    for split in ["eth", "hotel", "univ", "zara1", "zara2"] {
        for part in ["train", "val", "test"] {
            for e in std::fs::read_dir(root.join(split).join(part)).unwrap() {
                found.push(format!(
                    "{split}/{part}/{}",
                    e.unwrap().file_name().to_string_lossy()
                ));
            }
        }
    }
    found.sort();
    listed.sort();
    assert_eq!(
        found, listed,
        "files added or removed under datasets/eth_ucy"
    );
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

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
