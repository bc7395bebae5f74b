//! Heading-aware chunking of documents.
//!
//! Markdown is cut at headings (`#` … `######`, outside fenced code), and
//! each section's paragraphs are packed into chunks of about `target`
//! characters; every chunk keeps the path of headings above it. Plain text
//! is packed by paragraphs; JSONL by records (each rendered as
//! `key: value` lines). A paragraph longer than `target` is cut at line,
//! then sentence, then character boundaries. The output is deterministic,
//! so an unchanged file yields the same chunks.

/// What the store keeps of each chunk (it writes them as items).
pub use crate::store::Chunk;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Markdown,
    Text,
    Jsonl,
}

impl Kind {
    pub fn of(path: &std::path::Path) -> Kind {
        match path
            .extension()
            .and_then(|e| e.to_str())
            .map(|e| e.to_ascii_lowercase())
            .as_deref()
        {
            Some("md" | "markdown" | "mdx") => Kind::Markdown,
            Some("jsonl" | "ndjson") => Kind::Jsonl,
            _ => Kind::Text,
        }
    }
}

pub fn chunk(kind: Kind, text: &str, target: usize) -> Vec<Chunk> {
    let target = target.max(16);
    match kind {
        Kind::Markdown => markdown(text, target),
        Kind::Text => pack(&[], &paragraphs(text), target),
        Kind::Jsonl => pack(&[], &jsonl_records(text), target),
    }
}

fn markdown(text: &str, target: usize) -> Vec<Chunk> {
    let mut out = Vec::new();
    let mut path: Vec<(usize, String)> = Vec::new();
    let mut body = String::new();
    let mut fence: Option<&str> = None;
    let flush = |path: &[(usize, String)], body: &mut String, out: &mut Vec<Chunk>| {
        let heads: Vec<String> = path.iter().map(|(_, h)| h.clone()).collect();
        out.extend(pack(&heads, &paragraphs(body), target));
        body.clear();
    };
    for line in text.lines() {
        let trimmed = line.trim_start();
        if let Some(f) = fence {
            if trimmed.starts_with(f) {
                fence = None;
            }
            body.push_str(line);
            body.push('\n');
            continue;
        }
        if trimmed.starts_with("```") || trimmed.starts_with("~~~") {
            fence = Some(&trimmed[..3]);
            body.push_str(line);
            body.push('\n');
            continue;
        }
        if let Some((level, title)) = heading(line) {
            flush(&path, &mut body, &mut out);
            while path.last().is_some_and(|(l, _)| *l >= level) {
                path.pop();
            }
            path.push((level, title));
            continue;
        }
        body.push_str(line);
        body.push('\n');
    }
    flush(&path, &mut body, &mut out);
    out
}

/// `## Title ##` → (2, "Title"); at most three spaces of indent.
fn heading(line: &str) -> Option<(usize, String)> {
    let indent = line.len() - line.trim_start_matches(' ').len();
    if indent > 3 {
        return None;
    }
    let s = &line[indent..];
    let level = s.bytes().take_while(|&b| b == b'#').count();
    if !(1..=6).contains(&level) {
        return None;
    }
    let rest = &s[level..];
    if !(rest.is_empty() || rest.starts_with(' ') || rest.starts_with('\t')) {
        return None;
    }
    let title = rest.trim().trim_end_matches('#').trim().to_owned();
    Some((level, title))
}

fn paragraphs(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    for line in text.lines() {
        if line.trim().is_empty() {
            if !cur.trim().is_empty() {
                out.push(cur.trim_end().to_owned());
            }
            cur.clear();
        } else {
            cur.push_str(line);
            cur.push('\n');
        }
    }
    if !cur.trim().is_empty() {
        out.push(cur.trim_end().to_owned());
    }
    out
}

fn jsonl_records(text: &str) -> Vec<String> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| match serde_json::from_str::<serde_json::Value>(l) {
            Ok(serde_json::Value::Object(map)) => map
                .iter()
                .filter_map(|(k, v)| match v {
                    serde_json::Value::Null => None,
                    serde_json::Value::String(s) => Some(format!("{k}: {s}")),
                    other => Some(format!("{k}: {other}")),
                })
                .collect::<Vec<_>>()
                .join("\n"),
            Ok(serde_json::Value::String(s)) => s,
            _ => l.trim().to_owned(),
        })
        .filter(|r| !r.is_empty())
        .collect()
}

/// Packs pieces into chunks of at most about `target` chars, splitting
/// pieces that are larger on their own.
fn pack(heads: &[String], pieces: &[String], target: usize) -> Vec<Chunk> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let emit = |cur: &mut String, out: &mut Vec<Chunk>| {
        if !cur.trim().is_empty() {
            out.push(Chunk {
                heading_path: heads.to_vec(),
                text: std::mem::take(cur),
                screen: None,
            });
        }
        cur.clear();
    };
    for piece in pieces {
        for part in split_long(piece, target) {
            if !cur.is_empty() && cur.len() + 2 + part.len() > target {
                emit(&mut cur, &mut out);
            }
            if !cur.is_empty() {
                cur.push_str("\n\n");
            }
            cur.push_str(&part);
        }
    }
    emit(&mut cur, &mut out);
    out
}

/// Cuts `s` into parts of at most `target` bytes at the best boundary
/// available: a line break, a sentence end, a space, else any char.
fn split_long(s: &str, target: usize) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = s;
    while rest.len() > target {
        let mut limit = target;
        while !rest.is_char_boundary(limit) {
            limit -= 1;
        }
        let window = &rest[..limit];
        let min = target / 3;
        let cut = [
            window.rfind('\n').map(|i| i + 1),
            window.rfind(". ").map(|i| i + 2),
            window.rfind(' ').map(|i| i + 1),
        ]
        .into_iter()
        .flatten()
        .find(|&i| i > min)
        .unwrap_or(limit.max(rest.chars().next().map_or(1, char::len_utf8)));
        out.push(rest[..cut].trim().to_owned());
        rest = &rest[cut..];
    }
    if !rest.trim().is_empty() {
        out.push(rest.trim().to_owned());
    }
    out.retain(|p| !p.is_empty());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markdown_keeps_heading_paths() {
        let md = "intro line\n\n# Top\n\nalpha\n\n## Sub ##\n\nbeta\n\n```\n# not a heading\n```\n\n# Next\ngamma\n";
        let c = chunk(Kind::Markdown, md, 1000);
        let got: Vec<(Vec<&str>, &str)> = c
            .iter()
            .map(|c| {
                (
                    c.heading_path.iter().map(String::as_str).collect(),
                    c.text.as_str(),
                )
            })
            .collect();
        assert_eq!(
            got,
            vec![
                (vec![], "intro line"),
                (vec!["Top"], "alpha"),
                (vec!["Top", "Sub"], "beta\n\n```\n# not a heading\n```"),
                (vec!["Next"], "gamma"),
            ]
        );
    }

    #[test]
    fn long_text_is_cut_near_the_target_and_loses_nothing() {
        let para = "word ".repeat(100);
        let text = format!("{para}\n\n{para}\n\n{para}");
        let c = chunk(Kind::Text, &text, 200);
        assert!(c.len() >= 7, "{}", c.len());
        assert!(c.iter().all(|c| c.text.len() <= 200));
        let words: usize = c.iter().map(|c| c.text.split_whitespace().count()).sum();
        assert_eq!(words, 300);
        // Deterministic.
        assert_eq!(c, chunk(Kind::Text, &text, 200));
    }

    #[test]
    fn multibyte_text_is_cut_on_char_boundaries() {
        let text = "é".repeat(500);
        let c = chunk(Kind::Text, &text, 101);
        assert_eq!(c.iter().map(|c| c.text.chars().count()).sum::<usize>(), 500);
    }

    #[test]
    fn jsonl_records_render_as_fields() {
        let c = chunk(
            Kind::Jsonl,
            "{\"title\":\"a\",\"n\":1,\"x\":null}\n\nnot json\n\"s\"\n",
            1000,
        );
        assert_eq!(c.len(), 1);
        // serde_json keeps object keys sorted.
        assert_eq!(c[0].text, "n: 1\ntitle: a\n\nnot json\n\ns");
    }

    #[test]
    fn headings_need_a_space() {
        assert_eq!(heading("#tag"), None);
        assert_eq!(heading("    # code"), None);
        assert_eq!(heading("### x"), Some((3, "x".into())));
        assert_eq!(heading("#"), Some((1, "".into())));
    }
}
