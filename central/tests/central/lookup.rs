//! The live lookup (`POST /v1/lookup`): a signed till asks for the balance of a customer or
//! a gift card it does not hold; central answers from its own records, reads only, and
//! says `found: false` for what cannot be spent (unknown, blocked).

use std::time::Instant;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::util::{Central, TestTill};

async fn lookup(till: &TestTill, central: &Central, body: Value) -> (StatusCode, Value) {
    let response = till
        .send(
            central,
            Method::POST,
            "/v1/lookup",
            serde_json::to_vec(&body).unwrap(),
        )
        .await;
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn a_till_learns_a_balance_it_does_not_hold() {
    let central = Central::start().await;
    let till = central.enrol("S001", "S001-T01").await;
    central.create_customer("C-L", 1234, false).await;
    let (status, _) = central
        .admin_json(
            Method::POST,
            "/admin/v1/gift-cards",
            json!({ "card": "GC-L", "balance": 2500 }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);

    let (status, answer) = lookup(
        &till,
        &central,
        json!({ "kind": "customer", "subject": "C-L" }),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["found"], true, "{answer}");
    assert_eq!(answer["tier"], "gold", "{answer}");
    assert_eq!(
        answer["balance"],
        json!({ "amount": 1234, "currency": "EUR" })
    );
    assert!(answer["as_of"].as_i64().unwrap() >= central.now() - 5);

    let (_, answer) = lookup(
        &till,
        &central,
        json!({ "kind": "gift_card", "subject": "GC-L" }),
    )
    .await;
    assert_eq!(answer["found"], true, "{answer}");
    assert_eq!(answer["balance"]["amount"], 2500, "{answer}");

    // Unknown, and blocked: nothing to spend, nothing else said.
    let (status, answer) = lookup(
        &till,
        &central,
        json!({ "kind": "customer", "subject": "C-NOBODY" }),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(answer["found"], false, "{answer}");
    assert!(answer.get("balance").is_none(), "{answer}");
    let (status, _) = central
        .admin_json(Method::POST, "/admin/v1/gift-cards/GC-L/block", Value::Null)
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, answer) = lookup(
        &till,
        &central,
        json!({ "kind": "gift_card", "subject": "GC-L" }),
    )
    .await;
    assert_eq!(answer["found"], false, "{answer}");

    // Hostile bodies: a problem, never a 500.
    for bad in [
        json!({ "kind": "customer" }),
        json!({ "kind": "voucher", "subject": "X" }),
        json!({ "kind": "customer", "subject": "C".repeat(300) }),
        json!({ "kind": "customer", "subject": "C 1" }),
        json!({ "kind": "customer", "subject": "C-L", "extra": 1 }),
    ] {
        let (status, problem) = lookup(&till, &central, bad.clone()).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}: {problem}");
        assert!(problem["code"].is_string(), "{bad}: {problem}");
    }
    // Not signed: refused like every till route.
    let response = central
        .client
        .post(central.url("/v1/lookup"))
        .json(&json!({ "kind": "customer", "subject": "C-L" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}

/// The live lookup's latency on loopback, as a till sees it: signed request, answer.
/// `cargo test -p tillpass-central --test central lookup_latency -- --ignored --nocapture`
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement, not a check"]
async fn lookup_latency() {
    let central = Central::start().await;
    let till = central.enrol("S001", "S001-T01").await;
    for i in 0..100 {
        central
            .create_customer(&format!("C-{i}"), 100 + i, false)
            .await;
    }
    let mut took = Vec::new();
    for round in 0..2_000 {
        let subject = format!("C-{}", round % 100);
        let started = Instant::now();
        let (status, _) = lookup(
            &till,
            &central,
            json!({ "kind": "customer", "subject": subject }),
        )
        .await;
        took.push(started.elapsed());
        assert_eq!(status, StatusCode::OK);
    }
    took.sort();
    let at = |percent: usize| took[(took.len() - 1) * percent / 100];
    println!(
        "live lookup on loopback, {} requests: p50 {:?}, p99 {:?}, max {:?}",
        took.len(),
        at(50),
        at(99),
        took[took.len() - 1]
    );
    assert!(at(99).as_millis() < 300, "p99 {:?}", at(99));
}
