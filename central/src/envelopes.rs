//! Signed envelopes central publishes: the trust list (signed by the root key) and the
//! promotion catalogs' envelopes (see [`crate::catalogs`]), stored with their sequence
//! number and ETag.
//!
//! An envelope can only be opened within its maximum age, so central re-seals the current
//! trust list under a new sequence number once half its age has passed: a till enrolled
//! months after a rotation still receives a list it can open.

use rusqlite::{Connection, OptionalExtension, params};
use sha2::{Digest, Sha256};
use tillpass_protocol::trust::{TrustStore, TrustedKey};

use crate::clock::to_u64;
use crate::error::{Error, Result};
use crate::keys::{self, KeyDir, Purpose};
use crate::settings;

/// The envelope purpose name of the trust list.
pub const TRUST_LIST: &str = "trust-list";

/// A stored envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Published {
    /// Its sequence number.
    pub sequence: u64,
    /// When it was sealed: unix seconds.
    pub issued_at: i64,
    /// How long it may be opened after `issued_at`, in seconds.
    pub max_age_secs: i64,
    /// The envelope bytes.
    pub envelope: Vec<u8>,
    /// Its strong ETag, quotes included.
    pub etag: String,
    /// What it was sealed from (a catalog's id), when that matters.
    pub source: Option<i64>,
}

impl Published {
    /// Whether more than half its life has passed at `now`.
    pub fn is_stale(&self, now: i64) -> bool {
        now.saturating_sub(self.issued_at) > self.max_age_secs / 2
    }
}

/// The strong ETag of a body: the first 16 bytes of its SHA-256, hex, in quotes.
pub fn etag_of(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    format!("\"{}\"", hex::encode(&digest[..16]))
}

/// The newest stored envelope of `purpose`.
pub fn latest(conn: &Connection, purpose: &str) -> Result<Option<Published>> {
    let row = conn
        .query_row(
            "SELECT sequence, issued_at, max_age, envelope, etag, source FROM envelopes
             WHERE purpose = ?1 ORDER BY sequence DESC LIMIT 1",
            [purpose],
            |row| {
                Ok((
                    row.get::<_, i64>(0)?,
                    row.get(1)?,
                    row.get(2)?,
                    row.get(3)?,
                    row.get(4)?,
                    row.get(5)?,
                ))
            },
        )
        .optional()?;
    row.map(
        |(sequence, issued_at, max_age_secs, envelope, etag, source)| {
            Ok(Published {
                sequence: u64::try_from(sequence).map_err(Error::internal)?,
                issued_at,
                max_age_secs,
                envelope,
                etag,
                source,
            })
        },
    )
    .transpose()
}

/// Stores an envelope just sealed.
pub fn store(
    conn: &Connection,
    purpose: &str,
    sequence: u64,
    issued_at: i64,
    max_age_secs: i64,
    envelope: Vec<u8>,
    source: Option<i64>,
) -> Result<Published> {
    let etag = etag_of(&envelope);
    let seq = i64::try_from(sequence).map_err(Error::internal)?;
    conn.execute(
        "INSERT INTO envelopes (purpose, sequence, issued_at, max_age, envelope, etag, source)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![
            purpose,
            seq,
            issued_at,
            max_age_secs,
            envelope,
            etag,
            source
        ],
    )?;
    Ok(Published {
        sequence,
        issued_at,
        max_age_secs,
        envelope,
        etag,
        source,
    })
}

/// Seals and stores a new trust list: every token, catalog and sync key that is not
/// revoked and still within its validity, signed by the root key.
pub fn publish_trust_list(conn: &Connection, dir: &KeyDir, now: i64) -> Result<Published> {
    let max_age = settings::policy(conn)?.max_trust_list_age_secs;
    let mut stmt = conn.prepare(
        "SELECT purpose, public_key, created_at, not_after FROM keys
         WHERE purpose != 'root' AND revoked_at IS NULL AND (not_after IS NULL OR not_after > ?1)
         ORDER BY created_at",
    )?;
    let trusted = stmt
        .query_map([now], |row| {
            Ok(ListedKey {
                purpose: row.get(0)?,
                public_key: row.get(1)?,
                created_at: row.get(2)?,
                not_after: row.get(3)?,
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let sequence = settings::next_sequence(conn, TRUST_LIST)?;
    let root = keys::active(conn, dir, Purpose::Root)?;
    let envelope = seal_trust_list(trusted, sequence, &root, now, max_age)?;
    let max_age = i64::try_from(max_age).unwrap_or(i64::MAX);
    store(conn, TRUST_LIST, sequence, now, max_age, envelope, None)
}

/// A key as the trust list lists it, read from either backend.
pub(crate) struct ListedKey {
    pub(crate) purpose: String,
    pub(crate) public_key: Vec<u8>,
    pub(crate) created_at: i64,
    pub(crate) not_after: Option<i64>,
}

/// The trust list of `keys` under `sequence`, sealed by `root` at `now`.
pub(crate) fn seal_trust_list(
    keys: Vec<ListedKey>,
    sequence: u64,
    root: &ed25519_dalek::SigningKey,
    now: i64,
    max_age: u64,
) -> Result<Vec<u8>> {
    let mut trusted = Vec::with_capacity(keys.len());
    for listed in keys {
        let purpose = Purpose::from_code(&listed.purpose)
            .ok_or_else(|| Error::internal(format!("unknown key purpose {}", listed.purpose)))?;
        let public: [u8; 32] = listed
            .public_key
            .try_into()
            .map_err(|_| Error::internal("public key is not 32 bytes"))?;
        let not_after = listed.not_after.map_or(u64::MAX, to_u64);
        let key = TrustedKey::new(
            purpose.to_trust(),
            &public,
            to_u64(listed.created_at),
            not_after,
        )
        .map_err(|e| Error::internal(format!("key in trust list: {e}")))?;
        trusted.push(key);
    }
    let list = TrustStore::new(sequence, trusted)
        .map_err(|e| Error::internal(format!("trust list: {e}")))?;
    list.seal(root, to_u64(now), max_age)
        .map_err(|e| Error::internal(format!("sealing the trust list: {e}")))
}

/// The current trust list, re-sealed first if none exists or half its age has passed.
pub fn trust_list(conn: &Connection, dir: &KeyDir, now: i64) -> Result<Published> {
    match latest(conn, TRUST_LIST)? {
        Some(published) if !published.is_stale(now) => Ok(published),
        _ => publish_trust_list(conn, dir, now),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::Db;
    use tillpass_protocol::trust::{KeyPurpose, RootKey};

    #[test]
    fn trust_lists_open_with_the_root_key_and_follow_rotations() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&dir.path().join("c.db")).unwrap();
        let keys_dir = KeyDir::open(&dir.path().join("keys")).unwrap();
        db.with(|conn| {
            keys::init(conn, &keys_dir, 1_000)?;
            let first = trust_list(conn, &keys_dir, 1_000)?;
            assert_eq!(first.sequence, 1);
            assert_eq!(trust_list(conn, &keys_dir, 1_010)?, first);
            let root = RootKey::new(&keys::root_public_key(conn)?).unwrap();
            let (store, _) = TrustStore::open(&first.envelope, &root, 1_000, 0).unwrap();
            assert_eq!(store.keys().len(), 3);

            keys::rotate(conn, &keys_dir, Purpose::Token, 2_000, 100)?;
            let second = publish_trust_list(conn, &keys_dir, 2_000)?;
            let (store, _) = TrustStore::open(&second.envelope, &root, 2_000, 1).unwrap();
            let tokens = store
                .keys()
                .iter()
                .filter(|k| k.purpose() == KeyPurpose::Token)
                .count();
            assert_eq!(tokens, 2, "the rotated-out key stays during its grace");
            let third = publish_trust_list(conn, &keys_dir, 2_200)?;
            let (store, _) = TrustStore::open(&third.envelope, &root, 2_200, 2).unwrap();
            assert_eq!(store.keys().len(), 3, "after the grace it is gone");

            let far = 1_000 + 20 * 86_400;
            let resealed = trust_list(conn, &keys_dir, far)?;
            assert_eq!(resealed.sequence, 4);
            Ok(())
        })
        .unwrap();
    }
}
