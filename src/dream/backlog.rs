//! Backlog sensing: what is waiting for the dream cycle in one namespace.
//! Everything here is read from watermarks in the database, so a pass
//! stopped anywhere is sensed again correctly by the next one.

use std::collections::{BTreeMap, HashSet};

use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;

use crate::config::DreamConfig;
use crate::store::StoreError;

#[derive(Debug, Clone, Default, Serialize)]
pub struct Backlog {
    pub namespace: String,
    pub sessions: usize,
    pub turns: i64,
    /// Sessions with turns after their gist's watermark (or no gist).
    pub dirty: usize,
    /// Dirty sessions due for (re-)summarising, least recently active first.
    pub ripe: Vec<String>,
    /// Every dirty session, least recently active first (what a forced pass takes).
    #[serde(skip)]
    pub dirty_ids: Vec<String>,
    pub unsummarised_total: i64,
    pub max_exchange_id: i64,
    /// Sessions left alone after `dream.max_attempts` failed summaries.
    pub failing: usize,
    pub gists: usize,
    pub new_gists_since_coherence: usize,
    /// Months whose era is missing, stale or older than one of its gists.
    pub eras_due: Vec<String>,
    /// Months with an era but no gist left (their sessions were deleted).
    pub eras_orphaned: Vec<String>,
    pub profile_due: bool,
    pub narrative_due: bool,
    pub new_gists_since_reflection: usize,
    pub new_entities: usize,
}

impl Backlog {
    pub fn is_caught_up(&self) -> bool {
        self.dirty == 0
            && self.eras_due.is_empty()
            && self.eras_orphaned.is_empty()
            && !self.profile_due
            && !self.narrative_due
    }
}

/// Namespaces that have sessions or consolidated memory.
pub fn namespaces(conn: &Connection) -> Result<Vec<String>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT namespace FROM sessions UNION SELECT namespace FROM gists
         UNION SELECT namespace FROM eras UNION SELECT namespace FROM profiles ORDER BY 1",
    )?;
    let v = stmt
        .query_map([], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    Ok(v)
}

pub fn sense(
    conn: &Connection,
    ns: &str,
    cfg: &DreamConfig,
    now_ms: i64,
) -> Result<Backlog, StoreError> {
    let mut b = Backlog {
        namespace: ns.to_owned(),
        ..Default::default()
    };
    let mut stmt = conn.prepare_cached(
        "SELECT s.id, s.updated_at, count(e.id), max(e.id),
                sum(e.id > coalesce(g.last_exchange_id, 0)),
                g.last_exchange_id IS NOT NULL,
                coalesce(a.attempts, 0), coalesce(a.upto_exchange_id, 0)
         FROM sessions s
         JOIN exchanges e ON e.session_id = s.id
         LEFT JOIN gists g ON g.session_id = s.id
         LEFT JOIN dream_attempts a ON a.session_id = s.id
         WHERE s.namespace = ?1
         GROUP BY s.id
         ORDER BY s.updated_at, s.id",
    )?;
    let mut rows = stmt.query([ns])?;
    while let Some(r) = rows.next()? {
        let sid: String = r.get(0)?;
        let updated: i64 = r.get(1)?;
        let turns: i64 = r.get(2)?;
        let max_id: i64 = r.get(3)?;
        let new_turns: i64 = r.get(4)?;
        let has_gist: bool = r.get(5)?;
        let attempts: i64 = r.get(6)?;
        let failed_upto: i64 = r.get(7)?;
        b.sessions += 1;
        b.turns += turns;
        b.max_exchange_id = b.max_exchange_id.max(max_id);
        if new_turns == 0 {
            continue;
        }
        b.unsummarised_total += new_turns;
        if attempts >= i64::from(cfg.max_attempts) && failed_upto >= max_id {
            b.failing += 1;
            continue;
        }
        b.dirty += 1;
        b.dirty_ids.push(sid.clone());
        let idle = now_ms - updated >= cfg.session_idle_s as i64 * 1000;
        let ripe = (!has_gist && turns >= cfg.min_turns as i64)
            || (has_gist && new_turns >= cfg.resummarise_after as i64)
            || idle;
        if ripe {
            b.ripe.push(sid);
        }
    }

    // Gists by month against the eras.
    let mut gist_months: BTreeMap<String, i64> = BTreeMap::new();
    let mut stmt = conn.prepare_cached(
        "SELECT month, max(updated_at), count(*) FROM gists WHERE namespace = ?1 GROUP BY month",
    )?;
    let mut rows = stmt.query([ns])?;
    while let Some(r) = rows.next()? {
        let n: i64 = r.get(2)?;
        b.gists += n as usize;
        gist_months.insert(r.get(0)?, r.get(1)?);
    }
    let mut eras: BTreeMap<String, (i64, bool)> = BTreeMap::new();
    let mut stmt =
        conn.prepare_cached("SELECT month, built_at, stale FROM eras WHERE namespace = ?1")?;
    let mut rows = stmt.query([ns])?;
    while let Some(r) = rows.next()? {
        eras.insert(r.get(0)?, (r.get(1)?, r.get(2)?));
    }
    for (month, newest) in &gist_months {
        match eras.get(month) {
            Some((built, stale)) if !stale && built >= newest => {}
            _ => b.eras_due.push(month.clone()),
        }
    }
    b.eras_orphaned = eras
        .keys()
        .filter(|m| !gist_months.contains_key(*m))
        .cloned()
        .collect();
    let newest_gist = gist_months.values().copied().max();

    let profile: Option<(i64, bool, i64)> = conn
        .query_row(
            "SELECT built_at, stale, sessions_covered FROM profiles WHERE namespace = ?1",
            [ns],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()?;
    b.profile_due = match (profile, newest_gist) {
        (None, None) => false,
        (Some(_), None) => true,
        (None, Some(_)) => true,
        (Some((built, stale, covered)), Some(newest)) => {
            stale || newest > built || covered != b.gists as i64
        }
    };
    let narrative: Option<(i64, bool)> = conn
        .query_row(
            "SELECT built_at, stale FROM narratives WHERE namespace = ?1",
            [ns],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    b.narrative_due = match (narrative, newest_gist) {
        (None, None) => false,
        (Some(_), None) | (None, Some(_)) => true,
        (Some((built, stale)), Some(newest)) => {
            stale || newest > built || !b.eras_due.is_empty() || !b.eras_orphaned.is_empty()
        }
    };
    let since = match (profile, narrative) {
        (Some((p, ..)), Some((n, _))) => p.min(n),
        _ => i64::MIN,
    };
    b.new_gists_since_coherence = count_gists_since(conn, ns, since)?;

    let state: Option<(i64, String)> = conn
        .query_row(
            "SELECT built_at, state FROM self_states WHERE namespace = ?1",
            [ns],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    let (reflected_at, known): (i64, HashSet<String>) = match &state {
        Some((at, json)) => (*at, known_entities(json)),
        None => (i64::MIN, HashSet::new()),
    };
    b.new_gists_since_reflection = count_gists_since(conn, ns, reflected_at)?;
    if b.new_gists_since_reflection > 0 {
        let texts = gist_texts_since(conn, ns, reflected_at, 200)?;
        let mut fresh: HashSet<String> = HashSet::new();
        for t in &texts {
            for e in super::text::entities(t) {
                if !known.contains(&e) {
                    fresh.insert(e);
                }
            }
        }
        b.new_entities = fresh.len();
    }
    Ok(b)
}

fn count_gists_since(conn: &Connection, ns: &str, since: i64) -> Result<usize, StoreError> {
    let n: i64 = conn
        .prepare_cached("SELECT count(*) FROM gists WHERE namespace = ?1 AND updated_at > ?2")?
        .query_row(params![ns, since], |r| r.get(0))?;
    Ok(n as usize)
}

/// Texts of the gists written after `since`, newest first.
pub fn gist_texts_since(
    conn: &Connection,
    ns: &str,
    since: i64,
    limit: usize,
) -> Result<Vec<String>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT i.text FROM gists g JOIN items i ON i.id = g.item_id
         WHERE g.namespace = ?1 AND g.updated_at > ?2 ORDER BY g.updated_at DESC LIMIT ?3",
    )?;
    let v = stmt
        .query_map(params![ns, since, limit as i64], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    Ok(v)
}

pub fn known_entities(state_json: &str) -> HashSet<String> {
    serde_json::from_str::<serde_json::Value>(state_json)
        .ok()
        .and_then(|v| {
            v.get("known_entities").and_then(|k| k.as_array()).map(|a| {
                a.iter()
                    .filter_map(|x| x.as_str().map(str::to_owned))
                    .collect()
            })
        })
        .unwrap_or_default()
}
