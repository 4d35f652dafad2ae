//! Training: the paper's loss, Adam with a step decay, persistent Langevin chains,
//! best-on-validation checkpoints, resumable state, divergence detection.

use crate::batch::{plan_of, SceneBatch};
use crate::checkpoint::{self, sorted_vars, Meta};
use crate::config::CheckedConfig;
use crate::model::{randn, Lbebm, TrainNoise};
use crate::predictor::LbebmPredictor;
use crate::ModelError;
use candle_core::{backprop::GradStore, DType, Device, Tensor, Var};
use candle_nn::VarMap;
use lbebm_types::Scene;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::Path;
use std::time::Instant;

/// Seed of the validation sampler: fixed, so validation scores compare across epochs.
pub const VAL_SEED: u64 = 0x0005_eed0_f7a1;

/// Name of the resumable training state inside the output folder (f32 weights and the
/// optimiser's moments; not needed to use the model).
pub const STATE: &str = "train_state.safetensors";
pub const STATE_META: &str = "train_state.json";

/// Fills every variable like PyTorch's `nn.Linear` (uniform ±1/√fan_in, weight and bias
/// from the same layer's fan-in), from a seeded generator.
pub fn seeded_init(vm: &VarMap, seed: u64) -> Result<(), ModelError> {
    let vars = sorted_vars(vm);
    let shapes: HashMap<String, Vec<usize>> = vars
        .iter()
        .map(|(n, v)| (n.clone(), v.dims().to_vec()))
        .collect();
    let mut rng = StdRng::seed_from_u64(seed);
    for (name, var) in &vars {
        let fan_in = if let Some(stem) = name.strip_suffix(".bias") {
            shapes
                .get(&format!("{stem}.weight"))
                .and_then(|s| s.get(1).copied())
                .unwrap_or(var.dims()[0])
        } else {
            var.dims().get(1).copied().unwrap_or(1)
        };
        let b = 1.0 / (fan_in as f32).sqrt();
        let n = var.elem_count();
        let v: Vec<f32> = (0..n).map(|_| rng.gen_range(-b..b)).collect();
        var.set(&Tensor::from_vec(v, var.dims(), var.device())?)?;
    }
    Ok(())
}

/// Adam (no weight decay, as the reference), with state that can be saved and resumed.
/// On the CPU the update is one fused pass over plain buffers per variable (about a
/// dozen tensor operations, each allocating, otherwise).
pub struct Adam {
    vars: Vec<(String, Var)>,
    m: Vec<Vec<f32>>,
    v: Vec<Vec<f32>>,
    pub t: usize,
    pub lr: f64,
    b1: f64,
    b2: f64,
    eps: f64,
}

impl Adam {
    pub fn new(vm: &VarMap, lr: f64) -> Result<Self, ModelError> {
        let vars = sorted_vars(vm);
        let m: Vec<Vec<f32>> = vars
            .iter()
            .map(|(_, v)| vec![0.0; v.elem_count()])
            .collect();
        let v = m.clone();
        Ok(Self {
            vars,
            m,
            v,
            t: 0,
            lr,
            b1: 0.9,
            b2: 0.999,
            eps: 1e-8,
        })
    }

    pub fn step(&mut self, grads: &GradStore) -> Result<(), ModelError> {
        self.step_sum(std::slice::from_ref(grads))
    }

    /// A step on the sum of several gradients (of the parts of one batch).
    pub fn step_sum(&mut self, grads: &[GradStore]) -> Result<(), ModelError> {
        self.t += 1;
        let bc1 = 1.0 - self.b1.powi(self.t as i32);
        let bc2 = 1.0 - self.b2.powi(self.t as i32);
        // lr·m̂/(√v̂ + ε) with the bias corrections folded into two scalars.
        let k = AdamConsts {
            b1: self.b1 as f32,
            b2: self.b2 as f32,
            step: (self.lr / bc1) as f32,
            inv_sqrt_bc2: (1.0 / bc2.sqrt()) as f32,
            eps: self.eps as f32,
        };
        for (i, (_, var)) in self.vars.iter().enumerate() {
            let gs: Vec<&Tensor> = grads
                .iter()
                .filter_map(|g| g.get(var.as_tensor()))
                .collect();
            if gs.is_empty() {
                continue;
            }
            let (m, v) = (&mut self.m[i], &mut self.v[i]);
            if var.device().is_cpu() && gs.iter().all(|g| g.dtype() == DType::F32) {
                // In place on the weights' own buffer, summing the parts' gradients on
                // the way: no copies, no allocation.
                let gs = gs
                    .iter()
                    .map(|g| g.contiguous())
                    .collect::<candle_core::Result<Vec<_>>>()?;
                let op = AdamInPlace {
                    k,
                    grads: &gs,
                    mv: std::sync::Mutex::new((m, v)),
                };
                var.as_tensor().inplace_op1(&op)?;
                continue;
            }
            let mut sum = gs[0].clone();
            for g in &gs[1..] {
                sum = (sum + *g)?;
            }
            let g = sum.flatten_all()?.to_dtype(DType::F32)?.to_vec1::<f32>()?;
            let mut w = var.as_tensor().flatten_all()?.to_vec1::<f32>()?;
            adam_update(&mut w, &[&g], m, v, k);
            var.set(&Tensor::from_vec(w, var.dims(), var.device())?)?;
        }
        Ok(())
    }

    fn state(&self) -> candle_core::Result<HashMap<String, Tensor>> {
        let mut map = HashMap::new();
        for (i, (n, var)) in self.vars.iter().enumerate() {
            map.insert(format!("w/{n}"), var.as_tensor().to_device(&Device::Cpu)?);
            map.insert(
                format!("m/{n}"),
                Tensor::from_slice(&self.m[i], var.dims(), &Device::Cpu)?,
            );
            map.insert(
                format!("v/{n}"),
                Tensor::from_slice(&self.v[i], var.dims(), &Device::Cpu)?,
            );
        }
        Ok(map)
    }

    fn restore(&mut self, map: &HashMap<String, Tensor>, path: &Path) -> Result<(), ModelError> {
        let err = |n: &str| ModelError::Checkpoint {
            path: path.to_path_buf(),
            msg: format!("training state lacks {n} or its shape differs"),
        };
        for (i, (n, var)) in self.vars.iter().enumerate() {
            let get = |p: &str| {
                map.get(&format!("{p}/{n}"))
                    .filter(|t| t.dims() == var.dims())
                    .ok_or_else(|| err(&format!("{p}/{n}")))
            };
            let dev = var.device().clone();
            var.set(&get("w")?.to_dtype(DType::F32)?.to_device(&dev)?)?;
            self.m[i] = get("m")?
                .flatten_all()?
                .to_dtype(DType::F32)?
                .to_vec1::<f32>()?;
            self.v[i] = get("v")?
                .flatten_all()?
                .to_dtype(DType::F32)?
                .to_vec1::<f32>()?;
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Copy)]
struct AdamConsts {
    b1: f32,
    b2: f32,
    step: f32,
    inv_sqrt_bc2: f32,
    eps: f32,
}

/// Updates weights `w` from the sum of gradients `gs`, moments `m`, `v`; in parallel
/// chunks when the variable is large enough to pay for the threads.
fn adam_update(w: &mut [f32], gs: &[&[f32]], m: &mut [f32], v: &mut [f32], k: AdamConsts) {
    use rayon::prelude::*;
    const CHUNK: usize = 1 << 15;
    if w.len() < 2 * CHUNK {
        adam_chunk(w, gs, 0, m, v, k);
        return;
    }
    w.par_chunks_mut(CHUNK)
        .zip(m.par_chunks_mut(CHUNK))
        .zip(v.par_chunks_mut(CHUNK))
        .enumerate()
        .for_each(|(i, ((w, m), v))| adam_chunk(w, gs, i * CHUNK, m, v, k));
}

/// Elements `at..at + w.len()`.
fn adam_chunk(
    w: &mut [f32],
    gs: &[&[f32]],
    at: usize,
    m: &mut [f32],
    v: &mut [f32],
    k: AdamConsts,
) {
    let n = w.len();
    let mut sum;
    let g: &[f32] = match gs {
        [g] => &g[at..at + n],
        _ => {
            sum = gs[0][at..at + n].to_vec();
            for g in &gs[1..] {
                for (s, x) in sum.iter_mut().zip(&g[at..at + n]) {
                    *s += x;
                }
            }
            &sum
        }
    };
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
        // SAFETY: the CPU supports the features the function is compiled for.
        unsafe { adam_chunk_avx2(w, g, m, v, k) };
        return;
    }
    adam_chunk_plain(w, g, m, v, k);
}

/// The same loop compiled for AVX2 + FMA (8 lanes, vector sqrt and divide; Rust does
/// not contract a·b + c into an FMA, so the result is the plain loop's, bit for bit).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn adam_chunk_avx2(w: &mut [f32], g: &[f32], m: &mut [f32], v: &mut [f32], k: AdamConsts) {
    adam_chunk_plain(w, g, m, v, k)
}

#[inline(always)]
fn adam_chunk_plain(w: &mut [f32], g: &[f32], m: &mut [f32], v: &mut [f32], k: AdamConsts) {
    let (b1, b2) = (k.b1, k.b2);
    for (((w, &g), m), v) in w.iter_mut().zip(g).zip(m.iter_mut()).zip(v.iter_mut()) {
        *m = b1 * *m + (1.0 - b1) * g;
        *v = b2 * *v + (1.0 - b2) * g * g;
        *w -= k.step * *m / (v.sqrt() * k.inv_sqrt_bc2 + k.eps);
    }
}

/// [`adam_update`] as a candle in-place op on a variable's CPU buffer, reading the
/// (contiguous, f32, CPU) gradients' buffers directly.
struct AdamInPlace<'a> {
    k: AdamConsts,
    grads: &'a [Tensor],
    mv: std::sync::Mutex<(&'a mut Vec<f32>, &'a mut Vec<f32>)>,
}

impl candle_core::InplaceOp1 for AdamInPlace<'_> {
    fn name(&self) -> &'static str {
        "adam-in-place"
    }

    fn cpu_fwd(
        &self,
        s1: &mut candle_core::CpuStorage,
        l1: &candle_core::Layout,
    ) -> candle_core::Result<()> {
        use candle_core::{CpuStorage, Storage};
        let CpuStorage::F32(w) = s1 else {
            candle_core::bail!("adam-in-place: f32 weights only")
        };
        let Some((a, b)) = l1.contiguous_offsets() else {
            candle_core::bail!("adam-in-place: non-contiguous weights")
        };
        let guards: Vec<_> = self.grads.iter().map(|g| g.storage_and_layout()).collect();
        let mut gs: Vec<&[f32]> = Vec::with_capacity(guards.len());
        for (st, l) in &guards {
            let (Storage::Cpu(CpuStorage::F32(g)), Some((c, d))) = (&**st, l.contiguous_offsets())
            else {
                candle_core::bail!("adam-in-place: gradients must be contiguous f32 on the CPU")
            };
            if d - c != b - a {
                candle_core::bail!("adam-in-place: gradient size differs")
            }
            gs.push(&g[c..d]);
        }
        let mut mv = self
            .mv
            .lock()
            .map_err(|_| candle_core::Error::Msg("adam-in-place: poisoned state".into()))?;
        let (m, v) = &mut *mv;
        if b - a != m.len() {
            candle_core::bail!("adam-in-place: sizes differ")
        }
        adam_update(&mut w[a..b], &gs, m, v, self.k);
        Ok(())
    }
}

/// Persistent chains: a ring of latent vectors. Once full, training chains start from
/// random entries instead of from noise (persistent contrastive divergence).
pub struct Replay {
    zdim: usize,
    cap: usize,
    data: Vec<f32>,
    next: usize,
}

impl Replay {
    pub fn new(zdim: usize, cap: usize) -> Self {
        Self {
            zdim,
            cap,
            data: Vec::new(),
            next: 0,
        }
    }
    pub fn is_full(&self) -> bool {
        self.cap > 0 && self.data.len() == self.cap * self.zdim
    }
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

/// Loss terms of one batch (means over the batch).
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
pub struct Losses {
    pub total: f64,
    pub plan: f64,
    pub future: f64,
    pub kld: f64,
    pub cd: f64,
    pub subgoal: f64,
}

/// The paper's loss on one forward pass.
pub fn loss(
    model: &Lbebm,
    b: &SceneBatch,
    z_neg0: &Tensor,
    noise: &TrainNoise,
) -> Result<(Tensor, Losses, Tensor), ModelError> {
    part_loss(model, b, z_neg0, noise, 1.0)
}

/// The loss of a part `b` holding the share `w` of a batch's agents: its terms that are
/// means over agents weighted by `w`, its sums (a summed KL) as they are, so that the
/// parts' losses add up to the batch's. The `Losses` returned are the part's own.
fn part_loss(
    model: &Lbebm,
    b: &SceneBatch,
    z_neg0: &Tensor,
    noise: &TrainNoise,
    w: f64,
) -> Result<(Tensor, Losses, Tensor), ModelError> {
    let cfg = model.config();
    let t = &cfg.train;
    let future = b
        .future
        .as_ref()
        .ok_or_else(|| ModelError::Data("training scenes need ground-truth futures".into()))?;
    let plan_gt = plan_of(future, &cfg.model.subgoals)?;
    let (o, z_neg) = model.forward_train(&b.obs, &b.mask()?, &plan_gt, z_neg0, noise)?;
    let plan = (&o.plan - &plan_gt)?.sqr()?.mean_all()?;
    let fut = (&o.future - future)?.sqr()?.mean_all()?;
    // KL(q || N(0, I)), summed over latent dims, then summed or averaged over agents.
    let kl_rows = ((o.logvar.exp()? + o.mu.sqr()? - &o.logvar)? - 1.0)?
        .sum(1)?
        .affine(0.5, 0.0)?;
    let kld = match t.kld_reduction {
        crate::config::Reduction::Sum => kl_rows.sum_all()?,
        crate::config::Reduction::Mean => kl_rows.mean_all()?,
    };
    let cd = (o.energy_pos.mean_all()? - o.energy_neg.mean_all()?)?;
    let sub = (&o.plan - plan_of(&o.future, &cfg.model.subgoals)?)?
        .sqr()?
        .mean_all()?;
    // The terms that are means over agents, and the KL's weight: a summed KL counts
    // once, a mean one by share.
    let mut means = (((&plan * t.plan_coef)? + (&fut * t.future_coef)?)?
        + ((&cd * t.cd_coef)? + (&sub * t.subgoal_coef)?)?)?;
    if t.energy_reg > 0.0 {
        let reg = (o.energy_pos.sqr()?.mean_all()? + o.energy_neg.sqr()?.mean_all()?)?;
        means = (means + (reg * t.energy_reg)?)?;
    }
    let kld_w = match t.kld_reduction {
        crate::config::Reduction::Sum => 1.0,
        crate::config::Reduction::Mean => w,
    };
    let kl = (&kld * t.kld_coef)?;
    // The part's own total (unweighted), reported; the weighted one is differentiated.
    let own = (&means + &kl)?;
    let total = ((means * w)? + (kl * kld_w)?)?;
    let s = |x: &Tensor| -> candle_core::Result<f64> { x.to_dtype(DType::F64)?.to_scalar::<f64>() };
    let l = Losses {
        total: s(&own)?,
        plan: s(&plan)?,
        future: s(&fut)?,
        kld: s(&kld)?,
        cd: s(&cd)?,
        subgoal: s(&sub)?,
    };
    Ok((total, l, z_neg))
}

/// Loss and gradients of one batch of whole scenes, cut into `parts` groups of scenes of
/// about equal agent counts computed side by side on the rayon pool. Every loss term
/// is a mean over agents (or elements per agent), so the whole batch's loss is the
/// agent-weighted sum of the parts' losses and its gradient the weighted sum of theirs;
/// `noise` (drawn for the whole batch) gives each part the random numbers of its rows.
/// Returns the losses, the chains' end points (batch row order) and one gradient per
/// part, for [`Adam::step_sum`].
#[allow(clippy::too_many_arguments)]
pub fn batch_grads(
    model: &Lbebm,
    scenes: &[Scene],
    angles: Option<&[f32]>,
    z0: &Tensor,
    noise: &TrainNoise,
    parts: usize,
    dev: &Device,
) -> Result<(Losses, Tensor, Vec<GradStore>), ModelError> {
    use rayon::prelude::*;
    let spec = crate::batch::FrameSpec::of(&model.config().model);
    let total: usize = scenes.iter().map(Scene::len).sum();
    // Scene ranges with about total/parts agents each.
    let mut cuts = vec![0usize];
    let mut seen = 0;
    for (i, s) in scenes.iter().enumerate() {
        seen += s.len();
        let k = cuts.len();
        if k < parts && seen * parts >= k * total && i + 1 < scenes.len() {
            cuts.push(i + 1);
        }
    }
    cuts.push(scenes.len());
    cuts.dedup();
    let ranges: Vec<(usize, usize)> = cuts.windows(2).map(|w| (w[0], w[1])).collect();
    let row_of = |si: usize| -> usize { scenes[..si].iter().map(Scene::len).sum() };
    let work = |&(s0, s1): &(usize, usize)| -> Result<_, ModelError> {
        let (r0, r1) = (row_of(s0), row_of(s1));
        let b = SceneBatch::with_frame(&scenes[s0..s1], spec, angles.map(|a| &a[s0..s1]), dev)?;
        let n = r1 - r0;
        let w = n as f64 / total as f64;
        let (loss_t, l, z_neg) =
            part_loss(model, &b, &z0.narrow(0, r0, n)?, &noise.rows(r0, r1), w)?;
        Ok((w, l, z_neg, loss_t.backward()?))
    };
    let outs: Vec<_> = if let [only] = ranges.as_slice() {
        vec![work(only)?]
    } else {
        // Each part keeps its own products on its thread: the parts are the parallelism.
        ranges
            .par_iter()
            .map(|r| crate::fast::serial(|| work(r)))
            .collect::<Result<Vec<_>, ModelError>>()?
    };
    let mut sum = Losses::default();
    let mut zs = Vec::with_capacity(outs.len());
    let mut grads = Vec::with_capacity(outs.len());
    let summed_kl = model.config().train.kld_reduction == crate::config::Reduction::Sum;
    for (w, l, z, g) in outs {
        let kw = if summed_kl { 1.0 } else { w };
        // The means by share, a summed KL once.
        let kl_part = model.config().train.kld_coef * l.kld;
        sum.total += w * (l.total - kl_part) + kw * kl_part;
        for (a, x) in [
            (&mut sum.plan, l.plan),
            (&mut sum.future, l.future),
            (&mut sum.cd, l.cd),
            (&mut sum.subgoal, l.subgoal),
        ] {
            *a += w * x;
        }
        sum.kld += kw * l.kld;
        zs.push(z);
        grads.push(g);
    }
    let z_neg = if zs.len() == 1 {
        zs.swap_remove(0)
    } else {
        Tensor::cat(&zs, 0)?
    };
    Ok((sum, z_neg, grads))
}

/// Hooks for progress display; the library itself prints nothing.
pub trait Observer {
    fn epoch_start(&mut self, _epoch: usize, _batches: usize) {}
    fn batch(&mut self, _losses: &Losses) {}
    fn validating(&mut self, _scenes: usize) {}
    fn validated(&mut self, _scenes: usize) {}
    fn epoch_end(&mut self, _report: &EpochReport) {}
}

/// Does nothing.
pub struct Quiet;
impl Observer for Quiet {}

/// One epoch's summary.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EpochReport {
    pub epoch: usize,
    pub lr: f64,
    pub mean: Losses,
    pub val_ade: f64,
    pub val_fde: f64,
    pub best: bool,
    pub seconds: f64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct StateMeta {
    /// Epochs completed.
    epoch: usize,
    adam_t: usize,
    best_ade: Option<f64>,
    best_fde: Option<f64>,
    bad_epochs: usize,
    seconds: f64,
    history: Vec<EpochReport>,
}

/// Result of a training run.
#[derive(Debug, Clone)]
pub struct Summary {
    pub epochs_run: usize,
    pub best_epoch: usize,
    pub best_val_ade: f64,
    pub best_val_fde: f64,
    pub seconds: f64,
    pub history: Vec<EpochReport>,
}

/// Splits scene indices into batches of whole scenes of about `max_agents` agents.
fn batches(scenes: &[Scene], order: &[usize], max_agents: usize) -> Vec<Vec<usize>> {
    let mut out = Vec::new();
    let mut cur = Vec::new();
    let mut n = 0;
    for &i in order {
        let s = scenes[i].len();
        if n > 0 && n + s > max_agents {
            out.push(std::mem::take(&mut cur));
            n = 0;
        }
        cur.push(i);
        n += s;
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// Mirrors and scales whole scenes as `t` asks. Draws nothing when both are off, so
/// configs without them reproduce the random stream of earlier versions.
fn augment(scenes: &mut [Scene], t: &crate::config::TrainConfig, rng: &mut StdRng) {
    if !t.mirror && t.scale_sigma == 0.0 {
        return;
    }
    for s in scenes {
        let flip = t.mirror && rng.gen_bool(0.5);
        let factor = if t.scale_sigma > 0.0 {
            (t.scale_sigma as f32 * rng.sample::<f32, _>(rand_distr::StandardNormal)).exp()
        } else {
            1.0
        };
        let map = |p: &mut lbebm_types::Vec2| {
            if flip {
                p.y = -p.y;
            }
            *p *= factor;
        };
        for a in &mut s.agents {
            a.obs.iter_mut().for_each(map);
            if let Some(f) = a.future.as_mut() {
                f.iter_mut().for_each(map);
            }
        }
    }
}

/// Validation best-of-K ADE/FDE (metres) with a fixed seed.
pub fn validate(
    model: &Lbebm,
    val: &[Scene],
    k: usize,
    obs: &mut dyn Observer,
) -> Result<lbebm_eval::Score, ModelError> {
    let mut p = LbebmPredictor::new(model.clone(), VAL_SEED, "val");
    if !model.config().train.val_covering {
        // Plain samples: covering the candidates is then a prediction-time choice, made
        // afterwards on validation too.
        p.candidates = 0;
    }
    obs.validating(val.len());
    let s = lbebm_eval::evaluate(&mut p, val, k, 512, &mut |n| obs.validated(n))
        .map_err(|e| ModelError::Data(e.to_string()))?;
    Ok(s)
}

/// Everything `train` needs besides the data.
pub struct TrainRun<'a> {
    pub cfg: CheckedConfig,
    pub out: &'a Path,
    pub device: &'a Device,
    pub resume: bool,
    /// Free text stored in the checkpoint's meta.
    pub trained_on: String,
}

/// Trains on `train`, keeps the best-on-`val` checkpoint in `run.out`.
pub fn train(
    run: TrainRun,
    train: &[Scene],
    val: &[Scene],
    obs: &mut dyn Observer,
) -> Result<Summary, ModelError> {
    let cfg = &run.cfg;
    let t = &cfg.train;
    if train.is_empty() {
        return Err(ModelError::Data("no training scenes".into()));
    }
    if val.is_empty() {
        return Err(ModelError::Data("no validation scenes".into()));
    }
    let (model, vm) = checkpoint::build(cfg, run.device)?;
    seeded_init(&vm, t.seed)?;
    let mut adam = Adam::new(&vm, t.lr)?;
    let mut st = StateMeta::default();
    let state_path = run.out.join(STATE);
    std::fs::create_dir_all(run.out).map_err(|e| ModelError::Checkpoint {
        path: run.out.to_path_buf(),
        msg: format!("cannot create: {e}"),
    })?;
    if run.resume {
        let on_disk = checkpoint::load_config(run.out)?;
        if on_disk.model != cfg.model {
            return Err(ModelError::Checkpoint {
                path: run.out.join(checkpoint::CONFIG),
                msg: "cannot resume: the model section differs from the config given".into(),
            });
        }
        let map = candle_core::safetensors::load(&state_path, &Device::Cpu).map_err(|e| {
            ModelError::Checkpoint {
                path: state_path.clone(),
                msg: format!("cannot resume: {e}"),
            }
        })?;
        adam.restore(&map, &state_path)?;
        let sm = std::fs::read(run.out.join(STATE_META))
            .ok()
            .and_then(|b| serde_json::from_slice::<StateMeta>(&b).ok())
            .ok_or_else(|| ModelError::Checkpoint {
                path: run.out.join(STATE_META),
                msg: "cannot resume: missing or unreadable".into(),
            })?;
        adam.t = sm.adam_t;
        st = sm;
        tracing::info!(epoch = st.epoch, "resuming");
    }
    let mut replay = Replay::new(cfg.model.zdim, cfg.langevin.replay_size);
    let started = Instant::now();
    let base_seconds = st.seconds;
    for epoch in st.epoch..t.epochs {
        let t0 = Instant::now();
        // One generator per epoch, derived from the seed: a resumed run continues
        // exactly as an uninterrupted one would from that epoch on.
        let mut rng =
            StdRng::seed_from_u64(t.seed.wrapping_mul(1_000_003).wrapping_add(epoch as u64));
        adam.lr = t.lr * t.lr_gamma.powi((epoch / t.lr_step) as i32);
        let mut order: Vec<usize> = (0..train.len()).collect();
        order.shuffle(&mut rng);
        let bs = batches(train, &order, t.batch_agents);
        obs.epoch_start(epoch, bs.len());
        let mut sum = Losses::default();
        for (bi, idx) in bs.iter().enumerate() {
            let mut scenes: Vec<Scene> = idx.iter().map(|&i| train[i].clone()).collect();
            augment(&mut scenes, t, &mut rng);
            let angles: Option<Vec<f32>> = t.rotate.then(|| {
                scenes
                    .iter()
                    .map(|_| rng.gen_range(0.0..std::f32::consts::TAU))
                    .collect()
            });
            let n: usize = scenes.iter().map(Scene::len).sum();
            let z0 = if replay.is_full() {
                replay.sample(n, &mut rng, run.device)?
            } else {
                randn(
                    &mut rng,
                    (n, cfg.model.zdim),
                    cfg.langevin.init_sigma,
                    run.device,
                )?
            };
            let noise = TrainNoise::draw(&mut rng, n, cfg.model.zdim, cfg.langevin.steps);
            let (l, z_neg, grads) = batch_grads(
                &model,
                &scenes,
                angles.as_deref(),
                &z0,
                &noise,
                t.batch_parts,
                run.device,
            )?;
            if !l.total.is_finite() {
                return Err(ModelError::Diverged { epoch, batch: bi });
            }
            adam.step_sum(&grads)?;
            replay.push(&z_neg.flatten_all()?.to_vec1::<f32>()?);
            for (a, x) in [
                (&mut sum.total, l.total),
                (&mut sum.plan, l.plan),
                (&mut sum.future, l.future),
                (&mut sum.kld, l.kld),
                (&mut sum.cd, l.cd),
                (&mut sum.subgoal, l.subgoal),
            ] {
                *a += x / bs.len() as f64;
            }
            obs.batch(&l);
        }
        let score = validate(&model, val, t.val_samples, obs)?;
        let better = st.best_ade.is_none_or(|b| score.ade < b);
        st.seconds = base_seconds + started.elapsed().as_secs_f64();
        if better {
            st.best_ade = Some(score.ade);
            st.best_fde = Some(score.fde);
            st.bad_epochs = 0;
            let meta = Meta {
                epoch: epoch + 1,
                val_ade: Some(score.ade),
                val_fde: Some(score.fde),
                val_windows: Some(score.windows),
                train_seconds: st.seconds,
                trained_on: run.trained_on.clone(),
            };
            checkpoint::save(run.out, &vm, cfg, &meta, DType::F16)?;
        } else {
            st.bad_epochs += 1;
        }
        let report = EpochReport {
            epoch: epoch + 1,
            lr: adam.lr,
            mean: sum,
            val_ade: score.ade,
            val_fde: score.fde,
            best: better,
            seconds: t0.elapsed().as_secs_f64(),
        };
        tracing::info!(
            epoch = epoch + 1,
            val_ade = score.ade,
            val_fde = score.fde,
            best = better,
            "epoch done"
        );
        obs.epoch_end(&report);
        st.history.push(report);
        st.epoch = epoch + 1;
        st.adam_t = adam.t;
        save_state(run.out, &adam, &st)?;
        if t.patience > 0 && st.bad_epochs >= t.patience {
            tracing::info!(epoch = epoch + 1, "early stop: no validation gain");
            break;
        }
    }
    let best_epoch = checkpoint::load_meta(run.out).epoch;
    Ok(Summary {
        epochs_run: st.epoch,
        best_epoch,
        best_val_ade: st.best_ade.unwrap_or(f64::NAN),
        best_val_fde: st.best_fde.unwrap_or(f64::NAN),
        seconds: st.seconds,
        history: st.history,
    })
}

fn save_state(dir: &Path, adam: &Adam, st: &StateMeta) -> Result<(), ModelError> {
    let p = dir.join(STATE);
    let tmp = dir.join(format!("{STATE}.tmp{}", std::process::id()));
    let map = adam.state()?;
    candle_core::safetensors::save(&map, &tmp).map_err(|e| ModelError::Checkpoint {
        path: p.clone(),
        msg: e.to_string(),
    })?;
    std::fs::rename(&tmp, &p).map_err(|e| ModelError::Checkpoint {
        path: p.clone(),
        msg: e.to_string(),
    })?;
    let j = serde_json::to_vec_pretty(st).map_err(|e| ModelError::Data(e.to_string()))?;
    checkpoint::write_atomic(&dir.join(STATE_META), &j)
}

#[cfg(test)]
mod tests {
    use super::*;
    use lbebm_types::{AgentWindow, Vec2};

    fn scene() -> Scene {
        Scene {
            source: "s".into(),
            t: 0.0,
            agents: vec![AgentWindow {
                id: "a".into(),
                obs: std::array::from_fn(|i| Vec2::new(i as f32, 1.0 + i as f32)),
                future: Some(std::array::from_fn(|i| Vec2::new(2.0, i as f32))),
            }],
        }
    }

    #[test]
    fn augmentation_off_draws_nothing_and_on_mirrors_or_scales() {
        let mut t = crate::config::TrainConfig::default();
        let mut rng = StdRng::seed_from_u64(3);
        let mut s = vec![scene()];
        augment(&mut s, &t, &mut rng);
        assert_eq!(s[0], scene());
        // The generator is untouched: the next draw is the first of a fresh one.
        assert_eq!(rng.gen::<u64>(), StdRng::seed_from_u64(3).gen::<u64>());
        t.mirror = true;
        let mut flips = 0;
        for seed in 0..20 {
            let mut s = vec![scene()];
            augment(&mut s, &t, &mut StdRng::seed_from_u64(seed));
            let (a, b) = (&s[0].agents[0], &scene().agents[0]);
            if a.obs[3].y == -b.obs[3].y {
                flips += 1;
                assert_eq!(a.future.unwrap()[5].y, -b.future.unwrap()[5].y);
            } else {
                assert_eq!(a, b);
            }
        }
        assert!((5..=15).contains(&flips), "{flips} of 20 mirrored");
        t.mirror = false;
        t.scale_sigma = 0.2;
        let mut s = vec![scene()];
        augment(&mut s, &t, &mut StdRng::seed_from_u64(1));
        let (a, b) = (&s[0].agents[0], &scene().agents[0]);
        let f = a.obs[4].x / b.obs[4].x;
        assert!(
            f != 1.0 && (a.obs[4].y / b.obs[4].y - f).abs() < 1e-5,
            "one factor per scene"
        );
    }
}
