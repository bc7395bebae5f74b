//! Dream-cycle benchmarks.
//!
//! `memd-bench gists FILE`: gist quality on a LoCoMo-format file, in
//! process. Every session is summarised by the extractive provider and by
//! lead-k (the session's first sentences up to the same length), and each is
//! scored against the data set's own session summary: ROUGE-1 and ROUGE-L F1
//! over lower-cased word tokens, and the cosine of MiniLM vectors.
//!
//! `memd-bench dream --socket S`: a running daemon is given N synthetic
//! sessions, then timed: a forced pass until caught up (wall time, the
//! daemon's peak RSS), and recall p50/p95 while idle and while the pass runs.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use hyper::Method;
use serde_json::{Value, json};

use memd::ctl::Connection;
use memd::dream::extractive;
use memd::dream::text::Turn;
use memd::embed::{Embedder, HashEmbedder};

/// Lower-cased alphanumeric word tokens.
fn tokens(s: &str) -> Vec<String> {
    s.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

fn f1(overlap: f64, cand: usize, reference: usize) -> f64 {
    if overlap == 0.0 || cand == 0 || reference == 0 {
        return 0.0;
    }
    let p = overlap / cand as f64;
    let r = overlap / reference as f64;
    2.0 * p * r / (p + r)
}

pub fn rouge1(cand: &str, reference: &str) -> f64 {
    let (c, r) = (tokens(cand), tokens(reference));
    let mut counts: std::collections::HashMap<&str, i64> = std::collections::HashMap::new();
    for w in &r {
        *counts.entry(w).or_default() += 1;
    }
    let mut overlap = 0;
    for w in &c {
        if let Some(n) = counts.get_mut(w.as_str())
            && *n > 0
        {
            *n -= 1;
            overlap += 1;
        }
    }
    f1(overlap as f64, c.len(), r.len())
}

pub fn rouge_l(cand: &str, reference: &str) -> f64 {
    let (c, r) = (tokens(cand), tokens(reference));
    let mut prev = vec![0usize; r.len() + 1];
    for x in &c {
        let mut cur = vec![0usize; r.len() + 1];
        for (j, y) in r.iter().enumerate() {
            cur[j + 1] = if x == y {
                prev[j] + 1
            } else {
                cur[j].max(prev[j + 1])
            };
        }
        prev = cur;
    }
    f1(prev[r.len()] as f64, c.len(), r.len())
}

fn cosine(a: &[f32], b: &[f32]) -> f64 {
    a.iter().zip(b).map(|(x, y)| (x * y) as f64).sum()
}

/// LoCoMo sessions as turns, the way `scripts/locomo_eval.py` imports them.
pub fn locomo_sessions(data: &Value) -> Vec<(String, Vec<Turn>, String)> {
    let mut out = Vec::new();
    for conv in data.as_array().into_iter().flatten() {
        let c = &conv["conversation"];
        let Some(obj) = c.as_object() else { continue };
        let mut keys: Vec<usize> = obj
            .keys()
            .filter_map(|k| k.strip_prefix("session_")?.parse().ok())
            .collect();
        keys.sort_unstable();
        for n in keys {
            let Some(summary) = conv["session_summary"][format!("session_{n}_summary")].as_str()
            else {
                continue;
            };
            let when = c[format!("session_{n}_date_time")].as_str().unwrap_or("");
            let base = chrono::NaiveDateTime::parse_from_str(when, "%I:%M %p on %d %B, %Y")
                .map(|t| t.and_utc().timestamp_millis())
                .unwrap_or(0);
            let turns: Vec<Turn> = c[format!("session_{n}")]
                .as_array()
                .into_iter()
                .flatten()
                .enumerate()
                .map(|(i, t)| {
                    let mut text = format!(
                        "{}: {}",
                        t["speaker"].as_str().unwrap_or("?"),
                        t["text"].as_str().unwrap_or("")
                    );
                    if let Some(cap) = t["blip_caption"].as_str() {
                        text.push_str(&format!(" [shares {cap}]"));
                    }
                    Turn::new(i as i64 + 1, "user", &text, None, base + 10_000 * i as i64)
                })
                .collect();
            if !turns.is_empty() {
                let id = format!("{}-s{n}", conv["sample_id"].as_str().unwrap_or("?"));
                out.push((id, turns, summary.to_owned()));
            }
        }
    }
    out
}

#[derive(Default)]
struct Score {
    n: usize,
    r1: f64,
    rl: f64,
    cos: f64,
    chars: usize,
}

impl Score {
    fn add(&mut self, cand: &str, reference: &str, cv: &[f32], rv: &[f32]) {
        self.n += 1;
        self.r1 += rouge1(cand, reference);
        self.rl += rouge_l(cand, reference);
        self.cos += cosine(cv, rv);
        self.chars += cand.chars().count();
    }

    fn json(&self) -> Value {
        let n = self.n.max(1) as f64;
        json!({"sessions": self.n, "rouge1_f1": self.r1 / n, "rougeL_f1": self.rl / n,
            "minilm_cosine": self.cos / n, "mean_chars": self.chars as f64 / n})
    }
}

pub async fn gists(
    file: PathBuf,
    model_dir: Option<PathBuf>,
    gist_chars: usize,
    lambda: f64,
    json_out: bool,
) -> anyhow::Result<()> {
    let data: Value = serde_json::from_slice(
        &std::fs::read(&file).map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?,
    )?;
    let sessions = locomo_sessions(&data);
    anyhow::ensure!(
        !sessions.is_empty(),
        "no sessions with summaries in {}",
        file.display()
    );
    let report = tokio::task::spawn_blocking(move || -> anyhow::Result<Value> {
        let embedder: Arc<dyn Embedder> = match &model_dir {
            Some(d) => Arc::new(memd::embed::local::LocalEmbedder::load(d, 0)?),
            None => Arc::new(HashEmbedder::new()),
        };
        let (mut ext, mut lead, mut lead_h) = (Score::default(), Score::default(), Score::default());
        let started = Instant::now();
        let mut extract_s = 0.0;
        for (_, turns, reference) in &sessions {
            let t = Instant::now();
            let g = extractive::gist(embedder.as_ref(), turns, gist_chars, lambda)?;
            extract_s += t.elapsed().as_secs_f64();
            // Same length as the gist; with and without the gist's header
            // (speakers and date), so the header's share is visible.
            let header_end = g.find(". ").map_or(0, |i| i + 2);
            let header = &g[..header_end];
            let l = extractive::lead(turns, g.chars().count());
            let lh = format!(
                "{header}{}",
                extractive::lead(turns, g.chars().count().saturating_sub(header.chars().count()))
            );
            let v = embedder.embed(&[g.as_str(), l.as_str(), lh.as_str(), reference.as_str()])?;
            ext.add(&g, reference, &v[0], &v[3]);
            lead.add(&l, reference, &v[1], &v[3]);
            lead_h.add(&lh, reference, &v[2], &v[3]);
        }
        Ok(json!({
            "file": file, "embedder": embedder.model_id(), "gist_chars": gist_chars, "mmr_lambda": lambda,
            "extractive": ext.json(), "lead_k": lead.json(), "lead_k_with_header": lead_h.json(),
            "extractive_ms_per_session": extract_s * 1000.0 / sessions.len() as f64,
            "took_s": started.elapsed().as_secs_f64(),
        }))
    })
    .await??;
    if json_out {
        println!("{report}");
        return Ok(());
    }
    println!(
        "{} sessions, embedder {}, gist_chars {}",
        report["extractive"]["sessions"], report["embedder"], gist_chars
    );
    println!(
        "{:<22} {:>9} {:>9} {:>9} {:>7}",
        "method", "ROUGE-1", "ROUGE-L", "cosine", "chars"
    );
    for key in ["extractive", "lead_k", "lead_k_with_header"] {
        let r = &report[key];
        println!(
            "{:<22} {:>9.4} {:>9.4} {:>9.4} {:>7.0}",
            key,
            r["rouge1_f1"].as_f64().unwrap_or(0.0),
            r["rougeL_f1"].as_f64().unwrap_or(0.0),
            r["minilm_cosine"].as_f64().unwrap_or(0.0),
            r["mean_chars"].as_f64().unwrap_or(0.0)
        );
    }
    println!(
        "extractive: {:.1} ms per session",
        report["extractive_ms_per_session"].as_f64().unwrap_or(0.0)
    );
    Ok(())
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    super::percentile(sorted, p)
}

async fn recall_round(
    conn: &mut Connection,
    ns: &str,
    words: &[String],
    n: usize,
    rng: &mut super::Rng,
) -> anyhow::Result<Vec<f64>> {
    let mut lat = Vec::with_capacity(n);
    for _ in 0..n {
        let q: Vec<&str> = (0..4)
            .map(|_| words[rng.below(words.len())].as_str())
            .collect();
        let t = Instant::now();
        conn.call(
            Method::POST,
            "/v1/recall",
            Some(json!({"query": q.join(" "), "namespace": ns, "k": 10})),
        )
        .await?
        .map_err(|e| anyhow::anyhow!("recall failed: {e}"))?;
        lat.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    lat.sort_by(|a, b| a.total_cmp(b));
    Ok(lat)
}

pub async fn pass(
    socket: PathBuf,
    sessions: usize,
    turns: usize,
    queries: usize,
    json_out: bool,
) -> anyhow::Result<()> {
    let ns = "bench-dream";
    let mut rng = super::Rng(0x5eed_d2ea);
    let vocab = super::vocabulary(&mut rng, 5000);
    let mut conn = Connection::open(&socket).await?;
    let status = conn
        .call(Method::GET, "/v1/status", None)
        .await?
        .map_err(|e| anyhow::anyhow!("status: {e}"))?;
    let pid = status["pid"].as_u64().unwrap_or(0);

    // Import: sessions of `turns` turns, two speakers, four sentences each.
    let started = Instant::now();
    let day0 = 1_672_531_200_000i64; // 2023-01-01
    let mut buf = String::new();
    for s in 0..sessions {
        for t in 0..turns {
            let speaker = if t % 2 == 0 { "Ana" } else { "Ben" };
            let text: Vec<String> = (0..4)
                .map(|_| {
                    let n = 5 + rng.below(10);
                    format!("{}.", super::sentence(&mut rng, &vocab, n))
                })
                .collect();
            let at = day0 + (s as i64) * 3_600_000 * 7 + t as i64 * 30_000;
            buf.push_str(
                &json!({"session_id": format!("bd-{s}"), "namespace": ns, "role": "user",
                    "content": format!("{speaker}: {}", text.join(" ")), "ext_id": format!("{s}-{t}"),
                    "created_at": memd::time::to_rfc3339(at)})
                .to_string(),
            );
            buf.push('\n');
        }
        if (s + 1) % 100 == 0 || s + 1 == sessions {
            let (st, body) = conn
                .request(
                    Method::POST,
                    "/v1/import",
                    Some(Bytes::from(std::mem::take(&mut buf))),
                )
                .await?;
            anyhow::ensure!(
                st.is_success(),
                "import: {}",
                String::from_utf8_lossy(&body)
            );
        }
    }
    let import_s = started.elapsed().as_secs_f64();
    // Let the embedding queue finish first: the pass is what is measured.
    loop {
        let st = conn
            .call(Method::GET, "/v1/status", None)
            .await?
            .map_err(|e| anyhow::anyhow!("status: {e}"))?;
        if st["embedder"]["backlog"].as_i64() == Some(0) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let idle = recall_round(&mut conn, ns, &vocab[..500], queries, &mut rng).await?;

    // The pass runs in the background; recalls go on beside it.
    let t0 = Instant::now();
    let started_pass = conn
        .call(
            Method::POST,
            "/v1/dream",
            Some(json!({"namespace": ns, "force": true, "until_caught_up": true})),
        )
        .await?
        .map_err(|e| anyhow::anyhow!("dream: {e}"))?;
    anyhow::ensure!(
        started_pass["started"] == true,
        "dream did not start: {started_pass}"
    );
    let mut busy = Vec::new();
    let mut probe = Connection::open(&socket).await?;
    loop {
        let mut round = recall_round(&mut conn, ns, &vocab[..500], 20, &mut rng).await?;
        busy.append(&mut round);
        let st = probe
            .call(Method::GET, "/v1/status", None)
            .await?
            .map_err(|e| anyhow::anyhow!("status: {e}"))?;
        if st["dream"]["running"].is_null() {
            break;
        }
    }
    let pass_s = t0.elapsed().as_secs_f64();
    busy.sort_by(|a, b| a.total_cmp(b));
    let runs = probe
        .call(
            Method::GET,
            &format!("/v1/dream/runs?namespace={ns}&limit=1000"),
            None,
        )
        .await?
        .map_err(|e| anyhow::anyhow!("runs: {e}"))?;
    let gists: usize = runs["runs"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|r| r["actions"].as_array().cloned().unwrap_or_default())
        .filter(|a| a["action"] == "gist")
        .count();
    let report = json!({
        "sessions": sessions, "turns_per_session": turns, "import_s": import_s,
        "pass_s": pass_s, "gists": gists, "passes": runs["runs"].as_array().map_or(0, Vec::len),
        "sessions_per_s": gists as f64 / pass_s,
        "recall_idle_ms": {"p50": percentile(&idle, 50.0), "p95": percentile(&idle, 95.0), "n": idle.len()},
        "recall_during_pass_ms": {"p50": percentile(&busy, 50.0), "p95": percentile(&busy, 95.0), "n": busy.len()},
        "p95_ratio": percentile(&busy, 95.0) / percentile(&idle, 95.0).max(1e-9),
        "daemon_peak_rss_mib": super::peak_rss_kib(pid).map(|k| k as f64 / 1024.0),
        "embedder": status["embedder"]["model"],
    });
    if json_out {
        println!("{report}");
    } else {
        println!("{}", serde_json::to_string_pretty(&report)?);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rouge_matches_hand_counts() {
        // 3 of 4 candidate words, 3 of 6 reference words.
        let r = rouge1("the cat sat down", "the cat was sitting down there");
        assert!((r - 2.0 * 0.75 * 0.5 / 1.25).abs() < 1e-9);
        assert_eq!(rouge1("", "x"), 0.0);
        // LCS "the cat down" = 3.
        let l = rouge_l("the cat sat down", "the cat was sitting down there");
        assert!((l - r).abs() < 1e-9);
        assert!((rouge_l("a b c", "c b a") - 1.0 / 3.0).abs() < 1e-9);
    }
}
