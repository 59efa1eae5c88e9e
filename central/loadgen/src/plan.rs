//! What a run simulates.

use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use tillpass_protocol::sync::MAX_BATCH_EVENTS;

/// The highest rate of sales or passes a run offers, per second.
pub const MAX_RATE: f64 = 100_000.0;

fn every(rate: f64) -> Option<Duration> {
    (rate > 0.0)
        .then(|| Duration::try_from_secs_f64(1.0 / rate).ok())
        .flatten()
}

/// A load run against one central deployment.
#[derive(Debug, Clone, Parser)]
#[command(name = "tillpass-loadgen", version, about)]
pub struct Plan {
    /// Central's base URL (a node, or the balancer in front of several).
    #[arg(long, default_value = "http://127.0.0.1:7200")]
    pub central: String,
    /// A file holding the admin bearer token (enrolment codes, customers, passes).
    #[arg(long)]
    pub admin_token_file: PathBuf,
    /// How many tills to simulate.
    #[arg(long, default_value_t = 100)]
    pub tills: usize,
    /// Tills per store (stores are named `LG0001`, `LG0002`, …).
    #[arg(long, default_value_t = 5)]
    pub tills_per_store: usize,
    /// Customers created for the run; sales pick one at random, or none.
    #[arg(long, default_value_t = 1000)]
    pub customers: usize,
    /// Seconds between a till's sync rounds (each round is jittered by ±20 %).
    #[arg(long, default_value_t = 30)]
    pub sync_interval_secs: u64,
    /// Sales uploaded per second, over all tills.
    #[arg(long, default_value_t = 5.0)]
    pub sales_per_sec: f64,
    /// The share of sales later returned in part (0 to 1).
    #[arg(long, default_value_t = 0.05)]
    pub return_ratio: f64,
    /// Pass requests per second (the chat asking central for a customer's QR).
    #[arg(long, default_value_t = 1.0)]
    pub passes_per_sec: f64,
    /// How long to run, after enrolment, in seconds (the warm-up included).
    #[arg(long, default_value_t = 60)]
    pub duration_secs: u64,
    /// Seconds at the start of the run left out of the figures: the tills' first rounds
    /// and the connections being opened. At least one sync interval for a steady state.
    #[arg(long, default_value_t = 0)]
    pub warmup_secs: u64,
    /// The share of a customer's sales made at one of the stores the customer belongs to
    /// (customers are spread over the stores), the rest at any store of the chain.
    #[arg(long, default_value_t = 0.9)]
    pub local_customers: f64,
    /// Every till pulls the delta streams from their start (every customer created for
    /// the run) instead of starting where a till already in step stands.
    #[arg(long)]
    pub cold_start: bool,
    /// The ingest ceiling instead of the chain's schedule: every till uploads batches of
    /// --batch-events back to back (closed loop), with no sync rounds and no passes.
    #[arg(long)]
    pub ceiling: bool,
    /// Events per batch in --ceiling mode.
    #[arg(long, default_value_t = 100)]
    pub batch_events: usize,
    /// How many requests may be in flight at once (the HTTP client's connections).
    #[arg(long, default_value_t = 256)]
    pub concurrency: usize,
    /// Keeps the enrolled tills (keys, ids) in this file and reuses them on the next run
    /// against the same central, so a large run enrols once.
    #[arg(long)]
    pub state: Option<PathBuf>,
    /// Central's database, to measure its growth: a SQLite file's path or a PostgreSQL URL.
    #[arg(long)]
    pub database: Option<String>,
    /// Syncs as agents before the one-request round did: trust list, every delta stream,
    /// catalog, one request each (to compare the two).
    #[arg(long)]
    pub legacy_sync: bool,
    /// Writes a timeline to this file (CSV: second, kind, requests, slowest ms), one row
    /// per second of the measured run and request kind.
    #[arg(long)]
    pub timeline: Option<PathBuf>,
    /// Prints the report as JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

impl Plan {
    /// The sync interval.
    pub fn sync_interval(&self) -> Duration {
        Duration::from_secs(self.sync_interval_secs.max(1))
    }

    /// The run's length.
    pub fn duration(&self) -> Duration {
        Duration::from_secs(self.duration_secs.max(1))
    }

    /// The time between two sales, none when no sales are asked for.
    pub fn sale_every(&self) -> Option<Duration> {
        every(self.sales_per_sec)
    }

    /// The time between two pass requests, none when none are asked for.
    pub fn pass_every(&self) -> Option<Duration> {
        every(self.passes_per_sec)
    }

    /// The warm-up, never longer than the run.
    pub fn warmup(&self) -> Duration {
        Duration::from_secs(self.warmup_secs).min(self.duration())
    }

    /// How many stores the run's tills make.
    pub fn stores(&self) -> usize {
        self.tills.div_ceil(self.tills_per_store.max(1)).max(1)
    }

    /// The store of the `index`-th till.
    pub fn store_of(&self, index: usize) -> String {
        format!("LG{:04}", index / self.tills_per_store.max(1) + 1)
    }

    /// Why the plan cannot run, if it cannot.
    pub fn problem(&self) -> Option<String> {
        if self.tills == 0 {
            return Some("--tills must be at least 1".into());
        }
        if self.customers == 0 {
            return Some("--customers must be at least 1".into());
        }
        if !(0.0..=1.0).contains(&self.return_ratio) {
            return Some("--return-ratio must be between 0 and 1".into());
        }
        for (name, rate) in [
            ("--sales-per-sec", self.sales_per_sec),
            ("--passes-per-sec", self.passes_per_sec),
        ] {
            if !(0.0..=MAX_RATE).contains(&rate) {
                return Some(format!("{name} must be between 0 and {MAX_RATE}"));
            }
        }
        if !(0.0..=1.0).contains(&self.local_customers) {
            return Some("--local-customers must be between 0 and 1".into());
        }
        if self.warmup_secs >= self.duration_secs.max(1) {
            return Some("--warmup-secs must be shorter than --duration-secs".into());
        }
        if !(1..=MAX_BATCH_EVENTS).contains(&self.batch_events) {
            return Some(format!(
                "--batch-events must be between 1 and {MAX_BATCH_EVENTS}"
            ));
        }
        if self.concurrency == 0 {
            return Some("--concurrency must be at least 1".into());
        }
        None
    }
}
