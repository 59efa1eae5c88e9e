//! The journal events a close or a return sends to central: the engine's results in the
//! protocol's words.

use tillpass_engine::{Evaluation, ReturnOutcome, Tender};
use tillpass_protocol::catalog::Label;
use tillpass_protocol::money::Money;
use tillpass_protocol::sync::limits;
use tillpass_protocol::sync::{
    self, EffectSummary, EventPayload, JournalEvent, ReturnLine, ReturnRecorded, SaleClosed,
    SaleLine, SaleTotals,
};

use super::model::TenderView;
use super::tenders::gift_card_ref;
use super::{ApiError, Ctx, Session};
use crate::store::{StoreError, journal};

fn bad(what: &str, e: impl std::fmt::Display) -> ApiError {
    ApiError::invalid(what.to_owned(), e.to_string())
}

/// A sale id for the journal.
pub fn sale_id(id: &str) -> Result<sync::SaleId, ApiError> {
    sync::SaleId::new(id).map_err(|e| bad("session_id", e))
}

/// A customer reference for the journal.
pub fn customer(reference: &str) -> Result<sync::CustomerRef, ApiError> {
    sync::CustomerRef::new(reference).map_err(|e| bad("customer", e))
}

/// A promotion's label as the journal carries it: a catalog label fits 80 characters, a
/// journal text 256 bytes — one that does not fit (many multi-byte characters) is left
/// out rather than refused by central with the whole sale.
fn journal_label(label: &Label) -> Option<Label> {
    let fits = |t: &str| limits::text(t).is_ok();
    (fits(&label.es) && fits(&label.en)).then(|| label.clone())
}

/// The session's loyalty tenders (savings, gift cards) as the journal names them.
pub fn loyalty_tenders(session: &Session) -> Result<Vec<Tender>, ApiError> {
    session
        .tenders
        .iter()
        .map(|t| {
            Ok(match t {
                TenderView::Savings { amount } => Tender::Savings { amount: *amount },
                TenderView::GiftCard {
                    card_id, amount, ..
                } => Tender::GiftCard {
                    card: gift_card_ref(card_id)?,
                    amount: *amount,
                },
            })
        })
        .collect()
}

/// Checks the session as it stands — its cart, customer and loyalty tenders, the rest
/// paid at the POS — as its `sale_closed` event would be checked at close
/// ([`journal::admissible`]: central's own check and the event's size): a sale central
/// would refuse is refused while the cart can still change, not at close.
pub fn check_sale(ctx: &Ctx, session: &Session) -> Result<(), ApiError> {
    let mut tenders = loyalty_tenders(session)?;
    let due = session.amount_due();
    if due.amount > 0 {
        tenders.push(Tender::paid_at_pos(super::close::POS_METHOD, due));
    }
    let sale = sale_closed(
        &session.session_id,
        session.customer_ref.as_deref(),
        &session.evaluation,
        &tenders,
        Money::new(session.savings_tendered(), session.evaluation.currency),
    )?;
    let event = JournalEvent::new(
        ctx.who.till.clone(),
        ctx.who.store.clone(),
        0,
        ctx.now_i64(),
        EventPayload::SaleClosed(sale),
    );
    match journal::admissible(&event) {
        Ok(_) => Ok(()),
        Err(StoreError::Unjournalable { error, .. }) => Err(ApiError::invalid(
            "cart",
            format!("central would refuse this sale ({error}): change the cart"),
        )),
        Err(other) => Err(ApiError::store(&other)),
    }
}

/// The `sale_closed` event.
pub fn sale_closed(
    id: &str,
    customer_ref: Option<&str>,
    evaluation: &Evaluation,
    tenders: &[Tender],
    savings_redeemed: Money,
) -> Result<SaleClosed, ApiError> {
    let lines = evaluation
        .lines
        .iter()
        .map(|l| SaleLine {
            line_id: l.line_id.clone(),
            sku: l.sku.clone(),
            quantity: l.quantity,
            unit_price: l.unit_price,
            discount: l.discount,
            total: l.total,
            savings_earned: Some(l.savings_earned),
        })
        .collect();
    let mut effects = Vec::with_capacity(evaluation.effects.len());
    for e in &evaluation.effects {
        effects.push(EffectSummary {
            promotion_id: sync::PromotionId::new(e.promotion_id.as_str())
                .map_err(|err| bad("promotion_id", err))?,
            kind: e.kind.into(),
            amount: e.amount,
            label: journal_label(&e.label),
            lines: e.allocations.iter().map(|a| a.line_id.clone()).collect(),
        });
    }
    Ok(SaleClosed {
        sale_id: sale_id(id)?,
        customer: customer_ref.map(customer).transpose()?,
        lines,
        effects,
        tenders: tenders.to_vec(),
        totals: SaleTotals {
            gross: evaluation.totals.subtotal,
            discounts: evaluation.totals.discount,
            net: evaluation.totals.total,
        },
        savings_earned: evaluation.totals.savings.total,
        savings_redeemed,
    })
}

/// The `return_recorded` event.
pub fn return_recorded(
    return_id: &str,
    sale: &str,
    customer_ref: Option<&str>,
    outcome: &ReturnOutcome,
) -> Result<ReturnRecorded, ApiError> {
    Ok(ReturnRecorded {
        return_id: sync::SaleId::new(return_id).map_err(|e| bad("return_id", e))?,
        original_sale_id: sale_id(sale)?,
        customer: customer_ref.map(customer).transpose()?,
        lines: outcome
            .lines
            .iter()
            .map(|l| ReturnLine {
                line_id: l.line_id.clone(),
                quantity: l.quantity,
                refund: l.refund,
                discount: Some(l.discount),
                savings_reversed: Some(l.savings_reversed),
            })
            .collect(),
        refunds: outcome.tenders.clone(),
        savings_reversed: outcome.savings_reversed,
    })
}
