//! The `route_bodies` target.

use axum::http::Method;
use serde_json::Value;

use super::harness::routes;

/// Every route that takes a body, with the method, path and first byte of
/// the input choosing the route.
pub const BODY_ROUTES: &[(&str, &str)] = &[
    ("POST", "/v1/sessions/s1/exchanges"),
    ("POST", "/v1/sessions/s2/exchanges"),
    ("POST", "/v1/import"),
    ("POST", "/v1/recall"),
    ("POST", "/v1/context"),
    ("POST", "/v1/reembed"),
    ("POST", "/v1/import-all"),
    ("POST", "/v1/sources/fz/sync"),
    ("POST", "/v1/sources/fz/rows"),
    ("PATCH", "/v1/concepts/notes:1"),
    ("PATCH", "/v1/concepts/notes:2?namespace=default"),
    ("POST", "/v1/dream"),
    ("POST", "/v1/sources/nosuch/rows"),
    ("DELETE", "/v1/sessions/s2"),
    ("DELETE", "/v1/concepts/notes:3"),
];

/// A request body for one of [`BODY_ROUTES`] (first byte): never a panic
/// or a server error.
pub fn route_bodies(data: &[u8]) {
    let Some((&sel, body)) = data.split_first() else {
        return;
    };
    let (method, uri) = BODY_ROUTES[sel as usize % BODY_ROUTES.len()];
    let mut body = body.to_vec();
    if uri == "/v1/context" && known_context_panic(&body) {
        return;
    }
    if uri == "/v1/dream"
        && let Ok(Value::Object(mut m)) = serde_json::from_slice::<Value>(&body)
    {
        m.insert("wait".into(), Value::Bool(true));
        body = Value::Object(m).to_string().into_bytes();
    }
    let h = routes();
    h.call(
        Method::from_bytes(method.as_bytes()).expect("method"),
        uri,
        body,
    );
    h.keep_small();
}

/// KNOWN, NOT FIXED HERE: `POST /v1/context` with `k` > 100 panics in
/// `recall::context` (`clamp` with min > max); it is being fixed
/// separately. Skipped so the fuzzer can look past it; set
/// `MEMD_FUZZ_KNOWN=1` to let it through.
fn known_context_panic(body: &[u8]) -> bool {
    if std::env::var_os("MEMD_FUZZ_KNOWN").is_some() {
        return false;
    }
    serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| v.get("k").and_then(Value::as_u64))
        .is_some_and(|k| k > 100)
}
