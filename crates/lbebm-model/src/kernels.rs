//! CPU kernels on plain `f32` slices, the leaves of the crate: one checked wrapper
//! around the `gemm` crate (candle's own CPU matrix product), the fused GELU with its
//! derivative, and the switch that keeps a thread's products on that thread.
//!
//! Everything above (the candle operations of [`crate::ops`], the CPU sampler of
//! [`crate::cpu`], Adam) multiplies matrices through [`gemm`] only.

use std::cell::Cell;

/// A read-only matrix view: element `(i, j)` at `data[i·row_stride + j·col_stride]`.
#[derive(Debug, Clone, Copy)]
pub struct Mat<'a> {
    data: &'a [f32],
    rows: usize,
    cols: usize,
    row_stride: usize,
    col_stride: usize,
}

impl<'a> Mat<'a> {
    /// `rows × cols` stored row-major (dense).
    pub fn row_major(data: &'a [f32], rows: usize, cols: usize) -> Self {
        Self {
            data,
            rows,
            cols,
            row_stride: cols,
            col_stride: 1,
        }
    }

    /// The transpose of this view (no copy: the strides swap).
    pub fn t(self) -> Self {
        Self {
            data: self.data,
            rows: self.cols,
            cols: self.rows,
            row_stride: self.col_stride,
            col_stride: self.row_stride,
        }
    }

    /// Whether the largest offset the view reads lies inside its slice.
    fn in_bounds(&self) -> bool {
        self.rows == 0
            || self.cols == 0
            || (self.rows - 1) * self.row_stride + (self.cols - 1) * self.col_stride
                < self.data.len()
    }
}

/// What follows a dense layer's affine map (the fused candle layer of [`crate::ops`]
/// and the CPU sampler's layers alike).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activation {
    /// max(0, x).
    Relu,
    /// Nothing.
    Identity,
}

/// What [`gemm`] does with the destination's previous contents.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Write {
    /// `dst = a·b`.
    Overwrite,
    /// `dst += a·b`.
    Accumulate,
}

thread_local! {
    /// Set while a thread works on its own share of rows: its products then stay on it.
    static SERIAL: Cell<bool> = const { Cell::new(false) };
}

/// Runs `f` with this thread's matrix products kept on this thread (for work already
/// shared out among threads, where nested parallelism only adds start-up costs).
pub fn serial<R>(f: impl FnOnce() -> R) -> R {
    let was = SERIAL.with(|s| s.replace(true));
    let r = f();
    SERIAL.with(|s| s.set(was));
    r
}

/// Products below this many multiply-adds run on the calling thread: waking other
/// threads costs more than it saves.
const PARALLEL_FLOPS: usize = 1 << 20;

/// `dst[m, n] (+)= a[m, k] · b[k, n]`, `dst` dense row-major with `m = a` rows and
/// `n = b` columns.
///
/// # Panics
/// When the inner dimensions differ, `dst` is not `m × n`, or a view reaches past its
/// slice: checked in every build, since the kernel below reads raw pointers.
pub fn gemm(a: Mat<'_>, b: Mat<'_>, dst: &mut [f32], write: Write) {
    let (m, k, n) = (a.rows, a.cols, b.cols);
    assert_eq!(b.rows, k, "gemm: inner dimensions {k} and {}", b.rows);
    assert_eq!(dst.len(), m * n, "gemm: destination is not {m}×{n}");
    assert!(a.in_bounds() && b.in_bounds(), "gemm: view out of bounds");
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        if write == Write::Overwrite {
            dst.fill(0.0);
        }
        return;
    }
    let par = if m * n * k >= PARALLEL_FLOPS && !SERIAL.with(Cell::get) {
        gemm::Parallelism::Rayon(candle_core::utils::get_num_threads())
    } else {
        gemm::Parallelism::None
    };
    let acc = write == Write::Accumulate;
    // SAFETY: every offset either view reads is inside its slice (asserted above, in
    // release builds too), `dst` is a dense `m × n` row-major buffer (its length is
    // asserted) and, being a distinct `&mut`, aliases neither input. With `read_dst`
    // false the kernel never reads `dst` (alpha 0), so its old contents do not matter.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            n as isize,
            acc,
            a.data.as_ptr(),
            a.col_stride as isize,
            a.row_stride as isize,
            b.data.as_ptr(),
            b.col_stride as isize,
            b.row_stride as isize,
            if acc { 1.0 } else { 0.0 },
            1.0,
            false,
            false,
            false,
            par,
        )
    }
}

/// `[rows, cols]` row-major → `[cols, rows]` row-major.
pub fn transpose(w: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    let mut t = vec![0.0; w.len()];
    for r in 0..rows {
        for c in 0..cols {
            t[c * rows + r] = w[r * cols + c];
        }
    }
    t
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

/// [`gelu_pair_body`] compiled for AVX2 and FMA.
///
/// # Safety
/// The processor must support AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn gelu_pair_avx2(x: &mut [f32], d: &mut [f32]) {
    gelu_pair_body(x, d)
}

/// GELU and its derivative in place (see [`gelu_pair_body`]), through an AVX2+FMA build
/// of the loop when the processor has it (decided at run time; the binary itself
/// targets the baseline x86-64).
///
/// # Panics
/// When `x` and `d` differ in length.
pub fn gelu_pair(x: &mut [f32], d: &mut [f32]) {
    assert_eq!(x.len(), d.len());
    #[cfg(target_arch = "x86_64")]
    {
        if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
            // SAFETY: both features were detected just above.
            unsafe { gelu_pair_avx2(x, d) };
            return;
        }
    }
    gelu_pair_body(x, d)
}

/// The family of CPU kernels the matrix products (chosen at run time by `gemm`) and the
/// fused GELU use: `avx512f`, `avx2+fma` or `baseline`. Results are bit-identical
/// across machines of one family; between families float rounding differs.
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

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(a: &[f32], b: &[f32], m: usize, k: usize, n: usize) -> Vec<f32> {
        (0..m * n)
            .map(|ij| (0..k).map(|p| a[ij / n * k + p] * b[p * n + ij % n]).sum())
            .collect()
    }

    #[test]
    fn gemm_matches_the_definition_for_every_layout_and_write() {
        let (m, k, n) = (3, 4, 5);
        let a: Vec<f32> = (0..m * k).map(|i| i as f32 * 0.5 - 2.0).collect();
        let b: Vec<f32> = (0..k * n).map(|i| 1.0 - i as f32 * 0.25).collect();
        let want = naive(&a, &b, m, k, n);
        let mut got = vec![7.0; m * n];
        gemm(
            Mat::row_major(&a, m, k),
            Mat::row_major(&b, k, n),
            &mut got,
            Write::Overwrite,
        );
        assert_eq!(got, want);
        // The same product through transposed views of transposed copies.
        let at = transpose(&a, m, k);
        let bt = transpose(&b, k, n);
        let mut got2 = want.clone();
        gemm(
            Mat::row_major(&at, k, m).t(),
            Mat::row_major(&bt, n, k).t(),
            &mut got2,
            Write::Accumulate,
        );
        let twice: Vec<f32> = want.iter().map(|v| 2.0 * v).collect();
        assert_eq!(got2, twice);
    }

    #[test]
    #[should_panic(expected = "out of bounds")]
    fn gemm_refuses_a_view_past_its_slice() {
        let a = vec![0.0; 5];
        let b = vec![0.0; 6];
        let mut c = vec![0.0; 4];
        // `a` claims 2×3 = 6 values but holds 5.
        gemm(
            Mat::row_major(&a, 2, 3),
            Mat::row_major(&b, 3, 2),
            &mut c,
            Write::Overwrite,
        );
    }
}
