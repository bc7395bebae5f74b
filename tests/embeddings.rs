//! Embedding providers through the real binary: the local model's semantic
//! recall, `auto` fallback, refusal without model files, re-embedding on a
//! model change across a restart, and the OpenAI-compatible provider
//! against a real HTTP server in the test that speaks the same wire format.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{BIN, Daemon, model_dir, stderr, wait_status};
use rusqlite::{Connection, OpenFlags};
use serde_json::{Value, json};

const PETS: &[&str] = &[
    "I adopted a grey cat last month and she sleeps on my keyboard",
    "The quarterly budget review moved to next Thursday afternoon",
    "My brother is training for a marathon in Berlin this autumn",
    "We repainted the kitchen a pale shade of green over the weekend",
    "The flight to Lisbon was delayed by three hours because of fog",
    "I finally fixed the leaking tap in the upstairs bathroom",
];

fn remember_all(d: &Daemon) {
    for (i, t) in PETS.iter().enumerate() {
        let (code, r) = d.post(
            &format!("/v1/sessions/s{i}/exchanges"),
            &json!({"role": "user", "content": t}),
        );
        assert_eq!(code, 201, "{r}");
    }
}

fn top(d: &Daemon, query: &str) -> String {
    let (code, r) = d.post("/v1/recall", &json!({"query": query, "k": 3}));
    assert_eq!(code, 200, "{r}");
    r["results"][0]["content"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

fn local_config(dir: &std::path::Path, provider: &str) -> String {
    format!(
        "[embed]\nprovider = \"{provider}\"\nmodel_dir = \"{}\"\nthreads = 2",
        dir.display()
    )
}

#[test]
fn local_model_finds_meaning_without_shared_words() {
    let Some(dir) = model_dir() else { return };
    let d = Daemon::start(&local_config(&dir, "local"));
    remember_all(&d);
    let s = wait_status(&d, "embedding backlog", Duration::from_secs(60), |s| {
        s["embedder"]["backlog"] == 0
            && s["embedder"]["embedded"].as_u64().unwrap_or(0) >= PETS.len() as u64
    });
    assert_eq!(s["embedder"]["provider"], "local");
    assert_eq!(s["embedder"]["model"], "all-MiniLM-L6-v2");
    assert_eq!(s["embedder"]["dim"], 384);
    assert!(s["embedder"]["embedded"].as_u64().unwrap() >= PETS.len() as u64);
    assert!(s["embedder"].get("fallback_reason").is_none(), "{s}");
    // No word of the query appears in its target.
    assert_eq!(top(&d, "feline companion"), PETS[0]);
    assert_eq!(top(&d, "running a long race"), PETS[2]);
    assert_eq!(top(&d, "airplane late departure"), PETS[4]);
    assert_eq!(top(&d, "plumbing repair at home"), PETS[5]);
}

#[test]
fn hash_embedder_does_not_find_meaning() {
    // Documents why the local model is the default: feature hashing only
    // matches shared words and word pieces.
    let d = Daemon::start("[embed]\nprovider = \"hash\"");
    remember_all(&d);
    let score_of = |query: &str| -> f64 {
        let (_, r) = d.post(
            "/v1/recall",
            &json!({"query": query, "k": 6, "mode": "vector", "explain": true}),
        );
        r["results"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["content"] == PETS[0])
            .map_or(0.0, |x| x["explain"]["vector_score"].as_f64().unwrap())
    };
    // Sharing no word, the target scores like noise…
    let feline = score_of("feline companion");
    assert!(feline < 0.15, "{feline}");
    // …while shared words find it.
    assert!(score_of("grey cat keyboard") > 0.3);
    assert_eq!(top(&d, "grey cat keyboard"), PETS[0]);
}

#[test]
fn auto_without_a_model_falls_back_to_hash_and_says_so() {
    let d = Daemon::start("");
    let (_, s) = d.get("/v1/status");
    assert_eq!(s["embedder"]["provider"], "hash");
    let reason = s["embedder"]["fallback_reason"].as_str().unwrap();
    assert!(reason.contains("scripts/fetch-model.sh"), "{reason}");
    d.wait_log("EMBEDDINGS DEGRADED");
    let out = d.ctl(&["status"]);
    assert!(
        common::stdout(&out).contains("WARNING"),
        "{}",
        common::stdout(&out)
    );
}

#[test]
fn local_without_a_model_refuses_to_start_naming_the_fetch_script() {
    let empty = tempfile::tempdir().unwrap();
    let mut d = Daemon::configure(&local_config(empty.path(), "local"));
    d.spawn();
    let status = d.wait_exit(Duration::from_secs(20));
    assert_eq!(status.code(), Some(1));
    let log = d.log_text();
    assert!(log.contains("scripts/fetch-model.sh"), "{log}");
    assert!(log.contains("model.safetensors"), "{log}");
    assert!(!d.socket.exists());
}

fn rows_by_model(db: &std::path::Path) -> Vec<(Option<String>, i64)> {
    let conn = Connection::open_with_flags(db, OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
    let mut stmt = conn
        .prepare(
            "SELECT m.name, count(*) FROM exchanges e LEFT JOIN embed_models m ON m.id = e.embed_model_id
             GROUP BY m.name ORDER BY m.name",
        )
        .unwrap();
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

#[test]
fn switching_model_reembeds_everything_and_survives_a_restart() {
    let Some(dir) = model_dir() else { return };
    const N: usize = 2400;
    let mut d = Daemon::start("[embed]\nprovider = \"hash\"\n[checkpoint]\non_shutdown = false");
    let mut body = String::new();
    for i in 0..N {
        body.push_str(&format!(
            "{{\"session_id\":\"m{}\",\"role\":\"user\",\"content\":\"note {i}: the weather in town number {} was mild and pleasant\"}}\n",
            i / 100,
            i % 50
        ));
    }
    assert_eq!(d.request("POST", "/v1/import", body.as_bytes()).0, 200);
    assert!(d.stop().success());
    let db = d.data_dir.join("memd.db");
    assert_eq!(
        rows_by_model(&db),
        vec![(Some("memd-hash-v1".to_owned()), N as i64)]
    );

    common::write_config(
        &d.config,
        &d.data_dir,
        &d.socket,
        &(local_config(&dir, "local") + "\n[checkpoint]\non_shutdown = false"),
    );
    d.spawn();
    d.wait_ready();
    d.wait_log("re-embedding rows made by another model");
    // Stop part-way through.
    let s = wait_status(&d, "some progress", Duration::from_secs(60), |s| {
        s["embedder"]["reembed"]["done"].as_u64().unwrap_or(0) >= 200
    });
    assert_eq!(s["embedder"]["reembed"]["total"], N);
    assert!(d.stop().success());
    let mid = rows_by_model(&db);
    let local_mid = mid
        .iter()
        .find(|(m, _)| m.as_deref() == Some("all-MiniLM-L6-v2"))
        .map_or(0, |x| x.1);
    assert!(
        local_mid > 0 && local_mid < N as i64,
        "stopped mid-way: {mid:?}"
    );

    d.spawn();
    d.wait_ready();
    wait_status(&d, "re-embedding done", Duration::from_secs(120), |s| {
        s["embedder"]["backlog"] == 0
    });
    d.wait_log("percent=100");
    let (_, r) = d.post(
        "/v1/recall",
        &json!({"query": "mild weather in town", "k": 5}),
    );
    assert_eq!(r["results"].as_array().unwrap().len(), 5);
    assert!(d.stop().success());
    assert_eq!(
        rows_by_model(&db),
        vec![(Some("all-MiniLM-L6-v2".to_owned()), N as i64)]
    );

    // `reembed --all` redoes every row even with the same model.
    d.spawn();
    d.wait_ready();
    let out = d.ctl(&["reembed", "--all"]);
    assert!(out.status.success(), "{}", stderr(&out));
    wait_status(
        &d,
        "forced re-embedding done",
        Duration::from_secs(120),
        |s| {
            s["embedder"]["backlog"] == 0
                && s["embedder"]["embedded"].as_u64().unwrap_or(0) >= N as u64
        },
    );
}

/// What the fake endpoint does.
#[derive(Clone, Copy, PartialEq, Debug)]
enum Mode {
    Ok,
    /// 429 for the first `n` requests, then Ok.
    TooMany(usize),
    Fail500,
    WrongDim,
}

struct FakeOpenAi {
    url: String,
    mode: Arc<Mutex<Mode>>,
    requests: Arc<AtomicUsize>,
    batch_sizes: Arc<Mutex<Vec<usize>>>,
    auth: Arc<Mutex<Vec<String>>>,
}

const FAKE_DIM: usize = 8;

/// A deterministic toy embedding: which of 8 topics' words the text has.
fn toy_vector(text: &str) -> Vec<f32> {
    let topics = [
        "cat", "dog", "rain", "code", "food", "music", "money", "sport",
    ];
    let t = text.to_lowercase();
    let mut v: Vec<f32> = topics
        .iter()
        .map(|w| if t.contains(w) { 1.0 } else { 0.01 })
        .collect();
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    v.iter_mut().for_each(|x| *x /= n);
    v
}

impl FakeOpenAi {
    fn start(mode: Mode) -> FakeOpenAi {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/v1", listener.local_addr().unwrap());
        let fake = FakeOpenAi {
            url,
            mode: Arc::new(Mutex::new(mode)),
            requests: Arc::default(),
            batch_sizes: Arc::default(),
            auth: Arc::default(),
        };
        let (mode, requests, sizes, auth) = (
            fake.mode.clone(),
            fake.requests.clone(),
            fake.batch_sizes.clone(),
            fake.auth.clone(),
        );
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { return };
                let (mode, requests, sizes, auth) =
                    (mode.clone(), requests.clone(), sizes.clone(), auth.clone());
                std::thread::spawn(move || serve(conn, mode, requests, sizes, auth));
            }
        });
        fake
    }

    fn set(&self, m: Mode) {
        *self.mode.lock().unwrap() = m;
    }
}

fn serve(
    conn: std::net::TcpStream,
    mode: Arc<Mutex<Mode>>,
    requests: Arc<AtomicUsize>,
    sizes: Arc<Mutex<Vec<usize>>>,
    auth: Arc<Mutex<Vec<String>>>,
) {
    let mut reader = BufReader::new(conn.try_clone().unwrap());
    let mut out = conn;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let mut len = 0;
        loop {
            let mut h = String::new();
            reader.read_line(&mut h).unwrap();
            let h = h.trim_end().to_owned();
            if h.is_empty() {
                break;
            }
            let lower = h.to_ascii_lowercase();
            if let Some(v) = lower.strip_prefix("content-length:") {
                len = v.trim().parse().unwrap();
            }
            if lower.starts_with("authorization:") {
                auth.lock().unwrap().push(h[14..].trim().to_owned());
            }
        }
        let mut body = vec![0; len];
        reader.read_exact(&mut body).unwrap();
        let n = requests.fetch_add(1, Ordering::SeqCst);
        assert!(line.starts_with("POST /v1/embeddings "), "{line}");
        let req: Value = serde_json::from_slice(&body).unwrap();
        let inputs: Vec<String> = req["input"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_owned())
            .collect();
        sizes.lock().unwrap().push(inputs.len());
        let m = *mode.lock().unwrap();
        let (status, answer) = match m {
            Mode::TooMany(k) if n < k => (429, json!({"error": {"message": "slow down"}})),
            Mode::Fail500 => (500, json!({"error": {"message": "boom"}})),
            _ => {
                let dim = if m == Mode::WrongDim { 5 } else { FAKE_DIM };
                let data: Vec<Value> = inputs
                    .iter()
                    .enumerate()
                    .map(|(i, t)| {
                        let mut v = toy_vector(t);
                        v.truncate(dim);
                        json!({"object": "embedding", "index": i, "embedding": v})
                    })
                    .collect();
                (
                    200,
                    json!({"object": "list", "data": data, "model": req["model"], "usage": {"prompt_tokens": 1, "total_tokens": 1}}),
                )
            }
        };
        let text = answer.to_string();
        let reason = match status {
            200 => "OK",
            429 => "Too Many Requests",
            _ => "Internal Server Error",
        };
        let resp = format!(
            "HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{text}",
            text.len()
        );
        if out.write_all(resp.as_bytes()).is_err() {
            return;
        }
    }
}

fn openai_config(fake: &FakeOpenAi, extra: &str) -> String {
    format!(
        "[embed]\nprovider = \"openai\"\nbase_url = \"{}\"\nmodel = \"toy-embed\"\napi_key_env = \"MEMD_TEST_KEY\"\nbatch_size = 4\nmax_retries = 2\ntimeout_s = 5\n{extra}",
        fake.url
    )
}

fn import_topics(d: &Daemon, n: usize) {
    let topics = [
        "cat", "dog", "rain", "code", "food", "music", "money", "sport",
    ];
    let mut body = String::new();
    for i in 0..n {
        body.push_str(&format!(
            "{{\"session_id\":\"t\",\"role\":\"user\",\"content\":\"row {i} talks about {}\",\"ext_id\":\"{i}\"}}\n",
            topics[i % topics.len()]
        ));
    }
    let (code, v) = d.request("POST", "/v1/import", body.as_bytes());
    assert_eq!(code, 200, "{v}");
    assert_eq!(v["imported"], n);
}

#[test]
fn openai_provider_batches_and_recalls() {
    let fake = FakeOpenAi::start(Mode::Ok);
    // dim = 0: the daemon asks the endpoint once at start to learn it.
    let d = Daemon::start(&openai_config(&fake, "dim = 0"));
    let (_, s) = d.get("/v1/status");
    assert_eq!(s["embedder"]["provider"], "openai");
    assert_eq!(s["embedder"]["model"], "openai:toy-embed");
    assert_eq!(s["embedder"]["dim"], FAKE_DIM);
    import_topics(&d, 10);
    wait_status(&d, "backlog", Duration::from_secs(20), |s| {
        s["embedder"]["backlog"] == 0
    });
    let sizes = fake.batch_sizes.lock().unwrap().clone();
    assert_eq!(sizes[0], 1, "the start-up probe");
    assert!(sizes[1..].iter().all(|n| *n <= 4), "{sizes:?}");
    assert_eq!(sizes[1..].iter().sum::<usize>(), 10, "{sizes:?}");
    let (_, r) = d.post("/v1/recall", &json!({"query": "the music", "k": 1}));
    assert!(
        r["results"][0]["content"]
            .as_str()
            .unwrap()
            .contains("music"),
        "{r}"
    );
    // No key in the environment: no Authorization header, nothing logged.
    assert!(fake.auth.lock().unwrap().is_empty());
}

#[test]
fn openai_key_comes_from_the_named_variable_and_is_never_logged() {
    let fake = FakeOpenAi::start(Mode::Ok);
    let mut d = Daemon::configure(&openai_config(&fake, "dim = 8"));
    let log = std::fs::File::create(&d.log).unwrap();
    d.child = Some(
        Command::new(BIN)
            .args(["daemon", "--config"])
            .arg(&d.config)
            .env("MEMD_TEST_KEY", "sk-test-secret-123")
            .env_remove("NOTIFY_SOCKET")
            .stderr(log)
            .spawn()
            .unwrap(),
    );
    d.wait_ready();
    import_topics(&d, 3);
    wait_status(&d, "backlog", Duration::from_secs(20), |s| {
        s["embedder"]["backlog"] == 0
    });
    assert!(
        fake.auth
            .lock()
            .unwrap()
            .iter()
            .all(|a| a == "Bearer sk-test-secret-123")
    );
    let (_, s) = d.get("/v1/status");
    assert!(!s.to_string().contains("sk-test-secret"));
    assert!(!d.log_text().contains("sk-test-secret"));
}

#[test]
fn openai_429_is_retried() {
    let fake = FakeOpenAi::start(Mode::TooMany(2));
    let d = Daemon::start(&openai_config(&fake, "dim = 8"));
    import_topics(&d, 4);
    let s = wait_status(&d, "backlog", Duration::from_secs(20), |s| {
        s["embedder"]["backlog"] == 0
    });
    assert_eq!(
        s["embedder"]["failures"], 0,
        "retried inside the request: {s}"
    );
    assert_eq!(
        fake.requests.load(Ordering::SeqCst),
        3,
        "two 429s, then success"
    );
    d.wait_log("retrying");
}

#[test]
fn openai_permanent_500_keeps_rows_queued_and_loses_nothing() {
    let fake = FakeOpenAi::start(Mode::Fail500);
    let d = Daemon::start(&openai_config(&fake, "dim = 8"));
    import_topics(&d, 6);
    let s = wait_status(&d, "a failure", Duration::from_secs(20), |s| {
        s["embedder"]["failures"].as_u64().unwrap_or(0) >= 2
    });
    assert_eq!(s["embedder"]["backlog"], 6);
    assert!(
        s["embedder"]["last_error"]
            .as_str()
            .unwrap()
            .contains("HTTP 500"),
        "{s}"
    );
    // Acknowledged rows are stored and listed, just not embedded.
    let (_, h) = d.get("/v1/sessions/t");
    assert_eq!(h["exchanges"].as_array().unwrap().len(), 6);
    // The endpoint recovers: the queue drains.
    fake.set(Mode::Ok);
    wait_status(&d, "recovery", Duration::from_secs(60), |s| {
        s["embedder"]["backlog"] == 0
    });
    let (_, r) = d.post("/v1/recall", &json!({"query": "dog", "k": 1}));
    assert!(
        r["results"][0]["content"].as_str().unwrap().contains("dog"),
        "{r}"
    );
}

#[test]
fn openai_wrong_dimension_is_a_clear_error_and_rows_stay_queued() {
    let fake = FakeOpenAi::start(Mode::WrongDim);
    let d = Daemon::start(&openai_config(&fake, "dim = 8"));
    import_topics(&d, 3);
    let s = wait_status(&d, "a failure", Duration::from_secs(20), |s| {
        s["embedder"]["failures"].as_u64().unwrap_or(0) >= 1
    });
    let err = s["embedder"]["last_error"].as_str().unwrap();
    assert!(
        err.contains("5-d") && err.contains("embed.dim is 8"),
        "{err}"
    );
    assert_eq!(s["embedder"]["backlog"], 3);
}

#[test]
fn openai_endpoint_down_at_start_with_unknown_dim_is_a_clear_error() {
    // Nothing listens on this port.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut d = Daemon::configure(&format!(
        "[embed]\nprovider = \"openai\"\nbase_url = \"http://127.0.0.1:{port}/v1\"\nmodel = \"x\"\nmax_retries = 0\ntimeout_s = 2"
    ));
    d.spawn();
    assert_eq!(d.wait_exit(Duration::from_secs(30)).code(), Some(1));
    assert!(
        d.log_text().contains("embedding endpoint"),
        "{}",
        d.log_text()
    );
}
