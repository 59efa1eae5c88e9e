//! Closing a session — the commit of a sale — and cancelling one.
//!
//! A close writes, in the caller's one transaction: the sale and its effects, the
//! customer's savings (earned pending, redeemed spent) and promotion uses, each gift-card
//! hold turned into a debit, each voucher the sale applied recorded as used, and the journal
//! events for central (`token_used` for those vouchers, `sale_closed`, then
//! `savings_earned`, `savings_redeemed`, `gift_card_debited`). It answers the receipt.
//!
//! A voucher is spent here, not when it is scanned into the session: a cancelled sale, or
//! a voucher taken off the cart or that no promotion used, leaves it to the customer. Two
//! open sessions may hold the same voucher; the first to close spends it and the other's
//! close is refused (`voucher_used`) until the voucher is taken off its cart.

use rusqlite::Connection;
use tillpass_engine::{ClosedSale, Tender, VoucherStatus};
use tillpass_protocol::money::{Currency, Money};
use tillpass_protocol::sync::{
    self, EventPayload, GiftCardMovement, GiftCardRelease, SavingsMovement, SpendBasis, TokenUsed,
};
use tillpass_protocol::token::{Subject, TokenId, TokenKind};

use super::events::{self, customer, sale_id};
use super::model::{
    Payment, Receipt, ReceiptGiftCard, ReceiptPromotion, SavingsSummary, TenderView,
};
use super::tenders::{gift_card_ref, hold_ref};
use super::{ApiError, Ctx, Session, State, check_open, check_version};
use crate::store::{balances, claims, customers, journal, sales, tokens};
use tillpass_protocol::problem::ErrorCode;

/// The longest payment method name (the journal's bound).
pub const MAX_METHOD: usize = tillpass_protocol::sync::limits::MAX_METHOD_LEN;
/// The most payments a close may list (the journal's bound).
pub const MAX_PAYMENTS: usize = tillpass_protocol::sync::limits::MAX_PAYMENTS;

/// The method recorded when the POS does not list its payments.
pub const POS_METHOD: &str = "pos";

/// Records each voucher the sale applied as used, with its `token_used` event; refuses
/// with `voucher_used` when another sale spent one since it was scanned.
fn spend_vouchers(
    conn: &Connection,
    ctx: &Ctx,
    session: &Session,
    sid: &sync::SaleId,
) -> Result<(), ApiError> {
    let corrupted = |what: &str| {
        ApiError::store(&crate::store::StoreError::Corrupted(format!(
            "session {}: {what}",
            session.session_id
        )))
    };
    let mut spent_codes: Vec<&str> = Vec::new();
    for voucher in &session.vouchers {
        let applied = session
            .evaluation
            .vouchers
            .iter()
            .any(|o| o.code == voucher.code && o.status == VoucherStatus::Applied);
        // The engine applies a code once: a second token with the same code stays unspent.
        if !applied || spent_codes.contains(&voucher.code.as_str()) {
            continue;
        }
        spent_codes.push(&voucher.code);
        let Some(token) = voucher.token.as_ref() else {
            continue;
        };
        let id: [u8; 8] = hex::decode(&token.token_id)
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| corrupted("voucher token id"))?;
        let key_id: [u8; 4] = hex::decode(&token.key_id)
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| corrupted("voucher key id"))?;
        let token_id = TokenId(id);
        if tokens::uses(conn, &token_id)? > 0 {
            return Err(ApiError::new(
                ErrorCode::VoucherUsed,
                format!(
                    "voucher {} was spent by another sale since it was scanned: take it off \
                     this sale (PUT the cart without it) and close again",
                    voucher.code
                ),
            ));
        }
        let subject =
            Subject::new(voucher.code.as_bytes()).ok_or_else(|| corrupted("voucher code"))?;
        tokens::record_use(
            conn,
            &token_id,
            TokenKind::Voucher,
            &subject,
            token.expires_at,
            ctx.now_i64(),
            Some(&session.session_id),
        )?;
        journal::append(
            conn,
            &ctx.who,
            ctx.now_i64(),
            EventPayload::TokenUsed(TokenUsed {
                token_id: sync::TokenId::new(&id).map_err(|_| corrupted("voucher token id"))?,
                kind: sync::TokenKind::Voucher,
                subject: sync::Subject::new(voucher.code.clone())
                    .map_err(|_| corrupted("voucher code"))?,
                key_id,
                sale_id: Some(sid.clone()),
            }),
        )?;
    }
    Ok(())
}

/// Closes the session: commits the sale. Returns the closed session (not stored: the
/// caller does, in the same transaction).
pub fn close(
    conn: &Connection,
    ctx: &Ctx,
    mut session: Session,
    version: u64,
    payments: Vec<Payment>,
) -> Result<Session, ApiError> {
    check_open(&session)?;
    check_version(&session, version)?;
    let evaluation = session.evaluation.clone();
    let currency = evaluation.currency;
    let due = session.amount_due();
    let payments = checked_payments(payments, due, currency)?;

    // Every gift-card hold must still be there and not have lapsed.
    let holds = balances::holds_of(conn, &session.session_id)?;
    for t in &session.tenders {
        if let TenderView::GiftCard { hold_id, .. } = t {
            let live = holds.iter().any(|h| {
                &h.hold_id == hold_id && i64::try_from(ctx.now).unwrap_or(i64::MAX) < h.expires_at
            });
            if !live {
                return Err(ApiError::new(
                    ErrorCode::HoldLapsed,
                    format!(
                        "the gift-card hold {hold_id} lapsed before the close: cancel the \
                         session and tender the card again"
                    ),
                ));
            }
        }
    }

    let mut tenders = super::events::loyalty_tenders(&session)?;
    tenders.extend(
        payments
            .iter()
            .map(|p| Tender::paid_at_pos(&p.method, p.amount)),
    );
    let closed = ClosedSale::new(evaluation.clone(), tenders)
        .map_err(|e| ApiError::new(ErrorCode::TendersDoNotMatch, e.to_string()))?;

    let now = ctx.now_i64();
    let who = &ctx.who;
    let sid = sale_id(&session.session_id)?;
    let earned = evaluation.totals.savings.total;
    let redeemed = Money::new(session.savings_tendered(), currency);
    let customer_ref = session.customer_ref.clone();

    // A sale of another till kept here under this id makes way for the sale closing here.
    if let Some((till, origin)) = sales::origin_of(conn, &session.session_id)?
        && origin == "store"
        && !sales::make_way(conn, &session.session_id)?
    {
        return Err(ApiError::new(
            ErrorCode::SaleIdInUse,
            format!(
                "sale id {} belongs to a sale of till {till} that was returned here: sale \
                 ids must be unique in the store — cancel this session and use another id",
                session.session_id
            ),
        ));
    }
    spend_vouchers(conn, ctx, &session, &sid)?;
    journal::append(
        conn,
        who,
        now,
        EventPayload::SaleClosed(events::sale_closed(
            &session.session_id,
            customer_ref.as_deref(),
            &evaluation,
            &closed.tenders,
            redeemed,
        )?),
    )?;
    // What the spends relied on, read before they move the balances.
    let savings_basis = match &customer_ref {
        Some(r) if redeemed.amount > 0 => basis(conn, claims::Kind::Customer, r)?,
        _ => None,
    };
    if let Some(r) = &customer_ref {
        balances::savings_moved(conn, r, currency.code(), earned.amount, redeemed.amount)?;
        sales::count_uses(conn, r, &evaluation.promotions_used)?;
        if earned.amount > 0 {
            journal::append(
                conn,
                who,
                now,
                EventPayload::SavingsEarned(SavingsMovement {
                    customer: customer(r)?,
                    amount: earned,
                    sale_id: Some(sid.clone()),
                    basis: None,
                }),
            )?;
        }
        if redeemed.amount > 0 {
            journal::append(
                conn,
                who,
                now,
                EventPayload::SavingsRedeemed(SavingsMovement {
                    customer: customer(r)?,
                    amount: redeemed,
                    sale_id: Some(sid.clone()),
                    basis: savings_basis.clone(),
                }),
            )?;
        }
    }
    let mut gift_cards = Vec::new();
    for t in &session.tenders {
        let TenderView::GiftCard {
            card_id,
            hold_id,
            amount,
            ..
        } = t
        else {
            continue;
        };
        let card_basis = basis(conn, claims::Kind::GiftCard, card_id)?;
        balances::drop_hold(conn, hold_id)?;
        balances::card_spent(conn, card_id, amount.amount)?;
        journal::append(
            conn,
            who,
            now,
            EventPayload::GiftCardDebited(GiftCardMovement {
                card: gift_card_ref(card_id)?,
                amount: *amount,
                sale_id: Some(sid.clone()),
                hold_id: Some(hold_ref(hold_id)?),
                basis: card_basis,
            }),
        )?;
        gift_cards.push((card_id.clone(), *amount));
    }

    let receipt = receipt(conn, ctx, &session, &closed, &gift_cards, payments)?;
    let sale_json = json(&closed)?;
    let receipt_json = json(&receipt)?;
    let effects: Vec<sales::EffectRow<'_>> = evaluation
        .effects
        .iter()
        .map(|e| sales::EffectRow {
            promotion_id: &e.promotion_id,
            kind: e.kind.code(),
            amount: e.amount.amount,
        })
        .collect();
    let gift_total = gift_cards
        .iter()
        .fold(0_i64, |acc, (_, m)| acc.saturating_add(m.amount));
    sales::insert(
        conn,
        &sales::SaleRow {
            sale_id: &session.session_id,
            till_id: who.till.as_str(),
            origin: "local",
            closed_at: now,
            customer_ref: customer_ref.as_deref(),
            currency: currency.code(),
            gross: evaluation.totals.subtotal.amount,
            discount: evaluation.totals.discount.amount,
            net: evaluation.totals.total.amount,
            savings_earned: earned.amount,
            savings_redeemed: redeemed.amount,
            gift_card_tendered: gift_total,
            line_count: i64::try_from(evaluation.lines.len()).unwrap_or(i64::MAX),
            sale: &sale_json,
            receipt: &receipt_json,
        },
        &effects,
    )?;
    session.state = State::Closed;
    session.version = session.version.saturating_add(1);
    session.receipt = Some(receipt);
    Ok(session)
}

/// What a spend from `subject`'s balance relies on, for the journal: the claim (a token's
/// snapshot, central's live answer) when the balance is not the cached one.
fn basis(
    conn: &Connection,
    kind: claims::Kind,
    subject: &str,
) -> Result<Option<SpendBasis>, ApiError> {
    let Some(claim) = claims::get(conn, kind, subject)? else {
        return Ok(None);
    };
    let currency = Currency::from_code(&claim.currency).map_err(|_| {
        ApiError::store(&crate::store::StoreError::Corrupted(format!(
            "balance claim currency {}",
            claim.currency
        )))
    })?;
    let token_id = claim
        .token_id
        .as_deref()
        .and_then(|t| hex::decode(t).ok())
        .and_then(|b| sync::TokenId::new(&b).ok());
    Ok(Some(SpendBasis {
        source: claim.source,
        token_id,
        balance: Money::new(claim.amount, currency),
        as_of: claim.as_of,
    }))
}

fn json(value: &impl serde::Serialize) -> Result<String, ApiError> {
    serde_json::to_string(value)
        .map_err(|e| ApiError::store(&crate::store::StoreError::Corrupted(format!("sale: {e}"))))
}

/// The POS's payments, checked to cover exactly what is due.
fn checked_payments(
    payments: Vec<Payment>,
    due: Money,
    currency: Currency,
) -> Result<Vec<Payment>, ApiError> {
    if payments.is_empty() {
        return Ok(if due.amount > 0 {
            vec![Payment {
                method: POS_METHOD.to_owned(),
                amount: due,
            }]
        } else {
            Vec::new()
        });
    }
    if payments.len() > MAX_PAYMENTS {
        return Err(ApiError::invalid(
            "payments",
            format!("at most {MAX_PAYMENTS} payments"),
        ));
    }
    let mut sum: i64 = 0;
    for (i, p) in payments.iter().enumerate() {
        if p.method.is_empty()
            || p.method.len() > MAX_METHOD
            || !p
                .method
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        {
            return Err(ApiError::invalid(
                format!("payments[{i}].method"),
                format!("1 to {MAX_METHOD} of A-Z a-z 0-9 _ -, e.g. `cash` or `card`"),
            ));
        }
        if p.amount.currency != currency {
            return Err(ApiError::invalid(
                format!("payments[{i}].amount.currency"),
                format!("the sale is in {}", currency.code()),
            ));
        }
        if p.amount.amount <= 0 {
            return Err(ApiError::invalid(
                format!("payments[{i}].amount"),
                "must be positive",
            ));
        }
        sum = sum.checked_add(p.amount.amount).ok_or_else(|| {
            ApiError::invalid(format!("payments[{i}].amount"), "the sum overflows")
        })?;
    }
    if sum != due.amount {
        return Err(ApiError::invalid(
            "payments",
            format!(
                "the payments add up to {sum} minor units, but {} are due",
                due.amount
            ),
        ));
    }
    Ok(payments)
}

fn receipt(
    conn: &Connection,
    ctx: &Ctx,
    session: &Session,
    closed: &ClosedSale,
    gift_cards: &[(String, Money)],
    payments: Vec<Payment>,
) -> Result<Receipt, ApiError> {
    let evaluation = &closed.evaluation;
    let currency = evaluation.currency;
    let savings_after = match &session.customer_ref {
        Some(r) => customers::lookup(conn, r, ctx.now_i64())?
            .and_then(|v| v.savings)
            .map(|s| SavingsSummary {
                available: Money::new(s.available(), currency),
                pending: Money::new(s.pending.max(0), currency),
            }),
        None => None,
    };
    let mut cards = Vec::with_capacity(gift_cards.len());
    for (card_id, charged) in gift_cards {
        let remaining = balances::card(conn, card_id)?
            .map(|c| c.synced_balance.saturating_sub(c.unsynced_spent).max(0))
            .unwrap_or(0);
        cards.push(ReceiptGiftCard {
            card_id: card_id.clone(),
            charged: *charged,
            remaining: Money::new(remaining, currency),
        });
    }
    Ok(Receipt {
        sale_id: session.session_id.clone(),
        till_id: ctx.who.till.as_str().to_owned(),
        closed_at: ctx.now,
        customer_ref: session.customer_ref.clone(),
        gross: evaluation.totals.subtotal,
        discount: evaluation.totals.discount,
        net: evaluation.totals.total,
        promotions: evaluation
            .effects
            .iter()
            .map(|e| ReceiptPromotion {
                promotion_id: e.promotion_id.clone(),
                label_es: e.label.es.clone(),
                label_en: e.label.en.clone(),
                amount: e.amount,
            })
            .collect(),
        savings_earned: evaluation.totals.savings.total,
        savings_pending_until: evaluation.totals.savings.pending_until,
        savings_redeemed: Money::new(session.savings_tendered(), currency),
        savings_after,
        gift_cards: cards,
        payments,
    })
}

/// Cancels the session: releases its gift-card holds; nothing is earned or spent.
pub fn cancel(
    conn: &Connection,
    ctx: &Ctx,
    mut session: Session,
    version: Option<u64>,
) -> Result<Session, ApiError> {
    match session.state {
        State::Cancelled => return Ok(session),
        State::Closed => {
            return Err(ApiError::new(
                ErrorCode::SessionClosed,
                "the sale is closed: take goods back with a return",
            ));
        }
        State::Open => {}
    }
    if let Some(v) = version {
        check_version(&session, v)?;
    }
    for hold in balances::holds_of(conn, &session.session_id)? {
        balances::drop_hold(conn, &hold.hold_id)?;
        journal::append(
            conn,
            &ctx.who,
            ctx.now_i64(),
            EventPayload::GiftCardReleased(GiftCardRelease {
                card: gift_card_ref(&hold.card_ref)?,
                hold_id: hold_ref(&hold.hold_id)?,
            }),
        )?;
    }
    session.state = State::Cancelled;
    session.version = session.version.saturating_add(1);
    Ok(session)
}
