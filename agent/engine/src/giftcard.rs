//! Gift cards as tenders: whether a card may pay, and how much, given its balance, its
//! holds, its expiry and the offline cap. The agent stores the cards and the holds; the
//! engine only decides.
//!
//! A tender places a **hold** on the card for the session, with a time-to-live from the
//! catalog's gift-card rules. Holds count against the balance until they lapse, are
//! released (the sale is cancelled: the agent deletes them) or become a debit (the sale
//! closes). A return re-credits the card pro rata (see [`crate::returns`]).

use serde::{Deserialize, Serialize};
use tillpass_protocol::catalog::GiftCardRules;
use tillpass_protocol::money::{Currency, Money};

use crate::refusal::TenderRefusal;

/// A gift card as the agent's store knows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GiftCard {
    /// The card's id.
    pub card_id: String,
    /// The balance (its currency is the card's).
    pub balance: Money,
    /// When the card expires (unix seconds); `None` if it never does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<u64>,
    /// Whether central blocked the card (lost, stolen, fraud).
    #[serde(default)]
    pub blocked: bool,
    /// Whether the balance was confirmed by central (the till is in sync). When `false`,
    /// tenders are also limited by the offline cap per card.
    pub balance_synced: bool,
    /// What this card paid at this till since the last sync.
    pub offline_spent: Money,
}

/// A hold on a gift card for one session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GiftCardHold {
    /// The card.
    pub card_id: String,
    /// The POS session (transaction) holding it.
    pub session_id: String,
    /// The amount held.
    pub amount: Money,
    /// When the hold lapses by itself (unix seconds).
    pub expires_at: u64,
}

impl GiftCardHold {
    /// Whether the hold still counts at `now`.
    pub fn is_active(&self, now: u64) -> bool {
        now < self.expires_at
    }
}

/// A gift-card tender the cashier asks for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GiftCardRequest {
    /// The POS session.
    pub session_id: String,
    /// The amount to take; `None` takes as much as the card can pay, up to the amount due
    /// (partial payment).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount: Option<Money>,
    /// What is left to pay in the sale.
    pub amount_due: Money,
}

/// What a card can pay now: its balance less its active holds and, while unsynced, what
/// is left of the offline cap. Never negative.
pub fn spendable(
    card: &GiftCard,
    holds: &[GiftCardHold],
    rules: &GiftCardRules,
    now: u64,
) -> Money {
    let held: i64 = holds
        .iter()
        .filter(|h| h.card_id == card.card_id && h.is_active(now))
        .fold(0_i64, |acc, h| acc.saturating_add(h.amount.amount.max(0)));
    let mut left = card.balance.amount.saturating_sub(held).max(0);
    if !card.balance_synced {
        let offline = rules
            .offline_cap_per_card
            .saturating_sub(card.offline_spent.amount.max(0))
            .saturating_sub(held)
            .max(0);
        left = left.min(offline);
    }
    Money::new(left, card.balance.currency)
}

/// Decides a gift-card tender: a hold to store on success, a refusal with its reason
/// otherwise.
pub(crate) fn authorize(
    currency: Currency,
    rules: &GiftCardRules,
    card: &GiftCard,
    holds: &[GiftCardHold],
    request: &GiftCardRequest,
    now: u64,
) -> Result<GiftCardHold, TenderRefusal> {
    let mut currencies = vec![card.balance.currency, request.amount_due.currency];
    currencies.extend(request.amount.map(|a| a.currency));
    for found in currencies {
        if found != currency {
            return Err(TenderRefusal::CurrencyMismatch {
                expected: currency,
                found,
            });
        }
    }
    if card.blocked {
        return Err(TenderRefusal::CardBlocked);
    }
    if let Some(expired_at) = card.expires_at
        && now >= expired_at
    {
        return Err(TenderRefusal::CardExpired { expired_at });
    }
    let due = request.amount_due;
    if due.amount <= 0 {
        return Err(TenderRefusal::NothingDue);
    }
    let held: i64 = holds
        .iter()
        .filter(|h| h.card_id == card.card_id && h.is_active(now))
        .fold(0_i64, |acc, h| acc.saturating_add(h.amount.amount.max(0)));
    let balance_left = card.balance.amount.saturating_sub(held).max(0);
    let offline_left = (!card.balance_synced).then(|| {
        rules
            .offline_cap_per_card
            .saturating_sub(card.offline_spent.amount.max(0))
            .saturating_sub(held)
            .max(0)
    });
    let amount = match request.amount {
        Some(asked) => {
            if asked.amount <= 0 {
                return Err(TenderRefusal::NotPositive);
            }
            if asked.amount > due.amount {
                return Err(TenderRefusal::ExceedsAmountDue { due });
            }
            asked.amount
        }
        None => due
            .amount
            .min(balance_left)
            .min(offline_left.unwrap_or(i64::MAX)),
    };
    if amount > balance_left || balance_left == 0 {
        return Err(TenderRefusal::InsufficientBalance {
            available: Money::new(balance_left, currency),
        });
    }
    if let Some(offline_left) = offline_left
        && (amount > offline_left || offline_left == 0)
    {
        return Err(TenderRefusal::OfflineCapReached {
            remaining: Money::new(offline_left, currency),
        });
    }
    if !rules.partial_payment && amount < due.amount {
        return Err(TenderRefusal::PartialPaymentNotAllowed { due });
    }
    Ok(GiftCardHold {
        card_id: card.card_id.clone(),
        session_id: request.session_id.clone(),
        amount: Money::new(amount, currency),
        expires_at: now.saturating_add(u64::from(rules.hold_ttl_seconds)),
    })
}
