//! Phrase features ([`super::patterns`]) over the folded text (lower case,
//! look-alikes and leetspeak mapped, invisible characters dropped), summed
//! into a [`Tally`].
//!
//! Patterns use ASCII word boundaries (`\b` is rewritten to `(?-u:\b)`):
//! Unicode ones make the regex engine leave its fast DFA on non-ASCII text.

use std::sync::LazyLock;

use regex::{Regex, RegexBuilder};

use super::patterns::{FEATURES, FRAGMENTS};
use super::{Tally, excerpt};

fn expand(pattern: &str) -> String {
    let mut p = pattern.to_owned();
    // Fragments may use other fragments: expand until nothing changes.
    loop {
        let before = p.len();
        for (name, frag) in FRAGMENTS {
            p = p.replace(&format!("{{{name}}}"), frag);
        }
        if p.len() == before {
            break;
        }
    }
    p.replace(r"\b", r"(?-u:\b)")
}

/// One regex per feature. A single `RegexSet` over all of them reads the
/// text once but measured 15× slower here: its lazy DFA outgrows its cache
/// on this many patterns and falls back to the slower engines, while each
/// regex alone keeps its literal prefilter and DFA.
static COMPILED: LazyLock<Vec<Regex>> = LazyLock::new(|| {
    FEATURES
        .iter()
        .map(|f| {
            RegexBuilder::new(&expand(f.pattern))
                .size_limit(32 << 20)
                .build()
                .unwrap_or_else(|e| panic!("firewall feature {:?}: {e}", f.what))
        })
        .collect()
});

/// Add the features `folded` shows to `tally`; `origin` maps a byte offset
/// in `folded` back to the scanned text.
///
/// One phrase counts once, at its strongest reading: a match that mostly
/// coincides with one already credited ("developer mode" and "developer
/// mode on"), or starts or ends where it does, adds nothing, so weights add
/// up only over separate pieces of evidence. A short match inside a long, gappy one ("customer list" in
/// "email the full customer list to ...") is separate evidence.
pub(super) fn score(folded: &str, tally: &mut Tally, origin: &dyn Fn(usize) -> usize) {
    let mut hits: Vec<(usize, usize, usize)> = Vec::new();
    for (i, (feature, re)) in FEATURES.iter().zip(COMPILED.iter()).enumerate() {
        let mut seen: [&str; 4] = [""; 4];
        let mut n = 0;
        for m in re.find_iter(folded) {
            if n >= usize::from(feature.count).min(seen.len()) {
                break;
            }
            if seen[..n].contains(&m.as_str()) {
                continue;
            }
            seen[n] = m.as_str();
            n += 1;
            hits.push((m.start(), m.end(), i));
        }
    }
    hits.sort_by(|a, b| FEATURES[b.2].weight.total_cmp(&FEATURES[a.2].weight));
    let mut credited: Vec<(usize, usize)> = Vec::with_capacity(hits.len());
    for (start, end, i) in hits {
        let same = credited.iter().any(|&(s, e)| {
            let overlap = end.min(e).saturating_sub(start.max(s));
            overlap * 2 > (end - start).max(e - s) || (overlap > 0 && (s == start || e == end))
        });
        if same {
            continue;
        }
        credited.push((start, end));
        let feature = &FEATURES[i];
        tally.add_with(feature.class, feature.weight, || {
            let text = excerpt(folded[start..end].trim(), 60);
            (origin(start), format!("{}: {text:?}", feature.what))
        });
    }
}
