//! The outbox: events for central, each written in the same transaction as the change it
//! records, removed only when central has acknowledged it.
//!
//! - **Only what central accepts goes in.** [`append`] runs the event through
//!   [`JournalEvent::check`] — the bounds of `tillpass_protocol::sync::limits`, the same
//!   check central runs at ingest — and its serialized size; an event that fails is
//!   refused ([`StoreError::Unjournalable`]) and the caller's transaction writes nothing.
//! - **Pending or rejected.** A row is `pending` until central acknowledges it (then it is
//!   deleted). A row central refused is `rejected`, with central's code and reason, when,
//!   and how many uploads were refused: it is not sent again, does not count as waiting
//!   ([`depth`]), does not hold back retention, and stays until central IT re-drives it
//!   ([`retry`]) after fixing central — it is never deleted otherwise.

use rusqlite::{Connection, OptionalExtension, params};
use tillpass_protocol::sync::limits;
use tillpass_protocol::sync::{EventError, EventPayload, JournalEvent, StoreId, TillId};

use super::{StoreError, set_till_state, sql, till_state};

/// Who this till is, as the journal names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TillIdentity {
    pub store: StoreId,
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
    let body = admissible(&event)?;
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

/// The event as the outbox stores it, when central would accept it: it passes
/// [`JournalEvent::check`] and its JSON is at most [`limits::MAX_EVENT_BYTES`].
pub fn admissible(event: &JournalEvent) -> Result<String, StoreError> {
    let refused = |error: EventError| StoreError::Unjournalable {
        kind: event.payload.kind(),
        error,
    };
    event.check().map_err(refused)?;
    let body = serde_json::to_string(event)
        .map_err(|e| StoreError::Corrupted(format!("journal event: {e}")))?;
    limits::event_size(body.len()).map_err(|reason| {
        refused(EventError::Invalid {
            field: "event".to_owned(),
            reason,
        })
    })?;
    Ok(body)
}

/// How many events wait for central (central's rejections are not waiting), and when the
/// oldest was made.
pub fn depth(conn: &Connection) -> Result<(i64, Option<i64>), StoreError> {
    conn.query_row(
        "SELECT count(*), min(created_at) FROM outbox WHERE state = 'pending'",
        [],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
    .map_err(sql)
}

/// How many events central rejected (kept, not sent again).
pub fn rejected_count(conn: &Connection) -> Result<i64, StoreError> {
    conn.query_row(
        "SELECT count(*) FROM outbox WHERE state = 'rejected'",
        [],
        |r| r.get(0),
    )
    .map_err(sql)
}

/// The oldest pending events, in order: at most `limit` of them and, together, at most
/// `max_bytes` of JSON — but always the oldest one, so that one large event cannot stall
/// the outbox (an event is at most [`limits::MAX_EVENT_BYTES`]).
pub fn pending(
    conn: &Connection,
    limit: usize,
    max_bytes: usize,
) -> Result<Vec<JournalEvent>, StoreError> {
    let mut stmt = conn
        .prepare_cached("SELECT body FROM outbox WHERE state = 'pending' ORDER BY seq LIMIT ?1")
        .map_err(sql)?;
    let mut rows = stmt
        .query([i64::try_from(limit).unwrap_or(i64::MAX)])
        .map_err(sql)?;
    let mut bodies = Vec::new();
    let mut bytes = 0usize;
    while let Some(row) = rows.next().map_err(sql)? {
        let body: String = row.get(0).map_err(sql)?;
        // The batch's JSON: the events, a comma between each.
        bytes = bytes.saturating_add(body.len()).saturating_add(1);
        if !bodies.is_empty() && bytes > max_bytes {
            break;
        }
        bodies.push(Ok(body));
    }
    parse(bodies.into_iter())
}

/// An event central rejected, as the outbox keeps it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Rejected {
    /// The till's sequence number of the event.
    pub seq: i64,
    /// The event's id (32 hex digits).
    pub event_id: String,
    /// Its kind, e.g. `sale_closed`.
    pub kind: String,
    /// When the till made it, unix seconds.
    pub created_at: i64,
    /// When central last refused it, unix seconds.
    pub rejected_at: Option<i64>,
    /// How many uploads central refused.
    pub attempts: i64,
    /// Central's code (`invalid`, `unknown_customer`…).
    pub code: Option<String>,
    /// Central's reason.
    pub reason: String,
}

/// The rejected events, newest first, at most `limit`.
pub fn rejected(conn: &Connection, limit: usize) -> Result<Vec<Rejected>, StoreError> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT seq, event_id, kind, created_at, rejected_at, attempts, reject_code,
                    coalesce(last_error, '')
               FROM outbox WHERE state = 'rejected' ORDER BY seq DESC LIMIT ?1",
        )
        .map_err(sql)?;
    let rows = stmt
        .query_map([i64::try_from(limit).unwrap_or(i64::MAX)], |r| {
            Ok(Rejected {
                seq: r.get(0)?,
                event_id: r.get(1)?,
                kind: r.get(2)?,
                created_at: r.get(3)?,
                rejected_at: r.get(4)?,
                attempts: r.get(5)?,
                code: r.get(6)?,
                reason: r.get(7)?,
            })
        })
        .map_err(sql)?;
    rows.collect::<Result<Vec<_>, _>>().map_err(sql)
}

/// Records central's refusal of a pending event: it becomes `rejected`, with the code,
/// the reason and the time, and one more refused attempt. Returns whether the event was
/// in the outbox.
pub fn mark_rejected(
    conn: &Connection,
    event_id: &str,
    code: &str,
    reason: &str,
    now: i64,
) -> Result<bool, StoreError> {
    let changed = conn
        .execute(
            "UPDATE outbox SET state = 'rejected', attempts = attempts + 1, reject_code = ?2,
                    last_error = ?3, rejected_at = ?4
              WHERE event_id = ?1",
            params![event_id, code, reason, now],
        )
        .map_err(sql)?;
    Ok(changed > 0)
}

/// Which rejected events to send again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Retry<'a> {
    /// One event, by its id (32 hex digits) or its sequence number.
    One(&'a str),
    /// Every rejected event.
    All,
}

/// Makes rejected events pending again, so that the relay sends them with its next batch
/// (after central was fixed). Central's last reason and the count of refused attempts
/// stay. Returns how many were re-driven; naming an event that is not rejected is an
/// error.
pub fn retry(conn: &Connection, which: &Retry<'_>) -> Result<usize, StoreError> {
    match which {
        Retry::All => conn
            .execute(
                "UPDATE outbox SET state = 'pending' WHERE state = 'rejected'",
                [],
            )
            .map_err(sql),
        Retry::One(id) => {
            let seq: Option<i64> = conn
                .query_row(
                    "SELECT seq FROM outbox WHERE state = 'rejected'
                       AND (event_id = ?1 OR CAST(seq AS TEXT) = ?1)",
                    [id],
                    |r| r.get(0),
                )
                .optional()
                .map_err(sql)?;
            let Some(seq) = seq else {
                return Err(StoreError::NotFound(format!(
                    "no rejected event {id} in the outbox (`tillpass journal rejected` lists them)"
                )));
            };
            conn.execute("UPDATE outbox SET state = 'pending' WHERE seq = ?1", [seq])
                .map_err(sql)
        }
    }
}

/// The outbox events of the given kinds (`savings_earned`, …) whose money central's
/// balances do not reflect: every pending one, and a rejected one only when it took money
/// from the holder (`tillpass_protocol::sync::movement`). A rejected earn, give-back or
/// credit stops counting — central will never give that money — while a rejected spend
/// still counts: the customer did take the money here. Re-driven ([`retry`]), it counts
/// again.
pub fn unreflected(conn: &Connection, kinds: &[&str]) -> Result<Vec<JournalEvent>, StoreError> {
    let kinds = serde_json::to_string(kinds)
        .map_err(|e| StoreError::Corrupted(format!("event kinds: {e}")))?;
    let mut stmt = conn
        .prepare_cached(
            "SELECT body, state = 'rejected' FROM outbox
              WHERE kind IN (SELECT value FROM json_each(?1)) ORDER BY seq",
        )
        .map_err(sql)?;
    let rows = stmt
        .query_map([kinds], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, bool>(1)?))
        })
        .map_err(sql)?;
    let mut events = Vec::new();
    for row in rows {
        let (body, rejected) = row.map_err(sql)?;
        let event: JournalEvent = serde_json::from_str(&body)
            .map_err(|e| StoreError::Corrupted(format!("outbox event: {e}")))?;
        let to_holder = event
            .payload
            .movement()
            .is_some_and(|m| m.direction.to_holder());
        if !(rejected && to_holder) {
            events.push(event);
        }
    }
    Ok(events)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;
    use tillpass_protocol::money::{Currency, Money};
    use tillpass_protocol::sync::{CustomerRef, LocalCustomer, SavingsMovement};

    fn who() -> TillIdentity {
        TillIdentity {
            store: StoreId::new("S1").unwrap(),
            till: TillId::new("S1-T1").unwrap(),
        }
    }

    fn earned(amount: i64) -> EventPayload {
        EventPayload::SavingsEarned(SavingsMovement {
            customer: CustomerRef::new("C-1").unwrap(),
            amount: Money::new(amount, Currency::EUR),
            sale_id: None,
            basis: None,
        })
    }

    #[test]
    fn an_event_central_would_refuse_never_enters_the_outbox() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let conn = store.conn();
        let refused = append(&conn, &who(), 1, earned(0)).unwrap_err();
        assert!(
            matches!(&refused, StoreError::Unjournalable { kind: "savings_earned", error }
                if error.field() == Some("amount")),
            "{refused}"
        );
        let named = EventPayload::CustomerCreated(LocalCustomer {
            customer: CustomerRef::new("C-1").unwrap(),
            first_name: Some("Ana\tMaría".into()),
            lang: None,
        });
        assert!(append(&conn, &who(), 1, named).is_err());
        assert_eq!(depth(&conn).unwrap(), (0, None));
        // The sequence did not move: the next event is number 1.
        assert_eq!(append(&conn, &who(), 1, earned(5)).unwrap().seq, 1);
    }

    #[test]
    fn rejected_events_are_kept_apart_and_can_be_re_driven() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let conn = store.conn();
        let ids: Vec<String> = (1..=3)
            .map(|i| append(&conn, &who(), i, earned(i)).unwrap().id.to_string())
            .collect();
        assert!(mark_rejected(&conn, &ids[0], "unknown_customer", "no such customer", 9).unwrap());
        assert_eq!(
            depth(&conn).unwrap(),
            (2, Some(2)),
            "a rejection is not waiting"
        );
        assert_eq!(rejected_count(&conn).unwrap(), 1);
        let pending_ids: Vec<String> = pending(&conn, 10, usize::MAX)
            .unwrap()
            .iter()
            .map(|e| e.id.to_string())
            .collect();
        assert_eq!(pending_ids, ids[1..]);
        let listed = rejected(&conn, 10).unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!(
            (listed[0].code.as_deref(), listed[0].reason.as_str()),
            (Some("unknown_customer"), "no such customer")
        );
        assert_eq!((listed[0].attempts, listed[0].rejected_at), (1, Some(9)));

        assert!(matches!(
            retry(&conn, &Retry::One("424242")),
            Err(StoreError::NotFound(_))
        ));
        assert_eq!(
            retry(&conn, &Retry::One("1")).unwrap(),
            1,
            "by sequence number"
        );
        assert_eq!(rejected_count(&conn).unwrap(), 0);
        assert_eq!(pending(&conn, 10, usize::MAX).unwrap().len(), 3);
        mark_rejected(&conn, &ids[0], "unknown_customer", "still none", 10).unwrap();
        mark_rejected(&conn, &ids[2], "invalid", "x", 10).unwrap();
        assert_eq!(
            retry(&conn, &Retry::One(&ids[0])).unwrap(),
            1,
            "by event id"
        );
        mark_rejected(&conn, &ids[0], "unknown_customer", "still none", 11).unwrap();
        assert_eq!(
            rejected(&conn, 10).unwrap()[1].attempts,
            3,
            "refusals are counted"
        );
        assert_eq!(retry(&conn, &Retry::All).unwrap(), 2);
        assert_eq!(depth(&conn).unwrap().0, 3, "nothing was deleted");
    }

    #[test]
    fn a_batch_stays_within_its_bytes_but_always_takes_the_oldest_event() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let conn = store.conn();
        for i in 1..=5 {
            append(&conn, &who(), i, earned(i)).unwrap();
        }
        let one: usize = conn
            .query_row("SELECT max(length(body)) FROM outbox", [], |r| r.get(0))
            .map(|n: i64| usize::try_from(n).unwrap())
            .unwrap();
        assert_eq!(
            pending(&conn, 10, 1).unwrap().len(),
            1,
            "the oldest always goes"
        );
        assert_eq!(pending(&conn, 10, 2 * (one + 1)).unwrap().len(), 2);
        assert_eq!(pending(&conn, 3, usize::MAX).unwrap().len(), 3);
    }

    #[test]
    fn rows_rejected_before_outbox_states_are_migrated_as_rejected() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(crate::store::DB_FILE);
        {
            let conn = Connection::open(&path).unwrap();
            for (i, m) in crate::store::migrations::MIGRATIONS[..8].iter().enumerate() {
                conn.execute_batch(m.sql).unwrap();
                conn.execute_batch(&format!("PRAGMA user_version = {}", i + 1))
                    .unwrap();
            }
            conn.execute_batch(
                r#"INSERT INTO outbox(seq, event_id, kind, body, created_at, attempts, last_error)
                   VALUES (1, 'a', 'sale_closed', '{}', 7, 1,
                           '{"status":"rejected","code":"invalid","detail":"lines: too many entries"}'),
                          (2, 'b', 'token_used', '{}', 8, 0, NULL),
                          (3, 'c', 'token_used', '{}', 9, 2, 'not json');"#,
            )
            .unwrap();
        }
        let store = Store::open(dir.path()).unwrap();
        let conn = store.conn();
        assert_eq!(depth(&conn).unwrap(), (1, Some(8)));
        let listed = rejected(&conn, 10).unwrap();
        assert_eq!(listed.len(), 2);
        assert_eq!(listed[1].code.as_deref(), Some("invalid"));
        assert_eq!(listed[1].reason, "lines: too many entries");
        assert_eq!(listed[1].rejected_at, Some(7));
        assert_eq!(
            (listed[0].code.as_deref(), listed[0].reason.as_str()),
            (None, "not json")
        );
    }
}
