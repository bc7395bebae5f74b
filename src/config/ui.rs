//! `[ui]`: the read-only web inspector, off unless `listen` is set.
//!
//! The inspector shows every memory in the store to whoever holds its
//! token, so it only ever listens on a loopback address: reaching it from
//! another machine takes an SSH tunnel or a proxy that adds its own
//! authentication, never a setting here.

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::check::{Check, ensure, first, not_empty};

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct UiConfig {
    /// `IP:PORT` on a loopback address (127.0.0.0/8 or ::1); unset: off.
    pub listen: Option<String>,
    /// A file holding the access token (surrounding whitespace ignored).
    pub token_file: Option<PathBuf>,
    /// The NAME of an environment variable holding the access token.
    pub token_env: Option<String>,
}

/// Shortest token accepted: a guessable token would open every memory to
/// any local process (or web page) that can reach the port.
pub const MIN_TOKEN_CHARS: usize = 16;

impl UiConfig {
    /// The address to listen on, when the inspector is on and `listen`
    /// is a loopback `IP:PORT` (what `validate` insists on).
    pub fn listen_addr(&self) -> Option<SocketAddr> {
        parse_loopback(self.listen.as_deref()?).ok()
    }

    pub(super) fn validate(&self) -> Check {
        let listen = match self.listen.as_deref() {
            None => Ok(()),
            Some(s) => parse_loopback(s)
                .map(|_| ())
                .map_err(|message| super::KeyError {
                    key: "ui.listen".into(),
                    message,
                }),
        };
        let on = self.listen.is_some();
        first([
            listen,
            not_empty("ui.token_file", self.token_file.as_deref()),
            ensure(
                "ui.token_env",
                self.token_env
                    .as_deref()
                    .is_none_or(|v| !v.trim().is_empty()),
                "must name an environment variable",
            ),
            ensure(
                "ui.token_file",
                !on || self.token_file.is_some() || self.token_env.is_some(),
                "the inspector needs a token: set ui.token_file or ui.token_env",
            ),
            ensure(
                "ui.token_env",
                !(self.token_file.is_some() && self.token_env.is_some()),
                "set one of ui.token_file and ui.token_env, not both",
            ),
        ])
    }
}

fn parse_loopback(s: &str) -> Result<SocketAddr, String> {
    let addr: SocketAddr = s
        .trim()
        .parse()
        .map_err(|_| format!("`{s}` is not IP:PORT (e.g. \"127.0.0.1:7878\" or \"[::1]:7878\")"))?;
    if !addr.ip().is_loopback() {
        return Err(format!(
            "`{s}` is not a loopback address: the inspector shows all memory and listens on \
             127.0.0.0/8 or [::1] only (reach it from elsewhere through an SSH tunnel)"
        ));
    }
    Ok(addr)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ui(listen: Option<&str>, file: Option<&str>, env: Option<&str>) -> UiConfig {
        UiConfig {
            listen: listen.map(str::to_owned),
            token_file: file.map(PathBuf::from),
            token_env: env.map(str::to_owned),
        }
    }

    #[test]
    fn only_loopback_addresses_with_a_token_pass() {
        assert!(UiConfig::default().validate().is_ok());
        for ok in ["127.0.0.1:7878", "127.1.2.3:0", "[::1]:7878"] {
            let c = ui(Some(ok), None, Some("MEMD_UI_TOKEN"));
            assert!(c.validate().is_ok(), "{ok}");
            assert!(c.listen_addr().is_some(), "{ok}");
        }
        for bad in [
            "0.0.0.0:7878",
            "192.168.1.4:7878",
            "[::]:7878",
            "localhost:7878",
            "7878",
        ] {
            let e = ui(Some(bad), Some("/t"), None).validate().unwrap_err();
            assert_eq!(e.key, "ui.listen", "{bad}");
        }
        let e = ui(Some("127.0.0.1:1"), None, None).validate().unwrap_err();
        assert!(e.message.contains("needs a token"), "{e:?}");
        let e = ui(Some("127.0.0.1:1"), Some("/t"), Some("X"))
            .validate()
            .unwrap_err();
        assert_eq!(e.key, "ui.token_env");
    }
}
