//! The facts tier: `/v1/facts`.

use serde::de::{DeserializeOwned, Error as _};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

/// A nested object field, refused when it is anything but an object or
/// null: serde would read a JSON array into a struct by position.
fn object<'de, D: Deserializer<'de>, T: DeserializeOwned>(d: D) -> Result<Option<T>, D::Error> {
    match Option::<Value>::deserialize(d)? {
        None | Some(Value::Null) => Ok(None),
        Some(v @ Value::Object(_)) => serde_json::from_value(v)
            .map(Some)
            .map_err(D::Error::custom),
        Some(_) => Err(D::Error::custom("`provenance` must be a JSON object")),
    }
}

/// Where a fact came from. Every field is optional; a fact a client writes
/// by hand usually names only the client.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProvenanceIn {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exchange_ids: Option<Vec<i64>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ext_ids: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client: Option<String>,
}

/// `POST /v1/facts`
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FactIn {
    pub text: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// user_profile, preference, env, project, event or other (default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entities: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slot: Option<String>,
    /// active (default) or candidate (the review queue).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confidence: Option<f64>,
    /// RFC 3339: when the fact became true (default: now).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_from: Option<String>,
    /// The id of a live fact this one replaces.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub supersedes: Option<i64>,
    #[serde(
        default,
        deserialize_with = "object",
        skip_serializing_if = "Option::is_none"
    )]
    pub provenance: Option<ProvenanceIn>,
    /// A vector of the current model (else memd embeds the text).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub embedding: Option<Vec<f32>>,
}

/// `PATCH /v1/facts/{id}`: a new version of a live fact; unset fields keep
/// the old version's value.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FactEditIn {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entities: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slot: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confidence: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_from: Option<String>,
    #[serde(
        default,
        deserialize_with = "object",
        skip_serializing_if = "Option::is_none"
    )]
    pub provenance: Option<ProvenanceIn>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub embedding: Option<Vec<f32>>,
}

/// A fact as the API shows it; times are RFC 3339.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FactOut {
    pub id: i64,
    pub namespace: String,
    pub text: String,
    pub kind: String,
    #[serde(default)]
    pub subject: Option<String>,
    #[serde(default)]
    pub entities: Vec<String>,
    #[serde(default)]
    pub slot: Option<String>,
    pub status: String,
    pub confidence: f64,
    pub reference_count: i64,
    /// How many times it was stated (extracted repeats fold into it).
    #[serde(default = "one")]
    pub support: i64,
    #[serde(default)]
    pub last_referenced_at: Option<String>,
    pub valid_from: String,
    #[serde(default)]
    pub valid_to: Option<String>,
    /// When memd began to believe it (none: a candidate or a rejected fact).
    #[serde(default)]
    pub recorded_at: Option<String>,
    /// When memd stopped believing it (superseded).
    #[serde(default)]
    pub retired_at: Option<String>,
    #[serde(default)]
    pub superseded_by: Option<i64>,
    #[serde(default)]
    pub provenance: Value,
    pub created_at: String,
    pub updated_at: String,
}

/// `POST /v1/facts`, `PATCH /v1/facts/{id}`: the new fact, and the one it
/// superseded.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FactCreatedOut {
    pub fact: FactOut,
    #[serde(default)]
    pub superseded: Option<FactOut>,
    /// The write firewall kept the new fact out of recall until released.
    #[serde(default, skip_serializing_if = "super::is_false")]
    pub quarantined: bool,
    /// The write firewall named a class but the fact is usable.
    #[serde(default, skip_serializing_if = "super::is_false")]
    pub flagged: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub firewall: Option<super::FirewallOut>,
}

/// `GET /v1/facts`
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FactsOut {
    pub namespace: String,
    pub facts: Vec<FactOut>,
}

/// `GET /v1/facts/{id}`: the fact and every version of it, oldest first.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FactHistoryOut {
    pub fact: FactOut,
    pub history: Vec<FactOut>,
}

/// `POST /v1/facts/{id}/promote` and `/reject`
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FactReviewedOut {
    pub fact: FactOut,
}

/// `DELETE /v1/facts/{id}`
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FactForgottenOut {
    pub forgotten: i64,
    pub namespace: String,
    /// Older versions that named it as their successor (now unlinked).
    pub unlinked: usize,
}

fn one() -> i64 {
    1
}
