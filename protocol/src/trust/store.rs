//! The trust store: the keys in force, looked up by key id, purpose and time.

use ed25519_dalek::VerifyingKey;
use thiserror::Error;

use super::key::{KeyId, KeyPurpose, TrustError, TrustedKey};
use crate::envelope::SignerKeys;

/// Why no key could be found for a signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum KeyLookupError {
    /// No key with this id.
    #[error("unknown key {0}")]
    Unknown(KeyId),
    /// A key with this id exists but is for another purpose.
    #[error("key {kid} is a {has} key, not a {wanted} key")]
    WrongPurpose {
        /// The key id.
        kid: KeyId,
        /// The key's purpose.
        has: KeyPurpose,
        /// The purpose asked for.
        wanted: KeyPurpose,
    },
    /// The key exists for this purpose but its validity window does not cover the time.
    #[error("key {kid} is not valid at {at}")]
    OutsideValidity {
        /// The key id.
        kid: KeyId,
        /// The time asked for, unix seconds.
        at: u64,
    },
}

/// The keys a till trusts, from one trust list. Lookups are by key id, then purpose and
/// time are checked.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustStore {
    sequence: u64,
    /// Sorted by key id, no duplicates.
    keys: Vec<TrustedKey>,
}

impl TrustStore {
    /// A store holding `keys`, from the trust list numbered `sequence`. Refuses two keys
    /// with the same key id.
    pub fn new(
        sequence: u64,
        keys: impl IntoIterator<Item = TrustedKey>,
    ) -> Result<TrustStore, TrustError> {
        let mut keys: Vec<TrustedKey> = keys.into_iter().collect();
        keys.sort_by_key(TrustedKey::kid);
        if let Some(pair) = keys.windows(2).find(|w| match w {
            [a, b] => a.kid() == b.kid(),
            _ => false,
        }) && let Some(first) = pair.first()
        {
            return Err(TrustError::DuplicateKeyId(first.kid()));
        }
        Ok(TrustStore { sequence, keys })
    }

    /// The sequence number of the trust list the keys came from (0 for a store built
    /// locally with no list).
    pub fn sequence(&self) -> u64 {
        self.sequence
    }

    /// Every key, sorted by key id.
    pub fn keys(&self) -> &[TrustedKey] {
        &self.keys
    }

    /// The key with id `kid`, whatever its purpose or window.
    pub fn get(&self, kid: KeyId) -> Option<&TrustedKey> {
        self.keys
            .binary_search_by_key(&kid, TrustedKey::kid)
            .ok()
            .and_then(|i| self.keys.get(i))
    }

    /// The key with id `kid`, if it is for `purpose` and valid at `at` (unix seconds).
    pub fn lookup(
        &self,
        kid: KeyId,
        purpose: KeyPurpose,
        at: u64,
    ) -> Result<&TrustedKey, KeyLookupError> {
        let key = self.get(kid).ok_or(KeyLookupError::Unknown(kid))?;
        if key.purpose() != purpose {
            return Err(KeyLookupError::WrongPurpose {
                kid,
                has: key.purpose(),
                wanted: purpose,
            });
        }
        if !key.is_valid_at(at) {
            return Err(KeyLookupError::OutsideValidity { kid, at });
        }
        Ok(key)
    }
}

impl SignerKeys for TrustStore {
    fn signer(
        &self,
        kid: KeyId,
        purpose: KeyPurpose,
        at: u64,
    ) -> Result<&VerifyingKey, KeyLookupError> {
        self.lookup(kid, purpose, at).map(|k| k.verifying_key())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::SigningKey;

    fn key(seed: u8, purpose: KeyPurpose) -> TrustedKey {
        let public = SigningKey::from_bytes(&[seed; 32])
            .verifying_key()
            .to_bytes();
        TrustedKey::new(purpose, &public, 1_000, 2_000).unwrap()
    }

    #[test]
    fn lookup_checks_id_then_purpose_then_window() {
        let token = key(1, KeyPurpose::Token);
        let catalog = key(2, KeyPurpose::Catalog);
        let store = TrustStore::new(3, [catalog.clone(), token.clone()]).unwrap();
        assert_eq!(store.sequence(), 3);
        assert_eq!(
            store.lookup(token.kid(), KeyPurpose::Token, 1_500),
            Ok(&token)
        );
        assert_eq!(
            store.lookup(catalog.kid(), KeyPurpose::Token, 1_500),
            Err(KeyLookupError::WrongPurpose {
                kid: catalog.kid(),
                has: KeyPurpose::Catalog,
                wanted: KeyPurpose::Token
            })
        );
        assert_eq!(
            store.lookup(token.kid(), KeyPurpose::Token, 2_000),
            Err(KeyLookupError::OutsideValidity {
                kid: token.kid(),
                at: 2_000
            })
        );
        let stranger = key(3, KeyPurpose::Token).kid();
        assert_eq!(
            store.lookup(stranger, KeyPurpose::Token, 1_500),
            Err(KeyLookupError::Unknown(stranger))
        );
    }

    #[test]
    fn the_same_key_twice_is_refused() {
        let token = key(1, KeyPurpose::Token);
        let again = key(1, KeyPurpose::Sync);
        assert_eq!(
            TrustStore::new(1, [token.clone(), key(2, KeyPurpose::Sync), again]),
            Err(TrustError::DuplicateKeyId(token.kid()))
        );
    }

    #[test]
    fn keys_are_sorted_for_binary_search() {
        let keys: Vec<TrustedKey> = (1..=20).map(|s| key(s, KeyPurpose::Token)).collect();
        let store = TrustStore::new(1, keys.clone()).unwrap();
        for k in &keys {
            assert_eq!(store.get(k.kid()), Some(k));
        }
    }
}
