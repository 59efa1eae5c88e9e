//! POS sessions as stored: a version for optimistic concurrency, a state, and the session
//! itself as JSON (its cart, customer, vouchers, evaluation and tenders).

use rusqlite::{Connection, OptionalExtension, params};

use super::{StoreError, sql};

/// A stored session row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    /// Its version: 1 when created, one more at every change.
    pub version: u64,
    /// `open`, `closed` or `cancelled`.
    pub state: String,
    /// The session as JSON.
    pub body: String,
}

/// Reads a session.
pub fn load(conn: &Connection, session_id: &str) -> Result<Option<Row>, StoreError> {
    conn.query_row(
        "SELECT version, state, body FROM pos_sessions WHERE session_id = ?1",
        [session_id],
        |r| {
            Ok(Row {
                version: u64::try_from(r.get::<_, i64>(0)?).unwrap_or(0),
                state: r.get(1)?,
                body: r.get(2)?,
            })
        },
    )
    .optional()
    .map_err(sql)
}

/// A session's state (`open`, `closed`, `cancelled`), if the till has it.
pub fn state(conn: &Connection, session_id: &str) -> Result<Option<String>, StoreError> {
    conn.query_row(
        "SELECT state FROM pos_sessions WHERE session_id = ?1",
        [session_id],
        |r| r.get(0),
    )
    .optional()
    .map_err(sql)
}

/// Writes a session (insert or replace). Part of the caller's transaction.
pub fn save(
    conn: &Connection,
    session_id: &str,
    row: &Row,
    customer_ref: Option<&str>,
    now: i64,
) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO pos_sessions(session_id, version, state, customer_ref, body, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)
         ON CONFLICT(session_id) DO UPDATE SET version = excluded.version,
           state = excluded.state, customer_ref = excluded.customer_ref,
           body = excluded.body, updated_at = excluded.updated_at",
        params![
            session_id,
            i64::try_from(row.version).unwrap_or(i64::MAX),
            row.state,
            customer_ref,
            row.body,
            now
        ],
    )
    .map_err(sql)?;
    Ok(())
}

/// How long an open session's savings tenders count against the customer's balance at
/// other sessions: a sale abandoned without a cancel stops holding them after this.
pub const OPEN_TENDER_WINDOW_SECS: i64 = 2 * 3_600;

/// Savings the customer tendered in their *other* open sessions, changed since `since`
/// (minor units): spent in effect, though no close has recorded it yet.
pub fn open_savings_tendered(
    conn: &Connection,
    customer_ref: &str,
    except_session: &str,
    since: i64,
) -> Result<i64, StoreError> {
    conn.query_row(
        "SELECT COALESCE(SUM(json_extract(t.value, '$.amount.amount')), 0)
         FROM pos_sessions s, json_each(s.body, '$.tenders') t
         WHERE s.state = 'open' AND s.customer_ref = ?1 AND s.session_id != ?2
           AND s.updated_at >= ?3 AND json_extract(t.value, '$.type') = 'savings'",
        params![customer_ref, except_session, since],
        |r| r.get(0),
    )
    .map_err(sql)
}
