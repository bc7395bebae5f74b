//! Curiosity's action: reflect on the gists since the last reflection and
//! update the namespace's self-state (mood, reflections, open questions, the
//! entities and topics it has met).

use rusqlite::{OptionalExtension, params};
use serde_json::{Value, json};

use super::action::Action;
use super::drives::Levels;
use super::pass::Work;
use super::{Dream, DreamError, backlog, extractive, read};

impl Dream {
    pub(super) async fn curiosity(
        &self,
        ns: &str,
        levels: &Levels,
        work: &mut Work,
    ) -> Result<(), DreamError> {
        let ns2 = ns.to_owned();
        let (prev, new_gists, recent_sessions) = self
            .store
            .read(move |c| {
                let prev: Option<(String, i64)> = c
                    .query_row("SELECT state, built_at FROM self_states WHERE namespace = ?1", [&ns2], |r| {
                        Ok((r.get(0)?, r.get(1)?))
                    })
                    .optional()?;
                let since = prev.as_ref().map_or(i64::MIN, |p| p.1);
                let texts = backlog::gist_texts_since(c, &ns2, since, 200)?;
                let mut stmt = c.prepare_cached(
                    "SELECT session_id FROM gists WHERE namespace = ?1 AND updated_at > ?2 ORDER BY updated_at DESC LIMIT 10",
                )?;
                let sessions: Vec<String> = stmt
                    .query_map(params![ns2, since], |r| r.get(0))?
                    .collect::<Result<_, _>>()?;
                let turns_of = sessions
                    .iter()
                    .map(|s| read::turns(c, s))
                    .collect::<Result<Vec<_>, _>>()?;
                Ok((prev.map(|p| p.0), texts, turns_of))
            })
            .await?;
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
            "known_entities": entities,
            "known_topics": topics,
        });
        let n_reflections = r.reflections.len();
        let ns2 = ns.to_owned();
        self.store
            .write(move |ctx| {
                ctx.conn().execute(
                    "INSERT INTO self_states (namespace, state, built_at) VALUES (?1, ?2, ?3)
                     ON CONFLICT (namespace) DO UPDATE SET state = excluded.state, built_at = excluded.built_at",
                    params![ns2, state.to_string(), crate::time::now_ms()],
                )?;
                Ok(())
            })
            .await?;
        work.actions.push(Action::Reflect {
            gists: new_gists.len(),
            reflections: n_reflections,
        });
        Ok(())
    }
}
