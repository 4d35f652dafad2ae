//! Seeded initialisation of every variable, like PyTorch's `nn.Linear`.

use crate::checkpoint::sorted_vars;
use crate::ModelError;
use candle_core::Tensor;
use candle_nn::VarMap;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::collections::HashMap;

/// Fills every variable like PyTorch's `nn.Linear` (uniform ±1/√fan_in, weight and bias
/// from the same layer's fan-in), from a seeded generator.
pub fn seeded_init(vm: &VarMap, seed: u64) -> Result<(), ModelError> {
    let vars = sorted_vars(vm);
    let shapes: HashMap<String, Vec<usize>> = vars
        .iter()
        .map(|(n, v)| (n.clone(), v.dims().to_vec()))
        .collect();
    let mut rng = StdRng::seed_from_u64(seed);
    for (name, var) in &vars {
        let fan_in = if let Some(stem) = name.strip_suffix(".bias") {
            shapes
                .get(&format!("{stem}.weight"))
                .and_then(|s| s.get(1).copied())
                .unwrap_or(var.dims()[0])
        } else {
            var.dims().get(1).copied().unwrap_or(1)
        };
        let b = 1.0 / (fan_in as f32).sqrt();
        let n = var.elem_count();
        let v: Vec<f32> = (0..n).map(|_| rng.gen_range(-b..b)).collect();
        var.set(&Tensor::from_vec(v, var.dims(), var.device())?)?;
    }
    Ok(())
}

/// Sets the variables that start from the training data rather than the generator:
/// the trajectory space's basis ([`traj_basis_from_futures`]) and the plan anchors
/// ([`anchors_from_plans`]), from the training futures, taken once for both. Nothing to
/// do, and no data read, when both are off.
pub fn start_from_training_data(
    vm: &VarMap,
    cfg: &crate::config::CheckedConfig,
    scenes: &[lbebm_types::Scene],
) -> Result<(), ModelError> {
    if cfg.model.traj_rank == 0 && cfg.model.anchors == 0 {
        return Ok(());
    }
    let futures = training_futures(cfg, scenes)?;
    traj_basis_from_futures(vm, cfg, &futures)?;
    anchors_from_plans(vm, cfg, &futures)
}

/// With `model.traj_rank` r > 0, sets the trajectory space's basis (`dec_traj_basis`)
/// to the principal components of the training futures in the model's frame, each
/// scaled by its standard deviation, and its bias to their mean: the decoder then starts
/// out writing coefficients of about unit size in EigenTrajectory's space, instead of
/// having to find that space from a random basis first. With `train.mirror`, the
/// mirrored futures count too, as training will see them. The basis is trained on from
/// there.
fn traj_basis_from_futures(
    vm: &VarMap,
    cfg: &crate::config::CheckedConfig,
    futures: &[Vec<f32>],
) -> Result<(), ModelError> {
    use lbebm_types::PRED_LEN;
    const D: usize = PRED_LEN * 2;
    let r = cfg.model.traj_rank;
    if r == 0 {
        return Ok(());
    }
    let (mean, basis) = principal_components(futures, r);
    set_var(
        vm,
        "model.traj_rank",
        "dec_traj_basis.weight",
        basis,
        &[D, r],
    )?;
    set_var(vm, "model.traj_rank", "dec_traj_basis.bias", mean, &[D])
}

/// The training futures as training will see them: in the model's frame (each agent's),
/// one row of `2 * PRED_LEN` coordinates per window, each followed by its mirror image
/// with `train.mirror`.
fn training_futures(
    cfg: &crate::config::CheckedConfig,
    scenes: &[lbebm_types::Scene],
) -> Result<Vec<Vec<f32>>, ModelError> {
    use crate::batch::{FrameSpec, SceneBatch};
    let b = SceneBatch::with_frame(
        scenes,
        FrameSpec::of(&cfg.model),
        None,
        &candle_core::Device::Cpu,
    )?;
    match b.future {
        Some(f) => Ok(with_mirror_images(f.to_vec2::<f32>()?, cfg.train.mirror)),
        None => Err(ModelError::Data("training windows without futures".into())),
    }
}

/// `rows` of interleaved (x, y) coordinates, with `mirror` each followed by its mirror
/// image across the x axis (y negated), as `train.mirror` shows training the scenes.
fn with_mirror_images(rows: Vec<Vec<f32>>, mirror: bool) -> Vec<Vec<f32>> {
    if !mirror {
        return rows;
    }
    let mut out = Vec::with_capacity(rows.len() * 2);
    for row in rows {
        let image = row
            .iter()
            .enumerate()
            .map(|(j, &x)| if j % 2 == 1 { -x } else { x })
            .collect();
        out.push(row);
        out.push(image);
    }
    out
}

/// Overwrites the variable `name`, which the setting `key` asked for, with `values`.
fn set_var(
    vm: &VarMap,
    key: &str,
    name: &str,
    values: Vec<f32>,
    shape: &[usize],
) -> Result<(), ModelError> {
    let data = vm.data().lock().expect("varmap lock poisoned");
    let var = data
        .get(name)
        .ok_or_else(|| ModelError::Data(format!("{key} is set but {name} is not a variable")))?;
    var.set(&Tensor::from_vec(values, shape, var.device())?)?;
    Ok(())
}

/// With `model.anchors` A > 0, sets the plan anchors (`anchors`) to the k-means centres
/// of the training plans (the sub-goals of the training futures in the model's frame;
/// with `train.mirror` their mirror images too, as training will see them), as
/// EigenTrajectory takes its anchors from the training futures. k-means++ from a
/// generator seeded by `train.seed`, then Lloyd's iterations: deterministic. The anchors
/// are trained on from there.
fn anchors_from_plans(
    vm: &VarMap,
    cfg: &crate::config::CheckedConfig,
    futures: &[Vec<f32>],
) -> Result<(), ModelError> {
    let a = cfg.model.anchors;
    if a == 0 {
        return Ok(());
    }
    let sg = &cfg.model.subgoals;
    let plans: Vec<Vec<f32>> = futures
        .iter()
        .map(|f| sg.iter().flat_map(|&i| [f[2 * i], f[2 * i + 1]]).collect())
        .collect();
    if plans.len() < a {
        return Err(ModelError::Data(format!(
            "model.anchors = {a} but the training data hold {} plans",
            plans.len()
        )));
    }
    let centres = k_means_pp(&plans, a, cfg.train.seed, 50);
    set_var(vm, "model.anchors", "anchors", centres, &[a, sg.len() * 2])
}

/// `k` centres of `rows` (row-major `[k, dim]`): k-means++ seeding from `seed`, then at
/// most `iters` Lloyd iterations (an empty cluster keeps its centre).
fn k_means_pp(rows: &[Vec<f32>], k: usize, seed: u64, iters: usize) -> Vec<f32> {
    let dim = rows.first().map_or(0, Vec::len);
    let d2 = |a: &[f32], b: &[f32]| -> f64 {
        a.iter().zip(b).map(|(x, y)| ((x - y) as f64).powi(2)).sum()
    };
    let mut rng = StdRng::seed_from_u64(seed);
    let mut centres: Vec<Vec<f32>> = Vec::with_capacity(k);
    if rows.is_empty() || k == 0 {
        return Vec::new();
    }
    centres.push(rows[rng.gen_range(0..rows.len())].clone());
    let mut near: Vec<f64> = rows.iter().map(|r| d2(r, &centres[0])).collect();
    while centres.len() < k {
        let total: f64 = near.iter().sum();
        // Each next centre drawn with probability proportional to the squared distance
        // to the nearest centre so far (all at zero: the first row not yet a centre).
        let pick = if total > 0.0 {
            let mut u = rng.gen_range(0.0..total);
            let mut pick = rows.len() - 1;
            for (i, &n) in near.iter().enumerate() {
                if u < n {
                    pick = i;
                    break;
                }
                u -= n;
            }
            pick
        } else {
            centres.len().min(rows.len() - 1)
        };
        let c = rows[pick].clone();
        for (n, r) in near.iter_mut().zip(rows) {
            *n = n.min(d2(r, &c));
        }
        centres.push(c);
    }
    let mut assign = vec![usize::MAX; rows.len()];
    for _ in 0..iters {
        let mut moved = false;
        for (a, r) in assign.iter_mut().zip(rows) {
            let best = (0..k)
                .min_by(|&i, &j| d2(r, &centres[i]).total_cmp(&d2(r, &centres[j])))
                .unwrap_or(0);
            moved |= *a != best;
            *a = best;
        }
        if !moved {
            break;
        }
        let mut sum = vec![vec![0.0f64; dim]; k];
        let mut count = vec![0usize; k];
        for (&a, r) in assign.iter().zip(rows) {
            count[a] += 1;
            for (s, &x) in sum[a].iter_mut().zip(r) {
                *s += x as f64;
            }
        }
        for ((c, s), &n) in centres.iter_mut().zip(&sum).zip(&count) {
            if n > 0 {
                for (v, &t) in c.iter_mut().zip(s) {
                    *v = (t / n as f64) as f32;
                }
            }
        }
    }
    centres.into_iter().flatten().collect()
}

/// The mean of `rows` and, row-major `[dim, r]`, the first `r` principal directions,
/// each times the standard deviation along it.
fn principal_components(rows: &[Vec<f32>], r: usize) -> (Vec<f32>, Vec<f32>) {
    let dim = rows.first().map_or(0, Vec::len);
    let count = rows.len().max(1) as f64;
    let mut mean = vec![0.0f64; dim];
    for row in rows {
        for (j, &x) in row.iter().enumerate() {
            mean[j] += x as f64 / count;
        }
    }
    let mut cov = nalgebra::DMatrix::<f64>::zeros(dim, dim);
    for row in rows {
        let d: Vec<f64> = (0..dim).map(|j| row[j] as f64 - mean[j]).collect();
        for i in 0..dim {
            for j in 0..dim {
                cov[(i, j)] += d[i] * d[j] / count;
            }
        }
    }
    let eig = nalgebra::SymmetricEigen::new(cov);
    let mut order: Vec<usize> = (0..dim).collect();
    order.sort_by(|&a, &b| eig.eigenvalues[b].total_cmp(&eig.eigenvalues[a]));
    let mut basis = vec![0.0f32; dim * r];
    for (k, &c) in order.iter().take(r).enumerate() {
        let sd = eig.eigenvalues[c].max(0.0).sqrt();
        // A fixed sign (largest entry positive), so the basis does not depend on the
        // eigen-solver's choice.
        let col = eig.eigenvectors.column(c);
        let big = col
            .iter()
            .copied()
            .fold(0.0f64, |m, x| if x.abs() > m.abs() { x } else { m });
        let sign = if big < 0.0 { -1.0 } else { 1.0 };
        for i in 0..dim {
            basis[i * r + k] = (col[i] * sd * sign) as f32;
        }
    }
    (mean.iter().map(|&m| m as f32).collect(), basis)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn principal_components_span_futures_that_lie_in_a_plane() {
        // Futures a·u + b·v + m: rank 2 plus a mean.
        let u: Vec<f32> = (0..24).map(|i| (i as f32 * 0.3).sin()).collect();
        let v: Vec<f32> = (0..24)
            .map(|i| if i % 2 == 0 { i as f32 } else { 0.0 })
            .collect();
        let m: Vec<f32> = (0..24).map(|i| 0.5 * i as f32).collect();
        let rows: Vec<Vec<f32>> = (0..50)
            .map(|k| {
                let (a, b) = ((k as f32 * 0.7).cos() * 3.0, (k % 7) as f32 - 3.0);
                (0..24).map(|i| a * u[i] + b * v[i] + m[i]).collect()
            })
            .collect();
        let (mean, basis) = principal_components(&rows, 2);
        let col = |k: usize| -> Vec<f64> { (0..24).map(|i| basis[i * 2 + k] as f64).collect() };
        let (c0, c1) = (col(0), col(1));
        let dot = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f64>();
        // Orthogonal directions, the first the wider.
        assert!(dot(&c0, &c1).abs() < 1e-3 * dot(&c0, &c0).sqrt() * dot(&c1, &c1).sqrt());
        assert!(dot(&c0, &c0) >= dot(&c1, &c1));
        // Every future is its mean plus a combination of the two: the residual of the
        // least-squares fit is round-off.
        for row in &rows {
            let d: Vec<f64> = (0..24).map(|i| row[i] as f64 - mean[i] as f64).collect();
            let (a, b) = (dot(&d, &c0) / dot(&c0, &c0), dot(&d, &c1) / dot(&c1, &c1));
            let res: f64 = (0..24)
                .map(|i| (d[i] - a * c0[i] - b * c1[i]).powi(2))
                .sum();
            assert!(res.sqrt() < 1e-3, "residual {res}");
        }
        // Mirroring makes the mean's y coordinates zero.
        let (mm, _) = principal_components(&with_mirror_images(rows, true), 2);
        assert!(
            mm.iter().skip(1).step_by(2).all(|y| y.abs() < 1e-5),
            "{mm:?}"
        );
    }
    #[test]
    fn k_means_finds_separated_clusters_whatever_the_seed() {
        // Three tight clusters of 2-D points, unevenly filled.
        let centres = [[0.0f32, 0.0], [100.0, 0.0], [0.0, 100.0]];
        let rows: Vec<Vec<f32>> = (0..90)
            .map(|i| {
                let c = centres[if i < 60 {
                    0
                } else if i < 80 {
                    1
                } else {
                    2
                }];
                let j = (i as f32 * 1.7).sin();
                vec![c[0] + j, c[1] - j]
            })
            .collect();
        for seed in 0..5 {
            let got = k_means_pp(&rows, 3, seed, 50);
            let mut found: Vec<usize> = got
                .chunks(2)
                .map(|g| {
                    (0..3)
                        .find(|&c| {
                            (g[0] - centres[c][0]).abs() < 2.0 && (g[1] - centres[c][1]).abs() < 2.0
                        })
                        .unwrap_or(9)
                })
                .collect();
            found.sort_unstable();
            assert_eq!(found, vec![0, 1, 2], "seed {seed}: {got:?}");
            assert_eq!(got, k_means_pp(&rows, 3, seed, 50), "deterministic");
        }
    }
}
