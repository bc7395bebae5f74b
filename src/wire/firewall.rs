//! The write firewall's part of the API: what a write's answer says about
//! its text, the quarantine list, and the counts in status.

use serde::{Deserialize, Serialize};

/// The classes the scanner found in a stored text and why.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FirewallOut {
    pub classes: Vec<String>,
    pub reason: String,
}

/// One marked row of `GET /v1/quarantine`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QuarantinedOut {
    pub tier: String,
    pub id: i64,
    pub namespace: String,
    /// `quarantined` (kept out of recall) or `flagged` (usable).
    pub mark: String,
    pub classes: Vec<String>,
    pub reason: String,
    pub created_at: String,
    /// The row's text; absent if the row is gone meanwhile.
    #[serde(default)]
    pub text: Option<String>,
}

/// `GET /v1/quarantine?namespace=&mark=&limit=`
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct QuarantineOut {
    pub rows: Vec<QuarantinedOut>,
}

/// `POST /v1/quarantine/{tier}/{id}/release`, `DELETE /v1/quarantine/{tier}/{id}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuarantineActionOut {
    pub tier: String,
    pub id: i64,
    /// `released` or `dropped`.
    pub action: String,
}

/// The firewall's counts in status: texts scanned and what came of them
/// since the daemon started, and rows marked now.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FirewallStatusOut {
    pub enabled: bool,
    pub scanned: u64,
    pub flagged: u64,
    pub quarantined: u64,
    pub rejected: u64,
    /// Rows held in quarantine now.
    pub held: u64,
    /// Rows stored flagged now.
    pub flagged_rows: u64,
}
