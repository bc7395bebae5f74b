//! The 8-bit codes a partitioned segment scans before its exact vectors.

/// Per-dimension 8-bit scalar quantisation: `x ≈ lo[d] + code · step[d]`.
#[derive(Debug, Clone)]
pub(super) struct Quantizer {
    lo: Vec<f32>,
    step: Vec<f32>,
}

impl Quantizer {
    /// Spans each dimension's range over `rows` (values outside it later
    /// are clamped; the exact re-scoring absorbs that error).
    pub(super) fn fit<'a>(rows: impl Iterator<Item = &'a [f32]>, dim: usize) -> Self {
        let mut lo = vec![f32::INFINITY; dim];
        let mut hi = vec![f32::NEG_INFINITY; dim];
        for row in rows {
            for d in 0..dim {
                lo[d] = lo[d].min(row[d]);
                hi[d] = hi[d].max(row[d]);
            }
        }
        let step = lo
            .iter()
            .zip(&hi)
            .map(|(l, h)| if h > l { (h - l) / 255.0 } else { 1.0 })
            .collect();
        let lo = lo
            .into_iter()
            .map(|l| if l.is_finite() { l } else { 0.0 })
            .collect();
        Self { lo, step }
    }

    pub(super) fn encode(&self, v: &[f32], out: &mut Vec<u8>) {
        out.extend(
            v.iter()
                .zip(self.lo.iter().zip(&self.step))
                .map(|(x, (l, s))| ((x - l) / s).round().clamp(0.0, 255.0) as u8),
        );
    }

    /// The query folded into the code space: `(w, bias)` with
    /// `q·x ≈ bias + Σ w[d] · code[d]`.
    pub(super) fn prepare(&self, q: &[f32]) -> (Vec<f32>, f32) {
        let w = q.iter().zip(&self.step).map(|(a, s)| a * s).collect();
        let bias = q.iter().zip(&self.lo).map(|(a, l)| a * l).sum();
        (w, bias)
    }
}
