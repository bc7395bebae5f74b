//! `memd-bench embed`: the local embedding model in process, on the
//! workload of `shared/bench/embed_peer.py`.

use std::time::Instant;

use serde_json::json;

use crate::{Rng, percentile};

fn refs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

const PEER_WORDS: &str = "the a we my friend went to park yesterday morning because weather was lovely and \
    then bought coffee near station while talking about new job painting class dog cat \
    garden trip summer family dinner book music guitar lesson doctor appointment";

fn peer_sentence(rng: &mut Rng, n: usize) -> String {
    let words: Vec<&str> = PEER_WORDS.split_whitespace().collect();
    let mut s: String = (0..n)
        .map(|_| words[rng.below(words.len())])
        .collect::<Vec<_>>()
        .join(" ");
    if let Some(first) = s.get_mut(0..1) {
        first.make_ascii_uppercase();
    }
    s.push('.');
    s
}

/// In-process embedding benchmark of the local model.
pub async fn run(
    model_dir: &std::path::Path,
    threads: Option<usize>,
    json_out: bool,
) -> anyhow::Result<()> {
    use memd::embed::Embedder;
    let threads =
        threads.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let dir = model_dir.to_owned();
    tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
        let model = memd::embed::local::LocalEmbedder::load(&dir, threads)?;
        let mut rng = Rng(7);
        let short: Vec<String> = (0..640).map(|_| peer_sentence(&mut rng, 12)).collect();
        let long: Vec<String> = (0..128).map(|_| peer_sentence(&mut rng, 200)).collect();
        model.embed(&refs(&short[..32]))?;
        let mut lat = Vec::new();
        for q in &short[..300] {
            let t = Instant::now();
            model.embed(&[q.as_str()])?;
            lat.push(t.elapsed().as_secs_f64() * 1000.0);
        }
        lat.sort_by(|a, b| a.total_cmp(b));
        let rate = |texts: &[String], batch: usize| -> anyhow::Result<f64> {
            let t = Instant::now();
            for chunk in texts.chunks(batch) {
                model.embed(&refs(chunk))?;
            }
            Ok(texts.len() as f64 / t.elapsed().as_secs_f64())
        };
        let tokens_short = model.token_ids(&refs(&short[..32]))?.iter().map(Vec::len).sum::<usize>() as f64 / 32.0;
        let tokens_long = model.token_ids(&refs(&long[..8]))?.iter().map(Vec::len).sum::<usize>() as f64 / 8.0;
        let report = json!({
            "runtime": format!("memd local f32, {threads} threads"),
            "query_ms": {"p50": percentile(&lat, 50.0), "p95": percentile(&lat, 95.0), "p99": percentile(&lat, 99.0)},
            "short_per_s": {"batch1": rate(&short[..200], 1)?, "batch32": rate(&short, 32)?},
            "long_per_s": {"batch1": rate(&long[..32], 1)?, "batch32": rate(&long, 32)?},
            "tokens_per_sentence": {"short": tokens_short, "long": tokens_long},
        });
        if json_out {
            println!("{report}");
        } else {
            for (k, v) in report.as_object().unwrap() {
                println!("{k:20} {v}");
            }
        }
        Ok(())
    })
    .await?
}
