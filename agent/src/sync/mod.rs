//! The conversation with central beyond the outbox relay: deltas, catalogs, signed time,
//! the offline policy and retention.

use std::sync::Mutex;

/// What the till knows about its conversation with central, shared with the POS API, the
/// event stream and the dashboard.
#[derive(Debug, Default)]
pub struct SyncStatus {
    inner: Mutex<SyncSnapshot>,
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
    /// The offline policy from the enrolment record.
    pub offline_policy: Option<tillpass_protocol::sync::OfflinePolicy>,
}

impl SyncStatus {
    /// The current state.
    pub fn snapshot(&self) -> SyncSnapshot {
        self.inner.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Why spending is refused (earn-only), if it is.
    pub fn earn_only(&self) -> Option<String> {
        self.snapshot().earn_only
    }

    /// The offline policy (the caps on savings and gift-card spend while unsynced), when
    /// the till is enrolled.
    pub fn offline_policy(&self) -> Option<tillpass_protocol::sync::OfflinePolicy> {
        self.snapshot().offline_policy
    }

    /// Changes the state.
    pub fn update(&self, f: impl FnOnce(&mut SyncSnapshot)) {
        f(&mut self.inner.lock().unwrap_or_else(|p| p.into_inner()));
    }
}
