//! What a pass did (or, dry, would do), and how it ended: the typed
//! contents of a run record.
//!
//! Both serialise exactly as the `json!` literals they replace: an action is
//! one flat object with its `action` and `drive` among its keys, the keys in
//! sorted order (serde_json's map order, which `json!` wrote); the run
//! records in the database, `/v1/dream/runs` and `memd ctl dream` read them.

use std::collections::BTreeMap;

use serde::{Serialize, Serializer};
use serde_json::Value;

use super::drives::Drive;

/// The calm-time maintenance a pass runs, as its action lists it.
pub(super) const MAINTENANCE: [&str; 2] = ["items_fts optimize", "PRAGMA optimize"];

/// One entry of a run's `actions`.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Continuity: a session summarised up to `last_exchange_id`.
    Gist {
        session_id: String,
        id: i64,
        last_exchange_id: i64,
        turns: usize,
    },
    /// Continuity: facts extracted from a session's turns up to
    /// `last_exchange_id`, and what became of them.
    Facts {
        session_id: String,
        last_exchange_id: i64,
        proposed: usize,
        added: usize,
        superseded: usize,
        duplicates: usize,
        echoes: usize,
    },
    /// Coherence: a month's era digest (re)built from its gists.
    Era {
        month: String,
        id: i64,
        gists: usize,
    },
    /// Coherence: an era whose gists are all gone, removed.
    EraRemoved { month: String },
    /// Coherence: the profile rebuilt from every gist's statements.
    Profile {
        sessions_covered: usize,
        facts: usize,
    },
    /// Coherence: the profile removed (no gists left).
    ProfileRemoved,
    /// Coherence: the narrative rebuilt from the eras.
    Narrative { months: usize },
    /// Coherence: the narrative removed (no eras left).
    NarrativeRemoved,
    /// Curiosity: the self-state updated from the gists since the last one.
    Reflect { gists: usize, reflections: usize },
    /// Stability: the search structures tidied ([`MAINTENANCE`]).
    Maintenance,
    /// Dry run: the sessions continuity would summarise, and how many wait.
    PlanGists {
        sessions: Vec<String>,
        waiting: usize,
    },
    /// Dry run: what coherence would rebuild.
    PlanRebuild {
        eras: Vec<String>,
        eras_removed: Vec<String>,
        profile: bool,
        narrative: bool,
    },
    /// Dry run: how many new gists curiosity would reflect on.
    PlanReflect { new_gists: usize },
}

impl Action {
    /// The drive that acts.
    pub fn drive(&self) -> Drive {
        match self {
            Action::Gist { .. } | Action::Facts { .. } | Action::PlanGists { .. } => {
                Drive::Continuity
            }
            Action::Era { .. }
            | Action::EraRemoved { .. }
            | Action::Profile { .. }
            | Action::ProfileRemoved
            | Action::Narrative { .. }
            | Action::NarrativeRemoved
            | Action::PlanRebuild { .. } => Drive::Coherence,
            Action::Reflect { .. } | Action::PlanReflect { .. } => Drive::Curiosity,
            Action::Maintenance => Drive::Stability,
        }
    }

    /// The `action` field (a dry run's plans share their drive's name).
    pub fn name(&self) -> &'static str {
        match self {
            Action::Gist { .. } | Action::PlanGists { .. } => "gist",
            Action::Facts { .. } => "facts",
            Action::Era { .. } => "era",
            Action::EraRemoved { .. } => "era-removed",
            Action::Profile { .. } => "profile",
            Action::ProfileRemoved => "profile-removed",
            Action::Narrative { .. } => "narrative",
            Action::NarrativeRemoved => "narrative-removed",
            Action::Reflect { .. } | Action::PlanReflect { .. } => "reflect",
            Action::Maintenance => "maintenance",
            Action::PlanRebuild { .. } => "rebuild",
        }
    }
}

impl Serialize for Action {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        // A sorted map: the key order `json!` gave these objects.
        let mut m: BTreeMap<&str, Value> = BTreeMap::new();
        m.insert("action", self.name().into());
        m.insert("drive", self.drive().as_str().into());
        match self {
            Action::Gist {
                session_id,
                id,
                last_exchange_id,
                turns,
            } => {
                m.insert("session_id", session_id.as_str().into());
                m.insert("id", (*id).into());
                m.insert("last_exchange_id", (*last_exchange_id).into());
                m.insert("turns", (*turns).into());
            }
            Action::Facts {
                session_id,
                last_exchange_id,
                proposed,
                added,
                superseded,
                duplicates,
                echoes,
            } => {
                m.insert("session_id", session_id.as_str().into());
                m.insert("last_exchange_id", (*last_exchange_id).into());
                m.insert("proposed", (*proposed).into());
                m.insert("added", (*added).into());
                m.insert("superseded", (*superseded).into());
                m.insert("duplicates", (*duplicates).into());
                m.insert("echoes", (*echoes).into());
            }
            Action::Era { month, id, gists } => {
                m.insert("month", month.as_str().into());
                m.insert("id", (*id).into());
                m.insert("gists", (*gists).into());
            }
            Action::EraRemoved { month } => {
                m.insert("month", month.as_str().into());
            }
            Action::Profile {
                sessions_covered,
                facts,
            } => {
                m.insert("sessions_covered", (*sessions_covered).into());
                m.insert("facts", (*facts).into());
            }
            Action::Narrative { months } => {
                m.insert("months", (*months).into());
            }
            Action::Reflect { gists, reflections } => {
                m.insert("gists", (*gists).into());
                m.insert("reflections", (*reflections).into());
            }
            Action::Maintenance => {
                m.insert("did", MAINTENANCE.as_slice().into());
            }
            Action::PlanGists { sessions, waiting } => {
                m.insert("sessions", sessions.as_slice().into());
                m.insert("waiting", (*waiting).into());
            }
            Action::PlanRebuild {
                eras,
                eras_removed,
                profile,
                narrative,
            } => {
                m.insert("eras", eras.as_slice().into());
                m.insert("eras_removed", eras_removed.as_slice().into());
                m.insert("profile", (*profile).into());
                m.insert("narrative", (*narrative).into());
            }
            Action::PlanReflect { new_gists } => {
                m.insert("new_gists", (*new_gists).into());
            }
            Action::ProfileRemoved | Action::NarrativeRemoved => {}
        }
        m.serialize(s)
    }
}

/// How a run ended (`running` while it acts; `interrupted` when the daemon
/// died during it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    Running,
    /// No drive over its threshold, or acting changed nothing.
    Nothing,
    DryRun,
    Done,
    /// Out of time, or shut down; the next pass resumes.
    Stopped,
    Failed,
    Interrupted,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Running => "running",
            Outcome::Nothing => "nothing",
            Outcome::DryRun => "dry-run",
            Outcome::Done => "done",
            Outcome::Stopped => "stopped",
            Outcome::Failed => "failed",
            Outcome::Interrupted => "interrupted",
        }
    }
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// Each action against the `json!` literal it replaced, byte for byte.
    #[test]
    fn actions_serialise_as_the_json_literals_they_replace() {
        let (sid, month) = ("s-1".to_string(), "2024-05".to_string());
        let sessions = vec!["a".to_string(), "b".to_string()];
        let eras_due = vec!["2024-04".to_string()];
        let eras_orphaned: Vec<String> = vec![];
        let cases = [
            (
                Action::Gist {
                    session_id: sid.clone(),
                    id: 7,
                    last_exchange_id: 42,
                    turns: 3,
                },
                json!({
                    "drive": "continuity", "action": "gist", "session_id": sid,
                    "id": 7i64, "last_exchange_id": 42i64, "turns": 3usize,
                }),
            ),
            (
                Action::EraRemoved {
                    month: month.clone(),
                },
                json!({"drive": "coherence", "action": "era-removed", "month": month}),
            ),
            (
                Action::Era {
                    month: month.clone(),
                    id: 9,
                    gists: 2,
                },
                json!({"drive": "coherence", "action": "era", "month": month, "id": 9i64, "gists": 2usize}),
            ),
            (
                Action::Profile {
                    sessions_covered: 4,
                    facts: 11,
                },
                json!({"drive": "coherence", "action": "profile", "sessions_covered": 4usize, "facts": 11usize}),
            ),
            (
                Action::ProfileRemoved,
                json!({"drive": "coherence", "action": "profile-removed"}),
            ),
            (
                Action::NarrativeRemoved,
                json!({"drive": "coherence", "action": "narrative-removed"}),
            ),
            (
                Action::Narrative { months: 5 },
                json!({"drive": "coherence", "action": "narrative", "months": 5usize}),
            ),
            (
                Action::Reflect {
                    gists: 6,
                    reflections: 2,
                },
                json!({"drive": "curiosity", "action": "reflect", "gists": 6usize, "reflections": 2usize}),
            ),
            (
                Action::Maintenance,
                json!({"drive": "stability", "action": "maintenance", "did": ["items_fts optimize", "PRAGMA optimize"]}),
            ),
            (
                Action::PlanGists {
                    sessions: sessions.clone(),
                    waiting: 1,
                },
                json!({"drive": "continuity", "action": "gist", "sessions": sessions.iter().collect::<Vec<&String>>(), "waiting": 1usize}),
            ),
            (
                Action::PlanRebuild {
                    eras: eras_due.clone(),
                    eras_removed: eras_orphaned.clone(),
                    profile: true,
                    narrative: false,
                },
                json!({"drive": "coherence", "action": "rebuild", "eras": eras_due, "eras_removed": eras_orphaned,
                    "profile": true, "narrative": false}),
            ),
            (
                Action::PlanReflect { new_gists: 3 },
                json!({"drive": "curiosity", "action": "reflect", "new_gists": 3usize}),
            ),
        ];
        for (action, literal) in cases {
            assert_eq!(
                serde_json::to_string(&action).unwrap(),
                literal.to_string(),
                "{action:?}"
            );
            assert_eq!(serde_json::to_value(&action).unwrap(), literal);
        }
        // A list, as the run records store it.
        let list = vec![Action::ProfileRemoved, Action::PlanReflect { new_gists: 0 }];
        assert_eq!(
            serde_json::to_string(&list).unwrap(),
            r#"[{"action":"profile-removed","drive":"coherence"},{"action":"reflect","drive":"curiosity","new_gists":0}]"#
        );
    }

    #[test]
    fn outcomes_serialise_as_their_strings() {
        for o in [
            Outcome::Running,
            Outcome::Nothing,
            Outcome::DryRun,
            Outcome::Done,
            Outcome::Stopped,
            Outcome::Failed,
            Outcome::Interrupted,
        ] {
            assert_eq!(serde_json::to_value(o).unwrap(), json!(o.as_str()));
            assert_eq!(o.to_string(), o.as_str());
        }
        assert_eq!(
            serde_json::to_string(&Outcome::DryRun).unwrap(),
            "\"dry-run\""
        );
    }
}
