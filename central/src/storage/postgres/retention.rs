//! Retention on PostgreSQL: one batch of a sweep, and resolving a flag
//! ([`crate::retention`], [`crate::storage::retention`]).

use super::Pg;
use crate::error::Result;
use crate::ledger;
use crate::retention::{BATCH, Policy, Sweep};
use crate::storage::retention::{ACCOUNTS, FlagChange, RESOLVE, ledger_change};

/// Runs one batch of `sweep` (its own transaction): the rows it deleted.
pub async fn sweep_batch(pg: &Pg, sweep: &Sweep, policy: &Policy, now: i64) -> Result<u64> {
    let horizon = (sweep.horizon)(policy, now);
    let client = pg.client().await?;
    let statement = client.prepare_cached(sweep.sql).await?;
    Ok(client.execute(&statement, &[&horizon, &BATCH]).await?)
}

/// Resolves the flag `id` ([`RESOLVE`]) and records the ledger change that tells its
/// stores, in one transaction; `false` when there is no such flag.
pub async fn resolve_flag(pg: &Pg, id: i64, by: &str, note: &str, now: i64) -> Result<bool> {
    let mut client = pg.client().await?;
    let tx = client.transaction().await?;
    let Some(row) = tx.query_opt(RESOLVE, &[&id, &by, &note, &now]).await? else {
        return Ok(false);
    };
    let (kind, subject): (String, String) = (row.get(0), row.get(1));
    match ledger_change(&kind, &subject) {
        Some(FlagChange::Token(token)) => {
            tx.execute(ledger::TOKEN_FLAG, &[&token, &now]).await?;
        }
        Some(FlagChange::Account(holder)) => {
            for account in ACCOUNTS {
                tx.execute(ledger::FLAGS_OF_ACCOUNT, &[&account, &holder, &now])
                    .await?;
            }
        }
        Some(FlagChange::Return(sale)) => {
            tx.execute(ledger::RETURN_FLAG, &[&sale, &now]).await?;
        }
        None => {}
    }
    tx.commit().await?;
    Ok(true)
}
