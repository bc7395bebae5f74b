//! First person told in the third: what a named speaker said of
//! themselves reads as memory rather than quote.

/// `I <verb> …` → `Name <verb>s …` for a speaker with a name (not a role).
pub fn third_person(sentence: &str, speaker: &str) -> Option<String> {
    if matches!(speaker, "user" | "assistant" | "system" | "tool")
        || !speaker.chars().next().is_some_and(char::is_uppercase)
    {
        return None;
    }
    let text = sentence.replace('’', "'");
    const FIXED: &[(&str, &str)] = &[
        ("I'm ", "is "),
        ("I am ", "is "),
        ("I've ", "has "),
        ("I have ", "has "),
        ("I was ", "was "),
        ("I'll ", "will "),
        ("I will ", "will "),
        ("I'd ", "would "),
        ("My ", "'s "),
    ];
    for (from, to) in FIXED {
        if let Some(rest) = text.strip_prefix(from) {
            let sep = if to.starts_with('\'') { "" } else { " " };
            return Some(format!("{speaker}{sep}{to}{rest}"));
        }
    }
    let rest = text.strip_prefix("I ")?;
    let (verb, tail) = rest.split_once(' ').unwrap_or((rest, ""));
    let bare = verb.trim_end_matches(|c: char| !c.is_alphanumeric());
    if bare.is_empty() || !bare.chars().all(|c| c.is_ascii_lowercase()) {
        return None;
    }
    let conj = conjugate(bare);
    let punct = &verb[bare.len()..];
    Some(if tail.is_empty() {
        format!("{speaker} {conj}{punct}")
    } else {
        format!("{speaker} {conj}{punct} {tail}")
    })
}

/// The third-person singular of a bare verb as it followed `I` (`go` →
/// `goes`, `study` → `studies`; modals and past tenses unchanged).
pub fn conjugate(bare: &str) -> String {
    const KEEP: &[&str] = &[
        "can",
        "could",
        "should",
        "would",
        "might",
        "must",
        "will",
        "shall",
        "just",
        "really",
        "also",
        "never",
        "always",
        "still",
        "recently",
        "finally",
        "actually",
        "already",
        "went",
        "did",
        "had",
        "got",
        "made",
        "saw",
        "took",
        "said",
        "found",
        "felt",
        "thought",
        "knew",
        "met",
        "ran",
        "began",
        "bought",
        "brought",
        "came",
        "gave",
        "kept",
        "left",
        "lost",
        "read",
        "told",
        "won",
        "wrote",
        "sold",
        "spent",
        "put",
        "set",
        "let",
        "cut",
        "hit",
        "hurt",
        "may",
        "used",
        "totally",
        "definitely",
        "especially",
        "usually",
        "often",
        "sometimes",
        "even",
        "only",
        "once",
        "too",
    ];
    if KEEP.contains(&bare) || bare.ends_with("ed") {
        bare.to_owned()
    } else if bare == "have" {
        "has".into()
    } else if bare == "do" || bare == "go" {
        format!("{bare}es")
    } else if bare.ends_with('y')
        && !bare.ends_with("ay")
        && !bare.ends_with("ey")
        && !bare.ends_with("oy")
        && !bare.ends_with("uy")
    {
        format!("{}ies", &bare[..bare.len() - 1])
    } else if ["s", "sh", "ch", "x", "z"]
        .iter()
        .any(|e| bare.ends_with(e))
    {
        format!("{bare}es")
    } else {
        format!("{bare}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn third_person_for_named_speakers() {
        let t = |s: &str| third_person(s, "Caroline");
        assert_eq!(
            t("I went to a support group.").unwrap(),
            "Caroline went to a support group."
        );
        assert_eq!(t("I love painting.").unwrap(), "Caroline loves painting.");
        assert_eq!(t("I'm a counselor.").unwrap(), "Caroline is a counselor.");
        assert_eq!(t("I’ve been busy.").unwrap(), "Caroline has been busy.");
        assert_eq!(
            t("My kids are great.").unwrap(),
            "Caroline's kids are great."
        );
        assert_eq!(
            t("I study and I watch.").unwrap(),
            "Caroline studies and I watch."
        );
        assert_eq!(t("I finish.").unwrap(), "Caroline finishes.");
        assert_eq!(t("I can swim.").unwrap(), "Caroline can swim.");
        assert!(t("We went out.").is_none());
        assert!(third_person("I went out.", "user").is_none());
    }
}
