//! The tools: their input schemas (derived from the argument structs, whose
//! doc comments become the descriptions a model reads), and each one's
//! request to the daemon. Every request carries the server's namespace;
//! no argument names another.

use std::sync::Arc;

use rmcp::model::{JsonObject, Tool, ToolAnnotations};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::daemon::{Daemon, enc};
use super::error::DaemonError;
use super::facts;
use crate::wire::{ContextIn, DreamIn, ExchangeIn, RecallIn};

/// Who said it.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    User,
    Assistant,
    System,
    Tool,
}

/// Store one turn of a conversation in long-term memory.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RememberArgs {
    /// The conversation this turn belongs to (any stable id of yours, e.g.
    /// a chat id). Sessions are created on first use.
    pub session_id: String,
    /// Who said it: user, assistant, system or tool.
    pub role: Role,
    /// The text of the turn, verbatim.
    pub content: String,
    /// When it was said, RFC 3339 (e.g. 2024-05-01T13:45:00Z); default now.
    #[serde(default)]
    pub created_at: Option<String>,
    /// Your own id for the turn: storing the same ext_id twice keeps one copy.
    #[serde(default)]
    pub ext_id: Option<String>,
    /// Any JSON object to keep with the turn (channel, author, …).
    #[serde(default)]
    pub metadata: Option<Map<String, Value>>,
}

/// A tier of memory recall can search.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Tier {
    /// Stored conversation turns, verbatim.
    Exchange,
    /// A session's summary (written by the dream cycle).
    Gist,
    /// A month's digest (written by the dream cycle).
    Era,
    /// A row of a connected database.
    Concept,
    /// A piece of a file from a watched folder.
    Chunk,
    /// An atomic fact (see facts_list).
    Fact,
}

/// How recall matches.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Words and meaning together (best in general).
    Hybrid,
    /// Words only (names, ids, exact phrases).
    Lexical,
    /// Meaning only (paraphrases).
    Vector,
}

/// Find what memory holds about something, best matches first.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RecallArgs {
    /// What to look for, in natural language or keywords.
    pub query: String,
    /// How many results at most (default 10).
    #[serde(default)]
    #[schemars(range(min = 1, max = 1000))]
    pub k: Option<usize>,
    /// Search only these tiers (default: all).
    #[serde(default)]
    pub tiers: Option<Vec<Tier>>,
    /// Search only this conversation.
    #[serde(default)]
    pub session_id: Option<String>,
    /// hybrid (default), lexical or vector.
    #[serde(default)]
    pub mode: Option<Mode>,
    /// RFC 3339 instant (e.g. 2024-06-01T00:00:00Z): match facts as memory
    /// believed them then, instead of the live ones.
    #[serde(default)]
    pub as_of: Option<String>,
}

/// Build the context to put before an LLM call for a query.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ContextArgs {
    /// What the next answer is about (usually the user's latest message).
    pub query: String,
    /// Characters the pack may hold (default 4000).
    #[serde(default)]
    #[schemars(range(min = 1))]
    pub budget_chars: Option<usize>,
    /// The current conversation: its most recent turns are included.
    #[serde(default)]
    pub session_id: Option<String>,
    /// RFC 3339 instant (e.g. 2024-06-01T00:00:00Z): the facts section as
    /// memory believed it then, instead of the live facts.
    #[serde(default)]
    pub as_of: Option<String>,
}

/// Delete a conversation from memory.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ForgetArgs {
    /// The conversation to delete, with all its turns.
    pub session_id: String,
}

/// No arguments.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NoArgs {}

/// Run the dream cycle (consolidation into gists, eras, profile, narrative).
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DreamRunArgs {
    /// Act whatever the drive levels (otherwise a pass may find nothing to do).
    #[serde(default)]
    pub force: bool,
    /// Report what would run; write nothing.
    #[serde(default)]
    pub dry_run: bool,
    /// Wait for the pass and report what it did (else it runs in the
    /// background: see dream_status).
    #[serde(default)]
    pub wait: bool,
}

fn schema<T: JsonSchema + 'static>() -> Arc<JsonObject> {
    let schema = rmcp::handler::server::common::schema_for_input::<T>()
        .unwrap_or_else(|e| panic!("tool input schema: {e}"));
    Arc::new(plain_optionals(&schema))
}

/// The schema with each optional argument declared by its own type.
/// schemars writes `Option<T>` as `type: [T, "null"]` (or `anyOf: [T,
/// null]`) with `default: null`, which clients that read `type` as one
/// string do not follow: the MCP Inspector's CLI then sends `k=5` as the
/// string "5", and some model APIs reject type arrays. An argument is left
/// unset by leaving it out (`required` says which may not be).
fn plain_optionals(schema: &JsonObject) -> JsonObject {
    let mut out = schema.clone();
    let Some(Value::Object(props)) = out.get_mut("properties") else {
        return out;
    };
    for prop in props.values_mut() {
        let Value::Object(p) = prop else { continue };
        if p.get("default") == Some(&Value::Null) {
            p.remove("default");
        }
        if let Some(Value::Array(types)) = p.get("type") {
            let kept: Vec<&Value> = types.iter().filter(|t| *t != "null").collect();
            if let [only] = kept[..] {
                let only = only.clone();
                p.insert("type".into(), only);
            }
        }
        if let Some(Value::Array(any)) = p.get("anyOf") {
            let kept: Vec<&Value> = any.iter().filter(|s| s["type"] != "null").collect();
            if let [Value::Object(only)] = kept[..] {
                let only = only.clone();
                p.remove("anyOf");
                for (k, v) in only {
                    p.entry(k).or_insert(v);
                }
            }
        }
    }
    out
}

pub(super) fn tool<T: JsonSchema + 'static>(name: &'static str, description: &'static str) -> Tool {
    Tool::new(name, description, schema::<T>())
}

/// Every tool this server offers.
pub fn list() -> Vec<Tool> {
    let read_only = ToolAnnotations::new().read_only(true).open_world(false);
    let mut tools = vec![
        tool::<RememberArgs>(
            "remember",
            "Store one turn of a conversation (what the user or you said) in long-term memory. \
             Call it after each exchange worth keeping; it is findable by recall at once.",
        )
        .with_annotations(ToolAnnotations::new().destructive(false).open_world(false)),
        tool::<RecallArgs>(
            "recall",
            "Search long-term memory: stored turns, facts and the dream cycle's summaries, \
             best matches first, each with its session, time and score. Use before answering \
             anything that may depend on earlier conversations; as_of asks what memory \
             believed at a past instant.",
        )
        .with_annotations(read_only.clone()),
        tool::<ContextArgs>(
            "context",
            "Build the memory context for a query within a character budget: profile, \
             narrative, relevant facts and summaries, the best matching turns and the \
             session's recent turns, in priority order. Put its text before your answer's \
             reasoning.",
        )
        .with_annotations(read_only.clone()),
        tool::<ForgetArgs>(
            "forget",
            "Delete a conversation and all its turns from memory. Irreversible.",
        )
        .with_annotations(
            ToolAnnotations::new()
                .destructive(true)
                .idempotent(false)
                .open_world(false),
        ),
        tool::<NoArgs>(
            "dream_status",
            "The dream cycle's state for this memory: drive levels, backlog, whether a pass \
             runs, the next scheduled one and the recent passes.",
        )
        .with_annotations(read_only),
        tool::<DreamRunArgs>(
            "dream_run",
            "Run the dream cycle now: consolidate recent conversations into session \
             summaries, monthly eras, the profile and the narrative.",
        )
        .with_annotations(ToolAnnotations::new().destructive(false).open_world(false)),
    ];
    tools.extend(facts::list());
    tools
}

/// Runs tool `name` with `args` in namespace `ns`.
pub async fn call(
    daemon: &Daemon,
    ns: &str,
    name: &str,
    args: JsonObject,
) -> Result<Value, DaemonError> {
    match name {
        "remember" => remember(daemon, ns, parse(name, args)?).await,
        "recall" => recall(daemon, ns, parse(name, args)?).await,
        "context" => context(daemon, ns, parse(name, args)?).await,
        "forget" => forget(daemon, ns, parse(name, args)?).await,
        "dream_status" => {
            let NoArgs {} = parse(name, args)?;
            dream_status(daemon, ns).await
        }
        "dream_run" => dream_run(daemon, ns, parse(name, args)?).await,
        "facts_list" => facts::facts_list(daemon, ns, parse(name, args)?).await,
        "fact_add" => facts::fact_add(daemon, ns, parse(name, args)?).await,
        "fact_forget" => facts::fact_forget(daemon, ns, parse(name, args)?).await,
        _ => Err(DaemonError::refused(
            "unknown_tool",
            format!("no tool `{name}`"),
        )),
    }
}

/// Arguments that do not fit the schema are the model's to fix, so they
/// come back as a tool error naming the field.
fn parse<T: serde::de::DeserializeOwned>(tool: &str, args: JsonObject) -> Result<T, DaemonError> {
    serde_json::from_value(Value::Object(args))
        .map_err(|e| DaemonError::refused("bad_arguments", format!("arguments of `{tool}`: {e}")))
}

/// Serializes one of our enums to its wire name.
pub(super) fn wire_name<T: Serialize>(v: T) -> String {
    match serde_json::to_value(v) {
        Ok(Value::String(s)) => s,
        other => unreachable!("unit enum variants serialize to strings: {other:?}"),
    }
}

async fn remember(daemon: &Daemon, ns: &str, a: RememberArgs) -> Result<Value, DaemonError> {
    let body = ExchangeIn {
        role: wire_name(a.role),
        content: a.content,
        created_at: a.created_at,
        ext_id: a.ext_id,
        namespace: Some(ns.to_owned()),
        metadata: a.metadata.map(Value::Object),
        embedding: None,
    };
    let path = format!("/v1/sessions/{}/exchanges", enc(&a.session_id));
    daemon.post(&path, &body).await
}

async fn recall(daemon: &Daemon, ns: &str, a: RecallArgs) -> Result<Value, DaemonError> {
    let mode = match a.mode {
        None => None,
        Some(m) => Some(
            serde_json::from_value(json!(wire_name(m)))
                .map_err(|e| DaemonError::Internal(e.to_string()))?,
        ),
    };
    let body = RecallIn {
        query: a.query,
        k: a.k,
        namespace: Some(ns.to_owned()),
        session_id: a.session_id,
        tiers: a
            .tiers
            .map(|ts| ts.into_iter().map(wire_name).collect::<Vec<_>>()),
        mode,
        as_of: a.as_of,
        ..RecallIn::default()
    };
    daemon.post("/v1/recall", &body).await
}

async fn context(daemon: &Daemon, ns: &str, a: ContextArgs) -> Result<Value, DaemonError> {
    let body = ContextIn {
        query: a.query,
        namespace: Some(ns.to_owned()),
        session_id: a.session_id,
        budget_chars: a.budget_chars,
        as_of: a.as_of,
        ..ContextIn::default()
    };
    daemon.post("/v1/context", &body).await
}

/// Session ids are global in the daemon; a session of another namespace is
/// answered as missing, so a server cannot delete (or learn of) it.
pub async fn check_session(daemon: &Daemon, ns: &str, sid: &str) -> Result<(), DaemonError> {
    let head = daemon
        .get(&format!("/v1/sessions/{}?limit=1", enc(sid)))
        .await?;
    if head["session"]["namespace"].as_str() == Some(ns) {
        Ok(())
    } else {
        Err(no_session(ns, sid))
    }
}

fn no_session(ns: &str, sid: &str) -> DaemonError {
    DaemonError::Api {
        code: "not_found".into(),
        message: format!("no session `{sid}` in namespace `{ns}`"),
    }
}

async fn forget(daemon: &Daemon, ns: &str, a: ForgetArgs) -> Result<Value, DaemonError> {
    check_session(daemon, ns, &a.session_id).await?;
    let path = format!("/v1/sessions/{}", enc(&a.session_id));
    daemon.call(hyper::Method::DELETE, &path, None).await
}

async fn dream_status(daemon: &Daemon, ns: &str) -> Result<Value, DaemonError> {
    let status = daemon.get("/v1/status").await?;
    let runs = daemon
        .get(&format!("/v1/dream/runs?namespace={}&limit=5", enc(ns)))
        .await?;
    let d = &status["dream"];
    Ok(json!({
        "namespace": ns,
        "enabled": d["enabled"],
        "provider": d["provider"],
        "schedule": d["schedule"],
        "next_scheduled": d["next_scheduled"],
        "running": d["running"],
        "drives": d["drives"][ns],
        "backlog": d["backlog"][ns],
        "recent_runs": runs["runs"],
    }))
}

async fn dream_run(daemon: &Daemon, ns: &str, a: DreamRunArgs) -> Result<Value, DaemonError> {
    let body = DreamIn {
        namespace: Some(ns.to_owned()),
        force: a.force,
        dry_run: a.dry_run,
        wait: a.wait,
        ..DreamIn::default()
    };
    daemon.post("/v1/dream", &body).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schemas_are_objects_with_described_properties() {
        for t in list() {
            assert_eq!(t.input_schema["type"], "object", "{}", t.name);
            assert!(t.description.as_deref().is_some_and(|d| d.len() > 20));
            let props = t.input_schema.get("properties").and_then(Value::as_object);
            for (field, s) in props.into_iter().flatten() {
                assert!(
                    s.get("description").is_some() || s.get("$ref").is_some(),
                    "{}.{field} has no description: {s}",
                    t.name
                );
            }
        }
        let remember = &list()[0];
        assert_eq!(
            remember.input_schema["required"],
            json!(["session_id", "role", "content"])
        );
    }

    #[test]
    fn optional_arguments_have_one_type() {
        for t in list() {
            let props = t.input_schema.get("properties").and_then(Value::as_object);
            for (field, s) in props.into_iter().flatten() {
                let one_type = s["type"].is_string() || s.get("$ref").is_some();
                assert!(one_type, "{}.{field}: {s}", t.name);
                assert!(s.get("anyOf").is_none(), "{}.{field}: {s}", t.name);
                assert_ne!(s.get("default"), Some(&Value::Null), "{}.{field}", t.name);
            }
        }
        let recall = list().into_iter().find(|t| t.name == "recall").unwrap();
        let k = &recall.input_schema["properties"]["k"];
        assert_eq!(k["type"], "integer");
        assert_eq!(k["minimum"], 1);
        let mode = &recall.input_schema["properties"]["mode"];
        assert_eq!(mode["$ref"], "#/$defs/Mode");
        assert!(mode["description"].is_string());
    }

    #[test]
    fn every_daemon_tier_can_be_named() {
        let ours: Vec<String> = crate::recall::TIERS
            .iter()
            .map(|t| wire_name(serde_json::from_value::<Tier>(json!(t)).unwrap()))
            .collect();
        assert_eq!(ours, crate::recall::TIERS);
    }

    #[test]
    fn an_argument_naming_a_namespace_is_refused() {
        let args = json!({"query": "q", "namespace": "other"});
        let Value::Object(args) = args else { panic!() };
        let e = parse::<RecallArgs>("recall", args).unwrap_err();
        assert_eq!(e.code(), "bad_arguments");
        assert!(e.to_string().contains("namespace"), "{e}");
    }
}
