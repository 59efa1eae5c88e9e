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
use tillpass_protocol::sync::DeltaKind;

use crate::changes;
use crate::error::{Error, Result};

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::Db;

    fn setup(conn: &Connection) {
        conn.execute_batch(
            "INSERT INTO customers (ref, first_name, lang, consent_receipts, consent_marketing,
                                    created_by, created_at, updated_at)
             VALUES ('C1', 'A', 'es', 0, 0, 'central', 0, 0);
             INSERT INTO savings_accounts (customer, currency, balance, debt, updated_at)
             VALUES ('C1', 'EUR', 0, 30, 0);",
        )
        .unwrap();
        for id in ["e1", "e2", "e3"] {
            conn.execute(
                "INSERT INTO events (id, till, store, seq, kind, occurred_at, received_at,
                                     sha256, payload)
                 VALUES (?1, 'T', 'S', 1, 'savings_earned', 0, 0, '', '{}')",
                [id],
            )
            .unwrap();
        }
    }

    fn left(conn: &Connection) -> Vec<(Option<String>, i64)> {
        conn.prepare("SELECT sale_id, amount FROM pending_savings ORDER BY id")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap()
    }

    #[test]
    fn a_return_takes_its_own_sale_first_then_what_releases_last() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&dir.path().join("c.db")).unwrap();
        db.with(|conn| {
            setup(conn);
            hold(conn, "C1", 100, 100, Some("S-1"), "e1")?;
            hold(conn, "C1", 100, 300, Some("S-3"), "e3")?;
            hold(conn, "C1", 100, 200, Some("S-2"), "e2")?;
            assert_eq!(
                of(conn, "C1")?,
                Pending {
                    amount: 300,
                    next_release_at: Some(100)
                }
            );
            assert_eq!(take(conn, "C1", Some("S-2"), 150)?, 150);
            assert_eq!(
                left(conn),
                [(Some("S-1".into()), 100), (Some("S-3".into()), 50)]
            );
            assert_eq!(take(conn, "C1", None, 500)?, 150, "never more than pending");
            assert_eq!(of(conn, "C1")?, Pending::default());
            Ok(())
        })
        .unwrap();
    }

    #[test]
    fn a_release_pays_the_debt_first_and_is_logged_for_the_tills() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&dir.path().join("c.db")).unwrap();
        db.with(|conn| {
            setup(conn);
            hold(conn, "C1", 100, 100, None, "e1")?;
            hold(conn, "C1", 40, 200, None, "e2")?;
            assert_eq!(release_due(conn, None, 99)?, 0);
            assert_eq!(release_due(conn, None, 100)?, 1);
            let (balance, debt): (i64, i64) = conn.query_row(
                "SELECT balance, debt FROM savings_accounts WHERE customer = 'C1'",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?;
            assert_eq!((balance, debt), (70, 0));
            assert_eq!(
                of(conn, "C1")?,
                Pending {
                    amount: 40,
                    next_release_at: Some(200)
                }
            );
            let (changed, _) = changes::since(conn, DeltaKind::Balances, None, 0, 10)?;
            assert_eq!(changed.len(), 1);
            Ok(())
        })
        .unwrap();
    }

    #[test]
    fn the_window_is_the_catalog_s_in_force_at_the_earn() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&dir.path().join("c.db")).unwrap();
        db.with(|conn| {
            assert_eq!(
                window_secs(conn, 1_000)?,
                0,
                "no catalog: spendable at once"
            );
            for (days, activates_at) in [(14, 500), (30, 2_000)] {
                let catalog = Catalog::from_toml(&format!(
                    "format = 1\ncurrency = \"EUR\"\n[savings]\nearn_rate = 100\n\
                     return_window_days = {days}\n"
                ))
                .unwrap();
                let mut cbor = Vec::new();
                ciborium::into_writer(&catalog, &mut cbor).unwrap();
                // As published before the window was kept beside the body.
                conn.execute(
                    "INSERT INTO catalogs (source_sha256, body_cbor, promotions, published_at,
                                           activates_at)
                     VALUES ('', ?1, 0, 0, ?2)",
                    params![cbor, activates_at],
                )?;
            }
            assert_eq!(window_secs(conn, 1_000)?, 14 * 86_400);
            assert_eq!(window_secs(conn, 2_000)?, 30 * 86_400);
            assert_eq!(window_secs(conn, 10)?, 14 * 86_400, "before all: the first");
            let kept: i64 = conn.query_row(
                "SELECT count(*) FROM catalogs WHERE return_window_secs IS NOT NULL",
                [],
                |r| r.get(0),
            )?;
            assert_eq!(kept, 2);
            assert_eq!(release_time(conn, 3_000, 2_500)?, 2_500 + 30 * 86_400);
            Ok(())
        })
        .unwrap();
    }
}
