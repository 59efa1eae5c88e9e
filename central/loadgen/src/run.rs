//! The schedule of a run and its report.
//!
//! Enrolment (in parallel, up to `--concurrency` at once) and customers first, reusing the
//! `--state` file's tills; unless `--cold-start`, one till then syncs to the end of every
//! stream and the others start where it stands, as a chain's tills in step with central
//! do. Then for `--duration-secs`: every till's sync round every interval ±20 % (the first
//! at a random point of the first interval, so rounds spread as a chain's do), sales at
//! their rate (open loop: a slow central does not slow the offered load; a share of them
//! returns of an earlier sale of the same till; a failed upload is sent again with backoff,
//! as a till's relay does, until a grace period after the run), pass requests at theirs.
//! With `--ceiling`, every till instead uploads batches back to back. The first
//! `--warmup-secs` are left out of the figures. Then the audit ([`crate::audit`]: every
//! event sent is in central's database exactly once) and the report.

use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow};
use rand::RngExt;
use serde::Serialize;
use tillpass_protocol::sync::{CustomerRef, JournalEvent};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::admin::Admin;
use crate::audit::{self, Audit};
use crate::cpu;
use crate::growth::{self, Database};
use crate::plan::Plan;
use crate::sales;
use crate::stats::{Failure, Kind, KindReport, Stats};

/// How long after the run a failed upload is still sent again.
pub const RETRY_GRACE: Duration = Duration::from_secs(30);

/// How long one request may take before it counts as a network failure.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
use crate::till::{Enrolled, SimTill};

/// What a run measured.
#[derive(Debug, Serialize)]
pub struct Report {
    /// Simulated tills.
    pub tills: usize,
    /// `load` (the chain's schedule) or `ceiling` (batches back to back).
    pub mode: &'static str,
    /// Seconds enrolling the tills this run enrolled.
    pub enrol_seconds: f64,
    /// Seconds of warm-up left out of the figures.
    pub warmup_seconds: f64,
    /// Seconds of load measured (after the warm-up).
    pub seconds: f64,
    /// Every request kind's figures.
    pub kinds: Vec<KindReport>,
    /// Every failed request.
    pub errors: u64,
    /// Events central accepted.
    pub events_accepted: u64,
    /// Events central had already applied (should stay 0: each is sent once).
    pub events_duplicate: u64,
    /// Events central refused.
    pub events_rejected: u64,
    /// Events a retried upload found already applied (the first attempt's answer was lost).
    pub events_redelivered: u64,
    /// The run's events counted in central's database, if `--database` was given.
    pub audit: Option<Audit>,
    /// The generator's and the machine's CPU while measured.
    pub cpu: cpu::Usage,
    /// Accepted events per second.
    pub events_per_sec: f64,
    /// Sync rounds per second, over all tills.
    pub rounds_per_sec: f64,
    /// The database's growth during the run, bytes, if `--database` was given.
    pub db_growth_bytes: Option<i64>,
    /// That growth scaled to a simulated day.
    pub db_growth_per_day_bytes: Option<i64>,
}

/// Runs `plan` against its central.
pub async fn run(plan: &Plan) -> anyhow::Result<Report> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(plan.concurrency)
        .timeout(REQUEST_TIMEOUT)
        .build()
        .context("HTTP client")?;
    let central = plan.central.trim_end_matches('/').to_owned();
    let token = std::fs::read_to_string(&plan.admin_token_file)
        .with_context(|| format!("reading {}", plan.admin_token_file.display()))?;
    let admin = Admin::new(http.clone(), &central, &token);
    let stats = Arc::new(Stats::default());
    let gate = Arc::new(Semaphore::new(plan.concurrency));

    let customers: Vec<CustomerRef> = (1..=plan.customers)
        .map(|n| CustomerRef::new(format!("LGC{n:07}")).map_err(|e| anyhow!("{e}")))
        .collect::<Result<_, _>>()?;
    setup_customers(&admin, &customers, &gate).await?;
    let enrolling = Instant::now();
    let tills = setup_tills(plan, &http, &central, &admin, &stats, &gate).await?;
    let enrol_seconds = enrolling.elapsed().as_secs_f64();
    if !plan.cold_start
        && !plan.ceiling
        && let Some((pioneer, others)) = tills.split_first()
    {
        pioneer
            .sync_round(&http, &central, &stats, plan.legacy_sync)
            .await
            .map_err(|f| anyhow!("the first till's first sync round: {f:?}"))?;
        for till in others {
            till.follow(pioneer).await;
        }
    }
    let _ = writeln!(
        std::io::stderr(),
        "{} tills enrolled, {} customers; in step; running for {} s",
        tills.len(),
        customers.len(),
        plan.duration_secs
    );

    let database = plan.database.as_deref().map(Database::parse);
    let deadline = tokio::time::Instant::now() + plan.duration();
    let measured_from = tokio::time::Instant::now() + plan.warmup();
    let mut tasks = JoinSet::new();
    if plan.ceiling {
        spawn_ceiling(
            plan, &tills, &customers, &http, &central, &stats, deadline, &mut tasks,
        );
    } else {
        spawn_chain(
            plan, &tills, &customers, &admin, &http, &central, &stats, &gate, deadline, &mut tasks,
        );
    }
    if plan.warmup_secs > 0 {
        tokio::time::sleep_until(measured_from).await;
        stats.reset();
    }
    let size_before = match &database {
        Some(db) => Some(db.size().await?),
        None => None,
    };
    let cpu_before = cpu::Sample::now();
    let started = Instant::now();
    tokio::time::sleep_until(deadline).await;
    let elapsed = started.elapsed();
    let cpu = cpu::Usage::between(cpu_before, cpu::Sample::now());
    let size_after = match &database {
        Some(db) => Some(db.size().await?),
        None => None,
    };
    // Uploads still being retried get RETRY_GRACE; requests in flight, their timeout.
    let drained = tokio::time::timeout(RETRY_GRACE + REQUEST_TIMEOUT, async {
        while tasks.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        let _ = writeln!(
            std::io::stderr(),
            "work still running {} s after the run was stopped",
            (RETRY_GRACE + REQUEST_TIMEOUT).as_secs()
        );
        tasks.abort_all();
    }
    let seconds = elapsed.as_secs_f64();

    if let Some(path) = &plan.state {
        let enrolled: Vec<Enrolled> = tills.iter().map(|t| t.enrolled()).collect();
        std::fs::write(path, serde_json::to_vec(&enrolled)?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    let growth = match (size_before, size_after) {
        (Some(before), Some(after)) => {
            Some(i64::try_from(after).unwrap_or(i64::MAX) - i64::try_from(before).unwrap_or(0))
        }
        _ => None,
    };
    let audit = match &database {
        Some(db) => {
            let sent: Vec<_> = tills.iter().map(|t| t.sent()).collect();
            Some(audit::audit(db, &sent).await?)
        }
        None => None,
    };
    if let Some(path) = &plan.timeline {
        let mut csv = String::from("second,kind,requests,slowest_ms\n");
        for (second, kind, s) in stats.timeline() {
            let slowest = s.max_micros as f64 / 1000.0;
            csv.push_str(&format!(
                "{second},{},{},{slowest:.1}\n",
                kind.name(),
                s.count
            ));
        }
        std::fs::write(path, csv).with_context(|| format!("writing {}", path.display()))?;
    }
    let (accepted, duplicate, rejected) = stats.events();
    let kinds = stats.report();
    let rounds = kinds
        .iter()
        .find(|k| k.kind == Kind::SyncRound.name())
        .map_or(0, |k| k.ok);
    Ok(Report {
        tills: tills.len(),
        mode: if plan.ceiling { "ceiling" } else { "load" },
        enrol_seconds,
        warmup_seconds: plan.warmup().as_secs_f64(),
        seconds,
        errors: stats.error_count(),
        kinds,
        events_accepted: accepted,
        events_duplicate: duplicate,
        events_rejected: rejected,
        events_redelivered: stats.redelivered(),
        audit,
        cpu,
        events_per_sec: accepted as f64 / seconds,
        rounds_per_sec: rounds as f64 / seconds,
        db_growth_bytes: growth,
        db_growth_per_day_bytes: growth.map(|g| growth::per_day(g, elapsed)),
    })
}

/// The chain's schedule: sync rounds, sales (with returns) and passes.
#[allow(clippy::too_many_arguments)]
fn spawn_chain(
    plan: &Plan,
    tills: &[Arc<SimTill>],
    customers: &[CustomerRef],
    admin: &Admin,
    http: &reqwest::Client,
    central: &str,
    stats: &Arc<Stats>,
    gate: &Arc<Semaphore>,
    deadline: tokio::time::Instant,
    tasks: &mut JoinSet<()>,
) {
    let central = central.to_owned();
    let chooser = Arc::new(Customers::new(customers.to_vec(), plan));
    for till in tills {
        let (till, http, central, stats, gate) = (
            till.clone(),
            http.clone(),
            central.clone(),
            stats.clone(),
            gate.clone(),
        );
        let (interval, legacy) = (plan.sync_interval(), plan.legacy_sync);
        tasks.spawn(async move {
            let first = interval.mul_f64(rand::rng().random_range(0.0..1.0));
            tokio::time::sleep_until((tokio::time::Instant::now() + first).min(deadline)).await;
            while tokio::time::Instant::now() < deadline {
                if let Ok(_permit) = gate.acquire().await {
                    // A round that waited past the end for a free connection is not made.
                    if tokio::time::Instant::now() >= deadline {
                        break;
                    }
                    let _ = till.sync_round(&http, &central, &stats, legacy).await;
                }
                let next = interval.mul_f64(rand::rng().random_range(0.8..1.2));
                tokio::time::sleep_until((tokio::time::Instant::now() + next).min(deadline)).await;
            }
        });
    }
    if let Some(every) = plan.sale_every() {
        let ctx = (
            tills.to_vec(),
            chooser.clone(),
            http.clone(),
            central.clone(),
        );
        let (stats, gate, ratio) = (stats.clone(), gate.clone(), plan.return_ratio);
        tasks.spawn(open_loop(every, deadline, move || {
            let (tills, customers, http, central) = ctx.clone();
            let (stats, gate) = (stats.clone(), gate.clone());
            async move {
                sell(
                    &tills, &customers, ratio, &http, &central, &stats, &gate, deadline,
                )
                .await;
            }
        }));
    }
    if let Some(every) = plan.pass_every() {
        let (admin, customers, stats, gate) = (
            admin.clone(),
            customers.to_vec(),
            stats.clone(),
            gate.clone(),
        );
        tasks.spawn(open_loop(every, deadline, move || {
            let (admin, stats, gate) = (admin.clone(), stats.clone(), gate.clone());
            let customer = customers[rand::rng().random_range(0..customers.len())].clone();
            async move {
                let Ok(_permit) = gate.acquire().await else {
                    return;
                };
                admin.pass(customer.as_str(), &stats).await;
            }
        }));
    }
}

/// The ingest ceiling: every till uploads batches of `--batch-events` back to back.
#[allow(clippy::too_many_arguments)]
fn spawn_ceiling(
    plan: &Plan,
    tills: &[Arc<SimTill>],
    customers: &[CustomerRef],
    http: &reqwest::Client,
    central: &str,
    stats: &Arc<Stats>,
    deadline: tokio::time::Instant,
    tasks: &mut JoinSet<()>,
) {
    let chooser = Arc::new(Customers::new(customers.to_vec(), plan));
    // A sale with a customer is two events: stop before a batch could pass the size asked.
    let fill = plan.batch_events.saturating_sub(1).max(1);
    for till in tills {
        let (till, chooser, http, central, stats) = (
            till.clone(),
            chooser.clone(),
            http.clone(),
            central.to_owned(),
            stats.clone(),
        );
        let ratio = plan.return_ratio;
        tasks.spawn(async move {
            while tokio::time::Instant::now() < deadline {
                let mut events = Vec::new();
                while events.len() < fill {
                    match events_at(&till, &chooser, ratio) {
                        Some(more) => events.extend(more),
                        None => break,
                    }
                }
                if events.is_empty() {
                    stats.failed(Kind::Upload, Failure::Answer);
                    return;
                }
                upload_until_done(&till, events, &http, &central, &stats, None, None, deadline)
                    .await;
            }
        });
    }
}

/// Starts `work` every `every` until `deadline`, without waiting for it: the offered rate
/// does not drop when central slows down. Waits for every started piece at the end.
async fn open_loop<F, Fut>(every: Duration, deadline: tokio::time::Instant, work: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut running = JoinSet::new();
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            _ = tokio::time::sleep_until(deadline) => break,
        }
        running.spawn(work());
        while running.try_join_next().is_some() {}
    }
    while running.join_next().await.is_some() {}
}

/// The run's customers, spread over the stores: customer `n` belongs to store
/// `n % stores`.
pub struct Customers {
    all: Vec<CustomerRef>,
    stores: usize,
    local: f64,
}

impl Customers {
    /// `all` spread over the plan's stores.
    pub fn new(all: Vec<CustomerRef>, plan: &Plan) -> Customers {
        Customers {
            all,
            stores: plan.stores(),
            local: plan.local_customers,
        }
    }

    /// A customer for a sale at `store` (`LG0001` is the first): one of the store's own
    /// with the plan's share, else any; none when there are none.
    pub fn pick(&self, store: &str, rng: &mut impl rand::Rng) -> Option<CustomerRef> {
        if self.all.is_empty() {
            return None;
        }
        let index = store
            .strip_prefix("LG")
            .and_then(|n| n.parse::<usize>().ok())
            .and_then(|n| n.checked_sub(1))
            .filter(|s| *s < self.stores && *s < self.all.len());
        let n = match index {
            Some(s) if rng.random_bool(self.local) => {
                let own = (self.all.len() - s).div_ceil(self.stores);
                s + rng.random_range(0..own) * self.stores
            }
            _ => rng.random_range(0..self.all.len()),
        };
        self.all.get(n).cloned()
    }
}

/// One sale at `till` (60 % with a customer), or with the return ratio a return of one of
/// its earlier sales; none if the till's id cannot make a sale id.
fn events_at(
    till: &SimTill,
    customers: &Customers,
    return_ratio: f64,
) -> Option<Vec<JournalEvent>> {
    let mut rng = rand::rng();
    let at = till.at();
    let returned = rng
        .random_bool(return_ratio)
        .then(|| till.take_sold())
        .flatten();
    match returned {
        Some(sold) => sales::return_of(&at, &sold, till.next_seq()).map(|e| vec![e]),
        None => {
            let customer = if rng.random_bool(0.6) {
                customers.pick(till.store().as_str(), &mut rng)
            } else {
                None
            };
            sales::sale(&at, customer, &mut || till.next_seq(), &mut rng).map(|(events, sold)| {
                till.sold(sold);
                events
            })
        }
    }
}

/// One sale (or a return of an earlier one) at a random till, uploaded.
#[allow(clippy::too_many_arguments)]
async fn sell(
    tills: &[Arc<SimTill>],
    customers: &Customers,
    return_ratio: f64,
    http: &reqwest::Client,
    central: &str,
    stats: &Stats,
    gate: &Semaphore,
    deadline: tokio::time::Instant,
) {
    let Ok(permit) = gate.acquire().await else {
        return;
    };
    // A sale whose turn came after the end is not made (nor numbered).
    if tokio::time::Instant::now() >= deadline {
        return;
    }
    let till = tills[rand::rng().random_range(0..tills.len())].clone();
    let Some(events) = events_at(&till, customers, return_ratio) else {
        stats.failed(Kind::Upload, Failure::Answer);
        return;
    };
    upload_until_done(
        &till,
        events,
        http,
        central,
        stats,
        Some(gate),
        Some(permit),
        deadline,
    )
    .await;
}

/// Uploads `events`, again after a failure that a till's relay retries (a busy or
/// unreachable central), with jittered backoff, until [`RETRY_GRACE`] after `deadline`.
/// Every failed attempt counts as an error. With a `gate`, its `permit` is let go while
/// waiting to try again, and taken again before.
#[allow(clippy::too_many_arguments)]
async fn upload_until_done(
    till: &SimTill,
    events: Vec<JournalEvent>,
    http: &reqwest::Client,
    central: &str,
    stats: &Stats,
    gate: Option<&Semaphore>,
    mut permit: Option<tokio::sync::SemaphorePermit<'_>>,
    deadline: tokio::time::Instant,
) {
    let mut backoff = Duration::from_millis(500);
    let mut retried = false;
    loop {
        if let (Some(gate), None) = (gate, &permit) {
            match gate.acquire().await {
                Ok(p) => permit = Some(p),
                Err(_) => return,
            }
        }
        match till
            .upload(http, central, events.clone(), retried, stats)
            .await
        {
            Ok(()) => return,
            Err(Failure::Network | Failure::Status(429 | 500..=599)) => {}
            Err(_) => return,
        }
        drop(permit.take());
        let wait = backoff.mul_f64(rand::rng().random_range(0.5..1.5));
        if tokio::time::Instant::now() + wait > deadline + RETRY_GRACE {
            return;
        }
        tokio::time::sleep(wait).await;
        backoff = (backoff * 2).min(Duration::from_secs(8));
        retried = true;
    }
}

async fn setup_customers(
    admin: &Admin,
    customers: &[CustomerRef],
    gate: &Arc<Semaphore>,
) -> anyhow::Result<()> {
    let mut tasks = JoinSet::new();
    for customer in customers {
        let (admin, customer, gate) = (admin.clone(), customer.clone(), gate.clone());
        tasks.spawn(async move {
            let _permit = gate.acquire_owned().await?;
            admin.customer(customer.as_str()).await
        });
    }
    while let Some(done) = tasks.join_next().await {
        done??;
    }
    Ok(())
}

async fn setup_tills(
    plan: &Plan,
    http: &reqwest::Client,
    central: &str,
    admin: &Admin,
    stats: &Arc<Stats>,
    gate: &Arc<Semaphore>,
) -> anyhow::Result<Vec<Arc<SimTill>>> {
    let mut kept: Vec<Enrolled> = match &plan.state {
        Some(path) if path.exists() => serde_json::from_slice(
            &std::fs::read(path).with_context(|| format!("reading {}", path.display()))?,
        )
        .with_context(|| format!("{}: not a state file of this tool", path.display()))?,
        _ => Vec::new(),
    };
    kept.truncate(plan.tills);
    let mut tills = kept
        .into_iter()
        .map(|e| SimTill::resume(e).map(Arc::new))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let mut tasks = JoinSet::new();
    for index in tills.len()..plan.tills {
        let store = plan.store_of(index);
        let till = format!("{store}-T{}", index % plan.tills_per_store.max(1) + 1);
        let (admin, http, central) = (admin.clone(), http.clone(), central.to_owned());
        let (stats, gate) = (stats.clone(), gate.clone());
        tasks.spawn(async move {
            let _permit = gate.acquire_owned().await?;
            // A busy central (503) is asked again, as the installer's operator would.
            let mut attempt = 0;
            loop {
                attempt += 1;
                let started = Instant::now();
                let enrolled = match admin.enrolment_code(&store, &till).await {
                    Ok(code) => SimTill::enrol(&http, &central, &code).await,
                    Err(e) => Err(e),
                };
                match enrolled {
                    Ok(enrolled) => {
                        stats.ok(Kind::Enrol, started.elapsed(), 0);
                        return Ok(Arc::new(enrolled));
                    }
                    Err(e) if attempt < 20 && format!("{e:#}").contains("503") => {
                        stats.failed(Kind::Enrol, Failure::Status(503));
                        let jitter = rand::rng().random_range(0.5..1.5);
                        let wait = Duration::from_millis(250 * attempt).mul_f64(jitter);
                        tokio::time::sleep(wait).await;
                    }
                    Err(e) => {
                        stats.failed(Kind::Enrol, Failure::Answer);
                        return Err(e.context(format!("enrolling {till}")));
                    }
                }
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        tills.push(done??);
    }
    Ok(tills)
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[test]
    fn customers_shop_mostly_at_their_own_store() {
        // 10 tills, 5 per store: 2 stores; 7 customers: LGC0000001, 3, 5, 7 belong to the
        // first store, 2, 4, 6 to the second.
        let plan = Plan::try_parse_from([
            "tillpass-loadgen",
            "--admin-token-file",
            "t",
            "--tills",
            "10",
            "--local-customers",
            "1",
        ])
        .unwrap();
        let all: Vec<CustomerRef> = (1..=7)
            .map(|n| CustomerRef::new(format!("LGC{n:07}")).unwrap())
            .collect();
        let customers = Customers::new(all.clone(), &plan);
        let mut rng = rand::rng();
        let mut seen = std::collections::BTreeSet::new();
        for _ in 0..500 {
            let c = customers.pick("LG0002", &mut rng).unwrap();
            let n: usize = c.as_str()[3..].parse().unwrap();
            assert_eq!((n - 1) % 2, 1, "{c:?} is not of the second store");
            seen.insert(n);
        }
        assert_eq!(seen.into_iter().collect::<Vec<_>>(), vec![2, 4, 6]);
        // A store beyond the customers, or not a run's store: any customer.
        assert!(customers.pick("elsewhere", &mut rng).is_some());
        assert!(
            Customers::new(Vec::new(), &plan)
                .pick("LG0001", &mut rng)
                .is_none()
        );
    }
}
