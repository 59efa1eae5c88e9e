//! What a run measured: latencies per request kind, errors, accepted events.

use std::collections::BTreeMap;
use std::collections::btree_map::Entry;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde::Serialize;

/// The slowest latency a histogram tells apart: an hour, in microseconds.
const MAX_MICROS: u64 = 3_600_000_000;

/// The kinds of request measured, as the report names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// `POST /v1/enrol` (setup).
    Enrol,
    /// A whole sync round: trust list, every delta stream to its end, catalog.
    SyncRound,
    /// One request of a round.
    SyncRequest,
    /// `POST /v1/journal` with one sale (or one return).
    Upload,
    /// `POST /v1/customers/{ref}/pass`.
    Pass,
}

impl Kind {
    /// The report's name.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Enrol => "enrol",
            Kind::SyncRound => "sync_round",
            Kind::SyncRequest => "sync_request",
            Kind::Upload => "upload",
            Kind::Pass => "pass",
        }
    }
}

/// Why a request counted as an error.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Failure {
    /// Central answered this status.
    Status(u16),
    /// The connection failed or timed out.
    Network,
    /// The answer could not be used (a page that did not open, a missing ack).
    Answer,
}

struct Inner {
    /// When the figures began (the end of the warm-up).
    since: Instant,
    latencies: BTreeMap<Kind, Histogram<u64>>,
    /// Per whole second since `since` and kind: requests ended, and the slowest.
    timeline: BTreeMap<(u64, Kind), Second>,
    failures: BTreeMap<(Kind, Failure), u64>,
    bytes_in: BTreeMap<Kind, u64>,
    events_accepted: u64,
    events_duplicate: u64,
    events_rejected: u64,
    events_redelivered: u64,
}

impl Default for Inner {
    fn default() -> Self {
        Inner {
            since: Instant::now(),
            latencies: BTreeMap::new(),
            timeline: BTreeMap::new(),
            failures: BTreeMap::new(),
            bytes_in: BTreeMap::new(),
            events_accepted: 0,
            events_duplicate: 0,
            events_rejected: 0,
            events_redelivered: 0,
        }
    }
}

/// One second of one kind in the timeline.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Second {
    /// Requests that ended in it.
    pub count: u64,
    /// The slowest of them, in microseconds.
    pub max_micros: u64,
}

/// Shared by every simulated till.
#[derive(Default)]
pub struct Stats {
    inner: Mutex<Inner>,
}

/// One request kind's figures.
#[derive(Debug, Clone, Serialize)]
pub struct KindReport {
    /// The kind.
    pub kind: &'static str,
    /// Requests that succeeded.
    pub ok: u64,
    /// Requests that failed, by reason.
    pub errors: BTreeMap<String, u64>,
    /// Median latency, milliseconds.
    pub p50_ms: f64,
    /// 99th percentile, milliseconds.
    pub p99_ms: f64,
    /// Slowest, milliseconds.
    pub max_ms: f64,
    /// Mean bytes received per successful request.
    pub mean_bytes_in: u64,
}

impl Stats {
    /// Records a success and its latency and answer size.
    pub fn ok(&self, kind: Kind, took: Duration, bytes_in: usize) {
        let mut inner = self.lock();
        let micros = u64::try_from(took.as_micros()).unwrap_or(u64::MAX).max(1);
        let histogram = match inner.latencies.entry(kind) {
            Entry::Occupied(o) => o.into_mut(),
            Entry::Vacant(v) => match Histogram::new_with_bounds(1, MAX_MICROS, 3) {
                Ok(h) => v.insert(h),
                // Constant bounds that are valid: never taken.
                Err(_) => return,
            },
        };
        histogram.saturating_record(micros);
        *inner.bytes_in.entry(kind).or_default() += bytes_in as u64;
        let second = inner.since.elapsed().as_secs();
        let slot = inner.timeline.entry((second, kind)).or_default();
        slot.count += 1;
        slot.max_micros = slot.max_micros.max(micros);
    }

    /// Per second since the figures began (the warm-up left out) and kind: the requests
    /// that ended in it and the slowest, in order. Shows when a tail happened: a stall
    /// of the whole machine, or requests queued behind one slow part.
    pub fn timeline(&self) -> Vec<(u64, Kind, Second)> {
        self.lock()
            .timeline
            .iter()
            .map(|(&(second, kind), &s)| (second, kind, s))
            .collect()
    }

    /// Forgets everything recorded so far: the warm-up is left out of the figures.
    pub fn reset(&self) {
        *self.lock() = Inner::default();
    }

    /// Records a failure.
    pub fn failed(&self, kind: Kind, failure: Failure) {
        *self.lock().failures.entry((kind, failure)).or_default() += 1;
    }

    /// Records central's acknowledgements of an upload; the duplicates of a `retried` one
    /// are redeliveries (its first attempt landed and its answer was lost), not doubles.
    pub fn acks(&self, accepted: u64, duplicate: u64, rejected: u64, retried: bool) {
        let mut inner = self.lock();
        inner.events_accepted += accepted;
        if retried {
            inner.events_redelivered += duplicate;
        } else {
            inner.events_duplicate += duplicate;
        }
        inner.events_rejected += rejected;
    }

    /// Events a retried upload found already applied.
    pub fn redelivered(&self) -> u64 {
        self.lock().events_redelivered
    }

    /// Accepted, duplicate and rejected events so far.
    pub fn events(&self) -> (u64, u64, u64) {
        let inner = self.lock();
        (
            inner.events_accepted,
            inner.events_duplicate,
            inner.events_rejected,
        )
    }

    /// Every kind's figures, in the order of [`Kind`].
    pub fn report(&self) -> Vec<KindReport> {
        let inner = self.lock();
        let mut kinds: Vec<Kind> = inner.latencies.keys().copied().collect();
        kinds.extend(inner.failures.keys().map(|(k, _)| *k));
        kinds.sort();
        kinds.dedup();
        kinds
            .into_iter()
            .map(|kind| {
                let ms = |q: f64| {
                    inner
                        .latencies
                        .get(&kind)
                        .map_or(0.0, |h| h.value_at_quantile(q) as f64 / 1000.0)
                };
                let ok = inner.latencies.get(&kind).map_or(0, Histogram::len);
                let errors = inner
                    .failures
                    .iter()
                    .filter(|((k, _), _)| *k == kind)
                    .map(|((_, f), n)| (failure_name(f), *n))
                    .collect();
                let bytes = inner.bytes_in.get(&kind).copied().unwrap_or(0);
                KindReport {
                    kind: kind.name(),
                    ok,
                    errors,
                    p50_ms: ms(0.5),
                    p99_ms: ms(0.99),
                    max_ms: ms(1.0),
                    mean_bytes_in: bytes.checked_div(ok).unwrap_or(0),
                }
            })
            .collect()
    }

    /// Every failure, all kinds together.
    pub fn error_count(&self) -> u64 {
        self.lock().failures.values().sum()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while recording leaves counters, never a broken invariant: keep going.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn failure_name(failure: &Failure) -> String {
    match failure {
        Failure::Status(code) => format!("http_{code}"),
        Failure::Network => "network".into(),
        Failure::Answer => "bad_answer".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_and_errors_are_per_kind() {
        let stats = Stats::default();
        for ms in 1..=100 {
            stats.ok(Kind::Upload, Duration::from_millis(ms), 10);
        }
        stats.ok(Kind::Pass, Duration::from_millis(7), 2000);
        stats.failed(Kind::Upload, Failure::Status(503));
        stats.failed(Kind::Upload, Failure::Status(503));
        stats.failed(Kind::SyncRound, Failure::Network);
        let report = stats.report();
        let upload = report.iter().find(|r| r.kind == "upload").unwrap();
        assert_eq!(upload.ok, 100);
        assert!((upload.p50_ms - 50.0).abs() < 0.5, "{}", upload.p50_ms);
        assert!((upload.p99_ms - 99.0).abs() < 0.5, "{}", upload.p99_ms);
        assert_eq!(upload.errors.get("http_503"), Some(&2));
        assert_eq!(upload.mean_bytes_in, 10);
        let round = report.iter().find(|r| r.kind == "sync_round").unwrap();
        assert_eq!((round.ok, round.errors.get("network")), (0, Some(&1)));
        assert_eq!(stats.error_count(), 3);
    }
}
