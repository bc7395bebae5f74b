//! `memd-bench vectors DIR`: memd's vector index on the data sets of
//! `shared/bench/gen.py`, measured the way `shared/bench/peers.py`
//! measures the peer vector stores (same files, same columns, same
//! results file), so one table shows memd beside them.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, bail};
use serde_json::{Value, json};
use tokio::task::block_in_place;

use memd::index::{Params, VectorIndex, persist};

use crate::daemon::Daemon;

/// A data set written by `gen.py --out DIR`.
pub struct DataSet {
    pub kind: String,
    pub n: usize,
    pub dim: usize,
    /// Ground-truth ids per query (`gt_k` of them).
    pub gt_k: usize,
    pub base: Vec<f32>,
    pub queries: Vec<f32>,
    pub gt: Vec<i32>,
}

impl DataSet {
    pub fn load(dir: &Path, max_queries: Option<usize>) -> anyhow::Result<Self> {
        let meta: Value = serde_json::from_slice(
            &std::fs::read(dir.join("meta.json"))
                .with_context(|| format!("reading {}/meta.json", dir.display()))?,
        )?;
        let field = |k: &str| -> anyhow::Result<usize> {
            meta[k]
                .as_u64()
                .map(|v| v as usize)
                .with_context(|| format!("meta.json has no integer `{k}`"))
        };
        let (n, q, dim, gt_k) = (field("n")?, field("q")?, field("dim")?, field("k")?);
        let f32s = |name: &str, want: usize| -> anyhow::Result<Vec<f32>> {
            let bytes = std::fs::read(dir.join(name))
                .with_context(|| format!("reading {}/{name}", dir.display()))?;
            if bytes.len() != want * 4 {
                bail!("{name}: {} bytes, expected {}", bytes.len(), want * 4);
            }
            Ok(bytes
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes(b.try_into().expect("4 bytes")))
                .collect())
        };
        let base = f32s("base.f32", n * dim)?;
        let mut queries = f32s("queries.f32", q * dim)?;
        let gt_bytes = std::fs::read(dir.join("gt.i32"))?;
        if gt_bytes.len() != q * gt_k * 4 {
            bail!(
                "gt.i32: {} bytes, expected {}",
                gt_bytes.len(),
                q * gt_k * 4
            );
        }
        let mut gt: Vec<i32> = gt_bytes
            .chunks_exact(4)
            .map(|b| i32::from_le_bytes(b.try_into().expect("4 bytes")))
            .collect();
        if let Some(m) = max_queries.filter(|m| *m < q) {
            queries.truncate(m * dim);
            gt.truncate(m * gt_k);
        }
        Ok(Self {
            kind: meta["kind"].as_str().unwrap_or("unknown").to_owned(),
            n,
            dim,
            gt_k,
            base,
            queries,
            gt,
        })
    }

    pub fn query_count(&self) -> usize {
        self.queries.len() / self.dim
    }

    pub fn query(&self, i: usize) -> &[f32] {
        &self.queries[i * self.dim..(i + 1) * self.dim]
    }

    /// How many of `ids`' first 10 are in query `i`'s exact top 10.
    pub fn hits(&self, i: usize, ids: &[i64]) -> usize {
        let truth = &self.gt[i * self.gt_k..i * self.gt_k + 10];
        ids.iter()
            .take(10)
            .filter(|id| truth.contains(&(**id as i32)))
            .count()
    }

    /// Queries run before timing starts, as peers.py: min(100, Q/10), ≥ 10.
    pub fn warmup(&self) -> usize {
        let q = self.query_count();
        (q / 10).clamp(10, 100).min(q)
    }
}

/// Latency and recall over all queries, as peers.py's `run_queries`
/// computes them (numpy's linearly interpolated percentiles).
pub struct QueryStats {
    pub queries: usize,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub mean_ms: f64,
    pub recall_at_10: f64,
}

impl QueryStats {
    /// `run(i)` answers query `i` with ids, best first.
    pub fn measure(ds: &DataSet, mut run: impl FnMut(usize) -> Vec<i64>) -> Self {
        let q = ds.query_count();
        for i in 0..ds.warmup() {
            run(i);
        }
        let mut lat = Vec::with_capacity(q);
        let mut hits = 0usize;
        for i in 0..q {
            let t = Instant::now();
            let ids = run(i);
            lat.push(t.elapsed().as_secs_f64() * 1e3);
            hits += ds.hits(i, &ids);
        }
        Self::from_latencies(lat, hits, q)
    }

    pub fn from_latencies(mut lat: Vec<f64>, hits: usize, q: usize) -> Self {
        let mean_ms = lat.iter().sum::<f64>() / lat.len().max(1) as f64;
        lat.sort_by(f64::total_cmp);
        Self {
            queries: q,
            p50_ms: interpolated(&lat, 50.0),
            p95_ms: interpolated(&lat, 95.0),
            p99_ms: interpolated(&lat, 99.0),
            mean_ms,
            recall_at_10: hits as f64 / (10 * q.max(1)) as f64,
        }
    }
}

/// numpy's default percentile: linear between the two nearest ranks.
pub fn interpolated(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let pos = p / 100.0 * (sorted.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = pos.ceil() as usize;
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

/// One results row with the keys peers.py writes (peak RSS: this process).
pub fn row(
    ds: &DataSet,
    variant: &str,
    build_s: f64,
    disk_mb: f64,
    s: &QueryStats,
    params: Value,
) -> Value {
    let r4 = |x: f64| (x * 1e4).round() / 1e4;
    json!({
        "peer": "memd", "variant": variant, "kind": ds.kind, "n": ds.n, "dim": ds.dim, "k": 10,
        "build_s": (build_s * 1e3).round() / 1e3,
        "build_vps": if build_s > 0.0 { (ds.n as f64 / build_s * 10.0).round() / 10.0 } else { 0.0 },
        "disk_mb": (disk_mb * 10.0).round() / 10.0,
        "queries": s.queries, "p50_ms": r4(s.p50_ms), "p95_ms": r4(s.p95_ms), "p99_ms": r4(s.p99_ms),
        "mean_ms": r4(s.mean_ms), "qps": r4(1000.0 / s.mean_ms), "recall@10": r4(s.recall_at_10),
        "rss_peak_mb": super::peak_rss_kib(std::process::id() as u64)
            .map_or(0.0, |k| (k as f64 / 102.4).round() / 10.0),
        "params": params,
        "time": chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string(),
    })
}

pub fn append(results: &Path, row: &Value) -> anyhow::Result<()> {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(results)
        .with_context(|| format!("opening {}", results.display()))?;
    writeln!(f, "{row}")?;
    Ok(())
}

pub fn print_row(r: &Value) {
    println!(
        "  memd  {:58}  p50 {:7.3} ms  p95 {:7.3} ms  p99 {:7.3} ms  recall@10 {:.4}  build {:.1} s  rss {:.0} MB",
        r["variant"].as_str().unwrap_or(""),
        r["p50_ms"].as_f64().unwrap_or(0.0),
        r["p95_ms"].as_f64().unwrap_or(0.0),
        r["p99_ms"].as_f64().unwrap_or(0.0),
        r["recall@10"].as_f64().unwrap_or(0.0),
        r["build_s"].as_f64().unwrap_or(0.0),
        r["rss_peak_mb"].as_f64().unwrap_or(0.0),
    );
}

pub struct InProcessArgs {
    pub dir: PathBuf,
    pub results: Option<PathBuf>,
    pub max_queries: Option<usize>,
    pub nprobe: Vec<usize>,
    pub params: Params,
    pub workdir: PathBuf,
}

/// Builds memd's index from the base vectors (the start-up rebuild path:
/// bulk insert, then k-means partitioning), saves its layout, reloads it
/// (the start-up path after a checkpoint), then times k=10 queries on one
/// thread for each `nprobe`.
pub fn in_process(a: InProcessArgs) -> anyhow::Result<()> {
    let ds = DataSet::load(&a.dir, a.max_queries)?;
    let results = a.results.unwrap_or_else(|| a.dir.join("results.jsonl"));
    println!(
        "memd-bench vectors: {} {} x {}, {} queries, results -> {}",
        ds.kind,
        ds.n,
        ds.dim,
        ds.query_count(),
        results.display()
    );
    let build = |layout: Option<persist::Layout>| {
        let mut idx = VectorIndex::with_params(ds.dim, a.params);
        idx.begin_bulk(layout);
        for (i, v) in ds.base.chunks_exact(ds.dim).enumerate() {
            idx.insert(i as i64, "bench", "s", v);
        }
        idx.finish_bulk();
        idx
    };
    let t = Instant::now();
    let idx = build(None);
    let build_s = t.elapsed().as_secs_f64();
    let stats = idx.stats();
    println!(
        "  rebuild from scratch: {build_s:.2} s ({:.0} vectors/s), {} cells",
        ds.n as f64 / build_s,
        stats.cells
    );

    std::fs::create_dir_all(&a.workdir)?;
    let layout_path = a.workdir.join(format!("memd-{}-{}.layout", ds.kind, ds.n));
    let t = Instant::now();
    let layout_bytes = persist::save(&idx.layout(), "bench", &layout_path)?;
    let save_s = t.elapsed().as_secs_f64();
    drop(idx);
    let t = Instant::now();
    let layout = persist::load(&layout_path, "bench", ds.dim).map_err(anyhow::Error::msg)?;
    let idx = build(layout);
    let load_s = t.elapsed().as_secs_f64();
    println!(
        "  layout file {:.1} MB written in {save_s:.2} s; start-up from it {load_s:.2} s (vectors already in memory)",
        layout_bytes as f64 / 1e6
    );
    if idx.stats() != stats {
        bail!("the reloaded index differs: {:?} vs {stats:?}", idx.stats());
    }
    // What memd keeps on disk for the index: the vectors (in SQLite rows)
    // and the layout file.
    let disk_mb = (ds.base.len() * 4) as f64 / 1048576.0 + layout_bytes as f64 / 1048576.0;
    for &nprobe in &a.nprobe {
        idx.set_nprobe(nprobe);
        let s = QueryStats::measure(&ds, |i| {
            idx.search("bench", None, ds.query(i), 10)
                .into_iter()
                .map(|h| h.id)
                .collect()
        });
        let variant = format!("IVF cells={} nprobe={nprobe} in process", stats.cells);
        let r = row(
            &ds,
            &variant,
            build_s,
            disk_mb,
            &s,
            json!({"cells": stats.cells, "cell_factor": a.params.cell_factor, "nprobe": nprobe,
                   "startup_from_layout_s": load_s, "layout_mb": layout_bytes as f64 / 1048576.0}),
        );
        print_row(&r);
        append(&results, &r)?;
    }
    Ok(())
}

pub struct E2eArgs {
    pub dir: PathBuf,
    pub results: Option<PathBuf>,
    pub max_queries: Option<usize>,
    pub nprobe: usize,
    pub workdir: PathBuf,
}

/// The e2e daemon's config besides the data dir and socket: the hash
/// embedder (the vectors come with the exchanges), the index layout saved
/// by the shutdown checkpoint.
fn e2e_config(nprobe: usize) -> String {
    format!(
        "[log]\nlevel = \"warn\"\n[embed]\nprovider = \"hash\"\n[index]\nnprobe = {nprobe}\n\
         [checkpoint]\ninterval_s = 0\nkeep = 1\non_shutdown = true\n"
    )
}

async fn status(socket: &Path) -> anyhow::Result<Value> {
    let mut c = memd::ctl::Connection::open(socket).await?;
    c.call(hyper::Method::GET, "/v1/status", None)
        .await?
        .map_err(|e| anyhow::anyhow!("status: {e}"))
}

/// One pass of queries over one connection; returns the stats and each
/// query's top-10 row numbers.
async fn recall_pass(
    ds: &DataSet,
    socket: &Path,
    texts: &[String],
    mode: &str,
) -> anyhow::Result<(QueryStats, Vec<Vec<i64>>)> {
    let mut conn = memd::ctl::Connection::open(socket).await?;
    let q = ds.query_count();
    let warm = ds.warmup();
    let mut lat = Vec::with_capacity(q);
    let mut hits = 0;
    let mut tops = Vec::with_capacity(q);
    // The first `warm` requests are the warm-up, dropped below.
    for i in (0..warm).chain(0..q) {
        let query = if mode == "vector" {
            ""
        } else {
            texts[i].as_str()
        };
        let body = json!({"query": query, "vector": ds.query(i), "k": 10, "mode": mode,
                          "namespace": "bench"});
        let body = bytes::Bytes::from(body.to_string());
        let t = Instant::now();
        let (st, resp) = conn
            .request(hyper::Method::POST, "/v1/recall", Some(body))
            .await?;
        let ms = t.elapsed().as_secs_f64() * 1e3;
        anyhow::ensure!(
            st.is_success(),
            "recall: {}",
            String::from_utf8_lossy(&resp)
        );
        let v: Value = serde_json::from_slice(&resp)?;
        let ids: Vec<i64> = v["results"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|r| r["ext_id"].as_str()?.parse().ok())
                    .collect()
            })
            .unwrap_or_default();
        lat.push(ms);
        tops.push(ids);
    }
    let lat = lat.split_off(warm);
    let tops = tops.split_off(warm);
    for (i, ids) in tops.iter().enumerate() {
        hits += ds.hits(i, ids);
    }
    Ok((QueryStats::from_latencies(lat, hits, q), tops))
}

/// Imports the data set as exchanges (synthetic text, the base vectors as
/// client-supplied embeddings) into a fresh daemon, times `/v1/recall` in
/// vector and hybrid mode over its socket, restarts it (the shutdown
/// checkpoint saves the index layout) and checks the answers are the same.
pub async fn e2e(a: E2eArgs) -> anyhow::Result<()> {
    // The file reads and the daemon's start, restart and stop wait on the
    // disk and on another process: keep them off the async workers.
    let ds = std::sync::Arc::new(block_in_place(|| DataSet::load(&a.dir, a.max_queries))?);
    let results = a
        .results
        .clone()
        .unwrap_or_else(|| a.dir.join("results.jsonl"));
    std::fs::create_dir_all(&a.workdir)?;
    let root = tempfile_dir(&a.workdir)?;
    let mut daemon = block_in_place(|| {
        Daemon::start(
            &root,
            &e2e_config(a.nprobe),
            std::time::Duration::from_secs(600),
        )
    })?;
    println!(
        "memd-bench vectors --e2e: daemon on {} (data {})",
        daemon.socket.display(),
        daemon.data_dir.display()
    );

    let mut rng = super::Rng(0x005e_ed0f_be4c);
    let vocab = super::vocabulary(&mut rng, 5000);
    let texts: Vec<String> = (0..ds.n.max(ds.query_count()))
        .map(|_| {
            let w = 8 + rng.below(25);
            super::sentence(&mut rng, &vocab, w)
        })
        .collect();
    let texts = std::sync::Arc::new(texts);

    let t = Instant::now();
    let batch = 500;
    let conns = 2;
    let mut tasks = Vec::new();
    for c in 0..conns {
        let (ds, texts, socket) = (ds.clone(), texts.clone(), daemon.socket.clone());
        tasks.push(tokio::spawn(async move {
            let mut conn = memd::ctl::Connection::open(&socket).await?;
            let mut start = c * batch;
            while start < ds.n {
                let end = (start + batch).min(ds.n);
                let mut body = String::with_capacity((end - start) * 4200);
                for i in start..end {
                    let line = json!({"session_id": format!("s{}", i / 50), "namespace": "bench",
                        "role": "user", "content": texts[i], "ext_id": i.to_string(),
                        "embedding": &ds.base[i * ds.dim..(i + 1) * ds.dim]});
                    body.push_str(&line.to_string());
                    body.push('\n');
                }
                let (st, resp) = conn
                    .request(hyper::Method::POST, "/v1/import", Some(body.into()))
                    .await?;
                anyhow::ensure!(
                    st.is_success(),
                    "import: {}",
                    String::from_utf8_lossy(&resp)
                );
                start += conns * batch;
            }
            anyhow::Ok(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    let import_s = t.elapsed().as_secs_f64();
    // A namespace that doubled is re-clustered in the background; measure
    // the settled index.
    let mut st = status(&daemon.socket).await?;
    while st["index"]["reclustering"] == true {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        st = status(&daemon.socket).await?;
    }
    let settled_s = t.elapsed().as_secs_f64();
    anyhow::ensure!(
        st["index"]["vectors"].as_u64() == Some(ds.n as u64),
        "the index holds {} vectors, expected {}",
        st["index"]["vectors"],
        ds.n
    );
    println!(
        "  imported {} exchanges with vectors in {import_s:.1} s ({:.0}/s; re-clustering settled at {settled_s:.1} s); index {}",
        ds.n,
        ds.n as f64 / import_s,
        st["index"]
    );

    let (vec_stats, tops_before) = recall_pass(&ds, &daemon.socket, &texts, "vector").await?;
    let (hyb_stats, _) = recall_pass(&ds, &daemon.socket, &texts, "hybrid").await?;
    let rss = |pid: u64| super::peak_rss_kib(pid).map_or(0.0, |k| k as f64 / 1024.0);
    let daemon_rss = rss(daemon.pid());

    let restart_s = block_in_place(|| daemon.restart())?;
    let st2 = status(&daemon.socket).await?;
    let (vec_again, tops_after) = recall_pass(&ds, &daemon.socket, &texts, "vector").await?;
    let same = tops_before
        .iter()
        .zip(&tops_after)
        .filter(|(a, b)| a == b)
        .count();
    println!(
        "  restart with the saved layout: ready in {restart_s:.2} s, index {}; \
         top-10 identical for {same}/{} queries (recall@10 {:.4} -> {:.4})",
        st2["index"],
        tops_before.len(),
        vec_stats.recall_at_10,
        vec_again.recall_at_10
    );
    let db_mb = dir_mb(&daemon.data_dir);
    block_in_place(|| daemon.stop())?;

    let params = json!({"nprobe": a.nprobe, "cells": st["index"]["cells"],
        "import_s": import_s, "settled_s": settled_s, "restart_ready_s": restart_s,
        "same_top10_after_restart": same as f64 / tops_before.len().max(1) as f64,
        "daemon_rss_mb": daemon_rss, "client": "1 connection, JSON over the Unix socket"});
    for (variant, s) in [
        (
            format!("/v1/recall mode=vector nprobe={} (socket)", a.nprobe),
            &vec_stats,
        ),
        (
            format!(
                "/v1/recall mode=hybrid nprobe={} (socket, BM25+vector)",
                a.nprobe
            ),
            &hyb_stats,
        ),
    ] {
        let mut r = row(&ds, &variant, import_s, db_mb, s, params.clone());
        r["rss_peak_mb"] = json!(daemon_rss.round());
        print_row(&r);
        append(&results, &r)?;
    }
    let _ = std::fs::remove_dir_all(&root);
    Ok(())
}

fn tempfile_dir(under: &Path) -> anyhow::Result<PathBuf> {
    let p = under.join(format!("e2e-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&p);
    std::fs::create_dir_all(&p)?;
    Ok(p)
}

fn dir_mb(dir: &Path) -> f64 {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(Result::ok)
                .filter_map(|e| e.metadata().ok())
                .filter(|m| m.is_file())
                .map(|m| m.len())
                .sum::<u64>() as f64
                / 1048576.0
        })
        .unwrap_or(0.0)
}

/// In process, then (with --e2e) through a daemon.
pub async fn run(a: crate::cli::VectorsArgs) -> anyhow::Result<()> {
    let mut params = Params::default();
    if let Some(f) = a.cell_factor {
        params.cell_factor = f;
    }
    let e2e_args = a.e2e.then(|| E2eArgs {
        dir: a.dir.clone(),
        results: a.results.clone(),
        max_queries: a.max_queries,
        nprobe: a.e2e_nprobe,
        workdir: a.workdir.clone(),
    });
    if !a.skip_in_process {
        let args = InProcessArgs {
            dir: a.dir,
            results: a.results,
            max_queries: a.max_queries,
            nprobe: a.nprobe,
            params,
            workdir: a.workdir,
        };
        tokio::task::spawn_blocking(move || in_process(args)).await??;
    }
    match e2e_args {
        Some(args) => e2e(args).await,
        None => Ok(()),
    }
}
