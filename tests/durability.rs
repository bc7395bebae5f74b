//! Checkpoints, snapshots, restore, export/import-all, start-up checks,
//! disk-full behaviour and a kill -9 crash loop, through the real binary.

mod common;

use std::collections::HashMap;
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{BIN, Daemon, stderr, stdout};
use rusqlite::{Connection, OpenFlags};
use serde_json::{Value, json};

fn import_lines(d: &Daemon, from: usize, n: usize) -> Value {
    let mut body = String::new();
    for i in from..from + n {
        body.push_str(
            &json!({
                "session_id": format!("s{}", i / 100),
                "role": if i % 2 == 0 { "user" } else { "assistant" },
                "content": format!("durable turn {i} mentions the colour {}", ["red", "blue", "green"][i % 3]),
                "ext_id": format!("x{i}"),
                "created_at": "2024-01-02T03:04:05Z",
                "metadata": {"i": i, "pi": 3.25},
                "namespace": if i % 200 < 100 { "alpha" } else { "beta" },
            })
            .to_string(),
        );
        body.push('\n');
    }
    let (code, v) = d.request("POST", "/v1/import", body.as_bytes());
    assert_eq!(code, 200, "{v}");
    v
}

fn integrity(path: &std::path::Path) -> String {
    let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
    conn.query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap()
}

fn count(path: &std::path::Path, table: &str) -> i64 {
    let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
    conn.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
        .unwrap()
}

#[test]
fn snapshot_under_concurrent_writes_is_consistent() {
    let d = Daemon::start("[checkpoint]\ninterval_s = 0\non_shutdown = false");
    import_lines(&d, 0, 2000);
    let stop = Arc::new(AtomicBool::new(false));
    let socket = d.socket.clone();
    let writer = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) {
                let body = json!({"role": "user", "content": format!("concurrent write {n}")});
                let (code, _) = common::http(
                    &socket,
                    "POST",
                    "/v1/sessions/live/exchanges",
                    body.to_string().as_bytes(),
                );
                assert_eq!(code, 201);
                n += 1;
            }
            n
        })
    };
    std::thread::sleep(Duration::from_millis(100));
    let mut paths = Vec::new();
    for _ in 0..3 {
        let (code, v) = d.post("/v1/checkpoint", &json!({}));
        assert_eq!(code, 200, "{v}");
        assert!(v["bytes"].as_u64().unwrap() > 0);
        assert!(v["duration_ms"].as_f64().is_some());
        paths.push(std::path::PathBuf::from(v["path"].as_str().unwrap()));
    }
    stop.store(true, Ordering::Relaxed);
    let writes = writer.join().unwrap();
    assert!(writes > 0);
    let mut last = 0;
    for p in &paths {
        assert_eq!(integrity(p), "ok", "{}", p.display());
        let n = count(p, "exchanges");
        assert!(n >= 2000 && n >= last, "{n}");
        last = n;
        // Self-contained: no WAL beside it is needed.
        assert!(!std::path::Path::new(&format!("{}-wal", p.display())).exists());
    }
    let (_, s) = d.get("/v1/status");
    let c = &s["checkpoint"];
    assert_eq!(c["taken"], 3, "{s}");
    assert_eq!(c["failures"], 0);
    assert_eq!(c["last_path"].as_str().unwrap(), paths[2].to_str().unwrap());
    let out = d.ctl(&["checkpoints"]);
    assert!(
        stdout(&out).contains(paths[0].to_str().unwrap()),
        "{}",
        stdout(&out)
    );
}

#[test]
fn rotation_keeps_exactly_keep() {
    let d = Daemon::start("[checkpoint]\ninterval_s = 0\nkeep = 3");
    import_lines(&d, 0, 10);
    let mut taken = Vec::new();
    for _ in 0..5 {
        let out = d.ctl(&["--json", "checkpoint"]);
        assert!(out.status.success(), "{}", stderr(&out));
        let v: Value = serde_json::from_str(&stdout(&out)).unwrap();
        taken.push(v["path"].as_str().unwrap().to_owned());
    }
    let (_, list) = d.get("/v1/checkpoints");
    let on_disk: Vec<&str> = list["snapshots"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["path"].as_str().unwrap())
        .collect();
    assert_eq!(
        on_disk,
        vec![taken[4].as_str(), taken[3].as_str(), taken[2].as_str()]
    );
    let files = std::fs::read_dir(d.data_dir.join("snapshots"))
        .unwrap()
        .count();
    assert_eq!(files, 3, "no partial files left behind");
}

#[test]
fn periodic_worker_writes_snapshots() {
    let d = Daemon::start("[checkpoint]\ninterval_s = 1");
    import_lines(&d, 0, 10);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (_, s) = d.get("/v1/status");
        if s["checkpoint"]["taken"].as_u64().unwrap_or(0) >= 2 {
            assert!(s["checkpoint"]["next_due"].as_str().is_some());
            break;
        }
        assert!(Instant::now() < deadline, "no periodic checkpoint: {s}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn shutdown_takes_a_final_snapshot_and_restore_brings_it_back() {
    let mut d = Daemon::start("[checkpoint]\ninterval_s = 0");
    import_lines(&d, 0, 300);
    let (_, snap) = d.post("/v1/checkpoint", &json!({}));
    let snapshot = snap["path"].as_str().unwrap().to_owned();
    import_lines(&d, 300, 200);
    assert!(d.stop().success());
    assert_eq!(
        std::fs::read_dir(d.data_dir.join("snapshots"))
            .unwrap()
            .count(),
        2,
        "the final checkpoint on shutdown adds a snapshot"
    );

    // Refused while a daemon holds the data dir.
    d.spawn();
    d.wait_ready();
    let out = Command::new(BIN)
        .args(["restore", &snapshot, "--config"])
        .arg(&d.config)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("refusing to restore while a daemon holds"),
        "{}",
        stderr(&out)
    );
    assert!(d.stop().success());

    let out = Command::new(BIN)
        .args(["restore", &snapshot, "--config"])
        .arg(&d.config)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains("restored") && text.contains("kept the previous file as"),
        "{text}"
    );
    let aside: Vec<_> = std::fs::read_dir(&d.data_dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| {
            n.starts_with("memd.db.before-restore-") && !n.ends_with("-wal") && !n.ends_with("-shm")
        })
        .collect();
    assert_eq!(aside.len(), 1, "{aside:?}");
    assert_eq!(
        count(&d.data_dir.join(&aside[0]), "exchanges"),
        500,
        "the old file is intact"
    );

    d.spawn();
    d.wait_ready();
    let (_, s) = d.get("/v1/status");
    assert_eq!(s["counts"]["exchanges"], 300);
    let (_, r) = d.post(
        "/v1/recall",
        &json!({"query": "durable turn 42 colour", "namespace": "alpha"}),
    );
    assert!(!r["results"].as_array().unwrap().is_empty());

    // A snapshot that is not a database is refused.
    let junk = d.dir.path().join("junk.db");
    std::fs::write(&junk, vec![7u8; 8192]).unwrap();
    assert!(d.stop().success());
    let out = Command::new(BIN)
        .args(["restore"])
        .arg(&junk)
        .arg("--config")
        .arg(&d.config)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("failed its integrity check"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_corrupt_database_is_refused_with_the_restore_hint() {
    let mut d = Daemon::start("[checkpoint]\ninterval_s = 0");
    import_lines(&d, 0, 2000);
    assert!(d.stop().success());
    let snapshot = std::fs::read_dir(d.data_dir.join("snapshots"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    // Scribble over b-tree pages (not the header page) in a few places.
    let db = d.data_dir.join("memd.db");
    let mut bytes = std::fs::read(&db).unwrap();
    let len = bytes.len();
    assert!(len > 64 * 1024, "{len}");
    for start in [4096, len / 3, len / 2] {
        for b in &mut bytes[start..start + 8192] {
            *b = 0xA5;
        }
    }
    std::fs::write(&db, &bytes).unwrap();

    d.spawn();
    let status = d.wait_exit(Duration::from_secs(20));
    assert_eq!(status.code(), Some(1));
    let log = d.log_text();
    assert!(log.contains("will not start on this database"), "{log}");
    assert!(
        log.contains(&format!("memd restore {}", snapshot.display())),
        "{log}"
    );
    assert!(db.exists(), "the damaged file is left in place");

    let out = Command::new(BIN)
        .args(["restore"])
        .arg(&snapshot)
        .arg("--config")
        .arg(&d.config)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    d.spawn();
    d.wait_ready();
    let (_, s) = d.get("/v1/status");
    assert_eq!(s["counts"]["exchanges"], 2000);
}

fn table_rows(db: &std::path::Path, table: &str) -> Vec<Vec<String>> {
    let conn = Connection::open_with_flags(db, OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
    let mut stmt = conn
        .prepare(&format!("SELECT * FROM {table} ORDER BY 1"))
        .unwrap();
    let n = stmt.column_count();
    stmt.query_map([], |r| {
        Ok((0..n)
            .map(|i| format!("{:?}", r.get_ref(i).unwrap()))
            .collect::<Vec<_>>())
    })
    .unwrap()
    .collect::<Result<_, _>>()
    .unwrap()
}

#[test]
fn export_then_import_all_is_lossless() {
    let mut a = Daemon::start("[checkpoint]\non_shutdown = false");
    import_lines(&a, 0, 1500);
    a.post(
        "/v1/sessions/uni/exchanges",
        &json!({"role": "tool", "content": "Grüße 🍺 日本語 \"quoted\"\nnew line"}),
    );
    // The dream tiers travel with the export too.
    let (code, r) = a.post(
        "/v1/dream",
        &json!({"force": true, "until_caught_up": true, "wait": true}),
    );
    assert_eq!(code, 200, "{r}");
    // Gists and eras get their vectors from the queue: compare settled stores.
    common::wait_status(&a, "item vectors", Duration::from_secs(120), |s| {
        s["embedder"]["backlog"] == 0
    });
    let (_, gists_before) = a.post(
        "/v1/recall",
        &json!({"query": "durable turn 77 blue", "namespace": "alpha", "tiers": ["gist", "era"]}),
    );
    assert!(
        !gists_before["results"].as_array().unwrap().is_empty(),
        "{gists_before}"
    );
    let file = a.dir.path().join("all.jsonl");
    let out = a.ctl(&["export", file.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("exported"), "{}", stdout(&out));
    let text = std::fs::read_to_string(&file).unwrap();
    let first: Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    assert_eq!(first["memd_export"], 1);
    assert!(first["schema_version"].as_u64().unwrap() >= 1);
    let (_, before) = a.post(
        "/v1/recall",
        &json!({"query": "durable turn 77 blue", "namespace": "alpha"}),
    );
    assert!(a.stop().success());

    let mut b = Daemon::start("[checkpoint]\non_shutdown = false");
    let out = b.ctl(&["import-all", file.to_str().unwrap()]);
    assert!(out.status.success(), "{}\n{}", stdout(&out), stderr(&out));
    assert!(
        stdout(&out).contains("exchanges: 1501") && stdout(&out).contains("gists: "),
        "{}",
        stdout(&out)
    );
    // A second import into the now non-empty store is refused.
    let out = b.ctl(&["import-all", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("store_not_empty"), "{}", stderr(&out));
    let (_, after) = b.post(
        "/v1/recall",
        &json!({"query": "durable turn 77 blue", "namespace": "alpha"}),
    );
    assert_eq!(before["results"], after["results"]);
    common::wait_status(&b, "item vectors", Duration::from_secs(120), |s| {
        s["embedder"]["backlog"] == 0
    });
    let (_, gists_after) = b.post(
        "/v1/recall",
        &json!({"query": "durable turn 77 blue", "namespace": "alpha", "tiers": ["gist", "era"]}),
    );
    assert_eq!(gists_before["results"], gists_after["results"]);
    assert!(b.stop().success());

    for table in [
        "sessions",
        "exchanges",
        "items",
        "gists",
        "eras",
        "profiles",
        "narratives",
        "self_states",
        "dream_runs",
    ] {
        let ra = table_rows(&a.data_dir.join("memd.db"), table);
        let rb = table_rows(&b.data_dir.join("memd.db"), table);
        assert_eq!(ra.len(), rb.len(), "{table}");
        assert!(ra == rb, "{table} rows differ");
    }
    let models = |d: &Daemon| -> Vec<Vec<String>> {
        table_rows(&d.data_dir.join("memd.db"), "embed_models")
            .into_iter()
            .map(|r| r[..3].to_vec())
            .collect()
    };
    assert_eq!(models(&a), models(&b));
}

#[test]
fn a_cut_export_is_refused_by_import_all() {
    let a = Daemon::start("[checkpoint]\non_shutdown = false");
    import_lines(&a, 0, 50);
    let file = a.dir.path().join("all.jsonl");
    assert!(a.ctl(&["export", file.to_str().unwrap()]).status.success());
    let text = std::fs::read_to_string(&file).unwrap();
    let cut: Vec<&str> = text.lines().collect();
    let cut_file = a.dir.path().join("cut.jsonl");
    std::fs::write(&cut_file, cut[..cut.len() - 1].join("\n")).unwrap();
    let b = Daemon::start("[checkpoint]\non_shutdown = false");
    let out = b.ctl(&["import-all", cut_file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("cut short"), "{}", stderr(&out));
    let junk = a.dir.path().join("junk.jsonl");
    std::fs::write(&junk, "hello\nworld\n").unwrap();
    let out = b.ctl(&["import-all", junk.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "not an export");
    assert!(stderr(&out).contains("line 1"), "{}", stderr(&out));
}

/// Imports in small acknowledged requests while the daemon is killed with
/// SIGKILL at random moments; every acknowledged row must survive, once.
#[test]
fn kill_9_loses_nothing_acknowledged() {
    const KILLS: usize = 24;
    let mut d = Daemon::configure("[checkpoint]\ninterval_s = 0\non_shutdown = false");
    let acked: Arc<Mutex<Vec<u64>>> = Arc::default();
    let next = Arc::new(AtomicU64::new(0));
    let mut seed: u64 = 0x5eed_1234_abcd_ef01;
    let mut rand = move |n: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % n
    };
    let started = Instant::now();
    for round in 0..KILLS {
        d.spawn();
        d.wait_ready();
        let stop = Arc::new(AtomicBool::new(false));
        let mut clients = Vec::new();
        for _ in 0..2 {
            let (socket, acked, next, stop) =
                (d.socket.clone(), acked.clone(), next.clone(), stop.clone());
            clients.push(std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let first = next.fetch_add(5, Ordering::SeqCst);
                    let mut body = String::new();
                    for i in first..first + 5 {
                        body.push_str(&format!(
                            "{{\"session_id\":\"c{}\",\"role\":\"user\",\"content\":\"crash test row {i}\",\"ext_id\":\"{i}\"}}\n",
                            i % 7
                        ));
                    }
                    let result = std::panic::catch_unwind(|| common::http(&socket, "POST", "/v1/import", body.as_bytes()));
                    match result {
                        Ok((200, bytes)) => {
                            let v: Value = serde_json::from_slice(&bytes).unwrap();
                            assert_eq!(v["imported"].as_u64().unwrap() + v["duplicates"].as_u64().unwrap(), 5);
                            acked.lock().unwrap().extend(first..first + 5);
                        }
                        // Killed mid-request: not acknowledged, may or may not be stored.
                        _ => return,
                    }
                }
            }));
        }
        std::thread::sleep(Duration::from_millis(50 + rand(250)));
        d.signal(libc::SIGKILL);
        let status = d.wait_exit(Duration::from_secs(10));
        assert!(!status.success(), "round {round}: killed");
        stop.store(true, Ordering::Relaxed);
        for c in clients {
            c.join().unwrap();
        }
    }
    d.spawn();
    d.wait_ready();
    let acked = acked.lock().unwrap().clone();
    assert!(
        acked.len() > 500,
        "the test acknowledged too little to mean anything: {}",
        acked.len()
    );
    let (_, s) = d.get("/v1/status");
    let stored = s["counts"]["exchanges"].as_u64().unwrap();
    let (code, r) = d.post("/v1/recall", &json!({"query": "crash test row 12"}));
    assert_eq!(code, 200);
    assert!(!r["results"].as_array().unwrap().is_empty());
    assert!(d.stop().success());

    let db = d.data_dir.join("memd.db");
    assert_eq!(integrity(&db), "ok");
    let conn = Connection::open_with_flags(&db, OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
    let mut stmt = conn
        .prepare("SELECT ext_id, count(*) FROM exchanges GROUP BY ext_id")
        .unwrap();
    let counts: HashMap<String, i64> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let lost: Vec<&u64> = acked
        .iter()
        .filter(|i| counts.get(&i.to_string()) != Some(&1))
        .collect();
    eprintln!(
        "crash test: {KILLS} kills, {} acknowledged, {} stored, {} lost, {:.1}s",
        acked.len(),
        stored,
        lost.len(),
        started.elapsed().as_secs_f64()
    );
    assert!(
        lost.is_empty(),
        "lost or duplicated acknowledged rows: {:?}",
        &lost[..lost.len().min(20)]
    );
    assert!(counts.values().all(|n| *n == 1));
}

/// A full disk fails the write that hit it with a clear error; reads go on.
#[test]
fn a_full_disk_fails_writes_clearly_and_keeps_serving_reads() {
    let d = Daemon::configure("[checkpoint]\ninterval_s = 0\non_shutdown = false");
    std::fs::create_dir_all(&d.data_dir).unwrap();
    let mounted = Command::new("mount")
        // mode=0700: memd refuses a data dir others can write.
        .args(["-t", "tmpfs", "-o", "size=3M,mode=0700", "tmpfs"])
        .arg(&d.data_dir)
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !mounted {
        eprintln!("SKIPPED: cannot mount a small tmpfs here (needs root)");
        return;
    }
    struct Unmount(std::path::PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = Command::new("umount").arg("-l").arg(&self.0).status();
        }
    }
    let data_dir = d.data_dir.clone();
    let d = d.spawn_and_wait();
    // Declared after the daemon so it runs first: lazily detach the mount
    // (the daemon keeps using it), then the daemon stops, then the temp dir goes.
    let _unmount = Unmount(data_dir);
    import_lines(&d, 0, 50);
    let mut full = None;
    for i in 0..200 {
        let mut body = String::new();
        for j in 0..100 {
            body.push_str(&format!(
                "{{\"session_id\":\"fill\",\"role\":\"user\",\"content\":\"{}\"}}\n",
                format!("filler {i} {j} ").repeat(40)
            ));
        }
        let (code, v) = d.request("POST", "/v1/import", body.as_bytes());
        if code != 200 {
            full = Some((code, v));
            break;
        }
    }
    let (code, v) = full.expect("the 3 MiB disk never filled up");
    assert_eq!(code, 507, "{v}");
    assert_eq!(v["error"]["code"], "disk_full", "{v}");
    // Every later write and a checkpoint say so too, never a 500.
    for _ in 0..3 {
        let (code, v) = d.post(
            "/v1/sessions/one/exchanges",
            &json!({"role": "user", "content": "x".repeat(200_000)}),
        );
        assert!(code == 507 || code == 201, "{code} {v}");
    }
    let (code, v) = d.post("/v1/checkpoint", &json!({}));
    assert_eq!(code, 507, "{v}");
    assert_eq!(v["error"]["code"], "disk_full", "{v}");
    assert!(!d.log_text().contains("inconsistent"), "{}", d.log_text());
    // Reads still work, and the daemon is still up.
    let (code, r) = d.post(
        "/v1/recall",
        &json!({"query": "durable turn 3 red", "namespace": "alpha"}),
    );
    assert_eq!(code, 200, "{r}");
    assert!(!r["results"].as_array().unwrap().is_empty());
    assert_eq!(d.get("/v1/sessions/s0").0, 200);
    drop(d);
}
