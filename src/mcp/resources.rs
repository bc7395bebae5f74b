//! The `memd://` resources: the namespace's consolidated tiers at fixed
//! URIs, a session's gist through a template. Each read is the daemon's
//! route for it, answered as the route's JSON.

use rmcp::model::{Resource, ResourceContents, ResourceTemplate};
use serde_json::Value;

use super::daemon::{Daemon, enc};
use super::error::DaemonError;
use super::tools::check_session;

const JSON: &str = "application/json";
pub const GIST_TEMPLATE: &str = "memd://sessions/{session_id}/gist";

/// The fixed resources: URI, name, description, and the route (without its
/// namespace query).
const FIXED: &[(&str, &str, &str, &str)] = &[
    (
        "memd://profile",
        "profile",
        "What memory knows about the user: a summary and facts with the sessions they come from.",
        "/v1/profile",
    ),
    (
        "memd://narrative",
        "narrative",
        "The story of the conversations so far, in a few paragraphs.",
        "/v1/narrative",
    ),
    (
        "memd://self",
        "self",
        "The agent's self-state: mood, reflections, open questions, drive levels.",
        "/v1/self",
    ),
    (
        "memd://eras",
        "eras",
        "Monthly digests of the conversations, oldest first.",
        "/v1/eras",
    ),
];

pub fn list() -> Vec<Resource> {
    FIXED
        .iter()
        .map(|(uri, name, description, _)| {
            Resource::new(*uri, *name)
                .with_description(*description)
                .with_mime_type(JSON)
        })
        .collect()
}

pub fn templates() -> Vec<ResourceTemplate> {
    vec![
        ResourceTemplate::new(GIST_TEMPLATE, "session gist")
            .with_description(
                "A conversation's gist: its summary, the statements it rests on and how far \
                 it reaches (written by the dream cycle).",
            )
            .with_mime_type(JSON),
    ]
}

/// Reads `uri` in namespace `ns`.
pub async fn read(daemon: &Daemon, ns: &str, uri: &str) -> Result<ResourceContents, DaemonError> {
    let value = if let Some((_, _, _, route)) = FIXED.iter().find(|(u, ..)| *u == uri) {
        daemon
            .get(&format!("{route}?namespace={}", enc(ns)))
            .await?
    } else if let Some(sid) = gist_session(uri) {
        gist(daemon, ns, &sid).await?
    } else {
        return Err(DaemonError::refused(
            "not_found",
            format!(
                "no resource `{uri}`; there are memd://profile, memd://narrative, memd://self, \
                 memd://eras and {GIST_TEMPLATE}"
            ),
        ));
    };
    let text =
        serde_json::to_string_pretty(&value).map_err(|e| DaemonError::Internal(e.to_string()))?;
    Ok(ResourceContents::text(text, uri).with_mime_type(JSON))
}

/// The session id in `memd://sessions/{id}/gist`, percent-decoded.
fn gist_session(uri: &str) -> Option<String> {
    let id = uri
        .strip_prefix("memd://sessions/")?
        .strip_suffix("/gist")?;
    let bytes = percent_decode(id)?;
    let sid = String::from_utf8(bytes).ok()?;
    (!sid.is_empty()).then_some(sid)
}

fn percent_decode(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len());
    let mut bytes = s.bytes();
    while let Some(b) = bytes.next() {
        if b == b'%' {
            let hex = [bytes.next()?, bytes.next()?];
            let hex = std::str::from_utf8(&hex).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
        } else {
            out.push(b);
        }
    }
    Some(out)
}

/// Gists are found by session id alone: the session's namespace is
/// checked first, so one of another namespace reads as missing while a
/// session of ours without a gist yet gets the daemon's hint.
async fn gist(daemon: &Daemon, ns: &str, sid: &str) -> Result<Value, DaemonError> {
    check_session(daemon, ns, sid).await?;
    daemon.get(&format!("/v1/sessions/{}/gist", enc(sid))).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gist_uris_name_their_session() {
        assert_eq!(
            gist_session("memd://sessions/chat-1/gist").as_deref(),
            Some("chat-1")
        );
        assert_eq!(
            gist_session("memd://sessions/a%2Fb/gist").as_deref(),
            Some("a/b")
        );
        assert_eq!(gist_session("memd://sessions//gist"), None);
        assert_eq!(gist_session("memd://sessions/x/gists"), None);
        assert_eq!(gist_session("memd://profile"), None);
    }

    #[test]
    fn every_fixed_resource_is_listed() {
        let uris: Vec<_> = list().into_iter().map(|r| r.uri).collect();
        assert_eq!(
            uris,
            [
                "memd://profile",
                "memd://narrative",
                "memd://self",
                "memd://eras"
            ]
        );
    }
}
