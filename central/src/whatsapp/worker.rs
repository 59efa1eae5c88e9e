//! The two loops of a running channel.
//!
//! - [`inbox`]: handles stored items oldest first ([`super::handle`]); an item that fails
//!   stays and is tried again (after [`MAX_ITEM_ATTEMPTS`] it is set aside with its
//!   error, for the status report); receipts queued by ingestion become messages.
//! - [`outbox`]: sends due messages oldest first. Meta's answers by meaning: 131047 → the
//!   message's template if it has one, else `not_sent` with the reason; 130429 → the
//!   whole sender waits (jittered backoff), the message is retried; 5xx with Meta's error
//!   body and connections that never opened → retried with jittered exponential backoff
//!   up to the maximum of attempts, then `dead` with the reason; 131026 and other
//!   refusals → `dead` at once.
//!
//! Both loops claim their work with a lease ([`store::inbox_claim`],
//! [`store::outbox_claim`]), so several nodes run them on one database.
//!
//! **Exactly once, and its limit.** Meta takes no idempotency key, so the sender never
//! sends again a message Meta may have accepted: each attempt is recorded `in_flight`
//! (with a lease) before the request leaves; an attempt whose outcome is unknown — the
//! call timed out or the connection broke after sending, or the node died and its lease
//! ran out ([`store::outbox_sweep`]) — is `unconfirmed`. Every message carries its key as
//! `biz_opaque_callback_data`, which Meta echoes in the message's statuses, and a status
//! naming it settles the message ([`settle`]). Only a message no status named within
//! the confirmation window is sent again: a duplicate then needs Meta to have accepted a
//! message and sent no status at all for it, which Meta's contract does not do.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use super::delivery::Item;
use super::graph::Failure;
use super::handle::{self, Handled};
use super::store::Expect;
use super::texts::Message;
use super::{Channel, mask, now_ms, sql, store};
use crate::keys::random_bytes;

/// How many times an inbox item is tried before it is set aside.
pub const MAX_ITEM_ATTEMPTS: i64 = 10;

/// How often the loops look for work nobody woke them for (receipts from ingestion,
/// retries due).
pub const POLL: Duration = Duration::from_millis(500);

/// How many numbers each loop works for at once: a fraction of the database pool, so the
/// webhook always finds a connection to store deliveries.
pub const CONCURRENCY: usize = 4;

/// How many items or messages one pass takes.
const BATCH: i64 = 64;

/// How long a node holds the inbox items it claimed (released as each is handled or
/// fails); a node that dies holds them this long at most.
pub const INBOX_LEASE: Duration = Duration::from_secs(15);

/// The inbox worker.
pub async fn inbox(ch: Channel) {
    loop {
        let worked = match inbox_pass(&ch).await {
            Ok(worked) => worked,
            Err(e) => {
                tracing::warn!(error = %e, "whatsapp inbox: the database failed; trying again");
                false
            }
        };
        if !worked {
            let _ = tokio::time::timeout(POLL, ch.inner.inbox_ready.notified()).await;
        }
    }
}

/// One pass over the inbox and the queued receipts; whether anything was done. Items of
/// one number are handled in their order; different numbers' at once.
pub async fn inbox_pass(ch: &Channel) -> crate::Result<bool> {
    let now = now_ms();
    let batch = store::inbox_claim(ch.db(), ch.node(), now, now + ms(INBOX_LEASE), BATCH).await?;
    let mut groups: BTreeMap<String, Vec<(store::Pending, Option<Item>)>> = BTreeMap::new();
    for pending in batch {
        let item: Option<Item> = serde_json::from_str(&pending.body).ok();
        let number = item
            .as_ref()
            .map(|i| i.number().to_owned())
            .unwrap_or_default();
        groups.entry(number).or_default().push((pending, item));
    }
    let mut tasks: tokio::task::JoinSet<crate::Result<bool>> = tokio::task::JoinSet::new();
    let mut progressed = false;
    for (_, group) in groups {
        while tasks.len() >= CONCURRENCY
            && let Some(done) = tasks.join_next().await
        {
            progressed |=
                done.map_err(|e| crate::Error::internal(format!("inbox task: {e}")))??;
        }
        let ch = ch.clone();
        tasks.spawn(async move {
            let mut progressed = false;
            for (pending, item) in group {
                progressed |= handle_one(&ch, pending, item).await?;
            }
            crate::Result::Ok(progressed)
        });
    }
    while let Some(done) = tasks.join_next().await {
        progressed |= done.map_err(|e| crate::Error::internal(format!("inbox task: {e}")))??;
    }
    let receipts = handle::receipts(ch).await?;
    Ok(progressed || receipts > 0)
}

async fn handle_one(
    ch: &Channel,
    pending: store::Pending,
    item: Option<Item>,
) -> crate::Result<bool> {
    let db = ch.db();
    let outcome = match item {
        Some(item) => handle::item(ch, pending.id, item).await,
        None => Err(crate::Error::internal("an unreadable inbox item")),
    };
    match outcome {
        // Another node handled it meanwhile; its transaction stands, this one did not.
        Err(e) if sql::is_lost(&e) => return Ok(false),
        Ok(Handled::Done) => {
            ch.inner.counters.handled.fetch_add(1, Ordering::Relaxed);
            return Ok(true);
        }
        Ok(Handled::NotYet) if pending.attempts + 1 >= MAX_ITEM_ATTEMPTS => {
            match sql::transaction(db, vec![store::inbox_done(pending.id, ch.now())]).await {
                Err(e) if !sql::is_lost(&e) => return Err(e),
                _ => {}
            }
        }
        Ok(Handled::NotYet) => {
            store::inbox_failed(db, pending.id, "a status for a message not recorded yet").await?;
        }
        Err(e) => {
            tracing::warn!(error = %e, item = pending.id, "whatsapp inbox: an item failed");
            store::inbox_failed(db, pending.id, &e.to_string()).await?;
            if pending.attempts + 1 >= MAX_ITEM_ATTEMPTS {
                sql::execute(
                    db,
                    sql::stmt!(
                        "UPDATE wa_inbox SET handled_at = $1 WHERE id = $2",
                        ch.now(),
                        pending.id
                    ),
                )
                .await?;
            }
        }
    }
    Ok(false)
}

/// The outbox sender.
pub async fn outbox(ch: Channel) {
    loop {
        let slow_until = ch.inner.slow_until_ms.load(Ordering::Relaxed);
        let wait = slow_until - now_ms();
        if wait > 0 {
            tokio::time::sleep(Duration::from_millis(u64::try_from(wait).unwrap_or(0))).await;
            continue;
        }
        let config = ch.config();
        if let Err(e) = store::outbox_sweep(
            ch.db(),
            now_ms(),
            ms(config.confirm_window),
            config.max_attempts,
            ch.now(),
        )
        .await
        {
            tracing::warn!(error = %e, "whatsapp outbox: the database failed; trying again");
        }
        match outbox_pass(&ch).await {
            Ok(true) => continue,
            Ok(false) => {}
            Err(e) => {
                tracing::warn!(error = %e, "whatsapp outbox: the database failed; trying again")
            }
        }
        let next = store::outbox_next_due(ch.db()).await.ok().flatten();
        let sleep = next
            .map(|at| Duration::from_millis(u64::try_from(at - now_ms()).unwrap_or(0)))
            .unwrap_or(POLL)
            .min(POLL);
        let _ = tokio::time::timeout(sleep, ch.inner.outbox_ready.notified()).await;
    }
}

/// Sends what is due; whether anything was. Messages to one number go in their order;
/// to different numbers at once.
pub async fn outbox_pass(ch: &Channel) -> crate::Result<bool> {
    let now = now_ms();
    let lease = now + ms(ch.config().attempt_lease());
    let due = store::outbox_claim(ch.db(), ch.node(), now, lease, BATCH).await?;
    let any = !due.is_empty();
    let mut groups: BTreeMap<String, Vec<store::Due>> = BTreeMap::new();
    for message in due {
        groups
            .entry(message.wa_id.clone())
            .or_default()
            .push(message);
    }
    let mut tasks: tokio::task::JoinSet<crate::Result<()>> = tokio::task::JoinSet::new();
    for (_, group) in groups {
        while tasks.len() >= CONCURRENCY
            && let Some(done) = tasks.join_next().await
        {
            done.map_err(|e| crate::Error::internal(format!("outbox task: {e}")))??;
        }
        let ch = ch.clone();
        tasks.spawn(async move {
            for message in group {
                if ch.inner.slow_until_ms.load(Ordering::Relaxed) > now_ms() {
                    break;
                }
                send(&ch, message).await?;
            }
            crate::Result::Ok(())
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.map_err(|e| crate::Error::internal(format!("outbox task: {e}")))??;
    }
    Ok(any)
}

/// The delay before attempt `attempts + 1`: doubling from the configured backoff, capped,
/// jittered to between half and all of it.
pub fn backoff(ch: &Channel, attempts: i64) -> Duration {
    let config = ch.config();
    let exp = u32::try_from(attempts.clamp(1, 20) - 1).unwrap_or(0);
    let full = config
        .backoff
        .saturating_mul(2u32.saturating_pow(exp))
        .min(config.max_backoff);
    let jitter = random_bytes::<2>()
        .map(u16::from_le_bytes)
        .unwrap_or(u16::MAX);
    let half = full / 2;
    half + half.mul_f64(f64::from(jitter) / f64::from(u16::MAX))
}

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

async fn send(ch: &Channel, due: store::Due) -> crate::Result<()> {
    let db = ch.db();
    let now = ch.now();
    let node = ch.node();
    // Recorded before the request leaves: a crash from here on leaves it in flight, and
    // its lease running out makes it unconfirmed, never due again by itself.
    let lease = now_ms() + ms(ch.config().attempt_lease());
    if !store::outbox_begin(db, due.id, node, lease, now).await? {
        return Ok(());
    }
    let at = Expect::attempt(due.id, node);
    let message: Message = match serde_json::from_str(&due.payload) {
        Ok(m) => m,
        Err(e) => {
            let why = format!("unreadable message: {e}");
            return store::outbox_final(db, &at, "dead", &why, now)
                .await
                .map(drop);
        }
    };
    // Counted with the attempt's outcome (one write per attempt); an attempt cut short by
    // a crash is counted when its lease runs out.
    let attempts = due.attempts + 1;
    let graph = &ch.inner.graph;
    let result = async {
        let media = match &message {
            Message::Image { png_base64, .. } => {
                let png = STANDARD
                    .decode(png_base64)
                    .map_err(|e| Failure::Refused(format!("the image: {e}")))?;
                Some(graph.upload_png(&png).await?)
            }
            _ => None,
        };
        graph
            .send(&due.wa_id, message.to_graph(media.as_deref()), &due.key)
            .await
    }
    .await;
    let failure = match result {
        Ok(wamid) => {
            let kept = serde_json::to_string(&message.kept()).unwrap_or_default();
            // A status may have settled it meanwhile; or, if this node was slower than its
            // lease, a sweep made it unconfirmed: Meta's answer settles that too.
            if !store::outbox_sent(db, &at, "sent", &wamid, &kept, now).await? {
                let swept = Expect {
                    state: "unconfirmed".into(),
                    ..at.clone()
                };
                store::outbox_sent(db, &swept, "sent", &wamid, &kept, now).await?;
            }
            ch.inner.counters.sent.fetch_add(1, Ordering::Relaxed);
            return Ok(());
        }
        Err(failure) => failure,
    };
    ch.inner
        .counters
        .send_failures
        .fetch_add(1, Ordering::Relaxed);
    let reason = failure.reason();
    tracing::info!(to = %mask(&due.wa_id), key = %due.key, attempts, %reason, "whatsapp send failed");
    store::set_last_error(db, &reason, now).await?;
    settle(ch, &at, due.fallback.as_deref(), attempts, failure, "dead")
        .await
        .map(drop)
}

/// Settles attempt `attempts` of the message `at` expects after `failure`, by its
/// meaning; a refusal leaves it in `refused` (`dead` when the sender was refused,
/// `failed` when a status said so). Whether the message was as expected.
pub(crate) async fn settle(
    ch: &Channel,
    at: &Expect,
    fallback: Option<&str>,
    attempts: i64,
    failure: Failure,
    refused: &str,
) -> crate::Result<bool> {
    let db = ch.db();
    let now = ch.now();
    let reason = failure.reason();
    let exhausted = attempts >= ch.config().max_attempts;
    match failure {
        Failure::OutsideWindow => match fallback {
            Some(template) => store::outbox_use_fallback(db, at, template, now).await,
            None => store::outbox_final(db, at, "not_sent", &reason, now).await,
        },
        Failure::Unknown(_) => {
            ch.inner
                .counters
                .unconfirmed
                .fetch_add(1, Ordering::Relaxed);
            tracing::warn!(%reason, "whatsapp send: the outcome is unknown; waiting for Meta's status");
            let by = now_ms() + ms(ch.config().confirm_window);
            store::outbox_unconfirmed(db, at, by, &reason, now).await
        }
        Failure::Throttled | Failure::Transient(_) if exhausted => {
            let why = format!("gave up after {attempts} attempts: {reason}");
            store::outbox_final(db, at, "dead", &why, now).await
        }
        Failure::Throttled => {
            let wait = backoff(ch, attempts);
            ch.inner
                .slow_until_ms
                .store(now_ms() + ms(wait), Ordering::Relaxed);
            store::outbox_retry(db, at, now_ms() + ms(wait), &reason, now).await
        }
        Failure::Transient(_) => {
            let wait = backoff(ch, attempts);
            store::outbox_retry(db, at, now_ms() + ms(wait), &reason, now).await
        }
        Failure::Undeliverable | Failure::Refused(_) => {
            store::outbox_final(db, at, refused, &reason, now).await
        }
    }
}
