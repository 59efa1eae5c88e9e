//! Pending savings: what a sale earned, kept apart from the spendable balance until the
//! sale's return window closes.
//!
//! - **Held.** An earn is held with its release time: the event's time (never later than
//!   central's clock) plus the return window of the catalog that was in force then
//!   ([`release_time`]). An earn whose release time has already passed (a till that
//!   uploads late) is spendable at once, as is one earned under no savings programme.
//! - **Released** by central's clock ([`release_due`]): each due entry is credited to the
//!   balance as any credit is (paying a debt first) and the balance goes into the change
//!   log, so tills learn it. Central releases before it reads or moves a balance (a delta
//!   page of balances, a pass, an administrator's read, an ingested savings event), so no
//!   one ever sees an entry past its time.
//! - **Taken back** by a return ([`take`]): from the returned sale's own entries first,
//!   then from the entries released last; what pending cannot cover comes out of the
//!   spendable balance, never below zero (`crate::journal`). This is the order the till's
//!   return follows (pending first, then spendable).
//!
//! Every function is part of the caller's transaction.

use rusqlite::{Connection, OptionalExtension, params};
use tillpass_protocol::catalog::Catalog;

use crate::changes;
use crate::error::{Error, Result};
use tillpass_protocol::sync::DeltaKind;

/// A customer's pending savings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Pending {
    /// Their sum, in the account's minor units.
    pub amount: i64,
    /// When the next of them becomes spendable: unix seconds; `None` when nothing is
    /// pending.
    pub next_release_at: Option<i64>,
}

/// The return window, in seconds, of the catalog in force at `at` (the earliest catalog
/// when `at` precedes them all); 0 without a catalog or a savings programme. Each
/// catalog's window is read from its body once and kept beside it.
pub fn window_secs(conn: &Connection, at: i64) -> Result<i64> {
    let in_force = |sql: &str| -> Result<Option<(i64, Option<i64>)>> {
        Ok(conn
            .prepare_cached(sql)?
            .query_row([at], |row| Ok((row.get(0)?, row.get(1)?)))
            .optional()?)
    };
    let row = match in_force(
        "SELECT id, return_window_secs FROM catalogs WHERE activates_at <= ?1
         ORDER BY activates_at DESC, id DESC LIMIT 1",
    )? {
        Some(row) => Some(row),
        None => in_force(
            "SELECT id, return_window_secs FROM catalogs WHERE activates_at > ?1
             ORDER BY activates_at, id LIMIT 1",
        )?,
    };
    let Some((id, known)) = row else {
        return Ok(0);
    };
    if let Some(secs) = known {
        return Ok(secs);
    }
    let cbor: Vec<u8> = conn.query_row(
        "SELECT body_cbor FROM catalogs WHERE id = ?1",
        [id],
        |row| row.get(0),
    )?;
    let catalog: Catalog = ciborium::from_reader(cbor.as_slice()).map_err(Error::internal)?;
    let secs = catalog_window_secs(&catalog);
    conn.execute(
        "UPDATE catalogs SET return_window_secs = ?2 WHERE id = ?1",
        params![id, secs],
    )?;
    Ok(secs)
}

/// A catalog's return window in seconds; 0 without a savings programme.
pub fn catalog_window_secs(catalog: &Catalog) -> i64 {
    catalog.savings.as_ref().map_or(0, |savings| {
        i64::from(savings.return_window_days).saturating_mul(86_400)
    })
}

/// When savings earned at `occurred_at` (the till's clock) become spendable: that time,
/// but never later than central's `now`, plus the window in force then.
pub fn release_time(conn: &Connection, occurred_at: i64, now: i64) -> Result<i64> {
    let start = occurred_at.min(now);
    Ok(start.saturating_add(window_secs(conn, start)?))
}

/// Holds `amount` (positive) for `customer` until `release_at`.
pub fn hold(
    conn: &Connection,
    customer: &str,
    amount: i64,
    release_at: i64,
    sale_id: Option<&str>,
    event_id: &str,
) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO pending_savings (customer, amount, release_at, sale_id, event_id)
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![customer, amount, release_at, sale_id, event_id])?;
    Ok(())
}

/// What `customer` has pending.
pub fn of(conn: &Connection, customer: &str) -> Result<Pending> {
    let (amount, next): (Option<i64>, Option<i64>) = conn
        .prepare_cached(
            "SELECT sum(amount), min(release_at) FROM pending_savings WHERE customer = ?1",
        )?
        .query_row([customer], |row| Ok((row.get(0)?, row.get(1)?)))?;
    Ok(Pending {
        amount: amount.unwrap_or(0),
        next_release_at: next,
    })
}

/// Releases every entry due at `now` (of `customer`, or of everyone): credits it to the
/// balance, paying a debt first, and records the balance change. Returns how many
/// accounts changed.
pub fn release_due(conn: &Connection, customer: Option<&str>, now: i64) -> Result<usize> {
    let due: Vec<(String, i64)> = match customer {
        Some(customer) => conn
            .prepare_cached(
                "SELECT customer, sum(amount) FROM pending_savings
                 WHERE customer = ?1 AND release_at <= ?2 GROUP BY customer",
            )?
            .query_map(params![customer, now], |row| Ok((row.get(0)?, row.get(1)?)))?
            .collect::<rusqlite::Result<_>>()?,
        None => conn
            .prepare_cached(
                "SELECT customer, sum(amount) FROM pending_savings
                 WHERE release_at <= ?1 GROUP BY customer ORDER BY customer",
            )?
            .query_map([now], |row| Ok((row.get(0)?, row.get(1)?)))?
            .collect::<rusqlite::Result<_>>()?,
    };
    for (customer, amount) in &due {
        let (balance, debt): (i64, i64) = conn.query_row(
            "SELECT balance, debt FROM savings_accounts WHERE customer = ?1",
            [customer],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )?;
        let paid = (*amount).min(debt);
        let balance = balance
            .checked_add(amount - paid)
            .ok_or_else(|| Error::internal("savings balance overflow"))?;
        conn.execute(
            "UPDATE savings_accounts SET balance = ?2, debt = ?3, updated_at = ?4
             WHERE customer = ?1",
            params![customer, balance, debt - paid, now],
        )?;
        conn.execute(
            "DELETE FROM pending_savings WHERE customer = ?1 AND release_at <= ?2",
            params![customer, now],
        )?;
        changes::record(conn, DeltaKind::Balances, customer, None, now)?;
    }
    Ok(due.len())
}

/// Takes up to `amount` back from `customer`'s pending savings: the entries of `sale_id`
/// first, then those released last. Returns how much it took.
pub fn take(conn: &Connection, customer: &str, sale_id: Option<&str>, amount: i64) -> Result<i64> {
    let entries: Vec<(i64, i64)> = conn
        .prepare_cached(
            "SELECT id, amount FROM pending_savings WHERE customer = ?1
             ORDER BY coalesce(sale_id = ?2, 0) DESC, release_at DESC, id DESC",
        )?
        .query_map(params![customer, sale_id], |row| {
            Ok((row.get(0)?, row.get(1)?))
        })?
        .collect::<rusqlite::Result<_>>()?;
    let mut taken = 0_i64;
    for (id, held) in entries {
        let want = amount.saturating_sub(taken);
        if want <= 0 {
            break;
        }
        let part = held.min(want);
        if part == held {
            conn.execute("DELETE FROM pending_savings WHERE id = ?1", [id])?;
        } else {
            conn.execute(
                "UPDATE pending_savings SET amount = amount - ?2 WHERE id = ?1",
                params![id, part],
            )?;
        }
        taken = taken.saturating_add(part);
    }
    Ok(taken)
}
