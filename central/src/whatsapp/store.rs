//! The channel's tables, on either backend ([`super::sql`]):
//!
//! - `wa_contacts`: a WhatsApp number ↔ its customer, language, state (`asked` for
//!   consent, `active`, `opted_out`), the last inbound message (the 24-hour window) and
//!   the last pass. **The only place a phone number is kept** once handled.
//! - `wa_inbox`: deliveries' items by unique key (a second copy is ignored); the body is
//!   cleared once the item is handled.
//! - `wa_outbox`: messages to send, each with our idempotency key (unique), attempts, the
//!   next attempt's time (ms), Meta's `wamid` and state (`pending` → `sent` → `delivered`
//!   → `read`; `failed`, `dead`, `not_sent` with a reason), never moved backwards (`rank`).
//!   The number is cleared once a message is final.
//! - `wa_consents`: consent evidence, append-only; erasure clears only its number.
//! - `wa_receipts`: receipts to send, queued by journal ingestion in its transaction.
//! - `wa_status`: the last error Meta answered.

use serde::Serialize;

use super::sql::{self, Stmt, Val, stmt};
use crate::error::Result;
use crate::storage::Database;

/// A contact's state.
pub const ASKED: &str = "asked";
/// Signed up.
pub const ACTIVE: &str = "active";
/// Withdrew consent.
pub const OPTED_OUT: &str = "opted_out";

/// A WhatsApp contact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Contact {
    /// Their number.
    pub wa_id: String,
    /// Their customer, once signed up.
    pub customer: Option<String>,
    /// `es` or `en`.
    pub lang: String,
    /// [`ASKED`], [`ACTIVE`] or [`OPTED_OUT`].
    pub state: String,
    /// Their last message: unix seconds.
    pub last_inbound_at: i64,
    /// Their last pass: unix seconds.
    pub last_pass_at: Option<i64>,
}

fn contact_of(row: sql::Row) -> Option<Contact> {
    let mut it = row.into_iter();
    Some(Contact {
        wa_id: it.next()?.into_text()?,
        customer: it.next()?.into_text(),
        lang: it.next()?.into_text()?,
        state: it.next()?.into_text()?,
        last_inbound_at: it.next()?.int()?,
        last_pass_at: it.next()?.int(),
    })
}

const CONTACT: &str =
    "SELECT wa_id, customer, lang, state, last_inbound_at, last_pass_at FROM wa_contacts";

/// The contact of a number.
pub async fn contact(db: &Database, wa_id: &str) -> Result<Option<Contact>> {
    let rows = sql::query(
        db,
        stmt!(
            "SELECT wa_id, customer, lang, state, last_inbound_at, last_pass_at
             FROM wa_contacts WHERE wa_id = $1",
            wa_id
        ),
    )
    .await?;
    Ok(rows.into_iter().next().and_then(contact_of))
}

/// The contact of a customer.
pub async fn contact_of_customer(db: &Database, customer: &str) -> Result<Option<Contact>> {
    let _ = CONTACT;
    let rows = sql::query(
        db,
        stmt!(
            "SELECT wa_id, customer, lang, state, last_inbound_at, last_pass_at
             FROM wa_contacts WHERE customer = $1",
            customer
        ),
    )
    .await?;
    Ok(rows.into_iter().next().and_then(contact_of))
}

/// Stores a delivery's items (a known key is skipped); returns how many were new.
pub async fn inbox_put(
    db: &Database,
    items: &[(String, &'static str, String)],
    now: i64,
) -> Result<u64> {
    if items.is_empty() {
        return Ok(0);
    }
    let stmts = items
        .iter()
        .map(|(key, kind, body)| {
            stmt!(
                "INSERT INTO wa_inbox (message_id, kind, body, received_at, attempts)
                 VALUES ($1, $2, $3, $4, 0) ON CONFLICT (message_id) DO NOTHING",
                key.as_str(),
                *kind,
                body.as_str(),
                now
            )
        })
        .collect();
    Ok(sql::transaction(db, stmts).await?.iter().sum())
}

/// An inbox item not yet handled.
#[derive(Debug, Clone)]
pub struct Pending {
    /// Its row.
    pub id: i64,
    /// Its body (JSON of a [`super::delivery::Item`]).
    pub body: String,
    /// How many times handling it failed.
    pub attempts: i64,
}

/// The oldest items not yet handled, at most `limit`.
pub async fn inbox_next(db: &Database, limit: i64) -> Result<Vec<Pending>> {
    let rows = sql::query(
        db,
        stmt!(
            "SELECT id, body, attempts FROM wa_inbox
             WHERE handled_at IS NULL ORDER BY id LIMIT $1",
            limit
        ),
    )
    .await?;
    Ok(rows
        .into_iter()
        .filter_map(|r| {
            let mut it = r.into_iter();
            Some(Pending {
                id: it.next()?.int()?,
                body: it.next()?.into_text().unwrap_or_default(),
                attempts: it.next()?.int()?,
            })
        })
        .collect())
}

/// Marks an item handled and clears its body (a statement for the handling transaction).
pub fn inbox_done(id: i64, now: i64) -> Stmt {
    stmt!(
        "UPDATE wa_inbox SET handled_at = $1, body = NULL, error = NULL WHERE id = $2",
        now,
        id
    )
}

/// Records that handling an item failed; it is tried again.
pub async fn inbox_failed(db: &Database, id: i64, error: &str) -> Result<()> {
    sql::execute(
        db,
        stmt!(
            "UPDATE wa_inbox SET attempts = attempts + 1, error = $1 WHERE id = $2",
            error,
            id
        ),
    )
    .await
    .map(drop)
}

/// An outbox message (a statement for the handling transaction). A known idempotency key
/// is skipped, so handling the same item twice queues nothing twice.
pub fn outbox_put(
    key: &str,
    wa_id: &str,
    customer: Option<&str>,
    message: &super::texts::Message,
    fallback: Option<&super::texts::Message>,
    now_ms: i64,
    now: i64,
) -> Stmt {
    stmt!(
        "INSERT INTO wa_outbox (idempotency_key, wa_id, customer, kind, payload, fallback,
                                state, rank, attempts, next_attempt_at, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, 'pending', 0, 0, $7, $8, $8)
         ON CONFLICT (idempotency_key) DO NOTHING",
        key,
        wa_id,
        customer,
        message.kind(),
        serde_json::to_string(message).unwrap_or_default(),
        fallback.map(|f| serde_json::to_string(f).unwrap_or_default()),
        now_ms,
        now
    )
}

/// An outbox message due.
#[derive(Debug, Clone)]
pub struct Due {
    /// Its row.
    pub id: i64,
    /// Our idempotency key.
    pub key: String,
    /// The recipient.
    pub wa_id: String,
    /// The message (JSON of a [`super::texts::Message`]).
    pub payload: String,
    /// The template to send instead outside the window.
    pub fallback: Option<String>,
    /// Attempts so far.
    pub attempts: i64,
}

/// Pending messages due by `now_ms`, oldest first, at most `limit`.
pub async fn outbox_due(db: &Database, now_ms: i64, limit: i64) -> Result<Vec<Due>> {
    let rows = sql::query(
        db,
        stmt!(
            "SELECT id, idempotency_key, wa_id, payload, fallback, attempts FROM wa_outbox
             WHERE state = 'pending' AND next_attempt_at <= $1 ORDER BY id LIMIT $2",
            now_ms,
            limit
        ),
    )
    .await?;
    Ok(rows
        .into_iter()
        .filter_map(|r| {
            let mut it = r.into_iter();
            Some(Due {
                id: it.next()?.int()?,
                key: it.next()?.into_text()?,
                wa_id: it.next()?.into_text()?,
                payload: it.next()?.into_text()?,
                fallback: it.next()?.into_text(),
                attempts: it.next()?.int()?,
            })
        })
        .collect())
}

/// When the next pending message is due (ms), if one is.
pub async fn outbox_next_due(db: &Database) -> Result<Option<i64>> {
    let rows = sql::query(
        db,
        stmt!("SELECT MIN(next_attempt_at) FROM wa_outbox WHERE state = 'pending'"),
    )
    .await?;
    Ok(rows.first().and_then(|r| r.first()).and_then(Val::int))
}

/// Sent: Meta's id; the number is cleared (the contact keeps it) and the payload becomes
/// what is kept of it.
pub async fn outbox_sent(db: &Database, id: i64, wamid: &str, kept: &str, now: i64) -> Result<()> {
    sql::execute(
        db,
        stmt!(
            "UPDATE wa_outbox SET state = 'sent', rank = 1, wamid = $1, payload = $2,
                    wa_id = NULL, fallback = NULL, reason = NULL, updated_at = $3,
                    attempts = attempts + 1
             WHERE id = $4 AND state = 'pending'",
            wamid,
            kept,
            now,
            id
        ),
    )
    .await
    .map(drop)
}

/// Retried later, with the reason of this failure.
pub async fn outbox_retry(
    db: &Database,
    id: i64,
    at_ms: i64,
    reason: &str,
    now: i64,
) -> Result<()> {
    sql::execute(
        db,
        stmt!(
            "UPDATE wa_outbox SET next_attempt_at = $1, reason = $2, updated_at = $3,
                    attempts = attempts + 1
             WHERE id = $4 AND state = 'pending'",
            at_ms,
            reason,
            now,
            id
        ),
    )
    .await
    .map(drop)
}

/// Final without being sent: `dead` (gave up) or `not_sent` (nothing may be sent).
pub async fn outbox_final(
    db: &Database,
    id: i64,
    state: &str,
    reason: &str,
    now: i64,
) -> Result<()> {
    sql::execute(
        db,
        stmt!(
            "UPDATE wa_outbox SET state = $1, rank = 5, reason = $2, wa_id = NULL,
                    updated_at = $3, attempts = attempts + 1
             WHERE id = $4 AND state = 'pending'",
            state,
            reason,
            now,
            id
        ),
    )
    .await
    .map(drop)
}

/// Replaces a message by its template (131047: outside the window).
pub async fn outbox_use_fallback(db: &Database, id: i64, template: &str, now: i64) -> Result<()> {
    sql::execute(
        db,
        stmt!(
            "UPDATE wa_outbox SET kind = 'template', payload = $1, fallback = NULL,
                    updated_at = $2, attempts = attempts + 1
             WHERE id = $3 AND state = 'pending'",
            template,
            now,
            id
        ),
    )
    .await
    .map(drop)
}

/// The rank of a state: a status never moves a message to a lower one.
pub fn rank(state: &str) -> i64 {
    match state {
        "sent" => 1,
        "delivered" => 2,
        "read" => 3,
        "failed" => 4,
        "dead" | "not_sent" => 5,
        _ => 0,
    }
}

/// A status (a statement for the handling transaction): applied only if it moves the
/// message forward.
pub fn status_update(wamid: &str, state: &str, reason: Option<&str>, now: i64) -> Stmt {
    stmt!(
        "UPDATE wa_outbox SET state = $1, rank = $2, reason = COALESCE($3, reason),
                updated_at = $4
         WHERE wamid = $5 AND rank < $2 AND rank >= 1",
        state,
        rank(state),
        reason,
        now,
        wamid
    )
}

/// Whether we sent a message with this `wamid`.
pub async fn outbox_knows(db: &Database, wamid: &str) -> Result<bool> {
    Ok(
        !sql::query(db, stmt!("SELECT 1 FROM wa_outbox WHERE wamid = $1", wamid))
            .await?
            .is_empty(),
    )
}

/// The state of the outbox message with idempotency key `key`.
pub async fn outbox_state(db: &Database, key: &str) -> Result<Option<(String, Option<String>)>> {
    let rows = sql::query(
        db,
        stmt!(
            "SELECT state, reason FROM wa_outbox WHERE idempotency_key = $1",
            key
        ),
    )
    .await?;
    Ok(rows.into_iter().next().and_then(|r| {
        let mut it = r.into_iter();
        Some((it.next()?.into_text()?, it.next()?.into_text()))
    }))
}

/// A consent change (a statement for the handling transaction): evidence, never updated
/// but for erasure clearing its number.
pub fn consent(
    customer: Option<&str>,
    wa_id: Option<&str>,
    what: &str,
    terms: Option<&str>,
    message_id: Option<&str>,
    now: i64,
) -> Stmt {
    stmt!(
        "INSERT INTO wa_consents (customer, wa_id, what, terms_version, channel, message_id, at)
         VALUES ($1, $2, $3, $4, 'whatsapp', $5, $6)",
        customer,
        wa_id,
        what,
        terms,
        message_id,
        now
    )
}

/// One piece of consent evidence, as exported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Evidence {
    /// What changed: `programme_accepted`, `receipts_accepted`, `opted_out`, `opted_in`,
    /// `erased`.
    pub what: String,
    /// The terms' version accepted.
    pub terms_version: Option<String>,
    /// `whatsapp`.
    pub channel: String,
    /// The message that made the change.
    pub message_id: Option<String>,
    /// When: unix seconds.
    pub at: i64,
    /// The number it came from; absent once erased.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wa_id: Option<String>,
}

/// A customer's consent evidence, oldest first.
pub async fn evidence(db: &Database, customer: &str) -> Result<Vec<Evidence>> {
    let rows = sql::query(
        db,
        stmt!(
            "SELECT what, terms_version, channel, message_id, at, wa_id FROM wa_consents
             WHERE customer = $1 ORDER BY id",
            customer
        ),
    )
    .await?;
    Ok(rows
        .into_iter()
        .filter_map(|r| {
            let mut it = r.into_iter();
            Some(Evidence {
                what: it.next()?.into_text()?,
                terms_version: it.next()?.into_text(),
                channel: it.next()?.into_text()?,
                message_id: it.next()?.into_text(),
                at: it.next()?.int()?,
                wa_id: it.next()?.into_text(),
            })
        })
        .collect())
}

/// Remembers the last error Meta answered.
pub async fn set_last_error(db: &Database, error: &str, now: i64) -> Result<()> {
    sql::execute(
        db,
        stmt!(
            "INSERT INTO wa_status (key, value, at) VALUES ('last_meta_error', $1, $2)
             ON CONFLICT (key) DO UPDATE SET value = excluded.value, at = excluded.at",
            error,
            now
        ),
    )
    .await
    .map(drop)
}

/// Queues the receipt of a sale for the chat, if its customer signed up there (part of
/// journal ingestion's transaction on SQLite).
pub fn queue_receipt_sqlite(
    conn: &rusqlite::Connection,
    till: &str,
    sale_id: &str,
    customer: &str,
    now: i64,
) -> Result<()> {
    conn.prepare_cached(QUEUE_RECEIPT)?
        .execute(rusqlite::params![till, sale_id, customer, now])?;
    Ok(())
}

/// [`queue_receipt_sqlite`]'s statement, the same on PostgreSQL.
pub const QUEUE_RECEIPT: &str = "INSERT INTO wa_receipts (till, sale_id, customer, queued_at)
     SELECT $1, $2, $3, $4 WHERE EXISTS (SELECT 1 FROM wa_contacts WHERE customer = $3)
     ON CONFLICT (till, sale_id) DO NOTHING";

/// What `tillpass-central whatsapp status` shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StatusReport {
    /// Inbox items not yet handled.
    pub inbox_pending: i64,
    /// Receipts queued for the chat.
    pub receipts_queued: i64,
    /// Outbox messages per state.
    pub outbox: Vec<(String, i64)>,
    /// Dead and unsent messages: (idempotency key, state, reason), newest first.
    pub dead_letters: Vec<(String, String, String)>,
    /// The last error Meta answered, and when.
    pub last_meta_error: Option<(String, i64)>,
    /// Contacts per state.
    pub contacts: Vec<(String, i64)>,
}

/// The channel's state.
pub async fn status(db: &Database) -> Result<StatusReport> {
    let count = |rows: Vec<sql::Row>| {
        rows.first()
            .and_then(|r| r.first())
            .and_then(Val::int)
            .unwrap_or(0)
    };
    let pairs = |rows: Vec<sql::Row>| -> Vec<(String, i64)> {
        rows.into_iter()
            .filter_map(|r| {
                let mut it = r.into_iter();
                Some((it.next()?.into_text()?, it.next()?.int()?))
            })
            .collect()
    };
    let inbox_pending = count(
        sql::query(
            db,
            stmt!("SELECT COUNT(*) FROM wa_inbox WHERE handled_at IS NULL"),
        )
        .await?,
    );
    let receipts_queued = count(sql::query(db, stmt!("SELECT COUNT(*) FROM wa_receipts")).await?);
    let outbox = pairs(
        sql::query(
            db,
            stmt!("SELECT state, COUNT(*) FROM wa_outbox GROUP BY state ORDER BY state"),
        )
        .await?,
    );
    let contacts = pairs(
        sql::query(
            db,
            stmt!("SELECT state, COUNT(*) FROM wa_contacts GROUP BY state ORDER BY state"),
        )
        .await?,
    );
    let dead_letters = sql::query(
        db,
        stmt!(
            "SELECT idempotency_key, state, COALESCE(reason, '') FROM wa_outbox
             WHERE state IN ('dead', 'not_sent', 'failed') ORDER BY id DESC LIMIT 50"
        ),
    )
    .await?
    .into_iter()
    .filter_map(|r| {
        let mut it = r.into_iter();
        Some((
            it.next()?.into_text()?,
            it.next()?.into_text()?,
            it.next()?.into_text()?,
        ))
    })
    .collect();
    let last_meta_error = sql::query(
        db,
        stmt!("SELECT value, at FROM wa_status WHERE key = 'last_meta_error'"),
    )
    .await?
    .into_iter()
    .next()
    .and_then(|r| {
        let mut it = r.into_iter();
        Some((it.next()?.into_text()?, it.next()?.int()?))
    });
    Ok(StatusReport {
        inbox_pending,
        receipts_queued,
        outbox,
        dead_letters,
        last_meta_error,
        contacts,
    })
}
