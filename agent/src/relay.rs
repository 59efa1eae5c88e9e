//! The outbox relay: uploads journal events to central in batches, signed with the till's
//! key, and deletes each event only once central has acknowledged it (`accepted` or
//! `duplicate`). A `rejected` event stays in the outbox with central's reason, for the
//! dashboard, and is not sent again.
//!
//! The relay is one half of the sync issue; pulling deltas and catalogs is not built yet.
//! Failures back off exponentially with jitter (1 s doubling to 60 s); a restart resumes
//! from the outbox, which is the only state.

use std::sync::Arc;
use std::time::Duration;

use ed25519_dalek::SigningKey;
use rusqlite::params;
use thiserror::Error;
use tillpass_protocol::sync::{
    self, BatchAck, MAX_BATCH_EVENTS, RequestNonce, RequestParts, SignedHeaders, TillId,
    UploadBatch,
};

use crate::clock::Clock;
use crate::store::{Store, StoreError, journal, sql};

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
}

/// Reads a till key file (the 32-byte Ed25519 seed in hex).
pub fn read_till_key(text: &str) -> Option<SigningKey> {
    let mut seed = [0u8; 32];
    hex::decode_to_slice(text.trim(), &mut seed).ok()?;
    Some(SigningKey::from_bytes(&seed))
}

/// The relay.
#[derive(Debug)]
pub struct Relay {
    store: Arc<Store>,
    client: reqwest::Client,
    central: String,
    till: TillId,
    key: SigningKey,
    clock: Arc<Clock>,
    batch: usize,
}

impl Relay {
    /// A relay for `till` to `central` (base URL), signing with `key`.
    pub fn new(
        store: Arc<Store>,
        central: &str,
        till: TillId,
        key: SigningKey,
        clock: Arc<Clock>,
    ) -> Result<Relay, RelayError> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| RelayError::Central(e.to_string()))?;
        Ok(Relay {
            store,
            client,
            central: central.trim_end_matches('/').to_owned(),
            till,
            key,
            clock,
            batch: MAX_BATCH_EVENTS,
        })
    }

    /// Uploads one batch of the oldest unsent events. Returns how many central settled.
    pub async fn upload_once(&self) -> Result<usize, RelayError> {
        let store = self.store.clone();
        let limit = self.batch;
        let events = tokio::task::spawn_blocking(move || journal::pending(&store.conn(), limit))
            .await
            .map_err(|e| RelayError::Central(e.to_string()))??;
        if events.is_empty() {
            return Ok(0);
        }
        let batch = UploadBatch::new(self.till.clone(), events)
            .map_err(|e| RelayError::Central(e.to_string()))?;
        let body = serde_json::to_vec(&batch).map_err(|e| RelayError::Central(e.to_string()))?;
        let mut nonce = [0u8; 16];
        getrandom::fill(&mut nonce).map_err(|e| RelayError::Central(e.to_string()))?;
        let path = sync::paths::JOURNAL;
        let signed = SignedHeaders::sign(
            &RequestParts {
                method: "POST",
                path_and_query: path,
                body: &body,
            },
            self.till.clone(),
            i64::try_from(self.clock.now()).unwrap_or(i64::MAX),
            RequestNonce(nonce),
            &self.key,
        )
        .map_err(|e| RelayError::Central(e.to_string()))?;
        let mut request = self
            .client
            .post(format!("{}{path}", self.central))
            .header("content-type", "application/json")
            .body(body);
        for (name, value) in signed.to_headers() {
            request = request.header(name, value);
        }
        let answer = request
            .send()
            .await
            .map_err(|e| RelayError::Central(e.to_string()))?;
        let status = answer.status();
        let bytes = answer
            .bytes()
            .await
            .map_err(|e| RelayError::Central(e.to_string()))?;
        if !status.is_success() {
            return Err(RelayError::Central(format!(
                "{status}: {}",
                String::from_utf8_lossy(&bytes)
                    .chars()
                    .take(300)
                    .collect::<String>()
            )));
        }
        let ack: BatchAck =
            serde_json::from_slice(&bytes).map_err(|e| RelayError::Central(e.to_string()))?;
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || settle(&store, &ack))
            .await
            .map_err(|e| RelayError::Central(e.to_string()))?
    }

    /// Uploads until the outbox is empty, then waits for more; backs off on failure.
    pub async fn run(self) {
        let mut backoff = Duration::from_secs(1);
        loop {
            match self.upload_once().await {
                Ok(0) => {
                    backoff = Duration::from_secs(1);
                    tokio::time::sleep(Duration::from_secs(2)).await;
                }
                Ok(n) => {
                    tracing::info!(events = n, "journal uploaded");
                    backoff = Duration::from_secs(1);
                }
                Err(e) => {
                    let jitter = Duration::from_millis(u64::from(nonce_byte()) * 4);
                    tracing::warn!(error = %e, retry_in = ?backoff, "journal upload failed");
                    tokio::time::sleep(backoff + jitter).await;
                    backoff = (backoff * 2).min(Duration::from_secs(60));
                }
            }
        }
    }
}

fn nonce_byte() -> u8 {
    let mut b = [0u8; 1];
    let _ = getrandom::fill(&mut b);
    b[0]
}

/// Deletes the settled events and records central's reason on rejected ones, in one
/// transaction.
fn settle(store: &Store, ack: &BatchAck) -> Result<usize, RelayError> {
    let mut conn = store.conn();
    let tx = conn.transaction().map_err(sql)?;
    let mut settled = 0;
    for event in &ack.acks {
        let id = event.id.to_string();
        if event.outcome.is_settled() {
            settled += tx
                .execute("DELETE FROM outbox WHERE event_id = ?1", [&id])
                .map_err(sql)?;
        } else {
            let reason = serde_json::to_string(&event.outcome).unwrap_or_default();
            tx.execute(
                "UPDATE outbox SET attempts = attempts + 1, last_error = ?2 WHERE event_id = ?1",
                params![id, reason],
            )
            .map_err(sql)?;
        }
    }
    tx.commit().map_err(sql)?;
    Ok(settled)
}
