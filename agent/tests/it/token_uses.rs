//! A token's use commits with what it was used for: the use of a pass, a voucher or a gift
//! card scanned inside a POS request is written in that request's transaction, so a
//! refused request uses nothing; a second read for the same sale or within a pass's visit
//! is the same use; a gift card's QR pays until its card is empty or expired. Over real
//! loopback sockets and a real SQLite file, the agent in-process (with its wall clock in
//! the test's hand where time matters); `crash.rs` kills the real binary mid-request.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::{Value, json};
use tillpass_protocol::token::TokenKind;

use crate::sessions::{Served, amount, cart, eur, seeded_till, seeded_till_with};
use crate::util::{Central, now};

/// The sale of every `token_used` event of `subject` in the outbox, in order.
fn uses_of(pos: &Served, subject: &str) -> Vec<Option<String>> {
    let conn = pos.state.store.conn();
    let mut stmt = conn
        .prepare(
            "SELECT json_extract(body, '$.payload.sale_id') FROM outbox
             WHERE kind = 'token_used' AND json_extract(body, '$.payload.subject') = ?1
             ORDER BY seq",
        )
        .unwrap();
    stmt.query_map([subject], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

/// A wall clock the test moves forward: the system's plus an offset in seconds.
fn movable_clock() -> (Arc<AtomicU64>, tillpass_agent::clock::WallClock) {
    let offset = Arc::new(AtomicU64::new(0));
    let read = offset.clone();
    (
        offset,
        Arc::new(move || now() + read.load(Ordering::SeqCst)),
    )
}

fn identify(pos: &Served, scan: &str) -> (u16, Value) {
    pos.call(
        "POST",
        "/v1/identify",
        None,
        &json!({ "scan": scan }).to_string(),
    )
}

fn open_sale(pos: &Served, id: &str, key: &str) -> Value {
    let (status, s) = pos.put(
        id,
        key,
        &json!({ "cart": cart(), "use_current_customer": false }),
    );
    assert_eq!(status, 200, "{s:#}");
    s
}

#[test]
fn a_refused_cart_with_a_pass_uses_nothing_and_its_retry_identifies() {
    let central = Central::new();
    // One visit per pass: a use burnt by a refusal would make the retry a replay.
    let till = seeded_till_with(&central, 1);
    let pass = central.pass("C-1", now() - 10, 3600, 31);
    {
        let pos = Served::start(&till);
        open_sale(&pos, "P-1", "p1");
        let (status, e) = pos.put(
            "P-1",
            "p2",
            &json!({ "version": 7, "cart": cart(), "customer_scan": pass }),
        );
        assert_eq!(status, 409, "{e:#}");
        assert_eq!(e["code"], "stale_version");
        let mut other_currency = cart();
        other_currency["currency"] = json!("USD");
        let (status, e) = pos.put(
            "P-1",
            "p3",
            &json!({ "version": 1, "cart": other_currency, "customer_scan": pass }),
        );
        assert_eq!(status, 422, "{e:#}");
        assert_eq!(
            pos.count("token_uses"),
            0,
            "the refused requests used nothing"
        );
        assert!(uses_of(&pos, "C-1").is_empty());
    }
    // Restarted, so nothing but the store remembers the refused requests: the retry
    // with the right version identifies the customer.
    let pos = Served::start(&till);
    let body = json!({ "version": 1, "cart": cart(), "customer_scan": pass });
    let (status, s) = pos.put("P-1", "p4", &body);
    assert_eq!(status, 200, "{s:#}");
    assert_eq!(s["customer"]["customer_ref"], "C-1");
    assert_eq!(uses_of(&pos, "C-1"), [Some("P-1".to_owned())]);
    // The same request with its key again: the original answer, no second use.
    let (status, again) = pos.put("P-1", "p4", &body);
    assert_eq!(status, 200);
    assert_eq!(again, s);
    assert_eq!(uses_of(&pos, "C-1").len(), 1);
}

#[test]
fn a_refused_tender_by_qr_uses_nothing_and_the_right_version_pays() {
    let central = Central::new();
    let till = seeded_till(&central);
    let pos = Served::start(&till);
    let card = central.token_of(
        TokenKind::GiftCard,
        "GC-1",
        now() - 10,
        3600,
        32,
        &central.token,
    );
    open_sale(&pos, "G-1", "g1");
    let tender = |version: u64, amount_minor: i64| {
        json!({ "version": version, "tender": {
            "type": "gift_card", "scan": card, "amount": eur(amount_minor) } })
    };
    let (status, e) = pos.post("/v1/sessions/G-1/tenders", "g2", &tender(3, 500));
    assert_eq!(status, 409, "{e:#}");
    assert_eq!(e["code"], "stale_version");
    let (status, e) = pos.post("/v1/sessions/G-1/tenders", "g3", &tender(1, 2000));
    assert_eq!(status, 422, "{e:#}");
    assert_eq!(e["code"], "exceeds_amount_due");
    assert_eq!(
        pos.count("token_uses"),
        0,
        "the refused tenders used nothing"
    );
    assert_eq!(pos.count("gift_card_holds"), 0);
    assert!(uses_of(&pos, "GC-1").is_empty());

    let (status, s) = pos.post("/v1/sessions/G-1/tenders", "g4", &tender(1, 500));
    assert_eq!(status, 200, "{s:#}");
    assert_eq!(amount(&s["tenders"][0]["amount"]), 500);
    let (status, again) = pos.post("/v1/sessions/G-1/tenders", "g4", &tender(1, 500));
    assert_eq!(status, 200);
    assert_eq!(again, s, "the retry gets the original answer");
    assert_eq!(pos.count("gift_card_holds"), 1);
    assert_eq!(uses_of(&pos, "GC-1"), [Some("G-1".to_owned())]);
    // The card tendered again in the same sale: the same use.
    let (status, s) = pos.post("/v1/sessions/G-1/tenders", "g5", &tender(2, 300));
    assert_eq!(status, 200, "{s:#}");
    assert_eq!(pos.count("gift_card_holds"), 2);
    assert_eq!(uses_of(&pos, "GC-1").len(), 1);
}

#[test]
fn a_second_read_in_the_same_sale_or_visit_is_the_same_use() {
    let central = Central::new();
    let till = seeded_till(&central);
    let (offset, wall) = movable_clock();
    let pos = Served::start_with_clock(&till, wall);
    let t = now();
    let pass = central.pass("C-1", t - 10, 3600, 33);
    let other = central.pass("C-2", t - 10, 3600, 34);
    let card = central.token_of(
        TokenKind::GiftCard,
        "GC-1",
        t - 10,
        3600,
        35,
        &central.token,
    );

    // The scanner reads the pass twice: one visit.
    for _ in 0..2 {
        let (status, id) = identify(&pos, &pass);
        assert_eq!(status, 200, "{id:#}");
        assert_eq!(id["uses"], 1, "{id:#}");
    }
    // The POS sends it with the sale a moment later: the same visit, which now
    // identifies the sale; read again during the sale: still the same.
    let (status, s) = pos.put(
        "V-1",
        "v1",
        &json!({ "cart": cart(), "customer_scan": pass }),
    );
    assert_eq!(status, 200, "{s:#}");
    assert_eq!(s["customer"]["customer_ref"], "C-1");
    let (status, id) = identify(&pos, &pass);
    assert_eq!(status, 200, "{id:#}");
    assert_eq!(id["uses"], 1, "{id:#}");
    assert_eq!(uses_of(&pos, "C-1"), [None], "one use, from the first read");
    // A gift card's QR read twice by the scanner a second apart: both accepted.
    for _ in 0..2 {
        let (status, g) = identify(&pos, &card);
        assert_eq!(status, 200, "{g:#}");
    }
    // The sale closes: the visit is over, and the next read is the pass's next visit.
    let (status, closed) = pos.post("/v1/sessions/V-1/close", "v2", &json!({ "version": 1 }));
    assert_eq!(status, 200, "{closed:#}");
    let (status, id) = identify(&pos, &pass);
    assert_eq!(status, 200, "{id:#}");
    assert_eq!(id["uses"], 2, "{id:#}");

    // Another customer: read, read again two minutes later (one visit); then more than
    // the visit time (the current-customer time, 180 s) without a read: a new visit.
    let (status, id) = identify(&pos, &other);
    assert_eq!(status, 200, "{id:#}");
    assert_eq!(id["uses"], 1);
    offset.fetch_add(120, Ordering::SeqCst);
    let (_, id) = identify(&pos, &other);
    assert_eq!(id["uses"], 1, "{id:#}");
    offset.fetch_add(181, Ordering::SeqCst);
    let (_, id) = identify(&pos, &other);
    assert_eq!(id["uses"], 2, "{id:#}");
}

#[test]
fn a_gift_card_qr_pays_sale_after_sale_until_its_card_is_empty_or_expired() {
    let central = Central::new();
    let till = seeded_till(&central);
    let (offset, wall) = movable_clock();
    let pos = Served::start_with_clock(&till, wall);
    let t = now();
    let card = central.token_of(
        TokenKind::GiftCard,
        "GC-1",
        t - 10,
        3600,
        36,
        &central.token,
    );
    let tender = json!({ "type": "gift_card", "scan": card });

    // €50.00 on the card, €14.50 a sale: three whole sales and €6.50 of a fourth.
    let mut remaining = 5000;
    for (i, paid) in [1450, 1450, 1450, 650].into_iter().enumerate() {
        let id = format!("S-{i}");
        open_sale(&pos, &id, &format!("s{i}-put"));
        let (status, s) = pos.post(
            &format!("/v1/sessions/{id}/tenders"),
            &format!("s{i}-card"),
            &json!({ "version": 1, "tender": tender }),
        );
        assert_eq!(status, 200, "sale {i}: {s:#}");
        assert_eq!(amount(&s["tenders"][0]["amount"]), paid);
        let due = amount(&s["amount_due"]);
        let payments = if due > 0 {
            json!([{ "method": "cash", "amount": eur(due) }])
        } else {
            json!([])
        };
        let (status, closed) = pos.post(
            &format!("/v1/sessions/{id}/close"),
            &format!("s{i}-close"),
            &json!({ "version": 2, "payments": payments }),
        );
        assert_eq!(status, 200, "sale {i}: {closed:#}");
        remaining -= paid;
        assert_eq!(
            amount(&closed["receipt"]["gift_cards"][0]["remaining"]),
            remaining
        );
    }
    // Empty: the balance refuses it, not a count.
    open_sale(&pos, "S-4", "s4-put");
    let (status, e) = pos.post(
        "/v1/sessions/S-4/tenders",
        "s4-card",
        &json!({ "version": 1, "tender": tender }),
    );
    assert_eq!(status, 422, "{e:#}");
    assert_eq!(e["code"], "insufficient_balance");
    assert!(e["message_es"].as_str().is_some_and(|m| !m.is_empty()));
    let sales: Vec<Option<String>> = (0..4).map(|i| Some(format!("S-{i}"))).collect();
    assert_eq!(uses_of(&pos, "GC-1"), sales, "one use per sale paid");

    // A card that expires in a minute pays now, and not once it expired.
    pos.state
        .identifier
        .store()
        .conn()
        .execute(
            "INSERT INTO gift_cards(card_ref, owner_ref, currency, synced_balance, expires_at,
               updated_at) VALUES ('GC-2', NULL, 'EUR', 5000, ?1, 0)",
            [i64::try_from(t + 60).unwrap()],
        )
        .unwrap();
    let short = central.token_of(
        TokenKind::GiftCard,
        "GC-2",
        t - 10,
        3600,
        37,
        &central.token,
    );
    let short_tender = json!({ "version": 1, "tender": {
        "type": "gift_card", "scan": short, "amount": eur(100) } });
    open_sale(&pos, "S-5", "s5-put");
    let (status, s) = pos.post("/v1/sessions/S-5/tenders", "s5-card", &short_tender);
    assert_eq!(status, 200, "{s:#}");
    offset.fetch_add(120, Ordering::SeqCst);
    open_sale(&pos, "S-6", "s6-put");
    let (status, e) = pos.post("/v1/sessions/S-6/tenders", "s6-card", &short_tender);
    assert_eq!(status, 422, "{e:#}");
    assert_eq!(e["code"], "card_expired");
}

#[test]
fn a_pass_identifies_as_many_sales_as_it_has_uses_also_after_a_restart() {
    let central = Central::new();
    let till = seeded_till_with(&central, 2);
    let pass = central.pass("C-1", now() - 10, 3600, 38);
    let with_pass = json!({ "cart": cart(), "customer_scan": pass });
    {
        let pos = Served::start(&till);
        for id in ["U-1", "U-2"] {
            let (status, s) = pos.put(id, &format!("{id}-put"), &with_pass);
            assert_eq!(status, 200, "{s:#}");
            assert_eq!(s["customer"]["customer_ref"], "C-1");
            // Sent again with the next version of the same sale: not read again.
            let (status, s) = pos.put(
                id,
                &format!("{id}-put2"),
                &json!({ "version": 1, "cart": cart(), "customer_scan": pass }),
            );
            assert_eq!(status, 200, "{s:#}");
            let (status, closed) = pos.post(
                &format!("/v1/sessions/{id}/close"),
                &format!("{id}-close"),
                &json!({ "version": 2 }),
            );
            assert_eq!(status, 200, "{closed:#}");
        }
        let (status, e) = pos.put("U-3", "U-3-put", &with_pass);
        assert_eq!(status, 422, "{e:#}");
        assert_eq!(e["code"], "replayed");
        assert_eq!(e["field"], "customer_scan");
        assert!(e["message_en"].as_str().is_some_and(|m| !m.is_empty()));
        assert_eq!(
            pos.count("pos_sessions"),
            2,
            "the refused cart was not stored"
        );
    }
    let pos = Served::start(&till);
    let (status, e) = pos.put("U-3", "U-3-put-again", &with_pass);
    assert_eq!(status, 422, "{e:#}");
    assert_eq!(e["code"], "replayed");
    assert_eq!(
        uses_of(&pos, "C-1"),
        [Some("U-1".to_owned()), Some("U-2".to_owned())],
        "each use names the sale it identified"
    );
}

#[test]
fn a_sale_that_takes_the_current_customer_carries_their_visit_until_it_closes() {
    let central = Central::new();
    let till = seeded_till(&central);
    let pos = Served::start(&till);
    let pass = central.pass("C-1", now() - 10, 3600, 39);
    let uses_now = |pos: &Served| -> u64 {
        let (status, id) = identify(pos, &pass);
        assert_eq!(status, 200, "{id:#}");
        id["uses"].as_u64().unwrap()
    };

    // Shown at the scanner; the POS's cart takes the current customer; the sale is
    // cancelled and the next one gets the pass again: still the first visit.
    assert_eq!(uses_now(&pos), 1);
    let (status, s) = pos.put("W-1", "w1", &json!({ "cart": cart() }));
    assert_eq!(status, 200, "{s:#}");
    assert_eq!(s["customer"]["customer_ref"], "C-1");
    let (status, _) = pos.post("/v1/sessions/W-1/cancel", "w2", &json!({ "version": 1 }));
    assert_eq!(status, 200);
    let (status, s) = pos.put(
        "W-2",
        "w3",
        &json!({ "cart": cart(), "customer_scan": pass }),
    );
    assert_eq!(status, 200, "{s:#}");
    assert_eq!(uses_now(&pos), 1);
    // Once that sale closed, the visit is over: the next read is the next visit.
    let (status, closed) = pos.post("/v1/sessions/W-2/close", "w4", &json!({ "version": 1 }));
    assert_eq!(status, 200, "{closed:#}");
    assert_eq!(uses_now(&pos), 2);
    // Again through the current customer: a closed sale that took them ends the visit.
    let (status, s) = pos.put("W-3", "w5", &json!({ "cart": cart() }));
    assert_eq!(status, 200, "{s:#}");
    assert_eq!(s["customer"]["customer_ref"], "C-1");
    let (status, closed) = pos.post("/v1/sessions/W-3/close", "w6", &json!({ "version": 1 }));
    assert_eq!(status, 200, "{closed:#}");
    assert_eq!(uses_now(&pos), 3);
    assert_eq!(uses_of(&pos, "C-1"), [None, None, None]);
}
