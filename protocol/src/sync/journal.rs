//! Journal events: what a till uploads after the fact.
//!
//! Every event has a globally unique [`EventId`], the till and store it happened at, the
//! time it happened (unix seconds, the till's clock), the till's own sequence number and a
//! typed [`EventPayload`]. Central applies them idempotently by id.
//!
//! **Balance changes travel as their own events** ([`EventPayload::SavingsEarned`],
//! [`EventPayload::SavingsRedeemed`], [`EventPayload::SavingsReversed`] and the gift-card
//! movements). The savings and tender figures of [`SaleClosed`] and [`ReturnRecorded`] are
//! a summary for receipts and reports: central never applies them a second time.

use serde::{Deserialize, Serialize};
use thiserror::Error;

use super::VERSION;
use super::ids::{
    CustomerRef, EventId, GiftCardRef, HoldId, PromotionId, SaleId, StoreId, Subject, TillId,
    TokenId,
};
use super::limits;
use crate::catalog::{EffectKind, Label};
use crate::lang::Lang;
use crate::money::{Currency, Money};
pub use crate::tender::Tender;
pub use crate::token::TokenKind;

/// The most lines or effects one sale or return may carry ([`limits::MAX_LINES`]).
pub const MAX_ITEMS_PER_EVENT: usize = limits::MAX_LINES;

/// The longest free text (a SKU, a label, a detail) in an event, in bytes
/// ([`limits::MAX_TEXT_LEN`]).
pub const MAX_TEXT_LEN: usize = limits::MAX_TEXT_LEN;

/// One journal event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JournalEvent {
    /// The message version, [`VERSION`]. Events live in a till's outbox across agent
    /// upgrades, so each carries its own version.
    pub v: u16,
    /// The event's globally unique id.
    pub id: EventId,
    /// The till's own sequence number for this event, increasing by one per event.
    pub seq: u64,
    /// The till the event happened at.
    pub till: TillId,
    /// The store the event happened at.
    pub store: StoreId,
    /// When it happened: unix seconds by the till's clock.
    pub occurred_at: i64,
    /// What happened.
    pub payload: EventPayload,
}

impl JournalEvent {
    /// An event of the current version whose id is derived from `till` and `seq`
    /// ([`EventId::for_till_seq`]).
    pub fn new(
        till: TillId,
        store: StoreId,
        seq: u64,
        occurred_at: i64,
        payload: EventPayload,
    ) -> JournalEvent {
        JournalEvent {
            v: VERSION,
            id: EventId::for_till_seq(&till, seq),
            seq,
            till,
            store,
            occurred_at,
            payload,
        }
    }

    /// Checks what serde cannot: the version, positive amounts, one currency per sale,
    /// totals that add up, and every bound of [`limits`]. The one check of an event: the
    /// till runs it before it stores one, central at ingest.
    pub fn check(&self) -> Result<(), EventError> {
        if self.v != VERSION {
            return Err(EventError::UnsupportedVersion(self.v));
        }
        self.payload.check()
    }
}

/// What happened, by kind. Serialized with a `type` tag: `{"type": "savings_earned", …}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum EventPayload {
    /// A sale was closed at the till.
    SaleClosed(SaleClosed),
    /// Goods of an earlier sale were returned.
    ReturnRecorded(ReturnRecorded),
    /// A token (customer pass, gift card, voucher) was accepted at the till.
    TokenUsed(TokenUsed),
    /// A customer earned savings.
    SavingsEarned(SavingsMovement),
    /// A customer spent savings.
    SavingsRedeemed(SavingsMovement),
    /// An earlier earn or redemption was reversed (a return, a cancelled sale).
    SavingsReversed(SavingsReversal),
    /// A gift card paid (part of) a sale.
    GiftCardDebited(GiftCardMovement),
    /// A gift card was credited (a refund to the card, a reversed debit, a top-up).
    GiftCardCredited(GiftCardMovement),
    /// An amount of a gift card was held during a sale.
    GiftCardHeld(GiftCardHold),
    /// A hold was released without a debit.
    GiftCardReleased(GiftCardRelease),
    /// The till created an earn-only profile for a customer it did not know.
    CustomerCreated(LocalCustomer),
}

impl EventPayload {
    /// The stable wire name of the kind, e.g. `savings_earned`.
    pub fn kind(&self) -> &'static str {
        match self {
            EventPayload::SaleClosed(_) => "sale_closed",
            EventPayload::ReturnRecorded(_) => "return_recorded",
            EventPayload::TokenUsed(_) => "token_used",
            EventPayload::SavingsEarned(_) => "savings_earned",
            EventPayload::SavingsRedeemed(_) => "savings_redeemed",
            EventPayload::SavingsReversed(_) => "savings_reversed",
            EventPayload::GiftCardDebited(_) => "gift_card_debited",
            EventPayload::GiftCardCredited(_) => "gift_card_credited",
            EventPayload::GiftCardHeld(_) => "gift_card_held",
            EventPayload::GiftCardReleased(_) => "gift_card_released",
            EventPayload::CustomerCreated(_) => "customer_created",
        }
    }

    /// The customer the event concerns, if any.
    pub fn customer(&self) -> Option<&CustomerRef> {
        match self {
            EventPayload::SaleClosed(sale) => sale.customer.as_ref(),
            EventPayload::ReturnRecorded(ret) => ret.customer.as_ref(),
            EventPayload::SavingsEarned(m) | EventPayload::SavingsRedeemed(m) => Some(&m.customer),
            EventPayload::SavingsReversed(r) => Some(&r.customer),
            EventPayload::CustomerCreated(c) => Some(&c.customer),
            EventPayload::TokenUsed(_)
            | EventPayload::GiftCardDebited(_)
            | EventPayload::GiftCardCredited(_)
            | EventPayload::GiftCardHeld(_)
            | EventPayload::GiftCardReleased(_) => None,
        }
    }

    fn check(&self) -> Result<(), EventError> {
        match self {
            EventPayload::SaleClosed(sale) => sale.check(),
            EventPayload::ReturnRecorded(ret) => ret.check(),
            EventPayload::TokenUsed(_) => Ok(()),
            EventPayload::SavingsEarned(m) | EventPayload::SavingsRedeemed(m) => {
                spend(m.amount, m.basis.as_ref())
            }
            EventPayload::SavingsReversed(r) => positive("amount", r.amount),
            EventPayload::GiftCardDebited(m) | EventPayload::GiftCardCredited(m) => {
                spend(m.amount, m.basis.as_ref())
            }
            EventPayload::GiftCardHeld(h) => positive("amount", h.amount),
            EventPayload::GiftCardReleased(_) => Ok(()),
            EventPayload::CustomerCreated(c) => match &c.first_name {
                Some(name) => at(|| "first_name".to_owned(), limits::text(name)),
                None => Ok(()),
            },
        }
    }
}

/// A closed sale: what was sold, what the promotions did, how it was paid.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SaleClosed {
    /// The POS's transaction id.
    pub sale_id: SaleId,
    /// The identified customer, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer: Option<CustomerRef>,
    /// The lines sold.
    pub lines: Vec<SaleLine>,
    /// What the promotions did, one entry per applied promotion.
    #[serde(default)]
    pub effects: Vec<EffectSummary>,
    /// How it was paid.
    pub tenders: Vec<Tender>,
    /// The totals.
    pub totals: SaleTotals,
    /// Savings earned by this sale (also sent as a [`EventPayload::SavingsEarned`] event).
    pub savings_earned: Money,
    /// Savings spent in this sale (also sent as a [`EventPayload::SavingsRedeemed`] event).
    pub savings_redeemed: Money,
}

impl SaleClosed {
    /// Checks what serde cannot: one currency, amounts within [`limits::amount`], bounded
    /// lists and texts, `gross - discounts = net`.
    pub fn check(&self) -> Result<(), EventError> {
        let currency = self.totals.net.currency;
        at(
            || "lines".to_owned(),
            limits::count(self.lines.len(), limits::MAX_LINES),
        )?;
        at(
            || "effects".to_owned(),
            limits::count(self.effects.len(), limits::MAX_EFFECTS),
        )?;
        at(
            || "tenders".to_owned(),
            limits::count(self.tenders.len(), limits::MAX_TENDERS),
        )?;
        for (i, line) in self.lines.iter().enumerate() {
            let path = |field: &str| format!("lines[{i}].{field}");
            at(|| path("line_id"), limits::line_id(&line.line_id))?;
            at(|| path("sku"), limits::text(&line.sku))?;
            at(|| path("quantity"), limits::quantity(line.quantity))?;
            for (field, amount) in [
                ("unit_price", Some(line.unit_price)),
                ("discount", Some(line.discount)),
                ("total", Some(line.total)),
                ("savings_earned", line.savings_earned),
            ] {
                if let Some(amount) = amount {
                    money(|| path(field), amount, currency)?;
                }
            }
        }
        for (i, effect) in self.effects.iter().enumerate() {
            let path = |field: &str| format!("effects[{i}].{field}");
            at(|| path("kind"), limits::text(effect.kind.code()))?;
            if let Some(label) = &effect.label {
                at(|| path("label.es"), limits::text(&label.es))?;
                at(|| path("label.en"), limits::text(&label.en))?;
            }
            at(
                || path("lines"),
                limits::count(effect.lines.len(), limits::MAX_LINES),
            )?;
            for (j, line) in effect.lines.iter().enumerate() {
                at(|| format!("effects[{i}].lines[{j}]"), limits::line_id(line))?;
            }
            // A discount, or bonus savings: its sign is the engine's, only its size is bounded.
            let size = Money::new(
                effect.amount.amount.saturating_abs(),
                effect.amount.currency,
            );
            money(|| path("amount"), size, currency)?;
        }
        for (i, tender) in self.tenders.iter().enumerate() {
            tender.check(&format!("tenders[{i}]"), currency)?;
        }
        self.totals.check(currency)?;
        for (field, amount) in [
            ("savings_earned", self.savings_earned),
            ("savings_redeemed", self.savings_redeemed),
        ] {
            money(|| field.to_owned(), amount, currency)?;
        }
        Ok(())
    }
}

/// How much of an article a line holds: the one quantity of the engine, the POS API and
/// the journal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Quantity {
    /// Whole units: `{"units": 3}`.
    Units(u32),
    /// A weight in grams, priced per kilogram: `{"grams": 350}`.
    Grams(u32),
}

impl Quantity {
    /// How much, in the line's own measure: units, or grams.
    pub fn value(self) -> u32 {
        match self {
            Quantity::Units(n) | Quantity::Grams(n) => n,
        }
    }

    /// Whether the line is weighed.
    pub fn is_weighed(self) -> bool {
        matches!(self, Quantity::Grams(_))
    }

    /// The same kind of quantity with another number.
    pub fn with_value(self, value: u32) -> Quantity {
        match self {
            Quantity::Units(_) => Quantity::Units(value),
            Quantity::Grams(_) => Quantity::Grams(value),
        }
    }
}

/// One line of a closed sale.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SaleLine {
    /// The POS's id for the line.
    pub line_id: String,
    /// The article's SKU.
    pub sku: String,
    /// How much.
    pub quantity: Quantity,
    /// The tax-inclusive price of one unit (or one kilogram).
    pub unit_price: Money,
    /// The discount allocated to this line by all promotions.
    pub discount: Money,
    /// What the line cost after discounts.
    pub total: Money,
    /// The savings this line earned (base and bonuses), so that a return at another till
    /// of the store takes back exactly this line's share. Absent in events of agents
    /// before it was added: the sale's `savings_earned` is then shared over the lines.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub savings_earned: Option<Money>,
}

/// What one promotion did to a sale.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EffectSummary {
    /// The promotion (of the catalog, or personal).
    pub promotion_id: PromotionId,
    /// The kind of rule that applied, e.g. `percent_off`.
    pub kind: EffectKindCode,
    /// The discount it gave (or the bonus savings it earned, for a savings rule).
    pub amount: Money,
    /// The promotion's label, as the receipt showed it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<Label>,
    /// The lines it applied to.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub lines: Vec<String>,
}

/// The kind of an effect as a journal event names it: a kind this version knows, or the
/// code of one a newer agent added, kept as written so the event travels on unchanged (a
/// newer till's sale is neither refused by central nor by the other tills of its store).
/// Serialized as the bare code: `"percent_off"`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum EffectKindCode {
    /// A kind of this version.
    Known(EffectKind),
    /// A kind of a newer version, by its code.
    Newer(String),
}

impl EffectKindCode {
    /// The kind, when this version knows it.
    pub fn known(&self) -> Option<EffectKind> {
        match self {
            EffectKindCode::Known(kind) => Some(*kind),
            EffectKindCode::Newer(_) => None,
        }
    }

    /// The code as written.
    pub fn code(&self) -> &str {
        match self {
            EffectKindCode::Known(kind) => kind.code(),
            EffectKindCode::Newer(code) => code,
        }
    }
}

impl From<EffectKind> for EffectKindCode {
    fn from(kind: EffectKind) -> EffectKindCode {
        EffectKindCode::Known(kind)
    }
}

impl Tender {
    fn check(&self, path: &str, currency: Currency) -> Result<(), EventError> {
        if let Tender::Other { label, .. } = self {
            at(|| format!("{path}.label"), limits::method(label))?;
        }
        money(|| format!("{path}.amount"), self.amount(), currency)
    }
}

/// The totals of a sale: `gross - discounts = net`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SaleTotals {
    /// Before discounts.
    pub gross: Money,
    /// All discounts.
    pub discounts: Money,
    /// What the customer paid.
    pub net: Money,
}

impl SaleTotals {
    fn check(&self, currency: Currency) -> Result<(), EventError> {
        for (field, amount) in [
            ("totals.gross", self.gross),
            ("totals.discounts", self.discounts),
            ("totals.net", self.net),
        ] {
            money(|| field.to_owned(), amount, currency)?;
        }
        match self.gross.checked_sub(self.discounts) {
            Ok(net) if net == self.net => Ok(()),
            _ => Err(EventError::Invalid {
                field: "totals".to_owned(),
                reason: "gross - discounts must equal net",
            }),
        }
    }
}

/// Goods of an earlier sale returned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReturnRecorded {
    /// The POS's transaction id of the return.
    pub return_id: SaleId,
    /// The sale the goods came from.
    pub original_sale_id: SaleId,
    /// The customer of the original sale, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer: Option<CustomerRef>,
    /// The lines returned.
    pub lines: Vec<ReturnLine>,
    /// How the money went back.
    pub refunds: Vec<Tender>,
    /// Savings taken back for the returned goods (also sent as a
    /// [`EventPayload::SavingsReversed`] event).
    pub savings_reversed: Money,
}

impl ReturnRecorded {
    /// Checks what serde cannot: one currency, amounts within [`limits::amount`], bounded
    /// lists and texts.
    pub fn check(&self) -> Result<(), EventError> {
        let currency = self.savings_reversed.currency;
        at(
            || "lines".to_owned(),
            limits::count(self.lines.len(), limits::MAX_LINES),
        )?;
        at(
            || "refunds".to_owned(),
            limits::count(self.refunds.len(), limits::MAX_TENDERS),
        )?;
        at(
            || "savings_reversed".to_owned(),
            limits::amount(self.savings_reversed),
        )?;
        for (i, line) in self.lines.iter().enumerate() {
            let path = |field: &str| format!("lines[{i}].{field}");
            at(|| path("line_id"), limits::line_id(&line.line_id))?;
            at(|| path("quantity"), limits::quantity(line.quantity))?;
            for (field, amount) in [
                ("refund", Some(line.refund)),
                ("discount", line.discount),
                ("savings_reversed", line.savings_reversed),
            ] {
                if let Some(amount) = amount {
                    money(|| path(field), amount, currency)?;
                }
            }
        }
        for (i, tender) in self.refunds.iter().enumerate() {
            tender.check(&format!("refunds[{i}]"), currency)?;
        }
        Ok(())
    }
}

/// One returned line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReturnLine {
    /// The line of the original sale.
    pub line_id: String,
    /// How much of it came back.
    pub quantity: Quantity,
    /// The money refunded for it.
    pub refund: Money,
    /// The line's discount reversed with it (not refunded). Absent in events of agents
    /// before it was added.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub discount: Option<Money>,
    /// The line's earned savings taken back with it. Absent in events of agents before
    /// it was added.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub savings_reversed: Option<Money>,
}

/// A token accepted at a till. The store and till are the event's own: central compares
/// them across tills to flag one token used at two stores.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenUsed {
    /// The token's id.
    pub token_id: TokenId,
    /// Its kind.
    pub kind: TokenKind,
    /// Its subject: the customer, gift card or voucher.
    pub subject: Subject,
    /// The id of the key that signed it (4 bytes, 8 hex digits).
    #[serde(with = "super::hex::array")]
    pub key_id: [u8; 4],
    /// The sale it identified or paid, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sale_id: Option<SaleId>,
}

/// Savings earned or spent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SavingsMovement {
    /// Whose savings.
    pub customer: CustomerRef,
    /// How much (positive).
    pub amount: Money,
    /// The sale it belongs to, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sale_id: Option<SaleId>,
    /// For a spend: the balance it relied on when that was not the till's cached copy of
    /// central's (a pass's signed snapshot, or central's live answer). Absent: the cached
    /// balance, as in every journal written before this field.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub basis: Option<SpendBasis>,
}

/// Where the balance a till showed, and a spend relied on, came from: in the journal's
/// spends ([`SpendBasis`]), on the POS API's customer, and in the store ledger's entries
/// (`super::ledger::LedgerSpend`) — one vocabulary for till, central and dashboard.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BalanceSource {
    /// The till's copy of central's balance, from its deltas.
    Cached,
    /// The signed snapshot a token carried (a customer pass's savings, a gift-card
    /// token's balance): a claim as of the token's issue, spent within the catalog's
    /// offline caps.
    Snapshot,
    /// Central's answer to the till's live lookup.
    Live,
    /// A source a newer side names (read, never written by this build): central treats a
    /// spend from it as a risk, as it does a snapshot's or a cached balance's.
    #[serde(other)]
    Unknown,
}

impl BalanceSource {
    /// Its wire name: `cached`, `snapshot`, `live` (or `unknown`).
    pub fn code(self) -> &'static str {
        match self {
            BalanceSource::Cached => "cached",
            BalanceSource::Snapshot => "snapshot",
            BalanceSource::Live => "live",
            BalanceSource::Unknown => "unknown",
        }
    }

    /// Reads a wire name.
    pub fn from_code(code: &str) -> Option<BalanceSource> {
        match code {
            "cached" => Some(BalanceSource::Cached),
            "snapshot" => Some(BalanceSource::Snapshot),
            "live" => Some(BalanceSource::Live),
            _ => None,
        }
    }
}

/// What a spend relied on: the balance's source, the token it came with, the balance and
/// as of when. Central never takes it for the truth: it applies the spend to its own
/// balance (a shortfall becomes a debt and a flag, as for any offline spend).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpendBasis {
    /// Where the balance came from.
    pub source: BalanceSource,
    /// The token whose claim it was (a snapshot), or that was scanned (a live answer).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_id: Option<TokenId>,
    /// The balance relied on (never negative).
    pub balance: Money,
    /// As of when: the token's issue time (a snapshot) or central's answer (live), unix
    /// seconds.
    pub as_of: i64,
}

impl SpendBasis {
    fn check(&self, currency: Currency) -> Result<(), EventError> {
        money(|| "basis.balance".to_owned(), self.balance, currency)?;
        if self.as_of < 0 {
            return at(|| "basis.as_of".to_owned(), Err("must not be negative"));
        }
        Ok(())
    }
}

fn spend(amount: Money, basis: Option<&SpendBasis>) -> Result<(), EventError> {
    positive("amount", amount)?;
    match basis {
        Some(b) => b.check(amount.currency),
        None => Ok(()),
    }
}

/// What a reversal undoes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reverses {
    /// An earn: the balance goes down (never below zero at the till).
    Earn,
    /// A redemption: the balance goes back up.
    Redemption,
}

/// An earlier savings movement reversed, wholly or in part.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SavingsReversal {
    /// Whose savings.
    pub customer: CustomerRef,
    /// How much (positive).
    pub amount: Money,
    /// What is reversed.
    pub reverses: Reverses,
    /// The event that is reversed, when the till knows it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub original_event: Option<EventId>,
    /// The sale or return it belongs to, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sale_id: Option<SaleId>,
}

/// A gift card debited or credited.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GiftCardMovement {
    /// Which card.
    pub card: GiftCardRef,
    /// How much (positive).
    pub amount: Money,
    /// The sale or return it belongs to, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sale_id: Option<SaleId>,
    /// The hold this debit settles, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hold_id: Option<HoldId>,
    /// For a debit: the balance it relied on when that was not the till's cached copy
    /// (see [`SavingsMovement::basis`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub basis: Option<SpendBasis>,
}

/// An amount of a gift card held during a sale.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GiftCardHold {
    /// Which card.
    pub card: GiftCardRef,
    /// The hold.
    pub hold_id: HoldId,
    /// How much (positive).
    pub amount: Money,
    /// When the hold lapses on its own: unix seconds.
    pub expires_at: i64,
}

/// A hold released without a debit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GiftCardRelease {
    /// Which card.
    pub card: GiftCardRef,
    /// The hold.
    pub hold_id: HoldId,
}

/// An earn-only profile the till created for a customer it did not know (a valid pass
/// whose customer has not reached the till yet).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LocalCustomer {
    /// The customer's reference (the pass's subject).
    pub customer: CustomerRef,
    /// The first name, if the cashier asked for it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_name: Option<String>,
    /// The language to speak to them in, if known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lang: Option<Lang>,
}

/// An event that is well formed JSON but does not make sense.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum EventError {
    /// The event's version is not one this build speaks.
    #[error("unsupported event version {0}")]
    UnsupportedVersion(u16),
    /// A field has a value that cannot be right.
    #[error("{field}: {reason}")]
    Invalid {
        /// The field's path in the payload, e.g. `lines[3].sku`.
        field: String,
        /// What is wrong.
        reason: &'static str,
    },
}

impl EventError {
    /// The field at fault (its path in the payload, e.g. `lines[3].sku`), if any.
    pub fn field(&self) -> Option<&str> {
        match self {
            EventError::Invalid { field, .. } => Some(field),
            EventError::UnsupportedVersion(_) => None,
        }
    }
}

/// A bound's verdict on `field` (its path is only written out for a refusal: the check
/// runs on every event a till stores and central takes).
fn at(field: impl FnOnce() -> String, verdict: Result<(), &'static str>) -> Result<(), EventError> {
    verdict.map_err(|reason| EventError::Invalid {
        field: field(),
        reason,
    })
}

fn positive(field: &'static str, amount: Money) -> Result<(), EventError> {
    if amount.amount > 0 {
        at(|| field.to_owned(), limits::amount(amount))
    } else {
        at(|| field.to_owned(), Err("must be above zero"))
    }
}

/// An amount of the event's currency, within [`limits::amount`].
fn money(
    field: impl FnOnce() -> String,
    amount: Money,
    currency: Currency,
) -> Result<(), EventError> {
    if amount.currency != currency {
        return at(field, Err("currency differs from the rest of the event"));
    }
    at(field, limits::amount(amount))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    fn eur(amount: i64) -> Money {
        Money::new(amount, Currency::EUR)
    }

    pub(crate) fn sale_event(seq: u64) -> JournalEvent {
        JournalEvent::new(
            TillId::new("S001-T01").unwrap(),
            StoreId::new("S001").unwrap(),
            seq,
            1_751_371_200,
            EventPayload::SaleClosed(SaleClosed {
                sale_id: SaleId::new("POS-42").unwrap(),
                customer: Some(CustomerRef::new("c0ffee").unwrap()),
                lines: vec![SaleLine {
                    line_id: "1".into(),
                    sku: "SKU-1".into(),
                    quantity: Quantity::Units(2),
                    unit_price: eur(1000),
                    discount: eur(200),
                    total: eur(1800),
                    savings_earned: Some(eur(18)),
                }],
                effects: vec![EffectSummary {
                    promotion_id: PromotionId::new("SUMMER-10").unwrap(),
                    kind: EffectKind::PercentOff.into(),
                    amount: eur(200),
                    label: Some(Label {
                        es: "Verano −10 %".into(),
                        en: "Summer −10 %".into(),
                    }),
                    lines: vec!["1".into()],
                }],
                tenders: vec![
                    Tender::Savings { amount: eur(300) },
                    Tender::GiftCard {
                        card: GiftCardRef::new("GC-1").unwrap(),
                        amount: eur(500),
                    },
                    Tender::Card { amount: eur(1000) },
                ],
                totals: SaleTotals {
                    gross: eur(2000),
                    discounts: eur(200),
                    net: eur(1800),
                },
                savings_earned: eur(18),
                savings_redeemed: eur(300),
            }),
        )
    }

    #[test]
    fn every_payload_round_trips() {
        let till = TillId::new("T").unwrap();
        let store = StoreId::new("S").unwrap();
        let customer = CustomerRef::new("c1").unwrap();
        let card = GiftCardRef::new("g1").unwrap();
        let payloads = vec![
            sale_event(1).payload,
            EventPayload::ReturnRecorded(ReturnRecorded {
                return_id: SaleId::new("R-1").unwrap(),
                original_sale_id: SaleId::new("POS-42").unwrap(),
                customer: Some(customer.clone()),
                lines: vec![ReturnLine {
                    line_id: "1".into(),
                    quantity: Quantity::Grams(350),
                    refund: eur(900),
                    discount: Some(eur(100)),
                    savings_reversed: Some(eur(9)),
                }],
                refunds: vec![Tender::Cash { amount: eur(900) }],
                savings_reversed: eur(9),
            }),
            EventPayload::TokenUsed(TokenUsed {
                token_id: TokenId::new(&[1; 8]).unwrap(),
                kind: TokenKind::CustomerPass,
                subject: Subject::new("c1").unwrap(),
                key_id: [1, 2, 3, 4],
                sale_id: None,
            }),
            EventPayload::SavingsEarned(SavingsMovement {
                customer: customer.clone(),
                amount: eur(18),
                sale_id: None,
                basis: None,
            }),
            EventPayload::SavingsRedeemed(SavingsMovement {
                customer: customer.clone(),
                amount: eur(300),
                sale_id: Some(SaleId::new("POS-42").unwrap()),
                basis: None,
            }),
            EventPayload::SavingsReversed(SavingsReversal {
                customer: customer.clone(),
                amount: eur(9),
                reverses: Reverses::Earn,
                original_event: Some(EventId([3; 16])),
                sale_id: None,
            }),
            EventPayload::GiftCardDebited(GiftCardMovement {
                card: card.clone(),
                amount: eur(500),
                sale_id: None,
                hold_id: Some(HoldId::new("h1").unwrap()),
                basis: None,
            }),
            EventPayload::GiftCardCredited(GiftCardMovement {
                card: card.clone(),
                amount: eur(100),
                sale_id: None,
                hold_id: None,
                basis: None,
            }),
            EventPayload::GiftCardHeld(GiftCardHold {
                card: card.clone(),
                hold_id: HoldId::new("h1").unwrap(),
                amount: eur(500),
                expires_at: 1_751_372_100,
            }),
            EventPayload::GiftCardReleased(GiftCardRelease {
                card,
                hold_id: HoldId::new("h1").unwrap(),
            }),
            EventPayload::CustomerCreated(LocalCustomer {
                customer,
                first_name: None,
                lang: Some(Lang::En),
            }),
        ];
        for (seq, payload) in payloads.into_iter().enumerate() {
            let kind = payload.kind();
            let seq = u64::try_from(seq).unwrap();
            let event = JournalEvent::new(till.clone(), store.clone(), seq, 1, payload);
            assert_eq!(event.check(), Ok(()), "{kind}");
            let json = serde_json::to_string(&event).unwrap();
            assert!(json.contains(&format!("\"type\":\"{kind}\"")), "{json}");
            let back: JournalEvent = serde_json::from_str(&json).unwrap();
            assert_eq!(back, event);
        }
    }

    #[test]
    fn nonsense_is_refused() {
        let mut event = sale_event(1);
        if let EventPayload::SaleClosed(sale) = &mut event.payload {
            sale.totals.net = eur(1700);
        }
        assert_eq!(event.check().unwrap_err().field(), Some("totals"));

        let mut event = sale_event(1);
        event.v = 99;
        assert_eq!(event.check(), Err(EventError::UnsupportedVersion(99)));

        let event = JournalEvent::new(
            TillId::new("T").unwrap(),
            StoreId::new("S").unwrap(),
            1,
            1,
            EventPayload::SavingsRedeemed(SavingsMovement {
                customer: CustomerRef::new("c").unwrap(),
                amount: eur(0),
                sale_id: None,
                basis: None,
            }),
        );
        assert_eq!(event.check().unwrap_err().field(), Some("amount"));

        let json = serde_json::to_string(&sale_event(1)).unwrap();
        let unknown = json.replace("sale_closed", "sale_exploded");
        assert!(serde_json::from_str::<JournalEvent>(&unknown).is_err());
    }

    #[test]
    fn effect_kinds_are_typed_and_a_newer_one_travels_on_unchanged() {
        for kind in EffectKind::ALL {
            let code = EffectKindCode::from(kind);
            let json = serde_json::to_string(&code).unwrap();
            assert_eq!(json, format!("\"{}\"", kind.code()));
            let back: EffectKindCode = serde_json::from_str(&json).unwrap();
            assert_eq!(back.known(), Some(kind));
        }
        // A kind a newer agent added: kept as written, known to nobody here.
        let newer: EffectKindCode = serde_json::from_str("\"mix_and_match\"").unwrap();
        assert_eq!(newer, EffectKindCode::Newer("mix_and_match".into()));
        assert_eq!(newer.known(), None);
        assert_eq!(serde_json::to_string(&newer).unwrap(), "\"mix_and_match\"");
        assert!(serde_json::from_str::<EffectKindCode>("7").is_err());
    }

    #[test]
    fn fields_added_later_are_optional_and_checked() {
        // An event of an agent from before per-line savings, labels and per-line return
        // amounts still parses.
        let json = serde_json::to_string(&sale_event(1)).unwrap();
        let old = json
            .replace(r#","savings_earned":{"amount":18,"currency":"EUR"}}"#, "}")
            .replace(r#""label":{"es":"Verano −10 %","en":"Summer −10 %"},"#, "");
        assert_ne!(old, json, "the fields were removed");
        let back: JournalEvent = serde_json::from_str(&old).unwrap();
        let EventPayload::SaleClosed(sale) = &back.payload else {
            panic!("not a sale");
        };
        assert_eq!(sale.lines[0].savings_earned, None);
        assert_eq!(sale.effects[0].label, None);
        assert!(back.check().is_ok());

        let mut event = sale_event(1);
        if let EventPayload::SaleClosed(sale) = &mut event.payload {
            sale.lines[0].savings_earned = Some(Money::new(5, Currency::from_code("USD").unwrap()));
        }
        assert_eq!(
            event.check().unwrap_err().field(),
            Some("lines[0].savings_earned")
        );
        let mut ret = ReturnRecorded {
            return_id: SaleId::new("R-1").unwrap(),
            original_sale_id: SaleId::new("POS-42").unwrap(),
            customer: None,
            lines: vec![ReturnLine {
                line_id: "1".into(),
                quantity: Quantity::Units(1),
                refund: eur(900),
                discount: Some(eur(-1)),
                savings_reversed: None,
            }],
            refunds: vec![Tender::Cash { amount: eur(900) }],
            savings_reversed: eur(0),
        };
        assert_eq!(ret.check().unwrap_err().field(), Some("lines[0].discount"));
        ret.lines[0].discount = Some(eur(100));
        assert!(ret.check().is_ok());
    }

    #[test]
    fn every_bound_names_the_field_at_fault() {
        let with = |f: &dyn Fn(&mut SaleClosed)| {
            let mut event = sale_event(1);
            if let EventPayload::SaleClosed(sale) = &mut event.payload {
                f(sale);
            }
            event.check().map_err(|e| e.field().map(str::to_owned))
        };
        assert_eq!(with(&|_| {}), Ok(()));
        // The issue's repro: a TAB in a SKU.
        assert_eq!(
            with(&|s| s.lines[0].sku = "A\tB".into()),
            Err(Some("lines[0].sku".into()))
        );
        assert_eq!(
            with(&|s| s.lines[0].sku = "x".repeat(limits::MAX_TEXT_LEN + 1)),
            Err(Some("lines[0].sku".into()))
        );
        assert_eq!(
            with(&|s| s.lines[0].line_id = "1\n".into()),
            Err(Some("lines[0].line_id".into()))
        );
        assert_eq!(
            with(&|s| s.lines[0].quantity = Quantity::Units(0)),
            Err(Some("lines[0].quantity".into()))
        );
        assert_eq!(
            with(&|s| s.effects[0].lines[0] = "a\u{7f}".into()),
            Err(Some("effects[0].lines[0]".into()))
        );
        assert_eq!(
            with(&|s| s.tenders.push(Tender::Other {
                label: "gift card".into(),
                amount: eur(0)
            })),
            Err(Some("tenders[3].label".into()))
        );
        assert_eq!(
            with(&|s| s.savings_earned = eur(limits::MAX_AMOUNT + 1)),
            Err(Some("savings_earned".into()))
        );
        assert_eq!(
            with(&|s| {
                let line = s.lines[0].clone();
                s.lines = vec![line; limits::MAX_LINES + 1];
            }),
            Err(Some("lines".into()))
        );
        assert_eq!(
            with(&|s| {
                let line = s.lines[0].clone();
                s.lines = vec![line; limits::MAX_LINES];
            }),
            Ok(())
        );
        assert_eq!(
            with(&|s| s.tenders = vec![Tender::Cash { amount: eur(1) }; limits::MAX_TENDERS + 1]),
            Err(Some("tenders".into()))
        );
    }

    /// A spend's basis: the golden wire forms, old and new, each way.
    mod basis {
        use super::*;

        /// A redemption as a till wrote it before the field existed.
        const OLD_REDEMPTION: &str = r#"{"v":1,"id":"00000000000000000000000000000001","seq":1,"till":"S001-T01","store":"S001","occurred_at":1751371200,"payload":{"type":"savings_redeemed","customer":"C-9","amount":{"amount":300,"currency":"EUR"},"sale_id":"POS-1"}}"#;

        /// The same from a till that relied on the pass's snapshot.
        const NEW_REDEMPTION: &str = r#"{"type":"savings_redeemed","customer":"C-9","amount":{"amount":300,"currency":"EUR"},"sale_id":"POS-1","basis":{"source":"snapshot","token_id":"0102030405060708","balance":{"amount":1200,"currency":"EUR"},"as_of":1751370000}}"#;

        fn redemption(basis: Option<SpendBasis>) -> EventPayload {
            EventPayload::SavingsRedeemed(SavingsMovement {
                customer: CustomerRef::new("C-9").unwrap(),
                amount: eur(300),
                sale_id: Some(SaleId::new("POS-1").unwrap()),
                basis,
            })
        }

        fn snapshot() -> SpendBasis {
            SpendBasis {
                source: BalanceSource::Snapshot,
                token_id: Some(TokenId::new(&[1, 2, 3, 4, 5, 6, 7, 8]).unwrap()),
                balance: eur(1200),
                as_of: 1_751_370_000,
            }
        }

        #[test]
        fn an_old_tills_redemption_still_reads_as_a_cached_spend() {
            let event: JournalEvent = match serde_json::from_str(OLD_REDEMPTION) {
                Ok(e) => e,
                Err(e) => panic!("an old journal no longer reads: {e}"),
            };
            assert_eq!(event.check(), Ok(()));
            assert_eq!(event.payload, redemption(None));
            // Written again, it is byte for byte what the old till sent.
            assert_eq!(serde_json::to_string(&event).unwrap(), OLD_REDEMPTION);
        }

        #[test]
        fn a_snapshot_spend_has_one_wire_form() {
            let payload = redemption(Some(snapshot()));
            assert_eq!(serde_json::to_string(&payload).unwrap(), NEW_REDEMPTION);
            let back: EventPayload = serde_json::from_str(NEW_REDEMPTION).unwrap();
            assert_eq!(back, payload);
            assert_eq!(payload.check(), Ok(()));
        }

        /// A central built before the field reads the payload with the struct it knew:
        /// the same fields less `basis`. Serde ignores fields it does not know unless
        /// told otherwise, and no journal struct is: this pins it.
        #[test]
        fn a_central_that_does_not_know_the_field_still_reads_the_spend() {
            #[derive(Deserialize)]
            #[serde(tag = "type", rename_all = "snake_case")]
            enum OldPayload {
                SavingsRedeemed {
                    customer: CustomerRef,
                    amount: Money,
                    sale_id: Option<SaleId>,
                },
            }
            let OldPayload::SavingsRedeemed {
                customer,
                amount,
                sale_id,
            } = serde_json::from_str::<OldPayload>(NEW_REDEMPTION).unwrap();
            assert_eq!(customer.as_str(), "C-9");
            assert_eq!(amount, eur(300));
            assert_eq!(sale_id.unwrap().as_str(), "POS-1");
            // And the event envelope with an unknown field as well.
            let mut raw: serde_json::Value = serde_json::from_str(OLD_REDEMPTION).unwrap();
            raw["payload"]["basis"] = serde_json::from_str(
                r#"{"source":"live","balance":{"amount":5,"currency":"EUR"},"as_of":7,"later":1}"#,
            )
            .unwrap();
            let event: JournalEvent = serde_json::from_value(raw).unwrap();
            assert_eq!(event.check(), Ok(()));
        }

        #[test]
        fn a_basis_is_checked_like_the_rest_of_the_event() {
            let with = |f: &dyn Fn(&mut SpendBasis)| {
                let mut b = snapshot();
                f(&mut b);
                redemption(Some(b))
                    .check()
                    .map_err(|e| e.field().map(str::to_owned))
            };
            assert_eq!(with(&|_| {}), Ok(()));
            assert_eq!(with(&|b| b.balance = eur(0)), Ok(()));
            assert_eq!(
                with(&|b| b.balance = eur(-1)),
                Err(Some("basis.balance".into()))
            );
            assert_eq!(
                with(&|b| b.balance = Money::new(5, Currency::from_code("USD").unwrap())),
                Err(Some("basis.balance".into()))
            );
            assert_eq!(
                with(&|b| b.balance = eur(limits::MAX_AMOUNT + 1)),
                Err(Some("basis.balance".into()))
            );
            assert_eq!(with(&|b| b.as_of = -1), Err(Some("basis.as_of".into())));
            for source in [
                BalanceSource::Cached,
                BalanceSource::Snapshot,
                BalanceSource::Live,
            ] {
                assert_eq!(BalanceSource::from_code(source.code()), Some(source));
                assert_eq!(
                    serde_json::to_string(&source).unwrap(),
                    format!("\"{}\"", source.code())
                );
            }
        }
    }
}
