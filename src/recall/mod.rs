//! Hybrid recall: FTS5/BM25 and vector KNN over the tiers' rows, fused with
//! weighted Reciprocal Rank Fusion, ties broken by recency, back-filled with
//! the session's recent turns, packed under a character budget.
//!
//! The engine is written around a list of tiers; today the store has one
//! (`exchange`), and later tiers (gists, facts, chunks, concepts) add their
//! lexical and vector sources here. Rows not yet embedded are still found
//! through the lexical side.

pub mod context;
pub mod lexical;
pub mod rrf;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Instant;

use serde::Serialize;

use crate::config::RecallConfig;
use crate::embed::{EmbedError, Embedder};
use crate::store::items::{self, partition};
use crate::store::{Exchange, Item, Store, StoreError, Tier, read};

#[derive(Debug, thiserror::Error)]
pub enum RecallError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Embed(#[from] EmbedError),
    #[error("recall task failed: {0}")]
    Task(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    Hybrid,
    Lexical,
    Vector,
}

/// The tiers recall searches, as the API names them.
pub const TIERS: &[&str] = &["exchange", "gist", "era", "concept", "chunk"];

/// A candidate: exchanges and items have separate id spaces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Ref {
    Exchange(i64),
    Item(i64),
}

/// Fusion parameters; the request may override the configured ones.
#[derive(Debug, Clone, Copy)]
pub struct Fusion {
    pub rrf_k: f64,
    pub fts_weight: f64,
    pub vector_weight: f64,
    pub candidates: usize,
    /// Share of a strong match's score given to the turns just before and
    /// after it in its session (an answer often sits next to the turn that
    /// shares the question's words). 0 turns it off.
    pub neighbor_weight: f64,
    /// Relative lift of a candidate that mentions names the query mentions.
    pub entity_boost: f64,
    /// Lexical terms found in more than this share of rows are dropped
    /// (the two rarest are always kept).
    pub max_term_df: f64,
    /// At most this many lexical terms, the rarest first (bounds the cost
    /// of long queries: every term adds its posting list to the union).
    pub max_terms: usize,
}

#[derive(Debug, Clone)]
pub struct RecallQuery {
    pub query: String,
    pub k: usize,
    pub namespace: String,
    pub session_id: Option<String>,
    pub mode: Mode,
    pub budget_chars: Option<usize>,
    pub fusion: Fusion,
    /// The query's vector when the client supplied it (else `query` is embedded).
    pub vector: Option<Vec<f32>>,
    /// Tiers to search; empty means all.
    pub tiers: Vec<Tier>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Explain {
    pub bm25_rank: Option<usize>,
    pub vector_rank: Option<usize>,
    pub fused: f64,
    /// Cosine similarity to the query, when the row was a vector candidate.
    pub vector_score: Option<f32>,
    /// Score passed on from a strong match next to it in its session.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub neighbor_boost: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub supplement: Option<&'static str>,
}

#[derive(Debug, Clone, Serialize)]
pub struct RecallHit {
    pub tier: &'static str,
    pub id: i64,
    pub ext_id: Option<String>,
    /// The exchange's session, or the session a gist summarises.
    pub session_id: Option<String>,
    pub namespace: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    pub content: String,
    pub created_at: String,
    pub score: f64,
    /// An item's key within its tier (month of an era, concept name, …).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// An item's own attributes (a concept's source and name, a chunk's
    /// path and heading path, …).
    #[serde(flatten)]
    pub attrs: serde_json::Map<String, serde_json::Value>,
    #[serde(skip)]
    pub explain: Explain,
}

/// A candidate's stored row.
enum Row {
    Exchange(Exchange),
    Item(Item),
}

impl Row {
    fn content(&self) -> &str {
        match self {
            Row::Exchange(e) => &e.content,
            Row::Item(i) => &i.text,
        }
    }

    fn created_at(&self) -> i64 {
        match self {
            Row::Exchange(e) => e.created_at,
            Row::Item(i) => i.updated_at,
        }
    }

    fn namespace(&self) -> &str {
        match self {
            Row::Exchange(e) => &e.namespace,
            Row::Item(i) => &i.namespace,
        }
    }
}

#[derive(Clone)]
pub struct RecallEngine {
    store: Store,
    embedder: Arc<dyn Embedder>,
    stopwords: Arc<HashSet<String>>,
    df_cache: Arc<lexical::DfCache>,
}

impl RecallEngine {
    pub fn new(store: Store, embedder: Arc<dyn Embedder>, cfg: &RecallConfig) -> Self {
        let stopwords = match &cfg.stopwords {
            Some(list) => list.iter().map(|w| w.to_lowercase()).collect(),
            None => lexical::STOPWORDS.iter().map(|w| w.to_string()).collect(),
        };
        Self {
            store,
            embedder,
            stopwords: Arc::new(stopwords),
            df_cache: Arc::default(),
        }
    }

    pub async fn recall(&self, q: RecallQuery) -> Result<(Vec<RecallHit>, f64), RecallError> {
        let started = Instant::now();
        let n = q.fusion.candidates.max(q.k);
        let tiers: Vec<Tier> = if q.tiers.is_empty() {
            Tier::ALL.to_vec()
        } else {
            q.tiers.clone()
        };
        let want_exchanges = tiers.contains(&Tier::Exchange);
        // Within one session only its gist is an item of it.
        let item_tiers: Vec<Tier> = tiers
            .iter()
            .copied()
            .filter(|t| *t != Tier::Exchange && (q.session_id.is_none() || *t == Tier::Gist))
            .collect();

        // The two sides are independent: run them at once (the lexical one on
        // a reader thread, the vector one on a blocking thread).
        let lexical = async {
            if q.mode == Mode::Vector {
                return Ok::<(Vec<i64>, Vec<i64>), RecallError>(Default::default());
            }
            let terms = lexical::terms(&q.query, &self.stopwords);
            if terms.is_empty() {
                return Ok(Default::default());
            }
            let (ns, sid, max_df, max_terms) = (
                q.namespace.clone(),
                q.session_id.clone(),
                q.fusion.max_term_df,
                q.fusion.max_terms,
            );
            let cache = self.df_cache.clone();
            let item_tiers = item_tiers.clone();
            Ok(self
                .store
                .read(move |c| {
                    let kept = lexical::prune_common(c, terms, max_df, 2, max_terms, &cache)?;
                    let Some(expr) = lexical::or_expression(&kept) else {
                        return Ok(Default::default());
                    };
                    let ex = if want_exchanges {
                        lexical::search_exchanges(c, &expr, &ns, sid.as_deref(), n)?
                    } else {
                        Vec::new()
                    };
                    let it = items::search_items(c, &expr, &item_tiers, &ns, n)?;
                    Ok((ex, it))
                })
                .await?)
        };
        let vector = async {
            if q.mode == Mode::Lexical {
                return Ok::<Vec<(Ref, f32)>, RecallError>(Vec::new());
            }
            let embedder = self.embedder.clone();
            let index = self.store.index().clone();
            let (text, ns, sid) = (q.query.clone(), q.namespace.clone(), q.session_id.clone());
            let given = q.vector.clone();
            let item_tiers = item_tiers.clone();
            tokio::task::spawn_blocking(move || -> Result<Vec<(Ref, f32)>, RecallError> {
                let vector = match given {
                    Some(v) => v,
                    None => embedder.embed(&[text.as_str()])?.pop().unwrap_or_default(),
                };
                let index = index.read().unwrap_or_else(|p| p.into_inner());
                let mut hits: Vec<(Ref, f32)> = Vec::new();
                if want_exchanges {
                    hits.extend(
                        index
                            .search(&ns, sid.as_deref(), &vector, n)
                            .into_iter()
                            .map(|h| (Ref::Exchange(h.id), h.score)),
                    );
                }
                // Cosines of one model are comparable across tiers: one list.
                for t in &item_tiers {
                    hits.extend(
                        index
                            .search(&partition(*t, &ns), sid.as_deref(), &vector, n)
                            .into_iter()
                            .map(|h| (Ref::Item(h.id), h.score)),
                    );
                }
                hits.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
                hits.truncate(n);
                Ok(hits)
            })
            .await
            .map_err(|e| RecallError::Task(e.to_string()))?
        };
        let (lexical_ids, vector_hits) = tokio::join!(lexical, vector);
        let ((lex_ex, lex_items), vector_hits) = (lexical_ids?, vector_hits?);
        let lex_ex: Vec<Ref> = lex_ex.into_iter().map(Ref::Exchange).collect();
        let lex_items: Vec<Ref> = lex_items.into_iter().map(Ref::Item).collect();

        let vector_ids: Vec<Ref> = vector_hits.iter().map(|h| h.0).collect();
        let cosine: HashMap<Ref, f32> = vector_hits.iter().copied().collect();
        let f = q.fusion;
        let mut fused = rrf::fuse_lists(
            &[&lex_ex, &lex_items],
            &vector_ids,
            f.rrf_k,
            f.fts_weight,
            f.vector_weight,
        );
        let mut boosted: HashMap<Ref, f64> = HashMap::new();
        if f.neighbor_weight > 0.0 && !fused.is_empty() {
            // Neighbours are a property of conversation turns only.
            let top: Vec<(i64, f64)> = fused
                .iter()
                .take(2 * q.k)
                .filter_map(|x| match x.id {
                    Ref::Exchange(id) => Some((id, x.score)),
                    Ref::Item(_) => None,
                })
                .collect();
            let ids: Vec<i64> = top.iter().map(|x| x.0).collect();
            let adj = self.store.read(move |c| read::adjacent(c, &ids)).await?;
            let mut boost: HashMap<Ref, f64> = HashMap::new();
            for ((_, score), (_, prev, next)) in top.iter().zip(adj) {
                for n in [prev, next].into_iter().flatten() {
                    *boost.entry(Ref::Exchange(n)).or_default() += f.neighbor_weight * score;
                }
            }
            boosted = boost.clone();
            for x in fused.iter_mut() {
                if let Some(b) = boost.remove(&x.id) {
                    x.score += b;
                }
            }
            for (id, b) in boost {
                fused.push(rrf::Fused {
                    id,
                    lexical_rank: None,
                    vector_rank: None,
                    score: b,
                });
            }
        }
        let mut ex_ids = Vec::new();
        let mut item_ids = Vec::new();
        for x in &fused {
            match x.id {
                Ref::Exchange(id) => ex_ids.push(id),
                Ref::Item(id) => item_ids.push(id),
            }
        }
        let session = q.session_id.clone();
        let k = q.k;
        let (rows, found_items, recent) = self
            .store
            .read(move |c| {
                let rows = read::exchanges_by_id(c, &ex_ids)?;
                let found = items::items_by_id(c, &item_ids)?;
                let recent = match &session {
                    Some(s) => read::recent_exchanges(c, s, k)?,
                    None => Vec::new(),
                };
                Ok((rows, found, recent))
            })
            .await?;
        let mut by_ref: HashMap<Ref, Row> = rows
            .into_iter()
            .map(|r| (Ref::Exchange(r.id), Row::Exchange(r)))
            .collect();
        by_ref.extend(
            found_items
                .into_iter()
                .map(|(id, it)| (Ref::Item(id), Row::Item(it))),
        );

        // Fused order; equal scores: the newer memory first.
        let mut ranked: Vec<(rrf::Fused<Ref>, Row)> = fused
            .into_iter()
            .filter_map(|f| by_ref.remove(&f.id).map(|r| (f, r)))
            // Defence in depth: the searches filter by namespace already.
            .filter(|(_, r)| r.namespace() == q.namespace)
            .filter(|(_, r)| match (r, &q.session_id) {
                (Row::Item(i), Some(sid)) => i.parent.as_deref() == Some(sid.as_str()),
                _ => true,
            })
            .filter(|(_, r)| match r {
                Row::Item(i) => item_tiers.contains(&i.tier),
                Row::Exchange(_) => want_exchanges,
            })
            .collect();
        for (fu, row) in ranked.iter_mut() {
            // An item's weight (a concept's strength) scales its score.
            if let Row::Item(i) = row {
                fu.score *= i.weight.max(0.0);
            }
        }
        // Names in the question (capitalised words after the first) lift the
        // candidates that mention them.
        if f.entity_boost > 0.0 {
            let names = entities(&q.query);
            if !names.is_empty() {
                for (fu, row) in ranked.iter_mut() {
                    let hits = names
                        .iter()
                        .filter(|n| contains_word(row.content(), n))
                        .count();
                    if hits > 0 {
                        fu.score *= 1.0 + f.entity_boost * hits as f64 / names.len() as f64;
                    }
                }
            }
        }
        ranked.sort_by(|a, b| {
            b.0.score
                .total_cmp(&a.0.score)
                .then(b.1.created_at().cmp(&a.1.created_at()))
                .then(b.0.id.cmp(&a.0.id))
        });
        ranked.truncate(q.k);
        let mut hits: Vec<RecallHit> = ranked
            .into_iter()
            .map(|(f, r)| {
                let explain = Explain {
                    bm25_rank: f.lexical_rank,
                    vector_rank: f.vector_rank,
                    fused: f.score,
                    vector_score: cosine.get(&f.id).copied(),
                    neighbor_boost: boosted.get(&f.id).copied(),
                    supplement: None,
                };
                match r {
                    Row::Exchange(e) => hit(e, f.score, explain),
                    Row::Item(i) => item_hit(i, f.score, explain),
                }
            })
            .collect();
        // Tail supplement: the session's recent turns back-fill free places
        // after every direct match, never ahead of one.
        if want_exchanges {
            let seen: HashSet<i64> = hits
                .iter()
                .filter(|h| h.tier == "exchange")
                .map(|h| h.id)
                .collect();
            for r in recent {
                if hits.len() >= q.k {
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
        }
        if let Some(budget) = q.budget_chars {
            hits = pack(hits, budget);
        }
        Ok((hits, started.elapsed().as_secs_f64() * 1000.0))
    }
}

fn hit(r: Exchange, score: f64, explain: Explain) -> RecallHit {
    RecallHit {
        tier: "exchange",
        id: r.id,
        ext_id: r.ext_id,
        session_id: Some(r.session_id),
        namespace: r.namespace,
        role: Some(r.role),
        content: r.content,
        created_at: crate::time::to_rfc3339(r.created_at),
        score,
        key: None,
        attrs: serde_json::Map::new(),
        explain,
    }
}

fn item_hit(i: Item, score: f64, explain: Explain) -> RecallHit {
    let attrs = match i.attrs {
        serde_json::Value::Object(m) => m,
        _ => serde_json::Map::new(),
    };
    RecallHit {
        tier: i.tier.as_str(),
        id: i.id,
        ext_id: None,
        session_id: (i.tier == Tier::Gist).then(|| i.parent.clone()).flatten(),
        namespace: i.namespace,
        role: None,
        content: i.text,
        created_at: crate::time::to_rfc3339(i.updated_at),
        score,
        key: Some(i.key),
        attrs,
        explain,
    }
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

/// Capitalised words of the query other than its first word: the people,
/// places and things it names.
fn entities(query: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for (i, w) in query
        .split(|c: char| !c.is_alphanumeric() && c != '\'')
        .filter(|w| !w.is_empty())
        .enumerate()
    {
        let w = w.trim_end_matches("'s").trim_matches('\'');
        if i > 0
            && w.chars().next().is_some_and(char::is_uppercase)
            && w.chars().count() > 1
            && !out.iter().any(|o| o == w)
        {
            out.push(w.to_owned());
        }
    }
    out
}

fn contains_word(text: &str, word: &str) -> bool {
    text.split(|c: char| !c.is_alphanumeric())
        .any(|w| w == word)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entities_are_the_capitalised_words_after_the_first() {
        assert_eq!(entities("What did Caroline research?"), vec!["Caroline"]);
        assert_eq!(
            entities("When did Melanie's kids visit Paris and Paris?"),
            vec!["Melanie", "Paris"]
        );
        assert!(entities("Where is it?").is_empty());
    }
}
