//! The replay buffer of persistent Langevin chains.

use crate::ModelError;
use candle_core::{DType, Device, Tensor};
use rand::Rng;
use std::collections::HashMap;
use std::path::Path;

/// Names of the buffer's tensors in the training state.
const CHAINS: &str = "replay/chains";
const NEXT: &str = "replay/next";

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

    /// Adds the buffer to the training state (nothing while it is empty), so that a
    /// resumed run's chains start where an uninterrupted run's would.
    pub(super) fn state(&self, map: &mut HashMap<String, Tensor>) -> candle_core::Result<()> {
        if self.data.is_empty() {
            return Ok(());
        }
        let rows = self.data.len() / self.zdim;
        map.insert(
            CHAINS.into(),
            Tensor::from_slice(&self.data, (rows, self.zdim), &Device::Cpu)?,
        );
        map.insert(
            NEXT.into(),
            Tensor::from_slice(&[self.next as u32], 1, &Device::Cpu)?,
        );
        Ok(())
    }

    /// Restores the buffer from a training state. A state without one (an empty buffer, or
    /// a state written before the buffer was kept) leaves it empty; one that does not fit
    /// this buffer's size and latent width is refused.
    pub(super) fn restore(
        &mut self,
        map: &HashMap<String, Tensor>,
        path: &Path,
    ) -> Result<(), ModelError> {
        let err = |msg: String| super::cannot_resume(path, msg);
        let Some(chains) = map.get(CHAINS) else {
            if self.cap > 0 {
                tracing::warn!(
                    path = %path.display(),
                    "the training state holds no replay buffer: training's chains start from noise again"
                );
            }
            return Ok(());
        };
        let (rows, width) = chains.dims2()?;
        if width != self.zdim || rows > self.cap {
            return Err(err(format!(
                "the training state's replay buffer holds {rows} latents of {width}, the config asks for at most {} of {} (langevin.replay_size, model.zdim)",
                self.cap, self.zdim
            )));
        }
        let next = map
            .get(NEXT)
            .ok_or_else(|| err(format!("the training state lacks {NEXT}")))?
            .to_dtype(DType::U32)?
            .to_vec1::<u32>()?;
        let next = match next[..] {
            // The ring's next slot: 0 until the buffer is full, then any of its rows.
            [n] if n == 0 || (rows == self.cap && (n as usize) < rows) => n as usize,
            _ => return Err(err(format!("{NEXT} is {next:?}, not a slot of {rows}"))),
        };
        self.data = chains
            .flatten_all()?
            .to_dtype(DType::F32)?
            .to_vec1::<f32>()?;
        self.next = next;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filled(cap: usize, pushed: usize) -> Replay {
        let mut r = Replay::new(2, cap);
        let rows: Vec<f32> = (0..pushed * 2).map(|i| i as f32).collect();
        r.push(&rows);
        r
    }

    #[test]
    fn the_buffer_survives_a_round_trip_through_the_training_state() {
        // Full and wrapped (next in the middle), and half full.
        for (cap, pushed) in [(4, 6), (4, 2)] {
            let r = filled(cap, pushed);
            let mut map = HashMap::new();
            r.state(&mut map).unwrap();
            let mut back = Replay::new(2, cap);
            back.restore(&map, Path::new("s")).unwrap();
            assert_eq!(back.data, r.data);
            assert_eq!(back.next, r.next);
            assert_eq!(back.is_full(), r.is_full());
            // It goes on overwriting the same slot.
            let (mut a, mut b) = (r, back);
            a.push(&[-1.0, -2.0]);
            b.push(&[-1.0, -2.0]);
            assert_eq!(a.data, b.data);
        }
        assert_eq!(filled(4, 6).next, 2, "the case above wraps");
    }

    #[test]
    fn an_empty_or_missing_buffer_restores_empty_and_a_misfit_is_refused() {
        let mut map = HashMap::new();
        Replay::new(2, 4).state(&mut map).unwrap();
        assert!(map.is_empty(), "an empty buffer writes nothing");
        let mut r = Replay::new(2, 4);
        r.restore(&map, Path::new("s")).unwrap();
        assert!(r.data.is_empty());

        filled(4, 6).state(&mut map).unwrap();
        for (cap, zdim) in [(3, 2), (4, 3)] {
            let e = Replay::new(zdim, cap)
                .restore(&map, Path::new("s"))
                .unwrap_err()
                .to_string();
            assert!(e.contains("replay_size"), "{e}");
        }
        map.insert(
            NEXT.into(),
            Tensor::from_slice(&[9u32], 1, &Device::Cpu).unwrap(),
        );
        let e = Replay::new(2, 4)
            .restore(&map, Path::new("s"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("replay/next"), "{e}");
    }
}
