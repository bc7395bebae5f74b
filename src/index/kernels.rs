//! Dot-product kernels, compiled three times (AVX-512, AVX2+FMA, portable)
//! and chosen at run time: the release binary targets baseline x86-64, where
//! the compiler may only use SSE2, but a scan over a million vectors is
//! bound by how many lanes each instruction covers.

/// Dot product of two equal-length slices.
#[inline]
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut out = [0f32];
    scores(a, b, &mut out);
    out[0]
}

/// `out[i] = dot(query, rows[i * dim..(i + 1) * dim])` with `dim =
/// query.len()`; `out` must hold exactly `rows.len() / dim` values.
pub fn scores(query: &[f32], rows: &[f32], out: &mut [f32]) {
    debug_assert_eq!(rows.len(), out.len() * query.len());
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: the feature was detected at run time.
            unsafe { scores_avx512(query, rows, out) };
            return;
        }
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            // SAFETY: the features were detected at run time.
            unsafe { scores_avx2(query, rows, out) };
            return;
        }
    }
    for (row, o) in rows.chunks_exact(query.len()).zip(out.iter_mut()) {
        *o = dot_portable(query, row);
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn scores_avx512(query: &[f32], rows: &[f32], out: &mut [f32]) {
    for (row, o) in rows.chunks_exact(query.len()).zip(out.iter_mut()) {
        *o = dot_fma::<64>(query, row);
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn scores_avx2(query: &[f32], rows: &[f32], out: &mut [f32]) {
    for (row, o) in rows.chunks_exact(query.len()).zip(out.iter_mut()) {
        *o = dot_fma::<32>(query, row);
    }
}

/// `LANES` independent accumulators (four vector registers' worth), so
/// several FMAs are in flight at once; only inlined into functions compiled
/// with FMA, where `mul_add` is one instruction rather than a libm call.
#[inline(always)]
fn dot_fma<const LANES: usize>(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0f32; LANES];
    let ca = a.chunks_exact(LANES);
    let cb = b.chunks_exact(LANES);
    let mut tail = 0f32;
    for (x, y) in ca.remainder().iter().zip(cb.remainder()) {
        tail = x.mul_add(*y, tail);
    }
    for (x, y) in ca.zip(cb) {
        for i in 0..LANES {
            acc[i] = x[i].mul_add(y[i], acc[i]);
        }
    }
    acc.iter().sum::<f32>() + tail
}

/// Float addition is not reassociated by the compiler, so independent
/// accumulators are what lets it keep several SIMD lanes busy.
#[inline(always)]
fn dot_portable(a: &[f32], b: &[f32]) -> f32 {
    const LANES: usize = 16;
    let mut acc = [0f32; LANES];
    let ca = a.chunks_exact(LANES);
    let cb = b.chunks_exact(LANES);
    let tail: f32 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in ca.zip(cb) {
        for i in 0..LANES {
            acc[i] += x[i] * y[i];
        }
    }
    acc.iter().sum::<f32>() + tail
}

/// Approximate scores from 8-bit codes: `out[i] = bias + Σ_d w[d] ·
/// codes[i * dim + d]` with `dim = w.len()` (see `segment::Quantizer`).
/// A quarter of the bytes of an f32 scan, which is what a scan over cells
/// that are not in cache is bound by.
pub fn scores_u8(w: &[f32], bias: f32, codes: &[u8], out: &mut [f32]) {
    debug_assert_eq!(codes.len(), out.len() * w.len());
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: the feature was detected at run time.
            unsafe { scores_u8_avx512(w, bias, codes, out) };
            return;
        }
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            // SAFETY: the features were detected at run time.
            unsafe { scores_u8_avx2(w, bias, codes, out) };
            return;
        }
    }
    for (row, o) in codes.chunks_exact(w.len()).zip(out.iter_mut()) {
        *o = bias + dot_u8_portable(w, row);
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn scores_u8_avx512(w: &[f32], bias: f32, codes: &[u8], out: &mut [f32]) {
    for (row, o) in codes.chunks_exact(w.len()).zip(out.iter_mut()) {
        *o = bias + dot_u8_fma::<64>(w, row);
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn scores_u8_avx2(w: &[f32], bias: f32, codes: &[u8], out: &mut [f32]) {
    for (row, o) in codes.chunks_exact(w.len()).zip(out.iter_mut()) {
        *o = bias + dot_u8_fma::<32>(w, row);
    }
}

#[inline(always)]
fn dot_u8_fma<const LANES: usize>(w: &[f32], c: &[u8]) -> f32 {
    let mut acc = [0f32; LANES];
    let cw = w.chunks_exact(LANES);
    let cc = c.chunks_exact(LANES);
    let mut tail = 0f32;
    for (x, y) in cw.remainder().iter().zip(cc.remainder()) {
        tail = x.mul_add(*y as f32, tail);
    }
    for (x, y) in cw.zip(cc) {
        for i in 0..LANES {
            acc[i] = x[i].mul_add(y[i] as f32, acc[i]);
        }
    }
    acc.iter().sum::<f32>() + tail
}

#[inline(always)]
fn dot_u8_portable(w: &[f32], c: &[u8]) -> f32 {
    const LANES: usize = 16;
    let mut acc = [0f32; LANES];
    let cw = w.chunks_exact(LANES);
    let cc = c.chunks_exact(LANES);
    let tail: f32 = cw
        .remainder()
        .iter()
        .zip(cc.remainder())
        .map(|(x, y)| x * *y as f32)
        .sum();
    for (x, y) in cw.zip(cc) {
        for i in 0..LANES {
            acc[i] += x[i] * y[i] as f32;
        }
    }
    acc.iter().sum::<f32>() + tail
}

/// `out[i * k + j] = dot(points[i], centroids[j])` for `m` points and `k`
/// centroids of `dim` values: a matrix product, so it goes to the `gemm`
/// crate's blocked kernels (many times the throughput of one dot product
/// at a time when both sides are large, as in k-means). Single-threaded:
/// callers split the points across threads.
pub fn scores_matrix(points: &[f32], centroids: &[f32], dim: usize, out: &mut [f32]) {
    let m = points.len() / dim;
    let k = centroids.len() / dim;
    assert_eq!(out.len(), m * k, "output holds points x centroids");
    assert_eq!(points.len(), m * dim);
    assert_eq!(centroids.len(), k * dim);
    if m == 0 || k == 0 {
        return;
    }
    // SAFETY: out is m×k row-major (row stride k); points is m×dim and
    // centroids k×dim row-major, read as dim×k through the strides; all
    // lengths were checked above.
    unsafe {
        gemm::gemm(
            m,
            k,
            dim,
            out.as_mut_ptr(),
            1,
            k as isize,
            false,
            points.as_ptr(),
            1,
            dim as isize,
            centroids.as_ptr(),
            dim as isize,
            1,
            0.0f32,
            1.0f32,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
}

/// Scales `v` to unit length (left as is when it is all zeros).
pub fn normalize(v: &mut [f32]) {
    let norm = dot(v, v).sqrt();
    if norm > 0.0 {
        for x in v.iter_mut() {
            *x /= norm;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(a: &[f32], b: &[f32]) -> f32 {
        a.iter().zip(b).map(|(x, y)| x * y).sum()
    }

    #[test]
    fn every_kernel_matches_the_naive_sum() {
        for dim in [1usize, 7, 16, 63, 64, 65, 384, 385] {
            let q: Vec<f32> = (0..dim).map(|i| (i as f32 * 0.37).sin()).collect();
            let rows: Vec<f32> = (0..dim * 5).map(|i| (i as f32 * 0.11).cos()).collect();
            let mut out = vec![0f32; 5];
            scores(&q, &rows, &mut out);
            for (r, got) in rows.chunks_exact(dim).zip(&out) {
                let want = naive(&q, r);
                assert!((got - want).abs() < 1e-3, "dim {dim}: {got} vs {want}");
                assert!((dot_portable(&q, r) - want).abs() < 1e-3);
            }
        }
    }

    #[test]
    fn u8_scores_match_the_naive_sum() {
        for dim in [3usize, 64, 384, 385] {
            let w: Vec<f32> = (0..dim).map(|i| (i as f32 * 0.7).sin()).collect();
            let codes: Vec<u8> = (0..dim * 3).map(|i| (i * 37 % 256) as u8).collect();
            let mut out = vec![0f32; 3];
            scores_u8(&w, 0.5, &codes, &mut out);
            for (row, got) in codes.chunks_exact(dim).zip(&out) {
                let want: f32 = 0.5 + w.iter().zip(row).map(|(a, b)| a * *b as f32).sum::<f32>();
                assert!(
                    (got - want).abs() < 1e-2 * want.abs().max(1.0),
                    "{got} vs {want}"
                );
                assert!((0.5 + dot_u8_portable(&w, row) - want).abs() < 1e-2 * want.abs().max(1.0));
            }
        }
    }

    #[test]
    fn matrix_scores_match_the_dot_products() {
        let dim = 37;
        let pts: Vec<f32> = (0..dim * 9).map(|i| (i as f32 * 0.13).sin()).collect();
        let cents: Vec<f32> = (0..dim * 5).map(|i| (i as f32 * 0.29).cos()).collect();
        let mut out = vec![f32::NAN; 9 * 5];
        scores_matrix(&pts, &cents, dim, &mut out);
        for (i, p) in pts.chunks_exact(dim).enumerate() {
            for (j, c) in cents.chunks_exact(dim).enumerate() {
                assert!((out[i * 5 + j] - naive(p, c)).abs() < 1e-3);
            }
        }
    }

    #[test]
    fn normalize_gives_unit_length_and_keeps_zero() {
        let mut v = vec![3.0, 4.0];
        normalize(&mut v);
        assert!((v[0] - 0.6).abs() < 1e-6 && (v[1] - 0.8).abs() < 1e-6);
        let mut z = vec![0.0; 3];
        normalize(&mut z);
        assert_eq!(z, vec![0.0; 3]);
    }
}
