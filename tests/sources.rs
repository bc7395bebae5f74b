//! Sources through the real binary: a real SQLite file, a real PostgreSQL
//! server (initdb/pg_ctl in a temp dir on a free port) and a real watched
//! folder.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::Daemon;
use serde_json::{Value, json};

// ---------------------------------------------------------------- helpers

fn wait_for<T>(what: &str, limit: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {limit:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(25));
    }
}

fn recall(d: &Daemon, query: &str, tiers: &[&str]) -> Vec<Value> {
    let (st, v) = d.post(
        "/v1/recall",
        &json!({"query": query, "k": 10, "tiers": tiers, "mode": "lexical"}),
    );
    assert_eq!(st, 200, "{v}");
    v["results"].as_array().cloned().unwrap_or_default()
}

fn concept(d: &Daemon, name: &str) -> (u16, Value) {
    d.get(&format!("/v1/concepts/{}", name.replace('/', "%2F")))
}

fn source<'a>(list: &'a Value, name: &str) -> &'a Value {
    list["sources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == name)
        .unwrap_or_else(|| panic!("no source {name} in {list}"))
}

fn table_stats(d: &Daemon, src: &str, table: &str) -> Value {
    let (_, v) = d.get("/v1/sources");
    source(&v, src)["tables"][table].clone()
}

fn embedded(d: &Daemon) -> u64 {
    let (_, s) = d.get("/v1/status");
    s["embedder"]["embedded"].as_u64().unwrap()
}

fn sha256_of(path: &Path) -> Option<String> {
    use sha2::Digest;
    std::fs::read(path)
        .ok()
        .map(|b| memd::sources::table::hex(&sha2::Sha256::digest(&b)))
}

/// The database file, its WAL and rollback journal. Not `-shm`: that is
/// WAL mode's shared-memory lock index, which every reader (the sqlite3
/// shell too) writes its read marks into; it holds no data.
fn sqlite_hashes(db: &Path) -> Vec<Option<String>> {
    ["", "-wal", "-journal"]
        .iter()
        .map(|s| {
            let mut p = db.as_os_str().to_owned();
            p.push(s);
            sha256_of(Path::new(&p))
        })
        .collect()
}

const WORDS: &[&str] = &[
    "lamp", "chair", "table", "kettle", "blanket", "mirror", "shelf", "rug", "clock", "vase",
];

fn product_name(i: i64) -> String {
    format!("{} model {i}", WORDS[(i % 10) as usize])
}

// ---------------------------------------------------------------- SQLite

fn make_shop(path: &Path, rows: i64) -> rusqlite::Connection {
    let c = rusqlite::Connection::open(path).unwrap();
    c.pragma_update(None, "journal_mode", "WAL").unwrap();
    c.execute_batch(
        "CREATE TABLE products (id INTEGER PRIMARY KEY, name TEXT NOT NULL, description TEXT,
                                price REAL, updated_at INTEGER NOT NULL);
         CREATE TABLE secrets (id INTEGER PRIMARY KEY, value TEXT);
         INSERT INTO secrets (value) VALUES ('hunter2');",
    )
    .unwrap();
    let tx = c.unchecked_transaction().unwrap();
    {
        let mut ins = tx
            .prepare("INSERT INTO products (id, name, description, price, updated_at) VALUES (?1, ?2, ?3, ?4, ?5)")
            .unwrap();
        for i in 1..=rows {
            ins.execute(rusqlite::params![
                i,
                product_name(i),
                format!("catalogue entry {i} of the shop"),
                i as f64 * 1.5,
                i
            ])
            .unwrap();
        }
    }
    tx.commit().unwrap();
    c
}

fn shop_config(db: &Path, extra_table: &str) -> String {
    format!(
        "[sources]\nretry_delay_s = 0.1\ndown_retry_s = 1\ndebounce_ms = 100\n\
         [[sources.sqlite]]\nname = \"shop\"\npath = \"{}\"\nallowed_tables = [\"products\"]\n\
         [sources.sqlite.tables.products]\ntext_columns = [\"name\", \"description\"]\n{extra_table}",
        db.display()
    )
}

#[test]
fn sqlite_full_sync_update_delete_insert_and_source_bytes_unchanged() {
    let src_dir = tempfile::tempdir().unwrap();
    let db = src_dir.path().join("shop.db");
    let writer = make_shop(&db, 10_000);
    let d = Daemon::start(&shop_config(&db, ""));

    // Full sync of 10,000 rows at start.
    let stats = wait_for("10,000 concepts", Duration::from_secs(60), || {
        let t = table_stats(&d, "shop", "products");
        (t["concepts"] == 10_000 && t["last_sync_at"].is_string()).then_some(t)
    });
    assert_eq!(stats["synced"], 10_000, "{stats}");
    assert_eq!(stats["errors"], 0, "{stats}");
    let (st, c) = concept(&d, "products:42");
    assert_eq!(st, 200, "{c}");
    assert_eq!(
        c["concept"]["text"],
        format!(
            "name: {}\ndescription: catalogue entry 42 of the shop",
            product_name(42)
        )
    );
    assert_eq!(c["concept"]["strength"], 0.85);
    // The columns not configured (price) and other tables never reach memory.
    assert!(recall(&d, "hunter2", &["concept"]).is_empty());

    // An update changes exactly one concept (no second copy).
    writer
        .execute(
            "UPDATE products SET name = 'zanzibar kettle' WHERE id = 42",
            [],
        )
        .unwrap();
    let hits = wait_for("the updated row", Duration::from_secs(5), || {
        let h = recall(&d, "zanzibar", &["concept"]);
        (!h.is_empty()).then_some(h)
    });
    assert_eq!(hits.len(), 1, "{hits:?}");
    assert_eq!(hits[0]["tier"], "concept");
    assert_eq!(hits[0]["name"], "products:42");
    assert_eq!(hits[0]["source"], "shop");
    let t = table_stats(&d, "shop", "products");
    assert_eq!(t["synced"], 10_001, "exactly one concept rewritten: {t}");
    assert_eq!(t["concepts"], 10_000, "{t}");

    // A delete removes it.
    writer
        .execute("DELETE FROM products WHERE id = 7", [])
        .unwrap();
    wait_for(
        "the deleted row's concept to go",
        Duration::from_secs(5),
        || (concept(&d, "products:7").0 == 404).then_some(()),
    );
    assert_eq!(table_stats(&d, "shop", "products")["deleted"], 1);

    // A row inserted while the daemon runs is recallable within 5 s.
    let t0 = Instant::now();
    writer
        .execute(
            "INSERT INTO products (id, name, description, updated_at) VALUES (20001, 'quokka lantern', 'new', 20001)",
            [],
        )
        .unwrap();
    wait_for("the inserted row", Duration::from_secs(5), || {
        (!recall(&d, "quokka", &["concept"]).is_empty()).then_some(())
    });
    eprintln!("insert → recallable in {:?}", t0.elapsed());

    // User edits: strength and a text overlay; the source overwriting an
    // edited concept is counted; a removed concept stays removed.
    let (st, v) = d.request(
        "PATCH",
        "/v1/concepts/products:43",
        json!({"strength": 2.0, "text": "wombat notes about 43"})
            .to_string()
            .as_bytes(),
    );
    assert_eq!(st, 200, "{v}");
    assert_eq!(recall(&d, "wombat", &["concept"])[0]["name"], "products:43");
    writer
        .execute(
            "UPDATE products SET description = 'changed upstream' WHERE id = 43",
            [],
        )
        .unwrap();
    wait_for("the overwrite warning", Duration::from_secs(5), || {
        (table_stats(&d, "shop", "products")["overwrite_warnings"] == 1).then_some(())
    });
    let (_, c) = concept(&d, "products:43");
    assert_eq!(c["concept"]["overlay"], Value::Null, "{c}");
    assert_eq!(
        c["concept"]["strength"], 2.0,
        "the strength edit is kept: {c}"
    );
    assert!(recall(&d, "wombat", &["concept"]).is_empty());

    let (st, v) = d.request("DELETE", "/v1/concepts/products:44", b"");
    assert_eq!(st, 200, "{v}");
    assert!(
        recall(&d, "\"catalogue entry 44\"", &["concept"])
            .iter()
            .all(|h| h["name"] != "products:44")
    );
    let (st, v) = d.post("/v1/sources/shop/sync", &json!({"full": true}));
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["tables"][0]["rows"], 9_999 + 1, "{v}");
    let (_, c) = concept(&d, "products:44");
    assert_eq!(
        c["concept"]["removed"], true,
        "syncing does not bring it back: {c}"
    );
    // The source itself never changed because of memd.
    assert_eq!(
        writer
            .query_row("SELECT description FROM products WHERE id = 44", [], |r| {
                r.get::<_, String>(0)
            })
            .unwrap(),
        "catalogue entry 44 of the shop"
    );

    // The source's bytes are unchanged by a sync.
    writer
        .pragma_update(None, "wal_checkpoint", "TRUNCATE")
        .unwrap();
    let before = sqlite_hashes(&db);
    let (st, v) = d.post("/v1/sources/shop/sync", &json!({"full": true}));
    assert_eq!(st, 200, "{v}");
    let (st, v) = d.post("/v1/sources/shop/sync", &json!({}));
    assert_eq!(st, 200, "{v}");
    assert_eq!(
        sqlite_hashes(&db),
        before,
        "memd changed the source database"
    );

    // ctl shows the source and the concept.
    let out = d.ctl(&["sources"]);
    assert!(out.status.success());
    let text = common::stdout(&out);
    assert!(text.contains("shop (sqlite) ok"), "{text}");
    // 10,000 rows - 1 deleted + 1 inserted, and one removed from memory by the user.
    assert!(text.contains("products: 9999 concepts"), "{text}");
    let out = d.ctl(&["concept", "products:42"]);
    assert!(
        common::stdout(&out).contains("zanzibar kettle"),
        "{}",
        common::stdout(&out)
    );
    let (_, s) = d.get("/v1/status");
    assert_eq!(s["sources"][0]["state"], "ok", "{s}");
}

#[test]
fn bad_tables_and_columns_are_refused_clearly() {
    let src_dir = tempfile::tempdir().unwrap();
    let db = src_dir.path().join("shop.db");
    drop(make_shop(&db, 10));

    // An unknown column: the daemon does not start, and says which key.
    let d = Daemon::configure(&shop_config(&db, "cursor_column = \"modified\"\n"));
    let out = common::run_daemon(&d.config);
    assert!(!out.status.success());
    let err = common::stderr(&out);
    assert!(
        err.contains("sources.sqlite[shop].tables.products.cursor_column")
            && err.contains("no column `modified`"),
        "{err}"
    );
    // A table that does not exist.
    let cfg = shop_config(&db, "").replace("[\"products\"]", "[\"products\", \"orders\"]");
    let d = Daemon::configure(&cfg);
    let err = common::stderr(&common::run_daemon(&d.config));
    assert!(
        err.contains("sources.sqlite[shop].allowed_tables")
            && err.contains("`orders` does not exist"),
        "{err}"
    );
    // A table name carrying SQL never reaches the source.
    let cfg = shop_config(&db, "").replace("[\"products\"]", "[\"products; DROP TABLE products\"]");
    let d = Daemon::configure(&cfg);
    let out = common::run_daemon(&d.config);
    assert!(!out.status.success());
    let err = common::stderr(&out);
    assert!(
        err.contains("sources.sqlite[shop].allowed_tables")
            && err.contains("not a plain table name"),
        "{err}"
    );

    // Running: a table outside allowed_tables, or carrying SQL, is refused.
    let d = Daemon::start(&shop_config(&db, ""));
    let (st, v) = d.post("/v1/sources/shop/sync", &json!({"table": "secrets"}));
    assert_eq!(st, 400, "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("not in allowed_tables"),
        "{v}"
    );
    let (st, v) = d.post(
        "/v1/sources/shop/sync",
        &json!({"table": "products\"; DROP TABLE products; --"}),
    );
    assert_eq!(st, 400, "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("not a plain table name"),
        "{v}"
    );
    let (st, v) = d.post(
        "/v1/sources/shop/rows",
        &json!({"op": "sync_row", "table": "secrets", "id": 1}),
    );
    assert_eq!(st, 400, "{v}");
    let (st, _) = d.post("/v1/sources/nope/sync", &json!({}));
    assert_eq!(st, 404);
    let out = d.ctl(&["sync", "shop", "--table", "secrets"]);
    assert!(!out.status.success());
    assert!(
        common::stderr(&out).contains("not in allowed_tables"),
        "{}",
        common::stderr(&out)
    );
    // A reload with a column the table does not have is reported at once.
    common::write_config(
        &d.config,
        &d.data_dir,
        &d.socket,
        &shop_config(&db, "cursor_column = \"modified\"\n"),
    );
    d.signal(libc::SIGHUP);
    d.wait_log("sources.sqlite[shop].tables.products.cursor_column");
    // The source still has both tables.
    let c = rusqlite::Connection::open(&db).unwrap();
    let n: i64 = c
        .query_row("SELECT count(*) FROM products", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 10);
}

#[test]
fn the_row_hook_syncs_given_rows_and_deletes() {
    let src_dir = tempfile::tempdir().unwrap();
    let db = src_dir.path().join("shop.db");
    let w = make_shop(&db, 5);
    let cfg =
        shop_config(&db, "").replace("[[sources.sqlite]]", "[[sources.sqlite]]\nwatch = false");
    let d = Daemon::start(&cfg);
    wait_for("5 concepts", Duration::from_secs(10), || {
        (table_stats(&d, "shop", "products")["concepts"] == 5).then_some(())
    });
    // Not watched: a change arrives through the hook (read from the source).
    w.execute("UPDATE products SET name = 'ocelot' WHERE id = 2", [])
        .unwrap();
    let (st, v) = d.post(
        "/v1/sources/shop/rows",
        &json!({"op": "sync_row", "table": "products", "id": 2}),
    );
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["result"]["synced"], 1, "{v}");
    assert_eq!(recall(&d, "ocelot", &["concept"])[0]["name"], "products:2");
    // Rows given in the request (an application hook after its own write).
    let (st, v) = d.post(
        "/v1/sources/shop/rows",
        &json!({"op": "sync_batch", "table": "products", "rows": [
            {"id": 100, "name": "pangolin", "description": "given"},
            {"id": 101, "name": "axolotl", "description": "given"}]}),
    );
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["result"]["synced"], 2, "{v}");
    assert_eq!(
        recall(&d, "axolotl", &["concept"])[0]["name"],
        "products:101"
    );
    let (st, v) = d.post(
        "/v1/sources/shop/rows",
        &json!({"op": "delete_row", "table": "products", "ids": [100, 101]}),
    );
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["result"]["deleted"], 2, "{v}");
    assert!(recall(&d, "axolotl", &["concept"]).is_empty());
    // Asking for a row the source no longer has removes its concept.
    w.execute("DELETE FROM products WHERE id = 3", []).unwrap();
    let (_, v) = d.post(
        "/v1/sources/shop/rows",
        &json!({"op": "sync_row", "table": "products", "id": "3"}),
    );
    assert_eq!(v["result"]["deleted"], 1, "{v}");
    assert_eq!(concept(&d, "products:3").0, 404);
    // Concepts (with the users' edits) are part of an export.
    let (st, body) = common::http(&d.socket, "GET", "/v1/export", b"");
    assert_eq!(st, 200);
    let text = String::from_utf8(body).unwrap();
    let concepts = text
        .lines()
        .filter(|l| l.contains("\"table\":\"concepts\""))
        .count();
    assert_eq!(concepts, 4, "rows 1, 2, 4, 5");
}

// ---------------------------------------------------------------- files

#[test]
fn files_follow_create_edit_move_delete_and_unchanged_files_cost_nothing() {
    let notes = tempfile::tempdir().unwrap();
    let root = notes.path();
    std::fs::create_dir_all(root.join("sub")).unwrap();
    std::fs::write(root.join("ignored.bin"), "platypus").unwrap();
    let d = Daemon::start(&format!(
        "[embed]\nprovider = \"hash\"\n[sources]\ndebounce_ms = 100\n\
         [[sources.files]]\nname = \"notes\"\npath = \"{}\"\nexclude = [\"drafts/**\"]\n",
        root.display()
    ));
    let t0 = Instant::now();
    std::fs::write(
        root.join("sub/garden.md"),
        "# Garden\n\nintro\n\n## Tomatoes\n\nThe heirloom capybara tomatoes need staking.\n",
    )
    .unwrap();
    let hit = wait_for("the new file's chunk", Duration::from_secs(5), || {
        recall(&d, "capybara", &["chunk"]).pop()
    });
    eprintln!("create → recallable in {:?}", t0.elapsed());
    assert_eq!(hit["tier"], "chunk");
    assert_eq!(hit["path"], "sub/garden.md");
    assert_eq!(hit["heading_path"], json!(["Garden", "Tomatoes"]));
    assert!(
        recall(&d, "platypus", &["chunk"]).is_empty(),
        "only included globs"
    );

    // Edit: the new text replaces the old.
    std::fs::write(
        root.join("sub/garden.md"),
        "# Garden\n\nintro\n\n## Tomatoes\n\nThe heirloom marmoset tomatoes need staking.\n",
    )
    .unwrap();
    wait_for("the edit", Duration::from_secs(5), || {
        (!recall(&d, "marmoset", &["chunk"]).is_empty()).then_some(())
    });
    assert!(recall(&d, "capybara", &["chunk"]).is_empty());

    // Unchanged content (rewritten, new mtime) is not re-embedded.
    wait_for("embedding to settle", Duration::from_secs(10), || {
        let (_, s) = d.get("/v1/status");
        (s["embedder"]["backlog"] == 0).then_some(())
    });
    let before = embedded(&d);
    let unchanged_before = source(&d.get("/v1/sources").1, "notes")["stats"]["unchanged"]
        .as_u64()
        .unwrap();
    std::fs::write(
        root.join("sub/garden.md"),
        "# Garden\n\nintro\n\n## Tomatoes\n\nThe heirloom marmoset tomatoes need staking.\n",
    )
    .unwrap();
    wait_for("the rewrite to be seen", Duration::from_secs(5), || {
        let (_, v) = d.get("/v1/sources");
        (source(&v, "notes")["stats"]["unchanged"].as_u64().unwrap() > unchanged_before)
            .then_some(())
    });
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(embedded(&d), before, "an unchanged file was re-embedded");

    // Move: the chunks follow the file.
    std::fs::rename(root.join("sub/garden.md"), root.join("garden-2025.md")).unwrap();
    wait_for("the move", Duration::from_secs(5), || {
        recall(&d, "marmoset", &["chunk"])
            .first()
            .filter(|h| h["path"] == "garden-2025.md")
            .map(|_| ())
    });
    assert_eq!(recall(&d, "marmoset", &["chunk"]).len(), 1);

    // Excluded paths and deletion.
    std::fs::create_dir_all(root.join("drafts")).unwrap();
    std::fs::write(root.join("drafts/x.md"), "wallaby").unwrap();
    std::fs::remove_file(root.join("garden-2025.md")).unwrap();
    wait_for("the delete", Duration::from_secs(5), || {
        recall(&d, "marmoset", &["chunk"]).is_empty().then_some(())
    });
    assert!(recall(&d, "wallaby", &["chunk"]).is_empty());
    let (_, v) = d.get("/v1/sources");
    let s = source(&v, "notes");
    assert_eq!(s["documents"], 0, "{s}");
    assert_eq!(s["state"], "ok", "{s}");
}

// ---------------------------------------------------------------- PostgreSQL

/// A PostgreSQL server of our own: initdb into a temp dir, listening on a
/// free loopback port, stopped on drop.
struct Pg {
    dir: tempfile::TempDir,
    bin: PathBuf,
    port: u16,
    rt: tokio::runtime::Runtime,
    client: Option<tokio_postgres::Client>,
}

const PG_PASSWORD: &str = "memd-test-secret";

fn pg_bin() -> Option<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|r| r.flatten().map(|e| e.path().join("bin")).collect())
        .unwrap_or_default();
    versions.sort();
    versions.reverse();
    dirs.extend(versions);
    dirs.into_iter()
        .find(|d| d.join("initdb").is_file() && d.join("pg_ctl").is_file())
        .map(|d| {
            std::fs::canonicalize(d.join("initdb"))
                .unwrap()
                .parent()
                .unwrap()
                .to_owned()
        })
}

impl Pg {
    fn start() -> Option<Pg> {
        let Some(bin) = pg_bin() else {
            assert!(
                std::env::var_os("CI").is_none(),
                "PostgreSQL (initdb) not found under CI: scripts/test.sh must install it"
            );
            eprintln!(
                "SKIPPED: no initdb in PATH or /usr/lib/postgresql/*/bin; run scripts/test.sh"
            );
            return None;
        };
        let dir = tempfile::Builder::new()
            .prefix("memd-pg")
            .tempdir_in("/tmp")
            .unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let pg = Pg {
            dir,
            bin,
            port,
            rt: tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap(),
            client: None,
        };
        std::fs::write(pg.dir.path().join("pw"), PG_PASSWORD).unwrap();
        if is_root() {
            // PostgreSQL refuses to run as root: hand the directory to `postgres`.
            let st = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(pg.dir.path())
                .status()
                .unwrap();
            assert!(st.success());
        }
        let out = pg
            .cmd("initdb")
            .args([
                "-D",
                &pg.data(),
                "-U",
                "memd",
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
            ])
            .arg(format!("--pwfile={}", pg.dir.path().join("pw").display()))
            .args(["-E", "UTF8", "--no-sync"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "initdb: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        pg.ctl_start();
        let mut pg = pg;
        pg.connect();
        Some(pg)
    }

    fn data(&self) -> String {
        self.dir.path().join("data").display().to_string()
    }

    fn cmd(&self, name: &str) -> Command {
        let exe = self.bin.join(name);
        if is_root() {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(exe);
            c
        } else {
            Command::new(exe)
        }
    }

    fn ctl_start(&self) {
        let opts = format!(
            "-c listen_addresses=127.0.0.1 -c port={} -c unix_socket_directories={} -c fsync=off",
            self.port,
            self.dir.path().display()
        );
        let out = self
            .cmd("pg_ctl")
            .args(["-D", &self.data(), "-w", "-t", "30", "-o", &opts, "-l"])
            .arg(self.dir.path().join("pg.log"))
            .arg("start")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "pg_ctl start: {}{}",
            String::from_utf8_lossy(&out.stdout),
            self.log()
        );
    }

    fn stop(&mut self) {
        self.client = None;
        let out = self
            .cmd("pg_ctl")
            .args(["-D", &self.data(), "-w", "-m", "fast", "stop"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "pg_ctl stop: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn restart(&mut self) {
        self.ctl_start();
        self.connect();
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("pg.log")).unwrap_or_default()
    }

    fn url(&self) -> String {
        format!("postgres://memd@127.0.0.1:{}/postgres", self.port)
    }

    fn connect(&mut self) {
        let url = format!("{}?password={PG_PASSWORD}", self.url());
        let (client, conn) = self
            .rt
            .block_on(tokio_postgres::connect(&url, tokio_postgres::NoTls))
            .unwrap();
        self.rt.spawn(conn);
        self.client = Some(client);
    }

    fn exec(&self, sql: &str) {
        let c = self.client.as_ref().unwrap();
        self.rt
            .block_on(c.batch_execute(sql))
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }
}

impl Drop for Pg {
    fn drop(&mut self) {
        self.client = None;
        let _ = self
            .cmd("pg_ctl")
            .args(["-D", &self.data(), "-m", "immediate", "stop"])
            .output();
    }
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

fn pg_config(pg: &Pg, extra: &str) -> String {
    format!(
        "[sources]\nretry_delay_s = 0.1\ndown_retry_s = 1\nmax_retries = 2\n\
         [[sources.postgres]]\nname = \"crm\"\nurl = \"{}\"\npassword_env = \"MEMD_TEST_PG_PASSWORD\"\n\
         allowed_tables = [\"customers\"]\npoll_interval_s = 1\nnotify_channel = \"memd_crm\"\nconnect_timeout_s = 2\n\
         [sources.postgres.tables.customers]\ntext_columns = [\"name\", \"notes\"]\ncursor_column = \"updated_at\"\n{extra}",
        pg.url()
    )
}

#[test]
fn postgres_sync_notify_outage_and_catch_up() {
    let Some(mut pg) = Pg::start() else { return };
    // SAFETY: every test of this binary that reads it sets the same value.
    unsafe { std::env::set_var("MEMD_TEST_PG_PASSWORD", PG_PASSWORD) };
    pg.exec(
        "CREATE TABLE customers (id bigserial PRIMARY KEY, name text NOT NULL, notes text,
                                 secret text, updated_at timestamptz NOT NULL DEFAULT clock_timestamp());
         CREATE TABLE payroll (id serial PRIMARY KEY, amount int);
         INSERT INTO customers (name, notes, secret)
           SELECT 'customer ' || i, 'account note ' || i, 'pw' || i FROM generate_series(1, 10000) i;",
    );

    // Refusals against the real server's catalog.
    let bad = Daemon::configure(
        &pg_config(&pg, "").replace("[\"name\", \"notes\"]", "[\"name\", \"nickname\"]"),
    );
    let err = common::stderr(&common::run_daemon(&bad.config));
    assert!(
        err.contains("sources.postgres[crm].tables.customers.text_columns")
            && err.contains("`nickname`"),
        "{err}"
    );

    let d = Daemon::start(&pg_config(&pg, ""));
    let stats = wait_for(
        "10,000 concepts from PostgreSQL",
        Duration::from_secs(60),
        || {
            let t = table_stats(&d, "crm", "customers");
            (t["concepts"] == 10_000 && t["last_sync_at"].is_string()).then_some(t)
        },
    );
    assert_eq!(stats["synced"], 10_000, "{stats}");
    let (_, c) = concept(&d, "customers:77");
    assert_eq!(
        c["concept"]["text"], "name: customer 77\nnotes: account note 77",
        "{c}"
    );
    let (st, v) = d.post("/v1/sources/crm/sync", &json!({"table": "payroll"}));
    assert_eq!(st, 400, "{v}");

    // An update (by the cursor column) changes exactly one concept.
    pg.exec("UPDATE customers SET notes = 'prefers jaguar deliveries', updated_at = clock_timestamp() WHERE id = 77");
    let hits = wait_for("the update", Duration::from_secs(5), || {
        let h = recall(&d, "jaguar", &["concept"]);
        (!h.is_empty()).then_some(h)
    });
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0]["name"], "customers:77");
    assert_eq!(hits[0]["source"], "crm");
    assert_eq!(table_stats(&d, "crm", "customers")["synced"], 10_001);

    // An insert is recallable within 5 s (cursor poll).
    let t0 = Instant::now();
    pg.exec("INSERT INTO customers (name, notes) VALUES ('narwhal holdings', 'new')");
    wait_for("the insert", Duration::from_secs(5), || {
        (!recall(&d, "narwhal", &["concept"]).is_empty()).then_some(())
    });
    eprintln!("postgres insert → recallable in {:?}", t0.elapsed());

    // A delete: found by the full sync.
    pg.exec("DELETE FROM customers WHERE id = 78");
    let (st, v) = d.post("/v1/sources/crm/sync", &json!({"full": true}));
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["tables"][0]["deleted"], 1, "{v}");
    assert_eq!(concept(&d, "customers:78").0, 404);

    // LISTEN/NOTIFY with the trigger memd prints (and never installs).
    let out = Command::new(common::BIN)
        .args(["sources", "trigger-sql", "crm", "customers", "--config"])
        .arg(&d.config)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", common::stderr(&out));
    pg.exec(&common::stdout(&out));
    pg.exec("DELETE FROM customers WHERE id = 79");
    wait_for("the notified delete", Duration::from_secs(5), || {
        (concept(&d, "customers:79").0 == 404).then_some(())
    });

    // The server goes away: the source is down, retried, the daemon serves.
    pg.exec("INSERT INTO customers (name, notes) SELECT 'late ' || i, 'okapi batch' FROM generate_series(1, 50) i");
    pg.exec("DELETE FROM customers WHERE id BETWEEN 100 AND 109");
    pg.stop();
    let down = wait_for("the source to be down", Duration::from_secs(15), || {
        let (_, v) = d.get("/v1/sources");
        let s = source(&v, "crm").clone();
        (s["state"] == "down").then_some(s)
    });
    assert!(
        down["last_error"].as_str().unwrap().contains("crm"),
        "{down}"
    );
    wait_for("retries", Duration::from_secs(10), || {
        (table_stats(&d, "crm", "customers")["retries"]
            .as_u64()
            .unwrap()
            > 0)
        .then_some(())
    });
    let (st, s) = d.get("/v1/status");
    assert_eq!(st, 200);
    assert_eq!(s["sources"][0]["state"], "down", "{s}");
    assert_eq!(
        recall(&d, "jaguar", &["concept"]).len(),
        1,
        "recall keeps working"
    );
    let (st, _) = d.post(
        "/v1/sessions/s1/exchanges",
        &json!({"role": "user", "content": "still writing"}),
    );
    assert_eq!(st, 201);

    // Back: it catches up with nothing missing.
    pg.restart();
    wait_for("the catch-up", Duration::from_secs(20), || {
        let t = table_stats(&d, "crm", "customers");
        let (_, v) = d.get("/v1/sources");
        (source(&v, "crm")["state"] == "ok" && t["concepts"] == 10_000 + 1 - 2 + 50 - 10)
            .then_some(())
    });
    assert_eq!(
        recall(&d, "okapi", &["concept"]).len(),
        10,
        "k = 10 of the 50"
    );
    for id in 100..110 {
        assert_eq!(concept(&d, &format!("customers:{id}")).0, 404);
    }
    let (st, c) = concept(&d, "customers:10050");
    assert_eq!(st, 200, "{c}");
    let text = common::stdout(&d.ctl(&["sources"]));
    assert!(text.contains("crm (postgres) ok"), "{text}");
}

#[test]
fn a_cron_schedule_runs_full_syncs_and_a_missing_file_is_down_until_it_appears() {
    let src_dir = tempfile::tempdir().unwrap();
    let db = src_dir.path().join("shop.db");
    // Not there yet: the daemon starts, the source is down.
    let cfg = shop_config(&db, "").replace(
        "[[sources.sqlite]]",
        "[[sources.sqlite]]\nwatch = false\nfull_sync_schedule = \"*/1 * * * * *\"",
    );
    let d = Daemon::start(&cfg);
    let s = wait_for("the source to be down", Duration::from_secs(5), || {
        let (_, v) = d.get("/v1/sources");
        let s = source(&v, "shop").clone();
        (s["state"] == "down").then_some(s)
    });
    assert!(
        s["last_error"].as_str().unwrap().contains("no such file"),
        "{s}"
    );
    // It appears: retried every down_retry_s (1 s here).
    let w = make_shop(&db, 20);
    wait_for("the source to come up", Duration::from_secs(5), || {
        (table_stats(&d, "shop", "products")["concepts"] == 20).then_some(())
    });
    // Not watched: the every-second schedule finds the deletion.
    w.execute("DELETE FROM products WHERE id = 5", []).unwrap();
    wait_for("the scheduled full sync", Duration::from_secs(5), || {
        (concept(&d, "products:5").0 == 404).then_some(())
    });
    let (_, v) = d.get("/v1/sources");
    assert_eq!(source(&v, "shop")["state"], "ok");
}

#[test]
fn two_sources_with_one_table_name_get_qualified_concept_names() {
    let src_dir = tempfile::tempdir().unwrap();
    let (a, b) = (src_dir.path().join("a.db"), src_dir.path().join("b.db"));
    drop(make_shop(&a, 3));
    drop(make_shop(&b, 3));
    let d = Daemon::start(&format!(
        "[[sources.sqlite]]\nname = \"east\"\npath = \"{}\"\nallowed_tables = [\"products\"]\n\
         [[sources.sqlite]]\nname = \"west\"\npath = \"{}\"\nallowed_tables = [\"products\"]\nnamespace = \"shops\"\n",
        a.display(),
        b.display()
    ));
    wait_for("both sources", Duration::from_secs(10), || {
        (table_stats(&d, "east", "products")["concepts"] == 3
            && table_stats(&d, "west", "products")["concepts"] == 3)
            .then_some(())
    });
    let (st, c) = concept(&d, "east/products:1");
    assert_eq!(st, 200, "{c}");
    assert_eq!(c["concept"]["namespace"], "default");
    // The raw slash works too (the route takes the rest of the path).
    let (st, c) = d.get("/v1/concepts/west/products:1");
    assert_eq!(st, 200, "{c}");
    assert_eq!(c["concept"]["namespace"], "shops");
    assert_eq!(concept(&d, "products:1").0, 404);
    // Each source's concepts are recalled in its own namespace.
    let (_, v) = d.post(
        "/v1/recall",
        &json!({"query": "catalogue", "k": 10, "tiers": ["concept"], "namespace": "shops", "mode": "lexical"}),
    );
    let hits = v["results"].as_array().unwrap();
    assert_eq!(hits.len(), 3, "{v}");
    assert!(hits.iter().all(|h| h["source"] == "west"), "{v}");
}

#[test]
fn files_read_links_inside_the_folder_and_never_links_that_leave_it() {
    let notes = tempfile::tempdir().unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    let root = notes.path();
    let secret = elsewhere.path().join("secret.md");
    std::fs::write(&secret, "the vault code is ocelot-7734\n").unwrap();
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).unwrap();
    std::fs::write(root.join("real.md"), "the kayak is in the wombat shed\n").unwrap();
    std::os::unix::fs::symlink(&secret, root.join("leak.md")).unwrap();
    std::os::unix::fs::symlink(root.join("real.md"), root.join("alias.md")).unwrap();
    let d = Daemon::start(&format!(
        "[embed]\nprovider = \"hash\"\n[sources]\ndebounce_ms = 100\n\
         [[sources.files]]\nname = \"notes\"\npath = \"{}\"\n",
        root.display()
    ));
    let hits = wait_for("the folder's chunks", Duration::from_secs(10), || {
        let hits = recall(&d, "wombat", &["chunk"]);
        (hits.len() == 2).then_some(hits)
    });
    let mut paths: Vec<&str> = hits.iter().map(|h| h["path"].as_str().unwrap()).collect();
    paths.sort();
    assert_eq!(paths, ["alias.md", "real.md"]);
    assert!(
        recall(&d, "ocelot", &["chunk"]).is_empty(),
        "a link out of the folder made a private file recallable"
    );
    d.wait_log("symbolic links pointing outside the source's folder were skipped");
}
