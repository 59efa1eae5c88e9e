//! Prometheus metrics, kept and written by `prometheus-client` in the OpenMetrics text
//! format (which Prometheus scrapes as it does its own text format).
//!
//! | family | type | what |
//! |---|---|---|
//! | `tillpass_scans_total{result, code}` | counter | scans, `accepted` (code empty) or `refused` with the refusal code |
//! | `tillpass_identification_seconds` | histogram | time from scan text to identification |
//! | `tillpass_delta_pages_refused_total{kind, code}` | counter | delta pages from central refused, by stream and reason |
//! | `tillpass_outbox_depth` | gauge | journal events waiting for central |
//! | `tillpass_last_sync_age_seconds` | gauge | seconds since the last successful exchange with central; no sample before the first |
//! | `tillpass_clock_skew_alarm` | gauge | 1 while the wall clock is behind a signed time |
//! | `tillpass_customers` | gauge | customers in the till's cache |
//!
//! Counters and the histogram live in [`Metrics`] for the daemon's life (a labelled
//! counter family is written from its first sample on); the gauges are read from the
//! store and the sync state at each scrape ([`Gauges`]) and always written.

use prometheus_client::collector::Collector;
use prometheus_client::encoding::text::encode;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// The `Content-Type` of [`Metrics::render`]'s text.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Upper bounds of the identification latency histogram, in seconds.
const BUCKETS: [f64; 10] = [
    0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0,
];

/// Labels of a scan: `result` (`accepted`, `refused`) and the refusal `code` (empty when
/// accepted).
type ScanLabels = [(&'static str, String); 2];
/// Labels of a refused delta page: the stream (`kind`) and the reason (`code`).
type PageLabels = [(&'static str, String); 2];

/// The agent's metrics.
#[derive(Debug)]
pub struct Metrics {
    scans: Family<ScanLabels, Counter>,
    identification: Histogram,
    delta_pages_refused: Family<PageLabels, Counter>,
}

impl Default for Metrics {
    fn default() -> Metrics {
        Metrics {
            scans: Family::default(),
            identification: Histogram::new(BUCKETS),
            delta_pages_refused: Family::default(),
        }
    }
}

/// Values read at scrape time from elsewhere.
#[derive(Debug, Clone, Copy, Default)]
pub struct Gauges {
    /// Events waiting for central.
    pub outbox_depth: i64,
    /// Seconds since the last successful exchange with central; `None` before the first,
    /// when the family is written without a sample.
    pub last_sync_age_secs: Option<u64>,
    /// Whether the wall clock is behind a signed time.
    pub clock_skew_alarm: bool,
    /// Customers in the cache.
    pub customers: i64,
}

impl Gauges {
    /// The sync age at `now` of an exchange that last succeeded at `last_success_at`
    /// (both unix seconds); zero when the clock stands before it.
    pub fn sync_age(now: u64, last_success_at: Option<u64>) -> Option<u64> {
        last_success_at.map(|at| now.saturating_sub(at))
    }
}

/// The scrape-time gauges, each family always written with its HELP and TYPE.
impl Collector for Gauges {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        let gauge = |encoder: &mut DescriptorEncoder<'_>, name, help, value: Option<i64>| {
            let metric = encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
            match value {
                Some(v) => ConstGauge::new(v).encode(metric),
                None => Ok(()),
            }
        };
        gauge(
            &mut encoder,
            "tillpass_outbox_depth",
            "Journal events waiting for central.",
            Some(self.outbox_depth),
        )?;
        // Before the first successful exchange there is no age to tell: the family is
        // written with its HELP and TYPE and no sample, never a made-up value.
        gauge(
            &mut encoder,
            "tillpass_last_sync_age_seconds",
            "Seconds since the last successful exchange with central; no sample before the first.",
            self.last_sync_age_secs
                .map(|secs| i64::try_from(secs).unwrap_or(i64::MAX)),
        )?;
        gauge(
            &mut encoder,
            "tillpass_clock_skew_alarm",
            "1 while the wall clock is behind a signed time, else 0.",
            Some(i64::from(self.clock_skew_alarm)),
        )?;
        gauge(
            &mut encoder,
            "tillpass_customers",
            "Customers in the till's cache.",
            Some(self.customers),
        )
    }
}

impl Metrics {
    /// Records one scan: `refusal` is `None` when accepted.
    pub fn observe_scan(&self, refusal: Option<&str>, seconds: f64) {
        let labels = match refusal {
            None => [("result", "accepted".to_owned()), ("code", String::new())],
            Some(code) => [("result", "refused".to_owned()), ("code", code.to_owned())],
        };
        self.scans.get_or_create(&labels).inc();
        self.identification.observe(seconds);
    }

    /// Records a delta page of `kind` refused with `code` (not signed, badly signed, stale,
    /// answering another request).
    pub fn observe_delta_refused(&self, kind: &str, code: &str) {
        let labels = [("kind", kind.to_owned()), ("code", code.to_owned())];
        self.delta_pages_refused.get_or_create(&labels).inc();
    }

    /// The exposition text, of type [`CONTENT_TYPE`].
    pub fn render(&self, gauges: Gauges) -> String {
        let mut registry = Registry::default();
        registry.register(
            "tillpass_scans",
            "Scans by result and refusal code",
            self.scans.clone(),
        );
        registry.register(
            "tillpass_identification_seconds",
            "Time from scan text to identification",
            self.identification.clone(),
        );
        registry.register(
            "tillpass_delta_pages_refused",
            "Delta pages from central refused, by kind and reason",
            self.delta_pages_refused.clone(),
        );
        registry.register_collector(Box::new(gauges));
        let mut out = String::new();
        if encode(&mut out, &registry).is_err() {
            // Writing into a String does not fail; were it to, the scrape gets what was
            // written so far rather than a panic.
            tracing::warn!("metrics not fully encoded");
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    /// The families of an exposition text: each sample's family must have been announced
    /// by a `# TYPE` and a `# HELP` line before its first sample, and the text must end
    /// with `# EOF`. Returns the announced families.
    fn check_exposition(text: &str) -> BTreeSet<String> {
        let mut typed = BTreeSet::new();
        let mut helped = BTreeSet::new();
        let mut lines = text.lines().peekable();
        while let Some(line) = lines.next() {
            if line == "# EOF" {
                assert!(lines.peek().is_none(), "text after # EOF:\n{text}");
                return typed;
            }
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                let (name, kind) = rest.split_once(' ').unwrap();
                assert!(["counter", "gauge", "histogram"].contains(&kind), "{line}");
                typed.insert(name.to_owned());
            } else if let Some(rest) = line.strip_prefix("# HELP ") {
                let (name, help) = rest.split_once(' ').unwrap();
                assert!(!help.trim().is_empty(), "{line}");
                helped.insert(name.to_owned());
            } else {
                assert!(!line.starts_with('#'), "unknown comment {line}");
                let name = line.split(['{', ' ']).next().unwrap();
                let family = ["_total", "_bucket", "_sum", "_count"]
                    .iter()
                    .find_map(|s| name.strip_suffix(s).filter(|f| typed.contains(*f)))
                    .unwrap_or(name);
                assert!(typed.contains(family), "{name} without # TYPE:\n{text}");
                assert!(helped.contains(family), "{name} without # HELP:\n{text}");
                let value = line.rsplit(' ').next().unwrap();
                assert!(value.parse::<f64>().unwrap().is_finite(), "{line}");
            }
        }
        panic!("no # EOF:\n{text}");
    }

    #[test]
    fn scans_and_latency_are_counted() {
        let m = Metrics::default();
        m.observe_scan(None, 0.0003);
        m.observe_scan(Some("expired"), 0.003);
        m.observe_delta_refused("balances", "bad_signature");
        let text = m.render(Gauges::default());
        check_exposition(&text);
        assert!(text.contains(
            "tillpass_delta_pages_refused_total{kind=\"balances\",code=\"bad_signature\"} 1\n"
        ));
        assert!(text.contains("tillpass_scans_total{result=\"accepted\",code=\"\"} 1\n"));
        assert!(text.contains("tillpass_scans_total{result=\"refused\",code=\"expired\"} 1\n"));
        assert!(text.contains("tillpass_identification_seconds_bucket{le=\"0.0005\"} 1\n"));
        assert!(text.contains("tillpass_identification_seconds_bucket{le=\"0.005\"} 2\n"));
        assert!(text.contains("tillpass_identification_seconds_bucket{le=\"+Inf\"} 2\n"));
        assert!(text.contains("tillpass_identification_seconds_count 2\n"));
    }

    #[test]
    fn every_family_has_help_and_type() {
        let m = Metrics::default();
        m.observe_scan(Some("expired"), 0.003);
        m.observe_delta_refused("balances", "bad_signature");
        let text = m.render(Gauges::default());
        let families = check_exposition(&text);
        let expected: BTreeSet<String> = [
            "tillpass_scans",
            "tillpass_identification_seconds",
            "tillpass_delta_pages_refused",
            "tillpass_outbox_depth",
            "tillpass_last_sync_age_seconds",
            "tillpass_clock_skew_alarm",
            "tillpass_customers",
        ]
        .into_iter()
        .map(str::to_owned)
        .collect();
        assert_eq!(families, expected, "{text}");
    }

    #[test]
    fn sync_age_is_a_real_age_after_a_sync_and_absent_before() {
        let m = Metrics::default();
        let before = m.render(Gauges {
            last_sync_age_secs: Gauges::sync_age(1_000, None),
            ..Gauges::default()
        });
        check_exposition(&before);
        assert!(before.contains("# TYPE tillpass_last_sync_age_seconds gauge\n"));
        assert!(
            !before.contains("\ntillpass_last_sync_age_seconds "),
            "no sample before any sync:\n{before}"
        );
        assert!(!before.contains("NaN"), "{before}");

        let after = m.render(Gauges {
            last_sync_age_secs: Gauges::sync_age(1_000, Some(958)),
            outbox_depth: 3,
            clock_skew_alarm: true,
            customers: 12,
        });
        check_exposition(&after);
        assert!(
            after.contains("\ntillpass_last_sync_age_seconds 42\n"),
            "{after}"
        );
        assert!(after.contains("\ntillpass_outbox_depth 3\n"), "{after}");
        assert!(after.contains("\ntillpass_clock_skew_alarm 1\n"), "{after}");
        assert!(after.contains("\ntillpass_customers 12\n"), "{after}");
        // A clock that stands before the last sync reports zero, not a wrapped age.
        assert_eq!(Gauges::sync_age(10, Some(20)), Some(0));
    }
}
