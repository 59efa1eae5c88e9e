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
//! 6. Once the new agent is ready, delete all but the newest [`UPGRADE_BACKUPS_KEPT`]
//!    upgrade backups (always keeping the one just made). Only the installer's own backups
//!    are recognised, by name; the databases a refused upgrade set aside are never deleted.
//!
//! A till installed from the `.deb` is upgraded by the package manager instead (this refuses
//! it: the binary is the package's; see [`crate::package`]); this is
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
use crate::system_files::{Owner, SystemFiles};

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
    /// The agent comes from the `.deb`: the package manager upgrades it.
    #[error(
        "this till's agent comes from the tillpass package: upgrade it with `apt-get install \
         ./tillpass_VERSION.deb` (it backs up the database and checks the new agent too). \
         Nothing was changed"
    )]
    Packaged,
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

/// How many database backups made by `upgrade` (`tillpass-<unix time>-before-upgrade.db`,
/// or `…-before-upgrade-<n>.db` for a second one in the same second, in the backups folder)
/// a successful upgrade keeps: the newest ones, always including the one it just made.
/// Older ones are deleted. The databases a refused upgrade set aside
/// (`…-refused-upgrade….db`) and any other file there are never touched.
pub const UPGRADE_BACKUPS_KEPT: usize = 3;

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

/// `text` as a number when it is nothing but ASCII digits (no sign, no spaces).
fn digits(text: &str) -> Option<u64> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// The age order of a backup [`backup_database`] made, from its file name
/// (`tillpass-<unix time>-before-upgrade[-<n>].db`, see `fresh`): (time, n). `None` for
/// every other name, the set-aside `…-refused-upgrade….db` databases included.
fn upgrade_backup_order(name: &str) -> Option<(u64, u64)> {
    let rest = name.strip_prefix("tillpass-")?.strip_suffix(".db")?;
    let (time, n) = rest.split_once("-before-upgrade")?;
    let n = match n {
        "" => 1,
        more => digits(more.strip_prefix('-')?).filter(|n| *n >= 2)?,
    };
    Some((digits(time)?, n))
}

/// Deletes all but the newest `keep` database backups `upgrade` made in the backups folder
/// (with any `-wal`/`-shm` SQLite left beside them), never `current`: the backup this
/// upgrade just made stays whatever its name says about time (a clock set back). Files
/// with other names are not touched. Returns what was deleted, oldest last.
pub fn prune_backups(
    layout: &Layout,
    keep: usize,
    current: Option<&Path>,
) -> Result<Vec<PathBuf>, FsError> {
    let dir = layout.backup_dir();
    let listing_err = |source| FsError {
        action: "listing",
        path: dir.clone(),
        source,
    };
    let entries = match fs::read_dir(&dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(listing_err(e)),
    };
    let mut backups = Vec::new();
    for entry in entries {
        let entry = entry.map_err(listing_err)?;
        let is_file = entry.file_type().is_ok_and(|t| t.is_file());
        let order = entry.file_name().to_str().and_then(upgrade_backup_order);
        if let (true, Some(order)) = (is_file, order) {
            backups.push((order, entry.path()));
        }
    }
    // Newest first, then the one just made in front of them all.
    backups.sort_by(|a, b| b.cmp(a));
    let current_name = current.and_then(Path::file_name);
    if let Some(at) = backups
        .iter()
        .position(|(_, path)| current_name.is_some_and(|name| path.file_name() == Some(name)))
    {
        let just_made = backups.remove(at);
        backups.insert(0, just_made);
    }
    let mut deleted = Vec::new();
    for (_, path) in backups.into_iter().skip(keep) {
        for suffix in ["", "-wal", "-shm"] {
            let file = with_suffix(&path, suffix);
            match fs::remove_file(&file) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(source) => {
                    return Err(FsError {
                        action: "deleting the old backup",
                        path: file,
                        source,
                    });
                }
            }
        }
        deleted.push(path);
    }
    Ok(deleted)
}

/// After a successful upgrade: [`prune_backups`] down to [`UPGRADE_BACKUPS_KEPT`]. A file
/// that cannot be deleted does not undo the upgrade; it is reported.
fn prune_after_upgrade(layout: &Layout, current: Option<&Path>, actions: &mut Vec<Action>) {
    match prune_backups(layout, UPGRADE_BACKUPS_KEPT, current) {
        Ok(deleted) if deleted.is_empty() => {}
        Ok(deleted) => {
            let names: Vec<String> = deleted.iter().map(|p| p.display().to_string()).collect();
            actions.push(Action::Ran(format!(
                "kept the newest {UPGRADE_BACKUPS_KEPT} database backups; deleted the older {}",
                names.join(", ")
            )));
        }
        Err(e) => actions.push(Action::Skipped(format!(
            "deleting old database backups: {e}. The upgrade itself succeeded; delete old \
             tillpass-*-before-upgrade*.db files from {} by hand to free space",
            layout.backup_dir().display()
        ))),
    }
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
    if SystemFiles::of(layout).owner == Owner::Package {
        // Swapping a binary dpkg owns would make the package's record lie.
        return Err(UpgradeError::Packaged);
    }
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
            prune_after_upgrade(layout, backup.as_deref(), actions);
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
    fn a_till_from_the_package_is_left_to_the_package_manager() {
        let (dir, layout) = till();
        let unit = layout.package_unit_file();
        fsops::ensure_dir(unit.parent().unwrap(), 0o755).unwrap();
        fs::write(&unit, crate::assets::UNIT).unwrap();
        let new = dir.path().join("new-tillpass");
        fs::write(&new, b"new agent").unwrap();
        let system = Recorder::new();
        let err = upgrade(&system, &options(&layout, &new), &mut Vec::new()).unwrap_err();
        assert!(matches!(err, UpgradeError::Packaged), "{err}");
        assert!(err.to_string().contains("apt-get install"), "{err}");
        assert!(system.lines().is_empty());
        assert_eq!(fs::read(layout.agent_binary()).unwrap(), b"old agent");
        assert!(!layout.backup_dir().exists());
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

    /// Files in the backups folder, by name, sorted.
    fn backup_names(layout: &Layout) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(layout.backup_dir())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        names
    }

    /// Earlier upgrades' backups (times with 3 and 4 digits, so that a text sort would get
    /// the age wrong, and two in one second), a refused upgrade's databases, and files
    /// that are not the installer's.
    fn earlier_upgrades(layout: &Layout) {
        fsops::ensure_dir(&layout.backup_dir(), 0o750).unwrap();
        for name in [
            "tillpass-999-before-upgrade.db",
            "tillpass-999-before-upgrade.db-wal",
            "tillpass-1000-before-upgrade.db",
            "tillpass-1000-before-upgrade-2.db",
            "tillpass-5000-before-upgrade.db",
            "tillpass-900-refused-upgrade.db",
            "tillpass-900-refused-upgrade.db-wal",
            "tillpass-901-refused-upgrade-2.db",
            "tillpass-+7-before-upgrade.db",
            "tillpass-800-before-upgrade-1.db",
            "notes.txt",
        ] {
            fs::write(layout.backup_dir().join(name), name).unwrap();
        }
    }

    #[test]
    fn a_successful_upgrade_keeps_the_newest_three_backups_and_every_refused_database() {
        let (dir, layout) = till();
        earlier_upgrades(&layout);
        let new = dir.path().join("new-tillpass");
        fs::write(&new, b"new agent").unwrap();
        let system = Recorder::new();
        system.answer_http(URL, vec![ready()]);
        let mut actions = Vec::new();
        upgrade(&system, &options(&layout, &new), &mut actions).unwrap();

        let just_made = backup_names(&layout)
            .into_iter()
            .find(|n| {
                n.starts_with("tillpass-")
                    && n.ends_with("-before-upgrade.db")
                    && !n.starts_with("tillpass-999-")
                    && !n.starts_with("tillpass-1000-")
                    && !n.starts_with("tillpass-5000-")
                    && !n.starts_with("tillpass-+")
            })
            .unwrap();
        let mut expected = vec![
            just_made.clone(),
            "tillpass-1000-before-upgrade-2.db".to_owned(),
            "tillpass-5000-before-upgrade.db".to_owned(),
            "tillpass-900-refused-upgrade.db".to_owned(),
            "tillpass-900-refused-upgrade.db-wal".to_owned(),
            "tillpass-901-refused-upgrade-2.db".to_owned(),
            "tillpass-+7-before-upgrade.db".to_owned(),
            "tillpass-800-before-upgrade-1.db".to_owned(),
            "notes.txt".to_owned(),
        ];
        expected.sort();
        assert_eq!(backup_names(&layout), expected);
        assert_eq!(UPGRADE_BACKUPS_KEPT, 3);

        // The one just made is a good copy of the database.
        let copy = Connection::open(layout.backup_dir().join(&just_made)).unwrap();
        let n: i64 = copy
            .query_row("SELECT count(*) FROM sales", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 2);
        let last = actions.last().unwrap().to_string();
        assert!(
            last.contains("kept the newest 3 database backups"),
            "{last}"
        );
        assert!(last.contains("tillpass-1000-before-upgrade.db"), "{last}");
        assert!(last.contains("tillpass-999-before-upgrade.db"), "{last}");
    }

    #[test]
    fn pruning_keeps_the_backup_just_made_even_when_the_clock_went_back() {
        let (_dir, layout) = till();
        fsops::ensure_dir(&layout.backup_dir(), 0o750).unwrap();
        for time in [100, 5000, 6000, 7000, 8000] {
            let name = format!("tillpass-{time}-before-upgrade.db");
            fs::write(layout.backup_dir().join(name), b"x").unwrap();
        }
        let current = layout.backup_dir().join("tillpass-100-before-upgrade.db");
        let deleted = prune_backups(&layout, 3, Some(&current)).unwrap();
        assert_eq!(
            deleted,
            vec![
                layout.backup_dir().join("tillpass-6000-before-upgrade.db"),
                layout.backup_dir().join("tillpass-5000-before-upgrade.db"),
            ]
        );
        assert_eq!(
            backup_names(&layout),
            vec![
                "tillpass-100-before-upgrade.db",
                "tillpass-7000-before-upgrade.db",
                "tillpass-8000-before-upgrade.db",
            ]
        );
        // Nothing more to do, and no backups folder at all is no error.
        assert!(prune_backups(&layout, 3, None).unwrap().is_empty());
        fs::remove_dir_all(layout.backup_dir()).unwrap();
        assert!(prune_backups(&layout, 3, None).unwrap().is_empty());
    }

    #[test]
    fn a_rolled_back_upgrade_deletes_no_backup() {
        let (dir, layout) = till();
        earlier_upgrades(&layout);
        let before = backup_names(&layout);
        let new = dir.path().join("new-tillpass");
        fs::write(&new, b"broken agent").unwrap();
        let system = Recorder::new();
        system.answer_http(URL, vec![Err("connection refused".to_owned())]);
        let err = upgrade(&system, &options(&layout, &new), &mut Vec::new()).unwrap_err();
        assert!(matches!(err, UpgradeError::RolledBack { .. }), "{err}");
        let after = backup_names(&layout);
        for name in &before {
            assert!(after.contains(name), "{name} kept: {after:?}");
        }
        let new_names: Vec<&String> = after.iter().filter(|n| !before.contains(n)).collect();
        assert!(
            new_names.iter().any(|n| n.ends_with("-before-upgrade.db"))
                && new_names.iter().any(|n| n.ends_with("-refused-upgrade.db")),
            "the new backup and the refused database are added: {new_names:?}"
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
