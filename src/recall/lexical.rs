//! The lexical side's words: free text split into lower-cased terms with
//! stopwords dropped. The store quotes and OR-combines them into a safe
//! FTS5 MATCH (`store::fts`); a query with nothing left matches nothing.

use std::collections::HashSet;

pub use crate::text::STOPWORDS;

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::or_expression;

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
        // SQLite accepts it: store::fts::tests::sqlite_accepts_the_expression_of_hostile_words.
    }
}
