//! The trust list on the wire: a CBOR payload in an envelope of purpose `trust-list`,
//! signed by the pinned root key; and the [`RootKey`] itself.
//!
//! Payload (CBOR map, text keys, nothing else allowed):
//! `{"keys": [{"purpose": "token"|"catalog"|"sync", "public_key": bstr .size 32,
//! "not_before": uint, "not_after": uint}, ...]}`. The key id is not sent: it is derived
//! from the public key. The list's sequence is the envelope's.

use ed25519_dalek::{SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};

use super::key::{KeyId, KeyPurpose, TrustError, TrustedKey};
use super::store::{KeyLookupError, TrustStore};
use crate::envelope::{
    self, CborBytes, EnvelopeError, EnvelopeHeader, EnvelopePurpose, SignerKeys, from_cbor, to_cbor,
};

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyEntry {
    purpose: KeyPurpose,
    public_key: CborBytes,
    not_before: u64,
    not_after: u64,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct TrustListPayload {
    keys: Vec<KeyEntry>,
}

/// The pinned root key: compiled into or installed with the agent, never in the trust list.
/// It signs trust lists and nothing else.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RootKey {
    kid: KeyId,
    key: VerifyingKey,
}

impl RootKey {
    /// The root key from its 32 public bytes, refusing invalid and weak keys.
    pub fn new(public_key: &[u8; 32]) -> Result<RootKey, TrustError> {
        let key = VerifyingKey::from_bytes(public_key).map_err(|_| TrustError::InvalidPublicKey)?;
        RootKey::from_verifying_key(key)
    }

    /// The root key from a decoded verifying key, refusing weak keys.
    pub fn from_verifying_key(key: VerifyingKey) -> Result<RootKey, TrustError> {
        if key.is_weak() {
            return Err(TrustError::WeakKey);
        }
        Ok(RootKey {
            kid: KeyId::of(&key),
            key,
        })
    }

    /// The root key's id.
    pub fn kid(&self) -> KeyId {
        self.kid
    }
}

impl SignerKeys for RootKey {
    fn signer(
        &self,
        kid: KeyId,
        purpose: KeyPurpose,
        _at: u64,
    ) -> Result<&VerifyingKey, KeyLookupError> {
        if kid != self.kid {
            return Err(KeyLookupError::Unknown(kid));
        }
        if purpose != KeyPurpose::Root {
            return Err(KeyLookupError::WrongPurpose {
                kid,
                has: KeyPurpose::Root,
                wanted: purpose,
            });
        }
        Ok(&self.key)
    }
}

impl TrustStore {
    /// Opens a trust-list envelope signed by `root`, refusing a sequence not above
    /// `current_sequence` (rollback), stale or future lists, and any malformed or
    /// unacceptable key (invalid, weak, empty window, a listed root key, duplicate id).
    /// Returns the new store and the envelope header (for the caller's staleness policy).
    pub fn open(
        bytes: &[u8],
        root: &RootKey,
        now: u64,
        current_sequence: u64,
    ) -> Result<(TrustStore, EnvelopeHeader), EnvelopeError> {
        let opened = envelope::open(
            bytes,
            EnvelopePurpose::TrustList,
            root,
            now,
            current_sequence,
        )?;
        let payload: TrustListPayload = from_cbor(&opened.payload)?;
        let mut keys = Vec::with_capacity(payload.keys.len());
        for entry in payload.keys {
            if entry.purpose == KeyPurpose::Root {
                return Err(EnvelopeError::BadPayload("a root key cannot be listed"));
            }
            let public: [u8; 32] = entry
                .public_key
                .to_array()
                .ok_or(EnvelopeError::BadPayload("public key is not 32 bytes"))?;
            let key = TrustedKey::new(entry.purpose, &public, entry.not_before, entry.not_after)
                .map_err(|e| EnvelopeError::BadPayload(e.code()))?;
            keys.push(key);
        }
        let store = TrustStore::new(opened.header.sequence, keys)
            .map_err(|e| EnvelopeError::BadPayload(e.code()))?;
        Ok((store, opened.header))
    }

    /// Signs this store as a trust-list envelope with the root's signing key, under the
    /// store's sequence number.
    pub fn seal(
        &self,
        root: &SigningKey,
        issued_at: u64,
        max_age_secs: u64,
    ) -> Result<Vec<u8>, EnvelopeError> {
        if self.keys().iter().any(|k| k.purpose() == KeyPurpose::Root) {
            return Err(EnvelopeError::BadPayload("a root key cannot be listed"));
        }
        let payload = TrustListPayload {
            keys: self
                .keys()
                .iter()
                .map(|k| KeyEntry {
                    purpose: k.purpose(),
                    public_key: CborBytes(k.verifying_key().to_bytes().to_vec()),
                    not_before: k.not_before(),
                    not_after: k.not_after(),
                })
                .collect(),
        };
        let header = EnvelopeHeader {
            purpose: EnvelopePurpose::TrustList,
            sequence: self.sequence(),
            issued_at,
            max_age_secs,
        };
        envelope::sign(&header, &to_cbor(&payload)?, root)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_750_000_000;

    fn root() -> SigningKey {
        SigningKey::from_bytes(&[42; 32])
    }

    fn pinned() -> RootKey {
        RootKey::from_verifying_key(root().verifying_key()).unwrap()
    }

    fn listed(seed: u8, purpose: KeyPurpose) -> TrustedKey {
        let public = SigningKey::from_bytes(&[seed; 32])
            .verifying_key()
            .to_bytes();
        TrustedKey::new(purpose, &public, NOW - 10, NOW + 10_000).unwrap()
    }

    fn store(sequence: u64) -> TrustStore {
        TrustStore::new(
            sequence,
            [listed(1, KeyPurpose::Token), listed(2, KeyPurpose::Catalog)],
        )
        .unwrap()
    }

    #[test]
    fn a_sealed_list_opens_to_the_same_keys() {
        let sealed = store(4).seal(&root(), NOW, 86_400).unwrap();
        let (opened, header) = TrustStore::open(&sealed, &pinned(), NOW, 3).unwrap();
        assert_eq!(opened, store(4));
        assert_eq!(header.sequence, 4);
        assert_eq!(header.expires_at(), NOW + 86_400);
    }

    #[test]
    fn rollback_to_an_equal_or_older_list_is_refused() {
        let sealed = store(4).seal(&root(), NOW, 86_400).unwrap();
        for current in [4, 5] {
            assert_eq!(
                TrustStore::open(&sealed, &pinned(), NOW, current).map(|_| ()),
                Err(EnvelopeError::Rollback {
                    sequence: 4,
                    last: current
                })
            );
        }
    }

    #[test]
    fn a_list_signed_by_another_key_is_refused() {
        let impostor = SigningKey::from_bytes(&[43; 32]);
        let sealed = store(1).seal(&impostor, NOW, 60).unwrap();
        assert_eq!(
            TrustStore::open(&sealed, &pinned(), NOW, 0)
                .map(|_| ())
                .map_err(|e| e.code()),
            Err("unknown_key")
        );
    }

    #[test]
    fn a_catalog_key_cannot_sign_a_trust_list_even_when_pinned_as_root_elsewhere() {
        // The root key object only answers for the root purpose.
        let kid = pinned().kid();
        assert!(matches!(
            pinned().signer(kid, KeyPurpose::Catalog, NOW),
            Err(KeyLookupError::WrongPurpose { .. })
        ));
    }

    #[test]
    fn listing_a_root_key_is_refused_both_ways() {
        let with_root = TrustStore::new(1, [listed(1, KeyPurpose::Root)]).unwrap();
        assert_eq!(
            with_root.seal(&root(), NOW, 60),
            Err(EnvelopeError::BadPayload("a root key cannot be listed"))
        );
        let payload = to_cbor(&TrustListPayload {
            keys: vec![KeyEntry {
                purpose: KeyPurpose::Root,
                public_key: CborBytes(root().verifying_key().to_bytes().to_vec()),
                not_before: 0,
                not_after: 1,
            }],
        })
        .unwrap();
        let header = EnvelopeHeader {
            purpose: EnvelopePurpose::TrustList,
            sequence: 1,
            issued_at: NOW,
            max_age_secs: 60,
        };
        let sealed = envelope::sign(&header, &payload, &root()).unwrap();
        assert_eq!(
            TrustStore::open(&sealed, &pinned(), NOW, 0).map(|_| ()),
            Err(EnvelopeError::BadPayload("a root key cannot be listed"))
        );
    }

    #[test]
    fn payload_with_unknown_fields_or_short_keys_is_refused() {
        #[derive(Serialize)]
        struct Extra {
            keys: Vec<u8>,
            extra: u8,
        }
        let header = EnvelopeHeader {
            purpose: EnvelopePurpose::TrustList,
            sequence: 1,
            issued_at: NOW,
            max_age_secs: 60,
        };
        let extra = to_cbor(&Extra {
            keys: vec![],
            extra: 1,
        })
        .unwrap();
        let sealed = envelope::sign(&header, &extra, &root()).unwrap();
        assert_eq!(
            TrustStore::open(&sealed, &pinned(), NOW, 0)
                .map(|_| ())
                .map_err(|e| e.code()),
            Err("bad_payload")
        );
        let short = to_cbor(&TrustListPayload {
            keys: vec![KeyEntry {
                purpose: KeyPurpose::Token,
                public_key: CborBytes(vec![1; 31]),
                not_before: 0,
                not_after: 1,
            }],
        })
        .unwrap();
        let sealed = envelope::sign(&header, &short, &root()).unwrap();
        assert_eq!(
            TrustStore::open(&sealed, &pinned(), NOW, 0).map(|_| ()),
            Err(EnvelopeError::BadPayload("public key is not 32 bytes"))
        );
    }
}
