//! The energy net on plain buffers, with its hand-written gradient in z, and the CPU
//! backend of the Langevin sampler.

use super::dense::Dense;
use crate::kernels::{gelu_pair, gemm, transpose, Activation, Mat, Write};
use crate::langevin::{self, Chains, LangevinParams, Noise};
use candle_core::{Result, Tensor};
use candle_nn::Linear;

/// The energy net with a hand-written gradient, on buffers reused across steps.
#[derive(Debug, Clone)]
pub struct CpuEnergy {
    layers: Vec<Dense>,
    zdim: usize,
    /// The first layer's columns acting on z, `[H1, zdim]`.
    wz: Vec<f32>,
    /// `wz` transposed, `[zdim, H1]`, for the forward product.
    wzt: Vec<f32>,
    /// The first layer's columns acting on c, transposed, `[fdim, H1]`.
    wct: Vec<f32>,
}

/// Scratch buffers for [`CpuEnergy::energy_and_grad`].
#[derive(Default)]
pub struct EnergyScratch {
    h: Vec<Vec<f32>>,
    d: Vec<Vec<f32>>,
    g: Vec<f32>,
    g2: Vec<f32>,
}

impl CpuEnergy {
    /// The energy net `[z; c] → … → 1` from its layers (GELU between them).
    pub fn new(layers: &[Linear], zdim: usize) -> Result<Self> {
        let layers: Vec<Dense> = layers
            .iter()
            .map(Dense::from_linear)
            .collect::<Result<_>>()?;
        let Some(l0) = layers.first() else {
            candle_core::bail!("energy net without layers")
        };
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
        let mut out = l0.bias_rows(rows);
        gemm(
            Mat::row_major(c, rows, l0.fan_in - self.zdim),
            Mat::row_major(&self.wct, l0.fan_in - self.zdim, l0.fan_out),
            &mut out,
            Write::Accumulate,
        );
        out
    }

    /// Energies `[rows]` and ∂E/∂z `[rows, zdim]` (written into `energy` and `grad`).
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
        gemm(
            Mat::row_major(z, rows, self.zdim),
            Mat::row_major(&self.wzt, self.zdim, h1),
            &mut s.h[0],
            Write::Accumulate,
        );
        for i in 1..n {
            let (done, rest) = s.h.split_at_mut(i);
            let a = &mut done[i - 1];
            let d = &mut s.d[i - 1];
            d.resize(a.len(), 0.0);
            gelu_pair(a, d);
            self.layers[i].forward(a, rows, Activation::Identity, &mut rest[0]);
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
            gemm(
                Mat::row_major(&s.g, rows, out_dim),
                Mat::row_major(w, out_dim, in_dim),
                &mut s.g2,
                Write::Overwrite,
            );
            std::mem::swap(&mut s.g, &mut s.g2);
        }
        grad.clear();
        grad.extend_from_slice(&s.g[..rows * self.zdim]);
    }

    /// Langevin chains on candle tensors through this energy (CPU), for the training
    /// loop: `c` are the detached contexts of the chains' rows.
    pub fn langevin_tensor(
        &self,
        p: LangevinParams,
        z0: &Tensor,
        c: &Tensor,
        steps: usize,
        noise: Noise<'_>,
    ) -> Result<Tensor> {
        let (rows, zd) = z0.dims2()?;
        let c = c
            .to_dtype(candle_core::DType::F32)?
            .flatten_all()?
            .to_vec1::<f32>()?;
        let cond = self.condition(&c, rows);
        let mut z = z0
            .to_dtype(candle_core::DType::F32)?
            .flatten_all()?
            .to_vec1::<f32>()?;
        let mut chains = CpuChains::new(self, &mut z, &cond, rows);
        langevin::run(&mut chains, p, steps, noise)?;
        Tensor::from_vec(z, (rows, zd), z0.device())
    }
}

/// Chains on CPU buffers: `z` (`rows × zdim`) moved in place.
pub(super) struct CpuChains<'a> {
    energy: &'a CpuEnergy,
    z: &'a mut [f32],
    cond: &'a [f32],
    rows: usize,
    scratch: EnergyScratch,
    e: Vec<f32>,
    g: Vec<f32>,
}

impl<'a> CpuChains<'a> {
    pub(super) fn new(
        energy: &'a CpuEnergy,
        z: &'a mut [f32],
        cond: &'a [f32],
        rows: usize,
    ) -> Self {
        Self {
            energy,
            z,
            cond,
            rows,
            scratch: EnergyScratch::default(),
            e: Vec::new(),
            g: Vec::new(),
        }
    }
}

impl Chains for CpuChains<'_> {
    fn len(&self) -> usize {
        self.z.len()
    }

    fn drift(&mut self, p: LangevinParams) -> Result<()> {
        let (half, inv_var) = (p.half_step2(), p.inv_var());
        self.energy.energy_and_grad(
            self.z,
            self.cond,
            self.rows,
            &mut self.scratch,
            &mut self.e,
            &mut self.g,
        );
        for (zv, gv) in self.z.iter_mut().zip(self.g.iter()) {
            *zv -= half * (gv + *zv * inv_var);
        }
        Ok(())
    }

    fn diffuse(&mut self, p: LangevinParams, eps: &[f32]) -> Result<()> {
        let s = p.noise_scale();
        for (zv, nv) in self.z.iter_mut().zip(eps) {
            *zv += nv * s;
        }
        Ok(())
    }
}
