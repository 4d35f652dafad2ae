//! The hot kernels of sampling, fast path against candle's tensor ops, at the shapes of
//! a 32-agent × 20-sample scene (640 chains): `cargo bench -p lbebm-model`.
// `criterion_group!` defines a public function it gives no doc comment.
#![allow(missing_docs)]

use candle_core::Device;
use criterion::{black_box, criterion_group, criterion_main, Criterion};
use lbebm_model::batch::SceneBatch;
use lbebm_model::checkpoint;
use lbebm_model::config::Config;
use lbebm_model::cpu::{CpuEnergy, EnergyScratch};
use lbebm_model::kernels::gelu_pair;
use lbebm_model::langevin::{Diffusion, Draw};
use lbebm_model::model::randn;
use lbebm_model::train::seeded_init;
use lbebm_types::{AgentWindow, Scene, Vec2};
use rand::rngs::StdRng;
use rand::SeedableRng;

const ROWS: usize = 640;

fn scene(n: usize) -> Scene {
    Scene {
        source: "bench".into(),
        t: 0.0,
        agents: (0..n)
            .map(|a| AgentWindow {
                id: a.to_string(),
                obs: std::array::from_fn(|k| Vec2::new(a as f32 + 0.4 * k as f32, 0.3 * k as f32)),
                future: None,
            })
            .collect(),
    }
}

fn kernels(c: &mut Criterion) {
    let cfg = Config::default().check().unwrap();
    let (m, vm) = checkpoint::build(&cfg, &Device::Cpu).unwrap();
    seeded_init(&vm, 1).unwrap();
    let mut rng = StdRng::seed_from_u64(1);

    // GELU with its derivative on the energy net's hidden layer.
    let x = randn(&mut rng, (ROWS, 200), 1.0, &Device::Cpu).unwrap();
    let xv = x.flatten_all().unwrap().to_vec1::<f32>().unwrap();
    c.bench_function("gelu+grad fused 640x200", |b| {
        let mut v = xv.clone();
        let mut d = vec![0.0; v.len()];
        b.iter(|| {
            v.copy_from_slice(&xv);
            gelu_pair(black_box(&mut v), &mut d);
        })
    });
    c.bench_function("gelu_erf candle 640x200", |b| {
        b.iter(|| black_box(x.gelu_erf().unwrap()))
    });

    // Energy and its gradient for 640 chains.
    let ctx = randn(&mut rng, (ROWS, cfg.model.fdim), 1.0, &Device::Cpu).unwrap();
    let z = randn(&mut rng, (ROWS, cfg.model.zdim), 2.0, &Device::Cpu).unwrap();
    let fe = CpuEnergy::new(m.energy_net().layers(), cfg.model.zdim).unwrap();
    let cv = ctx.flatten_all().unwrap().to_vec1::<f32>().unwrap();
    let zv = z.flatten_all().unwrap().to_vec1::<f32>().unwrap();
    let cond = fe.condition(&cv, ROWS);
    c.bench_function("energy+grad fast 640", |b| {
        let mut s = EnergyScratch::default();
        let (mut e, mut g) = (Vec::new(), Vec::new());
        b.iter(|| fe.energy_and_grad(black_box(&zv), &cond, ROWS, &mut s, &mut e, &mut g))
    });
    let tcond = m.energy_net().condition(&ctx).unwrap();
    c.bench_function("energy+grad candle 640", |b| {
        b.iter(|| black_box(m.energy_net().energy_and_grad(&z, &tcond).unwrap()))
    });
    let zvar = candle_core::Var::from_tensor(&z).unwrap();
    c.bench_function("energy+grad candle autograd 640", |b| {
        b.iter(|| {
            let e = m.energy_net().energy(zvar.as_tensor(), &ctx).unwrap();
            black_box(e.sum_all().unwrap().backward().unwrap())
        })
    });

    // Whole sampling of a 32-agent scene, 20 samples.
    let sc = vec![scene(32)];
    let batch = SceneBatch::new(&sc, 60.0, None, &Device::Cpu).unwrap();
    let obs = batch.obs.flatten_all().unwrap().to_vec1::<f32>().unwrap();
    let fm = m.cpu_model().unwrap();
    let draw = Draw {
        k: 20,
        steps: 20,
        diffusion: Diffusion::On,
    };
    c.bench_function("sample 32x20 fast", |b| {
        b.iter(|| black_box(fm.sample(&obs, &batch, draw, &mut rng).unwrap()))
    });
    let mask = batch.mask().unwrap();
    c.bench_function("sample 32x20 candle", |b| {
        b.iter(|| black_box(m.sample(&batch.obs, &mask, draw, &mut rng).unwrap()))
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20).warm_up_time(std::time::Duration::from_millis(500)).measurement_time(std::time::Duration::from_secs(3));
    targets = kernels
}
criterion_main!(benches);
