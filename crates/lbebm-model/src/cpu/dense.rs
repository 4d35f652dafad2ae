//! Dense layers and ReLU MLPs on plain buffers.

use crate::kernels::{gemm, transpose, Activation, Mat, Write};
use candle_core::Result;
use candle_nn::Linear;

/// One dense layer, weight row-major `[out, in]` as in PyTorch / candle.
#[derive(Debug, Clone)]
pub(super) struct Dense {
    pub(super) w: Vec<f32>,
    /// `w` transposed, `[in, out]` row-major: the layout the products read without
    /// repacking (packing the weights every call dominated small batches).
    wt: Vec<f32>,
    b: Vec<f32>,
    pub(super) fan_in: usize,
    pub(super) fan_out: usize,
}

impl Dense {
    pub(super) fn from_linear(l: &Linear) -> Result<Self> {
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

    /// `rows` copies of the bias, the start of every product `x·Wᵀ + b`.
    pub(super) fn bias_rows(&self, rows: usize) -> Vec<f32> {
        let mut out = Vec::new();
        self.fill_bias(rows, &mut out);
        out
    }

    /// `out` ← `rows` copies of the bias (its buffer reused).
    fn fill_bias(&self, rows: usize, out: &mut Vec<f32>) {
        out.clear();
        out.reserve(rows * self.fan_out);
        for _ in 0..rows {
            out.extend_from_slice(&self.b);
        }
    }

    /// `out[rows, fan_out] = x[rows, fan_in] · Wᵀ + b`, then ReLU if `act` says so.
    pub(super) fn forward(&self, x: &[f32], rows: usize, act: Activation, out: &mut Vec<f32>) {
        self.fill_bias(rows, out);
        gemm(
            Mat::row_major(x, rows, self.fan_in),
            Mat::row_major(&self.wt, self.fan_in, self.fan_out),
            out,
            Write::Accumulate,
        );
        if act == Activation::Relu {
            for v in out.iter_mut() {
                *v = v.max(0.0);
            }
        }
    }
}

/// A ReLU MLP (no activation after the last layer).
#[derive(Debug, Clone)]
pub(super) struct CpuMlp {
    layers: Vec<Dense>,
}

impl CpuMlp {
    pub(super) fn from_linears(ls: &[Linear]) -> Result<Self> {
        Ok(Self {
            layers: ls.iter().map(Dense::from_linear).collect::<Result<_>>()?,
        })
    }

    pub(super) fn out_dim(&self) -> usize {
        self.layers.last().map_or(0, |l| l.fan_out)
    }

    pub(super) fn forward(&self, x: &[f32], rows: usize) -> Vec<f32> {
        let mut a = x.to_vec();
        let mut b = Vec::new();
        let n = self.layers.len();
        for (i, l) in self.layers.iter().enumerate() {
            let act = if i + 1 < n {
                Activation::Relu
            } else {
                Activation::Identity
            };
            l.forward(&a, rows, act, &mut b);
            std::mem::swap(&mut a, &mut b);
        }
        a
    }
}
