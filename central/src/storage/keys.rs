//! Keys behind the contract (SQLite: [`crate::keys`]; PostgreSQL:
//! [`super::postgres::keys`]). Every operation that changes which keys are trusted also
//! publishes a new trust list, so every node serves it at once.

use ed25519_dalek::SigningKey;
use tillpass_protocol::trust::KeyId;

use super::{Database, postgres};
use crate::envelopes;
use crate::error::Result;
use crate::keys::{self, KeyDir, KeyInfo, Purpose};

impl Database {
    /// Makes a key for every purpose that has none active (and then a trust list).
    /// Returns the keys made; none when every purpose has one.
    pub async fn init_keys(&self, dir: &KeyDir, now: i64) -> Result<Vec<KeyInfo>> {
        match self {
            Database::Sqlite(db) => {
                let dir = dir.clone();
                db.call(move |c| {
                    let made = keys::init(c, &dir, now)?;
                    if !made.is_empty() {
                        envelopes::publish_trust_list(c, &dir, now)?;
                    }
                    Ok(made)
                })
                .await
            }
            Database::Postgres(pg) => {
                let made = postgres::keys::init(pg, dir, now).await?;
                if !made.is_empty() {
                    postgres::envelopes::publish_trust_list(pg, dir, now).await?;
                }
                Ok(made)
            }
        }
    }

    /// Replaces the active key of `purpose`; the old one stays trusted for `grace_secs`.
    /// A new trust list is published.
    pub async fn rotate_key(
        &self,
        dir: &KeyDir,
        purpose: Purpose,
        now: i64,
        grace_secs: i64,
    ) -> Result<KeyInfo> {
        match self {
            Database::Sqlite(db) => {
                let dir = dir.clone();
                db.call(move |c| {
                    let made = keys::rotate(c, &dir, purpose, now, grace_secs)?;
                    envelopes::publish_trust_list(c, &dir, now)?;
                    Ok(made)
                })
                .await
            }
            Database::Postgres(pg) => {
                let made = postgres::keys::rotate(pg, dir, purpose, now, grace_secs).await?;
                postgres::envelopes::publish_trust_list(pg, dir, now).await?;
                Ok(made)
            }
        }
    }

    /// Revokes a key (replaced if it was active; published as a revocation). A new trust
    /// list is published.
    pub async fn revoke_key(&self, dir: &KeyDir, kid: &str, now: i64) -> Result<KeyInfo> {
        match self {
            Database::Sqlite(db) => {
                let (dir, kid) = (dir.clone(), kid.to_owned());
                db.call(move |c| {
                    let info = keys::revoke(c, &dir, &kid, now)?;
                    envelopes::publish_trust_list(c, &dir, now)?;
                    Ok(info)
                })
                .await
            }
            Database::Postgres(pg) => {
                let info = postgres::keys::revoke(pg, dir, kid, now).await?;
                postgres::envelopes::publish_trust_list(pg, dir, now).await?;
                Ok(info)
            }
        }
    }

    /// Every key, oldest first.
    pub async fn list_keys(&self) -> Result<Vec<KeyInfo>> {
        match self {
            Database::Sqlite(db) => db.call(|c| keys::list(c)).await,
            Database::Postgres(pg) => postgres::keys::list(pg).await,
        }
    }

    /// The id of the active key of `purpose`, if any.
    pub async fn active_kid(&self, purpose: Purpose) -> Result<Option<KeyId>> {
        match self {
            Database::Sqlite(db) => db.call(move |c| keys::active_kid(c, purpose)).await,
            Database::Postgres(pg) => {
                postgres::keys::active_kid(&pg.client().await?, purpose).await
            }
        }
    }

    /// The active signing key of `purpose`, its secret read from `dir`.
    pub async fn active_key(&self, dir: &KeyDir, purpose: Purpose) -> Result<SigningKey> {
        let kid = self
            .active_kid(purpose)
            .await?
            .ok_or_else(|| keys::none_active(purpose))?;
        dir.read(kid)
    }

    /// The public key of the root key, the one tills pin.
    pub async fn root_public_key(&self) -> Result<[u8; 32]> {
        match self {
            Database::Sqlite(db) => db.call(|c| keys::root_public_key(c)).await,
            Database::Postgres(pg) => postgres::keys::root_public_key(&pg.client().await?).await,
        }
    }
}
