//! Where the agent keeps its files.
//!
//! Under systemd, `$STATE_DIRECTORY`, `$CONFIGURATION_DIRECTORY` and
//! `$CREDENTIALS_DIRECTORY` win. Run by hand on an installed till (its configuration in
//! `/etc/tillpass/config.toml`), the installed folders are used, so the run reads the same
//! configuration as the unit. Otherwise the platform's directories (from the `directories`
//! crate) are used, e.g. `~/.local/share/tillpass` on Linux.

use std::path::{Path, PathBuf};

use tillpass_tillfiles::layout::CONFIG_FILE;
pub use tillpass_tillfiles::layout::{INSTALLED_CONFIG_DIR, INSTALLED_STATE_DIR};

/// The agent's folders.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Paths {
    /// Database, enrolment record, trust list.
    pub state_dir: PathBuf,
    /// `config.toml`.
    pub config_dir: PathBuf,
    /// systemd credentials (`till.key`, `api.token`), when run as a service.
    pub credentials_dir: Option<PathBuf>,
}

impl Paths {
    /// The folders for this process, from `env` (the process environment in `main`).
    pub fn from_env(env: impl Fn(&str) -> Option<String>) -> Paths {
        Paths::from_env_on(env, Path::new("/"))
    }

    /// As [`Paths::from_env`], looking for an installed till below `root` (`/` on a till;
    /// a staging folder in tests).
    pub fn from_env_on(env: impl Fn(&str) -> Option<String>, root: &Path) -> Paths {
        let first = |v: Option<String>| {
            v.and_then(|s| s.split(':').next().map(PathBuf::from))
                .filter(|p| !p.as_os_str().is_empty())
        };
        let systemd = env("STATE_DIRECTORY").is_some() || env("CONFIGURATION_DIRECTORY").is_some();
        let installed_config = root.join(INSTALLED_CONFIG_DIR);
        if !systemd && installed_config.join(CONFIG_FILE).is_file() {
            // The unit's `LoadCredential=` sources live in the configuration folder.
            return Paths {
                state_dir: root.join(INSTALLED_STATE_DIR),
                credentials_dir: first(env("CREDENTIALS_DIRECTORY"))
                    .or_else(|| Some(installed_config.clone())),
                config_dir: installed_config,
            };
        }
        let dirs = directories::ProjectDirs::from("", "", "tillpass");
        let state_dir = first(env("STATE_DIRECTORY"))
            .or_else(|| dirs.as_ref().map(|d| d.data_dir().to_path_buf()))
            .unwrap_or_else(|| PathBuf::from("tillpass-data"));
        let config_dir = first(env("CONFIGURATION_DIRECTORY"))
            .or_else(|| dirs.as_ref().map(|d| d.config_dir().to_path_buf()))
            .unwrap_or_else(|| PathBuf::from("."));
        Paths {
            state_dir,
            config_dir,
            credentials_dir: first(env("CREDENTIALS_DIRECTORY")),
        }
    }

    /// The default configuration file.
    pub fn config_file(&self) -> PathBuf {
        self.config_dir.join(CONFIG_FILE)
    }

    /// A systemd credential, if the service has one of that name.
    pub fn credential(&self, name: &str) -> Option<PathBuf> {
        self.credentials_dir
            .as_ref()
            .map(|d| d.join(name))
            .filter(|p| p.is_file())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn systemd_directories_win() {
        let paths = Paths::from_env(|k| match k {
            "STATE_DIRECTORY" => Some("/var/lib/tillpass:/var/lib/other".to_owned()),
            "CONFIGURATION_DIRECTORY" => Some("/etc/tillpass".to_owned()),
            _ => None,
        });
        assert_eq!(paths.state_dir, PathBuf::from("/var/lib/tillpass"));
        assert_eq!(
            paths.config_file(),
            PathBuf::from("/etc/tillpass/config.toml")
        );
        assert_eq!(paths.credentials_dir, None);
    }

    #[test]
    fn a_run_by_hand_on_an_installed_till_reads_the_units_configuration() {
        let root = tempfile::tempdir().unwrap();
        let no_env = |_: &str| None;
        let before = Paths::from_env_on(no_env, root.path());
        assert_ne!(before.config_dir, root.path().join(INSTALLED_CONFIG_DIR));
        std::fs::create_dir_all(root.path().join(INSTALLED_CONFIG_DIR)).unwrap();
        std::fs::write(
            root.path().join(INSTALLED_CONFIG_DIR).join("config.toml"),
            "",
        )
        .unwrap();
        let paths = Paths::from_env_on(no_env, root.path());
        assert_eq!(paths.config_dir, root.path().join("etc/tillpass"));
        assert_eq!(paths.state_dir, root.path().join("var/lib/tillpass"));
        std::fs::write(root.path().join("etc/tillpass/api.token"), "t").unwrap();
        assert_eq!(
            paths.credential("api.token"),
            Some(root.path().join("etc/tillpass/api.token"))
        );
        // Under systemd its directories still win.
        let unit = Paths::from_env_on(
            |k| (k == "STATE_DIRECTORY").then(|| "/srv/state".to_owned()),
            root.path(),
        );
        assert_eq!(unit.state_dir, PathBuf::from("/srv/state"));
    }

    #[test]
    fn user_run_uses_platform_directories() {
        let paths = Paths::from_env(|_| None);
        assert!(
            paths.state_dir.ends_with("tillpass") || paths.state_dir.ends_with("tillpass-data")
        );
    }
}
