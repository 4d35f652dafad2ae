//! Small building blocks: a ReLU MLP and the GELU energy net with its hand-written
//! gradient with respect to the latent.

use crate::ops::Activation;
use candle_core::{Module, Result, Tensor, D};
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
        if !(x.device().is_cpu() && x.dtype() == candle_core::DType::F32) {
            return self.forward_generic(x);
        }
        let mut h = x.clone();
        let n = self.layers.len();
        for (i, l) in self.layers.iter().enumerate() {
            let act = if i + 1 < n {
                Activation::Relu
            } else {
                Activation::Identity
            };
            h = crate::ops::linear(&h, l, act)?;
        }
        Ok(h)
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
