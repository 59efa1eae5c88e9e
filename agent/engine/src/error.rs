//! Why the engine refuses to compute: carts and sale records it cannot make sense of.
//!
//! These are programming or data errors of the caller (a POS sending a line twice, a cart
//! in the wrong currency), not business refusals: those are [`crate::TenderRefusal`]s.

use serde::{Deserialize, Serialize};
use tillpass_protocol::money::{Currency, MoneyError};

/// The engine could not evaluate a cart, or reverse a sale.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[serde(tag = "code", rename_all = "snake_case")]
#[non_exhaustive]
pub enum EngineError {
    /// The cart (or a line, or a sale) is in another currency than the catalog.
    #[error("currency mismatch: expected {expected}, found {found}")]
    CurrencyMismatch {
        /// The catalog's currency.
        expected: Currency,
        /// The currency found.
        found: Currency,
    },
    /// Two lines have the same id.
    #[error("line {line_id:?} appears twice")]
    DuplicateLine {
        /// The repeated id.
        line_id: String,
    },
    /// A line is malformed.
    #[error("line {line_id:?}: {reason}")]
    InvalidLine {
        /// The line's id (truncated).
        line_id: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// The cart has too many lines.
    #[error("a cart may have at most {max} lines")]
    TooManyLines {
        /// The limit.
        max: usize,
    },
    /// A return names a line the sale does not have.
    #[error("line {line_id:?} is not in the sale")]
    UnknownLine {
        /// The id asked for.
        line_id: String,
    },
    /// A return asks for more than is left to return.
    #[error("line {line_id:?}: {requested} asked, {left} left to return")]
    ReturnExceedsSale {
        /// The line.
        line_id: String,
        /// What this return asks for.
        requested: u32,
        /// What is left after earlier returns.
        left: u32,
    },
    /// The tenders of a closed sale do not add up to its total.
    #[error("tenders add up to {tendered} minor units, the sale total is {total}")]
    TendersDoNotMatch {
        /// The sum of the tenders.
        tendered: i64,
        /// The sale's total.
        total: i64,
    },
    /// An amount overflowed, or amounts in different currencies met.
    #[error("money: {0}")]
    Money(String),
}

impl From<MoneyError> for EngineError {
    fn from(error: MoneyError) -> Self {
        EngineError::Money(error.to_string())
    }
}

/// Overflow in the engine's own wide arithmetic.
pub(crate) fn overflow() -> EngineError {
    EngineError::Money(MoneyError::Overflow.to_string())
}
