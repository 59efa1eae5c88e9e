//! The engine: a catalog with its indexes, and the evaluation of a cart.

use std::collections::BTreeSet;

use tillpass_protocol::catalog::{Catalog, CatalogErrors, Promotion};
use tillpass_protocol::money::{Currency, Money};

use crate::cart::{self, Cart, Priced};
use crate::context::{CustomerContext, SaleContext};
use crate::effect::{
    Allocation, Effect, EffectKind, Evaluation, LineResult, SavingsEarned, Totals, VoucherOutcome,
    VoucherStatus,
};
use crate::eligibility::admits;
use crate::error::{EngineError, overflow};
use crate::giftcard::{self, GiftCard, GiftCardHold, GiftCardRequest};
use crate::index::PromotionIndex;
use crate::refusal::TenderRefusal;
use crate::savings::{self, RedemptionRequest};
use crate::selector::Selector;
use crate::share::total;
use crate::stacking::{self, Applied, Compiled, Ledger, Offer, Sale};

/// The benefits engine for one catalog. Build it once when a catalog is activated (it
/// indexes the promotions), then evaluate any number of carts, from any number of
/// threads: it is immutable.
#[derive(Debug)]
pub struct Engine {
    catalog: Catalog,
    compiled: Vec<Compiled>,
    index: PromotionIndex,
    voucher_codes: BTreeSet<String>,
}

/// Item rules before basket-only rules at equal priority; savings bonuses last.
fn level(promotion: &Promotion) -> u8 {
    if promotion.is_savings_bonus() {
        2
    } else if promotion.rules.iter().any(|r| r.items().is_some()) {
        0
    } else {
        1
    }
}

impl Engine {
    /// Validates the catalog and builds the indexes. A catalog that does not validate is
    /// refused with every problem found.
    pub fn new(catalog: Catalog) -> Result<Engine, CatalogErrors> {
        catalog.validate()?;
        let mut order: Vec<usize> = (0..catalog.promotions.len()).collect();
        order.sort_by(|&a, &b| {
            let (Some(pa), Some(pb)) = (catalog.promotions.get(a), catalog.promotions.get(b))
            else {
                return a.cmp(&b);
            };
            pb.priority
                .cmp(&pa.priority)
                .then(level(pa).cmp(&level(pb)))
                .then(pa.id.cmp(&pb.id))
        });
        let mut rank = vec![0_u32; catalog.promotions.len()];
        for (position, &promotion) in order.iter().enumerate() {
            if let (Some(slot), Ok(position)) = (rank.get_mut(promotion), u32::try_from(position)) {
                *slot = position;
            }
        }
        let compiled = catalog
            .promotions
            .iter()
            .zip(rank)
            .map(|(promotion, rank)| Compiled {
                selectors: promotion
                    .rules
                    .iter()
                    .map(|r| r.items().map(Selector::compile))
                    .collect(),
                rank,
            })
            .collect();
        let voucher_codes = catalog
            .promotions
            .iter()
            .filter_map(|p| p.voucher.clone())
            .collect();
        let index = PromotionIndex::build(&catalog);
        Ok(Engine {
            catalog,
            compiled,
            index,
            voucher_codes,
        })
    }

    /// The catalog the engine evaluates.
    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    /// The catalog's currency.
    pub fn currency(&self) -> Currency {
        self.catalog.currency
    }

    /// How many distinct SKUs, categories and brands the index holds.
    pub fn index_keys(&self) -> usize {
        self.index.keys()
    }

    /// Evaluates a cart: every promotion that applies, the amounts per line, the totals
    /// and the savings earned. `customer` is `None` for an anonymous sale. Deterministic:
    /// the same inputs, in any line order, give the same evaluation.
    pub fn evaluate(
        &self,
        cart: &Cart,
        customer: Option<&CustomerContext>,
        sale: &SaleContext,
    ) -> Result<Evaluation, EngineError> {
        let currency = self.catalog.currency;
        let lines = cart::price(cart, currency)?;
        let codes: BTreeSet<&str> = cart.vouchers.iter().map(|v| v.code.as_str()).collect();
        let candidates = self.index.candidates(&lines);
        let mut offers: Vec<Offer<'_>> = Vec::new();
        for candidate in &candidates {
            let position = usize::try_from(candidate.promotion).unwrap_or(usize::MAX);
            let (Some(promotion), Some(compiled)) = (
                self.catalog.promotions.get(position),
                self.compiled.get(position),
            ) else {
                continue;
            };
            if admits(promotion, sale, customer, &codes) {
                offers.push(Offer {
                    promotion,
                    compiled,
                    hits: &candidate.hits,
                });
            }
        }
        offers.sort_by_key(|o| o.compiled.rank);
        let (bonus_offers, discount_offers): (Vec<Offer<'_>>, Vec<Offer<'_>>) = offers
            .into_iter()
            .partition(|o| o.promotion.is_savings_bonus());

        let tier = customer.and_then(|c| c.tier.as_deref());
        let stack = Sale {
            lines: &lines,
            currency,
            tier,
        };
        let mut ledger = Ledger::new(&lines);
        let applied = stacking::stack(&stack, &mut ledger, &discount_offers)?;
        let earned = savings::earn(
            self.catalog.savings.as_ref(),
            customer,
            &lines,
            &ledger.remaining,
            &bonus_offers,
        )?;

        let money = |amount: i64| Money::new(amount, currency);
        let mut effects = Vec::new();
        let mut used: Vec<&str> = Vec::with_capacity(applied.len());
        for Applied { offer, rules, .. } in &applied {
            used.push(&offer.promotion.id);
            for (rule, parts) in rules {
                let Some(spec) = offer.promotion.rules.get(*rule) else {
                    continue;
                };
                effects.push(effect(
                    offer,
                    *rule,
                    EffectKind::of(spec),
                    parts,
                    &lines,
                    currency,
                )?);
            }
        }
        let mut bonus_total: i64 = 0;
        for bonus in &earned.bonuses {
            let (offer, parts) = (&bonus.offer, &bonus.parts);
            used.push(&offer.promotion.id);
            bonus_total = bonus_total.checked_add(bonus.total).ok_or_else(overflow)?;
            effects.push(effect(
                offer,
                0,
                EffectKind::SavingsMultiplier,
                parts,
                &lines,
                currency,
            )?);
        }

        let mut line_savings = earned.base.clone();
        for bonus in &earned.bonuses {
            for &(line, amount) in &bonus.parts {
                if let Some(slot) = line_savings.get_mut(line) {
                    *slot = slot.checked_add(amount).ok_or_else(overflow)?;
                }
            }
        }
        let mut results = Vec::with_capacity(lines.len());
        for (i, priced) in lines.iter().enumerate() {
            let net = ledger.remaining.get(i).copied().unwrap_or(0);
            results.push(LineResult {
                line_id: priced.line.line_id.clone(),
                sku: priced.line.sku.clone(),
                quantity: priced.line.quantity,
                unit_price: priced.line.unit_price,
                subtotal: money(priced.subtotal),
                discount: money(priced.subtotal - net),
                total: money(net),
                savings_earned: money(line_savings.get(i).copied().unwrap_or(0)),
            });
        }
        let subtotals: Vec<i64> = lines.iter().map(|l| l.subtotal).collect();
        let subtotal = total(&subtotals)?;
        let net_total = total(&ledger.remaining)?;
        let base = total(&earned.base)?;
        let savings_total = base.checked_add(bonus_total).ok_or_else(overflow)?;
        let pending_until = match &self.catalog.savings {
            Some(programme) if savings_total > 0 => Some(
                sale.now
                    .saturating_add(u64::from(programme.return_window_days).saturating_mul(86_400)),
            ),
            _ => None,
        };
        let applied_codes: BTreeSet<&str> = applied
            .iter()
            .map(|a| &a.offer)
            .chain(earned.bonuses.iter().map(|b| &b.offer))
            .filter_map(|o| o.promotion.voucher.as_deref())
            .collect();
        let vouchers = self.voucher_outcomes(cart, &applied_codes);
        Ok(Evaluation {
            currency,
            lines: results,
            effects,
            totals: Totals {
                subtotal: money(subtotal),
                discount: money(subtotal - net_total),
                total: money(net_total),
                eligible_spend: money(earned.eligible_spend),
                savings: SavingsEarned {
                    base: money(base),
                    bonus: money(bonus_total),
                    total: money(savings_total),
                    pending_until,
                },
            },
            vouchers,
            promotions_used: {
                used.sort_unstable();
                used.dedup();
                used.into_iter().map(str::to_owned).collect()
            },
        })
    }

    /// What became of each voucher; `applied` are the codes of the promotions that applied.
    fn voucher_outcomes(&self, cart: &Cart, applied: &BTreeSet<&str>) -> Vec<VoucherOutcome> {
        let mut outcomes: Vec<VoucherOutcome> = cart
            .vouchers
            .iter()
            .map(|v| VoucherOutcome {
                code: v.code.clone(),
                token_id: v.token_id.clone(),
                status: if applied.contains(v.code.as_str()) {
                    VoucherStatus::Applied
                } else if self.voucher_codes.contains(&v.code) {
                    VoucherStatus::NotApplicable
                } else {
                    VoucherStatus::Unknown
                },
            })
            .collect();
        outcomes.sort_by(|a, b| a.code.cmp(&b.code).then(a.token_id.cmp(&b.token_id)));
        outcomes
    }

    /// Decides a savings redemption the cashier asks for: the accepted amount, or why not.
    pub fn check_savings_redemption(
        &self,
        customer: Option<&CustomerContext>,
        request: &RedemptionRequest,
    ) -> Result<Money, TenderRefusal> {
        savings::check_redemption(
            self.catalog.savings.as_ref(),
            self.catalog.currency,
            customer,
            request,
        )
    }

    /// Decides a gift-card tender: the hold to store (amount, time-to-live), or why not.
    /// `holds` are the card's holds the agent knows of (lapsed ones are ignored).
    pub fn authorize_gift_card(
        &self,
        card: &GiftCard,
        holds: &[GiftCardHold],
        request: &GiftCardRequest,
        now: u64,
    ) -> Result<GiftCardHold, TenderRefusal> {
        giftcard::authorize(
            self.catalog.currency,
            &self.catalog.gift_cards,
            card,
            holds,
            request,
            now,
        )
    }
}

fn effect(
    offer: &Offer<'_>,
    rule: usize,
    kind: EffectKind,
    parts: &[(usize, i64)],
    lines: &[Priced<'_>],
    currency: Currency,
) -> Result<Effect, EngineError> {
    let amount = parts
        .iter()
        .try_fold(0_i64, |acc, &(_, a)| acc.checked_add(a))
        .ok_or_else(overflow)?;
    Ok(Effect {
        promotion_id: offer.promotion.id.clone(),
        rule,
        kind,
        label: offer.promotion.label.clone(),
        amount: Money::new(amount, currency),
        allocations: parts
            .iter()
            .filter_map(|&(line, amount)| {
                lines.get(line).map(|l| Allocation {
                    line_id: l.line.line_id.clone(),
                    amount: Money::new(amount, currency),
                })
            })
            .collect(),
        voucher: offer.promotion.voucher.clone(),
    })
}

#[cfg(test)]
mod tests;
