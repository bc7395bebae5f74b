//! The offline consolidator: no model beyond the embedder.
//!
//! - gists: centrality + MMR over the session's sentences (each sentence's
//!   similarity to the session's mean vector, minus its redundancy with what
//!   is already chosen), kept in conversation order under a length budget,
//!   with a header naming the speakers and the date;
//! - eras: the same selection over a month's gists;
//! - profile: first-person statements found by rules (I am / I like / I
//!   work / my X is …), counted over sessions with their last-seen date;
//! - narrative: eras and recency (the latest month, what recurs across
//!   months, callbacks from earlier months);
//! - self-state: reflections from novelty (new names and topics, recurring
//!   ones, questions left unanswered).

mod gist;
mod mmr;
mod narrative;
mod profile;
mod reflect;
mod third_person;

pub use gist::{era, gist, lead};
pub use mmr::select;
pub use narrative::{narrative, top_words};
pub use profile::{StandingFact, Statement, profile, statements};
pub use reflect::{ReflectInput, Reflection, open_questions, reflect};
pub use third_person::{conjugate, third_person};

#[cfg(test)]
mod fixtures {
    use crate::dream::text::Turn;

    pub(super) fn turns(lines: &[&str]) -> Vec<Turn> {
        lines
            .iter()
            .enumerate()
            .map(|(i, l)| Turn::new(i as i64 + 1, "user", l, None, 1_683_554_160_000 + i as i64))
            .collect()
    }
}
