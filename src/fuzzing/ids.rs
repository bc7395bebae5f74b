//! The `ids` target.

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};

use super::harness::{percent_encode, routes};
use crate::store::{Role, Tier};

/// Ids, namespaces, tiers, names and query strings, through the routes
/// that parse them (path segments are percent-encoded from the raw bytes,
/// query strings are used nearly as given), plus the small parsers behind
/// them. Where the documented rule is simple the answer is checked
/// against it: a valid id or namespace is never refused, an invalid one
/// always is (422).
pub fn ids(data: &[u8]) {
    let Some((&sel, raw)) = data.split_first() else {
        return;
    };
    let text = String::from_utf8_lossy(raw);
    small_parsers(&text);
    let h = routes();
    let seg = percent_encode(raw, false);
    let q = percent_encode(raw, true);
    let utf8 = std::str::from_utf8(raw).ok();
    let get = Method::GET;
    let empty = Vec::new;
    match sel % 19 {
        0 => {
            let (st, _) = h.call(get, &format!("/v1/sessions/{seg}"), empty());
            expect_id(st, raw, utf8, is_valid_id, &[200, 404]);
        }
        1 => {
            let (st, _) = h.call(get, &format!("/v1/sessions/{seg}/gist"), empty());
            expect_id(st, raw, utf8, is_valid_id, &[200, 404]);
        }
        2 => {
            let (st, _) = h.call(Method::DELETE, &format!("/v1/sessions/{seg}"), empty());
            expect_id(st, raw, utf8, is_valid_id, &[200, 404]);
        }
        3 => {
            let body = br#"{"role":"user","content":"an id from the fuzzer"}"#.to_vec();
            let (st, _) = h.call(Method::POST, &format!("/v1/sessions/{seg}/exchanges"), body);
            expect_id(st, raw, utf8, is_valid_id, &[200, 201, 409]);
        }
        4 => {
            let (st, _) = h.call(get, &format!("/v1/sessions?namespace={seg}"), empty());
            // Query strings are decoded leniently (bad UTF-8 becomes U+FFFD).
            let ok = is_valid_namespace(&text);
            let want: &[u16] = if ok { &[200] } else { &[422] };
            assert!(want.contains(&st.as_u16()), "namespace {text:?}: {st}");
        }
        5 => drop(h.call(get, &format!("/v1/sessions?{q}"), empty())),
        6 => drop(h.call(get, &format!("/v1/sessions/s1?{q}"), empty())),
        7 => drop(h.call(get, &format!("/v1/eras?{q}"), empty())),
        8 => drop(h.call(get, &format!("/v1/profile?{q}"), empty())),
        9 => drop(h.call(get, &format!("/v1/narrative?{q}"), empty())),
        10 => drop(h.call(get, &format!("/v1/self?{q}"), empty())),
        11 => drop(h.call(get, &format!("/v1/dream/runs?{q}"), empty())),
        12 => drop(h.call(get, &format!("/v1/concepts/{seg}"), empty())),
        13 => drop(h.call(get, &format!("/v1/concepts/notes:1?{q}"), empty())),
        14 => {
            let tiers: Vec<&str> = text.split(',').collect();
            let body = json!({"query": "cat", "mode": "lexical", "tiers": tiers});
            let (st, _) = h.call(Method::POST, "/v1/recall", body.to_string().into_bytes());
            let ok = tiers.iter().all(|t| Tier::parse(t).is_some());
            let want = if ok { 200 } else { 422 };
            assert_eq!(st.as_u16(), want, "tiers {tiers:?}");
        }
        15 => {
            let body = json!({"query": "cat", "namespace": text, "session_id": text});
            let (st, _) = h.call(Method::POST, "/v1/recall", body.to_string().into_bytes());
            let ok = is_valid_namespace(&text) && is_valid_id(&text);
            let want = if ok { 200 } else { 422 };
            assert_eq!(st.as_u16(), want, "namespace and session {text:?}");
        }
        16 => {
            // Row ids of the sources hook: each comma-separated piece as
            // JSON when it parses, else as a string.
            let ids: Vec<Value> = text
                .split(',')
                .map(|p| serde_json::from_str(p).unwrap_or_else(|_| Value::String(p.into())))
                .collect();
            let op = if raw.len() % 2 == 0 {
                "sync_batch"
            } else {
                "delete_row"
            };
            let body = json!({"op": op, "table": "notes", "ids": ids});
            h.call(
                Method::POST,
                "/v1/sources/fz/rows",
                body.to_string().into_bytes(),
            );
        }
        17 => drop(h.call(Method::POST, &format!("/v1/sources/{seg}/sync"), empty())),
        _ => drop(h.call(Method::DELETE, &format!("/v1/concepts/{seg}?{q}"), empty())),
    }
    h.keep_small();
}

/// The documented rule for ids (`session_id`, `ext_id`): 1 to 256 bytes,
/// no control characters.
fn is_valid_id(s: &str) -> bool {
    !s.is_empty() && s.len() <= 256 && !s.chars().any(char::is_control)
}

/// The documented rule for namespaces: 1 to 128 bytes, no control characters.
fn is_valid_namespace(s: &str) -> bool {
    !s.is_empty() && s.len() <= 128 && !s.chars().any(char::is_control)
}

/// An id in a path segment: not UTF-8 → 400; against `rule` → one of
/// `ok` or 422.
fn expect_id(st: StatusCode, raw: &[u8], utf8: Option<&str>, rule: fn(&str) -> bool, ok: &[u16]) {
    let st = st.as_u16();
    match utf8 {
        // An empty last segment is another route (404); in the middle of
        // a path it is the empty id (422).
        _ if raw.is_empty() => assert!(st == 404 || st == 422, "empty id: {st}"),
        None => assert_eq!(st, 400, "id of invalid UTF-8 {raw:?}"),
        Some(s) if rule(s) => assert!(ok.contains(&st), "valid id {s:?} answered {st}"),
        Some(s) => assert_eq!(st, 422, "invalid id {s:?}"),
    }
}

/// Parsers that take a client's string directly.
fn small_parsers(s: &str) {
    if let Some(t) = Tier::parse(s) {
        assert_eq!(t.as_str(), s);
    }
    if let Some(r) = Role::parse(s) {
        assert_eq!(r.as_str(), s);
    }
    if let Some(d) = crate::dream::drives::Drive::parse(s) {
        assert_eq!(d.as_str(), s);
    }
    if crate::sources::config::is_identifier(s) {
        assert!(s.len() <= 63 && s.is_ascii() && !s.starts_with(|c: char| c.is_ascii_digit()));
    }
    // `created_at`: what is accepted is shown back as RFC 3339 that is
    // accepted again as the same instant.
    if let Ok(ms) = crate::time::parse_rfc3339(s) {
        let shown = crate::time::to_rfc3339(ms);
        let again = crate::time::parse_rfc3339(&shown);
        assert_eq!(
            again,
            Ok(ms),
            "{s:?} is stored as {ms} and shown as {shown:?}"
        );
    }
}
