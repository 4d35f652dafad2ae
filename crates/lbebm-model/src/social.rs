//! Non-local social pooling over the agents of a scene, and the mask that keeps scenes
//! of one batch apart.

use crate::batch::{SceneBatch, EDGE_FEATURES};
use crate::config::CheckedConfig;
use crate::nn::Mlp;
use candle_core::{Device, Module, Result, Tensor};
use candle_nn::VarBuilder;

/// Logit offset that removes agents of other scenes from the affinity softmax:
/// exp(−1e9) is exactly 0 in f32, so other scenes contribute nothing at all.
pub(crate) const MASKED: f32 = -1e9;

/// Non-local social pooling over agents of the same scene.
#[derive(Debug, Clone)]
pub struct SocialPooling {
    pub(crate) theta: Mlp,
    pub(crate) phi: Mlp,
    pub(crate) g: Mlp,
    /// The edge net (`model.social_edges`), if any.
    pub(crate) edge: Option<Mlp>,
    pub(crate) rounds: usize,
}

impl SocialPooling {
    /// θ, φ and g MLPs from the model config (tensor names `theta`, `phi`, `g`; the edge
    /// net's `edge`).
    pub fn new(cfg: &CheckedConfig, vb: VarBuilder) -> Result<Self> {
        let m = &cfg.model;
        Ok(Self {
            theta: Mlp::new(m.fdim, &m.nl_theta, m.nl_dim, vb.pp("theta"))?,
            phi: Mlp::new(m.fdim, &m.nl_phi, m.nl_dim, vb.pp("phi"))?,
            g: Mlp::new(m.fdim, &m.nl_g, m.fdim, vb.pp("g"))?,
            edge: match m.social_edges {
                0 => None,
                h => Some(Mlp::new(EDGE_FEATURES, &[h], 1, vb.pp("edge"))?),
            },
            rounds: m.nl_rounds,
        })
    }

    /// The edge net's term of every affinity of `batch`, `[N, N]`, from the pairs'
    /// geometry ([`SceneBatch::edge_tensor`]); `None` without an edge net.
    pub fn edge_bias(&self, batch: &SceneBatch) -> Result<Option<Tensor>> {
        let Some(net) = &self.edge else {
            return Ok(None);
        };
        let n = batch.len();
        let edges = batch.edge_tensor()?.reshape((n * n, EDGE_FEATURES))?;
        Ok(Some(net.forward(&edges)?.reshape((n, n))?))
    }

    /// `c ← c + A·g(c)`, `A = softmax(θ(c)φ(c)ᵀ + mask)` row-wise, `rounds` times
    /// (`mask` holds the edge net's terms too, where there is one).
    pub fn forward(&self, c: &Tensor, mask: &Tensor) -> Result<Tensor> {
        let mut c = c.clone();
        for _ in 0..self.rounds {
            let th = self.theta.forward(&c)?;
            let ph = self.phi.forward(&c)?;
            let logits = (th.matmul(&ph.t()?)? + mask)?;
            let a = candle_nn::ops::softmax_last_dim(&logits)?;
            c = (a.matmul(&self.g.forward(&c)?)? + c)?;
        }
        Ok(c)
    }
}

/// Additive mask for [`SocialPooling`]: 0 within a scene, −1e9 across scenes.
/// `scene_sizes` lists the number of agents of consecutive scenes.
///
/// On the CPU the `N × N` values are written in place; on another device only the `N`
/// scene numbers are uploaded and the mask is built there (an `N × N` upload per batch
/// would cost more than the pooling itself). Both give exactly 0 and −1e9.
pub fn scene_mask(scene_sizes: &[usize], device: &Device) -> Result<Tensor> {
    if !device.is_cpu() {
        return scene_mask_on_device(scene_sizes, device);
    }
    written_mask(scene_sizes, |_, _| true, device)
}

/// The `N × N` mask written on the host: 0 where `pools(i, j)` holds for agents `i`,
/// `j` of one scene, −1e9 elsewhere.
fn written_mask(
    scene_sizes: &[usize],
    pools: impl Fn(usize, usize) -> bool,
    device: &Device,
) -> Result<Tensor> {
    let n: usize = scene_sizes.iter().sum();
    let mut m = vec![MASKED; n * n];
    let mut start = 0;
    for &s in scene_sizes {
        for i in start..start + s {
            for j in start..start + s {
                if pools(i, j) {
                    m[i * n + j] = 0.0;
                }
            }
        }
        start += s;
    }
    Tensor::from_vec(m, (n, n), device)
}

/// Whether two agents of one scene pool over each other: always with `radius` 0 (the
/// whole scene), else when their last observed positions (metres) lie within `radius`.
/// Both social-pooling paths (this mask and the CPU's per-scene blocks) ask this.
pub(crate) fn within(p: [f32; 2], q: [f32; 2], radius: f32) -> bool {
    let (dx, dy) = (p[0] - q[0], p[1] - q[1]);
    radius == 0.0 || dx * dx + dy * dy <= radius * radius
}

/// [`scene_mask`], further restricted to the pairs [`within`] `radius` of each other at
/// `last` (each agent's last observed position, metres, batch order). With `radius` 0 it
/// is [`scene_mask`] itself; otherwise it is written on the CPU and uploaded.
pub fn neighbour_mask(
    scene_sizes: &[usize],
    last: &[[f32; 2]],
    radius: f32,
    device: &Device,
) -> Result<Tensor> {
    if radius == 0.0 {
        return scene_mask(scene_sizes, device);
    }
    let n: usize = scene_sizes.iter().sum();
    if last.len() != n {
        candle_core::bail!("neighbour_mask: {} positions for {n} agents", last.len());
    }
    written_mask(scene_sizes, |i, j| within(last[i], last[j], radius), device)
}

/// [`scene_mask`] built on `device` from the agents' scene numbers.
fn scene_mask_on_device(scene_sizes: &[usize], device: &Device) -> Result<Tensor> {
    let n: usize = scene_sizes.iter().sum();
    let ids: Vec<u32> = scene_sizes
        .iter()
        .enumerate()
        .flat_map(|(i, &s)| std::iter::repeat_n(i as u32, s))
        .collect();
    let ids = Tensor::from_vec(ids, n, device)?;
    let same = ids
        .unsqueeze(1)?
        .broadcast_eq(&ids.unsqueeze(0)?)?
        .to_dtype(candle_core::DType::F32)?;
    // 1 → 0, 0 → −1e9 (both exact in f32).
    same.affine(-(MASKED as f64), MASKED as f64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::bits;

    /// The mask built from scene numbers (the GPU's way) is the CPU's, bit for bit.
    #[test]
    fn scene_mask_from_ids_matches_the_written_one() -> Result<()> {
        for sizes in [vec![1], vec![3, 1, 4], vec![2, 2, 2, 5, 1]] {
            let cpu = scene_mask(&sizes, &Device::Cpu)?;
            let ids = scene_mask_on_device(&sizes, &Device::Cpu)?;
            assert_eq!(cpu.dims(), ids.dims());
            assert_eq!(bits(&cpu), bits(&ids), "{sizes:?}");
        }
        Ok(())
    }
}
