//! The last stage: the session's recent turns back-fill free places after
//! every direct match (never ahead of one), then greedy packing under the
//! character budget.

use std::collections::HashSet;

use super::rank::hit;
use super::{Explain, RecallHit};
use crate::store::Exchange;

/// Appends `recent` turns (newest first) not already among the hits until
/// there are `k`.
pub fn backfill(mut hits: Vec<RecallHit>, recent: Vec<Exchange>, k: usize) -> Vec<RecallHit> {
    let seen: HashSet<i64> = hits
        .iter()
        .filter(|h| h.tier == "exchange")
        .map(|h| h.id)
        .collect();
    for r in recent {
        if hits.len() >= k {
            break;
        }
        if !seen.contains(&r.id) {
            hits.push(hit(
                r,
                0.0,
                Explain {
                    bm25_rank: None,
                    vector_rank: None,
                    fused: 0.0,
                    vector_score: None,
                    neighbor_boost: None,
                    supplement: Some("recent"),
                },
            ));
        }
    }
    hits
}

/// Greedy packing: keep results in rank order while they fit the budget;
/// one that does not fit is skipped and smaller ones after it may still go.
pub fn pack(hits: Vec<RecallHit>, budget_chars: usize) -> Vec<RecallHit> {
    let mut left = budget_chars;
    hits.into_iter()
        .filter(|h| {
            let n = h.content.chars().count();
            if n <= left {
                left -= n;
                true
            } else {
                false
            }
        })
        .collect()
}
