//! The POS API's bodies: what the POS sends and what the agent answers. Money is always
//! `{"amount": minor units, "currency": "EUR"}`.

use serde::{Deserialize, Serialize};
use tillpass_engine::{Evaluation, Line, ReturnOutcome, VoucherStatus};
use tillpass_protocol::money::{Currency, Money};
use tillpass_protocol::sync::BalanceSource;
use utoipa::ToSchema;

/// Money in the API: integer minor units and an ISO 4217 currency.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[schema(as = Money)]
pub struct MoneySchema {
    /// Minor units (cents for EUR).
    pub amount: i64,
    /// ISO 4217 code.
    #[schema(example = "EUR")]
    pub currency: String,
}

/// `PUT /v1/sessions/{id}`: the whole cart, as it stands now.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PutSession {
    /// The session's current version, to update it; leave out to create it.
    #[serde(default)]
    pub version: Option<u64>,
    pub cart: CartInput,
    /// A customer pass scanned by the POS's own scanner for this sale.
    #[serde(default)]
    pub customer_scan: Option<String>,
    /// Take the customer the till's scanner identified last (default `true`).
    #[serde(default = "yes")]
    pub use_current_customer: bool,
    /// Voucher QRs scanned for this sale.
    #[serde(default)]
    pub voucher_scans: Vec<String>,
}

fn yes() -> bool {
    true
}

/// The cart: its currency and lines.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CartInput {
    /// ISO 4217 code; must be the catalog's.
    #[schema(value_type = String, example = "EUR")]
    pub currency: Currency,
    /// The lines: `{line_id, sku, category?, brand?, quantity: {units: n} | {grams: n},
    /// unit_price: Money, no_promotion?, gift_card_purchase?}`. The journal's bounds
    /// (central refuses anything beyond them, so the till does too, with 422 and the
    /// field): at most 1000 lines; `line_id` 1 to 64 bytes and `sku` at most 256 bytes,
    /// neither with a control character (TAB, line break…); `quantity` at least 1;
    /// `unit_price`, each line's amount and the cart's total at most 10^15 minor units.
    #[schema(value_type = Vec<Object>)]
    pub lines: Vec<Line>,
}

/// `POST /v1/sessions/{id}/tenders`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TenderRequest {
    /// The version this change starts from, as the last answer gave it; a stale one is
    /// a 409.
    pub version: u64,
    pub tender: TenderInput,
}

/// A loyalty tender.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum TenderInput {
    /// Pay with the customer's savings: the amount the cashier chose.
    Savings {
        /// In the cart's currency.
        #[schema(value_type = MoneySchema)]
        amount: Money,
    },
    /// Pay with a gift card, scanned or by its id: a hold is placed for the sale.
    GiftCard {
        /// The gift card's QR as scanned; or give `card_id`.
        #[serde(default)]
        scan: Option<String>,
        /// The card's reference, when typed.
        #[serde(default)]
        card_id: Option<String>,
        /// How much; the most the card can pay when left out.
        #[serde(default)]
        #[schema(value_type = Option<MoneySchema>)]
        amount: Option<Money>,
    },
}

/// A payment the POS took itself (cash, bank card, …), given at close.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Payment {
    /// `cash`, `card` or another method's name: 1 to 32 of `A-Z a-z 0-9 _ -`.
    pub method: String,
    /// In the cart's currency.
    #[schema(value_type = MoneySchema)]
    pub amount: Money,
}

/// `POST /v1/sessions/{id}/close`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CloseRequest {
    /// The version this change starts from, as the last answer gave it; a stale one is
    /// a 409.
    pub version: u64,
    /// The POS's own payments for what the loyalty tenders leave due (at most 20); they
    /// must add up to it. Left out: the amount due is recorded as paid at the POS.
    #[serde(default)]
    pub payments: Vec<Payment>,
}

/// `POST /v1/sessions/{id}/cancel`.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CancelRequest {
    /// The session's current version; left out, whatever it is.
    #[serde(default)]
    pub version: Option<u64>,
}

/// `POST /v1/sessions/{id}/returns`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReturnRequest {
    /// The POS's id for the return.
    pub return_id: String,
    /// The lines coming back (a line at most once).
    pub lines: Vec<ReturnLineInput>,
}

/// A line coming back.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReturnLineInput {
    /// The `line_id` of the sale's line.
    pub line: String,
    /// Units (or grams, for a weighed line).
    pub qty: u32,
}

/// A session as the POS sees it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SessionView {
    /// The POS's transaction id.
    pub session_id: String,
    /// Send it back with the next change; a stale one gets 409.
    pub version: u64,
    /// `open`, `closed` or `cancelled`.
    pub state: String,
    /// The customer, if identified.
    pub customer: Option<CustomerSummary>,
    /// The vouchers presented and what became of them.
    pub vouchers: Vec<VoucherView>,
    /// Every line, effect and total, exact in minor units.
    #[schema(value_type = Object)]
    pub evaluation: Evaluation,
    /// The loyalty tenders placed.
    pub tenders: Vec<TenderView>,
    /// What is left to pay.
    #[schema(value_type = MoneySchema)]
    pub amount_due: Money,
    /// Why spending (savings, gift cards) is refused right now, if it is.
    pub earn_only: Option<String>,
    /// The receipt, once closed.
    pub receipt: Option<Receipt>,
}

/// The customer of a session.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CustomerSummary {
    /// Central's opaque reference of the customer (no personal data).
    pub customer_ref: String,
    /// First name, if known.
    pub first_name: Option<String>,
    /// The customer's loyalty tier, if central gave one.
    pub tier: Option<String>,
    /// Language to speak to them in.
    pub lang: String,
    /// A profile made at this till and not yet confirmed by central, with no balance
    /// claim to spend from: earning only.
    pub earn_only: bool,
    /// Where `savings` comes from: `cached` (central's balance, from the till's sync),
    /// `snapshot` (the balance the customer's pass claims, signed by central when it was
    /// issued: spendable only within the catalog's offline cap, which `available`
    /// already reflects) or `live` (central's answer when the pass was scanned). Absent
    /// when the till has no savings balance for the customer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, example = "snapshot")]
    pub balance_source: Option<BalanceSource>,
    /// For a `snapshot` or `live` balance: as of when, unix seconds (the pass's issue, or
    /// central's answer).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub balance_as_of: Option<i64>,
    /// Savings now: spendable and pending.
    pub savings: Option<SavingsSummary>,
    /// Savings once this sale closes as it stands.
    pub tentative: Option<SavingsSummary>,
}

/// A savings balance.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SavingsSummary {
    /// Spendable now: what a savings tender can use.
    #[schema(value_type = MoneySchema)]
    pub available: Money,
    /// Earned, spendable after the return window.
    #[schema(value_type = MoneySchema)]
    pub pending: Money,
}

/// A voucher of the session.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct VoucherView {
    pub code: String,
    /// `applied`, `not_applicable` or `unknown`.
    #[schema(value_type = String)]
    pub status: VoucherStatus,
}

/// A loyalty tender of the session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum TenderView {
    /// Paid with the customer's savings.
    Savings {
        #[schema(value_type = MoneySchema)]
        amount: Money,
    },
    /// A gift card, held until the sale closes or the hold lapses.
    GiftCard {
        /// The gift card's reference.
        card_id: String,
        /// The till's id of the hold on the card for this sale.
        hold_id: String,
        /// What the hold reserves on the card.
        #[schema(value_type = MoneySchema)]
        amount: Money,
        /// When the hold lapses, unix seconds.
        expires_at: u64,
    },
}

/// What the POS prints, and central sends as the digital receipt.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Receipt {
    /// The POS's transaction id: the session's.
    pub sale_id: String,
    /// The till that closed the sale, as enrolled.
    pub till_id: String,
    /// When it closed, unix seconds.
    pub closed_at: u64,
    /// The customer, if identified.
    pub customer_ref: Option<String>,
    /// The lines' total before discounts.
    #[schema(value_type = MoneySchema)]
    pub gross: Money,
    /// All discounts given; never more than `gross`.
    #[schema(value_type = MoneySchema)]
    pub discount: Money,
    /// What the customer paid: `gross − discount`.
    #[schema(value_type = MoneySchema)]
    pub net: Money,
    /// The promotions applied, with their labels.
    pub promotions: Vec<ReceiptPromotion>,
    /// Savings earned by this sale.
    #[schema(value_type = MoneySchema)]
    pub savings_earned: Money,
    /// When the earned savings become spendable, unix seconds.
    pub savings_pending_until: Option<u64>,
    /// Savings spent in this sale.
    #[schema(value_type = MoneySchema)]
    pub savings_redeemed: Money,
    /// The customer's savings after the sale.
    pub savings_after: Option<SavingsSummary>,
    /// Gift cards charged, with what is left on them.
    pub gift_cards: Vec<ReceiptGiftCard>,
    /// The POS's own payments.
    pub payments: Vec<Payment>,
}

/// A promotion line of the receipt.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ReceiptPromotion {
    /// The promotion's id in the catalog.
    pub promotion_id: String,
    /// Its label in Spanish.
    pub label_es: String,
    /// Its label in English.
    pub label_en: String,
    /// The discount (or bonus savings).
    #[schema(value_type = MoneySchema)]
    pub amount: Money,
}

/// A gift card of the receipt.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ReceiptGiftCard {
    /// The gift card's reference.
    pub card_id: String,
    /// What this sale took from the card.
    #[schema(value_type = MoneySchema)]
    pub charged: Money,
    /// Left on it, as this till knows.
    #[schema(value_type = MoneySchema)]
    pub remaining: Money,
}

/// A return's answer.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ReturnView {
    /// The POS's id for the return, as sent.
    pub return_id: String,
    /// The sale the lines come back from.
    pub sale_id: String,
    /// Lines, refund, savings reversed, and each tender's share of the refund (savings
    /// and gift cards are re-credited; the rest is the POS's to pay back).
    #[schema(value_type = Object)]
    pub outcome: ReturnOutcome,
    /// The customer's savings after the return.
    pub savings_after: Option<SavingsSummary>,
}
