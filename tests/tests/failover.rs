//! High availability on one machine: two real central nodes on two loopback ports share one
//! PostgreSQL database and one key folder; a real till is enrolled with the first and told
//! of the second (`[central] fallback_urls`). The till sells; the first node is killed
//! (SIGKILL) with the till still selling; the till carries on with the second node, and
//! central ends with every event of the till exactly once.
//!
//! Needs PostgreSQL (`TILLPASS_TEST_POSTGRES`, default
//! `postgres://postgres@127.0.0.1:5432/test`): skipped loudly without it, a failure under
//! `TILLPASS_REQUIRE_POSTGRES=1` (`.ci/run`).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use serde_json::{Value, json};
use tillpass_tests::central::Central;
use tillpass_tests::postgres::{self, TestDb};
use tillpass_tests::till::{Agent, Till};

const CATALOG: &str = r#"
format = 1
currency = "EUR"
"#;

fn parse(body: &str) -> Value {
    serde_json::from_str(body).unwrap_or_else(|_| Value::String(body.to_owned()))
}

/// `(events, distinct seqs, lowest seq, highest seq)` of `till` in central's database.
fn events_of(db: &TestDb, till: &str) -> (i64, i64, i64, i64) {
    let url = db.url().to_owned();
    let till = till.to_owned();
    postgres::on_own_runtime(move || async move {
        let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await?;
        tokio::spawn(conn);
        let row = client
            .query_one(
                "SELECT count(*), count(DISTINCT seq), coalesce(min(seq), 0),
                        coalesce(max(seq), 0)
                 FROM events WHERE till = $1",
                &[&till],
            )
            .await?;
        Ok((row.get(0), row.get(1), row.get(2), row.get(3)))
    })
    .unwrap()
}

fn sell(agent: &Agent, id: &str) {
    let cart = json!({ "currency": "EUR", "lines": [
        { "line_id": "1", "sku": "BREAD", "quantity": { "units": 2 },
          "unit_price": { "amount": 250, "currency": "EUR" } } ] });
    let answer = agent
        .change(
            "PUT",
            &format!("/v1/sessions/{id}"),
            &format!("put-{id}"),
            &json!({ "cart": cart }).to_string(),
        )
        .unwrap();
    assert_eq!(answer.status, 200, "{}", answer.body);
    let s = parse(&answer.body);
    let close = json!({ "version": s["version"], "payments": [
        { "method": "cash", "amount": s["amount_due"] }] });
    let answer = agent
        .change(
            "POST",
            &format!("/v1/sessions/{id}/close"),
            &format!("close-{id}"),
            &close.to_string(),
        )
        .unwrap();
    assert_eq!(answer.status, 200, "{}", answer.body);
}

/// Adds `fallback_urls` to the `[central]` section the installer wrote.
fn add_fallback(till: &Till, url: &str) {
    let path = till.config_file();
    let text = std::fs::read_to_string(&path).unwrap();
    let mut out = String::new();
    for line in text.lines() {
        out.push_str(line);
        out.push('\n');
        if line.starts_with("url = ") {
            out.push_str(&format!("fallback_urls = [\"{url}\"]\n"));
        }
    }
    assert!(
        out.contains("fallback_urls"),
        "no [central] url in:\n{text}"
    );
    std::fs::write(&path, out).unwrap();
}

#[test]
fn a_till_carries_on_with_the_second_node_when_the_first_is_killed() {
    let Some(db) = postgres::database("failover") else {
        return;
    };
    let dir_a = tempfile::tempdir().unwrap();
    let dir_b = tempfile::tempdir().unwrap();
    let mut a = Central::start_on(dir_a.path(), db.url()).unwrap();
    // One key folder for both nodes (a secret mount on a real deployment).
    std::os::unix::fs::symlink(dir_a.path().join("keys"), dir_b.path().join("keys")).unwrap();
    let b = Central::start_on(dir_b.path(), db.url()).unwrap();
    let catalog = dir_a.path().join("catalog.toml");
    std::fs::write(&catalog, CATALOG).unwrap();
    a.cli(&["catalog", "publish", catalog.to_str().unwrap()])
        .unwrap();

    let root = tempfile::tempdir().unwrap();
    let till = Till::install(&a, "S1", root.path()).unwrap();
    add_fallback(&till, &b.url());
    let agent = till.start_agent("agent", None).unwrap();
    agent
        .wait_for("the catalog", "/readyz", Duration::from_secs(30), |r| {
            parse(r)["ready"] == true
        })
        .unwrap();
    let drained = |what: &str| {
        agent
            .wait_for(what, "/v1/status", Duration::from_secs(60), |s| {
                parse(s)["outbox_depth"] == 0
            })
            .unwrap();
    };
    for i in 0..5 {
        sell(&agent, &format!("A-{i}"));
    }
    drained("the first sales to reach central through node A");

    // Node A dies; the till keeps selling, and its journal reaches node B.
    a.stop();
    for i in 0..5 {
        sell(&agent, &format!("B-{i}"));
    }
    if let Err(e) = agent.wait_for(
        "the later sales to reach central through node B",
        "/v1/status",
        Duration::from_secs(60),
        |s| parse(s)["outbox_depth"] == 0,
    ) {
        let log_b = std::fs::read_to_string(dir_b.path().join("central-1.log")).unwrap_or_default();
        panic!("{e}\nnode B ({}):\n{log_b}", b.url());
    }
    let log = agent.output();
    assert!(
        log.contains("now talking to this central node"),
        "the till moved to node B:\n{log}"
    );

    // Every event of the till exactly once, sequence 1..=n without a gap.
    let enrolment = parse(
        &std::fs::read_to_string(root.path().join("var/lib/tillpass/enrolment.json")).unwrap(),
    );
    let till_id = enrolment["response"]["till"].as_str().unwrap();
    let (events, seqs, low, high) = events_of(&db, till_id);
    assert!(events >= 10, "ten sales at least: {events}");
    assert_eq!(events, seqs, "no event twice");
    assert_eq!((low, high), (1, events), "no event lost");
    let ready = b.admin("GET", "/readyz", None).unwrap();
    assert_eq!(ready.status, 200, "node B serves on: {}", ready.body);
}
