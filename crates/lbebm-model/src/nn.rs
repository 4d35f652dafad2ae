//! Small building blocks: a ReLU MLP and the GELU energy net with its hand-written
//! gradient with respect to the latent.

use crate::ops::Activation;
use candle_core::{Device, Module, Result, Tensor, D};
use candle_nn::{Init, Linear, VarBuilder};

/// A linear layer initialised like PyTorch's `nn.Linear`: weight and bias uniform in
/// ±1/√fan_in. (candle's default is about 2.45× wider, which blows up with inputs
/// scaled by 60.) Tensor names: `<prefix>.weight`, `<prefix>.bias`.
pub fn linear(fan_in: usize, fan_out: usize, vb: VarBuilder) -> Result<Linear> {
    let b = 1.0 / (fan_in as f64).sqrt();
    let init = Init::Uniform { lo: -b, up: b };
    let w = vb.get_with_hints((fan_out, fan_in), "weight", init)?;
    let bias = vb.get_with_hints(fan_out, "bias", init)?;
    Ok(Linear::new(w, Some(bias)))
}

/// `in → hidden… → out`, ReLU between layers, none after the last.
/// Layers are named `l0`, `l1`, … so checkpoint names stay stable.
#[derive(Debug, Clone)]
pub struct Mlp {
    layers: Vec<Linear>,
}

impl Mlp {
    /// `input → hidden… → output` with PyTorch-style initial weights.
    pub fn new(input: usize, hidden: &[usize], output: usize, vb: VarBuilder) -> Result<Self> {
        let mut dims = vec![input];
        dims.extend_from_slice(hidden);
        dims.push(output);
        let layers = dims
            .windows(2)
            .enumerate()
            .map(|(i, w)| linear(w[0], w[1], vb.pp(format!("l{i}"))))
            .collect::<Result<Vec<_>>>()?;
        Ok(Self { layers })
    }
}

impl Mlp {
    /// The layers, first to last.
    pub fn layers(&self) -> &[Linear] {
        &self.layers
    }
}

impl Mlp {
    /// The forward pass through candle's generic operations (matrix product, bias,
    /// ReLU), on any device.
    pub fn forward_generic(&self, x: &Tensor) -> Result<Tensor> {
        let mut h = x.clone();
        let n = self.layers.len();
        for (i, l) in self.layers.iter().enumerate() {
            h = l.forward(&h)?;
            if i + 1 < n {
                h = h.relu()?;
            }
        }
        Ok(h)
    }
}

impl Module for Mlp {
    /// On the CPU in f32 each layer is one fused operation ([`crate::ops`]), the same
    /// function as [`Mlp::forward_generic`] with fewer passes over memory.
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        self.forward_dropped(x, None)
    }
}

impl Mlp {
    /// [`Module::forward`] with dropout on every hidden layer's output (after its ReLU)
    /// where `drop` says so: training only.
    pub fn forward_dropped(&self, x: &Tensor, drop: Option<DropSite<'_>>) -> Result<Tensor> {
        if !(x.device().is_cpu() && x.dtype() == candle_core::DType::F32) && drop.is_none() {
            return self.forward_generic(x);
        }
        let fused = x.device().is_cpu() && x.dtype() == candle_core::DType::F32;
        let mut h = x.clone();
        let n = self.layers.len();
        for (i, l) in self.layers.iter().enumerate() {
            let hidden = i + 1 < n;
            h = if fused {
                let act = if hidden {
                    Activation::Relu
                } else {
                    Activation::Identity
                };
                crate::ops::linear(&h, l, act)?
            } else if hidden {
                l.forward(&h)?.relu()?
            } else {
                l.forward(&h)?
            };
            if let (true, Some(d)) = (hidden, drop) {
                h = (&h * d.mask(i, h.dims2()?, h.device())?)?;
            }
        }
        Ok(h)
    }
}

/// Inverted dropout whose masks are a pure function of (seed, site, layer, row, unit),
/// with each row counted in the whole batch: a batch cut into parts computed side by
/// side (`train.batch_parts`) drops exactly the units of the whole batch, as its other
/// random numbers are drawn up front for the same reason ([`crate::model::TrainNoise`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Dropout {
    /// The share of units dropped, in `[0, 1)`.
    pub p: f32,
    /// One per training batch.
    pub seed: u64,
    /// This part's first row in the whole batch.
    pub row0: usize,
}

/// Where in the network a [`Dropout`] applies: `site` tells the calls apart, and a call
/// on `per_row` rows per agent (best of many's samples, agent-major) counts its rows as
/// `row0 · per_row + i`.
#[derive(Debug, Clone, Copy)]
pub struct DropSite<'a> {
    /// The batch's dropout.
    pub drop: &'a Dropout,
    /// Which call (each MLP call of the training pass has its own).
    pub site: u8,
    /// Rows per agent in this call.
    pub per_row: usize,
}

/// SplitMix64's finaliser: a bijection of u64 that mixes every input bit into every
/// output bit, enough to turn a counter into independent-looking uniforms.
fn mix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl DropSite<'_> {
    /// The `[rows, width]` mask of hidden layer `layer`: 0 for a dropped unit, else
    /// `1 / (1 − p)`, so that the expected output is the undropped one.
    pub fn mask(
        &self,
        layer: usize,
        (rows, width): (usize, usize),
        dev: &Device,
    ) -> Result<Tensor> {
        let d = self.drop;
        let key = mix64(d.seed ^ mix64(((self.site as u64) << 32) | layer as u64));
        let keep = 1.0 / (1.0 - d.p);
        let first = (d.row0 * self.per_row) as u64;
        // Row r's units take the counters r·2²⁰ + j: distinct while layers stay narrower.
        if width >= 1 << 20 {
            candle_core::bail!("dropout: a layer of {width} units is wider than 2^20")
        }
        let mut v = Vec::with_capacity(rows * width);
        for r in 0..rows as u64 {
            let rk = key.wrapping_add((first + r) << 20);
            v.extend((0..width as u64).map(|j| {
                // 24 random bits: uniform in [0, 1) on a grid finer than any p we use.
                let u = (mix64(rk.wrapping_add(j)) >> 40) as f32 / 16_777_216.0;
                if u < d.p {
                    0.0
                } else {
                    keep
                }
            }));
        }
        Tensor::from_vec(v, (rows, width), dev)
    }
}

/// Energy net E(z, c): `[z; c] → H1 → … → 1`, exact-erf GELU between layers (PyTorch's
/// `nn.GELU()` default). Layers `l0..ln` as in [`Mlp`].
#[derive(Debug, Clone)]
pub struct EnergyNet {
    layers: Vec<Linear>,
    zdim: usize,
}

/// The condition's share of the first layer, `W1c·c + b1`, computed once per agent and
/// reused across samples and Langevin steps.
#[derive(Debug, Clone)]
pub struct EnergyCondition(pub Tensor);

const INV_SQRT_2: f64 = std::f64::consts::FRAC_1_SQRT_2;
const INV_SQRT_2PI: f64 = 0.398_942_280_401_432_7;

/// GELU(x) = x·Φ(x) and its derivative Φ(x) + x·φ(x).
fn gelu_and_grad(x: &Tensor) -> Result<(Tensor, Tensor)> {
    let cdf = ((x * INV_SQRT_2)?.erf()? + 1.0)?.affine(0.5, 0.0)?;
    let pdf = (x.sqr()? * -0.5)?.exp()?.affine(INV_SQRT_2PI, 0.0)?;
    let y = (x * &cdf)?;
    let dy = (cdf + (x * pdf)?)?;
    Ok((y, dy))
}

impl EnergyNet {
    /// `[z; c] → hidden… → 1` with PyTorch-style initial weights.
    pub fn new(zdim: usize, fdim: usize, hidden: &[usize], vb: VarBuilder) -> Result<Self> {
        let mut dims = vec![zdim + fdim];
        dims.extend_from_slice(hidden);
        dims.push(1);
        let layers = dims
            .windows(2)
            .enumerate()
            .map(|(i, w)| linear(w[0], w[1], vb.pp(format!("l{i}"))))
            .collect::<Result<Vec<_>>>()?;
        Ok(Self { layers, zdim })
    }

    /// The layers, first to last.
    pub fn layers(&self) -> &[Linear] {
        &self.layers
    }

    /// E(z, c) through tensor ops (differentiable in every weight): `[B]`. On the CPU in
    /// f32 the layers and GELUs are fused operations ([`crate::ops`]).
    pub fn energy(&self, z: &Tensor, c: &Tensor) -> Result<Tensor> {
        let mut h = Tensor::cat(&[z, c], D::Minus1)?;
        let fused = h.device().is_cpu() && h.dtype() == candle_core::DType::F32;
        let n = self.layers.len();
        for (i, l) in self.layers.iter().enumerate() {
            h = if fused {
                crate::ops::linear(&h, l, Activation::Identity)?
            } else {
                l.forward(&h)?
            };
            if i + 1 < n {
                h = if fused {
                    crate::ops::gelu(&h)?
                } else {
                    h.gelu_erf()?
                };
            }
        }
        h.squeeze(D::Minus1)
    }

    /// Precomputes the condition's contribution to the first layer.
    pub fn condition(&self, c: &Tensor) -> Result<EnergyCondition> {
        let l0 = &self.layers[0];
        let wc = l0
            .weight()
            .narrow(1, self.zdim, l0.weight().dim(1)? - self.zdim)?;
        let mut pre = c.matmul(&wc.t()?)?;
        if let Some(b) = l0.bias() {
            pre = pre.broadcast_add(b)?;
        }
        Ok(EnergyCondition(pre.detach()))
    }

    /// E(z, c) and ∂E/∂z by a hand-written backward pass (no autograd graph, weights
    /// untouched). `cond` rows must line up with `z` rows.
    pub fn energy_and_grad(&self, z: &Tensor, cond: &EnergyCondition) -> Result<(Tensor, Tensor)> {
        let z = z.detach();
        let l0 = &self.layers[0];
        let wz = l0.weight().narrow(1, 0, self.zdim)?.detach();
        let n = self.layers.len();
        // Forward, keeping each GELU's derivative.
        let mut h = (z.matmul(&wz.t()?)? + &cond.0)?;
        let mut dacts = Vec::with_capacity(n - 1);
        for l in self.layers.iter().skip(1) {
            let (a, da) = gelu_and_grad(&h)?;
            dacts.push(da);
            h = a.matmul(&l.weight().detach().t()?)?;
            if let Some(b) = l.bias() {
                h = h.broadcast_add(&b.detach())?;
            }
        }
        let energy = h.squeeze(1)?;
        // Backward: start from ∂E/∂a_last = w_out (1 × H), broadcast over rows.
        let mut g = self.layers[n - 1]
            .weight()
            .detach()
            .broadcast_as((z.dim(0)?, self.layers[n - 1].weight().dim(1)?))?
            .contiguous()?;
        for i in (1..n).rev() {
            g = (g * &dacts[i - 1])?;
            let w = if i == 1 {
                wz.clone()
            } else {
                self.layers[i - 1].weight().detach()
            };
            g = g.matmul(&w)?;
        }
        Ok((energy, g))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Dropout's masks drop their share and scale the rest; they are the same for the same
    /// seed, site and rows, differ for another site, and a part's rows (`row0`) get the
    /// rows of the whole batch's mask, with several rows per agent too.
    #[test]
    fn dropout_masks_drop_their_share_are_repeatable_and_cut_like_the_batch() -> Result<()> {
        let dev = Device::Cpu;
        let whole = Dropout {
            p: 0.25,
            seed: 7,
            row0: 0,
        };
        let at = |d: &Dropout, site: u8, per_row: usize, rows: usize| -> Result<Vec<Vec<f32>>> {
            DropSite {
                drop: d,
                site,
                per_row,
            }
            .mask(1, (rows, 64), &dev)?
            .to_vec2::<f32>()
        };
        let m = at(&whole, 2, 1, 400)?;
        let flat: Vec<f32> = m.iter().flatten().copied().collect();
        let dropped = flat.iter().filter(|&&v| v == 0.0).count() as f64 / flat.len() as f64;
        assert!((dropped - 0.25).abs() < 0.01, "dropped {dropped}");
        assert!(flat.iter().all(|&v| v == 0.0 || v == 1.0 / 0.75));
        assert_eq!(m, at(&whole, 2, 1, 400)?);
        assert_ne!(m, at(&whole, 3, 1, 400)?);
        assert_ne!(m[0], m[1], "rows share a mask");
        let part = Dropout { row0: 150, ..whole };
        assert_eq!(at(&part, 2, 1, 100)?, m[150..250].to_vec());
        // Three rows per agent: the part's agents 150.. are the whole's rows 450...
        let m3 = at(&whole, 4, 3, 900)?;
        assert_eq!(at(&part, 4, 3, 300)?, m3[450..750].to_vec());
        Ok(())
    }
}
