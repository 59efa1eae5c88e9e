//! Logging. Under systemd, when stderr is the journal's stream (`JOURNAL_STREAM` names
//! it), events go to the journal natively ([`tillpass_journal`], shared with central): a
//! priority per level and each field its own journal field, `SYSLOG_IDENTIFIER=tillpass`. Otherwise, and always
//! with `format = "json"`, lines go to stderr: human-readable, JSON, or journald-friendly
//! (no timestamp, no colour: a journal reading a pipe adds its own).
//!
//! Values a client supplied are logged through [`escape`] whatever the destination.

use tillpass_journal::Journal;
use tracing_subscriber::EnvFilter;

use crate::config::{LogFormat, LogSection};

/// The journal's identifier for the agent's entries.
const SYSLOG_IDENTIFIER: &str = "tillpass";

/// Installs the global subscriber. Personal data never reaches the logs: references are
/// masked where they are logged (`identify::mask`) and first names are not logged.
pub fn init(log: &LogSection) {
    let filter = || EnvFilter::try_new(&log.level).unwrap_or_else(|_| EnvFilter::new("info"));
    let journal = if log.format == LogFormat::Json {
        Journal::NotTheJournal
    } else {
        tillpass_journal::init(SYSLOG_IDENTIFIER, filter())
    };
    if let Journal::Installed = journal {
        return;
    }
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter())
        .with_writer(std::io::stderr);
    let _ = match log.format {
        LogFormat::Human => builder.with_ansi(ansi).try_init(),
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Journald => builder.with_ansi(false).without_time().try_init(),
    };
    if let Journal::Unavailable(e) = journal {
        tracing::warn!(error = %e, "the journal's socket cannot be opened: logging to stderr");
    }
}

/// The most characters of one user-supplied value a log line carries.
pub const MAX_LOGGED_CHARS: usize = 64;

/// `text` as a log field may carry it when a client supplied it: control characters
/// (newlines that would forge a line, ESC that would drive a terminal, NUL, DEL, the C1
/// range, line and paragraph separators) escaped as `\u{…}`, a backslash doubled, and at
/// most [`MAX_LOGGED_CHARS`] characters, followed by `…` when cut.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len().min(4 * MAX_LOGGED_CHARS));
    for (i, c) in text.chars().enumerate() {
        if i == MAX_LOGGED_CHARS {
            out.push('…');
            break;
        }
        match c {
            '\\' => out.push_str("\\\\"),
            c if c.is_control() || matches!(c, '\u{2028}' | '\u{2029}') => {
                out.push_str(&format!("\\u{{{:x}}}", u32::from(c)));
            }
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_escaped_and_long_values_cut() {
        assert_eq!(escape("ana"), "ana");
        assert_eq!(
            escape("ana\nINFO forged line\u{1b}[31m\r\0\u{7f}\u{85}\u{2028}\\"),
            "ana\\u{a}INFO forged line\\u{1b}[31m\\u{d}\\u{0}\\u{7f}\\u{85}\\u{2028}\\\\"
        );
        let long = "x".repeat(1000);
        assert_eq!(escape(&long).chars().count(), MAX_LOGGED_CHARS + 1);
        assert!(escape(&long).ends_with('…'));
    }
}
