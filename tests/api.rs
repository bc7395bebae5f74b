//! The HTTP API through the real binary.

mod common;

use common::Daemon;
use serde_json::{Value, json};

fn remember(d: &Daemon, session: &str, body: Value) -> (u16, Value) {
    d.post(&format!("/v1/sessions/{session}/exchanges"), &body)
}

#[test]
fn status_reports_the_documented_fields() {
    let d = Daemon::start("");
    remember(&d, "s1", json!({"role": "user", "content": "hello there"}));
    let (code, s) = d.get("/v1/status");
    assert_eq!(code, 200, "{s}");
    for key in [
        "version", "pid", "uptime_s", "socket", "data_dir", "db_path",
    ] {
        assert!(!s[key].is_null(), "status lacks {key}: {s}");
    }
    assert_eq!(s["pid"].as_u64().unwrap(), d.pid() as u64);
    assert_eq!(s["socket"].as_str().unwrap(), d.socket.to_str().unwrap());
    assert_eq!(
        s["data_dir"].as_str().unwrap(),
        d.data_dir.to_str().unwrap()
    );
    assert!(
        s["db_path"]
            .as_str()
            .unwrap()
            .starts_with(d.data_dir.to_str().unwrap())
    );
    assert_eq!(s["embedder"]["provider"], "hash");
    assert_eq!(s["embedder"]["model"], "memd-hash-v1");
    assert_eq!(s["embedder"]["dim"], 384);
    assert_eq!(s["counts"]["sessions"], 1);
    assert_eq!(s["counts"]["exchanges"], 1);
    let (code, h) = d.get("/v1/health");
    assert_eq!((code, h["status"].as_str()), (200, Some("ok")));
}

#[test]
fn remember_then_recall_ranks_the_match_first() {
    let d = Daemon::start("");
    let texts = [
        "I adopted a grey cat named Miso last spring",
        "The quarterly budget review is scheduled for Thursday",
        "My favourite hiking trail is in the Dolomites",
        "We should refactor the billing service before launch",
        "Remember to water the tomato plants every morning",
    ];
    let mut ids = Vec::new();
    for (i, t) in texts.iter().enumerate() {
        let (code, r) = remember(
            &d,
            &format!("s{}", i % 2),
            json!({"role": "user", "content": t}),
        );
        assert_eq!(code, 201, "{r}");
        assert_eq!(r["duplicate"], false);
        ids.push(r["id"].as_i64().unwrap());
    }
    let (code, r) = d.post(
        "/v1/recall",
        &json!({"query": "when is the budget review?", "k": 3}),
    );
    assert_eq!(code, 200, "{r}");
    let results = r["results"].as_array().unwrap();
    assert_eq!(results.len(), 3);
    assert_eq!(results[0]["id"].as_i64().unwrap(), ids[1], "{r}");
    assert_eq!(results[0]["tier"], "exchange");
    assert_eq!(results[0]["content"], texts[1]);
    for key in [
        "id",
        "ext_id",
        "session_id",
        "role",
        "content",
        "created_at",
        "score",
    ] {
        assert!(results[0].get(key).is_some(), "result lacks {key}");
    }
    assert!(r["took_ms"].as_f64().is_some());
    let scores: Vec<f64> = results
        .iter()
        .map(|x| x["score"].as_f64().unwrap())
        .collect();
    assert!(scores.windows(2).all(|w| w[0] >= w[1]), "{scores:?}");

    // Session filter.
    let (_, r) = d.post(
        "/v1/recall",
        &json!({"query": "budget review", "session_id": "s0"}),
    );
    assert!(
        r["results"]
            .as_array()
            .unwrap()
            .iter()
            .all(|x| x["session_id"] == "s0")
    );
}

fn import_body(n: usize, bad_at: &[usize]) -> (String, Vec<usize>) {
    let mut lines = Vec::new();
    let mut bad_lines = Vec::new();
    let mut good = 0;
    while good < n || bad_lines.len() < bad_at.len() {
        let line_no = lines.len() + 1;
        if bad_at.contains(&line_no) {
            lines.push(if bad_lines.is_empty() {
                "{\"session_id\": \"x\", \"role\": \"user\", \"content\": ".to_owned()
            } else {
                json!({"session_id": "x", "role": "narrator", "content": "bad role"}).to_string()
            });
            bad_lines.push(line_no);
        } else {
            lines.push(
                json!({
                    "session_id": format!("imp-{}", good / 100),
                    "role": if good % 2 == 0 { "user" } else { "assistant" },
                    "content": format!("imported turn number {good} about topic {}", good % 37),
                    "ext_id": format!("t{good}"),
                    "created_at": "2024-03-01T10:00:00Z",
                    "metadata": {"n": good},
                })
                .to_string(),
            );
            good += 1;
        }
    }
    (lines.join("\n") + "\n", bad_lines)
}

#[test]
fn import_reports_bad_lines_by_number_and_is_idempotent() {
    let d = Daemon::start("");
    let (body, bad) = import_body(1000, &[17, 512]);
    let (code, r) = d.request("POST", "/v1/import", body.as_bytes());
    assert_eq!(code, 200, "{r}");
    assert_eq!(r["imported"], 1000, "{r}");
    assert_eq!(r["duplicates"], 0);
    let rejected = r["rejected"].as_array().unwrap();
    let lines: Vec<usize> = rejected
        .iter()
        .map(|x| x["line"].as_u64().unwrap() as usize)
        .collect();
    assert_eq!(lines, bad);
    assert!(
        rejected[1]["error"].as_str().unwrap().contains("narrator"),
        "{r}"
    );

    let (_, s) = d.get("/v1/status");
    assert_eq!(s["counts"]["exchanges"], 1000);
    assert_eq!(s["counts"]["sessions"], 10);

    let (code, r) = d.request("POST", "/v1/import", body.as_bytes());
    assert_eq!(code, 200);
    assert_eq!(
        (r["imported"].as_u64(), r["duplicates"].as_u64()),
        (Some(0), Some(1000)),
        "{r}"
    );
    let (_, s) = d.get("/v1/status");
    assert_eq!(s["counts"]["exchanges"], 1000);

    // History keeps order, timestamps and metadata.
    let (code, h) = d.get("/v1/sessions/imp-3");
    assert_eq!(code, 200);
    let ex = h["exchanges"].as_array().unwrap();
    assert_eq!(ex.len(), 100);
    assert_eq!(ex[0]["ext_id"], "t300");
    assert_eq!(ex[0]["created_at"], "2024-03-01T10:00:00.000Z");
    assert_eq!(ex[0]["metadata"]["n"], 300);
    let ids: Vec<i64> = ex.iter().map(|x| x["id"].as_i64().unwrap()).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]));
}

#[test]
fn remember_with_ext_id_is_idempotent() {
    let d = Daemon::start("");
    let body = json!({"role": "user", "content": "only once", "ext_id": "m-1"});
    let (c1, r1) = remember(&d, "s", body.clone());
    let (c2, r2) = remember(&d, "s", body);
    assert_eq!((c1, c2), (201, 200));
    assert_eq!(r1["id"], r2["id"]);
    assert_eq!(r2["duplicate"], true);
}

#[test]
fn bad_requests_get_json_errors_with_the_right_status() {
    let d = Daemon::start("[api]\nmax_body_bytes = 4096\nmax_content_bytes = 1000\n");
    let cases: Vec<(&str, &str, Vec<u8>, u16, &str)> = vec![
        (
            "POST",
            "/v1/recall",
            b"{\"query\": ".to_vec(),
            400,
            "malformed_json",
        ),
        (
            "POST",
            "/v1/recall",
            b"not json at all".to_vec(),
            400,
            "malformed_json",
        ),
        (
            "POST",
            "/v1/recall",
            b"{\"query\": \"\xff\xfe\"}".to_vec(),
            400,
            "malformed_json",
        ),
        (
            "POST",
            "/v1/recall",
            b"{\"query\": \"x\", \"bogus\": 1}".to_vec(),
            400,
            "bad_field",
        ),
        (
            "POST",
            "/v1/recall",
            b"{\"query\": 42}".to_vec(),
            400,
            "bad_field",
        ),
        (
            "POST",
            "/v1/recall",
            b"{\"query\": \"x\", \"k\": 0}".to_vec(),
            422,
            "invalid_value",
        ),
        (
            "POST",
            "/v1/recall",
            b"{\"query\": \"   \"}".to_vec(),
            422,
            "invalid_value",
        ),
        (
            "POST",
            "/v1/sessions/s/exchanges",
            b"{\"role\": \"robot\", \"content\": \"x\"}".to_vec(),
            422,
            "invalid_value",
        ),
        (
            "POST",
            "/v1/sessions/s/exchanges",
            b"{\"role\": \"user\", \"content\": \"x\", \"created_at\": \"yesterday\"}".to_vec(),
            422,
            "invalid_value",
        ),
        (
            "POST",
            "/v1/sessions/s/exchanges",
            b"{\"role\": \"user\", \"content\": \"x\", \"metadata\": [1]}".to_vec(),
            422,
            "invalid_value",
        ),
        (
            "POST",
            "/v1/sessions/s/exchanges",
            format!(
                "{{\"role\": \"user\", \"content\": \"{}\"}}",
                "a".repeat(2000)
            )
            .into_bytes(),
            422,
            "invalid_value",
        ),
        (
            "POST",
            "/v1/sessions/s/exchanges",
            format!(
                "{{\"role\": \"user\", \"content\": \"{}\"}}",
                "a".repeat(10_000)
            )
            .into_bytes(),
            413,
            "payload_too_large",
        ),
        (
            "POST",
            "/v1/import",
            vec![b'x'; 100_000],
            413,
            "payload_too_large",
        ),
        ("GET", "/v1/sessions/nope", vec![], 404, "not_found"),
        ("DELETE", "/v1/sessions/nope", vec![], 404, "not_found"),
        ("GET", "/v1/nothing-here", vec![], 404, "not_found"),
        ("GET", "/v1/sessions?limit=lots", vec![], 400, "bad_field"),
    ];
    for (method, path, body, status, code) in cases {
        let (got, v) = d.request(method, path, &body);
        assert_eq!(got, status, "{method} {path}: {v}");
        assert_eq!(v["error"]["code"], code, "{method} {path}: {v}");
        assert!(
            v["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty()),
            "{v}"
        );
    }
    // Nothing above was stored, and the daemon still serves.
    let (_, s) = d.get("/v1/status");
    assert_eq!(s["counts"]["exchanges"], 0);
}

#[test]
fn namespaces_never_mix() {
    let d = Daemon::start("");
    remember(
        &d,
        "a1",
        json!({"role": "user", "content": "alice likes green tea", "namespace": "alice"}),
    );
    remember(
        &d,
        "b1",
        json!({"role": "user", "content": "bob likes green tea", "namespace": "bob"}),
    );
    // Later turns inherit the session's namespace.
    let (code, r) = remember(
        &d,
        "a1",
        json!({"role": "assistant", "content": "noted about tea"}),
    );
    assert_eq!((code, r["namespace"].as_str()), (201, Some("alice")));
    // A turn claiming another namespace for an existing session is refused.
    let (code, r) = remember(
        &d,
        "a1",
        json!({"role": "user", "content": "x", "namespace": "bob"}),
    );
    assert_eq!(code, 409, "{r}");
    assert_eq!(r["error"]["code"], "namespace_mismatch");

    let (_, r) = d.post(
        "/v1/recall",
        &json!({"query": "green tea", "namespace": "bob"}),
    );
    let results = r["results"].as_array().unwrap();
    assert_eq!(results.len(), 1);
    assert_eq!(results[0]["session_id"], "b1");
    let (_, r) = d.post("/v1/recall", &json!({"query": "green tea"}));
    assert!(
        r["results"].as_array().unwrap().is_empty(),
        "default namespace has nothing: {r}"
    );

    let (_, l) = d.get("/v1/sessions?namespace=alice");
    let ids: Vec<&str> = l["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec!["a1"]);
    assert_eq!(l["sessions"][0]["exchanges"], 2);
}

#[test]
fn deleting_a_session_removes_it_from_recall_at_once() {
    let d = Daemon::start("");
    remember(
        &d,
        "gone",
        json!({"role": "user", "content": "the secret code word is pineapple"}),
    );
    remember(
        &d,
        "kept",
        json!({"role": "user", "content": "pineapple pizza is controversial"}),
    );
    let (code, r) = d.request("DELETE", "/v1/sessions/gone", b"");
    assert_eq!(code, 200, "{r}");
    assert_eq!(r["exchanges"], 1);
    for mode in ["hybrid", "lexical", "vector"] {
        let (_, r) = d.post(
            "/v1/recall",
            &json!({"query": "secret code word pineapple", "mode": mode}),
        );
        let sessions: Vec<&str> = r["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x["session_id"].as_str().unwrap())
            .collect();
        assert_eq!(sessions, vec!["kept"], "{mode}");
    }
    assert_eq!(d.get("/v1/sessions/gone").0, 404);
}

#[test]
fn metrics_count_requests_per_route() {
    let d = Daemon::start("");
    d.post("/v1/recall", &json!({"query": "anything"}));
    d.post("/v1/recall", &json!({"query": ""}));
    let (code, bytes) = common::http(&d.socket, "GET", "/v1/metrics", b"");
    assert_eq!(code, 200);
    let text = String::from_utf8(bytes).unwrap();
    assert!(
        text.contains(
            "memd_http_requests_total{route=\"/v1/recall\",method=\"POST\",status=\"200\"} 1"
        ),
        "{text}"
    );
    assert!(
        text.contains(
            "memd_http_requests_total{route=\"/v1/recall\",method=\"POST\",status=\"422\"} 1"
        ),
        "{text}"
    );
    assert!(
        text.contains(
            "memd_http_request_duration_seconds_bucket{route=\"/v1/recall\",le=\"+Inf\"} 2"
        ),
        "{text}"
    );
    assert!(
        text.contains("memd_store_rows{table=\"exchanges\"} 0"),
        "{text}"
    );
    assert!(
        text.contains("memd_store_file_bytes{file=\"db\"}"),
        "{text}"
    );
}

#[test]
fn peers_outside_allowed_uids_get_403() {
    // The test runs as some uid; allow only another one.
    let me = unsafe { libc::getuid() };
    let other = if me == 4242 { 4243 } else { 4242 };
    let d = Daemon::start(&format!("daemon.allowed_uids = [{other}]"));
    let (code, r) = d.get("/v1/status");
    assert_eq!(code, 403, "{r}");
    assert_eq!(r["error"]["code"], "forbidden");
    d.wait_log("refused a connection: its uid is not in daemon.allowed_uids");
}

#[test]
fn queries_full_of_fts_syntax_or_only_stopwords_never_fail() {
    let d = Daemon::start("");
    remember(
        &d,
        "s",
        json!({"role": "user", "content": "cats and dogs NEAR the river"}),
    );
    for q in [
        "the of and to",
        "?!... ---",
        "\"cats",
        "cats*",
        "NEAR(cats dogs, 2)",
        "-dogs",
        "content:cats",
        "cats AND OR NOT dogs",
        "\"\"\"",
        "{ ( [ ^ ] ) }",
    ] {
        for mode in ["hybrid", "lexical", "vector"] {
            let (code, r) = d.post(
                "/v1/recall",
                &json!({"query": q, "mode": mode, "explain": true}),
            );
            assert_eq!(code, 200, "{q:?} {mode}: {r}");
            assert!(r["results"].is_array());
        }
    }
    let (_, r) = d.post(
        "/v1/recall",
        &json!({"query": "the of and to", "mode": "lexical"}),
    );
    assert!(
        r["results"].as_array().unwrap().is_empty(),
        "only stopwords: empty lexical list"
    );
    let (_, r) = d.post(
        "/v1/recall",
        &json!({"query": "NEAR(cats", "mode": "lexical"}),
    );
    assert_eq!(r["results"][0]["content"], "cats and dogs NEAR the river");
}

#[test]
fn explain_fields_follow_the_mode() {
    let d = Daemon::start("");
    for (i, t) in [
        "alpha beta gamma",
        "beta gamma delta",
        "unrelated words here",
    ]
    .iter()
    .enumerate()
    {
        remember(&d, &format!("s{i}"), json!({"role": "user", "content": t}));
    }
    let (_, r) = d.post(
        "/v1/recall",
        &json!({"query": "beta gamma", "mode": "lexical", "explain": true}),
    );
    for x in r["results"].as_array().unwrap() {
        assert!(x["explain"]["bm25_rank"].is_u64(), "{x}");
        assert!(x["explain"]["vector_rank"].is_null(), "{x}");
    }
    let (_, r) = d.post(
        "/v1/recall",
        &json!({"query": "beta gamma", "mode": "vector", "explain": true}),
    );
    for x in r["results"].as_array().unwrap() {
        assert!(x["explain"]["bm25_rank"].is_null(), "{x}");
    }
    assert!(r["results"][0]["explain"]["vector_rank"].is_u64());
    let (_, r) = d.post(
        "/v1/recall",
        &json!({"query": "beta gamma", "explain": true, "neighbor_weight": 0}),
    );
    let first = &r["results"][0];
    assert!(
        first["explain"]["bm25_rank"].is_u64() && first["explain"]["vector_rank"].is_u64(),
        "{r}"
    );
    let fused = first["explain"]["fused"].as_f64().unwrap();
    assert!((fused - first["score"].as_f64().unwrap()).abs() < 1e-9);
    for key in [
        "tier",
        "id",
        "ext_id",
        "session_id",
        "namespace",
        "created_at",
        "score",
    ] {
        assert!(first.get(key).is_some(), "{key}");
    }
    // Without explain, no explain field.
    let (_, r) = d.post("/v1/recall", &json!({"query": "beta gamma"}));
    assert!(r["results"][0].get("explain").is_none());
    let (code, _) = d.post("/v1/recall", &json!({"query": "x", "mode": "magic"}));
    assert_eq!(code, 400);
    let (code, r) = d.post("/v1/recall", &json!({"query": "x", "tiers": ["wisdom"]}));
    assert_eq!(code, 422, "{r}");
    assert!(
        r["error"]["message"].as_str().unwrap().contains("wisdom"),
        "{r}"
    );
    let (code, r) = d.post("/v1/recall", &json!({"query": "beta", "tiers": ["gist"]}));
    assert_eq!(code, 200, "{r}");
    assert!(
        r["results"].as_array().unwrap().is_empty(),
        "no gists yet: {r}"
    );
}

#[test]
fn namespace_isolation_holds_when_only_the_other_namespace_matches() {
    let d = Daemon::start("");
    remember(
        &d,
        "b",
        json!({"role": "user", "content": "zanzibar spice market", "namespace": "bob"}),
    );
    remember(
        &d,
        "a",
        json!({"role": "user", "content": "something else entirely", "namespace": "alice"}),
    );
    for mode in ["hybrid", "lexical", "vector"] {
        let (_, r) = d.post(
            "/v1/recall",
            &json!({"query": "zanzibar spice market", "namespace": "alice", "mode": mode}),
        );
        assert!(
            r["results"]
                .as_array()
                .unwrap()
                .iter()
                .all(|x| x["namespace"] == "alice"),
            "{mode}: {r}"
        );
    }
}

#[test]
fn session_back_fill_and_budget_packing() {
    let d = Daemon::start("");
    for i in 0..5 {
        remember(
            &d,
            "chat",
            json!({"role": "user", "content": format!("turn {i} of a long chat"), "created_at": format!("2024-01-01T00:00:0{i}Z")}),
        );
    }
    remember(
        &d,
        "chat",
        json!({"role": "user", "content": "the passport is in the blue drawer", "created_at": "2024-01-01T00:00:09Z"}),
    );
    // The turn next to a strong match is lifted by it (neighbor_weight).
    let (_, r) = d.post("/v1/recall", &json!({"query": "passport drawer", "session_id": "chat", "k": 2, "mode": "lexical", "explain": true}));
    assert_eq!(r["results"][1]["content"], "turn 4 of a long chat");
    assert!(
        r["results"][1]["explain"]["neighbor_boost"]
            .as_f64()
            .unwrap()
            > 0.0,
        "{r}"
    );
    let (_, r) = d.post("/v1/recall", &json!({"query": "passport drawer", "session_id": "chat", "k": 4, "mode": "lexical", "explain": true, "neighbor_weight": 0}));
    let res = r["results"].as_array().unwrap();
    assert_eq!(res.len(), 4, "{r}");
    assert_eq!(res[0]["content"], "the passport is in the blue drawer");
    assert!(res[0]["explain"].get("supplement").is_none());
    for x in &res[1..] {
        assert_eq!(x["explain"]["supplement"], "recent", "{x}");
    }
    // Supplements are the most recent other turns, newest first.
    assert_eq!(res[1]["content"], "turn 4 of a long chat");
    // Budget: greedy, in rank order.
    let (_, r) = d.post("/v1/recall", &json!({"query": "passport drawer", "session_id": "chat", "k": 4, "mode": "lexical", "budget_chars": 50}));
    let total: usize = r["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["content"].as_str().unwrap().chars().count())
        .sum();
    assert!(total <= 50, "{r}");
    assert_eq!(
        r["results"][0]["content"],
        "the passport is in the blue drawer"
    );
}
