//! Loyalty tenders: a savings redemption (the amount the cashier chose) or a gift card
//! (a hold for the sale, debited at close, released at cancel or when it lapses).
//!
//! A customer or a card whose balance is a token's signed snapshot (`store::claims`) is
//! never "synced": the catalog's offline cap (`savings.offline_redeem_cap`,
//! `gift_cards.offline_cap_per_card`) bounds what this till spends against it, online or
//! not, and reaching it is refused as `snapshot_cap_reached`.

use rusqlite::Connection;
use tillpass_engine::{GiftCard, GiftCardHold, GiftCardRequest, RedemptionRequest};
use tillpass_protocol::money::{Currency, Money};
use tillpass_protocol::sync::{self, EventPayload};

use super::model::{TenderInput, TenderView};
use super::{ApiError, Ctx, Session, check_open, check_version, context};
use crate::store::{balances, claims, journal};
use tillpass_engine::TenderRefusal;
use tillpass_protocol::problem::ErrorCode;
use tillpass_protocol::sync::BalanceSource;

/// The most loyalty tenders one sale may carry (the journal's bound).
pub const MAX_TENDERS: usize = tillpass_protocol::sync::limits::MAX_LOYALTY_TENDERS;

/// A gift card named by the request: its reference, from a scan verified before the
/// transaction or typed.
#[derive(Debug, Clone)]
pub enum CardRef {
    /// Not a gift-card tender.
    None,
    /// The card's reference.
    Card(String),
}

/// Adds a tender to the session (not stored: the caller does).
pub fn add(
    conn: &Connection,
    ctx: &Ctx,
    mut session: Session,
    version: u64,
    tender: TenderInput,
    card: CardRef,
) -> Result<Session, ApiError> {
    check_open(&session)?;
    check_version(&session, version)?;
    if session.tenders.len() >= MAX_TENDERS {
        return Err(ApiError::new(
            ErrorCode::TooManyTenders,
            format!("at most {MAX_TENDERS} loyalty tenders per sale"),
        ));
    }
    if let Some(reason) = &ctx.earn_only {
        return Err(ApiError::new(
            ErrorCode::EarnOnly,
            format!("the till accepts no loyalty spending right now: {reason}"),
        ));
    }
    let currency = session.evaluation.currency;
    let due = session.amount_due();
    let view = match tender {
        TenderInput::Savings { amount } => savings(conn, ctx, &session, currency, amount, due)?,
        TenderInput::GiftCard { amount, .. } => {
            let CardRef::Card(card_ref) = card else {
                return Err(ApiError::invalid(
                    "tender",
                    "a gift-card tender needs `scan` (the card's QR) or `card_id`",
                ));
            };
            gift_card(conn, ctx, &session, &card_ref, amount, due)?
        }
    };
    session.tenders.push(view);
    session.version = session.version.saturating_add(1);
    Ok(session)
}

fn savings(
    conn: &Connection,
    ctx: &Ctx,
    session: &Session,
    currency: Currency,
    amount: Money,
    due: Money,
) -> Result<TenderView, ApiError> {
    let customer = match &session.customer_ref {
        Some(r) => context::customer(conn, r, currency, ctx.online, ctx.now_i64())?,
        None => None,
    };
    if let Some(c) = &customer
        && c.view.earn_only
    {
        return Err(ApiError::new(
            ErrorCode::CustomerEarnOnly,
            "this customer's profile was created at this till and is not confirmed by \
             central yet: they can earn savings but not spend them",
        ));
    }
    // Savings tendered in the customer's other open sessions (another POS lane) are spent
    // in effect: they count as already redeemed, for the balance and for the caps.
    let elsewhere = match &session.customer_ref {
        Some(r) => crate::store::pos_sessions::open_savings_tendered(
            conn,
            r,
            &session.session_id,
            ctx.now_i64()
                .saturating_sub(crate::store::pos_sessions::OPEN_TENDER_WINDOW_SECS),
        )?,
        None => 0,
    };
    let request = RedemptionRequest {
        amount,
        amount_due: due,
        already_redeemed: Money::new(
            session.savings_tendered().saturating_add(elsewhere.max(0)),
            currency,
        ),
    };
    let source = customer
        .as_ref()
        .map_or(BalanceSource::Cached, |c| c.view.balance_source);
    let accepted = ctx
        .engine()?
        .check_savings_redemption(customer.as_ref().map(|c| &c.context), &request)
        .map_err(|r| refused(&r, source))?;
    // Central's own cap while unsynced applies on top of the catalog's.
    if let (false, Some(policy), Some(c)) = (ctx.online, &ctx.policy, &customer) {
        let cap = policy.max_savings_spend_per_customer;
        let spent = c
            .context
            .offline_redeemed
            .amount
            .saturating_add(request.already_redeemed.amount);
        offline_cap(cap, currency, spent, accepted.amount)?;
    }
    Ok(TenderView::Savings { amount: accepted })
}

fn gift_card(
    conn: &Connection,
    ctx: &Ctx,
    session: &Session,
    card_ref: &str,
    amount: Option<Money>,
    due: Money,
) -> Result<TenderView, ApiError> {
    let Some(card) = balances::card(conn, card_ref)? else {
        return Err(ApiError::new(
            ErrorCode::UnknownGiftCard,
            "this till does not know the gift card: check the card, or wait for the till to \
             sync with central",
        ));
    };
    let currency = Currency::from_code(&card.currency).map_err(|_| {
        ApiError::store(&crate::store::StoreError::Corrupted(format!(
            "gift card {card_ref}: currency {}",
            card.currency
        )))
    })?;
    let holds: Vec<GiftCardHold> = balances::holds_on(conn, card_ref)?
        .into_iter()
        .map(|h| GiftCardHold {
            card_id: h.card_ref,
            session_id: h.session_id,
            amount: Money::new(h.amount, currency),
            expires_at: u64::try_from(h.expires_at).unwrap_or(0),
        })
        .collect();
    let source = claims::get(conn, claims::Kind::GiftCard, card_ref)?
        .map_or(BalanceSource::Cached, |c| c.source);
    let engine_card = GiftCard {
        card_id: card.card_ref.clone(),
        balance: Money::new(
            card.synced_balance.saturating_sub(card.unsynced_spent),
            currency,
        ),
        expires_at: card.expires_at.and_then(|e| u64::try_from(e).ok()),
        blocked: card.blocked,
        balance_synced: context::synced(source, ctx.online),
        offline_spent: Money::new(card.unsynced_spent.max(0), currency),
    };
    let request = GiftCardRequest {
        session_id: session.session_id.clone(),
        amount,
        amount_due: due,
    };
    let hold = ctx
        .engine()?
        .authorize_gift_card(&engine_card, &holds, &request, ctx.now)
        .map_err(|r| refused(&r, source))?;
    if let (false, Some(policy)) = (ctx.online, &ctx.policy) {
        let held: i64 = holds
            .iter()
            .filter(|h| h.is_active(ctx.now))
            .fold(0_i64, |acc, h| acc.saturating_add(h.amount.amount));
        let spent = card.unsynced_spent.max(0).saturating_add(held);
        offline_cap(
            policy.max_gift_card_spend_per_card,
            currency,
            spent,
            hold.amount.amount,
        )?;
    }
    let hold_id = new_hold_id()?;
    let expires_at = i64::try_from(hold.expires_at).unwrap_or(i64::MAX);
    balances::hold(
        conn,
        &balances::Hold {
            hold_id: hold_id.clone(),
            card_ref: card_ref.to_owned(),
            session_id: session.session_id.clone(),
            amount: hold.amount.amount,
            expires_at,
        },
    )?;
    journal::append(
        conn,
        &ctx.who,
        ctx.now_i64(),
        EventPayload::GiftCardHeld(sync::GiftCardHold {
            card: gift_card_ref(card_ref)?,
            hold_id: hold_ref(&hold_id)?,
            amount: hold.amount,
            expires_at,
        }),
    )?;
    Ok(TenderView::GiftCard {
        card_id: card_ref.to_owned(),
        hold_id,
        amount: hold.amount,
        expires_at: hold.expires_at,
    })
}

/// A refused tender; the offline cap of a balance from a token's snapshot is refused with
/// a code and a cashier message of its own (`snapshot_cap_reached`), with what is left.
fn refused(refusal: &TenderRefusal, source: BalanceSource) -> ApiError {
    match (refusal, source) {
        (TenderRefusal::OfflineCapReached { remaining }, BalanceSource::Snapshot) => {
            let error = ApiError::new(
                ErrorCode::SnapshotCapReached,
                format!(
                    "the balance comes from the customer's QR, not from central: at most \
                     {} more can be spent from it at this till",
                    remaining.amount
                ),
            );
            match serde_json::to_value(remaining) {
                Ok(value) => error.with("remaining", value),
                Err(_) => error,
            }
        }
        _ => ApiError::tender(refusal),
    }
}

/// Refuses `amount` when `spent` already used up central's offline `cap` (a cap in another
/// currency than the sale's is not comparable and does not apply).
fn offline_cap(cap: Money, currency: Currency, spent: i64, amount: i64) -> Result<(), ApiError> {
    if cap.currency != currency {
        return Ok(());
    }
    let remaining = cap.amount.saturating_sub(spent).max(0);
    if amount > remaining {
        return Err(ApiError::tender(
            &tillpass_engine::TenderRefusal::OfflineCapReached {
                remaining: Money::new(remaining, currency),
            },
        ));
    }
    Ok(())
}

fn new_hold_id() -> Result<String, ApiError> {
    let mut bytes = [0u8; 12];
    getrandom::fill(&mut bytes).map_err(|e| {
        ApiError::store(&crate::store::StoreError::Corrupted(format!(
            "no randomness for a hold id: {e}"
        )))
    })?;
    Ok(format!("h-{}", hex::encode(bytes)))
}

/// A gift card's reference for the journal.
pub fn gift_card_ref(card: &str) -> Result<sync::GiftCardRef, ApiError> {
    sync::GiftCardRef::new(card).map_err(|e| ApiError::invalid("card_id", e.to_string()))
}

/// A hold's id for the journal.
pub fn hold_ref(hold: &str) -> Result<sync::HoldId, ApiError> {
    sync::HoldId::new(hold).map_err(|e| {
        ApiError::store(&crate::store::StoreError::Corrupted(format!(
            "hold id: {e}"
        )))
    })
}
