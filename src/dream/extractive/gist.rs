//! A session's gist and a month's era: sentences chosen by MMR under a
//! length budget, behind a header.

use super::mmr::{penalty, select};
use super::third_person::third_person;
use crate::dream::text::{self, Sentence, Turn};
use crate::embed::{EmbedError, Embedder};

/// The gist of a session.
pub fn gist(
    embedder: &dyn Embedder,
    turns: &[Turn],
    budget: usize,
    lambda: f64,
) -> Result<String, EmbedError> {
    let mut speakers: Vec<String> = Vec::new();
    for t in turns {
        if !speakers.contains(&t.speaker) {
            speakers.push(t.speaker.clone());
        }
    }
    let when = turns
        .first()
        .map(|t| text::day(t.created_at))
        .unwrap_or_default();
    let header = format!("{} talked on {when}.", text::join_names(&speakers));
    let sentences: Vec<Sentence> = text::sentences(turns);
    let body = if sentences.is_empty() {
        // Nothing of 3+ words: keep the turns as they are.
        turns
            .iter()
            .map(|t| format!("{}: {}", t.speaker, t.text))
            .collect::<Vec<_>>()
            .join(" ")
    } else {
        let lines: Vec<String> = sentences.iter().map(|s| s.text.clone()).collect();
        let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
        let vectors = embedder.embed(&refs)?;
        let lengths: Vec<usize> = sentences
            .iter()
            .map(|s| s.text.chars().count() + s.speaker.chars().count() + 2)
            .collect();
        let penalties: Vec<f32> = sentences.iter().map(|s| penalty(&s.text)).collect();
        let budget = budget.saturating_sub(header.chars().count() + 1);
        let picked = select(&vectors, &lengths, &penalties, budget, lambda as f32);
        render(&sentences, &picked)
    };
    Ok(text::clip(
        &format!("{header} {body}"),
        budget.max(header.len() + 40) + 40,
    ))
}

/// Sentences in order, the speaker named when it changes; a named
/// speaker's sentence that starts in the first person is told in the third
/// ("I went" → "Caroline went"), which reads as memory rather than quote.
fn render(sentences: &[Sentence], picked: &[usize]) -> String {
    let mut out = String::new();
    let mut last: Option<&str> = None;
    for &i in picked {
        let s = &sentences[i];
        if !out.is_empty() {
            out.push(' ');
        }
        if let Some(told) = third_person(&s.text, &s.speaker) {
            out.push_str(&told);
            last = None;
            continue;
        }
        if last != Some(s.speaker.as_str()) {
            out.push_str(&s.speaker);
            out.push_str(": ");
            last = Some(&s.speaker);
        }
        out.push_str(&s.text);
    }
    out
}

/// The leading sentences of a session cut at exactly `budget` characters
/// (the last one clipped): the baseline gists are measured against.
pub fn lead(turns: &[Turn], budget: usize) -> String {
    let sentences = text::sentences(turns);
    let all: Vec<usize> = (0..sentences.len()).collect();
    let full = render(&sentences, &all);
    full.chars().take(budget).collect()
}

/// A month's digest from its gists (oldest first).
pub fn era(
    embedder: &dyn Embedder,
    month: &str,
    gists: &[String],
    budget: usize,
    lambda: f64,
) -> Result<String, EmbedError> {
    let header = format!(
        "{}: {} conversation{}.",
        text::month_words(month),
        gists.len(),
        if gists.len() == 1 { "" } else { "s" }
    );
    let mut units: Vec<String> = Vec::new();
    for g in gists {
        units.extend(
            text::split_sentences(g)
                .into_iter()
                .filter(|s| s.split_whitespace().count() >= 4),
        );
    }
    if units.is_empty() {
        return Ok(header);
    }
    let refs: Vec<&str> = units.iter().map(String::as_str).collect();
    let vectors = embedder.embed(&refs)?;
    let lengths: Vec<usize> = units.iter().map(|s| s.chars().count()).collect();
    let penalties: Vec<f32> = units
        .iter()
        .map(|s| {
            if s.contains(" talked on ") {
                0.3
            } else {
                penalty(s)
            }
        })
        .collect();
    let picked = select(
        &vectors,
        &lengths,
        &penalties,
        budget.saturating_sub(header.len()),
        lambda as f32,
    );
    let body: Vec<&str> = picked.iter().map(|&i| units[i].as_str()).collect();
    Ok(text::clip(
        &format!("{header} {}", body.join(" ")),
        budget + 40,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dream::extractive::fixtures::turns;
    use crate::embed::HashEmbedder;

    #[test]
    fn gist_names_speakers_and_date_and_fits() {
        let t = turns(&[
            "Caroline: I went to an LGBTQ support group yesterday and it was powerful.",
            "Melanie: That sounds wonderful, what did you learn there?",
            "Caroline: The transgender stories made me feel accepted and brave.",
            "Melanie: I painted a lake sunrise last year to express myself.",
        ]);
        let g = gist(&HashEmbedder::new(), &t, 200, 0.7).unwrap();
        assert!(
            g.starts_with("Caroline and Melanie talked on 8 May 2023."),
            "{g}"
        );
        assert!(g.chars().count() <= 240, "{g}");
        // First-person sentences are told in the third person.
        assert!(g.contains("Caroline went to an LGBTQ support group"), "{g}");
        assert!(!g.contains(" I went"), "{g}");
    }
}
