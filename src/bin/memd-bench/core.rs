//! `memd-bench core`: drives a running daemon over its socket the way a
//! client would, and reports import rate, recall latency percentiles and the
//! daemon's peak RSS.

use std::time::Instant;

use bytes::Bytes;
use hyper::Method;
use memd::ctl::Connection;
use serde_json::{Value, json};

use crate::{Rng, peak_rss_kib, percentile, sentence, vocabulary};

pub async fn run(o: crate::cli::CoreArgs) -> anyhow::Result<()> {
    let crate::cli::CoreArgs {
        socket,
        exchanges,
        queries,
        batch,
        concurrency,
        checkpoint,
        concurrent,
        json: json_out,
    } = o;
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let vocab = vocabulary(&mut rng, 5000);
    let per_session = 50;
    let mut bodies: Vec<Bytes> = Vec::new();
    let mut sample_texts = Vec::new();
    let mut buf = String::new();
    for i in 0..exchanges {
        let words = 8 + rng.below(25);
        let text = sentence(&mut rng, &vocab, words);
        if i % (exchanges / queries.max(1)).max(1) == 0 {
            sample_texts.push(text.clone());
        }
        let line = json!({
            "session_id": format!("bench-{}", i / per_session),
            "role": if i % 2 == 0 { "user" } else { "assistant" },
            "content": text,
            "ext_id": format!("b{i}"),
        });
        buf.push_str(&line.to_string());
        buf.push('\n');
        if (i + 1) % batch == 0 || i + 1 == exchanges {
            bodies.push(Bytes::from(std::mem::take(&mut buf)));
        }
    }

    let mut probe = Connection::open(&socket).await?;
    let status = probe.call(Method::GET, "/v1/status", None).await?;
    let pid = status
        .as_ref()
        .ok()
        .and_then(|s| s["pid"].as_u64())
        .unwrap_or(0);

    // Import: `concurrency` connections, each sending its share of batches.
    let started = Instant::now();
    let mut tasks = Vec::new();
    let shares: Vec<Vec<Bytes>> = (0..concurrency.max(1))
        .map(|c| {
            bodies
                .iter()
                .skip(c)
                .step_by(concurrency.max(1))
                .cloned()
                .collect()
        })
        .collect();
    for share in shares {
        let socket = socket.clone();
        tasks.push(tokio::spawn(async move {
            let mut conn = Connection::open(&socket).await?;
            let mut imported = 0u64;
            for body in share {
                let (st, resp) = conn.request(Method::POST, "/v1/import", Some(body)).await?;
                anyhow::ensure!(
                    st.is_success(),
                    "import failed: {}",
                    String::from_utf8_lossy(&resp)
                );
                let v: Value = serde_json::from_slice(&resp)?;
                imported +=
                    v["imported"].as_u64().unwrap_or(0) + v["duplicates"].as_u64().unwrap_or(0);
            }
            anyhow::Ok(imported)
        }));
    }
    let mut imported = 0;
    for t in tasks {
        imported += t.await??;
    }
    let import_s = started.elapsed().as_secs_f64();
    let rate = imported as f64 / import_s;
    // With a queued embedder, how long until every row has its vector.
    let mut embedded_after_s = None;
    loop {
        let st = probe
            .call(Method::GET, "/v1/status", None)
            .await?
            .map_err(|e| anyhow::anyhow!("status failed: {e}"))?;
        if st["embedder"]["backlog"].as_i64() == Some(0) {
            embedded_after_s = Some(started.elapsed().as_secs_f64());
            break;
        }
        if started.elapsed().as_secs() > 3600 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }

    // Recall: one client, queries made of a few words of stored texts.
    let mut lat = Vec::with_capacity(queries);
    let mut top1 = 0usize;
    for i in 0..queries {
        let text = &sample_texts[i % sample_texts.len()];
        let words: Vec<&str> = text.split(' ').collect();
        let start = rng.below(words.len().saturating_sub(5).max(1));
        let q = words[start..(start + 5).min(words.len())].join(" ");
        let t = Instant::now();
        let ans = probe
            .call(
                Method::POST,
                "/v1/recall",
                Some(json!({"query": q, "k": 10})),
            )
            .await?
            .map_err(|e| anyhow::anyhow!("recall failed: {e}"))?;
        lat.push(t.elapsed().as_secs_f64() * 1000.0);
        if ans["results"][0]["content"].as_str() == Some(text.as_str()) {
            top1 += 1;
        }
    }
    lat.sort_by(|a, b| a.total_cmp(b));

    // Concurrent clients: each level runs `queries` recalls over that many
    // connections at once.
    let mut levels = Vec::new();
    for &c in &concurrent {
        let started = Instant::now();
        let mut tasks = Vec::new();
        for t in 0..c {
            let socket = socket.clone();
            let qs: Vec<String> = sample_texts
                .iter()
                .skip(t)
                .step_by(c)
                .take(queries.div_ceil(c))
                .map(|text| text.split(' ').take(5).collect::<Vec<_>>().join(" "))
                .collect();
            tasks.push(tokio::spawn(async move {
                let mut conn = Connection::open(&socket).await?;
                let mut lat = Vec::with_capacity(qs.len());
                for q in qs {
                    let t = Instant::now();
                    conn.call(
                        Method::POST,
                        "/v1/recall",
                        Some(json!({"query": q, "k": 10})),
                    )
                    .await?
                    .map_err(|e| anyhow::anyhow!("recall failed: {e}"))?;
                    lat.push(t.elapsed().as_secs_f64() * 1000.0);
                }
                anyhow::Ok(lat)
            }));
        }
        let mut all = Vec::new();
        for t in tasks {
            all.extend(t.await??);
        }
        let wall = started.elapsed().as_secs_f64();
        all.sort_by(|a, b| a.total_cmp(b));
        levels.push(json!({
            "clients": c,
            "requests": all.len(),
            "per_s": all.len() as f64 / wall,
            "p50": percentile(&all, 50.0),
            "p95": percentile(&all, 95.0),
            "p99": percentile(&all, 99.0),
        }));
    }
    let snapshot = if checkpoint {
        Some(checkpoint_under_writes(&socket).await?)
    } else {
        None
    };
    let rss = peak_rss_kib(pid);
    let report = json!({
        "exchanges": imported,
        "import_s": import_s,
        "import_per_s": rate,
        "all_embedded_after_s": embedded_after_s,
        "batch": batch,
        "concurrency": concurrency,
        "queries": queries,
        "recall_ms": {"p50": percentile(&lat, 50.0), "p95": percentile(&lat, 95.0), "p99": percentile(&lat, 99.0), "max": lat.last().copied().unwrap_or(0.0)},
        "recall_top1_source": top1 as f64 / queries.max(1) as f64,
        "daemon_peak_rss_mib": rss.map(|k| k as f64 / 1024.0),
        "checkpoint": snapshot,
        "concurrent_recall": levels,
    });
    if json_out {
        println!("{report}");
    } else {
        println!(
            "imported {imported} exchanges in {import_s:.2}s: {rate:.0} exchanges/s (batch {batch}, {concurrency} connections)"
        );
        if let Some(t) = embedded_after_s {
            println!("every row embedded {t:.1}s after the import started");
        }
        println!(
            "recall over {queries} queries: p50 {:.2} ms, p95 {:.2} ms, p99 {:.2} ms (source text ranked first in {:.1}%)",
            percentile(&lat, 50.0),
            percentile(&lat, 95.0),
            percentile(&lat, 99.0),
            100.0 * top1 as f64 / queries.max(1) as f64
        );
        for l in &levels {
            println!(
                "recall with {:>2} clients: {:.0} req/s, p50 {:.2} ms, p95 {:.2} ms, p99 {:.2} ms",
                l["clients"],
                l["per_s"].as_f64().unwrap_or(0.0),
                l["p50"].as_f64().unwrap_or(0.0),
                l["p95"].as_f64().unwrap_or(0.0),
                l["p99"].as_f64().unwrap_or(0.0)
            );
        }
        if let Some(s) = &snapshot {
            println!(
                "snapshot: {:.0} ms, {:.1} MiB; {} writes meanwhile: max {:.1} ms, p99 {:.1} ms (before it: max {:.1} ms, p99 {:.1} ms)",
                s["duration_ms"].as_f64().unwrap_or(0.0),
                s["bytes"].as_f64().unwrap_or(0.0) / 1048576.0,
                s["writes_during"],
                s["write_ms_during"]["max"].as_f64().unwrap_or(0.0),
                s["write_ms_during"]["p99"].as_f64().unwrap_or(0.0),
                s["write_ms_before"]["max"].as_f64().unwrap_or(0.0),
                s["write_ms_before"]["p99"].as_f64().unwrap_or(0.0),
            );
        }
        match rss {
            Some(k) => println!("daemon peak RSS: {:.1} MiB", k as f64 / 1024.0),
            None => println!("daemon peak RSS: unknown (pid {pid} not readable)"),
        }
    }
    Ok(())
}

/// One client writes single exchanges back to back; after a second of
/// baseline, a snapshot is taken. Reports the snapshot and the write
/// latencies before and during it (how long writers were held up).
async fn checkpoint_under_writes(socket: &std::path::Path) -> anyhow::Result<Value> {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (socket, stop) = (socket.to_owned(), stop.clone());
        tokio::spawn(async move {
            let mut conn = Connection::open(&socket).await?;
            let mut samples: Vec<(Instant, f64)> = Vec::new();
            let mut i = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let body = json!({"role": "user", "content": format!("write during snapshot {i}")});
                let t = Instant::now();
                conn.call(
                    Method::POST,
                    "/v1/sessions/bench-snapshot/exchanges",
                    Some(body),
                )
                .await?
                .map_err(|e| anyhow::anyhow!("write failed: {e}"))?;
                samples.push((t, t.elapsed().as_secs_f64() * 1000.0));
                i += 1;
            }
            anyhow::Ok(samples)
        })
    };
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    let mut conn = Connection::open(socket).await?;
    let started = Instant::now();
    let taken = conn
        .call(Method::POST, "/v1/checkpoint", None)
        .await?
        .map_err(|e| anyhow::anyhow!("checkpoint failed: {e}"))?;
    let ended = Instant::now();
    stop.store(true, Ordering::Relaxed);
    let samples = writer.await??;
    let pick = |f: &dyn Fn(&Instant) -> bool| {
        let mut v: Vec<f64> = samples.iter().filter(|(t, _)| f(t)).map(|s| s.1).collect();
        v.sort_by(|a, b| a.total_cmp(b));
        v
    };
    let during = pick(&|t| *t >= started && *t <= ended);
    let before = pick(&|t| *t < started);
    let stats = |v: &[f64]| json!({"n": v.len(), "p50": percentile(v, 50.0), "p99": percentile(v, 99.0), "max": v.last().copied().unwrap_or(0.0)});
    Ok(json!({
        "path": taken["path"],
        "bytes": taken["bytes"],
        "duration_ms": taken["duration_ms"],
        "writes_during": during.len(),
        "write_ms_during": stats(&during),
        "write_ms_before": stats(&before),
    }))
}
