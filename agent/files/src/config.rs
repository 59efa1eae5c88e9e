//! The sections of the agent's `config.toml` that the installer writes and the agent reads,
//! with their defaults, and [`ConfigFile`]: the file the installer writes.
//!
//! The agent's `tillpass_agent::config::Config` holds these sections as they are, beside
//! its own (`[identify]`, `[log]`, `[sync]`, `[[scanner]]`), and checks every value at
//! start; unknown keys are refused. What is not written takes its default here — the API's
//! address is [`DEFAULT_LISTEN`], once.

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// Where the agent's API listens unless `[api] listen` says otherwise.
pub const DEFAULT_LISTEN: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 7100);

/// `[till]`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TillSection {
    /// The store id (from enrolment).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub store: Option<String>,
    /// The till id (from enrolment).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub till: Option<String>,
    /// The region (from enrolment).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// The till's Ed25519 key file; `$CREDENTIALS_DIRECTORY/till.key` wins under systemd.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_file: Option<PathBuf>,
    /// The enrolment record the installer wrote; `<data_dir>/enrolment.json` by default.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enrolment_file: Option<PathBuf>,
    /// The store's time zone (IANA name): promotions' weekdays and hours, the dashboard's
    /// days. `Europe/Madrid` by default.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
    /// The store's language (`es` or `en`): the dashboard's default. `es` by default.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lang: Option<String>,
}

/// `[central]`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CentralSection {
    /// Central's base URL: `https://`, or `http://` to this machine only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// A PEM file of CA certificates trusted for central's HTTPS certificate, besides the
    /// system's roots (a central behind a private CA). Written by
    /// `tillpass-install --central-ca`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<PathBuf>,
    /// Other nodes of the same central, when no balancer stands in front of them: a
    /// request that cannot reach the node in use goes to the next (the same scheme as
    /// `url`; the till stays enrolled with `url`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fallback_urls: Vec<String>,
}

/// `[api]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ApiSection {
    /// Where the API listens: loopback only unless `allow_non_loopback`.
    pub listen: SocketAddr,
    /// Allow listening on a non-loopback address (the API then serves the whole network).
    #[serde(skip_serializing_if = "is_false")]
    pub allow_non_loopback: bool,
    /// The file holding the POS bearer token; `$CREDENTIALS_DIRECTORY/api.token` wins.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_file: Option<PathBuf>,
    /// Host names the API and the dashboard answer to besides IP addresses and
    /// `localhost` (e.g. the till's name on the store's network); any other `Host` gets
    /// 421.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub allowed_hosts: Vec<String>,
    /// Seconds a client has to send a request's head, from connecting or from the end of
    /// its previous answer (also the idle timeout of kept-alive connections).
    #[serde(skip_serializing_if = "is_default_header_timeout")]
    pub header_timeout_secs: u64,
    /// Connections open at once at most; at the limit the longest idle one is closed.
    #[serde(skip_serializing_if = "is_default_max_connections")]
    pub max_connections: usize,
}

const DEFAULT_HEADER_TIMEOUT_SECS: u64 = 10;
const DEFAULT_MAX_CONNECTIONS: usize = 1000;

#[allow(clippy::trivially_copy_pass_by_ref)]
fn is_false(v: &bool) -> bool {
    !*v
}

#[allow(clippy::trivially_copy_pass_by_ref)]
fn is_default_header_timeout(v: &u64) -> bool {
    *v == DEFAULT_HEADER_TIMEOUT_SECS
}

#[allow(clippy::trivially_copy_pass_by_ref)]
fn is_default_max_connections(v: &usize) -> bool {
    *v == DEFAULT_MAX_CONNECTIONS
}

impl Default for ApiSection {
    fn default() -> ApiSection {
        ApiSection {
            listen: DEFAULT_LISTEN,
            allow_non_loopback: false,
            token_file: None,
            allowed_hosts: Vec::new(),
            header_timeout_secs: DEFAULT_HEADER_TIMEOUT_SECS,
            max_connections: DEFAULT_MAX_CONNECTIONS,
        }
    }
}

impl ApiSection {
    /// The address a client on this machine reaches the API at: an unspecified listen
    /// address (`0.0.0.0`, `::`) is reached on loopback.
    pub fn local_address(&self) -> SocketAddr {
        let mut addr = self.listen;
        if addr.ip().is_unspecified() {
            addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
        }
        addr
    }
}

/// `[store]`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreSection {
    /// Where the database lives; `$STATE_DIRECTORY` or the user data directory by default.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_dir: Option<PathBuf>,
}

/// The configuration file the installer writes for an enrolled till: the sections it
/// owns, values it leaves out take their defaults.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ConfigFile {
    pub central: CentralSection,
    pub till: TillSection,
    pub api: ApiSection,
    pub store: StoreSection,
}

/// The file's `[api]` section alone, as read by a program that is not the agent (the
/// installer asking where the agent listens): other sections and keys are ignored.
#[derive(Debug, Clone, Default, Deserialize)]
struct ApiOnly {
    #[serde(default)]
    api: ApiListen,
}

#[derive(Debug, Clone, Deserialize)]
struct ApiListen {
    #[serde(default = "default_listen")]
    listen: SocketAddr,
}

impl Default for ApiListen {
    fn default() -> ApiListen {
        ApiListen {
            listen: DEFAULT_LISTEN,
        }
    }
}

fn default_listen() -> SocketAddr {
    DEFAULT_LISTEN
}

/// Why a configuration file could not be written or read.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigFileError(String);

impl ConfigFile {
    /// The file's TOML text.
    pub fn to_toml(&self) -> Result<String, ConfigFileError> {
        toml::to_string(self).map_err(|e| ConfigFileError(e.to_string()))
    }
}

/// The file's `[central] fallback_urls` alone (other sections and keys ignored), for the
/// installer to keep them when it rewrites the file; none when the text does not parse.
pub fn central_fallback_urls(text: &str) -> Vec<String> {
    #[derive(Deserialize)]
    struct CentralOnly {
        #[serde(default)]
        central: Fallbacks,
    }
    #[derive(Default, Deserialize)]
    struct Fallbacks {
        #[serde(default)]
        fallback_urls: Vec<String>,
    }
    toml::from_str::<CentralOnly>(text)
        .map(|file| file.central.fallback_urls)
        .unwrap_or_default()
}

/// The address a client on this machine reaches the agent's API at, from the text of its
/// configuration file (the default when `[api] listen` is absent).
pub fn local_api_address(text: &str) -> Result<SocketAddr, ConfigFileError> {
    let file: ApiOnly = toml::from_str(text).map_err(|e| ConfigFileError(e.to_string()))?;
    Ok(ApiSection {
        listen: file.api.listen,
        ..ApiSection::default()
    }
    .local_address())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_written_file_names_only_what_differs_from_the_defaults() {
        let file = ConfigFile {
            central: CentralSection {
                url: Some("https://loyalty.example".to_owned()),
                ca_file: None,
                fallback_urls: Vec::new(),
            },
            till: TillSection {
                store: Some("S1".to_owned()),
                till: Some("T1".to_owned()),
                ..TillSection::default()
            },
            api: ApiSection {
                token_file: Some(PathBuf::from("/etc/tillpass/api.token")),
                ..ApiSection::default()
            },
            store: StoreSection::default(),
        };
        let text = file.to_toml().unwrap();
        assert!(
            text.contains("[central]\nurl = \"https://loyalty.example\"\n"),
            "{text}"
        );
        assert!(text.contains("listen = \"127.0.0.1:7100\""), "{text}");
        assert!(!text.contains("ca_file"), "{text}");
        assert!(!text.contains("max_connections"), "{text}");
        assert!(!text.contains("data_dir"), "{text}");
        // Each section reads back as written.
        let table: toml::Table = text.parse().unwrap();
        let api: ApiSection = table["api"].clone().try_into().unwrap();
        assert_eq!(api, file.api);
        let till: TillSection = table["till"].clone().try_into().unwrap();
        assert_eq!(till, file.till);
    }

    #[test]
    fn the_api_address_comes_from_the_file_or_the_default() {
        assert_eq!(local_api_address("").unwrap(), DEFAULT_LISTEN);
        assert_eq!(
            local_api_address("[central]\nurl = \"x\"\n[[scanner]]\nname = \"a\"\n").unwrap(),
            DEFAULT_LISTEN
        );
        assert_eq!(
            local_api_address("[api]\nlisten = \"0.0.0.0:7200\"\n")
                .unwrap()
                .to_string(),
            "127.0.0.1:7200"
        );
        let e = local_api_address("[api]\nlisten = \"nowhere\"\n").unwrap_err();
        assert!(e.to_string().contains("listen"), "{e}");
    }
}
