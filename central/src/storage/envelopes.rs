//! Signed envelopes and the settings they are sealed under, behind the contract
//! (SQLite: [`crate::envelopes`], [`crate::catalogs`], [`crate::settings`]; PostgreSQL:
//! [`super::postgres::envelopes`], [`super::postgres::settings`]). An envelope is sealed
//! once and stored; every node serves the stored bytes.

use tillpass_protocol::sync::OfflinePolicy;

use super::{Database, postgres};
use crate::catalogs::{self, Publication};
use crate::envelopes::{self, Published};
use crate::error::Result;
use crate::keys::KeyDir;
use crate::settings;

impl Database {
    /// The current trust list, sealed again first if none exists or half its age passed.
    pub async fn trust_list(&self, dir: &KeyDir, now: i64) -> Result<Published> {
        match self {
            Database::Sqlite(db) => {
                let dir = dir.clone();
                db.call(move |c| envelopes::trust_list(c, &dir, now)).await
            }
            Database::Postgres(pg) => postgres::envelopes::trust_list(pg, dir, now).await,
        }
    }

    /// Seals and stores a new trust list now.
    pub async fn publish_trust_list(&self, dir: &KeyDir, now: i64) -> Result<Published> {
        match self {
            Database::Sqlite(db) => {
                let dir = dir.clone();
                db.call(move |c| envelopes::publish_trust_list(c, &dir, now))
                    .await
            }
            Database::Postgres(pg) => postgres::envelopes::publish_trust_list(pg, dir, now).await,
        }
    }

    /// The envelope of the newest activated catalog, sealed (again) if needed; `None`
    /// before any catalog is active.
    pub async fn current_catalog(&self, dir: &KeyDir, now: i64) -> Result<Option<Published>> {
        match self {
            Database::Sqlite(db) => {
                let dir = dir.clone();
                db.call(move |c| catalogs::current(c, &dir, now)).await
            }
            Database::Postgres(pg) => postgres::envelopes::current_catalog(pg, dir, now).await,
        }
    }

    /// Validates and publishes a catalog written in TOML, served from `activates_at`
    /// (default: now).
    pub async fn publish_catalog(
        &self,
        dir: &KeyDir,
        toml_text: &str,
        activates_at: Option<i64>,
        now: i64,
    ) -> Result<Publication> {
        match self {
            Database::Sqlite(db) => {
                let (dir, text) = (dir.clone(), toml_text.to_owned());
                db.call(move |c| catalogs::publish(c, &dir, &text, activates_at, now))
                    .await
            }
            Database::Postgres(pg) => {
                postgres::envelopes::publish_catalog(pg, dir, toml_text, activates_at, now).await
            }
        }
    }

    /// The offline policy in force.
    pub async fn policy(&self) -> Result<OfflinePolicy> {
        match self {
            Database::Sqlite(db) => db.call(|c| settings::policy(c)).await,
            Database::Postgres(pg) => postgres::settings::policy(&pg.client().await?).await,
        }
    }

    /// Replaces the offline policy (amounts non-negative, ages positive).
    pub async fn set_policy(&self, policy: &OfflinePolicy) -> Result<()> {
        match self {
            Database::Sqlite(db) => {
                let policy = policy.clone();
                db.call(move |c| settings::set_policy(c, &policy)).await
            }
            Database::Postgres(pg) => {
                postgres::settings::set_policy(&pg.client().await?, policy).await
            }
        }
    }
}
