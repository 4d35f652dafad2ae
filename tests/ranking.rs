//! The ranking that users see through `lbebm predict` is the one `lbebm eval` scores:
//! `predict` is fed only the 8 observed frames of test windows, and its rank-0 sample
//! and rank order give the same top-1 error and rank correlation (statistically: the
//! two draw from different noise streams) as the evaluation harness on those windows.

mod common;
use common::*;
use lbebm_data::{load_part, Part, Split};
use lbebm_eval::{ade, evaluate, spearman, ConstantVelocity};
use lbebm_model::{checkpoint, Device, LbebmPredictor};
use lbebm_types::{Scene, Vec2, PRED_LEN};
use std::fmt::Write as _;

/// Every n-th scene of the zara1 test split: about 40 scenes, 150 agents.
fn scenes() -> Vec<Scene> {
    let all = load_part(&data_dir(), Split::Zara1, Part::Test).unwrap();
    all.into_iter().step_by(18).collect()
}

#[test]
fn predict_ranks_like_eval() {
    let scenes = scenes();
    let agents: usize = scenes.iter().map(Scene::len).sum();
    assert!(agents > 100, "{agents}");
    let model = repo().join("models/zara1");

    // The harness.
    let ck = checkpoint::load(&model, &Device::Cpu).unwrap();
    let mut p = LbebmPredictor::new(ck.model, 1, "zara1").unwrap();
    let by_eval = evaluate(&mut p, &scenes, 20, 512, &mut |_| {}).unwrap();
    let cv = evaluate(&mut ConstantVelocity, &scenes, 20, 512, &mut |_| {}).unwrap();

    // What a user runs: one Social-GAN file of observed frames per scene.
    let dir = tempfile::tempdir().unwrap();
    let (mut top1, mut rho_sum, mut rho_n, mut n) = (0.0f64, 0.0f64, 0usize, 0usize);
    for (si, s) in scenes.iter().enumerate() {
        let mut text = String::new();
        for step in 0..8 {
            for a in &s.agents {
                let q = a.obs[step];
                writeln!(text, "{}\t{}\t{}\t{}", step * 10, a.id, q.x, q.y).unwrap();
            }
        }
        let input = dir.path().join(format!("s{si}.txt"));
        std::fs::write(&input, text).unwrap();
        let out = dir.path().join(format!("s{si}.json"));
        let o = run(lbebm()
            .args(["predict", "--samples", "20", "--model"])
            .arg(&model)
            .arg("--input")
            .arg(&input)
            .arg("--output")
            .arg(&out));
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
        let preds = v["predictions"].as_array().unwrap();
        assert_eq!(preds.len(), 1);
        for pa in preds[0]["agents"].as_array().unwrap() {
            let id = pa["id"].as_str().unwrap();
            let truth = s
                .agents
                .iter()
                .find(|a| a.id == id)
                .unwrap()
                .future
                .unwrap();
            let samples = pa["samples"].as_array().unwrap();
            assert_eq!(samples.len(), 20);
            let weights: Vec<f64> = samples
                .iter()
                .map(|x| x["weight"].as_f64().unwrap())
                .collect();
            assert!((weights.iter().sum::<f64>() - 1.0).abs() < 1e-4);
            assert!(
                weights.windows(2).all(|w| w[0] >= w[1]),
                "ranked by weight: {weights:?}"
            );
            let errs: Vec<f32> = samples
                .iter()
                .map(|x| {
                    let pts = x["points"].as_array().unwrap();
                    assert_eq!(pts.len(), PRED_LEN);
                    let f: Vec<Vec2> = pts
                        .iter()
                        .map(|p| {
                            Vec2::new(p[0].as_f64().unwrap() as f32, p[1].as_f64().unwrap() as f32)
                        })
                        .collect();
                    ade(&f, &truth)
                })
                .collect();
            top1 += errs[0] as f64;
            let rank: Vec<f32> = (0..errs.len()).map(|r| r as f32).collect();
            if let Some(r) = spearman(&rank, &errs) {
                rho_sum += r;
                rho_n += 1;
            }
            n += 1;
        }
    }
    assert_eq!(n, agents, "every agent predicted");
    let top1 = top1 / n as f64;
    let rho = rho_sum / rho_n as f64;
    let eval_rho = by_eval.rank_rho.unwrap();
    eprintln!(
        "top-1 ADE: predict {top1:.3}, eval {:.3}, cv {:.3}; rank rho: predict {rho:.3}, eval {eval_rho:.3}",
        by_eval.top1.ade, cv.ade
    );
    // Same statistics within sampling noise (different noise streams, ~150 agents).
    assert!(
        (top1 - by_eval.top1.ade).abs() < 0.15 * by_eval.top1.ade,
        "{top1} vs {:?}",
        by_eval.top1
    );
    assert!((rho - eval_rho).abs() < 0.1, "{rho} vs {eval_rho}");
    // The ranking means something: earlier ranks have smaller errors.
    assert!(rho > 0.3 && eval_rho > 0.3, "{rho} {eval_rho}");
}
