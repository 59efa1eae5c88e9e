//! The conversation with central: the outbox relay, deltas, catalogs, the trust list,
//! signed time, the offline policy and retention.
//!
//! ## Map
//! - [`relay`]: the outbox relay to central (signed, batched, deleted only when
//!   acknowledged).
//! - [`client`]: [`CentralClient`] — requests signed with the till key; every answer's
//!   signed server time is verified and fed to the clock ([`time`]).
//! - [`round`]: the sync round in one signed request (`POST /v1/sync/round`): every
//!   stream's cursor and the envelopes' ETags in, what changed out, sealed for the
//!   request; a central that answers `404` gets the per-stream requests below.
//! - [`deltas`]: customers, balances, gift cards, personal promotions and revocations,
//!   pulled by cursor and applied one page per SQLite transaction, cursor included. How
//!   balances stay consistent with what this till spent but central has not seen yet is
//!   explained there.
//! - [`store_sales`]: the store's other tills' sales and returns (the `sales` delta),
//!   rebuilt in the engine's words so they can be returned here.
//! - [`ledger`]: the store's offline-risk ledger (the `ledger` delta): every till's spends
//!   with central's outcome and the flags concerning the store, masked, kept for the
//!   retention period.
//! - [`catalogs`]: catalog envelopes (pulled with `If-None-Match`, or pushed to
//!   `POST /v1/admin/catalog`) verified, stored and activated at once or at their time.
//! - [`trust`]: trust-list rotations.
//! - [`lookup`]: [`LiveLookup`] — the live lookup (`POST /v1/lookup`) of a customer or
//!   gift card the till does not hold, within a hard time budget, for the identification
//!   pipeline (`crate::identify::live`).
//! - [`backoff`]: the waits after a failure — exponential with jitter, or, when central
//!   answers `429`/`503` with `Retry-After`, at least that long, with jitter, capped.
//! - [`tls`]: the roots trusted for HTTPS to central (system store, optional CA file).
//! - [`policy`]: the offline policy — past the catalog or trust-list age the till is
//!   earn-only — and the reasons `/readyz` gives.
//! - [`retention`]: scan logs and token uses purged once old and synced.
//! - [`api`]: `POST /v1/admin/catalog` and `GET /v1/sync`, as [`routes`].
//! - [`task`]: [`Syncer`], the task that runs all of it on a timer.
//!
//! [`SyncStatus`] (kept with the till's state, [`crate::till`]) is what the POS API, the
//! dashboard and `/readyz` read; every change of `online` or `earn_only` is published on
//! the bus as `AgentEvent::SyncState`.

pub mod api;
pub mod backoff;
pub mod catalogs;
pub mod client;
pub mod deltas;
pub mod ledger;
pub mod lookup;
pub mod policy;
pub mod relay;
pub mod retention;
pub mod round;
pub mod store_sales;
pub mod task;
pub mod time;
pub mod tls;
pub mod trust;

use thiserror::Error;

use crate::store::StoreError;

pub use crate::till::sync_status::{SyncSnapshot, SyncStatus};
pub use api::routes;
pub use client::CentralClient;
pub use lookup::LiveLookup;
pub use policy::readiness_reasons;
pub use task::{SyncSettings, Syncer};

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
        /// How long central asked the till to wait (`Retry-After` on a `429` or `503`).
        retry_after: Option<std::time::Duration>,
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

impl SyncError {
    /// How long central asked the till to wait before trying again, if it did.
    pub fn retry_after(&self) -> Option<std::time::Duration> {
        match self {
            SyncError::Status { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
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
    use crate::bus::{AgentEvent, Bus};

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
