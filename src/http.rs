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
    let fail = |retry, message| Failure { retry, message };
    let mut req = agent.post(url).header("content-type", "application/json");
    if let Some(key) = api_key {
        req = req.header("authorization", &format!("Bearer {key}"));
    }
    let mut resp = req
        .send_json(body)
        .map_err(|e| fail(true, format!("POST {url}: {e}")))?;
    let status = resp.status().as_u16();
    let text = resp
        .body_mut()
        .with_config()
        .limit(limit)
        .read_to_string()
        .map_err(|e| fail(true, format!("reading the answer: {e}")))?;
    match status {
        200 => Ok(text),
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
