//! The whole journey of one customer, across every real part: central issues a pass, its
//! QR rendered as PNG is read back with a QR decoder, the text is typed into the till's
//! serial scanner (a pty), the agent identifies the customer, the POS puts a cart with a
//! promotion and a voucher, takes savings and a scanned gift card, closes; the relay
//! syncs and central's balances, journal and digital receipt match the till's receipt;
//! then a return reverses it pro rata, at central too; and the rest of the goods come
//! back at another till of the store, which continues exactly where the first return
//! left off.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tillpass_tests::central::Central;
use tillpass_tests::pty::Pty;
use tillpass_tests::till::{Agent, Till};
use tillpass_tests::wait;

const CATALOG: &str = r#"
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
id = "WELCOME-5"
label = { es = "Bienvenida -5 €", en = "Welcome €5 off" }
valid_from = 0
valid_until = 4000000000
voucher = "WELCOME"
rules = [{ type = "amount_off", amount = 500 }]
"#;

/// Reads the one QR code in a PNG file.
fn read_qr(path: &Path) -> String {
    let file = std::io::BufReader::new(std::fs::File::open(path).unwrap());
    let mut decoder = png::Decoder::new(file);
    decoder.set_transformations(png::Transformations::EXPAND | png::Transformations::STRIP_16);
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    let channels = info.color_type.samples();
    let (width, height, line) = (
        usize::try_from(info.width).unwrap(),
        usize::try_from(info.height).unwrap(),
        info.line_size,
    );
    // Luma of the first channel is enough for a black-and-white code.
    let mut image = rqrr::PreparedImage::prepare_from_greyscale(width, height, |x, y| {
        buf[y * line + x * channels]
    });
    let grids = image.detect_grids();
    assert_eq!(grids.len(), 1, "QR codes found in {}", path.display());
    grids[0].decode().unwrap().1
}

fn eur(amount: i64) -> Value {
    json!({ "amount": amount, "currency": "EUR" })
}

fn amount(v: &Value) -> i64 {
    v["amount"]
        .as_i64()
        .unwrap_or_else(|| panic!("no amount in {v}"))
}

fn parse(body: &str) -> Value {
    serde_json::from_str(body).unwrap_or_else(|_| Value::String(body.to_owned()))
}

fn change(agent: &Agent, method: &str, path: &str, key: &str, body: &Value) -> (u16, Value) {
    let answer = agent.change(method, path, key, &body.to_string()).unwrap();
    (answer.status, parse(&answer.body))
}

fn get_json(agent: &Agent, path: &str) -> Value {
    let answer = agent.get(path).unwrap();
    assert_eq!(answer.status, 200, "GET {path}: {}", answer.body);
    parse(&answer.body)
}

/// The text line of a token central printed.
fn token_text(cli_output: &str) -> String {
    cli_output
        .lines()
        .find(|l| l.starts_with("TP"))
        .unwrap_or_else(|| panic!("no token in {cli_output}"))
        .to_owned()
}

fn central_json(central: &Central, path: &str) -> Value {
    let answer = central.admin("GET", path, None).unwrap();
    assert_eq!(answer.status, 200, "GET {path}: {}", answer.body);
    parse(&answer.body)
}

fn count(conn: &rusqlite::Connection, sql: &str) -> i64 {
    conn.query_row(sql, [], |r| r.get(0)).unwrap()
}

#[test]
fn a_pass_from_central_scanned_at_the_till_sells_syncs_and_returns() {
    let started = Instant::now();
    let central_dir = tempfile::tempdir().unwrap();
    let central = Central::start(central_dir.path()).unwrap();
    let catalog = central_dir.path().join("catalog.toml");
    std::fs::write(&catalog, CATALOG).unwrap();
    central
        .cli(&["catalog", "publish", catalog.to_str().unwrap()])
        .unwrap();
    central
        .cli(&[
            "customer",
            "create",
            "C-42",
            "--first-name",
            "Lucía",
            "--savings",
            "1000",
            "--receipts",
        ])
        .unwrap();
    central
        .cli(&["gift-card", "create", "GC-9", "--balance", "5000"])
        .unwrap();

    // The till, with a serial scanner the operator added to its configuration.
    let root = tempfile::tempdir().unwrap();
    let till = Till::install(&central, "S1", root.path()).unwrap();
    let link = root.path().join("usb-Honeywell_1900-if00");
    till.add_config(&format!(
        "[[scanner]]\nname = \"front\"\n\
         device = {{ kind = \"serial\", path = {:?}, baud = 115200 }}\n\
         reconnect = {{ initial_ms = 20, max_ms = 200 }}\n",
        link.display().to_string()
    ))
    .unwrap();
    let agent = till.start_agent("agent", None).unwrap();
    let mut pty = Pty::plug(&link).unwrap();
    agent
        .wait_for(
            "the scanner, the catalog and the customer",
            "/v1/customers/C-42",
            Duration::from_secs(30),
            |c| parse(c)["savings"]["synced"] == 1000,
        )
        .unwrap();
    agent
        .wait_for("the catalog", "/v1/sync", Duration::from_secs(30), |s| {
            parse(s)["catalog_sequence"].as_u64().is_some()
        })
        .unwrap();
    agent
        .wait_for(
            "the serial scanner",
            "/v1/status",
            Duration::from_secs(30),
            |s| parse(s)["scanners"]["front"]["connected"] == true,
        )
        .unwrap();

    // Central issues the pass; the PNG it wrote is what the customer's phone shows.
    let out = central_dir.path().join("passes");
    let printed = token_text(
        &central
            .cli(&["customer", "pass", "C-42", "--out", out.to_str().unwrap()])
            .unwrap(),
    );
    let read = read_qr(&out.join("C-42.png"));
    assert_eq!(read, printed, "the QR holds the pass");

    // The scanner reads it; the agent identifies Lucía.
    pty.type_scan(&read).unwrap();
    let status = parse(
        &agent
            .wait_for(
                "the scanned customer",
                "/v1/status",
                Duration::from_secs(20),
                |s| parse(s)["current_customer"]["subject"] == "C-42",
            )
            .unwrap(),
    );
    assert_eq!(status["current_customer"]["source"], "front", "{status:#}");
    assert_eq!(
        status["current_customer"]["customer"]["first_name"], "Lucía",
        "{status:#}"
    );

    // The cart: bread with 10 % off, milk, and the welcome voucher.
    let voucher = token_text(
        &central
            .cli(&["voucher", "WELCOME", "--promotion", "WELCOME-5"])
            .unwrap(),
    );
    let card = token_text(&central.cli(&["gift-card", "token", "GC-9"]).unwrap());
    let cart = json!({
        "currency": "EUR",
        "lines": [
            { "line_id": "1", "sku": "BREAD", "category": "bakery",
              "quantity": { "units": 2 }, "unit_price": eur(250) },
            { "line_id": "2", "sku": "MILK", "category": "dairy",
              "quantity": { "units": 1 }, "unit_price": eur(1000) }
        ]
    });
    let (status, s) = change(
        &agent,
        "PUT",
        "/v1/sessions/J-1",
        "j-put",
        &json!({ "cart": cart, "voucher_scans": [voucher] }),
    );
    assert_eq!(status, 200, "{s:#}");
    assert_eq!(s["customer"]["customer_ref"], "C-42", "{s:#}");
    assert_eq!(s["vouchers"][0]["status"], "applied", "{s:#}");
    let totals = &s["evaluation"]["totals"];
    // Bread 2 × 2.50 − 10 % = 4.50; milk 10.00; then €5 off the basket: 9.50.
    assert_eq!(amount(&totals["subtotal"]), 1500, "{s:#}");
    assert_eq!(amount(&totals["discount"]), 550, "{s:#}");
    assert_eq!(amount(&totals["total"]), 950, "{s:#}");
    assert_eq!(amount(&totals["savings"]["total"]), 47, "5 % of 9.50");

    // Savings €3.00, the scanned gift card €4.00, the rest by bank card.
    let (status, s) = change(
        &agent,
        "POST",
        "/v1/sessions/J-1/tenders",
        "j-savings",
        &json!({ "version": s["version"], "tender": { "type": "savings", "amount": eur(300) } }),
    );
    assert_eq!(status, 200, "{s:#}");
    let (status, s) = change(
        &agent,
        "POST",
        "/v1/sessions/J-1/tenders",
        "j-card",
        &json!({ "version": s["version"], "tender": {
            "type": "gift_card", "scan": card, "amount": eur(400) } }),
    );
    assert_eq!(status, 200, "{s:#}");
    assert_eq!(amount(&s["amount_due"]), 250, "{s:#}");
    let (status, closed) = change(
        &agent,
        "POST",
        "/v1/sessions/J-1/close",
        "j-close",
        &json!({ "version": s["version"], "payments": [{ "method": "card", "amount": eur(250) }] }),
    );
    assert_eq!(status, 200, "{closed:#}");
    let receipt = &closed["receipt"];
    assert_eq!(amount(&receipt["net"]), 950);
    assert_eq!(amount(&receipt["savings_earned"]), 47);
    assert_eq!(amount(&receipt["savings_redeemed"]), 300);
    assert_eq!(amount(&receipt["savings_after"]["available"]), 700);
    assert_eq!(amount(&receipt["gift_cards"][0]["remaining"]), 4600);

    // The relay syncs; central holds the sale once, the balances the receipt says, and the
    // digital receipt Lucía agreed to.
    let drained = |what: &str| {
        agent
            .wait_for(what, "/v1/status", Duration::from_secs(60), |s| {
                parse(s)["outbox_depth"] == 0
            })
            .unwrap();
    };
    drained("the sale to reach central");
    let savings_at_central =
        || amount(&central_json(&central, "/admin/v1/customers/C-42")["savings"]);
    let pending_at_central =
        || amount(&central_json(&central, "/admin/v1/customers/C-42")["pending"]);
    let card_at_central =
        || amount(&central_json(&central, "/admin/v1/gift-cards/GC-9")["balance"]);
    // The €0.47 earned stay pending for the return window: not spendable.
    assert_eq!(savings_at_central(), 1000 - 300);
    assert_eq!(pending_at_central(), 47);
    assert_eq!(card_at_central(), 4600);
    let db = rusqlite::Connection::open(central.db_path()).unwrap();
    db.busy_timeout(Duration::from_secs(10)).unwrap();
    assert_eq!(
        count(
            &db,
            "SELECT count(*) FROM events WHERE kind = 'sale_closed' \
             AND json_extract(payload, '$.payload.sale_id') = 'J-1'"
        ),
        1
    );
    assert_eq!(
        count(&db, "SELECT count(*) FROM token_uses WHERE till = 'S1-T1'"),
        3,
        "the pass, the voucher and the gift card"
    );
    assert_eq!(
        count(
            &db,
            "SELECT count(*) FROM receipts WHERE sale_id = 'J-1' AND customer = 'C-42'"
        ),
        1,
        "the digital receipt"
    );

    // A return of one loaf: refunded pro rata over the tenders, savings reversed.
    let (status, r) = change(
        &agent,
        "POST",
        "/v1/sessions/J-1/returns",
        "j-return",
        &json!({ "return_id": "R-1", "lines": [{ "line": "1", "qty": 1 }] }),
    );
    assert_eq!(status, 200, "{r:#}");
    let outcome = &r["outcome"];
    let refund = amount(&outcome["refund"]);
    let back: Vec<(String, i64)> = outcome["tenders"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["type"].as_str().unwrap_or("").to_owned(),
                amount(&t["amount"]),
            )
        })
        .collect();
    assert_eq!(
        back.iter().map(|(_, a)| a).sum::<i64>(),
        refund,
        "the refund is split over the tenders: {outcome:#}"
    );
    let back_to =
        |kind: &str| -> i64 { back.iter().filter(|(t, _)| t == kind).map(|(_, a)| a).sum() };
    let reversed = amount(&outcome["savings_reversed"]);
    assert!(reversed > 0 && reversed < 47, "{outcome:#}");
    drained("the return to reach central");
    assert_eq!(
        savings_at_central(),
        1000 - 300 + back_to("savings"),
        "{outcome:#}"
    );
    assert_eq!(pending_at_central(), 47 - reversed, "{outcome:#}");
    assert_eq!(
        card_at_central(),
        4600 + back_to("gift_card"),
        "{outcome:#}"
    );

    // The till pulls central's balances back and agrees.
    let expected = savings_at_central();
    agent
        .wait_for(
            "central's balance at the till",
            "/v1/customers/C-42",
            Duration::from_secs(30),
            |c| {
                let c = parse(c);
                c["savings"]["synced"] == expected && c["savings"]["unsynced_spent"] == 0
            },
        )
        .unwrap();
    let _ = get_json(&agent, "/v1/sessions/J-1");

    // The customer brings the other loaf and the milk to another till of the store. It
    // learns the sale, and the first return, from central.
    let root2 = tempfile::tempdir().unwrap();
    let till2 = Till::install(&central, "S1", root2.path()).unwrap();
    let agent2 = till2.start_agent("agent2", None).unwrap();
    let db2 = till2.state_dir().join("tillpass.db");
    let store_rows = |db: &Path, sql: &str| -> i64 {
        if !db.exists() {
            return -1;
        }
        let conn =
            rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
                .unwrap();
        conn.busy_timeout(Duration::from_secs(10)).unwrap();
        conn.query_row(sql, [], |r| r.get(0)).unwrap_or(-1)
    };
    wait::until(
        "the sale and its return at the second till",
        Duration::from_secs(60),
        || {
            (store_rows(
                &db2,
                "SELECT count(*) FROM sales s JOIN sale_returns r ON r.sale_id = s.sale_id \
             WHERE s.sale_id = 'J-1' AND s.origin = 'store' AND s.till_id = 'S1-T1' \
               AND r.return_id = 'R-1' AND r.origin = 'store'",
            ) == 1)
                .then_some(())
        },
    )
    .unwrap();
    agent2
        .wait_for(
            "central's balance at the second till",
            "/v1/customers/C-42",
            Duration::from_secs(30),
            |c| parse(c)["savings"]["synced"] == expected,
        )
        .unwrap();
    let (status, r2) = change(
        &agent2,
        "POST",
        "/v1/sessions/J-1/returns",
        "j-return-2",
        &json!({ "return_id": "R-2", "lines": [{ "line": "1", "qty": 1 }, { "line": "2", "qty": 1 }] }),
    );
    assert_eq!(status, 200, "{r2:#}");
    let outcome2 = &r2["outcome"];
    // The two returns together give back exactly the whole sale: every cent of the net,
    // every tender, and all the savings earned.
    assert_eq!(refund + amount(&outcome2["refund"]), 950, "{outcome2:#}");
    assert_eq!(
        reversed + amount(&outcome2["savings_reversed"]),
        47,
        "{outcome2:#}"
    );
    let back2 = |kind: &str| -> i64 {
        outcome2["tenders"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|t| t["type"] == kind)
            .map(|t| amount(&t["amount"]))
            .sum()
    };
    assert_eq!(back_to("savings") + back2("savings"), 300, "{outcome2:#}");
    assert_eq!(
        back_to("gift_card") + back2("gift_card"),
        400,
        "{outcome2:#}"
    );
    assert_eq!(back_to("other") + back2("other"), 250, "{outcome2:#}");
    // Nothing more of the loaves is left to return, at either till.
    let (status, over) = change(
        &agent2,
        "POST",
        "/v1/sessions/J-1/returns",
        "j-return-3",
        &json!({ "return_id": "R-3", "lines": [{ "line": "1", "qty": 1 }] }),
    );
    assert_eq!(status, 422, "{over:#}");

    // Central ends where it began: the savings and the gift card whole again.
    agent2
        .wait_for(
            "the second till's return to reach central",
            "/v1/status",
            Duration::from_secs(60),
            |s| parse(s)["outbox_depth"] == 0,
        )
        .unwrap();
    assert_eq!(savings_at_central(), 1000, "{outcome2:#}");
    assert_eq!(pending_at_central(), 0, "{outcome2:#}");
    assert_eq!(card_at_central(), 5000, "{outcome2:#}");

    // The first till learns the second return and refuses the milk again.
    let db1 = till.state_dir().join("tillpass.db");
    wait::until(
        "the second return at the first till",
        Duration::from_secs(60),
        || {
            (store_rows(
                &db1,
                "SELECT count(*) FROM sale_returns WHERE return_id = 'R-2' AND origin = 'store' \
               AND till_id = 'S1-T2'",
            ) == 1)
                .then_some(())
        },
    )
    .unwrap();
    let (status, again) = change(
        &agent,
        "POST",
        "/v1/sessions/J-1/returns",
        "j-return-4",
        &json!({ "return_id": "R-4", "lines": [{ "line": "2", "qty": 1 }] }),
    );
    assert_eq!(status, 422, "{again:#}");
    eprintln!("journey: {:?}", started.elapsed());
}
