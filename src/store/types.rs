//! Rows as the store reads and writes them.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    User,
    Assistant,
    System,
    Tool,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::User => "user",
            Role::Assistant => "assistant",
            Role::System => "system",
            Role::Tool => "tool",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        Some(match s {
            "user" => Role::User,
            "assistant" => Role::Assistant,
            "system" => Role::System,
            "tool" => Role::Tool,
            _ => return None,
        })
    }
}

pub const DEFAULT_NAMESPACE: &str = "default";

/// A validated exchange on its way in, already embedded.
#[derive(Debug, Clone)]
pub struct NewExchange {
    pub session_id: String,
    /// `None`: the session's namespace if it exists, else the default.
    pub namespace: Option<String>,
    pub role: Role,
    pub content: String,
    pub created_at: i64,
    pub ext_id: Option<String>,
    /// Serialised JSON object.
    pub metadata: Option<String>,
    pub embedding: Option<Vec<f32>>,
    /// The write firewall's verdict, stored with the row (None: clean).
    pub screen: Option<super::quarantine::Screened>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum InsertOutcome {
    Inserted {
        id: i64,
        namespace: String,
    },
    /// `(session_id, ext_id)` was already stored: nothing was written.
    Duplicate {
        id: i64,
        namespace: String,
    },
    /// The session exists in another namespace.
    NamespaceMismatch {
        existing: String,
    },
}

#[derive(Debug, Clone, Serialize)]
pub struct Exchange {
    pub id: i64,
    pub session_id: String,
    pub namespace: String,
    pub role: String,
    pub content: String,
    pub created_at: i64,
    pub ext_id: Option<String>,
    pub metadata: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SessionInfo {
    pub id: String,
    pub namespace: String,
    pub created_at: i64,
    pub updated_at: i64,
    pub exchanges: i64,
}

#[derive(Debug, Clone)]
pub struct DeletedSession {
    pub namespace: String,
    pub exchanges: usize,
}

#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Counts {
    pub sessions: i64,
    pub exchanges: i64,
}
