//! The conversation with central beyond the outbox relay ([`crate::relay`]): deltas,
//! catalogs, the trust list, signed time, the offline policy and retention.
//!
//! ## Map
//! - [`client`]: [`CentralClient`] — requests signed with the till key; every answer's
//!   signed server time is verified and fed to the clock ([`time`]).
//! - [`deltas`]: customers, balances, gift cards, personal promotions and revocations,
//!   pulled by cursor and applied one page per SQLite transaction, cursor included. How
//!   balances stay consistent with what this till spent but central has not seen yet is
//!   explained there.
//! - [`store_sales`]: the store's other tills' sales and returns (the `sales` delta),
//!   rebuilt in the engine's words so they can be returned here.
//! - [`catalogs`]: catalog envelopes (pulled with `If-None-Match`, or pushed to
//!   `POST /v1/admin/catalog`) verified, stored and activated at once or at their time.
//! - [`trust`]: trust-list rotations.
//! - [`tls`]: the roots trusted for HTTPS to central (system store, optional CA file).
//! - [`policy`]: the offline policy — past the catalog or trust-list age the till is
//!   earn-only — and the reasons `/readyz` gives.
//! - [`retention`]: scan logs and token uses purged once old and synced.
//! - [`api`]: `POST /v1/admin/catalog` and `GET /v1/sync`, as [`routes`].
//! - [`task`]: [`Syncer`], the task that runs all of it on a timer.
//!
//! [`SyncStatus`] is what the POS API, the dashboard and `/readyz` read; every change of
//! `online` or `earn_only` is published on the bus as [`AgentEvent::SyncState`].

pub mod api;
pub mod catalogs;
pub mod client;
pub mod deltas;
pub mod policy;
pub mod retention;
pub mod store_sales;
pub mod task;
pub mod time;
pub mod tls;
pub mod trust;

use std::sync::Mutex;

use thiserror::Error;
use tillpass_protocol::sync::OfflinePolicy;
use tokio::sync::Notify;

use crate::bus::{AgentEvent, Bus};
use crate::store::StoreError;

pub use api::routes;
pub use client::CentralClient;
pub use policy::readiness_reasons;
pub use task::{SyncSettings, Syncer};

/// What the till knows about its conversation with central, shared with the POS API, the
/// event stream and the dashboard.
#[derive(Debug, Default)]
pub struct SyncStatus {
    inner: Mutex<SyncSnapshot>,
    wake: Notify,
}

/// A copy of the sync state at one moment.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct SyncSnapshot {
    /// Whether the last exchange with central succeeded.
    pub online: bool,
    /// When the last exchange succeeded, unix seconds.
    pub last_success_at: Option<u64>,
    /// Why the till is limited to earning (no redemptions, no gift-card spend), if it is.
    pub earn_only: Option<String>,
    /// Whether this till talks to central at all (enrolled, with a key and a URL).
    pub configured: bool,
    /// Why it does not, when it does not: `not_enrolled: …`, `no_central_url: …`,
    /// `no_till_key: …`, each with what to do.
    pub unconfigured: Vec<String>,
    /// When the last exchange was tried, unix seconds.
    pub last_attempt_at: Option<u64>,
    /// Why the last exchange failed, if it did.
    pub last_error: Option<String>,
    /// When the last complete round of delta pulls finished, unix seconds.
    pub last_delta_at: Option<u64>,
    /// When central last acknowledged a journal batch, unix seconds.
    pub last_upload_at: Option<u64>,
    /// The active catalog's sequence.
    pub catalog_sequence: Option<u64>,
    /// When central issued the active catalog, unix seconds.
    pub catalog_issued_at: Option<u64>,
    /// How old the active catalog is, in seconds.
    pub catalog_age_secs: Option<u64>,
    /// How many promotions the active catalog holds.
    pub catalog_promotions: Option<usize>,
    /// A catalog waiting for its activation time: (sequence, unix seconds).
    pub catalog_scheduled: Option<(u64, u64)>,
    /// The last catalog refused, with the reason (`code: detail`).
    pub catalog_refused: Option<String>,
    /// The trust list's sequence.
    pub trust_sequence: Option<u64>,
    /// How old the trust list is, in seconds.
    pub trust_age_secs: Option<u64>,
    /// When the trust list's envelope expires: (sequence, unix seconds).
    pub trust_expires_at: Option<(u64, u64)>,
    /// Outbox events central rejected (kept with the reason, not sent again).
    pub rejected_events: u64,
    /// Events central flagged on acceptance since start (overspend debts, a token at two
    /// stores…).
    pub flagged_events: u64,
    /// The offline policy from the enrolment record.
    pub offline_policy: Option<OfflinePolicy>,
    /// Delta pages refused since start (unsigned, badly signed, stale, answering another
    /// request): nothing of them was applied.
    pub delta_pages_refused: u64,
    /// The last delta page refused: `kind code: detail`.
    pub delta_refused: Option<String>,
}

impl SyncStatus {
    /// The current state.
    pub fn snapshot(&self) -> SyncSnapshot {
        self.inner.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Why spending is refused (earn-only), if it is.
    pub fn earn_only(&self) -> Option<String> {
        self.inner
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .earn_only
            .clone()
    }

    /// The offline policy (the caps on savings and gift-card spend while unsynced), when
    /// the till is enrolled.
    pub fn offline_policy(&self) -> Option<OfflinePolicy> {
        self.inner
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .offline_policy
            .clone()
    }

    /// Changes the state.
    pub fn update(&self, f: impl FnOnce(&mut SyncSnapshot)) {
        f(&mut self.inner.lock().unwrap_or_else(|p| p.into_inner()));
    }

    /// Changes the state and, when `online` or `earn_only` changed, publishes
    /// [`AgentEvent::SyncState`] on `bus`.
    pub fn update_and_publish(&self, bus: &Bus, f: impl FnOnce(&mut SyncSnapshot)) {
        let event = {
            let mut guard = self.inner.lock().unwrap_or_else(|p| p.into_inner());
            let before = (guard.online, guard.earn_only.clone());
            f(&mut guard);
            let changed = before != (guard.online, guard.earn_only.clone());
            changed.then(|| AgentEvent::SyncState {
                online: guard.online,
                earn_only: guard.earn_only.clone(),
                detail: describe(&guard),
            })
        };
        if let Some(event) = event {
            if let AgentEvent::SyncState {
                online, earn_only, ..
            } = &event
            {
                tracing::info!(online, earn_only = ?earn_only, "sync state changed");
            }
            bus.publish(event);
        }
    }

    /// Wakes the sync task (a catalog was scheduled, something changed).
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// Waits until [`SyncStatus::wake`] is called.
    pub async fn woken(&self) {
        self.wake.notified().await;
    }
}

/// A line for people about a state.
fn describe(s: &SyncSnapshot) -> String {
    match (&s.earn_only, s.online) {
        (Some(why), _) => format!("earn only: {why}"),
        (None, true) => "in sync with central".to_owned(),
        (None, false) if !s.configured => "not connected to central".to_owned(),
        (None, false) => match &s.last_error {
            Some(e) => format!("central unreachable: {e}"),
            None => "central not reached yet".to_owned(),
        },
    }
}

/// Why a sync step did not go through. Nothing half-applied stays: every page is one
/// transaction.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum SyncError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Central could not be reached, or the exchange broke off.
    #[error("central unreachable: {0}")]
    Network(String),
    /// Central answered with an error status.
    #[error("central answered {status}: {detail}")]
    Status {
        /// Central's HTTP status.
        status: u16,
        /// The start of the body.
        detail: String,
    },
    /// Central's answer could not be used (malformed, badly signed, rolled back).
    #[error("central's answer refused: {0}")]
    Refused(String),
    /// Central's URL may not be used (plain `http://` to another machine, not a URL).
    #[error(transparent)]
    CentralUrl(#[from] tillpass_protocol::sync::CentralUrlError),
    /// The roots trusted for HTTPS to central could not be loaded.
    #[error(transparent)]
    Tls(#[from] tls::TlsError),
    /// A delta page was refused whole: not signed, or its signature, signer, age or
    /// binding to the request failed. Nothing of it was applied.
    #[error("central's {kind} page refused ({code}): {detail}")]
    PageRefused {
        /// The stream.
        kind: tillpass_protocol::sync::DeltaKind,
        /// The stable reason: an envelope code, `other_request`, `unsigned` or
        /// `no_trust_list`.
        code: &'static str,
        /// The reason for people.
        detail: String,
    },
    /// A task failed.
    #[error("internal: {0}")]
    Internal(String),
}

/// Runs blocking store work off the async threads.
pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, SyncError> + Send + 'static,
) -> Result<T, SyncError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| SyncError::Internal(e.to_string()))?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_of_online_or_earn_only_are_published_once() {
        let bus = Bus::new();
        let mut rx = bus.subscribe();
        let status = SyncStatus::default();
        status.update_and_publish(&bus, |s| s.online = true);
        status.update_and_publish(&bus, |s| s.last_success_at = Some(5));
        status.update_and_publish(&bus, |s| s.earn_only = Some("trust_list_too_old".into()));
        let first = rx.try_recv().unwrap();
        assert!(matches!(
            first,
            AgentEvent::SyncState {
                online: true,
                earn_only: None,
                ..
            }
        ));
        let second = rx.try_recv().unwrap();
        assert!(matches!(
            second,
            AgentEvent::SyncState {
                earn_only: Some(_),
                ..
            }
        ));
        assert!(rx.try_recv().is_err(), "no event for an unchanged state");
        assert_eq!(status.earn_only().as_deref(), Some("trust_list_too_old"));
    }
}
