//! What an adversarial sweep broke, kept broken-proof through the real
//! binary: the context panic, idle connections locking everyone out,
//! refused uids, foreign or loose directories, world-readable memory, a
//! deleted socket, unfinished snapshots, deceptive ids and streamed
//! sessions. Tests that need a second uid run only as root (CI is root)
//! and say SKIPPED otherwise.

mod common;

use std::io::{Read, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{BIN, Daemon, run_daemon, stderr};
use serde_json::{Value, json};

const HASH: &str = "[embed]\nprovider = \"hash\"\n";
/// An unprivileged uid that exists on Debian (`nobody`).
const NOBODY: u32 = 65534;

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

fn skip_unless_root(test: &str) -> bool {
    if is_root() {
        return false;
    }
    eprintln!("SKIPPED {test}: needs root to act as a second uid");
    true
}

fn remember(d: &Daemon, sid: &str, content: &str) -> (u16, Value) {
    d.post(
        &format!("/v1/sessions/{sid}/exchanges"),
        &json!({"role": "user", "content": content}),
    )
}

#[test]
fn context_with_k_above_100_answers_and_k_above_max_k_is_422() {
    // A default_k above 100 made every context call panic.
    let d = Daemon::start(&format!("{HASH}[recall]\ndefault_k = 150\n"));
    assert_eq!(remember(&d, "c-1", "my cat is called Miso").0, 201);
    for body in [
        json!({"query": "cat"}),
        json!({"query": "cat", "k": 101}),
        json!({"query": "cat", "k": 1000}),
    ] {
        let (code, v) = d.post("/v1/context", &body);
        assert_eq!(code, 200, "{body}: {v}");
        assert!(v["sections"].is_array(), "{v}");
    }
    for k in [json!(0), json!(1001), json!(u64::MAX)] {
        let (code, v) = d.post("/v1/context", &json!({"query": "cat", "k": k}));
        assert!(code == 422 || code == 400, "k={k}: {code} {v}");
        assert!(v["error"]["code"].is_string(), "{v}");
    }
    assert!(!d.log_text().contains("panic"), "{}", d.log_text());
}

#[test]
fn a_recall_max_k_beyond_10000_is_a_config_error() {
    let d = Daemon::configure(&format!("{HASH}[recall]\nmax_k = 1000000\n"));
    let out = run_daemon(&d.config);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("recall.max_k"), "{}", stderr(&out));
}

/// Opens `n` connections that send nothing (or `prefix` and then nothing).
fn idle_connections(socket: &Path, n: usize, prefix: &[u8]) -> Vec<UnixStream> {
    (0..n)
        .map(|_| {
            let mut s = UnixStream::connect(socket).unwrap();
            s.write_all(prefix).unwrap();
            s
        })
        .collect()
}

fn timed_health(d: &Daemon) -> Duration {
    let t = Instant::now();
    let (code, _) = d.get("/v1/health");
    assert_eq!(code, 200);
    t.elapsed()
}

#[test]
fn idle_connections_cannot_lock_out_a_working_client() {
    let d = Daemon::start(&format!(
        "{HASH}[api]\nmax_connections = 8\nmax_connections_per_uid = 8\nidle_timeout_s = 3\n"
    ));
    // Three times the permits, half sending nothing, half a partial header.
    let mut idle = idle_connections(&d.socket, 12, b"");
    idle.extend(idle_connections(&d.socket, 12, b"GET /v1/hea"));
    std::thread::sleep(Duration::from_millis(300));
    for _ in 0..5 {
        let took = timed_health(&d);
        assert!(took < Duration::from_secs(2), "health took {took:?}");
    }
    // Whatever was not evicted is closed once idle_timeout_s has passed,
    // however slowly its header trickles in.
    let mut trickler = UnixStream::connect(&d.socket).unwrap();
    let t = Instant::now();
    for b in b"GET /v1/health HTTP/1.1\r\n".iter().take(8) {
        if trickler.write_all(&[*b]).is_err() {
            break;
        }
        std::thread::sleep(Duration::from_millis(600));
    }
    trickler
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut buf = Vec::new();
    let _ = trickler.read_to_end(&mut buf);
    assert!(
        t.elapsed() < Duration::from_secs(9),
        "a trickled header kept its connection for {:?}",
        t.elapsed()
    );
    drop(idle);
    // A keep-alive client between requests is idle too, and still served.
    let mut s = UnixStream::connect(&d.socket).unwrap();
    for _ in 0..2 {
        s.write_all(b"GET /v1/health HTTP/1.1\r\nHost: memd\r\n\r\n")
            .unwrap();
        let mut buf = [0u8; 512];
        let n = s.read(&mut buf).unwrap();
        assert!(buf[..n].starts_with(b"HTTP/1.1 200"), "{:?}", &buf[..n]);
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// Runs `perl` as uid `nobody` holding `n` connections to `socket` for
/// `hold_s` seconds after sending `send` on each.
fn nobody_connections(socket: &Path, n: usize, hold_s: u64, send: &str) -> std::process::Child {
    use std::os::unix::process::CommandExt;
    let script = r#"
        use IO::Socket::UNIX;
        my ($path, $n, $hold, $send) = @ARGV;
        my @s;
        for (1..$n) {
            my $c = IO::Socket::UNIX->new(Peer => $path) or next;
            print $c $send if length $send;
            push @s, $c;
        }
        print STDOUT scalar(@s), "\n";
        STDOUT->flush;
        sleep $hold;
    "#;
    Command::new("perl")
        .args(["-e", script])
        .arg(socket)
        .arg(n.to_string())
        .arg(hold_s.to_string())
        .arg(send)
        .uid(NOBODY)
        .gid(NOBODY)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap()
}

/// One `GET /v1/health` sent by uid `nobody` (through perl, which every
/// Debian has): the status line and the body.
fn nobody_request(socket: &Path) -> (String, String) {
    use std::os::unix::process::CommandExt;
    let script = r#"
        use IO::Socket::UNIX;
        my $c = IO::Socket::UNIX->new(Peer => $ARGV[0]) or die "connect: $!";
        print $c "GET /v1/health HTTP/1.1\r\nHost: memd\r\nConnection: close\r\n\r\n";
        local $/; my $all = <$c>; print $all;
    "#;
    let out = Command::new("perl")
        .args(["-e", script])
        .arg(socket)
        .uid(NOBODY)
        .gid(NOBODY)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let status = text.lines().next().unwrap_or_default().to_owned();
    let body = text.split("\r\n\r\n").nth(1).unwrap_or_default().to_owned();
    (status, body)
}

/// A daemon whose socket another uid can reach (mode 0666 in a 0711 dir).
fn daemon_reachable_by_others(extra: &str) -> Daemon {
    let d = Daemon::configure(&format!("{HASH}daemon.socket_mode = \"0666\"\n{extra}"));
    let run = d.socket.parent().unwrap();
    std::fs::create_dir_all(run).unwrap();
    for dir in [d.dir.path(), run] {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o711)).unwrap();
    }
    d.spawn_and_wait()
}

#[test]
fn a_refused_uid_gets_403_holds_no_permit_and_is_logged_once_a_minute() {
    if skip_unless_root("a_refused_uid_gets_403_holds_no_permit_and_is_logged_once_a_minute") {
        return;
    }
    let d = daemon_reachable_by_others("[api]\nmax_connections = 4\n");
    // The refused uid sees a 403 it can read (when it may run the binary
    // at all: a checkout under a private home directory is out of its reach).
    use std::os::unix::process::CommandExt;
    let as_nobody = || {
        let mut c = Command::new(BIN);
        c.uid(NOBODY).gid(NOBODY);
        c
    };
    match as_nobody().arg("--version").output() {
        Ok(o) if o.status.success() => {
            let out = as_nobody()
                .args(["ctl", "--socket"])
                .arg(&d.socket)
                .arg("status")
                .output()
                .unwrap();
            assert!(!out.status.success());
            assert!(
                String::from_utf8_lossy(&out.stderr).contains("forbidden")
                    || String::from_utf8_lossy(&out.stdout).contains("forbidden"),
                "{out:?}"
            );
        }
        other => eprintln!("uid {NOBODY} cannot run {BIN} ({other:?}); ctl's 403 not checked"),
    }
    let (status, body) = nobody_request(&d.socket);
    assert!(status.starts_with("HTTP/1.1 403"), "{status} {body}");
    assert!(body.contains("\"forbidden\""), "{body}");
    // 50 connections of a refused uid, held open: none takes a permit.
    let mut holder = nobody_connections(&d.socket, 50, 20, "GET /v1/health HTTP/1.1\r\n");
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(holder.stdout.as_mut().unwrap()),
        &mut line,
    )
    .unwrap();
    for _ in 0..8 {
        let took = timed_health(&d);
        assert!(took < Duration::from_secs(2), "health took {took:?}");
    }
    let _ = holder.kill();
    let _ = holder.wait();
    let refusals = d
        .log_text()
        .lines()
        .filter(|l| l.contains("refused a connection"))
        .count();
    assert_eq!(refusals, 1, "{}", d.log_text());
}

#[test]
fn a_socket_directory_owned_by_another_uid_is_refused() {
    if skip_unless_root("a_socket_directory_owned_by_another_uid_is_refused") {
        return;
    }
    let d = Daemon::configure(HASH);
    let run = d.socket.parent().unwrap();
    std::fs::create_dir_all(run).unwrap();
    std::os::unix::fs::chown(run, Some(NOBODY), Some(NOBODY)).unwrap();
    let out = run_daemon(&d.config);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("belongs to uid 65534"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn ctl_refuses_a_server_running_as_an_untrusted_uid() {
    if skip_unless_root("ctl_refuses_a_server_running_as_an_untrusted_uid") {
        return;
    }
    use std::os::unix::process::CommandExt;
    // Another uid made a directory under /tmp and listens there.
    let dir = tempfile::Builder::new()
        .prefix("memd-foreign")
        .tempdir_in("/tmp")
        .unwrap();
    std::os::unix::fs::chown(dir.path(), Some(NOBODY), Some(NOBODY)).unwrap();
    let socket = dir.path().join("memd.sock");
    let script = r#"
        use IO::Socket::UNIX;
        my $l = IO::Socket::UNIX->new(Local => $ARGV[0], Listen => 5) or die "listen: $!";
        chmod 0777, $ARGV[0];
        print STDOUT "ready\n"; STDOUT->flush;
        while (my $c = $l->accept) { my $got = ''; sysread($c, $got, 65536); open(my $f, '>>', "$ARGV[0].got"); print $f $got; close $c; }
    "#;
    let mut server = Command::new("perl")
        .args(["-e", script])
        .arg(&socket)
        .uid(NOBODY)
        .gid(NOBODY)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(server.stdout.as_mut().unwrap()),
        &mut line,
    )
    .unwrap();
    let out = Command::new(BIN)
        .args(["ctl", "--socket"])
        .arg(&socket)
        .args(["remember", "--session", "s", "my bank PIN is 4321"])
        .output()
        .unwrap();
    let _ = server.kill();
    let _ = server.wait();
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("refusing to talk"),
        "{out:?}"
    );
    let got = std::fs::read_to_string(format!("{}.got", socket.display())).unwrap_or_default();
    assert!(!got.contains("PIN"), "the text reached the impostor: {got}");
}

#[test]
fn memory_files_are_private_even_in_a_world_readable_data_dir() {
    let mut d = Daemon::configure(HASH);
    std::fs::create_dir_all(&d.data_dir).unwrap();
    std::fs::set_permissions(&d.data_dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    // A database left 0644 by an older memd.
    d.spawn();
    d.wait_ready();
    assert_eq!(remember(&d, "p-1", "my diary entry").0, 201);
    d.stop();
    std::fs::set_permissions(
        d.data_dir.join("memd.db"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    std::fs::set_permissions(&d.data_dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    d.spawn();
    d.wait_ready();
    assert_eq!(remember(&d, "p-1", "another entry").0, 201);
    assert_eq!(d.post("/v1/checkpoint", &json!({})).0, 200);
    let mode = |p: &Path| std::fs::metadata(p).unwrap().mode() & 0o777;
    assert_eq!(mode(&d.data_dir), 0o700);
    for f in ["memd.db", "memd.db-wal", "memd.db-shm"] {
        let p = d.data_dir.join(f);
        if p.exists() {
            assert_eq!(mode(&p), 0o600, "{f}");
        }
    }
    for snap in std::fs::read_dir(d.data_dir.join("snapshots")).unwrap() {
        assert_eq!(mode(&snap.unwrap().path()), 0o600);
    }
    assert!(d.log_text().contains("tightened"), "{}", d.log_text());
    // An export is the whole memory: 0600 whatever the caller's umask.
    let export = d.dir.path().join("all.jsonl");
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "umask 022; {BIN} ctl --socket {} export {}",
            d.socket.display(),
            export.display()
        ))
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(mode(&export), 0o600);
}

#[test]
fn a_data_dir_others_can_write_is_refused() {
    let d = Daemon::configure(HASH);
    std::fs::create_dir_all(&d.data_dir).unwrap();
    std::fs::set_permissions(&d.data_dir, std::fs::Permissions::from_mode(0o777)).unwrap();
    let out = run_daemon(&d.config);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("writable by other users"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_deleted_socket_is_recreated_and_said_so() {
    let d = Daemon::start(HASH);
    assert_eq!(remember(&d, "s-1", "before the socket went").0, 201);
    std::fs::remove_file(&d.socket).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while UnixStream::connect(&d.socket).is_err() {
        assert!(Instant::now() < deadline, "{}", d.log_text());
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(remember(&d, "s-1", "after it came back").0, 201);
    let (_, s) = d.get("/v1/sessions/s-1");
    assert_eq!(s["exchanges"].as_array().unwrap().len(), 2, "{s}");
    d.wait_log("the control socket was deleted; re-created it");
    assert_eq!(std::fs::metadata(&d.socket).unwrap().mode() & 0o777, 0o600);
}

#[test]
fn an_unfinished_snapshot_is_removed_at_start() {
    let mut d = Daemon::configure(HASH);
    let snaps = d.data_dir.join("snapshots");
    std::fs::create_dir_all(&snaps).unwrap();
    std::fs::set_permissions(&d.data_dir, std::fs::Permissions::from_mode(0o700)).unwrap();
    let partial = snaps.join(".memd-20261201T000000.000Z.db.partial");
    std::fs::write(&partial, vec![0u8; 1 << 20]).unwrap();
    d.spawn();
    d.wait_ready();
    assert!(!partial.exists());
    d.wait_log("removed a snapshot left unfinished");
}

#[test]
fn ids_that_display_as_something_else_are_refused() {
    let d = Daemon::start(HASH);
    for sid in [
        "abc%E2%80%AEfdp.exe",
        "%E2%80%8Bhidden",
        "tag%F3%A0%81%81",
        "iso%E2%81%A6late",
    ] {
        let (code, v) = remember(&d, sid, "x");
        assert_eq!(code, 422, "{sid}: {v}");
        assert_eq!(v["error"]["code"], "invalid_value", "{v}");
    }
    let (code, v) = d.post(
        "/v1/recall",
        &json!({"query": "x", "namespace": "team\u{202E}evil"}),
    );
    assert_eq!(code, 422, "{v}");
    let line = json!({"session_id": "a\u{200B}b", "role": "user", "content": "x"});
    let (code, v) = d.request("POST", "/v1/import", line.to_string().as_bytes());
    assert_eq!(code, 200, "{v}");
    assert_eq!(v["rejected"][0]["line"], 1, "{v}");
    // Emoji sequences, flags and other scripts are ids like any other.
    for sid in [
        "%F0%9F%91%A8%E2%80%8D%F0%9F%91%A9%E2%80%8D%F0%9F%91%A7",
        "caf%C3%A9",
        "%E6%9D%B1%E4%BA%AC",
        "%F0%9F%87%B5%F0%9F%87%B9",
    ] {
        let (code, v) = remember(&d, sid, "legit");
        assert_eq!(code, 201, "{sid}: {v}");
    }
}

#[test]
fn a_large_session_streams_in_order_with_after_and_limit() {
    let d = Daemon::start(HASH);
    let lines: String = (0..1500)
        .map(|i| {
            // Out of id order in time: the stream must follow created_at.
            let second = (i * 7) % 1500;
            format!(
                "{}\n",
                json!({"session_id": "big", "role": "user", "content": format!("turn {i}"),
                    "created_at": format!("2024-01-01T00:{:02}:{:02}Z", second / 60, second % 60),
                    "ext_id": format!("e{i}")})
            )
        })
        .collect();
    let (code, v) = d.request("POST", "/v1/import", lines.as_bytes());
    assert_eq!(code, 200, "{v}");
    assert_eq!(v["imported"], 1500);
    let (code, s) = d.get("/v1/sessions/big");
    assert_eq!(code, 200);
    let xs = s["exchanges"].as_array().unwrap();
    assert_eq!(xs.len(), 1500);
    assert_eq!(s["session"]["exchanges"], 1500);
    let times: Vec<&str> = xs
        .iter()
        .map(|x| x["created_at"].as_str().unwrap())
        .collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "not in time order");
    let (_, page) = d.get("/v1/sessions/big?limit=300");
    assert_eq!(page["exchanges"].as_array().unwrap().len(), 300);
    assert_eq!(page["exchanges"][299], xs[299]);
    assert_eq!(d.get("/v1/sessions/nope").0, 404);
}
