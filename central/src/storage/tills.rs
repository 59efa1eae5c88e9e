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

    /// Records the nonce of a verified request from `till`, kept until `forget_after`, and
    /// notes the till as seen (at most once every
    /// [`LAST_SEEN_EVERY_SECS`](crate::auth::LAST_SEEN_EVERY_SECS)). `false` when the
    /// nonce was seen before: a replay, which changes nothing.
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

    /// Notes the till as seen at `now` unless it was seen less than
    /// [`LAST_SEEN_EVERY_SECS`](crate::auth::LAST_SEEN_EVERY_SECS) before: a read's one
    /// write, which [`crate::http::seen`] makes at most once a minute per till and node.
    pub async fn touch_till(&self, id: &str, now: i64) -> Result<()> {
        // Typed: PostgreSQL cannot tell the type of `$2 - $3` from two untyped parameters.
        const SQL: &str = "UPDATE tills SET last_seen_at = $2
             WHERE id = $1
               AND (last_seen_at IS NULL OR last_seen_at <= CAST($2 AS BIGINT) - CAST($3 AS BIGINT))";
        let every = crate::auth::LAST_SEEN_EVERY_SECS;
        match self {
            Database::Sqlite(db) => {
                let id = id.to_owned();
                db.call(move |c| {
                    let sql = SQL
                        .replace("$1", "?1")
                        .replace("$2", "?2")
                        .replace("$3", "?3");
                    c.prepare_cached(&sql)?
                        .execute(rusqlite::params![id, now, every])?;
                    Ok(())
                })
                .await
            }
            Database::Postgres(pg) => {
                let client = pg.client().await?;
                postgres::cached::execute(&client, SQL, &[&id, &now, &every]).await?;
                Ok(())
            }
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
