//! # tillpass-journal
//!
//! Whether a service's log lines go to the systemd journal natively, for both services
//! (the till agent `tillpass` and `tillpass-central`): one owner for the rule.
//!
//! ## Map
//! - [`stderr_is_journal`] — whether stderr is the journal stream `JOURNAL_STREAM`
//!   (`DEVICE:INODE`) names. systemd sets the variable for a unit whose output goes to
//!   the journal; a child that inherited the variable but not the stream does not match.
//! - [`init`] — installs a `tracing-journald` subscriber (a priority per level, each field
//!   its own journal field, the service's `SYSLOG_IDENTIFIER`) when stderr is the
//!   journal; otherwise the caller logs to stderr in its own format.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

use std::ffi::OsStr;
use std::os::fd::AsFd;
use std::os::unix::fs::MetadataExt;

use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// What [`init`] did.
#[derive(Debug)]
#[non_exhaustive]
pub enum Journal {
    /// Events go to the journal natively.
    Installed,
    /// Stderr is not the journal (or a subscriber is already installed): the caller logs
    /// to stderr.
    NotTheJournal,
    /// Stderr is the journal but its socket cannot be opened: the caller logs to stderr
    /// and says why once it can.
    Unavailable(std::io::Error),
}

/// Installs the global subscriber writing to the journal under `identifier`, filtered by
/// `filter`, when this process's stderr is the journal stream `JOURNAL_STREAM` names.
pub fn init(identifier: &str, filter: EnvFilter) -> Journal {
    if !stderr_is_journal(std::env::var_os("JOURNAL_STREAM").as_deref()) {
        return Journal::NotTheJournal;
    }
    match tracing_journald::layer() {
        Ok(layer) => {
            let layer = layer.with_syslog_identifier(identifier.to_owned());
            match tracing_subscriber::registry()
                .with(filter)
                .with(layer)
                .try_init()
            {
                Ok(()) => Journal::Installed,
                Err(_) => Journal::NotTheJournal,
            }
        }
        Err(e) => Journal::Unavailable(e),
    }
}

/// Whether this process's stderr is the journal stream that `journal_stream` (the value of
/// `JOURNAL_STREAM`, `DEVICE:INODE`) names.
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
    fn the_journal_stream_is_device_and_inode() {
        assert_eq!(
            parse_journal_stream(OsStr::new("8:12345")),
            Some((8, 12345))
        );
        for bad in ["", "8", "8:", ":1", "a:1", "8:1:2", "-1:5", "8:1 "] {
            assert_eq!(parse_journal_stream(OsStr::new(bad)), None, "{bad:?}");
        }
    }

    #[test]
    fn stderr_is_the_journal_only_when_the_variable_names_it() {
        assert!(!stderr_is_journal(None));
        for bad in ["", "garbage", "8:"] {
            assert!(!stderr_is_journal(Some(OsStr::new(bad))), "{bad:?}");
        }
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
