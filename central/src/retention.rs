//! Retention and compaction: what central keeps, and for how long, so that its database
//! grows with the chain (customers, cards, tills) and not with time.
//!
//! - [`Policy`]: the periods, with their defaults.
//! - [`SWEEPS`]: the statements, one text for SQLite and PostgreSQL (`$N` placeholders),
//!   each deleting at most [`BATCH`] rows per run, so a sweep is many short transactions
//!   that never hold a lock for long on a busy database.
//! - [`Swept`]: what a sweep deleted, per sweep.
//! - [`sweep_sqlite`]: the SQLite runner; PostgreSQL's is
//!   [`crate::storage::postgres::retention`]. `Database::sweep` picks one.
//!
//! ## What goes, and why it is safe
//! - **Superseded changes** (`changes`). A delta page sends each key once, at its latest
//!   change, with its current state ([`crate::changes::since`]). A change row that has a
//!   newer row for the same stream and key is never sent again to anyone, whatever their
//!   cursor. Past [`Policy::compact_after_secs`] it is deleted. The latest row of every key
//!   is kept, tombstones included (an erased customer, a withdrawn flag). So a till with a
//!   cursor of any age still receives every key's current state. It never needs a snapshot
//!   or a reset, and the log holds one row per key plus the last week of changes.
//! - **Lapse notices** (`left-scope` changes, [`crate::scope`]) are not superseded by one
//!   another (each is for one store). One goes past [`Policy::compact_after_secs`] once
//!   the store no longer has the customer's scope row marked told: the customer entered
//!   its scope again (the fresh changes that followed carry their state), or was erased.
//! - **Ledger spends and store sales past their serving age**. The `ledger` stream serves no
//!   spend older than [`LEDGER_RETENTION_SECS`], and the `sales` stream no sale older than
//!   [`store_sales::MAX_AGE_SECS`]. Their change rows past that age are deleted, since they
//!   would be skipped anyway. Each row's `at` is when its latest change was recorded, which
//!   is never before the spend or sale it names.
//! - **Token uses** past [`Policy::token_uses_secs`]. A pass lives an hour and a gift-card
//!   token less. A use a month old can no longer meet a second use of the same token. Uses
//!   of a token flagged "used at two stores" are kept as long as the flag, because the
//!   store ledger names the holder from them.
//! - **Issued tokens** [`Policy::issued_tokens_secs`] after they expired. Nothing can be
//!   revoked or redeemed once expired.
//! - **Resolved flags** [`Policy::resolved_flags_secs`] after their resolution (the
//!   resolution itself is kept, small, so a late journal that raises the same flag with the
//!   same detail finds it resolved). Open flags are never deleted.
//! - **Store sales and their returns** past [`Policy::store_sales_secs`], well beyond any
//!   return window. A sale's returns go first, and a sale is deleted only once it has none.
//! - **Nonces** past their `forget_after`. The replay window has closed on them.
//!
//! The journal (`events`), accounts, debts and the account log stay: they are the money's
//! record, and an event id must stay unique forever.

use rusqlite::{Connection, params};
use serde::Serialize;
use tillpass_protocol::sync::LEDGER_RETENTION_SECS;

use crate::error::Result;
use crate::store_sales;

const DAY: i64 = 86_400;

/// How often `serve` sweeps (every node: a sweep finds little left after another's).
pub const SWEEP_EVERY: std::time::Duration = std::time::Duration::from_secs(3600);

/// Rows one statement deletes per transaction.
pub const BATCH: i64 = 5_000;

/// How long each kind of record is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// A change superseded by a newer one for its key: deleted once older than this.
    pub compact_after_secs: i64,
    /// A token use.
    pub token_uses_secs: i64,
    /// An issued token, counted from its expiry.
    pub issued_tokens_secs: i64,
    /// A resolved flag, counted from its resolution.
    pub resolved_flags_secs: i64,
    /// A store sale and its returns, counted from the sale.
    pub store_sales_secs: i64,
}

impl Default for Policy {
    fn default() -> Policy {
        Policy {
            compact_after_secs: 7 * DAY,
            token_uses_secs: 30 * DAY,
            issued_tokens_secs: 30 * DAY,
            resolved_flags_secs: 365 * DAY,
            store_sales_secs: 400 * DAY,
        }
    }
}

/// One sweep: its name, its statement (`$1` the horizon, `$2` the batch) and its horizon.
#[derive(Debug, Clone, Copy)]
pub struct Sweep {
    /// What it deletes, as reported.
    pub name: &'static str,
    /// The statement.
    pub sql: &'static str,
    /// The oldest time kept at `now`, under `policy`.
    pub horizon: fn(&Policy, i64) -> i64,
}

/// Every sweep, in the order they run (returns before their sales).
pub const SWEEPS: &[Sweep] = &[
    Sweep {
        name: "superseded_changes",
        sql: "DELETE FROM changes WHERE seq IN (
                  SELECT c.seq FROM changes c
                  WHERE c.at < $1 AND c.kind <> 'left-scope'
                    AND EXISTS (SELECT 1 FROM changes d
                                WHERE d.kind = c.kind AND d.key = c.key AND d.seq > c.seq)
                  ORDER BY c.seq LIMIT $2)",
        horizon: |p, now| now - p.compact_after_secs,
    },
    Sweep {
        name: "lapse_notices",
        sql: "DELETE FROM changes WHERE seq IN (
                  SELECT c.seq FROM changes c
                  WHERE c.kind = 'left-scope' AND c.at < $1
                    AND NOT EXISTS (SELECT 1 FROM customer_stores s
                                    WHERE s.customer = c.key AND s.store = c.owner
                                      AND s.lapsed_at IS NOT NULL)
                  ORDER BY c.seq LIMIT $2)",
        horizon: |p, now| now - p.compact_after_secs,
    },
    Sweep {
        name: "ledger_changes",
        sql: "DELETE FROM changes WHERE seq IN (
                  SELECT seq FROM changes
                  WHERE kind = 'ledger' AND key LIKE 's:%' AND at < $1
                  ORDER BY seq LIMIT $2)",
        horizon: |_, now| now - LEDGER_RETENTION_SECS,
    },
    Sweep {
        name: "sales_changes",
        sql: "DELETE FROM changes WHERE seq IN (
                  SELECT seq FROM changes WHERE kind = 'sales' AND at < $1
                  ORDER BY seq LIMIT $2)",
        horizon: |_, now| now - store_sales::MAX_AGE_SECS,
    },
    Sweep {
        name: "token_uses",
        sql: "DELETE FROM token_uses WHERE used_at < $1 AND token_id IN (
                  SELECT token_id FROM token_uses
                  WHERE used_at < $1
                    AND token_id NOT IN (SELECT subject FROM flags
                                         WHERE kind = 'token_at_two_stores'
                                           AND subject IS NOT NULL)
                  LIMIT $2)",
        horizon: |p, now| now - p.token_uses_secs,
    },
    Sweep {
        name: "issued_tokens",
        sql: "DELETE FROM issued_tokens WHERE token_id IN (
                  SELECT token_id FROM issued_tokens WHERE expires_at < $1 LIMIT $2)",
        horizon: |p, now| now - p.issued_tokens_secs,
    },
    Sweep {
        name: "resolved_flags",
        sql: "DELETE FROM flags WHERE id IN (
                  SELECT f.id FROM flags f JOIN flag_resolutions r
                      ON r.kind = f.kind AND r.subject = f.subject AND r.detail = f.detail
                  WHERE r.resolved_at < $1 LIMIT $2)",
        horizon: |p, now| now - p.resolved_flags_secs,
    },
    Sweep {
        name: "store_returns",
        sql: "DELETE FROM store_returns WHERE sale_event IN (
                  SELECT event_id FROM store_sales WHERE closed_at < $1 LIMIT $2)",
        horizon: |p, now| now - p.store_sales_secs,
    },
    Sweep {
        name: "store_sales",
        sql: "DELETE FROM store_sales WHERE event_id IN (
                  SELECT s.event_id FROM store_sales s
                  WHERE s.closed_at < $1
                    AND NOT EXISTS (SELECT 1 FROM store_returns r
                                    WHERE r.sale_event = s.event_id)
                  LIMIT $2)",
        horizon: |p, now| now - p.store_sales_secs,
    },
    Sweep {
        name: "nonces",
        sql: "DELETE FROM nonces WHERE (till, nonce) IN (
                  SELECT till, nonce FROM nonces WHERE forget_after < $1 LIMIT $2)",
        horizon: |_, now| now,
    },
];

/// What a sweep deleted: `(sweep name, rows)`, in [`SWEEPS`] order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Swept {
    /// Rows deleted per sweep.
    pub deleted: Vec<(&'static str, u64)>,
}

impl Swept {
    /// Rows deleted by the sweep named `name`.
    pub fn of(&self, name: &str) -> u64 {
        self.deleted
            .iter()
            .find(|(n, _)| *n == name)
            .map_or(0, |(_, rows)| *rows)
    }

    /// Rows deleted in all.
    pub fn total(&self) -> u64 {
        self.deleted.iter().map(|(_, rows)| rows).sum()
    }
}

/// The statement for SQLite (`?N` for `$N`).
pub fn sqlite(sql: &str) -> String {
    sql.replace('$', "?")
}

/// Runs one batch of `sweep` on SQLite: the rows it deleted.
pub fn sweep_batch_sqlite(
    conn: &Connection,
    sweep: &Sweep,
    policy: &Policy,
    now: i64,
) -> Result<u64> {
    let horizon = (sweep.horizon)(policy, now);
    let rows = conn
        .prepare_cached(&sqlite(sweep.sql))?
        .execute(params![horizon, BATCH])?;
    Ok(u64::try_from(rows).unwrap_or(0))
}

/// Every sweep on SQLite, batch after batch until each has nothing left; each batch its
/// own transaction (`conn` in autocommit).
pub fn sweep_sqlite(conn: &Connection, policy: &Policy, now: i64) -> Result<Swept> {
    let mut swept = Swept::default();
    for sweep in SWEEPS {
        let mut total = 0;
        loop {
            let rows = sweep_batch_sqlite(conn, sweep, policy, now)?;
            total += rows;
            if rows < u64::try_from(BATCH).unwrap_or(u64::MAX) {
                break;
            }
        }
        swept.deleted.push((sweep.name, total));
    }
    Ok(swept)
}
