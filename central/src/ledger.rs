//! The store-wide offline-risk ledger: every spend a store's tills made (savings
//! redemptions, gift-card debits) with central's outcome, and every flag concerning the
//! store, returned to **every till of the store** as the `ledger` delta stream
//! ([`tillpass_protocol::sync::ledger`]).
//!
//! - **Entries** are the debits of the account log ([`crate::reconcile`],
//!   `account_moves`): till, time, account, amount, the part the balance did not cover,
//!   and the source the till spent from (`snapshot`, `cached`; a spend central confirmed
//!   live is not a risk and is left out).
//! - **Outcomes** are read when served, from the log and the account: `confirmed` (covered
//!   at its time), `debt` (beyond the balance, still owed), `resolved` (its debt since paid).
//!   A flag is resolved when its debt is paid or central IT resolved it ([`crate::flags`]).
//! - **Flags**: an account's `overspend_debt` and `reversal_clamped` reach every store whose
//!   tills moved that account; `token_at_two_stores` every store where the token was used.
//!   A flag a late journal withdrew is sent as `gone`.
//! - **Change log**: ingestion records the keys ([`SPENDS_OF_ACCOUNT`] and the other
//!   statements here, one text for SQLite and PostgreSQL) with the store as owner, so a
//!   store's tills page through their store's ledger alone.
//! - **Retention**: entries older than `LEDGER_RETENTION_SECS` are no longer served.
//! - **Privacy**: a reference leaves central only [`mask`]ed.

use rusqlite::{Connection, OptionalExtension, params};
use sha2::{Digest, Sha256};
use tillpass_protocol::money::Money;
use tillpass_protocol::sync::{
    EventFlag, EventId, LEDGER_RETENTION_SECS, LedgerAccount, LedgerDelta, LedgerFlag,
    LedgerOutcome, LedgerSpend, SpendSource, TillId, mask,
};

use crate::error::{Error, Result};

/// Records one spend: `$1` event id, `$2` now.
pub const SPEND: &str = "INSERT INTO changes (kind, key, owner, at)
     SELECT 'ledger', 's:' || event_id, store, $2 FROM account_moves
     WHERE event_id = $1 AND direction = 'debit' AND coalesce(source, '') != 'live'";

/// Records the spends of an account that went beyond the balance, and those named
/// (moved again): `$1` account, `$2` holder, `$3` now, `$4` oldest time kept.
pub const SPENDS_OF_ACCOUNT: &str = "INSERT INTO changes (kind, key, owner, at)
     SELECT 'ledger', 's:' || event_id, store, $3 FROM account_moves
     WHERE account = $1 AND holder = $2 AND direction = 'debit' AND short > 0
       AND coalesce(source, '') != 'live' AND at >= $4";

/// Records an account's flags for every store that moved it: `$1` account, `$2` holder,
/// `$3` now.
pub const FLAGS_OF_ACCOUNT: &str = "INSERT INTO changes (kind, key, owner, at)
     SELECT DISTINCT 'ledger', 'f:' || store || ':' || k.kind || ':' || $1 || ':' || $2, store,
            CAST($3 AS BIGINT)
     FROM account_moves,
          (SELECT 'overspend_debt' AS kind UNION ALL SELECT 'reversal_clamped') AS k
     WHERE account = $1 AND holder = $2";

/// Records a token's flag for every store where it was used: `$1` token, `$2` now.
pub const TOKEN_FLAG: &str = "INSERT INTO changes (kind, key, owner, at)
     SELECT DISTINCT 'ledger', 'f:' || store || ':token_at_two_stores:' || $1, store,
            CAST($2 AS BIGINT)
     FROM token_uses WHERE token_id = $1";

/// Whether the flag `f` was resolved by central IT, as it reads now ([`crate::flags`]).
const RESOLVED: &str = "EXISTS (SELECT 1 FROM flag_resolutions r
     WHERE r.kind = f.kind AND r.subject = f.subject AND r.detail = f.detail)";

/// The oldest spend time still served at `now`.
pub fn oldest_kept(now: i64) -> i64 {
    now.saturating_sub(LEDGER_RETENTION_SECS)
}

/// The statement for SQLite (`?N` for `$N`).
pub fn sqlite(sql: &str) -> String {
    sql.replace('$', "?")
}

/// The item for a changed key of the `ledger` stream, as it stands at `now`; `None` when
/// there is nothing to send (a spend past retention, a key of another form).
pub fn item(conn: &Connection, key: &str, now: i64) -> Result<Option<LedgerDelta>> {
    if let Some(event_id) = key.strip_prefix("s:") {
        return spend(conn, event_id, now);
    }
    let Some(rest) = key.strip_prefix("f:") else {
        return Ok(None);
    };
    // f:{store}:{kind}:{subject}; ids never hold ':' (ASCII letters, digits, '-', '_', '.').
    let mut parts = rest.splitn(3, ':');
    let (Some(_store), Some(kind), Some(subject)) = (parts.next(), parts.next(), parts.next())
    else {
        return Ok(None);
    };
    flag(conn, kind, subject)
}

fn spend(conn: &Connection, event_id: &str, now: i64) -> Result<Option<LedgerDelta>> {
    let row = conn
        .query_row(
            "SELECT m.account, m.holder, m.at, m.till, m.amount, m.short, m.source,
                    coalesce(s.currency, g.currency),
                    coalesce(s.debt, g.debt, 0)
             FROM account_moves m
             LEFT JOIN savings_accounts s ON m.account = 'savings' AND s.customer = m.holder
             LEFT JOIN gift_cards g ON m.account = 'gift_card' AND g.ref = m.holder
             WHERE m.event_id = ?1 AND m.direction = 'debit' AND m.at >= ?2",
            params![event_id, oldest_kept(now)],
            |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, i64>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, i64>(4)?,
                    r.get::<_, i64>(5)?,
                    r.get::<_, Option<String>>(6)?,
                    r.get::<_, Option<String>>(7)?,
                    r.get::<_, i64>(8)?,
                ))
            },
        )
        .optional()?;
    let Some((account, holder, at, till, amount, short, source, currency, debt)) = row else {
        return Ok(None);
    };
    let Some(currency) = currency else {
        // The account is gone (an erased customer): nothing of it is served.
        return Ok(None);
    };
    let currency = crate::storage::money(&currency, 0)?.currency;
    let outcome = match (short, debt) {
        (0, _) => LedgerOutcome::Confirmed,
        (_, 0) => LedgerOutcome::Resolved,
        _ => LedgerOutcome::Debt,
    };
    Ok(Some(LedgerDelta::Spend {
        spend: LedgerSpend {
            id: event_id.parse::<EventId>().map_err(Error::internal)?,
            till: TillId::new(till).map_err(Error::internal)?,
            at,
            account: if account == "savings" {
                LedgerAccount::Savings
            } else {
                LedgerAccount::GiftCard
            },
            holder: mask(&holder),
            amount: Money::new(amount, currency),
            short: Money::new(short, currency),
            source: source.map_or(SpendSource::Cached, |s| SpendSource::from_code(&s)),
            outcome,
        },
    }))
}

/// A flag's id as sent: stable for the flag, whichever store receives it, and telling
/// nothing of the reference.
pub fn flag_id(kind: &str, subject: &str) -> String {
    let digest = Sha256::digest(format!("{kind}:{subject}").as_bytes());
    hex::encode(&digest[..12])
}

fn flag(conn: &Connection, kind: &str, subject: &str) -> Result<Option<LedgerDelta>> {
    let id = flag_id(kind, subject);
    let found = match kind {
        "token_at_two_stores" => conn
            .query_row(
                &format!(
                    "SELECT f.detail, f.created_at,
                            (SELECT u.subject FROM token_uses u WHERE u.token_id = f.subject
                             LIMIT 1),
                            {RESOLVED}
                     FROM flags f WHERE f.kind = ?1 AND f.subject = ?2"
                ),
                params![kind, subject],
                |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, i64>(1)?,
                        r.get::<_, Option<String>>(2)?.unwrap_or_default(),
                        r.get::<_, bool>(3)?,
                    ))
                },
            )
            .optional()?,
        "overspend_debt" | "reversal_clamped" => {
            let Some((account, holder)) = subject.split_once(':') else {
                return Ok(None);
            };
            let debt_sql = if account == "savings" {
                "(SELECT debt FROM savings_accounts WHERE customer = ?2)"
            } else {
                "(SELECT debt FROM gift_cards WHERE ref = ?2)"
            };
            conn.query_row(
                &format!(
                    "SELECT f.detail, f.created_at, coalesce({debt_sql}, 0), {RESOLVED}
                     FROM flags f
                     WHERE f.kind = ?1 AND f.subject = ?2 AND f.event_id IN
                         (SELECT event_id FROM account_moves WHERE account = ?3 AND holder = ?2)"
                ),
                params![kind, holder, account],
                |r| {
                    let debt: i64 = r.get(2)?;
                    let resolved: bool = r.get(3)?;
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, i64>(1)?,
                        holder.to_owned(),
                        resolved || (kind == "overspend_debt" && debt == 0),
                    ))
                },
            )
            .optional()?
        }
        _ => return Ok(None),
    };
    let Some((detail, raised_at, holder, resolved)) = found else {
        return Ok(Some(LedgerDelta::Gone { id }));
    };
    let kind: EventFlag = serde_json::from_value(serde_json::Value::String(kind.to_owned()))
        .map_err(Error::internal)?;
    Ok(Some(LedgerDelta::Flag {
        flag: LedgerFlag {
            id,
            kind,
            holder: mask(&holder),
            detail,
            raised_at,
            resolved,
        },
    }))
}

/// A store's ledger as it stands at `now`: its spends (newest first) and its flags — what
/// the store's tills hold once they pulled every page. For the administrator and tests.
pub fn of_store(conn: &Connection, store: &str, now: i64) -> Result<Vec<LedgerDelta>> {
    let keys: Vec<String> = conn
        .prepare(
            "SELECT key FROM changes c WHERE kind = 'ledger' AND owner = ?1
               AND NOT EXISTS (SELECT 1 FROM changes d
                               WHERE d.kind = c.kind AND d.key = c.key AND d.seq > c.seq)
             ORDER BY seq",
        )?
        .query_map([store], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    let mut items = Vec::with_capacity(keys.len());
    for key in keys {
        match item(conn, &key, now)? {
            Some(LedgerDelta::Gone { .. }) | None => {}
            Some(found) => items.push(found),
        }
    }
    Ok(items)
}
