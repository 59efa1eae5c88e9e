//! The channel's configuration: a TOML file (`serve --whatsapp FILE`) with the Graph API's
//! address and the business number, and three secrets read from files — named in the
//! file, or else systemd credentials in `$CREDENTIALS_DIRECTORY` (`whatsapp-verify-token`,
//! `whatsapp-app-secret`, `whatsapp-access-token`). A secret never appears in `Debug`
//! output or a log line.
//!
//! ```toml
//! graph_url = "https://graph.facebook.com"
//! api_version = "v21.0"
//! phone_number_id = "106540352242922"
//! display_number = "34600111222"      # the poster's wa.me number
//! terms_version = "2026-01"
//! receipt_template = "tillpass_receipt" # optional: receipts outside the 24-hour window
//! send_timeout_ms = 20000             # one call to the Graph API
//! confirm_window_ms = 600000          # how long an unconfirmed send waits for a status
//! ```

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::error::{Error, Result};

/// A secret: shown as `***`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// A secret from its text.
    pub fn new(text: impl Into<String>) -> Secret {
        Secret(text.into())
    }

    /// The secret itself: for the signature key and the bearer header only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("***")
    }
}

/// The channel's configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// The Graph API's base URL, without a trailing slash.
    pub graph_url: String,
    /// The API version path segment, e.g. `v21.0`.
    pub api_version: String,
    /// The business phone number's id at Meta.
    pub phone_number_id: String,
    /// The business number in international form without `+` (the poster's `wa.me`).
    pub display_number: Option<String>,
    /// The version of the terms a customer accepts when signing up.
    pub terms_version: String,
    /// The approved template for receipts outside the 24-hour window.
    pub receipt_template: Option<String>,
    /// The verify token of the webhook's `GET` check.
    pub verify_token: Secret,
    /// The app secret that signs deliveries.
    pub app_secret: Secret,
    /// The bearer token of the Graph API.
    pub access_token: Secret,
    /// The least time between two passes for one customer.
    pub pass_interval: Duration,
    /// The most attempts at sending one message before it is dead.
    pub max_attempts: i64,
    /// The first retry's delay; each next one doubles, with jitter, up to
    /// [`Config::max_backoff`].
    pub backoff: Duration,
    /// The longest retry delay.
    pub max_backoff: Duration,
    /// How long one call to the Graph API may take.
    pub send_timeout: Duration,
    /// How long a send whose outcome is unknown (a timeout, a cut connection, a crash
    /// after the request left) waits for a status naming its idempotency key before it
    /// is sent again.
    pub confirm_window: Duration,
}

impl Config {
    /// How long a node holds an attempt in flight: an upload and a send, each up to
    /// [`Config::send_timeout`], and a second. An attempt still in flight after it was
    /// cut short (the node died): its outcome is unknown.
    pub fn attempt_lease(&self) -> Duration {
        self.send_timeout * 2 + Duration::from_secs(1)
    }
}

/// The file's fields.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default = "default_graph_url")]
    graph_url: String,
    #[serde(default = "default_api_version")]
    api_version: String,
    phone_number_id: String,
    #[serde(default)]
    display_number: Option<String>,
    terms_version: String,
    #[serde(default)]
    receipt_template: Option<String>,
    #[serde(default)]
    verify_token_file: Option<PathBuf>,
    #[serde(default)]
    app_secret_file: Option<PathBuf>,
    #[serde(default)]
    access_token_file: Option<PathBuf>,
    #[serde(default = "default_pass_interval")]
    pass_interval_secs: u64,
    #[serde(default = "default_max_attempts")]
    max_attempts: i64,
    #[serde(default = "default_backoff")]
    backoff_ms: u64,
    #[serde(default = "default_max_backoff")]
    max_backoff_ms: u64,
    #[serde(default = "default_send_timeout")]
    send_timeout_ms: u64,
    #[serde(default = "default_confirm_window")]
    confirm_window_ms: u64,
}

fn default_graph_url() -> String {
    "https://graph.facebook.com".into()
}
fn default_api_version() -> String {
    "v21.0".into()
}
fn default_pass_interval() -> u64 {
    10
}
fn default_max_attempts() -> i64 {
    8
}
fn default_backoff() -> u64 {
    1_000
}
fn default_max_backoff() -> u64 {
    60_000
}
fn default_send_timeout() -> u64 {
    20_000
}
fn default_confirm_window() -> u64 {
    600_000
}

impl Config {
    /// Reads the configuration file at `path` and the secrets it names (or the systemd
    /// credentials).
    pub fn load(path: &Path) -> Result<Config> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
        let credentials = std::env::var_os("CREDENTIALS_DIRECTORY").map(PathBuf::from);
        Config::parse(&text, path.parent(), credentials.as_deref())
    }

    /// The configuration in `text`; relative secret files are under `base`.
    pub fn parse(text: &str, base: Option<&Path>, credentials: Option<&Path>) -> Result<Config> {
        let file: File = toml::from_str(text)
            .map_err(|e| Error::invalid(format!("the WhatsApp configuration: {e}")))?;
        let secret = |named: &Option<PathBuf>, credential: &str| -> Result<Secret> {
            let path = match (named, credentials) {
                (Some(p), _) if p.is_relative() => base.unwrap_or(Path::new(".")).join(p),
                (Some(p), _) => p.clone(),
                (None, Some(dir)) => dir.join(credential),
                (None, None) => {
                    return Err(Error::invalid(format!(
                        "the WhatsApp configuration names no file for {credential} and there \
                         is no $CREDENTIALS_DIRECTORY"
                    )));
                }
            };
            let text = std::fs::read_to_string(&path)
                .map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
            let text = text.trim();
            if text.is_empty() {
                return Err(Error::invalid(format!("{} is empty", path.display())));
            }
            Ok(Secret::new(text))
        };
        if file.phone_number_id.is_empty()
            || !file.phone_number_id.bytes().all(|b| b.is_ascii_digit())
        {
            return Err(Error::invalid("phone_number_id: digits"));
        }
        if let Some(n) = &file.display_number
            && (n.is_empty() || n.len() > 15 || !n.bytes().all(|b| b.is_ascii_digit()))
        {
            return Err(Error::invalid(
                "display_number: the number in international form, digits only",
            ));
        }
        if !(1..=100).contains(&file.max_attempts) {
            return Err(Error::invalid("max_attempts: 1 to 100"));
        }
        if !(100..=120_000).contains(&file.send_timeout_ms) {
            return Err(Error::invalid("send_timeout_ms: 100 to 120000"));
        }
        Ok(Config {
            graph_url: file.graph_url.trim_end_matches('/').to_owned(),
            api_version: file.api_version,
            phone_number_id: file.phone_number_id,
            display_number: file.display_number,
            terms_version: file.terms_version,
            receipt_template: file.receipt_template,
            verify_token: secret(&file.verify_token_file, "whatsapp-verify-token")?,
            app_secret: secret(&file.app_secret_file, "whatsapp-app-secret")?,
            access_token: secret(&file.access_token_file, "whatsapp-access-token")?,
            pass_interval: Duration::from_secs(file.pass_interval_secs),
            max_attempts: file.max_attempts,
            backoff: Duration::from_millis(file.backoff_ms.max(1)),
            max_backoff: Duration::from_millis(file.max_backoff_ms.max(file.backoff_ms.max(1))),
            send_timeout: Duration::from_millis(file.send_timeout_ms),
            confirm_window: Duration::from_millis(file.confirm_window_ms),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_come_from_files_or_credentials_and_never_show() {
        let dir = tempfile::tempdir().unwrap();
        for (name, value) in [
            ("whatsapp-verify-token", "verify-me"),
            ("whatsapp-app-secret", "app-secret-value"),
            ("whatsapp-access-token", "access-token-value"),
        ] {
            std::fs::write(dir.path().join(name), format!("{value}\n")).unwrap();
        }
        let text = "phone_number_id = \"123\"\nterms_version = \"2026-01\"\n";
        let config = Config::parse(text, None, Some(dir.path())).unwrap();
        assert_eq!(config.app_secret.expose(), "app-secret-value");
        assert_eq!(config.graph_url, "https://graph.facebook.com");
        let shown = format!("{config:?}");
        assert!(!shown.contains("app-secret-value") && !shown.contains("access-token-value"));
        assert!(!shown.contains("verify-me"));

        let missing = Config::parse(text, None, None).unwrap_err();
        assert!(
            missing.to_string().contains("CREDENTIALS_DIRECTORY"),
            "{missing}"
        );

        std::fs::write(dir.path().join("secret"), "from-a-file").unwrap();
        let named = format!("{text}app_secret_file = \"secret\"\n");
        let config = Config::parse(&named, Some(dir.path()), Some(dir.path())).unwrap();
        assert_eq!(config.app_secret.expose(), "from-a-file");
    }
}
