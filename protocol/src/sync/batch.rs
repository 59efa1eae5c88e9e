//! Batch upload: up to [`MAX_BATCH_EVENTS`] journal events, at most [`MAX_BATCH_BYTES`] of
//! JSON, in one signed request, answered event by event.
//!
//! `POST /v1/journal` ([`super::paths::JOURNAL`]) with an [`UploadBatch`]; central answers
//! a [`BatchAck`] with one [`EventAck`] per event, in the batch's order:
//! `accepted`, `duplicate` (already accepted earlier: the till may forget it too) or
//! `rejected` with a [`RejectCode`] and a detail. A till deletes an outbox row on
//! `accepted` or `duplicate`; a rejected row stays, visible on the dashboard.

use serde::{Deserialize, Serialize};
use thiserror::Error;

use super::VERSION;
use super::ids::{EventId, TillId};
use super::journal::JournalEvent;

/// The most events one batch may carry.
pub const MAX_BATCH_EVENTS: usize = 1000;

/// The largest batch central reads: its JSON encoding, in bytes (16 MiB). Central refuses
/// a longer body with `413` before reading it; a till whose oldest events encode longer
/// sends fewer of them in one batch.
pub const MAX_BATCH_BYTES: usize = 16 * 1024 * 1024;

/// A batch of journal events from one till.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadBatch {
    /// The message version, [`VERSION`].
    pub v: u16,
    /// The till that sends it (the same as the request's signer).
    pub till: TillId,
    /// The events, oldest first.
    pub events: Vec<JournalEvent>,
}

impl UploadBatch {
    /// A batch of the current version, refused when empty or above [`MAX_BATCH_EVENTS`].
    pub fn new(till: TillId, events: Vec<JournalEvent>) -> Result<UploadBatch, BatchError> {
        let batch = UploadBatch {
            v: VERSION,
            till,
            events,
        };
        batch.check()?;
        Ok(batch)
    }

    /// Checks the version and the number of events. Each event is checked on its own
    /// ([`JournalEvent::check`]) and refused on its own.
    pub fn check(&self) -> Result<(), BatchError> {
        if self.v != VERSION {
            return Err(BatchError::UnsupportedVersion(self.v));
        }
        if self.events.is_empty() {
            return Err(BatchError::Empty);
        }
        if self.events.len() > MAX_BATCH_EVENTS {
            return Err(BatchError::TooLarge {
                events: self.events.len(),
            });
        }
        Ok(())
    }
}

/// A batch that cannot be processed at all.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum BatchError {
    /// The batch's version is not one this build speaks.
    #[error("unsupported batch version {0}")]
    UnsupportedVersion(u16),
    /// No events.
    #[error("a batch must hold at least one event")]
    Empty,
    /// Too many events.
    #[error("a batch holds at most {MAX_BATCH_EVENTS} events, not {events}")]
    TooLarge {
        /// How many the batch held.
        events: usize,
    },
}

/// Central's answer to a batch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchAck {
    /// The message version, [`VERSION`].
    pub v: u16,
    /// One acknowledgement per event, in the batch's order.
    pub acks: Vec<EventAck>,
}

/// What central did with one event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventAck {
    /// The event.
    pub id: EventId,
    /// What became of it: `{"status": "accepted"}`, `{"status": "duplicate"}` or
    /// `{"status": "rejected", "code": …, "detail": …}`, flattened into the ack.
    #[serde(flatten)]
    pub outcome: AckOutcome,
    /// What central noticed while applying it (overspend turned into debt, one token at
    /// two stores…). The event is accepted all the same.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub flags: Vec<EventFlag>,
}

/// What became of one event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum AckOutcome {
    /// Applied now.
    Accepted,
    /// Already applied earlier (same id, same content): nothing changed.
    Duplicate,
    /// Not applied, and it will not be on a retry of the same event.
    Rejected {
        /// Why, as a stable code.
        code: RejectCode,
        /// A short explanation for the dashboard, with no personal data.
        detail: String,
    },
}

impl AckOutcome {
    /// Whether the till may delete the event from its outbox.
    pub fn is_settled(&self) -> bool {
        matches!(self, AckOutcome::Accepted | AckOutcome::Duplicate)
    }
}

/// Why central refused an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum RejectCode {
    /// The event could not be parsed.
    Malformed,
    /// The event's version is not one central speaks.
    UnsupportedVersion,
    /// A field has a value that cannot be right (see the detail).
    Invalid,
    /// The event names another till than the one that signed the request.
    WrongTill,
    /// The event names another store than the till's.
    WrongStore,
    /// The customer does not exist at central.
    UnknownCustomer,
    /// The customer was erased at central (GDPR): their data is not taken any more.
    CustomerErased,
    /// The gift card does not exist at central.
    UnknownGiftCard,
    /// The amount's currency is not the account's.
    CurrencyMismatch,
    /// An event with this id but another content was accepted earlier.
    IdConflict,
    /// A code this build does not know (sent by a newer central).
    #[serde(other)]
    Unknown,
}

impl RejectCode {
    /// The stable wire name.
    pub fn code(self) -> &'static str {
        match self {
            RejectCode::Malformed => "malformed",
            RejectCode::UnsupportedVersion => "unsupported_version",
            RejectCode::Invalid => "invalid",
            RejectCode::WrongTill => "wrong_till",
            RejectCode::WrongStore => "wrong_store",
            RejectCode::UnknownCustomer => "unknown_customer",
            RejectCode::CustomerErased => "customer_erased",
            RejectCode::UnknownGiftCard => "unknown_gift_card",
            RejectCode::CurrencyMismatch => "currency_mismatch",
            RejectCode::IdConflict => "id_conflict",
            RejectCode::Unknown => "unknown",
        }
    }
}

/// Something central noticed about an accepted event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum EventFlag {
    /// A savings or gift-card debit that the authoritative balance could not cover: the
    /// shortfall is recorded as a debt.
    OverspendDebt,
    /// The token was already used at another store.
    TokenAtTwoStores,
    /// A reversal of an earn found less balance than it takes back: the balance stopped
    /// at zero.
    ReversalClamped,
    /// Returns of one sale recorded at tills of its store that could not see each other's
    /// returns yet together take back more than was sold.
    ReturnExceedsSale,
    /// A flag this build does not know (sent by a newer central).
    #[serde(other)]
    Unknown,
}

impl EventFlag {
    /// The stable wire name.
    pub fn code(self) -> &'static str {
        match self {
            EventFlag::OverspendDebt => "overspend_debt",
            EventFlag::TokenAtTwoStores => "token_at_two_stores",
            EventFlag::ReversalClamped => "reversal_clamped",
            EventFlag::ReturnExceedsSale => "return_exceeds_sale",
            EventFlag::Unknown => "unknown",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sync::journal::tests::sale_event;

    #[test]
    fn batches_are_bounded() {
        let till = TillId::new("S001-T01").unwrap();
        assert_eq!(
            UploadBatch::new(till.clone(), vec![]),
            Err(BatchError::Empty)
        );
        let events: Vec<_> = (0..=1000).map(sale_event).collect();
        assert_eq!(
            UploadBatch::new(till.clone(), events),
            Err(BatchError::TooLarge { events: 1001 })
        );
        let batch = UploadBatch::new(till, vec![sale_event(1), sale_event(2)]).unwrap();
        let json = serde_json::to_string(&batch).unwrap();
        assert_eq!(serde_json::from_str::<UploadBatch>(&json).unwrap(), batch);
    }

    #[test]
    fn acks_round_trip_and_tolerate_new_codes() {
        let ack = BatchAck {
            v: VERSION,
            acks: vec![
                EventAck {
                    id: EventId([1; 16]),
                    outcome: AckOutcome::Accepted,
                    flags: vec![EventFlag::OverspendDebt],
                },
                EventAck {
                    id: EventId([2; 16]),
                    outcome: AckOutcome::Duplicate,
                    flags: vec![],
                },
                EventAck {
                    id: EventId([3; 16]),
                    outcome: AckOutcome::Rejected {
                        code: RejectCode::UnknownCustomer,
                        detail: "no such customer".into(),
                    },
                    flags: vec![],
                },
            ],
        };
        let json = serde_json::to_string(&ack).unwrap();
        assert!(
            json.contains(r#""status":"rejected","code":"unknown_customer""#),
            "{json}"
        );
        assert!(json.contains(r#""flags":["overspend_debt"]"#), "{json}");
        assert_eq!(serde_json::from_str::<BatchAck>(&json).unwrap(), ack);
        assert!(ack.acks[1].outcome.is_settled());
        assert!(!ack.acks[2].outcome.is_settled());

        let newer = format!(
            r#"{{"id":"{}","status":"rejected","code":"quota_exceeded","detail":"x","flags":["moon_phase"]}}"#,
            "00".repeat(16)
        );
        let parsed: EventAck = serde_json::from_str(&newer).unwrap();
        assert_eq!(
            parsed.outcome,
            AckOutcome::Rejected {
                code: RejectCode::Unknown,
                detail: "x".into()
            }
        );
        assert_eq!(parsed.flags, vec![EventFlag::Unknown]);
    }
}
