//! The channel's measurements (run with `--ignored --nocapture`; figures in BENCHMARKS.md):
//! a pass request's latency from the stored delivery to the reply handed to the Graph
//! API, QR rendering and the image's upload included; and 100 inbound messages a second
//! with the process's memory, on SQLite and on PostgreSQL.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use tillpass_central::whatsapp::handle::reference_for;
use tillpass_central::whatsapp::intent::button;

use crate::graph::{self, Graph, SECRET};
use crate::util::Central;

/// A figure, straight to the process's stderr (past the harness's capture).
fn say(figure: String) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "{figure}");
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
        .unwrap_or(0)
}

async fn post(central: &Central, body: &serde_json::Value) {
    let answer = graph::post(&central.client, &central.base, body, Some(SECRET)).await;
    assert_eq!(answer.status(), StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement: run with --ignored --nocapture"]
async fn measure_pass_latency_p99() {
    let graph = Graph::start().await;
    let mut config = graph.config(None);
    config.pass_interval = Duration::ZERO;
    let (central, _channel) = Central::start_whatsapp(config).await;
    let phone = "34615000000";
    post(&central, &graph::text(phone, "wamid.m.hello", "hola")).await;
    graph.wait_for(phone, 1).await;
    post(
        &central,
        &graph::tap(phone, "wamid.m.accept", button::ACCEPT, "Acepto"),
    )
    .await;
    graph.wait_for(phone, 2).await;
    let _ = reference_for("wamid.m.accept");
    let n = 300;
    let mut latencies = Vec::with_capacity(n);
    for i in 0..n {
        post(
            &central,
            &graph::text(phone, &format!("wamid.m.qr.{i}"), "QR"),
        )
        .await;
        let stored = Instant::now();
        let sent = graph.wait_for(phone, 3 + i).await;
        assert_eq!(sent.last().unwrap()["type"], "image");
        let at = *graph.times().last().unwrap();
        latencies.push(at.saturating_duration_since(stored));
    }
    latencies.sort();
    let p = |percent: usize| latencies[(latencies.len() * percent / 100).min(latencies.len() - 1)];
    say(format!(
        "pass request, stored delivery → image handed to the Graph API ({n} requests, sqlite): \
         p50 {:?}, p99 {:?}, max {:?}",
        p(50),
        p(99),
        latencies.last().unwrap()
    ));
}

async fn inbound_rate(name: &str, database: Option<tillpass_central::storage::Database>) {
    let graph = Graph::start().await;
    let (central, channel) = Central::start_whatsapp_on(graph.config(None), database).await;
    let seconds = 30u64;
    let rate = 100u64;
    let start = Instant::now();
    let mut samples = vec![];
    let mut sent = 0u64;
    let mut posts = Vec::new();
    for s in 0..seconds {
        for i in 0..rate {
            let due = start + Duration::from_millis((s * rate + i) * 1000 / rate);
            tokio::time::sleep_until(due.into()).await;
            let phone = format!("346{:08}", s * rate + i);
            // Meta delivers concurrently: each delivery on its own connection's time.
            let (client, base) = (central.client.clone(), central.base.clone());
            posts.push(tokio::spawn(async move {
                let body = graph::text(&phone, &format!("wamid.r.{s}.{i}"), "hola");
                graph::post(&client, &base, &body, Some(SECRET))
                    .await
                    .status()
            }));
            sent += 1;
        }
        samples.push(rss_kib());
    }
    let elapsed = start.elapsed();
    for post in posts {
        assert_eq!(post.await.unwrap(), StatusCode::OK);
    }
    let stored = start.elapsed();
    let deadline = Instant::now() + Duration::from_secs(60);
    while (graph.sent().len() as u64) < sent {
        assert!(
            Instant::now() < deadline,
            "{} of {sent} answered",
            graph.sent().len()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let drained = start.elapsed();
    let third = samples.len() / 3;
    let early = samples[..third].iter().max().unwrap();
    let late = samples[2 * third..].iter().max().unwrap();
    let handled = channel
        .counters()
        .handled
        .load(std::sync::atomic::Ordering::Relaxed);
    say(format!(
        "{name}: {sent} messages posted in {elapsed:.1?} ({:.0}/s), all stored (200) after \
         {stored:.1?}, all {handled} handled and answered after {drained:.1?}; RSS max first third {early} KiB, last third {late} KiB",
        sent as f64 / elapsed.as_secs_f64()
    ));
    assert!(
        *late < early + 16 * 1024,
        "memory grew: {early} → {late} KiB"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement: run with --ignored --nocapture"]
async fn measure_inbound_rate_sqlite() {
    inbound_rate("sqlite", None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement: run with --ignored --nocapture"]
async fn measure_inbound_rate_postgresql() {
    let Some(test_db) = crate::pg::database("whatsapp_rate").await else {
        return;
    };
    let location = tillpass_central::storage::Location::Postgres(test_db.url().to_owned());
    let db = tillpass_central::storage::Database::open(&location)
        .await
        .unwrap();
    inbound_rate("postgresql", Some(db)).await;
}
