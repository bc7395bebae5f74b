//! `memd-bench sources`: full-sync rate and change → recallable latency of
//! database sources, measured through a `memd` daemon started here.
//!
//! For each source type (a SQLite file made here; PostgreSQL when
//! `--pg-url` is given) it fills a table with `--rows` rows, starts a
//! daemon whose only source is that table, and times (a) until every row is
//! a concept (rows/s synced, lexically recallable) and (b) until every
//! concept has a vector (rows/s embedded). Then it changes one row at a
//! time (`--changes` times) and times until a recall finds the new text:
//! SQLite through the file watcher (rows compared by fingerprint, or with
//! `--sqlite-cursor` read by an `updated_at` column); PostgreSQL by polling (poll_interval_s
//! = 1) and then through LISTEN/NOTIFY with the trigger of
//! `memd sources trigger-sql`.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::{Value, json};
use tokio::task::block_in_place;

use crate::cli::SourcesBenchArgs;
use crate::daemon::Daemon;

/// How long a daemon may take to start.
const READY: Duration = Duration::from_secs(300);

/// The daemon's config besides the data dir and socket.
fn config(embed: &str, sources: &str) -> String {
    format!(
        "[log]\nlevel = \"warn\"\n{embed}\n[checkpoint]\ninterval_s = 0\non_shutdown = false\n{sources}"
    )
}

async fn call(
    socket: &Path,
    method: hyper::Method,
    path: &str,
    body: Option<Value>,
) -> anyhow::Result<Value> {
    let mut c = memd::ctl::Connection::open(socket).await?;
    c.call(method, path, body)
        .await?
        .map_err(|e| anyhow::anyhow!("{path}: {e}"))
}

fn text_of(i: i64) -> (String, String) {
    const W: &[&str] = &[
        "lamp", "chair", "kettle", "blanket", "mirror", "shelf", "rug", "clock",
    ];
    (
        format!("{} model {i}", W[(i % 8) as usize]),
        format!(
            "catalogue entry {i}: a {} for the {} room",
            W[(i * 7 % 8) as usize],
            W[(i * 3 % 8) as usize]
        ),
    )
}

/// `p` in percent (50 = the median), over sorted values.
fn percentile(sorted: &[f64], p: f64) -> f64 {
    crate::vectors::interpolated(sorted, p)
}

struct Measured {
    sync_s: f64,
    /// Until every concept had a vector (None: not within the timeout).
    embed_s: Option<f64>,
    /// Vectors made by then, and when "then" was.
    embedded: u64,
    waited_s: f64,
}

/// Waits until the table has `rows` concepts, then until nothing waits
/// for a vector (bounded by `embed_timeout`).
async fn measure_sync(
    socket: &Path,
    source: &str,
    table: &str,
    rows: u64,
    started: Instant,
    embed_timeout: Duration,
) -> anyhow::Result<Measured> {
    let sync_s = loop {
        let v = call(socket, hyper::Method::GET, "/v1/sources", None).await?;
        let s = v["sources"]
            .as_array()
            .and_then(|a| a.iter().find(|s| s["name"] == source))
            .cloned()
            .unwrap_or_default();
        let t = &s["tables"][table];
        if t["concepts"].as_u64() == Some(rows) && t["last_sync_at"].is_string() {
            break started.elapsed().as_secs_f64();
        }
        if started.elapsed() > Duration::from_secs(3600) {
            bail!("the full sync did not finish within an hour: {s}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let until = Instant::now() + embed_timeout;
    loop {
        let st = call(socket, hyper::Method::GET, "/v1/status", None).await?;
        let backlog = st["embedder"]["backlog"].as_u64().unwrap_or(u64::MAX);
        let embedded = st["embedder"]["embedded"].as_u64().unwrap_or(0);
        if backlog == 0 {
            return Ok(Measured {
                sync_s,
                embed_s: Some(started.elapsed().as_secs_f64()),
                embedded,
                waited_s: started.elapsed().as_secs_f64(),
            });
        }
        if Instant::now() > until {
            return Ok(Measured {
                sync_s,
                embed_s: None,
                embedded,
                waited_s: started.elapsed().as_secs_f64(),
            });
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Applies `change(i, token)` for each i and times until a lexical recall
/// of the concept tier finds `token`.
async fn measure_changes(
    socket: &Path,
    n: usize,
    mut change: impl FnMut(usize, &str) -> anyhow::Result<()>,
) -> anyhow::Result<Vec<f64>> {
    let mut lat = Vec::with_capacity(n);
    for i in 0..n {
        let token = format!("zqx{i}bench{}", std::process::id());
        change(i, &token)?;
        let t = Instant::now();
        loop {
            let body = json!({"query": token, "k": 1, "tiers": ["concept"], "mode": "lexical"});
            let v = call(socket, hyper::Method::POST, "/v1/recall", Some(body)).await?;
            if v["results"].as_array().is_some_and(|a| !a.is_empty()) {
                lat.push(t.elapsed().as_secs_f64() * 1e3);
                break;
            }
            anyhow::ensure!(
                t.elapsed() < Duration::from_secs(30),
                "change {i} not recallable after 30 s"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        // Spread the changes out, as edits come in real use.
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    lat.sort_by(f64::total_cmp);
    Ok(lat)
}

fn report(kind: &str, embed: &str, rows: u64, m: &Measured, changes: &[(&str, Vec<f64>)]) -> Value {
    let mut v = json!({
        "source": kind,
        "embed": embed,
        "rows": rows,
        "sync_s": m.sync_s,
        "sync_rows_per_s": rows as f64 / m.sync_s,
        "embedded_s": m.embed_s,
        "embedded_rows_per_s": m.embed_s.map(|s| rows as f64 / s),
        "embedded": m.embedded,
        "embedded_by_s": m.waited_s,
        // Without the whole table embedded in time: the rate so far.
        "embedding_rows_per_s": m.embedded as f64 / m.waited_s,
    });
    for (mode, lat) in changes {
        if !lat.is_empty() {
            v[format!("change_{mode}_ms")] = json!({
                "n": lat.len(),
                "p50": percentile(lat, 50.0),
                "p95": percentile(lat, 95.0),
                "max": lat.last(),
            });
        }
    }
    v
}

fn print(v: &Value, json_out: bool) {
    if json_out {
        println!("{v}");
        return;
    }
    let f = |x: &Value| x.as_f64().map_or("-".into(), |x| format!("{x:.0}"));
    println!(
        "{} / {}: {} rows, full sync {:.1} s = {} rows/s; all embedded after {} s ({} rows/s; {} vectors by {} s)",
        v["source"],
        v["embed"],
        v["rows"],
        v["sync_s"].as_f64().unwrap_or(0.0),
        f(&v["sync_rows_per_s"]),
        f(&v["embedded_s"]),
        f(&v["embedding_rows_per_s"]),
        v["embedded"],
        f(&v["embedded_by_s"])
    );
    if let Some(o) = v.as_object() {
        for (k, x) in o.iter().filter(|(k, _)| k.starts_with("change_")) {
            println!(
                "  {k}: p50 {:.0} ms, p95 {:.0} ms, max {:.0} ms over {}",
                x["p50"].as_f64().unwrap_or(0.0),
                x["p95"].as_f64().unwrap_or(0.0),
                x["max"].as_f64().unwrap_or(0.0),
                x["n"]
            );
        }
    }
}

pub async fn run(a: SourcesBenchArgs) -> anyhow::Result<()> {
    let embed_cfg = match a.embed.as_str() {
        "hash" => "[embed]\nprovider = \"hash\"".to_owned(),
        "local" => {
            let dir = a
                .model_dir
                .clone()
                .context("--embed local needs --model-dir")?;
            format!("[embed]\nprovider = \"local\"\nmodel_dir = {dir:?}")
        }
        other => bail!("--embed is hash or local, not {other}"),
    };
    let embed_timeout = Duration::from_secs(a.embed_timeout_s);
    block_in_place(|| std::fs::create_dir_all(&a.workdir))?;
    let rows = a.rows as i64;

    // SQLite: a file of our own, watched.
    if !a.skip_sqlite {
        let root = a.workdir.join(format!("sqlite-{}", a.embed));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(&root)?;
        let db = root.join("shop.db");
        let conn = block_in_place(|| -> anyhow::Result<rusqlite::Connection> {
            let c = rusqlite::Connection::open(&db)?;
            c.pragma_update(None, "journal_mode", "WAL")?;
            c.execute_batch(
                "CREATE TABLE products (id INTEGER PRIMARY KEY, name TEXT, description TEXT, updated_at INTEGER);
                 CREATE INDEX products_by_update ON products (updated_at);",
            )?;
            let tx = c.unchecked_transaction()?;
            {
                let mut ins = tx.prepare("INSERT INTO products VALUES (?1, ?2, ?3, ?1)")?;
                for i in 1..=rows {
                    let (n, d) = text_of(i);
                    ins.execute(rusqlite::params![i, n, d])?;
                }
            }
            tx.commit()?;
            Ok(c)
        })?;
        let cursor = if a.sqlite_cursor {
            "cursor_column = \"updated_at\"\n"
        } else {
            ""
        };
        let src = format!(
            "[sources]\ndebounce_ms = 50\n[[sources.sqlite]]\nname = \"shop\"\npath = {db:?}\nallowed_tables = [\"products\"]\n\
             [sources.sqlite.tables.products]\ntext_columns = [\"name\", \"description\"]\n{cursor}"
        );
        let started = Instant::now();
        let mut d = block_in_place(|| Daemon::start(&root, &config(&embed_cfg, &src), READY))?;
        let m = measure_sync(
            &d.socket,
            "shop",
            "products",
            a.rows,
            started,
            embed_timeout,
        )
        .await?;
        let lat = measure_changes(&d.socket, a.changes, |i, token| {
            block_in_place(|| {
                conn.execute(
                    "UPDATE products SET description = ?1,
                       updated_at = (SELECT max(updated_at) + 1 FROM products) WHERE id = ?2",
                    rusqlite::params![format!("changed {token}"), (i as i64 * 997) % rows + 1],
                )
            })?;
            Ok(())
        })
        .await?;
        block_in_place(|| d.stop())?;
        print(
            &report(
                "sqlite",
                &a.embed,
                a.rows,
                &m,
                &[(
                    if a.sqlite_cursor {
                        "watch_cursor"
                    } else {
                        "watch_fingerprint"
                    },
                    lat,
                )],
            ),
            a.json,
        );
    }

    // PostgreSQL: a table in the given server.
    if let Some(url) = &a.pg_url {
        let root = a.workdir.join(format!("postgres-{}", a.embed));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(&root)?;
        let mut cfg: tokio_postgres::Config = url.parse()?;
        if let Some(var) = &a.pg_password_env
            && let Ok(p) = std::env::var(var)
        {
            cfg.password(p);
        }
        let (client, conn) = cfg.connect(tokio_postgres::NoTls).await?;
        tokio::spawn(conn);
        client
            .batch_execute(
                "DROP TABLE IF EXISTS memd_bench_items;
                 CREATE TABLE memd_bench_items (id bigint PRIMARY KEY, name text, description text,
                   updated_at timestamptz NOT NULL DEFAULT clock_timestamp());
                 CREATE INDEX ON memd_bench_items (updated_at);",
            )
            .await?;
        client
            .execute(
                "INSERT INTO memd_bench_items (id, name, description)
                 SELECT i, 'item model ' || i, 'catalogue entry ' || i || ': a lamp for the ' ||
                   (ARRAY['hall','kitchen','study','garden'])[1 + i % 4] || ' room'
                 FROM generate_series(1, $1::bigint) i",
                &[&rows],
            )
            .await?;
        let password = a
            .pg_password_env
            .as_ref()
            .map(|v| format!("password_env = {v:?}\n"))
            .unwrap_or_default();
        let src = format!(
            "[[sources.postgres]]\nname = \"pgbench\"\nurl = {url:?}\n{password}allowed_tables = [\"memd_bench_items\"]\n\
             poll_interval_s = 1\nnotify_channel = \"memd_bench\"\n\
             [sources.postgres.tables.memd_bench_items]\ntext_columns = [\"name\", \"description\"]\ncursor_column = \"updated_at\"\n"
        );
        let started = Instant::now();
        let mut d = block_in_place(|| Daemon::start(&root, &config(&embed_cfg, &src), READY))?;
        let m = measure_sync(
            &d.socket,
            "pgbench",
            "memd_bench_items",
            a.rows,
            started,
            embed_timeout,
        )
        .await?;
        let update = "UPDATE memd_bench_items SET description = $1, updated_at = clock_timestamp() WHERE id = $2";
        let mut poll = Vec::new();
        let mut notify = Vec::new();
        for (mode, out) in [("poll", &mut poll), ("notify", &mut notify)] {
            if mode == "notify" {
                let pg = memd::sources::config::PostgresSource {
                    name: "pgbench".into(),
                    url: url.clone(),
                    password_env: None,
                    allowed_tables: vec!["memd_bench_items".into()],
                    tables: Default::default(),
                    namespace: "default".into(),
                    poll_interval_s: 1,
                    full_sync_schedule: None,
                    notify_channel: Some("memd_bench".into()),
                    connect_timeout_s: 5,
                };
                client
                    .batch_execute(&memd::sources::postgres::trigger_sql(
                        &pg,
                        "memd_bench_items",
                    )?)
                    .await?;
            }
            let mut lat = Vec::with_capacity(a.changes);
            for i in 0..a.changes {
                let token = format!("zqx{mode}{i}bench{}", std::process::id());
                let id = (i as i64 * 997) % rows + 1;
                client
                    .execute(update, &[&format!("changed {token}"), &id])
                    .await?;
                let t = Instant::now();
                loop {
                    let body =
                        json!({"query": token, "k": 1, "tiers": ["concept"], "mode": "lexical"});
                    let v = call(&d.socket, hyper::Method::POST, "/v1/recall", Some(body)).await?;
                    if v["results"].as_array().is_some_and(|a| !a.is_empty()) {
                        lat.push(t.elapsed().as_secs_f64() * 1e3);
                        break;
                    }
                    anyhow::ensure!(
                        t.elapsed() < Duration::from_secs(30),
                        "change not recallable after 30 s"
                    );
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            lat.sort_by(f64::total_cmp);
            *out = lat;
        }
        client
            .batch_execute(
                "DROP TABLE memd_bench_items; DROP FUNCTION IF EXISTS memd_notify_pgbench_memd_bench_items()",
            )
            .await?;
        block_in_place(|| d.stop())?;
        print(
            &report(
                "postgres",
                &a.embed,
                a.rows,
                &m,
                &[("poll", poll), ("notify", notify)],
            ),
            a.json,
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn percentiles_are_in_percent() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert!((super::percentile(&v, 50.0) - 50.5).abs() < 1e-9);
        assert!((super::percentile(&v, 95.0) - 95.05).abs() < 1e-9);
    }
}
