//! Retention behind the contract: the sweeps of [`crate::retention`] and resolving a flag,
//! on SQLite (one batch per call, so requests run between batches) and PostgreSQL
//! ([`super::postgres::retention`]).

use rusqlite::params;

use super::{Database, postgres};
use crate::error::{Error, Result};
use crate::ledger::{self, sqlite};
use crate::retention::{self, BATCH, Policy, SWEEPS, Swept};

impl Database {
    /// Runs every sweep of [`SWEEPS`] under `policy` at `now`, batch after batch.
    pub async fn sweep(&self, policy: &Policy, now: i64) -> Result<Swept> {
        let mut swept = Swept::default();
        let full = u64::try_from(BATCH).unwrap_or(u64::MAX);
        for sweep in SWEEPS {
            let mut total = 0;
            loop {
                let rows = match self {
                    Database::Sqlite(db) => {
                        let policy = *policy;
                        db.call(move |c| retention::sweep_batch_sqlite(c, sweep, &policy, now))
                            .await?
                    }
                    Database::Postgres(pg) => {
                        postgres::retention::sweep_batch(pg, sweep, policy, now).await?
                    }
                };
                total += rows;
                if rows < full {
                    break;
                }
            }
            swept.deleted.push((sweep.name, total));
        }
        Ok(swept)
    }

    /// Sweeps under `policy` every `every`, for as long as the runtime runs (`serve`);
    /// a failed sweep is logged and tried again at the next turn.
    pub async fn sweep_every(self, policy: Policy, every: std::time::Duration) {
        let mut ticks = tokio::time::interval(every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            match self.sweep(&policy, crate::clock::now()).await {
                Ok(swept) if swept.total() > 0 => {
                    tracing::info!(deleted = ?swept.deleted, "retention sweep");
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "retention sweep failed"),
            }
        }
    }

    /// Marks the flag `id` resolved by `by` with `note`, at `now` ([`RESOLVE`]); the stores
    /// whose ledger shows it are told. [`Error::NotFound`] for an unknown flag (or one
    /// without a subject); resolving again replaces the resolution.
    pub async fn resolve_flag(&self, id: i64, by: &str, note: &str, now: i64) -> Result<()> {
        let found = match self {
            Database::Sqlite(db) => {
                let (by, note) = (by.to_owned(), note.to_owned());
                db.call(move |c| {
                    let tx = c.transaction()?;
                    let found = tx
                        .prepare_cached(&sqlite(RESOLVE))?
                        .query_row(params![id, by, note, now], |r| {
                            Ok((r.get::<_, String>(0)?, Some(r.get::<_, String>(1)?)))
                        });
                    let found = match found {
                        Ok(found) => Some(found),
                        Err(rusqlite::Error::QueryReturnedNoRows) => None,
                        Err(e) => return Err(e.into()),
                    };
                    if let Some((kind, Some(subject))) = &found {
                        match ledger_change(kind, subject) {
                            Some(FlagChange::Token(token)) => {
                                tx.execute(&sqlite(ledger::TOKEN_FLAG), params![token, now])?;
                            }
                            Some(FlagChange::Account(holder)) => {
                                for account in ACCOUNTS {
                                    tx.execute(
                                        &sqlite(ledger::FLAGS_OF_ACCOUNT),
                                        params![account, holder, now],
                                    )?;
                                }
                            }
                            Some(FlagChange::Return(sale)) => {
                                tx.execute(&sqlite(ledger::RETURN_FLAG), params![sale, now])?;
                            }
                            None => {}
                        }
                    }
                    tx.commit()?;
                    Ok(found.is_some())
                })
                .await?
            }
            Database::Postgres(pg) => {
                postgres::retention::resolve_flag(pg, id, by, note, now).await?
            }
        };
        if found {
            Ok(())
        } else {
            Err(Error::NotFound("flag"))
        }
    }
}

/// Resolves a flag (`$1` id, `$2` by, `$3` note, `$4` now): the resolution is kept by the
/// flag's kind and subject, with the detail it resolved, so it outlives reconciliation
/// raising the same flag again, and a flag whose detail changed since (more overspent) is
/// open again. Answers the flag's kind and subject.
pub const RESOLVE: &str = "INSERT INTO flag_resolutions
         (kind, subject, detail, resolved_at, resolved_by, note)
     SELECT kind, subject, detail, $4, $2, $3 FROM flags WHERE id = $1 AND subject IS NOT NULL
     ON CONFLICT (kind, subject) DO UPDATE SET detail = excluded.detail,
         resolved_at = excluded.resolved_at, resolved_by = excluded.resolved_by,
         note = excluded.note
     RETURNING kind, subject";

/// The accounts an account's flag may be on: its change is recorded for each (the one the
/// holder has no movements on records nothing).
pub(crate) const ACCOUNTS: [&str; 2] = ["savings", "gift_card"];

/// The store-ledger change a flag's resolution records, if its kind reaches the ledger.
pub(crate) enum FlagChange<'a> {
    /// A token used at two stores: its id.
    Token(&'a str),
    /// An account's flag: its holder (a customer or a card; the flag's subject).
    Account(&'a str),
    /// A sale's returns beyond what was sold: the sale id.
    Return(&'a str),
}

/// Which ledger change tells the stores about a resolved flag of `kind` on `subject`.
pub(crate) fn ledger_change<'a>(kind: &str, subject: &'a str) -> Option<FlagChange<'a>> {
    match kind {
        "token_at_two_stores" => Some(FlagChange::Token(subject)),
        "return_exceeds_sale" => Some(FlagChange::Return(subject)),
        "overspend_debt" | "reversal_clamped" => Some(FlagChange::Account(subject)),
        _ => None,
    }
}
