//! `[dream]` and `[dream.openai]`: the consolidation cycle.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::check::{Check, KeyError, at_least, between, ensure, first, fraction};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct DreamConfig {
    /// Run passes on the schedule and when idle (on-demand passes always work).
    pub enabled: bool,
    /// Cron expression with seconds (`sec min hour day month weekday`).
    pub schedule: String,
    /// Time zone of the schedule: `local` (the system's), `UTC`, or an IANA
    /// name such as `Europe/Berlin`.
    pub timezone: String,
    /// A pass starts after this many seconds without writes, if a drive is
    /// over its threshold; 0 turns the idle trigger off.
    pub idle_after_s: u64,
    /// A session is ripe once it has this many turns and no gist.
    pub min_turns: usize,
    /// A summarised session is ripe again after this many new turns.
    pub resummarise_after: usize,
    /// A session with any new turn is ripe after this long without one.
    pub session_idle_s: u64,
    /// Sessions summarised per pass (the rest wait for the next pass).
    pub max_sessions_per_pass: usize,
    /// A pass stops at the next safe point after this many seconds.
    pub max_pass_s: u64,
    /// Drive levels (0..1) over which the drive acts.
    pub continuity_threshold: f64,
    pub coherence_threshold: f64,
    pub curiosity_threshold: f64,
    /// Maintenance (ANALYZE, FTS optimize) runs when stability is above this.
    pub stability_threshold: f64,
    /// `extractive` (offline, no model) or `openai` (any OpenAI-compatible
    /// `/chat/completions` endpoint, configured in `[dream.openai]`).
    pub provider: DreamProvider,
    /// Target length of an extractive gist, in characters.
    pub gist_chars: usize,
    /// Target length of an era digest, in characters.
    pub era_chars: usize,
    /// Relevance vs. diversity in the extractive selection (1 = relevance only).
    pub mmr_lambda: f64,
    /// A session whose summary failed this many times is skipped until it
    /// gets new turns.
    pub max_attempts: u32,
    /// Run records kept per namespace (older ones are deleted).
    pub keep_runs: usize,
    pub openai: DreamOpenAiConfig,
}

impl Default for DreamConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            schedule: "0 0 3 * * *".into(),
            timezone: "local".into(),
            idle_after_s: 900,
            min_turns: 4,
            resummarise_after: 10,
            session_idle_s: 1800,
            max_sessions_per_pass: 50,
            max_pass_s: 120,
            continuity_threshold: 0.3,
            coherence_threshold: 0.3,
            curiosity_threshold: 0.3,
            stability_threshold: 0.8,
            provider: DreamProvider::Extractive,
            gist_chars: 700,
            era_chars: 1200,
            mmr_lambda: 0.7,
            max_attempts: 3,
            keep_runs: 1000,
            openai: DreamOpenAiConfig::default(),
        }
    }
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum DreamProvider {
    Extractive,
    Openai,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct DreamOpenAiConfig {
    /// e.g. `https://api.openai.com/v1`, `http://127.0.0.1:11434/v1` (Ollama).
    pub base_url: String,
    pub model: String,
    /// Name of the environment variable holding the API key (never the key).
    pub api_key_env: String,
    /// Seconds before a request is abandoned.
    pub timeout_s: u64,
    /// Retries of a request that failed with 429, 5xx or a timeout.
    pub max_retries: u32,
    /// Largest answer asked for, in tokens.
    pub max_tokens: u32,
    pub temperature: f64,
    /// Characters of transcript sent per request (longer sessions are cut
    /// to their most recent turns).
    pub max_input_chars: usize,
    /// Files replacing the built-in prompt templates (unset: built-in).
    pub gist_prompt_file: Option<PathBuf>,
    pub era_prompt_file: Option<PathBuf>,
    pub profile_prompt_file: Option<PathBuf>,
    pub narrative_prompt_file: Option<PathBuf>,
}

impl Default for DreamOpenAiConfig {
    fn default() -> Self {
        Self {
            base_url: "http://127.0.0.1:11434/v1".into(),
            model: "llama3.2".into(),
            api_key_env: "MEMD_DREAM_API_KEY".into(),
            timeout_s: 120,
            max_retries: 2,
            max_tokens: 512,
            temperature: 0.2,
            max_input_chars: 12000,
            gist_prompt_file: None,
            era_prompt_file: None,
            profile_prompt_file: None,
            narrative_prompt_file: None,
        }
    }
}

impl DreamConfig {
    pub(super) fn validate(&self) -> Check {
        if let Err(e) = crate::cron::check(&self.schedule, &self.timezone) {
            let key = if e.starts_with("time zone") {
                "dream.timezone"
            } else {
                "dream.schedule"
            };
            return Err(KeyError {
                key: key.into(),
                message: e,
            });
        }
        let o = &self.openai;
        let openai = self.provider == DreamProvider::Openai;
        first([
            fraction("dream.continuity_threshold", self.continuity_threshold),
            fraction("dream.coherence_threshold", self.coherence_threshold),
            fraction("dream.curiosity_threshold", self.curiosity_threshold),
            fraction("dream.stability_threshold", self.stability_threshold),
            fraction("dream.mmr_lambda", self.mmr_lambda),
            at_least("dream.min_turns", self.min_turns, 1),
            at_least("dream.resummarise_after", self.resummarise_after, 1),
            at_least("dream.max_sessions_per_pass", self.max_sessions_per_pass, 1),
            at_least("dream.gist_chars", self.gist_chars, 1),
            at_least("dream.era_chars", self.era_chars, 1),
            at_least("dream.openai.max_input_chars", o.max_input_chars, 1),
            at_least("dream.keep_runs", self.keep_runs, 1),
            // Upper bounds keep deadlines and millisecond sums from
            // overflowing (found by the config fuzz target).
            between("dream.max_pass_s", self.max_pass_s, 1, 7 * 24 * 3600),
            between("dream.idle_after_s", self.idle_after_s, 0, 365 * 24 * 3600),
            between(
                "dream.session_idle_s",
                self.session_idle_s,
                0,
                365 * 24 * 3600,
            ),
            at_least("dream.max_attempts", self.max_attempts, 1),
            at_least("dream.openai.max_tokens", o.max_tokens, 1),
            between("dream.openai.temperature", o.temperature, 0.0, 2.0),
            ensure(
                "dream.openai.base_url",
                !openai || o.base_url.starts_with("http"),
                format!("`{}` is not an http(s) URL", o.base_url),
            ),
        ])?;
        if !openai {
            return Ok(());
        }
        // Prompt files are read only when they will be used.
        for (key, p) in [
            ("dream.openai.gist_prompt_file", &o.gist_prompt_file),
            ("dream.openai.era_prompt_file", &o.era_prompt_file),
            ("dream.openai.profile_prompt_file", &o.profile_prompt_file),
            (
                "dream.openai.narrative_prompt_file",
                &o.narrative_prompt_file,
            ),
        ] {
            let Some(p) = p else { continue };
            let message = match std::fs::read_to_string(p) {
                Err(e) => format!("cannot read {}: {e}", p.display()),
                Ok(t) if !t.contains("{input}") => format!(
                    "{} has no {{input}} placeholder for the material",
                    p.display()
                ),
                Ok(_) => continue,
            };
            return Err(KeyError {
                key: key.into(),
                message,
            });
        }
        Ok(())
    }
}
