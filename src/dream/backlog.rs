//! Backlog sensing: what is waiting for the dream cycle in one namespace.
//! Everything here is decided from watermarks the store reads
//! ([`crate::store::DreamBacklog`]), so a pass stopped anywhere is sensed
//! again correctly by the next one.

use std::collections::{BTreeMap, HashSet};

use serde::Serialize;

use crate::config::DreamConfig;
use crate::store::BacklogRows;

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
    /// Sessions whose new turns are ready for fact extraction (their gist
    /// is current, or they are ripe).
    pub facts_due: Vec<String>,
    /// Every session with turns after its extraction cursor (a forced pass
    /// takes these).
    #[serde(skip)]
    pub facts_dirty: Vec<String>,
    pub unextracted_total: i64,
    /// Sessions whose extraction failed `max_attempts` times at their
    /// current last turn: they wait for new turns.
    pub facts_failing: usize,
    /// Facts added and superseded since the last reflection.
    pub new_facts_since_reflection: usize,
}

impl Backlog {
    pub fn is_caught_up(&self) -> bool {
        self.dirty == 0
            && self.facts_dirty.is_empty()
            && self.eras_due.is_empty()
            && self.eras_orphaned.is_empty()
            && !self.profile_due
            && !self.narrative_due
    }
}

/// How many gist texts since the last reflection sensing reads for new
/// entities (and a reflection reflects on).
pub const REFLECT_TEXTS: usize = 200;

/// The backlog from a namespace's watermarks, as of `now_ms`.
pub fn sense(ns: &str, rows: BacklogRows, cfg: &DreamConfig, now_ms: i64) -> Backlog {
    let mut b = Backlog {
        namespace: ns.to_owned(),
        ..Default::default()
    };
    let sessions = rows.sessions;
    // Extraction reads sessions oldest first (see `sense_facts`); the other
    // lists keep the least recently active first.
    let mut by_start: Vec<(i64, String)> = sessions
        .iter()
        .map(|s| (s.first_at, s.session_id.clone()))
        .collect();
    by_start.sort();
    let rank: std::collections::HashMap<String, usize> = by_start
        .into_iter()
        .enumerate()
        .map(|(i, (_, id))| (id, i))
        .collect();
    for s in sessions {
        b.sessions += 1;
        b.turns += s.turns;
        b.max_exchange_id = b.max_exchange_id.max(s.max_exchange_id);
        sense_facts(&mut b, &s, cfg, now_ms);
        if s.new_turns == 0 {
            continue;
        }
        b.unsummarised_total += s.new_turns;
        if s.attempts >= i64::from(cfg.max_attempts) && s.failed_upto >= s.max_exchange_id {
            b.failing += 1;
            continue;
        }
        b.dirty += 1;
        b.dirty_ids.push(s.session_id.clone());
        let idle = now_ms - s.updated_at >= cfg.session_idle_s as i64 * 1000;
        let ripe = (!s.has_gist && s.turns >= cfg.min_turns as i64)
            || (s.has_gist && s.new_turns >= cfg.resummarise_after as i64)
            || idle;
        if ripe {
            b.ripe.push(s.session_id);
        }
    }

    // Gists by month against the eras.
    let order = |id: &String| rank.get(id).copied().unwrap_or(usize::MAX);
    b.facts_due.sort_by_key(order);
    b.facts_dirty.sort_by_key(order);

    let mut gist_months: BTreeMap<String, i64> = BTreeMap::new();
    for m in rows.gist_months {
        b.gists += m.count as usize;
        gist_months.insert(m.month, m.newest);
    }
    let eras: BTreeMap<String, (i64, bool)> = rows
        .eras
        .into_iter()
        .map(|e| (e.month, (e.built_at, e.stale)))
        .collect();
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

    b.profile_due = match (rows.profile, newest_gist) {
        (None, None) => false,
        (Some(_), None) => true,
        (None, Some(_)) => true,
        (Some(p), Some(newest)) => {
            p.stale || newest > p.built_at || p.sessions_covered != b.gists as i64
        }
    };
    b.narrative_due = match (rows.narrative, newest_gist) {
        (None, None) => false,
        (Some(_), None) | (None, Some(_)) => true,
        (Some(n), Some(newest)) => {
            n.stale || newest > n.built_at || !b.eras_due.is_empty() || !b.eras_orphaned.is_empty()
        }
    };
    b.new_gists_since_coherence = rows.gists_since_coherence;

    let known: HashSet<String> = rows
        .self_state
        .as_ref()
        .map(|(_, json)| known_entities(json))
        .unwrap_or_default();
    b.new_gists_since_reflection = rows.gists_since_reflection;
    b.new_facts_since_reflection = rows.facts_since_reflection;
    if b.new_gists_since_reflection > 0 {
        let mut fresh: HashSet<String> = HashSet::new();
        for t in &rows.texts_since_reflection {
            for e in super::text::entities(t) {
                if !known.contains(&e) {
                    fresh.insert(e);
                }
            }
        }
        b.new_entities = fresh.len();
    }
    b
}

/// A session's place in fact extraction: due once its gist is current or
/// it is ripe (the same readiness as a summary), failing after
/// `max_attempts` at the same last turn.
fn sense_facts(b: &mut Backlog, s: &crate::store::SessionProgress, cfg: &DreamConfig, now_ms: i64) {
    if s.facts_new == 0 {
        return;
    }
    b.unextracted_total += s.facts_new;
    if s.facts_attempts >= i64::from(cfg.max_attempts) && s.facts_failed_upto >= s.max_exchange_id {
        b.facts_failing += 1;
        return;
    }
    b.facts_dirty.push(s.session_id.clone());
    let idle = now_ms - s.updated_at >= cfg.session_idle_s as i64 * 1000;
    let ready = s.new_turns == 0
        || idle
        || (!s.has_gist && s.turns >= cfg.min_turns as i64)
        || (s.has_gist && s.new_turns >= cfg.resummarise_after as i64);
    if ready {
        b.facts_due.push(s.session_id.clone());
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{EraMark, GistMonth, SessionProgress};

    fn session(id: &str, turns: i64, new_turns: i64, has_gist: bool) -> SessionProgress {
        SessionProgress {
            session_id: id.into(),
            updated_at: 1_000,
            turns,
            max_exchange_id: turns,
            new_turns,
            has_gist,
            attempts: 0,
            failed_upto: 0,
            facts_new: 0,
            facts_attempts: 0,
            facts_failed_upto: 0,
            first_at: 0,
        }
    }

    #[test]
    fn ripeness_failures_and_months_from_the_watermarks() {
        let cfg = DreamConfig::default();
        let mut failing = session("failing", 9, 9, false);
        (failing.attempts, failing.failed_upto) = (i64::from(cfg.max_attempts), 9);
        let rows = BacklogRows {
            sessions: vec![
                session("short", 2, 2, false),
                session("long", 8, 8, false),
                session("done", 5, 0, true),
                failing,
            ],
            gist_months: vec![GistMonth {
                month: "2024-02".into(),
                newest: 500,
                count: 1,
            }],
            eras: vec![EraMark {
                month: "2024-01".into(),
                built_at: 400,
                stale: false,
            }],
            ..Default::default()
        };
        // Not idle yet: only the session with enough turns is ripe.
        let b = sense("n", rows, &cfg, 2_000);
        assert_eq!((b.sessions, b.turns, b.dirty, b.failing), (4, 24, 2, 1));
        assert_eq!(b.dirty_ids, vec!["short", "long"]);
        assert_eq!(b.ripe, vec!["long"]);
        assert_eq!(b.unsummarised_total, 19);
        assert_eq!(b.eras_due, vec!["2024-02"]);
        assert_eq!(b.eras_orphaned, vec!["2024-01"]);
        assert!(b.profile_due && b.narrative_due && !b.is_caught_up());
    }
}
