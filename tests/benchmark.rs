//! The README's benchmark row is reproduced by its command: `lbebm eval` on the shipped
//! weights gives exactly the numbers stored in docs/results.json (checked on the ETH
//! split, the quickest; the full table is `lbebm eval --model models --split all`).

mod common;
use common::*;

#[test]
fn shipped_eth_checkpoint_reproduces_the_readme_numbers() {
    let want: serde_json::Value =
        serde_json::from_slice(&std::fs::read(repo().join("docs/results.json")).unwrap()).unwrap();
    assert_eq!(want["samples"], 20);
    let row = want["splits"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["split"] == "eth")
        .expect("eth row");
    let d = tempfile::tempdir().unwrap();
    let json = d.path().join("eth.json");
    let o = run(lbebm()
        .current_dir(repo())
        .args([
            "eval",
            "--model",
            "models",
            "--split",
            "eth",
            "--samples",
            "20",
            "--json",
        ])
        .arg(&json)
        .arg("--data")
        .arg(data_dir()));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let got: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let g = &got["splits"][0];
    assert_eq!(g["windows"], 364);
    assert_eq!(g["windows"], row["windows"]);
    for k in ["ade", "fde"] {
        let (a, b) = (g[k].as_f64().unwrap(), row[k].as_f64().unwrap());
        assert!(
            (a - b).abs() < 1e-9,
            "{k}: {a} now, {b} in docs/results.json"
        );
    }
    // And it beats constant velocity on this split by a wide margin.
    assert!(g["ade"].as_f64().unwrap() < 0.8 && g["fde"].as_f64().unwrap() < 1.6);
}
