//! The store manager dashboard in a real headless Chromium, driven over chromedriver
//! (`fantoccini`): sign in, a sale made through the POS API shows on Today and
//! Transactions (with its return), a refused scan with its reason on Scans, the store's
//! offline-risk ledger on Sync, the language
//! switch, the day's CSV fetched and read back, and five failed sign-ins locking the name.
//! A screenshot of every page is kept under `<target>/dashboard-screenshots/`.
//!
//! The agent is served in-process (`daemon::build` and the real routers on a real
//! loopback socket), as the POS API tests do, so that a catalog can be put in force without
//! central. Chromium and chromedriver are Debian's `chromium` and `chromium-driver`; when
//! they are missing the test fails and says so (CI installs them).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use fantoccini::{Client, Locator};
use serde_json::{Value, json};
use tillpass_agent::catalog::Active;
use tillpass_agent::config::Config;
use tillpass_agent::dashboard::cli::{ManagerArgs, ManagerCommand};
use tillpass_agent::paths::Paths;
use tillpass_engine::Engine;
use tillpass_protocol::catalog::Catalog;
use tillpass_tests::browser;
use tower::ServiceExt;

use crate::sessions::{CATALOG, cart, raw, seeded_till};
use crate::util::{Central, Till, now};

const PASSWORD: &str = "manager password 1";
const WAIT: Duration = Duration::from_secs(20);

/// The agent in-process on a loopback socket: its POS API and the dashboard.
struct Served {
    addr: String,
    config: Config,
    state: tillpass_agent::till::Till,
}

async fn serve(till: &Till) -> Served {
    let config = Config::load(Some(&till.config), true, Vec::new()).unwrap();
    let paths = Paths::from_env(|_| None);
    let agent =
        tillpass_agent::daemon::build(&config, &paths, tillpass_agent::clock::system_wall_clock())
            .unwrap();
    let engine = Engine::new(Catalog::from_toml(CATALOG).unwrap()).unwrap();
    agent.state.catalogs.set(Active {
        sequence: 3,
        issued_at: now() - 3600,
        engine: Arc::new(engine),
    });
    agent.state.sync.update(|s| s.online = true);
    let api = tillpass_agent::http::router(agent.state.clone());
    // The agent's router mounts the dashboard; until it does, mount it here.
    let probe = axum::http::Request::get("/dashboard/login")
        .body(axum::body::Body::empty())
        .unwrap();
    let mounted = api.clone().oneshot(probe).await.unwrap().status() != 404;
    let router = if mounted {
        api
    } else {
        api.merge(tillpass_agent::dashboard::router(agent.state.clone()))
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    tokio::spawn(tillpass_agent::http::serve(
        listener,
        router,
        std::future::pending(),
    ));
    Served {
        addr,
        config,
        state: agent.state,
    }
}

impl Served {
    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    async fn call(&self, method: &str, path: &str, key: Option<&str>, body: Value) -> (u16, Value) {
        let (addr, method, path, key) = (
            self.addr.clone(),
            method.to_owned(),
            path.to_owned(),
            key.map(str::to_owned),
        );
        tokio::task::spawn_blocking(move || {
            raw(
                &addr,
                &method,
                &path,
                key.as_deref(),
                &body.to_string(),
                true,
            )
        })
        .await
        .unwrap()
    }
}

fn screenshots() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .unwrap()
        .join("dashboard-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

async fn shot(c: &Client, name: &str) {
    let png = c.screenshot().await.unwrap();
    assert!(png.starts_with(b"\x89PNG"), "{name}: not a PNG");
    std::fs::write(screenshots().join(format!("{name}.png")), png).unwrap();
}

/// Waits until the element `css` holds `needle`; returns its text.
async fn wait_text(c: &Client, css: &str, needle: &str) -> String {
    let deadline = Instant::now() + WAIT;
    loop {
        let text = match c.find(Locator::Css(css)).await {
            Ok(e) => e.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        };
        if text.contains(needle) {
            return text;
        }
        if Instant::now() > deadline {
            let url = c
                .current_url()
                .await
                .map(|u| u.to_string())
                .unwrap_or_default();
            let source = c.source().await.unwrap_or_default();
            panic!("{css} never showed {needle:?} at {url}; it shows {text:?}\n{source}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn sign_in(c: &Client, served: &Served, name: &str, password: &str) {
    c.goto(&served.url("/dashboard/login")).await.unwrap();
    let field = c.find(Locator::Css("#name")).await.unwrap();
    field.clear().await.unwrap();
    field.send_keys(name).await.unwrap();
    c.find(Locator::Css("#password"))
        .await
        .unwrap()
        .send_keys(password)
        .await
        .unwrap();
    c.find(Locator::Css("#sign-in"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
}

/// A sale through the POS API: customer C-1 identified, the cart, €3.00 of savings, the
/// rest paid by card at the POS; then one loaf returned.
async fn sell(served: &Served, central: &Central) {
    let t = now();
    let pass = central.pass("C-1", t - 10, 3600, 1);
    let (status, id) = served
        .call("POST", "/v1/identify", None, json!({ "scan": pass }))
        .await;
    assert_eq!(status, 200, "{id:#}");
    let (status, s) = served
        .call(
            "PUT",
            "/v1/sessions/DASH-0001",
            Some("k-put"),
            json!({ "cart": cart() }),
        )
        .await;
    assert_eq!(status, 200, "{s:#}");
    let version = s["version"].as_u64().unwrap();
    let (status, s) = served
        .call(
            "POST",
            "/v1/sessions/DASH-0001/tenders",
            Some("k-tender"),
            json!({ "version": version,
                    "tender": { "type": "savings", "amount": { "amount": 300, "currency": "EUR" } } }),
        )
        .await;
    assert_eq!(status, 200, "{s:#}");
    let version = s["version"].as_u64().unwrap();
    let (status, closed) = served
        .call(
            "POST",
            "/v1/sessions/DASH-0001/close",
            Some("k-close"),
            json!({ "version": version }),
        )
        .await;
    assert_eq!(status, 200, "{closed:#}");
    let (status, r) = served
        .call(
            "POST",
            "/v1/sessions/DASH-0001/returns",
            Some("k-return"),
            json!({ "return_id": "R-DASH-1", "lines": [{ "line": "1", "qty": 1 }] }),
        )
        .await;
    assert_eq!(status, 200, "{r:#}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_manager_uses_the_dashboard_in_a_real_browser() {
    if !browser::available("the dashboard test") {
        return;
    }
    assert!(browser::chromium_binary().is_some(), "no Chromium found");
    let driver = browser::start_driver();
    let central = Central::new();
    let till = seeded_till(&central);
    let served = serve(&till).await;
    let paths = Paths::from_env(|_| None);
    tillpass_agent::dashboard::cli::run_with(
        &served.config,
        &paths,
        ManagerArgs {
            command: ManagerCommand::Add {
                name: "Marta".into(),
                lang: None,
            },
        },
        &mut || Ok(PASSWORD.to_owned()),
        &mut std::io::sink(),
    )
    .unwrap();

    sell(&served, &central).await;
    // A refused scan: an expired pass, read by the POS's scanner.
    let expired = central.pass("C-1", now() - 7200, 600, 7);
    let (status, refusal) = served
        .call("POST", "/v1/identify", None, json!({ "scan": expired }))
        .await;
    assert_eq!(status, 422, "{refusal:#}");
    assert_eq!(refusal["code"], "expired");

    let c = browser::browser(&driver, (1280, 1400)).await;

    // Sign in (the store speaks Spanish).
    c.goto(&served.url("/dashboard/login")).await.unwrap();
    wait_text(&c, "h1", "Acceso").await;
    shot(&c, "01-login").await;
    sign_in(&c, &served, "marta", PASSWORD).await;

    // Today: the sale, with a loyalty customer, and its return.
    wait_text(&c, "h1", "Hoy").await;
    wait_text(&c, "#kpi-sales .value", "1").await;
    wait_text(&c, "#kpi-loyalty", "100,0").await;
    wait_text(&c, "#kpi-redeemed .value", "3,00").await;
    wait_text(&c, "#kpi-returns .value", "1").await;
    wait_text(&c, "#top-promotions", "BREAD-10").await;
    shot(&c, "02-today").await;

    // Transactions: the sale, found by live search, and its detail.
    c.goto(&served.url("/dashboard/transactions"))
        .await
        .unwrap();
    wait_text(&c, "#sales", "DASH-0001").await;
    wait_text(&c, "#sales", "Lucía").await;
    shot(&c, "03-transactions").await;
    c.find(Locator::Css("#q"))
        .await
        .unwrap()
        .send_keys("C-1")
        .await
        .unwrap();
    wait_text(&c, "#results h2", "C-1").await;
    wait_text(&c, "#sales", "DASH-0001").await;
    c.find(Locator::Css("#sales a.code"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_text(&c, "h1", "Venta DASH-0001").await;
    wait_text(&c, "#effects", "Pan -10 %").await;
    wait_text(&c, "#tenders", "Ahorro").await;
    wait_text(&c, "#returns", "R-DASH-1").await;
    shot(&c, "04-sale").await;

    // Scans: the refused scan with its reason.
    c.goto(&served.url("/dashboard/scans")).await.unwrap();
    wait_text(&c, "#scans", "Caducado").await;
    wait_text(&c, "#reasons", "expired").await;
    wait_text(&c, "#per-scanner", "TPV (API)").await;
    shot(&c, "05-scans").await;

    for (path, css, needle, name) in [
        ("/dashboard/sync", "#online", "En línea", "06-sync"),
        (
            "/dashboard/devices",
            "#no-devices",
            "No hay lectores",
            "07-devices",
        ),
        (
            "/dashboard/promotions",
            "#promotions",
            "BREAD-10",
            "08-promotions",
        ),
    ] {
        c.goto(&served.url(path)).await.unwrap();
        wait_text(&c, css, needle).await;
        shot(&c, name).await;
    }

    // The store's ledger, as central returns it to every till of the store: two tills'
    // spends against one customer, one central confirmed and one that became a debt, and
    // the token seen at two stores. The Sync page shows it, by day and spend by spend.
    let at = i64::try_from(now()).unwrap() - 3600;
    let page: Vec<Value> = [
        (
            "0123456789abcdef0123456789abcdef",
            "S1-T1",
            1000,
            0,
            "confirmed",
            "cached",
        ),
        (
            "fedcba9876543210fedcba9876543210",
            "S1-T2",
            1000,
            500,
            "debt",
            "snapshot",
        ),
    ]
    .iter()
    .map(|(id, till, amount, short, outcome, source)| {
        json!({"op": "spend", "spend": {
            "id": id, "till": till, "at": at, "account": "savings", "holder": "C-••••23",
            "amount": {"amount": amount, "currency": "EUR"},
            "short": {"amount": short, "currency": "EUR"},
            "source": source, "outcome": outcome }})
    })
    .chain([json!({"op": "flag", "flag": {
        "id": "a1b2", "kind": "token_at_two_stores", "holder": "C-••••23",
        "detail": "token used at stores S1, S2", "raised_at": at, "resolved": false }})])
    .collect();
    {
        let store = served.state.identifier.store();
        let conn = store.conn();
        tillpass_agent::sync::ledger::apply_ledger(&conn, &page, at + 60).unwrap();
    }
    c.goto(&served.url("/dashboard/sync")).await.unwrap();
    wait_text(&c, "#ledger-days", "20,00").await;
    wait_text(&c, "#ledger-days", "5,00").await;
    wait_text(&c, "#ledger-entries", "Deuda creada").await;
    wait_text(&c, "#ledger-entries", "Confirmado").await;
    wait_text(&c, "#ledger-entries", "Instantánea del pase").await;
    wait_text(&c, "#ledger-entries", "S1-T2").await;
    wait_text(&c, "#ledger-entries", "C-••••23").await;
    wait_text(&c, "#ledger-flags", "Mismo código usado en dos tiendas").await;
    let shown = wait_text(&c, "#store-ledger", "C-••••23").await;
    assert!(
        !shown.contains("C-000123"),
        "only masked references: {shown}"
    );
    shot(&c, "06b-sync-ledger").await;
    c.goto(&served.url("/dashboard/promotions")).await.unwrap();
    wait_text(&c, "h1", "Promociones").await;

    // Switch to English: the same page comes back in English, and stays so.
    c.find(Locator::Css("#switch-lang"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_text(&c, "h1", "Promotions").await;
    c.goto(&served.url("/dashboard/today")).await.unwrap();
    wait_text(&c, "h1", "Today").await;
    wait_text(&c, "#kpi-loyalty", "100.0%").await;
    shot(&c, "09-today-en").await;

    // The day's CSV, fetched with the session as the download link would.
    let csv = c
        .execute_async(
            "const done = arguments[arguments.length - 1];
             fetch(document.getElementById('download-csv').href)
               .then(r => r.text().then(t => done([r.status, r.headers.get('content-type'), t])))
               .catch(e => done([0, '', String(e)]));",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(csv[0], 200, "{csv:#}");
    assert!(csv[1].as_str().unwrap().starts_with("text/csv"), "{csv:#}");
    let text = csv[2].as_str().unwrap();
    let rows: Vec<Vec<&str>> = text.lines().map(|l| l.split(',').collect()).collect();
    assert_eq!(rows[0][0], "sale_id", "{text}");
    assert_eq!(rows.len(), 2, "{text}");
    let sale = &rows[1];
    assert_eq!(sale[0], "DASH-0001");
    assert_eq!(
        sale[3], "•••",
        "a reference this short is all masked: {sale:?}"
    );
    let net: i64 = served
        .state
        .identifier
        .store()
        .conn()
        .query_row(
            "SELECT net FROM sales WHERE sale_id = 'DASH-0001'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(
        sale[8],
        format!("{}.{:02}", net / 100, net % 100),
        "{sale:?}"
    );
    assert_eq!(sale[10], "3.00", "savings redeemed");
    assert_eq!(sale[13], "1", "one return");

    // Sign out, then five wrong passwords lock the name, even for the right one.
    c.find(Locator::Css("#sign-out"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_text(&c, "h1", "Acceso").await;
    for attempt in 1..=5 {
        sign_in(&c, &served, "marta", "not the password").await;
        let expected = if attempt < 5 {
            "incorrectos"
        } else {
            "bloqueado"
        };
        wait_text(&c, "#login-error", expected).await;
    }
    sign_in(&c, &served, "marta", PASSWORD).await;
    wait_text(&c, "#login-error", "bloqueado").await;
    assert!(
        c.current_url().await.unwrap().path().ends_with("/login"),
        "still signed out"
    );
    shot(&c, "10-locked").await;
    c.close().await.unwrap();
}
