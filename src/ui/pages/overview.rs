//! `/`: the daemon at a glance — counts, embedder and its backlog, the
//! index, checkpoints, sources, the firewall, the dream cycle with the
//! drive levels of each namespace, and the namespaces.

use axum::extract::{RawQuery, State};
use axum::response::Response;
use serde_json::Value;

use crate::api::AppState;
use crate::store::{Conversations, Quarantine};
use crate::ui::UiError;
use crate::ui::html::{Href, Html};
use crate::ui::layout::{Ctx, Nav, bytes, facts_table, level, scalar, shell, when};
use crate::ui::svg::DRIVES;

pub async fn page_of(ctx: &Ctx) -> Result<Response, UiError> {
    let app = &ctx.app;
    let counts = app.store.counts().await?;
    let (db_bytes, wal_bytes) = app.store.file_sizes();
    let index = app
        .store
        .index()
        .read()
        .unwrap_or_else(|p| p.into_inner())
        .stats();
    let embedder = app.embed_queue.status().await;
    let dream = app.dream.status().await;
    let sources = app.sources.summary();
    let checkpoint = serde_json::to_value(app.checkpointer.status()).unwrap_or(Value::Null);
    let marks = app.store.mark_counts().await?;
    Ok(shell(ctx, Nav::Overview, "Overview", |h| {
        h.raw("<div class=\"grid\"><section class=\"card\" id=\"counts\">");
        h.el("h2", "Memory");
        facts_table(
            h,
            &[
                ("sessions", counts.sessions.to_string()),
                ("turns", counts.exchanges.to_string()),
                ("namespaces", ctx.namespaces.len().to_string()),
                ("database", bytes(db_bytes)),
                ("write-ahead log", bytes(wal_bytes)),
                ("uptime", format!("{} s", app.started.elapsed().as_secs())),
            ],
        );
        h.raw("</section><section class=\"card\" id=\"embedder\">");
        h.el("h2", "Embedder");
        let mut rows: Vec<(&str, String)> = [
            "provider",
            "model",
            "dim",
            "backlog",
            "embedded",
            "rate_per_s",
            "failures",
            "last_error",
        ]
        .into_iter()
        .map(|k| (k, scalar(&embedder[k])))
        .collect();
        if let Some(r) = embedder.get("fallback_reason") {
            rows.push(("fallback", scalar(r)));
        }
        facts_table(h, &rows);
        h.raw("</section><section class=\"card\" id=\"index\">");
        h.el("h2", "Vector index");
        facts_table(
            h,
            &[
                ("vectors", index.vectors.to_string()),
                ("namespaces", index.namespaces.to_string()),
                ("searched by cells", index.ann_namespaces.to_string()),
                ("cells", index.cells.to_string()),
                ("cells scanned per query", index.nprobe.to_string()),
                ("reclustering", app.store.reclustering().to_string()),
            ],
        );
        h.raw("</section><section class=\"card\" id=\"checkpoints\">");
        h.el("h2", "Checkpoints");
        facts_table(
            h,
            &[
                ("last", when(&checkpoint["last_at"])),
                (
                    "size",
                    checkpoint["last_bytes"].as_u64().map_or("—".into(), bytes),
                ),
                ("next due", when(&checkpoint["next_due"])),
                ("taken since start", scalar(&checkpoint["taken"])),
                ("failures", scalar(&checkpoint["failures"])),
                ("last error", scalar(&checkpoint["last_error"])),
            ],
        );
        h.raw("</section><section class=\"card\" id=\"firewall\">");
        h.el("h2", "Write firewall");
        facts_table(
            h,
            &[
                ("enabled", app.config().firewall.enabled.to_string()),
                ("rows quarantined", marks.quarantined.to_string()),
                ("rows flagged", marks.flagged.to_string()),
            ],
        );
        h.raw("</section></div>");
        sources_section(h, &sources);
        dream_section(h, ctx, &dream);
        namespaces_section(h, ctx);
    }))
}

pub async fn page(State(app): State<AppState>, RawQuery(q): RawQuery) -> Result<Response, UiError> {
    let ctx = Ctx::new(app, q.as_deref()).await?;
    page_of(&ctx).await
}

fn sources_section(h: &mut Html, sources: &Value) {
    h.raw("<section id=\"sources\">");
    h.el("h2", "Sources");
    let list = sources.as_array().map(Vec::as_slice).unwrap_or_default();
    if list.is_empty() {
        h.raw("<p class=\"muted\">No sources configured.</p></section>");
        return;
    }
    h.raw("<table><tr><th>name</th><th>kind</th><th>state</th><th class=\"num\">synced</th><th class=\"num\">errors</th><th>last error</th></tr>");
    for s in list {
        h.raw("<tr>")
            .el("td", &scalar(&s["name"]))
            .el("td", &scalar(&s["kind"]))
            .el("td", &scalar(&s["state"]))
            .el_class("td", "num", &scalar(&s["synced"]))
            .el_class("td", "num", &scalar(&s["errors"]))
            .el_class("td", "error", &scalar(&s["last_error"]))
            .raw("</tr>");
    }
    h.raw("</table></section>");
}

fn dream_section(h: &mut Html, ctx: &Ctx, dream: &Value) {
    h.raw("<section id=\"dream\">");
    h.el("h2", "Dream cycle");
    let running = match &dream["running"] {
        Value::Null => "no".to_owned(),
        v => format!("yes: {}", scalar(&v["namespace"])),
    };
    facts_table(
        h,
        &[
            ("enabled", scalar(&dream["enabled"])),
            ("provider", scalar(&dream["provider"])),
            ("schedule", scalar(&dream["schedule"])),
            ("next run", when(&dream["next_scheduled"])),
            ("running now", running),
            (
                "last run",
                match &dream["last_run"] {
                    Value::Null => "—".into(),
                    v => format!(
                        "{} ({}, {})",
                        when(&v["started_at"]),
                        scalar(&v["namespace"]),
                        scalar(&v["outcome"])
                    ),
                },
            ),
        ],
    );
    let drives = dream["drives"].as_object();
    match drives {
        Some(map) if !map.is_empty() => {
            h.raw("<table id=\"drive-levels\"><tr><th>namespace</th>");
            for d in DRIVES {
                h.el("th", d);
            }
            h.raw("<th class=\"num\">dirty sessions</th><th class=\"num\">unsummarised turns</th></tr>");
            for (ns, levels) in map {
                h.raw("<tr><td>")
                    .link(&Href::new("/dream").q("ns", ns), ns)
                    .raw("</td>");
                for d in DRIVES {
                    h.raw("<td>");
                    level(h, levels[d].as_f64().unwrap_or(0.0));
                    h.raw("</td>");
                }
                let b = &dream["backlog"][ns];
                h.el_class("td", "num", &scalar(&b["dirty"]))
                    .el_class("td", "num", &scalar(&b["unsummarised_total"]))
                    .raw("</tr>");
            }
            h.raw("</table>");
        }
        _ => {
            h.raw("<p class=\"muted\">No namespace to dream about yet.</p>");
        }
    }
    h.raw("<p>")
        .link(&ctx.href("/dream"), "dream runs and plots")
        .raw("</p></section>");
}

fn namespaces_section(h: &mut Html, ctx: &Ctx) {
    h.raw("<section id=\"namespaces\">");
    h.el("h2", "Namespaces");
    if ctx.namespaces.is_empty() {
        h.raw("<p class=\"muted\">Nothing stored yet.</p></section>");
        return;
    }
    h.raw("<table><tr><th>namespace</th><th class=\"num\">sessions</th><th></th></tr>");
    for n in &ctx.namespaces {
        h.raw("<tr><td>")
            .link(&Href::new("/sessions").q("ns", &n.namespace), &n.namespace)
            .raw("</td>")
            .el_class("td", "num", &n.sessions.to_string())
            .raw("<td>")
            .link(&Href::new("/time").q("ns", &n.namespace), "time")
            .raw(" · ")
            .link(&Href::new("/facts").q("ns", &n.namespace), "facts")
            .raw("</td></tr>");
    }
    h.raw("</table></section>");
}
