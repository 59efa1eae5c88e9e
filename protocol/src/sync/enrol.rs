//! Enrolment: a till presents a one-time code and its own public key; central answers with
//! the till's ids, the trust list and the offline policy.
//!
//! `POST /v1/enrol` ([`super::paths::ENROL`]) is the only till request that is not signed
//! with the till key: the one-time code is what authenticates it.

use serde::{Deserialize, Serialize};

use super::VERSION;
use super::ids::{RegionId, StoreId, TillId};
use crate::money::Money;

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
    /// The store's region.
    pub region: RegionId,
    /// The root public key that signs the trust list (32 bytes, hex). An installer that
    /// already pinned a root key must check that this one is the same.
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
