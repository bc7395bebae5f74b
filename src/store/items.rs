//! Derived memory items: the recall tiers beyond exchanges (gists, eras,
//! concepts, chunks). They share one table, one FTS5 table and the vector
//! index; each lives in the index partition of its (tier, namespace), so
//! the partitions of one tier never see another's rows.
//!
//! Writers of a tier go through [`crate::store::Store::write`]: their
//! closure runs on the writer thread inside its own savepoint of a group
//! transaction and gets a [`WriteCtx`], which writes items and records what
//! the index must change once the transaction has committed.

use std::collections::HashMap;

use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};

use super::StoreError;
use super::writer::{IndexEffect, vector_to_blob};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Tier {
    Exchange,
    Gist,
    Era,
    Concept,
    Chunk,
    /// Facts have a table of their own (see [`super::facts`]).
    Fact,
}

impl Tier {
    pub const ALL: [Tier; 6] = [
        Tier::Exchange,
        Tier::Gist,
        Tier::Era,
        Tier::Concept,
        Tier::Chunk,
        Tier::Fact,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Tier::Exchange => "exchange",
            Tier::Gist => "gist",
            Tier::Era => "era",
            Tier::Concept => "concept",
            Tier::Chunk => "chunk",
            Tier::Fact => "fact",
        }
    }

    /// Whether rows of this tier live in the `items` table.
    pub fn is_item(self) -> bool {
        !matches!(self, Tier::Exchange | Tier::Fact)
    }

    pub fn parse(s: &str) -> Option<Tier> {
        Tier::ALL.into_iter().find(|t| t.as_str() == s)
    }
}

/// The index partition of an item tier in a namespace. Namespaces never hold
/// control characters, so this cannot collide with an exchange namespace.
pub fn partition(tier: Tier, namespace: &str) -> String {
    format!("{}\u{1}{namespace}", tier.as_str())
}

/// An item to create or replace, identified by `(tier, namespace, key)`.
#[derive(Debug, Clone)]
pub struct NewItem {
    pub tier: Tier,
    pub namespace: String,
    pub key: String,
    pub parent: Option<String>,
    pub text: String,
    /// A JSON object; flattened into the item's recall hits.
    pub attrs: serde_json::Value,
    pub weight: f64,
    pub created_at: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ItemWrite {
    pub id: i64,
    /// False when an item with the same text and attributes was already
    /// stored: nothing was written and nothing will be re-embedded.
    pub changed: bool,
}

/// Which items of one tier and namespace to remove.
#[derive(Debug, Clone)]
pub enum ItemSel {
    Keys(Vec<String>),
    Parent(String),
    Ids(Vec<i64>),
}

#[derive(Debug, Clone, Serialize)]
pub struct Item {
    pub id: i64,
    pub tier: Tier,
    pub namespace: String,
    pub key: String,
    pub parent: Option<String>,
    pub text: String,
    pub attrs: serde_json::Value,
    pub weight: f64,
    pub created_at: i64,
    pub updated_at: i64,
}

/// What a closure given to [`crate::store::Store::write`] can do.
pub struct WriteCtx<'a> {
    pub(crate) conn: &'a Connection,
    pub(crate) effects: &'a mut Vec<IndexEffect>,
    pub(crate) model_id: i64,
}

impl WriteCtx<'_> {
    /// The write connection, inside the closure's savepoint.
    pub fn conn(&self) -> &Connection {
        self.conn
    }

    /// Creates or replaces an item. Its vector is cleared when the text
    /// changes (the embedding queue makes a new one).
    pub fn upsert_item(&mut self, item: NewItem) -> Result<ItemWrite, StoreError> {
        if !item.tier.is_item() {
            return Err(StoreError::Invalid(format!(
                "{}s are not items; they have their own table",
                item.tier.as_str()
            )));
        }
        let attrs = if item.attrs.is_null() {
            "{}".to_owned()
        } else if item.attrs.is_object() {
            item.attrs.to_string()
        } else {
            return Err(StoreError::Invalid(
                "item attrs must be a JSON object".into(),
            ));
        };
        let found: Option<(i64, String, String, f64)> = self
            .conn
            .prepare_cached(
                "SELECT id, text, attrs, weight FROM items WHERE tier = ?1 AND namespace = ?2 AND key = ?3",
            )?
            .query_row(
                params![item.tier.as_str(), item.namespace, item.key],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .optional()?;
        let now = crate::time::now_ms();
        match found {
            Some((id, text, old_attrs, weight))
                if text == item.text && old_attrs == attrs && weight == item.weight =>
            {
                Ok(ItemWrite { id, changed: false })
            }
            Some((id, text, _, _)) => {
                let text_changed = text != item.text;
                self.conn
                    .prepare_cached(
                        "UPDATE items SET parent = ?2, text = ?3, attrs = ?4, weight = ?5, updated_at = ?6,
                         embedding = CASE WHEN ?7 THEN NULL ELSE embedding END,
                         embed_model_id = CASE WHEN ?7 THEN NULL ELSE embed_model_id END
                         WHERE id = ?1",
                    )?
                    .execute(params![
                        id,
                        item.parent,
                        item.text,
                        attrs,
                        item.weight,
                        now,
                        text_changed
                    ])?;
                if text_changed {
                    self.effects.push(IndexEffect::Remove {
                        namespace: partition(item.tier, &item.namespace),
                        ids: vec![id],
                    });
                }
                Ok(ItemWrite { id, changed: true })
            }
            None => {
                let id: i64 = self
                    .conn
                    .prepare_cached(
                        "INSERT INTO items (tier, namespace, key, parent, text, attrs, weight, created_at, updated_at)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) RETURNING id",
                    )?
                    .query_row(
                        params![
                            item.tier.as_str(),
                            item.namespace,
                            item.key,
                            item.parent,
                            item.text,
                            attrs,
                            item.weight,
                            item.created_at,
                            now
                        ],
                        |r| r.get(0),
                    )?;
                Ok(ItemWrite { id, changed: true })
            }
        }
    }

    /// Removes items (and their rows in tier tables that reference them);
    /// returns how many went.
    pub fn delete_items(
        &mut self,
        tier: Tier,
        namespace: &str,
        sel: ItemSel,
    ) -> Result<usize, StoreError> {
        let ids: Vec<i64> = match sel {
            ItemSel::Ids(ids) => ids,
            ItemSel::Parent(p) => self
                .conn
                .prepare_cached(
                    "SELECT id FROM items WHERE tier = ?1 AND namespace = ?2 AND parent = ?3",
                )?
                .query_map(params![tier.as_str(), namespace, p], |r| r.get(0))?
                .collect::<Result<_, _>>()?,
            ItemSel::Keys(keys) => {
                let mut stmt = self.conn.prepare_cached(
                    "SELECT id FROM items WHERE tier = ?1 AND namespace = ?2 AND key = ?3",
                )?;
                let mut ids = Vec::with_capacity(keys.len());
                for k in keys {
                    if let Some(id) = stmt
                        .query_row(params![tier.as_str(), namespace, k], |r| r.get(0))
                        .optional()?
                    {
                        ids.push(id);
                    }
                }
                ids
            }
        };
        let mut del = self
            .conn
            .prepare_cached("DELETE FROM items WHERE id = ?1 AND tier = ?2 AND namespace = ?3")?;
        let mut gone = Vec::with_capacity(ids.len());
        for id in ids {
            if del.execute(params![id, tier.as_str(), namespace])? > 0 {
                gone.push(id);
            }
        }
        let n = gone.len();
        if n > 0 {
            self.effects.push(IndexEffect::Remove {
                namespace: partition(tier, namespace),
                ids: gone,
            });
        }
        Ok(n)
    }

    /// Stores vectors of the current model for items whose text is still
    /// `expected` (an item changed meanwhile keeps waiting for its new
    /// vector); returns how many were stored.
    pub fn set_item_embeddings(
        &mut self,
        rows: Vec<(i64, String, Vec<f32>)>,
    ) -> Result<usize, StoreError> {
        let mut update = self.conn.prepare_cached(
            "UPDATE items SET embedding = ?2, embed_model_id = ?3 WHERE id = ?1 AND text = ?4
             RETURNING tier, namespace, coalesce(parent, '')",
        )?;
        let mut n = 0;
        for (id, expected, vector) in rows {
            let found: Option<(String, String, String)> = update
                .query_row(
                    params![id, vector_to_blob(&vector), self.model_id, expected],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                )
                .optional()?;
            if let Some((tier, namespace, parent)) = found {
                let tier = Tier::parse(&tier).unwrap_or(Tier::Gist);
                self.effects.push(IndexEffect::Add {
                    id,
                    namespace: partition(tier, &namespace),
                    session_id: parent,
                    vector,
                });
                n += 1;
            }
        }
        Ok(n)
    }
}

fn row_to_item(r: &rusqlite::Row<'_>) -> rusqlite::Result<Item> {
    let tier: String = r.get(1)?;
    let attrs: String = r.get(6)?;
    Ok(Item {
        id: r.get(0)?,
        tier: Tier::parse(&tier).unwrap_or(Tier::Gist),
        namespace: r.get(2)?,
        key: r.get(3)?,
        parent: r.get(4)?,
        text: r.get(5)?,
        attrs: serde_json::from_str(&attrs).unwrap_or_else(|_| serde_json::json!({})),
        weight: r.get(7)?,
        created_at: r.get(8)?,
        updated_at: r.get(9)?,
    })
}

const ITEM_COLUMNS: &str =
    "id, tier, namespace, key, parent, text, attrs, weight, created_at, updated_at";

#[cfg(test)]
fn item_by_key(
    conn: &Connection,
    tier: Tier,
    namespace: &str,
    key: &str,
) -> Result<Option<Item>, StoreError> {
    Ok(conn
        .prepare_cached(&format!(
            "SELECT {ITEM_COLUMNS} FROM items WHERE tier = ?1 AND namespace = ?2 AND key = ?3"
        ))?
        .query_row(params![tier.as_str(), namespace, key], row_to_item)
        .optional()?)
}

pub fn items_by_id(conn: &Connection, ids: &[i64]) -> Result<HashMap<i64, Item>, StoreError> {
    let mut stmt =
        conn.prepare_cached(&format!("SELECT {ITEM_COLUMNS} FROM items WHERE id = ?1"))?;
    let mut out = HashMap::with_capacity(ids.len());
    for id in ids {
        if let Some(item) = stmt.query_row([id], row_to_item).optional()? {
            out.insert(item.id, item);
        }
    }
    Ok(out)
}

const PENDING_SQL: [&str; 3] = [
    "SELECT id, text FROM items WHERE embed_model_id IS NULL ORDER BY id LIMIT ?2",
    "SELECT id, text FROM items WHERE embed_model_id < ?1 LIMIT ?2",
    "SELECT id, text FROM items WHERE embed_model_id > ?1 LIMIT ?2",
];

/// Rows waiting for a vector of `model_id`: (id, text). Never-embedded
/// rows first, then rows holding another model's vector. Each is one
/// lookup in `items_by_model`: an `IS NULL OR !=` predicate would scan every
/// row (and read its vector) for every batch.
pub fn pending_item_embeddings(
    conn: &Connection,
    model_id: i64,
    limit: usize,
) -> Result<Vec<(i64, String)>, StoreError> {
    let mut out: Vec<(i64, String)> = Vec::with_capacity(limit);
    for sql in PENDING_SQL {
        let want = limit - out.len();
        if want == 0 {
            break;
        }
        let mut stmt = conn.prepare_cached(sql)?;
        let rows = stmt.query_map(params![model_id, want as i64], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })?;
        for row in rows {
            out.push(row?);
        }
    }
    Ok(out)
}

pub fn item_embedding_backlog(conn: &Connection, model_id: i64) -> Result<i64, StoreError> {
    // Three counts over the covering index, never a scan of the rows.
    Ok(conn.query_row(
        "SELECT (SELECT count(*) FROM items WHERE embed_model_id IS NULL)
              + (SELECT count(*) FROM items WHERE embed_model_id < ?1)
              + (SELECT count(*) FROM items WHERE embed_model_id > ?1)",
        [model_id],
        |r| r.get(0),
    )?)
}

/// Loads every item vector of the current model into the index.
pub(crate) fn load_item_vectors(
    conn: &Connection,
    model_id: i64,
    index: &mut crate::index::VectorIndex,
) -> Result<(), StoreError> {
    let mut stmt = conn.prepare(
        "SELECT id, tier, namespace, coalesce(parent, ''), embedding FROM items
         WHERE embed_model_id = ?1 AND embedding IS NOT NULL",
    )?;
    let mut rows = stmt.query([model_id])?;
    while let Some(r) = rows.next()? {
        let id: i64 = r.get(0)?;
        let tier: String = r.get(1)?;
        let ns: String = r.get(2)?;
        let parent: String = r.get(3)?;
        let blob = r.get_ref(4)?.as_blob().map_err(rusqlite::Error::from)?;
        if let (Some(tier), Some(v)) = (Tier::parse(&tier), super::blob_to_vector(blob))
            && v.len() == index.dim()
        {
            index.insert(id, &partition(tier, &ns), &parent, &v);
        }
    }
    Ok(())
}

/// Lexical search over item tiers of one namespace; best first.
pub fn search_items(
    conn: &Connection,
    expr: &str,
    tiers: &[Tier],
    namespace: &str,
    limit: usize,
) -> Result<Vec<i64>, StoreError> {
    let tiers: Vec<&str> = tiers
        .iter()
        .filter(|t| t.is_item())
        .map(|t| t.as_str())
        .collect();
    if tiers.is_empty() {
        return Ok(Vec::new());
    }
    let ns_token = format!("n{}", hex_upper(namespace));
    let scope = format!(
        "({}) AND scope : \"{ns_token}\"",
        tiers
            .iter()
            .map(|t| format!("scope : \"{t}\""))
            .collect::<Vec<_>>()
            .join(" OR ")
    );
    let full = format!("text : ({expr}) AND {scope}");
    let mut stmt = conn.prepare_cached(
        "SELECT rowid FROM items_fts WHERE items_fts MATCH ?1 ORDER BY bm25(items_fts, 1.0, 0.0) LIMIT ?2",
    )?;
    let ids = stmt
        .query_map(params![full, limit as i64], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    Ok(ids)
}

fn hex_upper(s: &str) -> String {
    s.bytes().map(|b| format!("{b:02X}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;

    fn item(tier: Tier, ns: &str, key: &str, parent: &str, text: &str) -> NewItem {
        NewItem {
            tier,
            namespace: ns.into(),
            key: key.into(),
            parent: Some(parent.into()),
            text: text.into(),
            attrs: serde_json::json!({"k": key}),
            weight: 1.0,
            created_at: 1,
        }
    }

    #[test]
    fn pending_rows_are_found_through_the_model_index() {
        let mut conn = Connection::open_in_memory().unwrap();
        crate::store::migrate::migrate(&mut conn).unwrap();
        for sql in PENDING_SQL {
            let plan: Vec<String> = conn
                .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
                .unwrap()
                .query_map(params![1, 32], |r| r.get(3))
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap();
            assert!(
                plan.iter().any(|p| p.contains("items_by_model")),
                "{sql}: {plan:?}"
            );
        }
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn upsert_embed_search_and_delete() {
        let (_dir, store) = crate::store::test_store(2);
        let a = store
            .write(|ctx| {
                let a =
                    ctx.upsert_item(item(Tier::Gist, "n1", "s1", "s1", "purple elephants dance"))?;
                ctx.upsert_item(item(Tier::Era, "n1", "2024-01", "x", "purple month"))?;
                ctx.upsert_item(item(Tier::Gist, "n2", "s9", "s9", "purple elsewhere"))?;
                ctx.upsert_item(item(Tier::Concept, "n1", "t:1", "src/t", "purple row one"))?;
                ctx.upsert_item(item(Tier::Concept, "n1", "t:2", "src/t", "purple row two"))?;
                Ok(a)
            })
            .await
            .unwrap();
        assert!(a.changed);
        // Same text and attributes: nothing written.
        let again = store
            .write(|ctx| {
                ctx.upsert_item(item(Tier::Gist, "n1", "s1", "s1", "purple elephants dance"))
            })
            .await
            .unwrap();
        assert_eq!(
            again,
            ItemWrite {
                id: a.id,
                changed: false
            }
        );
        // Exchanges are not items.
        assert!(
            store
                .write(|ctx| ctx.upsert_item(item(Tier::Exchange, "n1", "x", "x", "y")))
                .await
                .is_err()
        );

        // A vector lands in the (tier, namespace) partition, and a text
        // change takes it out again.
        let pending = store
            .read(|c| pending_item_embeddings(c, 1, 100))
            .await
            .unwrap();
        assert_eq!(pending.len(), 5);
        let text = "purple elephants dance".to_owned();
        let stored = store
            .write(move |ctx| ctx.set_item_embeddings(vec![(a.id, text, vec![1.0, 0.0])]))
            .await
            .unwrap();
        assert_eq!(stored, 1);
        let hits = |store: &Store| {
            store
                .index()
                .read()
                .unwrap()
                .search(&partition(Tier::Gist, "n1"), None, &[1.0, 0.0], 5)
                .len()
        };
        assert_eq!(hits(&store), 1);
        assert!(
            store
                .index()
                .read()
                .unwrap()
                .search("n1", None, &[1.0, 0.0], 5)
                .is_empty()
        );
        store
            .write(|ctx| {
                ctx.upsert_item(item(Tier::Gist, "n1", "s1", "s1", "purple elephants sing"))
            })
            .await
            .unwrap();
        assert_eq!(hits(&store), 0);
        // A vector for text that changed meanwhile is not stored.
        let stale = "purple elephants dance".to_owned();
        let stored = store
            .write(move |ctx| ctx.set_item_embeddings(vec![(a.id, stale, vec![1.0, 0.0])]))
            .await
            .unwrap();
        assert_eq!(stored, 0);

        // FTS is scoped by tier and namespace.
        let search = |tiers: Vec<Tier>, ns: &'static str| {
            let store = store.clone();
            async move {
                store
                    .read(move |c| search_items(c, "\"purple\"", &tiers, ns, 10))
                    .await
                    .unwrap()
                    .len()
            }
        };
        assert_eq!(search(vec![Tier::Gist], "n1").await, 1);
        assert_eq!(search(vec![Tier::Gist, Tier::Era], "n1").await, 2);
        assert_eq!(search(vec![Tier::Concept], "n1").await, 2);
        assert_eq!(search(vec![Tier::Gist], "n2").await, 1);
        assert_eq!(search(vec![Tier::Exchange], "n1").await, 0);

        // Removal by parent takes every item of it, and only those.
        let gone = store
            .write(|ctx| ctx.delete_items(Tier::Concept, "n1", ItemSel::Parent("src/t".into())))
            .await
            .unwrap();
        assert_eq!(gone, 2);
        assert_eq!(search(vec![Tier::Concept], "n1").await, 0);
        assert_eq!(search(vec![Tier::Gist, Tier::Era], "n1").await, 2);
        let by_key = store
            .read(|c| item_by_key(c, Tier::Era, "n1", "2024-01"))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(by_key.attrs["k"], "2024-01");
        tokio::task::spawn_blocking(move || store.close())
            .await
            .unwrap();
    }
}
