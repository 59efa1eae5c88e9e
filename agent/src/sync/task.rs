//! The sync task: every `[sync] interval_secs` it pulls the trust list, the deltas and the
//! catalog from central — in one request when central offers the round ([`super::round`]),
//! else stream by stream (trust list, every delta stream to its end, catalog; a central
//! that answered `404` to the round is asked again after [`round::RECHECK_AFTER`]); between rounds it keeps the offline policy's verdict current
//! (every [`POLICY_TICK`]), activates scheduled catalogs when their time comes, and purges
//! old synced rows hourly. A failed round is retried with exponential backoff and jitter
//! (a quarter of a second doubling up to `[sync] retry_max_secs`).
//! Everything it needs to resume — cursors, ETags, catalogs, the outbox — is in the store,
//! so a restart picks up where it stopped.

use std::sync::Arc;
use std::time::Duration;

use backon::BackoffBuilder;
use tokio::time::Instant;

use super::deltas::Puller;
use super::round::{self, Exchanged, Fallback};
use super::{CentralClient, SyncError, blocking, catalogs, policy, retention, trust};
use crate::config::SyncSection;
use crate::sync::relay::Relay;
use crate::till::Till;

/// How often the offline policy is re-evaluated.
pub const POLICY_TICK: Duration = Duration::from_secs(5);

/// How often retention runs.
pub const RETENTION_EVERY: Duration = Duration::from_secs(3_600);

/// The task's settings.
#[derive(Debug, Clone)]
pub struct SyncSettings {
    /// Between rounds with central.
    pub interval: Duration,
    /// Days synced scan logs and token uses are kept.
    pub retention_days: u32,
    /// The longest wait between retries.
    pub retry_max: Duration,
}

impl From<&SyncSection> for SyncSettings {
    fn from(s: &SyncSection) -> SyncSettings {
        SyncSettings {
            interval: Duration::from_secs(s.interval_secs),
            retention_days: s.retention_days,
            retry_max: Duration::from_secs(s.retry_max_secs),
        }
    }
}

/// The way to central: the signed client and the outbox relay.
#[derive(Debug, Clone)]
pub struct Remote {
    pub client: Arc<CentralClient>,
    pub relay: Arc<Relay>,
}

/// The sync task.
#[derive(Debug, Clone)]
pub struct Syncer {
    state: Till,
    remote: Option<Remote>,
    settings: SyncSettings,
    /// Set while central lacks the one-request round.
    fallback: Fallback,
}

impl Syncer {
    /// A task over the app's state; without `remote` it only keeps the policy, scheduled
    /// catalogs and retention.
    pub fn new(state: Till, remote: Option<Remote>, settings: SyncSettings) -> Syncer {
        Syncer {
            state,
            remote,
            settings,
            fallback: Fallback::default(),
        }
    }

    /// The delta puller, when the till talks to central.
    pub fn puller(&self) -> Option<Puller> {
        self.remote.as_ref().map(|r| Puller {
            store: self.state.store.clone(),
            client: r.client.clone(),
            relay: r.relay.clone(),
            identifier: Some(self.state.identifier.clone()),
            page_limit: tillpass_protocol::sync::MAX_PAGE_ITEMS,
        })
    }

    /// One round with central: trust list, deltas, catalog. Updates the status.
    /// A central answering `429` or `503` with `Retry-After` is waited for at least that
    /// long ([`super::backoff`]), on either kind of round.
    pub async fn round(&self) -> Result<(), SyncError> {
        let (Some(remote), Some(puller)) = (&self.remote, self.puller()) else {
            return Ok(());
        };
        let state = &self.state;
        let store = state.store.clone();
        let started = state.clock.now();
        state.sync.update(|s| s.last_attempt_at = Some(started));
        let outcome = async {
            let exchanged = self.exchange(remote, &puller).await?;
            if let Some(t) = &exchanged.trust {
                state
                    .sync
                    .update(|s| s.trust_expires_at = Some((t.sequence, t.expires_at)));
            }
            let pulled = exchanged.pulled;
            for page in &pulled.refused {
                state
                    .metrics
                    .observe_delta_refused(page.kind.segment(), page.code);
            }
            let delta_at = state.clock.now();
            state.sync.update(|s| match pulled.refused.last() {
                None => s.last_delta_at = Some(delta_at),
                Some(last) => {
                    s.delta_pages_refused += u64::try_from(pulled.refused.len()).unwrap_or(1);
                    s.delta_refused = Some(format!("{} {}: {}", last.kind, last.code, last.detail));
                }
            });
            if let Some(catalogs::Pulled::Refused(refusal)) = &exchanged.catalog {
                tracing::warn!(
                    reason = refusal.code(),
                    error = %refusal,
                    source = "central",
                    "catalog refused; the previous catalog stays in force"
                );
                state
                    .sync
                    .update(|s| s.catalog_refused = Some(format!("{}: {refusal}", refusal.code())));
            }
            if let Some(page) = pulled.refused.into_iter().next() {
                // The round went on; it still did not bring the till in sync.
                return Err(SyncError::PageRefused {
                    kind: page.kind,
                    code: page.code,
                    detail: page.detail,
                });
            }
            let s = store.clone();
            blocking(move || {
                let conn = s.conn();
                let n = crate::store::journal::rejected_count(&conn)?;
                Ok(u64::try_from(n).unwrap_or(0))
            })
            .await
        }
        .await;
        let now = state.clock.now();
        match outcome {
            Ok(rejected) => {
                state.sync.update_and_publish(&state.bus, |s| {
                    s.online = true;
                    s.last_success_at = Some(now);
                    s.last_error = None;
                    s.rejected_events = rejected;
                });
                policy::refresh_state(state);
                Ok(())
            }
            Err(e) => {
                let reachable = !matches!(e, SyncError::Network(_) | SyncError::Status { .. });
                state.sync.update_and_publish(&state.bus, |s| {
                    s.online = reachable;
                    s.last_error = Some(e.to_string());
                });
                Err(e)
            }
        }
    }

    /// The exchange of a round: one request (repeated while central has more) when central
    /// offers it, else the per-stream requests — trust list, every delta stream, catalog.
    async fn exchange(&self, remote: &Remote, puller: &Puller) -> Result<Exchanged, SyncError> {
        if !self.fallback.active() {
            match round::run(puller, &self.state).await? {
                Some(exchanged) => return Ok(exchanged),
                None => {
                    tracing::info!(
                        "central does not offer the one-request sync round; using the per-stream requests"
                    );
                    self.fallback.start();
                }
            }
        }
        let state = &self.state;
        let store = state.store.clone();
        let trust = trust::pull(&remote.client, &store, Some(&state.identifier)).await?;
        let pulled = puller.pull_all().await?;
        let policy = state.sync.offline_policy();
        let catalog =
            catalogs::pull(&remote.client, &store, &state.catalogs, policy.as_ref()).await?;
        Ok(Exchanged {
            trust,
            pulled,
            catalog: Some(catalog),
            requests: 0,
        })
    }

    /// Between rounds: scheduled catalogs whose time came, then the policy's verdict.
    /// Returns when the next scheduled catalog activates, unix seconds.
    pub async fn housekeeping(&self) -> Option<u64> {
        let state = self.state.clone();
        let now = state.clock.now();
        let s = state.clone();
        let next = blocking(move || {
            let store = &s.store;
            catalogs::activate_due(store, &s.catalogs, now)?;
            Ok(catalogs::next_activation(store)?)
        })
        .await;
        let next = match next {
            Ok(next) => {
                let scheduled = next.and_then(|at| {
                    let store = state.store.clone();
                    crate::store::sync_catalogs::due(&store.conn(), at)
                        .ok()
                        .flatten()
                        .map(|c| (c.sequence, at))
                });
                state.sync.update(|s| s.catalog_scheduled = scheduled);
                next
            }
            Err(e) => {
                tracing::warn!(error = %e, "scheduled catalogs not checked");
                None
            }
        };
        policy::refresh_state(&state);
        next
    }

    /// Purges old synced rows.
    pub async fn retention(&self) {
        let store = self.state.store.clone();
        let now = self.state.clock.now();
        let days = retention::period_days(
            self.settings.retention_days,
            self.state.sync.offline_policy().map(|p| p.retention_days),
        );
        match blocking(move || Ok(retention::purge(&mut store.conn(), now, days)?)).await {
            Ok(p) if p.scans + p.token_uses + p.store_sales > 0 => tracing::info!(
                scans = p.scans,
                token_uses = p.token_uses,
                store_sales = p.store_sales,
                days,
                "retention purged synced rows"
            ),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "retention purge failed"),
        }
    }

    /// Runs until aborted.
    pub async fn run(self) {
        let backoff = || crate::sync::relay::backoff(self.settings.retry_max).build();
        let mut delays = backoff();
        let mut next_round = Instant::now();
        let mut next_retention = Instant::now();
        loop {
            let now = Instant::now();
            if self.remote.is_some() && now >= next_round {
                match self.round().await {
                    Ok(()) => {
                        delays = backoff();
                        next_round = Instant::now() + self.settings.interval;
                    }
                    Err(e) => {
                        let normal = delays.next().unwrap_or(self.settings.retry_max);
                        let retry_in = super::backoff::after(e.retry_after(), normal);
                        tracing::warn!(error = %e, ?retry_in, "sync with central failed");
                        next_round = Instant::now() + retry_in;
                    }
                }
            }
            let activation = self.housekeeping().await.map(|at| {
                let wait = at.saturating_sub(self.state.clock.now());
                Instant::now() + Duration::from_secs(wait)
            });
            if Instant::now() >= next_retention {
                self.retention().await;
                next_retention = Instant::now() + RETENTION_EVERY;
            }
            let mut wake_at = next_retention.min(Instant::now() + POLICY_TICK);
            if let Some(at) = activation {
                wake_at = wake_at.min(at);
            }
            if self.remote.is_some() {
                wake_at = wake_at.min(next_round);
            }
            tokio::select! {
                _ = tokio::time::sleep_until(wake_at) => {}
                _ = self.state.sync.woken() => {}
            }
        }
    }
}
