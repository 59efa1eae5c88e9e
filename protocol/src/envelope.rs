//! Signed envelopes: COSE_Sign1 (RFC 9052) over CBOR, signed with Ed25519, for the data
//! central sends to tills — the trust list, revocation deltas, promotion catalogs and signed
//! delta pages (`crate::sync::delta::SignedPage`).
//!
//! - [`EnvelopePurpose`]: what an envelope carries, and which [`KeyPurpose`] must sign it.
//! - [`EnvelopeHeader`]: the protected header: purpose, sequence, issued-at, maximum age
//!   (the key id and algorithm are added by [`sign`]).
//! - [`sign`] and [`open`]; [`Opened`] is what a checked envelope yields.
//! - [`SignerKeys`]: where [`open`] finds the signer's key
//!   ([`crate::trust::TrustStore`], [`crate::trust::RootKey`]).
//! - [`EnvelopeError`]: every refusal, with a stable [`EnvelopeError::code`].
//!
//! [`open`] checks, in this order: size bound → COSE/CBOR shape (tagged COSE_Sign1,
//! EdDSA, exactly the expected protected labels, empty unprotected header, attached
//! payload) → signer key by kid for the purpose expected (valid at issued-at) →
//! `verify_strict` → purpose in the header = purpose expected → sequence above the last
//! accepted (rollback) → issued-at not in the future beyond [`CLOCK_SKEW_SECS`] → not older
//! than its maximum age. The protected-header labels are listed in `protocol/TOKEN.md`.

use std::fmt;

use ciborium::Value;
use coset::{
    Algorithm, CoseSign1, CoseSign1Builder, HeaderBuilder, Label, RegisteredLabelWithPrivate,
    TaggedCborSerializable, iana,
};
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use thiserror::Error;

use crate::trust::{KeyId, KeyLookupError, KeyPurpose};

/// How far in the future an envelope's issued-at may be before it is refused, in seconds.
pub const CLOCK_SKEW_SECS: u64 = 300;

/// Protected-header label (COSE private use) of the purpose, a text string.
pub const LABEL_PURPOSE: i64 = -65_537;
/// Protected-header label of the sequence number, an unsigned integer.
pub const LABEL_SEQUENCE: i64 = -65_538;
/// Protected-header label of the issued-at time, unix seconds.
pub const LABEL_ISSUED_AT: i64 = -65_539;
/// Protected-header label of the maximum age, seconds after issued-at.
pub const LABEL_MAX_AGE: i64 = -65_540;

const OUR_LABELS: [i64; 4] = [
    LABEL_PURPOSE,
    LABEL_SEQUENCE,
    LABEL_ISSUED_AT,
    LABEL_MAX_AGE,
];

/// What an envelope carries. Each purpose is signed by keys of one [`KeyPurpose`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum EnvelopePurpose {
    /// The trust list, signed by the pinned root key.
    TrustList,
    /// A revocation delta, signed by a `sync` key.
    Revocations,
    /// A promotion catalog, signed by a `catalog` key.
    Catalog,
    /// A delta page (customers, balances, gift cards, offers, revocations, sales), signed
    /// by a `sync` key for the one request it answers.
    DeltaPage,
    /// A sync round's streams (`crate::sync::round`), signed by a `sync` key for the one
    /// request it answers.
    SyncRound,
}

impl EnvelopePurpose {
    /// The wire name in the protected header: `trust-list`, `revocations`, `catalog`,
    /// `delta-page` or `sync-round`.
    pub fn code(self) -> &'static str {
        match self {
            EnvelopePurpose::TrustList => "trust-list",
            EnvelopePurpose::Revocations => "revocations",
            EnvelopePurpose::Catalog => "catalog",
            EnvelopePurpose::DeltaPage => "delta-page",
            EnvelopePurpose::SyncRound => "sync-round",
        }
    }

    /// The purpose named `code` on the wire.
    pub fn from_code(code: &str) -> Option<EnvelopePurpose> {
        [
            EnvelopePurpose::TrustList,
            EnvelopePurpose::Revocations,
            EnvelopePurpose::Catalog,
            EnvelopePurpose::DeltaPage,
            EnvelopePurpose::SyncRound,
        ]
        .into_iter()
        .find(|p| p.code() == code)
    }

    /// The purpose of the keys allowed to sign this envelope.
    pub fn signer_purpose(self) -> KeyPurpose {
        match self {
            EnvelopePurpose::TrustList => KeyPurpose::Root,
            EnvelopePurpose::Revocations => KeyPurpose::Sync,
            EnvelopePurpose::Catalog => KeyPurpose::Catalog,
            EnvelopePurpose::DeltaPage | EnvelopePurpose::SyncRound => KeyPurpose::Sync,
        }
    }

    /// The largest envelope of this purpose [`open`] will decode, in bytes.
    pub fn max_bytes(self) -> usize {
        match self {
            EnvelopePurpose::TrustList => 64 * 1024,
            EnvelopePurpose::Revocations => 1024 * 1024,
            EnvelopePurpose::Catalog => 4 * 1024 * 1024,
            // The till reads no answer above 5 MiB, signed or not.
            EnvelopePurpose::DeltaPage | EnvelopePurpose::SyncRound => 5 * 1024 * 1024,
        }
    }
}

/// The signed facts about an envelope, carried in its protected header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EnvelopeHeader {
    /// What the payload is.
    pub purpose: EnvelopePurpose,
    /// Increases with every envelope of this purpose; a till refuses anything not above the
    /// last it accepted. Starts at 1.
    pub sequence: u64,
    /// When central signed it, unix seconds.
    pub issued_at: u64,
    /// How long after `issued_at` the envelope may still be opened, in seconds.
    pub max_age_secs: u64,
}

impl EnvelopeHeader {
    /// The last second (unix) at which the envelope may be opened.
    pub fn expires_at(&self) -> u64 {
        self.issued_at.saturating_add(self.max_age_secs)
    }
}

/// An envelope that passed every check of [`open`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Opened {
    /// The protected header.
    pub header: EnvelopeHeader,
    /// The key that signed it.
    pub kid: KeyId,
    /// The payload bytes (CBOR; its schema depends on the purpose).
    pub payload: Vec<u8>,
}

/// Where [`open`] finds the key that signed an envelope.
pub trait SignerKeys {
    /// The key with id `kid`, if it has `purpose` and is valid at `at` (unix seconds).
    fn signer(
        &self,
        kid: KeyId,
        purpose: KeyPurpose,
        at: u64,
    ) -> Result<&VerifyingKey, KeyLookupError>;
}

/// Why an envelope was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum EnvelopeError {
    /// Larger than the bound for its purpose; not decoded.
    #[error("envelope of {len} bytes exceeds the {max}-byte bound")]
    TooLarge {
        /// Its length.
        len: usize,
        /// The bound.
        max: usize,
    },
    /// Not a well-formed envelope of ours.
    #[error("malformed envelope: {0}")]
    Malformed(&'static str),
    /// No key with this id.
    #[error("unknown signing key {0}")]
    UnknownKey(KeyId),
    /// The key exists but may not sign envelopes of this purpose.
    #[error("key {kid} is a {has} key and may not sign this envelope")]
    KeyWrongPurpose {
        /// The key id.
        kid: KeyId,
        /// The key's purpose.
        has: KeyPurpose,
    },
    /// The key's validity window does not cover the envelope's issued-at.
    #[error("key {kid} was not valid at {at}")]
    KeyOutsideValidity {
        /// The key id.
        kid: KeyId,
        /// The issued-at, unix seconds.
        at: u64,
    },
    /// The signature does not verify.
    #[error("bad signature")]
    BadSignature,
    /// The signed purpose is not the one expected.
    #[error("expected a {} envelope, got {}", expected.code(), found.code())]
    PurposeMismatch {
        /// The purpose the caller asked for.
        expected: EnvelopePurpose,
        /// The purpose in the header.
        found: EnvelopePurpose,
    },
    /// The sequence is not above the last accepted one.
    #[error("sequence {sequence} is not above the last accepted {last}")]
    Rollback {
        /// The envelope's sequence.
        sequence: u64,
        /// The last accepted sequence.
        last: u64,
    },
    /// Issued-at is further in the future than the clock skew allows.
    #[error("issued at {issued_at}, in the future of {now}")]
    IssuedInFuture {
        /// When it was issued, unix seconds.
        issued_at: u64,
        /// The caller's now, unix seconds.
        now: u64,
    },
    /// Older than its maximum age.
    #[error("expired at {expires_at}, now is {now}")]
    TooOld {
        /// Issued-at plus maximum age.
        expires_at: u64,
        /// The caller's now, unix seconds.
        now: u64,
    },
    /// The payload does not match the schema of its purpose.
    #[error("bad payload: {0}")]
    BadPayload(&'static str),
    /// Encoding failed while signing.
    #[error("could not encode the envelope")]
    Encode,
}

impl EnvelopeError {
    /// A stable snake_case code for logs and the dashboard.
    pub fn code(&self) -> &'static str {
        match self {
            EnvelopeError::TooLarge { .. } => "too_large",
            EnvelopeError::Malformed(_) => "malformed",
            EnvelopeError::UnknownKey(_) => "unknown_key",
            EnvelopeError::KeyWrongPurpose { .. } => "key_wrong_purpose",
            EnvelopeError::KeyOutsideValidity { .. } => "key_outside_validity",
            EnvelopeError::BadSignature => "bad_signature",
            EnvelopeError::PurposeMismatch { .. } => "purpose_mismatch",
            EnvelopeError::Rollback { .. } => "rollback",
            EnvelopeError::IssuedInFuture { .. } => "issued_in_future",
            EnvelopeError::TooOld { .. } => "too_old",
            EnvelopeError::BadPayload(_) => "bad_payload",
            EnvelopeError::Encode => "encode_failed",
        }
    }
}

impl From<KeyLookupError> for EnvelopeError {
    fn from(e: KeyLookupError) -> EnvelopeError {
        match e {
            KeyLookupError::Unknown(kid) => EnvelopeError::UnknownKey(kid),
            KeyLookupError::WrongPurpose { kid, has, .. } => {
                EnvelopeError::KeyWrongPurpose { kid, has }
            }
            KeyLookupError::OutsideValidity { kid, at } => {
                EnvelopeError::KeyOutsideValidity { kid, at }
            }
        }
    }
}

/// Signs `payload` as a tagged COSE_Sign1 with `header` and `key` (alg EdDSA, kid of the
/// key, and the labels of [`EnvelopeHeader`] in the protected header, marked critical).
pub fn sign(
    header: &EnvelopeHeader,
    payload: &[u8],
    key: &SigningKey,
) -> Result<Vec<u8>, EnvelopeError> {
    let kid = KeyId::of(&key.verifying_key());
    let mut protected = HeaderBuilder::new()
        .algorithm(iana::Algorithm::EdDSA)
        .key_id(kid.0.to_vec());
    for label in OUR_LABELS {
        protected = protected.add_critical_label(RegisteredLabelWithPrivate::PrivateUse(label));
    }
    let protected = protected
        .value(LABEL_PURPOSE, Value::Text(header.purpose.code().to_owned()))
        .value(LABEL_SEQUENCE, Value::Integer(header.sequence.into()))
        .value(LABEL_ISSUED_AT, Value::Integer(header.issued_at.into()))
        .value(LABEL_MAX_AGE, Value::Integer(header.max_age_secs.into()))
        .build();
    CoseSign1Builder::new()
        .protected(protected)
        .payload(payload.to_vec())
        .create_signature(&[], |tbs| key.sign(tbs).to_bytes().to_vec())
        .build()
        .to_tagged_vec()
        .map_err(|_| EnvelopeError::Encode)
}

/// Opens an envelope expected to be of purpose `expected`, checking everything listed in
/// the module documentation. `now` is unix seconds; `last_sequence` is the sequence of the
/// last envelope of this purpose the caller accepted (0 if none).
pub fn open(
    bytes: &[u8],
    expected: EnvelopePurpose,
    keys: &impl SignerKeys,
    now: u64,
    last_sequence: u64,
) -> Result<Opened, EnvelopeError> {
    let max = expected.max_bytes();
    if bytes.len() > max {
        return Err(EnvelopeError::TooLarge {
            len: bytes.len(),
            max,
        });
    }
    let sign1 = CoseSign1::from_tagged_slice(bytes)
        .map_err(|_| EnvelopeError::Malformed("not a tagged COSE_Sign1"))?;
    if !sign1.unprotected.is_empty() {
        return Err(EnvelopeError::Malformed("unprotected header is not empty"));
    }
    let (kid, header) = read_protected(&sign1.protected.header)?;
    let Some(payload) = &sign1.payload else {
        return Err(EnvelopeError::Malformed("payload is detached"));
    };
    let signature: &[u8; 64] = sign1
        .signature
        .as_slice()
        .try_into()
        .map_err(|_| EnvelopeError::Malformed("signature is not 64 bytes"))?;

    let key = keys.signer(kid, expected.signer_purpose(), header.issued_at)?;
    key.verify_strict(&sign1.tbs_data(&[]), &Signature::from_bytes(signature))
        .map_err(|_| EnvelopeError::BadSignature)?;

    if header.purpose != expected {
        return Err(EnvelopeError::PurposeMismatch {
            expected,
            found: header.purpose,
        });
    }
    if header.sequence <= last_sequence {
        return Err(EnvelopeError::Rollback {
            sequence: header.sequence,
            last: last_sequence,
        });
    }
    if header.issued_at > now.saturating_add(CLOCK_SKEW_SECS) {
        return Err(EnvelopeError::IssuedInFuture {
            issued_at: header.issued_at,
            now,
        });
    }
    if now > header.expires_at() {
        return Err(EnvelopeError::TooOld {
            expires_at: header.expires_at(),
            now,
        });
    }
    Ok(Opened {
        header,
        kid,
        payload: payload.clone(),
    })
}

/// Reads the protected header, refusing anything but exactly our fields.
fn read_protected(h: &coset::Header) -> Result<(KeyId, EnvelopeHeader), EnvelopeError> {
    use EnvelopeError::Malformed;
    if h.alg != Some(Algorithm::Assigned(iana::Algorithm::EdDSA)) {
        return Err(Malformed("algorithm is not EdDSA"));
    }
    if h.content_type.is_some()
        || !h.iv.is_empty()
        || !h.partial_iv.is_empty()
        || !h.counter_signatures.is_empty()
    {
        return Err(Malformed("unexpected protected header field"));
    }
    let critical_ok = h.crit.len() == OUR_LABELS.len()
        && OUR_LABELS
            .iter()
            .all(|l| h.crit.contains(&RegisteredLabelWithPrivate::PrivateUse(*l)));
    if !critical_ok {
        return Err(Malformed("critical labels are not exactly ours"));
    }
    let kid: [u8; 4] = h
        .key_id
        .as_slice()
        .try_into()
        .map_err(|_| Malformed("kid is not 4 bytes"))?;
    if h.rest.len() != OUR_LABELS.len() {
        return Err(Malformed("protected header labels are not exactly ours"));
    }
    let value = |label: i64| {
        h.rest
            .iter()
            .find(|(l, _)| *l == Label::Int(label))
            .map(|(_, v)| v)
            .ok_or(Malformed("a protected header label is missing"))
    };
    let uint = |label: i64| {
        value(label)?
            .as_integer()
            .and_then(|i| u64::try_from(i).ok())
            .ok_or(Malformed("a protected header number is not a u64"))
    };
    let purpose = value(LABEL_PURPOSE)?
        .as_text()
        .and_then(EnvelopePurpose::from_code)
        .ok_or(Malformed("unknown purpose"))?;
    let header = EnvelopeHeader {
        purpose,
        sequence: uint(LABEL_SEQUENCE)?,
        issued_at: uint(LABEL_ISSUED_AT)?,
        max_age_secs: uint(LABEL_MAX_AGE)?,
    };
    Ok((KeyId(kid), header))
}

/// Encodes a payload as CBOR.
pub(crate) fn to_cbor<T: Serialize>(value: &T) -> Result<Vec<u8>, EnvelopeError> {
    let mut out = Vec::new();
    ciborium::into_writer(value, &mut out).map_err(|_| EnvelopeError::Encode)?;
    Ok(out)
}

/// Decodes a CBOR payload, refusing trailing bytes.
pub(crate) fn from_cbor<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, EnvelopeError> {
    let mut rest = bytes;
    let value = ciborium::from_reader(&mut rest)
        .map_err(|_| EnvelopeError::BadPayload("payload does not match its schema"))?;
    if !rest.is_empty() {
        return Err(EnvelopeError::BadPayload(
            "trailing bytes after the payload",
        ));
    }
    Ok(value)
}

/// A CBOR byte string (serde would otherwise write bytes as an array of integers).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CborBytes(pub Vec<u8>);

impl CborBytes {
    /// The bytes as a fixed-size array, if the length matches.
    pub(crate) fn to_array<const N: usize>(&self) -> Option<[u8; N]> {
        self.0.as_slice().try_into().ok()
    }
}

impl Serialize for CborBytes {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(&self.0)
    }
}

impl<'de> Deserialize<'de> for CborBytes {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<CborBytes, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = CborBytes;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a byte string")
            }
            fn visit_bytes<E: serde::de::Error>(self, v: &[u8]) -> Result<CborBytes, E> {
                Ok(CborBytes(v.to_vec()))
            }
            fn visit_byte_buf<E: serde::de::Error>(self, v: Vec<u8>) -> Result<CborBytes, E> {
                Ok(CborBytes(v))
            }
        }
        // Not `deserialize_bytes`: ciborium reads those into a 4 KiB scratch buffer and
        // refuses longer ones.
        d.deserialize_byte_buf(Visitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trust::{TrustStore, TrustedKey};
    use coset::CborSerializable;

    const NOW: u64 = 1_750_000_000;

    fn signing(seed: u8) -> SigningKey {
        SigningKey::from_bytes(&[seed; 32])
    }

    fn store() -> TrustStore {
        let key = |seed: u8, purpose| {
            TrustedKey::from_verifying_key(purpose, signing(seed).verifying_key(), 0, u64::MAX)
                .unwrap()
        };
        TrustStore::new(
            1,
            [
                key(1, KeyPurpose::Catalog),
                key(2, KeyPurpose::Token),
                key(3, KeyPurpose::Sync),
            ],
        )
        .unwrap()
    }

    fn header(purpose: EnvelopePurpose, sequence: u64) -> EnvelopeHeader {
        EnvelopeHeader {
            purpose,
            sequence,
            issued_at: NOW - 60,
            max_age_secs: 3_600,
        }
    }

    #[test]
    fn a_signed_catalog_opens_with_its_header_and_payload() {
        let h = header(EnvelopePurpose::Catalog, 7);
        let bytes = sign(&h, b"payload", &signing(1)).unwrap();
        let opened = open(&bytes, EnvelopePurpose::Catalog, &store(), NOW, 6).unwrap();
        assert_eq!(opened.header, h);
        assert_eq!(opened.kid, KeyId::of(&signing(1).verifying_key()));
        assert_eq!(opened.payload, b"payload");
    }

    #[test]
    fn a_catalog_signed_with_a_token_key_is_refused() {
        let bytes = sign(&header(EnvelopePurpose::Catalog, 1), b"x", &signing(2)).unwrap();
        let err = open(&bytes, EnvelopePurpose::Catalog, &store(), NOW, 0).unwrap_err();
        assert_eq!(err.code(), "key_wrong_purpose");
    }

    #[test]
    fn a_header_purpose_other_than_expected_is_refused_after_the_signature() {
        // A catalog key signing a header that says "revocations", offered as a catalog.
        let bytes = sign(&header(EnvelopePurpose::Revocations, 1), b"x", &signing(1)).unwrap();
        assert_eq!(
            open(&bytes, EnvelopePurpose::Catalog, &store(), NOW, 0),
            Err(EnvelopeError::PurposeMismatch {
                expected: EnvelopePurpose::Catalog,
                found: EnvelopePurpose::Revocations
            })
        );
    }

    #[test]
    fn rollback_age_and_future_are_refused() {
        let key = signing(3);
        let s = store();
        let rev = EnvelopePurpose::Revocations;
        let same = sign(&header(rev, 5), b"x", &key).unwrap();
        assert_eq!(
            open(&same, rev, &s, NOW, 5).map_err(|e| e.code()),
            Err("rollback")
        );
        assert!(open(&same, rev, &s, NOW, 4).is_ok());

        let h = header(rev, 9);
        let bytes = sign(&h, b"x", &key).unwrap();
        assert!(open(&bytes, rev, &s, h.expires_at(), 0).is_ok());
        assert_eq!(
            open(&bytes, rev, &s, h.expires_at() + 1, 0).map_err(|e| e.code()),
            Err("too_old")
        );
        let early = h.issued_at - CLOCK_SKEW_SECS;
        assert!(open(&bytes, rev, &s, early, 0).is_ok());
        assert_eq!(
            open(&bytes, rev, &s, early - 1, 0).map_err(|e| e.code()),
            Err("issued_in_future")
        );
    }

    #[test]
    fn unknown_keys_bad_signatures_and_oversize_are_refused() {
        let s = store();
        let cat = EnvelopePurpose::Catalog;
        let stranger = sign(&header(cat, 1), b"x", &signing(9)).unwrap();
        assert_eq!(
            open(&stranger, cat, &s, NOW, 0).map_err(|e| e.code()),
            Err("unknown_key")
        );

        let mut flipped = sign(&header(cat, 1), b"payload", &signing(1)).unwrap();
        let last = flipped.len() - 1;
        flipped[last] ^= 1;
        assert_eq!(
            open(&flipped, cat, &s, NOW, 0),
            Err(EnvelopeError::BadSignature)
        );

        let huge = vec![0u8; EnvelopePurpose::TrustList.max_bytes() + 1];
        assert_eq!(
            open(&huge, EnvelopePurpose::TrustList, &s, NOW, 0).map_err(|e| e.code()),
            Err("too_large")
        );
    }

    #[test]
    fn untagged_and_extra_header_envelopes_are_malformed() {
        let h = header(EnvelopePurpose::Catalog, 1);
        let tagged = sign(&h, b"x", &signing(1)).unwrap();
        let untagged = CoseSign1::from_tagged_slice(&tagged)
            .unwrap()
            .to_vec()
            .unwrap();
        assert_eq!(
            open(&untagged, EnvelopePurpose::Catalog, &store(), NOW, 0).map_err(|e| e.code()),
            Err("malformed")
        );

        let mut sign1 = CoseSign1::from_tagged_slice(&tagged).unwrap();
        sign1.unprotected.key_id = vec![1];
        let extra = sign1.to_tagged_vec().unwrap();
        assert_eq!(
            open(&extra, EnvelopePurpose::Catalog, &store(), NOW, 0),
            Err(EnvelopeError::Malformed("unprotected header is not empty"))
        );
    }

    #[test]
    fn delta_pages_are_a_purpose_of_their_own_signed_by_sync_keys() {
        let purpose = EnvelopePurpose::DeltaPage;
        assert_eq!(EnvelopePurpose::from_code(purpose.code()), Some(purpose));
        assert_eq!(purpose.signer_purpose(), KeyPurpose::Sync);
        let bytes = sign(&header(purpose, 1), b"page", &signing(3)).unwrap();
        assert_eq!(
            open(&bytes, purpose, &store(), NOW, 0).unwrap().payload,
            b"page"
        );
        // A revocations envelope (same sync key) is not a delta page.
        let rev = sign(&header(EnvelopePurpose::Revocations, 1), b"x", &signing(3)).unwrap();
        assert_eq!(
            open(&rev, purpose, &store(), NOW, 0).map_err(|e| e.code()),
            Err("purpose_mismatch")
        );
    }

    #[test]
    fn cbor_payloads_refuse_trailing_bytes() {
        let mut bytes = to_cbor(&CborBytes(vec![1, 2, 3])).unwrap();
        assert_eq!(from_cbor::<CborBytes>(&bytes), Ok(CborBytes(vec![1, 2, 3])));
        bytes.push(0);
        assert_eq!(
            from_cbor::<CborBytes>(&bytes),
            Err(EnvelopeError::BadPayload(
                "trailing bytes after the payload"
            ))
        );
    }
}
