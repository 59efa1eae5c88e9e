//! systemd's watchdog, fed only while the till can work: every period the store's own
//! connection must answer `SELECT 1` within a deadline. A wedged store (a query or a write
//! that never ends, a disk that stopped answering) holds that connection, so the pings
//! stop and systemd restarts the daemon (`WatchdogSec=` in the unit).
//!
//! At most one probe is in flight: a probe still waiting on the connection counts as a
//! failure at every tick, and no second one is started behind it.

use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::store::Store;

/// How long the store may take to answer a probe.
pub const PROBE_DEADLINE: Duration = Duration::from_secs(5);

/// How the watchdog is fed.
#[derive(Debug, Clone, Copy)]
pub struct WatchdogSettings {
    /// Time between probes (and pings): half systemd's `WatchdogSec=`.
    pub period: Duration,
    /// How long a probe may take.
    pub deadline: Duration,
}

impl WatchdogSettings {
    /// From systemd's environment (`WATCHDOG_USEC`, `WATCHDOG_PID`), when it asks for
    /// pings.
    pub fn from_env() -> Option<WatchdogSettings> {
        let timeout = sd_notify::watchdog_enabled()?;
        let period = (timeout / 2).max(Duration::from_millis(100));
        Some(WatchdogSettings {
            period,
            deadline: PROBE_DEADLINE.min(period),
        })
    }
}

/// Whether the store's connection answers `SELECT 1`. Blocking.
pub fn probe(store: &Store) -> Result<(), String> {
    store
        .conn()
        .query_row("SELECT 1", [], |row| row.get::<_, i64>(0))
        .map(drop)
        .map_err(|e| e.to_string())
}

/// Tells systemd the daemon is alive.
pub fn notify_systemd() {
    let _ = sd_notify::notify(&[sd_notify::NotifyState::Watchdog]);
}

/// Probes the store every period and calls `ping` when it answered in time, until `stop`.
pub async fn feed(
    store: Arc<Store>,
    settings: WatchdogSettings,
    ping: impl Fn() + Send,
    stop: CancellationToken,
) {
    let mut tick = tokio::time::interval(settings.period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut in_flight: Option<JoinHandle<Result<(), String>>> = None;
    let mut healthy = true;
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            _ = tick.tick() => {}
        }
        let mut probe_task = match in_flight.take() {
            Some(stuck) => stuck,
            None => {
                let store = store.clone();
                tokio::task::spawn_blocking(move || probe(&store))
            }
        };
        let outcome = tokio::select! {
            () = stop.cancelled() => return,
            r = tokio::time::timeout(settings.deadline, &mut probe_task) => r,
        };
        let answer = match outcome {
            Ok(Ok(answer)) => answer,
            Ok(Err(e)) => Err(format!("probe task failed: {e}")),
            Err(_) => {
                in_flight = Some(probe_task);
                Err(format!(
                    "the store did not answer within {} ms",
                    settings.deadline.as_millis()
                ))
            }
        };
        match answer {
            Ok(()) => {
                if !healthy {
                    tracing::info!("the store answers again: feeding the watchdog");
                }
                healthy = true;
                ping();
            }
            Err(why) => {
                if healthy {
                    tracing::error!(cause = %why, "the store does not answer: the watchdog is not fed");
                }
                healthy = false;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::time::Instant;

    async fn until(what: &str, mut f: impl FnMut() -> bool) {
        let end = Instant::now() + Duration::from_secs(10);
        while !f() {
            assert!(Instant::now() < end, "timed out waiting for {what}");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_wedged_store_stops_the_pings_and_a_free_one_resumes_them() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(Store::open(dir.path()).unwrap());
        let pings = Arc::new(AtomicU32::new(0));
        let counted = pings.clone();
        let stop = CancellationToken::new();
        let settings = WatchdogSettings {
            period: Duration::from_millis(20),
            deadline: Duration::from_millis(50),
        };
        let fed = tokio::spawn(feed(
            store.clone(),
            settings,
            move || {
                counted.fetch_add(1, Ordering::SeqCst);
            },
            stop.clone(),
        ));
        until("pings from a healthy store", || {
            pings.load(Ordering::SeqCst) >= 3
        })
        .await;

        // Wedge the store: its one connection is held by work that does not end.
        let (wedged_tx, wedged_rx) = std::sync::mpsc::channel::<()>();
        let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
        let holder = store.clone();
        let wedge = std::thread::spawn(move || {
            let _conn = holder.conn();
            wedged_tx.send(()).unwrap();
            release_rx.recv().unwrap();
        });
        wedged_rx.recv().unwrap();
        // A probe begun before the wedge may still ping once; after that, none: the pings
        // must stay still for ten probe deadlines.
        let end = Instant::now() + Duration::from_secs(10);
        let before = loop {
            let before = pings.load(Ordering::SeqCst);
            let window = Instant::now();
            while window.elapsed() < settings.deadline * 10 {
                tokio::time::sleep(settings.period).await;
            }
            if pings.load(Ordering::SeqCst) == before {
                break before;
            }
            assert!(
                Instant::now() < end,
                "the pings go on while the store is wedged"
            );
        };
        release_tx.send(()).unwrap();
        wedge.join().unwrap();
        until("pings again", || pings.load(Ordering::SeqCst) > before).await;
        stop.cancel();
        tokio::time::timeout(Duration::from_secs(10), fed)
            .await
            .unwrap()
            .unwrap();
    }
}
