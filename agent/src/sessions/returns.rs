//! Returns against a closed sale: the engine reverses the returned lines pro rata; the
//! till takes the earned savings back (never below zero), re-credits redeemed savings and
//! gift-card tenders, and journals it all for central — in the caller's one transaction.

use rusqlite::Connection;
use tillpass_engine::{ClosedSale, ReturnLine, ReturnOutcome, Tender};
use tillpass_protocol::money::Money;
use tillpass_protocol::sync::{EventPayload, GiftCardMovement, Reverses, SavingsReversal};

use super::cart::check_id;
use super::events::{self, customer, sale_id};
use super::model::{ReturnRequest, ReturnView, SavingsSummary};
use super::{ApiError, Ctx};
use crate::store::{balances, customers, journal, sales};
use tillpass_protocol::problem::ErrorCode;

fn corrupted(what: &str, e: impl std::fmt::Display) -> ApiError {
    ApiError::store(&crate::store::StoreError::Corrupted(format!("{what}: {e}")))
}

/// Records a return of `request.lines` against the closed sale `sale`.
pub fn record(
    conn: &Connection,
    ctx: &Ctx,
    sale: &str,
    request: &ReturnRequest,
) -> Result<ReturnView, ApiError> {
    check_id(&request.return_id)
        .map_err(|_| ApiError::invalid("return_id", "1 to 64 of A-Z a-z 0-9 - _ ."))?;
    if request.lines.is_empty() {
        return Err(ApiError::invalid(
            "lines",
            "name at least one line to return",
        ));
    }
    for (i, l) in request.lines.iter().enumerate() {
        if l.qty == 0 {
            return Err(ApiError::invalid(
                format!("lines[{i}].qty"),
                "must be at least 1",
            ));
        }
    }
    if let Some((of, _)) = sales::load_return(conn, &request.return_id)? {
        return Err(ApiError::new(
            ErrorCode::ReturnExists,
            format!(
                "return {} was already recorded (against sale {of}); use a new return id",
                request.return_id
            ),
        ));
    }
    let Some(recorded) = sales::load(conn, sale)? else {
        return Err(ApiError::new(
            ErrorCode::SaleNotFound,
            format!(
                "no closed sale {sale} at this till: check the receipt's number (a sale of \
                 another till can be returned here once this till has synced it)"
            ),
        ));
    };
    if let Some(why) = &recorded.returns_blocked {
        return Err(ApiError::new(
            ErrorCode::SaleHistoryIncomplete,
            format!(
                "sale {sale} was partly returned at another till and this till could not read \
                 that return ({why}): take this return at the till that sold it, or once this \
                 till has synced again"
            ),
        ));
    }
    let closed: ClosedSale =
        serde_json::from_str(&recorded.sale).map_err(|e| corrupted("sale", e))?;
    let previous: Vec<ReturnOutcome> = sales::returns_of(conn, sale)?
        .iter()
        .map(|o| serde_json::from_str(o).map_err(|e| corrupted("return", e)))
        .collect::<Result<_, _>>()?;
    let currency = closed.evaluation.currency;
    let customer_ref = recorded.customer_ref.clone();
    let balance = match &customer_ref {
        Some(r) => customers::lookup(conn, r, ctx.now_i64())?.and_then(|v| v.savings),
        None => None,
    };
    let clawback_limit = balance.as_ref().map(|s| {
        Money::new(
            s.available().saturating_add(s.pending.max(0)).max(0),
            currency,
        )
    });
    let engine_request = tillpass_engine::ReturnRequest {
        lines: request
            .lines
            .iter()
            .map(|l| ReturnLine {
                line_id: l.line.clone(),
                quantity: l.qty,
            })
            .collect(),
        clawback_limit: Some(clawback_limit.unwrap_or(Money::zero(currency))),
    };
    let outcome = tillpass_engine::reverse(&closed, &previous, &engine_request)
        .map_err(|e| ApiError::invalid("lines", e.to_string()))?;

    let now = ctx.now_i64();
    let who = &ctx.who;
    let sid = sale_id(sale)?;
    journal::append(
        conn,
        who,
        now,
        EventPayload::ReturnRecorded(events::return_recorded(
            &request.return_id,
            sale,
            customer_ref.as_deref(),
            &outcome,
        )?),
    )?;
    if let Some(r) = &customer_ref {
        let taken = outcome.savings_reversed.amount;
        let recredited = outcome.savings_recredited().amount;
        if taken > 0 || recredited > 0 {
            // Earned savings come back out of what is still pending first.
            let pending = balance.as_ref().map(|s| s.pending.max(0)).unwrap_or(0);
            let from_pending = taken.min(pending);
            let from_spendable = taken.saturating_sub(from_pending);
            balances::savings_moved(
                conn,
                r,
                currency.code(),
                -from_pending,
                from_spendable.saturating_sub(recredited),
            )?;
        }
        if taken > 0 {
            journal::append(
                conn,
                who,
                now,
                EventPayload::SavingsReversed(SavingsReversal {
                    customer: customer(r)?,
                    amount: outcome.savings_reversed,
                    reverses: Reverses::Earn,
                    original_event: None,
                    sale_id: Some(sid.clone()),
                }),
            )?;
        }
        if recredited > 0 {
            journal::append(
                conn,
                who,
                now,
                EventPayload::SavingsReversed(SavingsReversal {
                    customer: customer(r)?,
                    amount: outcome.savings_recredited(),
                    reverses: Reverses::Redemption,
                    original_event: None,
                    sale_id: Some(sid.clone()),
                }),
            )?;
        }
    }
    for t in &outcome.tenders {
        if let Tender::GiftCard { card, amount } = t
            && amount.amount > 0
        {
            balances::card_spent(conn, card.as_str(), -amount.amount)?;
            journal::append(
                conn,
                who,
                now,
                EventPayload::GiftCardCredited(GiftCardMovement {
                    card: card.clone(),
                    amount: *amount,
                    sale_id: Some(sid.clone()),
                    hold_id: None,
                    basis: None,
                }),
            )?;
        }
    }
    let outcome_json = serde_json::to_string(&outcome).map_err(|e| corrupted("return", e))?;
    sales::insert_return(
        conn,
        &sales::ReturnRow {
            return_id: &request.return_id,
            sale_id: sale,
            returned_at: now,
            refund: outcome.refund.amount,
            savings_reversed: outcome.savings_reversed.amount,
            outcome: &outcome_json,
            origin: "local",
            till_id: None,
        },
    )?;
    let savings_after = match &customer_ref {
        Some(r) => customers::lookup(conn, r, ctx.now_i64())?
            .and_then(|v| v.savings)
            .map(|s| SavingsSummary {
                available: Money::new(s.available(), currency),
                pending: Money::new(s.pending.max(0), currency),
            }),
        None => None,
    };
    Ok(ReturnView {
        return_id: request.return_id.clone(),
        sale_id: sale.to_owned(),
        outcome,
        savings_after,
    })
}
