//! Offline for a customer the till has never seen, on the real binaries: a central, a till
//! enrolled with it, a customer created (and partly spent at central) while the till is
//! down. Offline, the till honours the pass's signed snapshot within the catalog's cap,
//! refuses beyond it with the cashier's message in both languages, and journals the spend
//! with the snapshot it relied on; when central is back, the journal reaches it and its own
//! balance moves — the overspend becomes a debt and a flag.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use serde_json::{Value, json};
use tillpass_tests::central::Central;
use tillpass_tests::till::{Agent, Till};

const CATALOG: &str = r#"
format = 1
currency = "EUR"
tiers = ["silver", "gold"]

[savings]
earn_rate = 100
return_window_days = 30
offline_redeem_cap = 2000

[[promotions]]
id = "COFFEE-TIER"
label = { es = "Café oro", en = "Gold coffee" }
valid_from = 0
valid_until = 4000000000
rules = [{ type = "tier_price", items = { skus = ["COFFEE"] }, prices = [{ tier = "gold", price = 399 }] }]
"#;

fn parse(body: &str) -> Value {
    serde_json::from_str(body).unwrap_or_else(|_| Value::String(body.to_owned()))
}

fn change(agent: &Agent, method: &str, path: &str, key: &str, body: &Value) -> (u16, Value) {
    let answer = agent.change(method, path, key, &body.to_string()).unwrap();
    (answer.status, parse(&answer.body))
}

fn eur(amount: i64) -> Value {
    json!({ "amount": amount, "currency": "EUR" })
}

#[test]
fn an_unseen_customer_redeems_offline_from_the_snapshot_and_central_reconciles() {
    let central_dir = tempfile::tempdir().unwrap();
    let mut central = Central::start(central_dir.path()).unwrap();
    let catalog = central_dir.path().join("catalog.toml");
    std::fs::write(&catalog, CATALOG).unwrap();
    central
        .cli(&["catalog", "publish", catalog.to_str().unwrap()])
        .unwrap();
    let root = tempfile::tempdir().unwrap();
    let till = Till::install(&central, "S1", root.path()).unwrap();
    let mut agent = till.start_agent("agent", None).unwrap();
    agent
        .wait_for("the catalog", "/readyz", Duration::from_secs(30), |r| {
            parse(r)["ready"] == true
        })
        .unwrap();
    agent.kill();

    // While the till is down: a gold customer with €30.00, a pass (its snapshot says
    // €30.00), then €25.00 spent elsewhere: central holds €5.00 when the till goes on.
    central
        .cli(&[
            "customer",
            "create",
            "C-10",
            "--first-name",
            "Eva",
            "--tier",
            "gold",
            "--savings",
            "3000",
        ])
        .unwrap();
    let pass = central
        .cli(&["customer", "pass", "C-10"])
        .unwrap()
        .lines()
        .find(|l| l.starts_with("TP"))
        .unwrap()
        .to_owned();
    let spent = central
        .admin(
            "POST",
            "/admin/v1/customers/C-10/savings",
            Some(r#"{"amount": -2500}"#),
        )
        .unwrap();
    assert_eq!(spent.status, 200, "{}", spent.body);
    central.stop();

    // Offline, the till has never seen C-10.
    let agent = till.start_agent("agent-offline", None).unwrap();
    let (status, s) = change(
        &agent,
        "PUT",
        "/v1/sessions/S-1",
        "s-1",
        &json!({ "customer_scan": pass, "cart": { "currency": "EUR", "lines": [
            { "line_id": "1", "sku": "COFFEE", "quantity": { "units": 10 },
              "unit_price": eur(599) } ] } }),
    );
    assert_eq!(status, 200, "{s:#}\n{}", agent.output());
    assert_eq!(s["customer"]["balance_source"], "snapshot", "{s:#}");
    assert_eq!(s["customer"]["tier"], "gold", "{s:#}");
    assert_eq!(
        s["customer"]["savings"]["available"]["amount"], 2000,
        "{s:#}"
    );
    assert_eq!(s["evaluation"]["totals"]["total"]["amount"], 3990, "{s:#}");
    let (status, e) = change(
        &agent,
        "POST",
        "/v1/sessions/S-1/tenders",
        "s-2",
        &json!({ "version": 1, "tender": { "type": "savings", "amount": eur(2100) } }),
    );
    assert_eq!(status, 422, "{e:#}");
    assert_eq!(e["code"], "snapshot_cap_reached", "{e:#}");
    assert!(e["message_es"].as_str().unwrap().contains("QR"), "{e:#}");
    assert!(e["message_en"].as_str().unwrap().contains("QR"), "{e:#}");
    let (status, s) = change(
        &agent,
        "POST",
        "/v1/sessions/S-1/tenders",
        "s-3",
        &json!({ "version": 1, "tender": { "type": "savings", "amount": eur(2000) } }),
    );
    assert_eq!(status, 200, "{s:#}");
    let (status, s) = change(
        &agent,
        "POST",
        "/v1/sessions/S-1/close",
        "s-4",
        &json!({ "version": 2 }),
    );
    assert_eq!(status, 200, "{s:#}");
    assert_eq!(s["receipt"]["savings_redeemed"]["amount"], 2000, "{s:#}");

    // Central comes back: the journal reaches it; its own €5.00 pays €5.00 and the rest
    // is a debt, flagged.
    central.restart().unwrap();
    agent
        .wait_for(
            "the outbox to drain",
            "/v1/status",
            Duration::from_secs(60),
            |s| parse(s)["outbox_depth"] == 0,
        )
        .unwrap();
    let customer = central
        .admin("GET", "/admin/v1/customers/C-10", None)
        .unwrap();
    let customer = parse(&customer.body);
    assert_eq!(customer["savings"]["amount"], 0, "{customer:#}");
    assert_eq!(customer["debt"]["amount"], 1500, "{customer:#}");
    let flags = parse(&central.admin("GET", "/admin/v1/flags", None).unwrap().body);
    assert!(flags.to_string().contains("overspend_debt"), "{flags:#}");
}
