//! `/facts`: a namespace's facts by subject — the live ones, or with
//! `as_of` (the slider) those memd holds were true in the world at that
//! instant — each with its validity and the chain of versions it replaced;
//! then the review queue and the firewall's quarantine. Read-only: promoting, rejecting and
//! releasing stay with `memd ctl` and the API.

use std::collections::{BTreeMap, HashMap};

use axum::extract::{RawQuery, State};
use axum::response::Response;

use crate::api::AppState;
use crate::store::{Fact, FactFilter, FactStatus, Facts, Quarantine};
use crate::ui::UiError;
use crate::ui::html::Html;
use crate::ui::layout::{Ctx, Nav, shell, when_ms};

/// Facts listed per section at most.
const LIMIT: usize = 500;
/// Superseded versions read to draw history chains.
const RETIRED: usize = 2000;

fn filter(ns: &str, status: Option<FactStatus>, as_of: Option<i64>, limit: usize) -> FactFilter {
    FactFilter {
        namespace: ns.to_owned(),
        status,
        kind: None,
        subject: None,
        slot: None,
        as_of,
        include_retired: false,
        limit,
        offset: 0,
    }
}

/// `?as_of=` (RFC 3339) or the slider's `?at=` (unix ms); the slider at
/// its right end means now, i.e. live.
fn as_of(ctx: &Ctx) -> Result<Option<i64>, UiError> {
    if let Some(s) = ctx.params.get("as_of") {
        return crate::time::parse_rfc3339(s)
            .map(Some)
            .map_err(UiError::BadRequest);
    }
    let now = crate::time::now_ms();
    Ok(ctx.params.num::<i64>("at").filter(|t| *t < now - 60_000))
}

pub async fn page(State(app): State<AppState>, RawQuery(q): RawQuery) -> Result<Response, UiError> {
    let ctx = Ctx::new(app, q.as_deref()).await?;
    let at = as_of(&ctx)?;
    let store = &ctx.app.store;
    let believed = match at {
        None => store.list_facts(filter(&ctx.ns, Some(FactStatus::Active), None, LIMIT)),
        Some(t) => store.list_facts(filter(&ctx.ns, None, Some(t), LIMIT)),
    }
    .await?;
    let retired = store
        .list_facts(filter(&ctx.ns, Some(FactStatus::Superseded), None, RETIRED))
        .await?;
    let candidates = store
        .list_facts(filter(&ctx.ns, Some(FactStatus::Candidate), None, LIMIT))
        .await?;
    let marked = store.marked(Some(ctx.ns.clone()), None, LIMIT).await?;
    let title = format!("Facts in {}", ctx.ns);
    Ok(shell(&ctx, Nav::Facts, &title, |h| {
        slider(h, &ctx, at, &believed, &retired);
        h.raw("<section id=\"facts\">");
        h.el(
            "h2",
            &match at {
                None => format!("Live facts ({})", believed.len()),
                Some(t) => format!("True as of {} ({})", when_ms(t), believed.len()),
            },
        );
        if believed.is_empty() {
            h.raw("<p class=\"muted\">None.</p>");
        } else {
            h.raw("<input type=\"search\" placeholder=\"filter facts\" data-filter=\"#facts tr.fact\">");
            by_subject(h, &believed, &retired);
        }
        h.raw("</section><section id=\"review\">");
        h.el("h2", &format!("Review queue ({})", candidates.len()));
        if candidates.is_empty() {
            h.raw("<p class=\"muted\">No candidates waiting (<code>memd ctl facts review</code> lists them too).</p>");
        } else {
            fact_table(h, "candidates", &candidates, &HashMap::new());
        }
        h.raw("</section><section id=\"quarantine\">");
        h.el("h2", &format!("Quarantine and flags ({})", marked.len()));
        if marked.is_empty() {
            h.raw("<p class=\"muted\">The write firewall holds nothing here.</p>");
        } else {
            h.raw("<table id=\"quarantine-table\"><tr><th>row</th><th>mark</th><th>classes</th><th>reason</th><th>when</th><th>text</th></tr>");
            for m in &marked {
                h.raw("<tr>")
                    .el("td", &format!("{} {}", m.tier.as_str(), m.id))
                    .el_class("td", "tag warn", m.mark.as_str())
                    .el("td", &m.classes.join(", "))
                    .el("td", &m.reason)
                    .el("td", &when_ms(m.created_at))
                    .el_class(
                        "td",
                        "text",
                        m.text.as_deref().unwrap_or("(the row is gone)"),
                    )
                    .raw("</tr>");
            }
            h.raw("</table>");
        }
        h.raw("</section>");
    }))
}

/// The `as_of` slider: from the earliest `valid_from` to now.
fn slider(h: &mut Html, ctx: &Ctx, at: Option<i64>, believed: &[Fact], retired: &[Fact]) {
    let now = crate::time::now_ms();
    let first = believed.iter().chain(retired).map(|f| f.valid_from).min();
    h.raw("<form class=\"query\" method=\"get\" action=\"/facts\" id=\"asof-form\">");
    h.open(
        "input",
        &[("type", "hidden"), ("name", "ns"), ("value", &ctx.ns)],
    );
    if let Some(first) = first.filter(|f| *f < now) {
        let value = at.unwrap_or(now).clamp(first, now);
        h.raw("<label class=\"asof\">as of <output id=\"asof-label\">")
            .text(&at.map_or("now (live facts)".into(), when_ms))
            .raw("</output>");
        h.open(
            "input",
            &[
                ("type", "range"),
                ("name", "at"),
                ("id", "asof"),
                ("data-asof", "asof-label"),
                ("min", &first.to_string()),
                ("max", &now.to_string()),
                ("step", "any"),
                ("value", &value.to_string()),
            ],
        );
        h.raw("</label>");
    }
    h.raw("<label>or an instant (RFC 3339) <input type=\"text\" name=\"as_of\" placeholder=\"2024-05-01T13:45:00Z\"></label>\
           <button type=\"submit\">show</button>");
    if at.is_some() {
        h.link(&ctx.href("/facts"), "back to live facts");
    }
    h.raw("</form>");
}

/// Superseded versions keyed by the fact that replaced them.
fn predecessors(retired: &[Fact]) -> HashMap<i64, Vec<&Fact>> {
    let mut m: HashMap<i64, Vec<&Fact>> = HashMap::new();
    for f in retired {
        if let Some(next) = f.superseded_by {
            m.entry(next).or_default().push(f);
        }
    }
    m
}

fn by_subject(h: &mut Html, facts: &[Fact], retired: &[Fact]) {
    let preds = predecessors(retired);
    let mut groups: BTreeMap<&str, Vec<&Fact>> = BTreeMap::new();
    for f in facts {
        groups
            .entry(f.subject.as_deref().unwrap_or("(no subject)"))
            .or_default()
            .push(f);
    }
    h.raw("<table id=\"fact-table\">");
    header(h);
    for (subject, list) in groups {
        h.raw("<tr class=\"subject\">")
            .open("th", &[("colspan", "8")])
            .text(subject)
            .close("th")
            .raw("</tr>");
        for f in list {
            row(h, f, &preds);
        }
    }
    h.raw("</table>");
}

fn header(h: &mut Html) {
    h.raw(
        "<tr><th>fact</th><th>kind</th><th>status</th><th class=\"num\">confidence</th>\
           <th class=\"num\">stated</th><th class=\"num\">used</th><th>valid from → to</th>\
           <th>text and history</th></tr>",
    );
}

fn fact_table(h: &mut Html, id: &'static str, facts: &[Fact], preds: &HashMap<i64, Vec<&Fact>>) {
    h.open("table", &[("id", id)]);
    header(h);
    for f in facts {
        row(h, f, preds);
    }
    h.raw("</table>");
}

fn validity(f: &Fact) -> String {
    format!(
        "{} → {}",
        when_ms(f.valid_from),
        f.valid_to.map_or("now".into(), when_ms)
    )
}

fn row(h: &mut Html, f: &Fact, preds: &HashMap<i64, Vec<&Fact>>) {
    h.raw("<tr class=\"fact\">")
        .el("td", &format!("#{}", f.id))
        .el("td", f.kind.as_str())
        .el("td", f.status.as_str())
        .el_class("td", "num", &format!("{:.2}", f.confidence))
        .el_class("td", "num", &f.support.to_string())
        .el_class("td", "num", &f.reference_count.to_string())
        .el("td", &validity(f))
        .raw("<td>")
        .el_class("div", "text", &f.text);
    // The versions this one replaced, newest first, following the chain.
    let mut chain = Vec::new();
    let mut at = f.id;
    while let Some(prev) = preds.get(&at).and_then(|v| v.first()) {
        if chain.len() >= 50 || chain.iter().any(|c: &&Fact| c.id == prev.id) {
            break;
        }
        chain.push(*prev);
        at = prev.id;
    }
    if !chain.is_empty() {
        h.raw("<details><summary>")
            .text(&match chain.len() {
                1 => "1 earlier version".to_owned(),
                n => format!("{n} earlier versions"),
            })
            .raw("</summary><ol class=\"chain\">");
        for c in chain {
            h.raw("<li>")
                .text(&format!("#{} ({}): ", c.id, validity(c)))
                .text(&c.text)
                .raw("</li>");
        }
        h.raw("</ol></details>");
    }
    h.raw("</td></tr>");
}
