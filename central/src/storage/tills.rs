//! Tills behind the contract: enrolment codes, enrolment, revocation, the signer of a
//! request and the replay cache (SQLite: [`crate::enrol`], [`crate::auth`]; PostgreSQL:
//! [`super::postgres::tills`]).

use rusqlite::OptionalExtension;
use tillpass_protocol::sync::{EnrolRequest, EnrolResponse};

use super::{Database, postgres};
use crate::enrol::{self, IssuedCode, NewCode, Till};
use crate::error::Result;
use crate::keys::KeyDir;

impl Database {
    /// An enrolled, unrevoked till.
    pub async fn till(&self, id: &str) -> Result<Option<Till>> {
        match self {
            Database::Sqlite(db) => {
                let id = id.to_owned();
                db.call(move |c| enrol::till(c, &id)).await
            }
            Database::Postgres(pg) => postgres::tills::till(pg, id).await,
        }
    }

    /// Records the nonce of a verified request from `till`, kept until `forget_after`, in
    /// a transaction of its own. `false` when the nonce was seen before: a replay, which
    /// changes nothing.
    pub async fn record_request(
        &self,
        till: &str,
        nonce: &str,
        forget_after: i64,
        now: i64,
    ) -> Result<bool> {
        match self {
            Database::Sqlite(db) => {
                let (till, nonce) = (till.to_owned(), nonce.to_owned());
                db.call(move |c| crate::auth::record_request(c, &till, &nonce, forget_after, now))
                    .await
            }
            Database::Postgres(pg) => {
                postgres::tills::record_request(pg, till, nonce, forget_after, now).await
            }
        }
    }

    /// Notes each till of `notes` as seen at its time, unless it was seen less than
    /// [`LAST_SEEN_EVERY_SECS`](crate::auth::LAST_SEEN_EVERY_SECS) before that (another
    /// node may have noted it): one statement, one commit ([`crate::http::seen`] writes a
    /// node's notes so). On PostgreSQL the commit does not wait for its WAL flush: a
    /// last-seen lost to a crash is only a note, and no request waits for this one.
    pub async fn touch_tills(&self, notes: &[(String, i64)]) -> Result<()> {
        if notes.is_empty() {
            return Ok(());
        }
        let every = crate::auth::LAST_SEEN_EVERY_SECS;
        match self {
            Database::Sqlite(db) => {
                let notes = notes.to_vec();
                db.call(move |c| {
                    let tx = c.transaction()?;
                    {
                        let mut touch = tx.prepare_cached(
                            "UPDATE tills SET last_seen_at = ?2
                             WHERE id = ?1 AND (last_seen_at IS NULL OR last_seen_at <= ?2 - ?3)",
                        )?;
                        for (till, at) in &notes {
                            touch.execute(rusqlite::params![till, at, every])?;
                        }
                    }
                    tx.commit()?;
                    Ok(())
                })
                .await
            }
            Database::Postgres(pg) => postgres::tills::touch(pg, notes).await,
        }
    }

    /// Makes a one-time enrolment code.
    pub async fn create_enrolment_code(&self, new: &NewCode, now: i64) -> Result<IssuedCode> {
        match self {
            Database::Sqlite(db) => {
                let new = new.clone();
                db.call(move |c| enrol::create_code(c, &new, now)).await
            }
            Database::Postgres(pg) => postgres::tills::create_code(pg, new, now).await,
        }
    }

    /// Enrols a till by its one-time code: the code is spent once, whichever node is
    /// asked; the answer carries the trust list, the root key and the offline policy.
    pub async fn enrol(
        &self,
        dir: &KeyDir,
        request: &EnrolRequest,
        now: i64,
    ) -> Result<EnrolResponse> {
        match self {
            Database::Sqlite(db) => {
                let (dir, request) = (dir.clone(), request.clone());
                db.call(move |c| enrol::enrol(c, &dir, &request, now)).await
            }
            Database::Postgres(pg) => postgres::tills::enrol(pg, dir, request, now).await,
        }
    }

    /// When the till was last seen (its latest recorded request), if ever.
    pub async fn last_seen(&self, id: &str) -> Result<Option<i64>> {
        match self {
            Database::Sqlite(db) => {
                let id = id.to_owned();
                db.call(move |c| {
                    Ok(
                        c.query_row("SELECT last_seen_at FROM tills WHERE id = ?1", [&id], |r| {
                            r.get(0)
                        })
                        .optional()?
                        .flatten(),
                    )
                })
                .await
            }
            Database::Postgres(pg) => Ok(pg
                .client()
                .await?
                .query_opt("SELECT last_seen_at FROM tills WHERE id = $1", &[&id])
                .await?
                .and_then(|r| r.get(0))),
        }
    }

    /// Unrevoked tills seen at `since` or later, per store, sorted by store: one grouped
    /// query, for the metrics' refresh (not per scrape). A store whose tills were all
    /// quiet is absent.
    pub async fn tills_seen_since(&self, since: i64) -> Result<Vec<(String, i64)>> {
        const SQL: &str = "SELECT store, count(*) FROM tills
             WHERE revoked_at IS NULL AND last_seen_at >= $1 GROUP BY store ORDER BY store";
        match self {
            Database::Sqlite(db) => {
                db.call(move |c| {
                    let mut stmt = c.prepare_cached(&SQL.replace("$1", "?1"))?;
                    let rows = stmt.query_map([since], |r| Ok((r.get(0)?, r.get(1)?)))?;
                    Ok(rows.collect::<rusqlite::Result<_>>()?)
                })
                .await
            }
            Database::Postgres(pg) => Ok(pg
                .client()
                .await?
                .query(SQL, &[&since])
                .await?
                .iter()
                .map(|r| (r.get(0), r.get(1)))
                .collect()),
        }
    }

    /// Revokes a till: its signed requests are refused from now on.
    pub async fn revoke_till(&self, id: &str, now: i64) -> Result<()> {
        match self {
            Database::Sqlite(db) => {
                let id = id.to_owned();
                db.call(move |c| enrol::revoke_till(c, &id, now)).await
            }
            Database::Postgres(pg) => postgres::tills::revoke_till(pg, id, now).await,
        }
    }
}
