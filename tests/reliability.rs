//! Reliability battery (issue 8, files / CLI / checkpoints / training): malformed track
//! files, hostile sizes, broken checkpoints and interrupted training, each with its
//! expected outcome. `tests/predict.rs` holds the basic bad-input cases (missing file,
//! empty file, `abc`/NaN/inf/1e300 in one field, too few fields, adjacent duplicates,
//! bad UTF-8 in one field, unknown format, one point); these extend them.
//!
//! Regression inputs found by the fuzz targets (fuzz/) live in `fuzz/regressions/` and
//! are replayed here by name.

mod common;
use common::*;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

fn predict(args: &[&str]) -> Output {
    run(lbebm().arg("predict").args(args))
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Files in `dir`, by name.
fn files_in(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// Straight walkers, Social-GAN text, frames 10 apart (0.4 s).
fn walkers(n_agents: usize, n_frames: usize) -> String {
    let mut t = String::new();
    for f in 0..n_frames {
        for a in 0..n_agents {
            t += &format!(
                "{}\t{}\t{:.3}\t{:.3}\n",
                f * 10,
                a + 1,
                a as f64 * 2.0 + f as f64 * 0.45,
                (a % 3) as f64 + f as f64 * 0.1
            );
        }
    }
    t
}

/// Runs `predict` on `bytes` (written to `name`) and checks the contract for bad input:
/// exit code 2, one line on stderr naming the file and containing every needle, no
/// output file and nothing else left in the folder. Returns the message.
#[track_caller]
fn refused(name: &str, bytes: &[u8], extra: &[&str], needles: &[&str]) -> String {
    let d = tempfile::tempdir().unwrap();
    let inp = write(d.path(), name, bytes);
    let out = d.path().join("out.csv");
    let mut args = vec!["--input", s(&inp), "--output", s(&out), "--samples", "2"];
    args.extend_from_slice(extra);
    let o = predict(&args);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{name}: {err}");
    assert_eq!(
        err.trim_end().lines().count(),
        1,
        "{name}: not one line: {err}"
    );
    assert!(err.contains(name), "{name}: the file is not named: {err}");
    for n in needles {
        assert!(err.contains(n), "{name}: expected {n:?} in {err}");
    }
    assert_eq!(
        files_in(d.path()),
        vec![name.to_string()],
        "{name}: left files behind"
    );
    err
}

/// Runs `predict` (CSV out, `extra` flags) and returns the output text; panics on failure.
#[track_caller]
fn predicted(dir: &Path, name: &str, bytes: &[u8], extra: &[&str]) -> String {
    let inp = write(dir, name, bytes);
    let out = dir.join(format!("{name}.out.csv"));
    let mut args = vec!["--input", s(&inp), "--output", s(&out)];
    args.extend_from_slice(extra);
    let o = predict(&args);
    assert!(o.status.success(), "{name}: {}", stderr(&o));
    std::fs::read_to_string(&out).unwrap()
}

// ---------------------------------------------------------------- malformed files

#[test]
fn header_only_files_hold_no_observations() {
    // CSV header naming frames, CRLF line ends and trailing blank lines.
    refused(
        "frames.csv",
        b"frame,id,x,y\r\n\r\n\r\n",
        &[],
        &["the file holds no observations"],
    );
    // Extra columns, JSON output requested: the same refusal, no JSON left.
    let d = tempfile::tempdir().unwrap();
    let inp = write(d.path(), "wide.csv", b"t,id,x,y,speed,label\n");
    let out = d.path().join("o.json");
    let o = predict(&["--input", s(&inp), "--output", s(&out)]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("wide.csv: the file holds no observations"));
    assert!(!out.exists());
}

#[test]
fn misspelled_column_is_named_with_line_1() {
    refused(
        "xx.csv",
        b"t,id,xx,y\n0,1,0,0\n0.4,1,0.5,0\n",
        &[],
        &[
            "xx.csv:1:",
            "missing column `x`",
            r#"found: "t", "id", "xx", "y""#,
        ],
    );
    refused(
        "ident.csv",
        b"frame,ident,x,y\n0,1,0,0\n10,1,0.5,0\n",
        &[],
        &["ident.csv:1:", "missing column `id`"],
    );
    // An explicit --format csv on a Social-GAN file: its first row is not a header.
    refused(
        "forced.txt",
        b"0\t1\t0\t0\n10\t1\t0.5\t0\n",
        &["--format", "csv"],
        &["forced.txt:1:", "missing time column"],
    );
}

#[test]
fn wrong_separators_are_refused_at_the_header() {
    // Semicolons and tabs in a CSV: the header is one unknown column.
    refused(
        "semi.csv",
        b"t;id;x;y\n0;1;0;0\n0.4;1;0.5;0\n",
        &[],
        &["semi.csv:1:", "missing time column", "t;id;x;y"],
    );
    refused(
        "tabs.csv",
        b"t\tid\tx\ty\n0\t1\t0\t0\n0.4\t1\t0.5\t0\n",
        &[],
        &["tabs.csv:1:", "missing time column"],
    );
    // Semicolons in a Social-GAN file (no header): not a number, so taken as a CSV
    // header, and refused the same way.
    refused(
        "semi.txt",
        b"0;1;0;0\n10;1;0.5;0\n",
        &[],
        &["semi.txt:1:", "missing time column"],
    );
    // Forced Social-GAN reading of a comma file: one field per line.
    refused(
        "commas.txt",
        b"0,1,0,0\n10,1,0.5,0\n",
        &["--format", "sgan"],
        &["commas.txt:1:", "too few fields", "found 1"],
    );
    // A ragged CSV row names its line.
    refused(
        "ragged.csv",
        b"t,id,x,y\n0,1,0,0\n0.4,1,0.5,0,9\n",
        &[],
        &[
            "ragged.csv:3:",
            "expected 4 fields as in the header, found 5",
        ],
    );
    // A Social-GAN row with a fifth field.
    refused(
        "five.txt",
        b"0 1 0 0\n10 1 0.5 0 7\n",
        &[],
        &["five.txt:2:", "too many fields"],
    );
}

#[test]
fn separators_that_are_accepted() {
    // Tabs, runs of spaces, CRLF and a UTF-8 byte-order mark all give the same numbers.
    let d = tempfile::tempdir().unwrap();
    let tab = walkers(2, 9);
    let spaces = tab.replace('\t', "   ");
    let crlf = tab.replace('\n', "\r\n");
    let a = predicted(d.path(), "tab.txt", tab.as_bytes(), &["--samples", "2"]);
    let b = predicted(d.path(), "sp.txt", spaces.as_bytes(), &["--samples", "2"]);
    let c = predicted(d.path(), "crlf.txt", crlf.as_bytes(), &["--samples", "2"]);
    assert_eq!(a, b);
    assert_eq!(a, c);
    let mut bom = b"\xef\xbb\xbf".to_vec();
    bom.extend_from_slice(b"frame,id,x,y\n");
    for l in tab.lines() {
        bom.extend_from_slice(l.replace('\t', ",").as_bytes());
        bom.push(b'\n');
    }
    let e = predicted(d.path(), "bom.csv", &bom, &["--samples", "2"]);
    assert_eq!(
        a, e,
        "a CSV with a byte-order mark reads like the text file"
    );
}

#[test]
fn non_numeric_non_finite_and_huge_values_name_field_and_line() {
    let cases: &[(&str, &[u8], &[&str])] = &[
        (
            "hex.csv",
            b"t,id,x,y\n0,1,0,0\n0.4,1,0x10,0\n",
            &["hex.csv:3:", "x \"0x10\" is not a number"],
        ),
        (
            "comma_decimal.txt",
            b"0\t1\t0,5\t0\n10\t1\t1,0\t0\n",
            &["comma_decimal.txt:1:", "x \"0,5\" is not a number"],
        ),
        (
            "empty_y.csv",
            b"t,id,x,y\n0,1,0,\n",
            &["empty_y.csv:2:", "y \"\" is not a number"],
        ),
        (
            "time_text.csv",
            b"t,id,x,y\n0,1,0,0\nnoon,1,0.5,0\n",
            &["time_text.csv:3:", "t \"noon\" is not a number"],
        ),
        (
            "nan_time.txt",
            b"0\t1\t0\t0\nnan\t1\t0.5\t0\n",
            &["nan_time.txt:2:", "not finite"],
        ),
        (
            "nan_lower.csv",
            b"t,id,x,y\n0,1,nan,0\n",
            &["nan_lower.csv:2:", "x \"nan\" is not finite"],
        ),
        (
            "neg_inf.csv",
            b"t,id,x,y\n0,1,0,0\n0.4,1,0.5,-inf\n",
            &["neg_inf.csv:3:", "y \"-inf\" is not finite"],
        ),
        (
            "plus_inf.txt",
            b"0 1 +inf 0\n",
            &["plus_inf.txt:1:", "not finite"],
        ),
        (
            "infinity.csv",
            b"t,id,x,y\n0,1,Infinity,0\n",
            &["infinity.csv:2:", "not finite"],
        ),
        (
            // Overflows f64 while parsing: infinite, refused as such.
            "overflow.txt",
            b"0\t1\t0\t1e309\n",
            &["overflow.txt:1:", "y \"1e309\" is not finite"],
        ),
        (
            "huge_y.csv",
            b"t,id,x,y\n0,1,0,0\n0.4,1,0,1e300\n",
            &["huge_y.csv:3:", "out of range"],
        ),
        (
            "huge_neg.txt",
            b"0\t1\t-1e300\t0\n",
            &["huge_neg.txt:1:", "x -1e300", "is out of range"],
        ),
        (
            "just_over.txt",
            b"0\t1\t10000000.5\t0\n",
            &["just_over.txt:1:", "out of range"],
        ),
        (
            "empty_id.csv",
            b"t,id,x,y\n0,,0,0\n",
            &["empty_id.csv:2:", "empty id"],
        ),
    ];
    for (name, bytes, needles) in cases {
        refused(name, bytes, &[], needles);
    }
}

#[test]
fn large_but_valid_coordinates_keep_their_precision() {
    // UTM-like coordinates just under the 1e7 limit: the prediction stays next to the
    // walker, not rounded to f32 steps of a metre.
    let d = tempfile::tempdir().unwrap();
    let mut t = String::new();
    for f in 0..8 {
        t += &format!(
            "{}\t7\t{:.3}\t5000000.0\n",
            f * 10,
            9_999_000.0 + f as f64 * 0.5
        );
    }
    let out = predicted(d.path(), "utm.txt", t.as_bytes(), &["--samples", "2"]);
    for l in out.lines().skip(1) {
        let x: f64 = l.split(',').nth(4).unwrap().parse().unwrap();
        assert!((x - 9_999_004.0).abs() < 20.0, "{l}");
    }
}

#[test]
fn negative_times_are_just_numbers() {
    // Documented: times are numbers, negative ones included.
    let d = tempfile::tempdir().unwrap();
    let mut t = String::from("t,id,x,y\n");
    for k in 0..6 {
        t += &format!("{:.1},a,{:.2},0\n", -4.0 + k as f64 * 0.4, k as f64 * 0.5);
    }
    let out = predicted(d.path(), "neg.csv", t.as_bytes(), &["--samples", "2"]);
    assert_eq!(out.lines().count(), 1 + 2 * 12);
    assert!(out.lines().skip(1).all(|l| l.starts_with("-2,a,")), "{out}");
    // The same walk shifted to positive times predicts the same positions.
    let mut p = String::from("t,id,x,y\n");
    for k in 0..6 {
        p += &format!("{:.1},a,{:.2},0\n", 10.0 + k as f64 * 0.4, k as f64 * 0.5);
    }
    let out2 = predicted(d.path(), "pos.csv", p.as_bytes(), &["--samples", "2"]);
    let tail = |s: &str| -> Vec<String> {
        s.lines()
            .skip(1)
            .map(|l| l.split_once(',').unwrap().1.to_string())
            .collect()
    };
    assert_eq!(tail(&out), tail(&out2));
}

#[test]
fn non_monotonic_times_are_sorted() {
    // Off-grid times in seconds (10 Hz, resampled), rows in a scrambled order: the same
    // output as the sorted file, JSON this time.
    let d = tempfile::tempdir().unwrap();
    let mut rows = Vec::new();
    for k in 0..30 {
        let t = k as f64 * 0.1;
        rows.push(format!("{t:.1},ann,{:.3},{:.3}", t * 1.2, 1.0));
        rows.push(format!("{t:.1},bob,{:.3},{:.3}", 5.0 - t, 0.2 * t));
    }
    let sorted = format!("t,id,x,y\n{}\n", rows.join("\n"));
    // A fixed permutation: stride 7 through 60 rows.
    let n = rows.len();
    let scrambled: Vec<&String> = (0..n).map(|i| &rows[(i * 7) % n]).collect();
    let scrambled = format!(
        "t,id,x,y\n{}\n",
        scrambled
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert_ne!(sorted, scrambled);
    let outs: Vec<Vec<u8>> = [("sorted.csv", &sorted), ("scrambled.csv", &scrambled)]
        .iter()
        .map(|(name, text)| {
            let inp = write(d.path(), name, text.as_bytes());
            let out = d.path().join(format!("{name}.json"));
            let o = predict(&[
                "--input",
                s(&inp),
                "--output",
                s(&out),
                "--samples",
                "3",
                "--every-step",
            ]);
            assert!(o.status.success(), "{name}: {}", stderr(&o));
            std::fs::read(&out).unwrap()
        })
        .collect();
    assert!(outs[0] == outs[1], "scrambled rows changed the output");
    let v: serde_json::Value = serde_json::from_slice(&outs[0]).unwrap();
    let ts: Vec<f64> = v["predictions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["t"].as_f64().unwrap())
        .collect();
    assert!(ts.windows(2).all(|w| w[0] < w[1]), "times ascend: {ts:?}");
}

#[test]
fn duplicate_time_and_id_rows_are_refused_with_both_lines() {
    // Far apart in the file, CSV in seconds.
    refused(
        "dup.csv",
        b"t,id,x,y\n0,a,0,0\n0.4,a,1,0\n0,b,5,5\n0.4,a,1.5,0\n",
        &[],
        &["dup.csv:5:", "duplicate row for agent a", "also on line 3"],
    );
    // The same time written two ways (0.4 and 0.40000000001 s: within 1e-6 s).
    refused(
        "near.csv",
        b"t,id,x,y\n0,a,0,0\n0.4,a,1,0\n0.40000000001,a,1.5,0\n",
        &[],
        &["near.csv:4:", "duplicate", "also on line 3"],
    );
    // Ids written as 1 and 1.0 are the same agent (Social-GAN files use floats).
    refused(
        "ids.txt",
        b"0\t1.0\t0\t0\n10\t1\t1\t0\n0\t1\t2\t0\n",
        &[],
        &["ids.txt:3:", "duplicate", "also on line 1"],
    );
    // Frames -0 and 0 are the same time.
    refused(
        "zero.txt",
        b"-0\t1\t0\t0\n0\t1\t1\t0\n10\t1\t2\t0\n",
        &[],
        &["zero.txt:2:", "duplicate"],
    );
}

#[test]
fn a_single_point_is_not_enough() {
    refused(
        "one.csv",
        b"t,id,x,y\n3.2,solo,1,1\n",
        &["--every-step"],
        &["no agent has 2 or more observed steps at the prediction times"],
    );
    // Many agents, each seen once, at different times.
    refused(
        "scattered.txt",
        b"0\t1\t0\t0\n10\t2\t1\t1\n20\t3\t2\t2\n",
        &[],
        &["no agent has 2 or more observed steps"],
    );
}

#[test]
fn ten_thousand_agents_in_one_frame() {
    // 10 000 agents on a 100 × 100 grid, two frames each: every one predicted, K = 2,
    // scenes cut into spatial groups (bounded social pooling).
    const N: usize = 10_000;
    const K: usize = 2;
    let d = tempfile::tempdir().unwrap();
    let mut t = String::with_capacity(N * 2 * 24);
    for f in [0, 10] {
        for i in 0..N {
            t += &format!(
                "{f}\t{i}\t{:.2}\t{:.2}\n",
                (i % 100) as f64 * 1.5 + f as f64 * 0.05,
                (i / 100) as f64 * 1.5
            );
        }
    }
    let inp = write(d.path(), "crowd.txt", t.as_bytes());
    let out = d.path().join("crowd.csv");
    let t0 = Instant::now();
    let o = predict(&[
        "--input",
        s(&inp),
        "--output",
        s(&out),
        "--samples",
        &K.to_string(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    eprintln!(
        "10 000 agents, K = {K}: {:.1} s",
        t0.elapsed().as_secs_f64()
    );
    let text = std::fs::read_to_string(&out).unwrap();
    assert_eq!(text.lines().count(), 1 + N * K * 12);
    let ids: std::collections::HashSet<&str> = text
        .lines()
        .skip(1)
        .map(|l| l.split(',').nth(1).unwrap())
        .collect();
    assert_eq!(ids.len(), N);
    assert!(!text.contains("NaN") && !text.contains("inf"));
}

/// Deterministic pseudo-random bytes (xorshift), NULs included.
fn noise(seed: u64, n: usize) -> Vec<u8> {
    let mut x = seed | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

#[test]
fn binary_files_are_refused() {
    for seed in 1..=6u64 {
        let mut b = noise(seed, 4096);
        b[17] = 0;
        b[100] = b'\n';
        let name = format!("blob{seed}.bin");
        refused(&name, &b, &[], &[]);
    }
    // A binary file that starts like a Social-GAN row.
    let mut b = b"0\t1\t0\t0\n".to_vec();
    b.extend(noise(99, 2048));
    refused("tail.txt", &b, &[], &["tail.txt:"]);
    // NULs only.
    refused("zeros.txt", &[0u8; 1000], &[], &["zeros.txt"]);
    // A gzip header (someone passed the compressed file).
    let mut gz = vec![0x1f, 0x8b, 0x08, 0x00, 0, 0, 0, 0, 0, 0x03];
    gz.extend(noise(7, 512));
    refused("tracks.txt.gz", &gz, &[], &[]);
}

#[test]
fn invalid_utf8_is_refused_with_its_line() {
    // Latin-1 id in a CSV (José), invalid bytes in the time column and in a header.
    refused(
        "latin1.csv",
        b"t,id,x,y\n0,Jos\xe9,0,0\n0.4,Jos\xe9,0.5,0\n",
        &[],
        &["latin1.csv:2:", "id is not valid UTF-8"],
    );
    refused(
        "time.txt",
        b"0\t1\t0\t0\n1\xc0\t1\t0.5\t0\n",
        &[],
        &["time.txt:2:", "frame is not valid UTF-8"],
    );
    refused(
        "header.csv",
        b"t,id,\xffx,y\n0,1,0,0\n",
        &[],
        &["header.csv:1:", "missing column `x`"],
    );
    // UTF-16 (with its byte-order mark), as some Windows tools write CSV.
    let mut u16 = vec![0xff, 0xfe];
    for c in "t,id,x,y\n0,1,0,0\n0.4,1,0.5,0\n".encode_utf16() {
        u16.extend_from_slice(&c.to_le_bytes());
    }
    refused("utf16.csv", &u16, &[], &["utf16.csv:1:"]);
    // Valid UTF-8 ids beyond ASCII are fine, and come back intact.
    let d = tempfile::tempdir().unwrap();
    let out = predicted(
        d.path(),
        "names.csv",
        "t,id,x,y\n0,José,0,0\n0.4,José,0.5,0\n0,行人,3,3\n0.4,行人,3,3.4\n".as_bytes(),
        &["--samples", "1"],
    );
    assert!(out.contains(",José,") && out.contains(",行人,"), "{out}");
}

// ---------------------------------------------------------------- output paths

#[test]
fn output_into_a_missing_folder_creates_it() {
    let d = tempfile::tempdir().unwrap();
    let inp = write(d.path(), "w.txt", walkers(2, 9).as_bytes());
    let out = d.path().join("a/b/c/pred.json");
    let o = predict(&["--input", s(&inp), "--output", s(&out), "--samples", "2"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(files_in(&d.path().join("a/b/c")), vec!["pred.json"]);
}

#[test]
fn output_onto_a_directory_fails_without_leftovers() {
    let d = tempfile::tempdir().unwrap();
    let inp = write(d.path(), "w.txt", walkers(2, 9).as_bytes());
    let out = d.path().join("taken.csv");
    std::fs::create_dir(&out).unwrap();
    std::fs::write(out.join("keep"), b"x").unwrap();
    let o = predict(&["--input", s(&inp), "--output", s(&out), "--samples", "2"]);
    let err = stderr(&o);
    assert!(!o.status.success(), "{err}");
    assert!(err.contains("taken.csv"), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    // The folder and its content untouched, no temporary file left beside it.
    assert!(out.is_dir());
    assert_eq!(files_in(&out), vec!["keep"]);
    assert_eq!(files_in(d.path()), vec!["taken.csv", "w.txt"]);
}

#[test]
fn output_in_a_read_only_or_file_parent_fails_cleanly() {
    let d = tempfile::tempdir().unwrap();
    let inp = write(d.path(), "w.txt", walkers(2, 9).as_bytes());
    // The parent is a file.
    let blocker = write(d.path(), "file", b"x");
    let out = blocker.join("pred.csv");
    let o = predict(&["--input", s(&inp), "--output", s(&out)]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("cannot create folder"),
        "{}",
        stderr(&o)
    );
    assert_eq!(files_in(d.path()), vec!["file", "w.txt"]);
}

// ---------------------------------------------------------------- memory

/// Peak resident memory (kB) of a child, sampled from /proc while it runs.
fn run_measuring_peak_rss(c: &mut Command) -> (Output, u64) {
    let mut child = c
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let status_path = format!("/proc/{}/status", child.id());
    let mut peak = 0u64;
    // The pipes are small: drain them in threads so the child never blocks on them.
    let mut so = child.stdout.take().unwrap();
    let mut se = child.stderr.take().unwrap();
    let ho = std::thread::spawn(move || {
        let mut v = Vec::new();
        std::io::Read::read_to_end(&mut so, &mut v).ok();
        v
    });
    let he = std::thread::spawn(move || {
        let mut v = Vec::new();
        std::io::Read::read_to_end(&mut se, &mut v).ok();
        v
    });
    let status = loop {
        if let Ok(text) = std::fs::read_to_string(&status_path) {
            for l in text.lines() {
                if let Some(v) = l.strip_prefix("VmHWM:") {
                    let kb: u64 = v.trim().trim_end_matches("kB").trim().parse().unwrap_or(0);
                    peak = peak.max(kb);
                }
            }
        }
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let out = Output {
        status,
        stdout: ho.join().unwrap(),
        stderr: he.join().unwrap(),
    };
    (out, peak)
}

/// A time-ordered Social-GAN text of `frames` frames of 40 agents sampled at 250 Hz
/// (`--dt 0.004`), so that the prediction work (one per agent per 0.4 s) stays small
/// next to the rows read.
fn write_recording(path: &Path, frames: usize) -> u64 {
    let agents = 40usize;
    let mut t = String::with_capacity(frames * agents * 22);
    for f in 0..frames {
        for a in 0..agents {
            t += &format!(
                "{f}\t{a}\t{:.3}\t{:.3}\n",
                a as f64 + f as f64 * 0.005,
                (a % 7) as f64
            );
        }
    }
    std::fs::write(path, &t).unwrap();
    t.len() as u64
}

#[test]
fn peak_memory_of_every_step_does_not_grow_with_the_input() {
    // Time-ordered input is read in two passes and only the rows near the prediction
    // time are held (lbebm_data::stream), so peak RSS must not grow with the file.
    // Figures on stderr (`cargo test --test reliability -- --nocapture`); the full-size
    // measurement (1 GB) is benches/large_input.sh.
    let d = tempfile::tempdir().unwrap();
    let mut peaks = Vec::new();
    for frames in [4_000usize, 40_000] {
        let inp = d.path().join(format!("rec{frames}.txt"));
        let size = write_recording(&inp, frames);
        let out = d.path().join(format!("rec{frames}.csv"));
        let (o, peak_kb) = run_measuring_peak_rss(lbebm().args([
            "predict",
            "--input",
            s(&inp),
            "--output",
            s(&out),
            "--every-step",
            "--dt",
            "0.004",
            "--samples",
            "1",
            "--steps",
            "2",
        ]));
        assert!(o.status.success(), "{}", stderr(&o));
        let rows = std::fs::read_to_string(&out).unwrap().lines().count() - 1;
        eprintln!(
            "predict --every-step: input {:.1} MB ({} rows), peak RSS {:.1} MiB, {} output rows",
            size as f64 / 1e6,
            40 * frames,
            peak_kb as f64 / 1024.0,
            rows
        );
        // frames / 100 grid steps of 0.4 s, the first with a single observed point; K = 1.
        assert_eq!(rows, 40 * (frames / 100 - 1) * 12);
        assert!(peak_kb > 0, "no /proc measurement");
        peaks.push(peak_kb);
        std::fs::remove_file(&inp).unwrap();
    }
    // Ten times the input (3.4 → 34 MB): the held rows and the model's working memory
    // are the same, so the peak may move by allocator and thread-timing noise only
    // (±12 MiB seen between runs of the same input). Reading the file whole would add
    // about 5 MB per MB of input, some 150 MiB here.
    assert!(
        peaks[1] < peaks[0] + 64 * 1024,
        "peak RSS {} kB for the small input, {} kB for the ten times larger one",
        peaks[0],
        peaks[1]
    );
}

#[test]
fn unsorted_input_is_read_whole_with_the_same_result() {
    // Rows out of time order cannot be streamed: the whole file is read instead, and
    // the predictions are the same as for the time-ordered file.
    let d = tempfile::tempdir().unwrap();
    let inp = d.path().join("rec.txt");
    write_recording(&inp, 1_200);
    let text = std::fs::read_to_string(&inp).unwrap();
    let mut lines: Vec<&str> = text.lines().collect();
    lines.reverse();
    let rev = write(d.path(), "rev.txt", (lines.join("\n") + "\n").as_bytes());
    let mut outs = Vec::new();
    for (i, p) in [&inp, &rev].into_iter().enumerate() {
        let out = d.path().join(format!("o{i}.csv"));
        let o = predict(&[
            "--input",
            s(p),
            "--output",
            s(&out),
            "--every-step",
            "--dt",
            "0.004",
            "--samples",
            "2",
        ]);
        assert!(o.status.success(), "{}", stderr(&o));
        outs.push(std::fs::read(&out).unwrap());
    }
    assert!(outs[0].len() > 1000);
    assert!(outs[0] == outs[1], "time-ordered and reversed input differ");
}

// ---------------------------------------------------------------- checkpoints

/// A copy of the shipped `models/default` in a fresh folder.
fn model_copy(root: &Path) -> PathBuf {
    let m = root.join("model");
    std::fs::create_dir(&m).unwrap();
    for f in ["config.toml", "model.safetensors"] {
        std::fs::copy(repo().join("models/default").join(f), m.join(f)).unwrap();
    }
    m
}

/// `predict --model m` on a small scene must be refused with exit 2, one line naming
/// `file` and containing `needle`, and no output.
#[track_caller]
fn model_refused(root: &Path, m: &Path, file: &str, needle: &str) -> String {
    let inp = root.join("scene.txt");
    std::fs::write(&inp, walkers(3, 9)).unwrap();
    let out = root.join("out.csv");
    let o = predict(&[
        "--input",
        s(&inp),
        "--output",
        s(&out),
        "--model",
        s(m),
        "--samples",
        "2",
    ]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(err.contains(file), "expected {file:?} in {err}");
    assert!(err.contains(needle), "expected {needle:?} in {err}");
    assert!(!out.exists());
    err
}

#[test]
fn a_copy_of_the_default_model_loads() {
    // The control for the checkpoint cases below.
    let d = tempfile::tempdir().unwrap();
    let m = model_copy(d.path());
    let inp = write(d.path(), "scene.txt", walkers(3, 9).as_bytes());
    let out = d.path().join("o.csv");
    let o = predict(&[
        "--input",
        s(&inp),
        "--output",
        s(&out),
        "--model",
        s(&m),
        "--samples",
        "2",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
}

#[test]
fn truncated_weights_are_refused() {
    let d = tempfile::tempdir().unwrap();
    let m = model_copy(d.path());
    let w = m.join("model.safetensors");
    let bytes = std::fs::read(&w).unwrap();
    for cut in [bytes.len() / 2, bytes.len() - 1, 100, 7, 0] {
        std::fs::write(&w, &bytes[..cut]).unwrap();
        model_refused(
            d.path(),
            &m,
            "model.safetensors",
            "unreadable safetensors file",
        );
    }
}

/// Offset of the tensor data in a safetensors file (8-byte header length + header).
fn data_start(b: &[u8]) -> usize {
    8 + u64::from_le_bytes(b[..8].try_into().unwrap()) as usize
}

#[test]
fn corrupted_weights_are_refused_or_documented() {
    let d = tempfile::tempdir().unwrap();
    let m = model_copy(d.path());
    let w = m.join("model.safetensors");
    let good = std::fs::read(&w).unwrap();
    let start = data_start(&good);
    let mid = start + (good.len() - start) / 2;
    // All-ones bytes in the middle of the tensor data: f16 NaNs, refused.
    let mut b = good.clone();
    b[mid & !1..(mid & !1) + 64].fill(0xff);
    std::fs::write(&w, &b).unwrap();
    model_refused(
        d.path(),
        &m,
        "model.safetensors",
        "holds NaN or infinite values",
    );
    // f16 infinities (0x7c00).
    let mut b = good.clone();
    for i in (mid & !1..(mid & !1) + 64).step_by(2) {
        b[i] = 0x00;
        b[i + 1] = 0x7c;
    }
    std::fs::write(&w, &b).unwrap();
    model_refused(
        d.path(),
        &m,
        "model.safetensors",
        "holds NaN or infinite values",
    );
    // Garbage in the JSON header.
    let mut b = good.clone();
    b[12..40].fill(b'#');
    std::fs::write(&w, &b).unwrap();
    model_refused(
        d.path(),
        &m,
        "model.safetensors",
        "unreadable safetensors file",
    );
    // A header length pointing past the end.
    let mut b = good.clone();
    b[..8].copy_from_slice(&(u64::MAX / 2).to_le_bytes());
    std::fs::write(&w, &b).unwrap();
    model_refused(
        d.path(),
        &m,
        "model.safetensors",
        "unreadable safetensors file",
    );
    // Documented: bytes flipped to other finite values load (safetensors has no
    // checksum) and give different but finite predictions.
    let mut b = good.clone();
    for x in &mut b[mid & !1..(mid & !1) + 64].iter_mut().step_by(2) {
        *x ^= 0x55; // low mantissa byte of each f16: stays finite
    }
    std::fs::write(&w, &b).unwrap();
    let inp = write(d.path(), "scene2.txt", walkers(3, 9).as_bytes());
    let out = d.path().join("flipped.csv");
    let o = predict(&[
        "--input",
        s(&inp),
        "--output",
        s(&out),
        "--model",
        s(&m),
        "--samples",
        "2",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = std::fs::read_to_string(&out).unwrap();
    assert!(!text.contains("NaN"), "{text}");
}

#[test]
fn config_of_another_model_size_is_refused() {
    let d = tempfile::tempdir().unwrap();
    let m = model_copy(d.path());
    let cfg = std::fs::read_to_string(m.join("config.toml")).unwrap();
    assert!(cfg.contains("fdim = 16"));
    std::fs::write(m.join("config.toml"), cfg.replace("fdim = 16", "fdim = 32")).unwrap();
    model_refused(
        d.path(),
        &m,
        "model.safetensors",
        "weights do not match config.toml",
    );
    // Same through eval: refused before any work.
    let o = run(lbebm().args([
        "eval",
        "--model",
        s(&m),
        "--split",
        "eth",
        "--data",
        s(&data_dir()),
    ]));
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("weights do not match config.toml"), "{err}");
    // A config that is not UTF-8.
    std::fs::write(m.join("config.toml"), b"\xff\xfe\x00").unwrap();
    model_refused(d.path(), &m, "config.toml", "cannot read");
    // A config that is not a config: refused with exit 2, naming the file and the key.
    for (text, key) in [
        ("[model]\nfdim = \"wide\"\n", "fdim"),
        ("[model]\nunknown_key = 1\n", "unknown_key"),
        ("[model\n", "TOML parse error"),
    ] {
        std::fs::write(m.join("config.toml"), text).unwrap();
        let inp = write(d.path(), "scene.txt", walkers(3, 9).as_bytes());
        let out = d.path().join("out.csv");
        let o = predict(&["--input", s(&inp), "--output", s(&out), "--model", s(&m)]);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{err}");
        assert!(err.lines().next().unwrap().contains("config.toml"), "{err}");
        assert!(err.contains(key), "{err}");
        assert!(!out.exists());
        // One line, like every other bad-input reason.
        assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    }
}

#[test]
fn missing_checkpoint_files_are_named() {
    let d = tempfile::tempdir().unwrap();
    let m = model_copy(d.path());
    std::fs::remove_file(m.join("config.toml")).unwrap();
    model_refused(d.path(), &m, "config.toml", "cannot read");
    let o = run(lbebm().args([
        "eval",
        "--model",
        s(&m),
        "--split",
        "eth",
        "--data",
        s(&data_dir()),
    ]));
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("config.toml"), "{err}");

    let d = tempfile::tempdir().unwrap();
    let m = model_copy(d.path());
    std::fs::remove_file(m.join("model.safetensors")).unwrap();
    model_refused(d.path(), &m, "model.safetensors", "missing weights file");
    let o = run(lbebm().args([
        "eval",
        "--model",
        s(&m),
        "--split",
        "eth",
        "--data",
        s(&data_dir()),
    ]));
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("model.safetensors") && err.contains("missing weights file"));

    // No folder at all.
    let gone = d.path().join("nowhere");
    model_refused(d.path(), &gone, "nowhere", "not a checkpoint folder");
}

// ---------------------------------------------------------------- training

/// A small model: trains an epoch of 60 scenes in about a second in test builds.
const TINY: &str = r#"
[model]
fdim = 8
zdim = 4
enc_past = [32]
enc_plan = [8]
enc_latent = [8]
dec_plan = [32]
dec_traj = [32]
nl_theta = [16]
nl_phi = [16]
nl_g = [16]
nl_dim = 16
nl_rounds = 1
ebm_hidden = [16]

[langevin]
steps = 3
test_steps = 3
replay_size = 0

[train]
# Far more epochs than a kill can wait for: an epoch here takes about 20 ms, and on a
# loaded machine the watching thread can be held up for seconds (400 epochs once
# finished before the kill arrived).
epochs = 1000000
batch_agents = 64
val_samples = 2
patience = 0
"#;

fn train_cmd(cfg: &Path, out: &Path, extra: &[&str]) -> Command {
    let mut c = lbebm();
    c.args([
        "train",
        "--config",
        s(cfg),
        "--data",
        s(&data_dir()),
        "--split",
        "eth",
        "--out",
        s(out),
        "--max-scenes",
        "60",
        "--max-val-scenes",
        "10",
    ])
    .args(extra);
    c
}

fn saved_epoch(out: &Path) -> Option<u64> {
    let b = std::fs::read(out.join("train_state.json")).ok()?;
    let v: serde_json::Value = serde_json::from_slice(&b).ok()?;
    v["epoch"].as_u64()
}

/// Starts training, waits for the first checkpoint plus `extra_wait`, sends `signal`,
/// and returns the epoch the state file held when the process was gone.
fn interrupt(cfg: &Path, out: &Path, signal: &str, extra_wait: Duration) -> u64 {
    let mut cmd = train_cmd(cfg, out, &[]);
    cmd.stdout(Stdio::null()).stderr(Stdio::null());
    // A shell that starts the tests in the background (`cmd &`) hands its children
    // SIGINT ignored, and the child would then train on; these tests are about the
    // default action, so the child gets it back.
    // SAFETY: between fork and exec the closure only calls signal(2), which is
    // async-signal-safe, and touches no memory of the parent.
    unsafe {
        use std::os::unix::process::CommandExt;
        cmd.pre_exec(|| {
            libc::signal(libc::SIGINT, libc::SIG_DFL);
            Ok(())
        });
    }
    let mut child = cmd.spawn().unwrap();
    let t0 = Instant::now();
    while !(out.join("model.safetensors").is_file() && saved_epoch(out).is_some()) {
        assert!(
            child.try_wait().unwrap().is_none(),
            "training ended before its first checkpoint"
        );
        assert!(
            t0.elapsed() < Duration::from_secs(90),
            "no checkpoint after 90 s"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    std::thread::sleep(extra_wait);
    let k = Command::new("kill")
        .args([signal, &child.id().to_string()])
        .status()
        .unwrap();
    assert!(k.success());
    // Bounded: a child that ignored the signal is killed and named, not waited for.
    let t1 = Instant::now();
    let st = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        if t1.elapsed() > Duration::from_secs(30) {
            let _ = child.kill();
            panic!("training still ran 30 s after kill {signal}");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    assert!(!st.success(), "a million epochs cannot have finished");
    saved_epoch(out).expect("train_state.json readable after the kill")
}

/// The checkpoint in `out` predicts.
#[track_caller]
fn loads(out: &Path, root: &Path) {
    let inp = root.join("scene.txt");
    std::fs::write(&inp, walkers(3, 9)).unwrap();
    let o = predict(&[
        "--input",
        s(&inp),
        "--output",
        s(&root.join("o.csv")),
        "--model",
        s(out),
        "--samples",
        "2",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
}

#[test]
fn training_killed_mid_run_resumes_from_its_checkpoint() {
    let d = tempfile::tempdir().unwrap();
    let cfg = write(d.path(), "tiny.toml", TINY.as_bytes());
    let out = d.path().join("ck");
    // SIGKILL a little after the first checkpoint: usually mid-epoch, sometimes during
    // a save; either way the files on disk are whole (temp file + rename).
    let epoch = interrupt(&cfg, &out, "-KILL", Duration::from_millis(700));
    assert!(epoch >= 1);
    let leftovers: Vec<String> = files_in(&out)
        .into_iter()
        .filter(|f| f.contains(".tmp"))
        .collect();
    // A kill during a save can leave a temporary file; it is never read.
    eprintln!("after SIGKILL at epoch {epoch}: temporary files {leftovers:?}");
    loads(&out, d.path());
    // Resume for two more epochs.
    let target = epoch + 2;
    let o = run(&mut train_cmd(
        &cfg,
        &out,
        &["--resume", "--epochs", &target.to_string()],
    ));
    let (so, se) = (String::from_utf8_lossy(&o.stdout), stderr(&o));
    assert!(o.status.success(), "{se}");
    assert_eq!(saved_epoch(&out), Some(target));
    // Only the remaining epochs ran.
    let ran: Vec<&str> = se.lines().filter(|l| l.starts_with("epoch ")).collect();
    assert_eq!(ran.len(), 2, "{se}");
    assert!(
        ran[0].starts_with(&format!("epoch {:>3}", epoch + 1)),
        "{se}"
    );
    let last = so.lines().last().unwrap_or("");
    assert!(
        last.starts_with(&format!("done: {target} epochs")),
        "{last}"
    );
    loads(&out, d.path());
}

#[test]
fn training_killed_again_and_again_keeps_a_loadable_checkpoint() {
    // Kill resumed runs right after they save an epoch, at small varying delays, so
    // some kills land inside the next save (weights, meta, optimiser state, state json).
    let d = tempfile::tempdir().unwrap();
    let cfg = write(d.path(), "tiny.toml", TINY.as_bytes());
    let out = d.path().join("ck");
    let mut epoch = interrupt(&cfg, &out, "-KILL", Duration::from_millis(0));
    for delay_ms in [0u64, 3, 9, 20, 35] {
        let mut child = train_cmd(&cfg, &out, &["--resume"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let t0 = Instant::now();
        while saved_epoch(&out).unwrap_or(0) <= epoch {
            assert!(child.try_wait().unwrap().is_none(), "resumed run ended");
            assert!(
                t0.elapsed() < Duration::from_secs(90),
                "no new epoch in 90 s"
            );
            std::thread::sleep(Duration::from_millis(2));
        }
        std::thread::sleep(Duration::from_millis(delay_ms));
        let k = Command::new("kill")
            .args(["-KILL", &child.id().to_string()])
            .status()
            .unwrap();
        assert!(k.success());
        child.wait().unwrap();
        let now = saved_epoch(&out).expect("train_state.json readable after the kill");
        assert!(now > epoch, "epoch went from {epoch} to {now}");
        epoch = now;
        loads(&out, d.path());
    }
    let target = epoch + 1;
    let o = run(&mut train_cmd(
        &cfg,
        &out,
        &["--resume", "--epochs", &target.to_string()],
    ));
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(saved_epoch(&out), Some(target));
}

#[test]
fn training_interrupted_by_sigint_leaves_a_loadable_checkpoint() {
    let d = tempfile::tempdir().unwrap();
    let cfg = write(d.path(), "tiny.toml", TINY.as_bytes());
    let out = d.path().join("ck");
    // SIGINT right after the first checkpoint appears (the process has no handler:
    // it dies at once, like SIGKILL).
    let epoch = interrupt(&cfg, &out, "-INT", Duration::from_millis(0));
    loads(&out, d.path());
    let target = epoch + 1;
    let o = run(&mut train_cmd(
        &cfg,
        &out,
        &["--resume", "--epochs", &target.to_string()],
    ));
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(saved_epoch(&out), Some(target));
    loads(&out, d.path());
}

#[test]
fn resume_refuses_a_different_model_and_a_missing_state() {
    let d = tempfile::tempdir().unwrap();
    let cfg = write(d.path(), "tiny.toml", TINY.as_bytes());
    let out = d.path().join("ck");
    // Resume with nothing to resume from.
    let o = run(&mut train_cmd(&cfg, &out, &["--resume", "--epochs", "1"]));
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("config.toml"), "{err}");
    // One real epoch, then resume with another model size.
    let o = run(&mut train_cmd(&cfg, &out, &["--epochs", "1"]));
    assert!(o.status.success(), "{}", stderr(&o));
    let other = write(
        d.path(),
        "other.toml",
        TINY.replace("fdim = 8", "fdim = 12").as_bytes(),
    );
    let o = run(&mut train_cmd(&other, &out, &["--resume", "--epochs", "2"]));
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("model section differs"), "{err}");
    // A damaged optimiser state.
    std::fs::write(out.join("train_state.safetensors"), b"\0\0\0").unwrap();
    let o = run(&mut train_cmd(&cfg, &out, &["--resume", "--epochs", "2"]));
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("train_state.safetensors"), "{err}");
    assert_eq!(saved_epoch(&out), Some(1), "the state file was not touched");
}

// ---------------------------------------------------------------- fuzz regressions

/// Every file under fuzz/regressions/<target>/ still parses without a panic (the
/// library path the fuzz target drives), and every input there is refused or handled.
#[test]
fn fuzz_regression_inputs_do_not_crash_the_readers() {
    let root = repo().join("fuzz/regressions");
    let mut n = 0;
    for target in ["parse_sgan", "parse_csv", "parse_auto", "scene_builder"] {
        let dir = root.join(target);
        let Ok(rd) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in rd {
            let p = e.unwrap().path();
            let fmt = match target {
                "parse_sgan" => "sgan",
                "parse_csv" => "csv",
                _ => "auto",
            };
            let d = tempfile::tempdir().unwrap();
            let out = d.path().join("o.csv");
            let o = predict(&[
                "--input",
                s(&p),
                "--format",
                fmt,
                "--output",
                s(&out),
                "--samples",
                "1",
            ]);
            let code = o.status.code();
            assert!(
                code == Some(0) || code == Some(2),
                "{}: exit {code:?}: {}",
                p.display(),
                stderr(&o)
            );
            n += 1;
        }
    }
    eprintln!("{n} fuzz regression inputs replayed");
}

fn regression(target: &str, name: &str) -> (PathBuf, Vec<u8>) {
    let p = repo().join("fuzz/regressions").join(target).join(name);
    let b = std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    (p, b)
}

/// Found by `scene_builder`: a bare `\r` (old Mac line end) inside a file. The file is
/// read (a `\r` ends a record), but two records then carry the same line number.
#[test]
fn fuzz_bare_cr_repeats_line_number() {
    use lbebm_data::read::{read_track_bytes, Format};
    let (p, b) = regression("parse_auto", "bare-cr-repeats-line-number");
    let f = read_track_bytes(&p, &b, Format::Auto).unwrap();
    assert!(f.rows.windows(2).all(|w| w[0].line <= w[1].line));
    // A file with only `\r` line ends reads like the `\n` one.
    let d = tempfile::tempdir().unwrap();
    let lf = walkers(2, 9);
    let cr = lf.replace('\n', "\r");
    let a = predicted(d.path(), "lf.txt", lf.as_bytes(), &["--samples", "1"]);
    let c = predicted(d.path(), "cr.txt", cr.as_bytes(), &["--samples", "1"]);
    assert_eq!(a, c);
    // Errors in such a file name the right line (lone `\r` are read as `\n`).
    refused(
        "cr.csv",
        b"t,id,x,y\r0,1,0,0\r0.4,1,0.5,0\r0.8,1,abc,0\r",
        &[],
        &["cr.csv:4:"],
    );
}

/// Found by `scene_builder`: a CSV header with a quoted field holding a newline and a
/// NUL. Refused with exit 2 naming the file (no panic).
#[test]
fn fuzz_header_newline_in_error_message() {
    use lbebm_data::read::{read_track_bytes, Format};
    let (p, b) = regression("parse_auto", "header-newline-in-error-message");
    let e = read_track_bytes(&p, &b, Format::Auto)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("header-newline-in-error-message:1: missing time column"),
        "{e}"
    );
    // The header is shown escaped: one line, no control characters.
    assert!(!e.contains('\n') && !e.contains('\0'), "{e:?}");
    let d = tempfile::tempdir().unwrap();
    let out = d.path().join("o.csv");
    let o = predict(&["--input", s(&p), "--output", s(&out)]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(!out.exists());
}

/// Found by `scene_builder` (rows → Social-GAN windows, the `eval`/`train` reader):
/// frames written `-0` and `0` in one file.
#[test]
fn fuzz_negative_zero_frame() {
    let (p, _) = regression("scene_builder", "negative-zero-frame-panics-sgan-scenes");
    // `predict` handles it: agent 1 has frames -0 and 10.
    let d = tempfile::tempdir().unwrap();
    let out = d.path().join("o.csv");
    let o = predict(&["--input", s(&p), "--output", s(&out), "--samples", "1"]);
    assert!(o.status.success(), "{}", stderr(&o));
    // `-0` and `0` are one frame: the Social-GAN windowing reads the file without a panic.
    let root = d.path().join("data");
    std::fs::create_dir_all(root.join("eth/test")).unwrap();
    std::fs::copy(&p, root.join("eth/test/a.txt")).unwrap();
    let o = run(lbebm().args([
        "eval",
        "--model",
        "cv",
        "--split",
        "eth",
        "--data",
        s(&root),
    ]));
    let code = o.status.code();
    assert!(
        code == Some(0) || code == Some(2),
        "{code:?}: {}",
        stderr(&o)
    );
}

// Was a bug: frame numbers whose conversion to seconds overflows f64 (median step 1e-300
// frames, so 1 frame = 4e299 s, and a row at frame 1e10 becomes t = inf) are predicted
// at t = inf with NaN positions, exit 0. Expected: exit 2 naming the line, or a refusal
// of a time step that small. Input: fuzz/regressions/scene_builder/time-overflow-gives-nan-history.
#[test]
fn fuzz_time_overflow_gives_nan_history() {
    let (p, _) = regression("scene_builder", "time-overflow-gives-nan-history");
    let d = tempfile::tempdir().unwrap();
    let out = d.path().join("o.csv");
    let o = predict(&["--input", s(&p), "--output", s(&out), "--samples", "1"]);
    if o.status.success() {
        let text = std::fs::read_to_string(&out).unwrap();
        assert!(!text.contains("NaN") && !text.contains("inf"), "{text}");
    } else {
        assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    }
}

// Was a bug: `predict --every-step` allocated one entry per 0.4 s between the first and the
// last time before doing anything else (src/cmd_predict/mod.rs, `prediction_times`): one stray row
// far from the others (a Unix timestamp next to times from 0, or frame 1e9) makes it
// abort with "memory allocation of 34000000016 bytes failed" (exit 134), or loop for
// hours. Expected: bounded work (e.g. only the steps that have agents), or exit 2
// naming the gap.
#[test]
fn every_step_over_a_huge_time_gap_is_bounded() {
    let d = tempfile::tempdir().unwrap();
    let inp = write(
        d.path(),
        "gap.csv",
        b"t,id,x,y\n1700000000.0,1,0,0\n1700000000.4,1,0.5,0\n0,2,0,0\n0.4,2,1,1\n",
    );
    let out = d.path().join("o.csv");
    let t0 = Instant::now();
    let o = predict(&[
        "--input",
        s(&inp),
        "--output",
        s(&out),
        "--every-step",
        "--samples",
        "1",
    ]);
    let code = o.status.code();
    assert!(
        code == Some(0) || code == Some(2),
        "{code:?}: {}",
        stderr(&o)
    );
    assert!(t0.elapsed() < Duration::from_secs(30));
}

// Was a bug: a whitespace-only line in a CSV (say a trailing "  " line) is refused with
// "expected 4 fields as in the header, found 1" although read.rs means to skip blank
// records (`rec.iter().all(|f| f.is_empty())` is never reached: the csv reader is not
// flexible and errors first); after blank lines, the line named is also off (for
// "frame,id,x,y\r\n\r\n  \r\n" it names line 1, the spaces are on line 3). The
// Social-GAN reader skips such lines.
#[test]
fn whitespace_only_csv_lines_are_skipped() {
    let d = tempfile::tempdir().unwrap();
    let out = predicted(
        d.path(),
        "ws.csv",
        b"frame,id,x,y\n0,1,0,0\n10,1,1,0\n  \n",
        &[],
    );
    assert!(out.lines().count() > 1);
}
