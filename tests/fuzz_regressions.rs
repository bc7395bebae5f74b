//! Fuzzing regressions (issue 17): every input a fuzz target ever failed
//! on is kept in `tests/fixtures/fuzz/<target>/` and replayed here through
//! the same entry point the fuzzer calls (`memd::fuzzing::<target>`). The
//! seed inputs in `fuzz/seeds/<target>/` are replayed too, so the entry
//! points keep working without a fuzzer. Fuzzing itself: scripts/fuzz.sh.

use std::path::Path;

fn replay(target: &str, entry: fn(&[u8])) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    for dir in [
        root.join("tests/fixtures/fuzz").join(target),
        root.join("fuzz/seeds").join(target),
    ] {
        if let Ok(entries) = std::fs::read_dir(&dir) {
            files.extend(entries.flatten().map(|e| e.path()));
        }
    }
    files.sort();
    assert!(!files.is_empty(), "no inputs for {target}");
    for path in files {
        let data = std::fs::read(&path).unwrap();
        eprintln!("replaying {}", path.display());
        entry(&data);
    }
}

#[test]
fn config() {
    replay("config", memd::fuzzing::config);
}

#[test]
fn fts_query() {
    replay("fts_query", memd::fuzzing::fts_query);
}

#[test]
fn import_line() {
    replay("import_line", memd::fuzzing::import_line);
}

#[test]
fn ids() {
    replay("ids", memd::fuzzing::ids);
}

#[test]
fn route_bodies() {
    replay("route_bodies", memd::fuzzing::route_bodies);
}
