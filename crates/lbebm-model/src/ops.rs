//! candle operations with hand-written backward passes, on the CPU kernels of
//! [`crate::kernels`]: a dense layer (`x·Wᵀ + b`, optionally ReLU) and the exact-erf GELU,
//! each one operation forward and backward, for the training step's big MLPs.
//!
//! Through candle's generic operations a layer is a matrix product, a broadcast bias
//! addition and a ReLU, each allocating its output and each with its own backward
//! (a comparison, a product, a reduction, transposed copies). Here the forward is one
//! product into a buffer followed by one pass for bias and ReLU, and the backward
//! masks the incoming gradient once and makes the three gradients directly with
//! [`crate::kernels::gemm`].

pub use crate::kernels::Activation;
use crate::kernels::{gelu_pair, gemm, Mat, Write};
use candle_core::{bail, CpuStorage, CustomOp1, CustomOp3, Layout, Result, Shape, Storage, Tensor};

/// The layer operation; arguments are `x [m, k]`, `W [n, k]`, `b [n]`, all f32.
#[derive(Debug, Clone, Copy)]
pub struct LinearOp {
    /// ReLU after the affine map.
    pub relu: bool,
}

fn slice<'a>(s: &'a CpuStorage, l: &Layout, what: &str) -> Result<&'a [f32]> {
    let CpuStorage::F32(v) = s else {
        bail!("fused linear: {what} must be f32")
    };
    let Some((a, b)) = l.contiguous_offsets() else {
        bail!("fused linear: {what} must be contiguous")
    };
    Ok(&v[a..b])
}

/// Runs `f` on a tensor's f32 CPU buffer (made contiguous first if it is not), without
/// copying it.
fn with_f32<R>(t: &Tensor, f: impl FnOnce(&[f32]) -> R) -> Result<R> {
    let t = t.contiguous()?;
    let (st, l) = t.storage_and_layout();
    let Storage::Cpu(s) = &*st else {
        bail!("fused op: CPU tensors only")
    };
    Ok(f(slice(s, l, "tensor")?))
}

impl CustomOp3 for LinearOp {
    fn name(&self) -> &'static str {
        if self.relu {
            "fused-linear-relu"
        } else {
            "fused-linear"
        }
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (m, k) = l1.shape().dims2()?;
        let (n, k2) = l2.shape().dims2()?;
        if k2 != k || l3.shape().dims1()? != n {
            bail!(
                "fused linear: shapes {:?} {:?} {:?}",
                l1.shape(),
                l2.shape(),
                l3.shape()
            )
        }
        let (x, w, b) = (
            slice(s1, l1, "x")?,
            slice(s2, l2, "W")?,
            slice(s3, l3, "b")?,
        );
        let mut y = vec![0f32; m * n];
        // y = x · Wᵀ: Wᵀ (k × n) is W read with swapped strides.
        gemm(
            Mat::row_major(x, m, k),
            Mat::row_major(w, n, k).t(),
            &mut y,
            Write::Overwrite,
        );
        for row in y.chunks_exact_mut(n) {
            for (v, bias) in row.iter_mut().zip(b) {
                let s = *v + bias;
                *v = if self.relu { s.max(0.0) } else { s };
            }
        }
        Ok((CpuStorage::F32(y), Shape::from((m, n))))
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        _b: &Tensor,
        y: &Tensor,
        dy: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let (m, k) = x.dims2()?;
        let (n, _) = w.dims2()?;
        let mut g = with_f32(dy, <[f32]>::to_vec)?;
        if self.relu {
            // ReLU passes the gradient where its output is positive (as PyTorch does).
            with_f32(y, |yv| {
                for (gv, &yv) in g.iter_mut().zip(yv) {
                    if yv <= 0.0 {
                        *gv = 0.0;
                    }
                }
            })?;
        }
        let mut dx = vec![0f32; m * k];
        // dx = g · W
        with_f32(w, |wv| {
            gemm(
                Mat::row_major(&g, m, n),
                Mat::row_major(wv, n, k),
                &mut dx,
                Write::Overwrite,
            )
        })?;
        let mut dw = vec![0f32; n * k];
        // dW = gᵀ · x
        with_f32(x, |xv| {
            gemm(
                Mat::row_major(&g, m, n).t(),
                Mat::row_major(xv, m, k),
                &mut dw,
                Write::Overwrite,
            )
        })?;
        let mut db = vec![0f32; n];
        for row in g.chunks_exact(n) {
            for (d, v) in db.iter_mut().zip(row) {
                *d += v;
            }
        }
        let dev = x.device();
        Ok((
            Some(Tensor::from_vec(dx, (m, k), dev)?),
            Some(Tensor::from_vec(dw, (n, k), dev)?),
            Some(Tensor::from_vec(db, n, dev)?),
        ))
    }
}

/// `x·Wᵀ + b` (then ReLU if `relu`) of a candle `Linear` with a bias, as one operation.
pub fn linear(x: &Tensor, l: &candle_nn::Linear, act: Activation) -> Result<Tensor> {
    let Some(b) = l.bias() else {
        bail!("fused linear: the layer has no bias")
    };
    let relu = act == Activation::Relu;
    x.contiguous()?.apply_op3(l.weight(), b, LinearOp { relu })
}

/// GELU (exact-erf form, as PyTorch's `nn.GELU()`) as one operation, value and
/// derivative from [`gelu_pair`] (erf within 1.5e-7) instead of candle's
/// element-at-a-time erf and the six operations of its backward.
#[derive(Debug, Clone, Copy)]
pub struct GeluOp;

impl CustomOp1 for GeluOp {
    fn name(&self) -> &'static str {
        "fast-gelu"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let mut y = slice(s, l, "x")?.to_vec();
        let mut d = vec![0f32; y.len()];
        gelu_pair(&mut y, &mut d);
        Ok((CpuStorage::F32(y), l.shape().clone()))
    }

    fn bwd(&self, x: &Tensor, _y: &Tensor, dy: &Tensor) -> Result<Option<Tensor>> {
        let mut v = with_f32(x, <[f32]>::to_vec)?;
        let mut d = vec![0f32; v.len()];
        gelu_pair(&mut v, &mut d);
        with_f32(dy, |g| {
            for (dv, gv) in d.iter_mut().zip(g) {
                *dv *= gv;
            }
        })?;
        Ok(Some(Tensor::from_vec(d, x.shape(), x.device())?))
    }
}

/// [`GeluOp`] on a tensor.
pub fn gelu(x: &Tensor) -> Result<Tensor> {
    x.contiguous()?.apply_op1(GeluOp)
}
