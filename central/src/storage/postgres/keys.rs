//! Keys on PostgreSQL, as [`crate::keys`] keeps them on SQLite: the database records each
//! key's purpose, public key and life; the secrets live in the key directory every node
//! is given. Making keys runs under an advisory lock, so two nodes starting together on a
//! fresh database make one key per purpose, not two.

use deadpool_postgres::GenericClient;
use ed25519_dalek::SigningKey;
use tillpass_protocol::trust::KeyId;
use tokio_postgres::Row;

use super::Pg;
use crate::error::{Error, Result};
use crate::keys::{KeyDir, KeyInfo, KeyRow, Purpose, SELECT_KEY, none_active};

/// The advisory lock held while keys are made, rotated or revoked ("tillkeys").
const KEYS_LOCK: i64 = 0x7469_6c6c_6b65_7973;

fn key_row(row: &Row) -> KeyRow {
    KeyRow {
        kid: row.get(0),
        purpose: row.get(1),
        public_key: row.get(2),
        created_at: row.get(3),
        retired_at: row.get(4),
        not_after: row.get(5),
        revoked_at: row.get(6),
    }
}

/// The id of the active key of `purpose`, if any.
pub async fn active_kid(c: &impl GenericClient, purpose: Purpose) -> Result<Option<KeyId>> {
    let kid: Option<String> = c
        .query_opt(
            "SELECT kid FROM keys WHERE purpose = $1 AND retired_at IS NULL AND revoked_at IS NULL
             ORDER BY created_at DESC, kid DESC LIMIT 1",
            &[&purpose.code()],
        )
        .await?
        .map(|r| r.get(0));
    kid.map(|k| k.parse().map_err(Error::internal)).transpose()
}

/// The active signing key of `purpose`.
pub async fn active(c: &impl GenericClient, dir: &KeyDir, purpose: Purpose) -> Result<SigningKey> {
    let kid = active_kid(c, purpose)
        .await?
        .ok_or_else(|| none_active(purpose))?;
    dir.read(kid)
}

/// One key by id.
pub async fn get(c: &impl GenericClient, kid: &str) -> Result<Option<KeyInfo>> {
    c.query_opt(&format!("{SELECT_KEY} WHERE kid = $1"), &[&kid])
        .await?
        .map(|r| key_row(&r).into_info())
        .transpose()
}

/// Every key, oldest first.
pub async fn list(pg: &Pg) -> Result<Vec<KeyInfo>> {
    let client = pg.client().await?;
    client
        .query(&format!("{SELECT_KEY} ORDER BY created_at, kid"), &[])
        .await?
        .iter()
        .map(|r| key_row(r).into_info())
        .collect()
}

/// The public key of the root key, the one tills pin.
pub async fn root_public_key(c: &impl GenericClient) -> Result<[u8; 32]> {
    let public: Vec<u8> = c
        .query_opt(
            "SELECT public_key FROM keys WHERE purpose = 'root' AND retired_at IS NULL
                 AND revoked_at IS NULL
             ORDER BY created_at DESC, kid DESC LIMIT 1",
            &[],
        )
        .await?
        .ok_or_else(|| Error::internal("no root key: run `tillpass-central keys init`"))?
        .get(0);
    public
        .try_into()
        .map_err(|_| Error::internal("root public key is not 32 bytes"))
}

/// Makes, stores and records a new key for `purpose`.
async fn create(
    c: &impl GenericClient,
    dir: &KeyDir,
    purpose: Purpose,
    now: i64,
) -> Result<KeyInfo> {
    let key = dir.generate()?;
    let public = key.verifying_key().to_bytes().to_vec();
    let kid = KeyId::of(&key.verifying_key()).to_string();
    c.execute(
        "INSERT INTO keys (kid, purpose, public_key, created_at) VALUES ($1, $2, $3, $4)",
        &[&kid, &purpose.code(), &public, &now],
    )
    .await?;
    get(c, &kid).await?.ok_or(Error::NotFound("key"))
}

/// Makes a key for every purpose that has no active one. Returns the keys made.
pub async fn init(pg: &Pg, dir: &KeyDir, now: i64) -> Result<Vec<KeyInfo>> {
    let mut client = pg.client().await?;
    let tx = client.transaction().await?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&KEYS_LOCK])
        .await?;
    let mut made = Vec::new();
    for purpose in Purpose::ALL {
        if active_kid(&tx, purpose).await?.is_none() {
            made.push(create(&tx, dir, purpose, now).await?);
        }
    }
    tx.commit().await?;
    Ok(made)
}

/// Replaces the active key of `purpose` (as [`crate::keys::rotate`]).
pub async fn rotate(
    pg: &Pg,
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
    let mut client = pg.client().await?;
    let tx = client.transaction().await?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&KEYS_LOCK])
        .await?;
    tx.execute(
        "UPDATE keys SET retired_at = $2, not_after = $3
         WHERE purpose = $1 AND retired_at IS NULL AND revoked_at IS NULL",
        &[&purpose.code(), &now, &now.saturating_add(grace_secs)],
    )
    .await?;
    let made = create(&tx, dir, purpose, now).await?;
    tx.commit().await?;
    Ok(made)
}

/// Revokes a key (as [`crate::keys::revoke`]): trusted no more, published as a
/// revocation, replaced if it was active.
pub async fn revoke(pg: &Pg, dir: &KeyDir, kid: &str, now: i64) -> Result<KeyInfo> {
    let mut client = pg.client().await?;
    let tx = client.transaction().await?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&KEYS_LOCK])
        .await?;
    let info = get(&tx, kid).await?.ok_or(Error::NotFound("key"))?;
    if info.purpose == Purpose::Root {
        return Err(Error::invalid("the root key cannot be revoked"));
    }
    if info.revoked_at.is_some() {
        return Err(Error::Conflict("key already revoked".into()));
    }
    let key_id: KeyId = kid.parse().map_err(Error::internal)?;
    tx.execute(
        "UPDATE keys SET revoked_at = $2, not_after = $2, retired_at = COALESCE(retired_at, $2)
         WHERE kid = $1",
        &[&kid, &now],
    )
    .await?;
    tx.execute(
        "INSERT INTO revocations (what, value, revoked_at) VALUES ('key', $1, $2)",
        &[&key_id.0.as_slice(), &now],
    )
    .await?;
    if active_kid(&tx, info.purpose).await?.is_none() {
        create(&tx, dir, info.purpose, now).await?;
    }
    let info = get(&tx, kid).await?.ok_or(Error::NotFound("key"))?;
    tx.commit().await?;
    Ok(info)
}
