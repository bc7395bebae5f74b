//! `/sessions`: a namespace's sessions, most recently written first, a
//! page at a time; `/sessions/{id}`: a session's turns, oldest first, a
//! page at a time (keyset paging, so the thousandth page costs what the
//! first does), with its gist beside them.

use axum::extract::{Path, RawQuery, State};
use axum::response::Response;
use serde_json::Value;

use crate::api::AppState;
use crate::store::{Conversations, GistLookup, Gists};
use crate::ui::UiError;
use crate::ui::html::{Href, Html};
use crate::ui::layout::{Ctx, Nav, json_tree, scalar, shell, when, when_ms};

/// Sessions per page of the list.
const SESSIONS_PAGE: usize = 50;
/// Turns per page of a session.
const TURNS_PAGE: usize = 100;

pub async fn list(State(app): State<AppState>, RawQuery(q): RawQuery) -> Result<Response, UiError> {
    let ctx = Ctx::new(app, q.as_deref()).await?;
    let pageno: usize = ctx.params.num("page").unwrap_or(0);
    let offset = pageno.saturating_mul(SESSIONS_PAGE);
    // One more than a page says whether there is a next one.
    let mut sessions = ctx
        .app
        .store
        .sessions(ctx.ns.clone(), SESSIONS_PAGE + 1, offset)
        .await?;
    let more = sessions.len() > SESSIONS_PAGE;
    sessions.truncate(SESSIONS_PAGE);
    let total = ctx
        .namespaces
        .iter()
        .find(|n| n.namespace == ctx.ns)
        .map_or(0, |n| n.sessions);
    let title = format!("Sessions of {}", ctx.ns);
    Ok(shell(&ctx, Nav::Sessions, &title, |h| {
        h.raw("<p class=\"muted\">")
            .show(total)
            .raw(" sessions, most recently written first; page ")
            .show(pageno + 1)
            .raw(".</p>");
        h.raw("<input type=\"search\" placeholder=\"filter this page\" data-filter=\"#sessions tr.row\">");
        h.raw("<table id=\"sessions\"><tr><th>session</th><th>first seen</th><th>last written</th><th class=\"num\">turns</th></tr>");
        for s in &sessions {
            h.raw("<tr class=\"row\"><td>")
                .link(&Href::new("/sessions/").seg(&s.id).q("ns", &ctx.ns), &s.id)
                .raw("</td>")
                .td(when_ms(s.created_at))
                .td(when_ms(s.updated_at))
                .el_class("td", "num", &s.exchanges.to_string())
                .raw("</tr>");
        }
        h.raw("</table>");
        if sessions.is_empty() {
            h.raw("<p class=\"muted\">No sessions on this page.</p>");
        }
        h.raw("<div class=\"pager\">");
        if pageno > 0 {
            h.link(
                &ctx.href("/sessions").q("page", &(pageno - 1).to_string()),
                "← newer",
            );
        }
        if more {
            h.link(
                &ctx.href("/sessions").q("page", &(pageno + 1).to_string()),
                "older →",
            );
        }
        h.raw("</div>");
    }))
}

pub async fn show(
    State(app): State<AppState>,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> Result<Response, UiError> {
    crate::ingest::check_id("session_id", &id).map_err(|e| UiError::BadRequest(e.to_string()))?;
    let Some(info) = app.store.session(id.clone()).await? else {
        return Err(UiError::NotFound(format!("no session `{id}`")));
    };
    let mut ctx = Ctx::new(app, q.as_deref()).await?;
    // The session's own namespace, whatever the address said.
    ctx.ns = info.namespace.clone();
    let from = match (ctx.params.num::<i64>("at"), ctx.params.num::<i64>("id")) {
        (Some(at), Some(id)) => Some((at, id)),
        _ => None,
    };
    let mut turns = ctx
        .app
        .store
        .session_page(id.clone(), 0, from, TURNS_PAGE + 1)
        .await?;
    let more = turns.len() > TURNS_PAGE;
    turns.truncate(TURNS_PAGE);
    let gist = ctx.app.store.gist(&id).await?;
    let title = format!("Session {id}");
    Ok(shell(&ctx, Nav::Sessions, &title, |h| {
        h.raw("<p class=\"muted\">namespace ")
            .link(&ctx.href("/sessions"), &info.namespace)
            .raw(" · ")
            .show(info.exchanges)
            .raw(" turns · first seen ")
            .text(&when_ms(info.created_at))
            .raw(" · last written ")
            .text(&when_ms(info.updated_at))
            .raw("</p>");
        h.raw("<div class=\"split\"><section id=\"turns\">");
        h.el(
            "h2",
            if from.is_some() {
                "Turns (continued)"
            } else {
                "Turns"
            },
        );
        for t in &turns {
            turn(h, t);
        }
        if turns.is_empty() {
            h.raw("<p class=\"muted\">No turns on this page.</p>");
        }
        h.raw("<div class=\"pager\">");
        let base = Href::new("/sessions/").seg(&id).q("ns", &info.namespace);
        if from.is_some() {
            h.link(&base, "← first page");
        }
        if more && let Some(last) = turns.last() {
            let next = base
                .clone()
                .q("at", &last.created_at.to_string())
                .q("id", &last.id.to_string());
            h.link(&next, "next page →");
        }
        h.raw("</div></section><aside class=\"gist card\" id=\"gist\">");
        h.el("h2", "Gist");
        gist_panel(h, &gist);
        h.raw("</aside></div>");
    }))
}

fn turn(h: &mut Html, t: &crate::store::Exchange) {
    h.open(
        "article",
        &[("class", "turn"), ("id", &format!("x{}", t.id))],
    );
    h.raw("<div class=\"meta\"><div class=\"role\">")
        .text(&t.role)
        .raw("</div>")
        .text(&when_ms(t.created_at));
    if let Some(ext) = &t.ext_id {
        h.raw("<br>").text(ext);
    }
    h.raw("<br>#").show(t.id).raw("</div><div class=\"text\">");
    h.text(&t.content).raw("</div></article>");
}

fn gist_panel(h: &mut Html, gist: &GistLookup) {
    match gist {
        GistLookup::Found(g) => {
            h.raw("<p class=\"muted\">")
                .text(&format!(
                    "{} turns summarised · {} · {}",
                    scalar(&g["turns"]),
                    scalar(&g["provider"]),
                    when(&g["updated_at"])
                ))
                .raw("</p><div class=\"text\">")
                .text(g["text"].as_str().unwrap_or_default())
                .raw("</div>");
            if let Some(st) = g.get("statements").filter(|s| !is_empty(s)) {
                h.el("h3", "Statements");
                json_tree(h, st);
            }
        }
        GistLookup::NoGist | GistLookup::NoSession => {
            h.raw("<p class=\"muted\">No gist yet: the dream cycle writes one once the session has enough turns (<code>memd ctl dream --force</code> runs it now).</p>");
        }
    }
}

fn is_empty(v: &Value) -> bool {
    v.is_null() || v.as_array().is_some_and(Vec::is_empty)
}
