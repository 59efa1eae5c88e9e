//! Enrolment: a till presents a one-time code and its own public key; central answers with
//! the till's ids, the trust list and the offline policy.
//!
//! `POST /v1/enrol` ([`super::paths::ENROL`]) is the only till request that is not signed
//! with the till key: the one-time code is what authenticates it.
//!
//! ## Pinning central's root key
//!
//! The answer carries the root key every later trust list is checked against, so it must
//! not be taken from whoever answers. The code an administrator hands out ([`EnrolCode`],
//! printed by `tillpass-central enrol-code`) is the one-time code followed by the
//! [`RootFingerprint`] of central's root key, `BCDF-GHJK-MNPR-TVX2-<32 hex digits>`; only
//! the one-time part is sent. The installer refuses an answer whose root key has another
//! fingerprint. A code without one (made by an older central) is accepted only together
//! with the fingerprint given on its own (`--central-root`).
//!
//! ## Central's URL
//!
//! [`check_central_url`]: `https://` to any host, `http://` only to a loopback address or
//! `localhost` (a central on the same machine, as in the demo and in tests).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use thiserror::Error;

use super::VERSION;
use super::ids::{RegionId, StoreId, TillId};
use crate::money::Money;

/// The fingerprint of central's root public key: the first 16 bytes of its SHA-256,
/// written as 32 lowercase hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct RootFingerprint(pub [u8; 16]);

impl RootFingerprint {
    /// The fingerprint of a root public key.
    pub fn of(root_public_key: &[u8; 32]) -> RootFingerprint {
        let digest = Sha256::digest(root_public_key);
        let mut out = [0u8; 16];
        out.copy_from_slice(digest.get(..16).unwrap_or_default());
        RootFingerprint(out)
    }

    /// Whether `root_public_key` has this fingerprint.
    pub fn matches(&self, root_public_key: &[u8; 32]) -> bool {
        RootFingerprint::of(root_public_key) == *self
    }
}

impl fmt::Display for RootFingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for RootFingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RootFingerprint({self})")
    }
}

impl FromStr for RootFingerprint {
    type Err = &'static str;
    /// 32 hex digits, either case; dashes and spaces between them are ignored.
    fn from_str(text: &str) -> Result<RootFingerprint, &'static str> {
        let digits: String = text.chars().filter(|c| !matches!(c, '-' | ' ')).collect();
        let bytes: [u8; 16] = (digits.len() == 32)
            .then(|| hex::decode(digits.to_ascii_lowercase()).ok())
            .flatten()
            .and_then(|b| b.try_into().ok())
            .ok_or("a root fingerprint is 32 hex digits")?;
        Ok(RootFingerprint(bytes))
    }
}

/// An enrolment code as an administrator hands it out: the one-time code and, in codes of
/// this version, the fingerprint of central's root key after a last `-`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnrolCode {
    /// The one-time part, sent to central.
    pub code: String,
    /// The root key's fingerprint, when the code carries one.
    pub root: Option<RootFingerprint>,
}

impl EnrolCode {
    /// Splits a code as typed: a last `-`-separated group of 32 hex digits is the root
    /// fingerprint; the rest is the one-time code.
    pub fn parse(text: &str) -> EnrolCode {
        let text = text.trim();
        if let Some((code, last)) = text.rsplit_once('-')
            && last.len() == 32
            && let Ok(root) = last.parse::<RootFingerprint>()
        {
            return EnrolCode {
                code: code.trim().to_owned(),
                root: Some(root),
            };
        }
        EnrolCode {
            code: text.to_owned(),
            root: None,
        }
    }

    /// The code as printed: `{code}-{fingerprint}`.
    pub fn with_root(code: &str, root: RootFingerprint) -> String {
        format!("{code}-{root}")
    }
}

/// Why a central URL may not be used.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum CentralUrlError {
    /// Not a URL.
    #[error("central URL {url:?} is not a valid URL: {detail}")]
    Malformed {
        /// The text given.
        url: String,
        /// What the parser said.
        detail: String,
    },
    /// Neither `https://` nor `http://`.
    #[error("central URL {url:?} must start with https://")]
    Scheme {
        /// The text given.
        url: String,
    },
    /// `http://` to a host that is not loopback: everything, the enrolment's trust root
    /// included, would cross the network in clear.
    #[error(
        "central URL {url:?} uses plain http:// to {host}, which is not this machine: use \
         https:// (http:// is allowed only to 127.0.0.0/8, ::1 or localhost)"
    )]
    PlainHttp {
        /// The text given.
        url: String,
        /// Its host.
        host: String,
    },
}

impl CentralUrlError {
    /// A stable snake_case code.
    pub fn code(&self) -> &'static str {
        match self {
            CentralUrlError::Malformed { .. } => "central_url_malformed",
            CentralUrlError::Scheme { .. } => "central_url_scheme",
            CentralUrlError::PlainHttp { .. } => "central_url_plain_http",
        }
    }
}

/// Whether a central URL uses TLS (its scheme, in any case, is `https`): what decides
/// whether a client needs its trusted roots.
pub fn is_https(text: &str) -> bool {
    url::Url::parse(text.trim()).is_ok_and(|u| u.scheme() == "https")
}

/// Checks a central base URL: `https://` to any host, `http://` only to a loopback host
/// (127.0.0.0/8, `::1`, an IPv4-mapped loopback address, or `localhost`). The URL is parsed
/// as the HTTP client parses it, so `http://127.1` is loopback and `http://127.0.0.1.nip.io`
/// is not.
pub fn check_central_url(text: &str) -> Result<(), CentralUrlError> {
    let parsed = url::Url::parse(text.trim()).map_err(|e| CentralUrlError::Malformed {
        url: text.to_owned(),
        detail: e.to_string(),
    })?;
    let host = parsed.host().ok_or_else(|| CentralUrlError::Malformed {
        url: text.to_owned(),
        detail: "no host".to_owned(),
    })?;
    match parsed.scheme() {
        "https" => Ok(()),
        "http" => {
            let loopback = match &host {
                url::Host::Domain(name) => {
                    name.trim_end_matches('.').eq_ignore_ascii_case("localhost")
                }
                url::Host::Ipv4(ip) => ip.is_loopback(),
                url::Host::Ipv6(ip) => {
                    ip.is_loopback() || ip.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
                }
            };
            if loopback {
                Ok(())
            } else {
                Err(CentralUrlError::PlainHttp {
                    url: text.to_owned(),
                    host: host.to_string(),
                })
            }
        }
        _ => Err(CentralUrlError::Scheme {
            url: text.to_owned(),
        }),
    }
}

/// The longest enrolment code, agent version or hostname accepted, in bytes.
pub const MAX_ENROL_FIELD_LEN: usize = 253;

/// What a till sends to enrol.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnrolRequest {
    /// The message version, [`VERSION`].
    pub v: u16,
    /// The one-time enrolment code an administrator created for this store and till.
    pub code: String,
    /// The till's Ed25519 public key (32 bytes, 64 hex digits). Every later request of
    /// the till is signed with the matching private key.
    #[serde(with = "super::hex::array")]
    pub till_public_key: [u8; 32],
    /// The agent's version, e.g. `0.1.0`.
    pub agent_version: String,
    /// The till's hostname, for central IT's inventory.
    pub hostname: String,
}

impl EnrolRequest {
    /// A request of the current version.
    pub fn new(
        code: impl Into<String>,
        till_public_key: [u8; 32],
        agent_version: impl Into<String>,
        hostname: impl Into<String>,
    ) -> EnrolRequest {
        EnrolRequest {
            v: VERSION,
            code: code.into(),
            till_public_key,
            agent_version: agent_version.into(),
            hostname: hostname.into(),
        }
    }

    /// Whether the text fields are non-empty (the code), printable and not too long.
    pub fn check(&self) -> Result<(), &'static str> {
        if self.v != VERSION {
            return Err("unsupported version");
        }
        if self.code.is_empty() {
            return Err("code must not be empty");
        }
        for (name, value) in [
            ("code", &self.code),
            ("agent_version", &self.agent_version),
            ("hostname", &self.hostname),
        ] {
            if value.len() > MAX_ENROL_FIELD_LEN || value.chars().any(char::is_control) {
                return Err(match name {
                    "code" => "code is too long or not printable",
                    "agent_version" => "agent_version is too long or not printable",
                    _ => "hostname is too long or not printable",
                });
            }
        }
        Ok(())
    }
}

/// What central answers to a successful enrolment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnrolResponse {
    /// The message version, [`VERSION`].
    pub v: u16,
    /// The store the till belongs to.
    pub store: StoreId,
    /// The till's id: it signs every later request as this till.
    pub till: TillId,
    /// The store's region: promotions can be scoped by it.
    pub region: RegionId,
    /// The root public key that signs the trust list (32 bytes, hex). The installer checks
    /// it against the [`RootFingerprint`] of the enrolment code.
    #[serde(with = "super::hex::array")]
    pub root_public_key: [u8; 32],
    /// The current trust list: the bytes of its signed envelope (`crate::envelope`),
    /// hex-encoded. Empty when central has not published one yet.
    #[serde(with = "super::hex::blob")]
    pub trust_list: Vec<u8>,
    /// The limits the till keeps while it cannot reach central.
    pub offline_policy: OfflinePolicy,
}

/// The limits a till keeps while it is not synced with central. Past them it degrades to
/// "earn only", visibly on the dashboard.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OfflinePolicy {
    /// The most savings one customer may spend at this till between two successful syncs.
    pub max_savings_spend_per_customer: Money,
    /// The most one gift card may pay at this till between two successful syncs.
    pub max_gift_card_spend_per_card: Money,
    /// The oldest a promotion catalog may be (seconds since it was issued) before the till
    /// stops applying promotions.
    pub max_catalog_age_secs: u64,
    /// The oldest a trust list may be (seconds since it was issued) before the till stops
    /// accepting redemptions.
    pub max_trust_list_age_secs: u64,
    /// How many days the till keeps synced journal rows and personal data of customers
    /// it has not seen.
    pub retention_days: u32,
    /// How often one pass may be used.
    pub replay: ReplayPolicy,
}

/// How often one token may be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplayPolicy {
    /// How many visits one customer pass (one token id) may make at a till; a read that
    /// would start another is refused as a replay. What a visit is, and how gift cards and
    /// vouchers are counted, is [`token::replay`](crate::token::replay)'s rule.
    pub max_uses_per_pass: u32,
}

/// What a till keeps of its enrolment, in `enrolment.json` in its state directory: written
/// by the installer, read by the agent at start.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnrolmentRecord {
    /// The central service's base URL, e.g. `https://loyalty.example.com`.
    pub central: String,
    /// The till's public key in hex, as it was enrolled.
    pub till_public_key: String,
    /// What central answered.
    pub response: EnrolResponse,
}

impl EnrolmentRecord {
    /// Whether this record was made for this central and this key.
    pub fn matches(&self, central: &str, till_public_key: &str) -> bool {
        self.central.trim_end_matches('/') == central.trim_end_matches('/')
            && self.till_public_key == till_public_key
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn https_is_read_from_the_scheme_in_any_case() {
        assert!(is_https("https://central.example"));
        assert!(is_https(" HTTPS://central.example/ "));
        assert!(!is_https("http://127.0.0.1:8440"));
        assert!(!is_https("not a url"));
    }
    use crate::money::Currency;

    pub(crate) fn policy() -> OfflinePolicy {
        OfflinePolicy {
            max_savings_spend_per_customer: Money::new(2000, Currency::EUR),
            max_gift_card_spend_per_card: Money::new(5000, Currency::EUR),
            max_catalog_age_secs: 7 * 86_400,
            max_trust_list_age_secs: 30 * 86_400,
            retention_days: 90,
            replay: ReplayPolicy {
                max_uses_per_pass: 3,
            },
        }
    }

    #[test]
    fn enrolment_round_trips() {
        let request = EnrolRequest::new("ABCD-1234", [7; 32], "0.1.0", "till-01");
        assert_eq!(request.check(), Ok(()));
        let json = serde_json::to_string(&request).unwrap();
        assert!(json.contains(&"07".repeat(32)));
        assert_eq!(
            serde_json::from_str::<EnrolRequest>(&json).unwrap(),
            request
        );

        let response = EnrolResponse {
            v: VERSION,
            store: StoreId::new("S001").unwrap(),
            till: TillId::new("S001-T01").unwrap(),
            region: RegionId::new("ES-M").unwrap(),
            root_public_key: [9; 32],
            trust_list: vec![0xd2, 0x84],
            offline_policy: policy(),
        };
        let json = serde_json::to_string(&response).unwrap();
        assert!(json.contains("\"trust_list\":\"d284\""));
        assert_eq!(
            serde_json::from_str::<EnrolResponse>(&json).unwrap(),
            response
        );
    }

    #[test]
    fn codes_carry_the_root_fingerprint_after_a_last_dash() {
        let root = RootFingerprint::of(&[9; 32]);
        assert!(root.matches(&[9; 32]));
        assert!(!root.matches(&[8; 32]));
        assert_eq!(root.to_string().len(), 32);

        let printed = EnrolCode::with_root("BCDF-GHJK-MNPR-TVX2", root);
        assert_eq!(
            EnrolCode::parse(&format!("  {printed}\n")),
            EnrolCode {
                code: "BCDF-GHJK-MNPR-TVX2".into(),
                root: Some(root)
            }
        );
        let upper = printed.to_ascii_uppercase();
        assert_eq!(EnrolCode::parse(&upper).root, Some(root));
        // An old code: no fingerprint.
        assert_eq!(
            EnrolCode::parse("BCDF-GHJK-MNPR-TVX2"),
            EnrolCode {
                code: "BCDF-GHJK-MNPR-TVX2".into(),
                root: None
            }
        );
        // 31 digits is not a fingerprint.
        let short = format!("BCDF-{}", &root.to_string()[1..]);
        assert_eq!(EnrolCode::parse(&short).root, None);
        assert_eq!(
            "0123-4567-89ab-cdef-0123-4567-89AB-CDEF".parse::<RootFingerprint>(),
            Ok(RootFingerprint([
                0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef, 0x01, 0x23, 0x45, 0x67, 0x89, 0xab,
                0xcd, 0xef
            ]))
        );
        assert!("xyz".parse::<RootFingerprint>().is_err());
    }

    #[test]
    fn plain_http_is_allowed_to_loopback_only() {
        for ok in [
            "https://loyalty.example.com",
            "https://203.0.113.7:8443/",
            "http://127.0.0.1:8440",
            "http://127.9.9.9",
            "http://127.1:80",
            "http://[::1]:8440",
            "http://[::ffff:127.0.0.1]",
            "http://localhost:8440",
            "http://LOCALHOST./",
        ] {
            assert_eq!(check_central_url(ok), Ok(()), "{ok}");
        }
        for (bad, code) in [
            ("http://loyalty.example.com", "central_url_plain_http"),
            ("http://10.0.0.5:8440", "central_url_plain_http"),
            ("http://127.0.0.1.nip.io", "central_url_plain_http"),
            ("http://localhost.example.com", "central_url_plain_http"),
            ("http://[::2]", "central_url_plain_http"),
            ("http://0.0.0.0:8440", "central_url_plain_http"),
            ("ftp://127.0.0.1", "central_url_scheme"),
            ("loyalty.example.com", "central_url_malformed"),
            ("https://", "central_url_malformed"),
        ] {
            assert_eq!(
                check_central_url(bad).map_err(|e| e.code()),
                Err(code),
                "{bad}"
            );
        }
        let e = check_central_url("http://10.0.0.5").unwrap_err();
        assert!(e.to_string().contains("https://"), "{e}");
    }

    #[test]
    fn bad_enrolment_requests_are_refused() {
        let mut request = EnrolRequest::new("", [7; 32], "0.1.0", "till-01");
        assert!(request.check().is_err());
        request.code = "ok".into();
        request.hostname = "a\nb".into();
        assert!(request.check().is_err());
        assert!(
            serde_json::from_str::<EnrolRequest>(
                r#"{"v":1,"code":"x","till_public_key":"00","agent_version":"1","hostname":"h"}"#
            )
            .is_err()
        );
    }
}
