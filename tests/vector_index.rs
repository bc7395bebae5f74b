//! The partitioned (IVF) vector index through the real binary: a namespace
//! past `index.ann_min_vectors` is searched through cells, stays isolated
//! from other namespaces, forgets deleted rows at once, saves its layout at
//! checkpoints and comes back from it after a restart with the same answers.

mod common;

use common::Daemon;
use serde_json::{Value, json};

const DIM: usize = 384; // the hashing embedder's

/// Unit vectors around 12 directions, deterministic.
fn clustered(n: usize, seed: u64) -> Vec<Vec<f32>> {
    let mut s = seed;
    let mut rnd = move || {
        s = s
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (s >> 40) as f32 / (1u64 << 24) as f32 - 0.5
    };
    let centres: Vec<Vec<f32>> = (0..12).map(|_| (0..DIM).map(|_| rnd()).collect()).collect();
    (0..n)
        .map(|i| {
            let v: Vec<f32> = centres[i % 12].iter().map(|c| c + rnd() * 0.3).collect();
            let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
            v.into_iter().map(|x| x / norm).collect()
        })
        .collect()
}

fn import(d: &Daemon, ns: &str, rows: &[Vec<f32>], prefix: &str) {
    let mut body = String::new();
    for (i, v) in rows.iter().enumerate() {
        let line = json!({"session_id": format!("{prefix}s{}", i / 50), "namespace": ns,
            "role": "user", "content": format!("note {i} of {ns}"), "ext_id": format!("{i}"),
            "embedding": v});
        body.push_str(&line.to_string());
        body.push('\n');
    }
    let (code, r) = d.request("POST", "/v1/import", body.as_bytes());
    assert_eq!(code, 200, "{r}");
    assert_eq!(r["imported"].as_u64(), Some(rows.len() as u64), "{r}");
}

fn top(d: &Daemon, ns: &str, v: &[f32], k: usize) -> Vec<String> {
    let (code, r) = d.post(
        "/v1/recall",
        &json!({"query": "", "vector": v, "k": k, "mode": "vector", "namespace": ns}),
    );
    assert_eq!(code, 200, "{r}");
    r["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["ext_id"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn partitioned_namespace_isolation_delete_and_restart_from_the_saved_layout() {
    let mut d = Daemon::start("[index]\nann_min_vectors = 300\nnprobe = 4\n");
    let rows = clustered(1500, 1);
    import(&d, "big", &rows, "");
    // Another namespace holding copies of some of big's vectors.
    import(&d, "small", &rows[..5], "x");

    // A re-clustering may run in the background after the import; wait
    // for it so the answers compared below come from one clustering.
    let st = common::wait_status(
        &d,
        "re-clustering done",
        std::time::Duration::from_secs(60),
        |s| s["index"]["reclustering"] == false,
    );
    let index = &st["index"];
    assert_eq!(index["vectors"], 1505, "{st}");
    assert_eq!(index["ann_namespaces"], 1, "{st}");
    assert!(index["cells"].as_u64().unwrap() > 10, "{st}");

    // Each row's own vector finds that row first; the small namespace only
    // ever returns its own rows.
    for i in [17usize, 444, 1499] {
        assert_eq!(top(&d, "big", &rows[i], 1), vec![i.to_string()]);
    }
    let small = top(&d, "small", &rows[3], 10);
    assert_eq!(small.len(), 5);
    assert_eq!(small[0], "3");

    // Deleting a session takes its rows out of the next recall.
    let (code, _) = d.request("DELETE", "/v1/sessions/s0", b"");
    assert_eq!(code, 200);
    let after = top(&d, "big", &rows[17], 50);
    assert!(
        after.iter().all(|id| id.parse::<usize>().unwrap() >= 50),
        "{after:?}"
    );

    // A checkpoint saves the layout; the restarted daemon places every row
    // in its saved cell and answers exactly as before.
    let queries = clustered(20, 99);
    let before: Vec<Vec<String>> = queries.iter().map(|q| top(&d, "big", q, 10)).collect();
    let (code, cp) = d.post("/v1/checkpoint", &json!({}));
    assert_eq!(code, 200, "{cp}");
    assert!(cp["index_layout_bytes"].as_u64().unwrap() > 0, "{cp}");
    assert!(d.data_dir.join("index.layout").exists());
    let status = d.stop();
    assert!(status.success());
    d.spawn();
    d.wait_ready();
    assert!(d.log_text().contains("placed by"), "{}", d.log_text());
    let (_, st2) = d.get("/v1/status");
    assert_eq!(st2["index"]["cells"], st["index"]["cells"]);
    assert_eq!(st2["index"]["vectors"], 1455);
    let again: Vec<Vec<String>> = queries.iter().map(|q| top(&d, "big", q, 10)).collect();
    assert_eq!(before, again);
}

#[test]
fn a_damaged_layout_is_ignored_and_the_index_rebuilt() {
    let mut d = Daemon::start("[index]\nann_min_vectors = 300\n");
    let rows = clustered(600, 7);
    import(&d, "n", &rows, "");
    let (code, _) = d.post("/v1/checkpoint", &json!({}));
    assert_eq!(code, 200);
    assert!(d.stop().success());
    let layout = d.data_dir.join("index.layout");
    let mut bytes = std::fs::read(&layout).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x55;
    std::fs::write(&layout, bytes).unwrap();
    d.spawn();
    d.wait_ready();
    assert!(d.log_text().contains("ignoring the saved index layout"));
    assert_eq!(top(&d, "n", &rows[123], 1), vec!["123".to_owned()]);
}

#[test]
fn supplied_vectors_are_checked() {
    let d = Daemon::start("");
    let bad = |body: Value, path: &str| {
        let (code, r) = d.post(path, &body);
        assert_eq!(code, 422, "{r}");
        assert_eq!(r["error"]["code"], "invalid_value", "{r}");
        r["error"]["message"].as_str().unwrap().to_owned()
    };
    let msg = bad(
        json!({"role": "user", "content": "x", "embedding": [1.0, 2.0]}),
        "/v1/sessions/s/exchanges",
    );
    assert!(msg.contains("has 2 values"), "{msg}");
    bad(
        json!({"role": "user", "content": "x", "embedding": vec![0.0; DIM]}),
        "/v1/sessions/s/exchanges",
    );
    bad(json!({"query": "", "vector": [0.5]}), "/v1/recall");
    // Without a vector an empty query is still refused.
    bad(json!({"query": " "}), "/v1/recall");
}
