//! The identifiers that travel between till and central: till, store, region, customer,
//! gift card, sale, hold, promotion, token subject, event and token ids.
//!
//! Text ids are 1 to 64 characters of ASCII letters, digits, `-`, `_` and `.`, so that they
//! can sit in a path, a header, a log line or a canonical string without escaping. They are
//! checked when built and when deserialized: a malformed id never gets into a program.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha256};
use thiserror::Error;

/// The longest text id, in bytes.
pub const MAX_ID_LEN: usize = 64;

/// The characters of a text id, as an ECMA-262 (JSON Schema) pattern: what
/// `check_text_id` accepts, for documents that state the rule (the POS API's OpenAPI).
pub const TEXT_ID_PATTERN: &str = "^[A-Za-z0-9._-]+$";

/// A text id, a token id or an event id that is not well formed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum IdError {
    /// The id is empty.
    #[error("{kind} must not be empty")]
    Empty {
        /// Which kind of id.
        kind: &'static str,
    },
    /// The id is longer than allowed.
    #[error("{kind} is longer than {max} characters")]
    TooLong {
        /// Which kind of id.
        kind: &'static str,
        /// The longest allowed.
        max: usize,
    },
    /// The id holds a character outside `A-Z a-z 0-9 - _ .`.
    #[error("{kind} may hold only ASCII letters, digits, '-', '_' and '.'")]
    BadCharacter {
        /// Which kind of id.
        kind: &'static str,
    },
    /// A hex id is not made of the expected number of hex digits.
    #[error("{kind} must be {digits} hex digits")]
    BadHex {
        /// Which kind of id.
        kind: &'static str,
        /// How many hex digits (a range is written as its maximum).
        digits: usize,
    },
}

fn check_text_id(kind: &'static str, text: &str) -> Result<(), IdError> {
    if text.is_empty() {
        return Err(IdError::Empty { kind });
    }
    if text.len() > MAX_ID_LEN {
        return Err(IdError::TooLong {
            kind,
            max: MAX_ID_LEN,
        });
    }
    if !text
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
    {
        return Err(IdError::BadCharacter { kind });
    }
    Ok(())
}

macro_rules! text_id {
    ($(#[$doc:meta])* $name:ident, $kind:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// Checks `text` and wraps it.
            pub fn new(text: impl Into<String>) -> Result<$name, IdError> {
                let text = text.into();
                check_text_id($kind, &text)?;
                Ok($name(text))
            }

            /// The id as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = IdError;
            fn try_from(text: String) -> Result<$name, IdError> {
                $name::new(text)
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl FromStr for $name {
            type Err = IdError;
            fn from_str(text: &str) -> Result<$name, IdError> {
                $name::new(text)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    };
}

text_id!(
    /// A till, as central assigned it at enrolment.
    TillId,
    "till id"
);
text_id!(
    /// A store.
    StoreId,
    "store id"
);
text_id!(
    /// A region: a group of stores sharing promotions and policy.
    RegionId,
    "region id"
);
text_id!(
    /// A customer's opaque reference: the subject of their pass. It holds no personal data.
    CustomerRef,
    "customer reference"
);
text_id!(
    /// A gift card's reference: the subject of its token.
    GiftCardRef,
    "gift card reference"
);
text_id!(
    /// A sale or a return: the POS's transaction id.
    SaleId,
    "sale id"
);
text_id!(
    /// A gift-card hold taken during a sale.
    HoldId,
    "hold id"
);
text_id!(
    /// A promotion of the catalog, or a personal promotion.
    PromotionId,
    "promotion id"
);
text_id!(
    /// The subject of a token: a customer reference, a gift card reference or a voucher code.
    Subject,
    "token subject"
);

/// A journal event's globally unique id: 16 bytes, written as 32 lowercase hex digits.
///
/// Either the caller draws 16 random bytes, or [`EventId::for_till_seq`] derives the id from
/// the till id and the till's own monotonically increasing sequence number, so that the
/// same outbox row always gets the same id, even when rebuilt.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EventId(pub [u8; 16]);

impl EventId {
    /// The id of event number `seq` of `till`: the first 16 bytes of
    /// SHA-256(`"tillpass-event-id-v1" ‖ 0x00 ‖ till ‖ 0x00 ‖ seq as 8 bytes big-endian`).
    pub fn for_till_seq(till: &TillId, seq: u64) -> EventId {
        let mut hasher = Sha256::new();
        hasher.update(b"tillpass-event-id-v1\0");
        hasher.update(till.as_str().as_bytes());
        hasher.update([0u8]);
        hasher.update(seq.to_be_bytes());
        let digest: [u8; 32] = hasher.finalize().into();
        let mut id = [0u8; 16];
        id.copy_from_slice(&digest[..16]);
        EventId(id)
    }

    /// The 32 lowercase hex digits.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

impl fmt::Display for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EventId({self})")
    }
}

impl FromStr for EventId {
    type Err = IdError;
    fn from_str(text: &str) -> Result<EventId, IdError> {
        super::hex::decode_array(text)
            .map(EventId)
            .ok_or(IdError::BadHex {
                kind: "event id",
                digits: 32,
            })
    }
}

impl Serialize for EventId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_hex())
    }
}

impl<'de> Deserialize<'de> for EventId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<EventId, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// The longest token id, in bytes.
pub const MAX_TOKEN_ID_LEN: usize = 32;

/// A token's id (the random nonce inside a pass, gift-card token or voucher): 1 to 32 bytes,
/// written as lowercase hex. Central uses it to spot one token used at two stores.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TokenId(Vec<u8>);

impl TokenId {
    /// Wraps 1 to 32 bytes.
    pub fn new(bytes: &[u8]) -> Result<TokenId, IdError> {
        if bytes.is_empty() || bytes.len() > MAX_TOKEN_ID_LEN {
            return Err(IdError::BadHex {
                kind: "token id",
                digits: MAX_TOKEN_ID_LEN * 2,
            });
        }
        Ok(TokenId(bytes.to_vec()))
    }

    /// The bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The lowercase hex form.
    pub fn to_hex(&self) -> String {
        hex::encode(&self.0)
    }
}

impl fmt::Display for TokenId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for TokenId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TokenId({self})")
    }
}

impl FromStr for TokenId {
    type Err = IdError;
    fn from_str(text: &str) -> Result<TokenId, IdError> {
        let bytes = hex::decode(text.as_bytes()).map_err(|_| IdError::BadHex {
            kind: "token id",
            digits: MAX_TOKEN_ID_LEN * 2,
        })?;
        TokenId::new(&bytes)
    }
}

impl Serialize for TokenId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_hex())
    }
}

impl<'de> Deserialize<'de> for TokenId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<TokenId, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_ids_are_checked() {
        assert!(TillId::new("S001-T01").is_ok());
        assert_eq!(TillId::new(""), Err(IdError::Empty { kind: "till id" }));
        assert!(matches!(
            StoreId::new("a b"),
            Err(IdError::BadCharacter { .. })
        ));
        assert!(matches!(
            CustomerRef::new("x".repeat(65)),
            Err(IdError::TooLong { .. })
        ));
        assert!(serde_json::from_str::<TillId>("\"bad\\nid\"").is_err());
        let id: TillId = serde_json::from_str("\"T-1\"").unwrap();
        assert_eq!(serde_json::to_string(&id).unwrap(), "\"T-1\"");
    }

    #[test]
    fn event_ids_derive_stably_and_round_trip() {
        let till = TillId::new("T-1").unwrap();
        let a = EventId::for_till_seq(&till, 1);
        assert_eq!(a, EventId::for_till_seq(&till, 1));
        assert_ne!(a, EventId::for_till_seq(&till, 2));
        assert_ne!(a, EventId::for_till_seq(&TillId::new("T-2").unwrap(), 1));
        let json = serde_json::to_string(&a).unwrap();
        assert_eq!(json.len(), 34);
        assert_eq!(serde_json::from_str::<EventId>(&json).unwrap(), a);
        assert!("abc".parse::<EventId>().is_err());
    }

    #[test]
    fn token_ids_round_trip_and_refuse_bad_lengths() {
        let id = TokenId::new(&[1, 2, 3]).unwrap();
        assert_eq!(id.to_string(), "010203");
        assert_eq!("010203".parse::<TokenId>().unwrap(), id);
        assert!("".parse::<TokenId>().is_err());
        assert!("0".parse::<TokenId>().is_err());
        assert!("00".repeat(33).parse::<TokenId>().is_err());
    }
}
