//! The agent's configuration: defaults → TOML file → `TILLPASS_*` environment, validated
//! into typed settings at start.
//!
//! A bad value stops start-up with a message that names the key and what is allowed:
//! unknown keys are refused (a typo never falls back silently to a default), and every
//! value is checked before anything is opened.
//!
//! Environment variables name a section and a key: `TILLPASS_API_LISTEN` sets
//! `[api] listen`, `TILLPASS_STORE_DATA_DIR` sets `[store] data_dir`. Their values are read
//! as TOML when they parse as a number or boolean, and as text otherwise.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use thiserror::Error;
use tillpass_hardware::ScannerConfig;
/// The sections the installer writes have one owner, shared with it.
pub use tillpass_tillfiles::config::{ApiSection, CentralSection, StoreSection, TillSection};
use tillpass_tillfiles::layout;

use crate::paths::Paths;

/// A configuration that cannot be used, with the key at fault.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read the configuration file {path}: {detail}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        detail: String,
    },
    /// The file or an environment variable is not valid TOML, or a key is unknown or has
    /// the wrong type.
    #[error("configuration: {0}")]
    Parse(String),
    /// A value is out of range.
    #[error("configuration key {key}: {message}")]
    Invalid {
        /// The key, e.g. `api.listen`.
        key: String,
        /// What is allowed.
        message: String,
    },
}

fn invalid(key: &str, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key: key.to_owned(),
        message: message.into(),
    }
}

/// Everything the agent is configured with.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Which till this is.
    pub till: TillSection,
    /// The central loyalty service.
    pub central: CentralSection,
    /// The local HTTP API (POS, dashboard, health).
    pub api: ApiSection,
    /// The local store.
    pub store: StoreSection,
    /// Identification rules.
    pub identify: IdentifySection,
    /// Logging.
    pub log: LogSection,
    /// `[sync]`.
    pub sync: SyncSection,
    /// The scanners this till reads.
    #[serde(rename = "scanner")]
    pub scanners: Vec<ScannerConfig>,
}

/// The store's time zone (`[till] timezone`, else [`DEFAULT_TIMEZONE`]).
pub fn time_zone(till: &TillSection) -> jiff::tz::TimeZone {
    till.timezone
        .as_deref()
        .and_then(|name| jiff::tz::TimeZone::get(name).ok())
        .unwrap_or_else(|| {
            jiff::tz::TimeZone::get(DEFAULT_TIMEZONE).unwrap_or(jiff::tz::TimeZone::UTC)
        })
}

/// The store's language (`[till] lang`, Spanish by default).
pub fn language(till: &TillSection) -> tillpass_protocol::lang::Lang {
    match till.lang.as_deref() {
        Some("en") => tillpass_protocol::lang::Lang::En,
        _ => tillpass_protocol::lang::Lang::Es,
    }
}

/// The time zone of a store that names none.
pub const DEFAULT_TIMEZONE: &str = "Europe/Madrid";

/// `[sync]`: the conversation with central.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SyncSection {
    /// Seconds between pulls of deltas and the catalog while online.
    pub interval_secs: u64,
    /// Days scan logs and token-use records are kept once synced.
    pub retention_days: u32,
    /// The longest wait between two retries after central could not be reached, in
    /// seconds (retries start at a quarter of a second and double up to this).
    pub retry_max_secs: u64,
    /// The most a scan waits for central's live answer about a customer or a gift card
    /// the till does not hold, in milliseconds (1..=5000); past it, the token's signed
    /// snapshot is used.
    pub lookup_budget_ms: u64,
}

impl Default for SyncSection {
    fn default() -> SyncSection {
        SyncSection {
            interval_secs: 30,
            retention_days: 90,
            retry_max_secs: 60,
            lookup_budget_ms: 300,
        }
    }
}

/// `[identify]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IdentifySection {
    /// How many visits one customer pass may make at this till (central's offline policy
    /// wins when the till is enrolled).
    pub max_uses_per_pass: u32,
    /// How far clocks may disagree, in seconds.
    pub clock_skew_secs: u32,
    /// How long an identified customer stays in the till's "current customer" slot; also
    /// how long after its last read a pass's visit lasts.
    pub customer_slot_secs: u64,
}

impl Default for IdentifySection {
    fn default() -> IdentifySection {
        IdentifySection {
            max_uses_per_pass: 3,
            clock_skew_secs: 300,
            customer_slot_secs: 180,
        }
    }
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines; native journal entries when stderr is the journal.
    #[default]
    Human,
    /// One JSON object a line on stderr, wherever stderr goes.
    Json,
    /// For the systemd journal: native entries (priority, one journal field per field)
    /// when stderr is the journal's stream, else lines without timestamps or colour.
    Journald,
}

/// `[log]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogSection {
    /// How lines are written when stderr is not the journal: see [`LogFormat`].
    pub format: LogFormat,
    /// The filter, e.g. `info` or `tillpass_agent=debug,info`.
    pub level: String,
}

impl Default for LogSection {
    fn default() -> LogSection {
        LogSection {
            format: LogFormat::Human,
            level: "info".to_owned(),
        }
    }
}

const SECTIONS: &[&str] = &["till", "central", "api", "store", "identify", "log", "sync"];

impl Config {
    /// Loads the configuration: defaults, then `file` if it exists (an explicitly named
    /// file must exist), then the `TILLPASS_*` variables of `env`.
    pub fn load(
        file: Option<&Path>,
        required: bool,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Config, ConfigError> {
        let mut table = match file {
            Some(path) => match std::fs::read_to_string(path) {
                Ok(text) => text
                    .parse::<toml::Table>()
                    .map_err(|e| ConfigError::Parse(format!("{}: {e}", path.display())))?,
                Err(e) if !required && e.kind() == std::io::ErrorKind::NotFound => {
                    toml::Table::new()
                }
                Err(e) => {
                    return Err(ConfigError::Read {
                        path: path.display().to_string(),
                        detail: e.to_string(),
                    });
                }
            },
            None => toml::Table::new(),
        };
        for (name, value) in env {
            apply_env(&mut table, &name, &value)?;
        }
        let config: Config = toml::Value::Table(table)
            .try_into()
            .map_err(|e: toml::de::Error| ConfigError::Parse(e.to_string()))?;
        config.validate()?;
        Ok(config)
    }

    /// Checks every value; the error names the key.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !self.api.allow_non_loopback && !self.api.listen.ip().is_loopback() {
            return Err(invalid(
                "api.listen",
                format!(
                    "{} is not a loopback address; the POS API serves only this machine \
                     unless api.allow_non_loopback = true",
                    self.api.listen
                ),
            ));
        }
        if !(1..=300).contains(&self.api.header_timeout_secs) {
            return Err(invalid(
                "api.header_timeout_secs",
                "must be between 1 and 300 seconds",
            ));
        }
        if !(16..=100_000).contains(&self.api.max_connections) {
            return Err(invalid(
                "api.max_connections",
                "must be between 16 and 100000",
            ));
        }
        if let Some(bad) = self.api.allowed_hosts.iter().find(|h| {
            h.is_empty()
                || h.len() > 253
                || !h
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.'))
        }) {
            return Err(invalid(
                "api.allowed_hosts",
                format!("{bad:?} is not a host name (letters, digits, '-' and '.')"),
            ));
        }
        if self.identify.max_uses_per_pass == 0 {
            return Err(invalid("identify.max_uses_per_pass", "must be at least 1"));
        }
        if self.identify.clock_skew_secs > 3_600 {
            return Err(invalid(
                "identify.clock_skew_secs",
                "must be at most 3600 (one hour)",
            ));
        }
        if !(5..=3_600).contains(&self.identify.customer_slot_secs) {
            return Err(invalid(
                "identify.customer_slot_secs",
                "must be between 5 and 3600 seconds",
            ));
        }
        if self
            .log
            .level
            .parse::<tracing_subscriber::EnvFilter>()
            .is_err()
        {
            return Err(invalid(
                "log.level",
                "must be a tracing filter such as `info` or `tillpass_agent=debug,info`",
            ));
        }
        if let Some(url) = &self.central.url
            && let Err(e) = tillpass_protocol::sync::check_central_url(url)
        {
            return Err(invalid("central.url", e.to_string()));
        }
        for url in &self.central.fallback_urls {
            if let Err(e) = tillpass_protocol::sync::check_central_url(url) {
                return Err(invalid("central.fallback_urls", e.to_string()));
            }
            let https = |u: &str| tillpass_protocol::sync::is_https(u);
            if self
                .central
                .url
                .as_deref()
                .is_some_and(|u| https(u) != https(url))
            {
                return Err(invalid(
                    "central.fallback_urls",
                    format!("{url} does not use central.url's scheme"),
                ));
            }
        }
        if let Some(name) = &self.till.timezone
            && jiff::tz::TimeZone::get(name).is_err()
        {
            return Err(invalid(
                "till.timezone",
                format!("{name} is not a known IANA time zone, e.g. Europe/Madrid"),
            ));
        }
        if let Some(lang) = &self.till.lang
            && !matches!(lang.as_str(), "es" | "en")
        {
            return Err(invalid("till.lang", "must be `es` or `en`"));
        }
        if !(1..=86_400).contains(&self.sync.interval_secs) {
            return Err(invalid(
                "sync.interval_secs",
                "must be between 1 and 86400 seconds",
            ));
        }
        if !(1..=3_600).contains(&self.sync.retry_max_secs) {
            return Err(invalid(
                "sync.retry_max_secs",
                "must be between 1 and 3600 seconds",
            ));
        }
        if !(1..=5_000).contains(&self.sync.lookup_budget_ms) {
            return Err(invalid(
                "sync.lookup_budget_ms",
                "must be 1 to 5000 milliseconds",
            ));
        }
        if !(1..=3_650).contains(&self.sync.retention_days) {
            return Err(invalid(
                "sync.retention_days",
                "must be between 1 and 3650 days",
            ));
        }
        tillpass_hardware::config::validate_all(&self.scanners)
            .map_err(|e| invalid("scanner", e.to_string()))?;
        Ok(())
    }

    /// The database folder.
    pub fn data_dir(&self, paths: &Paths) -> PathBuf {
        self.store
            .data_dir
            .clone()
            .unwrap_or_else(|| paths.state_dir.clone())
    }

    /// The enrolment record's path.
    pub fn enrolment_file(&self, paths: &Paths) -> PathBuf {
        self.till
            .enrolment_file
            .clone()
            .unwrap_or_else(|| self.data_dir(paths).join(layout::ENROLMENT_FILE))
    }

    /// The till key file: the systemd credential if there is one.
    pub fn key_file(&self, paths: &Paths) -> Option<PathBuf> {
        paths
            .credential(layout::TILL_KEY_FILE)
            .or_else(|| self.till.key_file.clone())
    }

    /// The POS bearer token file: the systemd credential if there is one.
    pub fn token_file(&self, paths: &Paths) -> PathBuf {
        paths
            .credential(layout::API_TOKEN_FILE)
            .or_else(|| self.api.token_file.clone())
            .unwrap_or_else(|| self.data_dir(paths).join(layout::API_TOKEN_FILE))
    }
}

fn apply_env(table: &mut toml::Table, name: &str, value: &str) -> Result<(), ConfigError> {
    let Some(rest) = name.strip_prefix("TILLPASS_") else {
        return Ok(());
    };
    let rest = rest.to_ascii_lowercase();
    let Some((section, key)) = SECTIONS.iter().find_map(|section| {
        rest.strip_prefix(section)
            .and_then(|r| r.strip_prefix('_'))
            .filter(|k| !k.is_empty())
            .map(|k| (*section, k.to_owned()))
    }) else {
        return Ok(());
    };
    let parsed = format!("v = {value}")
        .parse::<toml::Table>()
        .ok()
        .and_then(|mut t| t.remove("v"))
        .filter(|v| v.is_integer() || v.is_bool() || v.is_float())
        .unwrap_or_else(|| toml::Value::String(value.to_owned()));
    let entry = table
        .entry(section)
        .or_insert_with(|| toml::Value::Table(toml::Table::new()));
    match entry {
        toml::Value::Table(t) => {
            t.insert(key, parsed);
            Ok(())
        }
        _ => Err(invalid(section, "must be a table")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str, env: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        std::fs::write(&path, text).unwrap();
        Config::load(
            Some(&path),
            true,
            env.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
        )
    }

    #[test]
    fn the_file_the_installer_writes_is_read_as_written() {
        use tillpass_tillfiles::config::ConfigFile;
        let written = ConfigFile {
            central: CentralSection {
                url: Some("https://loyalty.example".to_owned()),
                ca_file: Some(PathBuf::from("/etc/tillpass/central-ca.pem")),
                fallback_urls: Vec::new(),
            },
            till: TillSection {
                store: Some("S1".to_owned()),
                till: Some("S1-T1".to_owned()),
                region: Some("north".to_owned()),
                key_file: Some(PathBuf::from("/etc/tillpass/till.key")),
                enrolment_file: Some(PathBuf::from("/var/lib/tillpass/enrolment.json")),
                ..TillSection::default()
            },
            api: ApiSection {
                token_file: Some(PathBuf::from("/etc/tillpass/api.token")),
                ..ApiSection::default()
            },
            store: StoreSection {
                data_dir: Some(PathBuf::from("/var/lib/tillpass")),
            },
        };
        let c = load(&written.to_toml().unwrap(), &[]).unwrap();
        assert_eq!(c.central, written.central);
        assert_eq!(c.till, written.till);
        assert_eq!(c.api, written.api);
        assert_eq!(c.store, written.store);
        assert_eq!(c.api.listen, tillpass_tillfiles::config::DEFAULT_LISTEN);
    }

    #[test]
    fn defaults_then_file_then_environment() {
        let c = load("", &[]).unwrap();
        assert_eq!(c.api.listen.to_string(), "127.0.0.1:7100");
        let c = load("[api]\nlisten = \"127.0.0.1:9000\"\n", &[]).unwrap();
        assert_eq!(c.api.listen.port(), 9000);
        let c = load(
            "[api]\nlisten = \"127.0.0.1:9000\"\n",
            &[
                ("TILLPASS_API_LISTEN", "127.0.0.1:9100"),
                ("TILLPASS_IDENTIFY_MAX_USES_PER_PASS", "5"),
                ("TILLPASS_STORE_DATA_DIR", "/var/lib/x"),
                ("OTHER", "ignored"),
            ],
        )
        .unwrap();
        assert_eq!(c.api.listen.port(), 9100);
        assert_eq!(c.identify.max_uses_per_pass, 5);
        assert_eq!(c.store.data_dir.as_deref(), Some(Path::new("/var/lib/x")));
    }

    #[test]
    fn bad_values_name_the_key() {
        let e = load("[api]\nlisten = \"0.0.0.0:7100\"\n", &[]).unwrap_err();
        assert!(e.to_string().contains("api.listen"), "{e}");
        let e = load("[identify]\nmax_uses_per_pass = 0\n", &[]).unwrap_err();
        assert!(e.to_string().contains("identify.max_uses_per_pass"), "{e}");
        let e = load("[api]\nlisen = \"127.0.0.1:1\"\n", &[]).unwrap_err();
        assert!(e.to_string().contains("lisen"), "{e}");
        let e = load("", &[("TILLPASS_IDENTIFY_CLOCK_SKEW_SECS", "many")]).unwrap_err();
        assert!(e.to_string().contains("clock_skew_secs"), "{e}");
        let e = load("[log]\nformat = \"xml\"\n", &[]).unwrap_err();
        assert!(e.to_string().contains("format"), "{e}");
        let e = load("[central]\nurl = \"ftp://x\"\n", &[]).unwrap_err();
        assert!(e.to_string().contains("central.url"), "{e}");
        let e = load("[api]\nallowed_hosts = [\"a b\"]\n", &[]).unwrap_err();
        assert!(e.to_string().contains("api.allowed_hosts"), "{e}");
        let e = load("[api]\nheader_timeout_secs = 0\n", &[]).unwrap_err();
        assert!(e.to_string().contains("api.header_timeout_secs"), "{e}");
        let c = load("[api]\nallowed_hosts = [\"Till-3.shop.lan.\"]\n", &[]).unwrap();
        assert_eq!(
            &*crate::http::ServeSettings::from(&c.api).allowed_hosts,
            ["till-3.shop.lan"]
        );
        let e = load("[central]\nurl = \"http://10.1.2.3:8440\"\n", &[]).unwrap_err();
        assert!(e.to_string().contains("plain http://"), "{e}");
        let ok = load(
            "[central]\nurl = \"https://loyalty.example.com\"\nca_file = \"/etc/tillpass/central-ca.pem\"\n",
            &[],
        )
        .unwrap();
        assert_eq!(
            ok.central.ca_file.as_deref(),
            Some(Path::new("/etc/tillpass/central-ca.pem"))
        );
        assert!(load("[central]\nurl = \"http://127.0.0.1:8440\"\n", &[]).is_ok());
        let e = load("[sync]\nretry_max_secs = 0\n", &[]).unwrap_err();
        assert!(e.to_string().contains("sync.retry_max_secs"), "{e}");
        let c = load("", &[("TILLPASS_SYNC_INTERVAL_SECS", "5")]).unwrap();
        assert_eq!((c.sync.interval_secs, c.sync.retry_max_secs), (5, 60));
    }

    #[test]
    fn non_loopback_needs_an_explicit_yes() {
        let c = load(
            "[api]\nlisten = \"0.0.0.0:7100\"\nallow_non_loopback = true\n",
            &[],
        )
        .unwrap();
        assert!(c.api.allow_non_loopback);
    }

    #[test]
    fn a_missing_optional_file_is_defaults_and_a_missing_named_file_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("none.toml");
        assert!(Config::load(Some(&path), false, []).is_ok());
        assert!(matches!(
            Config::load(Some(&path), true, []),
            Err(ConfigError::Read { .. })
        ));
    }
}
