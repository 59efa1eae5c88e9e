//! Central's Prometheus metrics, served at `GET /metrics` in the OpenMetrics text format
//! (which Prometheus scrapes as it does its own).
//!
//! Kept and written by `prometheus-client`, the crate the agent's `/metrics` already uses:
//! one exposition crate in the build, maintained by the Prometheus project, Apache-2.0,
//! no global registry (each server's metrics are its own, so tests run several servers in
//! one process), and no extra runtime or HTTP server of its own.
//!
//! | family | type | what |
//! |---|---|---|
//! | `tillpass_central_http_requests_total{route, status}` | counter | answers by [route kind](route) and HTTP status |
//! | `tillpass_central_http_request_duration_seconds{route}` | histogram | time to answer, by route kind |
//! | `tillpass_central_sync_rounds_total{answer}` | counter | one-request sync rounds (route `round`) answered `idle` (nothing new) or `changed` |
//! | `tillpass_central_events_ingested_total{outcome}` | counter | journal events by `accepted`, `duplicate`, `rejected` |
//! | `tillpass_central_delta_items_total{kind}` | counter | delta items served, by stream: with scoped feeds (`crate::scope`), a customer's change counts once per store page that carries it, so this over changes is the fan-out |
//! | `tillpass_central_ingest_lag_seconds` | histogram | an accepted event's arrival minus its till-clock time |
//! | `tillpass_central_db_connections{state}` | gauge | database connections `open` and `in_use` (SQLite: its one) |
//! | `tillpass_central_db_connections_max` | gauge | the pool's bound (SQLite: 1) |
//! | `tillpass_central_db_waiting` | gauge | units of work waiting for a connection now |
//! | `tillpass_central_sqlite_lock_wait_seconds` | histogram | SQLite only: how long each call waited for the connection |
//! | `tillpass_central_tills_seen_last_hour{store}` | gauge | unrevoked tills with a request in the last hour, per store ([`refresh`]) |
//! | `tillpass_central_metrics_refreshed_timestamp_seconds` | gauge | when [`refresh`] last succeeded (unix seconds) |
//! | `tillpass_central_whatsapp_inbox_pending` | gauge | channel on: webhook deliveries not yet handled |
//! | `tillpass_central_whatsapp_receipts_queued` | gauge | channel on: receipts waiting for the chat |
//! | `tillpass_central_whatsapp_outbox{state}` | gauge | channel on: outbox messages per state |
//! | `tillpass_central_whatsapp_dead_letters` | gauge | channel on: outbox messages `dead`, `not_sent` or `failed` |
//!
//! Counters and histograms live in [`Metrics`] for the server's life. The connection
//! gauges are read from memory at each scrape. Tills seen and the channel's backlogs are
//! queries: [`refresh`] runs them once a minute (never per scrape) and the scrape writes
//! the last snapshot.
//!
//! **Where.** On the API's listener by default (unauthenticated: central IT keeps
//! `/metrics` off the internet at its proxy or firewall), or only on the address of
//! `serve --metrics-listen`, with `/livez` and `/readyz`, and then not on the API's.

pub mod refresh;
pub mod route;

use std::sync::{Arc, RwLock};
use std::time::Duration;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::text::encode;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use tillpass_protocol::sync::{AckOutcome, BatchAck};

use crate::storage::Database;
use crate::storage::health::Connections;

/// The `Content-Type` of [`Metrics::render`]'s text.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Upper bounds of the request duration histograms, in seconds.
const LATENCY_BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

/// Upper bounds of the ingest lag histogram, in seconds: a till online uploads within
/// seconds; one back from a day offline, a day later.
const LAG_BUCKETS: [f64; 10] = [
    1.0, 5.0, 30.0, 60.0, 300.0, 900.0, 3_600.0, 14_400.0, 86_400.0, 604_800.0,
];

type RequestLabels = [(&'static str, String); 2];
type RouteLabels = [(&'static str, &'static str); 1];
type OutcomeLabels = [(&'static str, &'static str); 1];
type Histograms = Family<RouteLabels, Histogram, fn() -> Histogram>;

/// A server's metrics; clones share them.
#[derive(Debug, Clone)]
pub struct Metrics(Arc<Inner>);

#[derive(Debug)]
struct Inner {
    requests: Family<RequestLabels, Counter>,
    durations: Histograms,
    events: Family<OutcomeLabels, Counter>,
    rounds: Family<OutcomeLabels, Counter>,
    delta_items: Family<OutcomeLabels, Counter>,
    ingest_lag: Histogram,
    snapshot: RwLock<Snapshot>,
}

/// What [`refresh`] last read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Snapshot {
    /// When it was read (unix seconds); `None` before the first success.
    pub at: Option<i64>,
    /// Tills seen in the last hour, per store.
    pub tills_seen: Vec<(String, i64)>,
    /// The WhatsApp channel's backlogs, when it runs.
    pub whatsapp: Option<Backlogs>,
}

/// The WhatsApp channel's backlogs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Backlogs {
    /// Inbox items not yet handled.
    pub inbox_pending: i64,
    /// Receipts queued for the chat.
    pub receipts_queued: i64,
    /// Outbox messages per state.
    pub outbox: Vec<(String, i64)>,
}

impl Backlogs {
    /// Outbox messages that will not be delivered without someone acting.
    pub fn dead_letters(&self) -> i64 {
        self.outbox
            .iter()
            .filter(|(state, _)| matches!(state.as_str(), "dead" | "not_sent" | "failed"))
            .map(|(_, n)| n)
            .sum()
    }
}

impl Default for Metrics {
    fn default() -> Metrics {
        let histogram: fn() -> Histogram = || Histogram::new(LATENCY_BUCKETS);
        Metrics(Arc::new(Inner {
            requests: Family::default(),
            durations: Family::new_with_constructor(histogram),
            events: Family::default(),
            rounds: Family::default(),
            delta_items: Family::default(),
            ingest_lag: Histogram::new(LAG_BUCKETS),
            snapshot: RwLock::new(Snapshot::default()),
        }))
    }
}

impl Metrics {
    /// Counts one sync round, `idle` when its answer held nothing new.
    pub fn observe_round(&self, idle: bool) {
        let answer = if idle { "idle" } else { "changed" };
        self.0.rounds.get_or_create(&[("answer", answer)]).inc();
    }

    /// Records one answer on a route of `kind`.
    pub fn observe_request(&self, kind: &'static str, status: u16, took: Duration) {
        self.0
            .requests
            .get_or_create(&[("route", kind.to_owned()), ("status", status.to_string())])
            .inc();
        self.0
            .durations
            .get_or_create(&[("route", kind)])
            .observe(took.as_secs_f64());
    }

    /// Records a batch's outcome: each event's outcome, and for each accepted one, the lag
    /// from its time (`occurred_at[i]`, the till's clock) to `now`.
    pub fn observe_batch(&self, ack: &BatchAck, occurred_at: &[Option<i64>], now: i64) {
        for (i, event) in ack.acks.iter().enumerate() {
            let outcome = match event.outcome {
                AckOutcome::Accepted => "accepted",
                AckOutcome::Duplicate => "duplicate",
                _ => "rejected",
            };
            self.0.events.get_or_create(&[("outcome", outcome)]).inc();
            if matches!(event.outcome, AckOutcome::Accepted)
                && let Some(Some(at)) = occurred_at.get(i)
            {
                // A till whose clock runs ahead would give a negative lag: none.
                let lag = now.saturating_sub(*at).max(0);
                #[allow(clippy::cast_precision_loss)]
                self.0.ingest_lag.observe(lag as f64);
            }
        }
    }

    /// Records `items` delta items of `kind` served.
    pub fn observe_delta_items(&self, kind: tillpass_protocol::sync::DeltaKind, items: usize) {
        self.0
            .delta_items
            .get_or_create(&[("kind", kind.segment())])
            .inc_by(u64::try_from(items).unwrap_or(u64::MAX));
    }

    /// Replaces the refreshed snapshot.
    pub fn set_snapshot(&self, snapshot: Snapshot) {
        if let Ok(mut guard) = self.0.snapshot.write() {
            *guard = snapshot;
        }
    }

    /// The refreshed snapshot.
    pub fn snapshot(&self) -> Snapshot {
        self.0
            .snapshot
            .read()
            .map(|s| s.clone())
            .unwrap_or_default()
    }

    /// The exposition text, of type [`CONTENT_TYPE`], with `db`'s connections now.
    pub fn render(&self, db: &Database) -> String {
        let inner = &self.0;
        let mut registry = Registry::default();
        registry.register(
            "tillpass_central_http_requests",
            "Answers by route kind and HTTP status",
            inner.requests.clone(),
        );
        registry.register(
            "tillpass_central_http_request_duration_seconds",
            "Time to answer, by route kind",
            inner.durations.clone(),
        );
        registry.register(
            "tillpass_central_events_ingested",
            "Journal events by outcome",
            inner.events.clone(),
        );
        registry.register(
            "tillpass_central_sync_rounds",
            "One-request sync rounds by answer: idle or changed",
            inner.rounds.clone(),
        );
        registry.register(
            "tillpass_central_delta_items",
            "Delta items served, by stream",
            inner.delta_items.clone(),
        );
        registry.register(
            "tillpass_central_ingest_lag_seconds",
            "An accepted event's arrival minus its time by the till's clock",
            inner.ingest_lag.clone(),
        );
        if let Some(waits) = db.queue_waits() {
            registry.register(
                "tillpass_central_sqlite_lock_wait_seconds",
                "How long each SQLite call waited for the connection",
                waits,
            );
        }
        registry.register_collector(Box::new(Gauges {
            connections: db.connections(),
            snapshot: self.snapshot(),
        }));
        let mut out = String::new();
        if encode(&mut out, &registry).is_err() {
            // Writing into a String does not fail; were it to, the scrape gets what was
            // written so far rather than a panic.
            tracing::warn!("metrics not fully encoded");
        }
        out
    }
}

/// The gauges written at each scrape.
#[derive(Debug)]
struct Gauges {
    connections: Connections,
    snapshot: Snapshot,
}

impl Collector for Gauges {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        let c = &self.connections;
        gauge(
            &mut encoder,
            "tillpass_central_db_connections",
            "Database connections open and in use",
            &[("open", c.open), ("in_use", c.in_use)],
            "state",
        )?;
        single(
            &mut encoder,
            "tillpass_central_db_connections_max",
            "The most database connections this node holds",
            Some(c.max),
        )?;
        single(
            &mut encoder,
            "tillpass_central_db_waiting",
            "Units of work waiting for a database connection",
            Some(c.waiting),
        )?;
        let s = &self.snapshot;
        let seen: Vec<(&str, i64)> = s.tills_seen.iter().map(|(k, v)| (k.as_str(), *v)).collect();
        gauge(
            &mut encoder,
            "tillpass_central_tills_seen_last_hour",
            "Unrevoked tills with a request in the last hour, per store (refreshed each minute)",
            &seen,
            "store",
        )?;
        single(
            &mut encoder,
            "tillpass_central_metrics_refreshed_timestamp_seconds",
            "When the refreshed gauges were last read, unix seconds",
            s.at,
        )?;
        if let Some(w) = &s.whatsapp {
            single(
                &mut encoder,
                "tillpass_central_whatsapp_inbox_pending",
                "WhatsApp webhook deliveries not yet handled",
                Some(w.inbox_pending),
            )?;
            single(
                &mut encoder,
                "tillpass_central_whatsapp_receipts_queued",
                "Receipts waiting for the WhatsApp chat",
                Some(w.receipts_queued),
            )?;
            let outbox: Vec<(&str, i64)> = w.outbox.iter().map(|(k, v)| (k.as_str(), *v)).collect();
            gauge(
                &mut encoder,
                "tillpass_central_whatsapp_outbox",
                "WhatsApp outbox messages per state",
                &outbox,
                "state",
            )?;
            single(
                &mut encoder,
                "tillpass_central_whatsapp_dead_letters",
                "WhatsApp outbox messages dead, not sent or failed",
                Some(w.dead_letters()),
            )?;
        }
        Ok(())
    }
}

/// A gauge family with one label, a sample per `(label value, value)`.
fn gauge(
    encoder: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    samples: &[(&str, i64)],
    label: &str,
) -> Result<(), std::fmt::Error> {
    let mut family = encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
    for (value, sample) in samples {
        let labels = [(label, *value)];
        ConstGauge::new(*sample).encode(family.encode_family(&labels)?)?;
    }
    Ok(())
}

/// A gauge without labels; written without a sample when `None`.
fn single(
    encoder: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    value: Option<i64>,
) -> Result<(), std::fmt::Error> {
    let metric = encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
    match value {
        Some(v) => ConstGauge::new(v).encode(metric),
        None => Ok(()),
    }
}
