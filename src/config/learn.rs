//! `[learn]`: how memd learns from what it sees — facts extracted from
//! conversations by the dream cycle, and reinforcement of facts by the
//! interactions clients record.

use serde::{Deserialize, Serialize};

use super::check::{Check, between, ensure, first, fraction};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct LearnConfig {
    /// Whether a recorded interaction may reinforce facts at all.
    pub reinforce: bool,
    /// Confidence a fact gains when a response echoes it (capped at 1.0).
    pub reinforce_step: f64,
    /// Facts whose normalised text is shorter than this never count as
    /// echoed: short texts ("likes tea") turn up by chance.
    pub echo_min_chars: usize,
    /// The leading part of a fact's normalised text (cut back to a whole
    /// word) that the response must contain.
    pub echo_window_chars: usize,
    /// Whether the dream cycle extracts facts from conversations.
    pub extract: bool,
    /// How extracted facts land: active, or candidates awaiting review.
    pub extract_as: ExtractAs,
    /// Unslotted facts kept per session and pass (slotted ones are never
    /// capped): the turns with the most content win.
    pub extract_per_session: usize,
    /// Turns per LLM call (openai provider).
    pub extract_batch_turns: usize,
    /// Live facts of the same speakers shown to the LLM with each batch.
    pub extract_context_facts: usize,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum ExtractAs {
    Active,
    Candidate,
}

impl Default for LearnConfig {
    fn default() -> Self {
        Self {
            reinforce: true,
            reinforce_step: 0.05,
            echo_min_chars: 12,
            echo_window_chars: 48,
            extract: true,
            extract_as: ExtractAs::Active,
            extract_per_session: 12,
            extract_batch_turns: 40,
            extract_context_facts: 40,
        }
    }
}

impl LearnConfig {
    pub(super) fn validate(&self) -> Check {
        first([
            fraction("learn.reinforce_step", self.reinforce_step),
            between("learn.echo_min_chars", self.echo_min_chars, 1, 10_000),
            between("learn.echo_window_chars", self.echo_window_chars, 1, 10_000),
            between(
                "learn.extract_per_session",
                self.extract_per_session,
                0,
                10_000,
            ),
            between(
                "learn.extract_batch_turns",
                self.extract_batch_turns,
                1,
                1_000,
            ),
            between(
                "learn.extract_context_facts",
                self.extract_context_facts,
                0,
                1_000,
            ),
            ensure(
                "learn.echo_window_chars",
                self.echo_window_chars >= self.echo_min_chars,
                "must be at least learn.echo_min_chars",
            ),
        ])
    }
}
