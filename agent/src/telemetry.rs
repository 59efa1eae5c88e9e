//! Logging. Under systemd, when stderr is the journal's stream (`JOURNAL_STREAM` names
//! it), events go to the journal natively (`tracing-journald`): a priority per level and
//! each field its own journal field, `SYSLOG_IDENTIFIER=tillpass`. Otherwise, and always
//! with `format = "json"`, lines go to stderr: human-readable, JSON, or journald-friendly
//! (no timestamp, no colour: a journal reading a pipe adds its own).
//!
//! Values a client supplied are logged through [`escape`] whatever the destination.

use std::ffi::OsStr;
use std::os::fd::AsFd;
use std::os::unix::fs::MetadataExt;

use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

use crate::config::{LogFormat, LogSection};

/// The journal's identifier for the agent's entries.
const SYSLOG_IDENTIFIER: &str = "tillpass";

/// Installs the global subscriber. Personal data never reaches the logs: references are
/// masked where they are logged (`identify::mask`) and first names are not logged.
pub fn init(log: &LogSection) {
    let filter = || EnvFilter::try_new(&log.level).unwrap_or_else(|_| EnvFilter::new("info"));
    let journal_wanted = log.format != LogFormat::Json
        && stderr_is_journal(std::env::var_os("JOURNAL_STREAM").as_deref());
    let mut journal_error = None;
    if journal_wanted {
        match tracing_journald::layer() {
            Ok(layer) => {
                let layer = layer.with_syslog_identifier(SYSLOG_IDENTIFIER.to_owned());
                if tracing_subscriber::registry()
                    .with(filter())
                    .with(layer)
                    .try_init()
                    .is_ok()
                {
                    return;
                }
            }
            Err(e) => journal_error = Some(e),
        }
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
    if let Some(e) = journal_error {
        tracing::warn!(error = %e, "the journal's socket cannot be opened: logging to stderr");
    }
}

/// Whether this process's stderr is the journal stream that `journal_stream` (the value of
/// `JOURNAL_STREAM`, `DEVICE:INODE`) names. systemd sets it for a unit whose output goes to
/// the journal; a child that inherited the variable but not the stream does not match.
pub fn stderr_is_journal(journal_stream: Option<&OsStr>) -> bool {
    let Some(named) = journal_stream.and_then(parse_journal_stream) else {
        return false;
    };
    let Ok(fd) = std::io::stderr().as_fd().try_clone_to_owned() else {
        return false;
    };
    std::fs::File::from(fd)
        .metadata()
        .is_ok_and(|m| (m.dev(), m.ino()) == named)
}

/// `DEVICE:INODE` of `JOURNAL_STREAM`, both decimal.
fn parse_journal_stream(value: &OsStr) -> Option<(u64, u64)> {
    let (dev, ino) = value.to_str()?.split_once(':')?;
    Some((dev.parse().ok()?, ino.parse().ok()?))
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

    #[test]
    fn the_journal_stream_is_device_and_inode() {
        assert_eq!(
            parse_journal_stream(OsStr::new("8:12345")),
            Some((8, 12345))
        );
        for bad in ["", "8", "8:", ":1", "a:1", "8:1:2", "-1:5"] {
            assert_eq!(parse_journal_stream(OsStr::new(bad)), None, "{bad:?}");
        }
    }

    #[test]
    fn stderr_is_the_journal_only_when_the_variable_names_it() {
        assert!(!stderr_is_journal(None));
        assert!(!stderr_is_journal(Some(OsStr::new("garbage"))));
        // The stream the variable names is stderr's own device and inode: a match.
        let fd = std::io::stderr().as_fd().try_clone_to_owned().unwrap();
        let meta = std::fs::File::from(fd).metadata().unwrap();
        let own = format!("{}:{}", meta.dev(), meta.ino());
        assert!(stderr_is_journal(Some(OsStr::new(&own))));
        // Inherited from a parent whose stderr was another file: no match.
        let other = format!("{}:{}", meta.dev(), meta.ino().wrapping_add(1));
        assert!(!stderr_is_journal(Some(OsStr::new(&other))));
    }
}
