//! `/time`: what the dream cycle made of a namespace over time — its eras
//! by month on a timeline, the profile (each statement with how many
//! sessions back it), the narrative and the agent's self-state.

use axum::extract::{RawQuery, State};
use axum::response::Response;
use serde_json::Value;

use crate::api::AppState;
use crate::store::{Eras, SingleTiers};
use crate::ui::UiError;
use crate::ui::html::Html;
use crate::ui::layout::{Ctx, Nav, json_tree, scalar, shell, when};

/// Months drawn on the timeline at most (the most recent ones).
const MAX_MONTHS: usize = 240;

pub async fn page_handler(ctx: Ctx) -> Result<Response, UiError> {
    let store = &ctx.app.store;
    let eras = store.eras(&ctx.ns).await?;
    let singles = store.singles(&ctx.ns).await?;
    let title = format!("Time in {}", ctx.ns);
    Ok(shell(&ctx, Nav::Time, &title, |h| {
        h.raw("<section id=\"eras\">");
        h.el("h2", "Eras");
        if eras.is_empty() {
            h.raw("<p class=\"muted\">No eras yet: the dream cycle builds one per month from the month's gists.</p>");
        } else {
            timeline(h, &ctx, &eras);
            for e in &eras {
                let month = e["month"].as_str().unwrap_or_default();
                h.open(
                    "article",
                    &[("class", "card era"), ("id", &format!("era-{month}"))],
                );
                h.el("h3", month);
                let stale = if e["stale"].as_bool() == Some(true) {
                    " · stale (rebuilt at the next pass)"
                } else {
                    ""
                };
                let sessions = e["sessions"].as_array().map_or(0, Vec::len);
                h.raw("<p class=\"muted\">")
                    .text(&format!(
                        "{sessions} sessions · {} · built {}{stale}",
                        scalar(&e["provider"]),
                        when(&e["built_at"])
                    ))
                    .raw("</p><div class=\"text\">")
                    .text(e["text"].as_str().unwrap_or_default())
                    .raw("</div></article>");
            }
        }
        h.raw("</section>");
        profile(h, singles.profile.as_ref());
        h.raw("<section id=\"narrative\">");
        h.el("h2", "Narrative");
        match &singles.narrative {
            Some(n) => {
                h.raw("<p class=\"muted\">")
                    .text(&format!(
                        "{} · built {}",
                        scalar(&n["provider"]),
                        when(&n["built_at"])
                    ))
                    .raw("</p><div class=\"text card\">")
                    .text(n["text"].as_str().unwrap_or_default())
                    .raw("</div>");
            }
            None => {
                h.raw("<p class=\"muted\">No narrative yet.</p>");
            }
        }
        h.raw("</section><section id=\"self-state\">");
        h.el("h2", "Self-state");
        match &singles.self_state {
            Some(s) => {
                h.raw("<p class=\"muted\">built ")
                    .text(&when(&s["built_at"]))
                    .raw("</p><div class=\"card\">");
                json_tree(h, &s["state"]);
                h.raw("</div>");
            }
            None => {
                h.raw("<p class=\"muted\">No self-state yet: curiosity writes it when there is something new to reflect on.</p>");
            }
        }
        h.raw("</section>");
    }))
}

pub async fn page(State(app): State<AppState>, RawQuery(q): RawQuery) -> Result<Response, UiError> {
    page_handler(Ctx::new(app, q.as_deref()).await?).await
}

/// Every month from the first era's to the last's, those with an era
/// linked to it.
fn timeline(h: &mut Html, ctx: &Ctx, eras: &[Value]) {
    let have: std::collections::HashMap<&str, bool> = eras
        .iter()
        .filter_map(|e| Some((e["month"].as_str()?, e["stale"].as_bool() == Some(true))))
        .collect();
    let months: Vec<(i32, u32)> = have.keys().filter_map(|m| parse_month(m)).collect();
    let (Some(first), Some(last)) = (months.iter().min(), months.iter().max()) else {
        return;
    };
    let mut all = Vec::new();
    let (mut y, mut m) = *first;
    while (y, m) <= *last {
        all.push(format!("{y:04}-{m:02}"));
        (y, m) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
    }
    let skip = all.len().saturating_sub(MAX_MONTHS);
    h.raw("<ol class=\"timeline\" id=\"timeline\">");
    for month in &all[skip..] {
        match have.get(month.as_str()) {
            Some(stale) => {
                h.open("li", &[("class", if *stale { "era stale" } else { "era" })])
                    .link(&ctx.href("/time").frag(&format!("era-{month}")), month)
                    .close("li");
            }
            None => {
                h.el("li", month);
            }
        }
    }
    h.raw("</ol>");
}

fn parse_month(m: &str) -> Option<(i32, u32)> {
    let (y, mo) = m.split_once('-')?;
    let (y, mo) = (y.parse().ok()?, mo.parse().ok()?);
    (1..=12).contains(&mo).then_some((y, mo))
}

fn profile(h: &mut Html, p: Option<&Value>) {
    h.raw("<section id=\"profile\">");
    h.el("h2", "Profile");
    let Some(p) = p else {
        h.raw("<p class=\"muted\">No profile yet.</p></section>");
        return;
    };
    h.raw("<p class=\"muted\">")
        .text(&format!(
            "from {} sessions · {} · built {}{}",
            scalar(&p["sessions_covered"]),
            scalar(&p["provider"]),
            when(&p["built_at"]),
            if p["stale"].as_bool() == Some(true) {
                " · stale"
            } else {
                ""
            }
        ))
        .raw("</p><div class=\"text card\">")
        .text(p["text"].as_str().unwrap_or_default())
        .raw("</div>");
    let facts = p["facts"].as_array().map(Vec::as_slice).unwrap_or_default();
    if !facts.is_empty() {
        h.raw("<table id=\"profile-statements\"><tr><th>subject</th><th>kind</th><th>statement</th><th class=\"num\">sessions</th><th>last seen</th></tr>");
        for f in facts {
            h.raw("<tr>")
                .el("td", &scalar(&f["subject"]))
                .el("td", &scalar(&f["kind"]))
                .el("td", &scalar(&f["text"]))
                .el_class("td", "num", &scalar(&f["sessions"]))
                .el("td", &scalar(&f["last_seen"]))
                .raw("</tr>");
        }
        h.raw("</table>");
    }
    h.raw("</section>");
}
