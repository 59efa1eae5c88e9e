//! `tillpass-install doctor`: looks at an installed till and says what is wrong and what to
//! do about it.
//!
//! Each check is a small function returning [`Finding`]s; none of them changes anything.
//! Checks that need a live system (the unit's state) say "skipped" on a staged root
//! instead of guessing.
//!
//! - this module: system files (where their owner keeps them: the package's in
//!   `/usr/lib`, or the installer's in `/etc`), the never-enrolled till, secrets and their
//!   modes, configuration, disk space, the database's integrity (as the agent reports it,
//!   `tillpass status --offline`), the unit's state;
//! - [`readiness`]: what the agent's `/readyz` needs — enrolment, a trust list, a catalog —
//!   and the outbox: events waiting for central, and events central rejected;
//! - [`scanners`]: the configured scanners' devices and the service user's access;
//! - [`central`]: central reachable, and the clock against central's signed time.

pub mod central;
pub mod readiness;
pub mod scanners;

use std::fmt;
use std::path::Path;

use tillpass_tillfiles::status::{DatabaseState, OfflineStatus};

use crate::fsops::mode_of;
use crate::keys;
use crate::layout::Layout;
use crate::service::{JOURNAL_HINT, UNIT};
use crate::system::{Command, System};
use crate::system_files::{Owner, SystemFile, SystemFiles};

/// How a check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Status {
    /// All is well.
    Ok,
    /// Not possible to check here (for example on a staged root).
    Skipped,
    /// Works, but will cause trouble.
    Warn,
    /// Broken: the till cannot work properly until it is fixed.
    Fail,
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(match self {
            Status::Ok => "ok",
            Status::Skipped => "skipped",
            Status::Warn => "WARN",
            Status::Fail => "FAIL",
        })
    }
}

/// The outcome of one check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// A short stable name, e.g. `key-mode`.
    pub check: &'static str,
    /// How it came out.
    pub status: Status,
    /// What was seen.
    pub detail: String,
    /// What to do about it, for anything but `Ok`.
    pub fix: Option<String>,
}

impl Finding {
    pub(crate) fn ok(check: &'static str, detail: impl Into<String>) -> Finding {
        Finding {
            check,
            status: Status::Ok,
            detail: detail.into(),
            fix: None,
        }
    }

    pub(crate) fn bad(
        check: &'static str,
        status: Status,
        detail: impl Into<String>,
        fix: impl Into<String>,
    ) -> Finding {
        Finding {
            check,
            status,
            detail: detail.into(),
            fix: Some(fix.into()),
        }
    }
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{:>7}] {}: {}", self.status, self.check, self.detail)?;
        if let Some(fix) = &self.fix {
            write!(f, "\n          → {fix}")?;
        }
        Ok(())
    }
}

/// Whether any finding is a failure.
pub fn has_failures(findings: &[Finding]) -> bool {
    findings.iter().any(|f| f.status == Status::Fail)
}

/// Every check: the files, the scanners, central and the clock, the unit. On a till never
/// enrolled (a fresh install from the package) only the system files and the disk are
/// checked, and the enrolment is the next step, not a failure.
pub fn check_all(layout: &Layout, system: &dyn System) -> Vec<Finding> {
    if never_enrolled(layout) {
        let mut findings = check_system_files(layout);
        findings.push(Finding::bad(
            "enrolment",
            Status::Warn,
            format!(
                "this till is not enrolled yet: no key, configuration or enrolment record \
                 in {} and {}",
                layout.config_dir().display(),
                layout.state_dir().display()
            ),
            "enrol it with the one-time code central IT made for it: `tillpass-install \
             install --central URL --enrol CODE` (it then starts the agent)",
        ));
        findings.push(check_disk_space(layout));
        return findings;
    }
    let status = crate::agent::offline_status(system, layout);
    let mut findings = check_files(layout);
    findings.push(check_database(&status));
    findings.extend(readiness::check(layout, &status));
    findings.extend(scanners::check(layout, system));
    findings.extend(central::check(layout, &status, system, &|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .ok()
            .and_then(|d| i64::try_from(d.as_secs()).ok())
            .unwrap_or(0)
    }));
    findings.push(check_unit(layout, system));
    findings
}

/// Whether the till was never enrolled: no enrolment record, no till key and no agent
/// configuration (what the package leaves before `tillpass-install install`).
pub fn never_enrolled(layout: &Layout) -> bool {
    !layout.enrolment_file().exists()
        && !layout.till_key().exists()
        && !layout.config_file().exists()
}

/// Whether the unit runs (`systemctl is-active`); skipped on a staged root.
pub fn check_unit(layout: &Layout, system: &dyn System) -> Finding {
    if !layout.is_live() {
        return Finding::bad(
            "unit",
            Status::Skipped,
            format!(
                "staged below {}: no unit runs from a staged root",
                layout.root().display()
            ),
            "check it on the till itself with `tillpass-install doctor`",
        );
    }
    if !system.booted_with_systemd() || !system.has_program("systemctl") {
        return Finding::bad(
            "unit",
            Status::Skipped,
            "this machine does not run systemd",
            "start `tillpass run` by the means this machine has",
        );
    }
    let state = system
        .run(&Command::new("systemctl", &["is-active", UNIT]))
        .map(|o| o.stdout.trim().to_owned())
        .unwrap_or_else(|e| format!("unknown ({e})"));
    match state.as_str() {
        "active" => Finding::ok("unit", format!("{UNIT} is active")),
        "activating" | "reloading" => Finding::bad(
            "unit",
            Status::Warn,
            format!("{UNIT} is {state}"),
            format!("wait a moment and check again; if it stays so, {JOURNAL_HINT}"),
        ),
        _ => Finding::bad(
            "unit",
            Status::Fail,
            format!("{UNIT} is {state}"),
            format!("start it with `systemctl enable --now {UNIT}`; {JOURNAL_HINT}"),
        ),
    }
}

/// The checks that look only at files: system files, secrets and their modes, disk space.
pub fn check_files(layout: &Layout) -> Vec<Finding> {
    let mut findings = check_system_files(layout);
    findings.push(check_secret_mode("till-key", &layout.till_key()));
    findings.push(check_till_key(&layout.till_key()));
    findings.push(check_secret_mode("api-token", &layout.api_token()));
    findings.push(check_config_present(&layout.config_file()));
    findings.push(check_disk_space(layout));
    findings
}

/// The database, as the agent found it (`tillpass status --offline`): there, intact, and
/// how many events wait for central.
fn check_database(status: &Result<OfflineStatus, String>) -> Finding {
    let status = match status {
        Ok(status) => status,
        Err(why) => {
            return Finding::bad(
                "database",
                Status::Skipped,
                format!("the agent could not be asked: {why}"),
                "install the tillpass package (or `tillpass-install install --agent-binary \
                 FILE`), then run doctor again",
            );
        }
    };
    let path = status.database.path.display();
    match status.database.state {
        DatabaseState::Missing => Finding::bad(
            "database",
            Status::Skipped,
            format!("{path} does not exist yet"),
            "the agent creates it at its first start",
        ),
        DatabaseState::Damaged => Finding::bad(
            "database",
            Status::Fail,
            format!(
                "{path}: {}",
                status.database.problem.as_deref().unwrap_or("damaged")
            ),
            "stop the agent and restore the newest file from the backups folder; the agent \
             refuses to start on a damaged database and never replaces it",
        ),
        DatabaseState::Intact => match status.outbox.as_ref().map_or(0, |o| o.pending) {
            0 => Finding::ok(
                "database",
                format!("{path} intact, no event waiting for central"),
            ),
            pending => Finding::ok(
                "database",
                format!("{path} intact, {pending} event(s) waiting for central"),
            ),
        },
    }
}

/// The unit, udev rules, sysusers.d and tmpfiles.d entries, where their owner keeps them
/// ([`crate::system_files`]): the package's in `/usr/lib`, or the installer's in `/etc`.
/// Beside the package's, a copy in `/etc` shadows it and is reported.
pub fn check_system_files(layout: &Layout) -> Vec<Finding> {
    let system_files = SystemFiles::of(layout);
    let mut findings = Vec::new();
    for file in &system_files.files {
        findings.push(check_system_file(system_files.owner, file));
        if system_files.owner == Owner::Package && file.installer_path.exists() {
            findings.push(Finding::bad(
                file.check,
                Status::Warn,
                format!(
                    "{} overrides the package's {}: package upgrades of it do not take effect",
                    file.installer_path.display(),
                    file.path.display()
                ),
                "remove it (`tillpass-install install` removes the copies it wrote); put \
                 site settings for the unit in a drop-in, \
                 /etc/systemd/system/tillpass.service.d/site.conf",
            ));
        }
    }
    findings
}

fn check_system_file(owner: Owner, file: &SystemFile) -> Finding {
    let path = file.path.display().to_string();
    let (differs, missing) = match owner {
        Owner::Package => (
            format!("{path} differs from the package's version"),
            "reinstall the package: `apt-get install --reinstall tillpass`",
        ),
        Owner::Installer => (
            format!("{path} differs from this installer's version"),
            "re-run `tillpass-install install` to restore it",
        ),
    };
    match std::fs::read_to_string(&file.path) {
        Ok(text) if text == file.text => Finding::ok(file.check, path),
        Ok(_) => Finding::bad(file.check, Status::Warn, differs, missing),
        Err(_) => Finding::bad(
            file.check,
            Status::Fail,
            format!("{path} is missing"),
            missing,
        ),
    }
}

fn check_secret_mode(check: &'static str, path: &Path) -> Finding {
    match mode_of(path) {
        None => Finding::bad(
            check,
            Status::Fail,
            format!("{} is missing", path.display()),
            if check == "till-key" {
                "the till key is lost: enrol the till again with a new enrolment code \
                 (`tillpass-install install --central URL --enrol CODE`)"
            } else {
                "re-run `tillpass-install install` to make a new one, then give it to the POS"
            },
        ),
        Some(0o600) | Some(0o400) => Finding::ok(check, format!("{} mode 0600", path.display())),
        Some(mode) => Finding::bad(
            check,
            Status::Fail,
            format!(
                "{} has mode {mode:04o}: other users can read a secret",
                path.display()
            ),
            format!("chmod 0600 {}", path.display()),
        ),
    }
}

fn check_till_key(path: &Path) -> Finding {
    match std::fs::read_to_string(path) {
        Err(_) => Finding::bad(
            "till-key-format",
            Status::Skipped,
            "no key file to read",
            "see till-key",
        ),
        Ok(text) => match keys::parse_till_key(&text) {
            Ok(key) => Finding::ok(
                "till-key-format",
                format!("public key {}", keys::public_hex(&key)),
            ),
            Err(e) => Finding::bad(
                "till-key-format",
                Status::Fail,
                e.to_string(),
                "the key is damaged: restore it from backup, or remove it and enrol the till \
                 again with a new enrolment code",
            ),
        },
    }
}

fn check_config_present(path: &Path) -> Finding {
    match std::fs::read_to_string(path) {
        Ok(text) => match text.parse::<toml::Table>() {
            Ok(_) => Finding::ok("config", path.display().to_string()),
            Err(e) => Finding::bad(
                "config",
                Status::Fail,
                format!("{} is not valid TOML: {}", path.display(), e.message()),
                "correct it (the agent refuses to start on it); what tillpass-install \
                 wrote above its marker line is restored by running install again",
            ),
        },
        Err(_) => Finding::bad(
            "config",
            Status::Fail,
            format!("{} is missing", path.display()),
            "re-run `tillpass-install install --central URL --enrol CODE`",
        ),
    }
}

/// Below this much free space a till is one busy day from refusing sales.
pub const MIN_FREE_BYTES: u64 = 200 * 1024 * 1024;

fn check_disk_space(layout: &Layout) -> Finding {
    let dir = if layout.state_dir().exists() {
        layout.state_dir()
    } else {
        layout.root().to_path_buf()
    };
    match nix::sys::statvfs::statvfs(&dir) {
        Err(e) => Finding::bad(
            "disk-space",
            Status::Warn,
            format!("could not read free space of {}: {e}", dir.display()),
            "check the file system with `df -h`",
        ),
        Ok(stat) => {
            let free = stat.blocks_available().saturating_mul(stat.fragment_size());
            let mib = free / (1024 * 1024);
            if free < MIN_FREE_BYTES {
                Finding::bad(
                    "disk-space",
                    Status::Fail,
                    format!("only {mib} MiB free at {}", dir.display()),
                    "free space on that file system: the agent refuses sales when SQLite \
                     cannot write",
                )
            } else {
                Finding::ok("disk-space", format!("{mib} MiB free at {}", dir.display()))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fsops::{ensure_dir, ensure_file};

    #[test]
    fn an_empty_root_fails_with_fixes() {
        let dir = tempfile::tempdir().unwrap();
        let findings = check_files(&Layout::new(dir.path()));
        assert!(has_failures(&findings));
        for f in findings.iter().filter(|f| f.status == Status::Fail) {
            assert!(f.fix.is_some(), "{f}");
        }
        let names: Vec<_> = findings
            .iter()
            .filter(|f| f.status == Status::Fail)
            .map(|f| f.check)
            .collect();
        assert!(names.contains(&"unit-file"));
        assert!(names.contains(&"till-key"));
        assert!(names.contains(&"config"));
    }

    #[test]
    fn a_damaged_database_is_a_failure_with_what_to_do() {
        use tillpass_tillfiles::status::Database;
        let status = |state, problem: Option<&str>| {
            Ok(OfflineStatus {
                database: Database {
                    path: "/var/lib/tillpass/tillpass.db".into(),
                    state,
                    problem: problem.map(str::to_owned),
                },
                trust_list: None,
                catalog: None,
                outbox: None,
            })
        };
        assert_eq!(
            check_database(&status(DatabaseState::Missing, None)).status,
            Status::Skipped
        );
        let finding = check_database(&status(
            DatabaseState::Damaged,
            Some("file is not a database"),
        ));
        assert_eq!(finding.status, Status::Fail, "{finding}");
        assert!(
            finding.detail.contains("file is not a database"),
            "{finding}"
        );
        assert!(finding.fix.unwrap().contains("backups"));
        let unasked = check_database(&Err("no agent binary".to_owned()));
        assert_eq!(unasked.status, Status::Skipped, "{unasked}");
    }

    #[test]
    fn a_readable_key_is_a_failure_naming_chmod() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::new(dir.path());
        ensure_dir(&layout.config_dir(), 0o750).unwrap();
        let key = crate::keys::new_till_key_file().unwrap();
        ensure_file(&layout.till_key(), key.as_bytes(), 0o644).unwrap();
        let finding = check_secret_mode("till-key", &layout.till_key());
        assert_eq!(finding.status, Status::Fail);
        assert!(finding.fix.unwrap().starts_with("chmod 0600"));
        ensure_file(&layout.till_key(), key.as_bytes(), 0o600).unwrap();
        assert_eq!(
            check_secret_mode("till-key", &layout.till_key()).status,
            Status::Ok
        );
        assert_eq!(check_till_key(&layout.till_key()).status, Status::Ok);
    }

    #[test]
    fn the_unit_is_asked_on_a_live_till_and_skipped_on_a_staged_one() {
        use crate::system::{Output, Recorder};
        let system = Recorder::new();
        system.answer("systemctl is-active", vec![Output::failed(3, "")]);
        let staged = check_unit(&Layout::new("/tmp/stage"), &system);
        assert_eq!(staged.status, Status::Skipped);
        assert!(system.lines().is_empty());
        let system = Recorder::new();
        system.answer(
            "systemctl is-active",
            vec![Output {
                code: Some(3),
                stdout: "failed\n".to_owned(),
                stderr: String::new(),
            }],
        );
        let live = check_unit(&Layout::new("/"), &system);
        assert_eq!(live.status, Status::Fail, "{live}");
        assert!(live.fix.unwrap().contains("journalctl -u tillpass"));
        assert_eq!(system.lines(), vec!["systemctl is-active tillpass.service"]);
        let system = Recorder::new();
        system.answer("systemctl is-active", vec![Output::ok("active\n")]);
        assert_eq!(check_unit(&Layout::new("/"), &system).status, Status::Ok);
    }

    /// A till as the package leaves it: its four files in /usr/lib, the two folders, no
    /// key, no configuration, no enrolment.
    fn fresh_package_install() -> (tempfile::TempDir, Layout) {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::new(dir.path());
        for (file, text) in [
            (layout.package_unit_file(), crate::assets::UNIT),
            (layout.package_udev_rules(), crate::assets::UDEV_RULES),
            (layout.package_sysusers(), crate::assets::SYSUSERS),
            (layout.package_tmpfiles(), crate::assets::TMPFILES),
        ] {
            ensure_dir(file.parent().unwrap(), 0o755).unwrap();
            ensure_file(&file, text.as_bytes(), 0o644).unwrap();
        }
        ensure_dir(&layout.config_dir(), 0o750).unwrap();
        ensure_dir(&layout.state_dir(), 0o750).unwrap();
        (dir, layout)
    }

    #[test]
    fn a_fresh_package_install_passes_and_names_enrolment_as_the_next_step() {
        let (_dir, layout) = fresh_package_install();
        let system = crate::system::Recorder::new();
        let findings = check_all(&layout, &system);
        assert!(!has_failures(&findings), "{findings:#?}");
        let files: Vec<_> = findings
            .iter()
            .filter(|f| f.status == Status::Ok)
            .map(|f| f.check)
            .collect();
        assert_eq!(
            files,
            [
                "unit-file",
                "udev-rules",
                "sysusers",
                "tmpfiles",
                "disk-space"
            ],
            "{findings:#?}"
        );
        let enrolment = findings.iter().find(|f| f.check == "enrolment").unwrap();
        assert_eq!(enrolment.status, Status::Warn);
        assert!(
            enrolment.fix.as_deref().unwrap().contains("--enrol CODE"),
            "{enrolment}"
        );
        assert!(
            !findings.iter().any(|f| f.to_string().contains("lost")),
            "never enrolled is not a lost key: {findings:#?}"
        );
        assert!(
            system.lines().is_empty(),
            "nothing asked of central or systemd"
        );
    }

    #[test]
    fn beside_the_package_a_copy_in_etc_is_reported_as_shadowing_it() {
        let (_dir, layout) = fresh_package_install();
        ensure_dir(layout.unit_file().parent().unwrap(), 0o755).unwrap();
        ensure_file(&layout.unit_file(), crate::assets::UNIT.as_bytes(), 0o644).unwrap();
        let findings = check_system_files(&layout);
        let shadow: Vec<_> = findings
            .iter()
            .filter(|f| f.status == Status::Warn)
            .collect();
        assert_eq!(shadow.len(), 1, "{findings:#?}");
        assert!(
            shadow[0].detail.contains("overrides the package's"),
            "{}",
            shadow[0]
        );
        assert!(
            shadow[0]
                .fix
                .as_deref()
                .unwrap()
                .contains("tillpass.service.d")
        );
    }

    #[test]
    fn a_package_file_that_is_gone_is_a_failure_fixed_by_reinstalling() {
        let (_dir, layout) = fresh_package_install();
        std::fs::remove_file(layout.package_udev_rules()).unwrap();
        let findings = check_system_files(&layout);
        let failed: Vec<_> = findings
            .iter()
            .filter(|f| f.status == Status::Fail)
            .collect();
        assert_eq!(failed.len(), 1, "{findings:#?}");
        assert!(
            failed[0]
                .fix
                .as_deref()
                .unwrap()
                .contains("--reinstall tillpass")
        );
    }
}
