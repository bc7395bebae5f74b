//! Start-up, sockets, signals and restarts of the real binary.

mod common;

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::process::Command;
use std::time::Duration;

use common::{BIN, Daemon, stderr};
use serde_json::json;

#[test]
fn socket_is_0600_in_a_0700_directory() {
    let d = Daemon::start("");
    let meta = std::fs::metadata(&d.socket).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    let dir = std::fs::metadata(d.socket.parent().unwrap()).unwrap();
    assert_eq!(dir.permissions().mode() & 0o777, 0o700);
}

#[test]
fn socket_mode_is_configurable() {
    let d = Daemon::start("daemon.socket_mode = \"0660\"");
    let meta = std::fs::metadata(&d.socket).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o660);
}

#[test]
fn a_second_daemon_on_the_same_socket_refuses_to_start() {
    let first = Daemon::start("");
    // Another data dir, same socket.
    let second_dir = tempfile::tempdir().unwrap();
    let cfg = second_dir.path().join("memd.toml");
    common::write_config(&cfg, &second_dir.path().join("data"), &first.socket, "");
    let out = common::run_daemon(&cfg);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("already listening"), "{err}");
    assert!(err.contains(first.socket.to_str().unwrap()), "{err}");
    // The first one is unharmed.
    assert_eq!(first.get("/v1/health").0, 200);
}

#[test]
fn a_second_daemon_on_the_same_data_dir_refuses_to_start() {
    let first = Daemon::start("");
    let other = tempfile::tempdir().unwrap();
    let cfg = other.path().join("memd.toml");
    common::write_config(&cfg, &first.data_dir, &other.path().join("s.sock"), "");
    let out = common::run_daemon(&cfg);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("in use by another memd"), "{err}");
    assert!(err.contains(&format!("pid {}", first.pid())), "{err}");
}

#[test]
fn a_stale_socket_is_replaced() {
    let mut d = Daemon::configure("");
    std::fs::create_dir_all(d.socket.parent().unwrap()).unwrap();
    std::fs::set_permissions(
        d.socket.parent().unwrap(),
        std::fs::Permissions::from_mode(0o700),
    )
    .unwrap();
    // A socket file whose listener is gone.
    drop(std::os::unix::net::UnixListener::bind(&d.socket).unwrap());
    assert!(d.socket.exists());
    d.spawn();
    d.wait_ready();
    assert_eq!(d.get("/v1/health").0, 200);
    d.wait_log("removing stale socket");
}

#[test]
fn ctl_without_a_daemon_exits_3_and_names_the_socket() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("nobody.sock");
    let out = Command::new(BIN)
        .args(["ctl", "--socket"])
        .arg(&socket)
        .arg("status")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    let err = stderr(&out);
    assert!(err.contains(socket.to_str().unwrap()), "{err}");
    assert!(err.contains("memd daemon"), "says how to start it: {err}");
}

#[test]
fn sigterm_exits_0_and_everything_acknowledged_survives_a_restart() {
    let mut d = Daemon::start("");
    let mut acked = Vec::new();
    for i in 0..50 {
        let (code, r) = d.post(
            &format!("/v1/sessions/s{}/exchanges", i % 3),
            &json!({"role": "user", "content": format!("durable fact number {i} about zebras"), "ext_id": format!("e{i}")}),
        );
        assert_eq!(code, 201);
        acked.push(r["id"].as_i64().unwrap());
    }
    let (_, before) = d.post(
        "/v1/recall",
        &json!({"query": "fact number 7 zebras", "k": 10}),
    );
    let status = d.stop();
    assert!(status.success(), "exit {status}; log:\n{}", d.log_text());
    assert!(!d.socket.exists(), "socket removed on shutdown");
    d.wait_log("memd stopped");

    d.spawn();
    d.wait_ready();
    let (_, s) = d.get("/v1/status");
    assert_eq!(s["counts"]["exchanges"], 50);
    for sid in ["s0", "s1", "s2"] {
        let (_, h) = d.get(&format!("/v1/sessions/{sid}"));
        for x in h["exchanges"].as_array().unwrap() {
            assert!(acked.contains(&x["id"].as_i64().unwrap()));
        }
    }
    // The index was rebuilt from SQLite: same answers as before the restart.
    let (_, after) = d.post(
        "/v1/recall",
        &json!({"query": "fact number 7 zebras", "k": 10}),
    );
    let ids = |v: &serde_json::Value| -> Vec<i64> {
        v["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x["id"].as_i64().unwrap())
            .collect()
    };
    assert_eq!(ids(&before), ids(&after));
}

#[test]
fn sigint_also_stops_cleanly() {
    let mut d = Daemon::start("");
    d.signal(libc::SIGINT);
    let status = d.wait_exit(Duration::from_secs(20));
    assert!(status.success(), "{status}");
}

#[test]
fn sighup_reloads_the_log_level() {
    let d = Daemon::start("[log]\nlevel = \"info\"");
    d.get("/v1/health");
    std::thread::sleep(Duration::from_millis(200));
    assert!(
        !d.log_text().contains("DEBUG"),
        "no debug lines at info:\n{}",
        d.log_text()
    );

    common::write_config(
        &d.config,
        &d.data_dir,
        &d.socket,
        "[log]\nlevel = \"debug\"\n[api]\nmax_connections = 99",
    );
    d.signal(libc::SIGHUP);
    d.wait_log("configuration reloaded");
    let log = d.log_text();
    assert!(log.contains("log.level"), "names the changed key:\n{log}");
    assert!(
        log.contains("api.max_connections") && log.contains("restart"),
        "restart-only key reported:\n{log}"
    );

    d.get("/v1/health");
    d.wait_log("DEBUG");
    let log = d.log_text();
    assert!(log.contains("/v1/health"), "{log}");
    let (_, s) = d.get("/v1/status");
    assert_eq!(s["log_level"], "debug");

    // A broken file on reload keeps the running configuration.
    std::fs::write(&d.config, "[log]\nlevel = \"debug\"\nbogus = 1\n").unwrap();
    d.signal(libc::SIGHUP);
    d.wait_log("reload failed");
    assert_eq!(d.get("/v1/health").0, 200);
}

#[test]
fn bad_config_stops_start_up_naming_file_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("bad.toml");
    std::fs::write(&cfg, "[daemon]\nsokcet = \"/tmp/x.sock\"\n").unwrap();
    let out = common::run_daemon(&cfg);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains(cfg.to_str().unwrap()) && err.contains("sokcet"),
        "{err}"
    );

    std::fs::write(&cfg, "[recall]\ndefault_k = 5000\n").unwrap();
    let out = Command::new(BIN)
        .args(["check-config", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("recall.default_k"),
        "{}",
        stderr(&out)
    );

    let missing = dir.path().join("missing.toml");
    let out = common::run_daemon(&missing);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains(missing.to_str().unwrap()));
}

#[test]
fn memd_config_env_is_honoured() {
    let d = Daemon::configure("");
    let out = Command::new(BIN)
        .arg("check-config")
        .env("MEMD_CONFIG", &d.config)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let text = common::stdout(&out);
    assert!(text.contains(d.socket.to_str().unwrap()), "{text}");
}

#[test]
fn environment_overrides_show_in_check_config() {
    let d = Daemon::configure("");
    let out = Command::new(BIN)
        .args(["check-config", "--config"])
        .arg(&d.config)
        .env("MEMD_API__REQUEST_TIMEOUT_S", "61")
        .env("MEMD_DREAM__ENABLED", "false")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let text = common::stdout(&out);
    assert!(
        text.contains(&format!(
            "# configuration from {} + environment (MEMD_API__REQUEST_TIMEOUT_S, MEMD_DREAM__ENABLED)",
            d.config.display()
        )),
        "{text}"
    );
    assert!(text.contains("request_timeout_s = 61"), "{text}");
    assert!(text.contains("enabled = false"), "{text}");

    let out = Command::new(BIN)
        .args(["check-config", "--config"])
        .arg(&d.config)
        .env("MEMD_API__REQUEST_TIMOUT", "61")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("environment variable MEMD_API__REQUEST_TIMOUT")
            && err.contains("request_timout"),
        "{err}"
    );
}

#[test]
fn data_dir_is_created_private() {
    let d = Daemon::start("");
    let meta = std::fs::metadata(&d.data_dir).unwrap();
    assert_eq!(meta.mode() & 0o777, 0o700);
    assert!(d.data_dir.join("memd.db").exists());
}

#[test]
fn systemd_units_pass_verification() {
    let analyze = Command::new("systemd-analyze").arg("--version").output();
    if analyze.is_err() {
        // scripts/test.sh installs systemd where it can; say so loudly when it could not.
        eprintln!("SKIPPED: systemd-analyze is not installed");
        return;
    }
    let root = env!("CARGO_MANIFEST_DIR");
    let dir = tempfile::tempdir().unwrap();
    // The units name /usr/bin/memd; verify against this build's binary at that name.
    for unit in ["memd.service", "memd-user.service"] {
        let text = std::fs::read_to_string(format!("{root}/systemd/{unit}")).unwrap();
        let text = text.replace("/usr/bin/memd", BIN);
        std::fs::write(dir.path().join(unit), text).unwrap();
    }
    for unit in ["memd.service", "memd-user.service"] {
        let out = Command::new("systemd-analyze")
            .args(["verify", "--man=no"])
            .arg(dir.path().join(unit))
            .output()
            .unwrap();
        let err = stderr(&out);
        let relevant: Vec<&str> = err.lines().filter(|l| l.contains(unit)).collect();
        assert!(out.status.success() && relevant.is_empty(), "{unit}: {err}");
    }
}

#[test]
fn speaks_sd_notify_ready_watchdog_and_stopping() {
    use std::os::unix::net::UnixDatagram;
    let mut d = Daemon::configure("");
    let notify_path = d.dir.path().join("notify.sock");
    let sock = UnixDatagram::bind(&notify_path).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let log = std::fs::File::create(&d.log).unwrap();
    let child = Command::new(BIN)
        .args(["daemon", "--config"])
        .arg(&d.config)
        .env("NOTIFY_SOCKET", &notify_path)
        .env("WATCHDOG_USEC", "300000")
        .env_remove("WATCHDOG_PID")
        .stderr(log)
        .spawn()
        .unwrap();
    d.child = Some(child);
    let mut seen = String::new();
    let mut buf = [0u8; 4096];
    let recv = |seen: &mut String, buf: &mut [u8], until: &str| {
        while !seen.contains(until) {
            let n = sock
                .recv(buf)
                .unwrap_or_else(|e| panic!("waiting for {until}: {e}; got {seen:?}"));
            seen.push_str(&String::from_utf8_lossy(&buf[..n]));
            seen.push('\n');
        }
    };
    recv(&mut seen, &mut buf, "READY=1");
    // READY comes only once the socket accepts.
    assert_eq!(d.get("/v1/health").0, 200);
    assert!(seen.contains("STATUS="), "{seen}");
    recv(&mut seen, &mut buf, "WATCHDOG=1");
    d.signal(libc::SIGTERM);
    recv(&mut seen, &mut buf, "STOPPING=1");
    assert!(d.wait_exit(Duration::from_secs(20)).success());
}

#[test]
fn sigterm_lets_an_in_flight_import_finish() {
    let mut d = Daemon::start("");
    let mut body = String::new();
    for i in 0..20_000 {
        body.push_str(&format!(
            "{{\"session_id\":\"big-{}\",\"role\":\"user\",\"content\":\"bulk line {i} with some words to embed\",\"ext_id\":\"{i}\"}}\n",
            i / 500
        ));
    }
    let socket = d.socket.clone();
    let client =
        std::thread::spawn(move || common::http(&socket, "POST", "/v1/import", body.as_bytes()));
    // Let the request get going, then ask the daemon to stop.
    std::thread::sleep(Duration::from_millis(100));
    d.signal(libc::SIGTERM);
    let (status, bytes) = client.join().unwrap();
    let exit = d.wait_exit(Duration::from_secs(30));
    assert!(exit.success(), "{exit}");
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&bytes));
    let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(v["imported"], 20_000);

    d.spawn();
    d.wait_ready();
    let (_, s) = d.get("/v1/status");
    assert_eq!(s["counts"]["exchanges"], 20_000);
}
