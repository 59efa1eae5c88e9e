//! Refused tenders: a stable code for the POS and the journal, and a message for the
//! cashier in Spanish and English.

use std::fmt;

use serde::{Deserialize, Serialize};
use tillpass_protocol::lang::{Bilingual, Lang};
use tillpass_protocol::money::{Currency, Money};

/// Why a savings redemption or a gift-card tender was refused. Serialized with its stable
/// `code` (`{"code": "insufficient_balance", "available": {…}}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(tag = "code", rename_all = "snake_case")]
#[non_exhaustive]
pub enum TenderRefusal {
    /// Savings need an identified customer.
    NoCustomer,
    /// The catalog has no savings programme.
    NoSavingsProgramme,
    /// The tender's currency is not the sale's.
    CurrencyMismatch {
        /// The sale's currency.
        expected: Currency,
        /// The tender's (or card's) currency.
        found: Currency,
    },
    /// The amount asked for is zero or negative.
    NotPositive,
    /// Nothing is left to pay.
    NothingDue,
    /// The amount asked for is more than is left to pay.
    ExceedsAmountDue {
        /// What is left to pay.
        due: Money,
    },
    /// The balance (less holds and earlier tenders of the sale) does not cover the amount.
    InsufficientBalance {
        /// What can be spent now.
        available: Money,
    },
    /// The till is offline and the offline cap would be exceeded.
    OfflineCapReached {
        /// What can still be spent while offline.
        remaining: Money,
    },
    /// The gift card is blocked.
    CardBlocked,
    /// The gift card expired.
    CardExpired {
        /// When it expired (unix seconds).
        expired_at: u64,
    },
    /// The card must pay the whole amount due and cannot.
    PartialPaymentNotAllowed {
        /// What is left to pay.
        due: Money,
    },
}

impl TenderRefusal {
    /// The stable code: the POS and the journal match on it.
    pub fn code(&self) -> &'static str {
        match self {
            TenderRefusal::NoCustomer => "no_customer",
            TenderRefusal::NoSavingsProgramme => "no_savings_programme",
            TenderRefusal::CurrencyMismatch { .. } => "currency_mismatch",
            TenderRefusal::NotPositive => "not_positive",
            TenderRefusal::NothingDue => "nothing_due",
            TenderRefusal::ExceedsAmountDue { .. } => "exceeds_amount_due",
            TenderRefusal::InsufficientBalance { .. } => "insufficient_balance",
            TenderRefusal::OfflineCapReached { .. } => "offline_cap_reached",
            TenderRefusal::CardBlocked => "card_blocked",
            TenderRefusal::CardExpired { .. } => "card_expired",
            TenderRefusal::PartialPaymentNotAllowed { .. } => "partial_payment_not_allowed",
        }
    }

    /// The message for the cashier. Amounts are in the variant's fields for the POS to
    /// show next to it.
    pub fn message(&self) -> Bilingual {
        let (es, en) = match self {
            TenderRefusal::NoCustomer => (
                "Identifique al cliente (QR) para usar su ahorro",
                "Identify the customer (QR) to use their savings",
            ),
            TenderRefusal::NoSavingsProgramme => (
                "Esta tienda no tiene programa de ahorro",
                "This store has no savings programme",
            ),
            TenderRefusal::CurrencyMismatch { .. } => (
                "La moneda no coincide con la de la venta",
                "The currency does not match the sale",
            ),
            TenderRefusal::NotPositive => (
                "El importe debe ser mayor que cero",
                "The amount must be more than zero",
            ),
            TenderRefusal::NothingDue => ("No queda nada por pagar", "Nothing is left to pay"),
            TenderRefusal::ExceedsAmountDue { .. } => (
                "El importe supera lo que queda por pagar",
                "The amount is more than is left to pay",
            ),
            TenderRefusal::InsufficientBalance { .. } => {
                ("Saldo insuficiente", "Insufficient balance")
            }
            TenderRefusal::OfflineCapReached { .. } => (
                "Sin conexión: se alcanzó el límite de uso sin conexión",
                "Offline: the offline spending limit is reached",
            ),
            TenderRefusal::CardBlocked => ("Tarjeta regalo bloqueada", "Gift card blocked"),
            TenderRefusal::CardExpired { .. } => ("Tarjeta regalo caducada", "Gift card expired"),
            TenderRefusal::PartialPaymentNotAllowed { .. } => (
                "La tarjeta regalo debe cubrir todo el importe",
                "The gift card must cover the whole amount",
            ),
        };
        Bilingual { es, en }
    }

    /// The message in one language.
    pub fn message_in(&self, lang: Lang) -> &'static str {
        self.message().get(lang)
    }
}

impl fmt::Display for TenderRefusal {
    /// The code and the English message, for logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code(), self.message().en)
    }
}
