//! Choosing and scoring the K samples returned for each agent, from the candidates the
//! sampler drew: which K cover the candidates, and how likely each of them is.
//!
//! Everything here works on one agent's candidates as flat rows of `2·PRED_LEN` floats
//! in the model frame (relative to the agent's last observation, scaled), and never sees
//! the truth. A leaf module: plain slices in, indices and scores out.

use crate::config::{Cover, RankConfig, RankMethod};
use lbebm_types::{OBS_LEN, PRED_LEN};

/// Floats per trajectory row.
const D: usize = PRED_LEN * 2;

fn dist2(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum()
}

fn row(cands: &[f32], i: usize) -> &[f32] {
    &cands[i * D..(i + 1) * D]
}

/// Picks `k_out` of the `cands.len() / D` candidates that cover them: k-means on the
/// whole trajectories (farthest-point start from the lowest-energy candidate, so it is
/// deterministic), then the member nearest each centre. Returns candidate indices.
pub fn covering(cands: &[f32], energies: &[f32], k_out: usize) -> Vec<usize> {
    k_means(cands, energies, k_out, false).0
}

/// [`covering`]'s k-means: the member nearest each centre, and, when `keep_centres`
/// asks for them, the centres themselves (with `k_out` ≥ the candidates, every candidate
/// is its own centre); otherwise an empty list.
fn k_means(
    cands: &[f32],
    energies: &[f32],
    k_out: usize,
    keep_centres: bool,
) -> (Vec<usize>, Vec<Vec<f32>>) {
    let k = energies.len();
    debug_assert_eq!(cands.len(), k * D);
    if k_out >= k {
        let own = match keep_centres {
            true => (0..k).map(|i| row(cands, i).to_vec()).collect(),
            false => vec![],
        };
        return ((0..k).collect(), own);
    }
    let first = (0..k)
        .min_by(|&i, &j| energies[i].total_cmp(&energies[j]))
        .unwrap_or(0);
    let mut centres: Vec<Vec<f32>> = vec![row(cands, first).to_vec()];
    let mut near: Vec<f32> = (0..k)
        .map(|i| dist2(row(cands, i), row(cands, first)))
        .collect();
    while centres.len() < k_out {
        let far = (0..k)
            .max_by(|&i, &j| near[i].total_cmp(&near[j]))
            .unwrap_or(0);
        centres.push(row(cands, far).to_vec());
        for (i, n) in near.iter_mut().enumerate() {
            *n = n.min(dist2(row(cands, i), row(cands, far)));
        }
    }
    // Lloyd iterations.
    let mut assign = vec![0usize; k];
    for _ in 0..10 {
        for (i, a) in assign.iter_mut().enumerate() {
            let r = row(cands, i);
            *a = (0..k_out)
                .min_by(|&c, &d| dist2(r, &centres[c]).total_cmp(&dist2(r, &centres[d])))
                .unwrap_or(0);
        }
        for (c, centre) in centres.iter_mut().enumerate() {
            let members: Vec<usize> = (0..k).filter(|&i| assign[i] == c).collect();
            if members.is_empty() {
                continue;
            }
            for (d, v) in centre.iter_mut().enumerate() {
                *v = members.iter().map(|&i| cands[i * D + d]).sum::<f32>() / members.len() as f32;
            }
        }
    }
    // The member nearest each centre (distinct candidates).
    let mut used = vec![false; k];
    let picks = centres
        .iter()
        .map(|centre| {
            let pick = (0..k)
                .filter(|&i| !used[i])
                .min_by(|&i, &j| {
                    dist2(row(cands, i), centre).total_cmp(&dist2(row(cands, j), centre))
                })
                .unwrap_or(0);
            used[pick] = true;
            pick
        })
        .collect();
    (picks, if keep_centres { centres } else { vec![] })
}

/// Log-scores of every candidate (higher: more likely), without the truth.
///
/// - [`RankMethod::Energy`]: `−energy` (the prior's score of the latent belief).
/// - [`RankMethod::Density`]: the log of a Gaussian kernel density of the candidate
///   cloud at each candidate, over whole trajectories (bandwidth in metres, as an RMS
///   distance over the 12 steps), plus, when `cv_sigma > 0`, the log of a Gaussian
///   prior centred on the observed track's motion (its velocity over the last steps,
///   extrapolated slowing by `cv_decay` or `cv_slowing`).
///
/// `obs` is the agent's observed row (`2·OBS_LEN` floats, same frame), `scale` the
/// model units per metre.
pub fn scores(
    cfg: &RankConfig,
    cands: &[f32],
    energies: &[f32],
    obs: &[f32],
    scale: f32,
) -> Vec<f32> {
    scores_towards(
        cfg,
        cands,
        energies,
        &observed_motion(cfg, obs, scale),
        scale,
    )
}

/// [`scores`] with the observed motion already extrapolated, for a caller that needs it
/// again (the rank-0 blend of [`choose`]).
fn scores_towards(
    cfg: &RankConfig,
    cands: &[f32],
    energies: &[f32],
    motion: &[f32],
    scale: f32,
) -> Vec<f32> {
    let k = energies.len();
    match cfg.method {
        RankMethod::Energy => energies.iter().map(|e| -e).collect(),
        RankMethod::Density => {
            // Kernel on the mean squared distance per step, in model units.
            let h2 = (cfg.bandwidth * scale).powi(2) * PRED_LEN as f32;
            let mut s: Vec<f32> = (0..k)
                .map(|i| {
                    let ri = row(cands, i);
                    let logs: Vec<f32> = (0..k)
                        .map(|j| -dist2(ri, row(cands, j)) / (2.0 * h2))
                        .collect();
                    log_sum_exp(&logs)
                })
                .collect();
            if cfg.cv_sigma > 0.0 {
                let p2 = (cfg.cv_sigma * scale).powi(2) * PRED_LEN as f32;
                for (i, si) in s.iter_mut().enumerate() {
                    *si -= dist2(row(cands, i), motion) / (2.0 * p2);
                }
            }
            s
        }
    }
}

/// Steps the observed velocity is averaged over: `cfg.cv_window`, or, with
/// `cfg.cv_tolerance`, the shortest window up to it whose velocity noise, estimated from
/// the observed row's own jitter, is below the tolerance. `scale`: model units per metre.
fn window(cfg: &RankConfig, obs: &[f32], scale: f32) -> usize {
    // The checked config holds it in 1..OBS_LEN; `velocity` clamps it where it indexes.
    let longest = cfg.cv_window;
    if cfg.cv_tolerance <= 0.0 || longest <= 1 {
        return longest;
    }
    // Under white noise of σ per coordinate a second difference has variance 6σ²;
    // real turns and stops add to it, which only lengthens the window.
    let mut sum = 0.0;
    for t in 1..OBS_LEN - 1 {
        for c in 0..2 {
            let d = obs[2 * (t + 1) + c] - 2.0 * obs[2 * t + c] + obs[2 * (t - 1) + c];
            sum += d * d;
        }
    }
    let sigma = (sum / (6.0 * 2.0 * (OBS_LEN - 2) as f32)).sqrt();
    // The mean velocity over w steps differs from the truth by √2·σ / w per coordinate.
    let w = (std::f32::consts::SQRT_2 * sigma / (cfg.cv_tolerance * scale)).ceil();
    (w as usize).clamp(1, longest)
}

/// The motion that the prior (`cv_sigma`) and the blend (`cv_blend`) pull towards: the
/// observed row's velocity over its [`window`], extrapolated slowing by [`decay`].
fn observed_motion(cfg: &RankConfig, obs: &[f32], scale: f32) -> Vec<f32> {
    let v = velocity(obs, window(cfg, obs, scale));
    extrapolate(obs, v, decay(cfg, v, scale))
}

/// The factor the velocity `v` (model units per step) is multiplied by at each predicted
/// step: `cfg.cv_decay`, or, with `cfg.cv_slowing`, `1 − cv_slowing / speed` where that
/// is smaller and the speed is at least `cfg.cv_slowing_from` (metres per step): the
/// walker loses about the same speed whatever it walks at, so a slow one is likelier
/// to stop or turn and its guess slows down sooner.
fn decay(cfg: &RankConfig, v: (f32, f32), scale: f32) -> f32 {
    let speed = v.0.hypot(v.1) / scale;
    if cfg.cv_slowing <= 0.0 || speed < cfg.cv_slowing_from || speed <= 0.0 {
        return cfg.cv_decay;
    }
    (1.0 - cfg.cv_slowing / speed).clamp(0.0, cfg.cv_decay)
}

/// The mean velocity of an observed row over its last `window` steps.
fn velocity(obs: &[f32], window: usize) -> (f32, f32) {
    let (lx, ly) = (obs[2 * (OBS_LEN - 1)], obs[2 * (OBS_LEN - 1) + 1]);
    let w = window.clamp(1, OBS_LEN - 1);
    let from = OBS_LEN - 1 - w;
    (
        (lx - obs[2 * from]) / w as f32,
        (ly - obs[2 * from + 1]) / w as f32,
    )
}

/// The extrapolation of the velocity `v` from an observed row's last position, as a
/// trajectory row: the velocity is multiplied by `decay` at every predicted step
/// (1: constant velocity).
fn extrapolate(obs: &[f32], v: (f32, f32), decay: f32) -> Vec<f32> {
    let (lx, ly) = (obs[2 * (OBS_LEN - 1)], obs[2 * (OBS_LEN - 1) + 1]);
    // Distance travelled after t + 1 steps, in steps of the observed velocity.
    let mut f = 0.0;
    let mut g = 1.0;
    (0..PRED_LEN)
        .flat_map(|_| {
            f += g;
            g *= decay;
            [lx + v.0 * f, ly + v.1 * f]
        })
        .collect()
}

/// `iters` mean-shift steps from `start` over the candidate cloud (Gaussian kernel of
/// squared-distance scale `h2`).
fn mean_shift(cands: &[f32], start: &[f32], h2: f32, iters: usize) -> Vec<f32> {
    let k = cands.len() / D;
    let mut x = start.to_vec();
    for _ in 0..iters {
        let logs: Vec<f32> = (0..k)
            .map(|j| -dist2(&x, row(cands, j)) / (2.0 * h2))
            .collect();
        let w = lbebm_types::softmax(&logs);
        x = (0..D)
            .map(|d| (0..k).map(|j| w[j] * cands[j * D + d]).sum())
            .collect();
    }
    x
}

fn log_sum_exp(x: &[f32]) -> f32 {
    let m = x.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    if !m.is_finite() {
        return m;
    }
    m + x.iter().map(|v| (v - m).exp()).sum::<f32>().ln()
}

/// What to return for one agent.
#[derive(Debug, Clone, PartialEq)]
pub struct Choice {
    /// Candidate indices of the K samples.
    pub chosen: Vec<usize>,
    /// Their log-scores (higher: more likely).
    pub scores: Vec<f32>,
    /// With `mode_first` and mean shift or a CV blend: the trajectory that replaces
    /// the best-scoring sample's (the single best guess), and its position in `chosen`.
    pub best_guess: Option<(usize, Vec<f32>)>,
    /// With [`Cover::Centre`]: the trajectory of every slot (the k-means centre of the
    /// covering members, the candidate as drawn for the best-scoring one); its energy
    /// and score are those of the member in `chosen`, the candidate nearest to it.
    /// `best_guess`, when set, still replaces its slot.
    pub rows: Option<Vec<Vec<f32>>>,
}

/// The K candidates to return for one agent, and their log-scores: the covering
/// choice (or all candidates when there are only K), with the best-scoring candidate
/// swapped in for the member of its own cluster when `cfg.mode_first` asks for it, so
/// that the single best guess is among the K.
pub fn choose(
    cfg: &RankConfig,
    cands: &[f32],
    energies: &[f32],
    obs: &[f32],
    scale: f32,
    k_out: usize,
) -> Choice {
    let motion = observed_motion(cfg, obs, scale);
    let s = scores_towards(cfg, cands, energies, &motion, scale);
    let guess = cfg.mode_first && cfg.method == RankMethod::Density;
    let best = (0..s.len()).max_by(|&i, &j| s[i].total_cmp(&s[j]));
    let want = cfg.cover == Cover::Centre;
    let (mut chosen, centres) = match best {
        // the guess in a slot of its own, beside K - 1 covering samples (unless the cover
        // already holds it: then the usual K)
        Some(b) if guess && cfg.guess_extra && k_out >= 2 => {
            let (mut c, mut m) = k_means(cands, energies, k_out - 1, want);
            if c.contains(&b) {
                (c, m) = k_means(cands, energies, k_out, want);
            } else {
                c.push(b);
                if want {
                    m.push(row(cands, b).to_vec());
                }
            }
            (c, m)
        }
        _ => k_means(cands, energies, k_out, want),
    };
    // Empty unless the centres were asked for.
    let mut rows = centres;
    let mut best_guess = None;
    if guess {
        if let Some(best) = best {
            let slot = match chosen.iter().position(|&c| c == best) {
                Some(p) => Some(p),
                None => (0..chosen.len()).min_by(|&a, &b| {
                    dist2(row(cands, chosen[a]), row(cands, best))
                        .total_cmp(&dist2(row(cands, chosen[b]), row(cands, best)))
                }),
            };
            if let Some(p) = slot {
                chosen[p] = best;
                if let Some(r) = rows.get_mut(p) {
                    *r = row(cands, best).to_vec();
                }
                let last = cfg.cv_blend_last.unwrap_or(cfg.cv_blend);
                let blend = cfg.cv_blend > 0.0 || last > 0.0;
                if cfg.mean_shift > 0 || blend {
                    let h2 = (cfg.bandwidth * scale).powi(2) * PRED_LEN as f32;
                    let mut x = mean_shift(cands, row(cands, best), h2, cfg.mean_shift);
                    if blend {
                        let ramp = (last - cfg.cv_blend) / (PRED_LEN - 1) as f32;
                        for (t, (xs, cs)) in x
                            .chunks_exact_mut(2)
                            .zip(motion.chunks_exact(2))
                            .enumerate()
                        {
                            // Exactly `cv_blend` at every step when there is no ramp.
                            let w = cfg.cv_blend + ramp * t as f32;
                            for (xi, ci) in xs.iter_mut().zip(cs) {
                                *xi += w * (ci - *xi);
                            }
                        }
                    }
                    best_guess = Some((p, x));
                }
            }
        }
    }
    let scores = chosen.iter().map(|&i| s[i]).collect();
    Choice {
        chosen,
        scores,
        best_guess,
        rows: want.then_some(rows),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A straight trajectory along x at `v` per step, offset by `y`.
    fn line(v: f32, y: f32) -> Vec<f32> {
        (0..PRED_LEN)
            .flat_map(|t| [v * (t + 1) as f32, y])
            .collect()
    }

    fn cloud() -> (Vec<f32>, Vec<f32>) {
        // Six candidates near y = 0, two outliers far off.
        let ys = [0.0, 0.1, -0.1, 0.05, -0.05, 0.0, 20.0, -25.0];
        let c: Vec<f32> = ys.iter().flat_map(|&y| line(1.0, y)).collect();
        // Energies that favour the outliers: density must not follow them.
        let e = vec![1.0, 1.0, 1.0, 1.0, 1.0, 1.0, -5.0, -5.0];
        (c, e)
    }

    #[test]
    fn covering_spans_the_cloud_and_is_distinct() {
        let (c, e) = cloud();
        let got = covering(&c, &e, 3);
        assert_eq!(got.len(), 3);
        let mut sorted = got.clone();
        sorted.dedup();
        assert_eq!(sorted.len(), 3, "{got:?}");
        // Both outliers are their own clusters; the dense group gets the third.
        assert!(got.contains(&6) && got.contains(&7), "{got:?}");
        assert_eq!(covering(&c, &e, 8), (0..8).collect::<Vec<_>>());
    }

    #[test]
    fn density_prefers_the_dense_group_and_energy_the_low_energy() {
        let (c, e) = cloud();
        let obs = vec![0.0; 2 * OBS_LEN];
        let dense = RankConfig {
            method: RankMethod::Density,
            bandwidth: 0.5,
            cv_sigma: 0.0,
            mode_first: true,
            mean_shift: 0,
            cv_blend: 0.0,
            cv_blend_last: None,
            guess_extra: false,
            ..RankConfig::default()
        };
        let s = scores(&dense, &c, &e, &obs, 1.0);
        let best = (0..8).max_by(|&i, &j| s[i].total_cmp(&s[j])).unwrap();
        assert!(best < 6, "{s:?}");
        assert!(s[6] < s[0] && s[7] < s[0]);
        let en = RankConfig {
            method: RankMethod::Energy,
            ..dense.clone()
        };
        let s = scores(&en, &c, &e, &obs, 1.0);
        assert_eq!(s[6], 5.0);
        // With covering down to 3, the mode is swapped in when it was not chosen.
        let ch = choose(&dense, &c, &e, &obs, 1.0, 3);
        let sc = &ch.scores;
        assert_eq!(ch.chosen.len(), 3);
        assert_eq!(ch.best_guess, None);
        let s_all = scores(&dense, &c, &e, &obs, 1.0);
        let top = sc.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let best_all = s_all.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        assert_eq!(top, best_all);
    }

    #[test]
    fn constant_velocity_prior_pulls_towards_the_observed_motion() {
        // Observed: moving along +x at 1 per step, ending at the origin.
        let obs: Vec<f32> = (0..OBS_LEN)
            .flat_map(|t| [t as f32 - (OBS_LEN - 1) as f32, 0.0])
            .collect();
        // Two equally dense candidates: straight on, and standing still.
        let c: Vec<f32> = [line(1.0, 0.0), line(0.0, 0.0)].concat();
        let e = vec![0.0, 0.0];
        let cfg = RankConfig {
            method: RankMethod::Density,
            bandwidth: 0.1,
            cv_sigma: 1.0,
            mode_first: false,
            mean_shift: 0,
            cv_blend: 0.0,
            cv_blend_last: None,
            guess_extra: false,
            ..RankConfig::default()
        };
        let s = scores(&cfg, &c, &e, &obs, 1.0);
        assert!(s[0] > s[1], "{s:?}");
    }

    #[test]
    fn best_guess_is_the_smoothed_mode_blended_towards_constant_velocity() {
        let (c, e) = cloud();
        let obs: Vec<f32> = (0..OBS_LEN).flat_map(|t| [t as f32 - 7.0, 0.0]).collect();
        let mut cfg = RankConfig {
            method: RankMethod::Density,
            bandwidth: 0.5,
            cv_sigma: 0.0,
            mode_first: true,
            mean_shift: 5,
            cv_blend: 0.0,
            cv_blend_last: None,
            guess_extra: false,
            ..RankConfig::default()
        };
        let ch = choose(&cfg, &c, &e, &obs, 1.0, 3);
        let (slot, x) = ch.best_guess.clone().unwrap();
        // The dense group's mean (y = 0), not an outlier, and it takes the top score's slot.
        let top = (0..3)
            .max_by(|&a, &b| ch.scores[a].total_cmp(&ch.scores[b]))
            .unwrap();
        assert_eq!(slot, top);
        assert!(x.iter().skip(1).step_by(2).all(|y| y.abs() < 0.05), "{x:?}");
        // Fully blended: the constant-velocity line itself.
        cfg.cv_blend = 1.0;
        let (_, x) = choose(&cfg, &c, &e, &obs, 1.0, 3).best_guess.unwrap();
        assert_eq!(x, line(1.0, 0.0));
    }

    #[test]
    fn an_extra_guess_leaves_the_cover_of_k_minus_one_intact() {
        let (_, e) = cloud();
        let obs: Vec<f32> = (0..OBS_LEN).flat_map(|t| [t as f32 - 7.0, 0.0]).collect();
        let cfg = RankConfig {
            method: RankMethod::Density,
            bandwidth: 0.5,
            cv_sigma: 0.0,
            mode_first: true,
            mean_shift: 5,
            cv_blend: 0.5,
            cv_blend_last: None,
            guess_extra: true,
            ..RankConfig::default()
        };
        // outliers far apart: a cover of 2 takes both, so the mode gets a slot of its own
        let far: Vec<f32> = [0.0, 0.1, -0.1, 0.05, -0.05, 0.0, 200.0, -250.0]
            .iter()
            .flat_map(|&y| line(1.0, y))
            .collect();
        let s = scores(&cfg, &far, &e, &obs, 1.0);
        let best = (0..8).max_by(|&i, &j| s[i].total_cmp(&s[j])).unwrap();
        assert!(best < 6);
        let cover = covering(&far, &e, 2);
        let ch = choose(&cfg, &far, &e, &obs, 1.0, 3);
        let (slot, _) = ch.best_guess.clone().expect("a guess");
        assert_eq!(&ch.chosen[..2], &cover[..], "{:?}", ch.chosen);
        assert_eq!((slot, ch.chosen[2]), (2, best));
        // without the extra slot, the mode replaces a member of the cover of 3
        let swapped = choose(
            &RankConfig {
                guess_extra: false,
                ..cfg
            },
            &far,
            &e,
            &obs,
            1.0,
            3,
        );
        assert_eq!(swapped.chosen.len(), 3);
        assert!(swapped.chosen.contains(&best));
    }

    #[test]
    fn blend_ramp_goes_from_first_to_last_share() {
        let (c, e) = cloud();
        // Observed: still at the origin, so constant velocity stays there.
        let obs = vec![0.0; 2 * OBS_LEN];
        let mut cfg = RankConfig {
            method: RankMethod::Density,
            bandwidth: 0.5,
            cv_sigma: 0.0,
            mode_first: true,
            mean_shift: 0,
            cv_blend: 1.0,
            cv_blend_last: Some(0.0),
            guess_extra: false,
            ..RankConfig::default()
        };
        let (slot, x) = choose(&cfg, &c, &e, &obs, 1.0, 3).best_guess.unwrap();
        let ch = choose(&cfg, &c, &e, &obs, 1.0, 3);
        let mode = row(&c, ch.chosen[slot]);
        // Step 1 is constant velocity itself, the last step the mode itself.
        assert_eq!(&x[..2], &[0.0, 0.0]);
        assert_eq!(&x[D - 2..], &mode[D - 2..]);
        // Halfway in between, a share in between.
        let t = PRED_LEN / 2;
        assert!(x[2 * t] > 0.0 && x[2 * t] < mode[2 * t], "{x:?}");
        // No ramp: the same as a constant share.
        cfg.cv_blend = 0.5;
        cfg.cv_blend_last = Some(0.5);
        let with = choose(&cfg, &c, &e, &obs, 1.0, 3).best_guess;
        cfg.cv_blend_last = None;
        assert_eq!(with, choose(&cfg, &c, &e, &obs, 1.0, 3).best_guess);
    }

    #[test]
    fn centres_are_the_means_of_their_clusters() {
        let (c, e) = cloud();
        let obs = vec![0.0; 2 * OBS_LEN];
        let mut cfg = RankConfig {
            cover: Cover::Centre,
            ..RankConfig::default()
        };
        let ch = choose(&cfg, &c, &e, &obs, 1.0, 3);
        let rows = ch.rows.clone().expect("centres");
        // The two outliers are clusters of one: their centres are themselves. The dense
        // group's centre is the mean of its six members (y = 0), not one of them.
        for (slot, &i) in ch.chosen.iter().enumerate() {
            if i >= 6 {
                assert_eq!(rows[slot], row(&c, i));
            } else {
                let mean: Vec<f32> = (0..D)
                    .map(|d| (0..6).map(|j| c[j * D + d]).sum::<f32>() / 6.0)
                    .collect();
                for (a, b) in rows[slot].iter().zip(&mean) {
                    assert!((a - b).abs() < 1e-5, "{:?} vs {mean:?}", rows[slot]);
                }
            }
        }
        // Members as drawn: no rows of their own.
        cfg.cover = Cover::Member;
        assert_eq!(choose(&cfg, &c, &e, &obs, 1.0, 3).rows, None);
    }

    #[test]
    fn decayed_velocity_slows_geometrically_and_one_is_constant_velocity() {
        // Observed: along +x at 1 per step, ending at the origin.
        let obs: Vec<f32> = (0..OBS_LEN)
            .flat_map(|t| [t as f32 - (OBS_LEN - 1) as f32, 0.0])
            .collect();
        let cv = extrapolate(&obs, velocity(&obs, 1), 1.0);
        assert_eq!(cv, line(1.0, 0.0));
        let slow = extrapolate(&obs, velocity(&obs, 1), 0.5);
        // Steps of 1, 0.5, 0.25, …: the distance approaches 2 and never reaches it.
        assert_eq!(&slow[..6], &[1.0, 0.0, 1.5, 0.0, 1.75, 0.0]);
        let end = slow[2 * (PRED_LEN - 1)];
        assert!(end < 2.0 && end > 1.999, "{end}");
    }

    #[test]
    fn velocity_window_averages_noisy_tracks_and_keeps_the_last_step_of_clean_ones() {
        // Along +x at 1 per step, ending at the origin, then a jittered copy.
        let clean: Vec<f32> = (0..OBS_LEN)
            .flat_map(|t| [t as f32 - (OBS_LEN - 1) as f32, 0.0])
            .collect();
        let mut noisy = clean.clone();
        for (t, p) in noisy.chunks_exact_mut(2).enumerate() {
            p[1] = if t % 2 == 0 { 0.3 } else { -0.3 };
        }
        let fixed = RankConfig {
            cv_window: 3,
            ..RankConfig::default()
        };
        let auto = RankConfig {
            cv_window: 4,
            cv_tolerance: 0.1,
            ..RankConfig::default()
        };
        // A fixed window ignores the jitter; the tolerance reads it (1 unit per metre).
        assert_eq!(window(&fixed, &clean, 1.0), 3);
        assert_eq!(window(&auto, &clean, 1.0), 1);
        // σ of the ±0.3 zig-zag from its second differences (±1.2 in y): √(1.44/12) ≈ 0.35;
        // √2·0.35 / 0.1 ≈ 4.9 steps, capped at the longest window.
        assert_eq!(window(&auto, &noisy, 1.0), 4);
        // A tolerance above the jitter keeps the last step.
        let loose = RankConfig {
            cv_tolerance: 1.0,
            ..auto.clone()
        };
        assert_eq!(window(&loose, &noisy, 1.0), 1);
        // Averaging over 3 steps: the velocity of the mean displacement.
        let v3 = extrapolate(&noisy, velocity(&noisy, 3), 1.0);
        let from = &noisy[2 * (OBS_LEN - 4)..2 * (OBS_LEN - 3)];
        let last = &noisy[2 * (OBS_LEN - 1)..];
        assert!((v3[0] - (last[0] + (last[0] - from[0]) / 3.0)).abs() < 1e-6);
        assert!((v3[1] - (last[1] + (last[1] - from[1]) / 3.0)).abs() < 1e-6);
    }

    #[test]
    fn slowing_is_the_same_loss_of_speed_for_every_walker_above_its_threshold() {
        let cfg = RankConfig {
            cv_decay: 0.99,
            cv_slowing: 0.01,
            cv_slowing_from: 0.05,
            ..RankConfig::default()
        };
        // 2 model units per metre: a velocity of 0.2 units per step is 0.1 m per step.
        let at = |speed_m: f32| decay(&cfg, (0.6 * speed_m * 2.0, 0.8 * speed_m * 2.0), 2.0);
        // 0.1 m per step: slows by 0.01 / 0.1 = 10 % per step; 0.5 m: by 2 %.
        assert!((at(0.1) - 0.9).abs() < 1e-6, "{}", at(0.1));
        assert!((at(0.5) - 0.98).abs() < 1e-6, "{}", at(0.5));
        // Fast walkers keep cv_decay where that slows them more; slow drift goes on.
        assert_eq!(at(2.0), 0.99);
        assert_eq!(at(0.04), 0.99);
        assert_eq!(at(0.0), 0.99);
        // Without a threshold, a walker slower than the loss itself (0.006 < 0.01 m per
        // step) would turn round: the factor stops at 0 instead.
        let no_floor = RankConfig {
            cv_slowing_from: 0.0,
            ..cfg.clone()
        };
        assert_eq!(decay(&no_floor, (0.006 * 2.0, 0.0), 2.0), 0.0);
        // Off: cv_decay for everyone.
        let off = RankConfig {
            cv_slowing: 0.0,
            ..cfg
        };
        assert_eq!(decay(&off, (0.2, 0.0), 2.0), 0.99);
    }
}
