//! Where the agent keeps its files.
//!
//! Under systemd, `$STATE_DIRECTORY`, `$CONFIGURATION_DIRECTORY` and
//! `$CREDENTIALS_DIRECTORY` win; for a user run the platform's directories (from the
//! `directories` crate) are used, e.g. `~/.local/share/tillpass` on Linux.

use std::path::PathBuf;

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
        let dirs = directories::ProjectDirs::from("", "", "tillpass");
        let first = |v: Option<String>| {
            v.and_then(|s| s.split(':').next().map(PathBuf::from))
                .filter(|p| !p.as_os_str().is_empty())
        };
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
        self.config_dir.join("config.toml")
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
    fn user_run_uses_platform_directories() {
        let paths = Paths::from_env(|_| None);
        assert!(
            paths.state_dir.ends_with("tillpass") || paths.state_dir.ends_with("tillpass-data")
        );
    }
}
