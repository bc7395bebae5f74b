//! Ordered, additive schema migrations tracked by `PRAGMA user_version`.
//!
//! Migration N (1-based) brings the schema from version N-1 to N inside one
//! transaction, so a crash mid-migration leaves the previous version intact.
//! Later issues add a file to `migrations/` and a line to `MIGRATIONS`;
//! existing entries are never edited.

use rusqlite::Connection;

use super::StoreError;

const MIGRATIONS: &[(&str, &str)] = &[
    ("0001_core", include_str!("migrations/0001_core.sql")),
    ("0002_meta", include_str!("migrations/0002_meta.sql")),
    (
        "0003_fts_namespace",
        include_str!("migrations/0003_fts_namespace.sql"),
    ),
    ("0004_items", include_str!("migrations/0004_items.sql")),
    ("0005_sources", include_str!("migrations/0005_sources.sql")),
    (
        "0006_exchanges_by_time",
        include_str!("migrations/0006_exchanges_by_time.sql"),
    ),
    ("0007_facts", include_str!("migrations/0007_facts.sql")),
    (
        "0008_firewall",
        include_str!("migrations/0008_firewall.sql"),
    ),
    (
        "0009_interactions",
        include_str!("migrations/0009_interactions.sql"),
    ),
    (
        "0010_extraction",
        include_str!("migrations/0010_extraction.sql"),
    ),
];

/// The schema version this build writes.
pub const SCHEMA_VERSION: u32 = MIGRATIONS.len() as u32;

/// Applies every pending migration; returns the versions before and after.
pub fn migrate(conn: &mut Connection) -> Result<(u32, u32), StoreError> {
    migrate_to(conn, SCHEMA_VERSION)
}

/// Applies pending migrations up to `target` (tests use it to build an
/// older schema and then upgrade it).
pub(crate) fn migrate_to(conn: &mut Connection, target: u32) -> Result<(u32, u32), StoreError> {
    let before: u32 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    if before > SCHEMA_VERSION {
        return Err(StoreError::SchemaTooNew {
            found: before,
            supported: SCHEMA_VERSION,
        });
    }
    for (index, (name, sql)) in MIGRATIONS
        .iter()
        .enumerate()
        .take(target as usize)
        .skip(before as usize)
    {
        let version = index as u32 + 1;
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Exclusive)?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", version)?;
        tx.commit()?;
        tracing::info!(migration = name, version, "applied schema migration");
    }
    Ok((before, target.max(before)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrates_empty_database_and_is_idempotent() {
        let mut conn = Connection::open_in_memory().unwrap();
        assert_eq!(migrate(&mut conn).unwrap(), (0, SCHEMA_VERSION));
        assert_eq!(
            migrate(&mut conn).unwrap(),
            (SCHEMA_VERSION, SCHEMA_VERSION)
        );
        let n: i64 = conn
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE name = 'exchanges_fts'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(n, 1);
    }

    #[test]
    fn upgrading_to_the_namespace_fts_keeps_old_rows_searchable() {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate_to(&mut conn, 2).unwrap();
        conn.execute_batch(
            "INSERT INTO sessions VALUES ('a', 'alice', 0, 0), ('b', 'bob', 0, 0);
             INSERT INTO exchanges (id, session_id, role, content, created_at) VALUES
               (1, 'a', 'user', 'red apples', 0), (2, 'b', 'user', 'red apples too', 0);",
        )
        .unwrap();
        assert_eq!(migrate(&mut conn).unwrap(), (2, SCHEMA_VERSION));
        let ids =
            crate::store::fts::search_exchanges(&conn, "\"apples\"", "alice", None, 10).unwrap();
        assert_eq!(ids, vec![1]);
        let ids =
            crate::store::fts::search_exchanges(&conn, "\"apples\"", "bob", None, 10).unwrap();
        assert_eq!(ids, vec![2]);
        // New rows go through the new triggers.
        conn.execute("INSERT INTO exchanges (id, session_id, role, content, created_at) VALUES (3, 'a', 'user', 'green apples', 0)", [])
            .unwrap();
        let ids =
            crate::store::fts::search_exchanges(&conn, "\"apples\"", "alice", None, 10).unwrap();
        assert_eq!(ids.len(), 2);
        conn.execute("DELETE FROM exchanges WHERE id = 1", [])
            .unwrap();
        let ids =
            crate::store::fts::search_exchanges(&conn, "\"apples\"", "alice", None, 10).unwrap();
        assert_eq!(ids, vec![3]);
    }

    #[test]
    fn refuses_newer_schema() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.pragma_update(None, "user_version", SCHEMA_VERSION + 1)
            .unwrap();
        assert!(matches!(
            migrate(&mut conn),
            Err(StoreError::SchemaTooNew { .. })
        ));
    }

    #[test]
    fn fts_follows_inserts_updates_and_deletes() {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate(&mut conn).unwrap();
        conn.execute_batch(
            "INSERT INTO sessions VALUES ('s', 'default', 0, 0);
             INSERT INTO exchanges (id, session_id, role, content, created_at) VALUES (1, 's', 'user', 'red apples', 0);",
        )
        .unwrap();
        let hits = |conn: &Connection, q: &str| -> i64 {
            conn.query_row(
                "SELECT count(*) FROM exchanges_fts WHERE exchanges_fts MATCH ?1",
                [q],
                |r| r.get(0),
            )
            .unwrap()
        };
        assert_eq!(hits(&conn, "apples"), 1);
        conn.execute(
            "UPDATE exchanges SET content = 'green pears' WHERE id = 1",
            [],
        )
        .unwrap();
        assert_eq!(hits(&conn, "apples"), 0);
        assert_eq!(hits(&conn, "pears"), 1);
        conn.execute("DELETE FROM exchanges WHERE id = 1", [])
            .unwrap();
        assert_eq!(hits(&conn, "pears"), 0);
    }
}
