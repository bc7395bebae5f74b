//! Curiosity's action: reflect on the gists since the last reflection and
//! update the namespace's self-state (mood, reflections, open questions, the
//! entities and topics it has met).

use serde_json::{Value, json};

use super::action::Action;
use super::drives::Levels;
use super::pass::Work;
use super::text::Turn;
use super::{Dream, DreamError, backlog, extractive};
use crate::store::{DreamBacklog, ReflectionInput, SingleTiers};

/// The latest sessions whose turns a reflection looks for open questions in.
const RECENT_SESSIONS: usize = 10;

impl Dream {
    pub(super) async fn curiosity(
        &self,
        ns: &str,
        levels: &Levels,
        new_facts: usize,
        work: &mut Work,
    ) -> Result<(), DreamError> {
        let ReflectionInput {
            previous: prev,
            gist_texts: new_gists,
            recent_turns,
        } = self
            .store
            .reflection_input(ns, backlog::REFLECT_TEXTS, RECENT_SESSIONS)
            .await?;
        let recent_sessions: Vec<Vec<Turn>> = recent_turns
            .into_iter()
            .map(|t| t.into_iter().map(Turn::from).collect())
            .collect();
        let prev: Value = prev
            .and_then(|s| serde_json::from_str(&s).ok())
            .unwrap_or_else(|| json!({}));
        let list = |key: &str| -> Vec<String> {
            prev.get(key)
                .and_then(|v| v.as_array())
                .map(|a| {
                    a.iter()
                        .filter_map(|x| x.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default()
        };
        let (known_entities, known_topics) = (list("known_entities"), list("known_topics"));
        let open: Vec<String> = recent_sessions
            .iter()
            .flat_map(|t| extractive::open_questions(t))
            .take(20)
            .collect();
        let r = extractive::reflect(&extractive::ReflectInput {
            new_gists: &new_gists,
            known_entities: &known_entities,
            known_topics: &known_topics,
            open_questions: open,
        });
        let mut entities = known_entities.clone();
        entities.extend(r.new_entities.iter().cloned());
        let skip = entities.len().saturating_sub(1000);
        let entities: Vec<String> = entities.into_iter().skip(skip).collect();
        let mut topics = known_topics.clone();
        topics.extend(r.new_topics.iter().cloned());
        let skip = topics.len().saturating_sub(500);
        let topics: Vec<String> = topics.into_iter().skip(skip).collect();
        let state = json!({
            "drives": levels,
            "mood": r.mood,
            "reflections": r.reflections,
            "open_questions": r.open_questions,
            "new_entities": r.new_entities,
            "new_topics": r.new_topics,
            "recurring_topics": r.recurring_topics,
            "gists_reflected": new_gists.len(),
            "facts_learned": new_facts,
            "known_entities": entities,
            "known_topics": topics,
        });
        let n_reflections = r.reflections.len();
        self.store.write_self_state(ns, state).await?;
        work.actions.push(Action::Reflect {
            gists: new_gists.len(),
            reflections: n_reflections,
        });
        Ok(())
    }
}
