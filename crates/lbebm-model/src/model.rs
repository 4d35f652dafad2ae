//! The LB-EBM network: past encoder, social pooling, energy-based prior with a
//! Langevin sampler, posterior encoder, plan decoder and trajectory decoder.

use crate::config::CheckedConfig;
use crate::cpu::{CpuEnergy, CpuLayers, CpuModel, SocialLayers};
use crate::langevin::{self, Chains, Diffusion, Draw, LangevinParams, Noise};
use crate::nn::{EnergyCondition, EnergyNet, Mlp};
use crate::social::SocialPooling;
use candle_core::{Device, Module, Result, Tensor, D};
use candle_nn::VarBuilder;
use lbebm_types::PRED_LEN;
use rand::Rng;

/// What the training loss needs from one forward pass.
#[derive(Debug)]
pub struct TrainOutputs {
    /// Predicted sub-goals `[N, 2·subgoals]`.
    pub plan: Tensor,
    /// Predicted future `[N, 24]`.
    pub future: Tensor,
    /// Posterior mean `[N, zdim]`.
    pub mu: Tensor,
    /// Posterior log-variance `[N, zdim]`.
    pub logvar: Tensor,
    /// E(z_posterior, c), one per agent.
    pub energy_pos: Tensor,
    /// E(z_prior_sample, c), one per agent.
    pub energy_neg: Tensor,
    /// With `train.variety_samples` M > 0: the futures decoded from M prior samples per
    /// agent, `[N, M, 24]` (gradient to the encoders and decoders, none to the prior);
    /// with `train.anchor_wta` L > 0 instead, the prior's sample decoded at the L
    /// anchors nearest the truth, `[N, L, 24]`.
    pub variety: Option<Tensor>,
}

/// The full model.
#[derive(Debug, Clone)]
pub struct Lbebm {
    cfg: CheckedConfig,
    enc_past: Mlp,
    social: Option<SocialPooling>,
    enc_plan: Mlp,
    enc_latent: Mlp,
    dec_plan: Mlp,
    dec_traj: Mlp,
    /// With `model.traj_rank` r > 0: the basis of the trajectory space, r → 24.
    traj_basis: Option<candle_nn::Linear>,
    /// With `model.anchors` A > 0: the plan anchors, `[A, 2·subgoals]` (model units).
    anchors: Option<Tensor>,
    ebm: EnergyNet,
    device: Device,
    /// Off the CPU, draw the sampling noise ([`Lbebm::sample`]) with the device's own
    /// generator, seeded from the caller's at the first draw: no host work per draw, but
    /// not the numbers of the CPU (off by default: then a seed gives the same noise on
    /// every device).
    pub device_noise: bool,
    /// Whether the device's generator was seeded for `device_noise`.
    device_seeded: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

/// The random numbers of one training forward pass, drawn up front in the order the
/// pass uses them (Langevin steps, then the posterior's ε), so that a batch cut into
/// parts computed side by side uses exactly the numbers of the whole batch.
#[derive(Debug, Clone)]
pub struct TrainNoise {
    /// Standard normals, `steps × rows × zdim`.
    pub langevin: Vec<f32>,
    /// Standard normals, `rows × zdim`.
    pub eps: Vec<f32>,
    /// Best of many (`train.variety_samples` M): the chains' starting normals
    /// `rows·M × zdim` (agent-major), then their Langevin normals, `steps × rows·M × zdim`.
    pub variety_init: Vec<f32>,
    /// See `variety_init`.
    pub variety_langevin: Vec<f32>,
    rows: usize,
    zdim: usize,
    steps: usize,
    variety: usize,
}

impl TrainNoise {
    /// Draws the numbers for `rows` chains of `zdim` over `steps` steps.
    pub fn draw<R: Rng + ?Sized>(rng: &mut R, rows: usize, zdim: usize, steps: usize) -> Self {
        Self::draw_with_variety(rng, rows, zdim, steps, 0)
    }

    /// [`TrainNoise::draw`] and the numbers of `variety` best-of-many chains per row
    /// (drawn after the others, and only when asked for: with 0 the generator is left
    /// exactly as [`TrainNoise::draw`] leaves it).
    pub fn draw_with_variety<R: Rng + ?Sized>(
        rng: &mut R,
        rows: usize,
        zdim: usize,
        steps: usize,
        variety: usize,
    ) -> Self {
        let langevin = langevin::normals(rng, steps * rows * zdim, 1.0);
        let eps = langevin::normals(rng, rows * zdim, 1.0);
        let vr = rows * variety;
        let variety_init = langevin::normals(rng, vr * zdim, 1.0);
        let variety_langevin = langevin::normals(rng, steps * vr * zdim, 1.0);
        Self {
            langevin,
            eps,
            variety_init,
            variety_langevin,
            rows,
            zdim,
            steps,
            variety,
        }
    }

    /// The numbers of rows `r0..r1`.
    pub fn rows(&self, r0: usize, r1: usize) -> Self {
        let zd = self.zdim;
        let m = self.variety;
        Self {
            langevin: langevin::rows_of(&self.langevin, self.rows, zd, r0, r1),
            eps: self.eps[r0 * zd..r1 * zd].to_vec(),
            variety_init: self.variety_init[r0 * m * zd..r1 * m * zd].to_vec(),
            variety_langevin: langevin::rows_of(
                &self.variety_langevin,
                self.rows * m,
                zd,
                r0 * m,
                r1 * m,
            ),
            rows: r1 - r0,
            zdim: zd,
            steps: self.steps,
            variety: m,
        }
    }
}

/// `shape` standard normals times `std` from `rng` (row-major, host-drawn), on `dev`:
/// seeded, so runs are reproducible on any device.
pub fn randn<R: Rng + ?Sized>(
    rng: &mut R,
    shape: (usize, usize),
    std: f32,
    dev: &Device,
) -> Result<Tensor> {
    Tensor::from_vec(langevin::normals(rng, shape.0 * shape.1, std), shape, dev)
}

impl Lbebm {
    /// The network from a checked config; `vb` names and holds its tensors.
    pub fn new(cfg: &CheckedConfig, vb: VarBuilder) -> Result<Self> {
        let m = &cfg.model;
        let np = m.subgoals.len() * 2;
        // With anchors the plan decoder reads the anchor beside [c; z].
        let anchor_in = if m.anchors > 0 { np } else { 0 };
        Ok(Self {
            cfg: cfg.clone(),
            enc_past: Mlp::new(
                crate::batch::input_width(m.neighbours),
                &m.enc_past,
                m.fdim,
                vb.pp("enc_past"),
            )?,
            social: if m.social {
                Some(SocialPooling::new(cfg, vb.pp("social"))?)
            } else {
                None
            },
            enc_plan: Mlp::new(np, &m.enc_plan, m.fdim, vb.pp("enc_plan"))?,
            enc_latent: Mlp::new(2 * m.fdim, &m.enc_latent, 2 * m.zdim, vb.pp("enc_latent"))?,
            dec_plan: Mlp::new(
                m.fdim + m.zdim + anchor_in,
                &m.dec_plan,
                np,
                vb.pp("dec_plan"),
            )?,
            dec_traj: Mlp::new(
                2 * m.fdim,
                &m.dec_traj,
                if m.traj_rank > 0 {
                    m.traj_rank
                } else {
                    PRED_LEN * 2
                },
                vb.pp("dec_traj"),
            )?,
            traj_basis: if m.traj_rank > 0 {
                Some(crate::nn::linear(
                    m.traj_rank,
                    PRED_LEN * 2,
                    vb.pp("dec_traj_basis"),
                )?)
            } else {
                None
            },
            anchors: if m.anchors > 0 {
                Some(vb.get((m.anchors, np), "anchors")?)
            } else {
                None
            },
            ebm: EnergyNet::new(m.zdim, m.fdim, &m.ebm_hidden, vb.pp("ebm"))?,
            device: vb.device().clone(),
            device_noise: false,
            device_seeded: Default::default(),
        })
    }

    /// The config the network was built from.
    pub fn config(&self) -> &CheckedConfig {
        &self.cfg
    }

    /// The same network (its tensors shared) predicting with training's chains: temperature
    /// 1 and starting points of σ `init_sigma`, whatever the prediction-only
    /// `langevin.test_temperature` and `langevin.test_init_sigma` say.
    ///
    /// # Errors
    /// Never for a checked config; the config is checked again all the same.
    pub fn with_training_chains(&self) -> std::result::Result<Self, crate::ModelError> {
        let mut c = self.cfg.clone().into_inner();
        c.langevin.test_temperature = 1.0;
        c.langevin.test_init_sigma = None;
        Ok(Self {
            cfg: c.check()?,
            ..self.clone()
        })
    }

    /// The device its tensors live on.
    pub fn device(&self) -> &Device {
        &self.device
    }
    /// The energy net E(z, c).
    pub fn energy_net(&self) -> &EnergyNet {
        &self.ebm
    }

    /// The CPU sampler with a copy of the current weights.
    pub fn cpu_model(&self) -> Result<CpuModel> {
        let dec_traj = self.dec_traj_folded()?;
        let anchors = match &self.anchors {
            Some(a) => Some(a.flatten_all()?.to_vec1::<f32>()?),
            None => None,
        };
        let layers = CpuLayers {
            enc_past: self.enc_past.layers(),
            social: self.social.as_ref().map(|s| SocialLayers {
                theta: s.theta.layers(),
                phi: s.phi.layers(),
                g: s.g.layers(),
                edge: s.edge.as_ref().map(|e| e.layers()),
                rounds: s.rounds,
            }),
            enc_plan: self.enc_plan.layers(),
            dec_plan: self.dec_plan.layers(),
            dec_traj: &dec_traj,
            ebm: self.ebm.layers(),
            anchors: anchors.as_deref(),
        };
        CpuModel::new(layers, &self.cfg)
    }

    /// The trajectory decoder's layers with the basis of the trajectory space (if any)
    /// folded into the last one: `B·(W·h + b) + β = (B·W)·h + (B·b + β)`, one layer
    /// of the plain decoder's shape.
    fn dec_traj_folded(&self) -> Result<Vec<candle_nn::Linear>> {
        let mut layers = self.dec_traj.layers().to_vec();
        if let (Some(basis), Some(last)) = (&self.traj_basis, layers.last_mut()) {
            let bw = basis.weight();
            let w = bw.matmul(last.weight())?;
            let b = match (last.bias(), basis.bias()) {
                (Some(b), Some(beta)) => Some((bw.matmul(&b.unsqueeze(1)?)?.squeeze(1)? + beta)?),
                _ => candle_core::bail!("the trajectory decoder's layers carry biases"),
            };
            *last = candle_nn::Linear::new(w, b);
        }
        Ok(layers)
    }

    /// What social pooling adds to its affinities for `batch`: the mask under this model's
    /// `social_radius`, plus the edge net's terms with `social_edges` (then a function of
    /// the weights: build it inside the step that differentiates it).
    pub fn social_mask(&self, batch: &crate::batch::SceneBatch) -> Result<Tensor> {
        let mask = batch.mask_within(self.cfg.model.social_radius)?;
        let bias = match &self.social {
            Some(s) => s.edge_bias(batch)?,
            None => None,
        };
        match bias {
            Some(b) => mask + b,
            None => Ok(mask),
        }
    }

    /// Context `c` for every agent: `obs` is `[N, input width]` (observed positions
    /// relative to the last one, scaled, then the neighbours with `model.neighbours`; see
    /// [`crate::batch::input_width`]), `mask` from [`Lbebm::social_mask`].
    pub fn encode(&self, obs: &Tensor, mask: &Tensor) -> Result<Tensor> {
        let c = self.enc_past.forward(obs)?;
        match &self.social {
            Some(s) => s.forward(&c, mask),
            None => Ok(c),
        }
    }

    /// Short-run Langevin dynamics from `z0` under p(z|c) ∝ exp(−E(z,c))·N(0,σ²I)
    /// ([`crate::langevin`]) at temperature 1, as training's chains run, through candle
    /// operations on the model's device. Off the CPU the noise of all steps goes to the
    /// device in one upload.
    pub fn langevin(
        &self,
        z0: &Tensor,
        cond: &EnergyCondition,
        steps: usize,
        noise: Noise<'_>,
    ) -> Result<Tensor> {
        self.langevin_at(
            LangevinParams::of(&self.cfg.langevin),
            z0,
            cond,
            steps,
            noise,
        )
    }

    /// [`Lbebm::langevin`] with the parameters `p` (prediction's temperature).
    fn langevin_at(
        &self,
        p: LangevinParams,
        z0: &Tensor,
        cond: &EnergyCondition,
        steps: usize,
        noise: Noise<'_>,
    ) -> Result<Tensor> {
        self.langevin_with(p, z0, cond, steps, noise, !self.device.is_cpu())
    }

    /// [`Lbebm::langevin`] with the parameters `p`, saying whether the noise is uploaded
    /// at once (`upfront`) or step by step: the same numbers either way.
    fn langevin_with(
        &self,
        p: LangevinParams,
        z0: &Tensor,
        cond: &EnergyCondition,
        steps: usize,
        noise: Noise<'_>,
        upfront: bool,
    ) -> Result<Tensor> {
        let (rows, zdim) = z0.dims2()?;
        let mut chains = TensorChains {
            model: self,
            cond,
            z: z0.detach(),
            rows,
            zdim,
            upfront,
            all: None,
        };
        langevin::run(&mut chains, p, steps, noise)?;
        Ok(chains.z)
    }

    /// Normals times `std` from the device's generator, seeded from `rng` at the first
    /// draw (so the same seed and calls give the same numbers on one device; seeding
    /// once keeps the generator's set-up out of every draw).
    fn randn_on_device(
        &self,
        rng: &mut dyn rand::RngCore,
        shape: (usize, usize),
        std: f32,
    ) -> Result<Tensor> {
        use std::sync::atomic::Ordering;
        if !self.device_seeded.swap(true, Ordering::Relaxed) {
            self.device.set_seed(rng.next_u64())?;
        }
        Tensor::randn(0f32, std, shape, &self.device)
    }

    /// Decodes plan then trajectory from context rows and latents; with plan anchors,
    /// `anchor` holds each row's anchor (the plan is the anchor plus the decoder's
    /// correction).
    pub fn decode(
        &self,
        c: &Tensor,
        z: &Tensor,
        anchor: Option<&Tensor>,
    ) -> Result<(Tensor, Tensor)> {
        let plan = match (anchor, &self.anchors) {
            (Some(a), Some(_)) => {
                (self
                    .dec_plan
                    .forward(&Tensor::cat(&[c, z, a], D::Minus1)?)?
                    + a)?
            }
            (None, None) => self.dec_plan.forward(&Tensor::cat(&[c, z], D::Minus1)?)?,
            _ => candle_core::bail!("decode: an anchor per row with plan anchors, else none"),
        };
        let pf = self.enc_plan.forward(&plan)?;
        let mut fut = self.dec_traj.forward(&Tensor::cat(&[c, &pf], D::Minus1)?)?;
        if let Some(basis) = &self.traj_basis {
            fut = basis.forward(&fut)?;
        }
        Ok((plan, fut))
    }

    /// The anchors of `rows` rows that hold `k` candidates per agent (agent-major):
    /// candidate j at anchor j mod A, so every anchor gets its share. `None` without
    /// anchors.
    fn anchor_rows(&self, rows: usize, k: usize) -> Result<Option<Tensor>> {
        let Some(a) = &self.anchors else {
            return Ok(None);
        };
        let na = a.dim(0)?;
        let idx: Vec<u32> = (0..rows).map(|r| ((r % k.max(1)) % na) as u32).collect();
        let idx = Tensor::from_vec(idx, rows, &self.device)?;
        Ok(Some(a.index_select(&idx, 0)?))
    }

    /// For each row of `plans` `[N, 2·subgoals]`, the indexes of the `l` anchors nearest
    /// it (squared distance, nearest first), `[N·l]` row-major.
    fn nearest_anchors(&self, anchors: &Tensor, plans: &Tensor, l: usize) -> Result<Vec<u32>> {
        let a = anchors
            .to_dtype(candle_core::DType::F32)?
            .to_vec2::<f32>()?;
        let p = plans.to_dtype(candle_core::DType::F32)?.to_vec2::<f32>()?;
        let mut out = Vec::with_capacity(p.len() * l);
        let mut d: Vec<(f32, u32)> = Vec::with_capacity(a.len());
        for row in &p {
            d.clear();
            d.extend(a.iter().enumerate().map(|(i, ai)| {
                let s: f32 = ai.iter().zip(row).map(|(x, y)| (x - y) * (x - y)).sum();
                (s, i as u32)
            }));
            // Ties (and NaN, which sorts last) keep the lower index: deterministic.
            d.sort_by(|x, y| x.0.total_cmp(&y.0).then(x.1.cmp(&y.1)));
            out.extend(d.iter().take(l).map(|&(_, i)| i));
        }
        Ok(out)
    }

    /// K samples per agent. Returns futures `[N·K, 24]` (agent-major, model units,
    /// relative to each agent's last observation) and energies `[N·K]`.
    pub fn sample(
        &self,
        obs: &Tensor,
        mask: &Tensor,
        draw: Draw,
        rng: &mut dyn rand::RngCore,
    ) -> Result<(Tensor, Tensor)> {
        let n = obs.dim(0)?;
        let k = draw.k;
        let c = self.encode(obs, mask)?.detach();
        let fdim = self.cfg.model.fdim;
        let cond_n = self.ebm.condition(&c)?;
        let rep = |t: &Tensor| -> Result<Tensor> {
            let w = t.dim(1)?;
            t.unsqueeze(1)?.broadcast_as((n, k, w))?.reshape((n * k, w))
        };
        let ck = rep(&c)?;
        let cond = EnergyCondition(rep(&cond_n.0)?);
        let l = &self.cfg.langevin;
        let shape = (n * k, self.cfg.model.zdim);
        let z0 = if self.device_noise && !self.device.is_cpu() {
            self.randn_on_device(rng, shape, l.prediction_init_sigma())?
        } else {
            randn(rng, shape, l.prediction_init_sigma(), &self.device)?
        };
        let noise = match draw.diffusion {
            Diffusion::On => Noise::Rng(rng),
            Diffusion::Off => Noise::Off,
        };
        let z = self.langevin_at(LangevinParams::predicting(l), &z0, &cond, draw.steps, noise)?;
        let (energy, _) = self.ebm.energy_and_grad(&z, &cond)?;
        let (_, fut) = self.decode(&ck, &z, self.anchor_rows(n * k, k)?.as_ref())?;
        debug_assert_eq!(ck.dim(1)?, fdim);
        Ok((fut, energy))
    }

    /// Training forward pass. `plan_gt` `[N, 2·subgoals]`; `z_neg0` are the chains'
    /// starting points (fresh or from the replay buffer); `noise` its random numbers.
    /// Returns the outputs and the negative samples reached (for the replay buffer).
    pub fn forward_train(
        &self,
        obs: &Tensor,
        mask: &Tensor,
        plan_gt: &Tensor,
        z_neg0: &Tensor,
        noise: &TrainNoise,
    ) -> Result<(TrainOutputs, Tensor)> {
        let n = obs.dim(0)?;
        let zdim = self.cfg.model.zdim;
        let steps = self.cfg.langevin.steps;
        if noise.eps.len() != n * zdim || noise.langevin.len() != steps * n * zdim {
            candle_core::bail!("forward_train: noise drawn for another batch size")
        }
        let c = self.encode(obs, mask)?;
        let cd = c.detach();
        // Negative samples from the prior (no gradient to anything).
        let z_neg = self.train_chains(z_neg0, &cd, &noise.langevin)?;
        // Posterior q(z | c, plan).
        let pf = self.enc_plan.forward(plan_gt)?;
        let lat = self
            .enc_latent
            .forward(&Tensor::cat(&[&c, &pf], D::Minus1)?)?;
        let mu = lat.narrow(1, 0, zdim)?;
        let logvar = lat.narrow(1, zdim, zdim)?;
        let eps = Tensor::from_slice(&noise.eps, (n, zdim), &self.device)?;
        let z_pos = (&mu + (eps * (&logvar * 0.5)?.exp()?)?)?;
        // With anchors: the posterior's latent is decoded at the anchor nearest the
        // true plan; winner takes all tries the prior's sample at the nearest few.
        let wta = self.cfg.train.anchor_wta;
        let near = match &self.anchors {
            Some(a) => {
                let l = wta.max(1);
                let idx = self.nearest_anchors(a, plan_gt, l)?;
                let first: Vec<u32> = idx.iter().step_by(l).copied().collect();
                let first = Tensor::from_vec(first, n, &self.device)?;
                Some((a.index_select(&first, 0)?, idx))
            }
            None => None,
        };
        let (plan, future) = self.decode(&c, &z_pos, near.as_ref().map(|(a, _)| a))?;
        let energy_pos = self.ebm.energy(&z_pos, &cd)?;
        let energy_neg = self.ebm.energy(&z_neg, &cd)?;
        let variety = match (&near, wta, self.cfg.train.variety_samples) {
            (Some((_, idx)), l, _) if l > 0 => Some(self.wta_futures(&c, &z_neg, idx, l)?),
            (_, _, 0) => None,
            (_, _, m) => Some(self.variety_futures(&c, m, noise)?),
        };
        Ok((
            TrainOutputs {
                plan,
                future,
                mu,
                logvar,
                energy_pos,
                energy_neg,
                variety,
            },
            z_neg,
        ))
    }

    /// The best-of-many futures `[N, M, 24]`: M chains per agent from the prior, run as
    /// at prediction time (fresh starts, diffusion on, the training step count), their
    /// latents detached, decoded with gradient to `c` and the decoders.
    fn variety_futures(&self, c: &Tensor, m: usize, noise: &TrainNoise) -> Result<Tensor> {
        let (n, fdim) = c.dims2()?;
        let zdim = self.cfg.model.zdim;
        let l = &self.cfg.langevin;
        if noise.variety != m || noise.variety_init.len() != n * m * zdim {
            candle_core::bail!("forward_train: best-of-many noise drawn for another size")
        }
        let rep = |t: &Tensor, w: usize| -> Result<Tensor> {
            t.unsqueeze(1)?.broadcast_as((n, m, w))?.reshape((n * m, w))
        };
        let cm = rep(c, fdim)?;
        let init: Vec<f32> = noise
            .variety_init
            .iter()
            .map(|v| v * l.init_sigma)
            .collect();
        let z0 = Tensor::from_vec(init, (n * m, zdim), &self.device)?;
        let z = self.train_chains(&z0, &cm.detach(), &noise.variety_langevin)?;
        let a = self.anchor_rows(n * m, m)?;
        let (_, fut) = self.decode(&cm, &z.detach(), a.as_ref())?;
        fut.reshape((n, m, PRED_LEN * 2))
    }

    /// Winner takes all over the anchors: each agent's prior sample `z` (detached)
    /// decoded at its `l` anchors `idx` (`[N·l]`, from [`Lbebm::nearest_anchors`]),
    /// `[N, l, 24]`, with gradient to `c`, the decoders and the anchors.
    fn wta_futures(&self, c: &Tensor, z: &Tensor, idx: &[u32], l: usize) -> Result<Tensor> {
        let Some(anchors) = &self.anchors else {
            candle_core::bail!("winner takes all needs plan anchors")
        };
        let (n, fdim) = c.dims2()?;
        let zdim = z.dim(1)?;
        let rep = |t: &Tensor, w: usize| -> Result<Tensor> {
            t.unsqueeze(1)?.broadcast_as((n, l, w))?.reshape((n * l, w))
        };
        let idx = Tensor::from_slice(idx, n * l, &self.device)?;
        let a = anchors.index_select(&idx, 0)?;
        let (_, fut) = self.decode(&rep(c, fdim)?, &rep(&z.detach(), zdim)?, Some(&a))?;
        fut.reshape((n, l, PRED_LEN * 2))
    }

    /// Training's prior chains: `langevin.steps` steps from `z0` given the detached
    /// context `cd`, with the drawn normals `noise`. On the CPU through the CPU chains
    /// (the tensor path's numbers up to rounding, several times faster for the small
    /// products of one batch), elsewhere through the tensor path.
    fn train_chains(&self, z0: &Tensor, cd: &Tensor, noise: &[f32]) -> Result<Tensor> {
        let l = &self.cfg.langevin;
        if self.device.is_cpu() {
            CpuEnergy::new(self.ebm.layers(), self.cfg.model.zdim)?.langevin_tensor(
                LangevinParams::of(l),
                z0,
                cd,
                l.steps,
                Noise::Drawn(noise),
            )
        } else {
            let cond = self.ebm.condition(cd)?;
            self.langevin(z0, &cond, l.steps, Noise::Drawn(noise))
        }
    }
}

/// The tensor path's chains: `z` on the model's device.
struct TensorChains<'a> {
    model: &'a Lbebm,
    cond: &'a EnergyCondition,
    z: Tensor,
    rows: usize,
    zdim: usize,
    /// Take the noise of all steps at once (one upload instead of one per step).
    upfront: bool,
    /// That noise, already times s·√T, `[steps·rows, zdim]`.
    all: Option<Tensor>,
}

impl Chains for TensorChains<'_> {
    fn len(&self) -> usize {
        self.rows * self.zdim
    }

    fn drift(&mut self, p: LangevinParams) -> Result<()> {
        let (_, g) = self.model.ebm.energy_and_grad(&self.z, self.cond)?;
        // In f64, as candle's scalar operations take them.
        let s = p.step_size as f64;
        let inv_var = 1.0 / (p.prior_sigma as f64 * p.prior_sigma as f64);
        let drift = (g + (&self.z * inv_var)?)?;
        self.z = (&self.z - (drift * (0.5 * s * s))?)?;
        Ok(())
    }

    fn diffuse(&mut self, p: LangevinParams, eps: &[f32]) -> Result<()> {
        let s = p.noise_scale();
        let e: Vec<f32> = eps.iter().map(|v| v * s).collect();
        let e = Tensor::from_vec(e, (self.rows, self.zdim), &self.model.device)?;
        self.z = (&self.z + e)?;
        Ok(())
    }

    fn take_all_noise(
        &mut self,
        p: LangevinParams,
        steps: usize,
        noise: &mut Noise<'_>,
    ) -> Result<bool> {
        if !self.upfront {
            return Ok(false);
        }
        let shape = (steps * self.rows, self.zdim);
        let dev = &self.model.device;
        self.all = match noise {
            Noise::Off => return Ok(false),
            Noise::Rng(r) if self.model.device_noise => {
                Some(self.model.randn_on_device(*r, shape, p.noise_scale())?)
            }
            Noise::Rng(r) => Some(randn(*r, shape, p.noise_scale(), dev)?),
            Noise::Drawn(d) => {
                let s = p.noise_scale();
                let e: Vec<f32> = d[..shape.0 * shape.1].iter().map(|v| v * s).collect();
                Some(Tensor::from_vec(e, shape, dev)?)
            }
        };
        Ok(true)
    }

    fn diffuse_own(&mut self, step: usize) -> Result<()> {
        let Some(all) = &self.all else {
            candle_core::bail!("langevin: no noise taken")
        };
        self.z = (&self.z + all.narrow(0, step * self.rows, self.rows)?)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::test_util::bits;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    /// Noise uploaded once for all steps (the GPU's way) gives the chains of the
    /// per-step draws, bit for bit, for every kind of noise.
    #[test]
    fn upfront_noise_gives_the_same_chains() -> Result<()> {
        let cfg = Config::default()
            .check()
            .map_err(|e| candle_core::Error::Msg(e.to_string()))?;
        // Weights as candle initialises them: any will do.
        let vm = candle_nn::VarMap::new();
        let vb = VarBuilder::from_varmap(&vm, candle_core::DType::F32, &Device::Cpu);
        let m = Lbebm::new(&cfg, vb)?;
        let (rows, zdim, steps) = (6, cfg.model.zdim, 5);
        let mut r = StdRng::seed_from_u64(1);
        let c = randn(&mut r, (rows, cfg.model.fdim), 1.0, &Device::Cpu)?;
        let cond = m.energy_net().condition(&c)?;
        let z0 = randn(&mut r, (rows, zdim), 2.0, &Device::Cpu)?;
        let drawn: Vec<f32> = randn(&mut r, (steps * rows, zdim), 1.0, &Device::Cpu)?
            .flatten_all()?
            .to_vec1()?;
        let p = LangevinParams::of(&cfg.langevin);
        for upfront in [false, true] {
            let off = m.langevin_with(p, &z0, &cond, steps, Noise::Off, upfront)?;
            assert_eq!(
                bits(&off),
                bits(&m.langevin(&z0, &cond, steps, Noise::Off)?)
            );
        }
        // At a prediction temperature other than 1 too, which scales the noise.
        let mut warm = cfg.langevin.clone();
        warm.test_temperature = 0.5;
        let q = LangevinParams::predicting(&warm);
        for p in [p, q] {
            let per_step = m.langevin_with(p, &z0, &cond, steps, Noise::Drawn(&drawn), false)?;
            let upfront = m.langevin_with(p, &z0, &cond, steps, Noise::Drawn(&drawn), true)?;
            assert_eq!(bits(&per_step), bits(&upfront));
        }
        let mut r1 = StdRng::seed_from_u64(9);
        let mut r2 = StdRng::seed_from_u64(9);
        let per_step = m.langevin_with(p, &z0, &cond, steps, Noise::Rng(&mut r1), false)?;
        let upfront = m.langevin_with(p, &z0, &cond, steps, Noise::Rng(&mut r2), true)?;
        assert_eq!(bits(&per_step), bits(&upfront));
        // Both consumed the same numbers from the generator.
        assert_eq!(
            rand::RngCore::next_u64(&mut r1),
            rand::RngCore::next_u64(&mut r2)
        );
        // Too little drawn noise is an error, not a panic.
        assert!(m
            .langevin_with(p, &z0, &cond, steps, Noise::Drawn(&drawn[1..]), true)
            .is_err());
        Ok(())
    }
}
