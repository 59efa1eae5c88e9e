//! Deliveries to the business's webhook, as Meta makes them: the JSON envelope, the
//! `X-Hub-Signature-256` header over the raw body, retries on anything but 2xx — and, on
//! demand, a delivery twice or held back and released out of order.
//!
//! - [`signature`] / [`verify`]: `sha256=<hex HMAC-SHA256(app secret, raw body)>`.
//! - [`message_envelope`], [`status_envelope`]: the bodies.
//! - [`Worker`]: the task that POSTs them, one at a time, retrying with backoff.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use hmac::{KeyInit, Mac};
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::Shared;
use crate::record::{Attempt, Message, Status};

/// The header Meta signs deliveries with.
pub const SIGNATURE_HEADER: &str = "X-Hub-Signature-256";

type HmacSha256 = hmac::Hmac<sha2::Sha256>;

/// `sha256=` and the hex HMAC-SHA256 of `body` keyed with the app secret: the value of
/// [`SIGNATURE_HEADER`].
pub fn signature(app_secret: &[u8], body: &[u8]) -> String {
    // HMAC takes a key of any length: this cannot fail.
    let mut mac = match HmacSha256::new_from_slice(app_secret) {
        Ok(mac) => mac,
        Err(_) => return String::new(),
    };
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// Whether `header` is the signature of `body` (compared in constant time).
pub fn verify(app_secret: &[u8], body: &[u8], header: &str) -> bool {
    let Some(hex_part) = header.strip_prefix("sha256=") else {
        return false;
    };
    let Ok(given) = hex::decode(hex_part) else {
        return false;
    };
    let Ok(mut mac) = HmacSha256::new_from_slice(app_secret) else {
        return false;
    };
    mac.update(body);
    mac.verify_slice(&given).is_ok()
}

/// Who the business is, as every delivery names it.
#[derive(Debug, Clone)]
pub struct Metadata {
    pub business_account_id: String,
    pub display_phone_number: String,
    pub phone_number_id: String,
}

fn envelope(meta: &Metadata, value: Value) -> Value {
    json!({
        "object": "whatsapp_business_account",
        "entry": [{
            "id": meta.business_account_id,
            "changes": [{ "field": "messages", "value": value }],
        }],
    })
}

fn metadata(meta: &Metadata) -> Value {
    json!({
        "display_phone_number": meta.display_phone_number,
        "phone_number_id": meta.phone_number_id,
    })
}

/// The delivery of a customer's message.
pub fn message_envelope(meta: &Metadata, profile_name: &str, message: &Message) -> Value {
    use crate::outbound::Content;
    let mut m = json!({
        "from": message.wa_id,
        "id": message.id,
        "timestamp": message.at.to_string(),
    });
    match &message.content {
        Content::ButtonReply { id, title } => {
            m["type"] = json!("interactive");
            m["interactive"] = json!({
                "type": "button_reply",
                "button_reply": { "id": id, "title": title },
            });
        }
        other => {
            m["type"] = json!("text");
            m["text"] = json!({ "body": other.summary() });
        }
    }
    if let Some(context) = &message.context {
        m["context"] = json!({ "from": meta.display_phone_number, "id": context });
    }
    envelope(
        meta,
        json!({
            "messaging_product": "whatsapp",
            "metadata": metadata(meta),
            "contacts": [{ "profile": { "name": profile_name }, "wa_id": message.wa_id }],
            "messages": [m],
        }),
    )
}

/// The delivery of a sent message's status.
pub fn status_envelope(
    meta: &Metadata,
    message_id: &str,
    recipient: &str,
    status: Status,
    at: i64,
    conversation: &str,
) -> Value {
    let mut s = json!({
        "id": message_id,
        "status": status.as_str(),
        "timestamp": at.to_string(),
        "recipient_id": recipient,
    });
    if status != Status::Read {
        s["conversation"] = json!({
            "id": conversation,
            "origin": { "type": "service" },
        });
        s["pricing"] = json!({
            "billable": true,
            "pricing_model": "PMP",
            "category": "service",
        });
    }
    envelope(
        meta,
        json!({
            "messaging_product": "whatsapp",
            "metadata": metadata(meta),
            "statuses": [s],
        }),
    )
}

/// One body to POST.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub id: u64,
    pub body: Vec<u8>,
    /// The message ids (or `status:<id>:<status>`) it carries.
    pub carries: Vec<String>,
}

/// What the worker is told.
#[derive(Debug)]
pub(crate) enum Command {
    Deliver(Delivery),
    /// Deliver what is waiting (the webhook was set, or deliveries released).
    Flush,
}

/// How deliveries are retried.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Attempts per delivery before it is given up.
    pub max_attempts: u32,
    /// The pause after the first failure; it doubles up to `max_backoff`.
    pub first_backoff: Duration,
    pub max_backoff: Duration,
    /// How long one POST may take.
    pub timeout: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 20,
            first_backoff: Duration::from_millis(50),
            max_backoff: Duration::from_secs(2),
            timeout: Duration::from_secs(10),
        }
    }
}

/// The delivery task: POSTs one delivery at a time, in order, retrying each.
pub(crate) struct Worker {
    pub(crate) shared: Arc<Shared>,
    pub(crate) rx: mpsc::UnboundedReceiver<Command>,
    pub(crate) waiting: VecDeque<Delivery>,
}

impl Worker {
    pub(crate) async fn run(mut self) {
        let client = match reqwest::Client::builder()
            .timeout(self.shared.config.retry.timeout)
            .build()
        {
            Ok(c) => c,
            Err(e) => {
                tracing::error!("fake graph: no HTTP client for the webhook: {e}");
                return;
            }
        };
        while let Some(command) = self.rx.recv().await {
            match command {
                Command::Deliver(d) => self.waiting.push_back(d),
                Command::Flush => {}
            }
            loop {
                // Everything already queued joins the waiting line first, so that a release
                // out of order reorders all that was held.
                while let Ok(command) = self.rx.try_recv() {
                    if let Command::Deliver(d) = command {
                        self.waiting.push_back(d);
                    }
                }
                let (url, held, twice, reversed) = {
                    let c = self.shared.controls();
                    (c.webhook.clone(), c.held, c.twice, c.release_reversed)
                };
                let Some(url) = url else { break };
                if held {
                    break;
                }
                if reversed {
                    self.waiting.make_contiguous().reverse();
                    self.shared.controls().release_reversed = false;
                }
                let Some(delivery) = self.waiting.pop_front() else {
                    break;
                };
                self.post(&client, &url, &delivery).await;
                if twice {
                    let again = Delivery {
                        id: self.shared.next_delivery_id(),
                        ..delivery
                    };
                    self.post(&client, &url, &again).await;
                }
                self.shared.delivery_done();
            }
        }
    }

    async fn post(&self, client: &reqwest::Client, url: &str, delivery: &Delivery) {
        let retry = &self.shared.config.retry;
        let signature = signature(self.shared.config.app_secret.as_bytes(), &delivery.body);
        let mut pause = retry.first_backoff;
        for attempt in 1..=retry.max_attempts.max(1) {
            let answer = client
                .post(url)
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .header(SIGNATURE_HEADER, &signature)
                .body(delivery.body.clone())
                .send()
                .await;
            let status = answer.as_ref().ok().map(|a| a.status().as_u16());
            self.shared.record().add_attempt(Attempt {
                delivery: delivery.id,
                attempt,
                status,
                carries: delivery.carries.clone(),
            });
            self.shared.changed.notify_waiters();
            if status.is_some_and(|s| (200..300).contains(&s)) {
                return;
            }
            if attempt < retry.max_attempts {
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(retry.max_backoff);
            }
        }
        tracing::warn!(
            delivery = delivery.id,
            "fake graph: webhook delivery given up after {} attempts",
            retry.max_attempts
        );
    }
}
