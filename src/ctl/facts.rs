//! `memd ctl facts …`: the requests of the facts tier and the rendering
//! of their answers.

use hyper::Method;

use super::client::Connection;
use super::commands::{Done, enc};
use super::render::{self, one_line};
use crate::cli::FactsCommand;
use crate::wire::{
    FactCreatedOut, FactForgottenOut, FactHistoryOut, FactIn, FactOut, FactReviewedOut, FactsOut,
    ProvenanceIn,
};

/// `?key=value&…` of the set values.
fn query(pairs: &[(&str, Option<String>)]) -> String {
    let parts: Vec<String> = pairs
        .iter()
        .filter_map(|(k, v)| v.as_ref().map(|v| format!("{k}={}", enc(v))))
        .collect();
    if parts.is_empty() {
        String::new()
    } else {
        format!("?{}", parts.join("&"))
    }
}

pub(super) async fn run(conn: &mut Connection, json: bool, cmd: &FactsCommand) -> Done {
    match cmd {
        FactsCommand::List {
            namespace,
            status,
            kind,
            subject,
            slot,
            as_of,
            all,
            limit,
        } => {
            let q = query(&[
                ("namespace", namespace.clone()),
                ("status", status.clone()),
                ("kind", kind.clone()),
                ("subject", subject.clone()),
                ("slot", slot.clone()),
                ("as_of", as_of.clone()),
                ("include_retired", all.then(|| "true".to_owned())),
                ("limit", Some(limit.to_string())),
            ]);
            let answer = conn
                .call(Method::GET, &format!("/v1/facts{q}"), None)
                .await?;
            Ok(render::answer(answer, json, list))
        }
        FactsCommand::Review { namespace, limit } => {
            let q = query(&[
                ("namespace", namespace.clone()),
                ("status", Some("candidate".into())),
                ("limit", Some(limit.to_string())),
            ]);
            let answer = conn
                .call(Method::GET, &format!("/v1/facts{q}"), None)
                .await?;
            Ok(render::answer(answer, json, |r: &FactsOut| {
                if r.facts.is_empty() {
                    println!("no candidates waiting for review in {}", r.namespace);
                } else {
                    list(r);
                    println!("promote with `memd ctl facts promote ID`, reject with `… reject ID`");
                }
            }))
        }
        FactsCommand::Show { id } => {
            let answer = conn
                .call(Method::GET, &format!("/v1/facts/{id}"), None)
                .await?;
            Ok(render::answer(answer, json, |h: &FactHistoryOut| {
                show(&h.fact)
            }))
        }
        FactsCommand::History { id } => {
            let answer = conn
                .call(Method::GET, &format!("/v1/facts/{id}"), None)
                .await?;
            Ok(render::answer(answer, json, history))
        }
        FactsCommand::Add {
            namespace,
            kind,
            subject,
            slot,
            entities,
            candidate,
            confidence,
            valid_from,
            supersedes,
            text,
        } => {
            let req = FactIn {
                text: text.join(" "),
                namespace: namespace.clone(),
                kind: kind.clone(),
                subject: subject.clone(),
                entities: (!entities.is_empty()).then(|| entities.clone()),
                slot: slot.clone(),
                status: candidate.then(|| "candidate".to_owned()),
                confidence: *confidence,
                valid_from: valid_from.clone(),
                supersedes: *supersedes,
                provenance: Some(ProvenanceIn {
                    client: Some("memd-ctl".into()),
                    ..ProvenanceIn::default()
                }),
                embedding: None,
            };
            let answer = conn.call_with(Method::POST, "/v1/facts", &req).await?;
            Ok(render::answer(answer, json, |c: &FactCreatedOut| {
                println!("added fact {} ({})", c.fact.id, c.fact.status);
                if let Some(old) = &c.superseded {
                    println!("superseded fact {}: {}", old.id, one_line(&old.text, 80));
                }
            }))
        }
        FactsCommand::Promote { id } | FactsCommand::Reject { id } => {
            let verb = if matches!(cmd, FactsCommand::Promote { .. }) {
                "promote"
            } else {
                "reject"
            };
            let answer = conn
                .call(Method::POST, &format!("/v1/facts/{id}/{verb}"), None)
                .await?;
            Ok(render::answer(answer, json, |r: &FactReviewedOut| {
                println!("fact {} is now {}", r.fact.id, r.fact.status)
            }))
        }
        FactsCommand::Forget { id } => {
            let answer = conn
                .call(Method::DELETE, &format!("/v1/facts/{id}"), None)
                .await?;
            Ok(render::answer(answer, json, |r: &FactForgottenOut| {
                println!("forgot fact {} of {}", r.forgotten, r.namespace)
            }))
        }
    }
}

fn list(r: &FactsOut) {
    if r.facts.is_empty() {
        println!("no facts in {}", r.namespace);
    }
    for f in &r.facts {
        println!(
            "{:>6}  {:<10} {:<12} {}",
            f.id,
            f.status,
            f.kind,
            one_line(&f.text, 90)
        );
    }
}

fn show(f: &FactOut) {
    println!("fact {}  [{} {} {}]", f.id, f.namespace, f.status, f.kind);
    println!("{}", f.text);
    if let Some(s) = &f.subject {
        println!("subject {s}");
    }
    if let Some(s) = &f.slot {
        println!("slot {s}");
    }
    if !f.entities.is_empty() {
        println!("entities {}", f.entities.join(", "));
    }
    println!(
        "valid {} .. {}",
        f.valid_from,
        f.valid_to.as_deref().unwrap_or("now")
    );
    println!(
        "believed {} .. {}",
        f.recorded_at.as_deref().unwrap_or("never"),
        f.retired_at.as_deref().unwrap_or("now")
    );
    println!(
        "confidence {}  referenced {} times",
        f.confidence, f.reference_count
    );
    if let Some(n) = f.superseded_by {
        println!("superseded by {n}");
    }
    if f.provenance.as_object().is_some_and(|o| !o.is_empty()) {
        println!("provenance {}", f.provenance);
    }
}

fn history(h: &FactHistoryOut) {
    for f in &h.history {
        let mark = if f.id == h.fact.id { "*" } else { " " };
        println!(
            "{mark}{:>6}  {:<10} {} .. {}  {}",
            f.id,
            f.status,
            f.valid_from,
            f.valid_to.as_deref().unwrap_or("now"),
            one_line(&f.text, 70)
        );
    }
}
