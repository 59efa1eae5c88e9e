//! The Graph API client: `POST {base}/{version}/{phone_number_id}/messages` and `/media`
//! with the bearer access token, and Meta's answers read by meaning ([`Failure`]).
//!
//! A send whose outcome we cannot know — the call timed out or the connection broke after
//! the request left, or the answer was not Meta's — is [`Failure::Unknown`], never a
//! plain retry: Meta may have accepted it. Only answers Meta gave with its error body
//! (4xx, 5xx) and connections that never opened are definite.

use serde_json::{Value, json};

use super::config::Config;

/// Meta's "re-engagement" error: more than 24 hours since the customer's last message.
pub const OUTSIDE_WINDOW: i64 = 131_047;
/// Meta's throughput error.
pub const THROTTLED: i64 = 130_429;
/// Meta's "message undeliverable".
pub const UNDELIVERABLE: i64 = 131_026;

/// Why a call failed, by what to do about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// 131047: only a template may be sent now.
    OutsideWindow,
    /// 130429 (or HTTP 429): slow down, then retry.
    Throttled,
    /// 131026: the number cannot receive it; never retried.
    Undeliverable,
    /// 5xx with Meta's error body, a connection that never opened: retry.
    Transient(String),
    /// The request may have reached Meta and its answer did not reach us (a timeout or a
    /// connection cut after sending, an answer that is not Meta's): wait for a status.
    Unknown(String),
    /// Any other refusal: retrying would not help.
    Refused(String),
}

impl Failure {
    /// What the outbox records as the reason.
    pub fn reason(&self) -> String {
        match self {
            Failure::OutsideWindow => {
                format!("outside the 24-hour window ({OUTSIDE_WINDOW})")
            }
            Failure::Throttled => format!("throughput exceeded ({THROTTLED})"),
            Failure::Undeliverable => format!("undeliverable ({UNDELIVERABLE})"),
            Failure::Transient(why) | Failure::Unknown(why) | Failure::Refused(why) => why.clone(),
        }
    }
}

/// A Graph API client for one business number.
#[derive(Debug, Clone)]
pub struct Graph {
    http: reqwest::Client,
    messages: String,
    media: String,
    bearer: String,
}

impl Graph {
    /// A client for the configured number.
    pub fn new(config: &Config) -> crate::Result<Graph> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .timeout(config.send_timeout)
            .build()
            .map_err(crate::Error::internal)?;
        let root = format!(
            "{}/{}/{}",
            config.graph_url, config.api_version, config.phone_number_id
        );
        Ok(Graph {
            http,
            messages: format!("{root}/messages"),
            media: format!("{root}/media"),
            bearer: format!("Bearer {}", config.access_token.expose()),
        })
    }

    /// Sends a message (`message` holds `type` and its object); returns its `wamid`.
    pub async fn send(
        &self,
        to: &str,
        mut message: Value,
        reference: &str,
    ) -> Result<String, Failure> {
        if let Some(object) = message.as_object_mut() {
            object.insert("messaging_product".into(), json!("whatsapp"));
            object.insert("recipient_type".into(), json!("individual"));
            object.insert("to".into(), json!(to));
            // Echoed in this message's statuses: our idempotency key.
            object.insert("biz_opaque_callback_data".into(), json!(reference));
        }
        let answer = self
            .http
            .post(&self.messages)
            .header(reqwest::header::AUTHORIZATION, &self.bearer)
            .json(&message)
            .send()
            .await;
        let body = read(answer).await?;
        body.pointer("/messages/0/id")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| Failure::Unknown("an answer without a message id".into()))
    }

    /// Uploads a PNG; returns its media id.
    pub async fn upload_png(&self, png: &[u8]) -> Result<String, Failure> {
        let boundary = format!("tillpass{}", hex::encode(rand16()));
        let mut body = Vec::with_capacity(png.len() + 512);
        for (name, value) in [("messaging_product", "whatsapp"), ("type", "image/png")] {
            body.extend_from_slice(
                format!(
                    "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
                )
                .as_bytes(),
            );
        }
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; \
                 filename=\"pass.png\"\r\nContent-Type: image/png\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(png);
        body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
        let answer = self
            .http
            .post(&self.media)
            .header(reqwest::header::AUTHORIZATION, &self.bearer)
            .header(
                reqwest::header::CONTENT_TYPE,
                format!("multipart/form-data; boundary={boundary}"),
            )
            .body(body)
            .send()
            .await;
        // Nothing reaches the customer by an upload: an unknown outcome is retried.
        let body = read(answer).await.map_err(|f| match f {
            Failure::Unknown(why) => Failure::Transient(why),
            other => other,
        })?;
        body.get("id")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| Failure::Transient("an upload answer without a media id".into()))
    }
}

/// What a `failed` status's error code means, as the same code in an answer would.
pub fn failure_of_code(code: Option<i64>, reason: &str) -> Failure {
    match code {
        Some(OUTSIDE_WINDOW) => Failure::OutsideWindow,
        Some(THROTTLED) => Failure::Throttled,
        Some(UNDELIVERABLE) => Failure::Undeliverable,
        // Meta's "something went wrong" and "service unavailable": worth another attempt.
        Some(1 | 2 | 131_000) => Failure::Transient(reason.to_owned()),
        _ => Failure::Refused(reason.to_owned()),
    }
}

fn rand16() -> [u8; 16] {
    crate::keys::random_bytes::<16>().unwrap_or([7; 16])
}

/// The answer's JSON, or the failure it means.
async fn read(answer: reqwest::Result<reqwest::Response>) -> Result<Value, Failure> {
    let answer = answer.map_err(|e| {
        if e.is_connect() {
            // The connection never opened: nothing was sent.
            Failure::Transient(format!("the Graph API: {e}"))
        } else {
            Failure::Unknown(format!("the Graph API: {e}"))
        }
    })?;
    let status = answer.status();
    // Answers are small; a huge one is a broken server, not a reason to hold memory.
    let bytes = answer
        .bytes()
        .await
        .map_err(|e| Failure::Unknown(format!("the Graph API's answer: {e}")))?;
    let body: Value =
        serde_json::from_slice(&bytes[..bytes.len().min(64 * 1024)]).unwrap_or(Value::Null);
    if status.is_success() {
        return Ok(body);
    }
    let code = body.pointer("/error/code").and_then(Value::as_i64);
    let message = body
        .pointer("/error/message")
        .and_then(Value::as_str)
        .unwrap_or("")
        .chars()
        .take(200)
        .collect::<String>();
    Err(match code {
        // A 5xx without Meta's error body (a proxy's 502 or 504): Meta may have taken it.
        None if status.is_server_error() => Failure::Unknown(format!(
            "HTTP {} without Meta's error body",
            status.as_u16()
        )),
        Some(OUTSIDE_WINDOW) => Failure::OutsideWindow,
        Some(THROTTLED) => Failure::Throttled,
        Some(UNDELIVERABLE) => Failure::Undeliverable,
        _ if status.as_u16() == 429 => Failure::Throttled,
        _ if status.is_server_error() => Failure::Transient(format!(
            "HTTP {} from the Graph API {message}",
            status.as_u16()
        )),
        Some(code) => Failure::Refused(format!("Meta error {code}: {message}")),
        None => Failure::Refused(format!("HTTP {} from the Graph API", status.as_u16())),
    })
}
