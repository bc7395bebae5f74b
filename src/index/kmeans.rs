//! Spherical k-means (cosine), used to partition a namespace's vectors into
//! cells. Deterministic: the same points give the same centroids, so an
//! index rebuilt from SQLite is the index it was.

use rayon::prelude::*;

use super::kernels::{dot, normalize, scores_matrix};

/// Index of the best-scoring centroid for each point, in parallel.
pub fn assign(points: &[f32], dim: usize, centroids: &[f32]) -> Vec<u32> {
    let k = centroids.len() / dim;
    points
        .par_chunks(dim * 128)
        .flat_map_iter(|chunk| {
            let mut buf = vec![0f32; (chunk.len() / dim) * k];
            scores_matrix(chunk, centroids, dim, &mut buf);
            buf.chunks_exact(k)
                .map(|row| argmax(row) as u32)
                .collect::<Vec<_>>()
        })
        .collect()
}

pub fn argmax(v: &[f32]) -> usize {
    let mut best = 0;
    for (i, x) in v.iter().enumerate() {
        if *x > v[best] {
            best = i;
        }
    }
    best
}

/// `k` unit centroids for the unit vectors in `points` after `iters` rounds
/// of Lloyd's algorithm. Starts from evenly spaced points; a cell that
/// empties is re-seeded from the point farthest from its own centroid.
pub fn train(points: &[f32], dim: usize, k: usize, iters: usize) -> Vec<f32> {
    let n = points.len() / dim;
    assert!(n > 0 && k > 0, "k-means needs points and cells");
    let k = k.min(n);
    let mut centroids = Vec::with_capacity(k * dim);
    for c in 0..k {
        // Spread the seeds over the whole sample; a multiplicative stride
        // avoids picking rows in lock-step with any periodic order.
        let row = (c as u64 * 2_654_435_761 % n as u64) as usize;
        let row = if k == n { c } else { row };
        centroids.extend_from_slice(&points[row * dim..(row + 1) * dim]);
    }
    for _ in 0..iters {
        let owner = assign(points, dim, &centroids);
        let mut sums = vec![0f32; k * dim];
        let mut counts = vec![0usize; k];
        for (p, &c) in points.chunks_exact(dim).zip(&owner) {
            let c = c as usize;
            counts[c] += 1;
            for (s, x) in sums[c * dim..(c + 1) * dim].iter_mut().zip(p) {
                *s += x;
            }
        }
        let empty: Vec<usize> = (0..k).filter(|&c| counts[c] == 0).collect();
        if !empty.is_empty() {
            // Points worst served by their centroid make the new seeds.
            let mut fit: Vec<(f32, usize)> = points
                .chunks_exact(dim)
                .zip(&owner)
                .enumerate()
                .map(|(i, (p, &c))| {
                    let c = c as usize;
                    (dot(p, &centroids[c * dim..(c + 1) * dim]), i)
                })
                .collect();
            fit.sort_by(|a, b| a.0.total_cmp(&b.0));
            for (&(_, row), c) in fit.iter().zip(empty) {
                sums[c * dim..(c + 1) * dim].copy_from_slice(&points[row * dim..(row + 1) * dim]);
            }
        }
        for c in sums.chunks_exact_mut(dim) {
            normalize(c);
        }
        centroids = sums;
    }
    centroids
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Points around `centres` unit directions with a little noise.
    fn blobs(centres: usize, per: usize, dim: usize, spread: f32) -> Vec<f32> {
        let mut out = Vec::new();
        let mut s = 7u64;
        for c in 0..centres {
            for _ in 0..per {
                let mut v: Vec<f32> = (0..dim)
                    .map(|d| {
                        s = s
                            .wrapping_mul(6364136223846793005)
                            .wrapping_add(1442695040888963407);
                        let noise = ((s >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * spread;
                        if d == c { 1.0 + noise } else { noise }
                    })
                    .collect();
                normalize(&mut v);
                out.extend(v);
            }
        }
        out
    }

    #[test]
    fn separates_well_separated_blobs() {
        let dim = 8;
        let pts = blobs(4, 50, dim, 0.2);
        let cents = train(&pts, dim, 4, 10);
        let owner = assign(&pts, dim, &cents);
        for blob in owner.chunks(50) {
            assert!(blob.iter().all(|&c| c == blob[0]), "one cell per blob");
        }
        let mut cells: Vec<u32> = owner.chunks(50).map(|b| b[0]).collect();
        cells.sort();
        cells.dedup();
        assert_eq!(cells.len(), 4, "four different cells");
    }

    #[test]
    fn more_cells_than_points_is_clamped_and_identical_points_are_fine() {
        let dim = 4;
        let pts = [1.0, 0.0, 0.0, 0.0].repeat(3);
        let cents = train(&pts, dim, 10, 5);
        assert_eq!(cents.len(), 3 * dim);
        assert_eq!(assign(&pts, dim, &cents).len(), 3);
    }
}
