//! The channel's tables, on either backend ([`super::sql`]):
//!
//! - `wa_contacts`: a WhatsApp number ↔ its customer, language, state (`asked` for
//!   consent, `active`, `opted_out`), the last inbound message (the 24-hour window) and
//!   the last pass. **The only place a phone number is kept** once handled.
//! - `wa_inbox`: deliveries' items by unique key (a second copy is ignored), with their
//!   number; the body is cleared once the item is handled. A node claims items with a
//!   lease (`claimed_by`, `lease_until`), never a number another node holds
//!   ([`inbox_claim`]); marking an item handled is a guard ([`inbox_done`]), so an item
//!   is handled once even if two nodes get to it.
//! - `wa_outbox`: messages to send, each with our idempotency key (unique), attempts, the
//!   next attempt's time (ms), Meta's `wamid` and state: `pending` → `in_flight` (recorded
//!   before the request leaves, with a lease) → `sent` → `delivered` → `read`; or
//!   `unconfirmed` (the outcome is unknown: waits until `confirm_by` for a status naming
//!   its key, then `pending` again); `failed`, `dead`, `not_sent` with a reason. A status
//!   never moves a message backwards (`rank`). Every change of an attempt's outcome is a
//!   compare-and-set on the state and claimer it read ([`Expect`]). The number is cleared
//!   once a message is final.
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

/// One item of a delivery for the inbox.
#[derive(Debug, Clone)]
pub struct NewItem {
    /// Its unique key.
    pub key: String,
    /// `message` or `status`.
    pub kind: &'static str,
    /// Its body (JSON of a [`super::delivery::Item`]).
    pub body: String,
    /// The number it is about.
    pub number: String,
}

/// Stores a delivery's items (a known key is skipped); returns how many were new.
pub async fn inbox_put(db: &Database, items: &[NewItem], now: i64) -> Result<u64> {
    if items.is_empty() {
        return Ok(0);
    }
    let stmts = items
        .iter()
        .map(|item| {
            stmt!(
                "INSERT INTO wa_inbox (message_id, kind, body, received_at, attempts, number)
                 VALUES ($1, $2, $3, $4, 0, $5) ON CONFLICT (message_id) DO NOTHING",
                item.key.as_str(),
                item.kind,
                item.body.as_str(),
                now,
                item.number.as_str()
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

/// The advisory lock under which nodes claim inbox items (PostgreSQL).
const INBOX_LOCK: i64 = 0x7761_5f69_6e62_6f78; // "wa_inbox"
/// The advisory lock under which nodes claim outbox messages (PostgreSQL).
const OUTBOX_LOCK: i64 = 0x7761_5f6f_7574_626f; // "wa_outbo"

/// Claims for `node`, until `lease_until` (ms), the oldest items not yet handled, at most
/// `limit`: items nobody holds, or whose lease ran out, or `node`'s own — and none of a
/// number whose items another node holds, so a number's items are handled in order by
/// one node at a time.
pub async fn inbox_claim(
    db: &Database,
    node: &str,
    now_ms: i64,
    lease_until: i64,
    limit: i64,
) -> Result<Vec<Pending>> {
    let sql = if sql::is_postgres(db) {
        "UPDATE wa_inbox SET claimed_by = $1, lease_until = $2
         WHERE id IN (
            SELECT i.id FROM wa_inbox i
             WHERE i.handled_at IS NULL
               AND (i.lease_until IS NULL OR i.lease_until < $3 OR i.claimed_by = $1)
               AND NOT EXISTS (SELECT 1 FROM wa_inbox b
                                WHERE b.number = i.number AND b.handled_at IS NULL
                                  AND b.claimed_by <> $1 AND b.lease_until >= $3)
             ORDER BY i.id LIMIT $4 FOR UPDATE SKIP LOCKED)
         RETURNING id, body, attempts"
    } else {
        "UPDATE wa_inbox SET claimed_by = $1, lease_until = $2
         WHERE id IN (
            SELECT i.id FROM wa_inbox i
             WHERE i.handled_at IS NULL
               AND (i.lease_until IS NULL OR i.lease_until < $3 OR i.claimed_by = $1)
               AND NOT EXISTS (SELECT 1 FROM wa_inbox b
                                WHERE b.number = i.number AND b.handled_at IS NULL
                                  AND b.claimed_by <> $1 AND b.lease_until >= $3)
             ORDER BY i.id LIMIT $4)
         RETURNING id, body, attempts"
    };
    let rows = sql::claim(
        db,
        INBOX_LOCK,
        sql::Stmt {
            sql,
            params: vec![node.into(), lease_until.into(), now_ms.into(), limit.into()],
            guard: false,
        },
    )
    .await?;
    let mut items: Vec<Pending> = rows
        .into_iter()
        .filter_map(|r| {
            let mut it = r.into_iter();
            Some(Pending {
                id: it.next()?.int()?,
                body: it.next()?.into_text().unwrap_or_default(),
                attempts: it.next()?.int()?,
            })
        })
        .collect();
    items.sort_by_key(|p| p.id);
    Ok(items)
}

/// Marks an item handled and clears its body (a statement for the handling transaction):
/// a guard, so the transaction of a node that finds it handled already is rolled back.
pub fn inbox_done(id: i64, now: i64) -> Stmt {
    stmt!(
        "UPDATE wa_inbox SET handled_at = $1, body = NULL, number = NULL, error = NULL,
                lease_until = NULL
         WHERE id = $2 AND handled_at IS NULL",
        now,
        id
    )
    .guard()
}

/// Records that handling an item failed; it is tried again (by any node).
pub async fn inbox_failed(db: &Database, id: i64, error: &str) -> Result<()> {
    sql::execute(
        db,
        stmt!(
            "UPDATE wa_inbox SET attempts = attempts + 1, error = $1, lease_until = NULL
             WHERE id = $2",
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

/// Claims for `node`, until `lease_until` (ms), the pending messages due by `now_ms`,
/// oldest first, at most `limit`: messages nobody holds, or whose lease ran out, or
/// `node`'s own — and none to a number another node is sending to.
pub async fn outbox_claim(
    db: &Database,
    node: &str,
    now_ms: i64,
    lease_until: i64,
    limit: i64,
) -> Result<Vec<Due>> {
    let sql = if sql::is_postgres(db) {
        "UPDATE wa_outbox SET claimed_by = $1, lease_until = $2
         WHERE id IN (
            SELECT o.id FROM wa_outbox o
             WHERE o.state = 'pending' AND o.next_attempt_at <= $3
               AND (o.lease_until IS NULL OR o.lease_until < $3 OR o.claimed_by = $1)
               AND NOT EXISTS (SELECT 1 FROM wa_outbox b
                                WHERE b.wa_id = o.wa_id AND b.id <> o.id
                                  AND b.state IN ('pending', 'in_flight')
                                  AND b.claimed_by <> $1 AND b.lease_until >= $3)
             ORDER BY o.id LIMIT $4 FOR UPDATE SKIP LOCKED)
         RETURNING id, idempotency_key, wa_id, payload, fallback, attempts"
    } else {
        "UPDATE wa_outbox SET claimed_by = $1, lease_until = $2
         WHERE id IN (
            SELECT o.id FROM wa_outbox o
             WHERE o.state = 'pending' AND o.next_attempt_at <= $3
               AND (o.lease_until IS NULL OR o.lease_until < $3 OR o.claimed_by = $1)
               AND NOT EXISTS (SELECT 1 FROM wa_outbox b
                                WHERE b.wa_id = o.wa_id AND b.id <> o.id
                                  AND b.state IN ('pending', 'in_flight')
                                  AND b.claimed_by <> $1 AND b.lease_until >= $3)
             ORDER BY o.id LIMIT $4)
         RETURNING id, idempotency_key, wa_id, payload, fallback, attempts"
    };
    let rows = sql::claim(
        db,
        OUTBOX_LOCK,
        sql::Stmt {
            sql,
            params: vec![node.into(), lease_until.into(), now_ms.into(), limit.into()],
            guard: false,
        },
    )
    .await?;
    let mut due: Vec<Due> = rows
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
        .collect();
    due.sort_by_key(|d| d.id);
    Ok(due)
}

/// Records, before the request leaves, that `node` is attempting a claimed message, held
/// until `lease_until` (ms); whether it still held the claim (if not, it must not send).
pub async fn outbox_begin(
    db: &Database,
    id: i64,
    node: &str,
    lease_until: i64,
    now: i64,
) -> Result<bool> {
    Ok(sql::execute(
        db,
        stmt!(
            "UPDATE wa_outbox SET state = 'in_flight', lease_until = $1, updated_at = $2
             WHERE id = $3 AND state = 'pending' AND claimed_by = $4",
            lease_until,
            now,
            id,
            node
        ),
    )
    .await?
        == 1)
}

/// What an outcome expects the message to be in: a compare-and-set on its state and
/// claimer, so two nodes (or a node and a status) never both settle one attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expect {
    /// The message's row.
    pub id: i64,
    /// Its state as read.
    pub state: String,
    /// Its claimer as read (empty for none).
    pub claimed_by: String,
}

impl Expect {
    /// `node`'s attempt at message `id`.
    pub fn attempt(id: i64, node: &str) -> Expect {
        Expect {
            id,
            state: "in_flight".into(),
            claimed_by: node.into(),
        }
    }
}

/// Sweeps the outbox at `now_ms`: an attempt still in flight past its lease (its node
/// stopped) becomes `unconfirmed` until `now_ms + window_ms`; an `unconfirmed` message past
/// its deadline is `pending` again — or `dead` after `max_attempts`. Returns how many
/// messages moved.
pub async fn outbox_sweep(
    db: &Database,
    now_ms: i64,
    window_ms: i64,
    max_attempts: i64,
    now: i64,
) -> Result<u64> {
    let moved = sql::transaction(
        db,
        vec![
            stmt!(
                "UPDATE wa_outbox SET state = 'unconfirmed', confirm_by = $1, lease_until = NULL,
                        attempts = attempts + 1, updated_at = $2,
                        reason = 'the attempt was cut short: waiting for a status from Meta'
                 WHERE state = 'in_flight' AND lease_until < $3",
                now_ms.saturating_add(window_ms),
                now,
                now_ms
            ),
            stmt!(
                "UPDATE wa_outbox SET state = 'dead', rank = 5, wa_id = NULL, confirm_by = NULL,
                        updated_at = $1,
                        reason = 'gave up: no status from Meta for the last attempt'
                 WHERE state = 'unconfirmed' AND confirm_by < $2 AND attempts >= $3",
                now,
                now_ms,
                max_attempts
            ),
            stmt!(
                "UPDATE wa_outbox SET state = 'pending', next_attempt_at = $1, confirm_by = NULL,
                        lease_until = NULL, updated_at = $2,
                        reason = 'no status from Meta within the confirmation window'
                 WHERE state = 'unconfirmed' AND confirm_by < $1",
                now_ms,
                now
            ),
        ],
    )
    .await?;
    Ok(moved.iter().sum())
}

/// An outbox message by its idempotency key, as a status settles it.
#[derive(Debug, Clone)]
pub struct Keyed {
    /// What a change expects.
    pub expect: Expect,
    /// The message (JSON of a [`super::texts::Message`]).
    pub payload: String,
    /// The template to send instead outside the window.
    pub fallback: Option<String>,
    /// Attempts so far.
    pub attempts: i64,
}

/// The message with idempotency key `key`, if it is waiting for its outcome (`pending`,
/// `in_flight` or `unconfirmed`).
pub async fn outbox_unsettled(db: &Database, key: &str) -> Result<Option<Keyed>> {
    let rows = sql::query(
        db,
        stmt!(
            "SELECT id, state, COALESCE(claimed_by, ''), payload, fallback, attempts
             FROM wa_outbox
             WHERE idempotency_key = $1 AND state IN ('pending', 'in_flight', 'unconfirmed')",
            key
        ),
    )
    .await?;
    Ok(rows.into_iter().next().and_then(|r| {
        let mut it = r.into_iter();
        Some(Keyed {
            expect: Expect {
                id: it.next()?.int()?,
                state: it.next()?.into_text()?,
                claimed_by: it.next()?.into_text()?,
            },
            payload: it.next()?.into_text()?,
            fallback: it.next()?.into_text(),
            attempts: it.next()?.int()?,
        })
    }))
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

/// Sent (or further: `state` is `sent`, `delivered` or `read`): Meta's id; the number
/// is cleared (the contact keeps it) and the payload becomes what is kept of it. Whether
/// the message was as expected.
pub async fn outbox_sent(
    db: &Database,
    at: &Expect,
    state: &str,
    wamid: &str,
    kept: &str,
    now: i64,
) -> Result<bool> {
    changed(
        db,
        stmt!(
            "UPDATE wa_outbox SET state = $1, rank = $2, wamid = $3, payload = $4,
                    wa_id = NULL, fallback = NULL, reason = NULL, updated_at = $5,
                    lease_until = NULL, confirm_by = NULL,
                    attempts = attempts + CASE WHEN state = 'in_flight' THEN 1 ELSE 0 END
             WHERE id = $6 AND state = $7 AND COALESCE(claimed_by, '') = $8",
            state,
            rank(state),
            wamid,
            kept,
            now,
            at.id,
            at.state.as_str(),
            at.claimed_by.as_str()
        ),
    )
    .await
}

async fn changed(db: &Database, s: Stmt) -> Result<bool> {
    Ok(sql::execute(db, s).await? == 1)
}

/// Retried at `at_ms`, with the reason of this failure.
pub async fn outbox_retry(
    db: &Database,
    at: &Expect,
    at_ms: i64,
    reason: &str,
    now: i64,
) -> Result<bool> {
    changed(
        db,
        stmt!(
            "UPDATE wa_outbox SET state = 'pending', next_attempt_at = $1, reason = $2,
                    updated_at = $3, lease_until = NULL, confirm_by = NULL,
                    attempts = attempts + CASE WHEN state = 'in_flight' THEN 1 ELSE 0 END
             WHERE id = $4 AND state = $5 AND COALESCE(claimed_by, '') = $6",
            at_ms,
            reason,
            now,
            at.id,
            at.state.as_str(),
            at.claimed_by.as_str()
        ),
    )
    .await
}

/// The outcome is unknown: waits for a status until `confirm_by` (ms).
pub async fn outbox_unconfirmed(
    db: &Database,
    at: &Expect,
    confirm_by: i64,
    reason: &str,
    now: i64,
) -> Result<bool> {
    changed(
        db,
        stmt!(
            "UPDATE wa_outbox SET state = 'unconfirmed', confirm_by = $1, reason = $2,
                    updated_at = $3, lease_until = NULL,
                    attempts = attempts + CASE WHEN state = 'in_flight' THEN 1 ELSE 0 END
             WHERE id = $4 AND state = $5 AND COALESCE(claimed_by, '') = $6",
            confirm_by,
            reason,
            now,
            at.id,
            at.state.as_str(),
            at.claimed_by.as_str()
        ),
    )
    .await
}

/// Final without being sent — `dead` (gave up), `not_sent` (nothing may be sent) — or
/// `failed` (Meta said so in a status).
pub async fn outbox_final(
    db: &Database,
    at: &Expect,
    state: &str,
    reason: &str,
    now: i64,
) -> Result<bool> {
    changed(
        db,
        stmt!(
            "UPDATE wa_outbox SET state = $1, rank = $2, reason = $3, wa_id = NULL,
                    updated_at = $4, lease_until = NULL, confirm_by = NULL,
                    attempts = attempts + CASE WHEN state = 'in_flight' THEN 1 ELSE 0 END
             WHERE id = $5 AND state = $6 AND COALESCE(claimed_by, '') = $7",
            state,
            rank(state),
            reason,
            now,
            at.id,
            at.state.as_str(),
            at.claimed_by.as_str()
        ),
    )
    .await
}

/// Replaces a message by its template (131047: outside the window); due at once.
pub async fn outbox_use_fallback(
    db: &Database,
    at: &Expect,
    template: &str,
    now: i64,
) -> Result<bool> {
    changed(
        db,
        stmt!(
            "UPDATE wa_outbox SET state = 'pending', kind = 'template', payload = $1,
                    fallback = NULL, updated_at = $2, lease_until = NULL, confirm_by = NULL,
                    attempts = attempts + CASE WHEN state = 'in_flight' THEN 1 ELSE 0 END
             WHERE id = $3 AND state = $4 AND COALESCE(claimed_by, '') = $5",
            template,
            now,
            at.id,
            at.state.as_str(),
            at.claimed_by.as_str()
        ),
    )
    .await
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
    /// Messages whose last attempt's outcome is unknown, waiting for Meta's status.
    pub unconfirmed: i64,
    /// Messages being sent now.
    pub in_flight: i64,
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
    let in_state = |state: &str| {
        outbox
            .iter()
            .find(|(s, _)| s == state)
            .map_or(0, |(_, n)| *n)
    };
    let unconfirmed = in_state("unconfirmed");
    let in_flight = in_state("in_flight");
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
        unconfirmed,
        in_flight,
        dead_letters,
        last_meta_error,
        contacts,
    })
}
