//! `memd ctl quarantine …`: the write firewall's quarantine, listed,
//! released, dropped.

use hyper::Method;

use super::CtlError;
use super::client::Connection;
use super::commands::{Done, enc};
use super::render::{self, one_line};
use crate::cli::QuarantineCommand;
use crate::wire::{QuarantineActionOut, QuarantineOut};

/// `TIER/ID` (or `TIER:ID`; a bare number is an exchange) → (tier, id).
fn row(arg: &str) -> Result<(String, i64), CtlError> {
    let (tier, id) = match arg.split_once(['/', ':']) {
        Some((t, id)) => (t.to_owned(), id),
        None => ("exchange".to_owned(), arg),
    };
    let id = id.parse::<i64>().ok().filter(|id| *id > 0).ok_or_else(|| {
        CtlError::Usage(format!(
            "`{arg}` is not a row: give TIER/ID, e.g. exchange/42 or fact/7"
        ))
    })?;
    Ok((tier, id))
}

pub(super) async fn run(conn: &mut Connection, json: bool, cmd: &QuarantineCommand) -> Done {
    match cmd {
        QuarantineCommand::List {
            namespace,
            flagged,
            all,
            limit,
        } => {
            let mut q = format!("?limit={limit}");
            if let Some(ns) = namespace {
                q.push_str(&format!("&namespace={}", enc(ns)));
            }
            match (*all, *flagged) {
                (true, _) => {}
                (false, true) => q.push_str("&mark=flagged"),
                (false, false) => q.push_str("&mark=quarantined"),
            }
            let answer = conn
                .call(Method::GET, &format!("/v1/quarantine{q}"), None)
                .await?;
            Ok(render::answer(answer, json, |r: &QuarantineOut| {
                if r.rows.is_empty() {
                    println!("nothing marked by the write firewall");
                }
                for x in &r.rows {
                    println!(
                        "{}/{}  {}  [{}]  {}  {}",
                        x.tier,
                        x.id,
                        x.mark,
                        x.classes.join(", "),
                        x.namespace,
                        x.created_at
                    );
                    println!("    why:  {}", one_line(&x.reason, 100));
                    if let Some(t) = &x.text {
                        println!("    text: {}", one_line(t, 100));
                    }
                }
            }))
        }
        QuarantineCommand::Release { id } | QuarantineCommand::Drop { id } => {
            let (tier, id) = row(id)?;
            let (method, path) = if matches!(cmd, QuarantineCommand::Release { .. }) {
                (
                    Method::POST,
                    format!("/v1/quarantine/{}/{id}/release", enc(&tier)),
                )
            } else {
                (
                    Method::DELETE,
                    format!("/v1/quarantine/{}/{id}", enc(&tier)),
                )
            };
            let answer = conn.call(method, &path, None).await?;
            Ok(render::answer(answer, json, |r: &QuarantineActionOut| {
                println!("{} {}/{}", r.action, r.tier, r.id);
            }))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::row;

    #[test]
    fn rows_are_named_by_tier_and_id() {
        assert_eq!(row("fact/7").unwrap(), ("fact".into(), 7));
        assert_eq!(row("chunk:3").unwrap(), ("chunk".into(), 3));
        assert_eq!(row("42").unwrap(), ("exchange".into(), 42));
        assert!(row("exchange/x").is_err());
        assert!(row("-1").is_err());
    }
}
