//! Short-run Langevin dynamics under the prior p(z|c) ∝ exp(−E(z,c))·N(0,σ²I), written
//! once for both backends:
//!
//! `z ← z − ½s²(∂E/∂z + z/σ²) + s·ε`, ε standard normal, for a fixed number of steps.
//!
//! [`run`] owns the loop and where the noise comes from; a backend ([`Chains`]) only
//! says how to take the drift and add the noise on its own storage (the candle tensor
//! path in [`crate::model`], the CPU buffers of [`crate::cpu`]).

use crate::config::LangevinConfig;
use rand::Rng;
use rand_distr::StandardNormal;

/// Step size and reference σ of the sampler.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LangevinParams {
    /// s in the update.
    pub step_size: f32,
    /// σ of the reference density N(0, σ²I).
    pub prior_sigma: f32,
    /// Temperature T: the noise term is s·√T·ε.
    pub temperature: f32,
}

impl LangevinParams {
    /// Training's chains from a config (T = 1).
    pub fn of(l: &LangevinConfig) -> Self {
        Self {
            step_size: l.step_size,
            prior_sigma: l.prior_sigma,
            temperature: 1.0,
        }
    }

    /// Prediction's chains from a config (T = `test_temperature`).
    pub fn predicting(l: &LangevinConfig) -> Self {
        Self {
            temperature: l.test_temperature,
            ..Self::of(l)
        }
    }

    /// s·√T, the factor on each step's standard normals.
    pub fn noise_scale(&self) -> f32 {
        // √1 and s·1 are exact: at T = 1 the numbers of every run before the temperature.
        self.step_size * self.temperature.sqrt()
    }

    /// ½s², the drift's factor.
    pub fn half_step2(&self) -> f32 {
        0.5 * self.step_size * self.step_size
    }

    /// 1/σ².
    pub fn inv_var(&self) -> f32 {
        1.0 / (self.prior_sigma * self.prior_sigma)
    }
}

/// Where the Langevin noise comes from.
pub enum Noise<'a> {
    /// None: deterministic descent.
    Off,
    /// Standard normals drawn row-major each step.
    Rng(&'a mut dyn rand::RngCore),
    /// Standard normals drawn beforehand, `steps × rows × zdim` in the order [`Noise::Rng`]
    /// would draw them: a chunk of rows of a batch gets exactly the noise it would get
    /// inside the whole batch.
    Drawn(&'a [f32]),
}

/// Whether sampling adds the noise term ([`Diffusion::On`]: the sampler) or only
/// descends the energy ([`Diffusion::Off`]: for tests and analysis).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Diffusion {
    /// `z ← … + s·ε`.
    On,
    /// No noise term.
    Off,
}

/// What to draw: `k` samples per agent after `steps` Langevin steps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Draw {
    /// Samples per agent.
    pub k: usize,
    /// Langevin steps.
    pub steps: usize,
    /// With or without the noise term.
    pub diffusion: Diffusion,
}

/// A backend's chains: the state `z` (`rows × zdim` values) and how to move it.
pub trait Chains {
    /// Values in the state (`rows · zdim`).
    fn len(&self) -> usize;

    /// Whether the state is empty.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// `z ← z − ½s²(∂E/∂z + z/σ²)`, with ∂E/∂z at the current state.
    fn drift(&mut self, p: LangevinParams) -> candle_core::Result<()>;

    /// `z ← z + s·√T·ε` ([`LangevinParams::noise_scale`]), `eps` this step's standard
    /// normals, row-major.
    fn diffuse(&mut self, p: LangevinParams, eps: &[f32]) -> candle_core::Result<()>;

    /// A backend may take the noise of all steps at once (a device uploads it in one go
    /// rather than once per step). It must then use exactly the numbers [`run`] would
    /// have handed it step by step, and add them in [`Chains::diffuse_own`]. Returns
    /// whether it did; by default it does not.
    fn take_all_noise(
        &mut self,
        _p: LangevinParams,
        _steps: usize,
        _noise: &mut Noise<'_>,
    ) -> candle_core::Result<bool> {
        Ok(false)
    }

    /// Adds step `step`'s share of the noise taken by [`Chains::take_all_noise`].
    fn diffuse_own(&mut self, _step: usize) -> candle_core::Result<()> {
        candle_core::bail!("langevin: this backend keeps no noise of its own")
    }
}

/// Runs `steps` Langevin steps on `chains`.
///
/// # Errors
/// When [`Noise::Drawn`] holds fewer than `steps × len` numbers, or the backend fails.
pub fn run(
    chains: &mut impl Chains,
    p: LangevinParams,
    steps: usize,
    mut noise: Noise<'_>,
) -> candle_core::Result<()> {
    let n = chains.len();
    if let Noise::Drawn(d) = &noise {
        if d.len() < steps * n {
            candle_core::bail!(
                "langevin: {} noise values for {steps} steps of {n}",
                d.len()
            )
        }
    }
    let own = steps > 0 && chains.take_all_noise(p, steps, &mut noise)?;
    let mut eps = Vec::new();
    for step in 0..steps {
        chains.drift(p)?;
        if own {
            chains.diffuse_own(step)?;
            continue;
        }
        match &mut noise {
            Noise::Off => {}
            Noise::Rng(r) => {
                eps.clear();
                eps.extend((0..n).map(|_| r.sample::<f32, _>(StandardNormal)));
                chains.diffuse(p, &eps)?;
            }
            Noise::Drawn(d) => chains.diffuse(p, &d[step * n..(step + 1) * n])?,
        }
    }
    Ok(())
}

/// Rows `r0..r1` of noise drawn step-major for `rows` chains (`steps × rows × zdim`), in
/// the same layout for those rows alone: a part of a batch gets exactly the numbers it
/// had inside the whole batch.
pub fn rows_of(drawn: &[f32], rows: usize, zdim: usize, r0: usize, r1: usize) -> Vec<f32> {
    let n = rows * zdim;
    if n == 0 {
        return Vec::new();
    }
    drawn
        .chunks_exact(n)
        .flat_map(|step| &step[r0 * zdim..r1 * zdim])
        .copied()
        .collect()
}

/// `rows × cols` standard normals times `std`, row-major, from `rng`: the order every
/// sampler here draws in, so that a seed gives the same numbers on every device.
pub fn normals(rng: &mut (impl Rng + ?Sized), len: usize, std: f32) -> Vec<f32> {
    (0..len)
        .map(|_| rng.sample::<f32, _>(StandardNormal) * std)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    /// E = 0: pure Ornstein–Uhlenbeck steps on a plain vector.
    struct Free(Vec<f32>);

    impl Chains for Free {
        fn len(&self) -> usize {
            self.0.len()
        }
        fn drift(&mut self, p: LangevinParams) -> candle_core::Result<()> {
            let (h, iv) = (p.half_step2(), p.inv_var());
            self.0.iter_mut().for_each(|z| *z -= h * (*z * iv));
            Ok(())
        }
        fn diffuse(&mut self, p: LangevinParams, eps: &[f32]) -> candle_core::Result<()> {
            self.0
                .iter_mut()
                .zip(eps)
                .for_each(|(z, e)| *z += e * p.noise_scale());
            Ok(())
        }
    }

    #[test]
    fn drawn_noise_is_the_generators_noise_and_too_little_is_an_error() {
        let p = LangevinParams {
            step_size: 0.5,
            prior_sigma: 1.0,
            temperature: 1.0,
        };
        let (steps, n) = (4, 3);
        let mut a = Free(vec![1.0; n]);
        run(&mut a, p, steps, Noise::Rng(&mut StdRng::seed_from_u64(3))).unwrap();
        let drawn = normals(&mut StdRng::seed_from_u64(3), steps * n, 1.0);
        let mut b = Free(vec![1.0; n]);
        run(&mut b, p, steps, Noise::Drawn(&drawn)).unwrap();
        assert_eq!(a.0, b.0);
        let mut c = Free(vec![1.0; n]);
        assert!(run(&mut c, p, steps, Noise::Drawn(&drawn[1..])).is_err());
        // Without noise the chains contract towards 0 by (1 − ½s²/σ²) per step.
        let mut d = Free(vec![1.0; n]);
        run(&mut d, p, steps, Noise::Off).unwrap();
        let want = (1.0f32 - 0.125).powi(steps as i32);
        assert!(d.0.iter().all(|z| (z - want).abs() < 1e-6), "{:?}", d.0);
    }

    /// With E = 0 the chains are an AR(1) process, z ← a·z + s·√T·ε with
    /// a = 1 − ½s²/σ², whose stationary variance is s²T / (1 − a²): the temperature
    /// scales the spread the chains settle to, and T = 1 is the plain sampler.
    #[test]
    fn the_temperature_scales_the_stationary_variance() {
        let l = LangevinConfig {
            step_size: 0.5,
            prior_sigma: 1.0,
            test_temperature: 0.25,
            ..LangevinConfig::default()
        };
        assert_eq!(LangevinParams::of(&l).noise_scale(), 0.5);
        for (p, t) in [
            (LangevinParams::of(&l), 1.0f32),
            (LangevinParams::predicting(&l), 0.25),
        ] {
            let n = 20_000;
            let mut c = Free(vec![0.0; n]);
            run(&mut c, p, 200, Noise::Rng(&mut StdRng::seed_from_u64(5))).unwrap();
            let var = c.0.iter().map(|z| z * z).sum::<f32>() / n as f32;
            let a = 1.0f32 - 0.125;
            let want = 0.25 * t / (1.0 - a * a);
            assert!(
                (var / want - 1.0).abs() < 0.05,
                "T = {t}: variance {var}, stationary {want}"
            );
        }
    }
}
