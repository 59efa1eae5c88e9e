//! Flags: what journal ingestion noticed and accepted all the same — offline overspends
//! turned into debt, one token used at two stores, earn reversals that stopped at zero,
//! returns at several tills that together take back more than was sold — for central IT
//! to follow up. Overspends and clamped take-backs are flagged once per account, a token
//! at two stores once per token, whatever order the journals arrived in
//! ([`crate::reconcile`]).
//!
//! Central IT pages through them (newest first, open ones alone if asked) and resolves
//! them ([`crate::storage::retention`]); a resolution is kept by the flag's kind and
//! subject with the detail it saw, so a flag reconciliation raises again with the same
//! detail stays resolved, and one whose detail changed (more overspent) is open again.

use rusqlite::{Connection, params};
use serde::Serialize;

use crate::error::Result;

/// One flag.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Flag {
    /// Its id, for paging and resolving (a flag reconciliation raises again gets a new
    /// one).
    pub id: i64,
    /// `overspend_debt`, `token_at_two_stores`, `reversal_clamped`, `return_exceeds_sale`.
    pub kind: String,
    /// The event that raised it.
    pub event_id: String,
    /// The customer, gift card or token concerned.
    pub subject: Option<String>,
    /// What happened.
    pub detail: String,
    /// When: unix seconds.
    pub created_at: i64,
    /// Its resolution, once central IT resolved it.
    pub resolution: Option<Resolution>,
}

/// How a flag was resolved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Resolution {
    /// When: unix seconds.
    pub resolved_at: i64,
    /// Who (the admin API's caller, or the CLI's user).
    pub resolved_by: String,
    /// What they said.
    pub note: String,
}

/// Which flags to list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Query {
    /// Only the flags not resolved.
    pub open_only: bool,
    /// Only the flags with an id below this one (the previous page's last id).
    pub before: Option<i64>,
    /// At most this many.
    pub limit: i64,
}

/// The most a page holds.
pub const MAX_PAGE: i64 = 500;

impl Query {
    /// Every flag.
    pub fn all() -> Query {
        Query {
            open_only: false,
            before: None,
            limit: i64::MAX,
        }
    }

    /// The statement's parameters: open only (1/0), before, limit.
    pub fn params(&self) -> (i64, i64, i64) {
        (
            i64::from(self.open_only),
            self.before.unwrap_or(i64::MAX),
            self.limit.max(0),
        )
    }
}

/// The flags `$1` open only (1/0), `$2` before id, `$3` limit; newest first. One text for
/// SQLite and PostgreSQL.
pub const LIST: &str = "SELECT f.id, f.kind, f.event_id, f.subject, f.detail, f.created_at,
            r.resolved_at, r.resolved_by, r.note
     FROM flags f LEFT JOIN flag_resolutions r
         ON r.kind = f.kind AND r.subject = f.subject AND r.detail = f.detail
     WHERE (CAST($1 AS BIGINT) = 0 OR r.kind IS NULL) AND f.id < CAST($2 AS BIGINT)
     ORDER BY f.id DESC LIMIT $3";

/// A flag from a row of [`LIST`] (its values in order).
#[allow(clippy::too_many_arguments)]
pub fn from_row(
    id: i64,
    kind: String,
    event_id: String,
    subject: Option<String>,
    detail: String,
    created_at: i64,
    resolved_at: Option<i64>,
    resolved_by: Option<String>,
    note: Option<String>,
) -> Flag {
    Flag {
        id,
        kind,
        event_id,
        subject,
        detail,
        created_at,
        resolution: resolved_at.map(|resolved_at| Resolution {
            resolved_at,
            resolved_by: resolved_by.unwrap_or_default(),
            note: note.unwrap_or_default(),
        }),
    }
}

/// The flags `query` asks for, newest first.
pub fn list(conn: &Connection, query: &Query) -> Result<Vec<Flag>> {
    let (open, before, limit) = query.params();
    let mut stmt = conn.prepare_cached(&crate::ledger::sqlite(LIST))?;
    let rows = stmt.query_map(params![open, before, limit], |row| {
        Ok(from_row(
            row.get(0)?,
            row.get(1)?,
            row.get(2)?,
            row.get(3)?,
            row.get(4)?,
            row.get(5)?,
            row.get(6)?,
            row.get(7)?,
            row.get(8)?,
        ))
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}
