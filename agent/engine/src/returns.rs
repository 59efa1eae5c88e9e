//! Returns: taking back lines of a closed sale, pro rata.
//!
//! Every amount of a return is computed **cumulatively**: after returning `k` of a line's
//! `n` units, the customer has been refunded `round(total × k / n)` (half-even), the
//! discount reversed is `round(discount × k / n)`, and the savings taken back are
//! `⌊earned × k / n⌋` (rounded down, in the customer's favour). Each return gives the
//! difference from what earlier returns gave, so returns in any number of steps add up to
//! exactly the same as one return of everything, and a full return restores every amount
//! exactly.
//!
//! The refund is paid back to the sale's tenders in proportion to what each tender has
//! not yet had back (largest remainder): redeemed savings go back to the customer's
//! savings, gift-card tenders are re-credited to their cards, the rest is the POS's.
//! Savings taken back never exceed the limit the agent passes (the customer's balance, so
//! it never goes below zero); what the limit holds back is asked again by the next return.

use serde::{Deserialize, Serialize};
use tillpass_protocol::money::{Money, div_round_half_even};
use tillpass_protocol::sync::left_to_return;
pub use tillpass_protocol::tender::Tender;

use crate::cart::Quantity;
use crate::effect::Evaluation;
use crate::error::{EngineError, overflow};
use crate::share::{scale_to, total};

/// A closed sale as the agent journals it: the evaluation and the tenders.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClosedSale {
    /// The evaluation the sale closed with.
    pub evaluation: Evaluation,
    /// The tenders, adding up exactly to the evaluation's total (in the POS API's form).
    #[serde(with = "tillpass_protocol::tender::pos_form")]
    pub tenders: Vec<Tender>,
}

impl ClosedSale {
    /// Checks that the tenders are positive, in the sale's currency and add up exactly to
    /// its total.
    pub fn new(evaluation: Evaluation, tenders: Vec<Tender>) -> Result<ClosedSale, EngineError> {
        let currency = evaluation.currency;
        let mut amounts = Vec::with_capacity(tenders.len());
        for tender in &tenders {
            let amount = tender.amount();
            if amount.currency != currency {
                return Err(EngineError::CurrencyMismatch {
                    expected: currency,
                    found: amount.currency,
                });
            }
            if amount.amount <= 0 {
                return Err(EngineError::Money("a tender must be positive".into()));
            }
            amounts.push(amount.amount);
        }
        let tendered = total(&amounts)?;
        if tendered != evaluation.totals.total.amount {
            return Err(EngineError::TendersDoNotMatch {
                tendered,
                total: evaluation.totals.total.amount,
            });
        }
        Ok(ClosedSale {
            evaluation,
            tenders,
        })
    }
}

/// What the customer brings back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReturnRequest {
    /// The lines and how much of each.
    pub lines: Vec<ReturnLine>,
    /// The most savings that may be taken back now (the customer's balance, available and
    /// pending); `None` for no limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clawback_limit: Option<Money>,
}

/// One line brought back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReturnLine {
    /// The sale's line id.
    pub line_id: String,
    /// How much, in the line's own measure: units, or grams for weighed lines.
    pub quantity: u32,
}

/// What a return gives back and takes back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReturnOutcome {
    /// Each line returned, ordered like the sale.
    pub lines: Vec<ReturnedLine>,
    /// The returned lines' share of the subtotal.
    pub subtotal: Money,
    /// The discount reversed (not refunded).
    pub discount: Money,
    /// What the customer gets back: `subtotal − discount`.
    pub refund: Money,
    /// Earned savings taken back from the customer.
    pub savings_reversed: Money,
    /// The refund per tender of the sale, in the sale's order (zero amounts included; in
    /// the POS API's form).
    #[serde(with = "tillpass_protocol::tender::pos_form")]
    pub tenders: Vec<Tender>,
}

impl ReturnOutcome {
    /// Redeemed savings given back to the customer.
    pub fn savings_recredited(&self) -> Money {
        let currency = self.refund.currency;
        let amount = self
            .tenders
            .iter()
            .filter(|t| matches!(t, Tender::Savings { .. }))
            .fold(0_i64, |acc, t| acc.saturating_add(t.amount().amount));
        Money::new(amount, currency)
    }
}

/// One line of a return.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReturnedLine {
    /// The line.
    pub line_id: String,
    /// How much came back.
    pub quantity: Quantity,
    /// Its share of the line's subtotal.
    pub subtotal: Money,
    /// Its share of the line's discount.
    pub discount: Money,
    /// What is refunded for it.
    pub refund: Money,
    /// Its share of the line's earned savings, taken back.
    pub savings_reversed: Money,
}

fn share_half_even(amount: i64, part: u32, whole: u32) -> Result<i64, EngineError> {
    let value = div_round_half_even(i128::from(amount) * i128::from(part), i128::from(whole))?;
    i64::try_from(value).map_err(|_| overflow())
}

fn share_down(amount: i64, part: u32, whole: u32) -> Result<i64, EngineError> {
    if whole == 0 {
        return Err(overflow());
    }
    let value = (i128::from(amount.max(0)) * i128::from(part)) / i128::from(whole);
    i64::try_from(value).map_err(|_| overflow())
}

/// Reverses part of `sale`: `previous` are the outcomes of its earlier returns, in any
/// order.
pub fn reverse(
    sale: &ClosedSale,
    previous: &[ReturnOutcome],
    request: &ReturnRequest,
) -> Result<ReturnOutcome, EngineError> {
    let currency = sale.evaluation.currency;
    let money = |amount: i64| Money::new(amount, currency);
    let mut asked: Vec<&ReturnLine> = request.lines.iter().collect();
    asked.sort_by(|a, b| crate::cart::compare_line_ids(&a.line_id, &b.line_id));
    if let Some(pair) = asked
        .windows(2)
        .find(|w| matches!(w, [a, b] if a.line_id == b.line_id))
    {
        let line_id = pair.first().map(|l| l.line_id.clone()).unwrap_or_default();
        return Err(EngineError::DuplicateLine { line_id });
    }
    let mut lines = Vec::with_capacity(asked.len());
    let mut targets = Vec::with_capacity(asked.len());
    for ask in asked {
        let sold = sale
            .evaluation
            .lines
            .iter()
            .find(|l| l.line_id == ask.line_id)
            .ok_or_else(|| EngineError::UnknownLine {
                line_id: crate::cart::truncate(&ask.line_id),
            })?;
        let earlier = previous
            .iter()
            .flat_map(|o| &o.lines)
            .filter(|l| l.line_id == ask.line_id);
        let (mut before, mut reversed_before) = (0_u32, 0_i64);
        for line in earlier {
            before = before.saturating_add(line.quantity.value());
            reversed_before = reversed_before.saturating_add(line.savings_reversed.amount);
        }
        let whole = sold.quantity.value();
        let left = whole.saturating_sub(before);
        if ask.quantity == 0 || left_to_return(whole, [before, ask.quantity]).is_err() {
            return Err(EngineError::ReturnExceedsSale {
                line_id: ask.line_id.clone(),
                requested: ask.quantity,
                left,
            });
        }
        let after = before + ask.quantity;
        let net = share_half_even(sold.total.amount, after, whole)?
            - share_half_even(sold.total.amount, before, whole)?;
        let discount = share_half_even(sold.discount.amount, after, whole)?
            - share_half_even(sold.discount.amount, before, whole)?;
        let target = share_down(sold.savings_earned.amount, after, whole)?
            .saturating_sub(reversed_before)
            .max(0);
        targets.push(target);
        lines.push(ReturnedLine {
            line_id: sold.line_id.clone(),
            quantity: sold.quantity.with_value(ask.quantity),
            subtotal: money(net.checked_add(discount).ok_or_else(overflow)?),
            discount: money(discount),
            refund: money(net),
            savings_reversed: money(0),
        });
    }
    let wanted = total(&targets)?;
    let reversals = match request.clawback_limit {
        Some(limit) if limit.currency != currency => {
            return Err(EngineError::CurrencyMismatch {
                expected: currency,
                found: limit.currency,
            });
        }
        Some(limit) if wanted > limit.amount.max(0) => scale_to(&targets, limit.amount.max(0))?,
        _ => targets,
    };
    for (line, reversed) in lines.iter_mut().zip(&reversals) {
        line.savings_reversed = money(*reversed);
    }
    let refunds: Vec<i64> = lines.iter().map(|l| l.refund.amount).collect();
    let refund = total(&refunds)?;
    let tenders = refund_tenders(sale, previous, refund)?;
    let subtotals: Vec<i64> = lines.iter().map(|l| l.subtotal.amount).collect();
    let discounts: Vec<i64> = lines.iter().map(|l| l.discount.amount).collect();
    Ok(ReturnOutcome {
        subtotal: money(total(&subtotals)?),
        discount: money(total(&discounts)?),
        refund: money(refund),
        savings_reversed: money(total(&reversals)?),
        lines,
        tenders,
    })
}

/// Splits `refund` over the sale's tenders in proportion to what each has not had back.
fn refund_tenders(
    sale: &ClosedSale,
    previous: &[ReturnOutcome],
    refund: i64,
) -> Result<Vec<Tender>, EngineError> {
    let currency = sale.evaluation.currency;
    let mut left = Vec::with_capacity(sale.tenders.len());
    for (t, tender) in sale.tenders.iter().enumerate() {
        let back = previous
            .iter()
            .filter_map(|o| o.tenders.get(t))
            .fold(0_i64, |acc, x| acc.saturating_add(x.amount().amount));
        left.push(tender.amount().amount.saturating_sub(back).max(0));
    }
    if refund > total(&left)? {
        return Err(EngineError::Money(
            "the refund exceeds what the tenders have left".into(),
        ));
    }
    let parts = scale_to(&left, refund)?;
    Ok(sale
        .tenders
        .iter()
        .zip(parts)
        .map(|(tender, part)| tender.with_amount(Money::new(part, currency)))
        .collect())
}
