//! The shape of `src/`, checked: no cycle between top-level modules, no
//! file over 600 lines before its tests, no `too_many_arguments`, rusqlite
//! only in the store and the foreign-SQLite source reader.
//!
//! What the restructure has not reached yet is listed in `DEBT` below: a
//! ratchet. A violation not in the list fails; an entry that no longer
//! applies fails too, so the list only ever shrinks.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Known violations, each to be removed when its slice of the
/// restructure lands.
const DEBT: &[&str] = &[];

/// Where memd reads a *foreign* SQLite database (a source), or the
/// sources benchmark and the fuzz harness write one to sync from,
/// rusqlite is the point.
const FOREIGN_SQLITE: &[&str] = &[
    "src/sources/sqlite.rs",
    "src/bin/memd-bench/sources.rs",
    "src/fuzzing/harness.rs",
];

const MAX_LINES: usize = 600;

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The file's code before its `#[cfg(test)]` module, comments left out.
fn non_test(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let end = (0..lines.len())
        .find(|&i| {
            lines[i].trim() == "#[cfg(test)]"
                && lines[i + 1..]
                    .iter()
                    .find(|l| !l.trim().is_empty())
                    .is_some_and(|l| l.trim_start().starts_with("mod "))
        })
        .unwrap_or(lines.len());
    lines[..end]
        .iter()
        .filter(|l| !l.trim_start().starts_with("//"))
        .copied()
        .collect::<Vec<_>>()
        .join("\n")
}

fn top_module(root: &Path, file: &Path) -> Option<String> {
    let rel = file.strip_prefix(root).ok()?;
    let first = rel.components().next()?.as_os_str().to_str()?.to_owned();
    let name = first.trim_end_matches(".rs").to_owned();
    // The crate root and binaries are not modules of the graph.
    if ["lib", "main", "bin"].contains(&name.as_str()) {
        return None;
    }
    Some(name)
}

fn violations() -> BTreeSet<String> {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let root = manifest.join("src");
    let mut all = Vec::new();
    files(&root, &mut all);
    all.sort();
    let mut found = BTreeSet::new();
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in &all {
        let text = std::fs::read_to_string(file).unwrap();
        let code = non_test(&text);
        let code = code.as_str();
        let rel = file.strip_prefix(&manifest).unwrap().display().to_string();
        if code.lines().count() > MAX_LINES {
            found.insert(format!("long: {rel}"));
        }
        if code.contains("too_many_arguments") {
            found.insert(format!("too_many_arguments: {rel}"));
        }
        let under_store = rel.starts_with("src/store/");
        if code.contains("rusqlite") && !under_store && !FOREIGN_SQLITE.contains(&rel.as_str()) {
            found.insert(format!("rusqlite: {rel}"));
        }
        let Some(from) = top_module(&root, file) else {
            continue;
        };
        for (i, _) in code.match_indices("crate::") {
            let rest = &code[i + "crate::".len()..];
            let to: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            if !to.is_empty() && to != from {
                edges.entry(from.clone()).or_default().insert(to);
            }
        }
    }
    for cycle in cycles(&edges) {
        found.insert(format!("cycle: {}", cycle.join(" -> ")));
    }
    found
}

/// Every elementary cycle's canonical form (rotated to start at its
/// smallest module), found by depth-first search from each module.
fn cycles(edges: &BTreeMap<String, BTreeSet<String>>) -> BTreeSet<Vec<String>> {
    fn dfs(
        node: &str,
        start: &str,
        edges: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        out: &mut BTreeSet<Vec<String>>,
    ) {
        for next in edges.get(node).into_iter().flatten() {
            if next == start {
                let mut c = path.clone();
                let min = c.iter().enumerate().min_by_key(|(_, n)| *n).unwrap().0;
                c.rotate_left(min);
                c.push(c[0].clone());
                out.insert(c);
            } else if !path.contains(next) && next.as_str() > start && path.len() < 8 {
                path.push(next.clone());
                dfs(next, start, edges, path, out);
                path.pop();
            }
        }
    }
    let mut out = BTreeSet::new();
    for start in edges.keys() {
        dfs(start, start, edges, &mut vec![start.clone()], &mut out);
    }
    out
}

#[test]
fn the_module_structure_only_gets_better() {
    let found = violations();
    let debt: BTreeSet<String> = DEBT.iter().map(|s| (*s).to_owned()).collect();
    let new: Vec<&String> = found.difference(&debt).collect();
    let paid: Vec<&String> = debt.difference(&found).collect();
    assert!(
        new.is_empty(),
        "new structural violations (fix them; do not add them to DEBT): {new:#?}"
    );
    assert!(
        paid.is_empty(),
        "these no longer apply: remove them from DEBT in tests/architecture.rs: {paid:#?}"
    );
}
