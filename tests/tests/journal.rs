//! Money at the seams, on the real binaries: a sale central would refuse is refused at the
//! till before anything is stored (the issue's TAB in a SKU, a cart over 1,000 lines), and
//! an event central does refuse becomes a state the till reports — not a stuck row: it is
//! not waiting, `/readyz`, `tillpass status`, `tillpass journal rejected` and `doctor` say
//! what it is and what to do, and `tillpass journal retry` sends it again, never deleting
//! it.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::Command;
use std::time::Duration;

use serde_json::{Value, json};
use tillpass_tests::binary::{self, INSTALL, TILLPASS};
use tillpass_tests::central::Central;
use tillpass_tests::http::Request;
use tillpass_tests::till::{Agent, Till};

const CATALOG: &str = r#"
format = 1
currency = "EUR"

[savings]
earn_rate = 500
return_window_days = 30

[[promotions]]
id = "BREAD-10"
label = { es = "Pan -10 %", en = "Bread 10 % off" }
valid_from = 0
valid_until = 4000000000
rules = [{ type = "percent_off", percent = 1000, items = { categories = ["bakery"] } }]
"#;

fn parse(body: &str) -> Value {
    serde_json::from_str(body).unwrap_or_else(|_| Value::String(body.to_owned()))
}

fn change(agent: &Agent, method: &str, path: &str, key: &str, body: &Value) -> (u16, Value) {
    let answer = agent.change(method, path, key, &body.to_string()).unwrap();
    (answer.status, parse(&answer.body))
}

/// `tillpass <args>` on the till's files, as central IT runs it on the till.
fn tillpass(till: &Till, agent: &Agent, args: &[&str]) -> (bool, String) {
    let mut cmd = Command::new(binary::path(TILLPASS).unwrap());
    cmd.arg("--config")
        .arg(till.config_file())
        .args(args)
        .env_remove("TILLPASS_CONFIG");
    for (k, v) in till.agent_env(None) {
        cmd.env(k, v);
    }
    cmd.env("TILLPASS_API_LISTEN", &agent.addr);
    let out = cmd.output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

fn line(id: &str, sku: &str) -> Value {
    json!({"line_id": id, "sku": sku, "category": "bakery", "quantity": {"units": 1},
           "unit_price": {"amount": 100, "currency": "EUR"}})
}

#[test]
fn what_central_would_refuse_is_refused_and_what_it_refused_is_reported_and_re_driven() {
    let central_dir = tempfile::tempdir().unwrap();
    let mut central = Central::start(central_dir.path()).unwrap();
    let catalog = central_dir.path().join("catalog.toml");
    std::fs::write(&catalog, CATALOG).unwrap();
    central
        .cli(&["catalog", "publish", catalog.to_str().unwrap()])
        .unwrap();
    central
        .cli(&["customer", "create", "C-7", "--first-name", "Eva"])
        .unwrap();
    let root = tempfile::tempdir().unwrap();
    let till = Till::install(&central, "S1", root.path()).unwrap();
    let agent = till.start_agent("agent", None).unwrap();
    agent
        .wait_for("the catalog", "/readyz", Duration::from_secs(30), |r| {
            parse(r)["ready"] == true
        })
        .unwrap();

    // The issue's repro: a TAB in a SKU closed with 200 and central refused the sale
    // forever. Now the cart is refused, with the field, before anything is stored.
    let (status, answer) = change(
        &agent,
        "PUT",
        "/v1/sessions/X",
        "x-1",
        &json!({"use_current_customer": false,
                "cart": {"currency": "EUR", "lines": [line("1", "A\tB")]}}),
    );
    assert_eq!(status, 422, "{answer:#}");
    assert_eq!(answer["field"], "cart.lines[0].sku", "{answer:#}");
    assert!(answer["message_es"].is_string() && answer["message_en"].is_string());
    let lines: Vec<Value> = (0..1001).map(|i| line(&i.to_string(), "A")).collect();
    let (status, answer) = change(
        &agent,
        "PUT",
        "/v1/sessions/X",
        "x-2",
        &json!({"use_current_customer": false, "cart": {"currency": "EUR", "lines": lines}}),
    );
    assert_eq!(status, 422, "{answer:#}");
    assert_eq!(answer["field"], "cart.lines", "{answer:#}");
    let absent = agent.get("/v1/sessions/X").unwrap();
    assert_eq!(absent.status, 404, "nothing was stored: {}", absent.body);

    // A sale central will refuse part of: its customer is erased at central while the
    // till cannot reach it.
    let pass = central
        .cli(&["customer", "pass", "C-7"])
        .unwrap()
        .lines()
        .find(|l| l.starts_with("TP"))
        .unwrap()
        .to_owned();
    central.stop();
    let (status, answer) = change(
        &agent,
        "PUT",
        "/v1/sessions/S-1",
        "s-1",
        &json!({"customer_scan": pass,
                "cart": {"currency": "EUR", "lines": [line("1", "BREAD")]}}),
    );
    assert_eq!(status, 200, "{answer:#}");
    let (status, answer) = change(
        &agent,
        "POST",
        "/v1/sessions/S-1/close",
        "s-2",
        &json!({"version": 1}),
    );
    assert_eq!(status, 200, "{answer:#}");
    central.cli(&["customer", "erase", "C-7"]).unwrap();
    central.restart().unwrap();

    // Central refuses the savings earned by an erased customer: the event is rejected,
    // not waiting, and every surface says what to do.
    let status = parse(
        &agent
            .wait_for(
                "the outbox to settle with a rejection",
                "/v1/status",
                Duration::from_secs(30),
                |s| {
                    let s = parse(s);
                    s["outbox_depth"] == 0 && s["rejected_events"].as_i64() >= Some(1)
                },
            )
            .unwrap(),
    );
    let rejected = status["rejected"].as_array().unwrap();
    let earned = rejected
        .iter()
        .find(|r| r["kind"] == "savings_earned")
        .unwrap_or_else(|| panic!("{status:#}"));
    assert_eq!(earned["code"], "customer_erased", "{status:#}");
    assert_eq!(earned["attempts"], 1, "{status:#}");
    let event_id = earned["event_id"].as_str().unwrap().to_owned();

    let ready = agent.get("/readyz").unwrap();
    assert_eq!(
        ready.status, 200,
        "rejections do not stop sales: {}",
        ready.body
    );
    assert!(
        ready.body.contains("rejected_events: central refused")
            && ready.body.contains("tillpass journal retry --all"),
        "{}",
        ready.body
    );

    let (ok, shown) = tillpass(&till, &agent, &["status"]);
    assert!(ok, "{shown}");
    assert!(
        shown.contains("\"outbox_depth\": 0") && shown.contains(&event_id),
        "{shown}"
    );
    let (ok, listed) = tillpass(&till, &agent, &["journal", "rejected"]);
    assert!(ok, "{listed}");
    assert!(
        listed.contains(&event_id)
            && listed.contains("savings_earned")
            && listed.contains("customer_erased")
            && listed.contains("tillpass journal retry --all"),
        "{listed}"
    );

    let doctor = Command::new(binary::path(INSTALL).unwrap())
        .args(["doctor", "--root", root.path().to_str().unwrap()])
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&doctor.stdout).into_owned();
    assert!(
        report.contains("WARN] outbox-rejected: central rejected")
            && report.contains("customer_erased")
            && report.contains("tillpass journal retry --all"),
        "{report}"
    );
    assert!(
        report.contains("no event waiting for central"),
        "rejected events are not waiting: {report}"
    );

    // Re-driven while the agent runs: sent again with the next upload, refused again
    // (central still has no such customer), counted, and still kept.
    let (ok, retried) = tillpass(&till, &agent, &["journal", "retry", &event_id]);
    assert!(
        ok && retried.contains("1 event(s) pending again"),
        "{retried}"
    );
    let status = parse(
        &agent
            .wait_for(
                "the re-sent event to come back refused",
                "/v1/status",
                Duration::from_secs(30),
                |s| {
                    parse(s)["rejected"]
                        .as_array()
                        .and_then(|r| r.iter().find(|r| r["event_id"] == event_id.as_str()))
                        .is_some_and(|r| r["attempts"] == 2)
                },
            )
            .unwrap(),
    );
    assert_eq!(status["outbox_depth"], 0, "{status:#}");
    let (ok, unknown) = tillpass(&till, &agent, &["journal", "retry", "99999"]);
    assert!(
        !ok && unknown.contains("no rejected event 99999"),
        "{unknown}"
    );
    let answer = agent
        .send(Request::new("GET", "/v1/status"))
        .map(|r| r.status)
        .unwrap();
    assert_eq!(answer, 200);
}
