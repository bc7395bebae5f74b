//! Maximal marginal relevance: the selection gists and eras share.

/// Picks sentence indexes by MMR; returns them in their original order.
pub fn select(
    vectors: &[Vec<f32>],
    lengths: &[usize],
    penalties: &[f32],
    budget: usize,
    lambda: f32,
) -> Vec<usize> {
    let n = vectors.len();
    if n == 0 {
        return Vec::new();
    }
    let dim = vectors[0].len();
    let mut centre = vec![0f32; dim];
    for v in vectors {
        for (c, x) in centre.iter_mut().zip(v) {
            *c += x;
        }
    }
    let norm = centre.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-9);
    centre.iter_mut().for_each(|x| *x /= norm);
    let dot = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f32>();
    let relevance: Vec<f32> = vectors
        .iter()
        .zip(penalties)
        .map(|(v, p)| dot(v, &centre) - p)
        .collect();
    let mut chosen: Vec<usize> = Vec::new();
    let mut used = 0usize;
    let mut redundancy = vec![0f32; n];
    loop {
        let best = (0..n)
            .filter(|i| {
                !chosen.contains(i) && used + lengths[*i] <= budget.max(lengths[*i].min(budget))
            })
            .map(|i| (i, lambda * relevance[i] - (1.0 - lambda) * redundancy[i]))
            .max_by(|a, b| a.1.total_cmp(&b.1).then(b.0.cmp(&a.0)));
        let Some((i, _)) = best else { break };
        if used + lengths[i] > budget && !chosen.is_empty() {
            break;
        }
        chosen.push(i);
        used += lengths[i] + 1;
        for j in 0..n {
            redundancy[j] = redundancy[j].max(dot(&vectors[i], &vectors[j]));
        }
        if used >= budget {
            break;
        }
    }
    chosen.sort_unstable();
    chosen
}

/// Questions and very short sentences say little on their own.
pub(super) fn penalty(s: &str) -> f32 {
    let words = s.split_whitespace().count();
    let mut p = 0.0;
    if s.trim_end().ends_with('?') {
        p += 0.15;
    }
    if words < 6 {
        p += 0.1;
    }
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mmr_prefers_central_and_avoids_repeats() {
        let v = |x: f32, y: f32| {
            let n = (x * x + y * y).sqrt();
            vec![x / n, y / n]
        };
        // Two near-copies of the centre and one off to the side.
        let vectors = vec![v(1.0, 0.1), v(1.0, 0.11), v(0.2, 1.0)];
        let picked = select(&vectors, &[10, 10, 10], &[0.0; 3], 21, 0.5);
        assert_eq!(picked.len(), 2);
        assert!(picked.contains(&0) || picked.contains(&1));
        assert!(picked.contains(&2), "diversity: {picked:?}");
        // Budget is respected.
        assert_eq!(select(&vectors, &[10, 10, 10], &[0.0; 3], 10, 0.5).len(), 1);
    }
}
