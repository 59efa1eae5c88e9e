//! What the till knows about its conversation with central: written by the sync task and
//! the relay, read by the POS API, the dashboard and `/readyz`.

use std::sync::Mutex;

use tillpass_protocol::sync::OfflinePolicy;
use tokio::sync::Notify;

use crate::bus::{AgentEvent, Bus};

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
