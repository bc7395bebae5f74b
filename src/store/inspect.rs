//! Reads only the inspector needs: how big each namespace is and how its
//! memory grew, month by month.

use std::future::Future;

use rusqlite::params;

use super::{Store, StoreError};

/// A namespace and how many sessions it holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamespaceSize {
    pub namespace: String,
    pub sessions: i64,
}

pub trait Inspect {
    /// Namespaces that hold sessions, in name order, with their session
    /// counts.
    fn namespace_sizes(
        &self,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<NamespaceSize>, StoreError>> + Send;

    /// Turns written per calendar month (`YYYY-MM`, UTC, by the turn's own
    /// time) in a namespace, oldest month first.
    fn turns_by_month(
        &self,
        namespace: String,
    ) -> impl Future<Output = Result<Vec<(String, i64)>, StoreError>> + Send;
}

impl Inspect for Store {
    async fn namespace_sizes(&self, limit: usize) -> Result<Vec<NamespaceSize>, StoreError> {
        self.read(move |c| {
            let rows = c
                .prepare_cached(
                    "SELECT namespace, count(*) FROM sessions GROUP BY namespace
                     ORDER BY namespace LIMIT ?1",
                )?
                .query_map([i64::try_from(limit).unwrap_or(i64::MAX)], |r| {
                    Ok(NamespaceSize {
                        namespace: r.get(0)?,
                        sessions: r.get(1)?,
                    })
                })?
                .collect::<Result<_, _>>()?;
            Ok(rows)
        })
        .await
    }

    async fn turns_by_month(&self, namespace: String) -> Result<Vec<(String, i64)>, StoreError> {
        let days: Vec<(i64, i64)> = self
            .read(move |c| {
                // Counted from the (session_id, created_at, id) index alone
                // (the turns' text is never read), grouped by day with integer
                // floor division: SQLite's date functions per row would cost
                // more than the scan itself.
                let rows = c
                    .prepare_cached(
                        "SELECT (e.created_at - (e.created_at % 86400000 + 86400000) % 86400000)
                                / 86400000 AS day, count(*)
                         FROM sessions s JOIN exchanges e INDEXED BY exchanges_by_session_time
                           ON e.session_id = s.id
                         WHERE s.namespace = ?1 GROUP BY day",
                    )?
                    .query_map(params![namespace], |r| Ok((r.get(0)?, r.get(1)?)))?
                    .collect::<Result<_, _>>()?;
                Ok(rows)
            })
            .await?;
        let mut months: std::collections::BTreeMap<String, i64> = Default::default();
        for (day, n) in days {
            let month = chrono::DateTime::from_timestamp(day.saturating_mul(86_400), 0)
                .map_or_else(|| "????-??".to_owned(), |t| t.format("%Y-%m").to_string());
            *months.entry(month).or_default() += n;
        }
        Ok(months.into_iter().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{NewExchange, Role};

    fn turn(session: &str, ns: &str, at: &str) -> NewExchange {
        NewExchange {
            session_id: session.into(),
            namespace: Some(ns.into()),
            role: Role::User,
            content: format!("turn at {at}"),
            created_at: crate::time::parse_rfc3339(at).unwrap(),
            ext_id: None,
            metadata: None,
            embedding: None,
            screen: None,
        }
    }

    #[tokio::test]
    async fn sizes_and_months_count_per_namespace() {
        let (_dir, store) = crate::store::test_store(4);
        store
            .insert(vec![
                turn("a", "one", "2023-05-01T10:00:00Z"),
                turn("a", "one", "2023-05-31T23:59:59Z"),
                turn("b", "one", "2023-07-02T00:00:00Z"),
                turn("c", "two", "2023-05-03T00:00:00Z"),
                turn("d", "old", "1969-12-31T23:59:59.999Z"),
                turn("d", "old", "1970-01-01T00:00:00Z"),
            ])
            .await
            .unwrap();
        let sizes = store.namespace_sizes(10).await.unwrap();
        let sizes: Vec<(&str, i64)> = sizes
            .iter()
            .map(|s| (s.namespace.as_str(), s.sessions))
            .collect();
        assert_eq!(sizes, vec![("old", 1), ("one", 2), ("two", 1)]);
        let months = store.turns_by_month("one".into()).await.unwrap();
        assert_eq!(
            months,
            vec![("2023-05".to_owned(), 2), ("2023-07".to_owned(), 1)]
        );
        assert_eq!(
            store.turns_by_month("old".into()).await.unwrap(),
            vec![("1969-12".to_owned(), 1), ("1970-01".to_owned(), 1)]
        );
        assert!(
            store
                .turns_by_month("none".into())
                .await
                .unwrap()
                .is_empty()
        );
    }
}
