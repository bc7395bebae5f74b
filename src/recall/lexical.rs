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

/// Builds the MATCH expression, or `None` when no searchable word is left.
pub fn match_expression(query: &str, stopwords: &HashSet<String>) -> Option<String> {
    let mut seen = HashSet::new();
    let terms: Vec<String> = query
        .split(|c: char| !c.is_alphanumeric())
        .map(str::to_lowercase)
        .filter(|w| !w.is_empty() && !stopwords.contains(w))
        .filter(|w| seen.insert(w.clone()))
        .take(64)
        .map(|w| format!("\"{w}\""))
        .collect();
    if terms.is_empty() {
        None
    } else {
        Some(terms.join(" OR "))
    }
}

/// Best-first exchange ids of `namespace` (and `session`) matching `expr`.
pub fn search_exchanges(
    conn: &Connection,
    expr: &str,
    namespace: &str,
    session: Option<&str>,
    limit: usize,
) -> Result<Vec<i64>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT e.id FROM exchanges_fts
         JOIN exchanges e ON e.id = exchanges_fts.rowid
         JOIN sessions s ON s.id = e.session_id
         WHERE exchanges_fts MATCH ?1 AND s.namespace = ?2 AND (?3 IS NULL OR e.session_id = ?3)
         ORDER BY bm25(exchanges_fts), e.id DESC
         LIMIT ?4",
    )?;
    let ids = stmt
        .query_map(params![expr, namespace, session, limit as i64], |r| {
            r.get(0)
        })?
        .collect::<Result<_, _>>()?;
    Ok(ids)
}

#[cfg(test)]
mod tests {
    use super::*;

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
