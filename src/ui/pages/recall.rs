//! `/recall`: the recall playground — a query through the same engine the
//! API uses, each hit with why it ranked (lexical rank, vector rank and
//! cosine, fused score, what lifted it), and the context pack the query
//! would build under a budget. Recall reads only; nothing is recorded.

use axum::extract::{RawQuery, State};
use axum::response::Response;
use serde_json::Value;

use crate::api::AppState;
use crate::recall::context::ContextRequest;
use crate::recall::{Fusion, KindWeights, Mode, RecallHit, RecallQuery};
use crate::ui::UiError;
use crate::ui::html::{Href, Html};
use crate::ui::layout::{Ctx, Nav, scalar, shell, when};

const DEFAULT_BUDGET: usize = 2000;
const MAX_BUDGET: usize = 100_000;
/// Characters of a hit's text shown in the table.
const SHOWN_CHARS: usize = 600;

struct Form {
    query: String,
    k: usize,
    mode: Mode,
    budget: usize,
    session: Option<String>,
}

fn form(ctx: &Ctx) -> Result<Form, UiError> {
    let cfg = ctx.app.config();
    let p = &ctx.params;
    let query = p.get("q").unwrap_or_default().to_owned();
    if query.len() > cfg.api.max_content_bytes {
        return Err(UiError::BadRequest(format!(
            "the query is {} bytes; the limit is api.max_content_bytes = {}",
            query.len(),
            cfg.api.max_content_bytes
        )));
    }
    let mode = match p.get("mode") {
        None | Some("hybrid") => Mode::Hybrid,
        Some("lexical") => Mode::Lexical,
        Some("vector") => Mode::Vector,
        Some(m) => {
            return Err(UiError::BadRequest(format!(
                "unknown mode `{m}`; modes are hybrid, lexical, vector"
            )));
        }
    };
    let session = p.get("session").map(str::to_owned);
    if let Some(s) = &session {
        crate::ingest::check_id("session_id", s).map_err(|e| UiError::BadRequest(e.to_string()))?;
    }
    Ok(Form {
        query,
        k: p.num("k")
            .unwrap_or(cfg.recall.default_k)
            .clamp(1, cfg.recall.max_k),
        mode,
        budget: p
            .num("budget")
            .unwrap_or(DEFAULT_BUDGET)
            .clamp(1, MAX_BUDGET),
        session,
    })
}

/// The engine's query with the configured fusion, as the API builds it.
fn query(ctx: &Ctx, f: &Form) -> RecallQuery {
    let cfg = ctx.app.config();
    let r = &cfg.recall;
    RecallQuery {
        query: f.query.clone(),
        k: f.k,
        namespace: ctx.ns.clone(),
        session_id: f.session.clone(),
        mode: f.mode,
        budget_chars: None,
        fusion: Fusion {
            rrf_k: r.rrf_k,
            fts_weight: r.fts_weight,
            vector_weight: r.vector_weight,
            candidates: r.candidates.clamp(1, 10_000),
            neighbor_weight: r.neighbor_weight,
            entity_boost: r.entity_boost,
            max_term_df: r.max_term_df,
            max_terms: r.max_terms.clamp(1, 1000),
            kind_weights: KindWeights::from_config(r),
        },
        vector: None,
        tiers: Vec::new(),
        as_of: None,
    }
}

pub async fn page(State(app): State<AppState>, RawQuery(q): RawQuery) -> Result<Response, UiError> {
    let ctx = Ctx::new(app, q.as_deref()).await?;
    let f = form(&ctx)?;
    let mut answer = None;
    if !f.query.trim().is_empty() {
        let q = query(&ctx, &f);
        let (hits, took_ms) = ctx.app.recall.recall(q.clone()).await?;
        let pack = ctx
            .app
            .recall
            .context(ContextRequest {
                query: f.query.clone(),
                namespace: ctx.ns.clone(),
                session_id: f.session.clone(),
                budget_chars: f.budget,
                recall: RecallQuery {
                    session_id: None,
                    ..q
                },
                without_dream: false,
                facts_k: ctx.app.config().recall.context_facts,
            })
            .await?;
        answer = Some((hits, took_ms, pack));
    }
    Ok(shell(&ctx, Nav::Recall, "Recall playground", |h| {
        form_html(h, &ctx, &f);
        if let Some((hits, took_ms, pack)) = &answer {
            h.raw("<section id=\"results\">");
            h.el("h2", "Ranked results");
            h.raw("<p class=\"muted\">")
                .text(&format!(
                    "{} hits in {took_ms:.1} ms ({} mode, k = {})",
                    hits.len(),
                    match f.mode {
                        Mode::Hybrid => "hybrid",
                        Mode::Lexical => "lexical",
                        Mode::Vector => "vector",
                    },
                    f.k
                ))
                .raw("</p>");
            hits_table(h, &ctx, hits);
            h.raw("</section>");
            pack_html(h, &ctx, pack);
        }
    }))
}

fn form_html(h: &mut Html, ctx: &Ctx, f: &Form) {
    h.raw("<form class=\"query\" method=\"get\" action=\"/recall\">");
    h.open(
        "input",
        &[("type", "hidden"), ("name", "ns"), ("value", &ctx.ns)],
    );
    h.raw("<label>query ");
    h.open(
        "input",
        &[
            ("type", "search"),
            ("name", "q"),
            ("value", &f.query),
            ("autofocus", "autofocus"),
            ("id", "q"),
        ],
    );
    h.raw("</label><label>k ");
    h.open(
        "input",
        &[
            ("type", "number"),
            ("name", "k"),
            ("min", "1"),
            ("value", &f.k.to_string()),
        ],
    );
    h.raw("</label><label>mode <select name=\"mode\">");
    for (m, name) in [
        (Mode::Hybrid, "hybrid"),
        (Mode::Lexical, "lexical"),
        (Mode::Vector, "vector"),
    ] {
        if m == f.mode {
            h.open("option", &[("value", name), ("selected", "selected")]);
        } else {
            h.open("option", &[("value", name)]);
        }
        h.text(name).close("option");
    }
    h.raw("</select></label><label>pack budget (chars) ");
    h.open(
        "input",
        &[
            ("type", "number"),
            ("name", "budget"),
            ("min", "1"),
            ("value", &f.budget.to_string()),
        ],
    );
    h.raw("</label><label>session (optional) ");
    h.open(
        "input",
        &[
            ("type", "text"),
            ("name", "session"),
            ("value", f.session.as_deref().unwrap_or_default()),
        ],
    );
    h.raw("</label><button type=\"submit\">recall</button></form>");
}

fn opt<T: std::fmt::Display>(v: Option<T>) -> String {
    v.map_or("—".into(), |x| x.to_string())
}

fn hits_table(h: &mut Html, ctx: &Ctx, hits: &[RecallHit]) {
    if hits.is_empty() {
        h.raw("<p class=\"muted\">Nothing matched.</p>");
        return;
    }
    h.raw(
        "<table id=\"hits\"><tr><th class=\"num\">#</th><th>tier</th><th class=\"num\">score</th>\
         <th class=\"num explain\">lexical rank</th><th class=\"num explain\">vector rank</th>\
         <th class=\"num explain\">cosine</th><th class=\"num explain\">fused</th>\
         <th class=\"explain\">boosts</th><th>text</th><th>from</th></tr>",
    );
    for (i, hit) in hits.iter().enumerate() {
        let e = &hit.explain;
        h.raw("<tr class=\"hit\">")
            .el_class("td", "num", &(i + 1).to_string())
            .el("td", &format!("{} {}", hit.tier, hit.id))
            .el_class("td", "num", &format!("{:.4}", hit.score))
            .el_class("td", "num", &opt(e.bm25_rank))
            .el_class("td", "num", &opt(e.vector_rank))
            .el_class("td", "num", &opt(e.vector_score.map(|c| format!("{c:.3}"))))
            .el_class("td", "num", &format!("{:.4}", e.fused));
        let mut boosts = Vec::new();
        if e.fused > 0.0 && (hit.score / e.fused - 1.0).abs() > 0.005 {
            boosts.push(format!("×{:.2} kind/entity/strength", hit.score / e.fused));
        }
        if let Some(b) = e.neighbor_boost {
            boosts.push(format!("+{b:.4} from a neighbouring turn"));
        }
        if let Some(s) = e.supplement {
            boosts.push(format!("supplement: {s}"));
        }
        h.el("td", &boosts.join("; "));
        h.el_class("td", "text", &crate::text::clip(&hit.content, SHOWN_CHARS));
        h.raw("<td>");
        if let Some(sid) = &hit.session_id {
            h.link(&Href::new("/sessions/").seg(sid).q("ns", &ctx.ns), sid)
                .raw("<br>");
        }
        h.text(&when(&Value::String(hit.created_at.clone())))
            .raw("</td></tr>");
    }
    h.raw("</table>");
}

fn pack_html(h: &mut Html, _ctx: &Ctx, pack: &Value) {
    h.raw("<section id=\"pack\">");
    h.el("h2", "Context pack");
    h.raw("<p class=\"muted\">")
        .text(&format!(
            "{} of {} characters used; what an agent would put before its model for this query.",
            scalar(&pack["used_chars"]),
            scalar(&pack["budget_chars"])
        ))
        .raw("</p>");
    let sections = pack["sections"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    if sections.is_empty() {
        h.raw("<p class=\"muted\">Empty: nothing fit or nothing matched.</p>");
    }
    for s in sections {
        h.raw("<div class=\"card pack-section\">");
        h.el("h3", &scalar(&s["name"]));
        for it in s["items"].as_array().map(Vec::as_slice).unwrap_or_default() {
            h.raw("<div class=\"turn\"><div class=\"meta\">")
                .text(&format!("{} {}", scalar(&it["tier"]), scalar(&it["id"])));
            if it["clipped"].as_bool() == Some(true) {
                h.raw(" <span class=\"tag\">clipped</span>");
            }
            h.raw("</div>")
                .el_class("div", "text", it["text"].as_str().unwrap_or_default())
                .raw("</div>");
        }
        h.raw("</div>");
    }
    h.raw("</section>");
}
