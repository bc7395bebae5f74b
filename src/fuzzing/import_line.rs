//! The `import_line` target.

use std::sync::Mutex;

use axum::http::{Method, StatusCode};
use serde_json::Value;

use super::harness::Harness;
use crate::store::{self, Exports};

/// NDJSON lines through both importers. First byte even: the body of
/// `POST /v1/import` (every non-blank line is counted as imported,
/// duplicate or rejected). Odd: the lines between an export header and an
/// end marker, through `POST /v1/import-all` into an empty store. Whatever
/// is accepted must then read back (sessions, recall, dream tiers, export)
/// without a server error; the store is emptied again afterwards.
pub fn import_line(data: &[u8]) {
    let Some((&sel, lines)) = data.split_first() else {
        return;
    };
    let mut slot = IMPORT.lock().unwrap_or_else(|p| p.into_inner());
    let h = slot.get_or_insert_with(|| Harness::new("import", false));
    let count = |keep: &dyn Fn(&[u8]) -> bool| {
        lines
            .split(|b| *b == b'\n')
            .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
            .filter(|l| keep(l))
            .count()
    };
    if sel & 1 == 0 {
        let (status, body) = h.call(Method::POST, "/v1/import", lines.to_vec());
        if status == StatusCode::OK {
            let v: Value = serde_json::from_slice(&body).expect("a JSON answer");
            let n = |k: &str| v[k].as_u64().unwrap_or(0) as usize;
            let rejected = v["rejected"].as_array().map_or(0, Vec::len);
            let lines = count(&|l: &[u8]| !l.iter().all(u8::is_ascii_whitespace));
            assert_eq!(
                n("imported") + n("duplicates") + rejected,
                lines,
                "import accounts for a different number of lines: {v}"
            );
        }
    } else {
        let rows = count(&|l: &[u8]| {
            let l = String::from_utf8_lossy(l);
            !l.trim().is_empty() && !l.starts_with("{\"memd_export_end\"")
        });
        let mut body = store::export::header(store::migrate::SCHEMA_VERSION).to_string();
        body.push('\n');
        let mut body = body.into_bytes();
        body.extend_from_slice(lines);
        body.extend_from_slice(
            format!("\n{{\"memd_export_end\":true,\"rows\":{rows}}}\n").as_bytes(),
        );
        h.call(Method::POST, "/v1/import-all", body);
    }
    let user_rows = h
        .rt()
        .block_on(h.state.store.user_rows())
        .expect("count rows");
    if user_rows > 0 {
        let query = String::from_utf8_lossy(&lines[..lines.len().min(1000)]).into_owned();
        h.read_everything(&query);
        // The next input starts on an empty store (a new one if emptying
        // this one fails).
        if !h.wipe() {
            slot.take();
        }
    }
}

static IMPORT: Mutex<Option<Harness>> = Mutex::new(None);
