//! How memd learns: the facts tier's write path (validation, inline
//! embedding, supersession, review, forget) and the API's view of a fact.
//! Interactions ([`interactions`]) are recorded here too, reinforcing the
//! facts their responses echo ([`echo`]). The vocabulary of slots
//! (`crate::slots`) is shared by extraction in the dream cycle (which fills
//! them) and recall (which asks about them). Routes parse the HTTP request, call this, and map
//! [`FactError`].

pub mod echo;
mod interactions;
mod validate;

use std::sync::Arc;

use crate::config::{ApiConfig, FirewallConfig};
use crate::embed::Embedder;
use crate::screen::screen;
use crate::store::{Created, Fact, FactRefusal, Facts, Forgotten, Store, StoreError};
use crate::wire::{FactEditIn, FactIn, FactOut};

pub use interactions::{InteractionRecorder, MAX_CONTEXT_IDS, interaction_out};
pub use validate::{parse_instant, parse_kind, parse_status};

#[derive(Debug, thiserror::Error)]
pub enum FactError {
    /// The input breaks a rule; the message names the field.
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    NotFound(String),
    /// The fact is not in a state the operation applies to.
    #[error("{0}")]
    Conflict(String),
    /// The write firewall refused the text; nothing was stored.
    #[error("{0}")]
    Rejected(crate::screen::Rejected),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0}")]
    Internal(String),
}

impl From<FactRefusal> for FactError {
    fn from(r: FactRefusal) -> Self {
        match r {
            FactRefusal::NotFound(_) => FactError::NotFound(r.to_string()),
            _ => FactError::Conflict(r.to_string()),
        }
    }
}

/// The facts write path.
pub struct FactWriter {
    pub store: Store,
    pub embedder: Arc<dyn Embedder>,
    pub firewall: FirewallConfig,
}

impl FactWriter {
    pub async fn create(&self, body: FactIn, limits: &ApiConfig) -> Result<Created, FactError> {
        let mut fact = validate::new_fact(body, limits, self.embedder.dim())?;
        fact.screen = screen(&self.firewall, &fact.text).map_err(FactError::Rejected)?;
        if fact.embedding.is_none() {
            fact.embedding = self.embed_inline(&fact.text).await?;
        }
        Ok(self.store.create_fact(fact).await??)
    }

    pub async fn edit(
        &self,
        id: i64,
        body: FactEditIn,
        limits: &ApiConfig,
    ) -> Result<Created, FactError> {
        let mut edit = validate::edit(body, limits, self.embedder.dim())?;
        // An edit that keeps the text keeps the old version's mark (the store
        // carries it over); a new text is screened afresh.
        if let Some(text) = &edit.text {
            edit.screen = screen(&self.firewall, text).map_err(FactError::Rejected)?;
        }
        if edit.embedding.is_none()
            && let Some(text) = &edit.text
        {
            edit.embedding = self.embed_inline(text).await?;
        }
        Ok(self.store.edit_fact(id, edit).await??)
    }

    pub async fn review(&self, id: i64, accept: bool) -> Result<Fact, FactError> {
        Ok(self.store.review_fact(id, accept).await??)
    }

    pub async fn forget(&self, id: i64) -> Result<Forgotten, FactError> {
        self.store
            .forget_fact(id)
            .await?
            .ok_or_else(|| FactError::NotFound(format!("no fact {id}")))
    }

    /// A vector now when the embedder is cheap (hashing), so the fact is
    /// found by vector as soon as it is acknowledged; otherwise the queue
    /// embeds it.
    async fn embed_inline(&self, text: &str) -> Result<Option<Vec<f32>>, FactError> {
        if !self.embedder.inline() {
            return Ok(None);
        }
        let (embedder, text) = (self.embedder.clone(), text.to_owned());
        let v = tokio::task::spawn_blocking(move || embedder.embed(&[text.as_str()]))
            .await
            .map_err(|e| FactError::Internal(format!("embedding task failed: {e}")))?;
        // A failing embedder leaves the fact to the queue, as for exchanges.
        Ok(v.ok().and_then(|mut v| v.pop()))
    }
}

/// A fact as the API shows it.
pub fn fact_out(f: &Fact) -> FactOut {
    use crate::time::to_rfc3339;
    FactOut {
        id: f.id,
        namespace: f.namespace.clone(),
        text: f.text.clone(),
        kind: f.kind.as_str().to_owned(),
        subject: f.subject.clone(),
        entities: f.entities.clone(),
        slot: f.slot.clone(),
        status: f.status.as_str().to_owned(),
        confidence: f.confidence,
        reference_count: f.reference_count,
        support: f.support,
        last_referenced_at: f.last_referenced_at.map(to_rfc3339),
        valid_from: to_rfc3339(f.valid_from),
        valid_to: f.valid_to.map(to_rfc3339),
        recorded_at: f.recorded_at.map(to_rfc3339),
        retired_at: f.retired_at.map(to_rfc3339),
        superseded_by: f.superseded_by,
        provenance: f.provenance.clone(),
        created_at: to_rfc3339(f.created_at),
        updated_at: to_rfc3339(f.updated_at),
    }
}
