//! Pending savings: an earn stays apart from the spendable balance until its return
//! window closes by central's clock; a return takes back pending savings first, then
//! spendable ones, never below zero; balance deltas carry both; the pass's snapshot counts
//! only what may be spent.

use std::sync::atomic::Ordering;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tillpass_protocol::sync::{
    CustomerRef, EventPayload, Reverses, SaleId, SavingsMovement, SavingsReversal,
};
use tillpass_protocol::token::{self, TokenKind};

use crate::journal::eur;
use crate::util::{Central, TestTill, statuses};

const DAY: i64 = 86_400;

/// A catalog whose savings stay pending for 14 days.
const FOURTEEN_DAYS: &str = r#"
format = 1
currency = "EUR"

[savings]
earn_rate = 200
return_window_days = 14
"#;

fn earn(customer: &str, amount: i64, sale: &str) -> EventPayload {
    EventPayload::SavingsEarned(SavingsMovement {
        customer: CustomerRef::new(customer).unwrap(),
        amount: eur(amount),
        sale_id: Some(SaleId::new(sale).unwrap()),
        basis: None,
    })
}

fn redeem(customer: &str, amount: i64, sale: &str) -> EventPayload {
    EventPayload::SavingsRedeemed(SavingsMovement {
        customer: CustomerRef::new(customer).unwrap(),
        amount: eur(amount),
        sale_id: Some(SaleId::new(sale).unwrap()),
        basis: None,
    })
}

fn take_back(customer: &str, amount: i64, sale: &str) -> EventPayload {
    EventPayload::SavingsReversed(SavingsReversal {
        customer: CustomerRef::new(customer).unwrap(),
        amount: eur(amount),
        reverses: Reverses::Earn,
        original_event: None,
        sale_id: Some(SaleId::new(sale).unwrap()),
    })
}

async fn publish(central: &Central, toml: &str) -> (StatusCode, Value) {
    let response = central
        .admin(Method::POST, "/admin/v1/catalogs")
        .header("content-type", "application/toml")
        .body(toml.to_owned())
        .send()
        .await
        .unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn accepted(central: &Central, till: &TestTill, payloads: Vec<EventPayload>) -> Value {
    let events = payloads.into_iter().map(|p| till.event(p)).collect();
    let (status, ack) = till.upload(central, events).await;
    assert_eq!(status, StatusCode::OK, "{ack}");
    assert!(statuses(&ack).iter().all(|s| s == "accepted"), "{ack}");
    ack
}

/// (spendable, pending, debt) as an administrator sees them.
async fn savings(central: &Central, customer: &str) -> (i64, i64, i64) {
    let view = central.customer(customer).await;
    (
        view["savings"]["amount"].as_i64().unwrap(),
        view["pending"]["amount"].as_i64().unwrap(),
        view["debt"]["amount"].as_i64().unwrap(),
    )
}

/// The balance items of the page after `cursor`, and the next cursor.
async fn balances(central: &Central, till: &TestTill, cursor: &str) -> (Vec<Value>, String) {
    let (status, page) = till
        .get_json(central, &format!("/v1/deltas/balances?cursor={cursor}"))
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    (
        page["items"].as_array().unwrap().clone(),
        page["next_cursor"].as_str().unwrap().to_owned(),
    )
}

#[tokio::test]
async fn an_earn_stays_pending_until_its_window_closes_by_centrals_clock() {
    let central = Central::start().await;
    let (status, answer) = publish(&central, FOURTEEN_DAYS).await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
    central.create_customer("C-1", 0, false).await;
    let till = central.enrol("S001", "S001-T01").await;

    // The repro: 0 savings, a €2,000 sale earns €39.90, pending for 14 days.
    let ack = accepted(&central, &till, vec![earn("C-1", 3990, "S-1")]).await;
    assert!(ack["acks"][0]["flags"].as_array().is_none_or(Vec::is_empty));
    assert_eq!(savings(&central, "C-1").await, (0, 3990, 0));
    let view = central.customer("C-1").await;
    let release = view["next_release_at"].as_i64().unwrap();
    let expected = central.now() + 14 * DAY;
    assert!(
        (expected - 60..=expected).contains(&release),
        "{release} vs {expected}"
    );

    // The till learns both figures: nothing of it is spendable.
    let (items, cursor) = balances(&central, &till, "").await;
    let item = items.iter().find(|i| i["customer"] == "C-1").unwrap();
    assert_eq!(item["savings"]["amount"], 0, "{item}");
    assert_eq!(item["pending"]["amount"], 3990, "{item}");
    assert_eq!(item["next_release_at"], release, "{item}");

    // A pass issued now carries a snapshot of the spendable savings only.
    let (status, pass) = central
        .admin_json(Method::POST, "/v1/customers/C-1/pass", Value::Null)
        .await;
    assert_eq!(status, StatusCode::CREATED, "{pass}");
    let signed = token::decode(pass["text"].as_str().unwrap()).unwrap();
    let body = signed.body();
    assert_eq!(body.kind, TokenKind::CustomerPass);
    assert_eq!(body.balance.map(|b| b.amount), Some(0));

    // One second before its time it is still pending; at its time central releases it
    // and the next balances page carries it.
    central.freeze_at(release - 1);
    let (items, _) = balances(&central, &till, &cursor).await;
    assert!(items.is_empty(), "nothing changed yet: {items:?}");
    assert_eq!(savings(&central, "C-1").await, (0, 3990, 0));
    central.freeze_at(release);
    let (items, _) = balances(&central, &till, &cursor).await;
    assert_eq!(items.len(), 1, "{items:?}");
    assert_eq!(items[0]["savings"]["amount"], 3990);
    assert_eq!(items[0]["pending"]["amount"], 0);
    assert!(items[0].get("next_release_at").is_none(), "{}", items[0]);
    assert_eq!(savings(&central, "C-1").await, (3990, 0, 0));
}

#[tokio::test]
async fn a_return_takes_back_pending_first_then_spendable_never_below_zero() {
    let central = Central::start().await;
    publish(&central, FOURTEEN_DAYS).await;
    central.create_customer("C-1", 100, false).await;
    let till = central.enrol("S001", "S001-T01").await;
    accepted(
        &central,
        &till,
        vec![earn("C-1", 3990, "S-1"), earn("C-1", 500, "S-2")],
    )
    .await;
    assert_eq!(savings(&central, "C-1").await, (100, 4490, 0));

    // Returning S-1 takes back S-1's own pending savings; S-2's keep their release time.
    accepted(&central, &till, vec![take_back("C-1", 3990, "S-1")]).await;
    assert_eq!(savings(&central, "C-1").await, (100, 500, 0));

    // A return larger than what is pending empties pending first, then takes from the
    // spendable balance, stopping at zero (flagged).
    let ack = till
        .upload(&central, vec![till.event(take_back("C-1", 700, "S-9"))])
        .await
        .1;
    assert_eq!(statuses(&ack), ["accepted"]);
    assert_eq!(
        ack["acks"][0]["flags"],
        json!(["reversal_clamped"]),
        "{ack}"
    );
    assert_eq!(savings(&central, "C-1").await, (0, 0, 0));
}

/// The issue's repro, sent by a till that still spent pending savings: central no longer
/// lets the €38.00 go — the redemption beyond the spendable balance is a flagged debt, and
/// the return takes back the pending savings whole.
#[tokio::test]
async fn pending_savings_spent_by_an_old_till_become_a_flagged_debt() {
    let central = Central::start().await;
    publish(&central, FOURTEEN_DAYS).await;
    central.create_customer("C-1", 0, false).await;
    let till = central.enrol("S001", "S001-T01").await;
    accepted(&central, &till, vec![earn("C-1", 3990, "S-1")]).await;
    let ack = accepted(&central, &till, vec![redeem("C-1", 3990, "S-2")]).await;
    assert_eq!(ack["acks"][0]["flags"], json!(["overspend_debt"]), "{ack}");
    accepted(&central, &till, vec![take_back("C-1", 3990, "S-1")]).await;
    assert_eq!(savings(&central, "C-1").await, (0, 0, 3990));
}

#[tokio::test]
async fn an_earn_uploaded_after_its_window_is_spendable_at_once_and_pays_a_debt_first() {
    let central = Central::start().await;
    publish(&central, FOURTEEN_DAYS).await;
    central.create_customer("C-1", 0, false).await;
    let till = central.enrol("S001", "S001-T01").await;
    accepted(&central, &till, vec![redeem("C-1", 300, "S-0")]).await;
    assert_eq!(savings(&central, "C-1").await, (0, 0, 300));
    // The till was offline for 15 days: the sale's window closed before central heard of it.
    let mut late = till.event(earn("C-1", 1000, "S-1"));
    late.occurred_at -= 15 * DAY;
    let (_, ack) = till.upload(&central, vec![late]).await;
    assert_eq!(statuses(&ack), ["accepted"]);
    assert_eq!(savings(&central, "C-1").await, (700, 0, 0));

    // A pending earn released later pays a debt first too.
    accepted(&central, &till, vec![redeem("C-1", 900, "S-2")]).await;
    accepted(&central, &till, vec![earn("C-1", 500, "S-3")]).await;
    assert_eq!(savings(&central, "C-1").await, (0, 500, 200));
    central.offset.store(14 * DAY + 5, Ordering::SeqCst);
    assert_eq!(savings(&central, "C-1").await, (300, 0, 0));
}

/// Pending savings coming due for many customers at once (a campaign's release date, a
/// central back from an outage) are released by the rounds, a bounded step each: in one
/// statement, the fan-out of the balance changes took a scope lock per customer in one
/// transaction and PostgreSQL's lock table ran out ("out of shared memory"), so every
/// round failed, on every node, for as long as they were due.
#[tokio::test]
async fn savings_due_for_many_customers_at_once_are_released_by_the_rounds() {
    use ed25519_dalek::SigningKey;
    use tillpass_central::storage::{Database, Location};
    use tillpass_protocol::sync::{Cursor, DeltaKind, DeltaQuery, StoreId};
    const CUSTOMERS: i64 = 15_000;
    let Some(test_db) = crate::pg::database("pending_many").await else {
        return;
    };
    let db = Database::open(&Location::Postgres(test_db.url().to_owned()))
        .await
        .unwrap();
    let client = crate::pg::connect(test_db.url()).await;
    let t0: i64 = 1_000 * 86_400;
    crate::pg::many_customers(&client, CUSTOMERS, 0, t0).await;
    client
        .batch_execute(&format!(
            "INSERT INTO events (id, till, store, seq, kind, occurred_at, received_at,
                                 sha256, payload)
             SELECT 'E-' || i, 'S1-T1', 'S1', i, 'savings_earned', {t0}, {t0}, '', '{{}}'
             FROM generate_series(1, {CUSTOMERS}) i;
             INSERT INTO pending_savings (customer, amount, release_at, event_id)
             SELECT 'C-' || i, 7, {t0}, 'E-' || i FROM generate_series(1, {CUSTOMERS}) i;
             ANALYZE;"
        ))
        .await
        .unwrap();
    let key = SigningKey::from_bytes(&[9; 32]);
    let store = StoreId::new("S1").unwrap();
    let query = DeltaQuery {
        cursor: Cursor::start(),
        limit: Some(1),
    };
    for round in 1.. {
        db.delta_page(DeltaKind::Balances, &query, &store, &key, t0 + 10)
            .await
            .unwrap_or_else(|e| panic!("round {round}: {e}"));
        let left: i64 = client
            .query_one("SELECT count(*) FROM pending_savings", &[])
            .await
            .unwrap()
            .get(0);
        if left == 0 {
            break;
        }
        assert!(round < 1_000, "{left} still pending after {round} rounds");
    }
    let row = client
        .query_one(
            "SELECT (SELECT sum(balance)::BIGINT FROM savings_accounts),
                    (SELECT count(*) FROM changes WHERE kind = 'balances')",
            &[],
        )
        .await
        .unwrap();
    let (credited, changes): (i64, i64) = (row.get(0), row.get(1));
    assert_eq!(credited, 7 * CUSTOMERS, "every saving credited once");
    assert_eq!(changes, CUSTOMERS, "one balance change each");
}
