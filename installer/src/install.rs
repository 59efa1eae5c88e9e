//! `tillpass-install install`: puts every piece in place, each step idempotent, and says
//! what changed.
//!
//! Order: directories → system files (unit, udev rules, sysusers, tmpfiles: written only
//! where the installer owns them, see [`crate::system_files`]; on a till installed from the
//! `.deb`, the copies an older installer left in `/etc` are removed instead) → the agent
//! binary → till key → POS API token → enrolment (skipped when the till is already
//! enrolled with this key at this central: codes work once) → configuration. On a live
//! system (`--root /`) it then creates the service user ([`crate::service`]), makes the
//! first manager account if asked, gives the files to the service user, reloads udev and
//! systemd, enables and (re)starts the unit and waits for `/readyz`. On a staged root the
//! manager account is made with the staged agent binary, and the service steps are left to
//! the image's first boot.
//!
//! The configuration file is the installer's down to a marker line; whatever the operator
//! writes below it (`[[scanner]]` entries, `[identify]` settings) is kept by every re-run.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use thiserror::Error;

use crate::agent::{self, Manager, ManagerError};
use crate::enrol::{self, EnrolError, Enrolment};
use crate::fsops::{self, Change, FsError};
use crate::keys::{self, KeyError};
use crate::layout::Layout;
use crate::service::{self, Action, ServiceError};
use crate::system::{CommandError, System};
use crate::system_files::{self, Owner, SystemFiles};

/// What `install` is asked to do.
#[derive(Debug, Clone)]
pub struct InstallOptions {
    /// Where to install: `/`, or a staging folder.
    pub layout: Layout,
    /// Central's base URL.
    pub central: String,
    /// The one-time enrolment code (needed only when the till is not enrolled yet), as
    /// printed: `CODE-<root fingerprint>`.
    pub enrol_code: Option<String>,
    /// The fingerprint of central's root key, for a code that does not carry it.
    pub central_root: Option<tillpass_protocol::sync::RootFingerprint>,
    /// A PEM file of CA certificates to trust for central's HTTPS certificate besides the
    /// system's: copied to the configuration folder and named in the configuration.
    pub central_ca: Option<PathBuf>,
    /// An agent binary to copy to `/usr/bin/tillpass` (the `.deb` puts it there itself).
    pub agent_binary: Option<PathBuf>,
    /// The till's hostname, for central's inventory.
    pub hostname: String,
    /// The first manager account to create, if any.
    pub manager: Option<Manager>,
    /// How long to wait for the started agent's `/readyz` (live installs).
    pub ready_timeout: Duration,
}

/// One step of the install and what it did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// What the step is about, e.g. a path.
    pub what: String,
    /// What happened.
    pub change: Change,
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let verb = match self.change {
            Change::Unchanged => "ok     ",
            Change::Created => "created",
            Change::Updated => "updated",
        };
        write!(f, "{verb} {}", self.what)
    }
}

/// What an install did, step by step.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// Every file step, in order.
    pub steps: Vec<Step>,
    /// The steps after the files: accounts, services, the agent's start.
    pub actions: Vec<Action>,
}

impl Report {
    fn record(&mut self, what: impl Into<String>, change: Change) {
        self.steps.push(Step {
            what: what.into(),
            change,
        });
    }

    fn path(&mut self, path: &Path, change: Change) {
        self.record(path.display().to_string(), change);
    }

    /// Whether anything changed.
    pub fn changed(&self) -> bool {
        self.steps.iter().any(|s| s.change != Change::Unchanged)
    }
}

/// Why an install stopped. Everything done before the failing step stays done and is
/// correct; running install again continues from there.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum InstallError {
    /// The agent's configuration could not be written as TOML.
    #[error("the agent's configuration: {0}")]
    Config(String),
    /// A file-system step failed.
    #[error(transparent)]
    Fs(#[from] FsError),
    /// A secret could not be made or read.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// Enrolment with central failed.
    #[error(transparent)]
    Enrol(#[from] EnrolError),
    /// The till is not enrolled and no code was given.
    #[error(
        "this till is not enrolled with {0} yet: give the one-time code central IT created \
         for it with --enrol CODE"
    )]
    NeedCode(String),
    /// The enrolment record on disk cannot be read.
    #[error("{path}: {detail}. Move it away and run install again with a new --enrol code")]
    BadEnrolment {
        /// The file.
        path: String,
        /// What is wrong.
        detail: String,
    },
    /// A live-system step failed.
    #[error(transparent)]
    Service(#[from] ServiceError),
    /// The first manager account could not be made.
    #[error(transparent)]
    Manager(#[from] ManagerError),
    /// The agent binary to install cannot be read.
    #[error("cannot read the agent binary {path}: {detail}")]
    Binary {
        /// The binary given.
        path: String,
        /// What went wrong.
        detail: String,
    },
}

impl From<CommandError> for InstallError {
    fn from(e: CommandError) -> InstallError {
        InstallError::Service(e.into())
    }
}

/// Runs the whole install, recording into `report` what it did (also when it fails part
/// way: what is done stays done, and a re-run continues).
pub fn install(
    system: &dyn System,
    options: &InstallOptions,
    report: &mut Report,
) -> Result<(), InstallError> {
    install_files_into(options, report)?;
    accounts_and_services(system, options, options.layout.is_live(), report)
}

/// The steps after the files: the service user, the first manager account, ownership,
/// udev, systemd, the agent's start and `/readyz`. With `live` false (a staged root) only
/// the manager account is made. (`live` is a parameter rather than `layout.is_live()` so
/// that tests can run the live steps on a temporary folder with a recording [`System`].)
pub fn accounts_and_services(
    system: &dyn System,
    options: &InstallOptions,
    live: bool,
    report: &mut Report,
) -> Result<(), InstallError> {
    let layout = &options.layout;
    if live {
        service::ensure_service_user(system, layout, &mut report.actions)?;
    }
    // Before the ownership step: files the agent makes here, running as root, are then
    // given to the service user with the rest.
    if let Some(manager) = &options.manager {
        agent::add_manager(system, layout, manager)?;
        report.actions.push(Action::Ran(format!(
            "tillpass manager add --name {}: the first manager account",
            manager.name
        )));
    }
    if !live {
        report.actions.push(Action::Skipped(format!(
            "staged below {}: the service user, udev, systemd and the agent's start are left \
             to the image's first boot",
            layout.root().display()
        )));
        return Ok(());
    }
    let user_created = report.actions.iter().any(|a| match a {
        Action::Ran(line) => line.starts_with("systemd-sysusers") || line.starts_with("useradd"),
        _ => false,
    });
    service::fix_ownership(system, layout, &mut report.actions)?;
    service::reload_udev(system, &mut report.actions)?;
    service::start_unit(
        system,
        report.changed() || user_created,
        &mut report.actions,
    )?;
    service::wait_ready(system, layout, options.ready_timeout, &mut report.actions)?;
    Ok(())
}

/// Runs the file steps of an install (everything but accounts and services).
pub fn install_files(options: &InstallOptions) -> Result<Report, InstallError> {
    let mut report = Report::default();
    install_files_into(options, &mut report)?;
    Ok(report)
}

fn install_files_into(options: &InstallOptions, report: &mut Report) -> Result<(), InstallError> {
    let layout = &options.layout;
    // Refused before anything is written: a URL that may not be used, roots that do not
    // load, a code that pins no root.
    enrol::preflight(&options.central, options.central_ca.as_deref())?;
    if let Some(code) = &options.enrol_code {
        enrol::Pinned::from_code(code, options.central_root)?;
    }

    for (dir, mode) in [
        (layout.config_dir(), 0o750),
        (layout.state_dir(), 0o750),
        (layout.backup_dir(), 0o750),
    ] {
        let change = fsops::ensure_dir(&dir, mode)?;
        report.path(&dir, change);
    }

    install_system_files(layout, report)?;

    if let Some(binary) = &options.agent_binary {
        let bytes = std::fs::read(binary).map_err(|e| InstallError::Binary {
            path: binary.display().to_string(),
            detail: e.to_string(),
        })?;
        let target = layout.agent_binary();
        if let Some(parent) = target.parent() {
            fsops::ensure_dir(parent, 0o755)?;
        }
        let change = fsops::ensure_file(&target, &bytes, 0o755)?;
        report.path(&target, change);
    }

    let change = fsops::ensure_file_once(
        &layout.till_key(),
        keys::new_till_key_file()?.as_bytes(),
        0o600,
    )?;
    report.path(&layout.till_key(), change);
    let key_text = std::fs::read_to_string(layout.till_key()).map_err(|e| FsError {
        action: "reading",
        path: layout.till_key(),
        source: e,
    })?;
    let key = keys::parse_till_key(&key_text)?;
    let public = keys::public_hex(&key);

    let change = fsops::ensure_file_once(
        &layout.api_token(),
        keys::new_api_token_file()?.as_bytes(),
        0o600,
    )?;
    report.path(&layout.api_token(), change);

    let enrolment = ensure_enrolled(options, &key, &public, report)?;

    if let Some(ca) = &options.central_ca {
        let bytes = std::fs::read(ca).map_err(|e| FsError {
            action: "reading",
            path: ca.clone(),
            source: e,
        })?;
        let change = fsops::ensure_file(&central_ca_file(layout), &bytes, 0o644)?;
        report.path(&central_ca_file(layout), change);
    }
    let ca_file = central_ca_file(layout)
        .exists()
        .then(|| central_ca_file(&Layout::new("/")));
    let existing = std::fs::read_to_string(layout.config_file()).ok();
    // Central's other nodes, added by the operator to `[central]`, survive a rewrite.
    let fallback_urls = existing
        .as_deref()
        .map(tillpass_tillfiles::config::central_fallback_urls)
        .unwrap_or_default();
    let config = with_kept_settings(
        render_config(&enrolment, ca_file.as_deref(), &fallback_urls)?,
        existing.as_deref(),
    );
    let change = fsops::ensure_file(&layout.config_file(), config.as_bytes(), 0o640)?;
    report.path(&layout.config_file(), change);

    Ok(())
}

/// The unit, udev rules, sysusers.d and tmpfiles.d entries: written where the installer
/// owns them; beside the package's, the copies an older installer wrote in `/etc` are
/// removed instead (see [`crate::system_files`]).
fn install_system_files(layout: &Layout, report: &mut Report) -> Result<(), InstallError> {
    let system_files = SystemFiles::of(layout);
    for file in &system_files.files {
        match system_files.owner {
            Owner::Installer => {
                if let Some(parent) = file.path.parent() {
                    fsops::ensure_dir(parent, 0o755)?;
                }
                let change = fsops::ensure_file(&file.path, file.text.as_bytes(), 0o644)?;
                report.path(&file.path, change);
            }
            Owner::Package => {
                if remove_shadow_copy(&file.installer_path)? {
                    report.record(
                        format!(
                            "{}: removed; {} from the package is in force",
                            file.installer_path.display(),
                            file.path.display()
                        ),
                        Change::Updated,
                    );
                } else {
                    report.record(
                        format!("{} (from the package)", file.path.display()),
                        Change::Unchanged,
                    );
                }
            }
        }
    }
    Ok(())
}

/// Removes `path` if it is a copy of a system file an older `tillpass-install` wrote
/// beside the package's (it would shadow the package's and outlive its upgrades). A file
/// the operator wrote there is left alone. Whether it removed one.
fn remove_shadow_copy(path: &Path) -> Result<bool, FsError> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(source) => {
            return Err(FsError {
                action: "reading",
                path: path.to_path_buf(),
                source,
            });
        }
    };
    if !system_files::written_by_us(&text) {
        return Ok(false);
    }
    std::fs::remove_file(path).map_err(|source| FsError {
        action: "removing",
        path: path.to_path_buf(),
        source,
    })?;
    Ok(true)
}

/// Where the CA certificates of `--central-ca` are kept: next to the configuration.
pub fn central_ca_file(layout: &Layout) -> PathBuf {
    layout.config_dir().join("central-ca.pem")
}

/// The last line the installer writes in the configuration file: below it, the operator's.
pub const CONFIG_MARKER: &str =
    "# ---- tillpass-install keeps everything below this line (e.g. [[scanner]] entries) ----";

/// `rendered` followed by what `existing` holds below [`CONFIG_MARKER`].
fn with_kept_settings(rendered: String, existing: Option<&str>) -> String {
    let kept = existing
        .and_then(|text| text.split_once(CONFIG_MARKER))
        .map(|(_, below)| below.trim_start_matches(['\r', '\n']))
        .unwrap_or("");
    format!("{rendered}\n{CONFIG_MARKER}\n{kept}")
}

fn ensure_enrolled(
    options: &InstallOptions,
    key: &ed25519_dalek::SigningKey,
    public: &str,
    report: &mut Report,
) -> Result<Enrolment, InstallError> {
    let path = options.layout.enrolment_file();
    if let Ok(text) = std::fs::read_to_string(&path) {
        let existing: Enrolment =
            serde_json::from_str(&text).map_err(|e| InstallError::BadEnrolment {
                path: path.display().to_string(),
                detail: e.to_string(),
            })?;
        if existing.matches(&options.central, public) {
            report.record(
                format!(
                    "enrolment: till {} of store {}",
                    existing.response.till, existing.response.store
                ),
                Change::Unchanged,
            );
            return Ok(existing);
        }
    }
    let code = options
        .enrol_code
        .as_deref()
        .ok_or_else(|| InstallError::NeedCode(options.central.clone()))?;
    let pinned = enrol::Pinned::from_code(code, options.central_root)?;
    let response = enrol::enrol_with(
        &enrol::Target {
            central: &options.central,
            pinned: &pinned,
            ca_file: options.central_ca.as_deref(),
        },
        key.verifying_key().to_bytes(),
        &options.hostname,
    )?;
    let enrolment = Enrolment {
        central: options.central.trim_end_matches('/').to_owned(),
        till_public_key: public.to_owned(),
        response,
    };
    let json = serde_json::to_vec_pretty(&enrolment).map_err(|e| InstallError::BadEnrolment {
        path: path.display().to_string(),
        detail: e.to_string(),
    })?;
    fsops::write_atomic(&path, &json, 0o640)?;
    report.record(
        format!(
            "enrolment: till {} of store {}",
            enrolment.response.till, enrolment.response.store
        ),
        Change::Created,
    );
    Ok(enrolment)
}

/// The agent's configuration file for an enrolled till, in the schema the agent reads
/// (`tillpass_tillfiles::config`). Paths are the live ones (the service reads them on the
/// till, whatever folder the install was staged in); `ca_file` is central's CA file, when
/// one was installed; `fallback_urls` are central's other nodes, as the operator set them.
pub fn render_config(
    enrolment: &Enrolment,
    ca_file: Option<&Path>,
    fallback_urls: &[String],
) -> Result<String, InstallError> {
    use tillpass_tillfiles::config::{
        ApiSection, CentralSection, ConfigFile, StoreSection, TillSection,
    };
    let live = Layout::new("/");
    let file = ConfigFile {
        central: CentralSection {
            url: Some(enrolment.central.clone()),
            ca_file: ca_file.map(Path::to_path_buf),
            fallback_urls: fallback_urls.to_vec(),
        },
        till: TillSection {
            store: Some(enrolment.response.store.to_string()),
            till: Some(enrolment.response.till.to_string()),
            region: Some(enrolment.response.region.to_string()),
            key_file: Some(live.till_key()),
            enrolment_file: Some(live.enrolment_file()),
            ..TillSection::default()
        },
        api: ApiSection {
            token_file: Some(live.api_token()),
            ..ApiSection::default()
        },
        store: StoreSection {
            data_dir: Some(live.state_dir()),
        },
    };
    let text = file
        .to_toml()
        .map_err(|e| InstallError::Config(e.to_string()))?;
    Ok(format!(
        "# tillpass agent configuration, written by tillpass-install.\n\
         # Values here win over the defaults; TILLPASS_* environment variables win over this.\n\
         \n{text}"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::system::{HttpAnswer, Output, Recorder};

    fn options(layout: &Layout, manager: Option<Manager>) -> InstallOptions {
        InstallOptions {
            layout: layout.clone(),
            central: "http://127.0.0.1:9".to_owned(),
            enrol_code: None,
            central_root: None,
            central_ca: None,
            agent_binary: None,
            hostname: "till".to_owned(),
            manager,
            ready_timeout: Duration::from_secs(60),
        }
    }

    #[test]
    fn beside_the_package_no_system_file_is_written_and_our_old_copies_go() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::new(dir.path());
        let package = SystemFiles::of(&layout);
        assert_eq!(package.owner, Owner::Installer);
        // What an older installer wrote in /etc, and an operator's own udev rules.
        install_system_files(&layout, &mut Report::default()).unwrap();
        std::fs::write(layout.udev_rules(), "SUBSYSTEM==\"tty\", GROUP=\"pos\"\n").unwrap();
        // Then the package arrives.
        for file in [
            layout.package_unit_file(),
            layout.package_udev_rules(),
            layout.package_sysusers(),
            layout.package_tmpfiles(),
        ] {
            fsops::ensure_dir(file.parent().unwrap(), 0o755).unwrap();
            std::fs::write(&file, "# tillpass: from the package\n").unwrap();
        }
        let mut report = Report::default();
        install_system_files(&layout, &mut report).unwrap();
        assert!(!layout.unit_file().exists());
        assert!(!layout.sysusers().exists());
        assert!(!layout.tmpfiles().exists());
        assert!(layout.udev_rules().exists(), "the operator's file stays");
        assert_eq!(
            report
                .steps
                .iter()
                .filter(|s| s.change == Change::Updated)
                .count(),
            3,
            "{:?}",
            report.steps
        );
        // A re-run changes nothing, and writes nothing in /etc.
        let mut again = Report::default();
        install_system_files(&layout, &mut again).unwrap();
        assert!(!again.changed(), "{:?}", again.steps);
        assert!(!layout.unit_file().exists());
        assert_eq!(
            std::fs::read_to_string(layout.package_unit_file()).unwrap(),
            "# tillpass: from the package\n"
        );
    }

    #[test]
    fn without_the_package_the_installer_writes_all_four_in_etc() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::new(dir.path());
        let mut report = Report::default();
        install_system_files(&layout, &mut report).unwrap();
        assert_eq!(
            std::fs::read_to_string(layout.unit_file()).unwrap(),
            crate::assets::UNIT
        );
        assert!(layout.udev_rules().exists());
        assert!(layout.sysusers().exists());
        assert!(layout.tmpfiles().exists());
        assert!(!layout.package_unit_file().exists());
    }

    #[test]
    fn live_steps_run_in_order_with_the_manager_before_the_ownership() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::new(dir.path());
        fsops::ensure_dir(layout.agent_binary().parent().unwrap(), 0o755).unwrap();
        fsops::ensure_dir(&layout.config_dir(), 0o750).unwrap();
        std::fs::write(layout.agent_binary(), b"agent").unwrap();
        std::fs::write(layout.config_file(), "[api]\nlisten = \"127.0.0.1:7313\"\n").unwrap();
        let system = Recorder::new();
        system.answer_http(
            "http://127.0.0.1:7313/readyz",
            vec![Ok(HttpAnswer {
                status: 200,
                body: "{}".to_owned(),
            })],
        );
        let manager = Manager {
            name: "ana".to_owned(),
            lang: Some("es".to_owned()),
            password: "pw".to_owned(),
        };
        let mut report = Report::default();
        accounts_and_services(&system, &options(&layout, Some(manager)), true, &mut report)
            .unwrap();
        let root = dir.path().display().to_string();
        assert_eq!(
            system.lines(),
            vec![
                "getent passwd tillpass".to_owned(),
                format!("systemd-sysusers {root}/etc/sysusers.d/tillpass.conf"),
                format!(
                    "{root}/usr/bin/tillpass --config {root}/etc/tillpass/config.toml manager \
                     add --name ana --lang es"
                ),
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
        let manager_call = &system.calls()[2];
        assert_eq!(manager_call.stdin.as_deref(), Some(&b"pw\n"[..]));
        assert!(report.actions.last().unwrap().to_string().contains("ready"));
    }

    #[test]
    fn a_failing_live_step_stops_the_install_with_its_explanation() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::new(dir.path());
        let system = Recorder::new();
        system.answer(
            "udevadm control",
            vec![Output::failed(
                1,
                "Failed to send reload request: No such file or directory",
            )],
        );
        let mut report = Report::default();
        let err = accounts_and_services(&system, &options(&layout, None), true, &mut report)
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("loading the scanner udev rules: `udevadm control --reload`"),
            "{err}"
        );
        assert!(err.contains("Failed to send reload request"), "{err}");
        assert!(!system.lines().iter().any(|l| l.starts_with("systemctl")));
    }

    #[test]
    fn a_staged_root_runs_no_service_step() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::new(dir.path());
        let system = Recorder::new();
        let mut report = Report::default();
        accounts_and_services(&system, &options(&layout, None), false, &mut report).unwrap();
        assert!(system.lines().is_empty());
        assert!(matches!(report.actions.as_slice(), [Action::Skipped(_)]));
    }

    #[test]
    fn settings_below_the_marker_survive_a_rewrite() {
        let first = with_kept_settings("[central]\nurl = \"a\"\n".to_owned(), None);
        assert!(first.ends_with(&format!("{CONFIG_MARKER}\n")));
        let edited = format!(
            "{first}[[scanner]]\nname = \"front\"\ndevice = {{ kind = \"serial\", path = \"/dev/ttyACM0\" }}\n"
        );
        let again = with_kept_settings("[central]\nurl = \"b\"\n".to_owned(), Some(&edited));
        assert!(again.starts_with("[central]\nurl = \"b\"\n"), "{again}");
        assert!(again.contains("[[scanner]]\nname = \"front\""), "{again}");
        assert_eq!(again.matches(CONFIG_MARKER).count(), 1);
        assert_eq!(
            with_kept_settings("[central]\nurl = \"b\"\n".to_owned(), Some(&again)),
            again,
            "a re-run changes nothing"
        );
        assert!(again.parse::<toml::Table>().is_ok());
    }
}
