//! What the `.deb`'s maintainer scripts (`installer/debian/`) ask of `tillpass-install`,
//! so that a package upgrade or removal is as safe as `tillpass-install upgrade` and
//! `uninstall`:
//!
//! - [`backup`] — postinst, on an upgrade, after the new files are unpacked and before the
//!   new agent first runs (the old one was stopped in prerm/preinst): a consistent copy of
//!   the database in the backups folder ([`crate::upgrade::backup_database`]).
//! - [`check_upgrade`] — postinst, once debhelper's snippet started the agent again: waits
//!   for `/readyz`; if it does not answer, stops the agent, puts the backup back (the
//!   database the new agent touched is set aside, never deleted) and fails with the way
//!   back to the previous version.
//! - [`mark_unsynced`] — prerm, on remove, once the agent is stopped: counts the outbox
//!   while this binary is still installed and leaves [`Layout::unsynced_marker`] when
//!   events have not reached central; postrm's purge refuses while it is there.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use thiserror::Error;

use crate::fsops;
use crate::layout::Layout;
use crate::service::{self, Action, JOURNAL_HINT, UNIT};
use crate::system::{Command, System};
use crate::uninstall;
use crate::upgrade;

/// Why a maintainer-script step failed.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum PackageError {
    /// The database could not be backed up: the upgrade must not go on.
    #[error(
        "cannot back up the agent's database {path} before the upgrade: {detail}. The new \
         agent was not started; free space or fix the file, then `dpkg --configure tillpass`"
    )]
    Backup {
        /// The database.
        path: String,
        /// Why.
        detail: String,
    },
    /// The upgraded agent did not become ready; the database is restored.
    #[error(
        "the upgraded agent did not become ready ({detail}). It is stopped, and its database \
         is back as it was before the upgrade (from {backup}{aside}). Go back to the version \
         that ran with `apt-get install --allow-downgrades tillpass={from}` (or `dpkg -i` its \
         .deb), then `systemctl start {UNIT}`; {JOURNAL_HINT}"
    )]
    NotReady {
        /// The version upgraded from.
        from: String,
        /// The backup put back.
        backup: String,
        /// Where the database the new agent touched was set aside, as a phrase.
        aside: String,
        /// What was seen.
        detail: String,
    },
    /// The upgraded agent did not become ready, and the database could not be restored.
    #[error(
        "the upgraded agent did not become ready ({detail}), and putting the database \
         backup {backup} back failed: {restore}. Stop the agent (`systemctl stop {UNIT}`), \
         copy {backup} to {database} by hand, then go back to version {from}"
    )]
    RestoreFailed {
        /// The version upgraded from.
        from: String,
        /// The backup to copy back.
        backup: String,
        /// Where it goes: the agent's database.
        database: String,
        /// Why the agent was not ready.
        detail: String,
        /// Why the restore failed.
        restore: String,
    },
    /// The unsynced marker could not be written.
    #[error(transparent)]
    Fs(#[from] fsops::FsError),
}

/// Backs up the database before an upgraded agent runs; `None` when there is none yet.
pub fn backup(layout: &Layout) -> Result<Option<PathBuf>, PackageError> {
    upgrade::backup_database(layout).map_err(|detail| PackageError::Backup {
        path: layout.database().display().to_string(),
        detail,
    })
}

/// After an upgrade: waits for the agent debhelper started to answer `/readyz`, and rolls
/// the database back to `backup` if it does not. Nothing is waited for where systemd does
/// not run or the unit is not enabled: nothing was started.
pub fn check_upgrade(
    system: &dyn System,
    layout: &Layout,
    from: &str,
    backup: &Path,
    timeout: Duration,
    actions: &mut Vec<Action>,
) -> Result<(), PackageError> {
    if !system.booted_with_systemd() {
        actions.push(Action::Skipped(format!(
            "checking the upgraded agent: systemd does not run here, so it was not started; \
             the database backup stays in {}",
            backup.display()
        )));
        return Ok(());
    }
    let enabled = system
        .run(&Command::new("systemctl", &["is-enabled", UNIT]))
        .is_ok_and(|o| o.success() && o.stdout.trim() == "enabled");
    if !enabled {
        actions.push(Action::Skipped(format!(
            "checking the upgraded agent: {UNIT} is not enabled (a till not enrolled yet), so \
             it was not started; the database backup stays in {}",
            backup.display()
        )));
        return Ok(());
    }
    let Err(not_ready) = service::wait_ready(system, layout, timeout, actions) else {
        return Ok(());
    };
    let detail = match not_ready {
        service::ServiceError::NotReady { secs, last } => {
            format!("no /readyz within {secs}s: {last}")
        }
        other => other.to_string(),
    };
    // Stopped before the database is swapped; a failing stop is reported by the restore.
    let stop = Command::new("systemctl", &["stop", UNIT]);
    if system.run(&stop).is_ok_and(|o| o.success()) {
        actions.push(Action::Ran(stop.line()));
    }
    match upgrade::restore_database(layout, Some(backup)) {
        Ok(set_aside) => {
            actions.push(Action::Ran(format!(
                "restored the database from {}",
                backup.display()
            )));
            Err(PackageError::NotReady {
                from: from.to_owned(),
                backup: backup.display().to_string(),
                aside: set_aside
                    .map(|p| format!("; the one it touched is kept as {}", p.display()))
                    .unwrap_or_default(),
                detail,
            })
        }
        Err(restore) => Err(PackageError::RestoreFailed {
            from: from.to_owned(),
            backup: backup.display().to_string(),
            database: layout.database().display().to_string(),
            detail,
            restore,
        }),
    }
}

/// What [`mark_unsynced`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outbox {
    /// Empty (or no database): a purge may delete everything.
    Empty,
    /// Events wait for central: the marker says how many.
    Unsynced(i64),
    /// The database could not be read: the marker says why, and a purge refuses too.
    Unreadable(String),
}

impl fmt::Display for Outbox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outbox::Empty => write!(f, "the outbox is empty: a purge may delete the till's data"),
            Outbox::Unsynced(n) => write!(
                f,
                "{n} sale and loyalty event(s) have not reached central: a purge will refuse"
            ),
            Outbox::Unreadable(why) => {
                write!(
                    f,
                    "the outbox could not be read ({why}): a purge will refuse"
                )
            }
        }
    }
}

/// Counts the outbox (the agent must be stopped) and writes or removes the marker a purge
/// reads.
pub fn mark_unsynced(system: &dyn System, layout: &Layout) -> Result<Outbox, PackageError> {
    let marker = layout.unsynced_marker();
    let database = layout.database().display().to_string();
    let outbox = match uninstall::unsynced_events(system, layout) {
        Ok(0) => Outbox::Empty,
        Ok(n) => Outbox::Unsynced(n),
        Err(e) => Outbox::Unreadable(e.to_string()),
    };
    let text = match &outbox {
        Outbox::Empty => {
            match std::fs::remove_file(&marker) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(source) => {
                    return Err(fsops::FsError {
                        action: "removing",
                        path: marker,
                        source,
                    }
                    .into());
                }
            }
            return Ok(outbox);
        }
        Outbox::Unsynced(n) => {
            format!("    {n} event(s) in the outbox of {database}\n")
        }
        Outbox::Unreadable(why) => {
            format!("    the outbox of {database} could not be read: {why}\n")
        }
    };
    fsops::write_atomic(&marker, text.as_bytes(), 0o600)?;
    Ok(outbox)
}

#[cfg(test)]
mod tests {
    use rusqlite::Connection;

    use super::*;
    use crate::agent::testing::{agent, status_line};
    use crate::fsops::ensure_dir;
    use crate::system::{HttpAnswer, Output, Recorder};

    /// A till whose database (an SQLite file the backups copy whole) holds one sale.
    fn till() -> (tempfile::TempDir, Layout) {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::new(dir.path());
        ensure_dir(&layout.config_dir(), 0o750).unwrap();
        ensure_dir(&layout.state_dir(), 0o750).unwrap();
        std::fs::write(layout.config_file(), "[api]\nlisten = \"127.0.0.1:7421\"\n").unwrap();
        let conn = Connection::open(layout.database()).unwrap();
        conn.execute_batch("CREATE TABLE sales (id TEXT)").unwrap();
        conn.execute("INSERT INTO sales VALUES ('before the upgrade')", [])
            .unwrap();
        (dir, layout)
    }

    fn sales(layout: &Layout) -> Vec<String> {
        let conn = Connection::open(layout.database()).unwrap();
        let mut stmt = conn.prepare("SELECT id FROM sales ORDER BY id").unwrap();
        stmt.query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    }

    fn enabled() -> Recorder {
        let system = Recorder::new();
        system.answer("systemctl is-enabled", vec![Output::ok("enabled\n")]);
        system
    }

    #[test]
    fn a_ready_agent_keeps_the_migrated_database_and_the_backup() {
        let (_dir, layout) = till();
        let backup = backup(&layout).unwrap().unwrap();
        assert!(backup.starts_with(layout.backup_dir()));
        let system = enabled();
        system.answer_http(
            "http://127.0.0.1:7421/readyz",
            vec![Ok(HttpAnswer {
                status: 200,
                body: "{}".to_owned(),
            })],
        );
        let mut actions = Vec::new();
        check_upgrade(
            &system,
            &layout,
            "0.1.0-1",
            &backup,
            Duration::from_secs(60),
            &mut actions,
        )
        .unwrap();
        assert_eq!(
            system.lines(),
            vec!["systemctl is-enabled tillpass.service"]
        );
        assert!(backup.exists());
    }

    #[test]
    fn an_agent_that_never_gets_ready_is_stopped_and_its_database_rolled_back() {
        let (_dir, layout) = till();
        let backup = backup(&layout).unwrap().unwrap();
        // What the new agent's migration did before it hung.
        Connection::open(layout.database())
            .unwrap()
            .execute("INSERT INTO sales VALUES ('migrated by the new agent')", [])
            .unwrap();
        let system = enabled();
        system.answer_http(
            "http://127.0.0.1:7421/readyz",
            vec![Err("connection refused".to_owned())],
        );
        let mut actions = Vec::new();
        let err = check_upgrade(
            &system,
            &layout,
            "0.1.0-1",
            &backup,
            Duration::from_secs(60),
            &mut actions,
        )
        .unwrap_err()
        .to_string();
        assert_eq!(
            system.lines(),
            vec![
                "systemctl is-enabled tillpass.service",
                "systemctl stop tillpass.service",
            ]
        );
        assert_eq!(sales(&layout), vec!["before the upgrade"]);
        assert!(err.contains("did not become ready"), "{err}");
        assert!(err.contains("connection refused"), "{err}");
        assert!(
            err.contains("apt-get install --allow-downgrades tillpass=0.1.0-1"),
            "{err}"
        );
        assert!(err.contains("kept as"), "{err}");
        assert!(system.elapsed() >= Duration::from_secs(60));
    }

    #[test]
    fn without_systemd_or_on_a_till_not_enabled_nothing_is_waited_for() {
        let (_dir, layout) = till();
        let backup = backup(&layout).unwrap().unwrap();
        let system = Recorder::new().without_systemd();
        let mut actions = Vec::new();
        check_upgrade(
            &system,
            &layout,
            "0.1.0-1",
            &backup,
            Duration::from_secs(60),
            &mut actions,
        )
        .unwrap();
        assert!(system.lines().is_empty());
        let system = Recorder::new();
        system.answer(
            "systemctl is-enabled",
            vec![Output {
                code: Some(1),
                stdout: "disabled\n".to_owned(),
                stderr: String::new(),
            }],
        );
        check_upgrade(
            &system,
            &layout,
            "0.1.0-1",
            &backup,
            Duration::from_secs(60),
            &mut actions,
        )
        .unwrap();
        assert_eq!(system.elapsed(), Duration::ZERO);
        assert!(matches!(
            actions.as_slice(),
            [Action::Skipped(_), Action::Skipped(_)]
        ));
    }

    #[test]
    fn the_purge_marker_is_written_while_events_wait_and_removed_once_they_are_sent() {
        let (_dir, layout) = till();
        let system = Recorder::new();
        // The agent counts three events, then none once central has them.
        agent(&system, &layout, &[3, 0]);
        assert_eq!(
            mark_unsynced(&system, &layout).unwrap(),
            Outbox::Unsynced(3)
        );
        let text = std::fs::read_to_string(layout.unsynced_marker()).unwrap();
        assert!(text.contains("3 event(s)"), "{text}");
        assert!(text.contains("tillpass.db"), "{text}");
        assert_eq!(mark_unsynced(&system, &layout).unwrap(), Outbox::Empty);
        assert!(!layout.unsynced_marker().exists());
        assert_eq!(system.lines(), vec![status_line(&layout); 2]);
    }

    #[test]
    fn an_outbox_the_agent_cannot_count_leaves_the_marker_too() {
        let (_dir, layout) = till();
        let system = Recorder::new();
        agent(&system, &layout, &[0]);
        system.answer(
            &status_line(&layout),
            vec![Output::failed(
                1,
                "tillpass: cannot read /etc/tillpass/config.toml",
            )],
        );
        let Outbox::Unreadable(why) = mark_unsynced(&system, &layout).unwrap() else {
            panic!("an outbox nobody counted is not empty")
        };
        assert!(why.contains("answered no status"), "{why}");
        assert!(layout.unsynced_marker().exists());
    }
}
