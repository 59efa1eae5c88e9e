//! The phone page in a real headless Chromium, against the fake Graph API: the visitor
//! writes, the business answers through the Cloud API (here a small business in the test
//! that checks each delivery's signature and answers with buttons and a pass image), the
//! visitor taps a button, sees the image and shows it to the scanner — whose input gets
//! the QR's text, decoded from the PNG, ended with the scanner's CR.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod browser;

use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use fantoccini::Locator;
use serde_json::{Value, json};
use tillpass_demo::phone::{Phone, ScanSink, read_qr, router};
use tillpass_fakegraph::{Config, FakeGraph};

const VISITOR: &str = "34612345678";
const PASS_TEXT: &str = "TP1234567890123456789012345678901234567890";

/// A business on the Cloud API: verifies every delivery's signature and answers a text
/// with a consent button, the button with the pass image.
#[derive(Clone)]
struct Business {
    graph: String,
    config: Config,
    http: reqwest::Client,
    bad_signatures: Arc<Mutex<u32>>,
}

impl Business {
    async fn send(&self, body: Value) -> Value {
        let url = format!(
            "{}/{}/{}/messages",
            self.graph, self.config.api_version, self.config.phone_number_id
        );
        let answer = self
            .http
            .post(url)
            .bearer_auth(&self.config.access_token)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 200);
        answer.json().await.unwrap()
    }

    async fn upload(&self, png: Vec<u8>) -> String {
        let url = format!(
            "{}/{}/{}/media",
            self.graph, self.config.api_version, self.config.phone_number_id
        );
        let form = reqwest::multipart::Form::new()
            .text("messaging_product", "whatsapp")
            .text("type", "image/png")
            .part(
                "file",
                reqwest::multipart::Part::bytes(png)
                    .file_name("pass.png")
                    .mime_str("image/png")
                    .unwrap(),
            );
        let answer = self
            .http
            .post(url)
            .bearer_auth(&self.config.access_token)
            .multipart(form)
            .send()
            .await
            .unwrap();
        answer.json::<Value>().await.unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    async fn answer(&self, message: &Value) {
        let from = message["from"].as_str().unwrap();
        match message["type"].as_str().unwrap() {
            "text" => {
                self.send(json!({
                    "messaging_product": "whatsapp", "to": from, "type": "interactive",
                    "interactive": {"type": "button",
                        "body": {"text": "¿Aceptas los términos v3?"},
                        "action": {"buttons": [
                            {"type": "reply", "reply": {"id": "agree", "title": "Acepto / I agree"}},
                            {"type": "reply", "reply": {"id": "no", "title": "No"}}]}}}))
                .await;
            }
            "interactive" => {
                assert_eq!(message["interactive"]["button_reply"]["id"], "agree");
                let qr = tillpass_protocol::qr::TokenQr::from_text(PASS_TEXT).unwrap();
                let media = self.upload(qr.to_png(6).unwrap()).await;
                self.send(json!({
                    "messaging_product": "whatsapp", "to": from, "type": "image",
                    "image": {"id": media, "caption": "Tu pase, Marta"}}))
                    .await;
            }
            other => panic!("unexpected message type {other}"),
        }
    }
}

async fn webhook(State(business): State<Business>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let signature = headers
        .get(tillpass_fakegraph::SIGNATURE_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !tillpass_fakegraph::verify(business.config.app_secret.as_bytes(), &body, signature) {
        *business.bad_signatures.lock().unwrap() += 1;
        return StatusCode::UNAUTHORIZED;
    }
    let delivery: Value = serde_json::from_slice(&body).unwrap();
    let value = &delivery["entry"][0]["changes"][0]["value"];
    if let Some(message) = value["messages"].get(0) {
        let (business, message) = (business.clone(), message.clone());
        tokio::spawn(async move { business.answer(&message).await });
    }
    StatusCode::OK
}

/// Everything the phone scans.
#[derive(Clone, Default)]
struct Scanned(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Scanned {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_phone_page_chats_taps_and_shows_the_pass_to_the_scanner() {
    if !browser::available() {
        return;
    }
    let config = Config::default();
    let fake = FakeGraph::start(config.clone()).await.unwrap();
    fake.add_user(VISITOR, "Marta");
    let business = Business {
        graph: fake.base_url().to_owned(),
        config,
        http: reqwest::Client::new(),
        bad_signatures: Arc::default(),
    };
    let hook = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    fake.set_webhook(Some(format!(
        "http://{}/webhook",
        hook.local_addr().unwrap()
    )));
    let app = axum::Router::new()
        .route("/webhook", axum::routing::post(webhook))
        .with_state(business.clone());
    tokio::spawn(async move { axum::serve(hook, app).await });

    let scanned = Scanned::default();
    let sink: ScanSink = Arc::new(Mutex::new(scanned.clone()));
    let phone = Phone {
        fake: fake.clone(),
        wa_id: VISITOR.to_owned(),
        name: "Marta".to_owned(),
        brand: "tillpass demo store".to_owned(),
        scanner: sink,
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/phone", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router(Arc::new(phone))).await });

    let driver = browser::start_driver();
    let c = browser::browser(&driver).await;
    c.goto(&url).await.unwrap();
    browser::wait_text(&c, "#brand", "tillpass demo store").await;
    browser::say(&c, "hola").await;
    browser::wait_text(&c, ".msg.out .text", "hola").await;
    browser::wait_text(&c, ".msg.in .buttons button", "Acepto / I agree").await;
    // The brand's message gets its statuses: read shows as the blue ticks.
    browser::wait_for(&c, ".msg.in[data-status=read]").await;
    browser::shot(&c, "01-consent").await;

    c.find(Locator::Css(".msg.in .buttons button[data-id=agree]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    browser::wait_text(&c, ".msg.out .text", "Acepto / I agree").await;
    browser::wait_text(&c, ".msg.in .text", "Tu pase, Marta").await;
    let img = browser::wait_for(&c, ".msg.in img.pass").await;
    // The image loaded in the browser (not a broken picture).
    let loaded = c
        .execute(
            "const i = document.querySelector('.msg.in img.pass'); \
             return i.complete && i.naturalWidth > 0;",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(loaded, json!(true));
    let src = img.attr("src").await.unwrap().unwrap();
    let png = reqwest::get(format!("{}{src}", url.trim_end_matches("/phone")))
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(read_qr(&png).unwrap(), PASS_TEXT);
    browser::shot(&c, "02-pass").await;

    c.find(Locator::Css(".msg.in .scan"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    browser::wait_for(&c, ".msg.in .scan.done").await;
    assert_eq!(
        String::from_utf8(scanned.0.lock().unwrap().clone()).unwrap(),
        format!("{PASS_TEXT}\r")
    );
    browser::shot(&c, "03-scanned").await;
    c.close().await.unwrap();

    // Everything the business got was signed with the app secret.
    assert_eq!(*business.bad_signatures.lock().unwrap(), 0);
    let chat = fake.chat(VISITOR, 0);
    assert_eq!(chat.len(), 4, "{chat:#?}");
}

#[tokio::test]
async fn the_phone_refuses_what_it_was_not_offered_with_problems() {
    let fake = FakeGraph::start(Config::default()).await.unwrap();
    fake.add_user(VISITOR, "Marta");
    let scanned = Scanned::default();
    let phone = Phone {
        fake: fake.clone(),
        wa_id: VISITOR.to_owned(),
        name: "Marta".to_owned(),
        brand: "b".to_owned(),
        scanner: Arc::new(Mutex::new(scanned.clone())),
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router(Arc::new(phone))).await });
    let http = reqwest::Client::new();
    for (path, body, status, code) in [
        ("/phone/api/send", "{\"text\": \"\"}", 422, "invalid"),
        (
            "/phone/api/send",
            "{\"text\": \"a\\u0007b\"}",
            422,
            "invalid",
        ),
        ("/phone/api/send", "not json", 400, "malformed_json"),
        (
            "/phone/api/tap",
            "{\"message\": \"wamid.X\", \"id\": \"agree\"}",
            404,
            "not_found",
        ),
        ("/phone/api/scan", "{\"media\": \"123\"}", 404, "not_found"),
    ] {
        let answer = http
            .post(format!("{base}{path}"))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status().as_u16(), status, "{path} {body}");
        assert_eq!(
            answer.headers()["content-type"],
            tillpass_protocol::problem::MEDIA_TYPE
        );
        let problem: Value = answer.json().await.unwrap();
        assert_eq!(problem["code"], code, "{path} {body}");
    }
    let long = "x".repeat(tillpass_demo::phone::MAX_TEXT + 1);
    let answer = http
        .post(format!("{base}/phone/api/send"))
        .json(&json!({ "text": long }))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 422);
    assert!(fake.messages().is_empty());
    assert!(scanned.0.lock().unwrap().is_empty());
    // Media is only what the brand sent in this chat.
    let answer = http
        .get(format!("{base}/phone/media/123"))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 404);
}
