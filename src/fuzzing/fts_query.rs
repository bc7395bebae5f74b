//! The `fts_query` target.

use crate::recall::lexical;
use crate::store::{self, Tier};

/// A user query through the FTS expression builder (terms, pruning of
/// common terms, the OR expression) into real FTS5 tables: SQLite must
/// accept every expression built. The first byte picks the pruning
/// settings, the session filter and the item tiers.
pub fn fts_query(data: &[u8]) {
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    let query = String::from_utf8_lossy(rest);
    thread_local! {
        static FTS: (store::FtsFixture, std::collections::HashSet<String>) = (
            store::FtsFixture::new().expect("FTS fixture"),
            lexical::STOPWORDS.iter().map(|s| s.to_string()).collect(),
        );
    }
    FTS.with(|(fixture, stop)| {
        let terms = lexical::terms(&query, stop);
        assert!(terms.len() <= 64, "{} terms", terms.len());
        for t in &terms {
            assert!(!t.is_empty() && !stop.contains(t), "term {t:?}");
            assert!(!t.contains('"'), "term {t:?} would end its quotes");
        }
        let max_df = [1.0, 0.5, 0.1, 0.0][(sel & 3) as usize];
        let max_terms = [1000, 8, 2, 1][((sel >> 2) & 3) as usize];
        let session = (sel & 16 != 0).then_some("s1");
        let tiers: Vec<Tier> = Tier::ALL
            .iter()
            .copied()
            .filter(|t| sel & 32 == 0 || *t != Tier::Exchange)
            .collect();
        let done = fixture
            .search(terms.clone(), max_df, max_terms, session, &tiers)
            .unwrap_or_else(|e| panic!("{e} (from {query:?}, terms {terms:?})"));
        assert!(done.kept.iter().all(|t| terms.contains(t)));
        assert_eq!(done.expression.is_none(), done.kept.is_empty());
    });
}
