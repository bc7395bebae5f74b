//! Consolidation providers: the offline extractive one (default) and any
//! OpenAI-compatible `/chat/completions` endpoint.
//!
//! Calls are blocking (the embedder, HTTP): the pass runs them on a blocking
//! thread. An unusable LLM answer (empty, truncated by the token limit,
//! invalid JSON where JSON was asked for) is an error: the pass keeps the
//! watermark where it was and the session is retried by a later pass.

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::extractive::{self, StandingFact, Statement};
use super::facts::{Proposal, llm, rules};
use super::text::Turn;
use crate::config::{DreamConfig, DreamOpenAiConfig, DreamProvider, LearnConfig};
use crate::embed::Embedder;
use crate::http::snippet;
use crate::store::Fact;

#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Usage {
    pub calls: u64,
    pub tokens_in: u64,
    pub tokens_out: u64,
}

impl Usage {
    pub fn add(&mut self, o: Usage) {
        self.calls += o.calls;
        self.tokens_in += o.tokens_in;
        self.tokens_out += o.tokens_out;
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    #[error("embedding failed: {0}")]
    Embed(#[from] crate::embed::EmbedError),
    #[error("LLM request failed: {0}")]
    Request(String),
    #[error("unusable LLM answer: {0}")]
    Unusable(String),
}

pub struct Produced<T> {
    pub value: T,
    pub usage: Usage,
}

fn free<T>(value: T) -> Produced<T> {
    Produced {
        value,
        usage: Usage::default(),
    }
}

pub trait Consolidator: Send + Sync {
    fn name(&self) -> &'static str;
    fn model(&self) -> Option<String>;
    fn gist(&self, turns: &[Turn], cfg: &DreamConfig) -> Result<Produced<String>, ProviderError>;
    /// `gists` oldest first.
    fn era(
        &self,
        month: &str,
        gists: &[String],
        cfg: &DreamConfig,
    ) -> Result<Produced<String>, ProviderError>;
    /// `per_session`: each gist's statements and its session's time.
    fn profile(
        &self,
        per_session: &[(Vec<Statement>, i64)],
        cfg: &DreamConfig,
    ) -> Result<Produced<(String, Vec<StandingFact>)>, ProviderError>;
    /// `eras`: (month, digest), oldest first.
    fn narrative(
        &self,
        eras: &[(String, String)],
        cfg: &DreamConfig,
    ) -> Result<Produced<String>, ProviderError>;
    /// Facts stated in `turns` (one session's, after its extraction
    /// cursor), given the live facts of the same speakers.
    fn facts(
        &self,
        turns: &[Turn],
        live: &[Fact],
        cfg: &LearnConfig,
    ) -> Result<Produced<Vec<Proposal>>, ProviderError>;
}

pub fn build(
    cfg: &DreamConfig,
    embedder: Arc<dyn Embedder>,
) -> Result<Arc<dyn Consolidator>, String> {
    Ok(match cfg.provider {
        DreamProvider::Extractive => Arc::new(Extractive { embedder }),
        DreamProvider::Openai => Arc::new(OpenAi::new(&cfg.openai)?),
    })
}

pub struct Extractive {
    pub embedder: Arc<dyn Embedder>,
}

const PROFILE_FACTS: usize = 40;
const NARRATIVE_CHARS: usize = 1500;

impl Consolidator for Extractive {
    fn name(&self) -> &'static str {
        "extractive"
    }

    fn model(&self) -> Option<String> {
        Some(self.embedder.model_id().to_owned())
    }

    fn gist(&self, turns: &[Turn], cfg: &DreamConfig) -> Result<Produced<String>, ProviderError> {
        Ok(free(extractive::gist(
            self.embedder.as_ref(),
            turns,
            cfg.gist_chars,
            cfg.mmr_lambda,
        )?))
    }

    fn era(
        &self,
        month: &str,
        gists: &[String],
        cfg: &DreamConfig,
    ) -> Result<Produced<String>, ProviderError> {
        Ok(free(extractive::era(
            self.embedder.as_ref(),
            month,
            gists,
            cfg.era_chars,
            cfg.mmr_lambda,
        )?))
    }

    fn profile(
        &self,
        per_session: &[(Vec<Statement>, i64)],
        _cfg: &DreamConfig,
    ) -> Result<Produced<(String, Vec<StandingFact>)>, ProviderError> {
        Ok(free(extractive::profile(per_session, PROFILE_FACTS)))
    }

    fn narrative(
        &self,
        eras: &[(String, String)],
        _cfg: &DreamConfig,
    ) -> Result<Produced<String>, ProviderError> {
        Ok(free(extractive::narrative(eras, NARRATIVE_CHARS)))
    }

    fn facts(
        &self,
        turns: &[Turn],
        _live: &[Fact],
        cfg: &LearnConfig,
    ) -> Result<Produced<Vec<Proposal>>, ProviderError> {
        Ok(free(rules::extract(turns, cfg.extract_per_session)))
    }
}

/// Built-in prompt templates; `{input}` is replaced by the material.
pub const GIST_PROMPT: &str = "Summarise this conversation in at most 5 sentences. Name the speakers, keep dates, \
decisions, plans, preferences and facts about the people; leave out small talk. Answer with the summary only.\n\n{input}";
pub const ERA_PROMPT: &str = "These are summaries of one month's conversations, oldest first. Write one paragraph \
(at most 6 sentences) on what happened that month: events, changes, recurring themes. Answer with the paragraph only.\n\n{input}";
pub const PROFILE_PROMPT: &str = "From these statements people made about themselves (with how many conversations \
repeat them and when last), write a JSON object {\"summary\": string, \"facts\": [string]}: a short profile of the \
people and their standing facts (identity, work, places, preferences, plans). Only facts supported by the statements.\n\n{input}";
pub const NARRATIVE_PROMPT: &str = "These are monthly digests, oldest first. Write the current arc in at most 6 \
sentences: what changed recently, what recurs, and callbacks to earlier months. Answer with the text only.\n\n{input}";

pub struct OpenAi {
    agent: ureq::Agent,
    url: String,
    model: String,
    api_key: Option<String>,
    cfg: DreamOpenAiConfig,
    prompts: [String; 4],
}

#[derive(Deserialize)]
struct ChatResponse {
    choices: Vec<Choice>,
    #[serde(default)]
    usage: Option<ChatUsage>,
}

#[derive(Deserialize)]
struct Choice {
    message: Message,
    #[serde(default)]
    finish_reason: Option<String>,
}

#[derive(Deserialize)]
struct Message {
    #[serde(default)]
    content: Option<String>,
}

#[derive(Deserialize)]
struct ChatUsage {
    #[serde(default)]
    prompt_tokens: u64,
    #[serde(default)]
    completion_tokens: u64,
}

impl OpenAi {
    pub fn new(cfg: &DreamOpenAiConfig) -> Result<OpenAi, String> {
        let read = |p: &Option<std::path::PathBuf>, builtin: &str| -> Result<String, String> {
            match p {
                None => Ok(builtin.to_owned()),
                Some(p) => {
                    let t = std::fs::read_to_string(p)
                        .map_err(|e| format!("cannot read prompt file {}: {e}", p.display()))?;
                    if !t.contains("{input}") {
                        return Err(format!(
                            "prompt file {} has no {{input}} placeholder",
                            p.display()
                        ));
                    }
                    Ok(t)
                }
            }
        };
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(cfg.timeout_s)))
            .http_status_as_error(false)
            .build()
            .into();
        Ok(OpenAi {
            agent,
            url: format!("{}/chat/completions", cfg.base_url.trim_end_matches('/')),
            model: cfg.model.clone(),
            api_key: std::env::var(&cfg.api_key_env)
                .ok()
                .filter(|k| !k.is_empty()),
            prompts: [
                read(&cfg.gist_prompt_file, GIST_PROMPT)?,
                read(&cfg.era_prompt_file, ERA_PROMPT)?,
                read(&cfg.profile_prompt_file, PROFILE_PROMPT)?,
                read(&cfg.narrative_prompt_file, NARRATIVE_PROMPT)?,
            ],
            cfg: cfg.clone(),
        })
    }

    /// One chat call with bounded retries on 429/5xx/connection errors.
    fn chat(&self, prompt: &str, json_mode: bool) -> Result<Produced<String>, ProviderError> {
        self.chat_as(prompt, json_mode.then(|| json!({"type": "json_object"})))
    }

    /// A chat call whose answer must take `response_format` (a JSON schema).
    pub(super) fn chat_as(
        &self,
        prompt: &str,
        response_format: Option<serde_json::Value>,
    ) -> Result<Produced<String>, ProviderError> {
        let mut body = json!({
            "model": self.model,
            "messages": [{"role": "user", "content": prompt}],
            "max_tokens": self.cfg.max_tokens,
            "temperature": self.cfg.temperature,
        });
        if let Some(f) = response_format {
            body["response_format"] = f;
        }
        crate::http::with_retries(
            self.cfg.max_retries,
            Duration::from_millis(500),
            "dream LLM request",
            || self.request(&body),
        )
    }

    fn request(&self, body: &serde_json::Value) -> Result<Produced<String>, (bool, ProviderError)> {
        let text = crate::http::post_json(
            &self.agent,
            &self.url,
            self.api_key.as_deref(),
            body,
            16 * 1024 * 1024,
        )
        .map_err(|f| (f.retry, ProviderError::Request(f.message)))?;
        let parsed: ChatResponse = serde_json::from_str(&text).map_err(|e| {
            (
                false,
                ProviderError::Unusable(format!("not a chat completion ({e}): {}", snippet(&text))),
            )
        })?;
        let usage = Usage {
            calls: 1,
            tokens_in: parsed.usage.as_ref().map_or(0, |u| u.prompt_tokens),
            tokens_out: parsed.usage.as_ref().map_or(0, |u| u.completion_tokens),
        };
        let Some(choice) = parsed.choices.into_iter().next() else {
            return Err((false, ProviderError::Unusable("no choices".into())));
        };
        if choice.finish_reason.as_deref() == Some("length") {
            return Err((
                false,
                ProviderError::Unusable(format!(
                    "truncated at dream.openai.max_tokens = {}",
                    self.cfg.max_tokens
                )),
            ));
        }
        let content = choice.message.content.unwrap_or_default().trim().to_owned();
        if content.is_empty() {
            return Err((false, ProviderError::Unusable("empty answer".into())));
        }
        Ok(Produced {
            value: content,
            usage,
        })
    }

    fn fill(&self, which: usize, input: &str) -> String {
        self.prompts[which].replace("{input}", input)
    }
}

/// The most recent part of a transcript that fits `max` characters.
fn transcript(turns: &[Turn], max: usize) -> String {
    let mut lines: Vec<String> = Vec::new();
    let mut used = 0;
    for t in turns.iter().rev() {
        let line = format!(
            "[{}] {}: {}",
            super::text::day(t.created_at),
            t.speaker,
            t.text
        );
        used += line.len() + 1;
        if used > max && !lines.is_empty() {
            break;
        }
        lines.push(line);
    }
    lines.reverse();
    lines.join("\n")
}

impl Consolidator for OpenAi {
    fn name(&self) -> &'static str {
        "openai"
    }

    fn model(&self) -> Option<String> {
        Some(self.model.clone())
    }

    fn gist(&self, turns: &[Turn], _cfg: &DreamConfig) -> Result<Produced<String>, ProviderError> {
        self.chat(
            &self.fill(0, &transcript(turns, self.cfg.max_input_chars)),
            false,
        )
    }

    fn era(
        &self,
        month: &str,
        gists: &[String],
        _cfg: &DreamConfig,
    ) -> Result<Produced<String>, ProviderError> {
        let input = format!("Month: {month}\n\n{}", gists.join("\n\n"));
        let input = super::text::clip(&input, self.cfg.max_input_chars);
        let mut p = self.chat(&self.fill(1, &input), false)?;
        p.value = format!("{}: {}", super::text::month_words(month), p.value);
        Ok(p)
    }

    fn profile(
        &self,
        per_session: &[(Vec<Statement>, i64)],
        _cfg: &DreamConfig,
    ) -> Result<Produced<(String, Vec<StandingFact>)>, ProviderError> {
        // The statements are found by rules either way; the model writes
        // the profile from them.
        let (_, facts) = extractive::profile(per_session, 200);
        let input: Vec<String> = facts
            .iter()
            .map(|f| {
                format!(
                    "- {} {} ({}x, last {})",
                    f.subject, f.text, f.sessions, f.last_seen
                )
            })
            .collect();
        let input = super::text::clip(&input.join("\n"), self.cfg.max_input_chars);
        let p = self.chat(&self.fill(2, &input), true)?;
        #[derive(Deserialize)]
        struct Out {
            summary: String,
            #[serde(default)]
            facts: Vec<String>,
        }
        let out: Out = serde_json::from_str(strip_fence(&p.value)).map_err(|e| {
            ProviderError::Unusable(format!(
                "profile is not the JSON asked for ({e}): {}",
                snippet(&p.value)
            ))
        })?;
        if out.summary.trim().is_empty() {
            return Err(ProviderError::Unusable("profile summary is empty".into()));
        }
        let mut standing: Vec<StandingFact> = facts.into_iter().take(PROFILE_FACTS).collect();
        for f in out.facts {
            standing.push(StandingFact {
                subject: String::new(),
                kind: "llm".into(),
                text: f,
                sessions: 0,
                last_seen: String::new(),
            });
        }
        Ok(Produced {
            value: (out.summary, standing),
            usage: p.usage,
        })
    }

    fn narrative(
        &self,
        eras: &[(String, String)],
        _cfg: &DreamConfig,
    ) -> Result<Produced<String>, ProviderError> {
        let input: Vec<String> = eras.iter().map(|(m, t)| format!("{m}: {t}")).collect();
        // The most recent months matter most: cut from the front.
        let mut joined = input.join("\n\n");
        if joined.len() > self.cfg.max_input_chars {
            let cut = joined.len() - self.cfg.max_input_chars;
            let cut = (cut..joined.len())
                .find(|i| joined.is_char_boundary(*i))
                .unwrap_or(0);
            joined = joined[cut..].to_owned();
        }
        self.chat(&self.fill(3, &joined), false)
    }

    fn facts(
        &self,
        turns: &[Turn],
        live: &[Fact],
        cfg: &LearnConfig,
    ) -> Result<Produced<Vec<Proposal>>, ProviderError> {
        let mut usage = Usage::default();
        let mut out = Vec::new();
        for batch in turns.chunks(cfg.extract_batch_turns.max(1)) {
            let prompt = llm::prompt(batch, live, self.cfg.max_input_chars);
            let p = self.chat_as(&prompt, Some(llm::response_format()))?;
            usage.add(p.usage);
            out.extend(llm::parse(strip_fence(&p.value), batch, live)?);
        }
        Ok(Produced { value: out, usage })
    }
}

/// Models often wrap JSON in a Markdown fence.
fn strip_fence(s: &str) -> &str {
    let t = s.trim();
    let t = t
        .strip_prefix("```json")
        .or_else(|| t.strip_prefix("```"))
        .unwrap_or(t);
    t.strip_suffix("```").unwrap_or(t).trim()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fences_and_transcripts() {
        assert_eq!(strip_fence("```json\n{\"a\":1}\n```"), "{\"a\":1}");
        assert_eq!(strip_fence("{\"a\":1}"), "{\"a\":1}");
        let turns: Vec<Turn> = (0..10)
            .map(|i| Turn::new(i, "user", &format!("A: line number {i}"), None, 0))
            .collect();
        let t = transcript(&turns, 60);
        assert!(t.ends_with("A: line number 9"), "{t}");
        assert!(!t.contains("number 0"), "{t}");
    }
}
