//! The gauges that need a query — tills seen in the last hour per store, the WhatsApp
//! channel's backlogs — read once every [`EVERY`] (`serve --metrics-refresh-secs`) into
//! the [`Snapshot`] scrapes write, so any number of scrapers cost the database nothing
//! more. A failed read keeps the previous snapshot (its timestamp tells how old it is).

use std::time::Duration;

use super::{Backlogs, Snapshot};
use crate::error::Result;
use crate::http::AppState;

/// How often the snapshot is read by default.
pub const EVERY: Duration = Duration::from_secs(60);

/// The window of "seen": a till with a request this recent.
pub const SEEN_WINDOW_SECS: i64 = 3_600;

/// Reads the snapshot now.
pub async fn read(state: &AppState) -> Result<Snapshot> {
    let now = state.now();
    let tills_seen = state.db.tills_seen_since(now - SEEN_WINDOW_SECS).await?;
    let whatsapp = match &state.whatsapp {
        Some(_) => {
            let report = crate::whatsapp::store::status(&state.db).await?;
            Some(Backlogs {
                inbox_pending: report.inbox_pending,
                receipts_queued: report.receipts_queued,
                outbox: report.outbox,
            })
        }
        None => None,
    };
    Ok(Snapshot {
        at: Some(now),
        tills_seen,
        whatsapp,
    })
}

/// Refreshes `state`'s snapshot at once, then every `every`, forever.
pub async fn run(state: AppState, every: Duration) {
    let mut ticks = tokio::time::interval(every.max(Duration::from_secs(1)));
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        match read(&state).await {
            Ok(snapshot) => state.metrics.set_snapshot(snapshot),
            Err(e) => tracing::warn!(error = %e, "metrics not refreshed"),
        }
    }
}
