//! The narrative: the latest month, what recurs across months, and
//! callbacks to earlier ones.

use std::collections::{HashMap, HashSet};

use crate::dream::text;

/// The current arc from the eras (oldest first, as (month, digest)).
pub fn narrative(eras: &[(String, String)], budget: usize) -> String {
    if eras.is_empty() {
        return String::new();
    }
    let topics: Vec<HashSet<String>> = eras
        .iter()
        .map(|(_, t)| top_words(strip_header(t), 12))
        .collect();
    let (latest_month, latest) = eras.last().expect("not empty");
    let mut parts = vec![format!(
        "Most recently ({}): {}",
        text::month_words(latest_month),
        strip_header(latest)
    )];
    // Recurring: topics in at least half the months (and at least two).
    let mut counts: HashMap<&String, usize> = HashMap::new();
    for t in &topics {
        for w in t {
            *counts.entry(w).or_default() += 1;
        }
    }
    let need = (eras.len().div_ceil(2)).max(2);
    let mut recurring: Vec<(&String, usize)> =
        counts.into_iter().filter(|(_, c)| *c >= need).collect();
    recurring.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    if !recurring.is_empty() {
        let words: Vec<String> = recurring
            .iter()
            .take(8)
            .map(|(w, _)| (*w).clone())
            .collect();
        parts.push(format!("Recurring across months: {}.", words.join(", ")));
    }
    // Callbacks: what the latest month shares with a month at least two back.
    if eras.len() >= 3 {
        let last = &topics[topics.len() - 1];
        for (i, (m, _)) in eras.iter().enumerate().take(eras.len() - 2) {
            let shared: Vec<&String> = topics[i].intersection(last).collect();
            if !shared.is_empty() {
                let mut shared: Vec<String> = shared.into_iter().cloned().collect();
                shared.sort();
                shared.truncate(4);
                parts.push(format!(
                    "Callback to {}: {} again.",
                    text::month_words(m),
                    shared.join(", ")
                ));
                break;
            }
        }
    }
    if eras.len() >= 2 {
        let earlier: Vec<String> = eras[..eras.len() - 1]
            .iter()
            .rev()
            .take(3)
            .map(|(m, t)| {
                format!(
                    "{}: {}",
                    text::month_words(m),
                    text::clip(strip_header(t), 160)
                )
            })
            .collect();
        parts.push(format!("Before that — {}", earlier.join(" | ")));
    }
    text::clip(&parts.join(" "), budget)
}

fn strip_header(era: &str) -> &str {
    match era.find(". ") {
        Some(i) if era[..i].contains("conversation") => &era[i + 2..],
        _ => era,
    }
}

/// The `n` most frequent content words of a text.
pub fn top_words(text: &str, n: usize) -> HashSet<String> {
    let mut counts: HashMap<String, usize> = HashMap::new();
    for w in text::content_words(text) {
        if w.chars().count() >= 4 && !w.chars().all(|c| c.is_ascii_digit()) {
            *counts.entry(w).or_default() += 1;
        }
    }
    let mut v: Vec<(String, usize)> = counts.into_iter().collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    v.into_iter().take(n).map(|(w, _)| w).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn narrative_mentions_latest_and_recurring() {
        let eras = vec![
            (
                "2023-05".to_owned(),
                "May 2023: 2 conversations. Painting and swimming with the kids.".to_owned(),
            ),
            (
                "2023-06".to_owned(),
                "June 2023: 1 conversation. Painting a sunset, adoption research.".to_owned(),
            ),
            (
                "2023-07".to_owned(),
                "July 2023: 1 conversation. Painting class and swimming again.".to_owned(),
            ),
        ];
        let n = narrative(&eras, 2000);
        assert!(
            n.starts_with("Most recently (July 2023): Painting class"),
            "{n}"
        );
        assert!(n.contains("Recurring across months: painting"), "{n}");
        assert!(n.contains("Callback to May 2023"), "{n}");
    }
}
