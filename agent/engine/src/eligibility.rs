//! The conditions that do not depend on the cart's amounts: validity window, weekdays and
//! hours, store and region, audience, tier, segment, uses per customer, voucher. The
//! conditions on amounts (minimum quantity and amount) are checked while stacking, on the
//! amounts left by the promotions applied before.

use std::collections::BTreeSet;

use tillpass_protocol::catalog::{Audience, Conditions, Promotion, Weekday};

use crate::context::{CustomerContext, LocalTime, SaleContext};

/// Whether `promotion` may apply to a sale now, here, for this customer and these vouchers.
pub(crate) fn admits(
    promotion: &Promotion,
    sale: &SaleContext,
    customer: Option<&CustomerContext>,
    vouchers: &BTreeSet<&str>,
) -> bool {
    let c = &promotion.conditions;
    if sale.now < promotion.valid_from || sale.now >= promotion.valid_until {
        return false;
    }
    if !in_schedule(c, sale.local) || !in_scope(c, sale) {
        return false;
    }
    if let Some(code) = &promotion.voucher
        && !vouchers.contains(code.as_str())
    {
        return false;
    }
    if !promotion.needs_customer() {
        return true;
    }
    let Some(customer) = customer else {
        return false;
    };
    if promotion.audience == Audience::Personal
        && !customer.activated_promotions.contains(&promotion.id)
    {
        return false;
    }
    if !c.tiers.is_empty()
        && !customer
            .tier
            .as_ref()
            .is_some_and(|tier| c.tiers.contains(tier))
    {
        return false;
    }
    if !c.segments.is_empty() && !customer.segments.iter().any(|s| c.segments.contains(s)) {
        return false;
    }
    if let Some(max) = c.max_uses_per_customer
        && customer.uses_of(&promotion.id) >= max
    {
        return false;
    }
    true
}

fn day_allowed(c: &Conditions, day: Weekday) -> bool {
    c.weekdays.is_empty() || c.weekdays.contains(&day)
}

fn previous(day: Weekday) -> Weekday {
    Weekday::ALL
        .into_iter()
        .find(|d| d.next() == day)
        .unwrap_or(day)
}

/// Weekdays and hours, in the store's time zone. The part of a window that runs past
/// midnight belongs to the day the window started on.
fn in_schedule(c: &Conditions, local: LocalTime) -> bool {
    let minute = local.minute_of_day;
    if c.hours.is_empty() {
        return day_allowed(c, local.weekday);
    }
    c.hours.iter().any(|window| {
        let from = window.from.minutes();
        let until = window.until.minutes();
        if window.wraps() {
            (minute >= from && day_allowed(c, local.weekday))
                || (minute < until && day_allowed(c, previous(local.weekday)))
        } else {
            minute >= from && minute < until && day_allowed(c, local.weekday)
        }
    })
}

/// Stores and regions: with both lists, a store qualifies by being in either.
fn in_scope(c: &Conditions, sale: &SaleContext) -> bool {
    if c.stores.is_empty() && c.regions.is_empty() {
        return true;
    }
    c.stores.contains(&sale.store_id) || c.regions.contains(&sale.region)
}
