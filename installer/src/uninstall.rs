//! `tillpass-install uninstall [--purge] [--force]`: removes tillpass from a till without
//! ever losing a sale central has not received.
//!
//! Without `--purge` only the system files go (unit, udev rules, sysusers, tmpfiles; on a
//! till installed from the `.deb` those belong to the package, and only copies an older
//! installer left in `/etc` go); the
//! configuration, the till's key and the state directory stay, so a reinstall picks up
//! where it left off. `--purge` also removes those, and refuses while the outbox still holds
//! events central has not acknowledged, unless `--force` is given as well.
//!
//! On a live till (not under `--root`) the agent is stopped and disabled first
//! (`systemctl stop`, then `systemctl disable`; a unit systemd does not know counts as
//! done), and once the files are gone systemd and udev are told (`systemctl daemon-reload`,
//! `udevadm control --reload`); see [`crate::service`]. A purge counts the outbox before
//! anything is touched (so a refusal leaves the agent running to send its events) and again
//! once the agent is stopped (so a sale made in between is not lost). Under `--root`
//! nothing runs, so those steps are skipped, and the output says so.
//!
//! Order: outbox check → stop → disable → outbox check again → unit, udev, sysusers.d and
//! tmpfiles.d files → (purge) configuration and state directories → systemd and udev
//! reload. Each step is safe to run again: a failed uninstall is finished by running it
//! again.

use std::fmt;
use std::path::PathBuf;

use thiserror::Error;
use tillpass_tillfiles::status::DatabaseState;

use crate::fsops::FsError;
use crate::layout::Layout;
use crate::service::{self, Action};
use crate::system::{CommandError, System};
use crate::system_files::{self, Owner, SystemFiles};

/// The agent's database file inside the state directory.
pub use tillpass_tillfiles::layout::DB_FILE;

/// What `uninstall` is asked to do.
#[derive(Debug, Clone)]
pub struct UninstallOptions {
    /// The till: `/`, or a staged root.
    pub layout: Layout,
    /// Also remove the configuration, the keys and the state directory.
    pub purge: bool,
    /// Purge even while the outbox holds events central has not acknowledged.
    pub force: bool,
    /// Stop and disable the unit before its files go, and reload systemd and udev after:
    /// a live till (`layout.is_live()`). False on a staged root, where nothing runs. (A
    /// field rather than `layout.is_live()` so that tests can run the live steps on a
    /// temporary folder with a recording [`System`].)
    pub service: bool,
}

/// One thing an uninstall did, in the order it did them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Done {
    /// A file or a directory (with everything in it) was removed.
    Removed(PathBuf),
    /// A live-system step: a command ran, was not needed, or was skipped.
    Service(Action),
}

impl fmt::Display for Done {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Done::Removed(path) => write!(f, "removed {}", path.display()),
            Done::Service(action) => action.fmt(f),
        }
    }
}

/// Why an uninstall stopped. What was done before the failing step stays done; running
/// uninstall again continues from there.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum UninstallError {
    /// The outbox holds unsynced events and `--force` was not given.
    #[error(
        "refusing to purge: {0} sale and loyalty events have not reached central yet. Bring \
         the till online until `tillpass status` shows an empty outbox and no rejected \
         events (events central refused stay until central IT re-sends them with `tillpass \
         journal retry`: they are sales central does not have), or copy {1} somewhere safe \
         and purge with --force"
    )]
    Unsynced(i64, String),
    /// The outbox was empty before the agent was stopped, but not after: it wrote events
    /// in between.
    #[error(
        "refusing to purge: {0} sale and loyalty events reached the outbox while the agent \
         was being stopped and have not reached central yet. Nothing was removed, but the \
         agent is now stopped and disabled: start it again with `systemctl enable --now \
         tillpass.service`, wait until `tillpass status` shows an empty outbox and purge \
         again, or copy {1} somewhere safe and purge with --force"
    )]
    UnsyncedAfterStop(i64, String),
    /// The agent could not count the outbox in its database.
    #[error(
        "cannot count the outbox in {path}: {detail}. Nothing was removed; purge with --force \
         only if this till's unsynced sales may be lost"
    )]
    Database {
        /// The database.
        path: String,
        /// Why.
        detail: String,
    },
    /// A live-system step (stopping, disabling, reloading) failed.
    #[error(transparent)]
    Command(#[from] CommandError),
    /// A file could not be removed.
    #[error(transparent)]
    Fs(#[from] FsError),
}

/// How many events wait for central, as the agent counts them (`tillpass status --offline
/// --json`, [`crate::agent::offline_status`]; the installer never reads the agent's
/// tables): 0 when the agent has made no database yet. An agent that cannot be asked, or
/// a database it cannot read, is an error: nothing says the outbox is empty.
pub fn unsynced_events(system: &dyn System, layout: &Layout) -> Result<i64, UninstallError> {
    let path = layout.database();
    if !path.exists() {
        return Ok(0);
    }
    let err = |detail: String| UninstallError::Database {
        path: path.display().to_string(),
        detail,
    };
    let status = crate::agent::offline_status(system, layout).map_err(err)?;
    match (status.database.state, status.outbox) {
        (DatabaseState::Missing, _) => Ok(0),
        (DatabaseState::Intact, Some(outbox)) => Ok(outbox.unsynced()),
        (DatabaseState::Intact, None) => Err(err("the agent did not count it".to_owned())),
        (DatabaseState::Damaged, _) => Err(err(status
            .database
            .problem
            .unwrap_or_else(|| "the agent found it damaged".to_owned()))),
    }
}

/// Removes tillpass from the till `options` names, recording into `done` what it did (also
/// when it fails part way).
pub fn uninstall(
    system: &dyn System,
    options: &UninstallOptions,
    done: &mut Vec<Done>,
) -> Result<(), UninstallError> {
    let layout = &options.layout;
    let check_outbox = options.purge && !options.force;
    if check_outbox {
        let pending = unsynced_events(system, layout)?;
        if pending > 0 {
            return Err(UninstallError::Unsynced(
                pending,
                layout.state_dir().display().to_string(),
            ));
        }
    }
    if options.service {
        live_step(done, |actions| {
            service::stop_and_disable_unit(system, actions)
        })?;
        if check_outbox {
            // Nothing writes to the database any more: this count is final.
            let pending = unsynced_events(system, layout)?;
            if pending > 0 {
                return Err(UninstallError::UnsyncedAfterStop(
                    pending,
                    layout.state_dir().display().to_string(),
                ));
            }
        }
    } else {
        done.push(Done::Service(Action::Skipped(format!(
            "staged below {}: nothing runs there, so stopping and disabling the agent and \
             reloading systemd and udev are left out",
            layout.root().display()
        ))));
    }
    let system_files = SystemFiles::of(layout);
    if system_files.owner == Owner::Package {
        done.push(Done::Service(Action::Skipped(
            "the unit, udev rules, sysusers.d and tmpfiles.d entries in /usr/lib belong to \
             the tillpass package: `apt-get remove tillpass` removes them with the binaries \
             (`apt-get purge tillpass` also the configuration, keys and data)"
                .to_owned(),
        )));
    }
    for file in system_files.files.map(|f| f.installer_path) {
        if system_files.owner == Owner::Package
            && std::fs::read_to_string(&file).is_ok_and(|t| !system_files::written_by_us(&t))
        {
            // Beside the package's files, only our own old copies go.
            continue;
        }
        match std::fs::remove_file(&file) {
            Ok(()) => done.push(Done::Removed(file)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(FsError {
                    action: "removing",
                    path: file,
                    source: e,
                }
                .into());
            }
        }
    }
    if options.purge {
        for dir in [layout.config_dir(), layout.state_dir()] {
            match std::fs::remove_dir_all(&dir) {
                Ok(()) => done.push(Done::Removed(dir)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    return Err(FsError {
                        action: "removing",
                        path: dir,
                        source: e,
                    }
                    .into());
                }
            }
        }
    }
    if options.service {
        live_step(done, |actions| {
            service::forget_unit_and_rules(system, actions)
        })?;
    }
    Ok(())
}

/// Runs a live-system step, recording what it did into `done` whether it fails or not.
fn live_step(
    done: &mut Vec<Done>,
    step: impl FnOnce(&mut Vec<Action>) -> Result<(), CommandError>,
) -> Result<(), CommandError> {
    let mut actions = Vec::new();
    let result = step(&mut actions);
    done.extend(actions.into_iter().map(Done::Service));
    result
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::*;
    use crate::agent::testing::{agent, counted, status_line};
    use crate::fsops::{ensure_dir, ensure_file};
    use crate::system::{Account, Command, HttpAnswer, Output, Recorder};
    use tillpass_tillfiles::status::OfflineStatus;

    /// A till with the four system files, a configuration with the key, and a state
    /// directory.
    fn staged() -> (tempfile::TempDir, Layout) {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::new(dir.path());
        ensure_dir(&layout.config_dir(), 0o750).unwrap();
        ensure_dir(&layout.state_dir(), 0o750).unwrap();
        for file in system_files(&layout) {
            ensure_dir(file.parent().unwrap(), 0o755).unwrap();
            ensure_file(&file, b"ours", 0o644).unwrap();
        }
        ensure_file(&layout.till_key(), b"key", 0o600).unwrap();
        (dir, layout)
    }

    fn system_files(layout: &Layout) -> [PathBuf; 4] {
        [
            layout.unit_file(),
            layout.udev_rules(),
            layout.sysusers(),
            layout.tmpfiles(),
        ]
    }

    fn options(layout: &Layout, purge: bool, force: bool, service: bool) -> UninstallOptions {
        UninstallOptions {
            layout: layout.clone(),
            purge,
            force,
            service,
        }
    }

    fn removed(done: &[Done]) -> Vec<PathBuf> {
        done.iter()
            .filter_map(|d| match d {
                Done::Removed(path) => Some(path.clone()),
                Done::Service(_) => None,
            })
            .collect()
    }

    fn ran(line: &str) -> Done {
        Done::Service(Action::Ran(line.to_owned()))
    }

    /// A [`Recorder`] that also calls `hook` with every command before answering it, to
    /// look at the files at that moment or to change them as the real command would.
    struct Hooked<F: Fn(&Command)> {
        inner: Recorder,
        hook: F,
    }

    impl<F: Fn(&Command)> System for Hooked<F> {
        fn has_program(&self, program: &str) -> bool {
            self.inner.has_program(program)
        }
        fn booted_with_systemd(&self) -> bool {
            self.inner.booted_with_systemd()
        }
        fn udev_running(&self) -> bool {
            self.inner.udev_running()
        }
        fn run(&self, command: &Command) -> std::io::Result<Output> {
            (self.hook)(command);
            self.inner.run(command)
        }
        fn http_get(
            &self,
            url: &str,
            headers: &[(&str, String)],
            timeout: Duration,
        ) -> Result<HttpAnswer, String> {
            self.inner.http_get(url, headers, timeout)
        }
        fn user(&self, name: &str) -> Option<Account> {
            self.inner.user(name)
        }
        fn group(&self, name: &str) -> Option<u32> {
            self.inner.group(name)
        }
        fn now(&self) -> Instant {
            self.inner.now()
        }
        fn pause(&self, duration: Duration) {
            self.inner.pause(duration);
        }
    }

    #[test]
    fn a_live_uninstall_stops_and_disables_before_removing_and_reloads_after() {
        let (_dir, layout) = staged();
        let files = system_files(&layout);
        let system = Hooked {
            inner: Recorder::new(),
            hook: |command: &Command| {
                let all_there = files.iter().all(|f| f.exists());
                let none_there = files.iter().all(|f| !f.exists());
                match command.line().as_str() {
                    "systemctl stop tillpass.service" | "systemctl disable tillpass.service" => {
                        assert!(all_there, "{command} runs before any file is removed");
                    }
                    "systemctl daemon-reload" | "udevadm control --reload" => {
                        assert!(none_there, "{command} runs once every file is removed");
                    }
                    other => panic!("unexpected command {other}"),
                }
            },
        };
        let mut done = Vec::new();
        uninstall(&system, &options(&layout, false, false, true), &mut done).unwrap();
        assert_eq!(
            system.inner.lines(),
            vec![
                "systemctl stop tillpass.service",
                "systemctl disable tillpass.service",
                "systemctl daemon-reload",
                "udevadm control --reload",
            ]
        );
        let mut expected = vec![
            ran("systemctl stop tillpass.service"),
            ran("systemctl disable tillpass.service"),
        ];
        expected.extend(system_files(&layout).into_iter().map(Done::Removed));
        expected.push(ran("systemctl daemon-reload"));
        expected.push(ran("udevadm control --reload"));
        assert_eq!(done, expected);
        // Without --purge the data stays.
        assert!(layout.till_key().exists());
        assert!(layout.state_dir().exists());
    }

    #[test]
    fn a_unit_systemd_does_not_know_counts_as_stopped_and_disabled() {
        let (_dir, layout) = staged();
        let system = Recorder::new();
        system.answer(
            "systemctl stop",
            vec![Output::failed(
                5,
                "Failed to stop tillpass.service: Unit tillpass.service not loaded.",
            )],
        );
        system.answer(
            "systemctl disable",
            vec![Output::failed(
                1,
                "Failed to disable unit: Unit file tillpass.service does not exist.",
            )],
        );
        let mut done = Vec::new();
        uninstall(&system, &options(&layout, false, false, true), &mut done).unwrap();
        assert_eq!(
            done[..2],
            [
                Done::Service(Action::AlreadyDone(
                    "tillpass.service is not loaded: nothing to stop".to_owned()
                )),
                Done::Service(Action::AlreadyDone(
                    "tillpass.service has no unit file: nothing to disable".to_owned()
                )),
            ]
        );
        assert_eq!(removed(&done), system_files(&layout));
        assert_eq!(
            system.lines()[2..],
            ["systemctl daemon-reload", "udevadm control --reload"]
        );
    }

    #[test]
    fn a_failing_stop_names_step_command_output_and_what_to_do_and_removes_nothing() {
        let (_dir, layout) = staged();
        let system = Recorder::new();
        agent(&system, &layout, &[0]);
        system.answer(
            "systemctl stop",
            vec![Output::failed(
                1,
                "Failed to stop tillpass.service: Interactive authentication required.\n\
                 See system logs and 'systemctl status tillpass.service' for details.\n",
            )],
        );
        let mut done = Vec::new();
        let err = uninstall(&system, &options(&layout, true, false, true), &mut done).unwrap_err();
        let text = err.to_string();
        assert!(matches!(err, UninstallError::Command(_)), "{text}");
        assert!(
            text.starts_with(
                "stopping the agent: `systemctl stop tillpass.service` exited with status 1: \
                 Failed to stop tillpass.service: Interactive authentication required. / See \
                 system logs"
            ),
            "{text}"
        );
        assert!(text.contains("Nothing was removed."), "{text}");
        assert!(text.contains("then run uninstall again"), "{text}");
        assert_eq!(
            system.lines(),
            vec![
                status_line(&layout),
                "systemctl stop tillpass.service".to_owned()
            ]
        );
        assert!(done.is_empty(), "{done:?}");
        for file in system_files(&layout) {
            assert!(file.exists(), "{} kept", file.display());
        }
        assert!(layout.state_dir().join(DB_FILE).exists());
        assert!(layout.till_key().exists());
    }

    #[test]
    fn a_failing_reload_says_everything_else_is_done() {
        let (_dir, layout) = staged();
        let system = Recorder::new();
        system.answer(
            "systemctl daemon-reload",
            vec![Output::failed(1, "Failed to reload daemon: Access denied")],
        );
        let mut done = Vec::new();
        let err = uninstall(&system, &options(&layout, false, false, true), &mut done)
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with(
                "reloading systemd after removing the unit: `systemctl daemon-reload` exited \
                 with status 1: Failed to reload daemon: Access denied. Everything else is \
                 removed."
            ),
            "{err}"
        );
        assert!(err.contains("`udevadm control --reload` by hand"), "{err}");
        assert_eq!(removed(&done), system_files(&layout));
        assert_eq!(system.lines().last().unwrap(), "systemctl daemon-reload");
    }

    #[test]
    fn under_root_no_command_runs_and_the_output_says_why() {
        let (dir, layout) = staged();
        let system = Recorder::new();
        let mut done = Vec::new();
        uninstall(&system, &options(&layout, false, false, false), &mut done).unwrap();
        assert!(system.lines().is_empty(), "{:?}", system.lines());
        assert_eq!(
            done[0].to_string(),
            format!(
                "skipped staged below {}: nothing runs there, so stopping and disabling the \
                 agent and reloading systemd and udev are left out",
                dir.path().display()
            )
        );
        assert_eq!(removed(&done), system_files(&layout));
        assert_eq!(done.len(), 5);
    }

    #[test]
    fn a_live_till_without_systemd_or_udevadm_skips_those_steps() {
        let (_dir, layout) = staged();
        let system = Recorder::new().without_systemd().without_program("udevadm");
        let mut done = Vec::new();
        uninstall(&system, &options(&layout, false, false, true), &mut done).unwrap();
        assert!(system.lines().is_empty(), "{:?}", system.lines());
        let skipped: Vec<String> = done
            .iter()
            .filter(|d| matches!(d, Done::Service(Action::Skipped(_))))
            .map(ToString::to_string)
            .collect();
        assert_eq!(skipped.len(), 3, "{skipped:?}");
        assert!(skipped[0].contains("does not run systemd"), "{skipped:?}");
        assert!(skipped[2].contains("udevadm not found"), "{skipped:?}");
        assert_eq!(removed(&done), system_files(&layout));
    }

    #[test]
    fn without_purge_data_and_keys_stay() {
        let (_dir, layout) = staged();
        let mut done = Vec::new();
        uninstall(
            &Recorder::new(),
            &options(&layout, false, false, false),
            &mut done,
        )
        .unwrap();
        assert_eq!(removed(&done), system_files(&layout));
        assert!(!layout.unit_file().exists());
        assert!(layout.till_key().exists());
        assert!(layout.state_dir().exists());
    }

    #[test]
    fn purge_refuses_while_events_are_unsynced_unless_forced() {
        let (_dir, layout) = staged();
        let system = Recorder::new();
        // Two pending and one central rejected: all three are sales central lacks.
        agent(&system, &layout, &[3]);
        let mut done = Vec::new();
        let err = uninstall(&system, &options(&layout, true, false, true), &mut done).unwrap_err();
        assert!(matches!(err, UninstallError::Unsynced(3, _)), "{err}");
        assert!(layout.unit_file().exists(), "nothing removed on refusal");
        assert!(layout.state_dir().join(DB_FILE).exists());
        assert_eq!(
            system.lines(),
            vec![status_line(&layout)],
            "the agent keeps running to send its events"
        );
        assert!(done.is_empty());
        uninstall(&system, &options(&layout, true, true, true), &mut done).unwrap();
        assert!(!layout.state_dir().exists());
        assert!(!layout.config_dir().exists());
        assert_eq!(system.lines().len(), 5, "--force asks the agent nothing");
    }

    #[test]
    fn events_written_while_the_agent_stops_still_block_the_purge() {
        let (_dir, layout) = staged();
        let system = Recorder::new();
        // The last sale commits while systemd stops the agent: the second count sees it.
        agent(&system, &layout, &[0, 1]);
        let mut done = Vec::new();
        let err = uninstall(&system, &options(&layout, true, false, true), &mut done).unwrap_err();
        let text = err.to_string();
        assert!(
            matches!(err, UninstallError::UnsyncedAfterStop(1, _)),
            "{text}"
        );
        assert!(
            text.contains("systemctl enable --now tillpass.service"),
            "{text}"
        );
        assert_eq!(
            system.lines(),
            vec![
                status_line(&layout),
                "systemctl stop tillpass.service".to_owned(),
                "systemctl disable tillpass.service".to_owned(),
                status_line(&layout),
            ]
        );
        assert!(removed(&done).is_empty(), "{done:?}");
        assert!(layout.unit_file().exists());
        assert!(layout.state_dir().join(DB_FILE).exists());
    }

    #[test]
    fn the_outbox_is_counted_by_the_agent_of_the_till_on_its_own_files() {
        let (_dir, layout) = staged();
        let system = Recorder::new();
        agent(&system, &layout, &[0]);
        assert_eq!(unsynced_events(&system, &layout).unwrap(), 0);
        let calls = system.calls();
        let [call] = calls.as_slice() else {
            panic!("one command: {calls:?}")
        };
        assert_eq!(call.program, layout.agent_binary().display().to_string());
        assert_eq!(call.args, ["status", "--offline", "--json"]);
        // Staged: the agent reads the root's files, not the machine's.
        assert!(
            call.env.contains(&(
                "TILLPASS_STORE_DATA_DIR".to_owned(),
                layout.state_dir().display().to_string()
            )),
            "{:?}",
            call.env
        );
    }

    #[test]
    fn an_outbox_nobody_can_count_blocks_the_purge() {
        // A database but no agent to ask.
        let (_dir, layout) = staged();
        ensure_file(&layout.database(), b"the agent's own", 0o600).unwrap();
        let system = Recorder::new();
        let mut done = Vec::new();
        let err = uninstall(&system, &options(&layout, true, false, true), &mut done).unwrap_err();
        let text = err.to_string();
        assert!(matches!(err, UninstallError::Database { .. }), "{text}");
        assert!(text.contains("there is no agent binary"), "{text}");
        assert!(text.contains("purge with --force"), "{text}");
        assert!(system.lines().is_empty() && done.is_empty());

        // An agent that finds its database damaged.
        let system = Recorder::new();
        agent(&system, &layout, &[0]);
        let mut status: OfflineStatus = serde_json::from_str(&counted(&layout, 0).stdout).unwrap();
        status.database.state = DatabaseState::Damaged;
        status.database.problem = Some("database disk image is malformed".to_owned());
        status.outbox = None;
        system.answer(
            &status_line(&layout),
            vec![Output::ok(&serde_json::to_string(&status).unwrap())],
        );
        assert!(
            !layout.config_file().exists(),
            "the line the agent is asked with"
        );
        let err = uninstall(&system, &options(&layout, true, false, true), &mut done).unwrap_err();
        assert!(
            err.to_string().contains("database disk image is malformed"),
            "{err}"
        );

        // An agent that answers no status at all (older than `status --offline`).
        let system = Recorder::new();
        system.answer(
            &status_line(&layout),
            vec![Output::failed(2, "error: unexpected argument '--offline'")],
        );
        let err = unsynced_events(&system, &layout).unwrap_err().to_string();
        assert!(err.contains("answered no status"), "{err}");
        assert!(layout.unit_file().exists() && layout.state_dir().exists());
    }

    #[test]
    fn purge_of_a_synced_till_removes_everything_and_then_reloads() {
        let (_dir, layout) = staged();
        let system = Recorder::new();
        agent(&system, &layout, &[0]);
        let mut done = Vec::new();
        uninstall(&system, &options(&layout, true, false, true), &mut done).unwrap();
        assert!(!layout.state_dir().exists());
        assert!(!layout.config_dir().exists());
        let mut expected = system_files(&layout).to_vec();
        expected.extend([layout.config_dir(), layout.state_dir()]);
        assert_eq!(removed(&done), expected);
        assert_eq!(
            done.last().unwrap(),
            &ran("udevadm control --reload"),
            "the reloads come last"
        );
        // A second run finds everything done.
        let mut again = Vec::new();
        uninstall(&system, &options(&layout, true, false, true), &mut again).unwrap();
        assert!(removed(&again).is_empty());
    }

    #[test]
    fn with_udev_installed_but_not_running_uninstall_finishes_and_says_why() {
        let (_dir, layout) = staged();
        let system = Recorder::new().without_udevd();
        let mut done = Vec::new();
        uninstall(&system, &options(&layout, false, false, true), &mut done).unwrap();
        assert!(
            !system.lines().iter().any(|l| l.starts_with("udevadm")),
            "{:?}",
            system.lines()
        );
        assert!(
            done.iter().any(|d| matches!(d,
                Done::Service(Action::Skipped(why)) if why.contains("udevd is not running"))),
            "{done:?}"
        );
        assert_eq!(removed(&done), system_files(&layout));
    }

    #[test]
    fn beside_the_package_only_our_old_copies_in_etc_go() {
        let (_dir, layout) = staged();
        // staged() wrote "ours" in /etc; make two of them ours, as an older installer
        // wrote them, and leave the other two as an operator's files.
        ensure_file(&layout.unit_file(), crate::assets::UNIT.as_bytes(), 0o644).unwrap();
        ensure_file(
            &layout.sysusers(),
            crate::assets::SYSUSERS.as_bytes(),
            0o644,
        )
        .unwrap();
        for file in [
            layout.package_unit_file(),
            layout.package_udev_rules(),
            layout.package_sysusers(),
            layout.package_tmpfiles(),
        ] {
            ensure_dir(file.parent().unwrap(), 0o755).unwrap();
            ensure_file(&file, b"# tillpass: the package's\n", 0o644).unwrap();
        }
        let system = Recorder::new();
        let mut done = Vec::new();
        uninstall(&system, &options(&layout, false, false, true), &mut done).unwrap();
        assert_eq!(removed(&done), vec![layout.unit_file(), layout.sysusers()]);
        assert!(layout.udev_rules().exists() && layout.tmpfiles().exists());
        assert!(
            layout.package_unit_file().exists(),
            "the package removes its own"
        );
        assert!(
            done.iter().any(|d| matches!(d,
                Done::Service(Action::Skipped(why)) if why.contains("apt-get remove tillpass"))),
            "{done:?}"
        );
    }
}
