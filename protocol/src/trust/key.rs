//! One trusted key: its id, purpose, decompressed public key and validity window.

use std::fmt;
use std::str::FromStr;

use ed25519_dalek::VerifyingKey;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use thiserror::Error;

/// A key id: the first 4 bytes of SHA-256 of the 32-byte Ed25519 public key.
///
/// Displayed and parsed as 8 lowercase hex digits, e.g. `1a2b3c4d`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyId(pub [u8; 4]);

impl KeyId {
    /// The id of a 32-byte Ed25519 public key.
    pub fn of_public_key(public_key: &[u8; 32]) -> KeyId {
        let digest: [u8; 32] = Sha256::digest(public_key).into();
        let [a, b, c, d, ..] = digest;
        KeyId([a, b, c, d])
    }

    /// The id of a verifying key.
    pub fn of(key: &VerifyingKey) -> KeyId {
        KeyId::of_public_key(key.as_bytes())
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyId({self})")
    }
}

impl FromStr for KeyId {
    type Err = TrustError;

    /// Parses 8 hex digits.
    fn from_str(s: &str) -> Result<KeyId, TrustError> {
        let mut id = [0u8; 4];
        hex::decode_to_slice(s, &mut id).map_err(|_| TrustError::BadKeyIdText)?;
        Ok(KeyId(id))
    }
}

/// What a key may sign. A key has exactly one purpose; a signature by a key of another
/// purpose is refused even when it is mathematically valid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum KeyPurpose {
    /// Customer passes, gift-card and voucher tokens (the QR codes).
    Token,
    /// Promotion catalog envelopes.
    Catalog,
    /// Data central sends to tills outside catalogs: revocation deltas.
    Sync,
    /// The pinned root key: signs the trust list and nothing else. Never listed in it.
    Root,
}

impl KeyPurpose {
    /// The stable wire name: `token`, `catalog`, `sync` or `root`.
    pub fn code(self) -> &'static str {
        match self {
            KeyPurpose::Token => "token",
            KeyPurpose::Catalog => "catalog",
            KeyPurpose::Sync => "sync",
            KeyPurpose::Root => "root",
        }
    }
}

impl fmt::Display for KeyPurpose {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// Why a key or a set of keys cannot be trusted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum TrustError {
    /// The 32 bytes are not a valid compressed Edwards point.
    #[error("public key is not a valid Ed25519 point")]
    InvalidPublicKey,
    /// The key is of small order: any signature would verify against it.
    #[error("public key is weak (small order)")]
    WeakKey,
    /// The validity window is empty: `not_after` is not after `not_before`.
    #[error("empty validity window: not_before {not_before}, not_after {not_after}")]
    EmptyValidity {
        /// Start of the window, unix seconds.
        not_before: u64,
        /// End of the window (exclusive), unix seconds.
        not_after: u64,
    },
    /// Two keys in one list share a key id (a collision of the 4-byte id, or the same key
    /// listed twice). The issuer must rotate one of them.
    #[error("key id {0} appears twice")]
    DuplicateKeyId(KeyId),
    /// A key id in text form is not 8 hex digits.
    #[error("key id is not 8 hex digits")]
    BadKeyIdText,
}

impl TrustError {
    /// A stable snake_case code for logs and the dashboard.
    pub fn code(&self) -> &'static str {
        match self {
            TrustError::InvalidPublicKey => "invalid_public_key",
            TrustError::WeakKey => "weak_key",
            TrustError::EmptyValidity { .. } => "empty_validity",
            TrustError::DuplicateKeyId(_) => "duplicate_key_id",
            TrustError::BadKeyIdText => "bad_key_id_text",
        }
    }
}

/// A public key the till trusts for one purpose during `[not_before, not_after)`.
///
/// The key is kept decompressed (a curve point), so verifying a signature does not pay for
/// point decompression each time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustedKey {
    kid: KeyId,
    purpose: KeyPurpose,
    key: VerifyingKey,
    not_before: u64,
    not_after: u64,
}

impl TrustedKey {
    /// A key from its 32 public bytes, refusing invalid points, weak keys and empty windows.
    /// Times are unix seconds; `not_after` is exclusive.
    pub fn new(
        purpose: KeyPurpose,
        public_key: &[u8; 32],
        not_before: u64,
        not_after: u64,
    ) -> Result<TrustedKey, TrustError> {
        let key = VerifyingKey::from_bytes(public_key).map_err(|_| TrustError::InvalidPublicKey)?;
        TrustedKey::from_verifying_key(purpose, key, not_before, not_after)
    }

    /// A key from an already decoded verifying key.
    pub fn from_verifying_key(
        purpose: KeyPurpose,
        key: VerifyingKey,
        not_before: u64,
        not_after: u64,
    ) -> Result<TrustedKey, TrustError> {
        if key.is_weak() {
            return Err(TrustError::WeakKey);
        }
        if not_after <= not_before {
            return Err(TrustError::EmptyValidity {
                not_before,
                not_after,
            });
        }
        Ok(TrustedKey {
            kid: KeyId::of(&key),
            purpose,
            key,
            not_before,
            not_after,
        })
    }

    /// The key id.
    pub fn kid(&self) -> KeyId {
        self.kid
    }

    /// What the key may sign.
    pub fn purpose(&self) -> KeyPurpose {
        self.purpose
    }

    /// The decompressed public key.
    pub fn verifying_key(&self) -> &VerifyingKey {
        &self.key
    }

    /// Start of the validity window, unix seconds (inclusive).
    pub fn not_before(&self) -> u64 {
        self.not_before
    }

    /// End of the validity window, unix seconds (exclusive).
    pub fn not_after(&self) -> u64 {
        self.not_after
    }

    /// Whether `at` (unix seconds) falls inside the validity window.
    pub fn is_valid_at(&self, at: u64) -> bool {
        self.not_before <= at && at < self.not_after
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::SigningKey;
    use sha2::{Digest, Sha256};

    #[test]
    fn key_id_is_the_sha256_prefix_of_the_public_key() {
        let key = SigningKey::from_bytes(&[7; 32]).verifying_key();
        let digest = Sha256::digest(key.as_bytes());
        assert_eq!(KeyId::of(&key).0.as_slice(), &digest[..4]);
    }

    #[test]
    fn key_id_text_round_trips_and_rejects_bad_text() {
        let kid = KeyId([0x1a, 0x2b, 0x3c, 0xff]);
        assert_eq!(kid.to_string(), "1a2b3cff");
        assert_eq!("1A2B3CFF".parse::<KeyId>(), Ok(kid));
        assert_eq!("1a2b3c".parse::<KeyId>(), Err(TrustError::BadKeyIdText));
        assert_eq!("1a2b3cfg".parse::<KeyId>(), Err(TrustError::BadKeyIdText));
    }

    #[test]
    fn validity_window_is_half_open() {
        let public = SigningKey::from_bytes(&[1; 32]).verifying_key().to_bytes();
        let key = TrustedKey::new(KeyPurpose::Token, &public, 100, 200).unwrap();
        assert!(!key.is_valid_at(99));
        assert!(key.is_valid_at(100));
        assert!(key.is_valid_at(199));
        assert!(!key.is_valid_at(200));
    }

    #[test]
    fn weak_invalid_and_empty_window_keys_are_refused() {
        // The identity point (y = 1) is of small order.
        let mut identity = [0u8; 32];
        identity[0] = 1;
        assert_eq!(
            TrustedKey::new(KeyPurpose::Token, &identity, 0, 1),
            Err(TrustError::WeakKey)
        );
        // y = 2 is not on the curve.
        let mut off_curve = [0u8; 32];
        off_curve[0] = 2;
        assert_eq!(
            TrustedKey::new(KeyPurpose::Token, &off_curve, 0, 1),
            Err(TrustError::InvalidPublicKey)
        );
        let public = SigningKey::from_bytes(&[1; 32]).verifying_key().to_bytes();
        assert_eq!(
            TrustedKey::new(KeyPurpose::Sync, &public, 5, 5).map_err(|e| e.code()),
            Err("empty_validity")
        );
    }
}
