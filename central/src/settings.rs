//! Central-wide settings kept in the database: the offline policy tills receive, and the
//! counters that number signed envelopes.

use rusqlite::{Connection, OptionalExtension, params};
use tillpass_protocol::money::{Currency, Money};
use tillpass_protocol::sync::{OfflinePolicy, ReplayPolicy};

use crate::error::{Error, Result};

/// The key of the offline policy in `settings`.
pub(crate) const POLICY_KEY: &str = "offline_policy";

/// The policy a fresh central hands out: €20 of savings per customer and €50 per gift card
/// while unsynced, catalogs up to 7 days old, trust lists up to 30 days old, 90 days of
/// retention, 5 sales per pass.
pub fn default_policy() -> OfflinePolicy {
    OfflinePolicy {
        max_savings_spend_per_customer: Money::new(2000, Currency::EUR),
        max_gift_card_spend_per_card: Money::new(5000, Currency::EUR),
        max_catalog_age_secs: 7 * 86_400,
        max_trust_list_age_secs: 30 * 86_400,
        retention_days: 90,
        replay: ReplayPolicy {
            max_uses_per_pass: 5,
        },
    }
}

/// The offline policy in force.
pub fn policy(conn: &Connection) -> Result<OfflinePolicy> {
    let text: Option<String> = conn
        .query_row(
            "SELECT value FROM settings WHERE key = ?1",
            [POLICY_KEY],
            |row| row.get(0),
        )
        .optional()?;
    policy_from(text)
}

/// The offline policy stored as `text` (JSON), the default when none is.
pub(crate) fn policy_from(text: Option<String>) -> Result<OfflinePolicy> {
    match text {
        None => Ok(default_policy()),
        Some(text) => serde_json::from_str(&text).map_err(Error::internal),
    }
}

/// Replaces the offline policy. Amounts must be non-negative and ages positive.
pub fn set_policy(conn: &Connection, policy: &OfflinePolicy) -> Result<()> {
    let text = checked_policy_text(policy)?;
    conn.execute(
        "INSERT INTO settings (key, value) VALUES (?1, ?2)
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        params![POLICY_KEY, text],
    )?;
    Ok(())
}

/// The policy as stored (JSON), once checked: amounts non-negative, ages positive.
pub(crate) fn checked_policy_text(policy: &OfflinePolicy) -> Result<String> {
    if policy.max_savings_spend_per_customer.is_negative()
        || policy.max_gift_card_spend_per_card.is_negative()
    {
        return Err(Error::invalid("offline spend limits must not be negative"));
    }
    if policy.max_catalog_age_secs == 0 || policy.max_trust_list_age_secs == 0 {
        return Err(Error::invalid("maximum ages must be above zero"));
    }
    serde_json::to_string(policy).map_err(Error::internal)
}

/// The currency of savings accounts and gift cards created without one: the currency of
/// the offline policy.
pub fn currency(conn: &Connection) -> Result<Currency> {
    Ok(policy(conn)?.max_savings_spend_per_customer.currency)
}

/// The next number of the counter `name` (1, 2, 3…), never repeated.
pub fn next_sequence(conn: &Connection, name: &str) -> Result<u64> {
    let value: String = conn.query_row(
        "INSERT INTO settings (key, value) VALUES ('seq.' || ?1, '1')
         ON CONFLICT (key) DO UPDATE SET value = CAST(CAST(value AS INTEGER) + 1 AS TEXT)
         RETURNING value",
        [name],
        |row| row.get(0),
    )?;
    value.parse().map_err(Error::internal)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::Db;

    #[test]
    fn sequences_count_and_policy_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&dir.path().join("c.db")).unwrap();
        db.with(|conn| {
            assert_eq!(next_sequence(conn, "catalog")?, 1);
            assert_eq!(next_sequence(conn, "catalog")?, 2);
            assert_eq!(next_sequence(conn, "trust-list")?, 1);
            assert_eq!(policy(conn)?, default_policy());
            let mut p = default_policy();
            p.retention_days = 7;
            set_policy(conn, &p)?;
            assert_eq!(policy(conn)?, p);
            p.max_catalog_age_secs = 0;
            assert!(set_policy(conn, &p).is_err());
            Ok(())
        })
        .unwrap();
    }
}
