//! The API's request and response bodies as types, shared by the routes
//! (which deserialize the requests), `memd ctl` (which sends the requests
//! and renders the responses) and anyone else talking to the daemon.
//!
//! Requests are the structs the routes read, so a field added on one side
//! exists on the other. Responses are typed as far as clients read them;
//! what a route builds as loose JSON (actions of a dream pass, a self-state)
//! stays a [`serde_json::Value`] here, and the large status answer keeps its
//! other parts in a flattened map.
//!
//! Optional request fields that are unset are left out when serialized, so
//! a client never sends more than it means to.

mod dream;
mod facts;
mod firewall;
mod interactions;
mod recall;
mod sessions;
mod sources;
mod system;

pub use dream::*;
pub use facts::*;
pub use firewall::*;
pub use interactions::*;
pub use recall::*;
pub use sessions::*;
pub use sources::*;
pub use system::*;

use serde::{Deserialize, Serialize};

fn is_false(b: &bool) -> bool {
    !*b
}

/// Any non-2xx answer: `{"error": {"code", "message"}}`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ErrorOut {
    #[serde(default)]
    pub error: ErrorDetail,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ErrorDetail {
    #[serde(default)]
    pub code: Option<String>,
    #[serde(default)]
    pub message: Option<String>,
}

/// Why a body (or an NDJSON line) was refused before any field was looked at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BodyError {
    /// Not JSON at all.
    Malformed(String),
    /// JSON of the wrong shape: not an object, a missing or unknown field.
    BadField(String),
}

impl BodyError {
    pub fn message(&self) -> &str {
        match self {
            BodyError::Malformed(m) | BodyError::BadField(m) => m,
        }
    }
}

/// Parses a request body (or an NDJSON line) that must be a JSON object:
/// serde would otherwise read an array into a struct by position.
pub fn parse_object<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, BodyError> {
    let first = bytes.iter().find(|b| !b.is_ascii_whitespace());
    if first.is_some_and(|b| *b != b'{') {
        return Err(
            match serde_json::from_slice::<serde::de::IgnoredAny>(bytes) {
                Ok(_) => BodyError::BadField("the request body must be a JSON object".into()),
                Err(e) => BodyError::Malformed(format!("request body is not valid JSON: {e}")),
            },
        );
    }
    serde_json::from_slice(bytes).map_err(|e| {
        use serde_json::error::Category;
        match e.classify() {
            Category::Data => BodyError::BadField(e.to_string()),
            _ => BodyError::Malformed(format!("request body is not valid JSON: {e}")),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn unset_request_fields_are_left_out() {
        let x = ExchangeIn {
            role: "user".into(),
            content: "hi".into(),
            ..ExchangeIn::default()
        };
        assert_eq!(
            serde_json::to_value(&x).unwrap(),
            json!({"role": "user", "content": "hi"})
        );
        let r = RecallIn {
            query: "q".into(),
            k: Some(3),
            ..RecallIn::default()
        };
        assert_eq!(
            serde_json::to_value(&r).unwrap(),
            json!({"query": "q", "k": 3})
        );
    }

    #[test]
    fn a_patch_tells_null_text_from_no_text() {
        let clear = PatchIn {
            text: Some(None),
            ..PatchIn::default()
        };
        let v = serde_json::to_value(&clear).unwrap();
        assert_eq!(v, json!({"text": null, "restore": false}));
        let back: PatchIn = serde_json::from_value(v).unwrap();
        assert_eq!(back.text, Some(None));
        let none: PatchIn = serde_json::from_value(json!({"restore": true})).unwrap();
        assert_eq!(none.text, None);
    }

    #[test]
    fn context_item_ids_are_rows_or_names() {
        let item: ContextItem = serde_json::from_value(
            json!({"tier": "profile", "id": "default", "text": "t", "path": "a.md"}),
        )
        .unwrap();
        assert_eq!(item.id, ItemId::Name("default".into()));
        assert_eq!(item.attrs["path"], "a.md");
        let item: ContextItem =
            serde_json::from_value(json!({"tier": "exchange", "id": 7, "text": "t"})).unwrap();
        assert_eq!(item.id.to_string(), "7");
    }

    #[test]
    fn request_structs_refuse_unknown_fields() {
        assert!(serde_json::from_value::<DreamIn>(json!({"forse": true})).is_err());
        assert!(serde_json::from_value::<SyncIn>(json!({"full": true})).is_ok());
    }
}
