//! What every page shares: the query parameters, the namespace in view,
//! the page shell (head, navigation, namespace picker), the error page,
//! the embedded assets, and how values and times are shown.

use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use super::UiError;
use super::html::{Href, Html};
use crate::api::AppState;
use crate::store::{DEFAULT_NAMESPACE, Inspect, NamespaceSize};

/// The request's query parameters, decoded; the first of a name wins.
#[derive(Debug, Default, Clone)]
pub struct Params(Vec<(String, String)>);

impl Params {
    pub fn of(query: Option<&str>) -> Params {
        Params(query.map(super::auth::form_pairs).unwrap_or_default())
    }

    /// A non-blank parameter, trimmed.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.trim())
            .filter(|v| !v.is_empty())
    }

    /// A parameter parsed as `T`; blank or unparsable is `None`.
    pub fn num<T: std::str::FromStr>(&self, name: &str) -> Option<T> {
        self.get(name).and_then(|v| v.parse().ok())
    }
}

/// A page's context: the daemon, the namespace in view and the others.
pub struct Ctx {
    pub app: AppState,
    pub ns: String,
    pub namespaces: Vec<NamespaceSize>,
    pub params: Params,
}

/// Namespaces listed in the picker and on the overview.
const MAX_NAMESPACES: usize = 200;

impl Ctx {
    /// The namespace is `?ns=`, else `default` when it holds sessions,
    /// else the first that does.
    pub async fn new(app: AppState, query: Option<&str>) -> Result<Ctx, UiError> {
        let params = Params::of(query);
        let namespaces = app.store.namespace_sizes(MAX_NAMESPACES).await?;
        let ns = match params.get("ns") {
            Some(ns) => {
                crate::ingest::check_namespace(ns)
                    .map_err(|e| UiError::BadRequest(e.to_string()))?;
                ns.to_owned()
            }
            None if namespaces.iter().any(|n| n.namespace == DEFAULT_NAMESPACE) => {
                DEFAULT_NAMESPACE.to_owned()
            }
            None => namespaces
                .first()
                .map_or(DEFAULT_NAMESPACE.to_owned(), |n| n.namespace.clone()),
        };
        Ok(Ctx {
            app,
            ns,
            namespaces,
            params,
        })
    }

    /// A link to one of our pages in this namespace.
    pub fn href(&self, path: &'static str) -> Href {
        Href::new(path).q("ns", &self.ns)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nav {
    Overview,
    Sessions,
    Time,
    Dream,
    Recall,
    Facts,
}

const NAV: [(Nav, &str, &str); 6] = [
    (Nav::Overview, "/", "Overview"),
    (Nav::Sessions, "/sessions", "Sessions"),
    (Nav::Time, "/time", "Time"),
    (Nav::Dream, "/dream", "Dream"),
    (Nav::Recall, "/recall", "Recall"),
    (Nav::Facts, "/facts", "Facts"),
];

/// An HTML page in the shell: head, navigation with the namespace picker,
/// `body`, footer.
pub fn shell(ctx: &Ctx, current: Nav, title: &str, body: impl FnOnce(&mut Html)) -> Response {
    let mut h = Html::new();
    head(&mut h, title);
    h.raw("<header><nav><span class=\"brand\">memd</span>");
    let mut here = "/";
    for (nav, path, label) in NAV {
        if nav == current {
            here = path;
            h.open(
                "a",
                &[("href", ctx.href(path).as_str()), ("aria-current", "page")],
            );
        } else {
            h.open("a", &[("href", ctx.href(path).as_str())]);
        }
        h.text(label).close("a");
    }
    h.open(
        "form",
        &[("method", "get"), ("action", here), ("class", "ns")],
    );
    h.raw("<label>namespace <select name=\"ns\" data-autosubmit>");
    let mut listed = false;
    for n in &ctx.namespaces {
        listed |= n.namespace == ctx.ns;
        let label = format!("{} ({} sessions)", n.namespace, n.sessions);
        if n.namespace == ctx.ns {
            h.open(
                "option",
                &[("value", &n.namespace), ("selected", "selected")],
            );
        } else {
            h.open("option", &[("value", &n.namespace)]);
        }
        h.text(&label).close("option");
    }
    if !listed {
        h.open("option", &[("value", &ctx.ns), ("selected", "selected")])
            .text(&ctx.ns)
            .close("option");
    }
    h.raw("</select></label><button type=\"submit\">show</button></form></nav></header><main>");
    h.el("h1", title);
    body(&mut h);
    h.raw("</main><footer>memd ")
        .text(env!("CARGO_PKG_VERSION"))
        .raw(
            " · read-only inspector · nothing on these pages writes memory</footer></body></html>",
        );
    html_response(StatusCode::OK, h)
}

fn head(h: &mut Html, title: &str) {
    h.raw(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <meta name=\"referrer\" content=\"no-referrer\"><title>",
    )
    .text(title)
    .raw(
        " · memd</title><link rel=\"stylesheet\" href=\"/static/ui.css\">\
         <link rel=\"icon\" href=\"/static/icon.svg\" type=\"image/svg+xml\">\
         <script src=\"/static/ui.js\" defer></script></head><body>",
    );
}

fn html_response(status: StatusCode, h: Html) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        h.finish(),
    )
        .into_response()
}

pub fn error_page(status: StatusCode, message: &str) -> Response {
    let mut h = Html::new();
    head(&mut h, status.as_str());
    h.raw("<main><h1>")
        .show(status)
        .raw("</h1><p class=\"error\">")
        .text(message)
        .raw("</p><p><a href=\"/\">overview</a></p></main></body></html>");
    html_response(status, h)
}

/// `/static/{file}`: the assets compiled into the binary.
pub async fn asset(Path(file): Path<String>) -> Response {
    let (body, kind) = match file.as_str() {
        "ui.css" => (include_str!("static/ui.css"), "text/css; charset=utf-8"),
        "ui.js" => (
            include_str!("static/ui.js"),
            "text/javascript; charset=utf-8",
        ),
        "icon.svg" => (include_str!("static/icon.svg"), "image/svg+xml"),
        _ => return UiError::NotFound("no such asset".into()).into_response(),
    };
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(kind)),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("private, max-age=300"),
            ),
        ],
        body,
    )
        .into_response()
}

/// A JSON scalar as text: strings as they are, null as a dash.
pub fn scalar(v: &Value) -> String {
    match v {
        Value::Null => "—".into(),
        Value::String(s) => s.clone(),
        Value::Number(n) => match n.as_f64() {
            Some(x) if n.is_f64() => format!("{x:.3}"),
            _ => n.to_string(),
        },
        other => other.to_string(),
    }
}

/// Any JSON as nested lists, every string escaped.
pub fn json_tree(h: &mut Html, v: &Value) {
    match v {
        Value::Object(map) if !map.is_empty() => {
            h.raw("<dl class=\"tree\">");
            for (k, x) in map {
                h.el("dt", k).raw("<dd>");
                json_tree(h, x);
                h.raw("</dd>");
            }
            h.raw("</dl>");
        }
        Value::Array(list) if !list.is_empty() => {
            h.raw("<ul class=\"tree\">");
            for x in list {
                h.raw("<li>");
                json_tree(h, x);
                h.raw("</li>");
            }
            h.raw("</ul>");
        }
        Value::Object(_) | Value::Array(_) => {
            h.raw("<span class=\"muted\">none</span>");
        }
        other => {
            h.text(&scalar(other));
        }
    }
}

/// An RFC 3339 time (or unix ms) shown as `2023-05-08 13:56 UTC`.
pub fn when(v: &Value) -> String {
    match v {
        Value::String(s) => short_time(s),
        Value::Number(n) => n.as_i64().map_or_else(|| n.to_string(), when_ms),
        _ => "—".into(),
    }
}

pub fn when_ms(ms: i64) -> String {
    short_time(&crate::time::to_rfc3339(ms))
}

fn short_time(s: &str) -> String {
    match chrono::DateTime::parse_from_rfc3339(s) {
        Ok(t) => t
            .with_timezone(&chrono::Utc)
            .format("%Y-%m-%d %H:%M UTC")
            .to_string(),
        Err(_) => s.to_owned(),
    }
}

/// A 0..1 level as a meter and its value.
pub fn level(h: &mut Html, x: f64) {
    let v = format!("{x:.2}");
    h.open(
        "meter",
        &[("min", "0"), ("max", "1"), ("value", &v), ("title", &v)],
    )
    .close("meter")
    .raw(" ")
    .text(&v);
}

/// A definition table of `(label, value)` rows.
pub fn facts_table(h: &mut Html, rows: &[(&str, String)]) {
    h.raw("<table class=\"kv\">");
    for (k, v) in rows {
        h.raw("<tr>").el("th", k).el("td", v).raw("</tr>");
    }
    h.raw("</table>");
}

/// Byte counts as `12.3 MB`.
pub fn bytes(n: u64) -> String {
    let x = n as f64;
    if x >= 1e9 {
        format!("{:.2} GB", x / 1e9)
    } else if x >= 1e6 {
        format!("{:.1} MB", x / 1e6)
    } else if x >= 1e3 {
        format!("{:.1} kB", x / 1e3)
    } else {
        format!("{n} B")
    }
}
