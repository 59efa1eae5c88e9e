//! The bounds of everything a till journals, defined once.
//!
//! A till applies them before it stores a sale, a return or any other event — so that what
//! it acknowledges to the POS, central accepts — and central applies them at ingest through
//! [`JournalEvent::check`](super::JournalEvent::check), which is built from the functions
//! here. Neither side has bounds of its own for these fields.
//!
//! | what | bound |
//! |---|---|
//! | lines of a sale or a return | [`MAX_LINES`] |
//! | effects (applied promotions) of a sale | [`MAX_EFFECTS`] |
//! | loyalty tenders (savings, gift cards) of a sale | [`MAX_LOYALTY_TENDERS`] |
//! | the POS's own payments of a sale | [`MAX_PAYMENTS`] |
//! | tenders of a sale, refunds of a return | [`MAX_TENDERS`] |
//! | a line id | 1 to [`MAX_LINE_ID_LEN`] bytes, printable ([`line_id`]) |
//! | a SKU, a label, an effect kind, a name | 0 to [`MAX_TEXT_LEN`] bytes, printable ([`text`]) |
//! | a payment method | 1 to [`MAX_METHOD_LEN`] of `A-Z a-z 0-9 _ -` ([`method`]) |
//! | a quantity | at least 1 unit or gram ([`quantity`]) |
//! | an amount | 0 to [`MAX_AMOUNT`] minor units ([`amount`]) |
//! | one event, serialized | [`MAX_EVENT_BYTES`] |
//! | one upload batch, serialized | [`MAX_BATCH_BYTES`] |
//!
//! Ids (sale, customer, gift card, promotion…) are bounded by their types
//! ([`super::ids`]). Printable means no control character (Unicode category Cc: TAB, CR,
//! LF, DEL, C1 controls…).
//!
//! A bound is never tightened below what tills already journal: events wait in outboxes
//! across upgrades, and central must keep accepting them.

use crate::money::Money;

use super::journal::Quantity;

/// The most lines one sale or return may carry.
pub const MAX_LINES: usize = 1000;
/// The most effects (applied promotions) one sale may carry.
pub const MAX_EFFECTS: usize = 1000;
/// The most loyalty tenders (savings, gift cards) one sale may carry.
pub const MAX_LOYALTY_TENDERS: usize = 20;
/// The most payments of the POS's own (cash, card…) one close may list.
pub const MAX_PAYMENTS: usize = 20;
/// The most tenders one sale (or refunds one return) may carry: its loyalty tenders and
/// the POS's payments.
pub const MAX_TENDERS: usize = MAX_LOYALTY_TENDERS + MAX_PAYMENTS;
/// The longest free text (a SKU, a label, an effect kind, a name), in bytes.
pub const MAX_TEXT_LEN: usize = 256;
/// The longest line id, in bytes.
pub const MAX_LINE_ID_LEN: usize = 64;
/// The longest payment method name, in bytes.
pub const MAX_METHOD_LEN: usize = 32;
/// The characters of a payment method, as an ECMA-262 (JSON Schema) pattern: what
/// [`method`] accepts, for documents that state the rule (the POS API's OpenAPI).
pub const METHOD_PATTERN: &str = "^[A-Za-z0-9_-]+$";
/// The largest amount any money field may carry, in minor units: 10^15, below 2^53 so
/// that every amount is exact in a JavaScript number, and far from overflowing a sum of
/// [`MAX_LINES`] of them.
pub const MAX_AMOUNT: i64 = 1_000_000_000_000_000;
/// The largest event, serialized as JSON.
pub const MAX_EVENT_BYTES: usize = 4 * 1024 * 1024;
/// The largest upload batch, serialized as JSON: central's body limit for
/// [`super::paths::JOURNAL`], defined with the batch. A till fills a batch up to it (one
/// event always fits).
pub use super::batch::MAX_BATCH_BYTES;

/// Whether `text` has no control character.
pub fn printable(text: &str) -> bool {
    !text.chars().any(char::is_control)
}

/// A free text: at most [`MAX_TEXT_LEN`] bytes, printable.
pub fn text(value: &str) -> Result<(), &'static str> {
    if value.len() > MAX_TEXT_LEN {
        Err("longer than 256 bytes")
    } else if !printable(value) {
        Err("holds a control character (TAB, line break…)")
    } else {
        Ok(())
    }
}

/// A line id: 1 to [`MAX_LINE_ID_LEN`] bytes, printable.
pub fn line_id(value: &str) -> Result<(), &'static str> {
    if value.is_empty() || value.len() > MAX_LINE_ID_LEN {
        Err("must be 1 to 64 bytes")
    } else if !printable(value) {
        Err("holds a control character (TAB, line break…)")
    } else {
        Ok(())
    }
}

/// A payment method: 1 to [`MAX_METHOD_LEN`] of `A-Z a-z 0-9 _ -`.
pub fn method(value: &str) -> Result<(), &'static str> {
    if !value.is_empty()
        && value.len() <= MAX_METHOD_LEN
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        Ok(())
    } else {
        Err("must be 1 to 32 of A-Z a-z 0-9 _ -")
    }
}

/// A quantity: at least one unit or gram.
pub fn quantity(value: Quantity) -> Result<(), &'static str> {
    if value.value() == 0 {
        Err("must be at least 1")
    } else {
        Ok(())
    }
}

/// An amount: 0 to [`MAX_AMOUNT`] minor units.
pub fn amount(value: Money) -> Result<(), &'static str> {
    if value.amount < 0 {
        Err("must not be negative")
    } else if value.amount > MAX_AMOUNT {
        Err("is above the largest amount (10^15 minor units)")
    } else {
        Ok(())
    }
}

/// A list of `len` entries of at most `max`.
pub fn count(len: usize, max: usize) -> Result<(), &'static str> {
    if len <= max {
        Ok(())
    } else {
        Err("too many entries")
    }
}

/// A serialized event of `len` bytes.
pub fn event_size(len: usize) -> Result<(), &'static str> {
    if len <= MAX_EVENT_BYTES {
        Ok(())
    } else {
        Err("the event is over 4 MiB")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::money::Currency;

    #[test]
    fn bounds_are_inclusive_and_control_characters_are_refused() {
        assert!(text(&"a".repeat(MAX_TEXT_LEN)).is_ok());
        assert!(text(&"a".repeat(MAX_TEXT_LEN + 1)).is_err());
        // Bytes, not characters: 128 two-byte characters fit, 129 do not.
        assert!(text(&"é".repeat(128)).is_ok());
        assert!(text(&"é".repeat(129)).is_err());
        assert!(text("").is_ok());
        for bad in ["A\tB", "A\nB", "A\rB", "A\u{7f}", "A\u{85}", "\u{0}"] {
            assert!(text(bad).is_err(), "{bad:?}");
            assert!(line_id(bad).is_err(), "{bad:?}");
        }
        assert!(text("Café «Oferta» −10 % 🍎").is_ok());
        assert!(line_id("").is_err());
        assert!(line_id(&"1".repeat(64)).is_ok());
        assert!(line_id(&"1".repeat(65)).is_err());
        assert!(method("cash").is_ok());
        assert!(method(&"m".repeat(33)).is_err());
        assert!(method("gift card").is_err());
        assert!(quantity(Quantity::Units(0)).is_err());
        assert!(quantity(Quantity::Grams(u32::MAX)).is_ok());
        assert!(amount(Money::new(MAX_AMOUNT, Currency::EUR)).is_ok());
        assert!(amount(Money::new(MAX_AMOUNT + 1, Currency::EUR)).is_err());
        assert!(amount(Money::new(-1, Currency::EUR)).is_err());
        assert!(count(MAX_LINES, MAX_LINES).is_ok());
        assert!(count(MAX_LINES + 1, MAX_LINES).is_err());
        assert!(event_size(MAX_EVENT_BYTES).is_ok());
        assert!(event_size(MAX_EVENT_BYTES + 1).is_err());
        const { assert!(MAX_EVENT_BYTES < MAX_BATCH_BYTES / 2) };
        const { assert!(MAX_AMOUNT < 1 << 53) };
    }
}
