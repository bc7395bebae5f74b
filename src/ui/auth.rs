//! The inspector's one lock: a token from `ui.token_file` or
//! `ui.token_env`, traded once for a cookie.
//!
//! `GET /any/path?token=T` with the right token answers 303 to the same
//! address without the token, setting an `HttpOnly`, `SameSite=Strict`
//! cookie; a request carrying that cookie is let in; anything else gets
//! 401. The cookie holds a digest of the token, not the token, and a new
//! token (a restart with another one) makes every old cookie worthless.
//! Comparisons take the same time whatever they compare.
//!
//! Browsers scope cookies by host, not port: another web server on the
//! same loopback host is sent this cookie too. The cookie's name carries
//! the port so two inspectors do not overwrite each other's.

use std::path::Path;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

use super::UiError;
use crate::config::{MIN_TOKEN_CHARS, UiConfig};

/// The secret and what it is traded for.
#[derive(Clone)]
pub struct Gate {
    /// sha256 of the token: what `?token=` is checked against.
    token_digest: [u8; 32],
    /// What the cookie carries.
    cookie_value: String,
    cookie_name: String,
}

impl Gate {
    pub fn new(token: &str, port: u16) -> Gate {
        let token_digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let mut h = Sha256::new();
        h.update(b"memd-ui-cookie\0");
        h.update(token.as_bytes());
        let cookie_value = hex(&h.finalize());
        Gate {
            token_digest,
            cookie_value,
            cookie_name: format!("memd_ui_{port}"),
        }
    }

    fn token_ok(&self, given: &str) -> bool {
        let d: [u8; 32] = Sha256::digest(given.as_bytes()).into();
        same(&d, &self.token_digest)
    }

    fn cookie_ok(&self, headers: &HeaderMap) -> bool {
        let mut ok = false;
        for v in headers.get_all(header::COOKIE) {
            let Ok(v) = v.to_str() else { continue };
            for pair in v.split(';') {
                if let Some((name, value)) = pair.trim().split_once('=')
                    && name == self.cookie_name
                {
                    ok |= same(value.as_bytes(), self.cookie_value.as_bytes());
                }
            }
        }
        ok
    }

    fn set_cookie(&self) -> HeaderValue {
        let v = format!(
            "{}={}; Path=/; HttpOnly; SameSite=Strict",
            self.cookie_name, self.cookie_value
        );
        HeaderValue::from_str(&v).expect("a cookie of hex digits is a valid header")
    }
}

/// Equal bytes, in time that depends only on the lengths.
fn same(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The configured token: the file's contents or the variable's value,
/// surrounding whitespace removed; refused when missing or short.
pub fn load_token(cfg: &UiConfig) -> Result<String, UiError> {
    let (token, from) = match (&cfg.token_file, &cfg.token_env) {
        (Some(path), _) => (
            read_file(path)?,
            format!("ui.token_file {}", path.display()),
        ),
        (None, Some(var)) => {
            let v = std::env::var(var).map_err(|_| {
                UiError::Token(format!(
                    "ui.token_env names {var}, which is not set (or not UTF-8) in the daemon's environment"
                ))
            })?;
            (v, format!("environment variable {var} (ui.token_env)"))
        }
        (None, None) => {
            return Err(UiError::Token(
                "the inspector needs a token: set ui.token_file or ui.token_env".into(),
            ));
        }
    };
    let token = token.trim().to_owned();
    if token.chars().count() < MIN_TOKEN_CHARS {
        return Err(UiError::Token(format!(
            "the token in {from} is shorter than {MIN_TOKEN_CHARS} characters; \
             make one with e.g. `head -c 24 /dev/urandom | base64`"
        )));
    }
    Ok(token)
}

fn read_file(path: &Path) -> Result<String, UiError> {
    std::fs::read_to_string(path)
        .map_err(|e| UiError::Token(format!("cannot read ui.token_file {}: {e}", path.display())))
}

/// Lets in requests with the cookie; trades a right `?token=` for it.
pub async fn guard(State(gate): State<Gate>, req: Request, next: Next) -> Response {
    if let Some(given) = token_param(req.uri().query()) {
        if !gate.token_ok(&given) {
            return refused();
        }
        let target = without_token(req.uri().path(), req.uri().query());
        let mut r = StatusCode::SEE_OTHER.into_response();
        if let Ok(v) = HeaderValue::from_str(&target) {
            r.headers_mut().insert(header::LOCATION, v);
        }
        r.headers_mut()
            .insert(header::SET_COOKIE, gate.set_cookie());
        return r;
    }
    if gate.cookie_ok(req.headers()) {
        return next.run(req).await;
    }
    refused()
}

fn refused() -> Response {
    (
        StatusCode::UNAUTHORIZED,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        "<!doctype html><title>memd: 401</title><h1>401: no access</h1>\
         <p>Open the address <code>memd ctl ui</code> prints (it carries the token once, \
         then a cookie does).</p>",
    )
        .into_response()
}

/// The `token` query parameter, decoded.
fn token_param(query: Option<&str>) -> Option<String> {
    form_pairs(query?)
        .into_iter()
        .find(|(k, _)| k == "token")
        .map(|(_, v)| v)
}

/// `path?query` with every `token` pair removed (the redirect target).
fn without_token(path: &str, query: Option<&str>) -> String {
    let kept: Vec<&str> = query
        .unwrap_or_default()
        .split('&')
        .filter(|p| !p.is_empty() && p.split('=').next() != Some("token"))
        .collect();
    // The path came in on the request line; a leading `//` would make the
    // Location another host.
    let path = format!("/{}", path.trim_start_matches('/'));
    if kept.is_empty() {
        path
    } else {
        format!("{path}?{}", kept.join("&"))
    }
}

/// `application/x-www-form-urlencoded` pairs, decoded (`+` is a space).
pub fn form_pairs(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k), decode(v))
        })
        .collect()
}

fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |j: usize| bytes.get(j).and_then(|b| (*b as char).to_digit(16));
        match (bytes[i], hex(i + 1), hex(i + 2)) {
            (b'%', Some(hi), Some(lo)) => {
                out.push((hi * 16 + lo) as u8);
                i += 3;
                continue;
            }
            (b'+', _, _) => out.push(b' '),
            (b, _, _) => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_decoding_and_token_removal() {
        assert_eq!(
            form_pairs("a=1&token=x%2By+z&b=%zz&c"),
            vec![
                ("a".into(), "1".into()),
                ("token".into(), "x+y z".into()),
                ("b".into(), "%zz".into()),
                ("c".into(), String::new()),
            ]
        );
        assert_eq!(token_param(Some("ns=a&token=abc")).as_deref(), Some("abc"));
        assert_eq!(without_token("/", Some("token=abc")), "/");
        assert_eq!(
            without_token("//evil.example/x", Some("ns=a&token=abc&q=b")),
            "/evil.example/x?ns=a&q=b"
        );
        assert_eq!(decode("%"), "%");
        assert_eq!(decode("%4"), "%4");
        assert_eq!(decode("%41"), "A");
    }

    #[test]
    fn cookie_and_token_checks() {
        let g = Gate::new("0123456789abcdef", 7878);
        assert!(g.token_ok("0123456789abcdef"));
        assert!(!g.token_ok("0123456789abcdeF"));
        let mut h = HeaderMap::new();
        assert!(!g.cookie_ok(&h));
        let set = g.set_cookie();
        let pair = set.to_str().unwrap().split(';').next().unwrap().to_owned();
        h.insert(
            header::COOKIE,
            HeaderValue::from_str(&format!("other=1; {pair}")).unwrap(),
        );
        assert!(g.cookie_ok(&h));
        let other = Gate::new("another-token-of-16", 7878);
        assert!(!other.cookie_ok(&h), "a new token voids old cookies");
    }
}
