//! Prometheus metrics, written in the text exposition format by hand: a few counters and
//! one histogram do not need a metrics framework.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;

/// Upper bounds of the identification latency histogram, in seconds.
const BUCKETS: [f64; 10] = [
    0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0,
];

#[derive(Debug, Default)]
struct Inner {
    scans: BTreeMap<(String, String), u64>,
    buckets: [u64; BUCKETS.len()],
    latency_count: u64,
    latency_sum: f64,
    delta_pages_refused: BTreeMap<(String, String), u64>,
}

/// The agent's metrics.
#[derive(Debug, Default)]
pub struct Metrics {
    inner: Mutex<Inner>,
}

/// Values read at scrape time from elsewhere.
#[derive(Debug, Clone, Copy, Default)]
pub struct Gauges {
    /// Events waiting for central.
    pub outbox_depth: i64,
    /// Seconds since the last successful sync, if there was one.
    pub last_sync_age_secs: Option<u64>,
    /// Whether the wall clock is behind a signed time.
    pub clock_skew_alarm: bool,
    /// Customers in the cache.
    pub customers: i64,
}

impl Metrics {
    /// Records one scan: `refusal` is `None` when accepted.
    pub fn observe_scan(&self, refusal: Option<&str>, seconds: f64) {
        let mut m = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let key = match refusal {
            None => ("accepted".to_owned(), String::new()),
            Some(code) => ("refused".to_owned(), code.to_owned()),
        };
        *m.scans.entry(key).or_default() += 1;
        for (i, bound) in BUCKETS.iter().enumerate() {
            if seconds <= *bound
                && let Some(b) = m.buckets.get_mut(i)
            {
                *b += 1;
            }
        }
        m.latency_count += 1;
        m.latency_sum += seconds;
    }

    /// Records a delta page of `kind` refused with `code` (not signed, badly signed, stale,
    /// answering another request).
    pub fn observe_delta_refused(&self, kind: &str, code: &str) {
        let mut m = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        *m.delta_pages_refused
            .entry((kind.to_owned(), code.to_owned()))
            .or_default() += 1;
    }

    /// The exposition text.
    pub fn render(&self, gauges: Gauges) -> String {
        let m = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let mut out = String::new();
        let _ = writeln!(
            out,
            "# HELP tillpass_scans_total Scans by result and refusal code."
        );
        let _ = writeln!(out, "# TYPE tillpass_scans_total counter");
        for ((result, code), n) in &m.scans {
            let _ = writeln!(
                out,
                "tillpass_scans_total{{result=\"{result}\",code=\"{code}\"}} {n}"
            );
        }
        let _ = writeln!(
            out,
            "# HELP tillpass_identification_seconds Time from scan text to identification."
        );
        let _ = writeln!(out, "# TYPE tillpass_identification_seconds histogram");
        for (bound, n) in BUCKETS.iter().zip(m.buckets.iter()) {
            let _ = writeln!(
                out,
                "tillpass_identification_seconds_bucket{{le=\"{bound}\"}} {n}"
            );
        }
        let _ = writeln!(
            out,
            "tillpass_identification_seconds_bucket{{le=\"+Inf\"}} {}",
            m.latency_count
        );
        let _ = writeln!(out, "tillpass_identification_seconds_sum {}", m.latency_sum);
        let _ = writeln!(
            out,
            "tillpass_identification_seconds_count {}",
            m.latency_count
        );
        let _ = writeln!(
            out,
            "# HELP tillpass_outbox_depth Journal events waiting for central."
        );
        let _ = writeln!(out, "# TYPE tillpass_outbox_depth gauge");
        let _ = writeln!(out, "tillpass_outbox_depth {}", gauges.outbox_depth);
        let _ = writeln!(
            out,
            "# HELP tillpass_last_sync_age_seconds Seconds since the last successful sync."
        );
        let _ = writeln!(out, "# TYPE tillpass_last_sync_age_seconds gauge");
        match gauges.last_sync_age_secs {
            Some(age) => {
                let _ = writeln!(out, "tillpass_last_sync_age_seconds {age}");
            }
            None => {
                let _ = writeln!(out, "tillpass_last_sync_age_seconds NaN");
            }
        }
        let _ = writeln!(out, "# TYPE tillpass_clock_skew_alarm gauge");
        let _ = writeln!(
            out,
            "tillpass_clock_skew_alarm {}",
            u8::from(gauges.clock_skew_alarm)
        );
        let _ = writeln!(
            out,
            "# HELP tillpass_delta_pages_refused_total Delta pages from central refused, by kind and reason."
        );
        let _ = writeln!(out, "# TYPE tillpass_delta_pages_refused_total counter");
        for ((kind, code), n) in &m.delta_pages_refused {
            let _ = writeln!(
                out,
                "tillpass_delta_pages_refused_total{{kind=\"{kind}\",code=\"{code}\"}} {n}"
            );
        }
        let _ = writeln!(out, "# TYPE tillpass_customers gauge");
        let _ = writeln!(out, "tillpass_customers {}", gauges.customers);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scans_and_latency_are_counted() {
        let m = Metrics::default();
        m.observe_scan(None, 0.0003);
        m.observe_scan(Some("expired"), 0.003);
        m.observe_delta_refused("balances", "bad_signature");
        let text = m.render(Gauges::default());
        assert!(text.contains(
            "tillpass_delta_pages_refused_total{kind=\"balances\",code=\"bad_signature\"} 1"
        ));
        assert!(text.contains("tillpass_scans_total{result=\"accepted\",code=\"\"} 1"));
        assert!(text.contains("tillpass_scans_total{result=\"refused\",code=\"expired\"} 1"));
        assert!(text.contains("tillpass_identification_seconds_bucket{le=\"0.0005\"} 1"));
        assert!(text.contains("tillpass_identification_seconds_bucket{le=\"0.005\"} 2"));
        assert!(text.contains("tillpass_identification_seconds_count 2"));
    }
}
