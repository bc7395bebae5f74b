//! `memd ctl why ID` and `memd ctl interactions list`.

use hyper::Method;

use super::CtlError;
use super::client::Connection;
use super::commands::{Done, enc};
use super::render::{self, one_line};
use crate::cli::InteractionsCommand;
use crate::wire::{FactOut, InteractionOut, InteractionsOut, WhyOut};

/// `7` or `fact:7` names a fact, `exchange:7` an exchange.
fn target(id: &str) -> Result<(&str, &str), CtlError> {
    let (tier, n) = id.split_once(':').unwrap_or(("fact", id));
    if !matches!(tier, "fact" | "exchange") {
        return Err(CtlError::Usage(format!(
            "`{id}`: name a fact (ID or fact:ID) or an exchange (exchange:ID)"
        )));
    }
    Ok((tier, n))
}

pub(super) async fn why(conn: &mut Connection, json: bool, id: &str, limit: usize) -> Done {
    let (tier, n) = target(id)?;
    let path = format!("/v1/why/{tier}/{}?limit={limit}", enc(n));
    let answer = conn.call(Method::GET, &path, None).await?;
    Ok(render::answer(answer, json, show_why))
}

pub(super) async fn run(conn: &mut Connection, json: bool, cmd: &InteractionsCommand) -> Done {
    match cmd {
        InteractionsCommand::List {
            namespace,
            session,
            limit,
            offset,
        } => {
            let mut q = format!("?limit={limit}&offset={offset}");
            if let Some(ns) = namespace {
                q.push_str(&format!("&namespace={}", enc(ns)));
            }
            if let Some(s) = session {
                q.push_str(&format!("&session_id={}", enc(s)));
            }
            let answer = conn
                .call(Method::GET, &format!("/v1/interactions{q}"), None)
                .await?;
            Ok(render::answer(answer, json, |r: &InteractionsOut| {
                if r.interactions.is_empty() {
                    println!("no interactions in {}", r.namespace);
                }
                for i in &r.interactions {
                    interaction(i, None);
                }
            }))
        }
    }
}

/// Where a fact came from, by its provenance.
fn provenance(f: &FactOut) -> String {
    let p = &f.provenance;
    let list = |key: &str| -> Option<String> {
        let items: Vec<String> = p[key]
            .as_array()?
            .iter()
            .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned))
            .collect();
        (!items.is_empty()).then(|| items.join(", "))
    };
    let mut parts = Vec::new();
    if let Some(s) = p["session_id"].as_str() {
        parts.push(format!("session {s}"));
    }
    if let Some(ids) = list("exchange_ids") {
        parts.push(format!("exchanges {ids}"));
    }
    if let Some(ids) = list("ext_ids") {
        parts.push(format!("ext ids {ids}"));
    }
    if let Some(c) = p["client"].as_str() {
        parts.push(format!("written by {c}"));
    }
    if parts.is_empty() {
        "no provenance recorded".to_owned()
    } else {
        parts.join("; ")
    }
}

fn show_why(w: &WhyOut) {
    if let Some(f) = &w.fact {
        println!("fact {}  [{} {} {}]", f.id, f.namespace, f.status, f.kind);
        println!("{}", f.text);
        println!(
            "confidence {}  referenced {} times{}",
            f.confidence,
            f.reference_count,
            f.last_referenced_at
                .as_deref()
                .map(|t| format!(", last {t}"))
                .unwrap_or_default()
        );
        println!("came from: {}", provenance(f));
        if let Some(n) = f.superseded_by {
            println!("superseded by fact {n}");
        }
    }
    if let Some(e) = &w.exchange {
        println!(
            "exchange {}  [{} {} {} {}]",
            e.id, e.namespace, e.session_id, e.role, e.created_at
        );
        if let Some(x) = &e.ext_id {
            println!("ext id {x}");
        }
        println!("{}", one_line(&e.content, 200));
        if w.facts.is_empty() {
            println!("no fact names it in its provenance");
        } else {
            println!("facts from it:");
            for f in &w.facts {
                println!("  {:>6}  {:<10} {}", f.id, f.status, one_line(&f.text, 80));
            }
        }
    }
    if w.interactions.is_empty() {
        println!("no recorded interaction used it");
        return;
    }
    println!(
        "used by {} interaction(s), newest first:",
        w.interactions.len()
    );
    for i in &w.interactions {
        let this = (w.tier == "fact").then_some(w.id);
        interaction(i, this);
    }
}

/// One line per interaction; `fact` marks whether it reinforced that fact.
fn interaction(i: &InteractionOut, fact: Option<i64>) {
    let mut tags = Vec::new();
    if let Some(s) = &i.session_id {
        tags.push(format!("session {s}"));
    }
    if let Some(c) = &i.client {
        tags.push(format!("client {c}"));
    }
    match fact {
        Some(id) if i.reinforced.contains(&id) => tags.push("reinforced it".into()),
        Some(_) => {}
        None if !i.reinforced.is_empty() => {
            let ids: Vec<String> = i.reinforced.iter().map(i64::to_string).collect();
            tags.push(format!("reinforced {}", ids.join(", ")));
        }
        None => {}
    }
    let context = i.context_ids.as_array().map_or(0, Vec::len);
    println!(
        "  #{:<5} {}  {} context ids{}",
        i.id,
        i.created_at,
        context,
        if tags.is_empty() {
            String::new()
        } else {
            format!("  ({})", tags.join(", "))
        }
    );
    println!("         prompt:   {}", one_line(&i.prompt, 80));
    println!("         response: {}", one_line(&i.response, 80));
}
