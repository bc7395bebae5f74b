//! The facts tier: atomic declarative statements, bi-temporal, that
//! supersede each other instead of being overwritten.
//!
//! Two clocks. `valid_from`/`valid_to` say when a fact was true in the
//! world (a client may state `valid_from`; a supersession ends the old
//! fact's validity where the new one's begins). `recorded_at`/`retired_at`
//! say when memd believed it: `recorded_at` is set when the fact becomes
//! active (at creation, or when a candidate is promoted; a candidate or a
//! rejected fact has none), `retired_at` when it is superseded.
//!
//! What recall sees is a [`Belief`]: live facts (active, not retired), or
//! what memd holds was true in the world at an instant `T` (`as_of`):
//! facts valid then (`valid_from ≤ T < valid_to`, a missing `valid_to`
//! being the end of time) whose status is active or superseded — a
//! candidate was never believed, and a rejected fact never was. A fact
//! superseded by a change in the world answers for the time it held; one
//! replaced by a correction (an edit that keeps `valid_from`) ends where it
//! began and answers for no instant. A forgotten fact is gone from every
//! answer, `as_of` included. (`recorded_at`/`retired_at` stay on the row,
//! and in exports, for who believed what when.)
//!
//! The vector index keeps live facts in their namespace's fact partition
//! and superseded facts in a second, "retired" partition of the namespace:
//! a live recall scans only the first, so retired versions never crowd the
//! live ones out of the candidates; an `as_of` recall scans both and keeps
//! what the belief allows. Candidates and rejected facts are in neither.

mod read;
mod write;

use std::future::Future;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::items::{Tier, partition};
use super::quarantine::Screened;
use super::{Store, StoreError};

pub(crate) use read::{FACT_COLUMNS, fact_by_id, live_slot_holder, row_to_fact};
pub(crate) use read::{fact_embedding_backlog, pending_fact_embeddings};
pub(crate) use read::{facts_by_id, load_fact_vectors, search_facts, slot_facts};
pub(crate) use write::create as create_in;
pub(super) use write::forget as forget_row;
pub(crate) use write::set_fact_embeddings;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FactKind {
    UserProfile,
    Preference,
    Env,
    Project,
    Event,
    Other,
}

impl FactKind {
    pub const ALL: [FactKind; 6] = [
        FactKind::UserProfile,
        FactKind::Preference,
        FactKind::Env,
        FactKind::Project,
        FactKind::Event,
        FactKind::Other,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            FactKind::UserProfile => "user_profile",
            FactKind::Preference => "preference",
            FactKind::Env => "env",
            FactKind::Project => "project",
            FactKind::Event => "event",
            FactKind::Other => "other",
        }
    }

    pub fn parse(s: &str) -> Option<FactKind> {
        FactKind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FactStatus {
    /// Awaiting review: stored, never recalled.
    Candidate,
    Active,
    /// Replaced by a newer fact (`superseded_by`); kept for `as_of`.
    Superseded,
    /// A rejected candidate.
    Invalid,
}

impl FactStatus {
    pub const ALL: [FactStatus; 4] = [
        FactStatus::Candidate,
        FactStatus::Active,
        FactStatus::Superseded,
        FactStatus::Invalid,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            FactStatus::Candidate => "candidate",
            FactStatus::Active => "active",
            FactStatus::Superseded => "superseded",
            FactStatus::Invalid => "invalid",
        }
    }

    pub fn parse(s: &str) -> Option<FactStatus> {
        FactStatus::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// Which facts count as believed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Belief {
    /// Active and not retired: what memd believes now.
    Live,
    /// What memd holds was true in the world at this instant (unix ms).
    AsOf(i64),
}

impl Belief {
    pub fn of(as_of: Option<i64>) -> Belief {
        as_of.map_or(Belief::Live, Belief::AsOf)
    }

    /// The predicate on a fact (the SQL in [`Belief::clause`] is the same).
    pub fn holds(self, f: &Fact) -> bool {
        match self {
            Belief::Live => f.status == FactStatus::Active && f.retired_at.is_none(),
            Belief::AsOf(t) => {
                matches!(f.status, FactStatus::Active | FactStatus::Superseded)
                    && f.recorded_at.is_some()
                    && f.valid_from <= t
                    && f.valid_to.is_none_or(|v| t < v)
            }
        }
    }

    /// The predicate over the `facts` row aliased `f`; `?{param}` is bound
    /// to the instant (unused by `Live`, so always bind it).
    pub(crate) fn clause(self, param: usize) -> String {
        match self {
            Belief::Live => "f.status = 'active' AND f.retired_at IS NULL".to_owned(),
            Belief::AsOf(_) => format!(
                "f.status IN ('active', 'superseded') AND f.recorded_at IS NOT NULL \
                 AND f.valid_from <= ?{param} AND (f.valid_to IS NULL OR ?{param} < f.valid_to)"
            ),
        }
    }

    pub(crate) fn instant(self) -> i64 {
        match self {
            Belief::Live => 0,
            Belief::AsOf(t) => t,
        }
    }
}

/// The index partition of a namespace's superseded facts (see the module
/// docs); live facts are in `partition(Tier::Fact, namespace)`.
pub fn retired_fact_partition(namespace: &str) -> String {
    format!("fact-retired\u{1}{namespace}")
}

pub(crate) fn live_fact_partition(namespace: &str) -> String {
    partition(Tier::Fact, namespace)
}

/// A fact to create.
#[derive(Debug, Clone)]
pub struct NewFact {
    pub namespace: String,
    pub text: String,
    pub kind: FactKind,
    pub subject: Option<String>,
    pub entities: Vec<String>,
    pub slot: Option<String>,
    /// Lands as a candidate (review queue) rather than active.
    pub candidate: bool,
    pub confidence: f64,
    /// When it became true in the world; default: now.
    pub valid_from: Option<i64>,
    /// A JSON object: exchange ids, session, ext_ids, or the writing client.
    pub provenance: Value,
    /// A live fact of the same namespace that this one replaces.
    pub supersedes: Option<i64>,
    /// A vector of the current model (else the embedding queue makes one).
    pub embedding: Option<Vec<f32>>,
    /// The write firewall's verdict, stored with the row (None: clean).
    pub screen: Option<Screened>,
}

/// A new version of a live fact: unset fields keep the old version's value.
#[derive(Debug, Clone, Default)]
pub struct FactEdit {
    pub text: Option<String>,
    pub kind: Option<FactKind>,
    pub subject: Option<String>,
    pub entities: Option<Vec<String>>,
    pub slot: Option<String>,
    pub confidence: Option<f64>,
    pub valid_from: Option<i64>,
    pub provenance: Option<Value>,
    pub embedding: Option<Vec<f32>>,
    /// The firewall's verdict on a new `text`; with the text unchanged the
    /// old version's mark carries over.
    pub screen: Option<Screened>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Fact {
    pub id: i64,
    pub namespace: String,
    pub text: String,
    pub kind: FactKind,
    pub subject: Option<String>,
    pub entities: Vec<String>,
    pub slot: Option<String>,
    pub status: FactStatus,
    pub confidence: f64,
    pub reference_count: i64,
    pub last_referenced_at: Option<i64>,
    pub valid_from: i64,
    pub valid_to: Option<i64>,
    pub recorded_at: Option<i64>,
    pub retired_at: Option<i64>,
    pub superseded_by: Option<i64>,
    pub provenance: Value,
    pub created_at: i64,
    pub updated_at: i64,
    /// How many times it was stated (extraction folds duplicates into it).
    pub support: i64,
}

/// Which facts to list; newest first.
#[derive(Debug, Clone)]
pub struct FactFilter {
    pub namespace: String,
    pub status: Option<FactStatus>,
    pub kind: Option<FactKind>,
    pub subject: Option<String>,
    pub slot: Option<String>,
    /// What was believed at this instant (then `include_retired` is moot).
    pub as_of: Option<i64>,
    /// Without a status or `as_of`: superseded and rejected facts too (by
    /// default only active and candidate facts that are not retired).
    pub include_retired: bool,
    pub limit: usize,
    pub offset: usize,
}

/// A created (or edited) fact, and the one it retired.
#[derive(Debug, Clone)]
pub struct Created {
    pub fact: Fact,
    pub superseded: Option<Fact>,
    /// The firewall's mark on the new fact.
    pub screen: Option<Screened>,
}

/// A fact and its versions, oldest first (the fact itself among them).
#[derive(Debug, Clone)]
pub struct FactHistory {
    pub fact: Fact,
    pub chain: Vec<Fact>,
}

#[derive(Debug, Clone)]
pub struct Forgotten {
    pub id: i64,
    pub namespace: String,
    /// Older versions whose `superseded_by` named it (now cleared).
    pub unlinked: usize,
}

/// Why a fact operation was refused (nothing was written).
#[derive(Debug, Clone, PartialEq)]
pub enum FactRefusal {
    NotFound(i64),
    /// Only a live fact can be superseded or edited.
    NotLive {
        id: i64,
        status: FactStatus,
    },
    /// Only a candidate can be promoted or rejected.
    NotCandidate {
        id: i64,
        status: FactStatus,
    },
    /// The fact to supersede belongs to another namespace.
    OtherNamespace {
        id: i64,
        namespace: String,
    },
}

impl std::fmt::Display for FactRefusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FactRefusal::NotFound(id) => write!(f, "no fact {id}"),
            FactRefusal::NotLive { id, status } => write!(
                f,
                "fact {id} is {} (retired or not yet accepted); only a live fact can be superseded or edited",
                status.as_str()
            ),
            FactRefusal::NotCandidate { id, status } => write!(
                f,
                "fact {id} is {}; only a candidate can be promoted or rejected",
                status.as_str()
            ),
            FactRefusal::OtherNamespace { id, namespace } => {
                write!(f, "fact {id} belongs to namespace `{namespace}`")
            }
        }
    }
}

pub type FactResult<T> = Result<Result<T, FactRefusal>, StoreError>;

/// The facts tier's storage.
pub trait Facts {
    /// Creates a fact; with `supersedes`, retires that live fact in the
    /// same transaction (status superseded, `valid_to`, `retired_at`,
    /// `superseded_by`).
    fn create_fact(&self, fact: NewFact) -> impl Future<Output = FactResult<Created>> + Send;

    fn list_facts(
        &self,
        filter: FactFilter,
    ) -> impl Future<Output = Result<Vec<Fact>, StoreError>> + Send;

    /// The fact and its versions both ways along `superseded_by`.
    fn fact_history(
        &self,
        id: i64,
    ) -> impl Future<Output = Result<Option<FactHistory>, StoreError>> + Send;

    /// A new version of a live fact, superseding it.
    fn edit_fact(
        &self,
        id: i64,
        edit: FactEdit,
    ) -> impl Future<Output = FactResult<Created>> + Send;

    /// Candidate → active (`accept`) or invalid.
    fn review_fact(&self, id: i64, accept: bool) -> impl Future<Output = FactResult<Fact>> + Send;

    /// The one hard delete: the row, its FTS and index entries, and every
    /// `superseded_by` that named it; `None` if there was no such fact.
    fn forget_fact(
        &self,
        id: i64,
    ) -> impl Future<Output = Result<Option<Forgotten>, StoreError>> + Send;
}

impl Facts for Store {
    async fn create_fact(&self, fact: NewFact) -> FactResult<Created> {
        let namespace = fact.namespace.clone();
        let out = self.write(move |ctx| write::create(ctx, fact)).await?;
        if out.is_ok() {
            self.events()
                .publish(crate::events::MemdEvent::FactsWritten { namespace });
        }
        Ok(out)
    }

    async fn list_facts(&self, filter: FactFilter) -> Result<Vec<Fact>, StoreError> {
        self.read(move |c| read::list(c, &filter)).await
    }

    async fn fact_history(&self, id: i64) -> Result<Option<FactHistory>, StoreError> {
        self.read(move |c| read::history(c, id)).await
    }

    async fn edit_fact(&self, id: i64, edit: FactEdit) -> FactResult<Created> {
        let out = self.write(move |ctx| write::edit(ctx, id, edit)).await?;
        if let Ok(c) = &out {
            self.events()
                .publish(crate::events::MemdEvent::FactsWritten {
                    namespace: c.fact.namespace.clone(),
                });
        }
        Ok(out)
    }

    async fn review_fact(&self, id: i64, accept: bool) -> FactResult<Fact> {
        self.write(move |ctx| write::review(ctx, id, accept)).await
    }

    async fn forget_fact(&self, id: i64) -> Result<Option<Forgotten>, StoreError> {
        self.write(move |ctx| write::forget(ctx, id)).await
    }
}

#[cfg(test)]
mod tests;
