//! The dream cycle through the real binary: consolidation of a LoCoMo
//! conversation, stability of a second pass, re-summarising and deletes,
//! the schedule and idle triggers, one pass at a time, SIGTERM mid-pass,
//! and the OpenAI-compatible provider against a real HTTP server.

mod common;

use std::collections::{BTreeSet, HashMap};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{Daemon, wait_status};
use serde_json::{Value, json};

const HASH: &str = "[embed]\nprovider = \"hash\"\n";

fn locomo_path() -> PathBuf {
    std::env::var_os("MEMD_LOCOMO")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/data/locomo/locomo-dev.json")
        })
}

/// NDJSON of one LoCoMo conversation, the way scripts/locomo_eval.py imports
/// it: one session per LoCoMo session, `Speaker: text`, session dates.
fn locomo_ndjson(conv: &Value, ns: &str, max_sessions: usize) -> (String, Vec<(String, String)>) {
    let c = &conv["conversation"];
    let mut keys: Vec<usize> = c
        .as_object()
        .unwrap()
        .keys()
        .filter_map(|k| k.strip_prefix("session_")?.parse().ok())
        .collect();
    keys.sort_unstable();
    let mut out = String::new();
    let mut sessions = Vec::new();
    for n in keys.into_iter().take(max_sessions) {
        let when = c[format!("session_{n}_date_time")].as_str().unwrap();
        let base = chrono::NaiveDateTime::parse_from_str(when, "%I:%M %p on %d %B, %Y").unwrap();
        let sid = format!("{}-s{n}", conv["sample_id"].as_str().unwrap());
        for (i, t) in c[format!("session_{n}")]
            .as_array()
            .unwrap()
            .iter()
            .enumerate()
        {
            let at = base + chrono::Duration::seconds(10 * i as i64);
            let line = json!({
                "session_id": sid, "namespace": ns, "role": "user",
                "content": format!("{}: {}", t["speaker"].as_str().unwrap(), t["text"].as_str().unwrap()),
                "ext_id": t["dia_id"], "created_at": at.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
            });
            out.push_str(&line.to_string());
            out.push('\n');
        }
        sessions.push((sid, base.format("%Y-%m").to_string()));
    }
    (out, sessions)
}

fn dream(d: &Daemon, body: Value) -> Value {
    let (code, r) = d.post("/v1/dream", &body);
    assert_eq!(code, 200, "{r}");
    r
}

fn last_exchange_id(d: &Daemon, sid: &str) -> i64 {
    let (code, s) = d.get(&format!("/v1/sessions/{sid}"));
    assert_eq!(code, 200, "{s}");
    s["exchanges"].as_array().unwrap().last().unwrap()["id"]
        .as_i64()
        .unwrap()
}

fn remember(d: &Daemon, sid: &str, ns: &str, text: &str) {
    let (code, r) = d.post(
        &format!("/v1/sessions/{sid}/exchanges"),
        &json!({"namespace": ns, "role": "user", "content": text}),
    );
    assert!(code == 201 || code == 200, "{r}");
}

#[test]
fn locomo_conversation_consolidates_then_stays_put() {
    let data: Value = serde_json::from_slice(
        &std::fs::read(locomo_path())
            .expect("LoCoMo dev set: ../shared/data/locomo/locomo-dev.json (or MEMD_LOCOMO=path)"),
    )
    .unwrap();
    let d = Daemon::start(&format!(
        "{HASH}[dream]\nenabled = false\nmax_sessions_per_pass = 7\n"
    ));
    let ns = "locomo";
    let (ndjson, sessions) = locomo_ndjson(&data[0], ns, 12);
    let (code, r) = d.request("POST", "/v1/import", ndjson.as_bytes());
    assert_eq!(code, 200, "{r}");

    // Dry run: says what would happen, writes nothing.
    let out = d.ctl(&["dream", "--namespace", ns, "--force", "--dry-run", "--json"]);
    assert!(out.status.success(), "{}", common::stderr(&out));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["runs"][0]["outcome"], "dry-run", "{v}");
    assert_eq!(
        d.get(&format!("/v1/sessions/{}/gist", sessions[0].0)).0,
        404
    );

    // Bounded passes (7 sessions each) until caught up, through ctl.
    let out = d.ctl(&[
        "dream",
        "--namespace",
        ns,
        "--force",
        "--until-caught-up",
        "--wait",
        "--json",
    ]);
    assert!(out.status.success(), "{}", common::stderr(&out));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        v["runs"].as_array().unwrap().len() >= 2,
        "12 sessions at 7 per pass: {v}"
    );

    for (sid, _) in &sessions {
        let (code, g) = d.get(&format!("/v1/sessions/{sid}/gist"));
        assert_eq!(code, 200, "{sid}: {g}");
        assert_eq!(
            g["last_exchange_id"].as_i64(),
            Some(last_exchange_id(&d, sid)),
            "{g}"
        );
        assert!(g["text"].as_str().unwrap().contains(" talked on "), "{g}");
    }
    let (_, eras) = d.get(&format!("/v1/eras?namespace={ns}"));
    let months: BTreeSet<String> = sessions.iter().map(|s| s.1.clone()).collect();
    let got: BTreeSet<String> = eras["eras"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["month"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(got, months, "one era per month");
    let (code, profile) = d.get(&format!("/v1/profile?namespace={ns}"));
    assert_eq!(code, 200, "{profile}");
    assert_eq!(
        profile["sessions_covered"].as_u64(),
        Some(sessions.len() as u64)
    );
    assert!(
        !profile["facts"].as_array().unwrap().is_empty(),
        "{profile}"
    );
    let (code, narrative) = d.get(&format!("/v1/narrative?namespace={ns}"));
    assert_eq!(code, 200);
    assert!(
        narrative["text"]
            .as_str()
            .unwrap()
            .starts_with("Most recently"),
        "{narrative}"
    );
    let (code, me) = d.get(&format!("/v1/self?namespace={ns}"));
    assert_eq!(code, 200);
    assert!(me["state"]["drives"]["continuity"].is_number(), "{me}");
    let out = d.ctl(&["dream", "runs", "--namespace", ns]);
    assert!(
        common::stdout(&out).contains("manual"),
        "{}",
        common::stdout(&out)
    );

    // Gists and eras are recall tiers.
    let (_, r) = d.post(
        "/v1/recall",
        &json!({"query": "support group", "namespace": ns, "tiers": ["gist", "era"]}),
    );
    let tiers: BTreeSet<&str> = r["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["tier"].as_str().unwrap())
        .collect();
    assert!(
        !tiers.is_empty() && tiers.iter().all(|t| *t == "gist" || *t == "era"),
        "{r}"
    );

    // A second forced pass with nothing new changes nothing.
    let before = (
        d.get(&format!("/v1/eras?namespace={ns}")).1,
        d.get(&format!("/v1/profile?namespace={ns}")).1,
    );
    let v = dream(&d, json!({"namespace": ns, "force": true, "wait": true}));
    assert_eq!(v["runs"][0]["outcome"], "nothing", "{v}");
    assert!(
        v["runs"][0]["actions"].as_array().unwrap().is_empty(),
        "{v}"
    );
    let after = (
        d.get(&format!("/v1/eras?namespace={ns}")).1,
        d.get(&format!("/v1/profile?namespace={ns}")).1,
    );
    assert_eq!(before, after);

    // Five new turns in one session re-summarise that session only.
    let (sid, _) = &sessions[3];
    for i in 0..5 {
        remember(
            &d,
            sid,
            ns,
            &format!("Caroline: I adopted a puppy named Biscuit number {i}."),
        );
    }
    let v = dream(&d, json!({"namespace": ns, "force": true, "wait": true}));
    let gists: Vec<&Value> = v["runs"][0]["actions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["action"] == "gist")
        .collect();
    assert_eq!(gists.len(), 1, "{v}");
    assert_eq!(gists[0]["session_id"], sid.as_str());
    assert_eq!(
        d.get(&format!("/v1/sessions/{sid}/gist")).1["last_exchange_id"].as_i64(),
        Some(last_exchange_id(&d, sid))
    );

    // Deleting a session takes its gist and marks what depended on it.
    let (gone, gone_month) = &sessions[0];
    let (code, _) = d.request("DELETE", &format!("/v1/sessions/{gone}"), b"");
    assert_eq!(code, 200);
    assert_eq!(d.get(&format!("/v1/sessions/{gone}/gist")).0, 404);
    assert_eq!(
        d.get(&format!("/v1/profile?namespace={ns}")).1["stale"],
        true
    );
    let (_, eras) = d.get(&format!("/v1/eras?namespace={ns}"));
    let era = eras["eras"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["month"] == gone_month.as_str())
        .unwrap()
        .clone();
    assert_eq!(era["stale"], true, "{era}");
    let (_, r) = d.post(
        "/v1/recall",
        &json!({"query": "support group LGBTQ", "namespace": ns, "tiers": ["gist"], "k": 50}),
    );
    assert!(
        r["results"]
            .as_array()
            .unwrap()
            .iter()
            .all(|h| h["session_id"] != gone.as_str()),
        "{r}"
    );
    dream(
        &d,
        json!({"namespace": ns, "wait": true, "drive": "coherence", "force": true}),
    );
    let (_, profile) = d.get(&format!("/v1/profile?namespace={ns}"));
    assert_eq!(
        profile["sessions_covered"].as_u64(),
        Some(sessions.len() as u64 - 1),
        "{profile}"
    );
    assert_eq!(profile["stale"], false);
    let (_, eras) = d.get(&format!("/v1/eras?namespace={ns}"));
    for e in eras["eras"].as_array().unwrap() {
        assert_eq!(e["stale"], false, "{e}");
        assert!(
            e["sessions"]
                .as_array()
                .unwrap()
                .iter()
                .all(|s| s != gone.as_str()),
            "{e}"
        );
    }

    // The context pack: consolidated sections first, under the budget.
    let (code, pack) = d.post(
        "/v1/context",
        &json!({"query": "What did Caroline research?", "namespace": ns,
        "session_id": sessions[5].0, "budget_chars": 3000}),
    );
    assert_eq!(code, 200, "{pack}");
    let names: Vec<&str> = pack["sections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(names.first(), Some(&"profile"), "{names:?}");
    assert!(names.contains(&"exchanges"), "{names:?}");
    assert!(pack["used_chars"].as_u64().unwrap() <= 3000);
    assert!(!pack["ids"].as_array().unwrap().is_empty());
    let (_, big) = d.post(
        "/v1/context",
        &json!({"query": "What did Caroline research?", "namespace": ns,
        "session_id": sessions[5].0, "budget_chars": 20000}),
    );
    let names: Vec<&str> = big["sections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"gists and eras") && names.contains(&"recent turns"),
        "{names:?}"
    );
    let (code, bare) = d.post(
        "/v1/context",
        &json!({"query": "adoption", "namespace": ns, "without_dream": true}),
    );
    assert_eq!(code, 200);
    assert!(
        bare["sections"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["name"] != "profile"),
        "{bare}"
    );
    // Metrics carry the drives.
    let (code, body) = common::http(&d.socket, "GET", "/v1/metrics", b"");
    assert_eq!(code, 200);
    let text = String::from_utf8(body).unwrap();
    assert!(
        text.contains("memd_dream_drive{drive=\"stability\"}"),
        "{text}"
    );
    assert!(
        text.contains("memd_dream_backlog{what=\"dirty_sessions\"} 0"),
        "{text}"
    );
    // Status shows the dream section.
    let (_, st) = d.get("/v1/status");
    assert!(st["dream"]["drives"][ns]["stability"].is_number(), "{st}");
    assert_eq!(st["dream"]["enabled"], false);
}

fn four_turns(d: &Daemon, sid: &str, ns: &str) {
    for t in [
        "Ana: I work as a nurse at the city hospital.",
        "Ana: My favourite food is ramen with extra egg.",
        "Ana: I love hiking in the mountains on weekends.",
        "Ana: I am planning to visit Japan next spring.",
    ] {
        remember(d, sid, ns, t);
    }
}

#[test]
fn schedule_and_idle_triggers_fire_passes() {
    // Every second from the schedule; idle off.
    let d = Daemon::start(&format!(
        "{HASH}[dream]\nschedule = \"* * * * * *\"\ntimezone = \"UTC\"\nidle_after_s = 0\n"
    ));
    four_turns(&d, "cron-1", "cron");
    wait_status(&d, "a scheduled pass", Duration::from_secs(15), |_| {
        d.get("/v1/sessions/cron-1/gist").0 == 200
    });
    let (_, runs) = d.get("/v1/dream/runs?namespace=cron");
    assert!(
        runs["runs"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["trigger"] == "schedule"),
        "{runs}"
    );
    let (_, st) = d.get("/v1/status");
    assert!(st["dream"]["next_scheduled"].is_string(), "{st}");
    drop(d);

    // Idle after 1 s; the schedule far away.
    let d = Daemon::start(&format!(
        "{HASH}[dream]\nschedule = \"0 0 3 1 1 *\"\nidle_after_s = 1\n"
    ));
    four_turns(&d, "idle-1", "idle");
    let t0 = Instant::now();
    wait_status(&d, "an idle pass", Duration::from_secs(15), |_| {
        d.get("/v1/sessions/idle-1/gist").0 == 200
    });
    assert!(
        t0.elapsed() >= Duration::from_millis(900),
        "fired before the quiet period"
    );
    let (_, runs) = d.get("/v1/dream/runs?namespace=idle");
    assert!(
        runs["runs"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["trigger"] == "idle"),
        "{runs}"
    );
}

#[test]
fn reload_changes_dream_settings_live() {
    let d = Daemon::start(&format!(
        "{HASH}[dream]\nschedule = \"0 0 3 1 1 *\"\nidle_after_s = 0\n"
    ));
    four_turns(&d, "r-1", "r");
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(d.get("/v1/sessions/r-1/gist").0, 404, "idle trigger is off");
    common::write_config(
        &d.config,
        &d.data_dir,
        &d.socket,
        &format!("{HASH}[dream]\nschedule = \"* * * * * *\"\nidle_after_s = 1\n"),
    );
    d.signal(libc::SIGHUP);
    d.wait_log("configuration change takes effect only after a restart");
    wait_status(
        &d,
        "an idle pass after the reload",
        Duration::from_secs(15),
        |_| d.get("/v1/sessions/r-1/gist").0 == 200,
    );
    let (_, runs) = d.get("/v1/dream/runs?namespace=r");
    // The schedule is restart-only: every pass came from the idle trigger.
    assert!(
        runs["runs"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["trigger"] == "idle"),
        "{runs}"
    );
    assert!(d.log_text().contains("dream.schedule"), "{}", d.log_text());
}

#[test]
fn run_records_are_bounded() {
    let d = Daemon::start(&format!("{HASH}[dream]\nenabled = false\nkeep_runs = 2\n"));
    four_turns(&d, "k-1", "k");
    for _ in 0..4 {
        dream(
            &d,
            json!({"namespace": "k", "force": true, "dry_run": true}),
        );
    }
    let (_, runs) = d.get("/v1/dream/runs?namespace=k");
    let ids: Vec<i64> = runs["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, vec![4, 3], "{runs}");
}

/// A tiny OpenAI-compatible `/chat/completions` server: answers each
/// request with the next scripted behaviour (then the last one forever).
struct FakeLlm {
    url: String,
    requests: Arc<AtomicUsize>,
    bodies: Arc<Mutex<Vec<Value>>>,
}

#[derive(Clone)]
enum Answer {
    Text(&'static str),
    Json(&'static str),
    Truncated,
    Status(u16),
    Slow(Duration),
    /// An error page that echoes the request's Authorization header.
    EchoAuth(u16),
}

fn fake_llm(script: Vec<Answer>) -> FakeLlm {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/v1", listener.local_addr().unwrap());
    let requests = Arc::new(AtomicUsize::new(0));
    let bodies = Arc::new(Mutex::new(Vec::new()));
    let (n, b) = (requests.clone(), bodies.clone());
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let i = n.fetch_add(1, Ordering::SeqCst);
            let answer = script[i.min(script.len() - 1)].clone();
            let b = b.clone();
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut len = 0usize;
                let mut auth = String::new();
                let mut line = String::new();
                let mut first = true;
                loop {
                    line.clear();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 {
                        return;
                    }
                    if first {
                        assert!(line.starts_with("POST /v1/chat/completions"), "{line}");
                        first = false;
                    }
                    if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                        len = v.trim().parse().unwrap();
                    }
                    if line.to_ascii_lowercase().starts_with("authorization:") {
                        auth = line.trim().to_owned();
                    }
                    if line == "\r\n" {
                        break;
                    }
                }
                let mut body = vec![0; len];
                reader.read_exact(&mut body).unwrap();
                let req: Value = serde_json::from_slice(&body).unwrap();
                b.lock().unwrap().push(req);
                let chat = |content: &str, finish: &str| {
                    json!({"id": "x", "object": "chat.completion", "model": "fake",
                        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": finish}],
                        "usage": {"prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120}})
                    .to_string()
                };
                let (status, text) = match answer {
                    Answer::Text(t) => (200, chat(t, "stop")),
                    Answer::Json(t) => (200, chat(t, "stop")),
                    Answer::Truncated => (200, chat("A summary that was cut", "length")),
                    Answer::Status(s) => (s, json!({"error": {"message": "busy"}}).to_string()),
                    Answer::EchoAuth(s) => (
                        s,
                        json!({"error": {"message": format!("bad request; you sent {auth}")}})
                            .to_string(),
                    ),
                    Answer::Slow(d) => {
                        std::thread::sleep(d);
                        (200, chat("Slow summary of the session.", "stop"))
                    }
                };
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{text}",
                    text.len()
                );
            });
        }
    });
    FakeLlm {
        url,
        requests,
        bodies,
    }
}

/// The openai provider against `url`; fact extraction (its own LLM call
/// per session) off unless `extract`, so the scripts below see only the
/// consolidation calls.
fn openai_config(url: &str, extra: &str) -> String {
    openai_config_extracting(url, extra, false)
}

fn openai_config_extracting(url: &str, extra: &str, extract: bool) -> String {
    format!(
        "{HASH}[dream]\nenabled = false\nprovider = \"openai\"\nmax_attempts = 2\n{extra}\n[dream.openai]\nbase_url = \"{url}\"\nmodel = \"fake\"\nmax_retries = 1\ntimeout_s = 20\n[learn]\nextract = {extract}\n"
    )
}

#[test]
fn openai_provider_extracts_facts_under_a_schema_and_retries_bad_answers() {
    // Pass 1: gist, an unusable facts answer, era, profile, narrative.
    // Pass 2: the facts call again, answered properly.
    let llm = fake_llm(vec![
        Answer::Text("Ana talked about work, food, hiking and Japan."),
        Answer::Text("Ana is a nurse."),
        Answer::Text("A month of plans."),
        Answer::Json("{\"summary\": \"Ana is a nurse.\", \"facts\": []}"),
        Answer::Text("Ana keeps planning."),
        Answer::Json(
            r#"{"add": [{"text": "Ana loves hiking in the mountains.", "subject": "Ana", "kind": "preference", "slot": "hobby", "turn": 3}],
                "supersede": [{"id": 1, "text": "Ana works as a nurse at the city hospital.", "subject": "Ana", "kind": "user_profile", "slot": "job_title", "turn": 1}]}"#,
        ),
    ]);
    let d = Daemon::start(&openai_config_extracting(&llm.url, "", true));
    let (code, old) = d.post(
        "/v1/facts",
        &json!({"namespace": "llm", "text": "Ana is a teacher.", "subject": "Ana", "slot": "job_title", "kind": "user_profile"}),
    );
    assert_eq!(code, 201, "{old}");
    four_turns(&d, "llm-f", "llm");
    let v = dream(&d, json!({"namespace": "llm", "force": true, "wait": true}));
    let errors = v["runs"][0]["errors"].to_string();
    assert!(errors.contains("facts llm-f"), "{v}");
    let live = |d: &Daemon| d.get("/v1/facts?namespace=llm").1["facts"].clone();
    assert_eq!(
        live(&d).as_array().unwrap().len(),
        1,
        "only the client's fact"
    );

    let v = dream(&d, json!({"namespace": "llm", "force": true, "wait": true}));
    let facts = v["runs"][0]["actions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["action"] == "facts")
        .cloned()
        .unwrap_or_else(|| panic!("{v}"));
    assert_eq!(
        (facts["added"].as_i64(), facts["superseded"].as_i64()),
        (Some(2), Some(1)),
        "{v}"
    );
    let (_, old) = d.get("/v1/facts/1");
    assert_eq!(old["fact"]["status"], "superseded", "{old}");
    let texts: Vec<String> = live(&d)
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["text"].as_str().unwrap().to_owned())
        .collect();
    assert!(
        texts.contains(&"Ana works as a nurse at the city hospital.".to_owned()),
        "{texts:?}"
    );
    assert!(
        texts.contains(&"Ana loves hiking in the mountains.".to_owned()),
        "{texts:?}"
    );
    // The request: a JSON schema, the known fact by id, numbered turns.
    let bodies = llm.bodies.lock().unwrap().clone();
    let last = bodies.last().unwrap();
    assert_eq!(last["response_format"]["type"], "json_schema", "{last}");
    let prompt = last["messages"][0]["content"].as_str().unwrap();
    assert!(
        prompt.contains("id 1: Ana is a teacher. (slot job_title)"),
        "{prompt}"
    );
    assert!(
        prompt.contains("[1] ") && prompt.contains("Ana: I work as a nurse"),
        "{prompt}"
    );
}

#[test]
fn openai_provider_writes_gists_and_keeps_watermarks_on_bad_answers() {
    // One 500 (retried), then good answers: gist, era, profile JSON, narrative.
    let llm = fake_llm(vec![
        Answer::Status(500),
        Answer::Text("Ana, a nurse, talked about ramen, hiking and a trip to Japan."),
        Answer::Text("A month of plans: Ana is preparing a trip to Japan."),
        Answer::Json(
            "```json\n{\"summary\": \"Ana is a nurse who loves hiking.\", \"facts\": [\"Ana is a nurse\"]}\n```",
        ),
        Answer::Text("Ana keeps planning her Japan trip."),
    ]);
    let d = Daemon::start(&openai_config(&llm.url, ""));
    four_turns(&d, "llm-1", "llm");
    let v = dream(&d, json!({"namespace": "llm", "force": true, "wait": true}));
    assert_eq!(v["runs"][0]["outcome"], "done", "{v}");
    assert_eq!(v["runs"][0]["llm"]["calls"], 4, "{v}");
    assert_eq!(v["runs"][0]["llm"]["tokens_in"], 400, "{v}");
    let (_, g) = d.get("/v1/sessions/llm-1/gist");
    assert_eq!(g["provider"], "openai");
    assert!(
        g["text"].as_str().unwrap().starts_with("Ana, a nurse"),
        "{g}"
    );
    assert_eq!(
        d.get("/v1/profile?namespace=llm").1["text"],
        "Ana is a nurse who loves hiking."
    );
    // The request is the real wire format, with the transcript in the prompt.
    let bodies = llm.bodies.lock().unwrap().clone();
    assert_eq!(bodies[1]["model"], "fake");
    assert!(
        bodies[1]["messages"][0]["content"]
            .as_str()
            .unwrap()
            .contains("Ana: I work as a nurse"),
        "{}",
        bodies[1]
    );
    assert_eq!(bodies[3]["response_format"]["type"], "json_object");
    drop(d);

    // A prompt file replaces the built-in template; one without {input} is
    // refused at start, naming the key.
    let llm = fake_llm(vec![Answer::Text("Custom summary.")]);
    let dir = tempfile::tempdir().unwrap();
    let prompt = dir.path().join("gist.txt");
    std::fs::write(&prompt, "SUMMARISE FOR ME:\n{input}\nEND").unwrap();
    let cfg = openai_config(&llm.url, "").replace(
        "model = \"fake\"",
        &format!(
            "model = \"fake\"\ngist_prompt_file = \"{}\"",
            prompt.display()
        ),
    );
    let d = Daemon::start(&cfg);
    four_turns(&d, "p-1", "p");
    let v = dream(
        &d,
        json!({"namespace": "p", "force": true, "drive": "continuity", "wait": true}),
    );
    assert_eq!(v["runs"][0]["outcome"], "done", "{v}");
    let sent = llm.bodies.lock().unwrap()[0]["messages"][0]["content"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        sent.starts_with("SUMMARISE FOR ME:\n")
            && sent.ends_with("\nEND")
            && sent.contains("Ana: I love hiking"),
        "{sent}"
    );
    drop(d);
    std::fs::write(&prompt, "no placeholder here").unwrap();
    let bad = Daemon::configure(&cfg);
    let out = common::run_daemon(&bad.config);
    assert!(!out.status.success());
    assert!(
        common::stderr(&out).contains("dream.openai.gist_prompt_file"),
        "{}",
        common::stderr(&out)
    );

    // Unusable answers: truncated, then empty JSON-less text for nothing.
    let llm = fake_llm(vec![Answer::Truncated]);
    let d = Daemon::start(&openai_config(&llm.url, ""));
    four_turns(&d, "bad-1", "bad");
    let v = dream(&d, json!({"namespace": "bad", "force": true, "wait": true}));
    assert_eq!(v["runs"][0]["outcome"], "failed", "{v}");
    assert!(
        v["runs"][0]["errors"][0]
            .as_str()
            .unwrap()
            .contains("truncated"),
        "{v}"
    );
    assert_eq!(
        d.get("/v1/sessions/bad-1/gist").0,
        404,
        "the watermark stays"
    );
    let (_, st) = d.get("/v1/status");
    assert_eq!(st["dream"]["backlog"]["bad"]["dirty"], 1, "{st}");
    // A second failure reaches dream.max_attempts = 2: the session is left alone.
    dream(&d, json!({"namespace": "bad", "force": true, "wait": true}));
    let (_, st) = d.get("/v1/status");
    assert_eq!(st["dream"]["backlog"]["bad"]["failing"], 1, "{st}");
    assert_eq!(st["dream"]["backlog"]["bad"]["dirty"], 0, "{st}");
    let before = llm.requests.load(Ordering::SeqCst);
    dream(&d, json!({"namespace": "bad", "force": true, "wait": true}));
    assert_eq!(
        llm.requests.load(Ordering::SeqCst),
        before,
        "no more attempts without new turns"
    );
}

#[test]
fn one_pass_at_a_time_and_sigterm_stops_a_long_pass() {
    // Every summary takes 1.5 s: a pass over 12 sessions takes ~18 s. The
    // schedule fires every second meanwhile; sessions of 3 turns are never
    // ripe on their own, so only the forced pass has work.
    let llm = fake_llm(vec![Answer::Slow(Duration::from_millis(1500))]);
    let busy_cfg = openai_config(&llm.url, "max_sessions_per_pass = 100").replace(
        "enabled = false",
        "enabled = true\nschedule = \"* * * * * *\"\nidle_after_s = 0",
    );
    let mut d = Daemon::start(&busy_cfg);
    for s in 0..12 {
        for t in [
            "Ana: I work as a nurse.",
            "Ana: I love hiking.",
            "Ana: I am planning a trip.",
        ] {
            remember(&d, &format!("long-{s}"), "long", t);
        }
    }
    // A scheduled pass may hold the gate for a moment: retry until ours starts.
    let t0 = Instant::now();
    loop {
        let (code, r) = d.post("/v1/dream", &json!({"namespace": "long", "force": true}));
        if code == 202 {
            break;
        }
        assert_eq!(code, 409, "{r}");
        assert!(t0.elapsed() < Duration::from_secs(10), "never started: {r}");
        std::thread::sleep(Duration::from_millis(100));
    }
    wait_status(&d, "a running pass", Duration::from_secs(10), |s| {
        s["dream"]["running"].is_object()
    });
    // Overlapping triggers: refused while it runs.
    let (code, r) = d.post(
        "/v1/dream",
        &json!({"namespace": "long", "force": true, "wait": true}),
    );
    assert_eq!(code, 409, "{r}");
    assert_eq!(r["error"]["code"], "dream_running");
    wait_status(&d, "two gists", Duration::from_secs(20), |s| {
        s["dream"]["backlog"]["long"]["dirty"]
            .as_u64()
            .is_some_and(|n| n <= 10)
    });
    let t0 = Instant::now();
    d.signal(libc::SIGTERM);
    let status = d.wait_exit(Duration::from_secs(10));
    assert!(status.success(), "{status:?}\n{}", d.log_text());
    assert!(t0.elapsed() < Duration::from_secs(10));

    // No half-written rows: every gist has its item and every gist item its gist.
    let db = rusqlite::Connection::open(d.data_dir.join("memd.db")).unwrap();
    let orphans: i64 = db
        .query_row(
            "SELECT (SELECT count(*) FROM gists g LEFT JOIN items i ON i.id = g.item_id WHERE i.id IS NULL)
                  + (SELECT count(*) FROM items i LEFT JOIN gists g ON g.item_id = i.id WHERE i.tier = 'gist' AND g.session_id IS NULL)",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(orphans, 0);
    let done: i64 = db
        .query_row("SELECT count(*) FROM gists", [], |r| r.get(0))
        .unwrap();
    assert!((2..12).contains(&done), "{done} gists");
    let outcome: String = db
        .query_row(
            "SELECT outcome FROM dream_runs ORDER BY id DESC LIMIT 1",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(outcome, "stopped");
    // Never two passes at once: no run starts before the previous one ended.
    let mut stmt = db
        .prepare(
            "SELECT started_at, coalesce(ended_at, started_at) FROM dream_runs ORDER BY started_at",
        )
        .unwrap();
    let spans: Vec<(i64, i64)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    for w in spans.windows(2) {
        assert!(w[1].0 >= w[0].1, "overlapping runs: {spans:?}");
    }
    drop(stmt);
    drop(db);

    // The next start resumes: only the sessions without a gist are summarised.
    common::write_config(
        &d.config,
        &d.data_dir,
        &d.socket,
        &openai_config(&llm.url, "max_sessions_per_pass = 100"),
    );
    d.spawn();
    d.wait_ready();
    let before = llm.requests.load(Ordering::SeqCst);
    let v = dream(
        &d,
        json!({"namespace": "long", "force": true, "drive": "continuity", "wait": true}),
    );
    let gists = v["runs"][0]["actions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["action"] == "gist")
        .count() as i64;
    assert_eq!(gists, 12 - done, "{v}");
    assert_eq!(
        (llm.requests.load(Ordering::SeqCst) - before) as i64,
        12 - done
    );
    let mut per: HashMap<String, i64> = HashMap::new();
    for s in 0..12 {
        let (code, g) = d.get(&format!("/v1/sessions/long-{s}/gist"));
        assert_eq!(code, 200);
        *per.entry(g["provider"].as_str().unwrap().to_owned())
            .or_default() += 1;
    }
    assert_eq!(per.get("openai"), Some(&12));
}

#[test]
fn an_endpoint_echoing_the_api_key_never_gets_it_stored_or_logged() {
    let key = "sk-memd-test-SECRET-0123456789";
    for status in [400, 500] {
        let llm = fake_llm(vec![Answer::EchoAuth(status)]);
        let mut d = Daemon::configure(&openai_config(&llm.url, ""));
        d.env.push(("MEMD_DREAM_API_KEY".into(), key.into()));
        let d = d.spawn_and_wait();
        four_turns(&d, "key-1", "key");
        let v = dream(&d, json!({"namespace": "key", "force": true, "wait": true}));
        let (_, runs) = d.get("/v1/dream/runs?namespace=key");
        let (_, status_json) = d.get("/v1/status");
        assert!(
            llm.requests.load(Ordering::SeqCst) >= 1,
            "the endpoint was called: {v}"
        );
        let (code, export) = d.request("GET", "/v1/export", b"");
        assert_eq!(code, 200);
        let db = std::fs::read(d.data_dir.join("memd.db")).unwrap_or_default();
        let wal = std::fs::read(d.data_dir.join("memd.db-wal")).unwrap_or_default();
        for (what, text) in [
            ("the pass's answer", v.to_string()),
            ("run records", runs.to_string()),
            ("status", status_json.to_string()),
            ("the export", export.to_string()),
            ("the log", d.log_text()),
            ("the database", String::from_utf8_lossy(&db).into_owned()),
            ("the WAL", String::from_utf8_lossy(&wal).into_owned()),
        ] {
            assert!(
                !text.contains(key),
                "the key leaked into {what} (HTTP {status})"
            );
        }
        assert!(
            runs.to_string().contains("[redacted]") || d.log_text().contains("[redacted]"),
            "the echoed error is kept, redacted (HTTP {status}): {runs}"
        );
    }
}
