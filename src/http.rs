//! The JSON-over-HTTP call both OpenAI-compatible clients make (embeddings
//! and chat): one POST with an optional bearer key, the answer read whole,
//! and the failures worth another try told apart from the others.

use std::time::Duration;

/// Whether a failed call is worth another try, and why it failed.
pub struct Failure {
    pub retry: bool,
    pub message: String,
}

/// POSTs `body`; the answer's text when the status is 200. Connection
/// errors, unreadable answers, 429 and 5xx are retryable; other statuses
/// are not.
pub fn post_json(
    agent: &ureq::Agent,
    url: &str,
    api_key: Option<&str>,
    body: &serde_json::Value,
    limit: u64,
) -> Result<String, Failure> {
    // Whatever comes back may echo the request (a proxy's error page, a
    // debugging endpoint, a model repeating its input): the key must never
    // reach the log, a run record or the database from there.
    let scrub = |text: &str| redact(text, api_key);
    let fail = |retry, message: String| Failure {
        retry,
        message: scrub(&message),
    };
    let shown_url = redact_userinfo(url);
    let mut req = agent.post(url).header("content-type", "application/json");
    if let Some(key) = api_key {
        req = req.header("authorization", &format!("Bearer {key}"));
    }
    let mut resp = req
        .send_json(body)
        .map_err(|e| fail(true, redact_userinfo(&format!("POST {shown_url}: {e}"))))?;
    let status = resp.status().as_u16();
    let text = resp
        .body_mut()
        .with_config()
        .limit(limit)
        .read_to_string()
        .map_err(|e| fail(true, format!("reading the answer: {e}")))?;
    match status {
        200 => Ok(scrub(&text)),
        429 | 500.. => Err(fail(true, format!("HTTP {status}: {}", snippet(&text)))),
        _ => Err(fail(false, format!("HTTP {status}: {}", snippet(&text)))),
    }
}

/// Calls `f` until it succeeds, fails for good, or `max_retries` retries
/// (waits `base`, 2·`base`, 4·`base`, …) are spent. Blocking.
pub fn with_retries<T, E: std::fmt::Display>(
    max_retries: u32,
    base: Duration,
    what: &str,
    mut f: impl FnMut() -> Result<T, (bool, E)>,
) -> Result<T, E> {
    let mut attempt = 0;
    loop {
        match f() {
            Ok(v) => return Ok(v),
            Err((true, e)) if attempt < max_retries => {
                let wait = base * 2u32.pow(attempt);
                tracing::warn!(error = %e, attempt = attempt + 1, wait_ms = wait.as_millis() as u64, "{what} failed; retrying");
                std::thread::sleep(wait);
                attempt += 1;
            }
            Err((_, e)) => return Err(e),
        }
    }
}

/// The start of an answer, for error messages.
pub fn snippet(body: &str) -> String {
    let s: String = body.chars().take(300).collect();
    s.replace('\n', " ")
}

/// `text` with every occurrence of `key` replaced (keys shorter than 8
/// characters are not searched for: they would match ordinary words).
pub fn redact(text: &str, key: Option<&str>) -> String {
    match key {
        Some(k) if k.len() >= 8 && text.contains(k) => text.replace(k, "[redacted]"),
        _ => text.to_owned(),
    }
}

/// `text` with the `user:password@` of any URL in it removed.
pub fn redact_userinfo(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("://") {
        let (head, tail) = rest.split_at(i + 3);
        out.push_str(head);
        let end = tail
            .find(|c: char| c == '/' || c.is_whitespace())
            .unwrap_or(tail.len());
        let authority = &tail[..end];
        match authority.rfind('@') {
            Some(at) => {
                out.push_str("[redacted]@");
                out.push_str(&authority[at + 1..]);
            }
            None => out.push_str(authority),
        }
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_url_credentials_are_redacted() {
        let key = "sk-test-0123456789";
        assert_eq!(
            redact(
                "error: bad header Authorization: Bearer sk-test-0123456789",
                Some(key)
            ),
            "error: bad header Authorization: Bearer [redacted]"
        );
        assert_eq!(redact("nothing here", Some(key)), "nothing here");
        assert_eq!(redact("short key abc", Some("abc")), "short key abc");
        assert_eq!(
            redact_userinfo("POST http://bob:hunter2@127.0.0.1:8080/v1/chat: refused"),
            "POST http://[redacted]@127.0.0.1:8080/v1/chat: refused"
        );
        assert_eq!(
            redact_userinfo("http://127.0.0.1/x@y"),
            "http://127.0.0.1/x@y"
        );
    }
}
