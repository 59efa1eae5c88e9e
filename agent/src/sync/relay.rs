//! The outbox relay: uploads journal events to central in batches (at most
//! [`MAX_BATCH_EVENTS`] and [`limits::MAX_BATCH_BYTES`] of JSON, central's body limit),
//! signed with the till's key, and deletes each event only once central has acknowledged
//! it (`accepted` or `duplicate`). A `rejected` event becomes a state of its own in the
//! outbox — central's code and reason, when, how many refusals — shown by `/readyz`,
//! `tillpass status`, `tillpass journal rejected` and the dashboard, and not sent again
//! until central IT re-drives it (`tillpass journal retry`); see [`journal`].
//!
//! Failures back off exponentially with jitter (a quarter of a second doubling to
//! `[sync] retry_max_secs`, 60 s by default; `backon`); when central answers `429` or
//! `503` with `Retry-After`, the relay waits at least that long instead, with jitter,
//! capped ([`super::backoff`]). A restart resumes from the outbox, which is the only
//! state.
//!
//! **Uploads in doubt.** Before a batch leaves, `till_state.relay_in_doubt` is set; the
//! transaction that settles central's acknowledgement clears it. While it is set, central
//! may hold events the till still counts as unsent (the answer was lost). Balance deltas
//! are only applied when no upload is in doubt and none is in flight — see
//! [`crate::sync::deltas`] — which is what the [`Relay::gate`] is for.

use std::sync::Arc;
use std::time::Duration;

use backon::Retryable;
use thiserror::Error;
use tillpass_protocol::sync::{self, AckOutcome, BatchAck, MAX_BATCH_EVENTS, UploadBatch, limits};
use tokio::sync::{Mutex, MutexGuard};

use crate::bus::Bus;
use crate::store::{Store, StoreError, journal, sql, sync_state};
use crate::sync::{CentralClient, SyncError, SyncStatus};

/// The JSON of a batch's events at most: central's body limit less room for the batch's
/// own fields.
pub const BATCH_EVENT_BYTES: usize = limits::MAX_BATCH_BYTES - 1024;

/// How long the relay waits before looking at an empty outbox again.
pub const IDLE_POLL: Duration = Duration::from_secs(1);

/// Why an upload did not go through. The events stay in the outbox.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum RelayError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Central could not be reached or answered badly.
    #[error("central: {0}")]
    Central(String),
    /// Central is saturated and asked the till to wait (`429`/`503` with `Retry-After`).
    #[error("central busy (retry after {}s): {detail}", retry_after.as_secs())]
    Busy {
        /// How long central asked the till to wait.
        retry_after: Duration,
        /// Central's answer.
        detail: String,
    },
}

impl RelayError {
    /// How long central asked the till to wait, if it did.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            RelayError::Busy { retry_after, .. } => Some(*retry_after),
            _ => None,
        }
    }
}

impl From<SyncError> for RelayError {
    fn from(e: SyncError) -> RelayError {
        match e {
            SyncError::Store(e) => RelayError::Store(e),
            other => match other.retry_after() {
                Some(retry_after) => RelayError::Busy {
                    retry_after,
                    detail: other.to_string(),
                },
                None => RelayError::Central(other.to_string()),
            },
        }
    }
}

/// Where the relay reports: the sync status and the bus.
#[derive(Debug, Clone)]
pub struct Reporter {
    /// The status to update.
    pub status: Arc<SyncStatus>,
    /// Where changes are published.
    pub bus: Bus,
}

/// The relay.
#[derive(Debug)]
pub struct Relay {
    store: Arc<Store>,
    client: Arc<CentralClient>,
    gate: Arc<Mutex<()>>,
    batch: usize,
    reporter: Option<Reporter>,
    retry_max: Duration,
}

pub use super::backoff::{RETRY_MIN, exponential as backoff};

impl Relay {
    /// A relay over `client`, reporting to `reporter` if given.
    pub fn new(store: Arc<Store>, client: Arc<CentralClient>, reporter: Option<Reporter>) -> Relay {
        Relay {
            store,
            client,
            gate: Arc::new(Mutex::new(())),
            batch: MAX_BATCH_EVENTS,
            reporter,
            retry_max: Duration::from_secs(60),
        }
    }

    /// Sets the longest wait between retries.
    pub fn with_retry_max(mut self, max: Duration) -> Relay {
        self.retry_max = max;
        self
    }

    /// The gate uploads hold while a batch is in flight. Whoever holds it knows no
    /// acknowledgement can arrive meanwhile.
    pub fn gate(&self) -> &Arc<Mutex<()>> {
        &self.gate
    }

    /// Whether an upload may have reached central without its answer reaching the till.
    pub async fn in_doubt(&self) -> Result<bool, RelayError> {
        let store = self.store.clone();
        blocking(move || sync_state::upload_in_doubt(&store.conn()).map_err(RelayError::from)).await
    }

    /// Uploads one batch of the oldest unsent events. Returns how many central settled.
    pub async fn upload_once(&self) -> Result<usize, RelayError> {
        let guard = self.gate.lock().await;
        self.upload_locked(&guard).await
    }

    /// [`Relay::upload_once`] for a caller that already holds the [`Relay::gate`].
    pub async fn upload_locked(&self, _gate: &MutexGuard<'_, ()>) -> Result<usize, RelayError> {
        let store = self.store.clone();
        let limit = self.batch;
        let events = blocking(move || {
            let conn = store.conn();
            let events = journal::pending(&conn, limit, BATCH_EVENT_BYTES)?;
            let in_doubt = sync_state::upload_in_doubt(&conn)?;
            // Nothing left to send: nothing sent earlier can still be in doubt either.
            if events.is_empty() == in_doubt {
                sync_state::set_upload_in_doubt(&conn, !events.is_empty())?;
            }
            Ok::<_, RelayError>(events)
        })
        .await?;
        if events.is_empty() {
            return Ok(0);
        }
        let batch = UploadBatch::new(self.client.till().clone(), events)
            .map_err(|e| RelayError::Central(e.to_string()))?;
        let body = serde_json::to_vec(&batch).map_err(|e| RelayError::Central(e.to_string()))?;
        let answer = self
            .client
            .send(
                "POST",
                sync::paths::JOURNAL,
                body,
                Some("application/json"),
                None,
            )
            .await?;
        if !answer.is_success() {
            return Err(answer.error().into());
        }
        let ack: BatchAck = answer.json("journal acknowledgement")?;
        let store = self.store.clone();
        let now = i64::try_from(self.client.clock().now()).unwrap_or(i64::MAX);
        let (settled, flagged) = blocking(move || settle(&store, &ack, now)).await?;
        if let Some(r) = &self.reporter {
            let now = self.client.clock().now();
            r.status.update_and_publish(&r.bus, |s| {
                s.online = true;
                s.last_success_at = Some(now);
                s.last_upload_at = Some(now);
                s.last_error = None;
                s.flagged_events += flagged;
            });
        }
        Ok(settled)
    }

    /// Uploads until the outbox is empty, then looks again every [`IDLE_POLL`]; backs off
    /// exponentially with jitter on failure, or as central's `Retry-After` asks.
    pub async fn run(self: Arc<Self>) {
        loop {
            let attempt = (|| async { self.upload_once().await })
                .retry(backoff(self.retry_max))
                .adjust(|e: &RelayError, normal| {
                    let normal = normal.unwrap_or(self.retry_max);
                    Some(super::backoff::after(e.retry_after(), normal))
                })
                .notify(|e, retry_in| {
                    tracing::warn!(error = %e, ?retry_in, "journal upload failed");
                    self.report_failure(e);
                })
                .await;
            match attempt {
                Ok(0) => tokio::time::sleep(IDLE_POLL).await,
                Ok(n) => tracing::info!(events = n, "journal uploaded"),
                Err(e) => {
                    tracing::warn!(error = %e, "journal upload failed");
                    tokio::time::sleep(IDLE_POLL).await;
                }
            }
        }
    }

    fn report_failure(&self, e: &RelayError) {
        if let Some(r) = &self.reporter {
            let now = self.client.clock().now();
            r.status.update_and_publish(&r.bus, |s| {
                s.online = false;
                s.last_attempt_at = Some(now);
                s.last_error = Some(e.to_string());
            });
        }
    }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, RelayError> + Send + 'static,
) -> Result<T, RelayError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| RelayError::Central(e.to_string()))?
}

/// Deletes the settled events, makes rejected ones `rejected` with central's code and
/// reason, and clears the in-doubt mark, in one transaction. Returns (settled, flagged).
fn settle(store: &Store, ack: &BatchAck, now: i64) -> Result<(usize, u64), RelayError> {
    let mut conn = store.conn();
    let tx = conn.transaction().map_err(sql)?;
    let mut settled = 0;
    let mut flagged = 0u64;
    for event in &ack.acks {
        let id = event.id.to_string();
        if !event.flags.is_empty() {
            flagged += 1;
            tracing::warn!(event = %id, flags = ?event.flags, "central flagged an event");
        }
        if event.outcome.is_settled() {
            settled += tx
                .execute("DELETE FROM outbox WHERE event_id = ?1", [&id])
                .map_err(sql)?;
        } else if let AckOutcome::Rejected { code, detail } = &event.outcome {
            tracing::warn!(event = %id, code = code.code(), %detail,
                "central rejected an event: kept as rejected; `tillpass journal rejected` lists it");
            journal::mark_rejected(&tx, &id, code.code(), detail, now)?;
        }
    }
    sync_state::set_upload_in_doubt(&tx, false)?;
    tx.commit().map_err(sql)?;
    Ok((settled, flagged))
}
