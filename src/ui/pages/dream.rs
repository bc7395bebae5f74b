//! `/dream`: a namespace's dream runs — the four drive levels over the last
//! runs and memory growth as plots, then each run's trigger, drives before
//! and after, actions, LLM use and errors.

use axum::extract::{RawQuery, State};
use axum::response::Response;
use serde_json::Value;

use crate::api::AppState;
use crate::store::{DreamRuns, Inspect};
use crate::ui::UiError;
use crate::ui::html::Html;
use crate::ui::layout::{Ctx, Nav, scalar, shell, when};
use crate::ui::svg::{DRIVES, RunPoint, drive_plot, growth_plot};

/// Runs shown (and plotted), the most recent.
const RUNS: usize = 50;

pub async fn page(State(app): State<AppState>, RawQuery(q): RawQuery) -> Result<Response, UiError> {
    let ctx = Ctx::new(app, q.as_deref()).await?;
    let store = &ctx.app.store;
    let runs = store.dream_runs(Some(ctx.ns.clone()), RUNS).await?;
    let months = contiguous(store.turns_by_month(ctx.ns.clone()).await?);
    let status = ctx.app.dream.status().await;
    let title = format!("Dream runs in {}", ctx.ns);
    Ok(shell(&ctx, Nav::Dream, &title, |h| {
        h.raw("<p class=\"muted\">")
            .text(&format!(
                "dream cycle {} · provider {} · schedule {} ({}) · next run {}",
                if status["enabled"].as_bool() == Some(true) {
                    "enabled"
                } else {
                    "disabled"
                },
                scalar(&status["provider"]),
                scalar(&status["schedule"]),
                scalar(&status["timezone"]),
                when(&status["next_scheduled"]),
            ))
            .raw("</p>");
        h.raw("<section id=\"drives\">");
        h.el("h2", "Drive levels");
        // Oldest first, left to right.
        let points: Vec<RunPoint> = runs.iter().rev().map(point).collect();
        if points.is_empty() {
            h.raw("<p class=\"muted\">No runs yet (<code>memd ctl dream --force</code> runs one now).</p>");
        } else {
            h.raw("<p class=\"muted\">")
                .text(&format!(
                    "The level each drive had when each of the last {} runs began (0 to 1; a drive past its threshold acts).",
                    points.len()
                ))
                .raw("</p>");
            drive_plot(h, &points);
        }
        h.raw("</section><section id=\"growth\">");
        h.el("h2", "Memory growth");
        let total: i64 = months.iter().map(|m| m.1).sum();
        h.raw("<p class=\"muted\">")
            .text(&format!(
                "Turns per month by the turns' own time: {total} turns from {} to {}; the dashed line is the running total.",
                months.first().map_or("—", |m| m.0.as_str()),
                months.last().map_or("—", |m| m.0.as_str())
            ))
            .raw("</p>");
        growth_plot(h, &months);
        h.raw("</section><section id=\"runs\">");
        h.el("h2", "Runs");
        runs_table(h, &runs);
        h.raw("</section>");
    }))
}

/// Months plotted at most (the most recent).
const MAX_MONTHS: usize = 240;

/// Every month from the first to the last, those without turns at 0, so
/// the plot's time axis is even; at most the last [`MAX_MONTHS`].
fn contiguous(months: Vec<(String, i64)>) -> Vec<(String, i64)> {
    let parse = |m: &str| -> Option<(i32, u32)> {
        let (y, mo) = m.split_once('-')?;
        Some((y.parse().ok()?, mo.parse().ok()?))
    };
    let (Some(first), Some(last)) = (
        months.first().and_then(|m| parse(&m.0)),
        months.last().and_then(|m| parse(&m.0)),
    ) else {
        return months;
    };
    let counts: std::collections::HashMap<String, i64> = months.into_iter().collect();
    let mut out = Vec::new();
    let (mut y, mut m) = first;
    while (y, m) <= last {
        let key = format!("{y:04}-{m:02}");
        let n = counts.get(&key).copied().unwrap_or(0);
        out.push((key, n));
        (y, m) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
    }
    let skip = out.len().saturating_sub(MAX_MONTHS);
    out.split_off(skip)
}

fn levels(v: &Value) -> [f64; 4] {
    DRIVES.map(|d| v[d].as_f64().unwrap_or(0.0))
}

fn point(run: &Value) -> RunPoint {
    RunPoint {
        id: run["id"].as_i64().unwrap_or(0),
        label: when(&run["started_at"]),
        levels: levels(&run["drives_before"]),
    }
}

fn runs_table(h: &mut Html, runs: &[Value]) {
    if runs.is_empty() {
        h.raw("<p class=\"muted\">None.</p>");
        return;
    }
    h.raw(
        "<table id=\"run-table\"><tr><th>run</th><th>started</th><th>trigger</th><th>outcome</th>\
           <th>drives before → after</th><th>actions</th><th class=\"num\">LLM calls</th>\
           <th class=\"num\">tokens in/out</th><th>errors and notes</th></tr>",
    );
    for r in runs {
        h.raw("<tr class=\"run\"><td>#")
            .text(&scalar(&r["id"]))
            .raw("</td>")
            .el("td", &when(&r["started_at"]));
        let trigger = match r["dry_run"].as_bool() {
            Some(true) => format!("{} (dry run)", scalar(&r["trigger"])),
            _ => scalar(&r["trigger"]),
        };
        h.el("td", &trigger).el("td", &scalar(&r["outcome"]));
        h.raw("<td><table class=\"kv\">");
        let (before, after) = (&r["drives_before"], &r["drives_after"]);
        for d in DRIVES {
            let b = before[d].as_f64().map_or("—".into(), |x| format!("{x:.2}"));
            let a = after[d].as_f64().map_or("—".into(), |x| format!("{x:.2}"));
            h.raw("<tr>")
                .el("th", d)
                .el("td", &format!("{b} → {a}"))
                .raw("</tr>");
        }
        h.raw("</table></td><td>");
        actions(h, &r["actions"]);
        h.raw("</td>")
            .el_class("td", "num", &scalar(&r["llm"]["calls"]))
            .el_class(
                "td",
                "num",
                &format!(
                    "{}/{}",
                    scalar(&r["llm"]["tokens_in"]),
                    scalar(&r["llm"]["tokens_out"])
                ),
            )
            .raw("<td>");
        for e in r["errors"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default()
        {
            h.el_class("div", "error", &scalar(e));
        }
        if let Some(note) = r["note"].as_str() {
            h.el_class("div", "muted", note);
        }
        h.raw("</td></tr>");
    }
    h.raw("</table>");
}

/// Each action as one line: its name, then its other fields.
fn actions(h: &mut Html, list: &Value) {
    let list = list.as_array().map(Vec::as_slice).unwrap_or_default();
    if list.is_empty() {
        h.raw("<span class=\"muted\">none</span>");
        return;
    }
    h.raw("<ul class=\"tree\">");
    for a in list {
        let name = a["action"].as_str().unwrap_or("?");
        let rest: Vec<String> = a
            .as_object()
            .into_iter()
            .flatten()
            .filter(|(k, _)| *k != "action" && *k != "drive")
            .map(|(k, v)| match v {
                Value::Array(xs) => format!("{k}: {} items", xs.len()),
                v => format!("{k}: {}", scalar(v)),
            })
            .collect();
        h.raw("<li>")
            .el_class("span", "tag", name)
            .raw(" ")
            .text(&rest.join(", "))
            .raw("</li>");
    }
    h.raw("</ul>");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn months_without_turns_are_filled_in() {
        let m = contiguous(vec![("2023-11".into(), 2), ("2024-02".into(), 5)]);
        let keys: Vec<&str> = m.iter().map(|x| x.0.as_str()).collect();
        assert_eq!(keys, ["2023-11", "2023-12", "2024-01", "2024-02"]);
        assert_eq!(m.iter().map(|x| x.1).sum::<i64>(), 7);
        assert!(contiguous(Vec::new()).is_empty());
    }
}
