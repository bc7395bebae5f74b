//! A namespace's single-row tiers, built by the dream cycle: the profile,
//! the narrative and the self-state. Written whole, read back whole (the
//! API and the context pack show them as they are stored).

use std::future::Future;

use rusqlite::{Connection, OptionalExtension, params};
use serde_json::{Value, json};

use super::{Store, StoreError};

/// A JSON column as a value (`null` if it does not parse).
pub(super) fn json_column(s: String) -> Value {
    serde_json::from_str(&s).unwrap_or(Value::Null)
}

/// The single-row tiers that can be removed when nothing is left to build
/// them from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Single {
    Profile,
    Narrative,
}

impl Single {
    fn table(self) -> &'static str {
        match self {
            Single::Profile => "profiles",
            Single::Narrative => "narratives",
        }
    }
}

/// A profile as the dream cycle built it.
#[derive(Debug, Clone)]
pub struct NewProfile {
    pub namespace: String,
    pub text: String,
    /// JSON array of the standing facts.
    pub facts: String,
    pub sessions_covered: i64,
    pub provider: &'static str,
}

/// A namespace's profile, narrative and self-state, each as the API shows it.
#[derive(Debug, Clone, Default)]
pub struct Singles {
    pub profile: Option<Value>,
    pub narrative: Option<Value>,
    pub self_state: Option<Value>,
}

pub trait SingleTiers {
    fn profile(&self, ns: &str) -> impl Future<Output = Result<Option<Value>, StoreError>> + Send;

    fn narrative(&self, ns: &str)
    -> impl Future<Output = Result<Option<Value>, StoreError>> + Send;

    fn self_state(
        &self,
        ns: &str,
    ) -> impl Future<Output = Result<Option<Value>, StoreError>> + Send;

    /// The three in one read (the context pack's head).
    fn singles(&self, ns: &str) -> impl Future<Output = Result<Singles, StoreError>> + Send;

    /// Creates or replaces the profile (no longer stale), built now.
    fn write_profile(&self, p: NewProfile) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Creates or replaces the narrative (no longer stale), built now.
    fn write_narrative(
        &self,
        ns: &str,
        text: String,
        provider: &'static str,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Creates or replaces the self-state, built now.
    fn write_self_state(
        &self,
        ns: &str,
        state: Value,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    fn remove_single(
        &self,
        single: Single,
        ns: &str,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

fn profile(conn: &Connection, ns: &str) -> Result<Option<Value>, StoreError> {
    Ok(conn
        .query_row(
            "SELECT text, facts, sessions_covered, stale, provider, built_at FROM profiles WHERE namespace = ?1",
            [ns],
            |r| {
                Ok(json!({
                    "namespace": ns,
                    "text": r.get::<_, String>(0)?,
                    "facts": json_column(r.get(1)?),
                    "sessions_covered": r.get::<_, i64>(2)?,
                    "stale": r.get::<_, bool>(3)?,
                    "provider": r.get::<_, Option<String>>(4)?,
                    "built_at": crate::time::to_rfc3339(r.get(5)?),
                }))
            },
        )
        .optional()?)
}

fn narrative(conn: &Connection, ns: &str) -> Result<Option<Value>, StoreError> {
    Ok(conn
        .query_row(
            "SELECT text, stale, provider, built_at FROM narratives WHERE namespace = ?1",
            [ns],
            |r| {
                Ok(json!({
                    "namespace": ns,
                    "text": r.get::<_, String>(0)?,
                    "stale": r.get::<_, bool>(1)?,
                    "provider": r.get::<_, Option<String>>(2)?,
                    "built_at": crate::time::to_rfc3339(r.get(3)?),
                }))
            },
        )
        .optional()?)
}

fn self_state(conn: &Connection, ns: &str) -> Result<Option<Value>, StoreError> {
    Ok(conn
        .query_row(
            "SELECT state, built_at FROM self_states WHERE namespace = ?1",
            [ns],
            |r| {
                Ok(json!({
                    "namespace": ns,
                    "state": json_column(r.get(0)?),
                    "built_at": crate::time::to_rfc3339(r.get(1)?),
                }))
            },
        )
        .optional()?)
}

impl SingleTiers for Store {
    async fn profile(&self, ns: &str) -> Result<Option<Value>, StoreError> {
        let ns = ns.to_owned();
        self.read(move |c| profile(c, &ns)).await
    }

    async fn narrative(&self, ns: &str) -> Result<Option<Value>, StoreError> {
        let ns = ns.to_owned();
        self.read(move |c| narrative(c, &ns)).await
    }

    async fn self_state(&self, ns: &str) -> Result<Option<Value>, StoreError> {
        let ns = ns.to_owned();
        self.read(move |c| self_state(c, &ns)).await
    }

    async fn singles(&self, ns: &str) -> Result<Singles, StoreError> {
        let ns = ns.to_owned();
        self.read(move |c| {
            Ok(Singles {
                profile: profile(c, &ns)?,
                narrative: narrative(c, &ns)?,
                self_state: self_state(c, &ns)?,
            })
        })
        .await
    }

    async fn write_profile(&self, p: NewProfile) -> Result<(), StoreError> {
        self.write(move |ctx| {
            ctx.conn().execute(
                "INSERT INTO profiles (namespace, text, facts, sessions_covered, stale, provider, built_at)
                 VALUES (?1, ?2, ?3, ?4, 0, ?5, ?6)
                 ON CONFLICT (namespace) DO UPDATE SET text = excluded.text, facts = excluded.facts,
                   sessions_covered = excluded.sessions_covered, stale = 0, provider = excluded.provider, built_at = excluded.built_at",
                params![p.namespace, p.text, p.facts, p.sessions_covered, p.provider, crate::time::now_ms()],
            )?;
            Ok(())
        })
        .await
    }

    async fn write_narrative(
        &self,
        ns: &str,
        text: String,
        provider: &'static str,
    ) -> Result<(), StoreError> {
        let ns = ns.to_owned();
        self.write(move |ctx| {
            ctx.conn().execute(
                "INSERT INTO narratives (namespace, text, stale, provider, built_at) VALUES (?1, ?2, 0, ?3, ?4)
                 ON CONFLICT (namespace) DO UPDATE SET text = excluded.text, stale = 0, provider = excluded.provider,
                   built_at = excluded.built_at",
                params![ns, text, provider, crate::time::now_ms()],
            )?;
            Ok(())
        })
        .await
    }

    async fn write_self_state(&self, ns: &str, state: Value) -> Result<(), StoreError> {
        let ns = ns.to_owned();
        self.write(move |ctx| {
            ctx.conn().execute(
                "INSERT INTO self_states (namespace, state, built_at) VALUES (?1, ?2, ?3)
                 ON CONFLICT (namespace) DO UPDATE SET state = excluded.state, built_at = excluded.built_at",
                params![ns, state.to_string(), crate::time::now_ms()],
            )?;
            Ok(())
        })
        .await
    }

    async fn remove_single(&self, single: Single, ns: &str) -> Result<(), StoreError> {
        let (table, ns) = (single.table(), ns.to_owned());
        self.write(move |ctx| {
            ctx.conn()
                .execute(&format!("DELETE FROM {table} WHERE namespace = ?1"), [&ns])?;
            Ok(())
        })
        .await
    }
}
