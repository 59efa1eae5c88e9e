//! Delta pages by cursor; erasure reaches tills as tombstones and revocations.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tillpass_protocol::sync::{
    CustomerRef, EventPayload, Quantity, ReturnLine, ReturnRecorded, RevocationEnvelope, SaleId,
    Tender,
};
use tillpass_protocol::token::{RevocationDelta, TokenKind};

use crate::journal::{eur, sale};
use crate::util::{Central, TestTill, statuses};

async fn page(till: &TestTill, central: &Central, kind: &str, cursor: &str, limit: u32) -> Value {
    let (status, page) = till
        .get_json(
            central,
            &format!("/v1/deltas/{kind}?cursor={cursor}&limit={limit}"),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    page
}

fn refs(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            let who = if i["customer"].is_string() {
                &i["customer"]
            } else {
                &i["customer"]["customer"]
            };
            format!("{}:{}", i["op"].as_str().unwrap(), who.as_str().unwrap())
        })
        .collect()
}

#[tokio::test]
async fn customers_come_in_pages_and_erasure_as_a_tombstone() {
    let central = Central::start().await;
    for i in 1..=5 {
        central.create_customer(&format!("C-{i}"), 100, false).await;
    }
    let till = central.enrol("S001", "S001-T01").await;

    let first = page(&till, &central, "customers", "", 2).await;
    assert_eq!(refs(&first), ["upsert:C-1", "upsert:C-2"]);
    assert_eq!(first["has_more"], true);
    let cursor = first["next_cursor"].as_str().unwrap();
    let second = page(&till, &central, "customers", cursor, 2).await;
    assert_eq!(refs(&second), ["upsert:C-3", "upsert:C-4"]);
    let cursor = second["next_cursor"].as_str().unwrap();
    let third = page(&till, &central, "customers", cursor, 2).await;
    assert_eq!(refs(&third), ["upsert:C-5"]);
    assert_eq!(third["has_more"], false);
    let end = third["next_cursor"].as_str().unwrap().to_owned();
    let empty = page(&till, &central, "customers", &end, 2).await;
    assert_eq!(refs(&empty), Vec::<String>::new());
    assert_eq!(empty["next_cursor"], end.as_str());

    // A changed customer comes again, once, with its new state.
    let (status, _) = central
        .admin_json(
            Method::PATCH,
            "/admin/v1/customers/C-2",
            json!({ "tier": "silver", "consent": { "receipts": true, "marketing": true } }),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let changed = page(&till, &central, "customers", &end, 10).await;
    assert_eq!(refs(&changed), ["upsert:C-2"]);
    assert_eq!(changed["items"][0]["customer"]["tier"], "silver");
    assert_eq!(changed["items"][0]["customer"]["consent"]["receipts"], true);
    let end = changed["next_cursor"].as_str().unwrap().to_owned();

    // Erasure: a tombstone for the customer, a removal for the balance and promotions.
    let (status, _) = central
        .admin_json(
            Method::PUT,
            "/admin/v1/customers/C-3/promotions/P-C3",
            json!({ "promotion_id": "SUMMER-10" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let promos = page(&till, &central, "personal-promotions", "", 10).await;
    assert_eq!(promos["items"][0]["op"], "upsert");
    let promos_end = promos["next_cursor"].as_str().unwrap().to_owned();
    let balances = page(&till, &central, "balances", "", 10).await;
    let balances_end = balances["next_cursor"].as_str().unwrap().to_owned();
    assert_eq!(balances["items"].as_array().unwrap().len(), 5);
    assert_eq!(balances["items"][2]["savings"]["amount"], 100);

    let response = central
        .admin(Method::DELETE, "/admin/v1/customers/C-3")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);

    let erased = page(&till, &central, "customers", &end, 10).await;
    assert_eq!(refs(&erased), ["erased:C-3"]);
    assert!(erased["items"][0]["erased_at"].is_i64());
    assert!(
        !erased.to_string().contains("Lucía"),
        "no personal data in a tombstone"
    );
    let balances = page(&till, &central, "balances", &balances_end, 10).await;
    assert_eq!(refs(&balances), ["removed:C-3"]);
    let promos = page(&till, &central, "personal-promotions", &promos_end, 10).await;
    assert_eq!(
        promos["items"],
        json!([{ "op": "removed", "id": "P-C3", "customer": "C-3" }])
    );

    // The erased customer is gone at central and cannot come back through a till.
    let response = central
        .admin(Method::GET, "/admin/v1/customers/C-3")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let (_, ack) = till
        .upload(
            &central,
            vec![
                till.event(tillpass_protocol::sync::EventPayload::CustomerCreated(
                    tillpass_protocol::sync::LocalCustomer {
                        customer: tillpass_protocol::sync::CustomerRef::new("C-3").unwrap(),
                        first_name: None,
                        lang: None,
                    },
                )),
            ],
        )
        .await;
    assert_eq!(ack["acks"][0]["code"], "customer_erased");

    // And its passes are revoked, in a revocations envelope signed by the sync key.
    let revocations = page(&till, &central, "revocations", "", 10).await;
    let items: Vec<RevocationEnvelope> =
        serde_json::from_value(revocations["items"].clone()).unwrap();
    assert_eq!(items.len(), 1);
    let trust = till.trust(central.now());
    let (delta, header) = RevocationDelta::open(
        &items[0].envelope,
        &trust,
        u64::try_from(central.now()).unwrap(),
        0,
    )
    .unwrap();
    assert_eq!(header.sequence, items[0].sequence);
    assert_eq!(delta.subjects.len(), 1);
    assert_eq!(delta.subjects[0].kind, TokenKind::CustomerPass);
    assert_eq!(delta.subjects[0].subject.as_bytes(), b"C-3");
    let after = revocations["next_cursor"].as_str().unwrap();
    let none = page(&till, &central, "revocations", after, 10).await;
    assert_eq!(none["items"], json!([]));
}

#[tokio::test]
async fn gift_cards_and_bad_cursors() {
    let central = Central::start().await;
    let till = central.enrol("S001", "S001-T01").await;
    let (status, _) = central
        .admin_json(
            Method::POST,
            "/admin/v1/gift-cards",
            json!({ "card": "GC-1", "balance": 2500 }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, _) = central
        .admin_json(Method::POST, "/admin/v1/gift-cards/GC-1/block", Value::Null)
        .await;
    assert_eq!(status, StatusCode::OK);
    let cards = page(&till, &central, "gift-cards", "", 10).await;
    assert_eq!(cards["items"].as_array().unwrap().len(), 1);
    assert_eq!(cards["items"][0]["card"]["status"], "blocked");
    assert_eq!(cards["items"][0]["card"]["balance"]["amount"], 2500);

    let (status, problem) = till
        .get_json(&central, "/v1/deltas/customers?cursor=garbage")
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{problem}");
    let (status, _) = till.get_json(&central, "/v1/deltas/nothing").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

fn return_of(sale_id: &str, return_id: &str) -> EventPayload {
    EventPayload::ReturnRecorded(ReturnRecorded {
        return_id: SaleId::new(return_id).unwrap(),
        original_sale_id: SaleId::new(sale_id).unwrap(),
        customer: Some(CustomerRef::new("C-1").unwrap()),
        lines: vec![ReturnLine {
            line_id: "1".into(),
            quantity: Quantity::Units(1),
            refund: eur(1000),
            discount: Some(eur(0)),
            savings_reversed: Some(eur(10)),
        }],
        refunds: vec![Tender::Cash { amount: eur(1000) }],
        savings_reversed: eur(10),
    })
}

fn sale_ids(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            let returns: Vec<String> = i["sale"]["returns"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| {
                    format!(
                        "{}@{}",
                        r["return"]["return_id"].as_str().unwrap(),
                        r["till"].as_str().unwrap()
                    )
                })
                .collect();
            format!(
                "{}@{}{:?}",
                i["sale"]["sale"]["sale_id"].as_str().unwrap(),
                i["sale"]["till"].as_str().unwrap(),
                returns
            )
        })
        .collect()
}

#[tokio::test]
async fn a_stores_sales_and_returns_reach_its_tills_only() {
    let central = Central::start().await;
    central.create_customer("C-1", 100, false).await;
    let t1 = central.enrol("S001", "S001-T01").await;
    let t2 = central.enrol("S001", "S001-T02").await;
    let other = central.enrol("S002", "S002-T01").await;

    let (status, ack) = t1
        .upload(&central, vec![t1.event(sale("C-1", "POS-1"))])
        .await;
    assert_eq!(status, StatusCode::OK, "{ack}");
    let first = page(&t2, &central, "sales", "", 10).await;
    assert_eq!(sale_ids(&first), ["POS-1@S001-T01[]"]);
    let line = &first["items"][0]["sale"]["sale"]["lines"][0];
    assert_eq!(line["savings_earned"]["amount"], 10, "{first}");
    assert!(first["items"][0]["sale"]["closed_at"].is_i64());
    let cursor = first["next_cursor"].as_str().unwrap().to_owned();
    let foreign = page(&other, &central, "sales", "", 10).await;
    assert_eq!(sale_ids(&foreign), Vec::<String>::new());

    // A return at the second till sends the sale again, with it.
    let (_, ack) = t2
        .upload(&central, vec![t2.event(return_of("POS-1", "R-1"))])
        .await;
    assert_eq!(statuses(&ack), ["accepted"]);
    let again = page(&t2, &central, "sales", &cursor, 10).await;
    assert_eq!(sale_ids(&again), [r#"POS-1@S001-T01["R-1@S001-T02"]"#]);
    assert_eq!(
        again["items"][0]["sale"]["returns"][0]["return"]["lines"][0]["savings_reversed"]["amount"],
        10
    );
    let at_first = page(&t1, &central, "sales", "", 10).await;
    assert_eq!(sale_ids(&at_first), [r#"POS-1@S001-T01["R-1@S001-T02"]"#]);
    let cursor = again["next_cursor"].as_str().unwrap().to_owned();

    // A return of the same sale id at another store is not this store's.
    let (_, ack) = other
        .upload(&central, vec![other.event(return_of("POS-1", "R-9"))])
        .await;
    assert_eq!(statuses(&ack), ["accepted"]);
    let quiet = page(&t2, &central, "sales", &cursor, 10).await;
    assert_eq!(sale_ids(&quiet), Vec::<String>::new());

    // The same sale id from the store's other till is not offered (the first keeps it).
    let (_, ack) = t2
        .upload(&central, vec![t2.event(sale("C-1", "POS-1"))])
        .await;
    assert_eq!(statuses(&ack), ["accepted"]);
    let quiet = page(&t1, &central, "sales", &cursor, 10).await;
    assert_eq!(sale_ids(&quiet), Vec::<String>::new());

    // Once the customer is erased, their sales go out without them.
    let response = central
        .admin(Method::DELETE, "/admin/v1/customers/C-1")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let scrubbed = page(&t1, &central, "sales", "", 10).await;
    assert_eq!(sale_ids(&scrubbed), [r#"POS-1@S001-T01["R-1@S001-T02"]"#]);
    assert!(!scrubbed.to_string().contains("C-1"), "{scrubbed}");
}

#[tokio::test]
async fn returns_at_two_tills_that_take_back_more_than_was_sold_are_flagged() {
    let central = Central::start().await;
    central.create_customer("C-1", 100, false).await;
    let t1 = central.enrol("S001", "S001-T01").await;
    let t2 = central.enrol("S001", "S001-T02").await;
    let (_, ack) = t1
        .upload(&central, vec![t1.event(sale("C-1", "POS-7"))])
        .await;
    assert_eq!(statuses(&ack), ["accepted"]);
    // The one unit sold comes back at the second till: nothing to say.
    let (_, ack) = t2
        .upload(&central, vec![t2.event(return_of("POS-7", "R-1"))])
        .await;
    assert_eq!(statuses(&ack), ["accepted"]);
    assert_eq!(ack["acks"][0]["flags"], Value::Null, "{ack}");
    // The first till, offline from the second, took it back too: accepted, and flagged.
    let (_, ack) = t1
        .upload(&central, vec![t1.event(return_of("POS-7", "R-2"))])
        .await;
    assert_eq!(statuses(&ack), ["accepted"]);
    assert_eq!(
        ack["acks"][0]["flags"],
        json!(["return_exceeds_sale"]),
        "{ack}"
    );
    let (status, flags) = central
        .admin_json(Method::GET, "/admin/v1/flags", Value::Null)
        .await;
    assert_eq!(status, StatusCode::OK);
    let flag = flags
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["kind"] == "return_exceeds_sale")
        .unwrap_or_else(|| panic!("{flags}"));
    assert_eq!(flag["subject"], "POS-7");
    assert!(
        flag["detail"]
            .as_str()
            .unwrap()
            .contains("line 1: 2 returned of 1 sold"),
        "{flag}"
    );
}

#[tokio::test]
async fn a_till_that_asks_gets_each_page_signed_for_its_own_request() {
    use tillpass_protocol::sync::{
        Cursor, DeltaKind, PageError, PageRequest, RequestNonce, SIGNED_PAGE_MEDIA_TYPE, open_page,
    };

    let central = Central::start().await;
    central.create_customer("C-1", 250, false).await;
    let till = central.enrol("S001", "S001-T01").await;
    let path = "/v1/deltas/balances?cursor=&limit=10";

    // An older till does not ask: bare JSON, as before.
    let (status, plain) = till.get_json(&central, path).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(plain["items"][0]["savings"]["amount"], 250);

    let nonce = RequestNonce(crate::util::rand());
    let mut headers = till
        .headers("GET", path, b"", central.now(), nonce)
        .to_vec();
    headers.push(("accept", SIGNED_PAGE_MEDIA_TYPE.to_owned()));
    let response = till
        .send_with(&central, Method::GET, path, vec![], &headers)
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()["content-type"].to_str().unwrap(),
        SIGNED_PAGE_MEDIA_TYPE
    );
    let sealed = response.bytes().await.unwrap();
    let trust = till.trust(central.now());
    let now = u64::try_from(central.now()).unwrap();
    let request = PageRequest {
        kind: DeltaKind::Balances,
        till: till.id.clone(),
        cursor: Cursor::start(),
        nonce,
    };
    let page = open_page(&sealed, &request, &trust, now).unwrap();
    let page: Value = serde_json::from_slice(&page).unwrap();
    assert_eq!(page, plain, "the signed page holds what the bare one says");

    // Bound to this request: not another stream's, nor another request's.
    let other = PageRequest {
        kind: DeltaKind::GiftCards,
        ..request.clone()
    };
    assert_eq!(
        open_page(&sealed, &other, &trust, now),
        Err(PageError::OtherRequest("kind"))
    );
    let replayed = PageRequest {
        nonce: RequestNonce(crate::util::rand()),
        ..request
    };
    assert_eq!(
        open_page(&sealed, &replayed, &trust, now),
        Err(PageError::OtherRequest("nonce"))
    );
}

/// The items of a ledger page as `op:holder:outcome` (spends) or `op:kind:holder:resolved`
/// (flags).
fn ledger_items(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| match i["op"].as_str().unwrap() {
            "spend" => format!(
                "spend:{}:{}:{}:{}",
                i["spend"]["till"].as_str().unwrap(),
                i["spend"]["holder"].as_str().unwrap(),
                i["spend"]["short"]["amount"],
                i["spend"]["outcome"].as_str().unwrap()
            ),
            "flag" => format!(
                "flag:{}:{}:{}",
                i["flag"]["kind"].as_str().unwrap(),
                i["flag"]["holder"].as_str().unwrap(),
                i["flag"]["resolved"]
            ),
            other => format!("{other}:{}", i["id"]),
        })
        .collect()
}

/// Three tills spend one customer's savings offline and show one pass; the late journal of
/// the store's second till lands before the other store's in time. Each store's tills get
/// their own store's spends with central's outcome and the flags concerning the store,
/// references masked; a later earn that pays the debt turns the outcome to `resolved`.
#[tokio::test]
async fn each_store_gets_its_ledger_with_outcomes_and_flags_masked() {
    use tillpass_protocol::sync::{Subject, TokenId, TokenUsed};
    let central = Central::start().await;
    central.create_customer("C-000123", 1500, false).await;
    let a1 = central.enrol("S001", "S001-T01").await;
    let a2 = central.enrol("S001", "S001-T02").await;
    let b1 = central.enrol("S002", "S002-T01").await;
    let pass = || {
        EventPayload::TokenUsed(TokenUsed {
            token_id: TokenId::new(&[5; 16]).unwrap(),
            kind: tillpass_protocol::sync::TokenKind::CustomerPass,
            subject: Subject::new("C-000123").unwrap(),
            key_id: [1, 2, 3, 4],
            sale_id: None,
        })
    };
    let redeem = |amount| {
        EventPayload::SavingsRedeemed(tillpass_protocol::sync::SavingsMovement {
            customer: CustomerRef::new("C-000123").unwrap(),
            amount: eur(amount),
            sale_id: None,
        })
    };
    let at = |till: &TestTill, offset: i64, payload| {
        let mut e = till.event(payload);
        e.occurred_at -= 600 - offset;
        e
    };
    // In time: S001-T01, then S002-T01, then S001-T02; they arrive S001-T01, S001-T02,
    // S002-T01.
    for (till, offset) in [(&a1, 0), (&a2, 20), (&b1, 10)] {
        let (status, ack) = till
            .upload(
                &central,
                vec![at(till, offset, pass()), at(till, offset, redeem(1000))],
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{ack}");
        assert_eq!(statuses(&ack), ["accepted", "accepted"]);
    }
    let customer = central.customer("C-000123").await;
    assert_eq!(customer["debt"]["amount"], 1500, "{customer}");

    let s1 = page(&a2, &central, "ledger", "", 50).await;
    let mut items: Vec<String> = ledger_items(&s1)
        .into_iter()
        .filter(|i| !i.starts_with("gone:"))
        .collect();
    items.sort();
    assert_eq!(
        items,
        [
            "flag:overspend_debt:C-••••23:false",
            "flag:token_at_two_stores:C-••••23:false",
            "spend:S001-T01:C-••••23:0:confirmed",
            "spend:S001-T02:C-••••23:1000:debt",
        ],
        "{s1}"
    );
    let text = s1.to_string();
    assert!(!text.contains("C-000123"), "only masked references: {text}");
    let s2 = page(&b1, &central, "ledger", "", 50).await;
    let items = ledger_items(&s2);
    assert!(
        items.contains(&"spend:S002-T01:C-••••23:500:debt".to_owned()),
        "{s2}"
    );
    assert!(!items.iter().any(|i| i.contains("S001-T0")), "{s2}");
    assert!(!s2.to_string().contains("C-000123"), "{s2}");

    // An earn pays the debt: the store's tills learn the spends' outcome is resolved.
    let cursor = s1["next_cursor"].as_str().unwrap().to_owned();
    let (_, ack) = a1
        .upload(
            &central,
            vec![a1.event(EventPayload::SavingsEarned(
                tillpass_protocol::sync::SavingsMovement {
                    customer: CustomerRef::new("C-000123").unwrap(),
                    amount: eur(1500),
                    sale_id: None,
                },
            ))],
        )
        .await;
    assert_eq!(statuses(&ack), ["accepted"]);
    let after = page(&a1, &central, "ledger", &cursor, 50).await;
    let items = ledger_items(&after);
    assert!(
        items.contains(&"spend:S001-T02:C-••••23:1000:resolved".to_owned()),
        "{after}"
    );
    assert!(
        items.contains(&"flag:overspend_debt:C-••••23:true".to_owned()),
        "{after}"
    );
}
