//! A webhook delivery's body, read after its signature was checked: the messages and
//! statuses it carries for our business number, each an [`Item`] for the inbox with the
//! key that deduplicates it (a message's `wamid`; a status's `wamid` and state).
//!
//! Parsing is lenient where Meta adds fields and strict where we depend on one: an item
//! without its id or sender is skipped, never guessed.

use serde::{Deserialize, Serialize};

/// The most items one delivery may carry (Meta batches up to 1,000 statuses).
pub const MAX_ITEMS: usize = 1_000;

/// What the inbox keeps of one message or status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "item", rename_all = "snake_case")]
pub enum Item {
    /// A customer's message.
    Message(Inbound),
    /// What became of a message we sent.
    Status(Status),
}

impl Item {
    /// The inbox's unique key.
    pub fn key(&self) -> String {
        match self {
            Item::Message(m) => m.id.clone(),
            Item::Status(s) => format!("status:{}:{}", s.id, s.status),
        }
    }

    /// The number it is about: a message's sender, a status's recipient. Items of one
    /// number are handled in order; items of different numbers at once.
    pub fn number(&self) -> &str {
        match self {
            Item::Message(m) => &m.from,
            Item::Status(s) => &s.recipient,
        }
    }

    /// `message` or `status`.
    pub fn kind(&self) -> &'static str {
        match self {
            Item::Message(_) => "message",
            Item::Status(_) => "status",
        }
    }
}

/// A customer's message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Inbound {
    /// Meta's message id (`wamid…`).
    pub id: String,
    /// The sender's WhatsApp id: their phone number.
    pub from: String,
    /// When it was sent: unix seconds.
    pub timestamp: i64,
    /// The sender's profile name, when the delivery names it.
    #[serde(default)]
    pub name: Option<String>,
    /// What it says.
    pub content: Content,
}

/// What a message says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Content {
    /// Text.
    Text {
        /// The text.
        body: String,
    },
    /// A tap on one of our reply buttons.
    Button {
        /// The button's id (ours).
        id: String,
        /// Its title.
        title: String,
    },
    /// Anything else (an image, a location…): answered with the menu.
    Other {
        /// Meta's type.
        kind: String,
    },
}

/// A status of a message we sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Status {
    /// The message's `wamid`.
    pub id: String,
    /// `sent`, `delivered`, `read` or `failed`.
    pub status: String,
    /// The recipient's WhatsApp id (keeps a number's statuses in order with its messages).
    #[serde(default)]
    pub recipient: String,
    /// Meta's error code, for `failed`.
    #[serde(default)]
    pub error_code: Option<i64>,
    /// Meta's error title, for `failed`.
    #[serde(default)]
    pub error_title: Option<String>,
    /// `biz_opaque_callback_data`: the idempotency key we sent the message with.
    #[serde(default)]
    pub callback: Option<String>,
}

/// Why a delivery's body was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    /// Not JSON, or not a WhatsApp delivery.
    #[error("not a WhatsApp delivery: {0}")]
    Malformed(String),
    /// More than [`MAX_ITEMS`] items.
    #[error("a delivery carries at most {MAX_ITEMS} messages and statuses")]
    TooMany,
}

#[derive(Deserialize)]
struct Body {
    object: String,
    #[serde(default)]
    entry: Vec<Entry>,
}
#[derive(Deserialize)]
struct Entry {
    #[serde(default)]
    changes: Vec<Change>,
}
#[derive(Deserialize)]
struct Change {
    #[serde(default)]
    field: String,
    #[serde(default)]
    value: Option<Value>,
}
#[derive(Deserialize)]
struct Value {
    #[serde(default)]
    metadata: Option<Metadata>,
    #[serde(default)]
    contacts: Vec<Contact>,
    #[serde(default)]
    messages: Vec<serde_json::Value>,
    #[serde(default)]
    statuses: Vec<serde_json::Value>,
}
#[derive(Deserialize)]
struct Metadata {
    #[serde(default)]
    phone_number_id: String,
}
#[derive(Deserialize)]
struct Contact {
    #[serde(default)]
    wa_id: String,
    #[serde(default)]
    profile: Option<Profile>,
}
#[derive(Deserialize)]
struct Profile {
    #[serde(default)]
    name: Option<String>,
}

/// The items of a delivery for `phone_number_id` (changes for another number are skipped).
pub fn parse(body: &[u8], phone_number_id: &str) -> Result<Vec<Item>, Refused> {
    let body: Body = serde_json::from_slice(body).map_err(|e| Refused::Malformed(e.to_string()))?;
    if body.object != "whatsapp_business_account" {
        return Err(Refused::Malformed(format!("object {:?}", body.object)));
    }
    let mut items = Vec::new();
    for change in body.entry.into_iter().flat_map(|e| e.changes) {
        let Some(value) = change.value else { continue };
        if change.field != "messages"
            || value
                .metadata
                .as_ref()
                .is_none_or(|m| m.phone_number_id != phone_number_id)
        {
            continue;
        }
        let name_of = |wa_id: &str| {
            value
                .contacts
                .iter()
                .find(|c| c.wa_id == wa_id)
                .and_then(|c| c.profile.as_ref()?.name.clone())
        };
        for message in &value.messages {
            if let Some(mut inbound) = message_of(message) {
                inbound.name = name_of(&inbound.from);
                items.push(Item::Message(inbound));
            }
        }
        items.extend(
            value
                .statuses
                .iter()
                .filter_map(status_of)
                .map(Item::Status),
        );
        if items.len() > MAX_ITEMS {
            return Err(Refused::TooMany);
        }
    }
    Ok(items)
}

fn text(v: &serde_json::Value, key: &str) -> Option<String> {
    v.get(key)?.as_str().map(str::to_owned)
}

fn message_of(m: &serde_json::Value) -> Option<Inbound> {
    let id = text(m, "id").filter(|s| !s.is_empty() && s.len() <= 256)?;
    let from = text(m, "from").filter(|s| is_wa_id(s))?;
    let timestamp = text(m, "timestamp")
        .and_then(|t| t.parse().ok())
        .unwrap_or(0);
    let kind = text(m, "type").unwrap_or_default();
    let content = match kind.as_str() {
        "text" => Content::Text {
            body: m
                .get("text")
                .and_then(|t| text(t, "body"))
                .unwrap_or_default(),
        },
        "interactive" => match m.get("interactive").and_then(|i| i.get("button_reply")) {
            Some(reply) => Content::Button {
                id: text(reply, "id").unwrap_or_default(),
                title: text(reply, "title").unwrap_or_default(),
            },
            None => Content::Other { kind },
        },
        // A tap on a template's quick-reply button.
        "button" => Content::Button {
            id: m
                .get("button")
                .and_then(|b| text(b, "payload"))
                .unwrap_or_default(),
            title: m
                .get("button")
                .and_then(|b| text(b, "text"))
                .unwrap_or_default(),
        },
        _ => Content::Other { kind },
    };
    Some(Inbound {
        id,
        from,
        timestamp,
        name: None,
        content,
    })
}

fn status_of(s: &serde_json::Value) -> Option<Status> {
    let id = text(s, "id").filter(|s| !s.is_empty() && s.len() <= 256)?;
    let status = text(s, "status")
        .filter(|s| matches!(s.as_str(), "sent" | "delivered" | "read" | "failed"))?;
    let error = s.get("errors").and_then(|e| e.get(0));
    Some(Status {
        id,
        status,
        recipient: text(s, "recipient_id").unwrap_or_default(),
        error_code: error.and_then(|e| e.get("code")?.as_i64()),
        error_title: error.and_then(|e| text(e, "title").or_else(|| text(e, "message"))),
        callback: text(s, "biz_opaque_callback_data").filter(|c| !c.is_empty() && c.len() <= 512),
    })
}

/// A WhatsApp id: a phone number's digits.
pub fn is_wa_id(s: &str) -> bool {
    (6..=20).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_buttons_and_statuses_are_read_for_our_number_only() {
        let body = serde_json::json!({
            "object": "whatsapp_business_account",
            "entry": [{"id": "1", "changes": [
                {"field": "messages", "value": {
                    "messaging_product": "whatsapp",
                    "metadata": {"display_phone_number": "34600111222", "phone_number_id": "42"},
                    "contacts": [{"profile": {"name": "Ana"}, "wa_id": "34611222333"}],
                    "messages": [
                        {"from": "34611222333", "id": "wamid.A", "timestamp": "1700000000",
                         "type": "text", "text": {"body": "QR"}},
                        {"from": "34611222333", "id": "wamid.B", "timestamp": "1700000001",
                         "type": "interactive", "interactive": {"type": "button_reply",
                         "button_reply": {"id": "consent_accept", "title": "Acepto / I agree"}}},
                        {"from": "not-a-number", "id": "wamid.C", "type": "text"}
                    ],
                    "statuses": [{"id": "wamid.OUT", "status": "failed", "recipient_id": "34611222333",
                                  "biz_opaque_callback_data": "wamid.A:0",
                                  "errors": [{"code": 131026, "title": "Message undeliverable"}]}]
                }},
                {"field": "messages", "value": {"metadata": {"phone_number_id": "99"},
                    "messages": [{"from": "34611222333", "id": "wamid.X", "type": "text"}]}}
            ]}]
        });
        let items = parse(body.to_string().as_bytes(), "42").unwrap();
        assert_eq!(items.len(), 3, "{items:?}");
        let Item::Message(first) = &items[0] else {
            panic!()
        };
        assert_eq!(first.name.as_deref(), Some("Ana"));
        assert_eq!(first.content, Content::Text { body: "QR".into() });
        assert_eq!(items[1].key(), "wamid.B");
        assert_eq!(items[2].key(), "status:wamid.OUT:failed");
        let Item::Status(status) = &items[2] else {
            panic!()
        };
        assert_eq!(status.error_code, Some(131026));
        assert_eq!(status.callback.as_deref(), Some("wamid.A:0"));
        assert!(parse(b"{}", "42").is_err());
        assert!(parse(br#"{"object":"page","entry":[]}"#, "42").is_err());
    }
}
