//! tracing set-up: text or JSON on stderr, with a filter that SIGHUP can
//! replace at run time.

use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer, Registry, reload};

use crate::config::LogFormat;

/// Swaps the active log filter.
#[derive(Clone)]
pub struct LogHandle(reload::Handle<EnvFilter, Registry>);

impl LogHandle {
    pub fn set_level(&self, level: &str) -> Result<(), String> {
        let filter = EnvFilter::try_new(level).map_err(|e| e.to_string())?;
        self.0.reload(filter).map_err(|e| e.to_string())
    }
}

/// Installs the global subscriber. `level` was validated with the config.
pub fn init(level: &str, format: LogFormat) -> LogHandle {
    let filter = EnvFilter::try_new(level).unwrap_or_else(|_| EnvFilter::new("info"));
    let (filter, handle) = reload::Layer::new(filter);
    let fmt = match format {
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .json()
            .with_current_span(false)
            .with_writer(std::io::stderr)
            .boxed(),
        LogFormat::Text => tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .boxed(),
    };
    Registry::default().with(filter).with(fmt).init();
    LogHandle(handle)
}

/// Routes panics to the log as one line (message and location) instead of
/// the default hook's stderr text and backtrace: a panic in a request
/// handler is answered with a JSON 500 (see `api::guard`) and must not flood
/// the journal. `RUST_BACKTRACE=1` still adds the backtrace for debugging.
pub fn log_panics() {
    std::panic::set_hook(Box::new(|info| {
        let message = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "(no message)".to_owned());
        let location = info
            .location()
            .map(|l| format!("{}:{}", l.file(), l.line()))
            .unwrap_or_default();
        let thread = std::thread::current()
            .name()
            .unwrap_or("unnamed")
            .to_owned();
        if std::env::var_os("RUST_BACKTRACE").is_some_and(|v| v != "0") {
            let bt = std::backtrace::Backtrace::force_capture();
            tracing::error!(%message, %location, %thread, backtrace = %bt, "panic (a bug in memd; please report it)");
        } else {
            tracing::error!(%message, %location, %thread, "panic (a bug in memd; please report it)");
        }
    }));
}
