//! A speaker's sentence told in the third person, all the way through:
//! "I moved to Lisbon with my partner" → "Ana moved to Lisbon with Ana's
//! partner". A fact is read out of its conversation, where "I" means
//! nobody; the name makes it findable by who it is about.

use crate::dream::extractive::conjugate;

/// The name a fact uses for the speaker: their name, or "The user" for an
/// unnamed user turn.
pub fn subject_name(speaker: &str) -> String {
    if speaker == "user" {
        "The user".to_owned()
    } else {
        speaker.to_owned()
    }
}

/// Adverbs that may sit between "I" and its verb ("I really love").
const ADVERBS: &[&str] = &[
    "really",
    "actually",
    "just",
    "also",
    "still",
    "never",
    "always",
    "finally",
    "recently",
    "totally",
    "definitely",
    "usually",
    "often",
    "sometimes",
    "even",
    "only",
    "absolutely",
    "truly",
    "honestly",
    "officially",
    "already",
    "mostly",
    "barely",
    "rarely",
];

/// Rewrites every first-person word of `sentence` for `name`.
pub fn rewrite(sentence: &str, name: &str) -> String {
    let text = sentence.replace('\u{2019}', "'");
    let lower_name = if name == "The user" { "the user" } else { name };
    let segs = segments(&text);
    // Indexes of the word segments, for looking ahead past separators.
    let words: Vec<usize> = (0..segs.len()).filter(|&i| segs[i].1).collect();
    let word = |k: usize| words.get(k).map(|&i| segs[i].0.as_str()).unwrap_or("");
    let mut out: Vec<String> = segs.iter().map(|s| s.0.clone()).collect();
    let mut k = 0;
    while k < words.len() {
        let i = words[k];
        let at_start = segs[..i]
            .iter()
            .rev()
            .find(|s| !s.0.trim().is_empty())
            .is_none_or(|s| !s.1 && s.0.trim().ends_with(['.', '!', '?', ':']));
        let who = if at_start { name } else { lower_name };
        let next = word(k + 1);
        let rep: Option<String> = match word(k) {
            "I'm" => Some(format!("{who} is")),
            "I've" => Some(format!("{who} has")),
            "I'll" => Some(format!("{who} will")),
            "I'd" => Some(format!("{who} would")),
            "I" if matches!(next, "am" | "was" | "have") => {
                let v = match next {
                    "am" => "is",
                    "have" => "has",
                    _ => "was",
                };
                out[words[k + 1]] = v.to_owned();
                k += 1;
                Some(who.to_owned())
            }
            // "Rafael and I broke up": a plural subject keeps its verb.
            "I" if k > 1
                && word(k - 1) == "and"
                && word(k - 2).chars().next().is_some_and(char::is_uppercase) =>
            {
                Some(lower_name.to_owned())
            }
            "I" => {
                let (verb_k, verb) = if ADVERBS.contains(&next) {
                    (k + 2, word(k + 2))
                } else {
                    (k + 1, next)
                };
                if !verb.is_empty() && verb.chars().all(|c| c.is_ascii_lowercase()) {
                    out[words[verb_k]] = conjugate(verb);
                }
                Some(who.to_owned())
            }
            "my" | "My" | "our" | "Our" => Some(format!("{who}'s")),
            "me" | "Me" | "us" => Some(lower_name.to_owned()),
            "myself" | "ourselves" => Some("themself".to_owned()),
            "mine" => Some(format!("{lower_name}'s")),
            "we" | "We" => Some(format!("{who} and family")),
            "We're" | "we're" => Some(format!("{who} and family are")),
            "We've" | "we've" => Some(format!("{who} and family have")),
            _ => None,
        };
        if let Some(r) = rep {
            out[i] = r;
        }
        k += 1;
    }
    out.concat().trim().to_owned()
}

/// The text cut into runs of word characters (`true`) and of the rest.
fn segments(text: &str) -> Vec<(String, bool)> {
    let mut out: Vec<(String, bool)> = Vec::new();
    for c in text.chars() {
        let w = c.is_alphanumeric() || c == '\'';
        match out.last_mut() {
            Some((s, kind)) if *kind == w => s.push(c),
            _ => out.push((c.to_string(), w)),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_first_person_word_is_rewritten() {
        assert_eq!(
            rewrite("I moved to Lisbon with my partner.", "Ana"),
            "Ana moved to Lisbon with Ana's partner."
        );
        assert_eq!(
            rewrite("I'm a nurse and I love it.", "Ana"),
            "Ana is a nurse and Ana loves it."
        );
        assert_eq!(
            rewrite(
                "Since I got my Subaru Outback, I actually enjoy commuting.",
                "Ana"
            ),
            "Since Ana got Ana's Subaru Outback, Ana actually enjoys commuting."
        );
        assert_eq!(
            rewrite("We adopted a dachshund named Figaro!", "Ana"),
            "Ana and family adopted a dachshund named Figaro!"
        );
        assert_eq!(
            rewrite("I live in Porto.", "The user"),
            "The user lives in Porto."
        );
        assert_eq!(rewrite("It made me happy.", "Ana"), "It made Ana happy.");
    }
}
