//! Logging. Under systemd, when stderr is the journal's stream (`JOURNAL_STREAM` names
//! it), events go to the journal natively (`tracing-journald`): a priority per level and
//! each field its own journal field, `SYSLOG_IDENTIFIER=tillpass-central`. Otherwise lines
//! go to stderr, human-readable, coloured on a terminal. `RUST_LOG` filters (default
//! `info`).

use std::ffi::OsStr;
use std::os::fd::AsFd;
use std::os::unix::fs::MetadataExt;

use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// The journal's identifier for central's entries.
const SYSLOG_IDENTIFIER: &str = "tillpass-central";

/// Installs the global subscriber (once; a second call changes nothing).
pub fn init() {
    let filter = || EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let mut journal_error = None;
    if stderr_is_journal(std::env::var_os("JOURNAL_STREAM").as_deref()) {
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
    let _ = tracing_subscriber::fmt()
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .with_env_filter(filter())
        .try_init();
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stderr_is_the_journal_only_when_the_variable_names_it() {
        assert!(!stderr_is_journal(None));
        for bad in ["", "8", "8:", ":1", "a:1", "8:1:2"] {
            assert!(!stderr_is_journal(Some(OsStr::new(bad))), "{bad:?}");
        }
        let fd = std::io::stderr().as_fd().try_clone_to_owned().unwrap();
        let meta = std::fs::File::from(fd).metadata().unwrap();
        let own = format!("{}:{}", meta.dev(), meta.ino());
        assert!(stderr_is_journal(Some(OsStr::new(&own))));
        let other = format!("{}:{}", meta.dev(), meta.ino().wrapping_add(1));
        assert!(!stderr_is_journal(Some(OsStr::new(&other))));
    }
}
