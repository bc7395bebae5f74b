//! What a written exchange must be: ids that display as what they are,
//! a known role, content and metadata within the configured limits, a
//! client vector of the current model's dimension.

use serde_json::Value;

use super::IngestError;
use crate::config::ApiConfig;
use crate::store::{NewExchange, Role};
use crate::time;
use crate::wire::ExchangeIn;

const MAX_ID_BYTES: usize = 256;
const MAX_NAMESPACE_BYTES: usize = 128;

fn invalid<T>(message: impl Into<String>) -> Result<T, IngestError> {
    Err(IngestError::Invalid(message.into()))
}

pub fn check_id(field: &str, id: &str) -> Result<(), IngestError> {
    if id.is_empty() || id.len() > MAX_ID_BYTES {
        return invalid(format!("`{field}` must be 1 to {MAX_ID_BYTES} bytes"));
    }
    refuse_deceptive(field, id)
}

/// Ids are shown to people: one that displays as something else is refused.
fn refuse_deceptive(field: &str, id: &str) -> Result<(), IngestError> {
    match crate::unicode::find_deceptive(id) {
        Some((c, why)) => invalid(format!(
            "`{field}` contains {why} (U+{:04X}); ids must display as what they are",
            c as u32
        )),
        None => Ok(()),
    }
}

pub fn check_namespace(ns: &str) -> Result<(), IngestError> {
    if ns.is_empty() || ns.len() > MAX_NAMESPACE_BYTES {
        return invalid(format!(
            "`namespace` must be 1 to {MAX_NAMESPACE_BYTES} bytes"
        ));
    }
    refuse_deceptive("namespace", ns)
}

/// Turns a wire exchange into a row (not yet embedded), or says why not.
pub fn exchange(
    session_id: String,
    x: ExchangeIn,
    limits: &ApiConfig,
    dim: usize,
) -> Result<NewExchange, IngestError> {
    check_id("session_id", &session_id)?;
    let Some(role) = Role::parse(&x.role) else {
        return invalid(format!(
            "`role` is `{}`; expected one of user, assistant, system, tool",
            x.role
        ));
    };
    if x.content.trim().is_empty() {
        return invalid("`content` must not be empty");
    }
    if x.content.len() > limits.max_content_bytes {
        return invalid(format!(
            "`content` is {} bytes; the limit is api.max_content_bytes = {}",
            x.content.len(),
            limits.max_content_bytes
        ));
    }
    let created_at = match &x.created_at {
        Some(s) => time::parse_rfc3339(s)
            .map_err(|e| IngestError::Invalid(format!("`created_at`: {e}")))?,
        None => time::now_ms(),
    };
    if let Some(ext) = &x.ext_id {
        check_id("ext_id", ext)?;
    }
    if let Some(ns) = &x.namespace {
        check_namespace(ns)?;
    }
    let metadata = match x.metadata {
        None | Some(Value::Null) => None,
        Some(v @ Value::Object(_)) => {
            let s = v.to_string();
            if s.len() > limits.max_metadata_bytes {
                return invalid(format!(
                    "`metadata` is {} bytes; the limit is api.max_metadata_bytes = {}",
                    s.len(),
                    limits.max_metadata_bytes
                ));
            }
            Some(s)
        }
        Some(_) => return invalid("`metadata` must be a JSON object"),
    };
    let embedding = x
        .embedding
        .map(|v| check_vector("embedding", v, dim))
        .transpose()?;
    Ok(NewExchange {
        session_id,
        namespace: x.namespace,
        role,
        content: x.content,
        created_at,
        ext_id: x.ext_id,
        metadata,
        embedding,
        screen: None,
    })
}

/// A client-supplied vector: the current model's dimension, finite, not
/// all zeros; returned L2-normalised like every stored vector.
pub fn check_vector(field: &str, mut v: Vec<f32>, dim: usize) -> Result<Vec<f32>, IngestError> {
    if v.len() != dim {
        return invalid(format!(
            "`{field}` has {} values; the current embedding model has {dim}",
            v.len()
        ));
    }
    if v.iter().any(|x| !x.is_finite()) || v.iter().all(|x| *x == 0.0) {
        return invalid(format!("`{field}` must be finite and not all zeros"));
    }
    // Scaled first, so huge values cannot overflow the norm and tiny ones
    // cannot underflow it; a vector that still is not unit length is refused.
    let max = v.iter().fold(0f32, |m, x| m.max(x.abs()));
    v.iter_mut().for_each(|x| *x /= max);
    crate::index::normalize(&mut v);
    let norm: f32 = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if !(norm - 1.0).abs().lt(&1e-3) {
        return invalid(format!("`{field}` cannot be normalised to unit length"));
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> ApiConfig {
        crate::config::Config::default().api
    }

    fn x(role: &str, content: &str) -> ExchangeIn {
        ExchangeIn {
            role: role.into(),
            content: content.into(),
            ..ExchangeIn::default()
        }
    }

    fn message(r: Result<NewExchange, IngestError>) -> String {
        match r {
            Err(IngestError::Invalid(m)) => m,
            other => panic!("expected Invalid, got {other:?}"),
        }
    }

    #[test]
    fn a_valid_exchange_becomes_a_row() {
        let row = exchange("s1".into(), x("user", "hello"), &limits(), 4).unwrap();
        assert_eq!(row.session_id, "s1");
        assert_eq!(row.content, "hello");
        assert!(row.embedding.is_none());
    }

    #[test]
    fn bad_fields_are_named() {
        let m = message(exchange("s1".into(), x("robot", "hi"), &limits(), 4));
        assert!(m.contains("`role` is `robot`"), "{m}");
        let m = message(exchange("s1".into(), x("user", "  "), &limits(), 4));
        assert!(m.contains("`content` must not be empty"), "{m}");
        let m = message(exchange(String::new(), x("user", "hi"), &limits(), 4));
        assert!(m.contains("`session_id` must be 1 to 256 bytes"), "{m}");
        let mut big = x("user", "hi");
        big.metadata = Some(serde_json::json!([1]));
        let m = message(exchange("s1".into(), big, &limits(), 4));
        assert!(m.contains("`metadata` must be a JSON object"), "{m}");
    }

    #[test]
    fn vectors_are_normalised_or_refused() {
        let v = check_vector("v", vec![3.0, 4.0], 2).unwrap();
        assert!((v[0] - 0.6).abs() < 1e-6 && (v[1] - 0.8).abs() < 1e-6);
        assert!(check_vector("v", vec![1.0], 2).is_err());
        assert!(check_vector("v", vec![0.0, 0.0], 2).is_err());
        assert!(check_vector("v", vec![f32::NAN, 1.0], 2).is_err());
        assert!(check_vector("v", vec![f32::MAX, f32::MAX], 2).is_ok());
    }
}
