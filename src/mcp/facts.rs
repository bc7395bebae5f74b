//! The facts tools: list, add (or supersede) and forget the namespace's
//! atomic facts. Fact ids are global in the daemon, so a tool that names
//! one checks its namespace first, as `forget` does for sessions.

use rmcp::model::{Tool, ToolAnnotations};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::daemon::{Daemon, enc};
use super::error::DaemonError;
use super::tools::{tool, wire_name};
use crate::wire::{FactIn, ProvenanceIn};

/// Who wrote a fact, in its provenance.
const CLIENT: &str = "memd-mcp";

/// What a fact is about.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum FactKind {
    /// Who the user is: name, home, work, family.
    UserProfile,
    /// What the user likes or wants (and how answers should be).
    Preference,
    /// The user's setup: machines, tools, versions.
    Env,
    /// A project: its goals, decisions, state.
    Project,
    /// Something that happened, at a time.
    Event,
    /// Anything else.
    Other,
}

/// Where a fact stands.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum FactStatus {
    /// Believed now (or, with as_of, then).
    Active,
    /// Awaiting review; never used in answers.
    Candidate,
    /// Replaced by a newer fact.
    Superseded,
    /// A rejected candidate.
    Invalid,
}

/// List the facts memory holds, newest first.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FactsListArgs {
    /// Only facts of this status (default: active and candidate facts).
    #[serde(default)]
    pub status: Option<FactStatus>,
    /// Only facts of this kind.
    #[serde(default)]
    pub kind: Option<FactKind>,
    /// Only facts about this subject (e.g. "Alice"), exactly.
    #[serde(default)]
    pub subject: Option<String>,
    /// Only facts setting this attribute (e.g. "residence").
    #[serde(default)]
    pub slot: Option<String>,
    /// RFC 3339 instant (e.g. 2024-06-01T00:00:00Z): the facts memory
    /// believed at that moment instead of now, superseded ones included.
    #[serde(default)]
    pub as_of: Option<String>,
    /// Include superseded and rejected facts (their history) too.
    #[serde(default)]
    pub include_retired: bool,
    /// How many facts at most (default 100).
    #[serde(default)]
    #[schemars(range(min = 1, max = 10000))]
    pub limit: Option<usize>,
}

/// Store one atomic fact, or replace a fact that is no longer true.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FactAddArgs {
    /// The fact as one short self-contained sentence (e.g. "Alice lives in
    /// Lisbon").
    pub text: String,
    /// user_profile, preference, env, project, event or other (default).
    #[serde(default)]
    pub kind: Option<FactKind>,
    /// Who or what the fact is about (e.g. "Alice").
    #[serde(default)]
    pub subject: Option<String>,
    /// Names the fact mentions (people, places, tools), for finding it.
    #[serde(default)]
    pub entities: Option<Vec<String>>,
    /// The attribute the fact sets (e.g. "residence", "employer"): facts of
    /// a subject with the same slot contradict each other.
    #[serde(default)]
    pub slot: Option<String>,
    /// When it became true in the world, RFC 3339; default now.
    #[serde(default)]
    pub valid_from: Option<String>,
    /// The id of a live fact this one replaces (from facts_list or recall):
    /// the old fact is kept as superseded, for as_of, in the same write.
    #[serde(default)]
    pub supersedes: Option<i64>,
}

/// Delete a fact from memory.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FactForgetArgs {
    /// The id of the fact to delete (from facts_list or recall).
    pub id: i64,
}

/// The facts tools, in the order the server lists them.
pub fn list() -> Vec<Tool> {
    vec![
        tool::<FactsListArgs>(
            "facts_list",
            "List the atomic facts memory holds about the user and their world, newest \
             first, each with its id, kind, subject, slot, status and validity. By default \
             the facts believed now; with as_of, those believed at that past instant.",
        )
        .with_annotations(ToolAnnotations::new().read_only(true).open_world(false)),
        tool::<FactAddArgs>(
            "fact_add",
            "Store one atomic fact (a short self-contained statement about a subject). \
             When it contradicts a fact memory holds (same subject and slot, e.g. a new \
             address), pass that fact's id as supersedes: the old one is retired, not lost.",
        )
        .with_annotations(ToolAnnotations::new().destructive(false).open_world(false)),
        tool::<FactForgetArgs>(
            "fact_forget",
            "Delete a fact everywhere (for a fact that was wrong or must not be kept; for \
             one that merely changed, use fact_add with supersedes). Irreversible.",
        )
        .with_annotations(
            ToolAnnotations::new()
                .destructive(true)
                .idempotent(false)
                .open_world(false),
        ),
    ]
}

pub async fn facts_list(daemon: &Daemon, ns: &str, a: FactsListArgs) -> Result<Value, DaemonError> {
    let mut path = format!("/v1/facts?namespace={}", enc(ns));
    let filters = [
        ("status", a.status.map(wire_name)),
        ("kind", a.kind.map(wire_name)),
        ("subject", a.subject),
        ("slot", a.slot),
        ("as_of", a.as_of),
        ("limit", a.limit.map(|n| n.to_string())),
    ];
    for (key, value) in filters {
        if let Some(v) = value {
            path.push_str(&format!("&{key}={}", enc(&v)));
        }
    }
    if a.include_retired {
        path.push_str("&include_retired=true");
    }
    daemon.get(&path).await
}

pub async fn fact_add(daemon: &Daemon, ns: &str, a: FactAddArgs) -> Result<Value, DaemonError> {
    // The daemon would refuse a foreign fact too, but naming its namespace.
    if let Some(old) = a.supersedes {
        check_fact(daemon, ns, old).await?;
    }
    let body = FactIn {
        text: a.text,
        namespace: Some(ns.to_owned()),
        kind: a.kind.map(wire_name),
        subject: a.subject,
        entities: a.entities,
        slot: a.slot,
        valid_from: a.valid_from,
        supersedes: a.supersedes,
        provenance: Some(ProvenanceIn {
            client: Some(CLIENT.to_owned()),
            ..ProvenanceIn::default()
        }),
        ..FactIn::default()
    };
    daemon.post("/v1/facts", &body).await
}

/// A fact of another namespace is answered as missing, so a server cannot
/// delete, supersede (or learn of) it.
async fn check_fact(daemon: &Daemon, ns: &str, id: i64) -> Result<(), DaemonError> {
    let missing = || DaemonError::Api {
        code: "not_found".into(),
        message: format!("no fact {id} in namespace `{ns}`"),
    };
    let shown = daemon.get(&format!("/v1/facts/{id}")).await;
    match shown {
        Ok(v) if v["fact"]["namespace"].as_str() == Some(ns) => Ok(()),
        Ok(_) => Err(missing()),
        Err(e) if e.code() == "not_found" => Err(missing()),
        Err(e) => Err(e),
    }
}

pub async fn fact_forget(
    daemon: &Daemon,
    ns: &str,
    a: FactForgetArgs,
) -> Result<Value, DaemonError> {
    check_fact(daemon, ns, a.id).await?;
    let path = format!("/v1/facts/{}", a.id);
    daemon.call(hyper::Method::DELETE, &path, None).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn kinds_and_statuses_use_the_daemon_names() {
        for k in crate::store::FactKind::ALL {
            let ours: FactKind = serde_json::from_value(json!(k.as_str())).unwrap();
            assert_eq!(wire_name(ours), k.as_str());
        }
        for s in crate::store::FactStatus::ALL {
            let ours: FactStatus = serde_json::from_value(json!(s.as_str())).unwrap();
            assert_eq!(wire_name(ours), s.as_str());
        }
    }

    #[test]
    fn fact_add_requires_only_the_text() {
        let add = list().into_iter().find(|t| t.name == "fact_add").unwrap();
        assert_eq!(add.input_schema["required"], json!(["text"]));
        let forget = list()
            .into_iter()
            .find(|t| t.name == "fact_forget")
            .unwrap();
        assert_eq!(forget.input_schema["required"], json!(["id"]));
    }
}
