//! A BERT encoder (all-MiniLM-L6-v2 class) in plain f32 Rust.
//!
//! Why not a framework: the model is six small layers, and running it
//! ourselves lets the batch be *packed* — the linear layers see only the
//! real tokens of every sentence back to back (no padding to the longest
//! sentence), and attention runs per sentence on its own rows. The matrix
//! products go to the `gemm` crate (the kernel candle uses, with AVX-512
//! where the CPU has it). Numerics follow the reference exactly: erf GELU,
//! LayerNorm with the config's epsilon, softmax with max subtraction, mean
//! pooling over the sentence's tokens, L2 normalisation.

use std::path::Path;

use gemm::Parallelism;
use rayon::prelude::*;
use serde::Deserialize;

use super::EmbedError;

#[derive(Debug, Clone, Deserialize)]
pub struct BertConfig {
    pub hidden_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub intermediate_size: usize,
    pub layer_norm_eps: f64,
    pub max_position_embeddings: usize,
    pub vocab_size: usize,
    #[serde(default)]
    pub hidden_act: Option<String>,
}

struct Layer {
    /// Q, K and V weights stacked: [3H × H]; y = x·Wᵀ + b.
    qkv_w: Vec<f32>,
    qkv_b: Vec<f32>,
    out_w: Vec<f32>,
    out_b: Vec<f32>,
    ln1_g: Vec<f32>,
    ln1_b: Vec<f32>,
    ff1_w: Vec<f32>,
    ff1_b: Vec<f32>,
    ff2_w: Vec<f32>,
    ff2_b: Vec<f32>,
    ln2_g: Vec<f32>,
    ln2_b: Vec<f32>,
}

pub struct Bert {
    pub cfg: BertConfig,
    word: Vec<f32>,
    pos: Vec<f32>,
    type0: Vec<f32>,
    ln_g: Vec<f32>,
    ln_b: Vec<f32>,
    layers: Vec<Layer>,
}

fn failed(message: impl Into<String>) -> EmbedError {
    EmbedError::Failed {
        model: "local".into(),
        message: message.into(),
    }
}

impl Bert {
    pub fn load(dir: &Path) -> Result<Bert, EmbedError> {
        let cfg_path = dir.join("config.json");
        let cfg_text = std::fs::read_to_string(&cfg_path)
            .map_err(|e| failed(format!("{}: {e}", cfg_path.display())))?;
        let cfg: BertConfig = serde_json::from_str(&cfg_text)
            .map_err(|e| failed(format!("{}: {e}", cfg_path.display())))?;
        if let Some(act) = &cfg.hidden_act
            && act != "gelu"
        {
            return Err(failed(format!(
                "unsupported activation `{act}` (only gelu)"
            )));
        }
        if !cfg.hidden_size.is_multiple_of(cfg.num_attention_heads) {
            return Err(failed(
                "hidden_size is not a multiple of num_attention_heads",
            ));
        }
        let w_path = dir.join("model.safetensors");
        let bytes =
            std::fs::read(&w_path).map_err(|e| failed(format!("{}: {e}", w_path.display())))?;
        let st = safetensors::SafeTensors::deserialize(&bytes)
            .map_err(|e| failed(format!("{}: {e}", w_path.display())))?;
        let (h, i) = (cfg.hidden_size, cfg.intermediate_size);
        let get = |name: &str, shape: &[usize]| -> Result<Vec<f32>, EmbedError> {
            // Some exports prefix every name with `bert.`.
            let t = st
                .tensor(name)
                .or_else(|_| st.tensor(&format!("bert.{name}")))
                .map_err(|e| failed(format!("tensor {name}: {e}")))?;
            if t.dtype() != safetensors::Dtype::F32 {
                return Err(failed(format!(
                    "tensor {name} is {:?}, expected F32",
                    t.dtype()
                )));
            }
            if t.shape() != shape {
                return Err(failed(format!(
                    "tensor {name} has shape {:?}, expected {shape:?}",
                    t.shape()
                )));
            }
            Ok(t.data()
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect())
        };
        let word = get("embeddings.word_embeddings.weight", &[cfg.vocab_size, h])?;
        let pos = get(
            "embeddings.position_embeddings.weight",
            &[cfg.max_position_embeddings, h],
        )?;
        let types = st
            .tensor("embeddings.token_type_embeddings.weight")
            .or_else(|_| st.tensor("bert.embeddings.token_type_embeddings.weight"))
            .map_err(|e| failed(format!("token_type_embeddings: {e}")))?;
        let rows = types.shape().first().copied().unwrap_or(0);
        let type0 = get("embeddings.token_type_embeddings.weight", &[rows, h])?[..h].to_vec();
        let mut layers = Vec::with_capacity(cfg.num_hidden_layers);
        for l in 0..cfg.num_hidden_layers {
            let p = format!("encoder.layer.{l}");
            let mut qkv_w = get(&format!("{p}.attention.self.query.weight"), &[h, h])?;
            qkv_w.extend(get(&format!("{p}.attention.self.key.weight"), &[h, h])?);
            qkv_w.extend(get(&format!("{p}.attention.self.value.weight"), &[h, h])?);
            let mut qkv_b = get(&format!("{p}.attention.self.query.bias"), &[h])?;
            qkv_b.extend(get(&format!("{p}.attention.self.key.bias"), &[h])?);
            qkv_b.extend(get(&format!("{p}.attention.self.value.bias"), &[h])?);
            layers.push(Layer {
                qkv_w,
                qkv_b,
                out_w: get(&format!("{p}.attention.output.dense.weight"), &[h, h])?,
                out_b: get(&format!("{p}.attention.output.dense.bias"), &[h])?,
                ln1_g: get(&format!("{p}.attention.output.LayerNorm.weight"), &[h])?,
                ln1_b: get(&format!("{p}.attention.output.LayerNorm.bias"), &[h])?,
                ff1_w: get(&format!("{p}.intermediate.dense.weight"), &[i, h])?,
                ff1_b: get(&format!("{p}.intermediate.dense.bias"), &[i])?,
                ff2_w: get(&format!("{p}.output.dense.weight"), &[h, i])?,
                ff2_b: get(&format!("{p}.output.dense.bias"), &[h])?,
                ln2_g: get(&format!("{p}.output.LayerNorm.weight"), &[h])?,
                ln2_b: get(&format!("{p}.output.LayerNorm.bias"), &[h])?,
            });
        }
        Ok(Bert {
            ln_g: get("embeddings.LayerNorm.weight", &[h])?,
            ln_b: get("embeddings.LayerNorm.bias", &[h])?,
            word,
            pos,
            type0,
            layers,
            cfg,
        })
    }

    /// Encodes sentences given as token ids (with [CLS]/[SEP], already
    /// truncated); returns one mean-pooled, L2-normalised vector each.
    /// Call inside the rayon pool whose width is `threads`.
    pub fn encode(
        &self,
        sentences: &[Vec<u32>],
        threads: usize,
    ) -> Result<Vec<Vec<f32>>, EmbedError> {
        let h = self.cfg.hidden_size;
        let heads = self.cfg.num_attention_heads;
        let hd = h / heads;
        let inter = self.cfg.intermediate_size;
        let eps = self.cfg.layer_norm_eps as f32;
        // Packed layout: sentence s occupies rows offsets[s]..offsets[s+1].
        let mut offsets = Vec::with_capacity(sentences.len() + 1);
        offsets.push(0usize);
        for s in sentences {
            if s.len() > self.cfg.max_position_embeddings {
                return Err(failed(format!(
                    "{} tokens exceed the model's {} positions",
                    s.len(),
                    self.cfg.max_position_embeddings
                )));
            }
            offsets.push(offsets.last().unwrap() + s.len());
        }
        let m = *offsets.last().unwrap();
        if m == 0 {
            return Ok(sentences.iter().map(|_| vec![0.0; h]).collect());
        }
        let par = if threads > 1 && m >= 1 {
            Parallelism::Rayon(threads)
        } else {
            Parallelism::None
        };

        let mut x = vec![0f32; m * h];
        for (s, ids) in sentences.iter().enumerate() {
            for (t, &id) in ids.iter().enumerate() {
                let id = id as usize;
                if id >= self.cfg.vocab_size {
                    return Err(failed(format!("token id {id} outside the vocabulary")));
                }
                let row = &mut x[(offsets[s] + t) * h..(offsets[s] + t + 1) * h];
                let w = &self.word[id * h..(id + 1) * h];
                let p = &self.pos[t * h..(t + 1) * h];
                for d in 0..h {
                    row[d] = w[d] + p[d] + self.type0[d];
                }
            }
        }
        layer_norm(&mut x, h, &self.ln_g, &self.ln_b, eps);

        let mut qkv = vec![0f32; m * 3 * h];
        let mut ctx = vec![0f32; m * h];
        let mut tmp = vec![0f32; m * h];
        let mut ff = vec![0f32; m * inter];
        let scale = 1.0 / (hd as f32).sqrt();
        let to_qkv = Dims { m, n: 3 * h, k: h };
        let to_hidden = Dims { m, n: h, k: h };
        let to_inter = Dims { m, n: inter, k: h };
        let from_inter = Dims { m, n: h, k: inter };
        for layer in &self.layers {
            linear(&mut qkv, &x, &layer.qkv_w, &layer.qkv_b, to_qkv, par);
            attention(&mut ctx, &qkv, &offsets, h, heads, scale, threads > 1);
            linear(&mut tmp, &ctx, &layer.out_w, &layer.out_b, to_hidden, par);
            add_in_place(&mut x, &tmp);
            layer_norm(&mut x, h, &layer.ln1_g, &layer.ln1_b, eps);
            linear(&mut ff, &x, &layer.ff1_w, &layer.ff1_b, to_inter, par);
            gelu(&mut ff, threads > 1);
            linear(&mut tmp, &ff, &layer.ff2_w, &layer.ff2_b, from_inter, par);
            add_in_place(&mut x, &tmp);
            layer_norm(&mut x, h, &layer.ln2_g, &layer.ln2_b, eps);
        }

        let mut out = Vec::with_capacity(sentences.len());
        for s in 0..sentences.len() {
            let (a, b) = (offsets[s], offsets[s + 1]);
            let mut v = vec![0f32; h];
            for row in x[a * h..b * h].chunks_exact(h) {
                for d in 0..h {
                    v[d] += row[d];
                }
            }
            let n = (b - a).max(1) as f32;
            for d in &mut v {
                *d /= n;
            }
            let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
            for d in &mut v {
                *d /= norm;
            }
            out.push(v);
        }
        Ok(out)
    }
}

/// Raw pointer handed to the column-split workers of [`linear`].
#[derive(Clone, Copy)]
struct SendPtr(*mut f32);
// SAFETY: each worker writes a disjoint set of columns (see `linear`).
unsafe impl Send for SendPtr {}
unsafe impl Sync for SendPtr {}

/// Below this many rows, `gemm`'s own threading barely helps (its work is
/// split along rows), so the output columns are split across threads
/// instead: each thread multiplies by its own slice of weight rows.
const SMALL_M: usize = 64;

/// The shape of a product `a[m×k] · wᵀ` with `w` stored [n×k] row-major:
/// `m` token rows, `n` outputs, `k` inputs.
#[derive(Clone, Copy)]
struct Dims {
    m: usize,
    n: usize,
    k: usize,
}

/// out[m×n] = a[m×k] · wᵀ + bias, with w stored [n×k] row-major.
fn linear(out: &mut [f32], a: &[f32], w: &[f32], bias: &[f32], dims: Dims, par: Parallelism) {
    let Dims { m, n, k } = dims;
    debug_assert_eq!(a.len(), m * k);
    debug_assert_eq!(w.len(), n * k);
    let out = &mut out[..m * n];
    for row in out.chunks_exact_mut(n) {
        row.copy_from_slice(bias);
    }
    let threads = match par {
        Parallelism::Rayon(t) => t,
        Parallelism::None => 1,
    };
    if threads > 1 && m < SMALL_M {
        let per = n.div_ceil(threads).next_multiple_of(16);
        let dst = SendPtr(out.as_mut_ptr());
        rayon::scope(|scope| {
            for start in (0..n).step_by(per) {
                let cols = per.min(n - start);
                scope.spawn(move |_| {
                    let dst = dst;
                    // SAFETY: columns start..start+cols of every row of out
                    // belong to this task alone; w rows start..start+cols
                    // are contiguous and in bounds.
                    unsafe {
                        gemm_bt(
                            dst.0.add(start),
                            n,
                            a,
                            &w[start * k..(start + cols) * k],
                            Dims { m, n: cols, k },
                            Parallelism::None,
                        )
                    };
                });
            }
        });
        return;
    }
    // SAFETY: out holds m×n elements with row stride n.
    unsafe { gemm_bt(out.as_mut_ptr(), n, a, w, dims, par) };
}

/// dst[m×cols] (row stride `dst_rs`) += a[m×k] · wᵀ, w stored [cols×k]
/// (`cols` is `dims.n`).
///
/// # Safety
/// `dst` must be valid for writes of `m` rows of `cols` elements `dst_rs` apart.
unsafe fn gemm_bt(
    dst: *mut f32,
    dst_rs: usize,
    a: &[f32],
    w: &[f32],
    dims: Dims,
    par: Parallelism,
) {
    let Dims { m, n: cols, k } = dims;
    // SAFETY: a is m×k and w is cols×k row-major, as the strides say;
    // the caller vouches for dst.
    unsafe {
        gemm::gemm(
            m,
            cols,
            k,
            dst,
            1,
            dst_rs as isize,
            true,
            a.as_ptr(),
            1,
            k as isize,
            w.as_ptr(),
            k as isize,
            1,
            1.0f32,
            1.0f32,
            false,
            false,
            false,
            par,
        );
    }
}

/// Self-attention of every sentence on its own rows of the packed `qkv`
/// ([M × 3H]: Q | K | V); writes the heads' contexts into `ctx` [M × H].
fn attention(
    ctx: &mut [f32],
    qkv: &[f32],
    offsets: &[usize],
    h: usize,
    heads: usize,
    scale: f32,
    parallel: bool,
) {
    let hd = h / heads;
    let stride = 3 * h;
    // Each (sentence, head) writes a disjoint block of ctx; split ctx by
    // sentence so every task owns its rows.
    let mut blocks: Vec<(usize, &mut [f32])> = Vec::with_capacity(offsets.len());
    let mut rest = ctx;
    for s in 0..offsets.len() - 1 {
        let rows = offsets[s + 1] - offsets[s];
        let (block, tail) = rest.split_at_mut(rows * h);
        blocks.push((s, block));
        rest = tail;
    }
    let run = |(s, block): (usize, &mut [f32])| {
        let (a, b) = (offsets[s], offsets[s + 1]);
        let l = b - a;
        if l == 0 {
            return;
        }
        let mut scores = vec![0f32; l * l];
        for head in 0..heads {
            let q = &qkv[a * stride + head * hd..];
            let k = &qkv[a * stride + h + head * hd..];
            let v = &qkv[a * stride + 2 * h + head * hd..];
            // SAFETY: q/k/v rows are `stride` apart and each row holds `hd`
            // elements inside qkv; scores is l×l; block is l×h.
            unsafe {
                gemm::gemm(
                    l,
                    l,
                    hd,
                    scores.as_mut_ptr(),
                    1,
                    l as isize,
                    false,
                    q.as_ptr(),
                    1,
                    stride as isize,
                    k.as_ptr(),
                    stride as isize,
                    1,
                    0.0f32,
                    scale,
                    false,
                    false,
                    false,
                    Parallelism::None,
                );
            }
            softmax_rows(&mut scores, l);
            unsafe {
                gemm::gemm(
                    l,
                    hd,
                    l,
                    block.as_mut_ptr().add(head * hd),
                    1,
                    h as isize,
                    false,
                    scores.as_ptr(),
                    1,
                    l as isize,
                    v.as_ptr(),
                    1,
                    stride as isize,
                    0.0f32,
                    1.0f32,
                    false,
                    false,
                    false,
                    Parallelism::None,
                );
            }
        }
    };
    if parallel && blocks.len() > 1 {
        blocks.into_par_iter().for_each(run);
    } else {
        blocks.into_iter().for_each(run);
    }
}

fn add_in_place(x: &mut [f32], y: &[f32]) {
    for (a, b) in x.iter_mut().zip(y) {
        *a += b;
    }
}

/// Row-wise softmax (max subtracted), multiversioned like [`gelu_slice`].
fn softmax_rows(scores: &mut [f32], l: usize) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            // SAFETY: the features were detected at run time.
            unsafe { softmax_avx2(scores, l) };
            return;
        }
    }
    softmax_portable(scores, l);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn softmax_avx2(scores: &mut [f32], l: usize) {
    softmax_portable(scores, l);
}

#[inline(always)]
fn softmax_portable(scores: &mut [f32], l: usize) {
    for row in scores.chunks_exact_mut(l) {
        let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let mut sum = 0f32;
        for x in row.iter_mut() {
            *x = exp(*x - max);
            sum += *x;
        }
        let inv = 1.0 / sum;
        for x in row.iter_mut() {
            *x *= inv;
        }
    }
}

/// e^x for x ≤ 0 (softmax arguments) by Cephes' expf polynomial: relative
/// error ~1e-7, branch-free, so it vectorises. Pinned to `f32::exp` by a test.
#[inline(always)]
fn exp(x: f32) -> f32 {
    let x = x.clamp(-87.0, 88.0);
    let n = (x * std::f32::consts::LOG2_E).round();
    let r = n.mul_add(-0.693_359_4, x);
    let r = n.mul_add(2.121_944_4e-4, r);
    let mut p = r.mul_add(1.987_569_1e-4, 1.398_199_9e-3);
    p = r.mul_add(p, 8.333_452e-3);
    p = r.mul_add(p, 4.166_579_6e-2);
    p = r.mul_add(p, 1.666_666_5e-1);
    p = r.mul_add(p, 0.5);
    let e = (p * r).mul_add(r, r) + 1.0;
    e * f32::from_bits(((n as i32 + 127) as u32) << 23)
}

fn layer_norm(x: &mut [f32], h: usize, g: &[f32], b: &[f32], eps: f32) {
    for row in x.chunks_exact_mut(h) {
        let mean = row.iter().sum::<f32>() / h as f32;
        let var = row.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / h as f32;
        let inv = 1.0 / (var + eps).sqrt();
        for d in 0..h {
            row[d] = (row[d] - mean) * inv * g[d] + b[d];
        }
    }
}

fn gelu(x: &mut [f32], parallel: bool) {
    if parallel && x.len() > 65536 {
        x.par_chunks_mut(16384).for_each(gelu_slice);
    } else {
        gelu_slice(x);
    }
}

/// GELU over a slice, compiled for AVX2+FMA when the CPU has it (the same
/// loop; the target feature lets the compiler vectorise it 8 wide).
fn gelu_slice(x: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            // SAFETY: the features were detected at run time.
            unsafe { gelu_avx2(x) };
            return;
        }
    }
    gelu_portable(x);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn gelu_avx2(x: &mut [f32]) {
    gelu_portable(x);
}

#[inline(always)]
fn gelu_portable(x: &mut [f32]) {
    const INV_SQRT2: f32 = std::f32::consts::FRAC_1_SQRT_2;
    for v in x.iter_mut() {
        *v = 0.5 * *v * (1.0 + erf(*v * INV_SQRT2));
    }
}

/// erf as a rational function of x (Eigen's `generic_fast_erf_float`, as
/// used by TensorFlow): |error| < 1e-6 against libm, no branches, no exp,
/// so it vectorises. A unit test pins it to libm's erff.
#[inline(always)]
fn erf(x: f32) -> f32 {
    let x = x.clamp(-4.0, 4.0);
    let x2 = x * x;
    let mut p = x2.mul_add(-2.726_142_3e-10, 2.770_681_4e-8);
    p = x2.mul_add(p, -2.101_024e-6);
    p = x2.mul_add(p, -5.692_506_4e-5);
    p = x2.mul_add(p, -7.349_906_3e-4);
    p = x2.mul_add(p, -2.954_600_1e-3);
    p = x2.mul_add(p, -1.609_603_3e-2);
    p *= x;
    let mut q = x2.mul_add(-1.456_607_2e-5, -2.133_740_6e-4);
    q = x2.mul_add(q, -1.682_827e-3);
    q = x2.mul_add(q, -7.373_329_2e-3);
    q = x2.mul_add(q, -1.426_473_9e-2);
    p / q
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fast_erf_matches_libm() {
        let mut worst = 0f32;
        let mut x = -6.0f32;
        while x <= 6.0 {
            worst = worst.max((erf(x) - libm::erff(x)).abs());
            x += 0.0005;
        }
        assert!(worst < 2e-6, "max |erf - erff| = {worst}");
    }

    #[test]
    fn fast_exp_matches_std() {
        let mut worst = 0f32;
        let mut x = -87.0f32;
        while x <= 0.0 {
            let want = x.exp();
            worst = worst.max(((exp(x) - want) / want).abs());
            x += 0.001;
        }
        assert!(worst < 1e-6, "max relative error {worst}");
    }

    #[test]
    fn gelu_paths_agree() {
        let xs: Vec<f32> = (0..1000).map(|i| (i as f32 - 500.0) / 60.0).collect();
        let mut a = xs.clone();
        gelu_slice(&mut a);
        for (x, g) in xs.iter().zip(&a) {
            let exact = 0.5 * x * (1.0 + libm::erff(x / std::f32::consts::SQRT_2));
            assert!((g - exact).abs() < 1e-5, "{x}: {g} vs {exact}");
        }
    }
}
