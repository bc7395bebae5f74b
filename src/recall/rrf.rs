//! Weighted Reciprocal Rank Fusion: score(d) = Σ_side w_side / (K + rank_side(d)),
//! ranks 1-based; a document missing from a side gets nothing from it.

use std::collections::HashMap;
use std::hash::Hash;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Fused<K = i64> {
    pub id: K,
    pub lexical_rank: Option<usize>,
    pub vector_rank: Option<usize>,
    pub score: f64,
}

/// Fuses two best-first id lists. Ties keep no particular order here; the
/// caller breaks them (by recency).
pub fn fuse<K: Copy + Eq + Hash + Ord>(
    lexical: &[K],
    vector: &[K],
    k: f64,
    w_lex: f64,
    w_vec: f64,
) -> Vec<Fused<K>> {
    fuse_lists(&[lexical], vector, k, w_lex, w_vec)
}

/// Like [`fuse`] with several lexical lists (one per FTS table: their BM25
/// scores are not comparable, their ranks are); each contributes by the
/// rank within its own list.
pub fn fuse_lists<K: Copy + Eq + Hash + Ord>(
    lexical: &[&[K]],
    vector: &[K],
    k: f64,
    w_lex: f64,
    w_vec: f64,
) -> Vec<Fused<K>> {
    let mut by_id: HashMap<K, Fused<K>> = HashMap::new();
    let blank = |id: K| Fused {
        id,
        lexical_rank: None,
        vector_rank: None,
        score: 0.0,
    };
    for list in lexical {
        for (i, id) in list.iter().enumerate() {
            let e = by_id.entry(*id).or_insert_with(|| blank(*id));
            if e.lexical_rank.is_none() {
                e.lexical_rank = Some(i + 1);
                e.score += w_lex / (k + (i + 1) as f64);
            }
        }
    }
    for (i, id) in vector.iter().enumerate() {
        let e = by_id.entry(*id).or_insert_with(|| blank(*id));
        if e.vector_rank.is_none() {
            e.vector_rank = Some(i + 1);
            e.score += w_vec / (k + (i + 1) as f64);
        }
    }
    let mut out: Vec<Fused<K>> = by_id.into_values().collect();
    out.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.id.cmp(&b.id)));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agreement_beats_a_single_list() {
        let f = fuse(&[1, 2, 3], &[3, 4, 1], 60.0, 1.0, 1.0);
        assert_eq!(f[0].id, 1, "{f:?}");
        assert_eq!(f[1].id, 3);
        assert_eq!(f[0].lexical_rank, Some(1));
        assert_eq!(f[0].vector_rank, Some(3));
        assert!((f[0].score - (1.0 / 61.0 + 1.0 / 63.0)).abs() < 1e-12);
    }

    #[test]
    fn weights_and_k_shift_the_balance() {
        // With a heavy lexical weight and small K, lexical #1 wins over a
        // document both lists rank second.
        let f = fuse(&[7, 8], &[9, 8], 1.0, 3.0, 1.0);
        assert_eq!(f[0].id, 7);
        let f = fuse(&[7, 8], &[9, 8], 60.0, 1.0, 1.0);
        assert_eq!(f[0].id, 8);
    }

    #[test]
    fn one_sided_and_empty_lists() {
        assert!(fuse::<i64>(&[], &[], 60.0, 1.0, 1.0).is_empty());
        let f = fuse(&[], &[5, 6], 10.0, 1.0, 2.0);
        assert_eq!(f.iter().map(|x| x.id).collect::<Vec<_>>(), vec![5, 6]);
        assert!(f.iter().all(|x| x.lexical_rank.is_none()));
        // A duplicate id in one list counts once, at its best rank.
        let f = fuse(&[1, 1], &[], 0.0, 1.0, 1.0);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].score, 1.0);
    }

    #[test]
    fn several_lexical_lists_count_by_their_own_ranks() {
        let f = fuse_lists(&[&[1, 2], &[10, 11]], &[11], 60.0, 1.0, 1.0);
        assert_eq!(f[0].id, 11, "{f:?}");
        assert_eq!(f[0].lexical_rank, Some(2));
        let one = f.iter().find(|x| x.id == 1).unwrap();
        let ten = f.iter().find(|x| x.id == 10).unwrap();
        assert_eq!(one.score, ten.score);
    }
}
