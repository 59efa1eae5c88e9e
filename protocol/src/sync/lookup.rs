//! The live lookup: a till meeting a customer or a gift card it does not hold asks central
//! for the current balance (`POST /v1/lookup`, signed like every till request) within a
//! hard time budget, and falls back to the token's signed snapshot when central does not
//! answer in time.
//!
//! The answer is not signed: it travels over the till's authenticated channel to central
//! and is used at once, for one scan, never stored as central's state (the till keeps it
//! as a claim, replaced by central's delta when that arrives).

use serde::{Deserialize, Serialize};

use super::ids::Subject;
use crate::money::Money;

/// The largest lookup request body: a kind and a 16-byte subject.
pub const MAX_LOOKUP_BYTES: usize = 1024;

/// What the till asks about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LookupKind {
    /// A customer's savings (the subject of a customer pass).
    Customer,
    /// A gift card's balance (the subject of a gift-card token).
    GiftCard,
}

/// `POST /v1/lookup`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LookupRequest {
    /// Customer or gift card.
    pub kind: LookupKind,
    /// The token's subject: the customer's or the card's reference.
    pub subject: Subject,
}

/// Central's answer: the subject's balance now, or that central holds none.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LookupAnswer {
    /// What was asked about.
    pub kind: LookupKind,
    /// Whose balance.
    pub subject: Subject,
    /// Whether central knows the subject with a usable balance (an erased customer, an
    /// unknown, blocked or expired card: `false`, and nothing else is said).
    pub found: bool,
    /// The customer's tier name in the catalog, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tier: Option<String>,
    /// What can be spent now: the savings or the card's balance, less any debt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub balance: Option<Money>,
    /// When a card expires, unix seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<i64>,
    /// Central's time of the answer, unix seconds.
    pub as_of: i64,
}

impl LookupAnswer {
    /// Nothing to spend from: central does not know the subject, or it cannot pay.
    pub fn not_found(kind: LookupKind, subject: Subject, as_of: i64) -> LookupAnswer {
        LookupAnswer {
            kind,
            subject,
            found: false,
            tier: None,
            balance: None,
            expires_at: None,
            as_of,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::money::Currency;

    #[test]
    fn the_wire_forms_are_stable() {
        let request = LookupRequest {
            kind: LookupKind::GiftCard,
            subject: Subject::new("GC-1").unwrap(),
        };
        let text = serde_json::to_string(&request).unwrap();
        assert_eq!(text, r#"{"kind":"gift_card","subject":"GC-1"}"#);
        assert_eq!(
            serde_json::from_str::<LookupRequest>(&text).unwrap(),
            request
        );
        assert!(
            serde_json::from_str::<LookupRequest>(r#"{"kind":"customer","subject":"a","x":1}"#)
                .is_err()
        );
        let answer = LookupAnswer {
            kind: LookupKind::Customer,
            subject: Subject::new("C-1").unwrap(),
            found: true,
            tier: Some("gold".into()),
            balance: Some(Money::new(1250, Currency::EUR)),
            expires_at: None,
            as_of: 1_751_371_200,
        };
        assert_eq!(
            serde_json::to_string(&answer).unwrap(),
            r#"{"kind":"customer","subject":"C-1","found":true,"tier":"gold","balance":{"amount":1250,"currency":"EUR"},"as_of":1751371200}"#
        );
    }
}
