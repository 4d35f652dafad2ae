//! A CPU inference path for sampling: the same network as [`crate::model::Lbebm`] on
//! plain f32 buffers, with matrix products by the `gemm` crate (candle's own CPU
//! kernel), bias and activation fused into one pass, per-scene social pooling
//! (block-diagonal instead of a masked N×N matrix), and a fused GELU whose value and
//! derivative share one exponential.
//!
//! It draws its noise from the generator in exactly the order of
//! [`crate::model::Lbebm::sample`], so on the same inputs and seed both paths give the
//! same samples up to float rounding (checked in the tests to 1e-4).

use crate::model::Lbebm;
use candle_core::{Result, Tensor};
use candle_nn::Linear;
use rand::Rng;
use rand_distr::StandardNormal;

/// One dense layer, weight row-major `[out, in]` as in PyTorch / candle.
#[derive(Debug, Clone)]
pub struct Dense {
    w: Vec<f32>,
    /// `w` transposed, `[in, out]` row-major: the layout the products read without
    /// repacking (packing the weights every call dominated small batches).
    wt: Vec<f32>,
    b: Vec<f32>,
    fan_in: usize,
    fan_out: usize,
}

impl Dense {
    fn from_linear(l: &Linear) -> Result<Self> {
        let (fan_out, fan_in) = l.weight().dims2()?;
        let w = l
            .weight()
            .to_dtype(candle_core::DType::F32)?
            .flatten_all()?
            .to_vec1::<f32>()?;
        let b = match l.bias() {
            Some(b) => b.to_dtype(candle_core::DType::F32)?.to_vec1::<f32>()?,
            None => vec![0.0; fan_out],
        };
        let wt = transpose(&w, fan_out, fan_in);
        Ok(Self {
            w,
            wt,
            b,
            fan_in,
            fan_out,
        })
    }

    /// `out[rows, fan_out] = x[rows, fan_in] · Wᵀ + b`, then ReLU if asked.
    fn forward(&self, x: &[f32], rows: usize, relu: bool, out: &mut Vec<f32>) {
        out.clear();
        out.resize(rows * self.fan_out, 0.0);
        for r in 0..rows {
            out[r * self.fan_out..(r + 1) * self.fan_out].copy_from_slice(&self.b);
        }
        matmul(
            x,
            rows,
            self.fan_in,
            &self.wt,
            self.fan_out,
            false,
            out,
            true,
        );
        if relu {
            for v in out.iter_mut() {
                *v = v.max(0.0);
            }
        }
    }
}

thread_local! {
    /// Set while a thread works on its own share of rows: its products then stay on it.
    pub(crate) static SERIAL: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Runs `f` with this thread's matrix products kept on this thread.
pub(crate) fn serial<R>(f: impl FnOnce() -> R) -> R {
    let was = SERIAL.with(|s| s.replace(true));
    let r = f();
    SERIAL.with(|s| s.set(was));
    r
}

/// `c[m, n] (+)= a[m, k] · B` where `B = wᵀ` when `w_is_out_in` (w is `[n, k]`) or
/// `B = w` (w is `[k, n]`).
#[allow(clippy::too_many_arguments)]
fn matmul(
    a: &[f32],
    m: usize,
    k: usize,
    w: &[f32],
    n: usize,
    w_is_out_in: bool,
    c: &mut [f32],
    accumulate: bool,
) {
    debug_assert!(a.len() >= m * k && w.len() >= n * k && c.len() >= m * n);
    let (rhs_cs, rhs_rs) = if w_is_out_in {
        (k as isize, 1)
    } else {
        (1, n as isize)
    };
    // Small products run on the calling thread: thread start-up costs more than it saves.
    let flops = m * n * k;
    let par = if flops >= 1 << 20 && !SERIAL.with(|f| f.get()) {
        gemm::Parallelism::Rayon(candle_core::utils::get_num_threads())
    } else {
        gemm::Parallelism::None
    };
    // SAFETY: the slices are at least as long as the strides imply (checked above),
    // `c` does not alias `a` or `w`, and all strides describe dense row-major layouts.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            c.as_mut_ptr(),
            1,
            n as isize,
            accumulate,
            a.as_ptr(),
            1,
            k as isize,
            w.as_ptr(),
            rhs_cs,
            rhs_rs,
            if accumulate { 1.0 } else { 0.0 },
            1.0,
            false,
            false,
            false,
            par,
        )
    }
}

/// A ReLU MLP (no activation after the last layer).
#[derive(Debug, Clone)]
pub struct FastMlp {
    layers: Vec<Dense>,
}

impl FastMlp {
    fn from_linears(ls: &[Linear]) -> Result<Self> {
        Ok(Self {
            layers: ls.iter().map(Dense::from_linear).collect::<Result<_>>()?,
        })
    }

    pub fn out_dim(&self) -> usize {
        self.layers.last().map_or(0, |l| l.fan_out)
    }

    pub fn forward(&self, x: &[f32], rows: usize) -> Vec<f32> {
        let mut a = x.to_vec();
        let mut b = Vec::new();
        let n = self.layers.len();
        for (i, l) in self.layers.iter().enumerate() {
            l.forward(&a, rows, i + 1 < n, &mut b);
            std::mem::swap(&mut a, &mut b);
        }
        a
    }
}

const INV_SQRT_2: f32 = std::f32::consts::FRAC_1_SQRT_2;
const INV_SQRT_2PI: f32 = 0.398_942_3;

/// e^x for x ≤ 0 down to −87 (the range GELU needs), a few ulp accurate, written so
/// that the loop around it vectorises.
#[inline(always)]
fn exp_neg(x: f32) -> f32 {
    let x = x.max(-87.0);
    let n = (x * std::f32::consts::LOG2_E).round();
    // Cody–Waite: r = x − n·ln2 in two parts.
    let r = x - n * 0.693_145_75 - n * 1.428_606_8e-6;
    let p = 1.0
        + r * (1.0
            + r * (0.5
                + r * (0.166_666_67
                    + r * (0.041_666_668 + r * (0.008_333_334 + r * 0.001_388_889)))));
    let bits = ((n as i32 + 127) as u32) << 23;
    p * f32::from_bits(bits)
}

/// GELU (exact-erf form) and its derivative, in place: `x ← gelu(x)`, `d ← gelu'(x)`.
/// erf by Abramowitz–Stegun 7.1.26 (|error| < 1.5e-7), sharing exp(−x²/2) with φ(x).
#[inline(always)]
fn gelu_pair_body(x: &mut [f32], d: &mut [f32]) {
    for (v, g) in x.iter_mut().zip(d.iter_mut()) {
        let xv = *v;
        let u = xv.abs() * INV_SQRT_2;
        let t = 1.0 / (1.0 + 0.327_591_1 * u);
        let e = exp_neg(-0.5 * xv * xv);
        let poly = t
            * (0.254_829_6
                + t * (-0.284_496_74 + t * (1.421_413_7 + t * (-1.453_152_1 + t * 1.061_405_4))));
        let erf_abs = 1.0 - poly * e;
        let erf = if xv < 0.0 { -erf_abs } else { erf_abs };
        let cdf = 0.5 * (1.0 + erf);
        *v = xv * cdf;
        *g = cdf + xv * e * INV_SQRT_2PI;
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn gelu_pair_avx2(x: &mut [f32], d: &mut [f32]) {
    gelu_pair_body(x, d)
}

/// Dispatches to an AVX2+FMA build of the loop when the processor has it (decided at
/// run time; the binary itself targets the baseline x86-64).
pub fn gelu_pair(x: &mut [f32], d: &mut [f32]) {
    assert_eq!(x.len(), d.len());
    #[cfg(target_arch = "x86_64")]
    {
        if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
            // SAFETY: the features were detected just above.
            unsafe { gelu_pair_avx2(x, d) };
            return;
        }
    }
    gelu_pair_body(x, d)
}

/// The energy net with a hand-written gradient, on buffers reused across steps.
#[derive(Debug, Clone)]
pub struct FastEnergy {
    layers: Vec<Dense>,
    zdim: usize,
    /// The first layer's columns acting on z, `[H1, zdim]`.
    wz: Vec<f32>,
    /// `wz` transposed, `[zdim, H1]`, for the forward product.
    wzt: Vec<f32>,
    /// The first layer's columns acting on c, transposed, `[fdim, H1]`.
    wct: Vec<f32>,
}

/// `[rows, cols]` row-major → `[cols, rows]` row-major.
fn transpose(w: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    let mut t = vec![0.0; w.len()];
    for r in 0..rows {
        for c in 0..cols {
            t[c * rows + r] = w[r * cols + c];
        }
    }
    t
}

/// Scratch buffers for [`FastEnergy::energy_and_grad`].
#[derive(Default)]
pub struct EnergyScratch {
    h: Vec<Vec<f32>>,
    d: Vec<Vec<f32>>,
    g: Vec<f32>,
    g2: Vec<f32>,
}

impl FastEnergy {
    pub fn new(layers: &[Linear], zdim: usize) -> Result<Self> {
        let layers: Vec<Dense> = layers
            .iter()
            .map(Dense::from_linear)
            .collect::<Result<_>>()?;
        let l0 = &layers[0];
        let fdim = l0.fan_in - zdim;
        let mut wz = Vec::with_capacity(l0.fan_out * zdim);
        let mut wc = Vec::with_capacity(l0.fan_out * fdim);
        for r in 0..l0.fan_out {
            let row = &l0.w[r * l0.fan_in..(r + 1) * l0.fan_in];
            wz.extend_from_slice(&row[..zdim]);
            wc.extend_from_slice(&row[zdim..]);
        }
        let h1 = l0.fan_out;
        Ok(Self {
            wzt: transpose(&wz, h1, zdim),
            wct: transpose(&wc, h1, fdim),
            layers,
            zdim,
            wz,
        })
    }

    /// `W1c·c + b1` for each row of `c` (`[rows, fdim]`).
    pub fn condition(&self, c: &[f32], rows: usize) -> Vec<f32> {
        let l0 = &self.layers[0];
        let mut out = vec![0.0; rows * l0.fan_out];
        for r in 0..rows {
            out[r * l0.fan_out..(r + 1) * l0.fan_out].copy_from_slice(&l0.b);
        }
        matmul(
            c,
            rows,
            l0.fan_in - self.zdim,
            &self.wct,
            l0.fan_out,
            false,
            &mut out,
            true,
        );
        out
    }

    /// Energies `[rows]` and ∂E/∂z `[rows, zdim]` (written into `grad`).
    pub fn energy_and_grad(
        &self,
        z: &[f32],
        cond: &[f32],
        rows: usize,
        s: &mut EnergyScratch,
        energy: &mut Vec<f32>,
        grad: &mut Vec<f32>,
    ) {
        let n = self.layers.len();
        s.h.resize_with(n, Vec::new);
        s.d.resize_with(n, Vec::new);
        // Layer 0: z·Wzᵀ + (Wc·c + b).
        let h1 = self.layers[0].fan_out;
        s.h[0].clear();
        s.h[0].extend_from_slice(&cond[..rows * h1]);
        matmul(z, rows, self.zdim, &self.wzt, h1, false, &mut s.h[0], true);
        for i in 1..n {
            let (done, rest) = s.h.split_at_mut(i);
            let a = &mut done[i - 1];
            let d = &mut s.d[i - 1];
            d.resize(a.len(), 0.0);
            gelu_pair(a, d);
            self.layers[i].forward(a, rows, false, &mut rest[0]);
        }
        energy.clear();
        energy.extend_from_slice(&s.h[n - 1][..rows]);
        // Backward from ∂E/∂a_last = w_out.
        let w_out = &self.layers[n - 1].w;
        let width = self.layers[n - 1].fan_in;
        s.g.clear();
        for _ in 0..rows {
            s.g.extend_from_slice(&w_out[..width]);
        }
        for i in (1..n).rev() {
            for (g, d) in s.g.iter_mut().zip(&s.d[i - 1]) {
                *g *= d;
            }
            let (w, in_dim) = if i == 1 {
                (&self.wz, self.zdim)
            } else {
                (&self.layers[i - 1].w, self.layers[i - 1].fan_in)
            };
            let out_dim = self.layers[i - 1].fan_out;
            s.g2.clear();
            s.g2.resize(rows * in_dim, 0.0);
            matmul(&s.g, rows, out_dim, w, in_dim, false, &mut s.g2, false);
            std::mem::swap(&mut s.g, &mut s.g2);
        }
        grad.clear();
        grad.extend_from_slice(&s.g[..rows * self.zdim]);
    }
}

/// The whole sampling path on the CPU.
#[derive(Debug, Clone)]
pub struct FastModel {
    enc_past: FastMlp,
    social: Option<(FastMlp, FastMlp, FastMlp, usize)>,
    enc_plan: FastMlp,
    dec_plan: FastMlp,
    dec_traj: FastMlp,
    pub energy: FastEnergy,
    fdim: usize,
    zdim: usize,
    step_size: f32,
    prior_sigma: f32,
    init_sigma: f32,
}

impl FastModel {
    /// Copies the weights out of `m` (call again after the weights change).
    pub fn new(m: &Lbebm) -> Result<Self> {
        let cfg = m.config();
        let p = m.parts();
        Ok(Self {
            enc_past: FastMlp::from_linears(p.enc_past)?,
            social: match p.social {
                Some((t, ph, g, r)) => Some((
                    FastMlp::from_linears(t)?,
                    FastMlp::from_linears(ph)?,
                    FastMlp::from_linears(g)?,
                    r,
                )),
                None => None,
            },
            enc_plan: FastMlp::from_linears(p.enc_plan)?,
            dec_plan: FastMlp::from_linears(p.dec_plan)?,
            dec_traj: FastMlp::from_linears(p.dec_traj)?,
            energy: FastEnergy::new(p.ebm, cfg.model.zdim)?,
            fdim: cfg.model.fdim,
            zdim: cfg.model.zdim,
            step_size: cfg.langevin.step_size,
            prior_sigma: cfg.langevin.prior_sigma,
            init_sigma: cfg.langevin.init_sigma,
        })
    }

    /// Context features `[N, fdim]` from observations `[N, 16]`, pooling within each
    /// scene of `scene_sizes`.
    pub fn encode(&self, obs: &[f32], scene_sizes: &[usize]) -> Vec<f32> {
        let n: usize = scene_sizes.iter().sum();
        let mut c = self.enc_past.forward(obs, n);
        let Some((theta, phi, g, rounds)) = &self.social else {
            return c;
        };
        let f = self.fdim;
        let d = theta.out_dim();
        for _ in 0..*rounds {
            let th = theta.forward(&c, n);
            let ph = phi.forward(&c, n);
            let gc = g.forward(&c, n);
            let mut next = c.clone();
            let mut start = 0;
            let mut logits = Vec::new();
            for &s in scene_sizes {
                // Affinities within the scene only.
                logits.clear();
                logits.resize(s * s, 0.0);
                matmul(
                    &th[start * d..(start + s) * d],
                    s,
                    d,
                    &ph[start * d..(start + s) * d],
                    s,
                    true,
                    &mut logits,
                    false,
                );
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
                matmul(
                    &logits,
                    s,
                    s,
                    &gc[start * f..(start + s) * f],
                    f,
                    false,
                    &mut next[start * f..(start + s) * f],
                    true,
                );
                start += s;
            }
            c = next;
        }
        c
    }

    /// As [`Lbebm::sample`]: futures `[N·K, 24]` and energies `[N·K]`, agent-major.
    pub fn sample(
        &self,
        obs: &[f32],
        scene_sizes: &[usize],
        k: usize,
        steps: usize,
        rng: &mut dyn rand::RngCore,
        noise: bool,
    ) -> (Vec<f32>, Vec<f32>) {
        let threads = candle_core::utils::get_num_threads();
        self.sample_on(obs, scene_sizes, k, steps, rng, noise, threads)
    }

    /// [`FastModel::sample`] with the chains shared out among `threads` threads (the
    /// result does not depend on it).
    #[allow(clippy::too_many_arguments)]
    pub fn sample_on(
        &self,
        obs: &[f32],
        scene_sizes: &[usize],
        k: usize,
        steps: usize,
        rng: &mut dyn rand::RngCore,
        noise: bool,
        threads: usize,
    ) -> (Vec<f32>, Vec<f32>) {
        let n: usize = scene_sizes.iter().sum();
        let rows = n * k;
        let (f, zd) = (self.fdim, self.zdim);
        let c = self.encode(obs, scene_sizes);
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
        let z: Vec<f32> = (0..rows * zd)
            .map(|_| rng.sample::<f32, _>(StandardNormal) * self.init_sigma)
            .collect();
        // Small scenes stay on one thread's rows (its products may still use both).
        let parts = if rows >= 2 * MIN_SPLIT_ROWS {
            threads.max(1)
        } else {
            1
        };
        self.chains_and_decoders(&ck, &cond, z, rows, steps, rng, noise, parts)
    }

    /// The Langevin chains and decoders of [`FastModel::sample`], the rows shared out
    /// among `parts` threads, each working through its rows alone (one fork and join for
    /// all the Langevin steps instead of one per matrix product). The rows are
    /// independent and the noise is drawn beforehand in the order a single chain of all
    /// rows would draw it, so the result does not depend on `parts`.
    #[allow(clippy::too_many_arguments)]
    fn chains_and_decoders(
        &self,
        ck: &[f32],
        cond: &[f32],
        mut z: Vec<f32>,
        rows: usize,
        steps: usize,
        rng: &mut dyn rand::RngCore,
        noise: bool,
        parts: usize,
    ) -> (Vec<f32>, Vec<f32>) {
        use rayon::prelude::*;
        let (f, zd) = (self.fdim, self.zdim);
        let h1 = cond.len() / rows.max(1);
        let drawn: Vec<f32> = if noise {
            (0..steps * rows * zd)
                .map(|_| rng.sample::<f32, _>(StandardNormal))
                .collect()
        } else {
            Vec::new()
        };
        let lp = LangevinParams {
            step_size: self.step_size,
            prior_sigma: self.prior_sigma,
        };
        // Rows r0.. of z (in place), then their futures.
        let chunk = |r0: usize, zc: &mut [f32]| -> Vec<f32> {
            let n = zc.len() / zd;
            let cc = &cond[r0 * h1..(r0 + n) * h1];
            let mine: Vec<f32> = if noise {
                (0..steps)
                    .flat_map(|st| {
                        let o = st * rows * zd;
                        &drawn[o + r0 * zd..o + (r0 + n) * zd]
                    })
                    .copied()
                    .collect()
            } else {
                Vec::new()
            };
            let nz = if noise {
                Noise::Drawn(&mine)
            } else {
                Noise::Off
            };
            let mut s = EnergyScratch::default();
            let (mut e, mut g) = (Vec::new(), Vec::new());
            langevin_noise(
                &self.energy,
                lp,
                zc,
                cc,
                n,
                steps,
                nz,
                &mut s,
                &mut e,
                &mut g,
            );
            self.decode(&ck[r0 * f..(r0 + n) * f], zc, n)
        };
        let fut: Vec<f32> = if parts <= 1 {
            chunk(0, &mut z)
        } else {
            let per = rows.div_ceil(parts);
            let outs: Vec<Vec<f32>> = z
                .par_chunks_mut(per * zd)
                .enumerate()
                .map(|(i, zc)| serial(|| chunk(i * per, zc)))
                .collect();
            outs.into_iter().flatten().collect()
        };
        // The final energies over all rows at once: the one-output layer's product can
        // round differently for a different number of rows (by an ulp), and the
        // energies rank the samples.
        let mut s = EnergyScratch::default();
        let (mut e, mut g) = (Vec::new(), Vec::new());
        self.energy
            .energy_and_grad(&z, cond, rows, &mut s, &mut e, &mut g);
        (fut, e)
    }

    /// Plan then trajectory from context rows and latents.
    pub fn decode(&self, ck: &[f32], z: &[f32], rows: usize) -> Vec<f32> {
        let (f, zd) = (self.fdim, self.zdim);
        let mut x = Vec::with_capacity(rows * (f + zd));
        for r in 0..rows {
            x.extend_from_slice(&ck[r * f..(r + 1) * f]);
            x.extend_from_slice(&z[r * zd..(r + 1) * zd]);
        }
        let plan = self.dec_plan.forward(&x, rows);
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

/// The family of CPU kernels the matrix products (the `gemm` crate, chosen at run time)
/// and the fused GELU use here: `avx512f`, `avx2+fma` or `baseline`. Results are
/// bit-identical across machines of one family; between families float rounding differs.
pub fn cpu_kernels() -> &'static str {
    #[cfg(target_arch = "x86_64")]
    {
        if std::is_x86_feature_detected!("avx512f") {
            return "avx512f";
        }
        if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
            return "avx2+fma";
        }
    }
    "baseline"
}

/// Below this many rows per thread, sampling stays on one thread's products.
const MIN_SPLIT_ROWS: usize = 32;

/// Step size and reference σ of the sampler.
#[derive(Debug, Clone, Copy)]
pub struct LangevinParams {
    pub step_size: f32,
    pub prior_sigma: f32,
}

/// Short-run Langevin dynamics in place on `z` (`[rows, zdim]`):
/// `z ← z − ½s²(∂E/∂z + z/σ²) + s·ε`, noise drawn row-major each step.
#[allow(clippy::too_many_arguments)]
pub fn langevin(
    energy: &FastEnergy,
    p: LangevinParams,
    z: &mut [f32],
    cond: &[f32],
    rows: usize,
    steps: usize,
    rng: Option<&mut dyn rand::RngCore>,
    s: &mut EnergyScratch,
    e: &mut Vec<f32>,
    g: &mut Vec<f32>,
) {
    let noise = match rng {
        Some(r) => Noise::Rng(r),
        None => Noise::Off,
    };
    langevin_noise(energy, p, z, cond, rows, steps, noise, s, e, g)
}

/// Where the Langevin noise comes from.
pub enum Noise<'a> {
    /// Deterministic descent.
    Off,
    /// Standard normals drawn row-major each step.
    Rng(&'a mut dyn rand::RngCore),
    /// Standard normals drawn beforehand, `steps × rows × zdim` in the order [`Noise::Rng`]
    /// would draw them: a chunk of rows of a batch gets exactly the noise it would get
    /// inside the whole batch.
    Drawn(&'a [f32]),
}

/// [`langevin`] with any [`Noise`].
#[allow(clippy::too_many_arguments)]
pub fn langevin_noise(
    energy: &FastEnergy,
    p: LangevinParams,
    z: &mut [f32],
    cond: &[f32],
    rows: usize,
    steps: usize,
    mut noise: Noise<'_>,
    s: &mut EnergyScratch,
    e: &mut Vec<f32>,
    g: &mut Vec<f32>,
) {
    let st = p.step_size;
    let half = 0.5 * st * st;
    let inv_var = 1.0 / (p.prior_sigma * p.prior_sigma);
    let n = z.len();
    for step in 0..steps {
        energy.energy_and_grad(z, cond, rows, s, e, g);
        for (zv, gv) in z.iter_mut().zip(g.iter()) {
            *zv -= half * (gv + *zv * inv_var);
        }
        match &mut noise {
            Noise::Off => {}
            Noise::Rng(r) => {
                for zv in z.iter_mut() {
                    *zv += r.sample::<f32, _>(StandardNormal) * st;
                }
            }
            Noise::Drawn(d) => {
                for (zv, nv) in z.iter_mut().zip(&d[step * n..(step + 1) * n]) {
                    *zv += nv * st;
                }
            }
        }
    }
}

/// Langevin on candle tensors through [`FastEnergy`] (CPU), for the training loop:
/// `c` are the detached contexts of the chains' rows.
pub fn langevin_tensor(
    energy: &FastEnergy,
    p: LangevinParams,
    z0: &Tensor,
    c: &Tensor,
    steps: usize,
    noise: Noise<'_>,
) -> Result<Tensor> {
    let (rows, zd) = z0.dims2()?;
    if let Noise::Drawn(d) = &noise {
        if d.len() != steps * rows * zd {
            candle_core::bail!(
                "langevin: {} noise values for {steps} steps of {rows}×{zd}",
                d.len()
            )
        }
    }
    let c = c
        .to_dtype(candle_core::DType::F32)?
        .flatten_all()?
        .to_vec1::<f32>()?;
    let cond = energy.condition(&c, rows);
    let mut z = z0
        .to_dtype(candle_core::DType::F32)?
        .flatten_all()?
        .to_vec1::<f32>()?;
    let mut s = EnergyScratch::default();
    let (mut e, mut g) = (Vec::new(), Vec::new());
    langevin_noise(
        energy, p, &mut z, &cond, rows, steps, noise, &mut s, &mut e, &mut g,
    );
    Tensor::from_vec(z, (rows, zd), z0.device())
}
