//! The first stage: candidates from each side, best first. The lexical
//! side asks the store's full-text index; the vector side embeds the query
//! (unless the client sent its vector) and searches the index's partitions.

use std::collections::HashMap;

use super::{Mode, RecallEngine, RecallError, RecallQuery, Ref};
use crate::index::VectorIndex;
use crate::store::{Belief, LexicalQuery, Search, Tier, partition, retired_fact_partition};

/// Which tiers a query reaches, and how many candidates each side gives.
#[derive(Debug, Clone)]
pub struct Scope {
    pub exchanges: bool,
    pub item_tiers: Vec<Tier>,
    /// Facts, and which of them count. A fact is the namespace's knowledge,
    /// not a session's: a recall within one session leaves facts out.
    pub facts: Option<Belief>,
    /// Candidates per side: never fewer than `k`.
    pub n: usize,
}

impl Scope {
    pub fn of(q: &RecallQuery) -> Scope {
        let tiers: Vec<Tier> = if q.tiers.is_empty() {
            Tier::ALL.to_vec()
        } else {
            q.tiers.clone()
        };
        Scope {
            exchanges: tiers.contains(&Tier::Exchange),
            // Within one session only its gist is an item of it.
            item_tiers: tiers
                .iter()
                .copied()
                .filter(|t| t.is_item() && (q.session_id.is_none() || *t == Tier::Gist))
                .collect(),
            facts: (tiers.contains(&Tier::Fact) && q.session_id.is_none())
                .then_some(Belief::of(q.as_of)),
            n: q.fusion.candidates.max(q.k),
        }
    }
}

/// Best-first lexical ids, one list per FTS table (their BM25 scores are
/// not comparable, their ranks are).
#[derive(Debug, Default)]
pub struct LexicalSide {
    pub exchanges: Vec<Ref>,
    pub items: Vec<Ref>,
    pub facts: Vec<Ref>,
}

/// Best-first vector hits and each one's cosine to the query.
#[derive(Debug, Default)]
pub struct VectorSide {
    pub ids: Vec<Ref>,
    pub cosine: HashMap<Ref, f32>,
}

impl RecallEngine {
    pub(super) async fn lexical_side(
        &self,
        q: &RecallQuery,
        scope: &Scope,
    ) -> Result<LexicalSide, RecallError> {
        if q.mode == Mode::Vector {
            return Ok(LexicalSide::default());
        }
        let terms = super::lexical::terms(&q.query, &self.stopwords);
        if terms.is_empty() {
            return Ok(LexicalSide::default());
        }
        let hits = self
            .store
            .lexical(
                LexicalQuery {
                    terms,
                    namespace: q.namespace.clone(),
                    session_id: q.session_id.clone(),
                    max_term_df: q.fusion.max_term_df,
                    max_terms: q.fusion.max_terms,
                    exchanges: scope.exchanges,
                    item_tiers: scope.item_tiers.clone(),
                    facts: scope.facts,
                    slot: scope
                        .facts
                        .and(crate::slots::query_slot(&q.query))
                        .map(|d| (d.name.to_owned(), super::rank::entities(&q.query))),
                    limit: scope.n,
                },
                self.df_cache.clone(),
            )
            .await?;
        Ok(LexicalSide {
            exchanges: hits.exchanges.into_iter().map(Ref::Exchange).collect(),
            items: hits.items.into_iter().map(Ref::Item).collect(),
            facts: hits.facts.into_iter().map(Ref::Fact).collect(),
        })
    }

    /// On a blocking thread: the embedder and the index scan are CPU-bound.
    pub(super) async fn vector_side(
        &self,
        q: &RecallQuery,
        scope: &Scope,
    ) -> Result<VectorSide, RecallError> {
        if q.mode == Mode::Lexical {
            return Ok(VectorSide::default());
        }
        let embedder = self.embedder.clone();
        let index = self.store.index().clone();
        let (text, given) = (q.query.clone(), q.vector.clone());
        let (ns, sid, scope) = (q.namespace.clone(), q.session_id.clone(), scope.clone());
        let hits = tokio::task::spawn_blocking(move || -> Result<Vec<(Ref, f32)>, RecallError> {
            let vector = match given {
                Some(v) => v,
                None => embedder.embed(&[text.as_str()])?.pop().unwrap_or_default(),
            };
            let index = index.read().unwrap_or_else(|p| p.into_inner());
            Ok(search_index(&index, &ns, sid.as_deref(), &vector, &scope))
        })
        .await
        .map_err(|e| RecallError::Task(e.to_string()))??;
        Ok(VectorSide {
            ids: hits.iter().map(|h| h.0).collect(),
            cosine: hits.into_iter().collect(),
        })
    }
}

/// The `scope.n` nearest rows of the namespace (and session) over the
/// exchange partition, each item tier's and the facts': cosines of one
/// model are comparable across tiers, so they make one list. Live facts
/// have a partition of their own; `as_of` adds the retired one, and the
/// ranking keeps what the belief holds.
pub fn search_index(
    index: &VectorIndex,
    namespace: &str,
    session_id: Option<&str>,
    vector: &[f32],
    scope: &Scope,
) -> Vec<(Ref, f32)> {
    let mut hits: Vec<(Ref, f32)> = Vec::new();
    if scope.exchanges {
        hits.extend(
            index
                .search(namespace, session_id, vector, scope.n)
                .into_iter()
                .map(|h| (Ref::Exchange(h.id), h.score)),
        );
    }
    for t in &scope.item_tiers {
        hits.extend(
            index
                .search(&partition(*t, namespace), session_id, vector, scope.n)
                .into_iter()
                .map(|h| (Ref::Item(h.id), h.score)),
        );
    }
    if let Some(belief) = scope.facts {
        let mut parts = vec![partition(Tier::Fact, namespace)];
        if matches!(belief, Belief::AsOf(_)) {
            parts.push(retired_fact_partition(namespace));
        }
        for p in parts {
            hits.extend(
                index
                    .search(&p, None, vector, scope.n)
                    .into_iter()
                    .map(|h| (Ref::Fact(h.id), h.score)),
            );
        }
    }
    hits.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    hits.truncate(scope.n);
    hits
}
