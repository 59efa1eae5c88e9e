//! The live-system steps (only on `/`, never on a staged `--root`). For `install`: the
//! service user and group, ownership of the configuration and state directories, udev,
//! systemd, and starting the agent until its `/readyz` answers. For `uninstall`: stopping
//! and disabling the unit before its files go, and reloading systemd and udev after.
//!
//! Every step goes through [`System`], so a test can check their order and arguments with
//! `crate::system::Recorder` (test builds only); that is the only test they have, because
//! the machines this project is tested on do not run systemd as PID 1. Every failed
//! command is explained: what the step was for, the command line, its output, and what to
//! do.

use std::fmt;
use std::time::Duration;

use thiserror::Error;

use crate::agent;
use crate::layout::Layout;
use crate::system::{self, Command, CommandError, Output, System};
use crate::system_files::SystemFiles;

/// The unit's name.
pub const UNIT: &str = "tillpass.service";
/// The service user and its group.
pub const SERVICE_USER: &str = "tillpass";
/// The groups the unit adds (`SupplementaryGroups=`), where scanners outside our udev
/// rules usually belong.
pub const SUPPLEMENTARY_GROUPS: [&str; 2] = ["dialout", "input"];

/// What to look at when the agent does not come up.
pub const JOURNAL_HINT: &str =
    "see why with `journalctl -u tillpass -n 50 --no-pager` and `systemctl status tillpass`";

/// Why a udev reload is skipped where udev is installed but udevd does not run.
const UDEVD_NOT_RUNNING: &str = "udev reload: udevd is not running here (no /run/udev/control); \
                                 it reads the rules when it starts";

/// One live step and how it went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// A command ran.
    Ran(String),
    /// Nothing needed doing.
    AlreadyDone(String),
    /// Not possible or not wanted here, and why.
    Skipped(String),
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Action::Ran(what) => write!(f, "ran     {what}"),
            Action::AlreadyDone(what) => write!(f, "ok      {what}"),
            Action::Skipped(why) => write!(f, "skipped {why}"),
        }
    }
}

/// Why a live step stopped the install.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ServiceError {
    /// A command failed.
    #[error(transparent)]
    Command(#[from] CommandError),
    /// systemd does not run this machine.
    #[error(
        "this machine does not run systemd (no /run/systemd/system), so the agent cannot be \
         started as a service: the files are installed; start `tillpass run` by other means, \
         or stage an image with --root DIR"
    )]
    NoSystemd,
    /// The configuration names no usable listen address.
    #[error("cannot tell where the agent listens: {0}")]
    Listen(String),
    /// The agent started but `/readyz` never answered 200.
    #[error("the agent did not become ready within {secs}s ({last}); {JOURNAL_HINT}")]
    NotReady {
        /// The deadline.
        secs: u64,
        /// The last thing seen.
        last: String,
    },
}

fn run(
    system: &dyn System,
    step: &str,
    program: &str,
    args: &[&str],
    hint: &str,
    actions: &mut Vec<Action>,
) -> Result<(), CommandError> {
    let command = Command::new(program, args);
    system::run_checked(system, step, &command, hint)?;
    actions.push(Action::Ran(command.line()));
    Ok(())
}

fn exists(system: &dyn System, database: &str, name: &str) -> bool {
    system
        .run(&Command::new("getent", &[database, name]))
        .is_ok_and(|o| o.success())
}

/// Creates the service user and group: with `systemd-sysusers` and our sysusers.d entry,
/// or with `groupadd`/`useradd`/`usermod` where that is missing.
pub fn ensure_service_user(
    system: &dyn System,
    layout: &Layout,
    actions: &mut Vec<Action>,
) -> Result<(), CommandError> {
    if exists(system, "passwd", SERVICE_USER) {
        actions.push(Action::AlreadyDone(format!(
            "service user {SERVICE_USER} exists"
        )));
        return Ok(());
    }
    let step = "creating the service user";
    if system.has_program("systemd-sysusers") {
        let conf = SystemFiles::of(layout)
            .sysusers()
            .path
            .display()
            .to_string();
        return run(
            system,
            step,
            "systemd-sysusers",
            &[&conf],
            "check the entry in that file and `journalctl -t systemd-sysusers`",
            actions,
        );
    }
    let hint = "create the user and group `tillpass` by hand (see the sysusers.d entry \
                tillpass.conf), then run install again";
    if !exists(system, "group", SERVICE_USER) {
        run(
            system,
            step,
            "groupadd",
            &["--system", SERVICE_USER],
            hint,
            actions,
        )?;
    }
    run(
        system,
        step,
        "useradd",
        &[
            "--system",
            "--gid",
            SERVICE_USER,
            "--home-dir",
            "/var/lib/tillpass",
            "--no-create-home",
            "--shell",
            "/usr/sbin/nologin",
            "--comment",
            "tillpass loyalty agent",
            SERVICE_USER,
        ],
        hint,
        actions,
    )?;
    for group in SUPPLEMENTARY_GROUPS {
        if exists(system, "group", group) {
            run(
                system,
                step,
                "usermod",
                &["--append", "--groups", group, SERVICE_USER],
                hint,
                actions,
            )?;
        }
    }
    Ok(())
}

/// Gives the configuration to `root:tillpass` (the agent reads it; only root changes it)
/// and the state directory to the service user. The key and token stay `root` 0600:
/// systemd hands them to the agent as credentials.
pub fn fix_ownership(
    system: &dyn System,
    layout: &Layout,
    actions: &mut Vec<Action>,
) -> Result<(), CommandError> {
    let step = "giving the files to the service user";
    let hint = "check that the file system is writable and the user `tillpass` exists";
    let group = format!("root:{SERVICE_USER}");
    let config_dir = layout.config_dir().display().to_string();
    let config = layout.config_file().display().to_string();
    run(
        system,
        step,
        "chown",
        &[&group, &config_dir, &config],
        hint,
        actions,
    )?;
    let owner = format!("{SERVICE_USER}:{SERVICE_USER}");
    let state = layout.state_dir().display().to_string();
    run(
        system,
        step,
        "chown",
        &["-R", &owner, &state],
        hint,
        actions,
    )
}

/// Loads the udev rules and applies them to the scanners already plugged in.
pub fn reload_udev(system: &dyn System, actions: &mut Vec<Action>) -> Result<(), CommandError> {
    if !system.has_program("udevadm") {
        actions.push(Action::Skipped(
            "udev reload: udevadm not found; scanners get group tillpass when replugged or \
             at the next boot"
                .to_owned(),
        ));
        return Ok(());
    }
    if !system.udev_running() {
        actions.push(Action::Skipped(UDEVD_NOT_RUNNING.to_owned()));
        return Ok(());
    }
    let hint = "check the rules with `udevadm verify 70-tillpass-scanners.rules` (or `udevadm \
                test`), then replug the scanner";
    run(
        system,
        "loading the scanner udev rules",
        "udevadm",
        &["control", "--reload"],
        hint,
        actions,
    )?;
    run(
        system,
        "applying the scanner udev rules",
        "udevadm",
        &[
            "trigger",
            "--action=add",
            "--subsystem-match=tty",
            "--subsystem-match=hidraw",
            "--subsystem-match=input",
        ],
        hint,
        actions,
    )
}

/// Reloads systemd, enables the unit and (re)starts it: restarted when `changed` (the
/// install changed a file the running agent read), started otherwise (a no-op when it
/// runs).
pub fn start_unit(
    system: &dyn System,
    changed: bool,
    actions: &mut Vec<Action>,
) -> Result<(), ServiceError> {
    if !system.booted_with_systemd() {
        return Err(ServiceError::NoSystemd);
    }
    let hint = "check the unit with `systemd-analyze verify tillpass.service`";
    run(
        system,
        "reloading systemd",
        "systemctl",
        &["daemon-reload"],
        hint,
        actions,
    )?;
    run(
        system,
        "enabling the agent at boot",
        "systemctl",
        &["enable", UNIT],
        hint,
        actions,
    )?;
    let verb = if changed { "restart" } else { "start" };
    run(
        system,
        "starting the agent",
        "systemctl",
        &[verb, UNIT],
        JOURNAL_HINT,
        actions,
    )?;
    Ok(())
}

/// Whether `systemctl stop` answered that systemd does not know the unit (exit 5, "Unit
/// tillpass.service not loaded."): nothing runs, so there is nothing to stop.
fn not_loaded(output: &Output) -> bool {
    output.code == Some(5) || output.stderr.contains("not loaded")
}

/// Whether `systemctl disable` answered that the unit file is gone ("Unit file
/// tillpass.service does not exist.", or "No such file or directory" from older systemd):
/// it is not enabled anywhere, so there is nothing to disable.
fn no_unit_file(output: &Output) -> bool {
    output.stderr.contains("does not exist") || output.stderr.contains("No such file or directory")
}

/// Runs `systemctl <verb> tillpass.service` for `step`; an answer `gone` recognises means
/// the unit is already out of the way and is recorded as `already`.
fn systemctl_unless_gone(
    system: &dyn System,
    step: &str,
    verb: &str,
    hint: &str,
    gone: fn(&Output) -> bool,
    already: &str,
    actions: &mut Vec<Action>,
) -> Result<(), CommandError> {
    let command = Command::new("systemctl", &[verb, UNIT]);
    let result = system.run(&command);
    if result
        .as_ref()
        .is_ok_and(|output| !output.success() && gone(output))
    {
        actions.push(Action::AlreadyDone(already.to_owned()));
        return Ok(());
    }
    system::explain(step, &command, hint, result)?;
    actions.push(Action::Ran(command.line()));
    Ok(())
}

/// First step of a live uninstall, before any file is removed: stops the agent and
/// disables it at boot. A unit systemd does not know (never installed, or a re-run after
/// an uninstall) counts as already stopped and disabled; a machine without systemd has
/// nothing to stop.
pub fn stop_and_disable_unit(
    system: &dyn System,
    actions: &mut Vec<Action>,
) -> Result<(), CommandError> {
    if !system.booted_with_systemd() {
        actions.push(Action::Skipped(
            "stopping and disabling the agent: this machine does not run systemd (no \
             /run/systemd/system); stop a `tillpass run` started by other means yourself"
                .to_owned(),
        ));
        return Ok(());
    }
    systemctl_unless_gone(
        system,
        "stopping the agent",
        "stop",
        &format!(
            "Nothing was removed. See why with `systemctl status {UNIT}` and `journalctl -u \
             tillpass -n 50 --no-pager`; stop it by hand (`systemctl kill {UNIT}` if it \
             hangs), then run uninstall again"
        ),
        not_loaded,
        &format!("{UNIT} is not loaded: nothing to stop"),
        actions,
    )?;
    systemctl_unless_gone(
        system,
        "disabling the agent at boot",
        "disable",
        &format!(
            "The agent is stopped; nothing was removed. Disable it by hand with `systemctl \
             disable {UNIT}`, then run uninstall again"
        ),
        no_unit_file,
        &format!("{UNIT} has no unit file: nothing to disable"),
        actions,
    )
}

/// Last step of a live uninstall, after the unit, udev rules, sysusers.d and tmpfiles.d
/// files are removed: `systemctl daemon-reload` so systemd forgets the unit, and `udevadm
/// control --reload` so udev forgets the scanner rules. Each is skipped, and says why, where
/// its program does not run this machine.
pub fn forget_unit_and_rules(
    system: &dyn System,
    actions: &mut Vec<Action>,
) -> Result<(), CommandError> {
    if system.booted_with_systemd() {
        run(
            system,
            "reloading systemd after removing the unit",
            "systemctl",
            &["daemon-reload"],
            "Everything else is removed. Run `systemctl daemon-reload` and `udevadm control \
             --reload` by hand so systemd and udev forget tillpass",
            actions,
        )?;
    } else {
        actions.push(Action::Skipped(
            "systemd reload: this machine does not run systemd".to_owned(),
        ));
    }
    if system.has_program("udevadm") && !system.udev_running() {
        actions.push(Action::Skipped(UDEVD_NOT_RUNNING.to_owned()));
    } else if system.has_program("udevadm") {
        run(
            system,
            "reloading udev after removing the scanner rules",
            "udevadm",
            &["control", "--reload"],
            "Everything else is removed. Run `udevadm control --reload` by hand (or reboot) \
             so udev forgets the scanner rules",
            actions,
        )?;
    } else {
        actions.push(Action::Skipped(
            "udev reload: udevadm not found; udev forgets the scanner rules at the next boot"
                .to_owned(),
        ));
    }
    Ok(())
}

/// Waits for the agent's `/readyz` (at the address its configuration names) to answer 200.
pub fn wait_ready(
    system: &dyn System,
    layout: &Layout,
    timeout: Duration,
    actions: &mut Vec<Action>,
) -> Result<(), ServiceError> {
    let addr = agent::listen_address(&layout.config_file()).map_err(ServiceError::Listen)?;
    let url = agent::readyz_url(addr);
    agent::wait_ready(system, &url, timeout).map_err(|last| ServiceError::NotReady {
        secs: timeout.as_secs(),
        last,
    })?;
    actions.push(Action::Ran(format!("{url} answered: the agent is ready")));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::system::{Account, HttpAnswer, Output, Recorder};

    fn layout() -> (tempfile::TempDir, Layout) {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::new(dir.path());
        (dir, layout)
    }

    #[test]
    fn sysusers_creates_the_user_when_it_is_missing_and_a_rerun_does_nothing() {
        let (_dir, layout) = layout();
        let system = Recorder::new();
        let mut actions = Vec::new();
        ensure_service_user(&system, &layout, &mut actions).unwrap();
        assert_eq!(
            system.lines(),
            vec![
                "getent passwd tillpass".to_owned(),
                format!("systemd-sysusers {}", layout.sysusers().display()),
            ]
        );
        let system = Recorder::new().with_user("tillpass", Account { uid: 990, gid: 990 });
        let mut actions = Vec::new();
        ensure_service_user(&system, &layout, &mut actions).unwrap();
        assert_eq!(system.lines(), vec!["getent passwd tillpass"]);
        assert!(matches!(actions.as_slice(), [Action::AlreadyDone(_)]));
    }

    #[test]
    fn without_sysusers_useradd_makes_the_user_and_joins_existing_groups() {
        let (_dir, layout) = layout();
        let system = Recorder::new()
            .without_program("systemd-sysusers")
            .with_group("dialout", 20);
        let mut actions = Vec::new();
        ensure_service_user(&system, &layout, &mut actions).unwrap();
        let lines = system.lines();
        let ran: Vec<&str> = lines
            .iter()
            .map(String::as_str)
            .filter(|l| !l.starts_with("getent"))
            .collect();
        assert_eq!(
            ran,
            vec![
                "groupadd --system tillpass",
                "useradd --system --gid tillpass --home-dir /var/lib/tillpass \
                 --no-create-home --shell /usr/sbin/nologin --comment 'tillpass loyalty agent' \
                 tillpass",
                "usermod --append --groups dialout tillpass",
            ]
        );
    }

    #[test]
    fn a_failing_useradd_is_explained() {
        let (_dir, layout) = layout();
        let system = Recorder::new().without_program("systemd-sysusers");
        system.answer(
            "useradd",
            vec![Output::failed(
                10,
                "useradd: cannot lock /etc/passwd; try again later.",
            )],
        );
        let err = ensure_service_user(&system, &layout, &mut Vec::new())
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("creating the service user: `useradd"),
            "{err}"
        );
        assert!(err.contains("exited with status 10"), "{err}");
        assert!(err.contains("cannot lock /etc/passwd"), "{err}");
        assert!(err.contains("create the user and group"), "{err}");
    }

    #[test]
    fn ownership_udev_and_systemd_steps_run_in_order() {
        let (_dir, layout) = layout();
        let system = Recorder::new();
        let mut actions = Vec::new();
        fix_ownership(&system, &layout, &mut actions).unwrap();
        reload_udev(&system, &mut actions).unwrap();
        start_unit(&system, true, &mut actions).unwrap();
        let root = layout.root().display().to_string();
        assert_eq!(
            system.lines(),
            vec![
                format!("chown root:tillpass {root}/etc/tillpass {root}/etc/tillpass/config.toml"),
                format!("chown -R tillpass:tillpass {root}/var/lib/tillpass"),
                "udevadm control --reload".to_owned(),
                "udevadm trigger --action=add --subsystem-match=tty --subsystem-match=hidraw \
                 --subsystem-match=input"
                    .to_owned(),
                "systemctl daemon-reload".to_owned(),
                "systemctl enable tillpass.service".to_owned(),
                "systemctl restart tillpass.service".to_owned(),
            ]
        );
        assert_eq!(actions.len(), 7);
        let system = Recorder::new();
        start_unit(&system, false, &mut Vec::new()).unwrap();
        assert_eq!(
            system.lines().last().unwrap(),
            "systemctl start tillpass.service"
        );
    }

    #[test]
    fn without_udevadm_the_reload_is_skipped_and_without_systemd_start_is_refused() {
        let system = Recorder::new().without_program("udevadm").without_systemd();
        let mut actions = Vec::new();
        reload_udev(&system, &mut actions).unwrap();
        assert!(matches!(actions.as_slice(), [Action::Skipped(_)]));
        let err = start_unit(&system, false, &mut actions).unwrap_err();
        assert!(matches!(err, ServiceError::NoSystemd), "{err}");
        assert!(system.lines().is_empty());
    }

    #[test]
    fn with_udevd_not_running_the_reload_is_skipped_not_failed() {
        let system = Recorder::new().without_udevd();
        let mut actions = Vec::new();
        reload_udev(&system, &mut actions).unwrap();
        forget_unit_and_rules(&system, &mut actions).unwrap();
        assert_eq!(system.lines(), vec!["systemctl daemon-reload"]);
        assert!(
            matches!(&actions[..], [Action::Skipped(a), Action::Ran(_), Action::Skipped(b)]
                if a.contains("udevd is not running") && b.contains("udevd is not running")),
            "{actions:?}"
        );
    }

    #[test]
    fn a_unit_that_fails_to_start_points_at_the_journal() {
        let system = Recorder::new();
        system.answer(
            "systemctl start",
            vec![Output::failed(
                1,
                "Job for tillpass.service failed because the control process exited with error code.",
            )],
        );
        let err = start_unit(&system, false, &mut Vec::new())
            .unwrap_err()
            .to_string();
        assert!(err.contains("journalctl -u tillpass"), "{err}");
        assert!(err.contains("control process exited"), "{err}");
    }

    #[test]
    fn readiness_is_awaited_at_the_configured_address_with_a_deadline() {
        let (_dir, layout) = layout();
        crate::fsops::ensure_dir(&layout.config_dir(), 0o750).unwrap();
        std::fs::write(layout.config_file(), "[api]\nlisten = \"127.0.0.1:7311\"\n").unwrap();
        let system = Recorder::new();
        let url = "http://127.0.0.1:7311/readyz";
        system.answer_http(
            url,
            vec![
                Err("connection refused".to_owned()),
                Ok(HttpAnswer {
                    status: 503,
                    body: "starting".to_owned(),
                }),
                Ok(HttpAnswer {
                    status: 200,
                    body: "{\"ready\":true}".to_owned(),
                }),
            ],
        );
        let mut actions = Vec::new();
        wait_ready(&system, &layout, Duration::from_secs(60), &mut actions).unwrap();
        assert!(actions[0].to_string().contains(url));

        let never = Recorder::new();
        never.answer_http(url, vec![Err("connection refused".to_owned())]);
        let err = wait_ready(&never, &layout, Duration::from_secs(60), &mut actions)
            .unwrap_err()
            .to_string();
        assert!(err.contains("within 60s"), "{err}");
        assert!(err.contains("connection refused"), "{err}");
        assert!(err.contains("journalctl -u tillpass"), "{err}");
        assert!(never.elapsed() >= Duration::from_secs(60));
    }
}
