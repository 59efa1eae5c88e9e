//! The store-wide offline-risk ledger on the real binaries: three tills — two of store S1,
//! one of S2 — all offline, meet a customer none of them holds. Each honours the pass's
//! signed snapshot within the catalog's cap (and refuses beyond it, in Spanish and English);
//! central comes back and the tills' journals reach it in an order the test chooses. For
//! every order, central judges the spends in the order they happened: the first confirmed,
//! the others debts, one overspend flag and one "token at two stores" flag, each once; and
//! every till of each store receives its store's ledger with those outcomes. The two
//! stores' dashboards show it in a real headless Chromium, the customer masked.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use fantoccini::{Client, Locator};
use serde_json::{Value, json};
use tillpass_tests::binary::{self, TILLPASS};
use tillpass_tests::browser;
use tillpass_tests::central::Central;
use tillpass_tests::till::{Agent, Till};
use tillpass_tests::wait;

/// A cap of €20.00 per customer offline; gold customers pay €3.99 for a coffee.
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

const CUSTOMER: &str = "C-000123";
const MASKED: &str = "C-••••23";
const PASSWORD: &str = "manager password 1";
/// The stores of the three tills, in the order they sell.
const STORES: [&str; 3] = ["S1", "S2", "S1"];

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

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// Waits until the wall clock is past `second`, so the next spend's journal time (whole
/// seconds) is later than the previous one's and "the order they happened" is defined.
fn after_second(second: u64) {
    wait::until("the next second", Duration::from_secs(3), || {
        (unix_now() > second).then_some(())
    })
    .unwrap();
}

/// A sale of ten gold coffees (€39.90) paid with €20.00 of savings from the pass's
/// snapshot; then, at the same till, a second sale finds the snapshot's cap spent and is
/// refused with the cashier's message in both languages.
fn sell_from_the_snapshot(agent: &Agent, pass: &str, n: usize) {
    let session = format!("/v1/sessions/S-{n}");
    let (status, s) = change(
        agent,
        "PUT",
        &session,
        &format!("s{n}-1"),
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
    let (status, s) = change(
        agent,
        "POST",
        &format!("{session}/tenders"),
        &format!("s{n}-2"),
        &json!({ "version": 1, "tender": { "type": "savings", "amount": eur(2000) } }),
    );
    assert_eq!(status, 200, "{s:#}");
    let (status, s) = change(
        agent,
        "POST",
        &format!("{session}/close"),
        &format!("s{n}-3"),
        &json!({ "version": 2 }),
    );
    assert_eq!(status, 200, "{s:#}");
    assert_eq!(s["receipt"]["savings_redeemed"]["amount"], 2000, "{s:#}");

    // The same pass again at this till: what the till spent against the snapshot is gone.
    let again = format!("/v1/sessions/S-{n}b");
    let (status, s) = change(
        agent,
        "PUT",
        &again,
        &format!("s{n}-4"),
        &json!({ "customer_scan": pass, "cart": { "currency": "EUR", "lines": [
            { "line_id": "1", "sku": "COFFEE", "quantity": { "units": 1 },
              "unit_price": eur(599) } ] } }),
    );
    assert_eq!(status, 200, "{s:#}");
    assert_eq!(s["customer"]["savings"]["available"]["amount"], 0, "{s:#}");
    let (status, e) = change(
        agent,
        "POST",
        &format!("{again}/tenders"),
        &format!("s{n}-5"),
        &json!({ "version": 1, "tender": { "type": "savings", "amount": eur(100) } }),
    );
    assert_eq!(status, 422, "{e:#}");
    assert_eq!(e["code"], "snapshot_cap_reached", "{e:#}");
    assert!(!e["message_es"].as_str().unwrap().is_empty(), "{e:#}");
    assert!(!e["message_en"].as_str().unwrap().is_empty(), "{e:#}");
    assert_ne!(e["message_es"], e["message_en"], "{e:#}");
    let (status, s) = change(
        agent,
        "POST",
        &format!("{again}/cancel"),
        &format!("s{n}-6"),
        &json!({ "version": 1 }),
    );
    assert_eq!(status, 200, "cancelling the refused sale: {s:#}");
}

/// One store day, the journals reaching central in `arrival` order (indexes of the tills).
struct Day {
    _dirs: Vec<tempfile::TempDir>,
    central: Central,
    tills: Vec<Till>,
    agents: Vec<Option<Agent>>,
}

impl Day {
    fn run(arrival: [usize; 3]) -> Day {
        let central_dir = tempfile::tempdir().unwrap();
        let mut central = Central::start(central_dir.path()).unwrap();
        let catalog = central_dir.path().join("catalog.toml");
        std::fs::write(&catalog, CATALOG).unwrap();
        central
            .cli(&["catalog", "publish", catalog.to_str().unwrap()])
            .unwrap();
        let mut dirs = vec![central_dir];
        let mut tills = Vec::new();
        for store in STORES {
            let root = tempfile::tempdir().unwrap();
            let till = Till::install(&central, store, root.path()).unwrap();
            let mut agent = till.start_agent("agent-first", None).unwrap();
            agent
                .wait_for("the catalog", "/readyz", Duration::from_secs(30), |r| {
                    parse(r)["ready"] == true
                })
                .unwrap();
            agent.kill();
            tills.push(till);
            dirs.push(root);
        }

        // While the tills are down: a gold customer with €30.00 and a pass that says so.
        central
            .cli(&[
                "customer",
                "create",
                CUSTOMER,
                "--first-name",
                "Eva",
                "--tier",
                "gold",
                "--savings",
                "3000",
            ])
            .unwrap();
        let pass = central
            .cli(&["customer", "pass", CUSTOMER])
            .unwrap()
            .lines()
            .find(|l| l.starts_with("TP"))
            .unwrap()
            .to_owned();
        central.stop();

        // Offline, every till spends €20.00 of the €30.00, one after the other.
        let mut agents = Vec::new();
        for (n, till) in tills.iter().enumerate() {
            let agent = till.start_agent("agent-offline", None).unwrap();
            after_second(unix_now());
            sell_from_the_snapshot(&agent, &pass, n);
            agents.push(agent);
        }
        for agent in &mut agents {
            agent.kill();
        }

        // Central comes back; the journals arrive one till at a time, in `arrival` order.
        central.restart().unwrap();
        let mut agents: Vec<Option<Agent>> = (0..tills.len()).map(|_| None).collect();
        for i in arrival {
            let agent = tills[i].start_agent("agent-online", None).unwrap();
            agent
                .wait_for(
                    "the journal to reach central",
                    "/v1/status",
                    Duration::from_secs(60),
                    |s| parse(s)["outbox_depth"] == 0,
                )
                .unwrap();
            agents[i] = Some(agent);
        }
        Day {
            _dirs: dirs,
            central,
            tills,
            agents,
        }
    }

    fn agent(&self, i: usize) -> &Agent {
        self.agents[i].as_ref().unwrap()
    }

    fn till_id(&self, i: usize) -> String {
        let enrolment =
            std::fs::read_to_string(self.tills[i].root().join("var/lib/tillpass/enrolment.json"))
                .unwrap();
        parse(&enrolment)["response"]["till"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// Central: €30.00 paid the first spend and half the second; €30.00 is owed; one
    /// overspend flag for the account and one for the pass used at two stores.
    fn check_central(&self) {
        let customer = self
            .central
            .admin("GET", &format!("/admin/v1/customers/{CUSTOMER}"), None)
            .unwrap();
        let customer = parse(&customer.body);
        assert_eq!(customer["savings"]["amount"], 0, "{customer:#}");
        assert_eq!(customer["debt"]["amount"], 3000, "{customer:#}");
        let flags = parse(
            &self
                .central
                .admin("GET", "/admin/v1/flags", None)
                .unwrap()
                .body,
        );
        let count = |kind: &str| {
            flags
                .as_array()
                .unwrap()
                .iter()
                .filter(|f| f["kind"] == kind)
                .count()
        };
        assert_eq!(count("overspend_debt"), 1, "{flags:#}");
        assert_eq!(count("token_at_two_stores"), 1, "{flags:#}");
    }

    /// The ledger a till holds: `till:holder:amount:short:outcome:source` per spend, by time.
    fn ledger_at(&self, i: usize) -> Option<Vec<String>> {
        self.texts_at(
            i,
            "SELECT till || ':' || holder || ':' || amount || ':' || short || ':' || outcome
                    || ':' || source
             FROM store_ledger_spends ORDER BY at, till",
        )
    }

    fn flags_at(&self, i: usize) -> Option<Vec<String>> {
        self.texts_at(
            i,
            "SELECT kind || ':' || holder FROM store_ledger_flags WHERE resolved = 0
             ORDER BY kind",
        )
    }

    /// The one text column `sql` selects from till `i`'s database, read-only; `None`
    /// while it cannot be read.
    fn texts_at(&self, i: usize, sql: &str) -> Option<Vec<String>> {
        let db = self.tills[i].state_dir().join("tillpass.db");
        let conn =
            rusqlite::Connection::open_with_flags(&db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
                .ok()?;
        let mut stmt = conn.prepare(sql).ok()?;
        let rows = stmt.query_map([], |r| r.get::<_, String>(0)).ok()?;
        rows.collect::<Result<Vec<_>, _>>().ok()
    }

    /// Every till holds its own store's spends with central's outcomes, and the store's
    /// flags, the customer masked.
    fn check_tills(&self) {
        let entry = |i: usize, short: i64, outcome: &str| {
            format!(
                "{}:{MASKED}:2000:{short}:{outcome}:snapshot",
                self.till_id(i)
            )
        };
        let s1 = vec![entry(0, 0, "confirmed"), entry(2, 2000, "debt")];
        let s2 = vec![entry(1, 1000, "debt")];
        let flags = vec![
            format!("overspend_debt:{MASKED}"),
            format!("token_at_two_stores:{MASKED}"),
        ];
        for (i, expected) in [(0, &s1), (1, &s2), (2, &s1)] {
            wait::until(
                "the store's ledger at each of its tills",
                Duration::from_secs(60),
                || {
                    (self.ledger_at(i).as_ref() == Some(expected)
                        && self.flags_at(i).as_ref() == Some(&flags))
                    .then_some(())
                },
            )
            .unwrap_or_else(|e| {
                panic!(
                    "{e}\ntill {i} holds {:?} and flags {:?}, expected {expected:?} and {flags:?}\n{}",
                    self.ledger_at(i),
                    self.flags_at(i),
                    self.agent(i).output()
                )
            });
        }
    }
}

/// Adds a manager to the till's dashboard with the real `tillpass manager add`.
fn add_manager(till: &Till, lang: &str) {
    let mut cmd = Command::new(binary::path(TILLPASS).unwrap());
    cmd.arg("--config")
        .arg(till.config_file())
        .args(["manager", "add", "--name", "Marta", "--lang", lang])
        .env_remove("TILLPASS_CONFIG")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in till.agent_env(None) {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(format!("{PASSWORD}\n").as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "tillpass manager add: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

async fn wait_text(c: &Client, css: &str, needles: &[&str]) -> String {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let mut last = String::new();
    while std::time::Instant::now() < deadline {
        if let Ok(element) = c.find(Locator::Css(css)).await {
            last = element.text().await.unwrap_or_default();
            if needles.iter().all(|n| last.contains(n)) {
                return last;
            }
        }
        // The page shows what the till holds when it is loaded: load it again.
        tokio::time::sleep(Duration::from_millis(250)).await;
        c.refresh().await.unwrap();
    }
    panic!("{css} never showed {needles:?}; it shows:\n{last}");
}

/// Signs in to a till's dashboard and reads its Sync page.
async fn sync_page(c: &Client, agent: &Agent) {
    let base = format!("http://{}", agent.addr);
    c.goto(&format!("{base}/dashboard/login")).await.unwrap();
    c.find(Locator::Css("#name"))
        .await
        .unwrap()
        .send_keys("marta")
        .await
        .unwrap();
    c.find(Locator::Css("#password"))
        .await
        .unwrap()
        .send_keys(PASSWORD)
        .await
        .unwrap();
    c.find(Locator::Css("#sign-in"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while c.current_url().await.unwrap().path().ends_with("/login") {
        assert!(std::time::Instant::now() < deadline, "signing in failed");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    c.goto(&format!("{base}/dashboard/sync")).await.unwrap();
}

#[test]
fn journals_in_the_order_they_were_made() {
    let day = Day::run([0, 1, 2]);
    day.check_central();
    day.check_tills();
}

#[test]
fn journals_in_reverse_order_then_central_it_resolves_the_overspend() {
    let day = Day::run([2, 1, 0]);
    day.check_central();
    day.check_tills();

    // Central IT resolves the overspend through the admin API: every till of both stores
    // sees it resolved; the token's flag stays open.
    let flags = parse(
        &day.central
            .admin("GET", "/admin/v1/flags?open=true", None)
            .unwrap()
            .body,
    );
    let id = flags
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["kind"] == "overspend_debt")
        .map(|f| f["id"].as_i64().unwrap())
        .unwrap_or_else(|| panic!("no open overspend flag: {flags:#}"));
    let answer = day
        .central
        .admin(
            "POST",
            &format!("/admin/v1/flags/{id}/resolve"),
            Some(r#"{"note": "the customer paid at the desk", "by": "marta"}"#),
        )
        .unwrap();
    assert_eq!(answer.status, 204, "{}", answer.body);
    let open = vec![format!("token_at_two_stores:{MASKED}")];
    for i in 0..3 {
        wait::until(
            "the resolution at every till",
            Duration::from_secs(60),
            || (day.flags_at(i).as_ref() == Some(&open)).then_some(()),
        )
        .unwrap_or_else(|e| panic!("{e}: till {i} holds {:?}", day.flags_at(i)));
    }
}

/// The last spend first and the first last, and both stores' managers see the ledger in
/// the real browser: S1's in Spanish, S2's in English.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn journals_out_of_order_and_both_stores_dashboards_show_the_outcomes() {
    let browser_here = browser::available("the store ledger's dashboard test");
    let day = tokio::task::spawn_blocking(|| {
        let day = Day::run([2, 0, 1]);
        day.check_central();
        day.check_tills();
        day
    })
    .await
    .unwrap();
    if !browser_here {
        return;
    }
    add_manager(&day.tills[0], "es");
    add_manager(&day.tills[1], "en");
    let driver = browser::start_driver();
    let c = browser::browser(&driver, (1280, 1400)).await;

    let s1a = day.till_id(0);
    let s1b = day.till_id(2);
    sync_page(&c, day.agent(0)).await;
    wait_text(
        &c,
        "#ledger-entries",
        &[
            &s1a,
            &s1b,
            MASKED,
            "Confirmado",
            "Deuda creada",
            "Instantánea del pase",
        ],
    )
    .await;
    wait_text(&c, "#ledger-days", &["40,00", "20,00"]).await;
    wait_text(
        &c,
        "#ledger-flags",
        &[
            "Mismo código usado en dos tiendas",
            "Gasto por encima del saldo",
            MASKED,
        ],
    )
    .await;
    let shown = wait_text(&c, "#store-ledger", &[MASKED]).await;
    assert!(!shown.contains(CUSTOMER), "only masked references: {shown}");
    assert!(
        !shown.contains(&day.till_id(1)),
        "S1's ledger holds S1's tills alone: {shown}"
    );

    let s2 = day.till_id(1);
    sync_page(&c, day.agent(1)).await;
    wait_text(
        &c,
        "#ledger-entries",
        &[&s2, MASKED, "Debt created", "Pass snapshot"],
    )
    .await;
    wait_text(&c, "#ledger-days", &["20.00", "10.00"]).await;
    wait_text(
        &c,
        "#ledger-flags",
        &["Same code used at two stores", "Overspent: debt", MASKED],
    )
    .await;
    let shown = wait_text(&c, "#store-ledger", &[MASKED]).await;
    assert!(!shown.contains(CUSTOMER), "only masked references: {shown}");
    assert!(
        !shown.contains(&s1a),
        "S2's ledger holds S2's till alone: {shown}"
    );
    c.close().await.unwrap();
}
