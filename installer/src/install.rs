//! `tillpass-install install`: puts every piece in place, each step idempotent, and says
//! what changed.
//!
//! Order: directories → system files (unit, udev rules, sysusers, tmpfiles) → the agent
//! binary → till key → POS API token → enrolment (skipped when the till is already
//! enrolled with this key at this central: codes work once) → configuration. On a live
//! system (`--root /`) it then creates the service user, reloads udev and systemd, and
//! starts the agent; on a staged root those steps are left to the image's first boot.

use std::fmt;
use std::path::{Path, PathBuf};

use thiserror::Error;

use crate::assets;
use crate::enrol::{self, EnrolError, Enrolment};
use crate::fsops::{self, Change, FsError};
use crate::keys::{self, KeyError};
use crate::layout::Layout;

/// What `install` is asked to do.
#[derive(Debug, Clone)]
pub struct InstallOptions {
    /// Where to install: `/`, or a staging folder.
    pub layout: Layout,
    /// Central's base URL.
    pub central: String,
    /// The one-time enrolment code (needed only when the till is not enrolled yet).
    pub enrol_code: Option<String>,
    /// An agent binary to copy to `/usr/bin/tillpass` (the `.deb` puts it there itself).
    pub agent_binary: Option<PathBuf>,
    /// The till's hostname, for central's inventory.
    pub hostname: String,
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
    /// Every step, in order.
    pub steps: Vec<Step>,
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
    /// The agent binary to install cannot be read.
    #[error("cannot read the agent binary {path}: {detail}")]
    Binary {
        /// The binary given.
        path: String,
        /// What went wrong.
        detail: String,
    },
}

/// Runs the file steps of an install (everything but starting services).
pub fn install_files(options: &InstallOptions) -> Result<Report, InstallError> {
    let layout = &options.layout;
    let mut report = Report::default();

    for (dir, mode) in [
        (layout.config_dir(), 0o750),
        (layout.state_dir(), 0o750),
        (layout.backup_dir(), 0o750),
    ] {
        let change = fsops::ensure_dir(&dir, mode)?;
        report.path(&dir, change);
    }

    for (path, text) in [
        (layout.unit_file(), assets::UNIT),
        (layout.udev_rules(), assets::UDEV_RULES),
        (layout.sysusers(), assets::SYSUSERS),
        (layout.tmpfiles(), assets::TMPFILES),
    ] {
        if let Some(parent) = path.parent() {
            fsops::ensure_dir(parent, 0o755)?;
        }
        let change = fsops::ensure_file(&path, text.as_bytes(), 0o644)?;
        report.path(&path, change);
    }

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

    let enrolment = ensure_enrolled(options, &key, &public, &mut report)?;

    let config = render_config(layout, &enrolment);
    let change = fsops::ensure_file(&layout.config_file(), config.as_bytes(), 0o640)?;
    report.path(&layout.config_file(), change);

    Ok(report)
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
    let response = enrol::enrol(
        &options.central,
        code,
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

/// The agent's configuration file for an enrolled till. Paths are the live ones (the
/// service reads them on the till, whatever folder the install was staged in).
pub fn render_config(layout: &Layout, enrolment: &Enrolment) -> String {
    let live = Layout::new("/");
    let _ = layout;
    format!(
        "# tillpass agent configuration, written by tillpass-install.\n\
         # Values here win over the defaults; TILLPASS_* environment variables win over this.\n\
         \n\
         [central]\n\
         url = {central:?}\n\
         \n\
         [till]\n\
         store = {store:?}\n\
         till = {till:?}\n\
         region = {region:?}\n\
         key_file = {key:?}\n\
         enrolment_file = {enrolment_file:?}\n\
         \n\
         [api]\n\
         listen = \"127.0.0.1:7100\"\n\
         token_file = {token:?}\n\
         \n\
         [store]\n\
         data_dir = {state:?}\n",
        central = enrolment.central,
        store = enrolment.response.store.to_string(),
        till = enrolment.response.till.to_string(),
        region = enrolment.response.region.to_string(),
        key = live.till_key().display().to_string(),
        enrolment_file = live.enrolment_file().display().to_string(),
        token = live.api_token().display().to_string(),
        state = live.state_dir().display().to_string(),
    )
}
