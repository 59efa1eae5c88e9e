//! The demo's whole customer journey in a real headless Chromium, through central's
//! WhatsApp channel: the real `tillpass-demo` binary opens the store; on its phone page the
//! visitor says hello, accepts the terms, asks for the QR, sees the pass and shows it to
//! the till's virtual scanner; the terminal cashier (`tillpass-demo pos`) rings up a sale
//! for the customer the scanner read and closes it; the till syncs, and the receipt and
//! the new savings appear in the chat. The visitor's phone number stays in central's
//! channel: it is in no file of the till and in no other table of central, and the pass
//! names the customer by an opaque reference. Once in Spanish, once in English — the
//! visitor's first message picks the language.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod browser;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, Locator};
use serde_json::json;
use tillpass_demo::phone::read_qr;
use tillpass_demo::shop::{SUMMARY_FILE, Summary, VISITOR};

const DEMO: &str = env!("CARGO_BIN_EXE_tillpass-demo");

/// From the close to the receipt in the chat: the till's sync (every 5 s in the demo),
/// central's ingestion and the channel's sender.
const RECEIPT_WAIT: Duration = Duration::from_secs(90);

/// What the visitor writes and what the chat must show, in one language.
struct Script {
    name: &'static str,
    hello: &'static str,
    consent: &'static str,
    welcome: &'static str,
    caption: &'static str,
    /// The receipt, up to the sale's id.
    receipt: &'static str,
    /// The receipt's rest, from the total on.
    receipt_rest: &'static str,
    balance_ask: &'static str,
    balance: &'static str,
}

const SPANISH: Script = Script {
    name: "es",
    hello: "hola",
    consent: "¡Hola! Para unirte al club acepta las condiciones",
    welcome: "¡Bienvenido/a, Marta! Ya eres del club.",
    caption: "Marta, tu pase para la caja. Ahorro disponible: 0.00 EUR.",
    receipt: "Recibo ",
    receipt_rest: ": total 13.32 EUR. Ahorro ganado 0.26 EUR, usado 0.00 EUR. \
                   Tu ahorro: 0.00 EUR (+0.26 EUR pendiente).",
    balance_ask: "saldo",
    balance: "Ahorro disponible: 0.00 EUR.\nPendiente: 0.26 EUR",
};

const ENGLISH: Script = Script {
    name: "en",
    hello: "hello",
    consent: "Hi! To join the club, accept the terms",
    welcome: "Welcome, Marta! You are in the club.",
    caption: "Marta, your pass for the till. Savings to spend: 0.00 EUR.",
    receipt: "Receipt ",
    receipt_rest: ": total 13.32 EUR. Savings earned 0.26 EUR, spent 0.00 EUR. \
                   Your savings: 0.00 EUR (+0.26 EUR pending).",
    balance_ask: "balance",
    balance: "Savings to spend: 0.00 EUR.\nPending: 0.26 EUR",
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_whole_journey_in_spanish_through_centrals_channel() {
    journey(&SPANISH).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_whole_journey_in_english_through_centrals_channel() {
    journey(&ENGLISH).await;
}

/// The demo process, killed when the test is done (or panics).
struct Demo(Child);

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Polls `probe` until it gives a value, or fails the test after `deadline`.
async fn eventually<T, F, Fut>(what: &str, deadline: Duration, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let until = Instant::now() + deadline;
    loop {
        if let Some(value) = probe().await {
            return value;
        }
        assert!(Instant::now() < until, "timed out waiting for {what}");
        // A pause between looks: the loop ends as soon as the condition holds.
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn get(http: &reqwest::Client, url: &str) -> Option<(u16, String)> {
    let answer = http.get(url).send().await.ok()?;
    let status = answer.status().as_u16();
    Some((status, answer.text().await.ok()?))
}

/// Starts the real demo on free ports in `dir`; its summary once the till is ready.
async fn open_store(dir: &Path, http: &reqwest::Client) -> (Demo, Summary) {
    let demo = Demo(
        Command::new(DEMO)
            .args([
                "--port",
                "0",
                "--central-port",
                "0",
                "--phone-port",
                "0",
                "--no-stdin",
                "--dir",
            ])
            .arg(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let summary: Summary = eventually("demo.json", Duration::from_secs(60), || async {
        let text = std::fs::read_to_string(dir.join(SUMMARY_FILE)).ok()?;
        serde_json::from_str(&text).ok()
    })
    .await;
    let readyz = format!("{}/readyz", summary.pos_api);
    eventually("/readyz 200", Duration::from_secs(60), || async {
        (get(http, &readyz).await?.0 == 200).then_some(())
    })
    .await;
    (demo, summary)
}

/// `tillpass-demo pos` against the demo in `dir`, reading `script`: what it printed.
async fn cashier(dir: PathBuf, script: String) -> String {
    tokio::task::spawn_blocking(move || {
        let mut child = Command::new(DEMO)
            .arg("pos")
            .arg("--dir")
            .arg(&dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(script.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "{text}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        text
    })
    .await
    .unwrap()
}

async fn click(c: &Client, css: &str) {
    browser::wait_for(c, css).await.click().await.unwrap();
}

/// Every file under `dir`, read whole.
fn files(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut all = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            all.extend(files(&path));
        } else if let Ok(bytes) = std::fs::read(&path) {
            all.push((path, bytes));
        }
    }
    all
}

fn holds(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

/// The tables of central's database whose rows hold `needle` (as text or bytes).
fn central_tables_holding(db: &Path, needle: &str) -> Vec<String> {
    let c = rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
        .unwrap();
    c.busy_timeout(Duration::from_secs(10)).unwrap();
    let tables: Vec<String> = c
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table'")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let mut found = Vec::new();
    for table in tables {
        let mut stmt = c.prepare(&format!("SELECT * FROM \"{table}\"")).unwrap();
        let columns = stmt.column_count();
        let mut rows = stmt.query([]).unwrap();
        'rows: while let Some(row) = rows.next().unwrap() {
            for i in 0..columns {
                let hit = match row.get_ref(i).unwrap() {
                    rusqlite::types::ValueRef::Text(t) | rusqlite::types::ValueRef::Blob(t) => {
                        holds(t, needle)
                    }
                    _ => false,
                };
                if hit {
                    found.push(table.clone());
                    break 'rows;
                }
            }
        }
    }
    found
}

async fn journey(script: &Script) {
    if !tillpass_tests::browser::available("the demo's customer journey") {
        return;
    }
    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let parent = tempfile::tempdir().unwrap();
    let dir = parent.path().join("demo");
    let (_demo, summary) = open_store(&dir, &http).await;
    let (number, _) = VISITOR;

    let driver = browser::start_driver();
    let c = browser::browser(&driver).await;
    c.goto(&summary.phone).await.unwrap();
    browser::wait_text(&c, "#brand", "tillpass demo store").await;

    // The visitor says hello: central's channel asks for consent, in their language.
    browser::say(&c, script.hello).await;
    browser::wait_text(&c, ".msg.out .text", script.hello).await;
    browser::wait_text(&c, ".msg.in .text", script.consent).await;
    browser::wait_text(&c, ".msg.in .buttons button", "Acepto / I agree").await;
    browser::shot(&c, &format!("journey-{}-1-consent", script.name)).await;

    // "Acepto / I agree": the welcome.
    click(&c, ".msg.in .buttons button[data-id=consent_accept]").await;
    browser::wait_text(&c, ".msg.out .text", "Acepto / I agree").await;
    browser::wait_text(&c, ".msg.in .text", script.welcome).await;
    // The sign-up made a customer with an opaque reference and consent to receipts.
    let central_db = dir.join("central").join("central.db");
    let (customer, receipts_consent): (String, bool) = {
        let c = rusqlite::Connection::open_with_flags(
            &central_db,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
        )
        .unwrap();
        c.busy_timeout(Duration::from_secs(10)).unwrap();
        c.query_row(
            "SELECT c.ref, c.consent_receipts FROM wa_contacts w JOIN customers c
             ON c.ref = w.customer WHERE w.wa_id = ?1",
            [number],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap()
    };
    assert!(receipts_consent);
    assert!(!customer.contains(number));

    // "QR": the pass, as an image the browser shows.
    browser::say(&c, "QR").await;
    browser::wait_text(&c, ".msg.in .text", script.caption).await;
    let img = browser::wait_for(&c, ".msg.in img.pass").await;
    let loaded = c
        .execute(
            "const i = document.querySelector('.msg.in img.pass'); \
             return i.complete && i.naturalWidth > 0;",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(loaded, json!(true), "the pass image did not load");
    let src = img.attr("src").await.unwrap().unwrap();
    let base = summary.phone.trim_end_matches("/phone");
    let png = http
        .get(format!("{base}{src}"))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let pass = read_qr(&png).unwrap();
    browser::shot(&c, &format!("journey-{}-2-pass", script.name)).await;

    // "Show to the scanner": the till's virtual scanner reads it.
    click(&c, ".msg.in .scan").await;
    browser::wait_for(&c, ".msg.in .scan.done").await;
    let metrics = format!("{}/metrics", summary.pos_api);
    eventually(
        "the till to read the pass",
        Duration::from_secs(30),
        || async {
            get(&http, &metrics)
                .await?
                .1
                .lines()
                .any(|l| l == "tillpass_scans_total{result=\"accepted\",code=\"\"} 1")
                .then_some(())
        },
    )
    .await;

    // The cashier rings up a sale for the customer the scanner read, and closes it.
    let rung = cashier(
        dir.clone(),
        "add APPLES 2.40 2 fresh\nadd COFFEE 4.50 3 coffee\nclose card\n".to_owned(),
    )
    .await;
    // The till learnt of the new customer live from central at the scan; their name comes
    // with its next sync.
    assert!(
        rung.contains("customer Marta: savings 0.00 EUR")
            || rung.contains(&format!("customer {customer}: savings 0.00 EUR")),
        "{rung}"
    );
    // 18.30 gross − 0.48 fresh − 4.50 coffee 3x2 = 13.32, earning 2 % of it.
    assert!(rung.contains("total            13.32 EUR"), "{rung}");
    assert!(rung.contains("savings earned   0.26 EUR"), "{rung}");
    let sale = rung
        .lines()
        .find_map(|l| l.strip_prefix("=== receipt "))
        .and_then(|l| l.strip_suffix(" ==="))
        .unwrap_or_else(|| panic!("no receipt: {rung}"))
        .to_owned();

    // The till syncs; the receipt and the new savings appear in the chat.
    let receipt = format!("{}{sale}{}", script.receipt, script.receipt_rest);
    let shown = browser::wait_text_for(
        &c,
        ".msg.in .text",
        &format!("{}{sale}", script.receipt),
        RECEIPT_WAIT,
    )
    .await;
    assert_eq!(shown, receipt);
    browser::say(&c, script.balance_ask).await;
    browser::wait_text(&c, ".msg.in .text", script.balance).await;
    browser::shot(&c, &format!("journey-{}-3-receipt", script.name)).await;
    // The chat, in order: nothing but the journey.
    let chat: Vec<String> = {
        let mut texts = Vec::new();
        for m in c.find_all(Locator::Css(".msg")).await.unwrap() {
            let class = m.attr("class").await.unwrap().unwrap_or_default();
            let text = m.text().await.unwrap_or_default();
            let who = if class.contains("out") { ">" } else { "<" };
            texts.push(format!("{who} {}", text.lines().next().unwrap_or_default()));
        }
        texts
    };
    assert_eq!(chat.len(), 9, "{chat:#?}");
    c.close().await.unwrap();

    // The number is central's channel's alone; the pass names the customer by an opaque
    // reference.
    let token = tillpass_protocol::token::decode(&pass).unwrap();
    assert_eq!(token.body().subject.as_bytes(), customer.as_bytes());
    // Central: in its channel's tables alone (the contact, and the consent evidence; an
    // item or a message still in flight holds it until it is final).
    let holding = central_tables_holding(&central_db, number);
    assert!(holding.iter().any(|t| t == "wa_contacts"), "{holding:?}");
    assert!(holding.iter().all(|t| t.starts_with("wa_")), "{holding:?}");
    // The till holds the customer (the check reads its files) but not the number.
    let till = files(&dir.join("till"));
    assert!(
        till.iter().any(|(_, bytes)| holds(bytes, &customer)),
        "the customer is not in the till's files"
    );
    for (path, bytes) in &till {
        assert!(
            !holds(bytes, number),
            "{} holds the visitor's number",
            path.display()
        );
    }
}
