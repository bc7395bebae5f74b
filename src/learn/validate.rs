//! What a written fact must be, by the write path's rules: ids and names
//! that display as what they are, a known kind and status, text within the
//! content limit, RFC 3339 instants, a client vector of the current model.

use serde_json::{Map, Value, json};

use super::FactError;
use crate::config::ApiConfig;
use crate::ingest::{IngestError, check_id, check_namespace, check_vector};
use crate::store::{DEFAULT_NAMESPACE, FactEdit, FactKind, FactStatus, NewFact};
use crate::wire::{FactEditIn, FactIn, ProvenanceIn};

/// Most entities one fact may name, and most ids its provenance may list.
const MAX_ENTITIES: usize = 64;
const MAX_PROVENANCE_IDS: usize = 1000;

fn invalid<T>(message: impl Into<String>) -> Result<T, FactError> {
    Err(FactError::Invalid(message.into()))
}

impl From<IngestError> for FactError {
    fn from(e: IngestError) -> Self {
        match e {
            IngestError::Invalid(m) | IngestError::Conflict(m) => FactError::Invalid(m),
            IngestError::Rejected(r) => FactError::Rejected(r),
            IngestError::Store(s) => FactError::Store(s),
            IngestError::Internal(m) => FactError::Internal(m),
        }
    }
}

pub fn parse_kind(s: &str) -> Result<FactKind, FactError> {
    FactKind::parse(s).ok_or_else(|| {
        let all: Vec<&str> = FactKind::ALL.iter().map(|k| k.as_str()).collect();
        FactError::Invalid(format!(
            "unknown fact kind `{s}`; kinds are {}",
            all.join(", ")
        ))
    })
}

pub fn parse_status(s: &str) -> Result<FactStatus, FactError> {
    FactStatus::parse(s).ok_or_else(|| {
        let all: Vec<&str> = FactStatus::ALL.iter().map(|k| k.as_str()).collect();
        FactError::Invalid(format!(
            "unknown fact status `{s}`; statuses are {}",
            all.join(", ")
        ))
    })
}

/// An RFC 3339 instant in unix ms, the error naming `field`.
pub fn parse_instant(field: &str, s: &str) -> Result<i64, FactError> {
    crate::time::parse_rfc3339(s).map_err(|e| FactError::Invalid(format!("`{field}`: {e}")))
}

fn text(t: &str, limits: &ApiConfig) -> Result<(), FactError> {
    if t.trim().is_empty() {
        return invalid("`text` must not be empty");
    }
    if t.len() > limits.max_content_bytes {
        return invalid(format!(
            "`text` is {} bytes; the limit is api.max_content_bytes = {}",
            t.len(),
            limits.max_content_bytes
        ));
    }
    Ok(())
}

fn confidence(c: f64) -> Result<f64, FactError> {
    if (0.0..=1.0).contains(&c) {
        Ok(c)
    } else {
        invalid("`confidence` must be between 0 and 1")
    }
}

/// A slot is a normalised attribute name: trimmed and lower-cased, so
/// `Residence` and `residence ` name the same slot.
fn slot(s: String) -> Result<String, FactError> {
    let s = s.trim().to_lowercase();
    check_id("slot", &s)?;
    Ok(s)
}

fn subject(s: String) -> Result<String, FactError> {
    let s = s.trim().to_owned();
    check_id("subject", &s)?;
    Ok(s)
}

fn entities(list: Vec<String>) -> Result<Vec<String>, FactError> {
    if list.len() > MAX_ENTITIES {
        return invalid(format!("`entities` may name at most {MAX_ENTITIES}"));
    }
    let mut out: Vec<String> = Vec::with_capacity(list.len());
    for e in list {
        let e = e.trim().to_owned();
        check_id("entities", &e)?;
        if !out.contains(&e) {
            out.push(e);
        }
    }
    Ok(out)
}

fn provenance(p: Option<ProvenanceIn>) -> Result<Value, FactError> {
    let Some(p) = p else {
        return Ok(json!({}));
    };
    let mut out = Map::new();
    if let Some(ids) = p.exchange_ids {
        if ids.len() > MAX_PROVENANCE_IDS {
            return invalid(format!(
                "`provenance.exchange_ids` may list at most {MAX_PROVENANCE_IDS}"
            ));
        }
        if ids.iter().any(|id| *id <= 0) {
            return invalid("`provenance.exchange_ids` must be positive exchange ids");
        }
        out.insert("exchange_ids".into(), json!(ids));
    }
    if let Some(sid) = p.session_id {
        check_id("provenance.session_id", &sid)?;
        out.insert("session_id".into(), json!(sid));
    }
    if let Some(ext) = p.ext_ids {
        if ext.len() > MAX_PROVENANCE_IDS {
            return invalid(format!(
                "`provenance.ext_ids` may list at most {MAX_PROVENANCE_IDS}"
            ));
        }
        for e in &ext {
            check_id("provenance.ext_ids", e)?;
        }
        out.insert("ext_ids".into(), json!(ext));
    }
    if let Some(c) = p.client {
        check_id("provenance.client", &c)?;
        out.insert("client".into(), json!(c));
    }
    Ok(Value::Object(out))
}

/// Turns a wire fact into a fact to store (not yet embedded), or says why not.
pub(super) fn new_fact(f: FactIn, limits: &ApiConfig, dim: usize) -> Result<NewFact, FactError> {
    text(&f.text, limits)?;
    let namespace = f.namespace.unwrap_or_else(|| DEFAULT_NAMESPACE.to_owned());
    check_namespace(&namespace)?;
    let kind = match &f.kind {
        Some(k) => parse_kind(k)?,
        None => FactKind::Other,
    };
    let candidate = match f.status.as_deref().map(parse_status).transpose()? {
        None | Some(FactStatus::Active) => false,
        Some(FactStatus::Candidate) => true,
        Some(s) => {
            return invalid(format!(
                "a new fact is active or candidate, not {}",
                s.as_str()
            ));
        }
    };
    if candidate && f.supersedes.is_some() {
        return invalid(
            "a candidate cannot supersede a fact; create it active, or promote it and then edit",
        );
    }
    let valid_from = f
        .valid_from
        .as_deref()
        .map(|s| parse_instant("valid_from", s))
        .transpose()?;
    Ok(NewFact {
        namespace,
        text: f.text,
        kind,
        subject: f.subject.map(subject).transpose()?,
        entities: entities(f.entities.unwrap_or_default())?,
        slot: f.slot.map(slot).transpose()?,
        candidate,
        confidence: confidence(f.confidence.unwrap_or(1.0))?,
        valid_from,
        provenance: provenance(f.provenance)?,
        supersedes: f.supersedes,
        embedding: f
            .embedding
            .map(|v| check_vector("embedding", v, dim))
            .transpose()?,
        screen: None,
    })
}

pub(super) fn edit(e: FactEditIn, limits: &ApiConfig, dim: usize) -> Result<FactEdit, FactError> {
    if let Some(t) = &e.text {
        text(t, limits)?;
    }
    Ok(FactEdit {
        text: e.text,
        kind: e.kind.as_deref().map(parse_kind).transpose()?,
        subject: e.subject.map(subject).transpose()?,
        entities: e.entities.map(entities).transpose()?,
        slot: e.slot.map(slot).transpose()?,
        confidence: e.confidence.map(confidence).transpose()?,
        valid_from: e
            .valid_from
            .as_deref()
            .map(|s| parse_instant("valid_from", s))
            .transpose()?,
        provenance: e.provenance.map(|p| provenance(Some(p))).transpose()?,
        embedding: e
            .embedding
            .map(|v| check_vector("embedding", v, dim))
            .transpose()?,
        screen: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> ApiConfig {
        crate::config::Config::default().api
    }

    fn message(r: Result<NewFact, FactError>) -> String {
        match r {
            Err(FactError::Invalid(m)) => m,
            other => panic!("expected Invalid, got {other:?}"),
        }
    }

    fn fact(text: &str) -> FactIn {
        FactIn {
            text: text.into(),
            ..FactIn::default()
        }
    }

    #[test]
    fn a_valid_fact_is_normalised() {
        let mut f = fact("Alice lives in Porto");
        f.kind = Some("user_profile".into());
        f.slot = Some(" Residence ".into());
        f.entities = Some(vec!["Porto".into(), "Porto".into()]);
        f.valid_from = Some("2024-05-01T00:00:00Z".into());
        let n = new_fact(f, &limits(), 4).unwrap();
        assert_eq!(n.kind, FactKind::UserProfile);
        assert_eq!(n.slot.as_deref(), Some("residence"));
        assert_eq!(n.entities, vec!["Porto"]);
        assert_eq!(n.namespace, "default");
        assert!(!n.candidate);
        assert_eq!(n.valid_from, Some(1_714_521_600_000));
    }

    #[test]
    fn bad_fields_are_named() {
        let mut f = fact("x");
        f.kind = Some("opinion".into());
        assert!(message(new_fact(f, &limits(), 4)).contains("unknown fact kind `opinion`"));
        let mut f = fact("x");
        f.valid_from = Some("yesterday".into());
        assert!(message(new_fact(f, &limits(), 4)).contains("`valid_from`"));
        assert!(message(new_fact(fact(" "), &limits(), 4)).contains("`text` must not be empty"));
        let mut f = fact("x");
        f.status = Some("superseded".into());
        assert!(message(new_fact(f, &limits(), 4)).contains("active or candidate"));
        let mut f = fact("x");
        f.status = Some("candidate".into());
        f.supersedes = Some(3);
        assert!(message(new_fact(f, &limits(), 4)).contains("candidate cannot supersede"));
        let mut f = fact("x");
        f.confidence = Some(1.5);
        assert!(message(new_fact(f, &limits(), 4)).contains("`confidence`"));
        let mut f = fact("x");
        f.embedding = Some(vec![1.0]);
        assert!(message(new_fact(f, &limits(), 4)).contains("`embedding`"));
    }
}
