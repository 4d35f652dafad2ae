//! Displacement errors as pure functions over position arrays.

use lbebm_types::Vec2;

/// Average displacement error: mean L2 distance over the steps.
pub fn ade(pred: &[Vec2], truth: &[Vec2]) -> f32 {
    assert_eq!(pred.len(), truth.len(), "ade: length mismatch");
    if pred.is_empty() {
        return 0.0;
    }
    pred.iter()
        .zip(truth)
        .map(|(p, t)| (p - t).norm())
        .sum::<f32>()
        / pred.len() as f32
}

/// Final displacement error: L2 distance at the last step.
pub fn fde(pred: &[Vec2], truth: &[Vec2]) -> f32 {
    assert_eq!(pred.len(), truth.len(), "fde: length mismatch");
    match (pred.last(), truth.last()) {
        (Some(p), Some(t)) => (p - t).norm(),
        _ => 0.0,
    }
}

/// Social-GAN best-of-K: the minimum ADE over the samples and, separately, the
/// minimum FDE (the two minima may come from different samples).
pub fn best_of_k<F: AsRef<[Vec2]>>(samples: &[F], truth: &[Vec2]) -> (f32, f32) {
    let mut best = (f32::INFINITY, f32::INFINITY);
    for s in samples {
        let s = s.as_ref();
        best.0 = best.0.min(ade(s, truth));
        best.1 = best.1.min(fde(s, truth));
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_values() {
        let t = [Vec2::new(0.0, 0.0), Vec2::new(1.0, 0.0)];
        let p = [Vec2::new(3.0, 4.0), Vec2::new(1.0, 0.0)];
        assert_eq!(ade(&p, &t), 2.5);
        assert_eq!(fde(&p, &t), 0.0);
    }

    #[test]
    fn minima_are_taken_separately() {
        let t = [Vec2::new(0.0, 0.0), Vec2::new(0.0, 0.0)];
        // Sample a: good start, bad end. Sample b: bad start, perfect end.
        let a = [Vec2::new(0.0, 0.0), Vec2::new(1.0, 0.0)];
        let b = [Vec2::new(3.0, 0.0), Vec2::new(0.0, 0.0)];
        let (ba, bf) = best_of_k(&[a, b], &t);
        assert_eq!(ba, 0.5);
        assert_eq!(bf, 0.0);
    }
}
