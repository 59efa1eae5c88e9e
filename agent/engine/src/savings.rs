//! Savings: what a sale earns, and whether a redemption may be tendered.
//!
//! **Earning.** A line earns unless it sells a gift card or its category is excluded by
//! the programme. Its eligible spend is its total after discounts. Per line, the exact
//! savings are `spend × earn_rate × tier multiplier × category multiplier`; the sale's
//! base savings are their sum rounded down once. Savings-multiplier promotions add a
//! bonus: on each line the largest multiplier wins (ties: the better ranked promotion),
//! and each promotion's bonus is `spend × rate × tier × category × (multiplier − 1)` over
//! the lines it won, rounded down once. The cap per sale is filled with the base first,
//! then bonuses in ranking order. Every amount is split over the lines exactly, so a
//! return can take back each line's share.
//!
//! **Redeeming.** A redemption is a tender whose amount the cashier chooses: at most the
//! amount due, the available balance (pending savings are not spendable) less what the
//! sale already redeemed, and, while the balance is not confirmed by central, what is
//! left of the programme's offline cap.

use serde::{Deserialize, Serialize};
use tillpass_protocol::catalog::{Rule, SavingsProgramme};
use tillpass_protocol::money::{Currency, Money};

use crate::cart::Priced;
use crate::context::CustomerContext;
use crate::error::{EngineError, overflow};
use crate::refusal::TenderRefusal;
use crate::share::{floor_shares, scale_to, total};
use crate::stacking::{Offer, meets_minimums, rule_lines};

const ONE: i128 = 10_000;

/// What a sale earns, per line.
#[derive(Debug)]
pub(crate) struct Earned<'e> {
    /// The spend that earns (lines that earn, after discounts).
    pub eligible_spend: i64,
    /// Base savings per line.
    pub base: Vec<i64>,
    /// Each bonus promotion that gave something: its parts per line and its total.
    pub bonuses: Vec<Bonus<'e>>,
}

/// The extra savings one savings-multiplier promotion gives.
#[derive(Debug)]
pub(crate) struct Bonus<'e> {
    pub offer: Offer<'e>,
    /// (line, extra savings), ascending by line.
    pub parts: Vec<(usize, i64)>,
    pub total: i64,
}

/// Whether the line earns under the programme.
fn earns(programme: &SavingsProgramme, line: &Priced<'_>) -> bool {
    !line.line.gift_card_purchase
        && !line
            .line
            .category
            .as_ref()
            .is_some_and(|c| programme.excluded_categories.contains(c))
}

fn widen(a: i128, b: i128) -> Result<i128, EngineError> {
    a.checked_mul(b).ok_or_else(overflow)
}

/// Computes the savings a sale earns. `net` is each line's total after discounts;
/// `bonus_offers` are the admitted savings-multiplier promotions, ranked.
pub(crate) fn earn<'e>(
    programme: Option<&SavingsProgramme>,
    customer: Option<&CustomerContext>,
    lines: &[Priced<'_>],
    net: &[i64],
    bonus_offers: &[Offer<'e>],
) -> Result<Earned<'e>, EngineError> {
    let mut earned = Earned {
        eligible_spend: 0,
        base: vec![0; lines.len()],
        bonuses: Vec::new(),
    };
    let Some(programme) = programme else {
        return Ok(earned);
    };
    let earning: Vec<bool> = lines.iter().map(|l| earns(programme, l)).collect();
    for (i, &yes) in earning.iter().enumerate() {
        if yes {
            let spend = net.get(i).copied().unwrap_or(0);
            earned.eligible_spend = earned
                .eligible_spend
                .checked_add(spend)
                .ok_or_else(overflow)?;
        }
    }
    let Some(customer) = customer else {
        return Ok(earned);
    };
    let tier = customer
        .tier
        .as_ref()
        .and_then(|t| programme.tier_multipliers.get(t))
        .map_or(ONE, |r| i128::from(r.basis_points()));
    let rate = widen(i128::from(programme.earn_rate.basis_points()), tier)?;
    // Exact savings per line, in minor units × ONE³.
    let mut exact = Vec::with_capacity(lines.len());
    for (i, line) in lines.iter().enumerate() {
        let spend = if earning.get(i).copied().unwrap_or(false) {
            i128::from(net.get(i).copied().unwrap_or(0).max(0))
        } else {
            0
        };
        let category = line
            .line
            .category
            .as_ref()
            .and_then(|c| programme.category_multipliers.get(c))
            .map_or(ONE, |r| i128::from(r.basis_points()));
        exact.push(widen(widen(spend, rate)?, category)?);
    }
    let denominator = ONE * ONE * ONE;
    let base = floor_shares(&exact, denominator)?;

    // The largest multiplier on each line: (offer position in `bonus_offers`, multiplier).
    let mut best: Vec<Option<(usize, u32)>> = vec![None; lines.len()];
    let keep = |i: usize| {
        earning.get(i).copied().unwrap_or(false)
            && lines.get(i).is_some_and(|l| !l.line.no_promotion)
    };
    for (k, offer) in bonus_offers.iter().enumerate() {
        if !meets_minimums(offer, lines, net, &keep)? {
            continue;
        }
        for (position, rule) in offer.promotion.rules.iter().enumerate() {
            let Rule::SavingsMultiplier { multiplier, .. } = rule else {
                continue;
            };
            let bp = multiplier.basis_points();
            for i in rule_lines(offer, position, lines, &keep) {
                if let Some(slot) = best.get_mut(i)
                    && slot.is_none_or(|(_, m)| bp > m)
                {
                    *slot = Some((k, bp));
                }
            }
        }
    }
    // Per bonus promotion, the exact extra savings of the lines it won (sparse).
    let mut won: Vec<(Vec<usize>, Vec<i128>)> = vec![(Vec::new(), Vec::new()); bonus_offers.len()];
    for (i, slot) in best.iter().enumerate() {
        if let Some((k, bp)) = slot {
            let extra = i128::from(*bp) - ONE;
            let value = widen(exact.get(i).copied().unwrap_or(0), extra)?;
            if let Some((lines, values)) = won.get_mut(*k) {
                lines.push(i);
                values.push(value);
            }
        }
    }

    // The cap: base first, then bonuses in ranking order.
    let mut room = programme.max_earn_per_sale.unwrap_or(i64::MAX).max(0);
    let base_total = total(&base)?;
    earned.base = if base_total > room {
        scale_to(&base, room)?
    } else {
        base
    };
    room -= base_total.min(room);
    for (offer, (won_lines, numerators)) in bonus_offers.iter().zip(&won) {
        if won_lines.is_empty() {
            continue;
        }
        let mut shares = floor_shares(numerators, denominator * ONE)?;
        if total(&shares)? > room {
            shares = scale_to(&shares, room)?;
        }
        let given = total(&shares)?;
        room -= given;
        if given > 0 {
            let parts = won_lines
                .iter()
                .copied()
                .zip(shares)
                .filter(|&(_, s)| s > 0)
                .collect();
            earned.bonuses.push(Bonus {
                offer: *offer,
                parts,
                total: given,
            });
        }
    }
    Ok(earned)
}

/// A savings redemption the cashier asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedemptionRequest {
    /// The amount the cashier chose.
    pub amount: Money,
    /// What is left to pay in the sale.
    pub amount_due: Money,
    /// Savings already tendered in this sale (earlier redemptions of the session).
    pub already_redeemed: Money,
}

/// Checks a redemption; the accepted amount on success.
pub(crate) fn check_redemption(
    programme: Option<&SavingsProgramme>,
    currency: Currency,
    customer: Option<&CustomerContext>,
    request: &RedemptionRequest,
) -> Result<Money, TenderRefusal> {
    let customer = customer.ok_or(TenderRefusal::NoCustomer)?;
    let programme = programme.ok_or(TenderRefusal::NoSavingsProgramme)?;
    for found in [
        request.amount.currency,
        request.amount_due.currency,
        request.already_redeemed.currency,
        customer.savings.available.currency,
        customer.offline_redeemed.currency,
    ] {
        if found != currency {
            return Err(TenderRefusal::CurrencyMismatch {
                expected: currency,
                found,
            });
        }
    }
    let amount = request.amount.amount;
    if amount <= 0 {
        return Err(TenderRefusal::NotPositive);
    }
    if request.amount_due.amount <= 0 {
        return Err(TenderRefusal::NothingDue);
    }
    if amount > request.amount_due.amount {
        return Err(TenderRefusal::ExceedsAmountDue {
            due: request.amount_due,
        });
    }
    let spent = request.already_redeemed.amount.max(0);
    let available = customer
        .savings
        .available
        .amount
        .saturating_sub(spent)
        .max(0);
    if amount > available {
        return Err(TenderRefusal::InsufficientBalance {
            available: Money::new(available, currency),
        });
    }
    if !customer.balance_synced {
        let remaining = programme
            .offline_redeem_cap
            .saturating_sub(customer.offline_redeemed.amount.max(0))
            .saturating_sub(spent)
            .max(0);
        if amount > remaining {
            return Err(TenderRefusal::OfflineCapReached {
                remaining: Money::new(remaining, currency),
            });
        }
    }
    Ok(request.amount)
}
