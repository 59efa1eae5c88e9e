//! The sync round: one signed request per round ([`super::paths::ROUND`]).
//!
//! The till sends a [`RoundRequest`]: the round protocols it speaks, the cursor of every
//! delta stream it asks for, and the ETags of the trust list and catalog it holds. Central
//! chooses a protocol ([`choose_protocol`]) and answers a [`RoundAnswer`]:
//!
//! - `sealed`: a `sync-round` envelope (signed by a `sync` key of the trust list) whose
//!   payload binds [`RoundStreams`] — one page per stream that has something new, at most
//!   the request's `limit` items each — to the request: the till, the request's nonce and
//!   the chosen protocol ([`seal_round`], [`open_round`]). A replayed answer cannot be passed
//!   off as the answer to another request, as for signed delta pages
//!   ([`super::delta`], "Signed pages"). A stream with nothing new is left out, so an idle
//!   till's answer is a few hundred bytes.
//! - `trust_list` and `catalog`: the envelope and its ETag, only when the till's ETag is
//!   not the current one. They are signed by their own keys (root, catalog), as when
//!   fetched alone.
//!
//! When `more` is true, at least one stream has more items past its page: the till applies
//! what came and asks again at once.
//!
//! A till of this build asks central with this request first; a central that answers `404`
//! to it (an older one) gets today's per-stream requests instead. A central that speaks
//! none of the offered protocols answers `422 invalid` naming `protocols`.
//!
//! The request is a read: it changes nothing at central, so central does not keep its nonce
//! (a replay within the time window gets an answer bound to the same nonce, which the till
//! that sent it has already used).

use std::collections::BTreeMap;

use ed25519_dalek::SigningKey;
use serde::{Deserialize, Serialize};

use super::VERSION;
use super::delta::{Cursor, DeltaKind, MAX_PAGE_ITEMS, PageError};
use super::ids::TillId;
use super::request::RequestNonce;
use crate::envelope::{
    self, CborBytes, EnvelopeError, EnvelopeHeader, EnvelopePurpose, SignerKeys,
};

/// The round protocols this build speaks, oldest first. Protocol 2 adds
/// [`super::CustomerDelta::LeftScope`] items to the `customers` stream; a till that offers
/// only 1 never receives them.
pub const ROUND_PROTOCOLS: &[u16] = &[1, 2];

/// The first round protocol whose `customers` pages may carry
/// [`super::CustomerDelta::LeftScope`].
pub const LEFT_SCOPE_PROTOCOL: u16 = 2;

/// The largest round request body, in bytes: seven cursors of [`super::MAX_CURSOR_LEN`],
/// two ETags and the protocols fit many times over.
pub const MAX_ROUND_BYTES: usize = 8 * 1024;

/// The most protocols a request may offer.
pub const MAX_ROUND_PROTOCOLS: usize = 16;

/// The longest ETag a request may carry, in bytes (printable ASCII).
pub const MAX_ETAG_LEN: usize = 128;

/// Items per stream page when the request names no `limit`.
pub const ROUND_PAGE_ITEMS: u32 = 200;

/// How long after central sealed it a round answer may be opened, in seconds.
pub const ROUND_MAX_AGE_SECS: u64 = 300;

/// What the till holds of the signed envelopes: their ETags, `None` for none.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnvelopeVersions {
    /// The trust list's ETag.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trust_list: Option<String>,
    /// The catalog's ETag.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub catalog: Option<String>,
}

/// The body of a round request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoundRequest {
    /// The message version, [`VERSION`].
    pub v: u16,
    /// The round protocols the till speaks.
    pub protocols: Vec<u16>,
    /// The streams asked for, each from its cursor. A stream left out is not answered.
    #[serde(default)]
    pub cursors: BTreeMap<DeltaKind, Cursor>,
    /// Items per stream page, at most [`MAX_PAGE_ITEMS`]; [`ROUND_PAGE_ITEMS`] when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
    /// The envelopes the till holds.
    #[serde(default)]
    pub envelopes: EnvelopeVersions,
}

/// A rule a round request breaks: the field and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct RoundRequestError {
    /// The field's path, e.g. `protocols` or `envelopes.catalog`.
    pub field: &'static str,
    /// Why.
    pub reason: &'static str,
}

impl RoundRequest {
    /// Checks the bounds serde does not: the version, the protocols' count, the limit and
    /// the ETags.
    pub fn check(&self) -> Result<(), RoundRequestError> {
        let fail = |field, reason| Err(RoundRequestError { field, reason });
        if self.v != VERSION {
            return fail("v", "unknown message version");
        }
        if self.protocols.is_empty() || self.protocols.len() > MAX_ROUND_PROTOCOLS {
            return fail("protocols", "offer 1 to 16 protocols");
        }
        if self.limit.is_some_and(|l| l == 0 || l > MAX_PAGE_ITEMS) {
            return fail("limit", "1 to 1000 items");
        }
        let etag_ok = |t: &Option<String>| {
            t.as_deref().is_none_or(|t| {
                !t.is_empty() && t.len() <= MAX_ETAG_LEN && t.bytes().all(|b| b.is_ascii_graphic())
            })
        };
        if !etag_ok(&self.envelopes.trust_list) {
            return fail(
                "envelopes.trust_list",
                "1 to 128 printable ASCII characters",
            );
        }
        if !etag_ok(&self.envelopes.catalog) {
            return fail("envelopes.catalog", "1 to 128 printable ASCII characters");
        }
        Ok(())
    }

    /// The items per stream page: the asked limit, or [`ROUND_PAGE_ITEMS`].
    pub fn page_limit(&self) -> u32 {
        self.limit
            .unwrap_or(ROUND_PAGE_ITEMS)
            .clamp(1, MAX_PAGE_ITEMS)
    }
}

/// The newest protocol both sides speak: the highest of `offered` in `spoken`.
pub fn choose_protocol(offered: &[u16], spoken: &[u16]) -> Option<u16> {
    offered.iter().copied().filter(|p| spoken.contains(p)).max()
}

/// A signed envelope the till's ETag did not name, with its ETag.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnvelopeUpdate {
    /// Its ETag, to send next time.
    pub etag: String,
    /// The envelope bytes, hex-encoded.
    #[serde(with = "super::hex::blob")]
    pub envelope: Vec<u8>,
}

/// Central's answer to a round request (JSON).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoundAnswer {
    /// The message version, [`VERSION`].
    pub v: u16,
    /// The protocol central chose among the request's.
    pub protocol: u16,
    /// The `sync-round` envelope holding [`RoundStreams`] for this request, hex-encoded.
    #[serde(with = "super::hex::blob")]
    pub sealed: Vec<u8>,
    /// The trust list, when the till's ETag is not the current one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trust_list: Option<EnvelopeUpdate>,
    /// The catalog, when there is one and the till's ETag is not its.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub catalog: Option<EnvelopeUpdate>,
}

/// The streams of a round: what [`RoundAnswer::sealed`] holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RoundStreams {
    /// The message version, [`VERSION`].
    pub v: u16,
    /// One page per stream with something new (items, or a cursor that moved), each a
    /// [`super::DeltaPage`] of its kind, as `GET /v1/deltas/{kind}` answers it.
    #[serde(default)]
    pub streams: BTreeMap<DeltaKind, serde_json::Value>,
    /// Whether a stream has more past its page: ask again at once.
    pub more: bool,
    /// Central's clock when it answered, unix seconds.
    pub time: i64,
}

/// What a round answer is bound to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoundBinding {
    /// The till that asked.
    pub till: TillId,
    /// The nonce of its signed request (`Tillpass-Nonce`).
    pub nonce: RequestNonce,
    /// The protocol central chose.
    pub protocol: u16,
}

/// The payload of a `sync-round` envelope: a CBOR map with these text keys, no others.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RoundPayload {
    v: u16,
    till: TillId,
    nonce: CborBytes,
    protocol: u16,
    /// [`RoundStreams`]' JSON bytes.
    streams: CborBytes,
}

/// Seals `streams_json` ([`RoundStreams`]' JSON bytes) for `binding`, signed by `key` (a
/// sync key) with envelope `sequence` (at least 1), issued at `issued_at` (unix seconds).
pub fn seal_round(
    binding: &RoundBinding,
    streams_json: &[u8],
    sequence: u64,
    issued_at: u64,
    key: &SigningKey,
) -> Result<Vec<u8>, EnvelopeError> {
    let payload = RoundPayload {
        v: VERSION,
        till: binding.till.clone(),
        nonce: CborBytes(binding.nonce.0.to_vec()),
        protocol: binding.protocol,
        streams: CborBytes(streams_json.to_vec()),
    };
    let header = EnvelopeHeader {
        purpose: EnvelopePurpose::SyncRound,
        sequence: sequence.max(1),
        issued_at,
        max_age_secs: ROUND_MAX_AGE_SECS,
    };
    envelope::sign(&header, &envelope::to_cbor(&payload)?, key)
}

/// Opens a `sync-round` envelope that must answer `binding`: every envelope check (sync
/// key of `keys`, purpose, not from the future, not older than its maximum age), then the
/// till, nonce and protocol it was sealed for. Returns [`RoundStreams`]' JSON bytes.
pub fn open_round(
    bytes: &[u8],
    binding: &RoundBinding,
    keys: &impl SignerKeys,
    now: u64,
) -> Result<Vec<u8>, PageError> {
    let opened = envelope::open(bytes, EnvelopePurpose::SyncRound, keys, now, 0)?;
    let payload: RoundPayload = envelope::from_cbor(&opened.payload)?;
    let checks = [
        ("version", payload.v == VERSION),
        ("till", payload.till == binding.till),
        ("nonce", payload.nonce.0 == binding.nonce.0),
        ("protocol", payload.protocol == binding.protocol),
    ];
    if let Some((field, _)) = checks.into_iter().find(|(_, ok)| !ok) {
        return Err(PageError::OtherRequest(field));
    }
    Ok(payload.streams.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trust::{KeyPurpose, TrustStore, TrustedKey};

    const NOW: u64 = 1_750_000_000;

    fn sync_key() -> SigningKey {
        SigningKey::from_bytes(&[3; 32])
    }

    fn trust() -> TrustStore {
        let key = TrustedKey::from_verifying_key(
            KeyPurpose::Sync,
            sync_key().verifying_key(),
            0,
            u64::MAX,
        )
        .unwrap();
        TrustStore::new(1, [key]).unwrap()
    }

    fn binding() -> RoundBinding {
        RoundBinding {
            till: TillId::new("S1-T1").unwrap(),
            nonce: RequestNonce([7; 16]),
            protocol: 1,
        }
    }

    fn idle() -> RoundStreams {
        RoundStreams {
            v: VERSION,
            streams: BTreeMap::new(),
            more: false,
            time: 1_750_000_000,
        }
    }

    fn request() -> RoundRequest {
        RoundRequest {
            v: VERSION,
            protocols: ROUND_PROTOCOLS.to_vec(),
            cursors: DeltaKind::ALL
                .into_iter()
                .map(|k| (k, Cursor::new("123456").unwrap()))
                .collect(),
            limit: None,
            envelopes: EnvelopeVersions {
                trust_list: Some("\"tl-42-0123456789abcdef\"".into()),
                catalog: Some("\"cat-17-0123456789abcdef\"".into()),
            },
        }
    }

    #[test]
    fn a_round_answer_opens_only_for_the_request_it_answers() {
        let json = serde_json::to_vec(&idle()).unwrap();
        let sealed = seal_round(&binding(), &json, NOW, NOW, &sync_key()).unwrap();
        assert_eq!(
            open_round(&sealed, &binding(), &trust(), NOW).unwrap(),
            json
        );
        let other = |change: fn(&mut RoundBinding)| {
            let mut b = binding();
            change(&mut b);
            open_round(&sealed, &b, &trust(), NOW).unwrap_err()
        };
        assert_eq!(
            other(|b| b.till = TillId::new("S1-T2").unwrap()),
            PageError::OtherRequest("till")
        );
        assert_eq!(
            other(|b| b.nonce = RequestNonce([8; 16])),
            PageError::OtherRequest("nonce")
        );
        assert_eq!(
            other(|b| b.protocol = 2),
            PageError::OtherRequest("protocol")
        );
        let stale = open_round(&sealed, &binding(), &trust(), NOW + ROUND_MAX_AGE_SECS + 1);
        assert!(stale.is_err(), "an old answer is refused");
    }

    #[test]
    fn a_delta_page_is_not_a_round_answer_nor_the_reverse() {
        let json = serde_json::to_vec(&idle()).unwrap();
        let sealed = seal_round(&binding(), &json, NOW, NOW, &sync_key()).unwrap();
        let page = super::super::delta::PageRequest {
            kind: DeltaKind::Customers,
            till: binding().till,
            cursor: Cursor::start(),
            nonce: binding().nonce,
        };
        assert!(super::super::delta::open_page(&sealed, &page, &trust(), NOW).is_err());
        let sealed_page =
            super::super::delta::seal_page(&page, b"{}", 5, NOW, &sync_key()).unwrap();
        assert!(open_round(&sealed_page, &binding(), &trust(), NOW).is_err());
    }

    #[test]
    fn the_newest_common_protocol_is_chosen() {
        assert_eq!(choose_protocol(&[1], ROUND_PROTOCOLS), Some(1));
        assert_eq!(
            choose_protocol(&[1, 2], ROUND_PROTOCOLS),
            Some(LEFT_SCOPE_PROTOCOL)
        );
        assert_eq!(choose_protocol(&[1, 2, 7], &[1, 2]), Some(2));
        assert_eq!(choose_protocol(&[9], &[1, 2]), None);
        assert_eq!(choose_protocol(&[], &[1]), None);
    }

    #[test]
    fn a_full_request_fits_its_bound_and_bad_ones_name_their_field() {
        let mut full = request();
        for cursor in full.cursors.values_mut() {
            *cursor = Cursor::new("c".repeat(super::super::delta::MAX_CURSOR_LEN)).unwrap();
        }
        full.envelopes.trust_list = Some("t".repeat(MAX_ETAG_LEN));
        full.envelopes.catalog = Some("c".repeat(MAX_ETAG_LEN));
        full.protocols = (1..=16).collect();
        full.limit = Some(MAX_PAGE_ITEMS);
        assert!(full.check().is_ok());
        assert!(serde_json::to_vec(&full).unwrap().len() < MAX_ROUND_BYTES);

        let field = |change: fn(&mut RoundRequest)| {
            let mut r = request();
            change(&mut r);
            r.check().unwrap_err().field
        };
        assert_eq!(field(|r| r.protocols.clear()), "protocols");
        assert_eq!(field(|r| r.protocols = vec![1; 17]), "protocols");
        assert_eq!(field(|r| r.limit = Some(0)), "limit");
        assert_eq!(field(|r| r.limit = Some(1001)), "limit");
        assert_eq!(field(|r| r.v = 2), "v");
        assert_eq!(
            field(|r| r.envelopes.catalog = Some("a b".into())),
            "envelopes.catalog"
        );
        assert_eq!(
            field(|r| r.envelopes.trust_list = Some(String::new())),
            "envelopes.trust_list"
        );
    }

    #[test]
    fn requests_read_as_json_maps_and_refuse_unknown_fields() {
        let text = serde_json::to_string(&request()).unwrap();
        assert!(text.contains(r#""gift-cards":"123456""#), "{text}");
        let back: RoundRequest = serde_json::from_str(&text).unwrap();
        assert_eq!(back, request());
        assert!(serde_json::from_str::<RoundRequest>(r#"{"v":1,"protocols":[1],"x":1}"#).is_err());
        assert!(
            serde_json::from_str::<RoundRequest>(
                r#"{"v":1,"protocols":[1],"cursors":{"nope":""}}"#
            )
            .is_err()
        );
        let minimal: RoundRequest = serde_json::from_str(r#"{"v":1,"protocols":[1]}"#).unwrap();
        assert!(minimal.cursors.is_empty() && minimal.check().is_ok());
    }

    #[test]
    fn an_idle_answer_is_small() {
        let json = serde_json::to_vec(&idle()).unwrap();
        let sealed = seal_round(&binding(), &json, NOW, NOW, &sync_key()).unwrap();
        let answer = RoundAnswer {
            v: VERSION,
            protocol: 1,
            sealed,
            trust_list: None,
            catalog: None,
        };
        let bytes = serde_json::to_vec(&answer).unwrap();
        assert!(bytes.len() < 1024, "{} bytes", bytes.len());
    }
}
