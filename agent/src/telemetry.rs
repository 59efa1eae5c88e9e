//! Logging: human-readable lines, JSON lines, or journald-friendly lines (no timestamp,
//! no colour: the journal adds its own) when running under systemd.

use tracing_subscriber::EnvFilter;

use crate::config::{LogFormat, LogSection};

/// Installs the global subscriber. Personal data never reaches the logs: references are
/// masked where they are logged (`identify::mask`) and first names are not logged.
pub fn init(log: &LogSection) {
    let filter = EnvFilter::try_new(&log.level).unwrap_or_else(|_| EnvFilter::new("info"));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match log.format {
        LogFormat::Human => builder.with_ansi(ansi).try_init(),
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Journald => builder.with_ansi(false).without_time().try_init(),
    };
}
