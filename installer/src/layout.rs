//! Where tillpass lives on a till, below an optional staging root.
//!
//! A real install uses `/`; `--root DIR` stages the same tree into `DIR` for image builders
//! and tests. Every path the installer touches comes from here.

use std::path::{Path, PathBuf};

use tillpass_tillfiles::layout as files;

/// The tillpass file layout below `root`.
#[derive(Debug, Clone)]
pub struct Layout {
    root: PathBuf,
}

impl Layout {
    /// The layout below `root` (`/` for a real install).
    pub fn new(root: impl Into<PathBuf>) -> Layout {
        Layout { root: root.into() }
    }

    /// The staging root.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Whether this is a real install on `/` (so system services may be touched).
    pub fn is_live(&self) -> bool {
        self.root == Path::new("/")
    }

    fn at(&self, absolute: &str) -> PathBuf {
        self.root.join(absolute.trim_start_matches('/'))
    }

    /// The agent binary.
    pub fn agent_binary(&self) -> PathBuf {
        self.at("/usr/bin/tillpass")
    }

    /// The agent binary an upgrade replaced, kept to roll back to.
    pub fn agent_binary_prev(&self) -> PathBuf {
        self.at("/usr/bin/tillpass.prev")
    }

    /// The agent's database.
    pub fn database(&self) -> PathBuf {
        self.state_dir().join(files::DB_FILE)
    }

    /// The configuration directory.
    pub fn config_dir(&self) -> PathBuf {
        self.root.join(files::INSTALLED_CONFIG_DIR)
    }

    /// The agent's configuration file.
    pub fn config_file(&self) -> PathBuf {
        self.config_dir().join(files::CONFIG_FILE)
    }

    /// The till's Ed25519 private key (hex seed), mode 0600.
    pub fn till_key(&self) -> PathBuf {
        self.config_dir().join(files::TILL_KEY_FILE)
    }

    /// The POS API bearer token, mode 0600.
    pub fn api_token(&self) -> PathBuf {
        self.config_dir().join(files::API_TOKEN_FILE)
    }

    /// The agent's state directory: database, enrolment, trust list.
    pub fn state_dir(&self) -> PathBuf {
        self.root.join(files::INSTALLED_STATE_DIR)
    }

    /// What central answered at enrolment, kept for re-runs and for `doctor`.
    pub fn enrolment_file(&self) -> PathBuf {
        self.state_dir().join(files::ENROLMENT_FILE)
    }

    /// Database backups taken by `upgrade`.
    pub fn backup_dir(&self) -> PathBuf {
        self.state_dir().join("backups")
    }

    /// The systemd unit, as `tillpass-install` writes it on a till without the package.
    pub fn unit_file(&self) -> PathBuf {
        self.at("/etc/systemd/system/tillpass.service")
    }

    /// The udev rules for scanners.
    pub fn udev_rules(&self) -> PathBuf {
        self.at("/etc/udev/rules.d/70-tillpass-scanners.rules")
    }

    /// The sysusers.d entry that creates the service user and group.
    pub fn sysusers(&self) -> PathBuf {
        self.at("/etc/sysusers.d/tillpass.conf")
    }

    /// The tmpfiles.d entry for the directories.
    pub fn tmpfiles(&self) -> PathBuf {
        self.at("/etc/tmpfiles.d/tillpass.conf")
    }

    /// The `.deb`'s systemd unit (see [`crate::system_files`] for which copy is in force).
    pub fn package_unit_file(&self) -> PathBuf {
        self.at("/usr/lib/systemd/system/tillpass.service")
    }

    /// The `.deb`'s udev rules for scanners.
    pub fn package_udev_rules(&self) -> PathBuf {
        self.at("/usr/lib/udev/rules.d/70-tillpass-scanners.rules")
    }

    /// The `.deb`'s sysusers.d entry.
    pub fn package_sysusers(&self) -> PathBuf {
        self.at("/usr/lib/sysusers.d/tillpass.conf")
    }

    /// The `.deb`'s tmpfiles.d entry.
    pub fn package_tmpfiles(&self) -> PathBuf {
        self.at("/usr/lib/tmpfiles.d/tillpass.conf")
    }

    /// Written by the package's `prerm` when it was removed while the outbox held events
    /// central had not received: the package's purge refuses while it is there.
    pub fn unsynced_marker(&self) -> PathBuf {
        self.state_dir().join("UNSYNCED")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn staged_paths_stay_below_the_root() {
        let layout = Layout::new("/tmp/stage");
        assert_eq!(
            layout.config_file(),
            Path::new("/tmp/stage/etc/tillpass/config.toml")
        );
        assert_eq!(
            layout.unit_file(),
            Path::new("/tmp/stage/etc/systemd/system/tillpass.service")
        );
        assert!(!layout.is_live());
        assert!(Layout::new("/").is_live());
        assert_eq!(
            Layout::new("/").agent_binary(),
            Path::new("/usr/bin/tillpass")
        );
    }
}
