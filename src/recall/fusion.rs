//! The second stage: weighted Reciprocal Rank Fusion of the sides, then the
//! neighbour supplement (a strong match passes a share of its score to the
//! turns just before and after it in its session).

use std::collections::HashMap;

use super::candidates::{LexicalSide, VectorSide};
use super::rrf::{self, Fused};
use super::{Fusion, Ref};
use crate::store::Adjacent;

pub fn fuse(lexical: &LexicalSide, vector: &VectorSide, f: &Fusion) -> Vec<Fused<Ref>> {
    rrf::fuse_lists(
        &[&lexical.exchanges, &lexical.items, &lexical.facts],
        &vector.ids,
        f.rrf_k,
        f.fts_weight,
        f.vector_weight,
    )
}

/// The exchanges among the first `2k` fused candidates, with their scores:
/// neighbours are a property of conversation turns only.
pub fn neighbour_seeds(fused: &[Fused<Ref>], k: usize) -> Vec<(i64, f64)> {
    fused
        .iter()
        .take(2 * k)
        .filter_map(|x| match x.id {
            Ref::Exchange(id) => Some((id, x.score)),
            Ref::Item(_) | Ref::Fact(_) => None,
        })
        .collect()
}

/// Adds `weight × score` of each seed to its session neighbours (`adjacent`
/// lists them in the seeds' order), appending neighbours that were not
/// candidates; returns every boost given, for `explain`.
pub fn add_neighbours(
    fused: &mut Vec<Fused<Ref>>,
    seeds: &[(i64, f64)],
    adjacent: &[Adjacent],
    weight: f64,
) -> HashMap<Ref, f64> {
    let mut boost: HashMap<Ref, f64> = HashMap::new();
    for ((_, score), (_, prev, next)) in seeds.iter().zip(adjacent) {
        for n in [prev, next].into_iter().flatten() {
            *boost.entry(Ref::Exchange(*n)).or_default() += weight * score;
        }
    }
    let given = boost.clone();
    for x in fused.iter_mut() {
        if let Some(b) = boost.remove(&x.id) {
            x.score += b;
        }
    }
    for (id, b) in boost {
        fused.push(Fused {
            id,
            lexical_rank: None,
            vector_rank: None,
            score: b,
        });
    }
    given
}

/// The fused candidates' exchange ids and item ids, in fused order.
pub fn split_ids(fused: &[Fused<Ref>]) -> (Vec<i64>, Vec<i64>) {
    let mut exchanges = Vec::new();
    let mut items = Vec::new();
    for x in fused {
        match x.id {
            Ref::Exchange(id) => exchanges.push(id),
            Ref::Item(id) => items.push(id),
            Ref::Fact(_) => {}
        }
    }
    (exchanges, items)
}

/// The fused candidates' fact ids, in fused order.
pub fn fact_ids(fused: &[Fused<Ref>]) -> Vec<i64> {
    fused
        .iter()
        .filter_map(|x| match x.id {
            Ref::Fact(id) => Some(id),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fused(id: Ref, score: f64) -> Fused<Ref> {
        Fused {
            id,
            lexical_rank: Some(1),
            vector_rank: None,
            score,
        }
    }

    #[test]
    fn neighbours_get_a_share_of_the_seed_and_newcomers_are_appended() {
        let mut list = vec![fused(Ref::Exchange(10), 1.0), fused(Ref::Exchange(11), 0.5)];
        let seeds = neighbour_seeds(&list, 1);
        assert_eq!(seeds, vec![(10, 1.0), (11, 0.5)]);
        // 10's neighbours are 9 and 11; 11's are 10 and 12.
        let adj = vec![(10, Some(9), Some(11)), (11, Some(10), Some(12))];
        let given = add_neighbours(&mut list, &seeds, &adj, 0.2);
        assert_eq!(given[&Ref::Exchange(11)], 0.2);
        assert_eq!(given[&Ref::Exchange(10)], 0.1);
        assert!((list[0].score - 1.1).abs() < 1e-12);
        assert!((list[1].score - 0.7).abs() < 1e-12);
        let mut new: Vec<(Ref, f64)> = list[2..].iter().map(|x| (x.id, x.score)).collect();
        new.sort_by_key(|x| x.0);
        assert_eq!(new, vec![(Ref::Exchange(9), 0.2), (Ref::Exchange(12), 0.1)]);
        assert!(list[2..].iter().all(|x| x.lexical_rank.is_none()));
    }

    #[test]
    fn facts_are_not_seeds_and_keep_their_own_ids() {
        let list = vec![fused(Ref::Fact(3), 2.0), fused(Ref::Exchange(3), 1.0)];
        assert_eq!(neighbour_seeds(&list, 5), vec![(3, 1.0)]);
        assert_eq!(split_ids(&list), (vec![3], vec![]));
        assert_eq!(fact_ids(&list), vec![3]);
    }

    #[test]
    fn items_are_not_seeds_and_ids_split_by_kind() {
        let list = vec![fused(Ref::Item(3), 2.0), fused(Ref::Exchange(7), 1.0)];
        assert_eq!(neighbour_seeds(&list, 5), vec![(7, 1.0)]);
        assert_eq!(split_ids(&list), (vec![7], vec![3]));
    }
}
