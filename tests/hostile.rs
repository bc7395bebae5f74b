//! Hostile input on every route, through the real binary.
//!
//! One table of (class, method, route, request target, body, expected
//! answer). Every case must get an answer (never a closed connection), never
//! a 5xx, and every 4xx carries `{"error":{"code","message"}}`; after each
//! class the daemon must still answer `GET /v1/health`. The table is checked
//! against the router's own list of routes (read from src/api/mod.rs), so a
//! new route without hostile cases fails here.
//!
//! All failures are collected and reported together, one line per case.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{ErrorKind, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::{Duration, Instant};

use common::Daemon;
use serde_json::{Value, json};

/// `api.max_body_bytes` in the daemon under test: small, so oversized
/// bodies are cheap, large enough for 10,000 levels of nesting.
const MAX_BODY: usize = 64 * 1024;
const MAX_CONTENT: usize = 8192;
const MAX_METADATA: usize = 4096;

// ------------------------------------------------------------------ table

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum Class {
    WrongMethod,
    Oversized,
    Malformed,
    WrongType,
    UnknownField,
    DeepNesting,
    Control,
    Invisible,
    KExtreme,
    Limits,
    PathParam,
    Query,
    /// Legitimate Unicode ids that must still be accepted (run last: they
    /// store rows).
    LegitUnicode,
}

#[derive(Clone, Debug)]
enum Expect {
    /// Exactly this status; a 4xx's error code must be this one ("" = any).
    Code(u16, &'static str),
    /// Any 4xx.
    Client,
    /// Any 2xx (legitimate input, or input the route ignores by design).
    Success,
    /// Anything but a 5xx (a value the route may accept or refuse).
    Handled,
    /// `POST /v1/import`: 200 with nothing imported and every line rejected
    /// (that route reports bad lines by number instead of failing).
    LinesRejected,
    /// Refused by the HTTP layer before any route runs (a request line
    /// hyper cannot parse): this status, and no body to speak of.
    Bare(u16),
}

struct Case {
    class: Class,
    method: &'static str,
    /// The route template as written in the router.
    route: &'static str,
    /// The raw request target (may hold bytes that are not UTF-8).
    target: Vec<u8>,
    body: Vec<u8>,
    chunked: bool,
    expect: Expect,
}

fn case(
    class: Class,
    method: &'static str,
    route: &'static str,
    target: impl AsRef<[u8]>,
    body: impl Into<Vec<u8>>,
    expect: Expect,
) -> Case {
    Case {
        class,
        method,
        route,
        target: target.as_ref().to_vec(),
        body: body.into(),
        chunked: false,
        expect,
    }
}

fn j(v: Value) -> Vec<u8> {
    v.to_string().into_bytes()
}

/// `base` with `field` set to the raw JSON text `raw` (which need not be
/// representable as a `Value`: `1e400`, `18446744073709551616`).
fn with_raw(base: &Value, field: &str, raw: &str) -> Vec<u8> {
    let mut m = base.as_object().cloned().unwrap_or_default();
    m.remove(field);
    let mut s = Value::Object(m).to_string();
    s.pop();
    if s.len() > 1 {
        s.push(',');
    }
    s.push_str(&format!("{}:{raw}}}", json!(field)));
    s.into_bytes()
}

fn with(base: &Value, field: &str, v: Value) -> Vec<u8> {
    with_raw(base, field, &v.to_string())
}

/// Percent-encodes everything but unreserved characters.
fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn nested(depth: usize) -> String {
    format!("{}{}", "[".repeat(depth), "]".repeat(depth))
}

/// How a route reads its body.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// A JSON object, required.
    Json,
    /// A JSON object; an empty body means `{}`.
    OptionalJson,
    /// NDJSON, bad lines reported in a 200 (`POST /v1/import`).
    Ndjson,
    /// A memd export, streamed (`POST /v1/import-all`).
    Export,
    /// No body: whatever is sent is ignored.
    NoBody,
}

/// A field's type, which decides the wrong values tried for it.
#[derive(Clone, Copy)]
enum F {
    /// Required string (null is wrong too).
    ReqStr,
    Str,
    /// String or null (null is meaningful).
    NullableStr,
    UInt,
    Float,
    /// `bool` with a default: null is wrong.
    Bool,
    StrList,
    FloatList,
    /// A JSON object checked by the handler (metadata).
    Meta,
    /// A row id: string or number, checked by the handler.
    Id,
    AnyList,
    Obj,
    ObjList,
    /// A string enum (`mode`); `ReqEnum` is required.
    Enum,
    ReqEnum,
}

fn wrong_values(f: F) -> &'static [&'static str] {
    match f {
        F::ReqStr => &["null", "1", "true", "[]", "{}", "[\"x\"]", "-0.5"],
        F::Str => &["1", "true", "[]", "{\"a\":1}", "[\"x\"]"],
        F::NullableStr => &["1", "true", "[]", "{}"],
        F::UInt => &[
            "\"10\"",
            "-1",
            "1.5",
            "true",
            "[]",
            "{}",
            "18446744073709551616",
            "1e308",
            "1e400",
            "\"NaN\"",
        ],
        F::Float => &[
            "\"1\"",
            "true",
            "[]",
            "{}",
            "\"NaN\"",
            "\"Infinity\"",
            "\"-inf\"",
            "1e400",
        ],
        F::Bool => &["null", "\"true\"", "1", "0", "{}", "[]"],
        F::StrList => &["\"x\"", "[1]", "{}", "[[]]", "[null]", "1"],
        F::FloatList => &["\"x\"", "[\"a\"]", "{}", "[null]", "[[1]]", "1", "[1e400]"],
        F::Meta => &["[1]", "\"x\"", "1", "true"],
        F::Id => &["[1]", "{\"a\":1}", "true"],
        F::AnyList => &["\"x\"", "1", "{}", "true"],
        F::Obj => &["\"x\"", "[]", "1", "true"],
        F::ObjList => &["\"x\"", "[1]", "{}", "[[]]", "[\"x\"]"],
        F::Enum => &["1", "\"bogus\"", "[]", "{}", "\"\""],
        F::ReqEnum => &["null", "1", "\"bogus\"", "[]", "{}"],
    }
}

struct BodyRoute {
    method: &'static str,
    at: At,
    kind: Kind,
    /// A valid body (never sent as is: every case breaks it).
    base: Value,
    fields: &'static [(&'static str, F)],
}

/// Every route that reads a body, with its fields' types.
fn body_routes() -> Vec<BodyRoute> {
    use F::*;
    use Kind::*;
    let br = |method, at, kind, base, fields| BodyRoute {
        method,
        at,
        kind,
        base,
        fields,
    };
    let exchange: &[(&str, F)] = &[
        ("role", ReqStr),
        ("content", ReqStr),
        ("created_at", Str),
        ("ext_id", Str),
        ("namespace", Str),
        ("metadata", Meta),
        ("embedding", FloatList),
    ];
    let remember = json!({"role": "user", "content": "hello"});
    let import = json!({"session_id": "s", "role": "user", "content": "hello"});
    let import_fields: &[(&str, F)] = &[
        ("session_id", ReqStr),
        ("role", ReqStr),
        ("content", ReqStr),
        ("created_at", Str),
        ("ext_id", Str),
        ("namespace", Str),
        ("metadata", Meta),
        ("embedding", FloatList),
    ];
    let recall: &[(&str, F)] = &[
        ("query", ReqStr),
        ("k", UInt),
        ("namespace", Str),
        ("session_id", Str),
        ("tiers", StrList),
        ("budget_chars", UInt),
        ("explain", Bool),
        ("mode", Enum),
        ("vector", FloatList),
        ("rrf_k", Float),
        ("fts_weight", Float),
        ("vector_weight", Float),
        ("candidates", UInt),
        ("neighbor_weight", Float),
        ("entity_boost", Float),
        ("max_term_df", Float),
        ("max_terms", UInt),
    ];
    let context: &[(&str, F)] = &[
        ("query", ReqStr),
        ("namespace", Str),
        ("session_id", Str),
        ("budget_chars", UInt),
        ("k", UInt),
        ("without_dream", Bool),
    ];
    let dream: &[(&str, F)] = &[
        ("namespace", Str),
        ("force", Bool),
        ("drive", Str),
        ("dry_run", Bool),
        ("until_caught_up", Bool),
        ("wait", Bool),
    ];
    let rows: &[(&str, F)] = &[
        ("op", ReqEnum),
        ("table", ReqStr),
        ("id", Id),
        ("ids", AnyList),
        ("row", Obj),
        ("rows", ObjList),
    ];
    let row = json!({"op": "sync_row", "table": "products", "id": 1});
    let patch: &[(&str, F)] = &[
        ("strength", Float),
        ("text", NullableStr),
        ("restore", Bool),
    ];
    let fact: &[(&str, F)] = &[
        ("text", ReqStr),
        ("namespace", Str),
        ("kind", Str),
        ("subject", Str),
        ("entities", StrList),
        ("slot", Str),
        ("status", Str),
        ("confidence", Float),
        ("valid_from", Str),
        ("supersedes", Id),
        ("provenance", Obj),
        ("embedding", FloatList),
    ];
    let fact_edit: &[(&str, F)] = &[
        ("text", Str),
        ("kind", Str),
        ("subject", Str),
        ("entities", StrList),
        ("slot", Str),
        ("confidence", Float),
        ("valid_from", Str),
        ("provenance", Obj),
        ("embedding", FloatList),
    ];
    let interaction: &[(&str, F)] = &[
        ("prompt", ReqStr),
        ("response", ReqStr),
        ("namespace", Str),
        ("session_id", Str),
        ("context_ids", ObjList),
        ("client", Str),
    ];
    let header = json!({"memd_export": 1, "schema_version": 1});
    let checkpoint = ("/v1/checkpoint", "/v1/checkpoint");
    let reembed = ("/v1/reembed", "/v1/reembed");
    vec![
        br("POST", REMEMBER, Json, remember, exchange),
        br("POST", IMPORT, Ndjson, import, import_fields),
        br("POST", RECALL, Json, json!({"query": "cat"}), recall),
        br("POST", CONTEXT, Json, json!({"query": "cat"}), context),
        br("POST", DREAM, Json, json!({}), dream),
        br("POST", reembed, OptionalJson, json!({}), &[("all", Bool)]),
        br("POST", checkpoint, NoBody, json!({}), &[]),
        br("POST", IMPORT_ALL, Export, header, &[]),
        br(
            "POST",
            SYNC,
            OptionalJson,
            json!({}),
            &[("table", Str), ("full", Bool)],
        ),
        br("POST", ROWS, Json, row, rows),
        br("PATCH", CONCEPT, Json, json!({}), patch),
        br("POST", FACTS, Json, json!({"text": "x"}), fact),
        br("PATCH", FACT, Json, json!({}), fact_edit),
        br("POST", FACT_EDIT, Json, json!({}), fact_edit),
        br(
            "POST",
            INTERACTIONS,
            Json,
            json!({"prompt": "p", "response": "r"}),
            interaction,
        ),
    ]
}

/// What a route of `kind` answers to a body of `class` (`empty`: no bytes).
fn body_expect(kind: Kind, class: Class, empty: bool) -> Expect {
    use Expect::*;
    match (kind, class) {
        (Kind::NoBody, _) => Success,
        (_, Class::Oversized) => Code(413, "payload_too_large"),
        (Kind::Ndjson, _) if empty => Success,
        (Kind::Ndjson, _) => LinesRejected,
        (Kind::Export, _) => Client,
        (Kind::OptionalJson, _) if empty => Handled,
        (_, Class::Malformed) if empty => Code(400, "malformed_json"),
        (_, Class::UnknownField) => Code(400, "bad_field"),
        _ => Code(400, ""),
    }
}

/// Oversized, malformed, wrong-typed, unknown-field and deeply nested
/// bodies for every body route.
fn body_cases(t: &mut Vec<Case>) {
    for r in body_routes() {
        let add = |t: &mut Vec<Case>, class: Class, body: Vec<u8>, expect: Expect| {
            t.push(case(class, r.method, r.at.0, r.at.1, body, expect));
        };
        let base = r.base.to_string();
        let first_str = r
            .fields
            .iter()
            .find(|(_, f)| matches!(f, F::ReqStr | F::Str))
            .map_or("x", |(n, _)| *n);

        // Oversized: well over, one byte over, and streamed without a length.
        let big = with(&r.base, first_str, json!("a".repeat(MAX_BODY + 1024)));
        add(
            t,
            Class::Oversized,
            big.clone(),
            body_expect(r.kind, Class::Oversized, false),
        );
        let mut one_over = with(&r.base, first_str, json!(""));
        let pad = MAX_BODY + 1 - one_over.len();
        one_over = with(&r.base, first_str, json!("a".repeat(pad)));
        assert_eq!(one_over.len(), MAX_BODY + 1);
        add(
            t,
            Class::Oversized,
            one_over,
            body_expect(r.kind, Class::Oversized, false),
        );
        let mut streamed = case(
            Class::Oversized,
            r.method,
            r.at.0,
            r.at.1,
            big,
            body_expect(r.kind, Class::Oversized, false),
        );
        streamed.chunked = true;
        t.push(streamed);

        // Malformed, truncated, empty, not UTF-8.
        let mut malformed: Vec<Vec<u8>> = vec![
            b"not json".to_vec(),
            base.as_bytes()[..base.len() - 1].to_vec(),
            b"{\"".to_vec(),
            b"{".to_vec(),
            b"\xff\xfe\xfd".to_vec(),
            b"\x00".to_vec(),
            b"{}}".to_vec(),
            b"{'a': 1}".to_vec(),
            format!("\u{feff}{base}").into_bytes(),
            format!("{base} {base}").into_bytes(),
            b"{\"a\" 1}".to_vec(),
            b"{\"a\":1,}".to_vec(),
        ];
        let bad_utf8 = format!("{{{}:\"\u{1}\"}}", json!(first_str))
            .into_bytes()
            .into_iter()
            .map(|b| if b == 1 { 0xff } else { b })
            .collect();
        malformed.push(bad_utf8);
        if r.kind != Kind::Ndjson {
            // Two values on two lines are two good lines for NDJSON.
            malformed.push(format!("{base}\n{base}").into_bytes());
        }
        for body in malformed {
            add(
                t,
                Class::Malformed,
                body,
                body_expect(r.kind, Class::Malformed, false),
            );
        }
        add(
            t,
            Class::Malformed,
            Vec::new(),
            body_expect(r.kind, Class::Malformed, true),
        );

        // Wrong JSON types: the whole body, then each field in turn.
        if matches!(r.kind, Kind::Json | Kind::OptionalJson | Kind::Ndjson) {
            // An array is not an object, even where serde would read one
            // positionally into the struct.
            for top in ["[]", "[\"cat\"]", "null", "1", "\"x\"", "true", "[{}]"] {
                let e = body_expect(r.kind, Class::WrongType, false);
                add(t, Class::WrongType, top.as_bytes().to_vec(), e);
            }
            for (field, f) in r.fields {
                for raw in wrong_values(*f) {
                    let e = match f {
                        F::Meta | F::Id if r.kind == Kind::Ndjson => Expect::LinesRejected,
                        F::Meta | F::Id => Expect::Client,
                        _ => body_expect(r.kind, Class::WrongType, false),
                    };
                    add(t, Class::WrongType, with_raw(&r.base, field, raw), e);
                }
            }
            for unknown in ["bogus", "__proto__", "", "Query", "constructor"] {
                let e = body_expect(r.kind, Class::UnknownField, false);
                add(t, Class::UnknownField, with(&r.base, unknown, json!(1)), e);
            }
            // A field given twice.
            if let Some((field, _)) = r.fields.first() {
                let mut dup = r.base.to_string();
                dup.pop();
                if dup.len() > 1 {
                    dup.push(',');
                }
                dup.push_str(&format!("{}:null,{}:null}}", json!(field), json!(field)));
                let e = body_expect(r.kind, Class::Malformed, false);
                add(t, Class::Malformed, dup.into_bytes(), e);
            }
        }

        // 10,000 levels of nesting: the whole body, and inside a field.
        let e = body_expect(r.kind, Class::DeepNesting, false);
        add(
            t,
            Class::DeepNesting,
            nested(10_000).into_bytes(),
            e.clone(),
        );
        let objects = format!("{}1{}", "{\"a\":".repeat(5000), "}".repeat(5000));
        add(t, Class::DeepNesting, objects.into_bytes(), e.clone());
        if let Some((field, _)) = r.fields.first() {
            let body = with_raw(&r.base, field, &nested(10_000));
            add(t, Class::DeepNesting, body, e);
        }
    }
}

/// Bidi controls, zero-width and invisible characters, Unicode tags.
const INVISIBLE: &[&str] = &[
    "abc\u{202E}fdp.exe",
    "\u{202A}x",
    "\u{202D}x",
    "\u{200B}",
    "a\u{200B}b",
    "\u{2066}x\u{2069}",
    "\u{2067}",
    "\u{2068}x",
    "\u{FEFF}",
    "x\u{FEFF}",
    "\u{200E}x",
    "x\u{200F}",
    "x\u{2060}y",
    "\u{200D}",
    "\u{061C}x",
    "x\u{E0001}",
    "x\u{E0041}\u{E0042}\u{E007F}",
];

/// Control characters (C0, DEL, C1).
const CONTROL: &[&str] = &[
    "\u{0}",
    "a\u{0}b",
    "\u{1b}[31mred",
    "a\r\nb",
    "\t",
    "\u{7f}",
    "x\u{85}",
    "x\u{9b}",
];

/// Ids that must keep working: emoji, ZWJ sequences, non-Latin letters.
const LEGIT: &[&str] = &[
    "😀",
    "👨\u{200D}👩\u{200D}👧",
    "🏳\u{FE0F}\u{200D}🌈",
    "café",
    "東京",
    "Ελληνικά",
    "שלום",
    "naïve-ñ_1.2",
];

/// The GET routes that take `?namespace=` and check it.
const NS_QUERY_ROUTES: &[&str] = &[
    "/v1/sessions",
    "/v1/facts",
    "/v1/quarantine",
    "/v1/interactions",
    "/v1/dream/runs",
    "/v1/eras",
    "/v1/profile",
    "/v1/narrative",
    "/v1/self",
];

/// The session-id path routes: (method, route, prefix, suffix).
const SID_ROUTES: &[(&str, &str, &str, &str)] = &[
    ("GET", "/v1/sessions/{sid}", "/v1/sessions/", ""),
    ("DELETE", "/v1/sessions/{sid}", "/v1/sessions/", ""),
    ("GET", "/v1/sessions/{sid}/gist", "/v1/sessions/", "/gist"),
    (
        "POST",
        "/v1/sessions/{sid}/exchanges",
        "/v1/sessions/",
        "/exchanges",
    ),
];

/// Other path-parameter routes: (method, route, prefix, suffix, body).
const NAME_ROUTES: &[(&str, &str, &str, &str, &str)] = &[
    (
        "POST",
        "/v1/sources/{name}/sync",
        "/v1/sources/",
        "/sync",
        "{}",
    ),
    (
        "POST",
        "/v1/sources/{name}/rows",
        "/v1/sources/",
        "/rows",
        "{\"op\":\"delete_row\",\"table\":\"products\",\"id\":999}",
    ),
    ("GET", "/v1/concepts/{*name}", "/v1/concepts/", "", ""),
    ("PATCH", "/v1/concepts/{*name}", "/v1/concepts/", "", "{}"),
    ("DELETE", "/v1/concepts/{*name}", "/v1/concepts/", "", ""),
];

fn remember_body() -> Vec<u8> {
    j(json!({"role": "user", "content": "hello"}))
}

fn sid_body(method: &str) -> Vec<u8> {
    if method == "POST" {
        remember_body()
    } else {
        Vec::new()
    }
}

const INVALID: Expect = Expect::Code(422, "invalid_value");
const BAD: Expect = Expect::Code(400, "");
const BAD_FIELD: Expect = Expect::Code(400, "bad_field");
const NOT_FOUND: Expect = Expect::Code(404, "not_found");

/// (route template, concrete target).
type At = (&'static str, &'static str);
const RECALL: At = ("/v1/recall", "/v1/recall");
const CONTEXT: At = ("/v1/context", "/v1/context");
const DREAM: At = ("/v1/dream", "/v1/dream");
const IMPORT: At = ("/v1/import", "/v1/import");
const IMPORT_ALL: At = ("/v1/import-all", "/v1/import-all");
const REMEMBER: At = ("/v1/sessions/{sid}/exchanges", "/v1/sessions/h/exchanges");
const SYNC: At = ("/v1/sources/{name}/sync", "/v1/sources/shop/sync");
const ROWS: At = ("/v1/sources/{name}/rows", "/v1/sources/shop/rows");
const CONCEPT: At = ("/v1/concepts/{*name}", "/v1/concepts/products:1");
const FACTS: At = ("/v1/facts", "/v1/facts");
/// A fact that does not exist: broken bodies are refused before the id is
/// looked up.
const FACT: At = ("/v1/facts/{id}", "/v1/facts/999999");
const FACT_EDIT: At = ("/v1/facts/{id}/edit", "/v1/facts/999999/edit");
const INTERACTIONS: At = ("/v1/interactions", "/v1/interactions");
const FACT_INTERACTIONS: At = (
    "/v1/facts/{id}/interactions",
    "/v1/facts/999999/interactions",
);
const WHY: At = ("/v1/why/{tier}/{id}", "/v1/why/fact/999999");

fn post(class: Class, at: At, body: impl Into<Vec<u8>>, expect: Expect) -> Case {
    case(class, "POST", at.0, at.1, body, expect)
}

fn get(class: Class, route: &'static str, target: impl AsRef<[u8]>, expect: Expect) -> Case {
    case(class, "GET", route, target, "", expect)
}

/// Hostile strings where ids and namespaces go, and where names are only
/// looked up. `refused`: what an id or namespace holding one gets.
fn string_cases(t: &mut Vec<Case>, class: Class, values: &[&str], refused: Expect) {
    use Expect::*;
    for (i, s) in values.iter().enumerate() {
        // Session ids: in the path and in bodies.
        for (m, route, pre, suf) in SID_ROUTES {
            let target = format!("{pre}{}{suf}", enc(s));
            t.push(case(class, m, route, target, sid_body(m), refused.clone()));
        }
        for at in [RECALL, CONTEXT] {
            let body = json!({"query": "cat", "session_id": s});
            t.push(post(class, at, j(body), refused.clone()));
        }
        let line = json!({"session_id": s, "role": "user", "content": "hello"});
        t.push(post(class, IMPORT, j(line), LinesRejected));
        // Namespaces: in bodies (a fresh session each) and in queries.
        let body = json!({"role": "user", "content": "hello", "namespace": s});
        let target = format!("/v1/sessions/ns-{class:?}-{i}/exchanges");
        t.push(case(
            class,
            "POST",
            REMEMBER.0,
            target,
            j(body),
            refused.clone(),
        ));
        for at in [RECALL, CONTEXT] {
            let body = json!({"query": "cat", "namespace": s});
            t.push(post(class, at, j(body), refused.clone()));
        }
        let body = json!({"namespace": s, "dry_run": true});
        t.push(post(class, DREAM, j(body), refused.clone()));
        // An interaction's ids: namespace, session, client, a context name.
        for field in ["namespace", "session_id", "client"] {
            let body = with(&json!({"prompt": "p", "response": "r"}), field, json!(s));
            t.push(post(class, INTERACTIONS, body, refused.clone()));
        }
        let body = json!({"prompt": "p", "response": "r",
                          "context_ids": [{"tier": "profile", "id": s}]});
        t.push(post(class, INTERACTIONS, j(body), refused.clone()));
        let target = format!("/v1/interactions?session_id={}", enc(s));
        t.push(get(class, INTERACTIONS.0, target, refused.clone()));
        let line = json!({"session_id": "s", "role": "user", "content": "x", "namespace": s});
        t.push(post(class, IMPORT, j(line), LinesRejected));
        for route in NS_QUERY_ROUTES {
            let target = format!("{route}?namespace={}", enc(s));
            t.push(get(class, route, target, refused.clone()));
        }
        // Names only looked up, never stored: not found.
        for (m, route, pre, suf, body) in NAME_ROUTES {
            let target = format!("{pre}{}{suf}", enc(s));
            t.push(case(class, m, route, target, *body, Client));
        }
        for m in ["GET", "DELETE"] {
            let target = format!("/v1/concepts/nope?namespace={}", enc(s));
            t.push(case(class, m, CONCEPT.0, target, "", Client));
        }
    }
}

/// Control characters where values other than ids go.
fn control_value_cases(t: &mut Vec<Case>) {
    use Class::Control;
    use Expect::*;
    for s in CONTROL {
        let with_s = |x: &str| format!("{x}{s}");
        // Content and queries may hold them; they must never fail the daemon.
        let body = json!({"role": "user", "content": format!("hello {s} there")});
        t.push(post(Control, REMEMBER, j(body), Handled));
        let body = json!({"role": "user", "content": "x", "metadata": {s.to_string(): s}});
        t.push(post(Control, REMEMBER, j(body), Handled));
        for at in [RECALL, CONTEXT] {
            t.push(post(
                Control,
                at,
                j(json!({"query": format!("a {s} b")})),
                Handled,
            ));
            t.push(post(Control, at, j(json!({"query": s})), Handled));
        }
        let line = json!({"session_id": "ctl", "role": "user", "content": with_s("a")});
        t.push(post(Control, IMPORT, j(line), Success));
        let body = json!({"op": "delete_row", "table": "products", "id": s});
        t.push(post(Control, ROWS, j(body), Handled));
        let row = json!({"id": 500, "name": s, "description": s});
        let body = json!({"op": "sync_row", "table": "products", "row": row});
        t.push(post(Control, ROWS, j(body), Handled));
        let body = json!({"text": format!("edited {s} text")});
        t.push(case(
            Control,
            "PATCH",
            CONCEPT.0,
            CONCEPT.1,
            j(body),
            Handled,
        ));
        // Ids, enums and names holding them are refused.
        let body = json!({"role": "user", "content": "x", "ext_id": s});
        t.push(post(Control, REMEMBER, j(body), INVALID));
        let body = json!({"role": with_s("user"), "content": "x"});
        t.push(post(Control, REMEMBER, j(body), INVALID));
        // Whitespace around a timestamp is trimmed; anything else is refused.
        let body = json!({"role": "user", "content": "x",
                          "created_at": with_s("2024-01-01T00:00:00Z")});
        let e = if s.trim().is_empty() {
            Handled
        } else {
            INVALID
        };
        t.push(post(Control, REMEMBER, j(body), e));
        let body = json!({"query": "cat", "tiers": [with_s("exchange")]});
        t.push(post(Control, RECALL, j(body), INVALID));
        let body = json!({"query": "cat", "mode": with_s("hybrid")});
        t.push(post(Control, RECALL, j(body), BAD));
        let body = json!({"drive": with_s("curiosity"), "dry_run": true});
        t.push(post(Control, DREAM, j(body), INVALID));
        t.push(post(
            Control,
            SYNC,
            j(json!({"table": with_s("products")})),
            Client,
        ));
        let body = json!({"op": "sync_row", "table": with_s("products"), "id": 1});
        t.push(post(Control, ROWS, j(body), Client));
    }
}

/// `k` at and past its bounds (recall and the context pack alike:
/// 1..=recall.max_k = 1000).
fn k_cases(t: &mut Vec<Case>) {
    use Class::KExtreme;
    use Expect::*;
    let base = json!({"query": "cat"});
    for (raw, recall, context) in [
        ("0", INVALID, INVALID),
        ("1", Success, Success),
        ("-1", BAD, BAD),
        ("100", Success, Success),
        ("101", Success, Success),
        ("1000", Success, Success),
        ("1001", INVALID, INVALID),
        ("18446744073709551615", INVALID, INVALID),
        ("18446744073709551616", BAD, BAD),
        ("1e308", BAD, BAD),
        ("-1e308", BAD, BAD),
        ("\"10\"", BAD, BAD),
        ("10.5", BAD, BAD),
        ("null", Success, Success),
    ] {
        t.push(post(KExtreme, RECALL, with_raw(&base, "k", raw), recall));
        t.push(post(KExtreme, CONTEXT, with_raw(&base, "k", raw), context));
    }
}

/// Huge, negative, not-a-number and out-of-range limits and values.
fn limit_cases(t: &mut Vec<Case>) {
    use Class::{DeepNesting, Limits};
    use Expect::*;
    let max = "18446744073709551615";
    let recall = json!({"query": "cat"});
    for (field, raw, e) in [
        ("budget_chars", "0", Handled),
        ("budget_chars", max, Handled),
        ("budget_chars", "-1", BAD),
        ("budget_chars", "18446744073709551616", BAD),
        ("candidates", "0", Handled),
        ("candidates", max, Handled),
        ("candidates", "-5", BAD),
        ("max_terms", "0", Handled),
        ("max_terms", max, Handled),
        ("rrf_k", "-1", INVALID),
        ("rrf_k", "0", Handled),
        ("rrf_k", "1e308", Handled),
        ("rrf_k", "-0.0", Handled),
        ("fts_weight", "-1e-300", INVALID),
        ("vector_weight", "1e308", Handled),
        ("neighbor_weight", "-1", INVALID),
        ("entity_boost", "1e308", Handled),
        ("max_term_df", "-1", INVALID),
        ("vector", "[]", INVALID),
        ("vector", "[1e39]", INVALID),
    ] {
        t.push(post(Limits, RECALL, with_raw(&recall, field, raw), e));
    }
    // Vectors of the model's dimension: overflowing f32, zero, subnormal,
    // huge-but-finite (its norm overflows), and ten times too long.
    let dim = 384;
    for (values, e) in [
        (vec!["1e39"; dim], INVALID),
        (vec!["0"; dim], INVALID),
        (vec!["1e-45"; dim], Handled),
        (vec!["3e38"; dim], Handled),
        (vec!["1"; dim * 10], INVALID),
    ] {
        let raw = format!("[{}]", values.join(","));
        let body = with_raw(&json!({"query": ""}), "vector", &raw);
        t.push(post(Limits, RECALL, body, e.clone()));
        let body = with_raw(&json!({"role": "user", "content": "v"}), "embedding", &raw);
        t.push(post(Limits, REMEMBER, body, e));
    }
    for (raw, e) in [
        ("0", INVALID),
        ("1000001", INVALID),
        (max, INVALID),
        ("-1", BAD),
        ("1e308", BAD),
    ] {
        t.push(post(
            Limits,
            CONTEXT,
            with_raw(&recall, "budget_chars", raw),
            e,
        ));
    }
    let remember = json!({"role": "user", "content": "x"});
    let meta_100 = format!("{}1{}", "{\"a\":".repeat(100), "}".repeat(100));
    for (field, v, e) in [
        ("content", json!(""), INVALID),
        ("content", json!(" \n\t "), INVALID),
        ("content", json!("a".repeat(MAX_CONTENT + 1)), INVALID),
        ("created_at", json!("9999-12-31T23:59:59Z"), Handled),
        ("created_at", json!("-271821-04-20T00:00:00Z"), INVALID),
        ("created_at", json!("+275760-09-13T00:00:00Z"), INVALID),
        ("created_at", json!("2024-01-01T00:00:00+25:00"), INVALID),
        ("created_at", json!("2024-02-30T00:00:00Z"), INVALID),
        ("created_at", json!(""), INVALID),
        ("ext_id", json!(""), INVALID),
        ("ext_id", json!("e".repeat(257)), INVALID),
        ("namespace", json!(""), INVALID),
        ("namespace", json!("n".repeat(129)), INVALID),
        ("metadata", json!({"a": "x".repeat(MAX_METADATA)}), INVALID),
        (
            "metadata",
            serde_json::from_str(&meta_100).unwrap(),
            Handled,
        ),
    ] {
        t.push(post(Limits, REMEMBER, with(&remember, field, v), e));
    }
    let deep_meta = format!("{}1{}", "{\"a\":".repeat(10_000), "}".repeat(10_000));
    let body = with_raw(&remember, "metadata", &deep_meta);
    t.push(post(DeepNesting, REMEMBER, body, BAD));
    for (field, raw, e) in [
        ("strength", "-1", INVALID),
        ("strength", "10.0001", INVALID),
        ("strength", "1e308", INVALID),
        ("strength", "-0.0", Handled),
        ("strength", "1e400", BAD),
        ("text", "\"\"", INVALID),
        ("text", "\"  \\n \"", INVALID),
        (
            "text",
            &json!("t".repeat(MAX_CONTENT + 1)).to_string(),
            INVALID,
        ),
    ] {
        let body = with_raw(&json!({}), field, raw);
        t.push(case(Limits, "PATCH", CONCEPT.0, CONCEPT.1, body, e));
    }
    for body in [
        json!({"op": "sync_row", "table": "products", "id": 1e308}),
        json!({"op": "sync_row", "table": "products", "id": -1}),
        json!({"op": "sync_row", "table": "products", "id": u64::MAX}),
        json!({"op": "sync_row", "table": "products", "id": ""}),
        json!({"op": "delete_row", "table": "products", "ids": vec![7; 5000]}),
        json!({"op": "sync_batch", "table": "products", "rows": [{"id": {"a": 1}, "name": [1]}]}),
        json!({"op": "sync_batch", "table": "products", "rows": [{}]}),
        json!({"op": "sync_row", "table": "products", "row": {"id": 1e308, "name": 1e308}}),
    ] {
        t.push(post(Limits, ROWS, j(body), Handled));
    }
    for body in [
        json!({"op": "sync_row", "table": "products"}),
        json!({"op": "sync_row", "table": "products", "ids": [1, 2]}),
        json!({"op": "delete_row", "table": "products", "row": {"id": 1}}),
        json!({"op": "sync_row", "table": "secrets", "id": 1}),
        json!({"op": "sync_row", "table": "sqlite_master", "id": 1}),
        json!({"op": "sync_row", "table": "products; DROP TABLE products", "id": 1}),
        json!({"op": "sync_row", "table": "../products", "id": 1}),
    ] {
        t.push(post(Limits, ROWS, j(body), Client));
    }
    for table in ["secrets", "sqlite_master", "", "products\"--"] {
        t.push(post(Limits, SYNC, j(json!({"table": table})), Client));
    }
    t.push(post(Limits, IMPORT, "\n".repeat(10_000), Success));
    let header = "{\"memd_export\":1,\"schema_version\":1}\n";
    for body in [
        "{\"memd_export\":1,\"schema_version\":18446744073709551616}\n".to_owned(),
        "{\"memd_export\":1,\"schema_version\":99999}\n".to_owned(),
        format!("{header}{{\"memd_export_end\":true,\"rows\":-1}}\n"),
        format!("{header}{{\"memd_export_end\":true,\"rows\":1}}\n"),
        format!("{header}{{\"table\":\"sqlite_master\"}}\n"),
        "{\"memd_export\":18446744073709551617}\n".to_owned(),
        "\n".repeat(10_000),
    ] {
        t.push(post(Limits, IMPORT_ALL, body, Client));
    }
}

/// Path parameters: long, NUL, not UTF-8, dot segments, encoded slashes,
/// raw bytes in the request line.
fn path_cases(t: &mut Vec<Case>) {
    use Class::PathParam;
    use Expect::*;
    let long = "a".repeat(10 * 1024);
    // (encoded id, answer for GET/DELETE, answer for POST)
    let sid_values: Vec<(&str, Expect, Expect)> = vec![
        (&long, INVALID, INVALID),
        ("%00", INVALID, INVALID),
        ("a%00b", INVALID, INVALID),
        ("%1B%5B2J", INVALID, INVALID),
        ("%FF%FE", BAD, BAD),
        ("%C0%AE%C0%AE", BAD, BAD),
        ("%ED%A0%80", BAD, BAD),
        // A stray `%` stays literal (lenient decoding): a valid id.
        ("%", Client, Handled),
        ("%zz", Client, Handled),
        ("..", Client, Handled),
        ("%2E%2E", Client, Handled),
        ("a%2Fb", Client, Handled),
        ("..%2F..%2Fetc%2Fpasswd", Client, Handled),
        ("%252e%252e", Client, Handled),
    ];
    for (m, route, pre, suf) in SID_ROUTES {
        for (id, read, write) in &sid_values {
            let e = if *m == "POST" { write } else { read };
            let target = format!("{pre}{id}{suf}");
            t.push(case(PathParam, m, route, target, sid_body(m), e.clone()));
        }
    }
    for (m, route, pre, suf, body) in NAME_ROUTES {
        for (id, e) in [
            (long.as_str(), Client),
            ("%00", Client),
            ("%FF%FE", BAD),
            ("%C0%AE", BAD),
            ("..", Client),
            ("a%2Fb", Client),
            ("..%2F..%2Fetc%2Fpasswd", Client),
        ] {
            let target = format!("{pre}{id}{suf}");
            t.push(case(PathParam, m, route, target, *body, e));
        }
    }
    for target in [
        "/v1/concepts/../../etc/passwd",
        "/v1/concepts/a/b/c",
        "/v1/concepts/",
    ] {
        t.push(get(PathParam, CONCEPT.0, target, Client));
    }
    // Fact ids are numbers: anything else is no fact (or not a path at all).
    let fact_routes: [(&str, &str, &str, &str); 7] = [
        ("GET", FACT.0, "", ""),
        ("DELETE", FACT.0, "", ""),
        ("PATCH", FACT.0, "", "{}"),
        ("POST", FACT_EDIT.0, "/edit", "{}"),
        ("POST", "/v1/facts/{id}/promote", "/promote", ""),
        ("POST", "/v1/facts/{id}/reject", "/reject", ""),
        ("GET", FACT_INTERACTIONS.0, "/interactions", ""),
    ];
    for (m, route, suffix, body) in fact_routes {
        for id in [
            long.as_str(),
            "abc",
            "0",
            "-1",
            "1.5",
            "99999999999999999999",
            "%00",
            "%FF%FE",
            "..",
            "1%2F2",
        ] {
            let target = format!("/v1/facts/{id}{suffix}");
            t.push(case(PathParam, m, route, target, body, Client));
        }
    }
    // `why` names a tier (fact or exchange) and a numeric id.
    for (tier, id, e) in [
        ("fact", long.as_str(), Client),
        ("fact", "abc", NOT_FOUND),
        ("fact", "0", NOT_FOUND),
        ("fact", "-1", NOT_FOUND),
        ("fact", "99999999999999999999", NOT_FOUND),
        ("exchange", "1.5", NOT_FOUND),
        ("exchange", "%00", NOT_FOUND),
        ("fact", "%FF%FE", BAD),
        ("planet", "1", NOT_FOUND),
        ("gist", "1", NOT_FOUND),
        ("%00", "1", NOT_FOUND),
        ("%FF%FE", "1", BAD),
        (long.as_str(), "1", NOT_FOUND),
        ("..", "..", Client),
        ("fact", "1%2F2", NOT_FOUND),
    ] {
        let target = format!("/v1/why/{tier}/{id}");
        t.push(get(PathParam, WHY.0, target, e));
    }
    for target in ["/v1/why/fact", "/v1/why/fact/1/2", "/v1/why//1"] {
        t.push(get(PathParam, WHY.0, target, Client));
    }
    // Promote and reject read no body: whatever is sent, an unknown fact is 404.
    for route in ["/v1/facts/{id}/promote", "/v1/facts/{id}/reject"] {
        let target = route.replace("{id}", "999999");
        for (class, body) in [
            (Class::Oversized, vec![b'a'; MAX_BODY + 1024]),
            (Class::Malformed, b"not json".to_vec()),
            (Class::DeepNesting, nested(10_000).into_bytes()),
        ] {
            t.push(case(class, "POST", route, &target, body, NOT_FOUND));
        }
    }
    for target in ["/v1/sessions//exchanges", "/v1/sessions/"] {
        t.push(case(
            PathParam,
            "POST",
            REMEMBER.0,
            target,
            remember_body(),
            Client,
        ));
    }
    // Raw bytes in the request line: hyper refuses them before the router
    // (a bare status, no JSON body), or they arrive as UTF-8.
    let show = "/v1/sessions/{sid}";
    for (target, e) in [
        (b"/v1/sessions/\xff\xfe".to_vec(), Bare(400)),
        (b"/v1/sessions/a\x00b".to_vec(), Bare(400)),
        (b"/v1/sessions/a\x01b".to_vec(), Bare(400)),
        (b"/v1/sessions/a b".to_vec(), Bare(400)),
        (b"/v1/sessions/a\x7fb".to_vec(), Bare(400)),
        ("/v1/sessions/東京".as_bytes().to_vec(), NOT_FOUND),
        (
            format!("/v1/sessions/{}", "a".repeat(70_000)).into_bytes(),
            Bare(414),
        ),
    ] {
        t.push(get(PathParam, show, target, e));
    }
}

/// Query strings: unknown keys, wrong types, huge numbers.
fn query_cases(t: &mut Vec<Case>) {
    use Class::Query;
    use Expect::*;
    let mut routes: Vec<At> = NS_QUERY_ROUTES.iter().map(|r| (*r, *r)).collect();
    routes.push(("/v1/sessions/{sid}", "/v1/sessions/s"));
    for (route, target) in routes {
        for q in [
            "bogus=1".to_owned(),
            "%00=1".to_owned(),
            "limit=lots".to_owned(),
            "limit=-1".to_owned(),
            "limit=18446744073709551616".to_owned(),
            "limit=1e3".to_owned(),
            "limit=NaN".to_owned(),
            "limit=".to_owned(),
            "limit=1&limit=2".to_owned(),
            "a=1&".repeat(2000),
        ] {
            t.push(get(Query, route, format!("{target}?{q}"), BAD_FIELD));
        }
    }
    for route in NS_QUERY_ROUTES {
        for (q, e) in [
            ("namespace=", INVALID),
            ("namespace=a&namespace=b", BAD_FIELD),
            ("namespace[]=a", BAD_FIELD),
            ("namespace=%FF", Handled),
            ("namespace=%00", INVALID),
            ("limit=18446744073709551615", Handled),
            ("limit=0", Handled),
        ] {
            t.push(get(Query, route, format!("{route}?{q}"), e));
        }
    }
    for (q, e) in [
        ("offset=18446744073709551615", Success),
        ("offset=-1", BAD_FIELD),
    ] {
        t.push(get(Query, "/v1/sessions", format!("/v1/sessions?{q}"), e));
    }
    for (q, e) in [
        ("after=-9223372036854775808", Handled),
        ("after=9223372036854775807", Handled),
        ("after=9223372036854775808", BAD_FIELD),
        ("after=1e308", BAD_FIELD),
        ("limit=18446744073709551615", Handled),
    ] {
        t.push(get(
            Query,
            "/v1/sessions/{sid}",
            format!("/v1/sessions/s?{q}"),
            e,
        ));
    }
    for m in ["GET", "PATCH", "DELETE"] {
        let body = if m == "PATCH" { "{}" } else { "" };
        for (q, e) in [
            ("bogus=1", BAD),
            ("namespace=a&namespace=b", BAD),
            ("namespace=%00", Client),
        ] {
            let target = format!("/v1/concepts/nope?{q}");
            t.push(case(Query, m, CONCEPT.0, target, body, e));
        }
    }
    // Routes without query parameters ignore any query string.
    for (route, target, e) in [
        ("/v1/health", "/v1/health", Success),
        ("/v1/status", "/v1/status", Success),
        ("/v1/metrics", "/v1/metrics", Success),
        ("/v1/checkpoints", "/v1/checkpoints", Success),
        ("/v1/export", "/v1/export", Success),
        ("/v1/sources", "/v1/sources", Success),
        ("/v1/sessions/{sid}/gist", "/v1/sessions/s/gist", Handled),
        ("/v1/facts/{id}", "/v1/facts/999999", Handled),
    ] {
        let target = format!("{target}?bogus=%00%FF&limit=-1&{}", "a=1&".repeat(500));
        t.push(get(Query, route, target, e));
    }
    // Pages of interactions: per fact and in `why`.
    for (route, target) in [FACT_INTERACTIONS, WHY] {
        for (q, e) in [
            ("bogus=1", BAD_FIELD),
            ("limit=lots", BAD_FIELD),
            ("limit=-1", BAD_FIELD),
            ("limit=1&limit=2", BAD_FIELD),
            ("limit=18446744073709551615", Handled),
            ("offset=18446744073709551615", Handled),
        ] {
            t.push(get(Query, route, format!("{target}?{q}"), e));
        }
    }
    for (q, e) in [
        ("session_id=", INVALID),
        ("session_id=%00", INVALID),
        ("offset=18446744073709551615", Success),
        ("offset=-1", BAD_FIELD),
    ] {
        let target = format!("/v1/interactions?{q}");
        t.push(get(Query, INTERACTIONS.0, target, e));
    }
    // The facts list's own filters.
    for (q, e) in [
        ("as_of=soon", INVALID),
        ("as_of=", INVALID),
        ("as_of=9999-12-31T23:59:59Z", Success),
        ("kind=bogus", INVALID),
        ("status=%00", INVALID),
        ("include_retired=maybe", BAD_FIELD),
        ("subject=%00", Success),
        ("offset=18446744073709551615", Success),
    ] {
        t.push(get(Query, FACTS.0, format!("/v1/facts?{q}"), e));
    }
}

/// Legitimate Unicode ids keep working (these store rows: run last).
fn legit_cases(t: &mut Vec<Case>) {
    use Class::LegitUnicode as L;
    use Expect::*;
    for (i, id) in LEGIT.iter().enumerate() {
        let e = enc(id);
        let body = json!({"role": "user", "content": format!("hello legit {i}")});
        let target = format!("/v1/sessions/{e}/exchanges");
        t.push(case(L, "POST", REMEMBER.0, target, j(body), Code(201, "")));
        t.push(get(
            L,
            "/v1/sessions/{sid}",
            format!("/v1/sessions/{e}"),
            Success,
        ));
        // No gist yet, but the id is not refused.
        t.push(get(
            L,
            "/v1/sessions/{sid}/gist",
            format!("/v1/sessions/{e}/gist"),
            NOT_FOUND,
        ));
        let body = json!({"role": "user", "content": "hello", "namespace": id});
        let target = format!("/v1/sessions/legit-ns-{i}/exchanges");
        t.push(case(L, "POST", REMEMBER.0, target, j(body), Code(201, "")));
        for route in NS_QUERY_ROUTES {
            // Nothing is built yet for these, but the namespace is not refused.
            let built = ["/v1/profile", "/v1/narrative", "/v1/self"].contains(route);
            let expect = if built { NOT_FOUND } else { Success };
            t.push(get(L, route, format!("{route}?namespace={e}"), expect));
        }
        for at in [RECALL, CONTEXT] {
            let body = json!({"query": "hello", "namespace": id, "session_id": id});
            t.push(post(L, at, j(body), Success));
        }
        let line = json!({"session_id": format!("{id}-imp"), "namespace": id,
                          "role": "user", "content": "hi"});
        t.push(post(L, IMPORT, j(line), Success));
        t.push(case(
            L,
            "DELETE",
            "/v1/sessions/{sid}",
            format!("/v1/sessions/{e}"),
            "",
            Success,
        ));
    }
}

/// The whole table but the wrong-method cases (generated from the router).
fn table() -> Vec<Case> {
    let mut t: Vec<Case> = Vec::new();
    body_cases(&mut t);
    string_cases(&mut t, Class::Control, CONTROL, INVALID);
    control_value_cases(&mut t);
    string_cases(&mut t, Class::Invisible, INVISIBLE, INVALID);
    k_cases(&mut t);
    limit_cases(&mut t);
    path_cases(&mut t);
    query_cases(&mut t);
    quarantine_cases(&mut t);
    legit_cases(&mut t);
    t
}

/// The firewall's quarantine: rows are named by tier and numeric id;
/// release reads no body, so whatever is sent an unknown row is 404.
fn quarantine_cases(t: &mut Vec<Case>) {
    use Class::PathParam;
    use Expect::*;
    const RELEASE: &str = "/v1/quarantine/{tier}/{id}/release";
    const ROW: &str = "/v1/quarantine/{tier}/{id}";
    let long = "a".repeat(10 * 1024);
    for (tier, id) in [
        ("exchange", long.as_str()),
        ("exchange", "abc"),
        ("exchange", "0"),
        ("exchange", "-1"),
        ("fact", "1.5"),
        ("fact", "99999999999999999999"),
        ("chunk", "%00"),
        ("concept", "%FF%FE"),
        ("gist", "1"),
        ("bogus", "1"),
        (long.as_str(), "1"),
        ("%00", "1"),
        ("%FF%FE", "1"),
        ("..", "1"),
        ("exchange", "1%2F2"),
        ("exchange%2F..", "1"),
    ] {
        t.push(case(
            PathParam,
            "POST",
            RELEASE,
            format!("/v1/quarantine/{tier}/{id}/release"),
            "",
            Client,
        ));
        t.push(case(
            PathParam,
            "DELETE",
            ROW,
            format!("/v1/quarantine/{tier}/{id}"),
            "",
            Client,
        ));
    }
    for tier in ["exchange", "fact", "concept", "chunk"] {
        let target = format!("/v1/quarantine/{tier}/999999/release");
        for (class, body) in [
            (Class::Oversized, vec![b'a'; MAX_BODY + 1024]),
            (Class::Malformed, b"not json".to_vec()),
            (Class::DeepNesting, nested(10_000).into_bytes()),
        ] {
            t.push(case(class, "POST", RELEASE, &target, body, NOT_FOUND));
        }
        let target = format!("/v1/quarantine/{tier}/999999");
        t.push(case(PathParam, "DELETE", ROW, target, "", NOT_FOUND));
    }
    for (q, e) in [
        ("mark=bogus", INVALID),
        ("mark=%00", INVALID),
        ("mark=quarantined", Success),
        ("mark=flagged&namespace=%F0%9F%98%80", Success),
        ("mark=a&mark=b", BAD_FIELD),
    ] {
        t.push(get(
            Class::Query,
            "/v1/quarantine",
            format!("/v1/quarantine?{q}"),
            e,
        ));
    }
}

// ------------------------------------------------------- route coverage

/// (method, route) for every route in the router, read from its source.
fn router_routes() -> BTreeSet<(String, String)> {
    let src = include_str!("../src/api/mod.rs");
    let code: String = src
        .lines()
        .map(|l| l.split("//").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n");
    let mut out = BTreeSet::new();
    let mut rest = code.as_str();
    while let Some(at) = rest.find(".route(") {
        rest = &rest[at + ".route(".len()..];
        // The call's text, up to its closing parenthesis.
        let mut depth = 1;
        let end = rest
            .char_indices()
            .find(|(_, c)| {
                match c {
                    '(' => depth += 1,
                    ')' => depth -= 1,
                    _ => {}
                }
                depth == 0
            })
            .map(|(i, _)| i)
            .expect("unbalanced .route(");
        let call = &rest[..end];
        let path = call
            .split('"')
            .nth(1)
            .expect("a .route( without a path literal");
        let mut found = false;
        for m in ["get", "post", "put", "patch", "delete", "head", "options"] {
            let pat = format!("{m}(");
            let mut from = 0;
            while let Some(i) = call[from..].find(&pat) {
                let i = from + i;
                let before = call[..i].chars().next_back();
                if matches!(before, Some(c) if c == '.' || c == '(' || c.is_whitespace()) {
                    out.insert((m.to_uppercase(), path.to_owned()));
                    found = true;
                }
                from = i + pat.len();
            }
        }
        assert!(found, "no method found for route {path}: {call}");
        rest = &rest[end..];
    }
    assert!(out.len() > 10, "router parse found only {out:?}");
    out
}

/// A concrete target for a route template.
fn concrete(route: &str) -> String {
    route
        .replace("{sid}", "s")
        .replace("{name}", "shop")
        .replace("{*name}", "nope")
}

/// A wrong method for every route path (generated from the router, so a new
/// route gets one too).
fn wrong_method_cases(routes: &BTreeSet<(String, String)>) -> Vec<Case> {
    let mut by_path: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for (m, p) in routes {
        by_path.entry(p).or_default().insert(m);
    }
    let mut t = Vec::new();
    for (path, methods) in by_path {
        let route: &'static str = Box::leak(path.to_owned().into_boxed_str());
        for wrong in ["PUT", "BREW"] {
            t.push(case(
                Class::WrongMethod,
                wrong,
                route,
                concrete(route),
                "{}",
                Expect::Code(405, ""),
            ));
        }
        if !methods.contains("DELETE") {
            t.push(case(
                Class::WrongMethod,
                "DELETE",
                route,
                concrete(route),
                "",
                Expect::Code(405, ""),
            ));
        }
    }
    t
}

fn coverage_problems(table: &[Case]) -> Vec<String> {
    let routes = router_routes();
    let mut seen: BTreeMap<(String, String), BTreeSet<Class>> = BTreeMap::new();
    for c in table {
        if c.class != Class::WrongMethod {
            seen.entry((c.method.to_owned(), c.route.to_owned()))
                .or_default()
                .insert(c.class);
        }
    }
    let mut problems = Vec::new();
    for key in seen.keys() {
        if !routes.contains(key) {
            problems.push(format!(
                "table case for {} {} which the router lacks",
                key.0, key.1
            ));
        }
    }
    let wrong: BTreeSet<&str> = table
        .iter()
        .filter(|c| c.class == Class::WrongMethod)
        .map(|c| c.route)
        .collect();
    for (m, r) in &routes {
        let Some(classes) = seen.get(&(m.clone(), r.clone())) else {
            problems.push(format!("{m} {r}: no hostile cases in the table"));
            continue;
        };
        let mut need = Vec::new();
        if r.contains('{') {
            need.push(Class::PathParam);
        }
        if m == "POST" || m == "PATCH" {
            need.extend([Class::Oversized, Class::Malformed, Class::DeepNesting]);
        }
        if m == "GET" {
            need.push(Class::Query);
        }
        for class in need {
            if !classes.contains(&class) {
                problems.push(format!("{m} {r}: no {class:?} case"));
            }
        }
        if !wrong.contains(r.as_str()) {
            problems.push(format!("{r}: no WrongMethod case"));
        }
    }
    problems
}

// -------------------------------------------------------------- the wire

struct Reply {
    status: u16,
    head: String,
    body: Vec<u8>,
}

/// One request with a raw target and optional chunked body; `Err` when the
/// daemon closed the connection or said nothing parseable.
fn send(
    socket: &Path,
    method: &str,
    target: &[u8],
    body: &[u8],
    chunked: bool,
) -> Result<Reply, String> {
    let mut s = UnixStream::connect(socket).map_err(|e| format!("connect: {e}"))?;
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut head = Vec::new();
    head.extend_from_slice(method.as_bytes());
    head.push(b' ');
    head.extend_from_slice(target);
    head.extend_from_slice(b" HTTP/1.1\r\nHost: memd\r\nContent-Type: application/json\r\n");
    if chunked {
        head.extend_from_slice(b"Transfer-Encoding: chunked\r\n");
    } else {
        head.extend_from_slice(format!("Content-Length: {}\r\n", body.len()).as_bytes());
    }
    head.extend_from_slice(b"Connection: close\r\n\r\n");
    // The daemon may answer (413) and close before reading everything.
    let _ = s.write_all(&head).and_then(|_| {
        if chunked {
            for c in body.chunks(8192) {
                s.write_all(format!("{:x}\r\n", c.len()).as_bytes())?;
                s.write_all(c)?;
                s.write_all(b"\r\n")?;
            }
            s.write_all(b"0\r\n\r\n")
        } else {
            s.write_all(body)
        }
    });
    let mut raw = Vec::new();
    let mut buf = [0u8; 65536];
    loop {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => raw.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return Err(format!(
                    "no complete answer within 20 s ({} bytes)",
                    raw.len()
                ));
            }
            // A reset after the answer was sent still leaves the answer.
            Err(_) => break,
        }
    }
    parse(&raw)
}

fn parse(raw: &[u8]) -> Result<Reply, String> {
    if raw.is_empty() {
        return Err("empty reply (connection closed without an answer)".into());
    }
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| format!("no HTTP head in {:?}", String::from_utf8_lossy(raw)))?;
    let head = String::from_utf8_lossy(&raw[..split]).to_string();
    let status: u16 = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("bad status line: {head}"))?;
    let mut body = raw[split + 4..].to_vec();
    let lower = head.to_ascii_lowercase();
    if lower.contains("transfer-encoding: chunked") {
        let mut out = Vec::new();
        let mut rest = &body[..];
        loop {
            let nl = rest
                .windows(2)
                .position(|w| w == b"\r\n")
                .ok_or("cut chunked body")?;
            let size = usize::from_str_radix(String::from_utf8_lossy(&rest[..nl]).trim(), 16)
                .map_err(|e| format!("bad chunk size: {e}"))?;
            rest = &rest[nl + 2..];
            if size == 0 {
                break;
            }
            if rest.len() < size + 2 {
                return Err("cut chunked body".into());
            }
            out.extend_from_slice(&rest[..size]);
            rest = &rest[size + 2..];
        }
        body = out;
    }
    Ok(Reply { status, head, body })
}

fn show(bytes: &[u8]) -> String {
    let s = String::from_utf8_lossy(bytes);
    let s: String = s.chars().take(200).collect();
    format!("{s:?}")
}

/// Checks one answer against its expectation.
fn judge(c: &Case, reply: Result<Reply, String>) -> Result<(), String> {
    let r = reply?;
    let (s, body) = (r.status, &r.body);
    let ctype = r
        .head
        .lines()
        .find(|l| l.to_ascii_lowercase().starts_with("content-type:"))
        .unwrap_or("no content-type")
        .to_owned();
    if s >= 500 {
        return Err(format!("{s} server error: {}", show(body)));
    }
    let json_error = || -> Result<Value, String> {
        let v: Value = serde_json::from_slice(body)
            .map_err(|_| format!("{s} without a JSON body ({ctype}): {}", show(body)))?;
        let code = v["error"]["code"].as_str().unwrap_or("");
        let msg = v["error"]["message"].as_str().unwrap_or("");
        if code.is_empty() || msg.is_empty() {
            return Err(format!("{s} without {{\"error\":{{code,message}}}}: {v}"));
        }
        Ok(v)
    };
    let client = (400..500).contains(&s);
    match &c.expect {
        Expect::Code(want, code) => {
            if s != *want {
                return Err(format!("got {s}, want {want}: {}", show(body)));
            }
            if client {
                let v = json_error()?;
                if !code.is_empty() && v["error"]["code"] != *code {
                    return Err(format!("error code {}, want {code}", v["error"]["code"]));
                }
            }
        }
        Expect::Client => {
            if !client {
                return Err(format!("got {s}, want 4xx: {}", show(body)));
            }
            json_error()?;
        }
        Expect::Success => {
            if !(200..300).contains(&s) {
                return Err(format!("got {s}, want 2xx: {}", show(body)));
            }
        }
        Expect::Handled => {
            if client {
                json_error()?;
            }
        }
        Expect::Bare(want) => {
            if s != *want {
                return Err(format!("got {s}, want {want}: {}", show(body)));
            }
        }
        Expect::LinesRejected => {
            let v: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
            let rejected = v["rejected"].as_array().map_or(0, Vec::len);
            if s != 200 || v["imported"] != 0 || rejected == 0 {
                return Err(format!(
                    "got {s}, want 200 with the line rejected: {}",
                    show(body)
                ));
            }
        }
    }
    Ok(())
}

// ----------------------------------------------------------------- tests

#[test]
fn hostile_table_covers_every_route() {
    let mut t = table();
    t.extend(wrong_method_cases(&router_routes()));
    let problems = coverage_problems(&t);
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

fn make_shop(path: &Path) {
    let c = rusqlite::Connection::open(path).unwrap();
    c.execute_batch(
        "CREATE TABLE products (id INTEGER PRIMARY KEY, name TEXT NOT NULL, description TEXT,
                                price REAL, updated_at INTEGER NOT NULL);
         CREATE TABLE secrets (id INTEGER PRIMARY KEY, value TEXT);
         INSERT INTO secrets (value) VALUES ('hunter2');
         INSERT INTO products VALUES (1, 'lamp', 'a lamp', 1.5, 1), (2, 'chair', 'a chair', 3, 2);",
    )
    .unwrap();
}

fn alive(d: &mut Daemon) -> Result<(), String> {
    if let Some(status) = d.child.as_mut().unwrap().try_wait().unwrap() {
        return Err(format!("the daemon exited: {status}"));
    }
    match send(&d.socket, "GET", b"/v1/health", b"", false) {
        Ok(r) if r.status == 200 => Ok(()),
        Ok(r) => Err(format!("health answered {}: {}", r.status, show(&r.body))),
        Err(e) => Err(format!("health: {e}")),
    }
}

#[test]
fn hostile_input_on_every_route() {
    let started = Instant::now();
    let src = tempfile::tempdir().unwrap();
    let db = src.path().join("shop.db");
    make_shop(&db);
    let mut d = Daemon::start(&format!(
        "[api]\nmax_body_bytes = {MAX_BODY}\nmax_content_bytes = {MAX_CONTENT}\nmax_metadata_bytes = {MAX_METADATA}\nrequest_timeout_s = 10\n\
         [sources]\nretry_delay_s = 0.1\ndown_retry_s = 1\ndebounce_ms = 100\n\
         [[sources.sqlite]]\nname = \"shop\"\npath = \"{}\"\nallowed_tables = [\"products\"]\nwatch = false\n\
         [sources.sqlite.tables.products]\ntext_columns = [\"name\", \"description\"]\n",
        db.display()
    ));
    // The concept the PATCH cases aim at.
    let deadline = Instant::now() + Duration::from_secs(10);
    while d.get("/v1/concepts/products:1").0 != 200 {
        assert!(
            Instant::now() < deadline,
            "the shop source never synced; log:\n{}",
            d.log_text()
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    let routes = router_routes();
    let mut cases = table();
    cases.extend(wrong_method_cases(&routes));
    cases.sort_by_key(|c| c.class); // stable: table order within a class

    let mut failures: Vec<String> = Vec::new();
    // Per class: how many cases, on which (method, route) pairs.
    type Tally<'a> = (usize, BTreeSet<(&'a str, &'a str)>);
    let mut per_class: BTreeMap<Class, Tally> = BTreeMap::new();
    let mut i = 0;
    while i < cases.len() {
        let class = cases[i].class;
        while i < cases.len() && cases[i].class == class {
            let c = &cases[i];
            let entry = per_class.entry(class).or_default();
            entry.0 += 1;
            entry.1.insert((c.method, c.route));
            let reply = send(&d.socket, c.method, &c.target, &c.body, c.chunked);
            if let Err(why) = judge(c, reply) {
                let body = if c.body.len() > 80 {
                    format!(
                        "<{} bytes{}>",
                        c.body.len(),
                        if c.chunked { ", chunked" } else { "" }
                    )
                } else {
                    show(&c.body)
                };
                let target = show(&c.target[..c.target.len().min(100)]);
                failures.push(format!(
                    "[{class:?}] {} {target} body {body}: {why}",
                    c.method
                ));
            }
            i += 1;
        }
        if let Err(why) = alive(&mut d) {
            failures.push(format!("after {class:?}: {why}"));
            panic!(
                "the daemon is down after {class:?}; {} failures so far:\n{}\nlog tail:\n{}",
                failures.len(),
                failures.join("\n"),
                tail(&d.log_text())
            );
        }
    }
    let log = d.log_text();
    let panics: Vec<&str> = log.lines().filter(|l| l.contains("panicked")).collect();
    if !panics.is_empty() {
        failures.push(format!(
            "the daemon log shows {} panic(s):\n  {}",
            panics.len(),
            panics.join("\n  ")
        ));
    }

    let mut summary = format!(
        "{} cases over {} routes in {:.1} s:\n",
        cases.len(),
        routes.len(),
        started.elapsed().as_secs_f64()
    );
    for (class, (n, rs)) in &per_class {
        let paths: BTreeSet<&str> = rs.iter().map(|(_, r)| *r).collect();
        summary.push_str(&format!(
            "  {class:?}: {n} cases on {} (method, route) pairs, {} route paths\n",
            rs.len(),
            paths.len()
        ));
    }
    println!("{summary}");
    assert!(
        failures.is_empty(),
        "{} of {} hostile cases failed:\n{}\n\n{summary}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

fn tail(log: &str) -> String {
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(30)..].join("\n")
}
