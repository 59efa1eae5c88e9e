//! What central IT operates by, on the real `tillpass-central serve` process: `/metrics`
//! (series exist and move after requests), `/readyz` (503 when PostgreSQL is gone or the
//! schema is not this build's), `--metrics-listen`, and backpressure (a saturated
//! PostgreSQL pool answers `503 busy` with `Retry-After`, nothing of the request applied).

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::Value;

use crate::journal::sale;
use crate::pg;
use crate::util::{Central, client, statuses};

/// The value of the sample `series` (name and labels exactly as written), if present.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .map(|value| value.trim().parse().unwrap())
}

async fn scrape(central: &Central, url: &str) -> String {
    let response = central.client.get(url).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let kind = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(kind.starts_with("application/openmetrics-text"), "{kind}");
    let text = response.text().await.unwrap();
    assert!(text.ends_with("# EOF\n"), "{text}");
    text
}

/// A sale without a customer (PostgreSQL's admin API has no customers yet).
fn anonymous_sale(id: &str) -> tillpass_protocol::sync::EventPayload {
    use tillpass_protocol::money::{Currency, Money};
    use tillpass_protocol::sync::EventPayload;
    let EventPayload::SaleClosed(mut closed) = sale("C-1", id) else {
        unreachable!()
    };
    closed.customer = None;
    closed.savings_earned = Money::new(0, Currency::EUR);
    for line in &mut closed.lines {
        line.savings_earned = None;
    }
    EventPayload::SaleClosed(closed)
}

/// Polls `probe` every 20 ms until it gives a value, for at most `limit`.
async fn until<T, F: std::future::Future<Output = Option<T>>>(
    what: &str,
    limit: Duration,
    mut probe: impl FnMut() -> F,
) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(value) = probe().await {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_of_a_serve_process_exist_and_move_after_requests() {
    let central = Central::spawn(&["--metrics-refresh-secs", "1"], client()).await;
    let url = central.url("/metrics");
    let live = central
        .client
        .get(central.url("/livez"))
        .send()
        .await
        .unwrap();
    assert_eq!(live.status(), StatusCode::OK);
    let before = scrape(&central, &url).await;
    // A labelled family is written from its first sample on; the others always.
    for family in [
        "tillpass_central_http_requests",
        "tillpass_central_http_request_duration_seconds",
        "tillpass_central_ingest_lag_seconds",
        "tillpass_central_db_connections",
        "tillpass_central_db_connections_max",
        "tillpass_central_db_waiting",
        "tillpass_central_sqlite_lock_wait_seconds",
        "tillpass_central_tills_seen_last_hour",
        "tillpass_central_metrics_refreshed_timestamp_seconds",
    ] {
        assert!(
            before.contains(&format!("# TYPE {family} ")),
            "{family} missing:\n{before}"
        );
    }
    assert_eq!(
        sample(&before, "tillpass_central_db_connections_max"),
        Some(1.0)
    );
    assert!(
        !before.contains("tillpass_central_whatsapp"),
        "no channel, no channel backlogs"
    );
    let journal_ok = r#"tillpass_central_http_requests_total{route="journal",status="200"}"#;
    assert_eq!(sample(&before, journal_ok), None);
    let waits_before =
        sample(&before, "tillpass_central_sqlite_lock_wait_seconds_count").unwrap_or(0.0);

    central.create_customer("C-1", 0, false).await;
    let till = central.enrol("S001", "S001-T01").await;
    let first = till.event(sale("C-1", "POS-1"));
    let second = till.event(sale("C-1", "POS-2"));
    let (status, ack) = till.upload(&central, vec![first.clone(), second]).await;
    assert_eq!(status, StatusCode::OK, "{ack}");
    assert_eq!(statuses(&ack), ["accepted", "accepted"]);
    let (status, ack) = till.upload(&central, vec![first]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(statuses(&ack), ["duplicate"]);
    let missing = central
        .client
        .get(central.url("/nowhere"))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);

    // The tills seen are refreshed apart from scrapes: wait for the next refresh.
    let after = until(
        "the refreshed tills seen",
        Duration::from_secs(10),
        || async {
            let text = scrape(&central, &url).await;
            sample(
                &text,
                r#"tillpass_central_tills_seen_last_hour{store="S001"}"#,
            )
            .is_some()
            .then_some(text)
        },
    )
    .await;
    assert_eq!(
        sample(
            &after,
            r#"tillpass_central_tills_seen_last_hour{store="S001"}"#
        ),
        Some(1.0)
    );
    assert_eq!(sample(&after, journal_ok), Some(2.0), "{after}");
    assert_eq!(
        sample(
            &after,
            r#"tillpass_central_http_requests_total{route="other",status="404"}"#
        ),
        Some(1.0)
    );
    assert_eq!(
        sample(
            &after,
            r#"tillpass_central_http_request_duration_seconds_count{route="journal"}"#
        ),
        Some(2.0)
    );
    assert_eq!(
        sample(
            &after,
            r#"tillpass_central_events_ingested_total{outcome="accepted"}"#
        ),
        Some(2.0)
    );
    assert_eq!(
        sample(
            &after,
            r#"tillpass_central_events_ingested_total{outcome="duplicate"}"#
        ),
        Some(1.0)
    );
    assert_eq!(
        sample(&after, "tillpass_central_ingest_lag_seconds_count"),
        Some(2.0),
        "accepted events only: {after}"
    );
    assert!(
        sample(&after, "tillpass_central_sqlite_lock_wait_seconds_count").unwrap() > waits_before
    );
    let refreshed = sample(
        &after,
        "tillpass_central_metrics_refreshed_timestamp_seconds",
    )
    .unwrap();
    #[allow(clippy::cast_precision_loss)]
    let now = central.now() as f64;
    assert!((now - refreshed).abs() < 10.0, "{refreshed} vs {now}");
}

#[tokio::test]
async fn metrics_listen_keeps_metrics_off_the_api_listener() {
    let central = Central::spawn(&["--metrics-listen", "127.0.0.1:0"], client()).await;
    let line = until("the metrics listener", Duration::from_secs(10), || async {
        central
            .log()
            .lines()
            .find(|l| l.contains("metrics listening"))
            .map(str::to_owned)
    })
    .await;
    let addr = line
        .split_whitespace()
        .find_map(|w| w.strip_prefix("address="))
        .unwrap()
        .to_owned();
    let ops = format!("http://{addr}");
    let live = central
        .client
        .get(format!("{ops}/livez"))
        .send()
        .await
        .unwrap();
    assert_eq!(live.status(), StatusCode::OK);
    let text = scrape(&central, &format!("{ops}/metrics")).await;
    assert!(text.contains("# TYPE tillpass_central_http_requests counter"));
    for path in ["/livez", "/readyz"] {
        let answer = central
            .client
            .get(format!("{ops}{path}"))
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), StatusCode::OK, "{path}");
    }
    let refused = central
        .client
        .get(central.url("/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::NOT_FOUND);
    let api = central
        .client
        .get(central.url("/livez"))
        .send()
        .await
        .unwrap();
    assert_eq!(api.status(), StatusCode::OK);
    // The ops listener serves nothing of the API.
    let none = central
        .client
        .get(format!("{ops}/v1/time"))
        .send()
        .await
        .unwrap();
    assert_eq!(none.status(), StatusCode::NOT_FOUND);
}

async fn problem(response: reqwest::Response) -> (StatusCode, Option<String>, Value) {
    let status = response.status();
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    let retry = response
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_owned());
    (status, retry, response.json().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_is_503_when_postgresql_is_gone() {
    let Some(database) = pg::database("readyz_is_503_when_postgresql_is_gone").await else {
        return;
    };
    let folder = tempfile::tempdir().unwrap();
    let node = Central::spawn_node(folder.path(), database.url(), client()).await;
    let ready = node.client.get(node.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), StatusCode::OK);
    // Dropping the database ends its connections: the node cannot reach it any more.
    drop(database);
    let response = until("readyz to fail", Duration::from_secs(10), || async {
        let r = node.client.get(node.url("/readyz")).send().await.unwrap();
        (r.status() != StatusCode::OK).then_some(r)
    })
    .await;
    let (status, _, body) = problem(response).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["code"], "database_unavailable", "{body}");
    assert!(
        !body.to_string().contains("tillpass_t_"),
        "no internal detail: {body}"
    );
    let live = node.client.get(node.url("/livez")).send().await.unwrap();
    assert_eq!(live.status(), StatusCode::OK, "alive without its database");
}

#[tokio::test]
async fn readyz_is_503_when_the_schema_is_not_this_builds() {
    let central = Central::spawn(&[], client()).await;
    let ready = central
        .client
        .get(central.url("/readyz"))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), StatusCode::OK);
    let path = central.dir().join("data/central.db");
    let version: i64 = rusqlite::Connection::open(&path)
        .unwrap()
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .unwrap();
    // A newer node migrated the database past this build.
    rusqlite::Connection::open(&path)
        .unwrap()
        .pragma_update(None, "user_version", version + 1)
        .unwrap();
    let (status, _, body) = problem(
        central
            .client
            .get(central.url("/readyz"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["code"], "not_ready", "{body}");
    let detail = body["detail"].as_str().unwrap();
    assert!(
        detail.contains(&format!("version {}", version + 1))
            && detail.contains(&version.to_string()),
        "{detail}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_saturated_pool_answers_503_with_retry_after_and_applies_nothing() {
    let Some(database) =
        pg::database("a_saturated_pool_answers_503_with_retry_after_and_applies_nothing").await
    else {
        return;
    };
    let folder = tempfile::tempdir().unwrap();
    let node = Central::spawn_node_with(
        folder.path(),
        database.url(),
        &[
            "--db-pool-size",
            "1",
            "--db-wait-ms",
            "200",
            "--metrics-refresh-secs",
            "3600",
        ],
        client(),
    )
    .await;
    let till = node.enrol("S001", "S001-T01").await;
    let first = till.event(anonymous_sale("POS-1"));
    let second = till.event(anonymous_sale("POS-2"));

    // The test locks the events table: the first upload's transaction waits on it,
    // holding the node's one pooled connection.
    let lock = crate::pg::connect(database.url()).await;
    lock.batch_execute("BEGIN; LOCK TABLE events IN ACCESS EXCLUSIVE MODE")
        .await
        .unwrap();
    let holder = {
        let central_url = node.base.clone();
        let batch =
            tillpass_protocol::sync::UploadBatch::new(till.id.clone(), vec![first]).unwrap();
        let body = serde_json::to_vec(&batch).unwrap();
        let headers = till.headers(
            "POST",
            "/v1/journal",
            &body,
            node.now(),
            tillpass_protocol::sync::RequestNonce(crate::util::rand()),
        );
        let http = node.client.clone();
        tokio::spawn(async move {
            let mut request = http.post(format!("{central_url}/v1/journal")).body(body);
            for (name, value) in headers {
                request = request.header(name, value);
            }
            let response = request.send().await.unwrap();
            let status = response.status();
            (status, response.json::<Value>().await.unwrap())
        })
    };
    // The pool is saturated once the first upload waits on the lock.
    until(
        "the first upload to wait on the lock",
        Duration::from_secs(10),
        || async {
            let waiting: i64 = lock
            .query_one(
                "SELECT count(*) FROM pg_locks WHERE relation = 'events'::regclass AND NOT granted",
                &[],
            )
            .await
            .unwrap()
            .get(0);
            (waiting > 0).then_some(())
        },
    )
    .await;

    let started = Instant::now();
    let response = till
        .send(
            &node,
            reqwest::Method::POST,
            "/v1/journal",
            serde_json::to_vec(
                &tillpass_protocol::sync::UploadBatch::new(till.id.clone(), vec![second.clone()])
                    .unwrap(),
            )
            .unwrap(),
        )
        .await;
    let (status, retry_after, body) = problem(response).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["code"], "busy", "{body}");
    let retry_after: u64 = retry_after.expect("Retry-After").parse().unwrap();
    assert!(retry_after >= 1);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "refused within the wait budget, not queued: {:?}",
        started.elapsed()
    );
    let metrics = scrape(&node, &node.url("/metrics")).await;
    assert_eq!(
        sample(&metrics, "tillpass_central_db_connections_max"),
        Some(1.0)
    );
    assert_eq!(
        sample(
            &metrics,
            r#"tillpass_central_db_connections{state="in_use"}"#
        ),
        Some(1.0),
        "{metrics}"
    );
    assert_eq!(
        sample(
            &metrics,
            r#"tillpass_central_http_requests_total{route="journal",status="503"}"#
        ),
        Some(1.0),
        "{metrics}"
    );

    lock.batch_execute("COMMIT").await.unwrap();
    let (status, ack) = holder.await.unwrap();
    assert_eq!(status, StatusCode::OK, "{ack}");
    assert_eq!(statuses(&ack), ["accepted"]);
    // Nothing of the refused upload was applied: sent again, it is new, not a duplicate.
    let (status, ack) = till.upload(&node, vec![second]).await;
    assert_eq!(status, StatusCode::OK, "{ack}");
    assert_eq!(statuses(&ack), ["accepted"]);
    let events: i64 = lock
        .query_one("SELECT count(*) FROM events", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(events, 2);
}
