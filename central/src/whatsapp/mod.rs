//! The WhatsApp Business Platform (Cloud API) channel: the customer's loyalty wallet in a
//! brand's chat.
//!
//! ## Map
//! - [`config`]: the Graph API's address, the business number, the terms' version, the
//!   receipt template; the verify token, app secret and access token from files or
//!   systemd credentials ([`config::Secret`]: never shown).
//! - [`signature`]: `X-Hub-Signature-256`, HMAC-SHA256 of the raw body, constant time.
//! - [`delivery`]: a delivery's messages and statuses, each an inbox item with its key.
//! - [`routes`]: the webhook (`GET` verification, `POST` deliveries: signature checked
//!   before parsing, items stored, `200`) and the admin routes (status, consent
//!   evidence, a gift card's owner, the click-to-chat poster).
//! - [`store`]: the channel's tables (contacts, inbox, outbox, consent evidence, queued
//!   receipts, status) on either backend, through [`sql`].
//! - [`handle`]: the flows — sign-up with consent, pass, balance, offers, opt-out and
//!   back, erasure — one inbox item at a time, each in one transaction with the replies
//!   it queues; receipts queued by ingestion become messages.
//! - [`intent`], [`texts`]: what a message asks for; what the channel answers, in Spanish
//!   and English, in the shapes Meta takes.
//! - [`graph`]: the Graph API client; Meta's errors by meaning.
//! - [`worker`]: the inbox worker and the outbox sender (retries with jittered backoff, a
//!   maximum of attempts, dead letters with their reason, slowing down on 130429; a send
//!   whose outcome is unknown waits for Meta's status instead of going again).
//! - [`poster`]: the stores' click-to-chat QR (`wa.me/<number>?text=…`), PNG and SVG.
//!
//! ## Invariants
//! - A delivery is stored before it is answered `200`, and handled by the worker, so a
//!   restart (even `SIGKILL`) between the two loses nothing; its key makes a second copy
//!   a no-op.
//! - Handling an item, the replies it queues (each with an idempotency key derived from
//!   the item) and marking it handled are one transaction: handled twice, it queues
//!   nothing twice.
//! - The phone number lives in `wa_contacts` only once an item is handled and a message
//!   is final; it is never in a token, a delta, a till or a log line ([`mask`]).
//! - A status never moves a message backwards (`sent` → `delivered` → `read`).
//! - **Nothing is sent twice, within one bound.** An attempt is recorded `in_flight`
//!   before its request leaves; if its outcome is unknown (a timeout or a cut connection
//!   after sending, a node that died mid-attempt) it becomes `unconfirmed`, never `pending`.
//!   Every message carries its idempotency key in `biz_opaque_callback_data`, which Meta
//!   echoes in the message's statuses, and a status naming the key settles it. Only when no
//!   status at all arrives within the confirmation window ([`Config::confirm_window`],
//!   10 minutes by default) is it sent again: a duplicate then needs Meta to have accepted
//!   a message and never sent any status for it, which Meta's contract does not do.
//! - **Several nodes on one database** each run the channel: a node claims inbox items
//!   and outbox messages with a lease, never a number another node holds, and every
//!   outcome is a compare-and-set, so an item is handled once and a message sent once.

pub mod config;
pub mod delivery;
pub mod graph;
pub mod handle;
pub mod intent;
pub mod poster;
pub mod routes;
pub mod signature;
pub(crate) mod sql;
pub mod store;
pub mod texts;
pub mod worker;

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use tokio::sync::Notify;

use crate::clock::Clock;
use crate::error::Result;
use crate::keys::KeyDir;
use crate::storage::Database;
pub use config::Config;

/// The channel: its configuration, database, Graph API client and workers' signals.
#[derive(Clone)]
pub struct Channel {
    inner: Arc<Inner>,
}

struct Inner {
    config: Config,
    /// This node's name in claims: random for each channel.
    node: String,
    db: Database,
    keys: Option<KeyDir>,
    graph: graph::Graph,
    clock: Clock,
    inbox_ready: Notify,
    outbox_ready: Notify,
    /// Until when (ms) the sender waits after Meta said 130429.
    slow_until_ms: AtomicI64,
    counters: Counters,
}

/// What the channel counted since it started.
#[derive(Debug, Default)]
pub struct Counters {
    /// Deliveries accepted (signature good).
    pub deliveries: AtomicU64,
    /// Deliveries refused for their signature.
    pub bad_signatures: AtomicU64,
    /// Inbox items handled.
    pub handled: AtomicU64,
    /// Messages handed to the Graph API and accepted.
    pub sent: AtomicU64,
    /// Send attempts that failed.
    pub send_failures: AtomicU64,
    /// Send attempts whose outcome was unknown.
    pub unconfirmed: AtomicU64,
}

impl std::fmt::Debug for Channel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Channel")
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

impl Channel {
    /// A channel over `db`; passes are issued with `keys` (on SQLite).
    pub fn new(
        config: Config,
        db: Database,
        keys: Option<KeyDir>,
        clock: Clock,
    ) -> Result<Channel> {
        let graph = graph::Graph::new(&config)?;
        Ok(Channel {
            inner: Arc::new(Inner {
                config,
                node: hex::encode(crate::keys::random_bytes::<8>()?),
                db,
                keys,
                graph,
                clock,
                inbox_ready: Notify::new(),
                outbox_ready: Notify::new(),
                slow_until_ms: AtomicI64::new(0),
                counters: Counters::default(),
            }),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// The database.
    pub fn db(&self) -> &Database {
        &self.inner.db
    }

    /// This node's name in claims.
    pub fn node(&self) -> &str {
        &self.inner.node
    }

    /// The counters.
    pub fn counters(&self) -> &Counters {
        &self.inner.counters
    }

    /// Now, unix seconds, by central's clock.
    pub fn now(&self) -> i64 {
        (self.inner.clock)()
    }

    /// Starts the inbox worker and the outbox sender; they run as long as the runtime.
    pub fn spawn(&self) -> Vec<tokio::task::JoinHandle<()>> {
        vec![
            tokio::spawn(worker::inbox(self.clone())),
            tokio::spawn(worker::outbox(self.clone())),
        ]
    }

    /// Stores a delivery whose signature is `header` (checked first, over the raw body);
    /// returns how many new items it held.
    pub async fn receive(
        &self,
        raw: &[u8],
        header: Option<&str>,
    ) -> std::result::Result<u64, Refusal> {
        if !signature::verify(
            self.inner.config.app_secret.expose().as_bytes(),
            raw,
            header,
        ) {
            self.inner
                .counters
                .bad_signatures
                .fetch_add(1, Ordering::Relaxed);
            return Err(Refusal::Signature);
        }
        let items =
            delivery::parse(raw, &self.inner.config.phone_number_id).map_err(Refusal::Body)?;
        let rows: Vec<store::NewItem> = items
            .iter()
            .map(|item| store::NewItem {
                key: item.key(),
                kind: item.kind(),
                body: serde_json::to_string(item).unwrap_or_default(),
                number: item.number().to_owned(),
            })
            .collect();
        let stored = store::inbox_put(&self.inner.db, &rows, self.now())
            .await
            .map_err(Refusal::Storage)?;
        self.inner
            .counters
            .deliveries
            .fetch_add(1, Ordering::Relaxed);
        if stored > 0 {
            self.inner.inbox_ready.notify_one();
        }
        Ok(stored)
    }

    /// The webhook's verification: the challenge when `mode` is `subscribe` and `token`
    /// the verify token.
    pub fn verify(
        &self,
        mode: Option<&str>,
        token: Option<&str>,
        challenge: Option<&str>,
    ) -> Option<String> {
        use subtle::ConstantTimeEq;
        let expected = self.inner.config.verify_token.expose().as_bytes();
        let matches = token.is_some_and(|t| bool::from(t.as_bytes().ct_eq(expected)));
        (mode == Some("subscribe") && matches)
            .then(|| challenge.unwrap_or_default().chars().take(256).collect())
    }

    /// Wakes the outbox sender.
    pub(crate) fn wake_sender(&self) {
        self.inner.outbox_ready.notify_one();
    }
}

/// Why a delivery was refused.
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    /// Bad or missing signature: `401`, nothing stored.
    #[error("bad or missing X-Hub-Signature-256")]
    Signature,
    /// A signed body that is not a delivery: `400`.
    #[error("{0}")]
    Body(delivery::Refused),
    /// The inbox could not store it: `503`, and Meta retries.
    #[error("storing the delivery: {0}")]
    Storage(crate::Error),
}

/// Unix milliseconds by the system clock (the outbox's schedule).
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .ok()
        .and_then(|d| i64::try_from(d.as_millis()).ok())
        .unwrap_or(0)
}

/// A phone number as logs show it: `34*******33`.
pub fn mask(wa_id: &str) -> String {
    let n = wa_id.chars().count();
    wa_id
        .chars()
        .enumerate()
        .map(|(i, c)| if i < 2 || i + 2 >= n { c } else { '*' })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_masked_number_keeps_only_its_ends() {
        assert_eq!(mask("34611222333"), "34*******33");
        assert!(!mask("34611222333").contains("611222"));
    }
}
