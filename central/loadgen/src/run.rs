//! The schedule of a run and its report.
//!
//! Enrolment and customers first (reusing the `--state` file's tills), then for
//! `--duration-secs`: every till's sync round every interval ±20 % (the first at a random
//! point of the first interval, so rounds spread as a chain's do), sales at their rate
//! (open loop: a slow central does not slow the offered load; a share of them returns of an
//! earlier sale of the same till), pass requests at theirs. Then the report.

use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow};
use rand::RngExt;
use serde::Serialize;
use tillpass_protocol::sync::CustomerRef;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::admin::Admin;
use crate::growth::{self, Database};
use crate::plan::Plan;
use crate::sales;
use crate::stats::{Failure, Kind, KindReport, Stats};
use crate::till::{Enrolled, SimTill};

/// What a run measured.
#[derive(Debug, Serialize)]
pub struct Report {
    /// Simulated tills.
    pub tills: usize,
    /// Seconds of load (after enrolment).
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
        .timeout(Duration::from_secs(30))
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
    let tills = setup_tills(plan, &http, &central, &admin, &stats, &gate).await?;
    let _ = writeln!(
        std::io::stderr(),
        "{} tills enrolled, {} customers; running for {} s",
        tills.len(),
        customers.len(),
        plan.duration_secs
    );

    let database = plan.database.as_deref().map(Database::parse);
    let size_before = match &database {
        Some(db) => Some(db.size().await?),
        None => None,
    };
    let started = Instant::now();
    let deadline = tokio::time::Instant::now() + plan.duration();
    let mut tasks = JoinSet::new();
    for till in &tills {
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
            tokio::time::sleep(first).await;
            while tokio::time::Instant::now() < deadline {
                if let Ok(_permit) = gate.acquire().await {
                    let _ = till.sync_round(&http, &central, &stats, legacy).await;
                }
                let next = interval.mul_f64(rand::rng().random_range(0.8..1.2));
                tokio::time::sleep(next).await;
            }
        });
    }
    if let Some(every) = plan.sale_every() {
        let ctx = (
            tills.clone(),
            customers.clone(),
            http.clone(),
            central.clone(),
        );
        let (stats, gate, ratio) = (stats.clone(), gate.clone(), plan.return_ratio);
        tasks.spawn(open_loop(every, deadline, move || {
            let (tills, customers, http, central) = ctx.clone();
            let (stats, gate) = (stats.clone(), gate.clone());
            async move {
                let Ok(_permit) = gate.acquire().await else {
                    return;
                };
                sell(&tills, &customers, ratio, &http, &central, &stats).await;
            }
        }));
    }
    if let Some(every) = plan.pass_every() {
        let (admin, customers, stats, gate) = (
            admin.clone(),
            customers.clone(),
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
    while tasks.join_next().await.is_some() {}
    let elapsed = started.elapsed();
    let seconds = elapsed.as_secs_f64();

    if let Some(path) = &plan.state {
        let enrolled: Vec<Enrolled> = tills.iter().map(|t| t.enrolled()).collect();
        std::fs::write(path, serde_json::to_vec(&enrolled)?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    let growth = match (&database, size_before) {
        (Some(db), Some(before)) => {
            let after = db.size().await?;
            Some(i64::try_from(after).unwrap_or(i64::MAX) - i64::try_from(before).unwrap_or(0))
        }
        _ => None,
    };
    let (accepted, duplicate, rejected) = stats.events();
    let kinds = stats.report();
    let rounds = kinds
        .iter()
        .find(|k| k.kind == Kind::SyncRound.name())
        .map_or(0, |k| k.ok);
    Ok(Report {
        tills: tills.len(),
        seconds,
        errors: stats.error_count(),
        kinds,
        events_accepted: accepted,
        events_duplicate: duplicate,
        events_rejected: rejected,
        events_per_sec: accepted as f64 / seconds,
        rounds_per_sec: rounds as f64 / seconds,
        db_growth_bytes: growth,
        db_growth_per_day_bytes: growth.map(|g| growth::per_day(g, elapsed)),
    })
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

/// One sale (or a return of an earlier one) at a random till, uploaded.
async fn sell(
    tills: &[Arc<SimTill>],
    customers: &[CustomerRef],
    return_ratio: f64,
    http: &reqwest::Client,
    central: &str,
    stats: &Stats,
) {
    let (till, events) = {
        let mut rng = rand::rng();
        let till = tills[rng.random_range(0..tills.len())].clone();
        let at = till.at();
        let returned = rng
            .random_bool(return_ratio)
            .then(|| till.take_sold())
            .flatten();
        let events = match returned {
            Some(sold) => sales::return_of(&at, &sold, till.next_seq()).map(|e| vec![e]),
            None => {
                let customer = rng
                    .random_bool(0.6)
                    .then(|| customers[rng.random_range(0..customers.len())].clone());
                sales::sale(&at, customer, &mut || till.next_seq(), &mut rng).map(
                    |(events, sold)| {
                        till.sold(sold);
                        events
                    },
                )
            }
        };
        (till, events)
    };
    match events {
        Some(events) => {
            let _ = till.upload(http, central, events, stats).await;
        }
        None => stats.failed(Kind::Upload, Failure::Answer),
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
            let code = admin.enrolment_code(&store, &till).await?;
            let started = Instant::now();
            match SimTill::enrol(&http, &central, &code).await {
                Ok(enrolled) => {
                    stats.ok(Kind::Enrol, started.elapsed(), 0);
                    Ok(Arc::new(enrolled))
                }
                Err(e) => {
                    stats.failed(Kind::Enrol, Failure::Answer);
                    Err(e.context(format!("enrolling {till}")))
                }
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        tills.push(done??);
    }
    Ok(tills)
}
