//! `[daemon]`: where the data and the socket live, and who may connect.

use std::path::PathBuf;

use serde::{Deserialize, Deserializer, Serialize};

use super::check::{Check, ensure, first, not_empty};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct DaemonConfig {
    /// Unset: `$STATE_DIRECTORY` (systemd), else `$XDG_DATA_HOME/memd`,
    /// else `~/.local/share/memd`.
    pub data_dir: Option<PathBuf>,
    /// Unset: `$RUNTIME_DIRECTORY/memd.sock` (systemd), else
    /// `$XDG_RUNTIME_DIR/memd/memd.sock`, else `/tmp/memd-$UID/memd.sock`.
    pub socket: Option<PathBuf>,
    pub socket_mode: SocketMode,
    /// Unset: the daemon's own uid and root.
    pub allowed_uids: Option<Vec<u32>>,
    /// How long in-flight requests may take to finish after SIGTERM.
    pub shutdown_timeout_s: u64,
}

impl Default for DaemonConfig {
    fn default() -> Self {
        Self {
            data_dir: None,
            socket: None,
            socket_mode: SocketMode(0o600),
            allowed_uids: None,
            shutdown_timeout_s: 10,
        }
    }
}

impl DaemonConfig {
    pub(super) fn validate(&self) -> Check {
        let socket_len = self.socket.as_ref().map_or(0, |p| p.as_os_str().len());
        first([
            ensure(
                "daemon.socket_mode",
                self.socket_mode.0 & 0o600 == 0o600,
                "the owner needs read and write permission (at least 0600)",
            ),
            not_empty("daemon.data_dir", self.data_dir.as_deref()),
            // sun_path holds 108 bytes including the terminating NUL.
            ensure(
                "daemon.socket",
                socket_len <= 107,
                format!("path is {socket_len} bytes; Unix sockets allow at most 107"),
            ),
            not_empty("daemon.socket", self.socket.as_deref()),
        ])
    }
}

/// Unix permission bits for the socket file. Accepted as an octal string
/// (`"0600"`) or a TOML octal integer (`0o600`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(into = "String")]
pub struct SocketMode(pub u32);

impl From<SocketMode> for String {
    fn from(m: SocketMode) -> String {
        format!("{:04o}", m.0)
    }
}

impl<'de> Deserialize<'de> for SocketMode {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Int(u32),
            Str(String),
        }
        let mode = match Raw::deserialize(d)? {
            Raw::Int(i) => i,
            Raw::Str(s) => {
                let digits = s.trim().trim_start_matches("0o");
                u32::from_str_radix(digits, 8).map_err(|_| {
                    serde::de::Error::custom(format!(
                        "`{s}` is not an octal mode; write e.g. \"0600\""
                    ))
                })?
            }
        };
        if mode > 0o777 {
            return Err(serde::de::Error::custom(format!(
                "{mode} is larger than 0o777; write the mode as an octal string such as \"0600\""
            )));
        }
        Ok(SocketMode(mode))
    }
}

#[cfg(test)]
mod tests {
    use crate::config::Config;

    #[test]
    fn socket_mode_forms() {
        let c = Config::from_toml("[daemon]\nsocket_mode = \"0660\"\n", "f").unwrap();
        assert_eq!(c.daemon.socket_mode.0, 0o660);
        let c = Config::from_toml("[daemon]\nsocket_mode = 0o640\n", "f").unwrap();
        assert_eq!(c.daemon.socket_mode.0, 0o640);
        assert!(Config::from_toml("[daemon]\nsocket_mode = 600\n", "f").is_err());
        assert!(Config::from_toml("[daemon]\nsocket_mode = \"rw\"\n", "f").is_err());
        let err = Config::from_toml("[daemon]\nsocket_mode = \"0400\"\n", "f").unwrap_err();
        assert!(err.to_string().contains("daemon.socket_mode"), "{err}");
    }
}
