//! The lexical side: FTS5 BM25 with a MATCH expression built safely from
//! free text. Every token is quoted (so `"`, `*`, `NEAR(`, `-`, `:` and the
//! like are plain text, never FTS syntax), stopwords are dropped and the
//! rest are OR-combined. A query with nothing left matches nothing.

use std::collections::HashSet;

use rusqlite::{Connection, params};

use crate::store::StoreError;

/// A fixed English stopword list (function words that carry no topic).
pub const STOPWORDS: &[&str] = &[
    "a",
    "about",
    "above",
    "after",
    "again",
    "against",
    "all",
    "am",
    "an",
    "and",
    "any",
    "are",
    "as",
    "at",
    "be",
    "because",
    "been",
    "before",
    "being",
    "below",
    "between",
    "both",
    "but",
    "by",
    "can",
    "could",
    "did",
    "do",
    "does",
    "doing",
    "down",
    "during",
    "each",
    "few",
    "for",
    "from",
    "further",
    "had",
    "has",
    "have",
    "having",
    "he",
    "her",
    "here",
    "hers",
    "herself",
    "him",
    "himself",
    "his",
    "how",
    "i",
    "if",
    "in",
    "into",
    "is",
    "it",
    "its",
    "itself",
    "just",
    "me",
    "might",
    "more",
    "most",
    "must",
    "my",
    "myself",
    "no",
    "nor",
    "not",
    "now",
    "of",
    "off",
    "on",
    "once",
    "only",
    "or",
    "other",
    "our",
    "ours",
    "ourselves",
    "out",
    "over",
    "own",
    "same",
    "shall",
    "she",
    "should",
    "so",
    "some",
    "such",
    "than",
    "that",
    "the",
    "their",
    "theirs",
    "them",
    "themselves",
    "then",
    "there",
    "these",
    "they",
    "this",
    "those",
    "through",
    "to",
    "too",
    "under",
    "until",
    "up",
    "very",
    "was",
    "we",
    "were",
    "what",
    "when",
    "where",
    "which",
    "while",
    "who",
    "whom",
    "why",
    "will",
    "with",
    "would",
    "you",
    "your",
    "yours",
    "yourself",
    "yourselves",
    "s",
    "t",
    "d",
    "ll",
    "m",
    "re",
    "ve",
    "don",
    "didn",
    "doesn",
    "isn",
    "wasn",
    "weren",
    "won",
    "also",
    "yes",
    "ok",
    "oh",
];

/// The query's searchable words: lower-cased, stopwords dropped, deduplicated.
pub fn terms(query: &str, stopwords: &HashSet<String>) -> Vec<String> {
    let mut seen = HashSet::new();
    query
        .split(|c: char| !c.is_alphanumeric())
        .map(str::to_lowercase)
        .filter(|w| !w.is_empty() && !stopwords.contains(w))
        .filter(|w| seen.insert(w.clone()))
        .take(64)
        .collect()
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
pub fn prune_common(
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
pub fn search_exchanges(
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

    /// Builds the MATCH expression, or `None` when no searchable word is left.
    fn match_expression(query: &str, stopwords: &HashSet<String>) -> Option<String> {
        or_expression(&terms(query, stopwords))
    }

    fn stop() -> HashSet<String> {
        STOPWORDS.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn builds_quoted_or_terms_without_stopwords() {
        assert_eq!(
            match_expression("What did Caroline research?", &stop()).unwrap(),
            "\"caroline\" OR \"research\""
        );
        assert_eq!(match_expression("the of and", &stop()), None);
        assert_eq!(match_expression("?!... ---", &stop()), None);
        assert_eq!(match_expression("", &stop()), None);
    }

    #[test]
    fn fts_syntax_is_neutralised() {
        let e =
            match_expression("\"cats\" * NEAR(dogs, 2) -birds col:umn AND OR", &stop()).unwrap();
        assert_eq!(
            e,
            "\"cats\" OR \"near\" OR \"dogs\" OR \"2\" OR \"birds\" OR \"col\" OR \"umn\""
        );
        // And SQLite accepts it.
        let mut conn = Connection::open_in_memory().unwrap();
        crate::store::migrate::migrate(&mut conn).unwrap();
        search_exchanges(&conn, &e, "default", None, 10).unwrap();
    }
}
