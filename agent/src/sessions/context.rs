//! What the engine needs from the till: the customer's segments, balances (spendable and
//! pending apart: pending savings are never spendable), personal promotions and promotion
//! uses, and the store's local time.
//!
//! A balance from a pass's signed snapshot is never "synced": the catalog's offline cap
//! (`savings.offline_redeem_cap`) bounds what this till spends against it, whether or not
//! the till is online, and what the cashier is shown as spendable says so.

use rusqlite::Connection;
use tillpass_engine::{CustomerContext, Engine, LocalTime, SaleContext, SavingsBalance};
use tillpass_protocol::catalog::Weekday;
use tillpass_protocol::money::{Currency, Money};
use tillpass_protocol::sync::BalanceSource;

use super::model::{CustomerSummary, SavingsSummary};
use super::{ApiError, Session};
use crate::store::customers::{self, CustomerView};
use crate::store::sales;

/// The engine's view of a customer, and the till's.
#[derive(Debug, Clone)]
pub struct Customer {
    /// As the till stores them.
    pub view: CustomerView,
    /// As the engine needs them.
    pub context: CustomerContext,
}

/// Loads a customer for the engine at `now`; `None` if the till does not know them (erased
/// since).
pub fn customer(
    conn: &Connection,
    customer_ref: &str,
    currency: Currency,
    online: bool,
    now: i64,
) -> Result<Option<Customer>, ApiError> {
    let Some(view) = customers::lookup(conn, customer_ref, now)? else {
        return Ok(None);
    };
    let uses = sales::promotion_uses(conn, customer_ref)?;
    let (available, pending, spent) = match &view.savings {
        Some(s) if s.currency == currency.code() => {
            (s.available(), s.pending(), s.unsynced_spent.max(0))
        }
        Some(s) => {
            tracing::warn!(
                account = %s.currency, catalog = %currency.code(),
                "savings account in another currency than the catalog: not spendable here"
            );
            (0, 0, 0)
        }
        None => (0, 0, 0),
    };
    let context = CustomerContext {
        tier: view.tier.clone(),
        segments: view.segments.clone(),
        activated_promotions: view.active_promotions.clone(),
        uses,
        savings: SavingsBalance {
            available: Money::new(available, currency),
            pending: Money::new(pending, currency),
        },
        balance_synced: synced(view.balance_source, online),
        offline_redeemed: Money::new(spent, currency),
    };
    Ok(Some(Customer { view, context }))
}

/// Whether a balance from `source` counts as confirmed by central: a snapshot (or a
/// source this build does not know) never does; a cached or live one while the till is
/// online.
pub fn synced(source: BalanceSource, online: bool) -> bool {
    match source {
        BalanceSource::Snapshot | BalanceSource::Unknown => false,
        BalanceSource::Cached | BalanceSource::Live => online,
    }
}

/// What the customer can spend now by this till's knowledge: the balance, and for a
/// snapshot (or an unknown source) no more than the catalog's offline cap leaves.
pub fn spendable(
    savings: &customers::Savings,
    source: BalanceSource,
    engine: Option<&Engine>,
) -> i64 {
    let available = savings.available();
    if matches!(source, BalanceSource::Cached | BalanceSource::Live) {
        return available;
    }
    let cap = engine
        .and_then(|e| e.catalog().savings.as_ref())
        .map_or(0, |p| p.offline_redeem_cap);
    available.min(cap.saturating_sub(savings.unsynced_spent.max(0)).max(0))
}

/// The customer's summary for the POS, with the balance the session would leave.
pub fn summary(
    conn: &Connection,
    customer_ref: &str,
    session: &Session,
    engine: Option<&Engine>,
    now: i64,
) -> Result<Option<CustomerSummary>, ApiError> {
    let Some(view) = customers::lookup(conn, customer_ref, now)? else {
        return Ok(None);
    };
    let currency = session.evaluation.currency;
    let savings = view.savings.as_ref().map(|s| SavingsSummary {
        available: Money::new(spendable(s, view.balance_source, engine), currency),
        pending: Money::new(s.pending(), currency),
    });
    let tentative = match (&savings, session.state) {
        (Some(s), super::State::Open) => Some(SavingsSummary {
            available: Money::new(
                s.available
                    .amount
                    .saturating_sub(session.savings_tendered())
                    .max(0),
                currency,
            ),
            pending: Money::new(
                s.pending
                    .amount
                    .saturating_add(session.evaluation.totals.savings.total.amount),
                currency,
            ),
        }),
        (None, super::State::Open) => Some(SavingsSummary {
            available: Money::zero(currency),
            pending: session.evaluation.totals.savings.total,
        }),
        _ => None,
    };
    Ok(Some(CustomerSummary {
        customer_ref: view.customer_ref,
        first_name: view.first_name,
        tier: view.tier,
        lang: view.lang,
        earn_only: view.earn_only,
        balance_source: view.savings.as_ref().map(|_| view.balance_source),
        balance_as_of: view.claim.as_ref().map(|c| c.as_of),
        savings,
        tentative,
    }))
}

/// The engine's sale context: now, the store's local weekday and minute, store, region.
pub fn sale_context(now: u64, tz: &jiff::tz::TimeZone, store: &str, region: &str) -> SaleContext {
    let (weekday, minute) = local(now, tz);
    SaleContext {
        now,
        local: LocalTime {
            weekday,
            minute_of_day: minute,
        },
        store_id: store.to_owned(),
        region: region.to_owned(),
    }
}

/// The weekday and minute of the day at `now` in `tz`.
pub fn local(now: u64, tz: &jiff::tz::TimeZone) -> (Weekday, u16) {
    let ts = i64::try_from(now)
        .ok()
        .and_then(|s| jiff::Timestamp::from_second(s).ok())
        .unwrap_or(jiff::Timestamp::UNIX_EPOCH);
    let zoned = ts.to_zoned(tz.clone());
    let weekday = match zoned.weekday() {
        jiff::civil::Weekday::Monday => Weekday::Mon,
        jiff::civil::Weekday::Tuesday => Weekday::Tue,
        jiff::civil::Weekday::Wednesday => Weekday::Wed,
        jiff::civil::Weekday::Thursday => Weekday::Thu,
        jiff::civil::Weekday::Friday => Weekday::Fri,
        jiff::civil::Weekday::Saturday => Weekday::Sat,
        jiff::civil::Weekday::Sunday => Weekday::Sun,
    };
    let minute = i32::from(zoned.hour()) * 60 + i32::from(zoned.minute());
    (weekday, u16::try_from(minute).unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_time_follows_the_store_time_zone_and_summer_time() {
        let madrid = jiff::tz::TimeZone::get("Europe/Madrid").unwrap();
        // 2026-01-05 (a Monday) 08:30 UTC is 09:30 in Madrid (CET, UTC+1).
        assert_eq!(local(1_767_601_800, &madrid), (Weekday::Mon, 9 * 60 + 30));
        // 2026-07-05 (a Sunday) 22:30 UTC is Monday 00:30 in Madrid (CEST, UTC+2).
        assert_eq!(local(1_783_290_600, &madrid), (Weekday::Mon, 30));
    }
}
