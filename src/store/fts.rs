//! Full-text search: the FTS5 side of recall. A MATCH expression is built
//! here from words the caller already split (every token quoted, so `"`,
//! `*`, `NEAR(`, `-`, `:` and the like are plain text, never FTS syntax),
//! the commonest terms are pruned by document frequency, and BM25 ranks
//! exchanges and items per namespace.

use std::future::Future;
use std::sync::Arc;

use rusqlite::{Connection, params};

use super::facts::{Belief, search_facts, slot_facts};
use super::items::{Tier, search_items};
use super::{Store, StoreError};

/// One lexical search over exchanges and items.
#[derive(Debug, Clone)]
pub struct LexicalQuery {
    /// Searchable words, lower-cased, stopwords already dropped.
    pub terms: Vec<String>,
    pub namespace: String,
    pub session_id: Option<String>,
    /// Terms in more than this share of the rows are dropped (see `prune_common`).
    pub max_term_df: f64,
    pub max_terms: usize,
    /// Search exchanges too, not only items.
    pub exchanges: bool,
    pub item_tiers: Vec<Tier>,
    /// Search facts too, those this belief holds.
    pub facts: Option<Belief>,
    /// The slot the query asks about, and the names it mentions: the facts
    /// holding the slot (as the belief sees them; those whose subject the
    /// query names first) lead the lexical list. They are the question's
    /// best lexical answer even when they share no word with it ("what car
    /// …" / "… picked up a Kia Niro").
    pub slot: Option<(String, Vec<String>)>,
    pub limit: usize,
}

/// Best-first ids per side.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LexicalHits {
    pub exchanges: Vec<i64>,
    pub items: Vec<i64>,
    pub facts: Vec<i64>,
}

/// What recall asks of a store's full-text index.
pub trait Search {
    /// BM25-ranked exchange, item and fact ids matching any of the query's terms.
    fn lexical(
        &self,
        q: LexicalQuery,
        cache: Arc<DfCache>,
    ) -> impl Future<Output = Result<LexicalHits, StoreError>> + Send;
}

impl Search for Store {
    async fn lexical(
        &self,
        q: LexicalQuery,
        cache: Arc<DfCache>,
    ) -> Result<LexicalHits, StoreError> {
        if q.terms.is_empty() {
            return Ok(LexicalHits::default());
        }
        self.read(move |c| {
            let kept = prune_common(c, q.terms, q.max_term_df, 2, q.max_terms, &cache)?;
            let Some(expr) = or_expression(&kept) else {
                return Ok(LexicalHits::default());
            };
            let exchanges = if q.exchanges {
                search_exchanges(c, &expr, &q.namespace, q.session_id.as_deref(), q.limit)?
            } else {
                Vec::new()
            };
            let items = search_items(c, &expr, &q.item_tiers, &q.namespace, q.limit)?;
            let facts = match q.facts {
                Some(belief) => {
                    let matched = search_facts(c, &expr, &q.namespace, belief, q.limit)?;
                    let mut f = match &q.slot {
                        Some((slot, names)) => {
                            slot_facts(c, &q.namespace, slot, names, belief, q.limit)?
                        }
                        None => Vec::new(),
                    };
                    for id in matched {
                        if !f.contains(&id) {
                            f.push(id);
                        }
                    }
                    f.truncate(q.limit.max(1));
                    f
                }
                None => Vec::new(),
            };
            Ok(LexicalHits {
                exchanges,
                items,
                facts,
            })
        })
        .await
    }
}

/// Quoted terms OR-ed together, or `None` when no searchable word is left.
pub fn or_expression(terms: &[String]) -> Option<String> {
    if terms.is_empty() {
        None
    } else {
        Some(
            terms
                .iter()
                .map(|w| format!("\"{w}\""))
                .collect::<Vec<_>>()
                .join(" OR "),
        )
    }
}

/// Drops terms found in more than `max_df` of the rows (they carry almost
/// no BM25 weight, yet ranking every row they match is what makes a query
/// slow), keeping at least the `keep` rarest. `max_df` ≥ 1 keeps all.
pub(super) fn prune_common(
    conn: &Connection,
    terms: Vec<String>,
    max_df: f64,
    keep: usize,
    max_terms: usize,
    cache: &DfCache,
) -> Result<Vec<String>, StoreError> {
    let max_terms = max_terms.max(keep).max(1);
    if (max_df >= 1.0 && terms.len() <= max_terms) || terms.len() <= keep {
        return Ok(terms);
    }
    let rows: i64 = conn.query_row("SELECT coalesce(max(id), 0) FROM exchanges", [], |r| {
        r.get(0)
    })?;
    if rows == 0 {
        return Ok(terms);
    }
    let limit = (max_df * rows as f64).ceil() as i64;
    let mut with_df = Vec::with_capacity(terms.len());
    for t in terms {
        let df = match cache.get(&t, rows) {
            Some(df) => df,
            None => {
                let df = document_frequency(conn, &t)?;
                cache.put(&t, df, rows);
                df
            }
        };
        with_df.push((t, df));
    }
    with_df.sort_by_key(|(_, df)| *df);
    Ok(with_df
        .into_iter()
        .enumerate()
        .filter(|(i, (_, df))| *i < keep || *df <= limit)
        .map(|(_, (t, _))| t)
        .take(max_terms)
        .collect())
}

/// Document frequencies remembered between queries. Counting a common
/// term's rows walks its whole posting list (tens of thousands of rows at
/// 100,000 exchanges, for every query that uses it), and the count is only
/// compared with a share of the store, so a count is reused until the store
/// has grown by 5% since it was taken.
#[derive(Debug, Default)]
pub struct DfCache {
    map: std::sync::Mutex<std::collections::HashMap<String, (i64, i64)>>,
}

impl DfCache {
    /// Most terms remembered; the cache starts over when full.
    const CAPACITY: usize = 100_000;

    fn get(&self, term: &str, rows: i64) -> Option<i64> {
        let map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        let &(df, at) = map.get(term)?;
        // Deletions shrink `rows` (max id stays, so rarely); growth past 5%
        // or any shrink re-counts.
        (rows >= at && rows - at <= at / 20).then_some(df)
    }

    fn put(&self, term: &str, df: i64, rows: i64) {
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= Self::CAPACITY {
            map.clear();
        }
        map.insert(term.to_owned(), (df, rows));
    }
}

/// The FTS token that stands for a namespace (see migration 0003).
fn namespace_token(namespace: &str) -> String {
    let mut t = String::with_capacity(1 + 2 * namespace.len());
    t.push('n');
    for b in namespace.bytes() {
        t.push_str(&format!("{b:02X}"));
    }
    t
}

/// Best-first exchange ids of `namespace` (and `session`) matching the OR
/// expression `expr`. The namespace is filtered inside the FTS index; only
/// the content column is ranked.
pub(super) fn search_exchanges(
    conn: &Connection,
    expr: &str,
    namespace: &str,
    session: Option<&str>,
    limit: usize,
) -> Result<Vec<i64>, StoreError> {
    let query = format!(
        "content : ({expr}) AND ns : \"{}\"",
        namespace_token(namespace)
    );
    let ids = match session {
        None => conn
            .prepare_cached(
                "SELECT rowid FROM exchanges_fts WHERE exchanges_fts MATCH ?1
                 ORDER BY bm25(exchanges_fts, 1.0, 0.0), rowid DESC LIMIT ?2",
            )?
            .query_map(params![query, limit as i64], |r| r.get(0))?
            .collect::<Result<_, _>>()?,
        Some(sid) => conn
            .prepare_cached(
                "SELECT exchanges_fts.rowid FROM exchanges_fts JOIN exchanges e ON e.id = exchanges_fts.rowid
                 WHERE exchanges_fts MATCH ?1 AND e.session_id = ?2
                 ORDER BY bm25(exchanges_fts, 1.0, 0.0), exchanges_fts.rowid DESC LIMIT ?3",
            )?
            .query_map(params![query, sid, limit as i64], |r| r.get(0))?
            .collect::<Result<_, _>>()?,
    };
    Ok(ids)
}

/// Rows whose content has `term` (any namespace): its document frequency.
fn document_frequency(conn: &Connection, term: &str) -> Result<i64, StoreError> {
    Ok(conn
        .prepare_cached("SELECT count(*) FROM exchanges_fts WHERE exchanges_fts MATCH ?1")?
        .query_row([format!("content : \"{term}\"")], |r| r.get(0))?)
}

/// The FTS fuzz target's fixture: an in-memory database with the real
/// schema, seeded with hostile text, so every expression the pruning and
/// the builder produce goes through SQLite's own FTS5 parser.
#[doc(hidden)]
pub struct FtsFixture {
    conn: Connection,
    cache: DfCache,
}

/// What one fuzzed search kept and ran.
#[doc(hidden)]
pub struct FuzzedSearch {
    pub kept: Vec<String>,
    pub expression: Option<String>,
}

impl FtsFixture {
    pub fn new() -> Result<Self, StoreError> {
        let mut conn = Connection::open_in_memory()?;
        super::migrate::migrate(&mut conn)?;
        conn.execute_batch(
            "INSERT INTO sessions VALUES ('s1', 'default', 0, 0), ('s2', 'other', 0, 0);
             INSERT INTO exchanges (session_id, role, content, created_at) VALUES
               ('s1', 'user', 'the cat sat on the mat with another cat', 0),
               ('s1', 'assistant', 'cats and dogs: NEAR(fts, 2) \"quoted\" * AND OR NOT', 0),
               ('s2', 'user', 'Ünïcödé straße 東京 data 42', 0),
               ('s1', 'user', 'cat cat cat common common', 0);",
        )?;
        Ok(Self {
            conn,
            cache: DfCache::default(),
        })
    }

    /// Prunes `terms`, builds the expression and runs it on both sides;
    /// an error names the side SQLite refused it on.
    pub fn search(
        &self,
        terms: Vec<String>,
        max_df: f64,
        max_terms: usize,
        session: Option<&str>,
        tiers: &[Tier],
    ) -> Result<FuzzedSearch, String> {
        let c = &self.conn;
        let kept = prune_common(c, terms, max_df, 2, max_terms, &self.cache)
            .map_err(|e| format!("pruning: {e}"))?;
        let Some(expr) = or_expression(&kept) else {
            return Ok(FuzzedSearch {
                kept,
                expression: None,
            });
        };
        search_exchanges(c, &expr, "default", session, 10)
            .map_err(|e| format!("FTS5 refuses {expr:?}: {e}"))?;
        search_items(c, &expr, tiers, "default", 10)
            .map_err(|e| format!("FTS5 (items) refuses {expr:?}: {e}"))?;
        search_facts(c, &expr, "default", Belief::AsOf(0), 10)
            .map_err(|e| format!("FTS5 (facts) refuses {expr:?}: {e}"))?;
        Ok(FuzzedSearch {
            kept,
            expression: Some(expr),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn df_cache_reuses_counts_until_the_store_grows_5_percent() {
        let c = DfCache::default();
        assert_eq!(c.get("cat", 1000), None);
        c.put("cat", 40, 1000);
        assert_eq!(c.get("cat", 1000), Some(40));
        assert_eq!(c.get("cat", 1050), Some(40));
        assert_eq!(c.get("cat", 1051), None, "grown past 5%");
        assert_eq!(c.get("cat", 999), None, "shrunk");
        assert_eq!(c.get("dog", 1000), None);
    }

    #[test]
    fn quoted_terms_are_or_ed() {
        let t = |w: &[&str]| w.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            or_expression(&t(&["caroline", "research"])).unwrap(),
            "\"caroline\" OR \"research\""
        );
        assert_eq!(or_expression(&[]), None);
    }

    #[test]
    fn sqlite_accepts_the_expression_of_hostile_words() {
        let t: Vec<String> = ["cats", "near", "dogs", "2", "birds", "col", "umn"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let e = or_expression(&t).unwrap();
        let mut conn = Connection::open_in_memory().unwrap();
        crate::store::migrate::migrate(&mut conn).unwrap();
        search_exchanges(&conn, &e, "default", None, 10).unwrap();
    }
}
