//! The outbox: events for central, each written in the same transaction as the change it
//! records, removed only when central has acknowledged it.

use rusqlite::{Connection, params};
use tillpass_protocol::sync::{EventPayload, JournalEvent, StoreId, TillId};

use super::{StoreError, set_till_state, sql, till_state};

/// Who this till is, as the journal names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TillIdentity {
    /// The store.
    pub store: StoreId,
    /// The till.
    pub till: TillId,
}

const SEQ_KEY: &str = "journal_seq";

/// Appends an event to the outbox with the till's next sequence number. Part of the
/// caller's transaction: the event exists exactly when the change it records does.
pub fn append(
    conn: &Connection,
    who: &TillIdentity,
    occurred_at: i64,
    payload: EventPayload,
) -> Result<JournalEvent, StoreError> {
    let seq = till_state(conn, SEQ_KEY)?.unwrap_or(0).saturating_add(1);
    let seq_u = u64::try_from(seq).unwrap_or(0);
    let event = JournalEvent::new(
        who.till.clone(),
        who.store.clone(),
        seq_u,
        occurred_at,
        payload,
    );
    let body = serde_json::to_string(&event)
        .map_err(|e| StoreError::Corrupted(format!("journal event: {e}")))?;
    conn.execute(
        "INSERT INTO outbox(seq, event_id, kind, body, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![
            seq,
            event.id.to_string(),
            event.payload.kind(),
            body,
            occurred_at
        ],
    )
    .map_err(sql)?;
    set_till_state(conn, SEQ_KEY, seq)?;
    Ok(event)
}

/// How many events wait for central, and when the oldest was made.
pub fn depth(conn: &Connection) -> Result<(i64, Option<i64>), StoreError> {
    conn.query_row("SELECT count(*), min(created_at) FROM outbox", [], |r| {
        Ok((r.get(0)?, r.get(1)?))
    })
    .map_err(sql)
}

/// The oldest `limit` events central has not refused, in order.
pub fn pending(conn: &Connection, limit: usize) -> Result<Vec<JournalEvent>, StoreError> {
    let mut stmt = conn
        .prepare_cached("SELECT body FROM outbox WHERE last_error IS NULL ORDER BY seq LIMIT ?1")
        .map_err(sql)?;
    let rows = stmt
        .query_map([i64::try_from(limit).unwrap_or(i64::MAX)], |r| {
            r.get::<_, String>(0)
        })
        .map_err(sql)?;
    parse(rows)
}

/// Every event in the outbox of the given kinds (`savings_earned`, …), refused or not.
pub fn of_kinds(conn: &Connection, kinds: &[&str]) -> Result<Vec<JournalEvent>, StoreError> {
    let kinds = serde_json::to_string(kinds)
        .map_err(|e| StoreError::Corrupted(format!("event kinds: {e}")))?;
    let mut stmt = conn
        .prepare_cached("SELECT body FROM outbox WHERE kind IN (SELECT value FROM json_each(?1))")
        .map_err(sql)?;
    let rows = stmt
        .query_map([kinds], |r| r.get::<_, String>(0))
        .map_err(sql)?;
    parse(rows)
}

fn parse(
    rows: impl Iterator<Item = rusqlite::Result<String>>,
) -> Result<Vec<JournalEvent>, StoreError> {
    rows.map(|body| {
        serde_json::from_str(&body.map_err(sql)?)
            .map_err(|e| StoreError::Corrupted(format!("outbox event: {e}")))
    })
    .collect()
}
