//! The POS sale API end to end over real loopback sockets and a real SQLite file: the
//! whole flow identify → cart → tenders → close → return, idempotency keys (also across a
//! restart), optimistic versions, and hostile bodies that must never be a 500 or a partial
//! write.
//!
//! The agent runs in-process here (`daemon::build` + the real router on a real socket) so
//! the test can install a catalog without central; the process-level tests (SIGKILL
//! during closes) run the binary.

use std::io::{Read, Write};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use tillpass_agent::catalog::Active;
use tillpass_agent::config::Config;
use tillpass_agent::paths::Paths;
use tillpass_engine::Engine;
use tillpass_protocol::catalog::Catalog;
use tillpass_protocol::token::TokenKind;

use crate::util::{Central, TOKEN, Till, now};

pub const CATALOG: &str = r#"
format = 1
currency = "EUR"
tiers = ["gold"]

[savings]
earn_rate = 500
return_window_days = 30
offline_redeem_cap = 2000

[gift_cards]
hold_ttl_seconds = 900
offline_cap_per_card = 5000

[[promotions]]
id = "BREAD-10"
label = { es = "Pan -10 %", en = "Bread 10 % off" }
valid_from = 0
valid_until = 4000000000
rules = [{ type = "percent_off", percent = 1000, items = { categories = ["bakery"] } }]

[[promotions]]
id = "SALT-NORTH"
label = { es = "Sal norte", en = "Salt north" }
valid_from = 0
valid_until = 4000000000
conditions = { regions = ["north"] }
rules = [{ type = "amount_off", amount = 10, items = { skus = ["SALT"] } }]

[[promotions]]
id = "SALT-SOUTH"
label = { es = "Sal sur", en = "Salt south" }
valid_from = 0
valid_until = 4000000000
conditions = { regions = ["south"] }
rules = [{ type = "amount_off", amount = 20, items = { skus = ["SALT"] } }]

[[promotions]]
id = "WELCOME-5"
label = { es = "Bienvenida -5 €", en = "Welcome €5 off" }
valid_from = 0
valid_until = 4000000000
voucher = "WELCOME"
rules = [{ type = "amount_off", amount = 500 }]
"#;

/// An agent served in-process on a loopback socket, with a catalog in force.
pub struct Served {
    pub addr: String,
    pub state: tillpass_agent::http::AppState,
    runtime: Option<tokio::runtime::Runtime>,
}

impl Served {
    pub fn start(till: &Till) -> Served {
        Served::start_with_clock(till, tillpass_agent::clock::system_wall_clock())
    }

    /// An agent whose wall clock is `wall`.
    pub fn start_with_clock(till: &Till, wall: tillpass_agent::clock::WallClock) -> Served {
        let config = Config::load(Some(&till.config), true, Vec::new()).unwrap();
        let paths = Paths::from_env(|_| None);
        let agent = tillpass_agent::daemon::build(&config, &paths, wall).unwrap();
        let engine = Engine::new(Catalog::from_toml(CATALOG).unwrap()).unwrap();
        agent.state.catalogs.set(Active {
            sequence: 1,
            issued_at: now(),
            engine: Arc::new(engine),
        });
        agent.state.sync.update(|s| s.online = true);
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let router = tillpass_agent::http::router(agent.state.clone());
        runtime.spawn(tillpass_agent::http::serve(
            listener,
            router,
            std::future::pending(),
        ));
        Served {
            addr,
            state: agent.state,
            runtime: Some(runtime),
        }
    }

    /// A request; returns the status and the JSON body.
    pub fn call(&self, method: &str, path: &str, key: Option<&str>, body: &str) -> (u16, Value) {
        raw(&self.addr, method, path, key, body, true)
    }

    pub fn put(&self, id: &str, key: &str, body: &Value) -> (u16, Value) {
        self.call(
            "PUT",
            &format!("/v1/sessions/{id}"),
            Some(key),
            &body.to_string(),
        )
    }

    pub fn post(&self, path: &str, key: &str, body: &Value) -> (u16, Value) {
        self.call("POST", path, Some(key), &body.to_string())
    }

    pub fn count(&self, table: &str) -> i64 {
        self.state
            .identifier
            .store()
            .conn()
            .query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
            .unwrap()
    }

    pub fn outbox_kinds(&self) -> Vec<String> {
        let conn = self.state.identifier.store().conn();
        let mut stmt = conn
            .prepare("SELECT kind FROM outbox ORDER BY seq")
            .unwrap();
        stmt.query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_timeout(Duration::from_secs(5));
        }
    }
}

pub fn raw(
    addr: &str,
    method: &str,
    path: &str,
    key: Option<&str>,
    body: &str,
    auth: bool,
) -> (u16, Value) {
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n");
    if auth {
        head.push_str(&format!("Authorization: Bearer {TOKEN}\r\n"));
    }
    if let Some(key) = key {
        head.push_str(&format!("Idempotency-Key: {key}\r\n"));
    }
    head.push_str(&format!(
        "Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    ));
    stream.write_all(head.as_bytes()).unwrap();
    // A server may answer (413) before reading a large body: ignore a broken pipe.
    let _ = stream.write_all(body.as_bytes());
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    let answer = String::from_utf8_lossy(&answer).into_owned();
    let (head, body) = answer.split_once("\r\n\r\n").unwrap_or((&answer, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let json = serde_json::from_str(body).unwrap_or(Value::String(body.to_owned()));
    (status, json)
}

/// A till with customer C-1 (€10.00 of savings) and gift card GC-1 (€50.00).
pub fn seeded_till(central: &Central) -> Till {
    seeded_till_with(central, 3)
}

/// [`seeded_till`] whose passes may make `max_uses` visits.
pub fn seeded_till_with(central: &Central, max_uses: u32) -> Till {
    let till = Till::new(central, max_uses, "");
    let store = tillpass_agent::store::Store::open(&till.data()).unwrap();
    let conn = store.conn();
    tillpass_agent::store::customers::put(
        &conn,
        &tillpass_agent::store::customers::NewCustomer {
            customer_ref: "C-1",
            first_name: Some("Lucía"),
            tier: None,
            lang: "es",
            savings: Some(("EUR", 1000)),
        },
        0,
    )
    .unwrap();
    conn.execute(
        "INSERT INTO gift_cards(card_ref, owner_ref, currency, synced_balance, updated_at)
         VALUES ('GC-1', NULL, 'EUR', 5000, 0)",
        [],
    )
    .unwrap();
    till
}

pub fn eur(amount: i64) -> Value {
    json!({ "amount": amount, "currency": "EUR" })
}

pub fn cart() -> Value {
    json!({
        "currency": "EUR",
        "lines": [
            { "line_id": "1", "sku": "BREAD", "category": "bakery",
              "quantity": { "units": 2 }, "unit_price": eur(250) },
            { "line_id": "2", "sku": "MILK", "category": "dairy",
              "quantity": { "units": 1 }, "unit_price": eur(1000) }
        ]
    })
}

pub fn amount(v: &Value) -> i64 {
    v["amount"].as_i64().unwrap()
}

#[test]
fn a_whole_sale_identify_cart_tenders_close_and_return() {
    let central = Central::new();
    let till = seeded_till(&central);
    let pos = Served::start(&till);
    let t = now();

    // The customer shows their pass at the till's scanner (here: the POS's).
    let pass = central.pass("C-1", t - 10, 3600, 1);
    let (status, id) = pos.call(
        "POST",
        "/v1/identify",
        None,
        &json!({ "scan": pass }).to_string(),
    );
    assert_eq!(status, 200, "{id:#}");

    // The whole cart, with a voucher: the current customer is taken.
    let voucher = central.token_of(
        TokenKind::Voucher,
        "WELCOME",
        t - 10,
        3600,
        2,
        &central.token,
    );
    let body = json!({ "cart": cart(), "voucher_scans": [voucher] });
    let (status, s) = pos.put("T-1", "k-put-1", &body);
    assert_eq!(status, 200, "{s:#}");
    assert_eq!(s["version"], 1);
    assert_eq!(s["customer"]["customer_ref"], "C-1");
    let totals = &s["evaluation"]["totals"];
    // Bread 2 × 2.50 − 10 % = 4.50; milk 10.00; then €5 off the basket: 9.50.
    assert_eq!(amount(&totals["subtotal"]), 1500);
    assert_eq!(amount(&totals["discount"]), 550);
    assert_eq!(amount(&totals["total"]), 950);
    let line_sum: i64 = s["evaluation"]["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| amount(&l["total"]))
        .sum();
    assert_eq!(line_sum, 950, "lines add up to the total");
    assert_eq!(s["vouchers"][0]["status"], "applied");
    let earned = amount(&totals["savings"]["total"]);
    assert_eq!(earned, 47, "5 % of 9.50, rounded down");
    assert_eq!(amount(&s["customer"]["tentative"]["pending"]), 47);

    // Re-sending the same cart and scans does not scan the voucher again.
    let (status, s) = pos.put(
        "T-1",
        "k-put-2",
        &json!({
            "version": 1, "cart": cart(), "voucher_scans": [voucher]
        }),
    );
    assert_eq!(status, 200, "{s:#}");
    assert_eq!(s["version"], 2);
    assert_eq!(s["vouchers"][0]["status"], "applied");

    // A dry run evaluates another cart and stores nothing.
    let mut bigger = cart();
    bigger["lines"][1]["quantity"] = json!({ "units": 3 });
    let (status, dry) = pos.call(
        "PUT",
        "/v1/sessions/T-1?dry=true",
        None,
        &json!({ "version": 2, "cart": bigger, "voucher_scans": [voucher] }).to_string(),
    );
    assert_eq!(status, 200, "{dry:#}");
    assert_eq!(amount(&dry["evaluation"]["totals"]["total"]), 2950);
    let (_, now_stored) = pos.call("GET", "/v1/sessions/T-1", None, "");
    assert_eq!(now_stored["version"], 2);
    assert_eq!(amount(&now_stored["evaluation"]["totals"]["total"]), 950);

    // Savings: €3.00 of the €10.00.
    let (status, s) = pos.post(
        "/v1/sessions/T-1/tenders",
        "k-t-1",
        &json!({ "version": 2, "tender": { "type": "savings", "amount": eur(300) } }),
    );
    assert_eq!(status, 200, "{s:#}");
    assert_eq!(amount(&s["amount_due"]), 650);
    assert_eq!(amount(&s["customer"]["tentative"]["available"]), 700);

    // A gift card pays the rest: a hold.
    let card = central.token_of(TokenKind::GiftCard, "GC-1", t - 10, 3600, 3, &central.token);
    let (status, s) = pos.post(
        "/v1/sessions/T-1/tenders",
        "k-t-2",
        &json!({ "version": 3, "tender": { "type": "gift_card", "scan": card } }),
    );
    assert_eq!(status, 200, "{s:#}");
    assert_eq!(amount(&s["amount_due"]), 0);
    assert_eq!(s["tenders"][1]["type"], "gift_card");
    assert_eq!(amount(&s["tenders"][1]["amount"]), 650);
    assert_eq!(pos.count("gift_card_holds"), 1);

    // Close: the receipt.
    let close = json!({ "version": 4 });
    let (status, closed) = pos.post("/v1/sessions/T-1/close", "k-close", &close);
    assert_eq!(status, 200, "{closed:#}");
    assert_eq!(closed["state"], "closed");
    let receipt = &closed["receipt"];
    assert_eq!(amount(&receipt["net"]), 950);
    assert_eq!(amount(&receipt["savings_earned"]), 47);
    assert_eq!(amount(&receipt["savings_redeemed"]), 300);
    assert_eq!(amount(&receipt["savings_after"]["available"]), 700);
    assert_eq!(amount(&receipt["savings_after"]["pending"]), 47);
    assert_eq!(amount(&receipt["gift_cards"][0]["remaining"]), 5000 - 650);
    assert_eq!(receipt["promotions"].as_array().unwrap().len(), 2);
    assert_eq!(pos.count("sales"), 1);
    assert_eq!(pos.count("gift_card_holds"), 0, "the hold became a debit");

    // The same close again (a POS retry): the original answer, nothing written twice.
    let (status, again) = pos.post("/v1/sessions/T-1/close", "k-close", &close);
    assert_eq!(status, 200);
    assert_eq!(again, closed);
    assert_eq!(pos.count("sales"), 1);
    // The same key for another body: refused.
    let (status, reused) = pos.post(
        "/v1/sessions/T-1/close",
        "k-close",
        &json!({ "version": 5 }),
    );
    assert_eq!(status, 422, "{reused:#}");
    assert_eq!(reused["code"], "idempotency_key_reused");
    // A closed session cannot change.
    let (status, e) = pos.put("T-1", "k-put-3", &json!({ "version": 5, "cart": cart() }));
    assert_eq!(status, 409, "{e:#}");
    assert_eq!(e["code"], "session_closed");

    // Return one loaf: refund pro rata, savings reversed (rounded down), tenders re-credited.
    let (status, r) = pos.post(
        "/v1/sessions/T-1/returns",
        "k-ret-1",
        &json!({ "return_id": "R-1", "lines": [{ "line": "1", "qty": 1 }] }),
    );
    assert_eq!(status, 200, "{r:#}");
    let outcome = &r["outcome"];
    let refund = amount(&outcome["refund"]);
    let tender_back: i64 = outcome["tenders"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| amount(&t["amount"]))
        .sum();
    assert_eq!(
        tender_back, refund,
        "the refund is split over the tenders exactly"
    );
    let reversed = amount(&outcome["savings_reversed"]);
    let line_earned = amount(&closed["evaluation"]["lines"][0]["savings_earned"]);
    assert_eq!(
        reversed,
        line_earned / 2,
        "half the line's savings, rounded down"
    );
    let line_total = amount(&closed["evaluation"]["lines"][0]["total"]);
    let half = tillpass_protocol::money::div_round_half_even(i128::from(line_total), 2).unwrap();
    assert_eq!(
        i128::from(refund),
        half,
        "one loaf of two, rounded half-even"
    );
    // Returning more than was sold is refused, and changes nothing.
    let (status, e) = pos.post(
        "/v1/sessions/T-1/returns",
        "k-ret-2",
        &json!({ "return_id": "R-2", "lines": [{ "line": "1", "qty": 2 }] }),
    );
    assert_eq!(status, 422, "{e:#}");
    assert_eq!(pos.count("sale_returns"), 1);

    let kinds = pos.outbox_kinds();
    for kind in [
        "token_used",
        "gift_card_held",
        "sale_closed",
        "savings_earned",
        "savings_redeemed",
        "gift_card_debited",
        "return_recorded",
        "savings_reversed",
        "gift_card_credited",
    ] {
        assert!(
            kinds.iter().any(|k| k == kind),
            "{kind} missing from {kinds:?}"
        );
    }
    assert_eq!(kinds.iter().filter(|k| *k == "sale_closed").count(), 1);
}

#[test]
fn a_stale_version_gets_409_and_cancel_releases_holds() {
    let central = Central::new();
    let till = seeded_till(&central);
    let pos = Served::start(&till);
    let (status, _) = pos.put(
        "T-2",
        "a1",
        &json!({ "cart": cart(), "use_current_customer": false }),
    );
    assert_eq!(status, 200);
    // Two POS clients start from version 1: the second loses with 409, not silently.
    let (status, _) = pos.put("T-2", "a2", &json!({ "version": 1, "cart": cart() }));
    assert_eq!(status, 200);
    let (status, e) = pos.put("T-2", "a3", &json!({ "version": 1, "cart": cart() }));
    assert_eq!(status, 409, "{e:#}");
    assert_eq!(e["code"], "stale_version");
    // Creating over an existing session without its version: 409 too.
    let (status, e) = pos.put("T-2", "a4", &json!({ "cart": cart() }));
    assert_eq!(status, 409);
    assert_eq!(e["code"], "session_exists");

    let (status, s) = pos.post(
        "/v1/sessions/T-2/tenders",
        "a5",
        &json!({ "version": 2, "tender": { "type": "gift_card", "card_id": "GC-1", "amount": eur(700) } }),
    );
    assert_eq!(status, 200, "{s:#}");
    assert_eq!(pos.count("gift_card_holds"), 1);
    // Savings without a customer: refused with the cashier's message.
    let (status, e) = pos.post(
        "/v1/sessions/T-2/tenders",
        "a6",
        &json!({ "version": 3, "tender": { "type": "savings", "amount": eur(100) } }),
    );
    assert_eq!(status, 422, "{e:#}");
    assert_eq!(e["code"], "no_customer");
    assert!(e["message_es"].as_str().unwrap().len() > 5);

    let (status, s) = pos.post("/v1/sessions/T-2/cancel", "a7", &json!({ "version": 3 }));
    assert_eq!(status, 200, "{s:#}");
    assert_eq!(s["state"], "cancelled");
    assert_eq!(pos.count("gift_card_holds"), 0);
    assert!(pos.outbox_kinds().iter().any(|k| k == "gift_card_released"));
    assert_eq!(pos.count("sales"), 0, "nothing earned");
    let (status, e) = pos.post("/v1/sessions/T-2/close", "a8", &json!({ "version": 4 }));
    assert_eq!(status, 409, "{e:#}");
}

#[test]
fn a_voucher_is_spent_by_the_sale_that_closes_with_it_and_by_nothing_else() {
    let central = Central::new();
    let till = seeded_till(&central);
    let pos = Served::start(&till);
    let t = now();
    let voucher = central.token_of(
        TokenKind::Voucher,
        "WELCOME",
        t - 10,
        3600,
        21,
        &central.token,
    );
    let spent = |pos: &Served| {
        pos.outbox_kinds()
            .iter()
            .filter(|k| k.as_str() == "token_used")
            .count()
    };
    let open = |id: &str, key: &str, vouchers: &[&str]| {
        pos.put(
            id,
            key,
            &json!({ "cart": cart(), "use_current_customer": false, "voucher_scans": vouchers }),
        )
    };

    // Shown at the scanner, checked twice: still the customer's.
    for _ in 0..2 {
        let (status, id) = pos.call(
            "POST",
            "/v1/identify",
            None,
            &json!({ "scan": voucher }).to_string(),
        );
        assert_eq!(status, 200, "{id:#}");
        assert_eq!(id["uses"], 0, "{id:#}");
    }
    // Scanned into a sale that is then cancelled: still the customer's.
    let (status, s) = open("V-1", "v1", &[&voucher]);
    assert_eq!(status, 200, "{s:#}");
    assert_eq!(s["vouchers"][0]["status"], "applied");
    let (status, _) = pos.post("/v1/sessions/V-1/cancel", "v2", &json!({ "version": 1 }));
    assert_eq!(status, 200);
    assert_eq!(spent(&pos), 0);

    // Two lanes hold it; the first to close spends it, the other is told to take it off.
    let (status, a) = open("V-2", "v3", &[&voucher]);
    assert_eq!(status, 200, "{a:#}");
    let (status, b) = open("V-3", "v4", &[&voucher]);
    assert_eq!(status, 200, "{b:#}");
    assert_eq!(b["vouchers"][0]["status"], "applied");
    let (status, closed) = pos.post("/v1/sessions/V-2/close", "v5", &json!({ "version": 1 }));
    assert_eq!(status, 200, "{closed:#}");
    assert_eq!(spent(&pos), 1);
    let (status, e) = pos.post("/v1/sessions/V-3/close", "v6", &json!({ "version": 1 }));
    assert_eq!(status, 409, "{e:#}");
    assert_eq!(e["code"], "voucher_used");
    assert_eq!(pos.count("sales"), 1, "the refused close wrote nothing");
    let (status, s) = pos.put(
        "V-3",
        "v7",
        &json!({ "version": 1, "cart": cart(), "use_current_customer": false, "voucher_scans": [] }),
    );
    assert_eq!(status, 200, "{s:#}");
    let (status, closed) = pos.post("/v1/sessions/V-3/close", "v8", &json!({ "version": 2 }));
    assert_eq!(status, 200, "{closed:#}");
    assert_eq!(spent(&pos), 1);

    // Spent: a new sale refuses it as a replay.
    let (status, e) = open("V-4", "v9", &[&voucher]);
    assert_eq!(status, 422, "{e:#}");
    assert_eq!(e["code"], "replayed", "{e:#}");

    // A voucher no promotion uses is not spent by the sale it rode along with.
    let other = central.token_of(
        TokenKind::Voucher,
        "NO-SUCH-PROMO",
        t - 10,
        3600,
        22,
        &central.token,
    );
    let (status, s) = open("V-5", "v10", &[&other]);
    assert_eq!(status, 200, "{s:#}");
    assert_ne!(s["vouchers"][0]["status"], "applied", "{s:#}");
    let (status, _) = pos.post("/v1/sessions/V-5/close", "v11", &json!({ "version": 1 }));
    assert_eq!(status, 200);
    assert_eq!(spent(&pos), 1);
    let (status, s) = open("V-6", "v12", &[&other]);
    assert_eq!(status, 200, "{s:#}");
}

#[test]
fn hostile_bodies_get_4xx_with_the_field_and_write_nothing() {
    let central = Central::new();
    let till = seeded_till(&central);
    let pos = Served::start(&till);
    let line = |quantity: Value, price: Value| {
        json!({ "cart": { "currency": "EUR", "lines": [
            { "line_id": "1", "sku": "X", "quantity": quantity, "unit_price": price }
        ] } })
    };
    let cases: Vec<(&str, String, u16, &str)> = vec![
        (
            "malformed json",
            "{\"cart\": ".into(),
            400,
            "malformed_json",
        ),
        ("not json", "hello".into(), 400, "malformed_json"),
        (
            "negative quantity",
            line(json!({ "units": -1 }), eur(100)).to_string(),
            422,
            "cart.lines[0].quantity",
        ),
        (
            "unknown currency",
            json!({ "cart": { "currency": "XXY", "lines": [] } }).to_string(),
            422,
            "cart.currency",
        ),
        (
            "other currency",
            json!({ "cart": { "currency": "USD", "lines": [] } }).to_string(),
            422,
            "cart.currency",
        ),
        (
            "unknown field",
            json!({ "cart": cart(), "discount_please": true }).to_string(),
            422,
            "discount_please",
        ),
        (
            "overflowing price",
            line(json!({ "units": 4_000_000_000u32 }), eur(i64::MAX)).to_string(),
            422,
            "cart",
        ),
        (
            "absurd quantity",
            line(json!({ "units": 99_999_999_999u64 }), eur(100)).to_string(),
            422,
            "cart.lines[0].quantity",
        ),
    ];
    for (name, body, status, expect) in cases {
        let key = name.replace(' ', "-");
        let (got, e) = pos.call("PUT", "/v1/sessions/H-1", Some(&key), &body);
        assert_eq!(got, status, "{name}: {e:#}");
        let text = e.to_string();
        assert!(
            text.contains(expect),
            "{name}: expected {expect:?} in {e:#}"
        );
    }
    // No key, no token, a bad id, an oversized body.
    let (got, e) = pos.call(
        "PUT",
        "/v1/sessions/H-1",
        None,
        &json!({ "cart": cart() }).to_string(),
    );
    assert_eq!(got, 400, "{e:#}");
    assert_eq!(e["code"], "idempotency_key_required");
    let (got, _) = raw(
        &pos.addr,
        "PUT",
        "/v1/sessions/H-1",
        Some("z"),
        &json!({ "cart": cart() }).to_string(),
        false,
    );
    assert_eq!(got, 401);
    let (got, e) = pos.put("bad%20id", "z2", &json!({ "cart": cart() }));
    assert_eq!(got, 422, "{e:#}");
    assert_eq!(e["field"], "session_id");
    let huge = format!("{{\"cart\": \"{}\"}}", "x".repeat(2 * 1024 * 1024));
    let (got, e) = pos.call("PUT", "/v1/sessions/H-1", Some("z3"), &huge);
    assert_eq!(got, 413, "{e:#}");
    // Tenders and closes on a session that does not exist.
    let (got, e) = pos.post("/v1/sessions/NOPE/close", "z4", &json!({ "version": 1 }));
    assert_eq!(got, 404, "{e:#}");
    let (got, e) = pos.post(
        "/v1/sessions/NOPE/returns",
        "z5",
        &json!({ "return_id": "R", "lines": [{ "line": "1", "qty": 1 }] }),
    );
    assert_eq!(got, 404, "{e:#}");

    assert_eq!(pos.count("pos_sessions"), 0, "nothing was written");
    assert_eq!(pos.count("idempotency"), 0);
    assert_eq!(pos.count("outbox"), 0);
}

#[test]
fn an_idempotent_close_answers_the_same_after_a_restart() {
    let central = Central::new();
    let till = seeded_till(&central);
    let first = {
        let pos = Served::start(&till);
        let (status, _) = pos.put(
            "T-3",
            "b1",
            &json!({ "cart": cart(), "use_current_customer": false }),
        );
        assert_eq!(status, 200);
        let (status, closed) = pos.post(
            "/v1/sessions/T-3/close",
            "b2",
            &json!({ "version": 1, "payments": [{ "method": "cash", "amount": eur(1450) }] }),
        );
        assert_eq!(status, 200, "{closed:#}");
        closed
    };
    let pos = Served::start(&till);
    let (status, again) = pos.post(
        "/v1/sessions/T-3/close",
        "b2",
        &json!({ "version": 1, "payments": [{ "method": "cash", "amount": eur(1450) }] }),
    );
    assert_eq!(status, 200);
    assert_eq!(again, first);
    assert_eq!(pos.count("sales"), 1);
    // Payments that do not cover what is due are refused with the field.
    let (status, _) = pos.put(
        "T-4",
        "b3",
        &json!({ "cart": cart(), "use_current_customer": false }),
    );
    assert_eq!(status, 200);
    let (status, e) = pos.post(
        "/v1/sessions/T-4/close",
        "b4",
        &json!({ "version": 1, "payments": [{ "method": "cash", "amount": eur(1000) }] }),
    );
    assert_eq!(status, 422, "{e:#}");
    assert_eq!(e["field"], "payments");
}

#[test]
fn offline_the_caps_of_central_and_the_catalog_hold() {
    use tillpass_protocol::money::{Currency, Money};
    let central = Central::new();
    let till = seeded_till(&central);
    let pos = Served::start(&till);
    let mut policy = tillpass_protocol::sync::OfflinePolicy {
        max_savings_spend_per_customer: Money::new(500, Currency::EUR),
        max_gift_card_spend_per_card: Money::new(800, Currency::EUR),
        max_catalog_age_secs: 86_400,
        max_trust_list_age_secs: 86_400,
        retention_days: 90,
        replay: tillpass_protocol::sync::ReplayPolicy {
            max_uses_per_pass: 3,
        },
    };
    pos.state.sync.update(|s| {
        s.online = false;
        s.offline_policy = Some(policy.clone());
    });
    let pass = central.pass("C-1", now() - 10, 3600, 11);
    let (status, s) = pos.put(
        "T-9",
        "o1",
        &json!({ "cart": cart(), "customer_scan": pass }),
    );
    assert_eq!(status, 200, "{s:#}");
    // Central allows €5.00 of savings while unsynced: €6.00 is refused with what is left.
    let (status, e) = pos.post(
        "/v1/sessions/T-9/tenders",
        "o2",
        &json!({ "version": 1, "tender": { "type": "savings", "amount": eur(600) } }),
    );
    assert_eq!(status, 422, "{e:#}");
    assert_eq!(e["code"], "offline_cap_reached");
    assert_eq!(amount(&e["refusal"]["remaining"]), 500);
    let (status, s) = pos.post(
        "/v1/sessions/T-9/tenders",
        "o3",
        &json!({ "version": 1, "tender": { "type": "savings", "amount": eur(500) } }),
    );
    assert_eq!(status, 200, "{s:#}");
    // Gift card: €8.00 per card while unsynced.
    let (status, e) = pos.post(
        "/v1/sessions/T-9/tenders",
        "o4",
        &json!({ "version": 2, "tender": { "type": "gift_card", "card_id": "GC-1", "amount": eur(900) } }),
    );
    assert_eq!(status, 422, "{e:#}");
    assert_eq!(e["code"], "offline_cap_reached");
    // Earn-only (the catalog or trust list too old): no spending at all, earning goes on.
    policy.max_savings_spend_per_customer = Money::new(100_000, Currency::EUR);
    pos.state.sync.update(|s| {
        s.offline_policy = Some(policy);
        s.earn_only = Some("catalog_too_old: test".into());
    });
    let (status, e) = pos.post(
        "/v1/sessions/T-9/tenders",
        "o5",
        &json!({ "version": 2, "tender": { "type": "savings", "amount": eur(100) } }),
    );
    assert_eq!(status, 422, "{e:#}");
    assert_eq!(e["code"], "earn_only");
    let (status, closed) = pos.post("/v1/sessions/T-9/close", "o6", &json!({ "version": 2 }));
    assert_eq!(status, 200, "{closed:#}");
    assert!(
        amount(&closed["receipt"]["savings_earned"]) > 0,
        "earning goes on"
    );
}

#[test]
fn promotions_scoped_to_a_region_follow_the_till_s_enrolment() {
    let central = Central::new();
    let till = seeded_till(&central);
    let pos = Served::start(&till);
    let cart = json!({ "currency": "EUR", "lines": [
        { "line_id": "1", "sku": "SALT", "quantity": { "units": 1 }, "unit_price": eur(100) }
    ] });
    let (status, s) = pos.put(
        "R-1",
        "r1",
        &json!({ "cart": cart, "use_current_customer": false }),
    );
    assert_eq!(status, 200, "{s:#}");
    let applied: Vec<&str> = s["evaluation"]["effects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["promotion_id"].as_str().unwrap())
        .collect();
    assert_eq!(
        applied,
        ["SALT-NORTH"],
        "the till is enrolled in region north"
    );
}

#[test]
fn two_lanes_cannot_spend_the_same_savings_twice() {
    let central = Central::new();
    let till = seeded_till(&central);
    let pos = Served::start(&till);
    let pass = central.pass("C-1", now() - 10, 3600, 21);
    for (id, key) in [("L-1", "l1"), ("L-2", "l2")] {
        let (status, s) = pos.put(id, key, &json!({ "cart": cart(), "customer_scan": pass }));
        assert_eq!(status, 200, "{s:#}");
    }
    // Lane 1 takes €8.00 of the customer's €10.00 ...
    let (status, s) = pos.post(
        "/v1/sessions/L-1/tenders",
        "l3",
        &json!({ "version": 1, "tender": { "type": "savings", "amount": eur(800) } }),
    );
    assert_eq!(status, 200, "{s:#}");
    // ... so lane 2, before lane 1 closes, has €2.00 left, not €10.00.
    let (status, e) = pos.post(
        "/v1/sessions/L-2/tenders",
        "l4",
        &json!({ "version": 1, "tender": { "type": "savings", "amount": eur(300) } }),
    );
    assert_eq!(status, 422, "{e:#}");
    assert_eq!(e["code"], "insufficient_balance");
    let (status, s) = pos.post(
        "/v1/sessions/L-2/tenders",
        "l5",
        &json!({ "version": 1, "tender": { "type": "savings", "amount": eur(200) } }),
    );
    assert_eq!(status, 200, "{s:#}");
    // Lane 1 cancels: its savings are free again for lane 2.
    let (status, _) = pos.post("/v1/sessions/L-1/cancel", "l6", &json!({ "version": 2 }));
    assert_eq!(status, 200);
    let (status, s) = pos.post(
        "/v1/sessions/L-2/tenders",
        "l7",
        &json!({ "version": 2, "tender": { "type": "savings", "amount": eur(500) } }),
    );
    assert_eq!(status, 200, "{s:#}");
}

/// A sale of another till of the store as central sends it: one line of milk, paid cash,
/// with the returns given.
fn store_sale(sale_id: &str, returns: Value) -> Value {
    let eur = |a: i64| json!({ "amount": a, "currency": "EUR" });
    json!({ "op": "upsert", "sale": {
        "till": "S001-T09",
        "closed_at": now() - 3600,
        "sale": {
            "sale_id": sale_id,
            "lines": [{ "line_id": "1", "sku": "MILK", "quantity": { "units": 2 },
                        "unit_price": eur(100), "discount": eur(0), "total": eur(200),
                        "savings_earned": eur(0) }],
            "effects": [],
            "tenders": [{ "kind": "cash", "amount": eur(200) }],
            "totals": { "gross": eur(200), "discounts": eur(0), "net": eur(200) },
            "savings_earned": eur(0),
            "savings_redeemed": eur(0)
        },
        "returns": returns
    }})
}

fn store_return(sale_id: &str, return_id: &str, refund: i64) -> Value {
    let eur = |a: i64| json!({ "amount": a, "currency": "EUR" });
    json!({ "till": "S001-T08", "returned_at": now() - 60, "return": {
        "return_id": return_id,
        "original_sale_id": sale_id,
        "lines": [{ "line_id": "1", "quantity": { "units": 1 }, "refund": eur(refund),
                    "discount": eur(0), "savings_reversed": eur(0) }],
        "refunds": [{ "kind": "cash", "amount": eur(refund) }],
        "savings_reversed": eur(0)
    }})
}

#[test]
fn sales_of_other_tills_are_returned_here_over_the_api() {
    let central = Central::new();
    let till = seeded_till(&central);
    let pos = Served::start(&till);
    let keep = |items: Vec<Value>| {
        let conn = pos.state.identifier.store().conn();
        tillpass_agent::sync::store_sales::apply_sales(&conn, &items).unwrap()
    };
    keep(vec![
        store_sale("X-1", json!([store_return("X-1", "RX-0", 100)])),
        store_sale("X-2", json!([])),
        store_sale("X-3", json!([])),
    ]);

    // One bottle came back at another till: the other one can come back here, no more.
    let (status, r) = pos.post(
        "/v1/sessions/X-1/returns",
        "x1",
        &json!({ "return_id": "RX-1", "lines": [{ "line": "1", "qty": 1 }] }),
    );
    assert_eq!(status, 200, "{r:#}");
    assert_eq!(amount(&r["outcome"]["refund"]), 100);
    let (status, e) = pos.post(
        "/v1/sessions/X-1/returns",
        "x2",
        &json!({ "return_id": "RX-2", "lines": [{ "line": "1", "qty": 1 }] }),
    );
    assert_eq!(status, 422, "{e:#}");

    // A POS that reuses the id of a sale returned here is told to use another.
    let (status, _) = pos.put(
        "X-1",
        "x3",
        &json!({ "cart": cart(), "use_current_customer": false }),
    );
    assert_eq!(status, 200);
    let (status, e) = pos.post("/v1/sessions/X-1/close", "x4", &json!({ "version": 1 }));
    assert_eq!(status, 409, "{e:#}");
    assert_eq!(e["code"], "sale_id_in_use");
    // One not returned here makes way for the sale closing here.
    let (status, _) = pos.put(
        "X-2",
        "x5",
        &json!({ "cart": cart(), "use_current_customer": false }),
    );
    assert_eq!(status, 200);
    let (status, closed) = pos.post("/v1/sessions/X-2/close", "x6", &json!({ "version": 1 }));
    assert_eq!(status, 200, "{closed:#}");
    let origin: String = pos
        .state
        .identifier
        .store()
        .conn()
        .query_row("SELECT origin FROM sales WHERE sale_id = 'X-2'", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(origin, "local");

    // A return of X-3 at another till that does not add up: returns of X-3 wait here.
    keep(vec![store_sale(
        "X-3",
        json!([store_return("X-3", "RX-3", 999)]),
    )]);
    let (status, e) = pos.post(
        "/v1/sessions/X-3/returns",
        "x7",
        &json!({ "return_id": "RX-4", "lines": [{ "line": "1", "qty": 1 }] }),
    );
    assert_eq!(status, 409, "{e:#}");
    assert_eq!(e["code"], "sale_history_incomplete");
}

/// Offline, the caps apply to spendable savings only: savings central holds pending (still
/// inside their return window) are shown and never tendered, however high the caps.
#[test]
fn offline_pending_savings_are_not_spendable_either() {
    use tillpass_protocol::money::{Currency, Money};
    let central = Central::new();
    let till = seeded_till(&central);
    tillpass_agent::store::Store::open(&till.data())
        .unwrap()
        .conn()
        .execute(
            "UPDATE savings_accounts SET synced_pending = 3990, next_release_at = 4000000000
             WHERE customer_ref = 'C-1'",
            [],
        )
        .unwrap();
    let pos = Served::start(&till);
    pos.state.sync.update(|s| {
        s.online = false;
        s.offline_policy = Some(tillpass_protocol::sync::OfflinePolicy {
            max_savings_spend_per_customer: Money::new(100_000, Currency::EUR),
            max_gift_card_spend_per_card: Money::new(100_000, Currency::EUR),
            max_catalog_age_secs: 86_400,
            max_trust_list_age_secs: 86_400,
            retention_days: 90,
            replay: tillpass_protocol::sync::ReplayPolicy {
                max_uses_per_pass: 3,
            },
        });
    });
    let pass = central.pass("C-1", now() - 10, 3600, 12);
    let (status, s) = pos.put(
        "P-1",
        "p1",
        &json!({ "cart": cart(), "customer_scan": pass }),
    );
    assert_eq!(status, 200, "{s:#}");
    assert_eq!(
        amount(&s["customer"]["savings"]["available"]),
        1000,
        "{s:#}"
    );
    assert_eq!(amount(&s["customer"]["savings"]["pending"]), 3990, "{s:#}");
    let (status, e) = pos.post(
        "/v1/sessions/P-1/tenders",
        "p2",
        &json!({ "version": 1, "tender": { "type": "savings", "amount": eur(1001) } }),
    );
    assert_eq!(status, 422, "{e:#}");
    assert_eq!(e["code"], "insufficient_balance", "{e:#}");
    assert_eq!(amount(&e["refusal"]["available"]), 1000, "{e:#}");
    let (status, s) = pos.post(
        "/v1/sessions/P-1/tenders",
        "p3",
        &json!({ "version": 1, "tender": { "type": "savings", "amount": eur(1000) } }),
    );
    assert_eq!(status, 200, "{s:#}");
}
