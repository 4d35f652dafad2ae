//! Model, sampler and training settings, read from TOML and validated once into a
//! [`CheckedConfig`].

use crate::ModelError;
use lbebm_types::OBS_LEN;
use serde::{Deserialize, Serialize};

/// Network sizes. Defaults are the reference ETH/UCY sizes of the paper's code.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ModelConfig {
    /// Width of the per-agent context feature `c`.
    pub fdim: usize,
    /// Width of the latent belief `z`.
    pub zdim: usize,
    /// Positions are multiplied by this before entering the network (metres → model units).
    pub data_scale: f32,
    /// Future step indexes (0-based) that form the sparse plan.
    pub subgoals: Vec<usize>,
    /// Hidden widths of the past encoder (8 observed steps → `fdim`).
    pub enc_past: Vec<usize>,
    /// Hidden widths of the plan encoder (sub-goals → `fdim`).
    pub enc_plan: Vec<usize>,
    /// Hidden widths of the posterior encoder (`[c; plan]` → mean and log-variance).
    pub enc_latent: Vec<usize>,
    /// Hidden widths of the plan decoder (`[c; z]` → sub-goals).
    pub dec_plan: Vec<usize>,
    /// Hidden widths of the trajectory decoder (`[c; plan features]` → 12 steps).
    pub dec_traj: Vec<usize>,
    /// Social pooling on (the reference code passes no mask on ETH/UCY; we pool).
    pub social: bool,
    /// Hidden widths of social pooling's θ (queries).
    pub nl_theta: Vec<usize>,
    /// Hidden widths of social pooling's φ (keys).
    pub nl_phi: Vec<usize>,
    /// Hidden widths of social pooling's g (values).
    pub nl_g: Vec<usize>,
    /// Width of the θ/φ embeddings whose dot products give the affinities.
    pub nl_dim: usize,
    /// Rounds of social pooling.
    pub nl_rounds: usize,
    /// Neighbourhood of social pooling in metres (0: the whole scene): an agent pools
    /// only over the agents of its scene within this distance of it at the last observed
    /// step (itself included), as PECNet's data pipeline, which the paper's code uses on
    /// the Stanford Drone Dataset, masks pooling by distance. The affinities carry no
    /// geometry of their own (every agent is encoded in its own frame); the radius brings
    /// the distance between two agents in.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub social_radius: f32,
    /// Nearest neighbours the past encoder reads beside the agent's own history (0: none):
    /// for each of the `neighbours` agents of its scene nearest to it at the last observed
    /// step, a presence flag, the neighbour's last position and its last step, all in the
    /// agent's own frame ([`crate::batch::NEIGHBOUR_FEATURES`] numbers each; absent ones
    /// are zeros). Social pooling's affinities see no geometry; this puts where the
    /// neighbours are and where they go into the agent's context directly.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub neighbours: usize,
    /// Metres within which `neighbours` counts an agent (0: no limit): farther ones are
    /// absent (zeros), so the inputs stay bounded and a walker across the plaza does not
    /// stand in for a near one that is not there.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub neighbour_range: f32,
    /// Hidden width of social pooling's edge net (0: none). With it every affinity gains
    /// a learned term of the pair's geometry: the edge net (ReLU, one hidden layer, scalar
    /// out) reads where the other agent was last and its last step, in the agent's own
    /// frame, in metres ([`crate::batch::EDGE_FEATURES`] numbers), so that pooling can
    /// weigh a neighbour by where it is and where it goes, not by its features alone.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub social_edges: usize,
    /// Hidden widths of the energy net (GELU between layers, scalar out).
    pub ebm_hidden: Vec<usize>,
    /// The frame each agent's positions are given to the network in.
    pub frame: Frame,
    /// Speed normalisation (0: off): each agent's positions are scaled by
    /// `speed_ref / v` (clamped to `speed_clamp`), `v` its mean observed step length in
    /// metres, so that every agent enters the network at about this speed per 0.4 s
    /// step and its prediction is scaled back. Scenes recorded at other speeds (ETH's
    /// test file moves about twice as far per step as any training scene) then look
    /// familiar.
    pub speed_ref: f32,
    /// Smallest and largest factor of speed normalisation: `[x, 1]` only slows fast
    /// agents down; a large upper end blows up the jitter of agents standing still.
    pub speed_clamp: [f32; 2],
    /// Rank of the trajectory space (0: off, the decoder writes the 24 coordinates
    /// directly): the trajectory decoder writes this many coefficients of a basis of
    /// futures (a linear layer `dec_traj_basis`, rank → 24), as in EigenTrajectory's
    /// low-rank space. Training starts the basis at the principal components of the
    /// training futures and their mean ([`crate::train::start_from_training_data`]) and
    /// trains it on. At prediction the basis is folded into the decoder's last layer,
    /// so it costs nothing there.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub traj_rank: usize,
    /// Plan anchors (0: off), as EigenTrajectory's: this many fixed sub-goal plans (a
    /// variable `anchors`, `[anchors, 2·subgoals]`, started at the k-means centres of the
    /// training plans, [`crate::train::start_from_training_data`], and trained on). The plan
    /// decoder then reads the anchor beside `[c; z]` and writes the plan as the anchor
    /// plus a correction. Training decodes the posterior's latent at the anchor nearest
    /// the true plan; prediction spreads the candidates over the anchors in turn
    /// (candidate j of an agent at anchor j mod `anchors`), so that each anchor is
    /// refined by the context and the latent instead of the cloud having to reach it.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub anchors: usize,
}

/// The frame of an agent's model inputs and outputs. Both put the origin at the last
/// observed position; they differ in the rotation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Frame {
    /// World axes (rotated by the training augmentation only).
    #[default]
    World,
    /// Rotated so that the agent's recent heading points along +x (agents that stand
    /// still keep the world axes): the network never has to learn rotation invariance.
    Heading,
}

impl Default for ModelConfig {
    fn default() -> Self {
        Self {
            fdim: 16,
            zdim: 16,
            data_scale: 60.0,
            subgoals: vec![2, 5, 8, 11],
            enc_past: vec![512, 256],
            enc_plan: vec![8, 16],
            enc_latent: vec![8, 50],
            dec_plan: vec![1024, 512, 1024],
            dec_traj: vec![1024, 512, 256],
            social: true,
            nl_theta: vec![256, 128, 64],
            nl_phi: vec![256, 128, 64],
            nl_g: vec![256, 128, 64],
            nl_dim: 128,
            nl_rounds: 3,
            social_radius: 0.0,
            neighbours: 0,
            neighbour_range: 0.0,
            social_edges: 0,
            ebm_hidden: vec![200, 200],
            frame: Frame::World,
            speed_ref: 0.0,
            speed_clamp: [0.25, 4.0],
            traj_rank: 0,
            anchors: 0,
        }
    }
}

/// Short-run Langevin dynamics in latent space.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LangevinConfig {
    /// σ of the Gaussian reference density N(0, σ²I) of the prior.
    pub prior_sigma: f32,
    /// σ of the chains' initial distribution.
    pub init_sigma: f32,
    /// Steps during training.
    pub steps: usize,
    /// Step size s: z ← z − ½s²(∂E/∂z + z/σ²) + s·ε.
    pub step_size: f32,
    /// Steps at prediction time (may exceed the training steps).
    pub test_steps: usize,
    /// Temperature T of the chains at prediction time: the noise term is s·√T·ε, so that
    /// they sample exp(−(E(z,c) + |z|²/2σ²)/T), settling deeper into the energy's wells
    /// below 1. Training's chains keep T = 1 (the contrastive term needs the prior itself),
    /// and so does training's validation: the temperature is chosen afterwards on
    /// validation with the checkpoint kept.
    pub test_temperature: f32,
    /// Prediction only: σ of prediction's chains' starting points, in place of
    /// `init_sigma` (absent: `init_sigma`). Twenty steps do not forget where a chain
    /// starts, so this shapes the candidates' spread. Training's chains, best of many's and
    /// training's validation keep `init_sigma`, so that adding it to a trained config
    /// retrains the same weights.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub test_init_sigma: Option<f32>,
    /// Replay buffer size for persistent chains in training (0 turns PCD off).
    pub replay_size: usize,
    /// Prediction only: draw this many candidates per agent and return K that cover
    /// them (k-means over whole trajectories; the member nearest each centre or the
    /// centre itself, see [`RankConfig::cover`]). 0 or ≤ K: the K samples as drawn.
    pub candidates: usize,
}

impl LangevinConfig {
    /// σ of prediction's chains' starting points: `test_init_sigma`, else `init_sigma`.
    pub fn prediction_init_sigma(&self) -> f32 {
        self.test_init_sigma.unwrap_or(self.init_sigma)
    }
}

impl Default for LangevinConfig {
    fn default() -> Self {
        Self {
            prior_sigma: 2.0,
            init_sigma: 2.0,
            steps: 20,
            step_size: 0.4,
            test_steps: 20,
            test_temperature: 1.0,
            test_init_sigma: None,
            replay_size: 10_000,
            candidates: 0,
        }
    }
}

/// How the K returned samples are scored and ranked (prediction only; see
/// [`crate::rank`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RankConfig {
    /// What a sample's score is.
    pub method: RankMethod,
    /// Kernel bandwidth of [`RankMethod::Density`], metres (RMS over the 12 steps).
    pub bandwidth: f32,
    /// σ (metres, RMS over the 12 steps) of a Gaussian prior centred on the
    /// extrapolation of the last observed velocity (see `cv_decay`), multiplied into the
    /// density (0: off).
    pub cv_sigma: f32,
    /// Return the best-scoring candidate among the K (in place of the covering member
    /// nearest to it), so that rank 0 is the mode of the candidates.
    pub mode_first: bool,
    /// With `mode_first`: mean-shift iterations that move the rank-0 trajectory from
    /// that candidate to the kernel-weighted mean of its neighbours (0: the candidate
    /// as drawn). An average of nearby samples is a smoother, better single guess.
    pub mean_shift: usize,
    /// With `mode_first`: the share of the extrapolation of the last observed velocity
    /// (see `cv_decay`) blended into the rank-0 trajectory, in [0, 1] (shrinkage towards
    /// the observed motion), at the first predicted step.
    pub cv_blend: f32,
    /// The share at the last predicted step, in [0, 1], linear in between (unset: the
    /// same as `cv_blend` throughout). Constant velocity is a better guess near the
    /// present than far ahead, where the model knows more about turns and stops.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cv_blend_last: Option<f32>,
    /// With `mode_first`: the best guess (rank 0) takes a slot of its own, beside K − 1
    /// covering samples, instead of replacing the covering member of its cluster. A
    /// guess moved towards the centre (mean shift, blend) then costs the cover nothing.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub guess_extra: bool,
    /// What each covering sample is: the candidate nearest its k-means centre, or the
    /// centre itself (the mean of its cluster).
    #[serde(default, skip_serializing_if = "Cover::is_member")]
    pub cover: Cover,
    /// The factor, in (0, 1], that the observed velocity is multiplied by at each
    /// predicted step of the motion prior (`cv_sigma`) and the blend (`cv_blend`):
    /// 1 is constant velocity. Below 1 the guess slows down along the way, as the mean
    /// of futures whose heading and speed are uncertain does.
    #[serde(default = "one", skip_serializing_if = "is_one")]
    pub cv_decay: f32,
    /// The observed velocity of `cv_sigma` and `cv_blend` is the mean over this many
    /// last observed steps, 1 to 7 (1: the last step alone); with `cv_tolerance` the
    /// longest window. A longer window averages out a tracker's jitter.
    #[serde(default = "one", skip_serializing_if = "is_one")]
    pub cv_window: usize,
    /// Metres per step (0: off). Each agent's window is the shortest, up to
    /// `cv_window`, whose velocity noise is below this: the noise is estimated from the
    /// jitter of the observed track itself (its second differences), so a clean track
    /// keeps its last step and a noisy one is averaged over more.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub cv_tolerance: f32,
    /// Metres per step (0: off). An agent observed at a speed of at least
    /// `cv_slowing_from` metres per step slows by the share `cv_slowing / speed` per
    /// predicted step where that is more than `1 − cv_decay`: about the same loss of
    /// speed for every walker, so slow ones, likelier to stop or turn, slow down sooner.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub cv_slowing: f32,
    /// Metres per step: agents slower than this keep `cv_decay` (a near-still agent's
    /// slow drift goes on as it was).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub cv_slowing_from: f32,
}

/// What a covering sample is (see [`RankConfig::cover`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Cover {
    /// The drawn candidate nearest each k-means centre: every sample is one the model
    /// drew.
    #[default]
    Member,
    /// The k-means centre: the mean of the candidates it stands for. The centres are
    /// the K points that are closest to the candidates on average, which is what
    /// best-of-K rewards when the truth is distributed like the candidates.
    Centre,
}

impl Cover {
    fn is_member(&self) -> bool {
        *self == Cover::Member
    }
}

impl Default for RankConfig {
    fn default() -> Self {
        Self {
            method: RankMethod::Energy,
            bandwidth: 0.5,
            cv_sigma: 0.0,
            mode_first: false,
            mean_shift: 0,
            cv_blend: 0.0,
            cv_blend_last: None,
            guess_extra: false,
            cover: Cover::Member,
            cv_decay: 1.0,
            cv_window: 1,
            cv_tolerance: 0.0,
            cv_slowing: 0.0,
            cv_slowing_from: 0.0,
        }
    }
}

/// What a sample's score is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RankMethod {
    /// The prior's energy of the latent belief (lower energy ranks first).
    Energy,
    /// Kernel density of the drawn candidates at the trajectory (its mode ranks first).
    Density,
}

/// Reduction of a per-agent loss term over a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Reduction {
    /// Summed over agents.
    Sum,
    /// Averaged over agents.
    Mean,
}

/// Optimisation and loss weights.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrainConfig {
    /// Seed of initialisation, shuffling, augmentation and the sampler's noise.
    pub seed: u64,
    /// Epochs to run at most.
    pub epochs: usize,
    /// Agents per batch (whole scenes are kept together).
    pub batch_agents: usize,
    /// Adam's learning rate.
    pub lr: f64,
    /// Multiply the learning rate by `lr_gamma` every `lr_step` epochs.
    pub lr_step: usize,
    /// Factor of the step decay.
    pub lr_gamma: f64,
    /// Weight of the sub-goal reconstruction loss.
    pub plan_coef: f64,
    /// Weight of the trajectory reconstruction loss.
    pub future_coef: f64,
    /// Weight of the KL term.
    pub kld_coef: f64,
    /// How the KL term is reduced over the batch. The reference code sums it (so its
    /// weight grows with the batch); `mean` makes it per agent.
    pub kld_reduction: Reduction,
    /// Weight of the contrastive-divergence term of the energy prior.
    pub cd_coef: f64,
    /// Weight of `mean(E_pos² + E_neg²)`: keeps the energies bounded. The contrastive
    /// term is linear in E and can run away (seen here after 7 epochs: the energy gap
    /// reached −2e5 and validation ADE went from 0.24 to 2.3); 0 is the reference code.
    pub energy_reg: f64,
    /// Weight of the loss tying the predicted sub-goals to the predicted trajectory.
    pub subgoal_coef: f64,
    /// Random rotation of whole scenes.
    pub rotate: bool,
    /// Mirror half of the training scenes (y → −y): walking has no handedness that the
    /// few training scenes should teach.
    pub mirror: bool,
    /// σ of a log-normal factor that scales whole training scenes (0: off): speeds vary
    /// between scenes and recordings more than within the few training scenes.
    pub scale_sigma: f64,
    /// Samples for validation best-of-K.
    pub val_samples: usize,
    /// Validate as the checkpoint will predict: `langevin.candidates` drawn and covered
    /// (slower). Off: K plain samples. The epoch that is best on plain samples need not
    /// be best once covered (seen on eth/val: 0.218 → 0.207 covered at epoch 10, while
    /// epoch 7 covered to 0.201).
    pub val_covering: bool,
    /// Candidates drawn per agent when validating with `val_covering` (0: as many as
    /// `langevin.candidates`, as the checkpoint will predict). Fewer keeps every epoch's
    /// validation cheap where prediction draws many: covering 300 candidates costs about
    /// 2.6 times as much as 120, and the epochs rank alike.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub val_candidates: usize,
    /// Stop when validation ADE has not improved for this many epochs (0: never).
    pub patience: usize,
    /// Each batch is cut into this many parts (whole scenes) whose gradients are
    /// computed side by side on the worker threads and summed, weighted by agents: the
    /// gradient of the whole batch, with the same random numbers. The result depends on
    /// this number (float summation order), never on the thread count. The shipped
    /// models were trained as one part, before the fused layers of `crate::fused`;
    /// training their configs again gives runs that differ from them by float rounding.
    pub batch_parts: usize,
    /// Best of many (0: off): draw this many latents per agent from the energy prior
    /// (Langevin as at prediction time, no gradient), decode each, and add the smallest
    /// of their squared errors to the loss, times `variety_coef`. The decoders then
    /// learn to spread what the prior's samples become so that one of them lands near
    /// the truth: what best-of-K measures and covering relies on. The reconstruction
    /// term alone only trains them on the posterior's latents.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub variety_samples: usize,
    /// Epochs over which the KL weight ramps up linearly from 0 to `kld_coef` (0: full
    /// weight from the start).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub kld_warmup: usize,
    /// Weight of the best-of-many term (per agent, like the trajectory loss).
    #[serde(default = "one", skip_serializing_if = "is_one")]
    pub variety_coef: f64,
    /// Extra weight of the last step in the best-of-many error (0: off): each sample's
    /// error is its mean squared error over the 12 steps plus this times the squared
    /// error of its end point (mean over x and y), both in choosing the best sample and
    /// in the term itself. Best-of-20 FDE counts the end point alone, and where the
    /// walker ends up is what the 12-step mean weighs least.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub variety_endpoint: f64,
    /// σ (metres, per coordinate) of Gaussian noise added to the observed positions of
    /// training agents (0: off); the futures stay clean. Real trackers jitter (the BIWI
    /// recordings, ETH and HOTEL, do by about 0.02–0.04 m), the UCY training scenes
    /// hardly: a model that saw only smooth histories reads jitter as motion.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub obs_noise: f64,
    /// Decoupled weight decay (AdamW; 0: off): each step multiplies every weight by
    /// `1 − lr·weight_decay`. A regulariser against the overfitting of the few training
    /// scenes that validation shows after about 8 epochs.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub weight_decay: f64,
    /// Decay of an exponential moving average of the weights, updated after every step
    /// (0: off). On, validation and the saved checkpoints use the average, training goes
    /// on with the raw weights: the contrastive energy term makes the raw weights noisy
    /// from batch to batch. The first steps average faster (`min(ema, (1 + t)/(10 + t))`).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub ema: f64,
    /// Winner takes all over the plan anchors (0: off; needs `model.anchors`): the prior's
    /// sample of each agent (the contrastive term's negative) is decoded, without
    /// gradient to the prior, at the this many anchors nearest the true plan, and the
    /// smallest squared error is added to the loss, times `variety_coef`: the best of
    /// the anchored outputs is pulled towards the truth, as EigenTrajectory trains its
    /// anchors. The nearest few stand in for all of them: the winner is almost always
    /// among them, and each decode costs as much as a Langevin chain.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub anchor_wta: usize,
}

/// The most plan anchors a model may have (k-means over the training plans at start).
pub const MAX_ANCHORS: usize = 256;

/// Whether a setting that is off at zero (an integer or a float) is left unwritten.
fn is_zero<T: Default + PartialEq>(v: &T) -> bool {
    *v == T::default()
}
/// 1 in any number type: the serde default of settings that are off at 1.
fn one<T: From<u8>>() -> T {
    T::from(1)
}
fn is_one<T: From<u8> + PartialEq>(v: &T) -> bool {
    *v == T::from(1)
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            seed: 1,
            epochs: 30,
            batch_agents: 256,
            lr: 3e-4,
            lr_step: 10,
            lr_gamma: 0.5,
            plan_coef: 2.0,
            future_coef: 1.0,
            kld_coef: 0.5,
            kld_reduction: Reduction::Sum,
            cd_coef: 1.0,
            energy_reg: 0.0,
            subgoal_coef: 1.0,
            rotate: true,
            mirror: false,
            scale_sigma: 0.0,
            val_samples: 20,
            val_covering: false,
            val_candidates: 0,
            patience: 0,
            batch_parts: 2,
            variety_samples: 0,
            kld_warmup: 0,
            variety_coef: 1.0,
            variety_endpoint: 0.0,
            obs_noise: 0.0,
            weight_decay: 0.0,
            ema: 0.0,
            anchor_wta: 0,
        }
    }
}

/// Everything a training run or a checkpoint is defined by.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Network sizes and frame.
    pub model: ModelConfig,
    /// The Langevin sampler.
    pub langevin: LangevinConfig,
    /// Optimisation and loss weights.
    pub train: TrainConfig,
    /// Scoring and ranking the returned samples (prediction only).
    pub rank: RankConfig,
}

/// A [`Config`] that passed [`Config::check`].
#[derive(Debug, Clone, PartialEq)]
pub struct CheckedConfig(Config);

impl std::ops::Deref for CheckedConfig {
    type Target = Config;
    fn deref(&self) -> &Config {
        &self.0
    }
}

impl CheckedConfig {
    /// The config itself.
    pub fn into_inner(self) -> Config {
        self.0
    }
}

fn bad(msg: String) -> ModelError {
    ModelError::Config(msg)
}

impl Config {
    /// Parses TOML; errors are one line: `TOML parse error at line L (the line): message`.
    pub fn from_toml(text: &str) -> Result<Self, ModelError> {
        toml::from_str(text).map_err(|e| {
            let msg = e.message().replace(['\n', '\r'], " ");
            let Some(span) = e.span() else {
                return bad(format!("TOML parse error: {}", msg.trim()));
            };
            let start = span.start.min(text.len());
            let line_no = text.as_bytes()[..start]
                .iter()
                .filter(|&&b| b == b'\n')
                .count()
                + 1;
            let line: String = text
                .lines()
                .nth(line_no - 1)
                .unwrap_or("")
                .trim()
                .chars()
                .take(60)
                .collect();
            bad(format!(
                "TOML parse error at line {line_no} ({line:?}): {}",
                msg.trim()
            ))
        })
    }

    /// The config as TOML (what a checkpoint folder stores).
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).unwrap_or_default()
    }

    /// Validates every field once; the rest of the crate trusts a [`CheckedConfig`].
    pub fn check(self) -> Result<CheckedConfig, ModelError> {
        let m = &self.model;
        let pos = |v: usize, n: &str| {
            if v == 0 {
                Err(bad(format!("{n} must be positive")))
            } else {
                Ok(())
            }
        };
        pos(m.fdim, "model.fdim")?;
        pos(m.zdim, "model.zdim")?;
        pos(m.nl_dim, "model.nl_dim")?;
        if !(m.data_scale.is_finite() && m.data_scale > 0.0) {
            return Err(bad("model.data_scale must be a positive number".into()));
        }
        if !(m.speed_ref.is_finite() && m.speed_ref >= 0.0) {
            return Err(bad("model.speed_ref must be a non-negative number".into()));
        }
        if !(m.social_radius.is_finite() && m.social_radius >= 0.0) {
            return Err(bad(
                "model.social_radius must be a non-negative number of metres".into(),
            ));
        }
        if m.neighbours > 16 {
            return Err(bad("model.neighbours must be at most 16".into()));
        }
        if !(m.neighbour_range.is_finite() && m.neighbour_range >= 0.0) {
            return Err(bad(
                "model.neighbour_range must be a non-negative number of metres".into(),
            ));
        }
        if m.neighbour_range > 0.0 && m.neighbours == 0 {
            return Err(bad(
                "model.neighbour_range needs model.neighbours > 0".into()
            ));
        }
        if m.social_edges > 256 {
            return Err(bad("model.social_edges must be at most 256".into()));
        }
        if m.social_edges > 0 && !m.social {
            return Err(bad("model.social_edges needs model.social = true".into()));
        }
        if m.social_radius > 0.0 && !m.social {
            return Err(bad("model.social_radius needs model.social = true".into()));
        }
        let [lo, hi] = m.speed_clamp;
        if !(lo.is_finite() && hi.is_finite() && lo > 0.0 && lo <= hi) {
            return Err(bad(
                "model.speed_clamp must be [lo, hi] with 0 < lo <= hi".into()
            ));
        }
        if m.subgoals.is_empty() {
            return Err(bad(
                "model.subgoals must name at least one future step".into()
            ));
        }
        if m.subgoals.windows(2).any(|w| w[0] >= w[1])
            || m.subgoals.iter().any(|&i| i >= lbebm_types::PRED_LEN)
        {
            return Err(bad(format!(
                "model.subgoals must be increasing step indexes below {}",
                lbebm_types::PRED_LEN
            )));
        }
        for (n, v) in [
            ("enc_past", &m.enc_past),
            ("enc_plan", &m.enc_plan),
            ("enc_latent", &m.enc_latent),
            ("dec_plan", &m.dec_plan),
            ("dec_traj", &m.dec_traj),
            ("nl_theta", &m.nl_theta),
            ("nl_phi", &m.nl_phi),
            ("nl_g", &m.nl_g),
            ("ebm_hidden", &m.ebm_hidden),
        ] {
            if v.contains(&0) {
                return Err(bad(format!("model.{n}: layer widths must be positive")));
            }
        }
        if m.traj_rank > lbebm_types::PRED_LEN * 2 {
            return Err(bad(format!(
                "model.traj_rank must be at most {} (the future's coordinates; 0: off)",
                lbebm_types::PRED_LEN * 2
            )));
        }
        if m.ebm_hidden.is_empty() {
            return Err(bad("model.ebm_hidden needs at least one layer".into()));
        }
        if m.anchors > MAX_ANCHORS {
            return Err(bad(format!(
                "model.anchors must be at most {MAX_ANCHORS} (0: off)"
            )));
        }
        let l = &self.langevin;
        for (n, v) in [
            ("prior_sigma", l.prior_sigma),
            ("init_sigma", l.init_sigma),
            ("step_size", l.step_size),
            ("test_temperature", l.test_temperature),
            ("test_init_sigma", l.prediction_init_sigma()),
        ] {
            if !(v.is_finite() && v > 0.0) {
                return Err(bad(format!("langevin.{n} must be a positive number")));
            }
        }
        let t = &self.train;
        let r = &self.rank;
        for (n, v) in [("bandwidth", r.bandwidth), ("cv_sigma", r.cv_sigma)] {
            if !(v.is_finite() && v >= 0.0) {
                return Err(bad(format!("rank.{n} must be a non-negative number")));
            }
        }
        if !(r.cv_blend.is_finite() && (0.0..=1.0).contains(&r.cv_blend)) {
            return Err(bad("rank.cv_blend must be in [0, 1]".into()));
        }
        if let Some(l) = r.cv_blend_last {
            if !(l.is_finite() && (0.0..=1.0).contains(&l)) {
                return Err(bad("rank.cv_blend_last must be in [0, 1]".into()));
            }
        }
        if !(r.cv_decay.is_finite() && r.cv_decay > 0.0 && r.cv_decay <= 1.0) {
            return Err(bad("rank.cv_decay must be in (0, 1]".into()));
        }
        if !(1..OBS_LEN).contains(&r.cv_window) {
            return Err(bad(format!(
                "rank.cv_window must be 1 to {} (observed steps)",
                OBS_LEN - 1
            )));
        }
        for (v, n) in [
            (r.cv_tolerance, "cv_tolerance"),
            (r.cv_slowing, "cv_slowing"),
            (r.cv_slowing_from, "cv_slowing_from"),
        ] {
            if !(v.is_finite() && v >= 0.0) {
                return Err(bad(format!("rank.{n} must be a non-negative number")));
            }
        }
        if r.method == RankMethod::Density && r.bandwidth == 0.0 {
            return Err(bad(
                "rank.bandwidth must be positive for the density method".into(),
            ));
        }
        pos(t.batch_agents, "train.batch_agents")?;
        pos(t.val_samples, "train.val_samples")?;
        pos(t.lr_step, "train.lr_step")?;
        pos(t.batch_parts, "train.batch_parts")?;
        if !(t.lr.is_finite() && t.lr > 0.0) {
            return Err(bad("train.lr must be a positive number".into()));
        }
        if !(t.lr_gamma.is_finite() && t.lr_gamma > 0.0 && t.lr_gamma <= 1.0) {
            return Err(bad("train.lr_gamma must be in (0, 1]".into()));
        }
        for (n, v) in [
            ("plan_coef", t.plan_coef),
            ("future_coef", t.future_coef),
            ("kld_coef", t.kld_coef),
            ("cd_coef", t.cd_coef),
            ("energy_reg", t.energy_reg),
            ("subgoal_coef", t.subgoal_coef),
            ("scale_sigma", t.scale_sigma),
            ("variety_coef", t.variety_coef),
            ("variety_endpoint", t.variety_endpoint),
            ("obs_noise", t.obs_noise),
            ("weight_decay", t.weight_decay),
        ] {
            if !(v.is_finite() && v >= 0.0) {
                return Err(bad(format!("train.{n} must be a non-negative number")));
            }
        }
        if t.anchor_wta > m.anchors {
            return Err(bad(format!(
                "train.anchor_wta ({}) must be at most model.anchors ({}; 0: off)",
                t.anchor_wta, m.anchors
            )));
        }
        if t.variety_endpoint > 0.0 && t.anchor_wta == 0 && t.variety_samples == 0 {
            return Err(bad(
                "train.variety_endpoint weighs the best-of-many term: it needs \
                 train.variety_samples (or train.anchor_wta)"
                    .into(),
            ));
        }
        if t.anchor_wta > 0 && t.variety_samples > 0 {
            return Err(bad(
                "train.anchor_wta and train.variety_samples are two kinds of best of many: set one"
                    .into(),
            ));
        }
        if t.val_candidates > 0 && !t.val_covering {
            return Err(bad(
                "train.val_candidates needs train.val_covering (plain validation draws no candidates)"
                    .into(),
            ));
        }
        if t.val_candidates > 0 && t.val_candidates <= t.val_samples {
            return Err(bad(format!(
                "train.val_candidates ({}) must exceed train.val_samples ({}) to cover anything (0: langevin.candidates)",
                t.val_candidates, t.val_samples
            )));
        }
        if !(t.ema.is_finite() && (0.0..1.0).contains(&t.ema)) {
            return Err(bad("train.ema must be in [0, 1) (0: off)".into()));
        }
        if t.weight_decay * t.lr >= 1.0 {
            return Err(bad(
                "train.weight_decay times train.lr must be below 1 (it shrinks every weight by that share per step)".into(),
            ));
        }
        Ok(CheckedConfig(self))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The error that checking the config written as `text` gives (it must fail).
    fn rejection(text: &str) -> String {
        Config::from_toml(text)
            .unwrap()
            .check()
            .unwrap_err()
            .to_string()
    }

    /// Every one of `texts` is refused by a check whose message names `key`.
    fn rejects_naming(key: &str, texts: &[&str]) {
        for text in texts {
            let e = rejection(text);
            assert!(e.contains(key), "{text}: {e}");
        }
    }

    #[test]
    fn toml_round_trip_and_validation() {
        let c = Config::default();
        let back = Config::from_toml(&c.to_toml()).unwrap();
        assert_eq!(c, back);
        assert!(back.check().is_ok());
        let mut bad = Config::default();
        bad.model.subgoals = vec![5, 2];
        assert!(bad.check().unwrap_err().to_string().contains("subgoals"));
        assert!(Config::from_toml("[model]\nfdimm = 3\n").is_err());
        let partial = Config::from_toml("[train]\nepochs = 3\n").unwrap();
        assert_eq!(partial.train.epochs, 3);
        assert_eq!(partial.model, ModelConfig::default());
    }

    #[test]
    fn trajectory_rank_is_at_most_the_future_s_coordinates_and_unwritten_when_off() {
        let c = Config::from_toml("[model]\ntraj_rank = 25\n").unwrap();
        let e = c.check().unwrap_err().to_string();
        assert!(e.contains("model.traj_rank"), "{e}");
        let c = Config::from_toml("[model]\ntraj_rank = 6\n").unwrap();
        assert!(c.to_toml().contains("traj_rank = 6"));
        assert!(c.check().is_ok());
        assert!(!Config::default().to_toml().contains("traj_rank"));
    }

    #[test]
    fn the_prediction_starting_sigma_is_checked_falls_back_and_is_unwritten_when_unset() {
        rejects_naming(
            "langevin.test_init_sigma",
            &[
                "[langevin]\ntest_init_sigma = 0.0\n",
                "[langevin]\ntest_init_sigma = -1.6\n",
                "[langevin]\ntest_init_sigma = nan\n",
            ],
        );
        let c = Config::from_toml("[langevin]\ntest_init_sigma = 1.6\n").unwrap();
        assert_eq!(c.langevin.prediction_init_sigma(), 1.6);
        assert!(c.to_toml().contains("test_init_sigma = 1.6"));
        assert!(c.check().is_ok());
        let d = Config::from_toml("[langevin]\ninit_sigma = 3.0\n").unwrap();
        assert_eq!(d.langevin.prediction_init_sigma(), 3.0);
        assert!(!Config::default().to_toml().contains("test_init_sigma"));
    }

    #[test]
    fn validation_candidates_need_covering_and_are_unwritten_when_off() {
        rejects_naming(
            "train.val_candidates",
            &[
                "[train]\nval_candidates = 120\n",
                "[train]\nval_covering = true\nval_candidates = 20\n",
            ],
        );
        let c = Config::from_toml("[train]\nval_covering = true\nval_candidates = 120\n").unwrap();
        assert!(c.clone().check().is_ok());
        assert!(c.to_toml().contains("val_candidates = 120"));
        assert!(!Config::default().to_toml().contains("val_candidates"));
    }

    #[test]
    fn neighbours_are_bounded_and_unwritten_when_off() {
        rejects_naming("model.neighbours", &["[model]\nneighbours = 17\n"]);
        let c = Config::from_toml("[model]\nneighbours = 4\n").unwrap();
        assert!(c.to_toml().contains("neighbours = 4"));
        assert!(!Config::default().to_toml().contains("neighbours"));
        rejects_naming(
            "model.neighbour_range",
            &[
                "[model]\nneighbours = 4\nneighbour_range = -1.0\n",
                "[model]\nneighbours = 4\nneighbour_range = inf\n",
                "[model]\nneighbour_range = 3.0\n",
            ],
        );
        let c = Config::from_toml("[model]\nneighbours = 4\nneighbour_range = 3.0\n").unwrap();
        assert!(c.to_toml().contains("neighbour_range = 3"));
        assert!(!Config::default().to_toml().contains("neighbour_range"));
    }

    #[test]
    fn social_edges_need_pooling_and_are_unwritten_when_off() {
        rejects_naming(
            "model.social_edges",
            &[
                "[model]\nsocial_edges = 257\n",
                "[model]\nsocial = false\nsocial_edges = 16\n",
            ],
        );
        let c = Config::from_toml("[model]\nsocial_edges = 16\n").unwrap();
        assert!(c.to_toml().contains("social_edges = 16"));
        assert!(!Config::default().to_toml().contains("social_edges"));
    }

    #[test]
    fn the_social_radius_needs_pooling_and_is_unwritten_when_off() {
        rejects_naming(
            "model.social_radius",
            &[
                "[model]\nsocial_radius = -1.0\n",
                "[model]\nsocial_radius = nan\n",
                "[model]\nsocial = false\nsocial_radius = 2.0\n",
            ],
        );
        let c = Config::from_toml("[model]\nsocial_radius = 2.5\n").unwrap();
        assert!(c.clone().check().is_ok());
        assert!(c.to_toml().contains("social_radius = 2.5"));
        assert!(!Config::default().to_toml().contains("social_radius"));
    }

    #[test]
    fn the_end_point_weight_needs_best_of_many_and_is_unwritten_when_off() {
        rejects_naming(
            "train.variety_endpoint",
            &[
                "[train]\nvariety_endpoint = 1.0\n",
                "[train]\nvariety_samples = 8\nvariety_endpoint = -1.0\n",
            ],
        );
        let c =
            Config::from_toml("[train]\nvariety_samples = 8\nvariety_endpoint = 2.0\n").unwrap();
        assert!(c.clone().check().is_ok());
        assert!(c.to_toml().contains("variety_endpoint = 2.0"));
        assert!(!Config::default().to_toml().contains("variety_endpoint"));
    }

    #[test]
    fn anchors_and_their_winner_takes_all_are_checked_and_unwritten_when_off() {
        for (text, key) in [
            ("[model]\nanchors = 257\n", "model.anchors"),
            ("[train]\nanchor_wta = 2\n", "train.anchor_wta"),
            (
                "[model]\nanchors = 4\n[train]\nanchor_wta = 5\n",
                "train.anchor_wta",
            ),
            (
                "[model]\nanchors = 4\n[train]\nanchor_wta = 2\nvariety_samples = 8\n",
                "train.variety_samples",
            ),
        ] {
            let e = rejection(text);
            assert!(e.contains(key), "{text}: {e}");
        }
        let c = Config::from_toml("[model]\nanchors = 20\n[train]\nanchor_wta = 4\n").unwrap();
        assert!(c.clone().check().is_ok());
        let text = c.to_toml();
        assert!(
            text.contains("anchors = 20") && text.contains("anchor_wta = 4"),
            "{text}"
        );
        let plain = Config::default().to_toml();
        assert!(!plain.contains("anchor"), "{plain}");
    }

    #[test]
    fn weight_averaging_and_decay_are_checked_and_unwritten_when_off() {
        for (k, v) in [
            ("ema", "1.0"),
            ("ema", "-0.1"),
            ("ema", "nan"),
            ("weight_decay", "-1.0"),
            ("weight_decay", "inf"),
            ("weight_decay", "5000.0"),
        ] {
            let c = Config::from_toml(&format!("[train]\nlr = 1e-3\n{k} = {v}\n")).unwrap();
            let e = c.check().unwrap_err().to_string();
            assert!(e.contains(&format!("train.{k}")), "{k} = {v}: {e}");
        }
        let c = Config::from_toml("[train]\nema = 0.995\nweight_decay = 0.05\n").unwrap();
        assert!(c.clone().check().is_ok());
        let text = c.to_toml();
        assert!(text.contains("ema = 0.995") && text.contains("weight_decay = 0.05"));
        // Configs and checkpoints written before the settings existed read back unchanged.
        let plain = Config::default().to_toml();
        assert!(
            !plain.contains("\nema =") && !plain.contains("weight_decay"),
            "{plain}"
        );
    }

    #[test]
    fn cv_decay_is_a_factor_in_0_1_and_unwritten_at_its_default() {
        for v in ["0.0", "-0.5", "1.5", "nan"] {
            let c = Config::from_toml(&format!("[rank]\ncv_decay = {v}\n")).unwrap();
            let e = c.check().unwrap_err().to_string();
            assert!(e.contains("rank.cv_decay"), "{v}: {e}");
        }
        let c = Config::from_toml("[rank]\ncv_decay = 0.99\n").unwrap();
        assert!(c.to_toml().contains("cv_decay = 0.99"));
        assert!(c.check().is_ok());
        // Checkpoints written before the setting existed read back unchanged.
        assert!(!Config::default().to_toml().contains("cv_decay"));
        assert_eq!(Config::from_toml("[rank]\n").unwrap().rank.cv_decay, 1.0);
    }

    #[test]
    fn velocity_window_spans_one_to_seven_steps_and_is_unwritten_at_its_defaults() {
        for v in ["0", "8"] {
            let c = Config::from_toml(&format!("[rank]\ncv_window = {v}\n")).unwrap();
            let e = c.check().unwrap_err().to_string();
            assert!(e.contains("rank.cv_window"), "{v}: {e}");
        }
        assert!(Config::from_toml("[rank]\ncv_window = -1\n").is_err());
        for v in ["-0.1", "nan", "inf"] {
            let c = Config::from_toml(&format!("[rank]\ncv_tolerance = {v}\n")).unwrap();
            let e = c.check().unwrap_err().to_string();
            assert!(e.contains("rank.cv_tolerance"), "{v}: {e}");
        }
        let c = Config::from_toml("[rank]\ncv_window = 4\ncv_tolerance = 0.05\n").unwrap();
        let text = c.to_toml();
        assert!(c.check().is_ok());
        assert!(text.contains("cv_window = 4") && text.contains("cv_tolerance = 0.05"));
        // Checkpoints written before the settings existed read back unchanged.
        let d = Config::default().to_toml();
        assert!(!d.contains("cv_window") && !d.contains("cv_tolerance"));
        let r = Config::from_toml("[rank]\n").unwrap().rank;
        assert_eq!((r.cv_window, r.cv_tolerance), (1, 0.0));
    }

    #[test]
    fn speed_dependent_slowing_is_non_negative_and_unwritten_at_its_defaults() {
        for n in ["cv_slowing", "cv_slowing_from"] {
            for v in ["-0.1", "nan", "inf"] {
                let c = Config::from_toml(&format!("[rank]\n{n} = {v}\n")).unwrap();
                let e = c.check().unwrap_err().to_string();
                assert!(e.contains(&format!("rank.{n}")), "{n} = {v}: {e}");
            }
        }
        let c = Config::from_toml("[rank]\ncv_slowing = 0.006\ncv_slowing_from = 0.05\n").unwrap();
        let text = c.to_toml();
        assert!(c.check().is_ok());
        assert!(text.contains("cv_slowing = 0.006") && text.contains("cv_slowing_from = 0.05"));
        // Checkpoints written before the settings existed read back unchanged.
        assert!(!Config::default().to_toml().contains("cv_slowing"));
        let r = Config::from_toml("[rank]\n").unwrap().rank;
        assert_eq!((r.cv_slowing, r.cv_slowing_from), (0.0, 0.0));
    }
}
