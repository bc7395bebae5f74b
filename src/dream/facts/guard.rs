//! What keeps a sentence from becoming a fact, or from changing the
//! speaker's slot: questions and small talk, words addressed to the
//! listener, statements about someone else ("my sister lives in Oslo"),
//! and what only nearly happened ("we thought about moving to Rome").

use crate::slots::{SlotDef, has_phrase, words};

/// Interjections a turn opens with, stripped before anything is judged.
#[rustfmt::skip]
const OPENERS: &[&str] = &[
    "hey", "hi", "hello", "wow", "yeah", "yep", "yes", "oh", "thanks", "haha", "aww", "awesome",
    "great", "sure", "cool", "ok", "okay", "well", "so", "btw", "omg", "lol", "honestly", "anyway",
    "by the way", "thank you", "no way",
];

/// The sentence as a statement (openers stripped), or `None` for a
/// question or nothing left.
pub fn statement(sentence: &str) -> Option<String> {
    let s = sentence.trim();
    if s.ends_with('?') {
        return None;
    }
    let mut rest = s;
    loop {
        let lower = rest.to_lowercase();
        let Some(op) = OPENERS.iter().find(|o| {
            lower.starts_with(*o)
                && lower[o.len()..]
                    .chars()
                    .next()
                    .is_none_or(|c| !c.is_alphanumeric() && c != '\'')
        }) else {
            break;
        };
        rest = rest[op.len()..].trim_start_matches(|c: char| {
            c.is_whitespace() || matches!(c, ',' | '!' | '.' | '-' | '—' | ':')
        });
        // "Hey Jon, …": the name addressed goes with the greeting.
        if let Some((head, tail)) = rest.split_once(", ")
            && !head.contains(' ')
            && head.chars().next().is_some_and(char::is_uppercase)
            && head != "I"
        {
            rest = tail;
        }
    }
    let mut c = rest.chars();
    let first = c.next()?;
    let out: String = first.to_uppercase().chain(c).collect();
    (out.split_whitespace().count() >= 3).then_some(out)
}

pub fn first_person(ws: &[String]) -> bool {
    ws.iter().any(|w| {
        matches!(
            w.as_str(),
            "i" | "i'm"
                | "i've"
                | "i'd"
                | "i'll"
                | "my"
                | "me"
                | "myself"
                | "we"
                | "our"
                | "us"
                | "we're"
                | "we've"
        )
    })
}

/// Said to the listener ("you'll love it", "let me know how it goes").
pub fn addressed(ws: &[String]) -> bool {
    ws.iter().any(|w| {
        matches!(
            w.as_str(),
            "you" | "your" | "you're" | "you've" | "you'll" | "yours" | "yourself" | "you'd"
        )
    })
}

/// Whose slot a sentence speaks of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subject {
    Speaker,
    Other,
}

/// People a sentence can be about instead of the speaker.
#[rustfmt::skip]
const OTHERS: &[&str] = &[
    "friend", "friends", "brother", "sister", "mom", "mum", "mother", "dad", "father", "parents",
    "cousin", "aunt", "uncle", "neighbour", "neighbor", "neighbours", "neighbors", "colleague",
    "coworker", "boss", "buddy", "roommate", "flatmate", "grandma", "grandpa", "grandmother",
    "grandfather", "niece", "nephew", "sibling", "in-laws", "someone", "somebody",
];

/// The kin a slot itself is about ("my kid goes to …" is the speaker's).
fn own_kin(def: &SlotDef) -> &'static [&'static str] {
    match def.name {
        "kid_school" => &["kid", "kids", "son", "daughter", "child", "children"],
        "partner" => &["partner", "girlfriend", "boyfriend", "wife", "husband"],
        _ => &[],
    }
}

/// Whether the sentence is about the speaker or someone they mention:
/// "my sister lives in Oslo", "my friend's iPhone", "someone at work
/// suggested …".
pub fn subject(ws: &[String], def: &SlotDef) -> Subject {
    let kin = own_kin(def);
    let opens_with = |i: usize| {
        // The sentence's subject: its first words ("my sister …", "my
        // running buddy …", "someone at work …").
        i == 0 || (i <= 2 && matches!(ws[0].as_str(), "my" | "our" | "a"))
    };
    for (i, w) in ws.iter().enumerate() {
        let base = w.trim_end_matches("'s");
        if !OTHERS.contains(&base) || kin.contains(&base) {
            continue;
        }
        // "… my friend's iPhone", "… my neighbour's kids": theirs.
        let possessed = w.ends_with("'s") && i > 0 && matches!(ws[i - 1].as_str(), "my" | "our");
        if opens_with(i) || possessed {
            return Subject::Other;
        }
    }
    Subject::Speaker
}

/// What nearly happened, was only considered, or was turned down.
pub fn hypothetical(ws: &[String]) -> bool {
    const MARKS: &[&str] = &[
        "thought about",
        "thinking about",
        "thinking of",
        "considered",
        "considering",
        "almost",
        "nearly",
        "tempted",
        "test drove",
        "test-drove",
        "looked into",
        "looking into",
        "toured",
        "if i ever",
        "if only",
        "would love",
        "i'd love",
        "i wish",
        "wish i",
        "wish we",
        "someday",
        "one day",
        "maybe",
        "suggested",
        "set me up",
        "taster",
        "pet-sat",
        "pet sat",
        "for a friend",
        "dream of",
        "dreaming of",
        "hope to",
        "hoping to",
        "might",
        "planning to",
        "plan to",
        "not for me",
        "not my thing",
        "no thanks",
        "said no",
        "then cancelled",
        "then canceled",
        "stayed put",
        "decided to stay",
        "nothing happened",
        "didn't work out",
        "rather her than me",
        "rather him than me",
        "rather them than me",
        "keeping my",
        "and gave up",
        "wants",
        "want to",
        "would like",
    ];
    if MARKS.iter().any(|m| has_phrase(ws, m)) {
        return true;
    }
    // "…, but it wasn't for me", "… but didn't sign up".
    if let Some(b) = ws.iter().position(|w| w == "but") {
        const NEG: &[&str] = &[
            "didn't", "wasn't", "couldn't", "not", "no", "never", "too", "stayed", "decided",
            "nothing", "won't", "can't", "cannot", "don't",
        ];
        return ws[b + 1..].iter().any(|w| NEG.contains(&w.as_str()));
    }
    false
}

/// Words that open sentences and are not names.
#[rustfmt::skip]
const STARTERS: &[&str] = &[
    "the", "my", "our", "i", "we", "since", "being", "eating", "walking", "things", "new", "first",
    "work", "pickup", "drove", "sold", "finally", "move", "meet", "saw", "took", "got", "living",
    "ever", "big", "as", "starting", "so", "they", "it", "this", "that", "there", "just", "still",
    "now", "today", "yesterday", "last", "next", "after", "before", "when", "while", "once",
    "nothing", "training", "honestly", "a", "an", "and", "but", "if", "of", "in", "on", "at", "for",
    "with", "from", "by", "to", "he", "she", "his", "her", "their", "its", "what", "all",
];

#[rustfmt::skip]
const CALENDAR: &[&str] = &[
    "january", "february", "march", "april", "may", "june", "july", "august", "september",
    "october", "november", "december", "monday", "tuesday", "wednesday", "thursday", "friday",
    "saturday", "sunday",
];

/// Whether the sentence's first word reads as a name: followed by a comma,
/// "and I", or one of the verbs a named subject takes.
fn opens_as_name(sentence: &str, raw: &[&str]) -> bool {
    let first = raw.first().copied().unwrap_or("");
    if sentence.trim_start()[first.len().min(sentence.trim_start().len())..].starts_with(',') {
        return true;
    }
    let next = raw.get(1).map(|w| w.to_lowercase()).unwrap_or_default();
    matches!(
        next.as_str(),
        "is" | "was"
            | "has"
            | "had"
            | "and"
            | "my"
            | "asked"
            | "says"
            | "said"
            | "went"
            | "woke"
            | "loves"
            | "cooked"
            | "got"
            | "came"
            | "moved"
            | "joined"
            | "started"
    )
}

/// Whether the sentence carries a value for the slot: a name (a capitalised
/// word that is not the speaker, a sentence start or a calendar word), a
/// number, or a word of the slot's own vocabulary.
pub fn has_value(def: &SlotDef, sentence: &str, speaker: &str) -> bool {
    let ws = words(sentence);
    if def.has_value_word(&ws) || sentence.chars().any(|c| c.is_ascii_digit()) {
        return true;
    }
    let raw: Vec<&str> = sentence
        .split(|c: char| !(c.is_alphanumeric() || c == '\'' || c == '-'))
        .filter(|w| !w.is_empty())
        .collect();
    let named = raw.iter().enumerate().any(|(i, w)| {
        let w = w.trim_end_matches("'s");
        let lower = w.to_lowercase();
        let name_like = w.chars().next().is_some_and(char::is_uppercase)
            && w != "I"
            && !w.starts_with("I'")
            && w != speaker
            && !CALENDAR.contains(&lower.as_str());
        // A sentence's first word is capitalised anyway: a name only when
        // a verb or an apposition follows ("Bramble woke me", "Noor, my
        // partner, …"), never "Keep up the good work".
        name_like
            && (i > 0 || (!STARTERS.contains(&lower.as_str()) && opens_as_name(sentence, &raw)))
    });
    if named {
        return true;
    }
    // Common-noun values: a pastime is an -ing word ("sailing"), a course
    // names itself ("a pottery course").
    match def.name {
        "hobby" => ws.iter().any(|w| {
            w.len() > 5
                && w.ends_with("ing")
                && !matches!(
                    w.as_str(),
                    "morning"
                        | "evening"
                        | "everything"
                        | "nothing"
                        | "something"
                        | "anything"
                        | "feeling"
                        | "starting"
                        | "getting"
                        | "going"
                        | "doing"
                        | "being"
                        | "thinking"
                        | "looking"
                        | "amazing"
                        | "exciting"
                        | "interesting"
                )
        }),
        "course" => true,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::slots::slot;

    #[test]
    fn openers_and_questions() {
        assert_eq!(
            statement("Hey Jon, I had to shut down my bank account.").as_deref(),
            Some("I had to shut down my bank account.")
        );
        assert_eq!(
            statement("Yep, I made it with coconut milk!").as_deref(),
            Some("I made it with coconut milk!")
        );
        assert_eq!(statement("How are you?"), None);
        assert_eq!(statement("Thanks!"), None);
    }

    #[test]
    fn someone_elses_slot() {
        let s = |t: &str, slot_name: &str| subject(&words(t), slot(slot_name).unwrap());
        assert_eq!(s("My sister lives in Oslo.", "residence"), Subject::Other);
        assert_eq!(
            s("My friend's iPhone 15 has a cracked screen.", "phone"),
            Subject::Other
        );
        assert_eq!(
            s("Someone at work suggested I go keto.", "diet"),
            Subject::Other
        );
        assert_eq!(
            s("My kid goes to Oakridge Elementary now.", "kid_school"),
            Subject::Speaker
        );
        assert_eq!(
            s("My partner Signe cooked dinner.", "partner"),
            Subject::Speaker
        );
        assert_eq!(s("I live in Porto.", "residence"), Subject::Speaker);
    }

    #[test]
    fn what_only_nearly_happened() {
        let h = |t: &str| hypothetical(&words(t));
        assert!(h(
            "I thought about moving to Tallinn, but in the end we stayed put."
        ));
        assert!(h("I test drove a Volvo but it wasn't for me."));
        assert!(h("I toured Anchor Fitness but didn't sign up."));
        assert!(h(
            "I tried macrobiotic for two days and gave up, not for me."
        ));
        assert!(!h("I'm all about sailing now, I gave up kayaking."));
        assert!(!h("Sold my Skoda Octavia and picked up a Kia Niro."));
        assert!(!h("Leila and I broke up, but I'm seeing Noor now."));
    }

    #[test]
    fn values() {
        let v = |t: &str, s: &str| has_value(slot(s).unwrap(), t, "Ana");
        assert!(v("I bought a Skoda Octavia last week!", "car"));
        assert!(v("Bramble my greyhound woke me up.", "pet"));
        assert!(!v("I went to the gym this morning.", "gym"));
        assert!(v("I'm really into sailing these days.", "hobby"));
        assert!(v("I decided to go keto.", "diet"));
        assert!(!v("I drove to work on Monday.", "car"));
    }
}
