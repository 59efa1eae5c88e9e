//! Flags: what journal ingestion noticed and accepted all the same — offline overspends
//! turned into debt, one token used at two stores, earn reversals that stopped at zero,
//! returns at several tills that together take back more than was sold — for central IT
//! to follow up. Overspends and clamped take-backs are flagged once per account, a token
//! at two stores once per token, whatever order the journals arrived in
//! ([`crate::reconcile`]).

use rusqlite::Connection;
use serde::Serialize;

use crate::error::Result;

/// One flag.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Flag {
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
}

/// Every flag, newest first.
pub fn list(conn: &Connection) -> Result<Vec<Flag>> {
    let mut stmt = conn.prepare(
        "SELECT kind, event_id, subject, detail, created_at FROM flags ORDER BY id DESC",
    )?;
    let rows = stmt.query_map([], |row| {
        Ok(Flag {
            kind: row.get(0)?,
            event_id: row.get(1)?,
            subject: row.get(2)?,
            detail: row.get(3)?,
            created_at: row.get(4)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}
