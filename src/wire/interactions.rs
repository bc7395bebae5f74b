//! Interactions and reinforcement: `/v1/interactions`,
//! `/v1/facts/{id}/interactions`, and `why`: `/v1/why/{tier}/{id}`.

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

use super::{FactOut, ItemId};

/// One entry of a context pack's `ids`, as the pack returned it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContextIdIn {
    pub tier: String,
    pub id: ItemId,
}

/// Each entry must be an object: serde would read `["fact", 7]` by position.
fn objects<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<ContextIdIn>, D::Error> {
    Option::<Vec<Value>>::deserialize(d)?
        .unwrap_or_default()
        .into_iter()
        .map(|v| match v {
            Value::Object(_) => serde_json::from_value(v).map_err(D::Error::custom),
            _ => Err(D::Error::custom(
                "`context_ids` entries must be objects {\"tier\", \"id\"}",
            )),
        })
        .collect()
}

/// `POST /v1/interactions`
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InteractionIn {
    pub prompt: String,
    pub response: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
    /// The `ids` of the context pack the prompt was given.
    #[serde(
        default,
        deserialize_with = "objects",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub context_ids: Vec<ContextIdIn>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client: Option<String>,
}

/// A recorded interaction; times are RFC 3339.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InteractionOut {
    pub id: i64,
    pub namespace: String,
    #[serde(default)]
    pub session_id: Option<String>,
    #[serde(default)]
    pub client: Option<String>,
    pub prompt: String,
    pub response: String,
    #[serde(default)]
    pub context_ids: Value,
    /// Facts this interaction reinforced.
    #[serde(default)]
    pub reinforced: Vec<i64>,
    pub created_at: String,
}

/// A fact the response echoed, after its reinforcement.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReinforcedOut {
    pub fact_id: i64,
    pub confidence: f64,
    pub reference_count: i64,
    pub last_referenced_at: String,
}

/// A fact of the pack that did not move, and why: `not_echoed`,
/// `too_short`, `candidate`, `superseded`, `invalid`, `other_namespace`,
/// `not_found`, `no_longer_live` or `reinforcement_off`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NotReinforcedOut {
    pub fact_id: i64,
    pub reason: String,
}

/// `POST /v1/interactions`
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct InteractionRecordedOut {
    pub interaction: InteractionOut,
    #[serde(default)]
    pub reinforced: Vec<ReinforcedOut>,
    #[serde(default)]
    pub not_reinforced: Vec<NotReinforcedOut>,
}

/// `GET /v1/interactions`, newest first.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct InteractionsOut {
    pub namespace: String,
    pub interactions: Vec<InteractionOut>,
}

/// `GET /v1/facts/{id}/interactions`: those whose pack held the fact or
/// that reinforced it, newest first.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FactInteractionsOut {
    pub fact_id: i64,
    pub interactions: Vec<InteractionOut>,
}

/// An exchange as `why` shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WhyExchangeOut {
    pub id: i64,
    pub namespace: String,
    pub session_id: String,
    pub role: String,
    pub content: String,
    #[serde(default)]
    pub ext_id: Option<String>,
    pub created_at: String,
}

/// `GET /v1/why/{tier}/{id}`: where a fact or an exchange came from, and
/// every recorded interaction that used it, newest first.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WhyOut {
    pub tier: String,
    pub id: i64,
    /// The fact (its `provenance` says where it came from).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fact: Option<FactOut>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exchange: Option<WhyExchangeOut>,
    /// For an exchange: the facts whose provenance names it.
    #[serde(default)]
    pub facts: Vec<FactOut>,
    pub interactions: Vec<InteractionOut>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn context_ids_are_objects_with_known_fields() {
        let ok: InteractionIn = serde_json::from_value(json!({
            "prompt": "p", "response": "r",
            "context_ids": [{"tier": "fact", "id": 7}, {"tier": "profile", "id": "default"}]
        }))
        .unwrap();
        assert_eq!(ok.context_ids[0].id, ItemId::Row(7));
        assert_eq!(ok.context_ids[1].id, ItemId::Name("default".into()));
        for bad in [
            json!({"prompt": "p", "response": "r", "context_ids": [["fact", 7]]}),
            json!({"prompt": "p", "response": "r", "context_ids": [{"tier": "fact", "id": 7, "x": 1}]}),
            json!({"prompt": "p", "response": "r", "context_ids": [{"tier": "fact"}]}),
            json!({"prompt": "p", "response": "r", "context_ids": {"tier": "fact", "id": 1}}),
            json!({"response": "r"}),
            json!({"prompt": "p", "response": "r", "colour": 1}),
        ] {
            assert!(
                serde_json::from_value::<InteractionIn>(bad.clone()).is_err(),
                "{bad}"
            );
        }
    }
}
