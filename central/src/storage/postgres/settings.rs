//! Settings on PostgreSQL, as [`crate::settings`] keeps them on SQLite: the offline policy
//! and the counters that number signed envelopes (one atomic upsert each, so two nodes
//! never take the same number).

use deadpool_postgres::GenericClient;
use tillpass_protocol::sync::OfflinePolicy;

use crate::error::{Error, Result};
use crate::settings::{self, POLICY_KEY};

/// The offline policy in force.
pub async fn policy(c: &impl GenericClient) -> Result<OfflinePolicy> {
    let text: Option<String> = c
        .query_opt("SELECT value FROM settings WHERE key = $1", &[&POLICY_KEY])
        .await?
        .map(|r| r.get(0));
    settings::policy_from(text)
}

/// Replaces the offline policy (checked as [`settings::set_policy`] checks it).
pub async fn set_policy(c: &impl GenericClient, policy: &OfflinePolicy) -> Result<()> {
    let text = settings::checked_policy_text(policy)?;
    c.execute(
        "INSERT INTO settings (key, value) VALUES ($1, $2)
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        &[&POLICY_KEY, &text],
    )
    .await?;
    Ok(())
}

/// The next number of the counter `name` (1, 2, 3…), never repeated, whichever node asks.
pub async fn next_sequence(c: &impl GenericClient, name: &str) -> Result<u64> {
    let value: String = c
        .query_one(
            "INSERT INTO settings (key, value) VALUES ('seq.' || $1, '1')
             ON CONFLICT (key) DO UPDATE
                 SET value = (CAST(settings.value AS BIGINT) + 1)::TEXT
             RETURNING value",
            &[&name],
        )
        .await?
        .get(0);
    value.parse().map_err(Error::internal)
}
