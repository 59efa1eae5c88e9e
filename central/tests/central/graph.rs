//! A Graph API for the tests, as Meta documents it (`shared/design/whatsapp.md`):
//! `POST /{version}/{phone_number_id}/messages` and `/media` with the bearer token;
//! 131047 for a free-form message to a number outside its 24-hour window, scripted
//! failures (130429, 5xx, 131026) for the next calls; every accepted message recorded.
//! It also signs deliveries to central's webhook as Meta does.

use std::collections::{HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post as route_post;
use serde_json::{Value, json};
use tillpass_central::whatsapp::{Config, config::Secret, signature};

pub const PHONE_ID: &str = "106540352242922";
pub const SECRET: &str = "the-app-secret-of-the-tests";
pub const VERIFY: &str = "the-verify-token";
pub const ACCESS: &str = "the-access-token";

/// What the fake answers the next call with, instead of accepting it.
#[derive(Debug, Clone, Copy)]
pub enum Fail {
    /// HTTP 500.
    ServerError,
    /// 130429.
    Throttled,
    /// 131026.
    Undeliverable,
}

#[derive(Default)]
struct Inner {
    sent: Vec<Value>,
    times: Vec<std::time::Instant>,
    uploads: usize,
    script: VecDeque<Fail>,
    outside_window: HashSet<String>,
    next: u64,
    calls: u64,
}

/// A running fake Graph API.
#[derive(Clone)]
pub struct Graph {
    pub base: String,
    inner: Arc<Mutex<Inner>>,
}

impl Graph {
    pub async fn start() -> Graph {
        let inner = Arc::new(Mutex::new(Inner::default()));
        let app = Router::new()
            .route("/{version}/{phone}/messages", route_post(messages))
            .route("/{version}/{phone}/media", route_post(media))
            .with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Graph { base, inner }
    }

    /// The channel's configuration against this fake (secrets in files under `dir`).
    pub fn config(&self, receipt_template: Option<&str>) -> Config {
        let dir = tempfile::tempdir().unwrap().keep();
        std::fs::write(dir.join("whatsapp-verify-token"), VERIFY).unwrap();
        std::fs::write(dir.join("whatsapp-app-secret"), SECRET).unwrap();
        std::fs::write(dir.join("whatsapp-access-token"), ACCESS).unwrap();
        let mut text = self.config_toml();
        if let Some(t) = receipt_template {
            text.push_str(&format!("receipt_template = \"{t}\"\n"));
        }
        let mut config = Config::parse(&text, None, Some(&dir)).unwrap();
        assert_eq!(config.access_token, Secret::new(ACCESS));
        config.backoff = Duration::from_millis(20);
        config.max_backoff = Duration::from_millis(200);
        config
    }

    /// The configuration file's text (secrets as systemd credentials).
    pub fn config_toml(&self) -> String {
        format!(
            "graph_url = \"{}\"\napi_version = \"v21.0\"\nphone_number_id = \"{PHONE_ID}\"\n\
             display_number = \"34600111222\"\nterms_version = \"2026-01\"\n\
             pass_interval_secs = 2\nbackoff_ms = 20\nmax_backoff_ms = 200\n",
            self.base
        )
    }

    /// Fails the next calls, in order.
    pub fn fail_next(&self, fails: &[Fail]) {
        self.inner
            .lock()
            .unwrap()
            .script
            .extend(fails.iter().copied());
    }

    /// Makes `to` outside its window: free-form messages to it get 131047.
    pub fn close_window(&self, to: &str) {
        self.inner
            .lock()
            .unwrap()
            .outside_window
            .insert(to.to_owned());
    }

    /// Every message accepted so far.
    pub fn sent(&self) -> Vec<Value> {
        self.inner.lock().unwrap().sent.clone()
    }

    /// The messages accepted for `to`.
    pub fn sent_to(&self, to: &str) -> Vec<Value> {
        self.sent().into_iter().filter(|m| m["to"] == to).collect()
    }

    /// When each accepted message arrived, in [`Graph::sent`]'s order.
    pub fn times(&self) -> Vec<std::time::Instant> {
        self.inner.lock().unwrap().times.clone()
    }

    pub fn uploads(&self) -> usize {
        self.inner.lock().unwrap().uploads
    }

    /// Waits (up to 20 s) until `to` received `n` messages; returns them.
    pub async fn wait_for(&self, to: &str, n: usize) -> Vec<Value> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            let sent = self.sent_to(to);
            if sent.len() >= n {
                return sent;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{to} got {} messages, not {n}: {sent:#?}",
                sent.len()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

fn authorised(headers: &HeaderMap) -> bool {
    headers.get("authorization").and_then(|v| v.to_str().ok()) == Some(&format!("Bearer {ACCESS}"))
}

fn error(status: StatusCode, code: i64, message: &str) -> Response {
    (
        status,
        axum::Json(
            json!({"error": {"message": message, "type": "OAuthException",
                                    "code": code, "fbtrace_id": "AbCdEf"}}),
        ),
    )
        .into_response()
}

fn scripted(inner: &mut Inner) -> Option<Response> {
    inner.calls += 1;
    inner.script.pop_front().map(|fail| match fail {
        Fail::ServerError => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            1,
            "An unknown error occurred",
        ),
        Fail::Throttled => error(StatusCode::BAD_REQUEST, 130_429, "Rate limit hit"),
        Fail::Undeliverable => error(StatusCode::BAD_REQUEST, 131_026, "Message undeliverable"),
    })
}

async fn messages(
    State(inner): State<Arc<Mutex<Inner>>>,
    headers: HeaderMap,
    axum::Json(body): axum::Json<Value>,
) -> Response {
    if !authorised(&headers) {
        return error(StatusCode::UNAUTHORIZED, 190, "Invalid OAuth access token");
    }
    let mut inner = inner.lock().unwrap();
    if let Some(answer) = scripted(&mut inner) {
        return answer;
    }
    assert_eq!(body["messaging_product"], "whatsapp");
    assert_eq!(body["recipient_type"], "individual");
    if let Some(buttons) = body
        .pointer("/interactive/action/buttons")
        .and_then(Value::as_array)
    {
        assert!(buttons.len() <= 3, "{body}");
        for b in buttons {
            assert!(
                b["reply"]["title"].as_str().unwrap().chars().count() <= 20,
                "{body}"
            );
        }
    }
    let to = body["to"].as_str().unwrap_or_default().to_owned();
    if inner.outside_window.contains(&to) && body["type"] != "template" {
        return error(
            StatusCode::BAD_REQUEST,
            131_047,
            "Re-engagement message: more than 24 hours since the customer last replied",
        );
    }
    inner.next += 1;
    let id = format!("wamid.out.{}", inner.next);
    let mut recorded = body.clone();
    recorded["id"] = json!(id);
    inner.sent.push(recorded);
    inner.times.push(std::time::Instant::now());
    axum::Json(json!({"messaging_product": "whatsapp",
                      "contacts": [{"input": to, "wa_id": to}],
                      "messages": [{"id": id}]}))
    .into_response()
}

async fn media(
    State(inner): State<Arc<Mutex<Inner>>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    if !authorised(&headers) {
        return error(StatusCode::UNAUTHORIZED, 190, "Invalid OAuth access token");
    }
    let content_type = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    assert!(content_type.starts_with("multipart/form-data; boundary="));
    let text = String::from_utf8_lossy(&body);
    assert!(text.contains("name=\"messaging_product\"\r\n\r\nwhatsapp"));
    assert!(text.contains("name=\"type\"\r\n\r\nimage/png"));
    assert!(
        body.windows(8).any(|w| w == b"\x89PNG\r\n\x1a\n"),
        "a PNG file part"
    );
    let mut inner = inner.lock().unwrap();
    if let Some(answer) = scripted(&mut inner) {
        return answer;
    }
    inner.uploads += 1;
    axum::Json(json!({"id": format!("media.{}", inner.uploads)})).into_response()
}

/// A delivery of one text message.
pub fn text(from: &str, id: &str, body: &str) -> Value {
    delivery(
        json!([{"from": from, "id": id, "timestamp": "1700000000", "type": "text",
                     "text": {"body": body}}]),
        json!([]),
        from,
    )
}

/// A delivery of a tap on a reply button.
pub fn tap(from: &str, id: &str, button: &str, title: &str) -> Value {
    delivery(
        json!([{"from": from, "id": id, "timestamp": "1700000000", "type": "interactive",
                "interactive": {"type": "button_reply",
                                "button_reply": {"id": button, "title": title}}}]),
        json!([]),
        from,
    )
}

/// A delivery of a status.
pub fn status(wamid: &str, state: &str, to: &str) -> Value {
    delivery(
        json!([]),
        json!([{"id": wamid, "status": state, "timestamp": "1700000001", "recipient_id": to}]),
        to,
    )
}

fn delivery(messages: Value, statuses: Value, from: &str) -> Value {
    json!({"object": "whatsapp_business_account", "entry": [{"id": "WABA", "changes": [{
        "field": "messages",
        "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "34600111222", "phone_number_id": PHONE_ID},
            "contacts": [{"profile": {"name": "Lucía Pérez"}, "wa_id": from}],
            "messages": messages,
            "statuses": statuses
        }
    }]}]})
}

/// Posts `body` to central's webhook signed with `secret` (`None`: unsigned).
pub async fn post(
    client: &reqwest::Client,
    central: &str,
    body: &Value,
    secret: Option<&str>,
) -> reqwest::Response {
    let raw = serde_json::to_vec(body).unwrap();
    let mut request = client
        .post(format!("{central}/webhooks/whatsapp"))
        .header("content-type", "application/json");
    if let Some(secret) = secret {
        request = request.header(
            "x-hub-signature-256",
            signature::sign(secret.as_bytes(), &raw),
        );
    }
    request.body(raw).send().await.unwrap()
}
