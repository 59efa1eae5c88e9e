//! `tillpass-install upgrade --binary FILE`: replaces the agent binary without risking the
//! till's data.
//!
//! 1. Stop the agent (`systemctl stop`; on a staged root nothing runs).
//! 2. Back up the database with SQLite's `VACUUM INTO` (a consistent copy, WAL included)
//!    into the backups folder, check the copy's integrity and fsync it.
//! 3. Keep the current binary as `tillpass.prev` and put the new one in place, both
//!    atomically.
//! 4. Start the new agent (it runs its migrations at start) and wait for `/readyz` with a
//!    deadline. Under systemd that is `systemctl start`; on a staged root the agent is run
//!    directly from the root's files on a free loopback port and stopped once ready.
//! 5. If it does not come up: stop it, put the previous binary back, set the database the
//!    new agent touched aside in the backups folder (never deleted) and restore the
//!    backup, then start the previous agent again (under systemd).
//!
//! A till installed from the `.deb` is upgraded by the package manager instead; this is
//! for tills installed with `install --agent-binary` and for image builders.

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rusqlite::{Connection, OpenFlags};
use thiserror::Error;

use crate::agent::StagedAgent;
use crate::fsops::{self, FsError};
use crate::layout::Layout;
use crate::service::{self, Action, JOURNAL_HINT, UNIT};
use crate::system::{self, Command, CommandError, System};

/// What `upgrade` is asked to do.
#[derive(Debug, Clone)]
pub struct UpgradeOptions {
    /// The till.
    pub layout: Layout,
    /// The new agent binary.
    pub binary: PathBuf,
    /// Stop and start the agent through systemd (a live till) rather than running it
    /// directly from a staged root.
    pub service: bool,
    /// How long the new agent has to answer `/readyz`.
    pub ready_timeout: Duration,
}

/// Why an upgrade stopped.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum UpgradeError {
    /// There is no installed agent to upgrade.
    #[error(
        "no agent is installed at {0}: install first (`tillpass-install install --agent-binary FILE …`)"
    )]
    NotInstalled(String),
    /// The new binary cannot be read.
    #[error("cannot read the new agent binary {path}: {detail}")]
    Binary {
        /// The file given.
        path: String,
        /// Why.
        detail: String,
    },
    /// A command failed before anything was changed.
    #[error(transparent)]
    Command(#[from] CommandError),
    /// The database could not be backed up; nothing was changed.
    #[error(
        "cannot back up the database {path}: {detail}. Nothing was changed{restarted}; free \
         space or fix the database (`tillpass-install doctor`) and try again"
    )]
    Backup {
        /// The database.
        path: String,
        /// Why.
        detail: String,
        /// Whether the agent was started again.
        restarted: String,
    },
    /// A file step failed before the new agent was started.
    #[error(transparent)]
    Fs(#[from] FsError),
    /// The new agent did not come up; the previous binary and database are back.
    #[error(
        "the new agent did not come up ({cause}). Rolled back: the previous binary is in \
         place again and the database is restored{from}; {running}. The database the new \
         agent touched is kept as {kept}"
    )]
    RolledBack {
        /// Why the new agent was refused.
        cause: String,
        /// Which backup was restored.
        from: String,
        /// Whether the previous agent runs again.
        running: String,
        /// Where the refused database was put.
        kept: String,
    },
    /// The new agent did not come up, and putting the old one back failed too.
    #[error("the new agent did not come up ({cause}), and rolling back failed: {detail}. {manual}")]
    RollbackFailed {
        /// Why the new agent was refused.
        cause: String,
        /// Why the rollback failed.
        detail: String,
        /// What to do by hand.
        manual: String,
    },
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// A file name in `dir` that does not exist yet: `<stem>.db`, else `<stem>-2.db`, ….
fn fresh(dir: &Path, stem: &str) -> PathBuf {
    let mut n = 1u32;
    loop {
        let name = if n == 1 {
            format!("{stem}.db")
        } else {
            format!("{stem}-{n}.db")
        };
        let path = dir.join(name);
        if !path.exists() && !with_suffix(&path, "-wal").exists() {
            return path;
        }
        n += 1;
    }
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

fn fsync(path: &Path) -> std::io::Result<()> {
    fs::File::open(path)?.sync_all()
}

/// Backs up the agent's database (if it has one yet) into the backups folder with
/// `VACUUM INTO`, checks the copy and fsyncs it. The agent must be stopped.
pub fn backup_database(layout: &Layout) -> Result<Option<PathBuf>, String> {
    let database = layout.database();
    if !database.exists() {
        return Ok(None);
    }
    fsops::ensure_dir(&layout.backup_dir(), 0o750).map_err(|e| e.to_string())?;
    let target = fresh(
        &layout.backup_dir(),
        &format!("tillpass-{}-before-upgrade", unix_now()),
    );
    let target_text = target
        .to_str()
        .ok_or_else(|| format!("{} is not UTF-8", target.display()))?;
    let conn = Connection::open_with_flags(&database, OpenFlags::SQLITE_OPEN_READ_ONLY)
        .map_err(|e| e.to_string())?;
    conn.execute("VACUUM INTO ?1", [target_text])
        .map_err(|e| e.to_string())?;
    drop(conn);
    fs::set_permissions(&target, fs::Permissions::from_mode(0o600)).map_err(|e| e.to_string())?;
    let copy = Connection::open_with_flags(&target, OpenFlags::SQLITE_OPEN_READ_ONLY)
        .map_err(|e| e.to_string())?;
    let check: String = copy
        .query_row("PRAGMA integrity_check(1)", [], |r| r.get(0))
        .map_err(|e| e.to_string())?;
    drop(copy);
    if check != "ok" {
        return Err(format!("the copy {} is damaged: {check}", target.display()));
    }
    fsync(&target).map_err(|e| e.to_string())?;
    fsync(&layout.backup_dir()).map_err(|e| e.to_string())?;
    Ok(Some(target))
}

/// Sets the current database (and its `-wal`/`-shm`) aside in the backups folder and puts
/// `backup` in its place with the same owner and mode. Returns where the set-aside
/// database went, if there was one.
pub fn restore_database(layout: &Layout, backup: Option<&Path>) -> Result<Option<PathBuf>, String> {
    let database = layout.database();
    let meta = fs::metadata(&database).ok();
    let mut kept = None;
    if database.exists() || with_suffix(&database, "-wal").exists() {
        fsops::ensure_dir(&layout.backup_dir(), 0o750).map_err(|e| e.to_string())?;
        let aside = fresh(
            &layout.backup_dir(),
            &format!("tillpass-{}-refused-upgrade", unix_now()),
        );
        for suffix in ["", "-wal", "-shm"] {
            let from = with_suffix(&database, suffix);
            if from.exists() {
                fs::rename(&from, with_suffix(&aside, suffix))
                    .map_err(|e| format!("moving {} aside: {e}", from.display()))?;
            }
        }
        kept = Some(aside);
    }
    if let Some(backup) = backup {
        let temp = with_suffix(&database, ".restoring");
        fs::copy(backup, &temp).map_err(|e| format!("copying {}: {e}", backup.display()))?;
        if let Some(meta) = &meta {
            fs::set_permissions(&temp, fs::Permissions::from_mode(meta.mode() & 0o7777))
                .map_err(|e| e.to_string())?;
            std::os::unix::fs::chown(&temp, Some(meta.uid()), Some(meta.gid()))
                .map_err(|e| format!("giving {} its owner back: {e}", temp.display()))?;
        }
        fsync(&temp).map_err(|e| e.to_string())?;
        fs::rename(&temp, &database).map_err(|e| e.to_string())?;
        fsync(&layout.state_dir()).map_err(|e| e.to_string())?;
    }
    Ok(kept)
}

fn systemctl(system: &dyn System, step: &str, verb: &str) -> Result<(), CommandError> {
    system::run_checked(
        system,
        step,
        &Command::new("systemctl", &[verb, UNIT]),
        JOURNAL_HINT,
    )
    .map(|_| ())
}

/// Starts the agent now in place and waits until it is ready; on a staged root it is
/// stopped again once ready.
fn start_and_wait(system: &dyn System, options: &UpgradeOptions) -> Result<(), String> {
    if options.service {
        systemctl(system, "starting the agent", "start").map_err(|e| e.to_string())?;
        let mut actions = Vec::new();
        return service::wait_ready(system, &options.layout, options.ready_timeout, &mut actions)
            .map_err(|e| e.to_string());
    }
    let mut agent = StagedAgent::start(&options.layout)?;
    agent.wait_ready(system, options.ready_timeout)?;
    agent.stop(system, Duration::from_secs(20));
    Ok(())
}

/// Upgrades the agent, recording into `actions` what it did.
pub fn upgrade(
    system: &dyn System,
    options: &UpgradeOptions,
    actions: &mut Vec<Action>,
) -> Result<(), UpgradeError> {
    let layout = &options.layout;
    let new = fs::read(&options.binary).map_err(|e| UpgradeError::Binary {
        path: options.binary.display().to_string(),
        detail: e.to_string(),
    })?;
    if new.is_empty() {
        return Err(UpgradeError::Binary {
            path: options.binary.display().to_string(),
            detail: "the file is empty".to_owned(),
        });
    }
    let binary = layout.agent_binary();
    let old =
        fs::read(&binary).map_err(|_| UpgradeError::NotInstalled(binary.display().to_string()))?;

    if options.service {
        systemctl(system, "stopping the agent", "stop")?;
        actions.push(Action::Ran(format!("systemctl stop {UNIT}")));
    } else {
        actions.push(Action::Skipped(
            "stopping: nothing runs from a staged root".to_owned(),
        ));
    }

    let backup = match backup_database(layout) {
        Ok(backup) => backup,
        Err(detail) => {
            let restarted = if options.service {
                match systemctl(system, "starting the agent again", "start") {
                    Ok(()) => " and the agent runs again".to_owned(),
                    Err(e) => format!(" but the agent did not start again: {e}"),
                }
            } else {
                String::new()
            };
            return Err(UpgradeError::Backup {
                path: layout.database().display().to_string(),
                detail,
                restarted,
            });
        }
    };
    match &backup {
        Some(path) => actions.push(Action::Ran(format!(
            "backed up the database to {}",
            path.display()
        ))),
        None => actions.push(Action::Skipped(
            "database backup: the agent has no database yet".to_owned(),
        )),
    }

    fsops::write_atomic(&layout.agent_binary_prev(), &old, 0o755)?;
    fsops::write_atomic(&binary, &new, 0o755)?;
    actions.push(Action::Ran(format!(
        "installed the new agent at {} (the previous one kept as {})",
        binary.display(),
        layout.agent_binary_prev().display()
    )));

    let cause = match start_and_wait(system, options) {
        Ok(()) => {
            actions.push(Action::Ran(
                "started the new agent: migrations ran and /readyz answered".to_owned(),
            ));
            return Ok(());
        }
        Err(cause) => cause,
    };

    // Roll back: binary and database as they were.
    if options.service {
        // It may have stopped by itself already; a failure here shows again below.
        let _ = systemctl(system, "stopping the new agent", "stop");
    }
    let rollback_failed = |detail: String| UpgradeError::RollbackFailed {
        cause: cause.clone(),
        detail,
        manual: format!(
            "Put {} back as {} and copy {} to {} by hand, then start the agent",
            layout.agent_binary_prev().display(),
            binary.display(),
            backup
                .as_ref()
                .map(|b| b.display().to_string())
                .unwrap_or_else(|| "(no backup: there was no database)".to_owned()),
            layout.database().display()
        ),
    };
    fsops::write_atomic(&binary, &old, 0o755).map_err(|e| rollback_failed(e.to_string()))?;
    let kept = restore_database(layout, backup.as_deref()).map_err(rollback_failed)?;
    actions.push(Action::Ran(format!(
        "rolled back: the previous agent is at {} again",
        binary.display()
    )));
    let running = if options.service {
        match start_and_wait(system, options) {
            Ok(()) => "the previous agent runs again".to_owned(),
            Err(e) => format!("the previous agent did not come up either ({e})"),
        }
    } else {
        "nothing was started (staged root)".to_owned()
    };
    Err(UpgradeError::RolledBack {
        cause,
        from: backup
            .map(|b| format!(" from {}", b.display()))
            .unwrap_or_default(),
        running,
        kept: kept
            .map(|k| k.display().to_string())
            .unwrap_or_else(|| "(none: it had made no database)".to_owned()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::system::{HttpAnswer, Recorder};

    fn till() -> (tempfile::TempDir, Layout) {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::new(dir.path());
        fsops::ensure_dir(layout.agent_binary().parent().unwrap(), 0o755).unwrap();
        fsops::ensure_dir(&layout.config_dir(), 0o750).unwrap();
        fsops::ensure_dir(&layout.state_dir(), 0o750).unwrap();
        fs::write(layout.agent_binary(), b"old agent").unwrap();
        fs::write(layout.config_file(), "[api]\nlisten = \"127.0.0.1:7312\"\n").unwrap();
        let conn = Connection::open(layout.database()).unwrap();
        conn.execute_batch(
            "PRAGMA journal_mode=WAL; CREATE TABLE sales(id INTEGER PRIMARY KEY, amount INTEGER);
             INSERT INTO sales(amount) VALUES (1250), (399);",
        )
        .unwrap();
        (dir, layout)
    }

    fn sales(layout: &Layout) -> Vec<i64> {
        let conn = Connection::open(layout.database()).unwrap();
        let mut stmt = conn
            .prepare("SELECT amount FROM sales ORDER BY id")
            .unwrap();
        stmt.query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    }

    fn options(layout: &Layout, binary: &Path) -> UpgradeOptions {
        UpgradeOptions {
            layout: layout.clone(),
            binary: binary.to_path_buf(),
            service: true,
            ready_timeout: Duration::from_secs(60),
        }
    }

    const URL: &str = "http://127.0.0.1:7312/readyz";

    fn ready() -> Result<HttpAnswer, String> {
        Ok(HttpAnswer {
            status: 200,
            body: "{}".to_owned(),
        })
    }

    #[test]
    fn a_good_upgrade_under_systemd_stops_backs_up_swaps_and_starts() {
        let (dir, layout) = till();
        let new = dir.path().join("new-tillpass");
        fs::write(&new, b"new agent").unwrap();
        let system = Recorder::new();
        system.answer_http(URL, vec![Err("refused".to_owned()), ready()]);
        let mut actions = Vec::new();
        upgrade(&system, &options(&layout, &new), &mut actions).unwrap();
        assert_eq!(
            system.lines(),
            vec![
                "systemctl stop tillpass.service",
                "systemctl start tillpass.service"
            ]
        );
        assert_eq!(fs::read(layout.agent_binary()).unwrap(), b"new agent");
        assert_eq!(fs::read(layout.agent_binary_prev()).unwrap(), b"old agent");
        let backups: Vec<_> = fs::read_dir(layout.backup_dir())
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        assert_eq!(backups.len(), 1);
        let copy = Connection::open(&backups[0]).unwrap();
        let n: i64 = copy
            .query_row("SELECT count(*) FROM sales", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 2);
    }

    #[test]
    fn an_agent_that_never_gets_ready_is_rolled_back_binary_and_database() {
        let (dir, layout) = till();
        let new = dir.path().join("new-tillpass");
        fs::write(&new, b"broken agent").unwrap();
        let system = Recorder::new();
        // Nothing ever answers: not the new agent, nor the old one after the rollback.
        system.answer_http(URL, vec![Err("connection refused".to_owned())]);
        let mut actions = Vec::new();
        let err = upgrade(&system, &options(&layout, &new), &mut actions).unwrap_err();
        assert_eq!(sales(&layout), vec![1250, 399]);
        let text = err.to_string();
        assert!(matches!(err, UpgradeError::RolledBack { .. }), "{text}");
        assert!(text.contains("connection refused"), "{text}");
        assert!(text.contains("journalctl -u tillpass"), "{text}");
        assert!(text.contains("did not come up either"), "{text}");
        assert_eq!(fs::read(layout.agent_binary()).unwrap(), b"old agent");
        assert_eq!(
            system.lines(),
            vec![
                "systemctl stop tillpass.service",
                "systemctl start tillpass.service",
                "systemctl stop tillpass.service",
                "systemctl start tillpass.service",
            ]
        );
    }

    #[test]
    fn restore_sets_the_touched_database_aside_and_keeps_owner_and_mode() {
        let (_dir, layout) = till();
        let backup = backup_database(&layout).unwrap().unwrap();
        let conn = Connection::open(layout.database()).unwrap();
        conn.execute("DELETE FROM sales", []).unwrap();
        fs::set_permissions(layout.database(), fs::Permissions::from_mode(0o640)).unwrap();
        let kept = restore_database(&layout, Some(&backup)).unwrap().unwrap();
        drop(conn);
        assert_eq!(sales(&layout), vec![1250, 399]);
        assert!(kept.exists(), "the refused database is kept, not deleted");
        assert_eq!(
            fs::metadata(layout.database())
                .unwrap()
                .permissions()
                .mode()
                & 0o777,
            0o640
        );
    }

    #[test]
    fn a_missing_new_binary_or_installation_changes_nothing() {
        let (dir, layout) = till();
        let system = Recorder::new();
        let err = upgrade(
            &system,
            &options(&layout, &dir.path().join("nope")),
            &mut Vec::new(),
        )
        .unwrap_err();
        assert!(matches!(err, UpgradeError::Binary { .. }), "{err}");
        fs::remove_file(layout.agent_binary()).unwrap();
        let new = dir.path().join("new");
        fs::write(&new, b"x").unwrap();
        let err = upgrade(&system, &options(&layout, &new), &mut Vec::new()).unwrap_err();
        assert!(matches!(err, UpgradeError::NotInstalled(_)), "{err}");
        assert!(system.lines().is_empty());
    }
}
