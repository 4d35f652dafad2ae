//! The replay buffer of persistent Langevin chains.

use candle_core::{Device, Tensor};
use rand::Rng;

/// Persistent chains: a ring of latent vectors. Once full, training chains start from
/// random entries instead of from noise (persistent contrastive divergence).
pub struct Replay {
    zdim: usize,
    cap: usize,
    data: Vec<f32>,
    next: usize,
}

impl Replay {
    /// An empty buffer of `cap` latents of `zdim` (`cap` 0: off).
    pub fn new(zdim: usize, cap: usize) -> Self {
        Self {
            zdim,
            cap,
            data: Vec::new(),
            next: 0,
        }
    }
    /// Whether the buffer holds `cap` latents.
    pub fn is_full(&self) -> bool {
        self.cap > 0 && self.data.len() == self.cap * self.zdim
    }
    /// Adds latents (`rows` is a multiple of `zdim`), overwriting the oldest once full.
    pub fn push(&mut self, rows: &[f32]) {
        if self.cap == 0 {
            return;
        }
        for r in rows.chunks_exact(self.zdim) {
            if self.data.len() < self.cap * self.zdim {
                self.data.extend_from_slice(r);
            } else {
                let o = self.next * self.zdim;
                self.data[o..o + self.zdim].copy_from_slice(r);
                self.next = (self.next + 1) % self.cap;
            }
        }
    }
    /// `n` latents drawn uniformly with replacement, `[n, zdim]` on `dev`.
    pub fn sample(
        &self,
        n: usize,
        rng: &mut impl Rng,
        dev: &Device,
    ) -> candle_core::Result<Tensor> {
        let mut v = Vec::with_capacity(n * self.zdim);
        for _ in 0..n {
            let i = rng.gen_range(0..self.cap);
            v.extend_from_slice(&self.data[i * self.zdim..(i + 1) * self.zdim]);
        }
        Tensor::from_vec(v, (n, self.zdim), dev)
    }
}
