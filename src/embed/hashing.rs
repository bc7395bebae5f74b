//! Deterministic feature-hashing embedder (no model).
//!
//! Features: lower-cased word unigrams, adjacent word bigrams and character
//! trigrams of each word (with boundary marks, so "cat" and "cats" share
//! most of their features). Each feature is hashed with FNV-1a into one of
//! `dim` buckets with a hash-derived sign, weighted, summed and normalised.
//! The same text gives the same vector on every machine and every release
//! that keeps `MODEL_ID`; change the id whenever the features change.

use super::{EmbedError, Embedder, l2_normalise};

pub const MODEL_ID: &str = "memd-hash-v1";
pub const DIM: usize = 384;

const WORD_WEIGHT: f32 = 1.0;
const BIGRAM_WEIGHT: f32 = 0.5;
const TRIGRAM_WEIGHT: f32 = 0.3;

#[derive(Debug, Default)]
pub struct HashEmbedder;

impl HashEmbedder {
    pub fn new() -> Self {
        Self
    }

    pub fn embed_one(&self, text: &str) -> Vec<f32> {
        let mut v = vec![0f32; DIM];
        let lower = text.to_lowercase();
        let words: Vec<&str> = lower
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty())
            .collect();
        let mut buf = String::new();
        for (i, w) in words.iter().enumerate() {
            add(&mut v, fnv1a(b"w", w.as_bytes()), WORD_WEIGHT);
            if let Some(next) = words.get(i + 1) {
                buf.clear();
                buf.push_str(w);
                buf.push(' ');
                buf.push_str(next);
                add(&mut v, fnv1a(b"b", buf.as_bytes()), BIGRAM_WEIGHT);
            }
            buf.clear();
            buf.push('<');
            buf.push_str(w);
            buf.push('>');
            let chars: Vec<(usize, char)> = buf.char_indices().collect();
            if chars.len() >= 3 {
                for win in 0..chars.len() - 2 {
                    let start = chars[win].0;
                    let end = chars.get(win + 3).map_or(buf.len(), |c| c.0);
                    add(
                        &mut v,
                        fnv1a(b"c", &buf.as_bytes()[start..end]),
                        TRIGRAM_WEIGHT,
                    );
                }
            }
        }
        l2_normalise(&mut v);
        v
    }
}

impl Embedder for HashEmbedder {
    fn model_id(&self) -> &str {
        MODEL_ID
    }

    fn dim(&self) -> usize {
        DIM
    }

    fn provider(&self) -> &'static str {
        "hash"
    }

    fn inline(&self) -> bool {
        true
    }

    fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError> {
        Ok(texts.iter().map(|t| self.embed_one(t)).collect())
    }
}

fn add(v: &mut [f32], h: u64, weight: f32) {
    let bucket = (h % DIM as u64) as usize;
    let sign = if h >> 63 == 0 { 1.0 } else { -1.0 };
    v[bucket] += sign * weight;
}

/// FNV-1a 64 over a namespace tag and the feature bytes.
fn fnv1a(tag: &[u8], bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in tag.iter().chain([0xffu8].iter()).chain(bytes) {
        h ^= *b as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    // Final avalanche so the top bit (the sign) depends on every byte.
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::dot;

    #[test]
    fn deterministic_normalised_and_sized() {
        let e = HashEmbedder::new();
        let a = e.embed_one("The quick brown fox");
        assert_eq!(a.len(), DIM);
        assert_eq!(a, e.embed_one("The quick brown fox"));
        let norm: f32 = a.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-5);
        assert!(e.embed_one("").iter().all(|x| *x == 0.0));
        assert!(e.embed_one("  !!! ").iter().all(|x| *x == 0.0));
    }

    #[test]
    fn pinned_values() {
        // Vectors are stored on disk under MODEL_ID: if this fails, the
        // features changed and MODEL_ID must change with them.
        let v = HashEmbedder::new().embed_one("memd remembers");
        let nonzero: Vec<usize> = v
            .iter()
            .enumerate()
            .filter(|(_, x)| **x != 0.0)
            .map(|(i, _)| i)
            .collect();
        assert_eq!(nonzero.len(), 15, "{nonzero:?}");
        let checksum: f64 = v
            .iter()
            .enumerate()
            .map(|(i, x)| (i as f64 + 1.0) * *x as f64)
            .sum();
        assert!(
            (checksum - PINNED_CHECKSUM).abs() < 1e-3,
            "checksum {checksum}"
        );
    }

    const PINNED_CHECKSUM: f64 = 232.585_542_261_600_5;

    #[test]
    fn shared_words_score_higher_than_unrelated_text() {
        let e = HashEmbedder::new();
        let q = e.embed_one("where did I park the car");
        let near = e.embed_one("I parked the car on level 3 of the garage");
        let far = e.embed_one("my sister loves baking sourdough bread");
        assert!(dot(&q, &near) > dot(&q, &far) + 0.1);
        // Morphology through character trigrams: "parked" shares features with "park".
        let park = e.embed_one("park");
        assert!(dot(&park, &e.embed_one("parking")) > dot(&park, &e.embed_one("bread")));
    }

    #[test]
    fn unicode_is_handled() {
        let e = HashEmbedder::new();
        let v = e.embed_one("Grüße aus München 🍺 日本語");
        assert!(v.iter().any(|x| *x != 0.0));
    }
}
