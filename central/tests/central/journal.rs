//! Journal ingestion: idempotency, per-event answers, balances, overspend debts, tokens at
//! two stores, receipts only with consent.

use reqwest::{Method, StatusCode};
use serde_json::Value;
use tillpass_protocol::money::{Currency, Money};
use tillpass_protocol::sync::{
    CustomerRef, EventPayload, GiftCardMovement, GiftCardRef, Quantity, SaleClosed, SaleId,
    SaleLine, SaleTotals, SavingsMovement, Subject, Tender, TokenId, TokenKind, TokenUsed,
};

use crate::util::{Central, statuses};

pub fn eur(amount: i64) -> Money {
    Money::new(amount, Currency::EUR)
}

fn earn(customer: &str, amount: i64) -> EventPayload {
    EventPayload::SavingsEarned(SavingsMovement {
        customer: CustomerRef::new(customer).unwrap(),
        amount: eur(amount),
        sale_id: None,
        basis: None,
    })
}

fn redeem(customer: &str, amount: i64) -> EventPayload {
    EventPayload::SavingsRedeemed(SavingsMovement {
        customer: CustomerRef::new(customer).unwrap(),
        amount: eur(amount),
        sale_id: None,
        basis: None,
    })
}

fn token_used(token: [u8; 8]) -> EventPayload {
    token_of_kind(token, TokenKind::CustomerPass)
}

fn token_of_kind(token: [u8; 8], kind: TokenKind) -> EventPayload {
    EventPayload::TokenUsed(TokenUsed {
        token_id: TokenId::new(&token).unwrap(),
        kind,
        subject: Subject::new("C-1").unwrap(),
        key_id: [1, 2, 3, 4],
        sale_id: None,
    })
}

pub fn sale(customer: &str, sale_id: &str) -> EventPayload {
    EventPayload::SaleClosed(SaleClosed {
        sale_id: SaleId::new(sale_id).unwrap(),
        customer: Some(CustomerRef::new(customer).unwrap()),
        lines: vec![SaleLine {
            line_id: "1".into(),
            sku: "SKU-1".into(),
            quantity: Quantity::Units(1),
            unit_price: eur(1000),
            discount: eur(0),
            total: eur(1000),
            savings_earned: Some(eur(10)),
        }],
        effects: vec![],
        tenders: vec![Tender::Cash { amount: eur(1000) }],
        totals: SaleTotals {
            gross: eur(1000),
            discounts: eur(0),
            net: eur(1000),
        },
        savings_earned: eur(10),
        savings_redeemed: eur(0),
    })
}

#[tokio::test]
async fn the_same_batch_twice_is_applied_once() {
    let central = Central::start().await;
    central.create_customer("C-1", 1000, false).await;
    let till = central.enrol("S001", "S001-T01").await;
    let events = vec![
        till.event(earn("C-1", 50)),
        till.event(redeem("C-1", 300)),
        till.event(token_used([7; 8])),
    ];
    let (status, ack) = till.upload(&central, events.clone()).await;
    assert_eq!(status, StatusCode::OK, "{ack}");
    assert_eq!(statuses(&ack), ["accepted", "accepted", "accepted"]);
    assert_eq!(ack["acks"][0]["id"], events[0].id.to_hex());

    let (status, ack) = till.upload(&central, events.clone()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(statuses(&ack), ["duplicate", "duplicate", "duplicate"]);
    assert_eq!(central.customer("C-1").await["savings"]["amount"], 750);

    // Same id, other content: refused, and nothing changes.
    let mut forged = events[0].clone();
    forged.payload = earn("C-1", 5000);
    let (_, ack) = till.upload(&central, vec![forged]).await;
    assert_eq!(ack["acks"][0]["status"], "rejected");
    assert_eq!(ack["acks"][0]["code"], "id_conflict");
    assert_eq!(central.customer("C-1").await["savings"]["amount"], 750);
}

#[tokio::test]
async fn each_event_is_answered_on_its_own() {
    let central = Central::start().await;
    central.create_customer("C-1", 0, false).await;
    let till = central.enrol("S001", "S001-T01").await;
    let good = till.event(earn("C-1", 10));
    let unknown = till.event(earn("NOBODY", 10));
    let mut foreign = till.event(earn("C-1", 10));
    foreign.store = tillpass_protocol::sync::StoreId::new("S999").unwrap();
    let card = till.event(EventPayload::GiftCardDebited(GiftCardMovement {
        card: GiftCardRef::new("NOCARD").unwrap(),
        amount: eur(10),
        sale_id: None,
        hold_id: None,
        basis: None,
    }));
    let mut body = serde_json::to_value(
        tillpass_protocol::sync::UploadBatch::new(
            till.id.clone(),
            vec![good, unknown, foreign, card],
        )
        .unwrap(),
    )
    .unwrap();
    // An event of a kind this central does not know, with a good id.
    let mut strange = serde_json::to_value(till.event(earn("C-1", 10))).unwrap();
    strange["payload"]["type"] = Value::from("savings_doubled");
    body["events"].as_array_mut().unwrap().push(strange);

    let (status, ack) = till
        .upload_raw(&central, serde_json::to_vec(&body).unwrap())
        .await;
    assert_eq!(status, StatusCode::OK, "{ack}");
    assert_eq!(
        statuses(&ack),
        ["accepted", "rejected", "rejected", "rejected", "rejected"]
    );
    let codes: Vec<&str> = ack["acks"]
        .as_array()
        .unwrap()
        .iter()
        .skip(1)
        .map(|a| a["code"].as_str().unwrap())
        .collect();
    assert_eq!(
        codes,
        [
            "unknown_customer",
            "wrong_store",
            "unknown_gift_card",
            "malformed"
        ]
    );
    assert_eq!(central.customer("C-1").await["savings"]["amount"], 10);
}

#[tokio::test]
async fn an_offline_overspend_becomes_a_flagged_debt() {
    let central = Central::start().await;
    central.create_customer("C-1", 500, false).await;
    let (status, _) = central
        .admin_json(
            Method::POST,
            "/admin/v1/gift-cards",
            serde_json::json!({ "card": "GC-1", "balance": 1000 }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let till = central.enrol("S001", "S001-T01").await;
    let (_, ack) = till
        .upload(
            &central,
            vec![
                till.event(redeem("C-1", 800)),
                till.event(EventPayload::GiftCardDebited(GiftCardMovement {
                    card: GiftCardRef::new("GC-1").unwrap(),
                    amount: eur(1500),
                    sale_id: None,
                    hold_id: None,
                    basis: None,
                })),
            ],
        )
        .await;
    assert_eq!(statuses(&ack), ["accepted", "accepted"]);
    assert_eq!(
        ack["acks"][0]["flags"],
        serde_json::json!(["overspend_debt"])
    );
    assert_eq!(
        ack["acks"][1]["flags"],
        serde_json::json!(["overspend_debt"])
    );

    let customer = central.customer("C-1").await;
    assert_eq!(customer["savings"]["amount"], 0);
    assert_eq!(customer["debt"]["amount"], 300);
    let (_, card) = central
        .admin_json(Method::GET, "/admin/v1/gift-cards/GC-1", Value::Null)
        .await;
    assert_eq!(card["balance"]["amount"], 0);
    assert_eq!(card["debt"]["amount"], 500);

    let (_, flags) = central
        .admin_json(Method::GET, "/admin/v1/flags", Value::Null)
        .await;
    let kinds: Vec<&str> = flags
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["overspend_debt", "overspend_debt"]);

    // Money coming in pays the debt first.
    let (_, ack) = till
        .upload(&central, vec![till.event(earn("C-1", 400))])
        .await;
    assert_eq!(statuses(&ack), ["accepted"]);
    let customer = central.customer("C-1").await;
    assert_eq!(customer["debt"]["amount"], 0);
    assert_eq!(customer["savings"]["amount"], 100);
}

#[tokio::test]
async fn one_token_at_two_stores_is_flagged() {
    let central = Central::start().await;
    let north = central.enrol("S001", "S001-T01").await;
    let north_two = central.enrol("S001", "S001-T02").await;
    let south = central.enrol("S002", "S002-T01").await;

    let (_, ack) = north
        .upload(&central, vec![north.event(token_used([9; 8]))])
        .await;
    assert_eq!(ack["acks"][0]["flags"], Value::Null);
    // The same store, another till: no flag (the replay policy is the till's business).
    let (_, ack) = north_two
        .upload(&central, vec![north_two.event(token_used([9; 8]))])
        .await;
    assert_eq!(statuses(&ack), ["accepted"]);
    assert_eq!(ack["acks"][0]["flags"], Value::Null);
    // Another store: flagged, and accepted.
    let (_, ack) = south
        .upload(&central, vec![south.event(token_used([9; 8]))])
        .await;
    assert_eq!(statuses(&ack), ["accepted"]);
    assert_eq!(
        ack["acks"][0]["flags"],
        serde_json::json!(["token_at_two_stores"])
    );

    let (_, flags) = central
        .admin_json(Method::GET, "/admin/v1/flags", Value::Null)
        .await;
    assert_eq!(flags[0]["kind"], "token_at_two_stores");
    assert_eq!(flags[0]["subject"], hex::encode([9u8; 8]));
}

#[tokio::test]
async fn a_gift_card_qr_paying_at_two_stores_is_not_flagged() {
    let central = Central::start().await;
    let north = central.enrol("S001", "S001-T01").await;
    let south = central.enrol("S002", "S002-T01").await;
    for till in [&north, &south] {
        let (_, ack) = till
            .upload(
                &central,
                vec![till.event(token_of_kind([7; 8], TokenKind::GiftCard))],
            )
            .await;
        assert_eq!(statuses(&ack), ["accepted"]);
        assert_eq!(ack["acks"][0]["flags"], Value::Null, "{ack}");
    }
    let (_, flags) = central
        .admin_json(Method::GET, "/admin/v1/flags", Value::Null)
        .await;
    assert_eq!(flags.as_array().map(Vec::len), Some(0), "{flags}");
}

#[tokio::test]
async fn receipts_are_produced_only_with_consent() {
    let central = Central::start().await;
    central.create_customer("YES", 0, true).await;
    central.create_customer("NO", 0, false).await;
    let till = central.enrol("S001", "S001-T01").await;
    let (_, ack) = till
        .upload(
            &central,
            vec![
                till.event(sale("YES", "POS-1")),
                till.event(sale("NO", "POS-2")),
            ],
        )
        .await;
    assert_eq!(statuses(&ack), ["accepted", "accepted"]);
    let (_, yes) = central
        .admin_json(Method::GET, "/admin/v1/customers/YES/receipts", Value::Null)
        .await;
    assert_eq!(yes.as_array().unwrap().len(), 1);
    assert_eq!(yes[0]["sale_id"], "POS-1");
    assert_eq!(yes[0]["totals"]["net"]["amount"], 1000);
    let (_, no) = central
        .admin_json(Method::GET, "/admin/v1/customers/NO/receipts", Value::Null)
        .await;
    assert_eq!(no, serde_json::json!([]));

    // Erasure takes the receipts with it.
    let response = central
        .admin(Method::DELETE, "/admin/v1/customers/YES")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let (_, yes) = central
        .admin_json(Method::GET, "/admin/v1/customers/YES/receipts", Value::Null)
        .await;
    assert_eq!(yes, serde_json::json!([]));
}

#[tokio::test]
async fn a_batch_from_another_till_or_too_large_is_refused_whole() {
    let central = Central::start().await;
    let till = central.enrol("S001", "S001-T01").await;
    let other = central.enrol("S001", "S001-T02").await;
    let batch = tillpass_protocol::sync::UploadBatch::new(
        other.id.clone(),
        vec![other.event(earn("C-1", 1))],
    )
    .unwrap();
    let (status, problem) = till
        .upload_raw(&central, serde_json::to_vec(&batch).unwrap())
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(problem["code"], "invalid_request");
}

#[tokio::test]
async fn the_protocols_bounds_decide_at_ingest_with_the_field_at_fault() {
    use tillpass_protocol::sync::limits;
    let central = Central::start().await;
    central.create_customer("C-1", 0, false).await;
    let till = central.enrol("S001", "S001-T01").await;
    let with = |n: &str, f: &dyn Fn(&mut SaleClosed)| {
        let mut payload = sale("C-1", n);
        if let EventPayload::SaleClosed(s) = &mut payload {
            f(s);
        }
        till.event(payload)
    };
    let at_the_bounds = with("S-1", &|s| {
        let mut line = s.lines[0].clone();
        line.sku = "é".repeat(limits::MAX_TEXT_LEN / 2);
        line.line_id = "1".repeat(limits::MAX_LINE_ID_LEN);
        s.lines = vec![line; limits::MAX_LINES];
        s.totals = SaleTotals {
            gross: eur(1000),
            discounts: eur(0),
            net: eur(1000),
        };
    });
    let tab = with("S-2", &|s| s.lines[0].sku = "A\tB".into());
    let too_many = with("S-3", &|s| {
        s.lines = vec![s.lines[0].clone(); limits::MAX_LINES + 1];
    });
    let (status, ack) = till
        .upload(&central, vec![at_the_bounds, tab, too_many])
        .await;
    assert_eq!(status, StatusCode::OK, "{ack}");
    assert_eq!(
        statuses(&ack),
        ["accepted", "rejected", "rejected"],
        "{ack}"
    );
    assert_eq!(ack["acks"][1]["code"], "invalid");
    assert_eq!(
        ack["acks"][1]["detail"],
        "lines[0].sku: holds a control character (TAB, line break…)"
    );
    assert_eq!(ack["acks"][2]["detail"], "lines: too many entries");
}
