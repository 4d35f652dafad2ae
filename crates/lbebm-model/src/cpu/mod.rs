//! The CPU sampler: the network of [`crate::model::Lbebm`] on plain f32 buffers, with
//! matrix products by [`crate::kernels::gemm`], bias and activation fused into one pass,
//! per-scene social pooling (block-diagonal instead of a masked N×N matrix), and a fused
//! GELU whose value and derivative share one exponential.
//!
//! It draws its noise from the generator in exactly the order of the tensor path
//! ([`crate::model::Lbebm::sample`]), so on the same inputs and seed both give the same
//! samples up to float rounding (checked in the tests to 1e-4). It knows the model only
//! through the layers handed to [`CpuModel::new`].

mod dense;
mod energy;

pub use energy::{CpuEnergy, EnergyScratch};

use crate::batch::SceneBatch;
use crate::kernels::{gemm, serial, Mat, Write};
use crate::langevin::{self, Diffusion, Draw, LangevinParams, Noise};
use crate::social::{within, MASKED};
use candle_core::Result;
use candle_nn::Linear;
use dense::CpuMlp;
use energy::CpuChains;

/// The layers [`CpuModel::new`] copies, borrowed from the model.
pub struct CpuLayers<'a> {
    /// Past encoder.
    pub enc_past: &'a [Linear],
    /// Social pooling's θ, φ and g layers and its number of rounds.
    pub social: Option<SocialLayers<'a>>,
    /// Plan encoder.
    pub enc_plan: &'a [Linear],
    /// Plan decoder.
    pub dec_plan: &'a [Linear],
    /// Trajectory decoder.
    pub dec_traj: &'a [Linear],
    /// Energy net.
    pub ebm: &'a [Linear],
    /// Plan anchors, `[A, 2·subgoals]` row-major (`model.anchors`), if any.
    pub anchors: Option<&'a [f32]>,
}

/// Social pooling's layers.
pub struct SocialLayers<'a> {
    /// θ (queries).
    pub theta: &'a [Linear],
    /// φ (keys).
    pub phi: &'a [Linear],
    /// g (values).
    pub g: &'a [Linear],
    /// The edge net (`model.social_edges`), if any.
    pub edge: Option<&'a [Linear]>,
    /// Rounds of pooling.
    pub rounds: usize,
}

/// Social pooling on the CPU.
#[derive(Debug, Clone)]
struct CpuSocial {
    theta: CpuMlp,
    phi: CpuMlp,
    g: CpuMlp,
    edge: Option<CpuMlp>,
    rounds: usize,
}

/// The whole sampling path on the CPU.
#[derive(Debug, Clone)]
pub struct CpuModel {
    enc_past: CpuMlp,
    social: Option<CpuSocial>,
    enc_plan: CpuMlp,
    dec_plan: CpuMlp,
    dec_traj: CpuMlp,
    energy: CpuEnergy,
    /// Plan anchors, `[A, 2·subgoals]` row-major; empty without.
    anchors: Vec<f32>,
    fdim: usize,
    zdim: usize,
    langevin: LangevinParams,
    /// σ of the chains' starting points (prediction's: `test_init_sigma` when set).
    init_sigma: f32,
    /// `model.social_radius` (0: pool over the whole scene).
    social_radius: f32,
}

impl CpuModel {
    /// Copies the weights out of `layers` (build it again after the weights change).
    pub fn new(layers: CpuLayers<'_>, cfg: &crate::config::CheckedConfig) -> Result<Self> {
        Ok(Self {
            enc_past: CpuMlp::from_linears(layers.enc_past)?,
            social: match layers.social {
                Some(s) => Some(CpuSocial {
                    theta: CpuMlp::from_linears(s.theta)?,
                    phi: CpuMlp::from_linears(s.phi)?,
                    g: CpuMlp::from_linears(s.g)?,
                    edge: s.edge.map(CpuMlp::from_linears).transpose()?,
                    rounds: s.rounds,
                }),
                None => None,
            },
            enc_plan: CpuMlp::from_linears(layers.enc_plan)?,
            dec_plan: CpuMlp::from_linears(layers.dec_plan)?,
            dec_traj: CpuMlp::from_linears(layers.dec_traj)?,
            energy: CpuEnergy::new(layers.ebm, cfg.model.zdim)?,
            anchors: match layers.anchors {
                Some(a) if a.len() != cfg.model.anchors * cfg.model.subgoals.len() * 2 => {
                    candle_core::bail!("plan anchors of the wrong size: {} values", a.len())
                }
                Some(a) => a.to_vec(),
                None => Vec::new(),
            },
            fdim: cfg.model.fdim,
            zdim: cfg.model.zdim,
            langevin: LangevinParams::predicting(&cfg.langevin),
            init_sigma: cfg.langevin.prediction_init_sigma(),
            social_radius: cfg.model.social_radius,
        })
    }

    /// The energy net.
    pub fn energy(&self) -> &CpuEnergy {
        &self.energy
    }

    /// Context features `[N, fdim]` from input rows `[N, input width]` (`batch`'s `obs` on
    /// the host: the history, then the neighbours with `model.neighbours`), pooling within
    /// each of `batch`'s scenes (and, with `model.social_radius`, among the agents whose
    /// last positions lie within it of each other; with `model.social_edges`, the edge net
    /// reads the batch's [`SceneBatch::edges`]).
    ///
    /// # Errors
    /// When `batch` lacks what the model pools by: last positions for a radius, or the
    /// pairs' geometry for an edge net.
    pub fn encode(&self, obs: &[f32], batch: &SceneBatch) -> Result<Vec<f32>> {
        let (scene_sizes, last) = (&batch.scene_sizes, &batch.last);
        let n: usize = scene_sizes.iter().sum();
        let mut c = self.enc_past.forward(obs, n);
        let Some(social) = &self.social else {
            return Ok(c);
        };
        if self.social_radius > 0.0 && last.len() != n {
            candle_core::bail!("encode: {} last positions for {n} agents", last.len());
        }
        let f = self.fdim;
        let d = social.theta.out_dim();
        // What the tensor path's mask adds to the affinities within each scene, the scenes'
        // `s × s` blocks one after another (empty when it is all 0): the edge net's terms,
        // and the same exact −1e9 for pairs beyond the radius (exp() of it is 0). The same
        // in every round, so found once.
        let mut offset = match &social.edge {
            Some(net) => {
                batch.check_edges()?;
                net.forward(&batch.edges, batch.pairs())
            }
            None => Vec::new(),
        };
        if self.social_radius > 0.0 {
            offset.resize(batch.pairs(), 0.0);
            let mut at = 0;
            let mut start = 0;
            for &s in scene_sizes {
                for i in start..start + s {
                    for j in start..start + s {
                        if !within(last[i], last[j], self.social_radius) {
                            offset[at] += MASKED;
                        }
                        at += 1;
                    }
                }
                start += s;
            }
        }
        for _ in 0..social.rounds {
            let th = social.theta.forward(&c, n);
            let ph = social.phi.forward(&c, n);
            let gc = social.g.forward(&c, n);
            let mut next = c.clone();
            let mut start = 0;
            let mut block = 0;
            let mut logits = Vec::new();
            for &s in scene_sizes {
                // Affinities within the scene only.
                logits.clear();
                logits.resize(s * s, 0.0);
                gemm(
                    Mat::row_major(&th[start * d..(start + s) * d], s, d),
                    Mat::row_major(&ph[start * d..(start + s) * d], s, d).t(),
                    &mut logits,
                    Write::Overwrite,
                );
                if !offset.is_empty() {
                    for (v, o) in logits.iter_mut().zip(&offset[block..block + s * s]) {
                        *v += o;
                    }
                }
                block += s * s;
                for i in 0..s {
                    let row = &mut logits[i * s..(i + 1) * s];
                    let m = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                    let mut sum = 0.0;
                    for v in row.iter_mut() {
                        *v = (*v - m).exp();
                        sum += *v;
                    }
                    for v in row.iter_mut() {
                        *v /= sum;
                    }
                }
                gemm(
                    Mat::row_major(&logits, s, s),
                    Mat::row_major(&gc[start * f..(start + s) * f], s, f),
                    &mut next[start * f..(start + s) * f],
                    Write::Accumulate,
                );
                start += s;
            }
            c = next;
        }
        Ok(c)
    }

    /// As [`crate::model::Lbebm::sample`]: futures `[N·K, 24]` and energies `[N·K]`,
    /// agent-major, the chains shared out among candle's threads.
    pub fn sample(
        &self,
        obs: &[f32],
        batch: &SceneBatch,
        draw: Draw,
        rng: &mut dyn rand::RngCore,
    ) -> Result<(Vec<f32>, Vec<f32>)> {
        let threads = candle_core::utils::get_num_threads();
        self.sample_on(obs, batch, draw, rng, threads)
    }

    /// [`CpuModel::sample`] with the chains shared out among `threads` threads (the
    /// result does not depend on it).
    pub fn sample_on(
        &self,
        obs: &[f32],
        batch: &SceneBatch,
        draw: Draw,
        rng: &mut dyn rand::RngCore,
        threads: usize,
    ) -> Result<(Vec<f32>, Vec<f32>)> {
        let n: usize = batch.scene_sizes.iter().sum();
        let k = draw.k;
        let rows = n * k;
        let f = self.fdim;
        let c = self.encode(obs, batch)?;
        let cond_n = self.energy.condition(&c, n);
        let h1 = cond_n.len() / n.max(1);
        let mut ck = Vec::with_capacity(rows * f);
        let mut cond = Vec::with_capacity(rows * h1);
        for a in 0..n {
            for _ in 0..k {
                ck.extend_from_slice(&c[a * f..(a + 1) * f]);
                cond.extend_from_slice(&cond_n[a * h1..(a + 1) * h1]);
            }
        }
        let z = langevin::normals(rng, rows * self.zdim, self.init_sigma);
        // Small scenes stay on one thread's rows (its products may still use both).
        let parts = if rows >= 2 * MIN_SPLIT_ROWS {
            threads.max(1)
        } else {
            1
        };
        let chains = Rows {
            ck: &ck,
            cond: &cond,
            rows,
        };
        self.chains_and_decoders(chains, z, draw, rng, parts)
    }

    /// The Langevin chains and decoders of [`CpuModel::sample`], the rows shared out
    /// among `parts` threads, each working through its rows alone (one fork and join for
    /// all the Langevin steps instead of one per matrix product). The rows are
    /// independent and the noise is drawn beforehand in the order a single chain of all
    /// rows would draw it, so the result does not depend on `parts`.
    fn chains_and_decoders(
        &self,
        r: Rows<'_>,
        mut z: Vec<f32>,
        draw: Draw,
        rng: &mut dyn rand::RngCore,
        parts: usize,
    ) -> Result<(Vec<f32>, Vec<f32>)> {
        use rayon::prelude::*;
        let (f, zd, rows, steps) = (self.fdim, self.zdim, r.rows, draw.steps);
        let h1 = r.cond.len() / rows.max(1);
        let noisy = draw.diffusion == Diffusion::On;
        let drawn = if noisy {
            langevin::normals(rng, steps * rows * zd, 1.0)
        } else {
            Vec::new()
        };
        // Rows r0.. of z (in place), then their futures.
        let chunk = |r0: usize, zc: &mut [f32]| -> Result<Vec<f32>> {
            let n = zc.len() / zd;
            let cc = &r.cond[r0 * h1..(r0 + n) * h1];
            let mine = if noisy {
                langevin::rows_of(&drawn, rows, zd, r0, r0 + n)
            } else {
                Vec::new()
            };
            let noise = if noisy {
                Noise::Drawn(&mine)
            } else {
                Noise::Off
            };
            langevin::run(
                &mut CpuChains::new(&self.energy, zc, cc, n),
                self.langevin,
                steps,
                noise,
            )?;
            Ok(self.decode(&r.ck[r0 * f..(r0 + n) * f], zc, r0, draw.k))
        };
        let fut: Vec<f32> = if parts <= 1 {
            chunk(0, &mut z)?
        } else {
            let per = rows.div_ceil(parts);
            let outs: Vec<Vec<f32>> = z
                .par_chunks_mut(per * zd)
                .enumerate()
                .map(|(i, zc)| serial(|| chunk(i * per, zc)))
                .collect::<Result<_>>()?;
            outs.into_iter().flatten().collect()
        };
        // The final energies over all rows at once: the one-output layer's product can
        // round differently for a different number of rows (by an ulp), and the
        // energies rank the samples.
        let mut s = EnergyScratch::default();
        let (mut e, mut g) = (Vec::new(), Vec::new());
        self.energy
            .energy_and_grad(&z, r.cond, rows, &mut s, &mut e, &mut g);
        Ok((fut, e))
    }

    /// Plan then trajectory from context rows and latents. The rows are rows
    /// `first..` of a sampling with `k` candidates per agent (agent-major): with plan
    /// anchors, candidate j decodes at anchor j mod A, as in the tensor path.
    pub fn decode(&self, ck: &[f32], z: &[f32], first: usize, k: usize) -> Vec<f32> {
        let (f, zd) = (self.fdim, self.zdim);
        let rows = z.len() / zd.max(1);
        let np = self.dec_plan.out_dim();
        let na = self.anchors.len() / np.max(1);
        let anchor = |r: usize| -> &[f32] {
            let a = ((first + r) % k.max(1)) % na.max(1);
            &self.anchors[a * np..(a + 1) * np]
        };
        let mut x = Vec::with_capacity(rows * (f + zd + if na > 0 { np } else { 0 }));
        for r in 0..rows {
            x.extend_from_slice(&ck[r * f..(r + 1) * f]);
            x.extend_from_slice(&z[r * zd..(r + 1) * zd]);
            if na > 0 {
                x.extend_from_slice(anchor(r));
            }
        }
        let mut plan = self.dec_plan.forward(&x, rows);
        if na > 0 {
            for (r, p) in plan.chunks_mut(np).enumerate() {
                for (v, a) in p.iter_mut().zip(anchor(r)) {
                    *v += a;
                }
            }
        }
        let pf = self.enc_plan.forward(&plan, rows);
        let pw = self.enc_plan.out_dim();
        let mut y = Vec::with_capacity(rows * (f + pw));
        for r in 0..rows {
            y.extend_from_slice(&ck[r * f..(r + 1) * f]);
            y.extend_from_slice(&pf[r * pw..(r + 1) * pw]);
        }
        self.dec_traj.forward(&y, rows)
    }
}

/// The chains' rows: context and energy condition per row, agent-major.
#[derive(Clone, Copy)]
struct Rows<'a> {
    ck: &'a [f32],
    cond: &'a [f32],
    rows: usize,
}

/// Below this many rows per thread, sampling stays on one thread's products.
const MIN_SPLIT_ROWS: usize = 32;
