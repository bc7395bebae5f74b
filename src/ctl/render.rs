//! Human output of `memd ctl`, one function per answer, from the typed
//! responses of [`crate::wire`]. `--json` prints the daemon's answer
//! itself and never comes here.
//!
//! A value the daemon left out or sent as null prints as `-`; numbers the
//! daemon sends as floats print as JSON writes them (`1.0`, not `1`).

use std::fmt::Display;

use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::{EXIT_DAEMON_ERROR, EXIT_OK};
use crate::wire::{
    CheckpointOut, CheckpointsOut, ConceptOut, ContextOut, DeletedOut, DreamRun, DreamRunsOut,
    DreamStartOut, DriveLevels, ErasOut, ErrorOut, GistOut, HistoryOut, ImportAllOut, NarrativeOut,
    ProfileOut, RecallOut, ReembedOut, RememberOut, SelfStateOut, SessionsOut, SourcesOut,
    StatusOut, SyncOut,
};

/// Prints a daemon's answer: as it came with `--json`, else through
/// `render` once it reads as `T`. The exit code says which it was.
pub(super) fn answer<T: DeserializeOwned>(
    answer: Result<Value, Value>,
    json_out: bool,
    render: impl FnOnce(&T),
) -> i32 {
    let value = match answer {
        Ok(v) => v,
        Err(err) => return error(&err, json_out),
    };
    if json_out {
        println!("{}", pretty(&value));
        return EXIT_OK;
    }
    match T::deserialize(&value) {
        Ok(typed) => {
            render(&typed);
            EXIT_OK
        }
        Err(e) => {
            eprintln!("memd ctl: the daemon's answer is not what this ctl expects ({e}); as sent:");
            println!("{}", pretty(&value));
            EXIT_DAEMON_ERROR
        }
    }
}

/// A non-2xx answer: as sent with `--json`, else `memd: code: message`.
pub(super) fn error(err: &Value, json_out: bool) -> i32 {
    if json_out {
        println!("{err}");
    } else {
        let e = ErrorOut::deserialize(err).unwrap_or_default().error;
        eprintln!(
            "memd: {}: {}",
            e.code.as_deref().unwrap_or("error"),
            e.message.as_deref().unwrap_or("")
        );
    }
    EXIT_DAEMON_ERROR
}

pub(super) fn pretty(v: &Value) -> String {
    serde_json::to_string_pretty(v).unwrap_or_default()
}

/// `-` for a value the daemon did not give.
fn or_dash<T: Display>(v: Option<T>) -> String {
    v.map_or_else(|| "-".to_owned(), |x| x.to_string())
}

/// A float as JSON writes it.
fn num(x: f64) -> String {
    Value::from(x).to_string()
}

fn flag(on: bool, text: &str) -> &str {
    if on { text } else { "" }
}

pub(super) fn one_line(text: &str, max: usize) -> String {
    let flat: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() <= max {
        flat
    } else {
        let cut: String = flat.chars().take(max).collect();
        format!("{cut}…")
    }
}

pub(super) fn status(s: &StatusOut) {
    println!("memd {} (pid {}), up {}s", s.version, s.pid, s.uptime_s);
    println!("socket:    {}", s.socket);
    println!("database:  {}", s.db_path);
    println!("config:    {}", s.config);
    let e = &s.embedder;
    println!(
        "embedder:  {} {} ({}-d), backlog {}, {:.1}/s",
        e.provider,
        e.model,
        e.dim,
        e.backlog,
        e.rate_per_s.unwrap_or(0.0)
    );
    if let Some(r) = &e.fallback_reason {
        println!("           WARNING: {r}");
    }
    if let Some(err) = &e.last_error {
        println!("           last error: {err}");
    }
    if let Some(r) = &e.reembed {
        println!(
            "           re-embedding: {}/{} ({}%)",
            r.done, r.total, r.percent
        );
    }
    println!("sessions:  {}", s.counts.sessions);
    println!("exchanges: {}", s.counts.exchanges);
    if let Some(d) = &s.dream {
        let dirty: u64 = d.backlog.iter().flatten().map(|(_, b)| b.dirty).sum();
        println!(
            "dream:     {} ({}), next {}, {} dirty session(s){}",
            if d.enabled { "on" } else { "off" },
            d.provider,
            or_dash(d.next_scheduled.as_ref()),
            dirty,
            d.running
                .as_ref()
                .map(|r| format!(", running: {}", r.namespace))
                .unwrap_or_default()
        );
        if let Some(r) = &d.last_run {
            println!(
                "           last pass: {} {} → {}",
                r.namespace, r.started_at, r.outcome
            );
        }
    }
}

pub(super) fn remembered(r: &RememberOut) {
    println!(
        "{} exchange {} in session {} (namespace {})",
        if r.duplicate {
            "already stored as"
        } else {
            "stored"
        },
        r.id,
        r.session_id,
        r.namespace
    );
    if let Some(f) = &r.firewall {
        let mark = if r.quarantined {
            "quarantined (kept out of recall until released)"
        } else {
            "flagged"
        };
        println!("write firewall: {mark}: {}", f.classes.join(", "));
    }
}

pub(super) fn recall(r: &RecallOut) {
    if r.results.is_empty() {
        println!("no matches");
    }
    for (i, h) in r.results.iter().enumerate() {
        println!(
            "{:>2}. [{:.4}] {} {} #{} {} {}: {}",
            i + 1,
            h.score,
            h.tier,
            or_dash(h.session_id.as_ref()),
            h.id,
            h.created_at,
            or_dash(h.role.as_ref()),
            one_line(&h.content, 160)
        );
        if let Some(e) = &h.explain {
            println!(
                "      bm25 rank {}, vector rank {}, fused {:.5}{}",
                or_dash(e.bm25_rank),
                or_dash(e.vector_rank),
                e.fused,
                e.supplement
                    .as_ref()
                    .map(|x| format!(", supplement: {x}"))
                    .unwrap_or_default()
            );
        }
    }
}

pub(super) fn sessions(s: &SessionsOut) {
    if s.sessions.is_empty() {
        println!("no sessions in namespace {}", s.namespace);
        return;
    }
    println!("{:<40} {:>9}  UPDATED", "SESSION", "EXCHANGES");
    for x in &s.sessions {
        println!("{:<40} {:>9}  {}", x.id, x.exchanges, x.updated_at);
    }
}

pub(super) fn history(h: &HistoryOut) {
    let s = &h.session;
    println!(
        "session {} (namespace {}), {} exchanges",
        s.id, s.namespace, s.exchanges
    );
    for x in &h.exchanges {
        println!("[{}] {}: {}", x.created_at, x.role, x.content);
    }
}

pub(super) fn deleted(d: &DeletedOut) {
    println!("deleted session {} ({} exchanges)", d.deleted, d.exchanges);
}

pub(super) fn checkpoint(c: &CheckpointOut) {
    println!(
        "snapshot {} ({} bytes) in {:.0} ms{}",
        c.path,
        c.bytes,
        c.duration_ms,
        flag(c.wal_truncated, "; WAL truncated")
    );
    for r in &c.removed {
        println!("rotated out {r}");
    }
}

pub(super) fn reembed(r: &ReembedOut, all: bool) {
    if all {
        println!(
            "re-embedding every row up to id {} in the background; `memd ctl status` shows progress",
            or_dash(r.upto_id)
        );
    } else {
        println!(
            "re-embedding rows of other models in the background; `memd ctl status` shows progress"
        );
    }
}

pub(super) fn checkpoints(c: &CheckpointsOut) {
    if c.snapshots.is_empty() {
        println!("no snapshots in {}", c.dir);
    }
    for x in &c.snapshots {
        println!("{}  {:>12} bytes  {}", x.created_at, x.bytes, x.path);
    }
}

pub(super) fn dream_runs(d: &DreamRunsOut) {
    if d.runs.is_empty() {
        println!("no dream runs yet");
    }
    for r in &d.runs {
        println!(
            "#{} {} {} {}{} {} action(s), {} error(s) → {}",
            or_dash(r.id),
            r.started_at,
            r.namespace,
            r.trigger,
            flag(r.dry_run, " (dry run)"),
            r.actions.as_ref().map_or(0, Vec::len),
            r.errors.as_ref().map_or(0, Vec::len),
            r.outcome
        );
        if let Some(n) = &r.note {
            println!("      {n}");
        }
    }
}

pub(super) fn dream_started(d: &DreamStartOut) {
    let Some(runs) = &d.runs else {
        println!("dream pass started in the background; `memd ctl dream runs` shows it");
        return;
    };
    if runs.is_empty() {
        println!("no namespace to consolidate");
    }
    for r in runs {
        dream_pass(r);
    }
}

fn dream_pass(r: &DreamRun) {
    println!(
        "{} ({}): {} in {} ms",
        r.namespace,
        r.trigger,
        r.outcome,
        or_dash(r.took_ms)
    );
    let d = r.drives_before.as_ref();
    let level = |f: fn(&DriveLevels) -> f64| or_dash(d.map(|d| num(f(d))));
    println!(
        "  drives: continuity {} coherence {} curiosity {} stability {}",
        level(|d| d.continuity),
        level(|d| d.coherence),
        level(|d| d.curiosity),
        level(|d| d.stability)
    );
    for a in r.actions.iter().flatten() {
        let drive = match &a["drive"] {
            Value::String(s) => s.clone(),
            Value::Null => "-".to_owned(),
            other => other.to_string(),
        };
        println!("  {drive} {}", one_line(&a.to_string(), 150));
    }
    for e in r.errors.iter().flatten() {
        println!("  error: {e}");
    }
    if let Some(n) = &r.note {
        println!("  {n}");
    }
}

pub(super) fn gist(g: &GistOut) {
    println!(
        "session {} (namespace {}), turns up to #{}, by {}:",
        g.session_id, g.namespace, g.last_exchange_id, g.provider
    );
    println!("{}", g.text);
}

pub(super) fn eras(e: &ErasOut) {
    if e.eras.is_empty() {
        println!("no eras yet in namespace {}", e.namespace);
    }
    for era in &e.eras {
        println!("{}{}: {}", era.month, flag(era.stale, " (stale)"), era.text);
    }
}

pub(super) fn profile(p: &ProfileOut) {
    println!("covers {} session(s):", p.sessions_covered);
    println!("{}", p.text);
}

pub(super) fn narrative(n: &NarrativeOut) {
    println!("{}", n.text);
}

pub(super) fn self_state(s: &SelfStateOut) {
    println!("{}", pretty(&s.state));
}

pub(super) fn context(c: &ContextOut) {
    for sec in &c.sections {
        println!("## {}", sec.name);
        for it in &sec.items {
            println!("[{} {}] {}", it.tier, it.id, it.text);
        }
    }
    println!("({} of {} characters)", c.used_chars, c.budget_chars);
}

pub(super) fn sources(s: &SourcesOut) {
    if s.sources.is_empty() {
        println!(
            "no sources configured ([[sources.sqlite]], [[sources.postgres]], [[sources.files]])"
        );
    }
    for src in &s.sources {
        println!(
            "{} ({}) {}  since {}",
            src.name, src.kind, src.state, src.since
        );
        if let Some(e) = &src.last_error {
            println!("  error: {e}");
        }
        if src.kind == "files" {
            let st = src.stats.as_ref();
            println!(
                "  {} documents, {} chunks; synced {} deleted {} unchanged {} errors {}",
                or_dash(src.documents),
                or_dash(src.chunks),
                or_dash(st.map(|s| s.synced)),
                or_dash(st.map(|s| s.deleted)),
                or_dash(st.map(|s| s.unchanged)),
                or_dash(st.map(|s| s.errors))
            );
            continue;
        }
        for (t, st) in src.tables.iter().flatten() {
            println!(
                "  {t}: {} concepts; synced {} deleted {} errors {} retries {} overwrite_warnings {} last sync {}",
                or_dash(st.concepts),
                st.synced,
                st.deleted,
                st.errors,
                st.retries,
                st.overwrite_warnings,
                or_dash(st.last_sync_at.as_ref())
            );
            if let Some(e) = &st.last_error {
                println!("    last error: {e}");
            }
        }
    }
}

pub(super) fn synced(s: &SyncOut) {
    for t in &s.tables {
        println!(
            "{}/{}: {} rows read, {} synced, {} deleted{}",
            s.source,
            t.table,
            t.rows,
            t.synced,
            t.deleted,
            flag(t.full, " (full)")
        );
    }
}

pub(super) fn concept(answer: &ConceptOut) {
    let c = &answer.concept;
    if answer.removed {
        println!("removed {} from memory (the source is unchanged)", c.name);
        return;
    }
    println!(
        "{}  [{} {}/{} row {}]",
        c.name, c.namespace, c.source, c.table, c.row_id
    );
    println!(
        "strength {}  synced {}{}{}",
        num(c.strength),
        c.synced_at,
        flag(c.overlay.is_some(), "  (edited text)"),
        flag(c.removed, "  (removed from memory)")
    );
    println!("{}", c.text);
}

pub(super) fn imported_all(r: &ImportAllOut) {
    println!("loaded {} rows; {} vectors indexed", r.rows, r.vectors);
    for (table, n) in &r.tables {
        println!("  {table}: {n}");
    }
}
