//! What is waiting for the dream cycle, read from the watermarks in the
//! database: per session how far its gist reaches, gists by month against
//! the eras, when the profile, narrative and self-state were built, and the
//! gists written since. The dream cycle decides what is due from these.

use std::future::Future;

use rusqlite::{Connection, OptionalExtension, params};

use super::gists::{TurnRow, turns};
use super::{Store, StoreError};

/// A session against its gist and failed attempts.
#[derive(Debug, Clone)]
pub struct SessionProgress {
    pub session_id: String,
    pub updated_at: i64,
    pub turns: i64,
    pub max_exchange_id: i64,
    /// Turns after the gist's watermark (all of them without a gist).
    pub new_turns: i64,
    pub has_gist: bool,
    /// Failed summaries in a row, and the last turn they covered.
    pub attempts: i64,
    pub failed_upto: i64,
    /// Turns after the fact-extraction cursor.
    pub facts_new: i64,
    /// The session's first turn (extraction reads sessions in this order,
    /// so a slot's values arrive as they happened).
    pub first_at: i64,
    /// Failed extractions in a row, and the last turn they covered.
    pub facts_attempts: i64,
    pub facts_failed_upto: i64,
}

/// A month's gists: how many, and the newest update.
#[derive(Debug, Clone)]
pub struct GistMonth {
    pub month: String,
    pub newest: i64,
    pub count: i64,
}

/// A month's era as built.
#[derive(Debug, Clone)]
pub struct EraMark {
    pub month: String,
    pub built_at: i64,
    pub stale: bool,
}

/// The profile as built.
#[derive(Debug, Clone, Copy)]
pub struct ProfileMark {
    pub built_at: i64,
    pub stale: bool,
    pub sessions_covered: i64,
}

/// The narrative as built.
#[derive(Debug, Clone, Copy)]
pub struct NarrativeMark {
    pub built_at: i64,
    pub stale: bool,
}

/// One namespace's watermarks.
#[derive(Debug, Clone, Default)]
pub struct BacklogRows {
    /// Sessions with turns, least recently active first.
    pub sessions: Vec<SessionProgress>,
    pub gist_months: Vec<GistMonth>,
    pub eras: Vec<EraMark>,
    pub profile: Option<ProfileMark>,
    pub narrative: Option<NarrativeMark>,
    /// The self-state's build time and its JSON.
    pub self_state: Option<(i64, String)>,
    /// Gists updated after the older of the profile's and the narrative's
    /// builds (every gist unless both exist).
    pub gists_since_coherence: usize,
    /// Gists updated after the self-state's build (every gist without one).
    pub gists_since_reflection: usize,
    /// Facts created or superseded after the self-state's build.
    pub facts_since_reflection: usize,
    /// Their texts, newest first, at most the limit asked for (read only
    /// when there are some).
    pub texts_since_reflection: Vec<String>,
}

/// What a reflection starts from.
#[derive(Debug, Clone, Default)]
pub struct ReflectionInput {
    /// The self-state's JSON, if there is one.
    pub previous: Option<String>,
    /// Texts of the gists updated since it was built, newest first.
    pub gist_texts: Vec<String>,
    /// The turns of the sessions of the latest of those gists.
    pub recent_turns: Vec<Vec<TurnRow>>,
}

pub trait DreamBacklog {
    /// Namespaces that have sessions or consolidated memory.
    fn dream_namespaces(&self) -> impl Future<Output = Result<Vec<String>, StoreError>> + Send;

    /// A namespace's watermarks; at most `texts` gist texts.
    fn backlog_rows(
        &self,
        ns: &str,
        texts: usize,
    ) -> impl Future<Output = Result<BacklogRows, StoreError>> + Send;

    /// The self-state and what came since: at most `texts` gist texts and
    /// the turns of at most `sessions` sessions.
    fn reflection_input(
        &self,
        ns: &str,
        texts: usize,
        sessions: usize,
    ) -> impl Future<Output = Result<ReflectionInput, StoreError>> + Send;
}

fn count_gists_since(conn: &Connection, ns: &str, since: i64) -> Result<usize, StoreError> {
    let n: i64 = conn
        .prepare_cached("SELECT count(*) FROM gists WHERE namespace = ?1 AND updated_at > ?2")?
        .query_row(params![ns, since], |r| r.get(0))?;
    Ok(n as usize)
}

/// Texts of the gists written after `since`, newest first.
fn gist_texts_since(
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

fn self_state(conn: &Connection, ns: &str) -> Result<Option<(i64, String)>, StoreError> {
    Ok(conn
        .query_row(
            "SELECT built_at, state FROM self_states WHERE namespace = ?1",
            [ns],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?)
}

fn backlog_rows(conn: &Connection, ns: &str, texts: usize) -> Result<BacklogRows, StoreError> {
    let mut b = BacklogRows::default();
    let mut stmt = conn.prepare_cached(
        "SELECT s.id, s.updated_at, count(e.id), max(e.id),
                sum(e.id > coalesce(g.last_exchange_id, 0)),
                g.last_exchange_id IS NOT NULL,
                coalesce(a.attempts, 0), coalesce(a.upto_exchange_id, 0),
                sum(e.id > coalesce(c.upto, 0)), coalesce(c.attempts, 0), coalesce(c.failed_upto, 0),
                min(e.created_at)
         FROM sessions s
         JOIN exchanges e ON e.session_id = s.id
         LEFT JOIN gists g ON g.session_id = s.id
         LEFT JOIN dream_attempts a ON a.session_id = s.id
         LEFT JOIN fact_cursors c ON c.session_id = s.id
         WHERE s.namespace = ?1
         GROUP BY s.id
         ORDER BY s.updated_at, s.id",
    )?;
    b.sessions = stmt
        .query_map([ns], |r| {
            Ok(SessionProgress {
                session_id: r.get(0)?,
                updated_at: r.get(1)?,
                turns: r.get(2)?,
                max_exchange_id: r.get(3)?,
                new_turns: r.get(4)?,
                has_gist: r.get(5)?,
                attempts: r.get(6)?,
                failed_upto: r.get(7)?,
                facts_new: r.get(8)?,
                facts_attempts: r.get(9)?,
                facts_failed_upto: r.get(10)?,
                first_at: r.get(11)?,
            })
        })?
        .collect::<Result<_, _>>()?;
    let mut stmt = conn.prepare_cached(
        "SELECT month, max(updated_at), count(*) FROM gists WHERE namespace = ?1 GROUP BY month",
    )?;
    b.gist_months = stmt
        .query_map([ns], |r| {
            Ok(GistMonth {
                month: r.get(0)?,
                newest: r.get(1)?,
                count: r.get(2)?,
            })
        })?
        .collect::<Result<_, _>>()?;
    let mut stmt =
        conn.prepare_cached("SELECT month, built_at, stale FROM eras WHERE namespace = ?1")?;
    b.eras = stmt
        .query_map([ns], |r| {
            Ok(EraMark {
                month: r.get(0)?,
                built_at: r.get(1)?,
                stale: r.get(2)?,
            })
        })?
        .collect::<Result<_, _>>()?;
    b.profile = conn
        .query_row(
            "SELECT built_at, stale, sessions_covered FROM profiles WHERE namespace = ?1",
            [ns],
            |r| {
                Ok(ProfileMark {
                    built_at: r.get(0)?,
                    stale: r.get(1)?,
                    sessions_covered: r.get(2)?,
                })
            },
        )
        .optional()?;
    b.narrative = conn
        .query_row(
            "SELECT built_at, stale FROM narratives WHERE namespace = ?1",
            [ns],
            |r| {
                Ok(NarrativeMark {
                    built_at: r.get(0)?,
                    stale: r.get(1)?,
                })
            },
        )
        .optional()?;
    let since = match (b.profile, b.narrative) {
        (Some(p), Some(n)) => p.built_at.min(n.built_at),
        _ => i64::MIN,
    };
    b.gists_since_coherence = count_gists_since(conn, ns, since)?;
    b.self_state = self_state(conn, ns)?;
    let reflected_at = b.self_state.as_ref().map_or(i64::MIN, |s| s.0);
    b.gists_since_reflection = count_gists_since(conn, ns, reflected_at)?;
    b.facts_since_reflection =
        conn.prepare_cached(
            "SELECT count(*) FROM facts WHERE namespace = ?1
               AND status IN ('active', 'candidate', 'superseded')
               AND (created_at > ?2 OR retired_at > ?2)",
        )?
        .query_row(params![ns, reflected_at], |r| r.get::<_, i64>(0))? as usize;
    if b.gists_since_reflection > 0 {
        b.texts_since_reflection = gist_texts_since(conn, ns, reflected_at, texts)?;
    }
    Ok(b)
}

impl DreamBacklog for Store {
    async fn dream_namespaces(&self) -> Result<Vec<String>, StoreError> {
        self.read(|conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT namespace FROM sessions UNION SELECT namespace FROM gists
                 UNION SELECT namespace FROM eras UNION SELECT namespace FROM profiles ORDER BY 1",
            )?;
            let v = stmt
                .query_map([], |r| r.get(0))?
                .collect::<Result<_, _>>()?;
            Ok(v)
        })
        .await
    }

    async fn backlog_rows(&self, ns: &str, texts: usize) -> Result<BacklogRows, StoreError> {
        let ns = ns.to_owned();
        self.read(move |c| backlog_rows(c, &ns, texts)).await
    }

    async fn reflection_input(
        &self,
        ns: &str,
        texts: usize,
        sessions: usize,
    ) -> Result<ReflectionInput, StoreError> {
        let ns = ns.to_owned();
        self.read(move |c| {
            let previous = self_state(c, &ns)?;
            let since = previous.as_ref().map_or(i64::MIN, |p| p.0);
            let gist_texts = gist_texts_since(c, &ns, since, texts)?;
            let mut stmt = c.prepare_cached(
                "SELECT session_id FROM gists WHERE namespace = ?1 AND updated_at > ?2 ORDER BY updated_at DESC LIMIT ?3",
            )?;
            let ids: Vec<String> = stmt
                .query_map(params![ns, since, sessions as i64], |r| r.get(0))?
                .collect::<Result<_, _>>()?;
            let recent_turns = ids
                .iter()
                .map(|s| turns(c, s))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(ReflectionInput {
                previous: previous.map(|p| p.1),
                gist_texts,
                recent_turns,
            })
        })
        .await
    }
}
