//! The WhatsApp channel end to end: central's real webhook on a loopback port, its
//! SQLite file, its workers, and the Graph API of `crate::graph` (Meta's documented
//! contract), deliveries signed as Meta signs them.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tillpass_central::whatsapp::handle::reference_for;
use tillpass_central::whatsapp::intent::button;

use crate::graph::{self, Fail, Graph, SECRET};
use crate::journal::sale;
use crate::util::Central;

/// A chat: central with the channel, the fake Graph API, and a way to write.
struct Chat {
    central: Central,
    graph: Graph,
    next: std::sync::atomic::AtomicU64,
}

impl Chat {
    async fn start(template: Option<&str>) -> Chat {
        let graph = Graph::start().await;
        let (central, _channel) = Central::start_whatsapp(graph.config(template)).await;
        Chat {
            central,
            graph,
            next: std::sync::atomic::AtomicU64::new(0),
        }
    }

    fn id(&self) -> String {
        let n = self.next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        format!("wamid.in.{n}.{}", hex::encode(crate::util::rand::<4>()))
    }

    /// Posts a signed delivery; asserts `200`.
    async fn post(&self, body: &Value) {
        let answer =
            graph::post(&self.central.client, &self.central.base, body, Some(SECRET)).await;
        assert_eq!(
            answer.status(),
            StatusCode::OK,
            "{}",
            answer.text().await.unwrap()
        );
    }

    /// `from` writes `text`; returns the message id.
    async fn say(&self, from: &str, text: &str) -> String {
        let id = self.id();
        self.post(&graph::text(from, &id, text)).await;
        id
    }

    /// `from` taps a button; returns the message id.
    async fn tap(&self, from: &str, button: &str) -> String {
        let id = self.id();
        self.post(&graph::tap(from, &id, button, "title")).await;
        id
    }

    /// `from` writes `text` and gets exactly one more message; returns it.
    async fn ask(&self, from: &str, text: &str) -> Value {
        let before = self.graph.sent_to(from).len();
        self.say(from, text).await;
        self.graph.wait_for(from, before + 1).await.pop().unwrap()
    }

    /// Signs `from` up; returns their customer reference.
    async fn sign_up(&self, from: &str, first: &str) -> String {
        let consent = self.ask(from, first).await;
        assert_eq!(consent["type"], "interactive", "{consent}");
        let before = self.graph.sent_to(from).len();
        let accepted = self.tap(from, button::ACCEPT).await;
        self.graph.wait_for(from, before + 1).await;
        reference_for(&accepted)
    }

    fn db(&self) -> rusqlite::Connection {
        rusqlite::Connection::open(self.central.dir().join("central.db")).unwrap()
    }

    /// The outbox's state and reason for idempotency key `key`, once it is neither
    /// `pending` nor `in_flight`.
    async fn settled(&self, key: &str) -> (String, Option<String>) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            let row: Option<(String, Option<String>)> = {
                use rusqlite::OptionalExtension;
                self.db()
                    .query_row(
                        "SELECT state, reason FROM wa_outbox WHERE idempotency_key = ?1",
                        [key],
                        |r| Ok((r.get(0)?, r.get(1)?)),
                    )
                    .optional()
                    .unwrap()
            };
            if let Some(row) = row.filter(|(s, _)| s != "pending" && s != "in_flight") {
                return row;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{key} never settled"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

fn body(message: &Value) -> String {
    message
        .pointer("/text/body")
        .or_else(|| message.pointer("/interactive/body/text"))
        .or_else(|| message.pointer("/image/caption"))
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test]
async fn the_webhook_verifies_meta_and_refuses_unsigned_or_forged_deliveries() {
    let chat = Chat::start(None).await;
    let c = &chat.central;
    let verify = |token: &str| {
        c.client
            .get(c.url(&format!(
                "/webhooks/whatsapp?hub.mode=subscribe&hub.verify_token={token}&hub.challenge=1158201444"
            )))
            .send()
    };
    let ok = verify(graph::VERIFY).await.unwrap();
    assert_eq!(ok.status(), StatusCode::OK);
    assert_eq!(ok.text().await.unwrap(), "1158201444");
    let refused = verify("guess").await.unwrap();
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        refused.headers()["content-type"],
        "application/problem+json"
    );
    assert_eq!(refused.json::<Value>().await.unwrap()["code"], "forbidden");

    let phone = "34611000001";
    let delivery = graph::text(phone, "wamid.forged", "QR");
    for secret in [None, Some("not-the-app-secret")] {
        let answer = graph::post(&c.client, &c.base, &delivery, secret).await;
        assert_eq!(answer.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(answer.headers()["content-type"], "application/problem+json");
        assert_eq!(
            answer.json::<Value>().await.unwrap()["code"],
            "bad_signature"
        );
    }
    // A body changed after signing.
    let raw = serde_json::to_vec(&delivery).unwrap();
    let signature = tillpass_central::whatsapp::signature::sign(SECRET.as_bytes(), &raw);
    let mut changed = raw.clone();
    changed.extend_from_slice(b" ");
    let answer = c
        .client
        .post(c.url("/webhooks/whatsapp"))
        .header("x-hub-signature-256", signature)
        .body(changed)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), StatusCode::UNAUTHORIZED);
    let stored: i64 = chat
        .db()
        .query_row("SELECT count(*) FROM wa_inbox", [], |r| r.get(0))
        .unwrap();
    assert_eq!(stored, 0, "nothing of a refused delivery is stored");

    // Signed, it is stored and answered (the consent request), once.
    chat.post(&delivery).await;
    let consent = chat.graph.wait_for(phone, 1).await;
    assert_eq!(consent[0]["type"], "interactive");
    // A signed body that is not a delivery: 400, nothing stored.
    let junk = graph::post(&c.client, &c.base, &json!({"object": "page"}), Some(SECRET)).await;
    assert_eq!(junk.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        junk.json::<Value>().await.unwrap()["code"],
        "malformed_json"
    );
}

#[tokio::test]
async fn the_same_delivery_twice_is_handled_once() {
    let chat = Chat::start(None).await;
    let phone = "34611000002";
    let delivery = graph::text(phone, "wamid.twice", "hola");
    chat.post(&delivery).await;
    chat.post(&delivery).await;
    // A later message's answer comes after any the first could have caused.
    chat.say(phone, "hola otra vez").await;
    chat.graph.wait_for(phone, 2).await;
    let second_later = chat.ask(phone, "hola").await;
    assert_eq!(second_later["type"], "interactive");
    assert_eq!(
        chat.graph.sent_to(phone).len(),
        3,
        "the duplicate got no answer"
    );
    let rows: i64 = chat
        .db()
        .query_row(
            "SELECT count(*) FROM wa_inbox WHERE message_id = 'wamid.twice'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(rows, 1);
}

/// Every flow in one language: sign-up, pass (rate-limited), balance with a gift card,
/// offers, opt-out (nothing more sent), re-subscription, and the consent evidence.
async fn flows(chat: &Chat, phone: &str, words: [&str; 6], expect: [&str; 7]) {
    let [hello, qr, balance, offers, stop, start] = words;
    let consent = chat.ask(phone, hello).await;
    assert!(
        body(&consent).contains("2026-01"),
        "the terms' version is named: {consent}"
    );
    assert!(body(&consent).contains(expect[0]), "{consent}");
    assert_eq!(
        consent.pointer("/interactive/action/buttons/0/reply/id"),
        Some(&json!(button::ACCEPT))
    );
    let accepted = chat.tap(phone, button::ACCEPT).await;
    let welcome = chat.graph.wait_for(phone, 2).await.pop().unwrap();
    assert!(body(&welcome).contains("Lucía"), "{welcome}");
    assert!(body(&welcome).contains(expect[1]), "{welcome}");
    let customer = reference_for(&accepted);
    let profile = chat.central.customer(&customer).await;
    assert_eq!(profile["first_name"], "Lucía");
    assert_eq!(profile["consent"]["receipts"], true);
    assert!(
        !profile.to_string().contains(phone),
        "the phone number is not in the customer"
    );

    let uploads = chat.graph.uploads();
    let pass = chat.ask(phone, qr).await;
    assert_eq!(pass["type"], "image", "{pass}");
    assert!(pass["image"]["id"].as_str().unwrap().starts_with("media."));
    assert!(
        body(&pass).contains("Lucía") && body(&pass).contains("0.00 EUR"),
        "{pass}"
    );
    assert_eq!(chat.graph.uploads(), uploads + 1);
    let again = chat.ask(phone, qr).await;
    assert_eq!(
        again["type"], "text",
        "a second pass at once is refused: {again}"
    );
    assert!(body(&again).contains(expect[2]), "{again}");

    // A gift card the customer owns shows in the balance.
    let card = format!("GC{}", &phone[phone.len() - 4..]);
    let (status, _) = chat
        .central
        .admin_json(
            Method::POST,
            "/admin/v1/gift-cards",
            json!({"card": card, "currency": "EUR", "balance": 2500}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, owner) = chat
        .central
        .admin_json(
            Method::PUT,
            &format!("/admin/v1/gift-cards/{card}/owner"),
            json!({"customer": customer}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{owner}");
    let shown = chat.ask(phone, balance).await;
    assert!(body(&shown).contains(expect[3]), "{shown}");
    assert!(
        body(&shown).contains(&format!("{card}: 25.00 EUR")),
        "{shown}"
    );

    let none = chat.ask(phone, offers).await;
    assert!(body(&none).contains(expect[4]), "{none}");

    let bye = chat.ask(phone, stop).await;
    assert!(body(&bye).contains(expect[5]), "{bye}");
    // Opted out: a request gets nothing; the re-subscription's answer is the next message.
    let before = chat.graph.sent_to(phone).len();
    chat.say(phone, qr).await;
    let back = chat.ask(phone, start).await;
    assert!(body(&back).contains(expect[6]), "{back}");
    assert_eq!(chat.graph.sent_to(phone).len(), before + 1);

    let (status, evidence) = chat
        .central
        .admin_json(
            Method::GET,
            &format!("/admin/v1/customers/{customer}/consents"),
            Value::Null,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let whats: Vec<&str> = evidence["evidence"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["what"].as_str().unwrap())
        .collect();
    assert_eq!(
        whats,
        [
            "programme_accepted",
            "receipts_accepted",
            "opted_out",
            "opted_in"
        ]
    );
    assert_eq!(evidence["evidence"][0]["terms_version"], "2026-01");
    assert_eq!(evidence["evidence"][0]["message_id"], json!(accepted));
    assert_eq!(evidence["evidence"][0]["channel"], "whatsapp");
}

#[tokio::test]
async fn every_flow_in_spanish() {
    let chat = Chat::start(None).await;
    flows(
        &chat,
        "34611000003",
        [
            "Hola, quiero unirme",
            "QR",
            "saldo",
            "ofertas",
            "BAJA",
            "ALTA",
        ],
        [
            "acepta las condiciones",
            "Bienvenido/a",
            "Acabas de recibir tu pase",
            "Ahorro disponible: 0.00 EUR",
            "No hay ofertas",
            "Te hemos dado de baja",
            "De nuevo en el club",
        ],
    )
    .await;
}

#[tokio::test]
async fn every_flow_in_english() {
    let chat = Chat::start(None).await;
    flows(
        &chat,
        "447700900004",
        [
            "Hello, I want to join",
            "my pass",
            "balance",
            "offers",
            "STOP",
            "START",
        ],
        [
            "accept the terms",
            "Welcome, Lucía",
            "You just got your pass",
            "Savings to spend: 0.00 EUR",
            "No offers right now",
            "You are unsubscribed",
            "Welcome back",
        ],
    )
    .await;
}

#[tokio::test]
async fn statuses_out_of_order_never_move_a_message_backwards() {
    let chat = Chat::start(None).await;
    let phone = "34611000005";
    let consent = chat.ask(phone, "hola").await;
    let wamid = consent["id"].as_str().unwrap().to_owned();
    let reference = consent["biz_opaque_callback_data"].as_str().unwrap();
    assert!(
        reference.starts_with("wamid.in.") && reference.ends_with(":0"),
        "{reference}"
    );
    for state in ["read", "delivered", "sent"] {
        chat.post(&graph::status(&wamid, state, phone)).await;
    }
    // Statuses are handled in order with messages: after this answer, all three were.
    chat.ask(phone, "hola").await;
    let state: String = chat
        .db()
        .query_row(
            "SELECT state FROM wa_outbox WHERE wamid = ?1",
            [&wamid],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(state, "read");
    // A failure reported later is recorded with Meta's reason.
    let failed = graph::status(&wamid, "failed", phone);
    let mut failed = failed;
    failed["entry"][0]["changes"][0]["value"]["statuses"][0]["errors"] =
        json!([{"code": 131026, "title": "Message undeliverable"}]);
    chat.post(&failed).await;
    chat.ask(phone, "hola").await;
    let (state, reason): (String, String) = chat
        .db()
        .query_row(
            "SELECT state, reason FROM wa_outbox WHERE wamid = ?1",
            [&wamid],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(state, "failed");
    assert!(reason.contains("131026"), "{reason}");
}

#[tokio::test]
async fn receipts_go_in_the_window_by_template_outside_it_or_not_at_all() {
    for template in [None, Some("tillpass_receipt")] {
        let chat = Chat::start(template).await;
        let phone = "34611000006";
        let customer = chat.sign_up(phone, "hola").await;
        let till = chat.central.enrol("S1", "S1-T1").await;

        // In the window: a message.
        till.upload(&chat.central, vec![till.event(sale(&customer, "S-1"))])
            .await;
        let receipt = chat.graph.wait_for(phone, 3).await.pop().unwrap();
        assert_eq!(receipt["type"], "text", "{receipt}");
        assert!(
            body(&receipt).contains("Recibo S-1: total 10.00 EUR"),
            "{receipt}"
        );
        assert!(
            body(&receipt).contains("Ahorro ganado 0.10 EUR"),
            "{receipt}"
        );

        // A day later, outside the window.
        chat.central
            .offset
            .store(25 * 3_600, std::sync::atomic::Ordering::SeqCst);
        till.upload(&chat.central, vec![till.event(sale(&customer, "S-2"))])
            .await;
        let key = format!("receipt:{}:S-2", till.id);
        let (state, reason) = chat.settled(&key).await;
        match template {
            None => {
                assert_eq!(state, "not_sent");
                assert!(reason.unwrap().contains("no receipt template"));
                assert_eq!(chat.graph.sent_to(phone).len(), 3);
            }
            Some(name) => {
                assert_eq!(state, "sent");
                let sent = chat.graph.sent_to(phone).pop().unwrap();
                assert_eq!(sent["type"], "template");
                assert_eq!(sent["template"]["name"], name);
                assert_eq!(sent["template"]["language"]["code"], "es");
                assert_eq!(
                    sent["template"]["components"][0]["parameters"][0]["text"],
                    "10.00 EUR"
                );
            }
        }

        // Meta says the window closed (131047) though central thought it open: the
        // template if there is one, else not sent with the reason.
        chat.central
            .offset
            .store(0, std::sync::atomic::Ordering::SeqCst);
        chat.ask(phone, "saldo").await;
        chat.graph.close_window(phone);
        till.upload(&chat.central, vec![till.event(sale(&customer, "S-3"))])
            .await;
        let (state, reason) = chat.settled(&format!("receipt:{}:S-3", till.id)).await;
        match template {
            None => {
                assert_eq!(state, "not_sent");
                assert!(reason.unwrap().contains("131047"));
            }
            Some(_) => {
                assert_eq!(state, "sent");
                assert_eq!(chat.graph.sent_to(phone).pop().unwrap()["type"], "template");
            }
        }
    }
}

#[tokio::test]
async fn rate_limits_and_server_errors_are_retried_and_nothing_is_lost_or_doubled() {
    let chat = Chat::start(None).await;
    chat.graph.fail_next(&[
        Fail::ServerError,
        Fail::Throttled,
        Fail::ServerError,
        Fail::Throttled,
        Fail::ServerError,
        Fail::ServerError,
    ]);
    let phones: Vec<String> = (0..10).map(|i| format!("3461200{i:04}")).collect();
    for phone in &phones {
        chat.say(phone, "hola").await;
    }
    for phone in &phones {
        chat.graph.wait_for(phone, 1).await;
    }
    // One more round: every number has exactly its two answers.
    for phone in &phones {
        chat.ask(phone, "hola").await;
    }
    for phone in &phones {
        assert_eq!(chat.graph.sent_to(phone).len(), 2, "{phone}");
    }

    // 131026: dead at once, with the reason; nine server errors: dead after the maximum.
    let phone = "34612999999";
    chat.graph.fail_next(&[Fail::Undeliverable]);
    let id = chat.say(phone, "hola").await;
    let (state, reason) = chat.settled(&format!("{id}:0")).await;
    assert_eq!(
        (state.as_str(), reason.as_deref()),
        ("dead", Some("undeliverable (131026)"))
    );
    chat.graph.fail_next(&[Fail::ServerError; 9]);
    let id = chat.say(phone, "hola").await;
    let (state, reason) = chat.settled(&format!("{id}:0")).await;
    assert_eq!(state, "dead");
    assert!(reason.unwrap().starts_with("gave up after 8 attempts"));

    let (status, report) = chat
        .central
        .admin_json(Method::GET, "/admin/v1/whatsapp/status", Value::Null)
        .await;
    assert_eq!(status, StatusCode::OK);
    let dead = report["channel"]["dead_letters"].as_array().unwrap();
    assert_eq!(dead.len(), 2, "{report}");
    assert!(
        report["channel"]["last_meta_error"][0]
            .as_str()
            .unwrap()
            .contains("HTTP 500")
    );
    assert!(
        !report.to_string().contains(phone),
        "no number in the report"
    );
}

#[tokio::test]
async fn erasure_from_the_chat_leaves_no_phone_number_anywhere() {
    let chat = Chat::start(None).await;
    let phone = "34611000007";
    let customer = chat.sign_up(phone, "hola").await;
    let pass = chat.ask(phone, "QR").await;
    chat.post(&graph::status(
        pass["id"].as_str().unwrap(),
        "delivered",
        phone,
    ))
    .await;
    let till = chat.central.enrol("S1", "S1-T1").await;
    till.upload(&chat.central, vec![till.event(sale(&customer, "S-9"))])
        .await;
    chat.graph.wait_for(phone, 4).await;

    let ask = chat.ask(phone, "borrar mis datos").await;
    assert_eq!(
        ask.pointer("/interactive/action/buttons/0/reply/id"),
        Some(&json!(button::ERASE))
    );
    let before = chat.graph.sent_to(phone).len();
    let confirm = chat.tap(phone, button::ERASE).await;
    let done = chat.graph.wait_for(phone, before + 1).await.pop().unwrap();
    assert!(body(&done).contains("Hemos borrado"), "{done}");
    chat.settled(&format!("{confirm}:0")).await;
    // Its status too.
    chat.post(&graph::status(done["id"].as_str().unwrap(), "read", phone))
        .await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while chat
        .db()
        .query_row(
            "SELECT count(*) FROM wa_inbox WHERE handled_at IS NULL",
            [],
            |r| r.get::<_, i64>(0),
        )
        .unwrap()
        > 0
    {
        assert!(tokio::time::Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    let (status, _) = chat
        .central
        .admin_json(
            Method::GET,
            &format!("/admin/v1/customers/{customer}"),
            Value::Null,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, evidence) = chat
        .central
        .admin_json(
            Method::GET,
            &format!("/admin/v1/customers/{customer}/consents"),
            Value::Null,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        evidence["evidence"].as_array().unwrap().last().unwrap()["what"],
        "erased"
    );
    assert!(
        evidence["kept_after_erasure"]
            .as_str()
            .unwrap()
            .contains("phone number was removed")
    );
    assert!(!evidence.to_string().contains(phone));

    // Every column of every table.
    let db = chat.db();
    let tables: Vec<String> = db
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table'")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert!(tables.contains(&"wa_contacts".to_owned()));
    let needle = &phone[2..];
    for table in &tables {
        let mut stmt = db.prepare(&format!("SELECT * FROM \"{table}\"")).unwrap();
        let columns = stmt.column_count();
        let mut rows = stmt.query([]).unwrap();
        while let Some(row) = rows.next().unwrap() {
            for i in 0..columns {
                let text = match row.get_ref(i).unwrap() {
                    rusqlite::types::ValueRef::Text(t) => String::from_utf8_lossy(t).into_owned(),
                    rusqlite::types::ValueRef::Blob(b) => String::from_utf8_lossy(b).into_owned(),
                    rusqlite::types::ValueRef::Integer(n) => n.to_string(),
                    _ => continue,
                };
                assert!(
                    !text.contains(needle),
                    "the number is still in {table}: {text}"
                );
            }
        }
    }
}

#[tokio::test]
async fn the_poster_is_a_click_to_chat_qr() {
    let chat = Chat::start(None).await;
    let answer = chat
        .central
        .admin(Method::GET, "/admin/v1/whatsapp/poster.png?text=Hola")
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), StatusCode::OK);
    assert_eq!(answer.headers()["content-type"], "image/png");
    let png = answer.bytes().await.unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    let svg = chat
        .central
        .admin(Method::GET, "/admin/v1/whatsapp/poster.svg")
        .send()
        .await
        .unwrap();
    assert_eq!(svg.headers()["content-type"], "image/svg+xml");
    let unauthorised = chat
        .central
        .client
        .get(chat.central.url("/admin/v1/whatsapp/poster.png"))
        .send()
        .await
        .unwrap();
    assert_eq!(unauthorised.status(), StatusCode::UNAUTHORIZED);
}

#[test]
fn the_command_line_shows_the_channel_and_writes_the_poster() {
    let dir = tempfile::tempdir().unwrap();
    let status = Central::command(dir.path())
        .args(["whatsapp", "status"])
        .output()
        .unwrap();
    assert!(status.status.success(), "{status:?}");
    let text = String::from_utf8(status.stdout).unwrap();
    assert!(text.contains("inbox not yet handled          0"), "{text}");
    assert!(text.contains("last Meta error         none"), "{text}");
    assert!(text.contains("outbox unconfirmed             0"), "{text}");

    let poster = Central::command(dir.path())
        .args([
            "whatsapp",
            "poster",
            "--number",
            "34600111222",
            "--out",
            "poster",
        ])
        .output()
        .unwrap();
    assert!(poster.status.success(), "{poster:?}");
    assert_eq!(
        String::from_utf8(poster.stdout).unwrap().trim(),
        "https://wa.me/34600111222?text=Hola%2C%20quiero%20unirme"
    );
    let png = std::fs::read(dir.path().join("poster/poster.png")).unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    assert!(
        std::fs::read_to_string(dir.path().join("poster/poster.svg"))
            .unwrap()
            .contains("<svg")
    );
    let refused = Central::command(dir.path())
        .args([
            "whatsapp", "poster", "--number", "+34 600", "--out", "poster",
        ])
        .output()
        .unwrap();
    assert!(!refused.status.success());
}

/// Waits (up to 20 s) until `wa_id` received `n` messages in `fake`; returns them.
async fn outbound(
    fake: &tillpass_fakegraph::FakeGraph,
    wa_id: &str,
    n: usize,
) -> Vec<tillpass_fakegraph::Message> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let sent: Vec<_> = fake
            .chat(wa_id, 0)
            .into_iter()
            .filter(|m| m.direction == tillpass_fakegraph::Direction::Outbound)
            .collect();
        if sent.len() >= n {
            return sent;
        }
        assert!(tokio::time::Instant::now() < deadline, "{sent:#?}");
        fake.changed(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn the_channel_signs_up_and_hands_out_a_pass_through_the_fake_graph_api() {
    use tillpass_fakegraph::{Content, FakeGraph};
    let fake = FakeGraph::start(tillpass_fakegraph::Config::default())
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("whatsapp-verify-token"), "verify").unwrap();
    std::fs::write(
        dir.path().join("whatsapp-app-secret"),
        &fake.config().app_secret,
    )
    .unwrap();
    std::fs::write(
        dir.path().join("whatsapp-access-token"),
        &fake.config().access_token,
    )
    .unwrap();
    let text = format!(
        "graph_url = \"{}\"\napi_version = \"{}\"\nphone_number_id = \"{}\"\n\
         terms_version = \"2026-01\"\n",
        fake.base_url(),
        fake.config().api_version,
        fake.config().phone_number_id
    );
    let config = tillpass_central::whatsapp::Config::parse(&text, None, Some(dir.path())).unwrap();
    let (central, _channel) = Central::start_whatsapp(config).await;
    fake.set_webhook(Some(central.url("/webhooks/whatsapp")));
    let phone = "34611000099";
    fake.add_user(phone, "Lucía Pérez");

    fake.customer_text(phone, "Hola, quiero unirme");
    let consent = outbound(&fake, phone, 1).await.remove(0);
    let Content::Buttons { body, buttons, .. } = &consent.content else {
        panic!("{consent:?}")
    };
    assert!(body.contains("2026-01"));
    fake.customer_button(phone, Some(&consent.id), &buttons[0].id, &buttons[0].title);
    let welcome = outbound(&fake, phone, 2).await.remove(1);
    assert!(welcome.content.summary().contains("Lucía"), "{welcome:?}");

    fake.customer_text(phone, "QR");
    let pass = outbound(&fake, phone, 3).await.remove(2);
    let Content::Image {
        media_id: Some(media),
        caption: Some(caption),
        ..
    } = &pass.content
    else {
        panic!("{pass:?}")
    };
    assert!(caption.contains("Lucía"), "{caption}");
    let image = fake.media(media).unwrap();
    assert_eq!(image.mime_type, "image/png");
}
