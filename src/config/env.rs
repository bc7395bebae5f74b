//! The environment layer: `MEMD_<SECTION>__<KEY>=value` overrides one key
//! of the file (or of the built-in defaults), after the file is read and
//! before anything is checked.
//!
//! A double underscore separates levels (`MEMD_DREAM__OPENAI__MODEL` is
//! `dream.openai.model`); names are matched case-insensitively against the
//! lower-case TOML keys. The value is read as a TOML value, so `60`,
//! `false`, `0.5` and `[1000, 0]` are a number, a boolean, a float and an
//! array; anything that is not TOML (`/tmp/x.sock`, `info`) is a string.
//! Where a key wants text and the value read as something else
//! (`MEMD_EMBED__MODEL=123`), it is taken as the text it was written as.
//!
//! Only names with `__` are overrides: `MEMD_CONFIG`, `MEMD_SOCKET`,
//! `MEMD_MODEL_DIR` and the API-key variables (`MEMD_EMBED_API_KEY`,
//! `MEMD_DREAM_API_KEY`, …) keep their own meanings.

use std::ffi::OsString;

use super::ConfigError;

pub const PREFIX: &str = "MEMD_";
pub const SEPARATOR: &str = "__";

/// One `MEMD_*__*` variable.
#[derive(Debug, Clone, PartialEq)]
pub struct Override {
    /// The variable's name, as set.
    pub var: String,
    /// Lower-case keys from the section down, e.g. `["api", "request_timeout_s"]`.
    pub path: Vec<String>,
    /// The value as written.
    pub raw: String,
    /// The value as overlaid.
    pub value: toml::Value,
}

impl Override {
    /// The dotted key, as errors name it (`api.request_timeout_s`).
    pub fn key(&self) -> String {
        self.path.join(".")
    }

    /// Whether an error at `key` (a dotted key, possibly with list
    /// positions such as `sources.sqlite[shop].path`) concerns this value.
    pub fn covers(&self, key: &str) -> bool {
        let own = self.key();
        key == own
            || key
                .strip_prefix(own.as_str())
                .is_some_and(|rest| rest.starts_with('.') || rest.starts_with('['))
    }

    /// Whether a deserialisation error at `key` (`.` for the top level)
    /// with `message` is about a key this variable added: an unknown key is
    /// reported at its own path (`deamon` for `MEMD_DEAMON__SOCKET`), or at
    /// the table holding it with the key named in the message.
    fn added_below(&self, key: &str, message: &str) -> bool {
        if self.key().starts_with(&format!("{key}.")) {
            return true;
        }
        let depth = if key == "." || key.is_empty() {
            0
        } else {
            key.split('.').count()
        };
        depth < self.path.len()
            && (depth == 0 || self.path[..depth].join(".") == key)
            && message.contains(&format!("`{}`", self.path[depth]))
    }
}

/// The overrides among `vars`, sorted by name, so that a variable setting a
/// whole table (`MEMD_DREAM__OPENAI`) is overlaid before those inside it.
pub fn overrides<I>(vars: I) -> Result<Vec<Override>, ConfigError>
where
    I: IntoIterator<Item = (OsString, OsString)>,
{
    let mut found = Vec::new();
    for (name, value) in vars {
        let name_lossy = name.to_string_lossy();
        let Some(rest) = name_lossy.strip_prefix(PREFIX) else {
            continue;
        };
        if !rest.contains(SEPARATOR) {
            continue;
        }
        let var = name_lossy.clone().into_owned();
        let fail = |message: String| ConfigError::Parse {
            origin: format!("environment variable {var}"),
            message,
        };
        if name.to_str().is_none() {
            return Err(fail("the name is not valid UTF-8".into()));
        }
        let raw = value
            .into_string()
            .map_err(|_| fail("the value is not valid UTF-8".into()))?;
        let path: Vec<String> = rest
            .split(SEPARATOR)
            .map(|s| s.to_ascii_lowercase())
            .collect();
        if path.iter().any(|s| s.is_empty()) {
            return Err(fail(format!(
                "`{rest}` has an empty key; write MEMD_<SECTION>__<KEY>, e.g. MEMD_API__REQUEST_TIMEOUT_S"
            )));
        }
        found.push(Override {
            value: parse_value(&raw),
            var,
            path,
            raw,
        });
    }
    found.sort_by(|a, b| a.var.cmp(&b.var));
    Ok(found)
}

/// A TOML value if `raw` is one, else the string itself.
fn parse_value(raw: &str) -> toml::Value {
    toml::from_str::<toml::Table>(&format!("v = {raw}"))
        .ok()
        .filter(|t| t.len() == 1)
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(raw.to_owned()))
}

/// Overlays every override onto `table`, creating missing tables on the way.
pub fn apply(table: &mut toml::Table, overrides: &[Override]) -> Result<(), ConfigError> {
    for o in overrides {
        let (last, parents) = o.path.split_last().expect("an override has a key");
        let mut t = &mut *table;
        for (depth, seg) in parents.iter().enumerate() {
            let entry = t
                .entry(seg.clone())
                .or_insert_with(|| toml::Value::Table(toml::Table::new()));
            t = match entry {
                toml::Value::Table(inner) => inner,
                _ => {
                    return Err(ConfigError::Parse {
                        origin: format!("environment variable {}", o.var),
                        message: format!(
                            "`{}` is not a table, so it has no key `{}`",
                            o.path[..=depth].join("."),
                            o.path[depth + 1]
                        ),
                    });
                }
            };
        }
        t.insert(last.clone(), o.value.clone());
    }
    Ok(())
}

/// The variable a deserialisation error at `key` is about, if any.
pub fn blame_parse<'a>(
    overrides: &'a [Override],
    key: &str,
    message: &str,
) -> Option<&'a Override> {
    // The deepest match wins: `MEMD_DREAM__OPENAI__MODEL` over `MEMD_DREAM__OPENAI`.
    overrides
        .iter()
        .rev()
        .find(|o| o.covers(key) || o.added_below(key, message))
}

/// The variable a validation error at `key` is about, if any.
pub fn blame_key<'a>(overrides: &'a [Override], key: &str) -> Option<&'a Override> {
    overrides.iter().rev().find(|o| o.covers(key))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(list: &[(&str, &str)]) -> Vec<(OsString, OsString)> {
        list.iter()
            .map(|(k, v)| (OsString::from(k), OsString::from(v)))
            .collect()
    }

    fn overlay(list: &[(&str, &str)]) -> toml::Table {
        let mut t = toml::Table::new();
        apply(&mut t, &overrides(vars(list)).unwrap()).unwrap();
        t
    }

    #[test]
    fn only_double_underscore_names_are_overrides() {
        let o = overrides(vars(&[
            ("MEMD_SOCKET", "/tmp/s.sock"),
            ("MEMD_CONFIG", "/etc/x.toml"),
            ("MEMD_MODEL_DIR", "/m"),
            ("MEMD_EMBED_API_KEY", "secret"),
            ("MEMD_DREAM_API_KEY", "secret"),
            ("PATH", "/bin"),
            ("XMEMD_API__X", "1"),
            ("memd_api__request_timeout_s", "1"),
            ("MEMD_API__REQUEST_TIMEOUT_S", "60"),
        ]))
        .unwrap();
        assert_eq!(o.len(), 1, "{o:?}");
        assert_eq!(o[0].var, "MEMD_API__REQUEST_TIMEOUT_S");
        assert_eq!(o[0].key(), "api.request_timeout_s");
    }

    #[test]
    fn values_read_as_toml_else_text() {
        let t = overlay(&[
            ("MEMD_API__REQUEST_TIMEOUT_S", "60"),
            ("MEMD_DREAM__ENABLED", "false"),
            ("MEMD_DREAM__MMR_LAMBDA", "0.5"),
            ("MEMD_DAEMON__SOCKET", "/tmp/x.sock"),
            ("MEMD_DAEMON__ALLOWED_UIDS", "[1000, 0]"),
            ("MEMD_LOG__LEVEL", "memd=debug,info"),
            ("MEMD_DAEMON__SOCKET_MODE", "0660"),
            ("MEMD_EMBED__MODEL", "\"quoted\""),
            ("MEMD_RECALL__STOPWORDS", ""),
        ]);
        assert_eq!(t["api"]["request_timeout_s"].as_integer(), Some(60));
        assert_eq!(t["dream"]["enabled"].as_bool(), Some(false));
        assert_eq!(t["dream"]["mmr_lambda"].as_float(), Some(0.5));
        assert_eq!(t["daemon"]["socket"].as_str(), Some("/tmp/x.sock"));
        assert_eq!(
            t["daemon"]["allowed_uids"].as_array().unwrap().len(),
            2,
            "{t:?}"
        );
        assert_eq!(t["log"]["level"].as_str(), Some("memd=debug,info"));
        // Not TOML (leading zero): text, which socket_mode reads as octal.
        assert_eq!(t["daemon"]["socket_mode"].as_str(), Some("0660"));
        assert_eq!(t["embed"]["model"].as_str(), Some("quoted"));
        assert_eq!(t["recall"]["stopwords"].as_str(), Some(""));
        // A value that would smuggle in a second key stays text.
        assert!(parse_value("1\nother = 2").is_str());
    }

    #[test]
    fn nested_keys_and_case() {
        let t = overlay(&[
            ("MEMD_Dream__OpenAI__Max_Tokens", "64"),
            ("MEMD_DREAM__OPENAI__MODEL", "qwen"),
        ]);
        assert_eq!(t["dream"]["openai"]["max_tokens"].as_integer(), Some(64));
        assert_eq!(t["dream"]["openai"]["model"].as_str(), Some("qwen"));
    }

    #[test]
    fn overlays_the_file_and_a_whole_table_first() {
        let mut t: toml::Table =
            toml::from_str("[api]\nmax_connections = 8\nrequest_timeout_s = 5\n").unwrap();
        let o = overrides(vars(&[
            ("MEMD_DREAM__OPENAI__MODEL", "qwen"),
            (
                "MEMD_DREAM__OPENAI",
                "{ model = \"llama\", max_tokens = 9 }",
            ),
            ("MEMD_API__REQUEST_TIMEOUT_S", "60"),
        ]))
        .unwrap();
        apply(&mut t, &o).unwrap();
        assert_eq!(t["api"]["max_connections"].as_integer(), Some(8));
        assert_eq!(t["api"]["request_timeout_s"].as_integer(), Some(60));
        assert_eq!(t["dream"]["openai"]["model"].as_str(), Some("qwen"));
        assert_eq!(t["dream"]["openai"]["max_tokens"].as_integer(), Some(9));
    }

    #[test]
    fn bad_names_and_shapes_name_the_variable() {
        let err = overrides(vars(&[("MEMD_API__", "1")])).unwrap_err();
        assert!(err.to_string().contains("MEMD_API__"), "{err}");
        let err = overrides(vars(&[("MEMD___X", "1")])).unwrap_err();
        assert!(err.to_string().contains("MEMD___X"), "{err}");

        let mut t: toml::Table = toml::from_str("[api]\nmax_connections = 8\n").unwrap();
        let o = overrides(vars(&[("MEMD_API__MAX_CONNECTIONS__X", "1")])).unwrap();
        let err = apply(&mut t, &o).unwrap_err().to_string();
        assert!(err.contains("MEMD_API__MAX_CONNECTIONS__X"), "{err}");
        assert!(err.contains("api.max_connections"), "{err}");
    }

    #[test]
    fn blame() {
        let o = overrides(vars(&[
            ("MEMD_SOURCES__SQLITE", "[]"),
            ("MEMD_API__REQUEST_TIMOUT", "1"),
        ]))
        .unwrap();
        let var = |x: Option<&Override>| x.map(|o| o.var.clone());
        assert_eq!(
            var(blame_key(&o, "sources.sqlite[a].path")).as_deref(),
            Some("MEMD_SOURCES__SQLITE")
        );
        assert_eq!(var(blame_key(&o, "sources.sqlite_x")), None);
        assert_eq!(var(blame_key(&o, "api.max_connections")), None);
        assert_eq!(
            var(blame_parse(
                &o,
                "api",
                "unknown field `request_timout`, expected …"
            ))
            .as_deref(),
            Some("MEMD_API__REQUEST_TIMOUT")
        );
        assert_eq!(
            var(blame_parse(
                &o,
                "recall",
                "unknown field `request_timout`, expected …"
            )),
            None
        );
    }
}
