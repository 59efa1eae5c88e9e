//! Logging. Under systemd, when stderr is the journal's stream (`JOURNAL_STREAM` names
//! it), events go to the journal natively ([`tillpass_journal`], shared with the agent): a
//! priority per level and each field its own journal field,
//! `SYSLOG_IDENTIFIER=tillpass-central`. Otherwise lines go to stderr, human-readable,
//! coloured on a terminal. `RUST_LOG` filters (default `info`).

use tillpass_journal::Journal;
use tracing_subscriber::EnvFilter;

/// The journal's identifier for central's entries.
const SYSLOG_IDENTIFIER: &str = "tillpass-central";

/// Installs the global subscriber (once; a second call changes nothing).
pub fn init() {
    let filter = || EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let journal = tillpass_journal::init(SYSLOG_IDENTIFIER, filter());
    if let Journal::Installed = journal {
        return;
    }
    let _ = tracing_subscriber::fmt()
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .with_env_filter(filter())
        .try_init();
    if let Journal::Unavailable(e) = journal {
        tracing::warn!(error = %e, "the journal's socket cannot be opened: logging to stderr");
    }
}
