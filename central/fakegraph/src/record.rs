//! What the fake remembers: the WhatsApp users it knows, every message either way with
//! its statuses, uploaded media, and every webhook delivery attempt. Bounded: the oldest
//! entries go first past [`MAX_MESSAGES`], [`MAX_MEDIA`] and [`MAX_ATTEMPTS_KEPT`].
//!
//! - [`Message`]: one message in a chat, inbound or outbound, with its [`Status`].
//! - [`Media`]: an uploaded file.
//! - [`Attempt`]: one POST to the webhook and its answer.

use std::collections::{BTreeMap, VecDeque};

use serde::{Deserialize, Serialize};

use crate::outbound::Content;

/// Messages kept (both ways, all chats).
pub const MAX_MESSAGES: usize = 10_000;
/// Media files kept.
pub const MAX_MEDIA: usize = 1_000;
/// Webhook attempts kept.
pub const MAX_ATTEMPTS_KEPT: usize = 10_000;
/// The largest upload taken (Meta's image limit is 5 MB).
pub const MAX_MEDIA_BYTES: usize = 5 * 1024 * 1024;

/// Which way a message went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// From the customer to the business.
    Inbound,
    /// From the business to the customer.
    Outbound,
}

/// A sent message's status, in Meta's order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Accepted,
    Sent,
    Delivered,
    Read,
}

impl Status {
    /// Meta's word for it in a status webhook.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Accepted => "accepted",
            Status::Sent => "sent",
            Status::Delivered => "delivered",
            Status::Read => "read",
        }
    }
}

/// One message in a chat.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    /// Its place in the record (grows by one per message, all chats together).
    pub seq: u64,
    pub id: String,
    /// The customer's WhatsApp id (their number, digits only).
    pub wa_id: String,
    pub direction: Direction,
    pub content: Content,
    /// The message this one answers.
    pub context: Option<String>,
    /// Seconds since the epoch, by the fake's clock.
    pub at: i64,
    /// Outbound: how far it got.
    pub status: Status,
    /// Outbound: the API version of the request.
    pub api_version: Option<String>,
}

/// An uploaded file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Media {
    pub id: String,
    pub mime_type: String,
    pub bytes: Vec<u8>,
    /// Hex SHA-256 of the bytes.
    pub sha256: String,
}

/// One webhook delivery attempt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attempt {
    /// The delivery (the same for every attempt of one delivery; a duplicate has its own).
    pub delivery: u64,
    pub attempt: u32,
    /// The HTTP status answered, or nothing if the callback could not be reached.
    pub status: Option<u16>,
    /// What the delivery carried: the message ids or `status:<id>:<status>`.
    pub carries: Vec<String>,
}

/// The fake's memory.
#[derive(Debug, Default)]
pub struct Record {
    next_seq: u64,
    /// WhatsApp users: wa_id → profile name.
    pub users: BTreeMap<String, String>,
    /// wa_id → the time of their last inbound message.
    pub last_inbound: BTreeMap<String, i64>,
    pub messages: VecDeque<Message>,
    pub media: VecDeque<Media>,
    pub attempts: VecDeque<Attempt>,
    /// Bumped on every change: a watcher asks "anything new since N?".
    pub version: u64,
}

impl Record {
    /// Appends a message; the oldest go past [`MAX_MESSAGES`].
    pub fn push(&mut self, mut message: Message) -> u64 {
        self.next_seq += 1;
        message.seq = self.next_seq;
        if self.messages.len() >= MAX_MESSAGES {
            self.messages.pop_front();
        }
        self.messages.push_back(message);
        self.version += 1;
        self.next_seq
    }

    /// The message with this id.
    pub fn message_mut(&mut self, id: &str) -> Option<&mut Message> {
        self.messages.iter_mut().rev().find(|m| m.id == id)
    }

    /// Keeps an upload; the oldest go past [`MAX_MEDIA`].
    pub fn add_media(&mut self, media: Media) {
        if self.media.len() >= MAX_MEDIA {
            self.media.pop_front();
        }
        self.media.push_back(media);
        self.version += 1;
    }

    /// Keeps an attempt; the oldest go past [`MAX_ATTEMPTS_KEPT`].
    pub fn add_attempt(&mut self, attempt: Attempt) {
        if self.attempts.len() >= MAX_ATTEMPTS_KEPT {
            self.attempts.pop_front();
        }
        self.attempts.push_back(attempt);
        self.version += 1;
    }
}
