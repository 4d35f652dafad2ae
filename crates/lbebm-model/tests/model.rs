//! Model behaviour with real assertions: the sampler, the energy gradient, checkpoints,
//! social pooling and a short overfit.

use candle_core::{DType, Device, Tensor};
use lbebm_model::batch::SceneBatch;
use lbebm_model::checkpoint::{self, sorted_vars, Meta};
use lbebm_model::config::{CheckedConfig, Config};
use lbebm_model::langevin::{Diffusion, Draw, LangevinParams, Noise};
use lbebm_model::model::randn;
use lbebm_model::sampler::Backend;
use lbebm_model::train::{self, seeded_init, Quiet, TrainRun};
use lbebm_model::LbebmPredictor;
use lbebm_types::{AgentWindow, Scene, Vec2, OBS_LEN, PRED_LEN};
use rand::rngs::StdRng;
use rand::SeedableRng;

/// A small model so that tests run in seconds.
fn small_cfg() -> CheckedConfig {
    let mut c = Config::default();
    c.model.enc_past = vec![32];
    c.model.dec_plan = vec![64, 64];
    c.model.dec_traj = vec![64, 64];
    c.model.nl_theta = vec![32];
    c.model.nl_phi = vec![32];
    c.model.nl_g = vec![32];
    c.model.nl_dim = 16;
    c.model.ebm_hidden = vec![48, 48];
    c.langevin.replay_size = 64;
    c.train.batch_agents = 64;
    c.train.val_samples = 5;
    c.check().unwrap()
}

fn walker(id: usize, start: Vec2, v: Vec2, turn: f32) -> AgentWindow {
    let mut pts = Vec::new();
    let mut p = start;
    let mut vel = v;
    for _ in 0..OBS_LEN + PRED_LEN {
        pts.push(p);
        let (s, c) = turn.sin_cos();
        vel = Vec2::new(c * vel.x - s * vel.y, s * vel.x + c * vel.y);
        p += vel;
    }
    AgentWindow {
        id: id.to_string(),
        obs: std::array::from_fn(|i| pts[i]),
        future: Some(std::array::from_fn(|i| pts[OBS_LEN + i])),
    }
}

fn scenes(n: usize, seed: u64) -> Vec<Scene> {
    use rand::Rng;
    let mut r = StdRng::seed_from_u64(seed);
    (0..n)
        .map(|i| Scene {
            source: "synthetic".into(),
            t: i as f64,
            agents: (0..r.gen_range(1..4))
                .map(|a| {
                    walker(
                        a,
                        Vec2::new(r.gen_range(-5.0..5.0), r.gen_range(-5.0..5.0)),
                        Vec2::new(r.gen_range(-0.6..0.6), r.gen_range(-0.6..0.6)),
                        r.gen_range(-0.08..0.08),
                    )
                })
                .collect(),
        })
        .collect()
}

fn build(cfg: &CheckedConfig, seed: u64) -> (lbebm_model::Lbebm, candle_nn::VarMap) {
    let (m, vm) = checkpoint::build(cfg, &Device::Cpu).unwrap();
    seeded_init(&vm, seed).unwrap();
    (m, vm)
}

fn snapshot(vm: &candle_nn::VarMap) -> Vec<Vec<f32>> {
    sorted_vars(vm)
        .iter()
        .map(|(_, v)| {
            v.as_tensor()
                .flatten_all()
                .unwrap()
                .to_vec1::<f32>()
                .unwrap()
        })
        .collect()
}

/// The variable `name` of `vm` (it shares its storage with the model's).
fn var(vm: &candle_nn::VarMap, name: &str) -> candle_core::Var {
    let data = vm.data().lock().unwrap();
    data.get(name)
        .unwrap_or_else(|| panic!("{name} is not a variable"))
        .clone()
}

/// The largest absolute element of `t`.
fn max_abs(t: &Tensor) -> f32 {
    t.abs()
        .unwrap()
        .max_all()
        .unwrap()
        .to_scalar::<f32>()
        .unwrap()
}

fn context(model: &lbebm_model::Lbebm, n: usize) -> Tensor {
    let sc = scenes(n, 3);
    let b = SceneBatch::new(&sc, 60.0, None, &Device::Cpu).unwrap();
    model.encode(&b.obs, &b.mask().unwrap()).unwrap().detach()
}

#[test]
fn hand_written_energy_gradient_matches_autograd_and_finite_differences() {
    let cfg = small_cfg();
    let (m, _vm) = build(&cfg, 1);
    let c = context(&m, 6);
    let n = c.dim(0).unwrap();
    let mut rng = StdRng::seed_from_u64(5);
    let z = randn(&mut rng, (n, cfg.model.zdim), 2.0, &Device::Cpu).unwrap();
    let ebm = m.energy_net();
    let cond = ebm.condition(&c).unwrap();
    let (e, g) = ebm.energy_and_grad(&z, &cond).unwrap();
    // Same energy as the plain forward pass.
    let e_ref = ebm.energy(&z, &c).unwrap();
    let diff = max_abs(&(&e - &e_ref).unwrap());
    assert!(diff < 1e-4, "energy mismatch {diff}");
    // Autograd gradient with z as a variable.
    let zv = candle_core::Var::from_tensor(&z).unwrap();
    let grads = ebm
        .energy(zv.as_tensor(), &c)
        .unwrap()
        .sum_all()
        .unwrap()
        .backward()
        .unwrap();
    let g_auto = grads.get(zv.as_tensor()).unwrap();
    let diff = max_abs(&(&g - g_auto).unwrap());
    assert!(diff < 1e-4, "gradient mismatch vs autograd {diff}");
    // Central finite differences in f64 terms on a few coordinates.
    let zf = z.to_vec2::<f32>().unwrap();
    let gf = g.to_vec2::<f32>().unwrap();
    let h = 1e-2f32;
    for (row, col) in [(0usize, 0usize), (1, 5), (n - 1, cfg.model.zdim - 1)] {
        let shifted = |d: f32| {
            let mut zz = zf.clone();
            zz[row][col] += d;
            let t = Tensor::new(zz, &Device::Cpu).unwrap();
            ebm.energy(&t, &c).unwrap().to_vec1::<f32>().unwrap()[row]
        };
        let fd = (shifted(h) - shifted(-h)) / (2.0 * h);
        let an = gf[row][col];
        assert!(
            (fd - an).abs() < 2e-3 + 1e-2 * an.abs(),
            "fd {fd} vs analytic {an} at ({row},{col})"
        );
    }
}

#[test]
fn noiseless_langevin_lowers_the_energy() {
    let cfg = small_cfg();
    let (m, _vm) = build(&cfg, 2);
    let c = context(&m, 10);
    let n = c.dim(0).unwrap();
    let mut rng = StdRng::seed_from_u64(9);
    let z0 = randn(&mut rng, (n, cfg.model.zdim), 2.0, &Device::Cpu).unwrap();
    let cond = m.energy_net().condition(&c).unwrap();
    let z = m.langevin(&z0, &cond, 20, Noise::Off).unwrap();
    // The sampled density includes the Gaussian reference: compare E + |z|²/(2σ²).
    let s2 = cfg.langevin.prior_sigma.powi(2) as f64;
    let total = |z: &Tensor| {
        let (e, _) = m.energy_net().energy_and_grad(z, &cond).unwrap();
        let q = (z.sqr().unwrap().sum(1).unwrap() / (2.0 * s2)).unwrap();
        (e + q)
            .unwrap()
            .mean_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap()
    };
    let (before, after) = (total(&z0), total(&z));
    assert!(
        after < before - 0.1,
        "energy did not fall: {before} → {after}"
    );
}

#[test]
fn sampling_leaves_every_weight_untouched() {
    let cfg = small_cfg();
    let (m, vm) = build(&cfg, 3);
    let before = snapshot(&vm);
    let mut p = LbebmPredictor::new(m, 1, "t").unwrap();
    let out = p.forecast(&scenes(5, 1), 7).unwrap();
    assert_eq!(out.len(), 5);
    assert!(out.iter().all(|s| s
        .agents
        .iter()
        .all(|a| a.samples.len() == 7 && a.energies.len() == 7)));
    assert_eq!(before, snapshot(&vm));
}

#[test]
fn same_seed_same_samples_different_seed_different_samples() {
    let cfg = small_cfg();
    let (m, _) = build(&cfg, 4);
    let sc = scenes(4, 2);
    let a = LbebmPredictor::new(m.clone(), 11, "a")
        .unwrap()
        .forecast(&sc, 5)
        .unwrap();
    let b = LbebmPredictor::new(m.clone(), 11, "b")
        .unwrap()
        .forecast(&sc, 5)
        .unwrap();
    let c = LbebmPredictor::new(m, 12, "c")
        .unwrap()
        .forecast(&sc, 5)
        .unwrap();
    assert_eq!(a, b);
    assert_ne!(a, c);
}

#[test]
fn social_pooling_ignores_other_scenes() {
    let cfg = small_cfg();
    let (m, _) = build(&cfg, 5);
    let sc = scenes(6, 4);
    let dev = Device::Cpu;
    let alone = SceneBatch::new(&sc[..1], 60.0, None, &dev).unwrap();
    let mixed = SceneBatch::new(&sc, 60.0, None, &dev).unwrap();
    let c1 = m
        .encode(&alone.obs, &alone.mask().unwrap())
        .unwrap()
        .to_vec2::<f32>()
        .unwrap();
    let c2 = m
        .encode(&mixed.obs, &mixed.mask().unwrap())
        .unwrap()
        .to_vec2::<f32>()
        .unwrap();
    for (r1, r2) in c1.iter().zip(&c2) {
        for (x, y) in r1.iter().zip(r2) {
            assert!((x - y).abs() < 1e-5, "{x} vs {y}");
        }
    }
    // ...but agents of the same scene do influence each other.
    let multi = sc
        .iter()
        .position(|s| s.len() > 1)
        .expect("a scene with neighbours");
    let mut moved = sc[multi].clone();
    // Features see each agent's own relative history, so change the neighbour's motion.
    for (i, p) in moved.agents[1].obs.iter_mut().enumerate() {
        *p += Vec2::new(0.0, 0.4 * i as f32);
    }
    let a = SceneBatch::new(&sc[multi..multi + 1], 60.0, None, &dev).unwrap();
    let b = SceneBatch::new(std::slice::from_ref(&moved), 60.0, None, &dev).unwrap();
    let ca = m
        .encode(&a.obs, &a.mask().unwrap())
        .unwrap()
        .to_vec2::<f32>()
        .unwrap();
    let cb = m
        .encode(&b.obs, &b.mask().unwrap())
        .unwrap()
        .to_vec2::<f32>()
        .unwrap();
    let d: f32 = ca[0].iter().zip(&cb[0]).map(|(x, y)| (x - y).abs()).sum();
    assert!(d > 1e-6, "a neighbour's change did not reach agent 0");
}

/// With `model.social_radius` an agent pools over the agents within it at the last
/// observed step only: a far neighbour's motion leaves its context and its samples
/// unchanged, bit for bit, on both paths, a near one's does not; the two paths agree.
#[test]
fn social_radius_pools_over_near_neighbours_only_on_both_paths() {
    let mut c = small_cfg().into_inner();
    c.model.social_radius = 2.0;
    let cfg = c.check().unwrap();
    let (m, _) = build(&cfg, 18);
    let v = Vec2::new(0.4, 0.0);
    // Agent 1 walks 1 m beside agent 0, agent 2 10 m away.
    let scene = |bend: usize| Scene {
        source: "synthetic".into(),
        t: 0.0,
        agents: (0..3)
            .map(|i| {
                let mut a = walker(i, Vec2::new(0.0, [0.0, 1.0, 10.0][i]), v, 0.0);
                if i == bend {
                    for (k, p) in a.obs.iter_mut().enumerate() {
                        *p += Vec2::new(0.0, 0.05 * (OBS_LEN - 1 - k) as f32);
                    }
                }
                a
            })
            .collect(),
    };
    let dev = Device::Cpu;
    let ctx = |sc: &Scene| {
        let b = SceneBatch::new(std::slice::from_ref(sc), 60.0, None, &dev).unwrap();
        m.encode(&b.obs, &m.social_mask(&b).unwrap())
            .unwrap()
            .to_vec2::<f32>()
            .unwrap()
    };
    let samples = |sc: &Scene| {
        let mut p = LbebmPredictor::new(m.clone(), 5, "fast").unwrap();
        p.forecast(std::slice::from_ref(sc), 6).unwrap()[0].agents[0]
            .samples
            .clone()
    };
    let (base, far, near) = (scene(usize::MAX), scene(2), scene(1));
    assert_eq!(
        ctx(&far)[0],
        ctx(&base)[0],
        "a neighbour 10 m away reached agent 0"
    );
    assert_eq!(
        samples(&far),
        samples(&base),
        "the far neighbour moved agent 0's samples"
    );
    let d: f32 = ctx(&near)[0]
        .iter()
        .zip(&ctx(&base)[0])
        .map(|(x, y)| (x - y).abs())
        .sum();
    assert!(d > 1e-6, "a neighbour 1 m away did not reach agent 0");
    // Without the radius the far neighbour counts as any other.
    let b = SceneBatch::new(std::slice::from_ref(&far), 60.0, None, &dev).unwrap();
    let whole = m
        .encode(&b.obs, &b.mask().unwrap())
        .unwrap()
        .to_vec2::<f32>()
        .unwrap();
    assert_ne!(whole[0], ctx(&far)[0], "the radius changed nothing");
    // Random scenes (agents up to 14 m apart): the fast path masks as the tensor path.
    let sc = scenes(6, 19);
    let (worst, compared) = fast_and_tensor_paths_differ_by(&m, &sc, 6);
    assert!(compared > 100, "only {compared} positions compared");
    assert!(worst < 1e-4, "positions differ by {worst} m");
}

/// How far agent 0's context moves (the sum of its features' changes) when agent 1's whole
/// track in a random scene moves by (0.3, −0.2) m, for the heading-frame model that `edit`
/// makes of the small config; with `paths`, the fast path's samples are held to the tensor
/// path's as well.
fn context_shift_when_a_neighbour_moves(
    edit: impl FnOnce(&mut Config),
    seed: u64,
    paths: bool,
) -> f32 {
    let mut c = small_cfg().into_inner();
    c.model.frame = lbebm_model::config::Frame::Heading;
    edit(&mut c);
    let cfg = c.check().unwrap();
    let (m, _) = build(&cfg, seed);
    let spec = lbebm_model::batch::FrameSpec::of(&cfg.model);
    let sc = scenes(8, seed + 1);
    let multi = sc
        .iter()
        .position(|s| s.len() > 1)
        .expect("a scene with neighbours");
    let mut moved = sc[multi].clone();
    for p in moved.agents[1].obs.iter_mut() {
        *p += Vec2::new(0.3, -0.2);
    }
    let ctx = |s: &Scene| {
        let b = SceneBatch::with_frame(std::slice::from_ref(s), spec, None, &Device::Cpu).unwrap();
        m.encode(&b.obs, &m.social_mask(&b).unwrap())
            .unwrap()
            .to_vec2::<f32>()
            .unwrap()
    };
    if paths {
        let (worst, compared) = fast_and_tensor_paths_differ_by(&m, &sc, 6);
        assert!(compared > 100, "only {compared} positions compared");
        assert!(worst < 1e-4, "positions differ by {worst} m");
    }
    let (a, b) = (ctx(&sc[multi]), ctx(&moved));
    a[0].iter().zip(&b[0]).map(|(x, y)| (x - y).abs()).sum()
}

/// With `model.neighbours` the past encoder reads the nearest neighbours: even without
/// social pooling a neighbour's move reaches the agent's context (without them it cannot),
/// and the fast path reads them as the tensor path does.
#[test]
fn neighbours_reach_the_context_on_both_paths() {
    let shift = |k: usize| {
        let edit = |c: &mut Config| {
            c.model.social = false;
            c.model.neighbours = k;
        };
        context_shift_when_a_neighbour_moves(edit, 20, k > 0)
    };
    assert_eq!(
        shift(0),
        0.0,
        "without pooling or neighbours nothing is shared"
    );
    assert!(
        shift(3) > 1e-6,
        "the nearest neighbour did not reach agent 0"
    );
}

/// With `model.social_edges` pooling weighs a neighbour by where it is: moving a
/// neighbour's whole track leaves its own features (its history in its own frame) as they
/// were, so without the edge net agent 0's context changes only by float rounding, and
/// with it it moves; the fast path reads the pairs as the tensor path does.
#[test]
fn social_edges_bring_where_neighbours_are_into_pooling_on_both_paths() {
    let shift = |h: usize| {
        context_shift_when_a_neighbour_moves(|c: &mut Config| c.model.social_edges = h, 22, h > 0)
    };
    let (without, with) = (shift(0), shift(8));
    assert!(
        without < 1e-3,
        "pooling without edges saw where the neighbour stands: {without}"
    );
    assert!(
        with > 100.0 * without.max(1e-5),
        "the edge net did not see the neighbour move: {with} against {without}"
    );
}

/// A model with an edge net refuses, on both paths, a batch built without the pairs'
/// geometry, rather than pooling without it.
#[test]
fn an_edge_net_refuses_a_batch_without_edges() {
    let mut c = small_cfg().into_inner();
    c.model.social_edges = 8;
    let (m, _) = build(&c.check().unwrap(), 24);
    let b = SceneBatch::new(&scenes(2, 25), 60.0, None, &Device::Cpu).unwrap();
    assert!(b.edges.is_empty());
    let e = m.social_mask(&b).unwrap_err();
    assert!(e.to_string().contains("edge numbers"), "{e}");
    let obs = b.obs.flatten_all().unwrap().to_vec1::<f32>().unwrap();
    let e = m.cpu_model().unwrap().encode(&obs, &b).unwrap_err();
    assert!(e.to_string().contains("edge numbers"), "{e}");
}

#[test]
fn checkpoint_round_trip_and_mismatch_refused() {
    let cfg = small_cfg();
    let (m, vm) = build(&cfg, 6);
    let dir = tempfile::tempdir().unwrap();
    let sc = scenes(3, 7);
    // f32 storage round-trips exactly.
    checkpoint::save(dir.path(), &vm, &cfg, &Meta::default(), DType::F32).unwrap();
    let l = checkpoint::load(dir.path(), &Device::Cpu).unwrap();
    assert_eq!(l.config, cfg);
    let a = LbebmPredictor::new(m.clone(), 3, "a")
        .unwrap()
        .forecast(&sc, 4)
        .unwrap();
    let b = LbebmPredictor::new(l.model.clone(), 3, "b")
        .unwrap()
        .forecast(&sc, 4)
        .unwrap();
    assert_eq!(a, b);
    // f16 storage: loading twice gives identical outputs.
    checkpoint::save(dir.path(), &vm, &cfg, &Meta::default(), DType::F16).unwrap();
    let l1 = checkpoint::load(dir.path(), &Device::Cpu).unwrap();
    let l2 = checkpoint::load(dir.path(), &Device::Cpu).unwrap();
    let c1 = LbebmPredictor::new(l1.model, 3, "1")
        .unwrap()
        .forecast(&sc, 4)
        .unwrap();
    let c2 = LbebmPredictor::new(l2.model, 3, "2")
        .unwrap()
        .forecast(&sc, 4)
        .unwrap();
    assert_eq!(c1, c2);
    // A config of another size is refused, naming what differs.
    let mut other = cfg.clone().into_inner();
    other.model.ebm_hidden = vec![10, 10];
    std::fs::write(dir.path().join(checkpoint::CONFIG), other.to_toml()).unwrap();
    let e = checkpoint::load(dir.path(), &Device::Cpu)
        .err()
        .expect("mismatch must fail")
        .to_string();
    assert!(
        e.contains("do not match") && e.contains("ebm.l0.weight"),
        "{e}"
    );
    // Truncated weights are refused.
    std::fs::write(dir.path().join(checkpoint::CONFIG), cfg.to_toml()).unwrap();
    let w = dir.path().join(checkpoint::WEIGHTS);
    let bytes = std::fs::read(&w).unwrap();
    std::fs::write(&w, &bytes[..bytes.len() / 2]).unwrap();
    let e = checkpoint::load(dir.path(), &Device::Cpu)
        .err()
        .expect("truncated must fail")
        .to_string();
    assert!(e.contains("model.safetensors"), "{e}");
    // A missing weights file too.
    std::fs::remove_file(&w).unwrap();
    assert!(checkpoint::load(dir.path(), &Device::Cpu).is_err());
}

#[test]
fn short_overfit_drives_the_loss_down_and_training_is_reproducible() {
    let mut c = small_cfg().into_inner();
    c.train.epochs = 30;
    c.train.batch_agents = 4;
    c.train.lr = 2e-3;
    c.train.rotate = false;
    c.train.lr_step = 100;
    let cfg = c.check().unwrap();
    let data = scenes(8, 8);
    let dir = tempfile::tempdir().unwrap();
    let run = |out: &std::path::Path| {
        train::train(
            TrainRun {
                cfg: cfg.clone(),
                out,
                device: &Device::Cpu,
                resume: false,
                trained_on: "synthetic".into(),
            },
            &data,
            &data[..3],
            &mut Quiet,
        )
        .unwrap()
    };
    let s = run(dir.path());
    let first = s.history.first().unwrap().mean.future + s.history.first().unwrap().mean.plan;
    let last = s.history.last().unwrap().mean.future + s.history.last().unwrap().mean.plan;
    assert!(
        last < first / 5.0,
        "reconstruction loss only went {first} → {last}"
    );
    let dir2 = tempfile::tempdir().unwrap();
    let s2 = run(dir2.path());
    assert_eq!(s.best_val_ade, s2.best_val_ade);
    let w1 = std::fs::read(dir.path().join(checkpoint::WEIGHTS)).unwrap();
    let w2 = std::fs::read(dir2.path().join(checkpoint::WEIGHTS)).unwrap();
    assert_eq!(w1, w2, "same seed must give the same weights");
}

#[test]
fn resume_continues_where_training_stopped() {
    resume_matches_an_uninterrupted_run(|_| {});
}

/// The average of the weights is part of the training state: a resumed run validates (and
/// keeps) the same averaged weights as an uninterrupted one.
#[test]
fn resume_with_weight_averaging_and_decay_continues_where_training_stopped() {
    resume_matches_an_uninterrupted_run(|t| {
        t.ema = 0.9;
        t.weight_decay = 0.5;
    });
}

fn resume_matches_an_uninterrupted_run(change: impl Fn(&mut lbebm_model::config::TrainConfig)) {
    let mut c = small_cfg().into_inner();
    change(&mut c.train);
    c.train.epochs = 4;
    // A buffer of persistent chains that the first epoch fills and wraps, so that the
    // resumed epochs start their chains from it (as real runs do, whose buffers fill
    // within their first epoch) and not from noise.
    c.langevin.replay_size = 8;
    let full_cfg = c.clone().check().unwrap();
    c.train.epochs = 2;
    let half_cfg = c.check().unwrap();
    let data = scenes(6, 9);
    let agents: usize = data.iter().map(Scene::len).sum();
    assert!(
        agents > 8,
        "{agents} agents do not fill the buffer in one epoch"
    );
    let go = |cfg: &CheckedConfig, out: &std::path::Path, resume: bool| {
        train::train(
            TrainRun {
                cfg: cfg.clone(),
                out,
                device: &Device::Cpu,
                resume,
                trained_on: "synthetic".into(),
            },
            &data,
            &data[..2],
            &mut Quiet,
        )
        .unwrap()
    };
    let a = tempfile::tempdir().unwrap();
    let straight = go(&full_cfg, a.path(), false);
    let b = tempfile::tempdir().unwrap();
    go(&half_cfg, b.path(), false);
    let resumed = go(&full_cfg, b.path(), true);
    assert_eq!(resumed.epochs_run, 4);
    let la: Vec<f64> = straight.history.iter().map(|r| r.mean.total).collect();
    let lb: Vec<f64> = resumed.history.iter().map(|r| r.mean.total).collect();
    assert_eq!(la, lb, "a resumed run must match an uninterrupted one");
    let va: Vec<f64> = straight.history.iter().map(|r| r.val_ade).collect();
    let vb: Vec<f64> = resumed.history.iter().map(|r| r.val_ade).collect();
    assert_eq!(va, vb, "and validate the same weights");
    let wa = std::fs::read(a.path().join(checkpoint::WEIGHTS)).unwrap();
    let wb = std::fs::read(b.path().join(checkpoint::WEIGHTS)).unwrap();
    assert_eq!(wa, wb, "and keep the same checkpoint");
}

/// With a low-rank trajectory space, the fast path folds the basis into the decoder's
/// last layer; the tensor path applies it as a layer of its own: the same samples.
#[test]
fn fast_path_with_a_folded_trajectory_basis_agrees_with_the_tensor_path() {
    let mut c = small_cfg().into_inner();
    c.model.traj_rank = 6;
    c.model.frame = lbebm_model::config::Frame::Heading;
    c.train.mirror = true;
    let cfg = c.check().unwrap();
    let (m, vm) = build(&cfg, 12);
    assert!(
        sorted_vars(&vm)
            .iter()
            .any(|(n, v)| n == "dec_traj_basis.weight" && v.dims() == [24, 6]),
        "the basis is a tensor of the checkpoint"
    );
    let sc = scenes(4, 13);
    // Started at the principal components of the training futures: the bias is their
    // mean: in each walker's heading frame it moves ahead and, with the mirror images
    // counted (`train.mirror`), not sideways.
    train::start_from_training_data(&vm, &cfg, &sc).unwrap();
    let bias = var(&vm, "dec_traj_basis.bias")
        .as_tensor()
        .to_vec1::<f32>()
        .unwrap();
    assert_eq!(bias.len(), 24);
    let ahead = bias.iter().step_by(2).fold(0.0f32, |a, x| a.max(x.abs()));
    let sideways = bias
        .iter()
        .skip(1)
        .step_by(2)
        .fold(0.0f32, |a, x| a.max(x.abs()));
    assert!(ahead > 1.0, "the mean future does not move: {ahead}");
    assert!(sideways < 1e-3 * ahead, "sideways mean {sideways}");
    let (worst, compared) = fast_and_tensor_paths_differ_by(&m, &sc, 6);
    assert!(compared > 100, "only {compared} positions compared");
    assert!(worst < 1e-4, "positions differ by {worst} m");
}

/// With plan anchors both paths put candidate j of an agent at anchor j mod A (6
/// candidates over 4 anchors: two anchors serve twice), and the anchors move the
/// samples.
#[test]
fn fast_path_with_plan_anchors_agrees_with_the_tensor_path() {
    let mut c = small_cfg().into_inner();
    c.model.anchors = 4;
    c.model.frame = lbebm_model::config::Frame::Heading;
    let cfg = c.check().unwrap();
    let (m, vm) = build(&cfg, 14);
    let sc = scenes(6, 15);
    train::start_from_training_data(&vm, &cfg, &sc).unwrap();
    let anchors = var(&vm, "anchors");
    assert_eq!(anchors.dims(), [4, 2 * cfg.model.subgoals.len()]);
    let (worst, compared) = fast_and_tensor_paths_differ_by(&m, &sc, 6);
    assert!(compared > 100, "only {compared} positions compared");
    assert!(worst < 1e-4, "positions differ by {worst} m");
    // Anchors set elsewhere give other samples from the same seed.
    let mut fast = LbebmPredictor::new(m.clone(), 5, "fast").unwrap();
    let before = fast.forecast(&sc, 6).unwrap();
    // 100 model units: 1.7 m. An untrained trajectory decoder reads its plan weakly,
    // so the samples move by millimetres, far beyond float rounding.
    let shifted = (anchors.as_tensor() + 100.0).unwrap();
    anchors.set(&shifted).unwrap();
    let mut fast = LbebmPredictor::new(m, 5, "fast").unwrap();
    let after = fast.forecast(&sc, 6).unwrap();
    let moved = before[0].agents[0]
        .samples
        .iter()
        .zip(&after[0].agents[0].samples)
        .map(|(p, q)| (p[PRED_LEN - 1] - q[PRED_LEN - 1]).norm())
        .fold(0.0f32, f32::max);
    assert!(
        moved > 1e-3,
        "the anchors do not reach the samples: {moved} m"
    );
}

/// The largest distance between the positions that the CPU fast path and the tensor
/// path predict for `sc` (`k` samples, the same seed), and how many were compared.
fn fast_and_tensor_paths_differ_by(m: &lbebm_model::Lbebm, sc: &[Scene], k: usize) -> (f32, usize) {
    let mut a = LbebmPredictor::new(m.clone(), 5, "fast").unwrap();
    let mut b = LbebmPredictor::new(m.clone(), 5, "tensor").unwrap();
    b.set_backend(Backend::Tensor).unwrap();
    assert!(a.backend() == Backend::Cpu && b.backend() == Backend::Tensor);
    let (fa, fb) = (a.forecast(sc, k).unwrap(), b.forecast(sc, k).unwrap());
    let mut worst = 0.0f32;
    let mut compared = 0;
    for (x, y) in fa.iter().zip(&fb) {
        for (p, q) in x.agents.iter().zip(&y.agents) {
            for (s, t) in p.samples.iter().zip(&q.samples) {
                for (u, v) in s.iter().zip(t) {
                    worst = worst.max((u - v).norm());
                    compared += 1;
                }
            }
        }
    }
    (worst, compared)
}

/// Prediction's chains started at another σ (`langevin.test_init_sigma`): both paths start
/// alike and the σ reaches the samples; set to `init_sigma` itself it changes nothing.
#[test]
fn fast_path_with_another_starting_sigma_agrees_with_the_tensor_path() {
    let cfg = small_cfg();
    let (plain, vm) = build(&cfg, 16);
    let sc = scenes(4, 17);
    // The same weights (the variables of `vm`), another prediction config.
    let with = |s0: f32| {
        let mut c = cfg.clone().into_inner();
        c.langevin.test_init_sigma = Some(s0);
        let vb = candle_nn::VarBuilder::from_varmap(&vm, DType::F32, &Device::Cpu);
        lbebm_model::Lbebm::new(&c.check().unwrap(), vb).unwrap()
    };
    let narrow = with(0.25 * cfg.langevin.init_sigma);
    let (worst, compared) = fast_and_tensor_paths_differ_by(&narrow, &sc, 6);
    assert!(compared > 100, "only {compared} positions compared");
    assert!(worst < 1e-4, "positions differ by {worst} m");
    let energies = |m: lbebm_model::Lbebm| {
        let mut p = LbebmPredictor::new(m, 5, "p").unwrap();
        p.forecast(&sc, 6).unwrap()[0].agents[0].energies.clone()
    };
    let base = energies(plain);
    // Written out, the training σ is the σ left unset: the same samples, bit for bit.
    assert_eq!(energies(with(cfg.langevin.init_sigma)), base);
    let moved = energies(narrow)
        .iter()
        .zip(&base)
        .map(|(e, f)| (e - f).abs() / (1.0 + f.abs()))
        .fold(0.0f32, f32::max);
    assert!(
        moved > 1e-2,
        "the starting σ does not reach the samples: {moved}"
    );
}

/// At a prediction temperature other than 1 both paths scale the noise alike, and the
/// temperature reaches the samples.
#[test]
fn fast_path_at_another_temperature_agrees_with_the_tensor_path() {
    let cfg = small_cfg();
    let (warm, vm) = build(&cfg, 16);
    let sc = scenes(4, 17);
    let mut c = cfg.into_inner();
    c.langevin.test_temperature = 0.25;
    // The same weights (the variables of `vm`), another temperature.
    let vb = candle_nn::VarBuilder::from_varmap(&vm, DType::F32, &Device::Cpu);
    let cold = lbebm_model::Lbebm::new(&c.check().unwrap(), vb).unwrap();
    let (worst, compared) = fast_and_tensor_paths_differ_by(&cold, &sc, 6);
    assert!(compared > 100, "only {compared} positions compared");
    assert!(worst < 1e-4, "positions differ by {worst} m");
    let mut a = LbebmPredictor::new(warm, 5, "warm").unwrap();
    let mut b = LbebmPredictor::new(cold, 5, "cold").unwrap();
    let (fa, fb) = (a.forecast(&sc, 6).unwrap(), b.forecast(&sc, 6).unwrap());
    // The latents move (their energies say so; an untrained decoder reads them too
    // weakly for the positions to show it).
    let moved = fa[0].agents[0]
        .energies
        .iter()
        .zip(&fb[0].agents[0].energies)
        .map(|(e, f)| (e - f).abs() / (1.0 + f.abs()))
        .fold(0.0f32, f32::max);
    assert!(
        moved > 1e-2,
        "the temperature does not reach the samples: {moved}"
    );
}

/// The CPU fast path and the candle tensor path agree on the same inputs and noise.
#[test]
fn fast_path_agrees_with_the_tensor_path() {
    // Reference sizes: the fast kernels must hold at the shapes that ship.
    let cfg = Config::default().check().unwrap();
    let (m, _) = build(&cfg, 10);
    let sc = scenes(5, 11);
    let mut a = LbebmPredictor::new(m.clone(), 5, "fast").unwrap();
    let mut b = LbebmPredictor::new(m.clone(), 5, "tensor").unwrap();
    b.set_backend(Backend::Tensor).unwrap();
    assert!(
        a.backend() == Backend::Cpu && b.backend() == Backend::Tensor,
        "the two paths must differ"
    );
    let fa = a.forecast(&sc, 6).unwrap();
    let fb = b.forecast(&sc, 6).unwrap();
    let mut worst = 0.0f32;
    let mut worst_e = 0.0f32;
    for (x, y) in fa.iter().zip(&fb) {
        for (p, q) in x.agents.iter().zip(&y.agents) {
            for (s, t) in p.samples.iter().zip(&q.samples) {
                for (u, v) in s.iter().zip(t) {
                    worst = worst.max((u - v).norm());
                }
            }
            for (e, f) in p.energies.iter().zip(&q.energies) {
                worst_e = worst_e.max((e - f).abs() / (1.0 + f.abs()));
            }
        }
    }
    assert!(worst < 1e-4, "positions differ by {worst} m");
    assert!(worst_e < 1e-4, "energies differ by {worst_e} (relative)");
    // The training chains too: the same z after 20 noisy steps.
    let c = context(&m, 7);
    let n = c.dim(0).unwrap();
    let z0 = randn(
        &mut StdRng::seed_from_u64(1),
        (n, cfg.model.zdim),
        2.0,
        &Device::Cpu,
    )
    .unwrap();
    let zf = m
        .cpu_model()
        .unwrap()
        .energy()
        .langevin_tensor(
            LangevinParams::of(&cfg.langevin),
            &z0,
            &c,
            20,
            Noise::Rng(&mut StdRng::seed_from_u64(2)),
        )
        .unwrap();
    let cond = m.energy_net().condition(&c).unwrap();
    let mut r: StdRng = StdRng::seed_from_u64(2);
    let zt = m.langevin(&z0, &cond, 20, Noise::Rng(&mut r)).unwrap();
    let d = max_abs(&(zf - zt).unwrap());
    assert!(d < 1e-4, "Langevin chains differ by {d}");
}

#[test]
fn fast_gelu_matches_the_exact_one() {
    let xs: Vec<f32> = (-2000..=2000).map(|i| i as f32 * 0.005).collect();
    let mut v = xs.clone();
    let mut d = vec![0.0; xs.len()];
    lbebm_model::kernels::gelu_pair(&mut v, &mut d);
    let t = Tensor::new(xs.as_slice(), &Device::Cpu).unwrap();
    let exact = t.gelu_erf().unwrap().to_vec1::<f32>().unwrap();
    // Derivative: Φ(x) + x·φ(x) with candle's erf, in f64 where possible.
    let erf = (&t / std::f64::consts::SQRT_2)
        .unwrap()
        .erf()
        .unwrap()
        .to_vec1::<f32>()
        .unwrap();
    for i in 0..xs.len() {
        assert!(
            (v[i] - exact[i]).abs() < 2e-6,
            "gelu({}) {} vs {}",
            xs[i],
            v[i],
            exact[i]
        );
        let x = xs[i] as f64;
        let cdf = 0.5 * (1.0 + erf[i] as f64);
        let pdf = (-0.5 * x * x).exp() / (2.0 * std::f64::consts::PI).sqrt();
        let want = cdf + x * pdf;
        assert!(
            (d[i] as f64 - want).abs() < 2e-6,
            "gelu'({x}) {} vs {want}",
            d[i]
        );
    }
}

#[test]
fn a_batch_cut_into_parts_has_the_whole_batchs_loss_and_gradient() {
    batch_in_parts(|_| {});
}

/// The same with the best-of-many term: its chains, like the prior's, get each row's
/// own numbers whatever the cut, and its minimum over samples is per agent.
#[test]
fn best_of_many_in_parts_has_the_whole_batchs_loss_and_gradient() {
    batch_in_parts(|c| c.train.variety_samples = 3);
}

/// The same with the end point weighted up in the best-of-many error.
#[test]
fn best_of_many_with_the_end_point_weighted_in_parts_has_the_whole_batchs_loss_and_gradient() {
    batch_in_parts(|c| {
        c.train.variety_samples = 3;
        c.train.variety_endpoint = 2.0;
    });
}

/// Weighting the end point up adds to the best-of-many error and to nothing else: the
/// same weights and random numbers give the same other terms, and a larger best of many
/// (the minimum of error plus a positive end-point error exceeds the minimum of the
/// error alone).
#[test]
fn the_end_point_weight_adds_to_the_best_of_many_term_only() {
    let data = scenes(12, 21);
    let n: usize = data.iter().map(Scene::len).sum();
    let losses = |endpoint: f64| {
        let mut cfg = small_cfg().into_inner();
        cfg.train.variety_samples = 3;
        cfg.train.variety_endpoint = endpoint;
        let cfg = cfg.check().unwrap();
        let (model, _vm) = build(&cfg, 5);
        let (z0, noise) = chains_start(&cfg, n);
        let (l, _, _) =
            train::batch_grads(&model, &data, None, &z0, &noise, 1, &Device::Cpu).unwrap();
        l
    };
    let (plain, weighted) = (losses(0.0), losses(2.0));
    for (a, b) in [
        (plain.plan, weighted.plan),
        (plain.future, weighted.future),
        (plain.kld, weighted.kld),
        (plain.cd, weighted.cd),
    ] {
        assert!(
            (a - b).abs() <= 1e-6 * (1.0 + a.abs()),
            "{plain:?} vs {weighted:?}"
        );
    }
    assert!(
        weighted.variety > plain.variety * 1.01,
        "{} vs {}",
        weighted.variety,
        plain.variety
    );
}

/// The same with plan anchors and winner takes all over the nearest of them: the
/// nearest anchors are chosen per agent, so the cut changes nothing, and the anchors
/// themselves get their gradient.
#[test]
fn anchors_with_winner_takes_all_in_parts_have_the_whole_batchs_loss_and_gradient() {
    batch_in_parts(|c| {
        c.model.anchors = 5;
        c.train.anchor_wta = 3;
    });
}

/// The training chains' start for `n` agents, and the batch's noise (with the config's
/// best-of-many chains), from one fixed generator: two runs of a batch that get these
/// differ only by what the test changes.
fn chains_start(cfg: &CheckedConfig, n: usize) -> (Tensor, lbebm_model::model::TrainNoise) {
    let mut rng = StdRng::seed_from_u64(9);
    let z0 = randn(&mut rng, (n, cfg.model.zdim), 2.0, &Device::Cpu).unwrap();
    let noise = lbebm_model::model::TrainNoise::draw_with_variety(
        &mut rng,
        n,
        cfg.model.zdim,
        cfg.langevin.steps,
        cfg.train.variety_samples,
    );
    (z0, noise)
}

fn batch_in_parts(change: impl Fn(&mut Config)) {
    let mut cfg = small_cfg().into_inner();
    change(&mut cfg);
    let cfg = cfg.check().unwrap();
    let variety = cfg.train.variety_samples;
    let best_of = variety + cfg.train.anchor_wta;
    let (model, vm) = build(&cfg, 5);
    let data = scenes(12, 21);
    let n: usize = data.iter().map(Scene::len).sum();
    let (z0, noise) = chains_start(&cfg, n);
    let angles: Vec<f32> = (0..data.len()).map(|i| i as f32 * 0.5).collect();
    let run = |parts| {
        train::batch_grads(
            &model,
            &data,
            Some(&angles),
            &z0,
            &noise,
            parts,
            &Device::Cpu,
        )
        .unwrap()
    };
    let (l1, z1, g1) = run(1);
    assert_eq!(g1.len(), 1);
    // The term is there exactly when asked for; the best of several samples is no worse
    // than what one of them would give, which is finite and positive here.
    assert_eq!(l1.variety > 0.0, best_of > 0, "{l1:?}");
    if cfg.model.anchors > 0 {
        let anchors = var(&vm, "anchors");
        let g = g1[0]
            .get(anchors.as_tensor())
            .expect("the anchors get a gradient");
        let size = max_abs(g);
        assert!(size > 0.0, "the anchors' gradient is zero");
    }
    for parts in [2, 3] {
        let (lp, zp, gp) = run(parts);
        assert_eq!(gp.len(), parts, "{parts} parts");
        for (a, b) in [
            (l1.total, lp.total),
            (l1.plan, lp.plan),
            (l1.future, lp.future),
            (l1.kld, lp.kld),
            (l1.cd, lp.cd),
            (l1.subgoal, lp.subgoal),
            (l1.variety, lp.variety),
        ] {
            assert!(
                (a - b).abs() <= 1e-4 * (1.0 + a.abs()),
                "{parts} parts: {a} vs {b}"
            );
        }
        // The chains of each row get the same noise whatever the cut.
        let d = max_abs(&(&z1 - &zp).unwrap());
        assert!(d < 1e-4, "chains differ by {d}");
        let mut checked = 0;
        for (name, var) in sorted_vars(&vm) {
            let Some(whole) = g1[0].get(var.as_tensor()) else {
                continue;
            };
            let mut sum = whole.zeros_like().unwrap();
            for g in &gp {
                if let Some(x) = g.get(var.as_tensor()) {
                    sum = (sum + x).unwrap();
                }
            }
            let diff = max_abs(&(whole - &sum).unwrap());
            let scale = max_abs(whole);
            assert!(
                diff <= 1e-4 * (1.0 + scale),
                "{name}: {diff} (max |g| {scale})"
            );
            checked += 1;
        }
        assert!(checked > 20, "only {checked} gradients compared");
    }
}

#[test]
fn fused_layers_match_candles_generic_operations_forward_and_backward() {
    use candle_core::Module;
    use candle_nn::{VarBuilder, VarMap};
    let vm = VarMap::new();
    let vb = VarBuilder::from_varmap(&vm, DType::F32, &Device::Cpu);
    let mlp = lbebm_model::nn::Mlp::new(24, &[96, 40], 7, vb.pp("m")).unwrap();
    seeded_init(&vm, 3).unwrap();
    let mut rng = StdRng::seed_from_u64(4);
    // Inputs large enough that some ReLUs are off, and a non-contiguous view.
    let x = candle_core::Var::from_tensor(
        &randn(&mut rng, (24, 33), 3.0, &Device::Cpu)
            .unwrap()
            .t()
            .unwrap(),
    )
    .unwrap();
    let r = randn(&mut rng, (33, 7), 1.0, &Device::Cpu).unwrap();
    let run = |fused: bool| {
        let y = if fused {
            mlp.forward(x.as_tensor())
        } else {
            mlp.forward_generic(x.as_tensor())
        }
        .unwrap();
        let g = (&y * &r).unwrap().sum_all().unwrap().backward().unwrap();
        (y, g)
    };
    let (y1, g1) = run(true);
    let (y0, g0) = run(false);
    let close = |a: &Tensor, b: &Tensor, what: &str| {
        let (d, s) = (max_abs(&(a - b).unwrap()), max_abs(b));
        assert!(s > 0.0, "{what}: all zero");
        assert!(d <= 1e-5 * s, "{what}: differs by {d} (max {s})");
    };
    close(&y1, &y0, "output");
    close(
        g1.get(x.as_tensor()).unwrap(),
        g0.get(x.as_tensor()).unwrap(),
        "input gradient",
    );
    for (name, var) in sorted_vars(&vm) {
        close(
            g1.get(var.as_tensor()).unwrap(),
            g0.get(var.as_tensor()).unwrap(),
            &name,
        );
    }
}

#[test]
fn fused_gelu_matches_candles_exact_gelu_forward_and_backward() {
    let mut rng = StdRng::seed_from_u64(11);
    let x = candle_core::Var::from_tensor(&randn(&mut rng, (50, 40), 3.0, &Device::Cpu).unwrap())
        .unwrap();
    let r = randn(&mut rng, (50, 40), 1.0, &Device::Cpu).unwrap();
    let run = |fused: bool| {
        let y = if fused {
            lbebm_model::ops::gelu(x.as_tensor()).unwrap()
        } else {
            x.as_tensor().gelu_erf().unwrap()
        };
        let g = (&y * &r).unwrap().sum_all().unwrap().backward().unwrap();
        (y, g.get(x.as_tensor()).unwrap().clone())
    };
    let ((y1, g1), (y0, g0)) = (run(true), run(false));
    for (a, b, what) in [(&y1, &y0, "value"), (&g1, &g0, "gradient")] {
        let d = max_abs(&(a - b).unwrap());
        assert!(d < 2e-5, "{what} differs by {d}");
    }
}

#[test]
fn chains_shared_out_among_threads_give_the_same_samples() {
    // Rows are independent and the noise is drawn up front in the single-threaded
    // order: any number of threads gives the same numbers, bit for bit.
    let cfg = small_cfg();
    let (m, _) = build(&cfg, 12);
    let fm = m.cpu_model().unwrap();
    let sc = scenes(30, 13);
    let b = SceneBatch::new(&sc, 60.0, None, &Device::Cpu).unwrap();
    let obs = b.obs.flatten_all().unwrap().to_vec1::<f32>().unwrap();
    let rows = b.len() * 7;
    assert!(rows >= 3 * 64, "{rows} rows: too few to be shared out");
    let run = |threads: usize, diffusion: Diffusion| {
        let mut r = StdRng::seed_from_u64(14);
        let draw = Draw {
            k: 7,
            steps: 6,
            diffusion,
        };
        fm.sample_on(&obs, &b, draw, &mut r, threads).unwrap()
    };
    for noise in [Diffusion::On, Diffusion::Off] {
        let one = run(1, noise);
        assert_eq!(one.0.len(), rows * PRED_LEN * 2);
        for threads in [2, 3] {
            let other = run(threads, noise);
            let d = one
                .0
                .iter()
                .zip(&other.0)
                .map(|(a, b)| (a - b).abs())
                .fold(0f32, f32::max);
            let de = one
                .1
                .iter()
                .zip(&other.1)
                .map(|(a, b)| (a - b).abs())
                .fold(0f32, f32::max);
            assert!(
                other == one,
                "{threads} threads, noise {noise:?}: futures differ by {d}, energies by {de}"
            );
        }
    }
}

#[test]
fn validation_with_fewer_candidates_validates_as_prediction_with_that_many() {
    // `train.val_candidates` stands in for `langevin.candidates` during validation only:
    // a model that predicts from 200 candidates but validates on 30 scores exactly as
    // one that predicts from 30.
    let with = |candidates: usize, val_candidates: usize| {
        let mut c = small_cfg().into_inner();
        c.train.val_covering = true;
        c.langevin.candidates = candidates;
        c.train.val_candidates = val_candidates;
        let (m, _vm) = build(&c.check().unwrap(), 7);
        let s = train::validate(&m, &scenes(6, 11), 5, &mut Quiet).unwrap();
        (s.windows, s.ade, s.fde)
    };
    let fewer = with(200, 30);
    assert!(fewer.0 > 0);
    assert_eq!(fewer, with(30, 0));
    assert_ne!(fewer, with(200, 0));
}

#[test]
fn validation_ignores_the_prediction_only_chain_settings() {
    // Training's validation samples with training's chains (temperature 1, starting σ
    // `init_sigma`) whatever `langevin.test_temperature` and `langevin.test_init_sigma`
    // say, so that adding them to a trained config picks the same epoch and retrains the
    // same weights.
    let at = |t: f32, s0: Option<f32>| {
        let mut c = small_cfg().into_inner();
        c.train.val_covering = true;
        c.langevin.test_temperature = t;
        c.langevin.test_init_sigma = s0;
        let (m, _vm) = build(&c.check().unwrap(), 7);
        assert_eq!(m.config().langevin.test_temperature, t);
        assert_eq!(m.config().langevin.test_init_sigma, s0);
        let s = train::validate(&m, &scenes(6, 11), 5, &mut Quiet).unwrap();
        (s.windows, s.ade, s.fde)
    };
    let plain = at(1.0, None);
    assert!(plain.0 > 0);
    assert_eq!(at(0.25, None), plain);
    assert_eq!(at(1.0, Some(0.5)), plain);
    assert_eq!(at(0.25, Some(0.5)), plain);
}
