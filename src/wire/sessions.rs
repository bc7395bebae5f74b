//! Sessions and exchanges: remember, import, list, read, delete.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// `POST /v1/sessions/{sid}/exchanges`: one exchange.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExchangeIn {
    pub role: String,
    pub content: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ext_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Value>,
    /// A vector the client computed with the daemon's current model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub embedding: Option<Vec<f32>>,
}

/// `POST /v1/sessions/{sid}/exchanges` (201 stored, 200 a duplicate).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RememberOut {
    pub id: i64,
    pub session_id: String,
    pub namespace: String,
    pub created_at: String,
    pub duplicate: bool,
    /// The write firewall stored it out of recall until released.
    #[serde(default, skip_serializing_if = "super::is_false")]
    pub quarantined: bool,
    /// The write firewall named a class but the exchange is usable.
    #[serde(default, skip_serializing_if = "super::is_false")]
    pub flagged: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub firewall: Option<super::FirewallOut>,
}

/// `POST /v1/import`
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ImportOut {
    #[serde(default)]
    pub imported: u64,
    #[serde(default)]
    pub duplicates: u64,
    /// Lines stored but quarantined, stored and flagged, by the write firewall.
    #[serde(default)]
    pub quarantined: u64,
    #[serde(default)]
    pub flagged: u64,
    #[serde(default)]
    pub rejected: Vec<Rejected>,
}

/// A line of an import that was not stored, numbered from 1.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Rejected {
    pub line: u64,
    pub error: String,
    /// `firewall_rejected` when the write firewall refused the line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// The firewall's classes for such a line.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub classes: Vec<String>,
}

/// A session as lists show it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SessionOut {
    pub id: String,
    pub namespace: String,
    pub created_at: String,
    pub updated_at: String,
    pub exchanges: u64,
}

/// `GET /v1/sessions`
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SessionsOut {
    pub namespace: String,
    pub sessions: Vec<SessionOut>,
}

/// An exchange as the API shows it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ExchangeOut {
    pub id: i64,
    pub session_id: String,
    pub namespace: String,
    pub role: String,
    pub content: String,
    pub created_at: String,
    #[serde(default)]
    pub ext_id: Option<String>,
    #[serde(default)]
    pub metadata: Option<Value>,
}

/// `GET /v1/sessions/{sid}`: the session and its exchanges, oldest first.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HistoryOut {
    pub session: SessionOut,
    pub exchanges: Vec<ExchangeOut>,
}

/// `DELETE /v1/sessions/{sid}`
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DeletedOut {
    /// The session's id.
    pub deleted: String,
    pub namespace: String,
    pub exchanges: u64,
}
