//! The facts tier through the real binary: create, recall, supersession
//! and time travel, edits, review, forget, bad input, export/import-all,
//! and `memd ctl facts`.

mod common;

use common::{Daemon, stderr, stdout};
use serde_json::{Value, json};

fn create(d: &Daemon, body: Value) -> Value {
    let (code, r) = d.post("/v1/facts", &body);
    assert_eq!(code, 201, "{r}");
    r
}

fn recall_ids(d: &Daemon, body: Value) -> Vec<i64> {
    let (code, r) = d.post("/v1/recall", &body);
    assert_eq!(code, 200, "{r}");
    r["results"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|h| h["tier"] == "fact")
        .map(|h| h["id"].as_i64().unwrap())
        .collect()
}

fn list_ids(d: &Daemon, query: &str) -> Vec<i64> {
    let (code, r) = d.get(&format!("/v1/facts?{query}"));
    assert_eq!(code, 200, "{r}");
    r["facts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["id"].as_i64().unwrap())
        .collect()
}

/// `{tier, id}` of the context pack's facts section.
fn context_facts(d: &Daemon, body: Value) -> Vec<i64> {
    let (code, r) = d.post("/v1/context", &body);
    assert_eq!(code, 200, "{r}");
    r["sections"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["name"] == "facts")
        .flat_map(|s| s["items"].as_array().unwrap().clone())
        .map(|i| {
            assert_eq!(i["tier"], "fact");
            i["id"].as_i64().unwrap()
        })
        .collect()
}

fn enc(s: &str) -> String {
    s.replace('+', "%2B").replace(':', "%3A")
}

#[test]
fn a_contradiction_supersedes_and_as_of_returns_what_held_then() {
    let d = Daemon::start("");
    let a = create(
        &d,
        json!({"namespace": "alice", "text": "Alice lives in Porto", "kind": "user_profile",
               "subject": "Alice", "slot": "residence", "entities": ["Porto"],
               "valid_from": "2020-01-01T00:00:00Z",
               "provenance": {"client": "test", "session_id": "chat-1", "exchange_ids": [3]}}),
    )["fact"]
        .clone();
    let a_id = a["id"].as_i64().unwrap();
    assert_eq!(a["status"], "active");
    assert_eq!(a["provenance"]["session_id"], "chat-1");
    // Inside Porto's validity (2020 until the move in 2025).
    let believed_a = "2024-06-01T00:00:00Z".to_owned();
    // Another namespace's fact never shows up.
    create(
        &d,
        json!({"namespace": "bob", "text": "Bob lives in Porto too"}),
    );

    let q = |extra: Value| {
        let mut body = json!({"query": "where does Alice live, Porto or Lisbon?",
                              "namespace": "alice", "tiers": ["fact"]});
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        body
    };
    assert_eq!(recall_ids(&d, q(json!({}))), vec![a_id]);
    assert_eq!(recall_ids(&d, q(json!({"mode": "vector"}))), vec![a_id]);
    // With every tier too.
    let (_, all) = d.post(
        "/v1/recall",
        &json!({"query": "Alice lives in Porto", "namespace": "alice", "explain": true}),
    );
    let hit = &all["results"][0];
    assert_eq!(
        (hit["tier"].as_str(), hit["id"].as_i64()),
        (Some("fact"), Some(a_id)),
        "{all}"
    );
    assert_eq!(hit["kind"], "user_profile");
    assert_eq!(hit["slot"], "residence");

    std::thread::sleep(std::time::Duration::from_millis(30));
    let r = create(
        &d,
        json!({"namespace": "alice", "text": "Alice moved to Lisbon", "kind": "user_profile",
               "subject": "Alice", "slot": "residence", "supersedes": a_id,
               "valid_from": "2025-03-01T00:00:00Z"}),
    );
    let b_id = r["fact"]["id"].as_i64().unwrap();
    let old = &r["superseded"];
    assert_eq!(old["id"].as_i64(), Some(a_id));
    assert_eq!(old["status"], "superseded");
    assert_eq!(old["superseded_by"].as_i64(), Some(b_id));
    assert_eq!(old["valid_to"], "2025-03-01T00:00:00.000Z");
    assert!(old["retired_at"].is_string(), "{old}");

    // Only the new fact is live: recall, vectors, the list, the context pack.
    assert_eq!(recall_ids(&d, q(json!({}))), vec![b_id]);
    assert_eq!(recall_ids(&d, q(json!({"mode": "vector"}))), vec![b_id]);
    assert_eq!(recall_ids(&d, q(json!({"mode": "lexical"}))), vec![b_id]);
    assert_eq!(list_ids(&d, "namespace=alice"), vec![b_id]);
    let ctx = json!({"query": "Where does Alice live?", "namespace": "alice"});
    assert_eq!(context_facts(&d, ctx.clone()), vec![b_id]);

    // Before the move, the old one held.
    let before = q(json!({"as_of": believed_a}));
    assert_eq!(recall_ids(&d, before.clone()), vec![a_id]);
    let mut before_vec = before.clone();
    before_vec["mode"] = json!("vector");
    assert_eq!(recall_ids(&d, before_vec), vec![a_id]);
    assert_eq!(
        list_ids(&d, &format!("namespace=alice&as_of={}", enc(&believed_a))),
        vec![a_id]
    );
    let mut ctx_then = ctx.clone();
    ctx_then["as_of"] = json!(believed_a);
    assert_eq!(context_facts(&d, ctx_then), vec![a_id]);
    // Before either held: nothing.
    assert!(recall_ids(&d, q(json!({"as_of": "2001-01-01T00:00:00Z"}))).is_empty());
    let mut both = list_ids(&d, "namespace=alice&include_retired=true");
    both.sort();
    assert_eq!(both, vec![a_id, b_id]);

    // The history runs both ways along superseded_by.
    for id in [a_id, b_id] {
        let (code, h) = d.get(&format!("/v1/facts/{id}"));
        assert_eq!(code, 200, "{h}");
        assert_eq!(h["fact"]["id"].as_i64(), Some(id));
        let chain: Vec<i64> = h["history"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["id"].as_i64().unwrap())
            .collect();
        assert_eq!(chain, vec![a_id, b_id]);
    }
    // A retired fact cannot be superseded again.
    let (code, r) = d.post(
        "/v1/facts",
        &json!({"namespace": "alice", "text": "Alice lives in Rome", "supersedes": a_id}),
    );
    assert_eq!(
        (code, r["error"]["code"].as_str()),
        (409, Some("fact_state")),
        "{r}"
    );
    // Nor one of another namespace.
    let (code, r) = d.post(
        "/v1/facts",
        &json!({"namespace": "bob", "text": "Bob lives in Rome", "supersedes": b_id}),
    );
    assert_eq!(code, 409, "{r}");
}

#[test]
fn an_edit_is_a_new_version_with_history() {
    let d = Daemon::start("");
    let a = create(
        &d,
        json!({"text": "The build server runs Debian 11", "kind": "env"}),
    );
    let a_id = a["fact"]["id"].as_i64().unwrap();
    let (code, r) = d.request(
        "PATCH",
        &format!("/v1/facts/{a_id}"),
        json!({"text": "The build server runs Debian 12"})
            .to_string()
            .as_bytes(),
    );
    assert_eq!(code, 201, "{r}");
    let b_id = r["fact"]["id"].as_i64().unwrap();
    assert_ne!(a_id, b_id);
    assert_eq!(r["fact"]["kind"], "env", "unset fields carry over");
    assert_eq!(r["fact"]["valid_from"], a["fact"]["valid_from"]);
    assert_eq!(r["superseded"]["status"], "superseded");
    // The POST form of the same edit.
    let (code, r) = d.post(
        &format!("/v1/facts/{b_id}/edit"),
        &json!({"confidence": 0.5}),
    );
    assert_eq!(code, 201, "{r}");
    let c_id = r["fact"]["id"].as_i64().unwrap();
    assert_eq!(r["fact"]["text"], "The build server runs Debian 12");
    let (_, h) = d.get(&format!("/v1/facts/{b_id}"));
    let chain: Vec<i64> = h["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["id"].as_i64().unwrap())
        .collect();
    assert_eq!(chain, vec![a_id, b_id, c_id]);
    assert_eq!(
        recall_ids(
            &d,
            json!({"query": "build server Debian", "tiers": ["fact"]})
        ),
        vec![c_id]
    );
    // Editing a retired version is refused.
    let (code, r) = d.request("PATCH", &format!("/v1/facts/{a_id}"), br#"{"text": "x"}"#);
    assert_eq!(code, 409, "{r}");
}

#[test]
fn candidates_wait_for_review_and_ctl_drives_the_queue() {
    let d = Daemon::start("");
    let c = create(
        &d,
        json!({"text": "The user prefers tea over coffee", "kind": "preference",
               "status": "candidate"}),
    )["fact"]
        .clone();
    let c_id = c["id"].as_i64().unwrap();
    assert_eq!(c["status"], "candidate");
    assert!(c["recorded_at"].is_null(), "{c}");
    let q = json!({"query": "does the user prefer tea or coffee", "tiers": ["fact"]});
    assert!(recall_ids(&d, q.clone()).is_empty());
    assert_eq!(list_ids(&d, "status=candidate"), vec![c_id]);

    let out = d.ctl(&["facts", "review"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("prefers tea"), "{}", stdout(&out));
    let out = d.ctl(&["facts", "promote", &c_id.to_string()]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("now active"), "{}", stdout(&out));
    assert_eq!(recall_ids(&d, q.clone()), vec![c_id]);
    let mut q_vec = q.clone();
    q_vec["mode"] = json!("vector");
    assert_eq!(recall_ids(&d, q_vec), vec![c_id]);
    // Promoting twice is refused.
    let (code, _) = d.post(&format!("/v1/facts/{c_id}/promote"), &json!({}));
    assert_eq!(code, 409);

    // Rejected: invalid, never recalled, never promotable.
    let r = create(
        &d,
        json!({"text": "The user hates tea", "status": "candidate"}),
    );
    let r_id = r["fact"]["id"].as_i64().unwrap();
    let (code, rej) = d.post(&format!("/v1/facts/{r_id}/reject"), &json!({}));
    assert_eq!(
        (code, rej["fact"]["status"].as_str()),
        (200, Some("invalid")),
        "{rej}"
    );
    assert_eq!(recall_ids(&d, q.clone()), vec![c_id]);
    let (code, _) = d.post(&format!("/v1/facts/{r_id}/promote"), &json!({}));
    assert_eq!(code, 409);
    assert_eq!(list_ids(&d, "status=invalid"), vec![r_id]);

    // ctl add / list / show / history / forget.
    let out = d.ctl(&[
        "facts", "add", "--kind", "project", "--slot", "language", "memd", "is", "written", "in",
        "Rust",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let added: i64 = stdout(&out)
        .split_whitespace()
        .nth(2)
        .and_then(|w| w.parse().ok())
        .unwrap_or_else(|| panic!("{}", stdout(&out)));
    let out = d.ctl(&[
        "facts",
        "add",
        "--supersedes",
        &added.to_string(),
        "memd",
        "is",
        "written",
        "in",
        "Rust",
        "2024",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains(&format!("superseded fact {added}")),
        "{}",
        stdout(&out)
    );
    let out = d.ctl(&["facts", "list"]);
    assert!(
        stdout(&out).contains("Rust 2024") && !stdout(&out).contains("hates tea"),
        "{}",
        stdout(&out)
    );
    let out = d.ctl(&["facts", "list", "--all"]);
    assert!(stdout(&out).contains("hates tea"), "{}", stdout(&out));
    let out = d.ctl(&["facts", "history", &added.to_string()]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out).lines().count(), 2, "{}", stdout(&out));
    let out = d.ctl(&["facts", "show", &added.to_string()]);
    assert!(stdout(&out).contains("superseded by"), "{}", stdout(&out));
    let out = d.ctl(&["--json", "facts", "show", &added.to_string()]);
    let v: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(v["fact"]["provenance"]["client"], "memd-ctl");
    let out = d.ctl(&["facts", "forget", &added.to_string()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = d.ctl(&["facts", "show", &added.to_string()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("not_found"), "{}", stderr(&out));
}

#[test]
fn forget_removes_a_fact_from_every_index_pack_and_export_at_once() {
    let d = Daemon::start("");
    let secret = "Alice's locker code is zebra-4471";
    let f = create(
        &d,
        json!({"text": secret, "subject": "Alice", "slot": "locker_code"}),
    );
    let id = f["fact"]["id"].as_i64().unwrap();
    let keep = create(&d, json!({"text": "Alice works at the harbour office"}));
    let keep_id = keep["fact"]["id"].as_i64().unwrap();
    let q = json!({"query": "locker code zebra", "tiers": ["fact"], "mode": "lexical"});
    assert_eq!(recall_ids(&d, q.clone()), vec![id]);
    let q_vec = json!({"query": secret, "tiers": ["fact"], "mode": "vector", "k": 10});
    assert!(recall_ids(&d, q_vec.clone()).contains(&id));
    let ctx = json!({"query": "What is Alice's locker code?"});
    assert!(context_facts(&d, ctx.clone()).contains(&id));
    let (_, export) = d.request("GET", "/v1/export", b"");
    assert!(export.to_string().contains("zebra-4471"));

    let (code, r) = d.request("DELETE", &format!("/v1/facts/{id}"), b"");
    assert_eq!(code, 200, "{r}");
    assert_eq!(r["forgotten"].as_i64(), Some(id));
    assert!(recall_ids(&d, q).is_empty());
    assert_eq!(recall_ids(&d, q_vec), vec![keep_id]);
    let pack = context_facts(&d, ctx);
    assert!(!pack.contains(&id), "{pack:?}");
    let (_, export) = d.request("GET", "/v1/export", b"");
    assert!(!export.to_string().contains("zebra-4471"));
    let (code, _) = d.get(&format!("/v1/facts/{id}"));
    assert_eq!(code, 404);
    let (code, r) = d.request("DELETE", &format!("/v1/facts/{id}"), b"");
    assert_eq!(
        (code, r["error"]["code"].as_str()),
        (404, Some("not_found"))
    );
    // As of any instant, a forgotten fact never was.
    let (_, r) = d.post(
        "/v1/recall",
        &json!({"query": "locker code zebra", "tiers": ["fact"], "as_of": "9999-01-01T00:00:00Z"}),
    );
    assert!(!r.to_string().contains("zebra-4471"), "{r}");
}

#[test]
fn bad_input_answers_a_clear_4xx() {
    let d = Daemon::start("");
    let bad = |body: Value, status: u16, code: &str, says: &str| {
        let (s, r) = d.post("/v1/facts", &body);
        assert_eq!(s, status, "{body} -> {r}");
        assert_eq!(r["error"]["code"], code, "{body} -> {r}");
        let m = r["error"]["message"].as_str().unwrap();
        assert!(m.contains(says), "{body} -> {m}");
    };
    bad(
        json!({"text": "x", "kind": "opinion"}),
        422,
        "invalid_value",
        "unknown fact kind `opinion`",
    );
    bad(
        json!({"text": "x", "valid_from": "last tuesday"}),
        422,
        "invalid_value",
        "`valid_from`",
    );
    bad(
        json!({"text": "x", "colour": "red"}),
        400,
        "bad_field",
        "colour",
    );
    bad(json!({"kind": "env"}), 400, "bad_field", "text");
    bad(
        json!({"text": "  "}),
        422,
        "invalid_value",
        "`text` must not be empty",
    );
    bad(
        json!({"text": "x", "status": "superseded"}),
        422,
        "invalid_value",
        "active or candidate",
    );
    bad(
        json!({"text": "x", "confidence": 2}),
        422,
        "invalid_value",
        "`confidence`",
    );
    bad(
        json!({"text": "x", "namespace": ""}),
        422,
        "invalid_value",
        "`namespace`",
    );
    bad(
        json!({"text": "x", "supersedes": 999}),
        404,
        "not_found",
        "no fact 999",
    );
    bad(
        json!({"text": "x", "provenance": []}),
        400,
        "bad_field",
        "object",
    );
    bad(
        json!({"text": "x", "provenance": {"who": 1}}),
        400,
        "bad_field",
        "who",
    );

    let (s, r) = d.post("/v1/recall", &json!({"query": "x", "as_of": "soon"}));
    assert_eq!(
        (s, r["error"]["code"].as_str()),
        (422, Some("invalid_value")),
        "{r}"
    );
    assert!(r["error"]["message"].as_str().unwrap().contains("`as_of`"));
    let (s, r) = d.post("/v1/context", &json!({"query": "x", "as_of": "soon"}));
    assert_eq!(s, 422, "{r}");
    let (s, r) = d.post("/v1/recall", &json!({"query": "x", "tiers": ["facts"]}));
    assert_eq!(s, 422, "{r}");
    assert!(
        r["error"]["message"].as_str().unwrap().contains("fact"),
        "{r}"
    );
    for (path, status) in [
        ("/v1/facts?as_of=soon", 422),
        ("/v1/facts?kind=opinion", 422),
        ("/v1/facts?status=maybe", 422),
        ("/v1/facts?colour=red", 400),
        ("/v1/facts/abc", 404),
        ("/v1/facts/0", 404),
    ] {
        let (s, r) = d.get(path);
        assert_eq!(s, status, "{path}: {r}");
    }
    let (s, r) = d.request("PATCH", "/v1/facts/1", br#"{"txt": "x"}"#);
    assert_eq!(s, 400, "{r}");
}

#[test]
fn export_then_import_all_keeps_facts_and_their_history() {
    let mut a = Daemon::start("[checkpoint]\non_shutdown = false");
    let old = create(
        &a,
        json!({"text": "Alice lives in Porto", "slot": "residence", "subject": "Alice"}),
    );
    let old_id = old["fact"]["id"].as_i64().unwrap();
    let new = create(
        &a,
        json!({"text": "Alice lives in Lisbon", "slot": "residence", "subject": "Alice",
               "supersedes": old_id}),
    );
    let new_id = new["fact"]["id"].as_i64().unwrap();
    create(
        &a,
        json!({"text": "Alice likes fado", "status": "candidate", "kind": "preference"}),
    );
    let (_, before) = a.get("/v1/facts?include_retired=true");
    let (code, export) = a.request("GET", "/v1/export", b"");
    assert_eq!(code, 200);
    let body = match export {
        Value::String(s) => s,
        other => other.to_string(),
    };
    assert!(a.stop().success());

    let b = Daemon::start("[checkpoint]\non_shutdown = false");
    let (code, r) = b.request("POST", "/v1/import-all", body.as_bytes());
    assert_eq!(code, 200, "{r}");
    let (_, after) = b.get("/v1/facts?include_retired=true");
    assert_eq!(before["facts"], after["facts"]);
    assert_eq!(before["facts"].as_array().unwrap().len(), 3);
    let q = json!({"query": "where does Alice live", "tiers": ["fact"]});
    assert_eq!(recall_ids(&b, q.clone()), vec![new_id]);
    let mut q_vec = q.clone();
    q_vec["mode"] = json!("vector");
    assert_eq!(recall_ids(&b, q_vec), vec![new_id]);
    let (_, h) = b.get(&format!("/v1/facts/{new_id}"));
    assert_eq!(h["history"].as_array().unwrap().len(), 2, "{h}");
}

#[test]
fn the_background_queue_embeds_facts_for_a_model_that_is_not_inline() {
    let Some(dir) = common::model_dir() else {
        return;
    };
    let d = Daemon::start(&format!(
        "[embed]\nprovider = \"local\"\nmodel_dir = \"{}\"\nthreads = 2",
        dir.display()
    ));
    let cat = create(&d, json!({"text": "Alice adopted a grey cat named Miso"}));
    let cat_id = cat["fact"]["id"].as_i64().unwrap();
    create(
        &d,
        json!({"text": "The quarterly budget review is on Thursday"}),
    );
    common::wait_status(
        &d,
        "fact vectors",
        std::time::Duration::from_secs(60),
        |s| s["embedder"]["backlog"] == 0,
    );
    // No word of the query is in the fact: only its vector finds it.
    let ids = recall_ids(
        &d,
        json!({"query": "feline pet", "tiers": ["fact"], "mode": "vector", "k": 1}),
    );
    assert_eq!(ids, vec![cat_id]);
}
