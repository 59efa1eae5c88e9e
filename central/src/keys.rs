//! Central's signing keys: root (pins the trust list), token, catalog and sync.
//!
//! Private keys live in the key directory, one file per key named `{kid}.key` holding the
//! 32-byte secret in hex, mode 0600 (the directory 0700). The database records each key's
//! purpose, public key and life: created, retired (rotated out: no longer signs, still
//! trusted until `not_after` so what it signed keeps verifying), revoked (trusted no more,
//! and published as a revocation).
//!
//! One key per purpose is *active*: the newest that is neither retired nor revoked.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use ed25519_dalek::SigningKey;
use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;
use tillpass_protocol::trust::{KeyId, KeyPurpose};

use crate::error::{Error, Result};

/// What a key signs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Purpose {
    /// The trust list (pinned by every till).
    Root,
    /// Customer passes, gift-card and voucher tokens.
    Token,
    /// Promotion catalogs.
    Catalog,
    /// Revocation envelopes and the signed server time.
    Sync,
}

impl Purpose {
    /// Every purpose.
    pub const ALL: [Purpose; 4] = [
        Purpose::Root,
        Purpose::Token,
        Purpose::Catalog,
        Purpose::Sync,
    ];

    /// The name stored and shown: `root`, `token`, `catalog`, `sync`.
    pub fn code(self) -> &'static str {
        match self {
            Purpose::Root => "root",
            Purpose::Token => "token",
            Purpose::Catalog => "catalog",
            Purpose::Sync => "sync",
        }
    }

    /// The purpose named `code`.
    pub fn from_code(code: &str) -> Option<Purpose> {
        Purpose::ALL.into_iter().find(|p| p.code() == code)
    }

    /// The trust list's name for it.
    pub fn to_trust(self) -> KeyPurpose {
        match self {
            Purpose::Root => KeyPurpose::Root,
            Purpose::Token => KeyPurpose::Token,
            Purpose::Catalog => KeyPurpose::Catalog,
            Purpose::Sync => KeyPurpose::Sync,
        }
    }
}

/// A key as the database records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KeyInfo {
    /// The key id, 8 hex digits.
    pub kid: String,
    /// What it signs.
    pub purpose: Purpose,
    /// The public key, hex.
    pub public_key: String,
    /// When it was made.
    pub created_at: i64,
    /// When it stopped signing (rotated), if it did.
    pub retired_at: Option<i64>,
    /// Until when it is trusted, if bounded.
    pub not_after: Option<i64>,
    /// When it was revoked, if it was.
    pub revoked_at: Option<i64>,
}

/// The key directory.
#[derive(Debug, Clone)]
pub struct KeyDir {
    path: PathBuf,
}

impl KeyDir {
    /// The key directory at `path`, created with mode 0700 if missing.
    pub fn open(path: &Path) -> Result<KeyDir> {
        fs::create_dir_all(path)
            .map_err(|e| Error::io(format!("creating {}", path.display()), e))?;
        fs::set_permissions(path, fs::Permissions::from_mode(0o700))
            .map_err(|e| Error::io(format!("securing {}", path.display()), e))?;
        Ok(KeyDir {
            path: path.to_path_buf(),
        })
    }

    /// Where the secret of `kid` lives.
    pub fn file(&self, kid: KeyId) -> PathBuf {
        self.path.join(format!("{kid}.key"))
    }

    /// Makes a new key and stores its secret (0600). The caller records it.
    pub(crate) fn generate(&self) -> Result<SigningKey> {
        let key = SigningKey::from_bytes(&random_bytes::<32>()?);
        self.write(&key)?;
        Ok(key)
    }

    fn write(&self, key: &SigningKey) -> Result<()> {
        let kid = KeyId::of(&key.verifying_key());
        let path = self.file(kid);
        let mut file = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .map_err(|e| Error::io(format!("creating {}", path.display()), e))?;
        file.write_all(format!("{}\n", hex::encode(key.as_bytes())).as_bytes())
            .and_then(|()| file.sync_all())
            .map_err(|e| Error::io(format!("writing {}", path.display()), e))
    }

    /// Reads the secret of `kid`, checking that it matches the id.
    pub fn read(&self, kid: KeyId) -> Result<SigningKey> {
        let path = self.file(kid);
        let text = fs::read_to_string(&path)
            .map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
        let mut secret = [0u8; 32];
        hex::decode_to_slice(text.trim(), &mut secret)
            .map_err(|_| Error::internal(format!("{} is not 64 hex digits", path.display())))?;
        let key = SigningKey::from_bytes(&secret);
        if KeyId::of(&key.verifying_key()) != kid {
            return Err(Error::internal(format!(
                "{} holds another key than {kid}",
                path.display()
            )));
        }
        Ok(key)
    }
}

/// 32 bytes from the operating system's random source.
pub fn random_bytes<const N: usize>() -> Result<[u8; N]> {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).map_err(|e| Error::internal(format!("random source: {e}")))?;
    Ok(bytes)
}

/// Makes, stores and records a new key for `purpose`.
fn create(conn: &Connection, dir: &KeyDir, purpose: Purpose, now: i64) -> Result<KeyInfo> {
    let key = dir.generate()?;
    let public = key.verifying_key().to_bytes();
    let kid = KeyId::of(&key.verifying_key()).to_string();
    conn.execute(
        "INSERT INTO keys (kid, purpose, public_key, created_at) VALUES (?1, ?2, ?3, ?4)",
        params![kid, purpose.code(), public.as_slice(), now],
    )?;
    get(conn, &kid)?.ok_or(Error::NotFound("key"))
}

/// Makes a key for every purpose that has no active one. Returns the keys made.
pub fn init(conn: &mut Connection, dir: &KeyDir, now: i64) -> Result<Vec<KeyInfo>> {
    let tx = conn.transaction()?;
    let mut made = Vec::new();
    for purpose in Purpose::ALL {
        if active_kid(&tx, purpose)?.is_none() {
            made.push(create(&tx, dir, purpose, now)?);
        }
    }
    tx.commit()?;
    Ok(made)
}

/// The id of the active key of `purpose`, if any.
pub fn active_kid(conn: &Connection, purpose: Purpose) -> Result<Option<KeyId>> {
    let kid: Option<String> = conn
        .query_row(
            "SELECT kid FROM keys WHERE purpose = ?1 AND retired_at IS NULL AND revoked_at IS NULL
             ORDER BY created_at DESC, rowid DESC LIMIT 1",
            [purpose.code()],
            |row| row.get(0),
        )
        .optional()?;
    kid.map(|k| k.parse().map_err(Error::internal)).transpose()
}

/// The active signing key of `purpose`.
pub fn active(conn: &Connection, dir: &KeyDir, purpose: Purpose) -> Result<SigningKey> {
    let kid = active_kid(conn, purpose)?.ok_or_else(|| none_active(purpose))?;
    dir.read(kid)
}

/// Replaces the active key of `purpose` with a new one. The old key stops signing now and
/// stays trusted for `grace_secs`, so what it signed keeps verifying. The root key cannot
/// be rotated this way: every till pins it.
pub fn rotate(
    conn: &mut Connection,
    dir: &KeyDir,
    purpose: Purpose,
    now: i64,
    grace_secs: i64,
) -> Result<KeyInfo> {
    if purpose == Purpose::Root {
        return Err(Error::invalid(
            "the root key is pinned by every till and cannot be rotated",
        ));
    }
    let tx = conn.transaction()?;
    tx.execute(
        "UPDATE keys SET retired_at = ?2, not_after = ?3
         WHERE purpose = ?1 AND retired_at IS NULL AND revoked_at IS NULL",
        params![purpose.code(), now, now.saturating_add(grace_secs)],
    )?;
    let made = create(&tx, dir, purpose, now)?;
    tx.commit()?;
    Ok(made)
}

/// Revokes a key: it is trusted no more, and a revocation of everything it signed goes to
/// every till. If it was the active key of its purpose, a new one is made. The root key
/// cannot be revoked.
pub fn revoke(conn: &mut Connection, dir: &KeyDir, kid: &str, now: i64) -> Result<KeyInfo> {
    let info = get(conn, kid)?.ok_or(Error::NotFound("key"))?;
    if info.purpose == Purpose::Root {
        return Err(Error::invalid("the root key cannot be revoked"));
    }
    if info.revoked_at.is_some() {
        return Err(Error::Conflict("key already revoked".into()));
    }
    let key_id: KeyId = kid.parse().map_err(Error::internal)?;
    let tx = conn.transaction()?;
    tx.execute(
        "UPDATE keys SET revoked_at = ?2, not_after = ?2, retired_at = COALESCE(retired_at, ?2)
         WHERE kid = ?1",
        params![kid, now],
    )?;
    crate::revocations::add_key(&tx, key_id, now)?;
    if active_kid(&tx, info.purpose)?.is_none() {
        create(&tx, dir, info.purpose, now)?;
    }
    tx.commit()?;
    get(conn, kid)?.ok_or(Error::NotFound("key"))
}

/// One key by id.
pub fn get(conn: &Connection, kid: &str) -> Result<Option<KeyInfo>> {
    conn.query_row(&format!("{SELECT_KEY} WHERE kid = ?1"), [kid], KeyRow::read)
        .optional()?
        .map(KeyRow::into_info)
        .transpose()
}

/// Every key, oldest first.
pub fn list(conn: &Connection) -> Result<Vec<KeyInfo>> {
    let mut stmt = conn.prepare(&format!("{SELECT_KEY} ORDER BY created_at, rowid"))?;
    let rows = stmt.query_map([], KeyRow::read)?;
    let mut keys = Vec::new();
    for row in rows {
        keys.push(row?.into_info()?);
    }
    Ok(keys)
}

pub(crate) const SELECT_KEY: &str =
    "SELECT kid, purpose, public_key, created_at, retired_at, not_after, revoked_at FROM keys";

/// A key's row, as either backend reads it.
pub(crate) struct KeyRow {
    pub(crate) kid: String,
    pub(crate) purpose: String,
    pub(crate) public_key: Vec<u8>,
    pub(crate) created_at: i64,
    pub(crate) retired_at: Option<i64>,
    pub(crate) not_after: Option<i64>,
    pub(crate) revoked_at: Option<i64>,
}

impl KeyRow {
    fn read(row: &rusqlite::Row<'_>) -> rusqlite::Result<KeyRow> {
        Ok(KeyRow {
            kid: row.get(0)?,
            purpose: row.get(1)?,
            public_key: row.get(2)?,
            created_at: row.get(3)?,
            retired_at: row.get(4)?,
            not_after: row.get(5)?,
            revoked_at: row.get(6)?,
        })
    }

    pub(crate) fn into_info(self) -> Result<KeyInfo> {
        let purpose = Purpose::from_code(&self.purpose)
            .ok_or_else(|| Error::internal(format!("unknown key purpose {}", self.purpose)))?;
        Ok(KeyInfo {
            kid: self.kid,
            purpose,
            public_key: hex::encode(&self.public_key),
            created_at: self.created_at,
            retired_at: self.retired_at,
            not_after: self.not_after,
            revoked_at: self.revoked_at,
        })
    }
}

/// The public key of the root key, the one tills pin.
pub fn root_public_key(conn: &Connection) -> Result<[u8; 32]> {
    let kid = active_kid(conn, Purpose::Root)?
        .ok_or_else(|| Error::internal("no root key: run `tillpass-central keys init`"))?;
    let public: Vec<u8> = conn.query_row(
        "SELECT public_key FROM keys WHERE kid = ?1",
        [kid.to_string()],
        |row| row.get(0),
    )?;
    public
        .try_into()
        .map_err(|_| Error::internal("root public key is not 32 bytes"))
}

/// The message when no key of `purpose` is active.
pub(crate) fn none_active(purpose: Purpose) -> Error {
    Error::internal(format!(
        "no active {} key: run `tillpass-central keys init`",
        purpose.code()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::Db;

    #[test]
    fn keys_are_made_rotated_and_revoked() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&dir.path().join("c.db")).unwrap();
        let keys = KeyDir::open(&dir.path().join("keys")).unwrap();
        db.with(|conn| {
            let made = init(conn, &keys, 100)?;
            assert_eq!(made.len(), 4);
            assert!(init(conn, &keys, 100)?.is_empty());
            let token = active(conn, &keys, Purpose::Token)?;
            let file = keys.file(KeyId::of(&token.verifying_key()));
            let mode = fs::metadata(&file).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);

            let new = rotate(conn, &keys, Purpose::Token, 200, 50)?;
            assert_ne!(new.kid, KeyId::of(&token.verifying_key()).to_string());
            let old = get(conn, &KeyId::of(&token.verifying_key()).to_string())?.unwrap();
            assert_eq!(old.retired_at, Some(200));
            assert_eq!(old.not_after, Some(250));
            assert!(rotate(conn, &keys, Purpose::Root, 200, 50).is_err());

            let revoked = revoke(conn, &keys, &new.kid, 300)?;
            assert_eq!(revoked.revoked_at, Some(300));
            let replacement = active_kid(conn, Purpose::Token)?.unwrap();
            assert_ne!(replacement.to_string(), new.kid);
            assert_eq!(list(conn)?.len(), 6);
            Ok(())
        })
        .unwrap();
    }
}
