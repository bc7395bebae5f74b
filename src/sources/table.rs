//! What a database source reads from one table, checked against its schema.
//!
//! A [`TablePlan`] is built only from names the source's own catalog
//! returned for an allowed table, so every identifier that reaches a query
//! is one that exists and is a plain identifier; values are always bound
//! parameters. Rows become [`SourceRow`]s: an id, the text of the concept
//! (`column: value` lines) and its fingerprint.

use sha2::{Digest, Sha256};

/// How a table's rows are identified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdColumn {
    Column(String),
    /// SQLite's implicit rowid (the table has no `id` and none was configured).
    Rowid,
}

#[derive(Debug, Clone)]
pub struct TablePlan {
    pub table: String,
    pub id: IdColumn,
    pub text_columns: Vec<String>,
    pub cursor: Option<String>,
    /// PostgreSQL: the cursor column's type, used to cast the bound value.
    pub cursor_type: Option<String>,
    /// PostgreSQL: the id column's type, used to cast the bound value.
    pub id_type: Option<String>,
}

impl TablePlan {
    pub fn id_sql(&self) -> String {
        match &self.id {
            IdColumn::Column(c) => quote(c),
            IdColumn::Rowid => "rowid".into(),
        }
    }

    pub fn id_name(&self) -> &str {
        match &self.id {
            IdColumn::Column(c) => c,
            IdColumn::Rowid => "rowid",
        }
    }
}

/// A row as memory sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceRow {
    pub id: String,
    pub text: String,
    /// The cursor column's value as text (the change marker), if any.
    pub marker: Option<String>,
}

impl SourceRow {
    pub fn fingerprint(&self) -> String {
        fingerprint(&self.text)
    }
}

/// Double-quoted identifier. Only ever applied to names already checked
/// with [`super::config::is_identifier`] and found in the catalog; the
/// quote doubling is a second line of defence.
pub fn quote(ident: &str) -> String {
    format!("\"{}\"", ident.replace('"', "\"\""))
}

/// `column: value` lines for the non-empty values, in column order.
pub fn render(columns: &[String], values: &[Option<String>]) -> String {
    let mut out = String::new();
    for (c, v) in columns.iter().zip(values) {
        if let Some(v) = v {
            let v = v.trim();
            if v.is_empty() {
                continue;
            }
            if !out.is_empty() {
                out.push('\n');
            }
            out.push_str(c);
            out.push_str(": ");
            out.push_str(v);
        }
    }
    out
}

pub fn fingerprint(text: &str) -> String {
    hex(&Sha256::digest(text.as_bytes()))
}

pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// Builds the plan for `table` from the catalog's (column, declared type)
/// list, or says which configured key is wrong. `text_like` decides which
/// types count as text when `text_columns` is unset.
pub fn plan(
    table: &str,
    columns: &[(String, String)],
    cfg: Option<&super::config::TableConfig>,
    default_id: Option<IdColumn>,
    text_like: impl Fn(&str) -> bool,
) -> Result<TablePlan, (String, String)> {
    let has = |c: &str| columns.iter().any(|(n, _)| n == c);
    let cfg = cfg.cloned().unwrap_or_default();
    let id = match &cfg.id_column {
        Some(c) if has(c) => IdColumn::Column(c.clone()),
        Some(c) if c == "rowid" && default_id == Some(IdColumn::Rowid) => IdColumn::Rowid,
        Some(c) => {
            return Err((
                "id_column".into(),
                format!("table `{table}` has no column `{c}`"),
            ));
        }
        None if has("id") => IdColumn::Column("id".into()),
        None => match default_id {
            Some(id) => id,
            None => {
                return Err((
                    "id_column".into(),
                    format!("table `{table}` has no `id` column and no primary key; set id_column"),
                ));
            }
        },
    };
    if let Some(c) = &cfg.cursor_column
        && !has(c)
    {
        return Err((
            "cursor_column".into(),
            format!("table `{table}` has no column `{c}`"),
        ));
    }
    let text_columns = match &cfg.text_columns {
        Some(list) => {
            for c in list {
                if !has(c) {
                    return Err((
                        "text_columns".into(),
                        format!("table `{table}` has no column `{c}`"),
                    ));
                }
            }
            list.clone()
        }
        None => {
            let list: Vec<String> = columns
                .iter()
                .filter(|(n, t)| {
                    text_like(t)
                        && Some(n.as_str()) != cfg.cursor_column.as_deref()
                        && IdColumn::Column(n.clone()) != id
                })
                .map(|(n, _)| n.clone())
                .collect();
            if list.is_empty() {
                return Err((
                    "text_columns".into(),
                    format!("table `{table}` has no text-like columns; set text_columns"),
                ));
            }
            list
        }
    };
    let cursor_type = cfg
        .cursor_column
        .as_ref()
        .and_then(|c| columns.iter().find(|(n, _)| n == c).map(|(_, t)| t.clone()));
    Ok(TablePlan {
        table: table.to_owned(),
        id,
        text_columns,
        cursor: cfg.cursor_column,
        cursor_type,
        id_type: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cols() -> Vec<(String, String)> {
        [
            ("id", "INTEGER"),
            ("name", "TEXT"),
            ("body", "varchar(20)"),
            ("n", "REAL"),
            ("updated_at", "TEXT"),
        ]
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
    }

    #[test]
    fn defaults_pick_id_and_text_columns() {
        let tc = super::super::config::TableConfig {
            cursor_column: Some("updated_at".into()),
            ..Default::default()
        };
        let p = plan("t", &cols(), Some(&tc), Some(IdColumn::Rowid), |t| {
            t.to_ascii_lowercase().contains("text") || t.to_ascii_lowercase().contains("char")
        })
        .unwrap();
        assert_eq!(p.id, IdColumn::Column("id".into()));
        assert_eq!(p.text_columns, vec!["name", "body"]);
        assert_eq!(p.cursor_type.as_deref(), Some("TEXT"));
    }

    #[test]
    fn unknown_columns_name_the_key() {
        let tc = super::super::config::TableConfig {
            text_columns: Some(vec!["name".into(), "nope".into()]),
            ..Default::default()
        };
        let e = plan("t", &cols(), Some(&tc), None, |_| true).unwrap_err();
        assert_eq!(e.0, "text_columns");
        assert!(e.1.contains("`nope`"), "{}", e.1);
    }

    #[test]
    fn render_skips_empty_values() {
        let c = vec!["a".to_string(), "b".to_string(), "c".to_string()];
        assert_eq!(
            render(&c, &[Some("x".into()), None, Some(" y ".into())]),
            "a: x\nc: y"
        );
        assert_eq!(fingerprint("a").len(), 64);
    }
}
