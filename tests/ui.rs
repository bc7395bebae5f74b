//! The inspector through the real binary: refusals at start (an address
//! that is not loopback, a missing or short token), 401 without the token,
//! the token traded for a cookie, every page behind it, hostile memory
//! text rendered inert, and `memd ctl ui`. The browser test is
//! scripts/test-ui.sh.

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Duration;

use common::{Daemon, run_daemon, stderr, stdout};
use serde_json::json;

const TOKEN: &str = "a-test-token-0123456789";
const HOSTILE: &str = "<script>document.title='pwned'</script><img src=x onerror=\"alert(1)\"> \
                       and a link https://evil.example/x \"quoted\" & more";

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A daemon with the inspector on a free loopback port, its token in the
/// environment.
fn daemon() -> (Daemon, u16) {
    let port = free_port();
    let mut d = Daemon::configure(&format!(
        "[embed]\nprovider = \"hash\"\n[ui]\nlisten = \"127.0.0.1:{port}\"\ntoken_env = \"MEMD_UI_TEST_TOKEN\"\n"
    ));
    d.env
        .push(("MEMD_UI_TEST_TOKEN".into(), format!("  {TOKEN}\n")));
    (d.spawn_and_wait(), port)
}

struct Answer {
    status: u16,
    head: String,
    body: String,
}

impl Answer {
    fn header(&self, name: &str) -> Option<String> {
        self.head.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case(name).then(|| v.trim().to_owned())
        })
    }
}

/// One GET over TCP with `Connection: close`.
fn get(port: u16, path: &str, cookie: Option<&str>) -> Answer {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let cookie = cookie.map_or(String::new(), |c| format!("Cookie: {c}\r\n"));
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{cookie}Connection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let raw = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    Answer {
        status,
        head: head.to_owned(),
        body: body.to_owned(),
    }
}

/// The cookie the token buys, as `name=value`.
fn login(port: u16) -> String {
    let a = get(port, &format!("/?token={TOKEN}"), None);
    assert_eq!(a.status, 303, "{}", a.head);
    let set = a.header("set-cookie").unwrap();
    assert!(
        set.contains("HttpOnly") && set.contains("SameSite=Strict"),
        "{set}"
    );
    set.split(';').next().unwrap().to_owned()
}

fn refuses(extra: &str, needle: &str) {
    let d = Daemon::configure(extra);
    let out = run_daemon(&d.config);
    assert!(!out.status.success(), "started with {extra}");
    let err = stderr(&out);
    assert!(err.contains(needle), "{needle:?} not in: {err}");
    assert!(!d.socket.exists(), "a refused start leaves no socket");
}

#[test]
fn a_listen_address_that_is_not_loopback_refuses_to_start() {
    for addr in ["0.0.0.0:7878", "192.0.2.1:7878", "[::]:7878"] {
        refuses(
            &format!("[ui]\nlisten = \"{addr}\"\ntoken_env = \"X\"\n"),
            "not a loopback address",
        );
    }
    refuses(
        "[ui]\nlisten = \"localhost:7878\"\ntoken_env = \"X\"\n",
        "is not IP:PORT",
    );
}

#[test]
fn a_missing_or_short_token_refuses_to_start() {
    let port = free_port();
    refuses(
        &format!("[ui]\nlisten = \"127.0.0.1:{port}\"\n"),
        "needs a token",
    );
    refuses(
        &format!("[ui]\nlisten = \"127.0.0.1:{port}\"\ntoken_env = \"MEMD_UI_UNSET_FOR_TEST\"\n"),
        "MEMD_UI_UNSET_FOR_TEST",
    );
    let dir = tempfile::tempdir().unwrap();
    let short = dir.path().join("short");
    std::fs::write(&short, "tooshort\n").unwrap();
    refuses(
        &format!(
            "[ui]\nlisten = \"127.0.0.1:{port}\"\ntoken_file = \"{}\"\n",
            short.display()
        ),
        "shorter than 16",
    );
    refuses(
        &format!(
            "[ui]\nlisten = \"127.0.0.1:{port}\"\ntoken_file = \"{}\"\n",
            dir.path().join("missing").display()
        ),
        "cannot read ui.token_file",
    );
}

#[test]
fn the_inspector_is_off_by_default() {
    let d = Daemon::start("[embed]\nprovider = \"hash\"\n");
    let out = d.ctl(&["--config", d.config.to_str().unwrap(), "ui"]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(
        stderr(&out).contains("the inspector is off"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn without_the_token_every_path_is_401() {
    let (_d, port) = daemon();
    for path in [
        "/",
        "/sessions",
        "/sessions/s1",
        "/time",
        "/dream",
        "/recall?q=x",
        "/facts",
        "/static/ui.js",
        "/nope",
    ] {
        let a = get(port, path, None);
        assert_eq!(a.status, 401, "{path}");
        assert!(!a.body.contains("sessions"), "{path}: {}", a.body);
        let wrong = get(port, &format!("{path}?token=not-the-token-at-all"), None);
        assert_eq!(wrong.status, 401, "{path} with a wrong token");
        let bad_cookie = get(port, path, Some(&format!("memd_ui_{port}=00ff")));
        assert_eq!(bad_cookie.status, 401, "{path} with a forged cookie");
    }
}

#[test]
fn the_token_buys_a_cookie_that_opens_every_page() {
    let (d, port) = daemon();
    let (code, r) = d.post(
        "/v1/sessions/s1/exchanges",
        &json!({"role": "user", "content": "I moved to Lisbon in May."}),
    );
    assert_eq!(code, 201, "{r}");
    // The token leaves the address: the redirect drops it, keeps the rest.
    let a = get(port, &format!("/time?ns=default&token={TOKEN}"), None);
    assert_eq!(a.status, 303);
    assert_eq!(a.header("location").as_deref(), Some("/time?ns=default"));
    let cookie = login(port);
    for (path, needle) in [
        ("/", "id=\"counts\""),
        ("/sessions", "id=\"sessions\""),
        ("/sessions/s1", "Lisbon"),
        ("/time", "id=\"eras\""),
        ("/dream", "id=\"drives\""),
        ("/recall?q=Lisbon", "id=\"hits\""),
        ("/facts", "id=\"facts\""),
    ] {
        let a = get(port, path, Some(&cookie));
        assert_eq!(a.status, 200, "{path}: {}", a.body);
        assert!(a.body.contains(needle), "{path} lacks {needle}");
        let csp = a.header("content-security-policy").unwrap();
        assert!(csp.contains("script-src 'self'"), "{csp}");
        assert!(!csp.contains("unsafe-inline"), "{csp}");
        assert!(a.header("server-timing").is_some(), "{path}");
    }
    assert_eq!(get(port, "/sessions/nope", Some(&cookie)).status, 404);
    let js = get(port, "/static/ui.js", Some(&cookie));
    assert_eq!(js.status, 200);
    assert!(js.header("content-type").unwrap().contains("javascript"));
    // `memd ctl ui` prints the address with the token.
    let mut ctl = std::process::Command::new(common::BIN);
    ctl.args(["ctl", "--socket"])
        .arg(&d.socket)
        .arg("--config")
        .arg(&d.config)
        .arg("ui")
        .env("MEMD_UI_TEST_TOKEN", TOKEN);
    let out = ctl.output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        stdout(&out).trim(),
        format!("http://127.0.0.1:{port}/?token={TOKEN}")
    );
}

#[test]
fn hostile_memory_text_is_escaped_on_every_page_that_shows_it() {
    let (d, port) = daemon();
    let (code, r) = d.post(
        "/v1/sessions/evil%22%3E%3Cb%3E/exchanges",
        &json!({"role": "user", "content": HOSTILE}),
    );
    assert_eq!(code, 201, "{r}");
    let (code, r) = d.post(
        "/v1/sessions/s2/exchanges",
        &json!({"role": "user", "content": HOSTILE}),
    );
    assert_eq!(code, 201, "{r}");
    let cookie = login(port);
    for path in ["/sessions/s2", "/recall?q=script+evil+link+quoted"] {
        let a = get(port, path, Some(&cookie));
        assert_eq!(a.status, 200, "{path}");
        assert!(
            a.body.contains("&lt;script&gt;document.title="),
            "{path}: the turn is shown, escaped"
        );
        assert!(!a.body.contains("<script>document"), "{path}");
        assert!(!a.body.contains("<img src=x"), "{path}");
        assert!(
            !a.body.contains("href=\"https://evil"),
            "{path}: no link to an address from memory"
        );
        // The only script is our file.
        assert_eq!(a.body.matches("<script").count(), 1, "{path}");
        assert!(
            a.body
                .contains("<script src=\"/static/ui.js\" defer></script>")
        );
    }
    // A hostile namespace or query parameter is escaped too.
    let a = get(
        port,
        "/recall?q=%3Cscript%3Ex%3C%2Fscript%3E",
        Some(&cookie),
    );
    assert_eq!(a.status, 200);
    assert!(a.body.contains("value=\"&lt;script&gt;x&lt;/script&gt;\""));
    let a = get(port, "/sessions?ns=%3Cb%3E", Some(&cookie));
    assert!(!a.body.contains("<b>"), "{}", a.body);
    // A hostile session id: its link is encoded, its text escaped.
    let a = get(port, "/sessions", Some(&cookie));
    assert!(
        a.body
            .contains("href=\"/sessions/evil%22%3E%3Cb%3E?ns=default\""),
        "{}",
        a.body
    );
    assert!(
        a.body.contains(">evil&quot;&gt;&lt;b&gt;</a>"),
        "{}",
        a.body
    );
    assert!(!a.body.contains("<b>"));
}
