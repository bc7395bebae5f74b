//! `memd ctl ui`: the inspector's address with its token, from the same
//! configuration the daemon reads (`[ui]`).

use serde_json::json;

use super::commands::{Done, enc};
use super::{CtlError, EXIT_DAEMON_ERROR, EXIT_OK};
use crate::cli::CtlArgs;
use crate::config::Config;

pub(super) fn url(args: &CtlArgs) -> Done {
    let loaded =
        Config::load(args.config.as_deref()).map_err(|e| CtlError::Usage(e.to_string()))?;
    let ui = &loaded.config.ui;
    let Some(addr) = ui.listen_addr() else {
        eprintln!(
            "memd ctl: the inspector is off in {}: set [ui] listen = \"127.0.0.1:7878\" and \
             token_file or token_env (see config/memd.toml), then restart the daemon",
            loaded.describe()
        );
        return Ok(EXIT_DAEMON_ERROR);
    };
    if addr.port() == 0 {
        eprintln!(
            "memd ctl: ui.listen has port 0: the daemon picked a free port at start; \
             its log says which (\"inspector listening\")"
        );
    }
    let base = format!("http://{addr}/");
    let (url, problem) = match crate::ui::load_token(ui) {
        Ok(token) => (format!("{base}?token={}", enc(&token)), None),
        Err(e) => (base.clone(), Some(e.to_string())),
    };
    if args.json {
        println!(
            "{}",
            json!({"url": url, "listen": addr.to_string(), "token_error": problem})
        );
    } else {
        println!("{url}");
    }
    if let Some(p) = problem {
        eprintln!("memd ctl: {p}; open {base}?token=<the token> instead");
    }
    Ok(EXIT_OK)
}
