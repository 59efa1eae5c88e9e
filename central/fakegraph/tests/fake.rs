//! The fake Graph API held to Meta's contract: the error shapes and statuses, the bearer
//! token, the 24-hour window, the throughput limit and 5xx bursts, media upload and
//! download, and webhook deliveries whose signature verifies with the app secret — retried
//! on non-2xx, twice and out of order on demand. A real loopback webhook receives them.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use serde_json::{Value, json};
use tillpass_fakegraph::error::codes;
use tillpass_fakegraph::{Config, Content, Direction, FakeGraph, RetryPolicy, Status};

const CUSTOMER: &str = "34600111222";

/// A delivery as the webhook got it: the raw body and the signature header.
type Got = (Bytes, Option<String>);

/// A webhook on loopback that keeps every delivery (body and signature header) and answers
/// with the statuses it is told to, then 200.
#[derive(Clone, Default)]
struct Hook {
    got: Arc<Mutex<Vec<Got>>>,
    answers: Arc<Mutex<Vec<u16>>>,
}

impl Hook {
    async fn start(&self) -> String {
        async fn receive(State(hook): State<Hook>, headers: HeaderMap, body: Bytes) -> StatusCode {
            let signature = headers
                .get("x-hub-signature-256")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            hook.got.lock().unwrap().push((body, signature));
            let next = {
                let mut answers = hook.answers.lock().unwrap();
                (!answers.is_empty()).then(|| answers.remove(0))
            };
            StatusCode::from_u16(next.unwrap_or(200)).unwrap()
        }
        let app = axum::Router::new()
            .route("/webhook", axum::routing::post(receive))
            .with_state(self.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/webhook", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        url
    }

    fn bodies(&self) -> Vec<Value> {
        self.got
            .lock()
            .unwrap()
            .iter()
            .map(|(b, _)| serde_json::from_slice(b).unwrap())
            .collect()
    }
}

/// Waits for `probe` to hold, on the fake's change signal, failing after 10 s.
async fn until(fake: &FakeGraph, what: &str, mut probe: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !probe() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        fake.changed(Duration::from_millis(50)).await;
    }
}

fn quick_retries() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 5,
        first_backoff: Duration::from_millis(5),
        max_backoff: Duration::from_millis(20),
        timeout: Duration::from_secs(5),
    }
}

async fn fake_with_hook() -> (FakeGraph, Hook) {
    let hook = Hook::default();
    let url = hook.start().await;
    let fake = FakeGraph::start(Config {
        webhook: Some(url),
        retry: quick_retries(),
        ..Config::default()
    })
    .await
    .unwrap();
    fake.add_user(CUSTOMER, "Lucía");
    (fake, hook)
}

struct Client {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Client {
    fn new(fake: &FakeGraph) -> Client {
        Client {
            http: reqwest::Client::new(),
            base: format!(
                "{}/{}/{}",
                fake.base_url(),
                fake.config().api_version,
                fake.config().phone_number_id
            ),
            token: fake.config().access_token.clone(),
        }
    }

    async fn send(&self, body: Value) -> (u16, Value) {
        self.send_with(&self.token, body).await
    }

    async fn send_with(&self, token: &str, body: Value) -> (u16, Value) {
        let answer = self
            .http
            .post(format!("{}/messages", self.base))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = answer.status().as_u16();
        (status, answer.json().await.unwrap())
    }
}

fn text(to: &str, body: &str) -> Value {
    json!({"messaging_product": "whatsapp", "recipient_type": "individual", "to": to,
           "type": "text", "text": {"body": body}})
}

fn template(to: &str) -> Value {
    json!({"messaging_product": "whatsapp", "to": to, "type": "template",
           "template": {"name": "receipt", "language": {"code": "es"}, "components": [
               {"type": "body", "parameters": [{"type": "text", "text": "8,32 €"}]}]}})
}

fn buttons(titles: &[&str]) -> Value {
    let list: Vec<Value> = titles
        .iter()
        .enumerate()
        .map(|(i, t)| json!({"type": "reply", "reply": {"id": format!("b{i}"), "title": t}}))
        .collect();
    json!({"messaging_product": "whatsapp", "to": CUSTOMER, "type": "interactive",
           "interactive": {"type": "button", "body": {"text": "¿Aceptas?"},
                           "action": {"buttons": list}}})
}

/// Meta's error shape, with the code.
fn assert_error(answer: &(u16, Value), status: u16, code: u32) {
    assert_eq!(answer.0, status, "{}", answer.1);
    let e = &answer.1["error"];
    assert_eq!(e["code"], json!(code), "{}", answer.1);
    assert_eq!(e["type"], "OAuthException");
    assert!(e["message"].as_str().unwrap().contains(&format!("#{code}")));
    assert!(e["error_subcode"].is_u64());
    assert!(!e["fbtrace_id"].as_str().unwrap().is_empty());
    assert!(e["error_data"]["details"].is_string());
}

#[tokio::test]
async fn a_reply_in_the_window_is_accepted_recorded_and_its_statuses_delivered_signed() {
    let (fake, hook) = fake_with_hook().await;
    let client = Client::new(&fake);
    let inbound = fake.customer_text(CUSTOMER, "QR");
    until(&fake, "the inbound delivery", || hook.bodies().len() == 1).await;

    // The customer's message, in Meta's envelope, signed with the app secret.
    let (raw, signature) = hook.got.lock().unwrap()[0].clone();
    let signature = signature.unwrap();
    assert!(tillpass_fakegraph::verify(
        fake.config().app_secret.as_bytes(),
        &raw,
        &signature
    ));
    assert!(!tillpass_fakegraph::verify(
        b"another secret",
        &raw,
        &signature
    ));
    let body: Value = serde_json::from_slice(&raw).unwrap();
    assert_eq!(body["object"], "whatsapp_business_account");
    let value = &body["entry"][0]["changes"][0]["value"];
    assert_eq!(body["entry"][0]["changes"][0]["field"], "messages");
    assert_eq!(
        value["metadata"]["phone_number_id"],
        fake.config().phone_number_id
    );
    assert_eq!(value["contacts"][0]["wa_id"], CUSTOMER);
    assert_eq!(value["contacts"][0]["profile"]["name"], "Lucía");
    assert_eq!(value["messages"][0]["id"], inbound);
    assert_eq!(value["messages"][0]["type"], "text");
    assert_eq!(value["messages"][0]["text"]["body"], "QR");
    assert!(value["messages"][0]["timestamp"].is_string());

    let mut reply = text(CUSTOMER, "Aquí tienes tu pase");
    reply["biz_opaque_callback_data"] = json!("outbox-1");
    let answer = client.send(reply).await;
    assert_eq!(answer.0, 200, "{}", answer.1);
    assert_eq!(answer.1["messaging_product"], "whatsapp");
    assert_eq!(answer.1["contacts"][0]["wa_id"], CUSTOMER);
    let id = answer.1["messages"][0]["id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("wamid."));

    let sent = fake.sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].id, id);
    assert_eq!(
        sent[0].content,
        Content::Text {
            body: "Aquí tienes tu pase".to_owned()
        }
    );
    // sent, delivered, read — in that order, each signed.
    until(&fake, "three statuses", || hook.bodies().len() == 4).await;
    let statuses: Vec<String> = hook.bodies()[1..]
        .iter()
        .map(|b| {
            let s = &b["entry"][0]["changes"][0]["value"]["statuses"][0];
            assert_eq!(s["id"], id.as_str());
            assert_eq!(s["recipient_id"], CUSTOMER);
            assert_eq!(s["biz_opaque_callback_data"], "outbox-1");
            s["status"].as_str().unwrap().to_owned()
        })
        .collect();
    assert_eq!(statuses, ["sent", "delivered", "read"]);
    for (raw, signature) in hook.got.lock().unwrap().iter() {
        assert!(tillpass_fakegraph::verify(
            fake.config().app_secret.as_bytes(),
            raw,
            signature.as_deref().unwrap()
        ));
    }
    assert_eq!(fake.sent()[0].status, Status::Read);
}

#[tokio::test]
async fn a_bad_or_missing_token_is_190_with_401() {
    let (fake, _hook) = fake_with_hook().await;
    fake.customer_text(CUSTOMER, "hola");
    let client = Client::new(&fake);
    assert_error(
        &client.send_with("wrong", text(CUSTOMER, "x")).await,
        401,
        codes::ACCESS_TOKEN,
    );
    assert_error(
        &client.send_with("", text(CUSTOMER, "x")).await,
        401,
        codes::ACCESS_TOKEN,
    );
    assert!(fake.sent().is_empty());
}

#[tokio::test]
async fn outside_the_window_only_a_template_goes_and_a_new_message_reopens_it() {
    let (fake, _hook) = fake_with_hook().await;
    let client = Client::new(&fake);
    // Never wrote: no window.
    assert_error(
        &client.send(text(CUSTOMER, "hola")).await,
        400,
        codes::OUTSIDE_WINDOW,
    );
    fake.customer_text(CUSTOMER, "hola");
    assert_eq!(client.send(text(CUSTOMER, "¡hola!")).await.0, 200);
    // 23 h 59 min later: still inside.
    fake.advance_clock(Duration::from_secs(24 * 3600 - 60));
    assert_eq!(client.send(text(CUSTOMER, "aún")).await.0, 200);
    // Past 24 h: refused, but a template goes.
    fake.advance_clock(Duration::from_secs(120));
    assert_error(
        &client.send(text(CUSTOMER, "tarde")).await,
        400,
        codes::OUTSIDE_WINDOW,
    );
    let answer = client.send(template(CUSTOMER)).await;
    assert_eq!(answer.0, 200, "{}", answer.1);
    match &fake.sent().last().unwrap().content {
        Content::Template {
            name,
            language,
            parameters,
            ..
        } => {
            assert_eq!((name.as_str(), language.as_str()), ("receipt", "es"));
            assert_eq!(parameters, &["8,32 €".to_owned()]);
        }
        other => panic!("{other:?}"),
    }
    fake.customer_text(CUSTOMER, "QR");
    assert_eq!(client.send(text(CUSTOMER, "de nuevo")).await.0, 200);
}

#[tokio::test]
async fn an_unknown_number_is_undeliverable() {
    let (fake, _hook) = fake_with_hook().await;
    let client = Client::new(&fake);
    assert_error(
        &client.send(template("34699999999")).await,
        400,
        codes::UNDELIVERABLE,
    );
    assert!(fake.sent().is_empty());
}

#[tokio::test]
async fn reply_buttons_are_held_to_three_and_twenty_characters() {
    let (fake, _hook) = fake_with_hook().await;
    fake.customer_text(CUSTOMER, "hola");
    let client = Client::new(&fake);
    let ok = client.send(buttons(&["Acepto / I agree", "No"])).await;
    assert_eq!(ok.0, 200, "{}", ok.1);
    assert_error(
        &client.send(buttons(&["a", "b", "c", "d"])).await,
        400,
        codes::PARAMETER_VALUE,
    );
    assert_error(
        &client.send(buttons(&[])).await,
        400,
        codes::PARAMETER_VALUE,
    );
    // 20 characters pass (counted as characters, not bytes); 21 do not.
    assert_eq!(client.send(buttons(&["ñññññññññññññññññññ!"])).await.0, 200);
    assert_error(
        &client.send(buttons(&["123456789012345678901"])).await,
        400,
        codes::PARAMETER_VALUE,
    );
    assert_error(
        &client.send(buttons(&["Sí", "Sí"])).await,
        400,
        codes::PARAMETER_VALUE,
    );
    assert_eq!(fake.sent().len(), 2);
}

#[tokio::test]
async fn malformed_requests_get_meta_errors_not_panics() {
    let (fake, _hook) = fake_with_hook().await;
    fake.customer_text(CUSTOMER, "hola");
    let client = Client::new(&fake);
    for (body, code) in [
        (json!([1, 2]), codes::INVALID_PARAMETER),
        (
            json!({"to": CUSTOMER, "text": {"body": "x"}}),
            codes::REQUIRED_PARAMETER,
        ),
        (
            json!({"messaging_product": "sms", "to": CUSTOMER}),
            codes::INVALID_PARAMETER,
        ),
        (
            json!({"messaging_product": "whatsapp", "to": "12ab", "text": {"body": "x"}}),
            codes::PARAMETER_VALUE,
        ),
        (
            json!({"messaging_product": "whatsapp", "to": CUSTOMER, "type": "video"}),
            codes::INVALID_PARAMETER,
        ),
        (
            json!({"messaging_product": "whatsapp", "to": CUSTOMER, "type": "image",
                "image": {"id": "123"}}),
            codes::INVALID_PARAMETER,
        ),
        (
            json!({"messaging_product": "whatsapp", "to": CUSTOMER, "type": "text",
                "text": {"body": "x".repeat(4097)}}),
            codes::PARAMETER_VALUE,
        ),
    ] {
        assert_error(&client.send(body.clone()).await, 400, code);
    }
    // A body that is not JSON at all.
    let answer = reqwest::Client::new()
        .post(format!("{}/messages", client.base))
        .bearer_auth(&client.token)
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 400);
    let body: Value = answer.json().await.unwrap();
    assert_eq!(body["error"]["code"], json!(codes::INVALID_PARAMETER));
    // Another version or phone number id in the path.
    let answer = reqwest::Client::new()
        .post(format!(
            "{}/v1.0/{}/messages",
            fake.base_url(),
            fake.config().phone_number_id
        ))
        .bearer_auth(&client.token)
        .json(&text(CUSTOMER, "x"))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 400);
    assert!(fake.sent().is_empty());
}

#[tokio::test]
async fn throughput_above_the_rate_is_130429_and_bursts_of_5xx_end() {
    let (fake, _hook) = fake_with_hook().await;
    fake.customer_text(CUSTOMER, "hola");
    let client = Client::new(&fake);
    fake.set_rate_limit(Some(3));
    let mut answers = Vec::new();
    for i in 0..5 {
        answers.push(client.send(text(CUSTOMER, &format!("m{i}"))).await);
    }
    let accepted = answers.iter().filter(|a| a.0 == 200).count();
    assert_eq!(accepted, 3, "{answers:?}");
    for a in answers.iter().filter(|a| a.0 != 200) {
        assert_error(a, 400, codes::RATE_LIMIT);
    }
    fake.set_rate_limit(None);

    fake.fail_next(2, StatusCode::SERVICE_UNAVAILABLE);
    assert_error(
        &client.send(text(CUSTOMER, "a")).await,
        503,
        codes::SERVICE_UNAVAILABLE,
    );
    fake.fail_next(1, StatusCode::INTERNAL_SERVER_ERROR);
    assert_error(
        &client.send(text(CUSTOMER, "b")).await,
        500,
        codes::SOMETHING_WENT_WRONG,
    );
    assert_eq!(client.send(text(CUSTOMER, "c")).await.0, 200);
    assert_eq!(fake.sent().len(), 4);
}

#[tokio::test]
async fn an_image_is_uploaded_sent_by_id_and_downloaded_back() {
    let (fake, _hook) = fake_with_hook().await;
    fake.customer_text(CUSTOMER, "QR");
    let client = Client::new(&fake);
    let png = b"\x89PNG\r\n\x1a\nnot really a picture".to_vec();
    let form = reqwest::multipart::Form::new()
        .text("messaging_product", "whatsapp")
        .text("type", "image/png")
        .part(
            "file",
            reqwest::multipart::Part::bytes(png.clone())
                .file_name("pass.png")
                .mime_str("image/png")
                .unwrap(),
        );
    let answer = client
        .http
        .post(format!("{}/media", client.base))
        .bearer_auth(&client.token)
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    let id = answer.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let sent = client
        .send(
            json!({"messaging_product": "whatsapp", "to": CUSTOMER, "type": "image",
                     "image": {"id": id, "caption": "Tu pase, Lucía"}}),
        )
        .await;
    assert_eq!(sent.0, 200, "{}", sent.1);
    assert_eq!(fake.media(&id).unwrap().bytes, png);

    let info: Value = client
        .http
        .get(format!(
            "{}/{}/{id}",
            fake.base_url(),
            fake.config().api_version
        ))
        .bearer_auth(&client.token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(info["mime_type"], "image/png");
    assert_eq!(info["file_size"], json!(png.len()));
    let url = info["url"].as_str().unwrap();
    let refused = client.http.get(url).send().await.unwrap();
    assert_eq!(refused.status(), 401);
    let bytes = client
        .http
        .get(url)
        .bearer_auth(&client.token)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(bytes.as_ref(), png.as_slice());

    // Not a PNG though it says so: refused.
    let form = reqwest::multipart::Form::new()
        .text("messaging_product", "whatsapp")
        .text("type", "image/png")
        .part("file", reqwest::multipart::Part::bytes(b"GIF89a".to_vec()));
    let answer = client
        .http
        .post(format!("{}/media", client.base))
        .bearer_auth(&client.token)
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 400);
    let body: Value = answer.json().await.unwrap();
    assert_eq!(body["error"]["code"], json!(codes::MEDIA_UPLOAD));
}

#[tokio::test]
async fn a_refused_delivery_is_retried_until_the_webhook_takes_it() {
    let (fake, hook) = fake_with_hook().await;
    fake.deliver_statuses(false);
    *hook.answers.lock().unwrap() = vec![500, 401, 503];
    let id = fake.customer_text(CUSTOMER, "hola");
    until(&fake, "the delivery to be taken", || {
        fake.attempts().iter().any(|a| a.status == Some(200))
    })
    .await;
    let attempts = fake.attempts();
    let statuses: Vec<Option<u16>> = attempts.iter().map(|a| a.status).collect();
    assert_eq!(statuses, [Some(500), Some(401), Some(503), Some(200)]);
    assert!(attempts.iter().all(|a| a.carries == [id.clone()]));
    // The same bytes and signature each time.
    let got = hook.got.lock().unwrap().clone();
    assert!(got.windows(2).all(|w| w[0] == w[1]));
    assert_eq!(fake.outstanding_deliveries(), 0);
}

#[tokio::test]
async fn deliveries_can_come_twice_and_out_of_order() {
    let (fake, hook) = fake_with_hook().await;
    fake.deliver_statuses(false);
    fake.deliver_twice(true);
    let first = fake.customer_text(CUSTOMER, "uno");
    until(&fake, "two deliveries", || hook.bodies().len() == 2).await;
    let ids: Vec<Value> = hook
        .bodies()
        .iter()
        .map(|b| b["entry"][0]["changes"][0]["value"]["messages"][0]["id"].clone())
        .collect();
    assert_eq!(ids, [json!(first), json!(first)]);
    fake.deliver_twice(false);

    fake.hold();
    let a = fake.customer_text(CUSTOMER, "dos");
    let b = fake.customer_button(CUSTOMER, None, "pass", "Mi QR");
    assert_eq!(fake.outstanding_deliveries(), 2);
    fake.release(true);
    until(&fake, "the released deliveries", || {
        hook.bodies().len() == 4
    })
    .await;
    let bodies = hook.bodies();
    let later: Vec<&Value> = bodies[2..]
        .iter()
        .map(|b| &b["entry"][0]["changes"][0]["value"]["messages"][0])
        .collect();
    assert_eq!(later[0]["id"], b.as_str());
    assert_eq!(later[0]["type"], "interactive");
    assert_eq!(later[0]["interactive"]["button_reply"]["id"], "pass");
    assert_eq!(later[0]["interactive"]["button_reply"]["title"], "Mi QR");
    assert_eq!(later[1]["id"], a.as_str());
    let chat = fake.chat(CUSTOMER, 0);
    assert_eq!(chat.len(), 3);
    assert!(chat.iter().all(|m| m.direction == Direction::Inbound));
}

#[tokio::test]
async fn deliveries_wait_for_a_webhook() {
    let fake = FakeGraph::start(Config {
        retry: quick_retries(),
        ..Config::default()
    })
    .await
    .unwrap();
    fake.customer_text(CUSTOMER, "hola");
    assert_eq!(fake.outstanding_deliveries(), 1);
    let hook = Hook::default();
    fake.set_webhook(Some(hook.start().await));
    until(&fake, "the delivery", || hook.bodies().len() == 1).await;
}

mod signature {
    use proptest::prelude::*;

    proptest! {
        /// The signature verifies for its body and secret, and for no other body.
        #[test]
        fn verifies_only_its_own_body(
            secret in proptest::collection::vec(any::<u8>(), 0..64),
            body in proptest::collection::vec(any::<u8>(), 0..512),
            flip in any::<prop::sample::Index>(),
        ) {
            let header = tillpass_fakegraph::signature(&secret, &body);
            prop_assert!(header.starts_with("sha256="));
            prop_assert_eq!(header.len(), 7 + 64);
            prop_assert!(tillpass_fakegraph::verify(&secret, &body, &header));
            if !body.is_empty() {
                let mut other = body.clone();
                let i = flip.index(other.len());
                other[i] ^= 1;
                prop_assert!(!tillpass_fakegraph::verify(&secret, &other, &header));
            }
            prop_assert!(!tillpass_fakegraph::verify(&secret, &body, &header[1..]));
        }
    }

    /// RFC 4231 test case 2 (HMAC-SHA256, key "Jefe").
    #[test]
    fn matches_the_rfc_4231_vector() {
        assert_eq!(
            tillpass_fakegraph::signature(b"Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}

#[tokio::test]
async fn an_accepted_send_can_hang_and_its_statuses_come_on_demand() {
    let (fake, hook) = fake_with_hook().await;
    fake.customer_text(CUSTOMER, "hola");
    until(&fake, "the inbound delivery", || hook.bodies().len() == 1).await;
    fake.deliver_statuses(false);
    fake.hang_next(1);
    let mut reply = text(CUSTOMER, "hola");
    reply["biz_opaque_callback_data"] = json!("outbox-7");
    let client = reqwest::Client::builder()
        .timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let answer = client
        .post(format!(
            "{}/{}/{}/messages",
            fake.base_url(),
            fake.config().api_version,
            fake.config().phone_number_id
        ))
        .bearer_auth(&fake.config().access_token)
        .json(&reply)
        .send()
        .await;
    let error = answer.expect_err("the answer hangs");
    assert!(error.is_timeout(), "{error}");
    // Accepted all the same, and no status was delivered.
    let sent = fake.sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].callback_data.as_deref(), Some("outbox-7"));
    assert_eq!(hook.bodies().len(), 1);

    // The next send is answered as usual.
    let (status, _) = Client::new(&fake).send(text(CUSTOMER, "otra")).await;
    assert_eq!(status, 200);

    // Its statuses on demand, with the callback data.
    assert!(fake.deliver_statuses_for(&sent[0].id));
    assert!(!fake.deliver_statuses_for("wamid.unknown"));
    until(&fake, "three statuses", || hook.bodies().len() == 4).await;
    for body in &hook.bodies()[1..] {
        let s = &body["entry"][0]["changes"][0]["value"]["statuses"][0];
        assert_eq!(s["id"], sent[0].id.as_str());
        assert_eq!(s["biz_opaque_callback_data"], "outbox-7");
    }
    fake.release_hung();
}
