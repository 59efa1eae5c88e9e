//! The trust list and catalog a node hands to sync rounds, kept in its memory and checked
//! against the database on every round.
//!
//! A round reads only the envelopes' [`Versions`] (the newest stored sequence of each,
//! and the newest activated catalog's number: one small statement, [`VERSIONS`], in the
//! round's own read). A stored envelope never changes under its `(purpose, sequence)`,
//! so an envelope held in memory whose sequence is still the newest stored is that
//! stored envelope: the node serves it without reading its bytes again. Whatever else —
//! another sequence (a rotation or a publication, on any node), a catalog newly
//! activated, an envelope past half its age — goes to the full read
//! ([`Database::trust_list`], [`Database::current_catalog`]), which seals again where
//! needed, and its answer is held. Nothing is served on a timer: every node sees another
//! node's publication at its next round.

use std::sync::{Arc, RwLock};

use rusqlite::Connection;

use crate::catalogs::CATALOG;
use crate::envelopes::{Published, TRUST_LIST};
use crate::error::Result;
use crate::keys::KeyDir;
use crate::storage::Database;

/// The envelopes' versions at `$3` (now): the newest stored sequence of `$1` (the trust
/// list) and of `$2` (the catalog), and the newest catalog activated by then, each `NULL`
/// when there is none. Each an index's last entry, never `max()` (a generic plan made on
/// stale statistics aggregates the whole range: `storage::postgres::deltas`, the round's
/// standing).
pub const VERSIONS: &str = "SELECT
         (SELECT sequence FROM envelopes WHERE purpose = $1 ORDER BY sequence DESC LIMIT 1),
         (SELECT sequence FROM envelopes WHERE purpose = $2 ORDER BY sequence DESC LIMIT 1),
         (SELECT id FROM catalogs WHERE activates_at <= $3
          ORDER BY activates_at DESC, id DESC LIMIT 1)";

/// What [`VERSIONS`] reads.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Versions {
    /// The newest stored trust list's sequence.
    pub trust_list: Option<i64>,
    /// The newest stored catalog envelope's sequence.
    pub catalog: Option<i64>,
    /// The number of the newest activated catalog.
    pub newest_catalog: Option<i64>,
}

/// The parameters of [`VERSIONS`] for `now`.
pub fn params(now: i64) -> (&'static str, &'static str, i64) {
    (TRUST_LIST, CATALOG, now)
}

/// [`VERSIONS`] on SQLite.
pub fn versions(conn: &Connection, now: i64) -> Result<Versions> {
    let (trust, catalog, now) = params(now);
    Ok(conn
        .prepare_cached(&crate::ledger::sqlite(VERSIONS))?
        .query_row(rusqlite::params![trust, catalog, now], |r| {
            Ok(Versions {
                trust_list: r.get(0)?,
                catalog: r.get(1)?,
                newest_catalog: r.get(2)?,
            })
        })?)
}

/// The envelopes one node last served, shared by its handlers.
#[derive(Debug, Clone, Default)]
pub struct Held {
    inner: Arc<RwLock<Envelopes>>,
}

#[derive(Debug, Default)]
struct Envelopes {
    trust_list: Option<Published>,
    catalog: Option<Published>,
}

/// Whether `held` is the stored envelope of sequence `newest`, fresh at `now`.
fn current(held: Option<&Published>, newest: Option<i64>, now: i64) -> bool {
    held.is_some_and(|p| {
        i64::try_from(p.sequence).ok() == newest && newest.is_some() && !p.is_stale(now)
    })
}

impl Held {
    /// The current trust list (as [`Database::trust_list`]), from memory when `versions`
    /// names the one held.
    pub async fn trust_list(
        &self,
        db: &Database,
        dir: &KeyDir,
        versions: &Versions,
        now: i64,
    ) -> Result<Published> {
        if let Ok(held) = self.inner.read()
            && current(held.trust_list.as_ref(), versions.trust_list, now)
            && let Some(published) = &held.trust_list
        {
            return Ok(published.clone());
        }
        let published = db.trust_list(dir, now).await?;
        if let Ok(mut held) = self.inner.write() {
            held.trust_list = Some(published.clone());
        }
        Ok(published)
    }

    /// The newest activated catalog's envelope (as [`Database::current_catalog`]), from
    /// memory when `versions` names the one held and it seals that catalog.
    pub async fn catalog(
        &self,
        db: &Database,
        dir: &KeyDir,
        versions: &Versions,
        now: i64,
    ) -> Result<Option<Published>> {
        let Some(newest) = versions.newest_catalog else {
            return Ok(None);
        };
        if let Ok(held) = self.inner.read()
            && current(held.catalog.as_ref(), versions.catalog, now)
            && let Some(published) = &held.catalog
            && published.source == Some(newest)
        {
            return Ok(Some(published.clone()));
        }
        let published = db.current_catalog(dir, now).await?;
        if let Ok(mut held) = self.inner.write() {
            held.catalog.clone_from(&published);
        }
        Ok(published)
    }
}
