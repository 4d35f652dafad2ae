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

/// Spearman's rank correlation between two equally long sequences (ties get their
/// average rank); `None` when either has no spread (every value equal) or fewer than
/// two values.
pub fn spearman(x: &[f32], y: &[f32]) -> Option<f64> {
    assert_eq!(x.len(), y.len(), "spearman: length mismatch");
    if x.len() < 2 {
        return None;
    }
    let (rx, ry) = (ranks(x), ranks(y));
    let n = x.len() as f64;
    let mean = (n - 1.0) / 2.0;
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for (a, b) in rx.iter().zip(&ry) {
        let (da, db) = (a - mean, b - mean);
        sxy += da * db;
        sxx += da * da;
        syy += db * db;
    }
    if sxx <= 0.0 || syy <= 0.0 {
        return None;
    }
    Some(sxy / (sxx * syy).sqrt())
}

/// 0-based ranks, ties sharing their average rank.
fn ranks(v: &[f32]) -> Vec<f64> {
    let mut idx: Vec<usize> = (0..v.len()).collect();
    idx.sort_by(|&a, &b| v[a].total_cmp(&v[b]));
    let mut out = vec![0.0; v.len()];
    let mut i = 0;
    while i < idx.len() {
        let mut j = i;
        while j + 1 < idx.len() && v[idx[j + 1]] == v[idx[i]] {
            j += 1;
        }
        let r = (i + j) as f64 / 2.0;
        for &k in &idx[i..=j] {
            out[k] = r;
        }
        i = j + 1;
    }
    out
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

    #[test]
    fn spearman_known_values() {
        assert_eq!(spearman(&[1.0, 2.0, 3.0], &[10.0, 20.0, 30.0]), Some(1.0));
        assert_eq!(spearman(&[1.0, 2.0, 3.0], &[3.0, 2.0, 1.0]), Some(-1.0));
        assert_eq!(spearman(&[1.0, 2.0, 3.0], &[5.0, 5.0, 5.0]), None);
        // Ties: ranks (0, 1.5, 1.5, 3) against (0, 1, 2, 3).
        let r = spearman(&[0.0, 1.0, 1.0, 2.0], &[0.0, 1.0, 2.0, 3.0]).unwrap();
        assert!((r - 0.9486832980505138).abs() < 1e-12, "{r}");
    }
}
