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
//!   tills moved that account; `token_at_two_stores` every store where the token was used;
//!   `return_exceeds_sale` the store that made the sale (the sale id masked).
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
    BalanceSource, EventFlag, EventId, LEDGER_RETENTION_SECS, LedgerAccount, LedgerDelta,
    LedgerFlag, LedgerOutcome, LedgerSpend, TillId, mask,
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

/// Records a sale's `return_exceeds_sale` flag for the store that made the sale: `$1`
/// sale id, `$2` now.
pub const RETURN_FLAG: &str = "INSERT INTO changes (kind, key, owner, at)
     SELECT DISTINCT 'ledger', 'f:' || store || ':return_exceeds_sale:' || sale_id, store,
            CAST($2 AS BIGINT)
     FROM store_sales WHERE sale_id = $1";

/// The oldest spend time still served at `now`.
pub fn oldest_kept(now: i64) -> i64 {
    now.saturating_sub(LEDGER_RETENTION_SECS)
}

/// The statement for SQLite (`?N` for `$N`).
pub fn sqlite(sql: &str) -> String {
    sql.replace('$', "?")
}

/// What a key of the `ledger` change log names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key<'a> {
    /// A spend: its event id (`s:{event}`).
    Spend(&'a str),
    /// A flag sent to one store (`f:{store}:{kind}:{subject}`).
    Flag {
        /// The flag's kind.
        kind: &'a str,
        /// What it is about: a token id, or `{account}:{holder}`.
        subject: &'a str,
    },
}

impl<'a> Key<'a> {
    /// Reads a key; `None` for one of another form.
    pub fn parse(key: &'a str) -> Option<Key<'a>> {
        if let Some(event_id) = key.strip_prefix("s:") {
            return Some(Key::Spend(event_id));
        }
        // f:{store}:{kind}:{subject}; ids never hold ':' (ASCII letters, digits, '-', '_',
        // '.').
        let mut parts = key.strip_prefix("f:")?.splitn(3, ':');
        let (Some(_store), Some(kind), Some(subject)) = (parts.next(), parts.next(), parts.next())
        else {
            return None;
        };
        Some(Key::Flag { kind, subject })
    }
}

/// A spend's row: `$1` event id, `$2` the oldest time kept. Columns as [`SpendRow`].
pub const SPEND_ROW: &str = "SELECT m.account, m.holder, m.at, m.till, m.amount, m.short,
            m.source, coalesce(s.currency, g.currency), coalesce(s.debt, g.debt, 0)
     FROM account_moves m
     LEFT JOIN savings_accounts s ON m.account = 'savings' AND s.customer = m.holder
     LEFT JOIN gift_cards g ON m.account = 'gift_card' AND g.ref = m.holder
     WHERE m.event_id = $1 AND m.direction = 'debit' AND m.at >= $2";

/// A `token_at_two_stores` flag: `$1` kind, `$2` token id. Columns as [`FlagRow`] (the
/// token's subject as holder).
pub const TOKEN_FLAG_ROW: &str = "SELECT f.detail, f.created_at,
            coalesce((SELECT u.subject FROM token_uses u WHERE u.token_id = f.subject
                      ORDER BY u.used_at, u.event_id LIMIT 1), ''),
            CAST(0 AS BIGINT),
            EXISTS (SELECT 1 FROM flag_resolutions r
                    WHERE r.kind = f.kind AND r.subject = f.subject AND r.detail = f.detail)
     FROM flags f WHERE f.kind = $1 AND f.subject = $2 LIMIT 1";

/// An account's flag, for a customer's savings: `$1` kind, `$2` holder, `$3` account.
/// Columns as [`FlagRow`] (the account's debt last).
pub const SAVINGS_FLAG_ROW: &str = "SELECT f.detail, f.created_at, f.subject,
            coalesce((SELECT debt FROM savings_accounts WHERE customer = $2), 0),
            EXISTS (SELECT 1 FROM flag_resolutions r
                    WHERE r.kind = f.kind AND r.subject = f.subject AND r.detail = f.detail)
     FROM flags f
     WHERE f.kind = $1 AND f.subject = $2 AND f.event_id IN
         (SELECT event_id FROM account_moves WHERE account = $3 AND holder = $2)
     LIMIT 1";

/// An account's flag, for a gift card: as [`SAVINGS_FLAG_ROW`].
pub const GIFT_CARD_FLAG_ROW: &str = "SELECT f.detail, f.created_at, f.subject,
            coalesce((SELECT debt FROM gift_cards WHERE ref = $2), 0),
            EXISTS (SELECT 1 FROM flag_resolutions r
                    WHERE r.kind = f.kind AND r.subject = f.subject AND r.detail = f.detail)
     FROM flags f
     WHERE f.kind = $1 AND f.subject = $2 AND f.event_id IN
         (SELECT event_id FROM account_moves WHERE account = $3 AND holder = $2)
     LIMIT 1";

/// A sale's `return_exceeds_sale` flag, its latest: `$1` kind, `$2` sale id. Columns as
/// [`FlagRow`] (the sale id as holder, masked when sent).
pub const RETURN_FLAG_ROW: &str = "SELECT f.detail, f.created_at, f.subject, CAST(0 AS BIGINT),
            EXISTS (SELECT 1 FROM flag_resolutions r
                    WHERE r.kind = f.kind AND r.subject = f.subject AND r.detail = f.detail)
     FROM flags f WHERE f.kind = $1 AND f.subject = $2
     ORDER BY f.id DESC LIMIT 1";

/// How a flag key is read: the statement and its parameters (`kind`, then the token or
/// the holder, then the account).
pub fn flag_query<'a>(kind: &'a str, subject: &'a str) -> Option<(&'static str, Vec<&'a str>)> {
    match kind {
        "token_at_two_stores" => Some((TOKEN_FLAG_ROW, vec![kind, subject])),
        "return_exceeds_sale" => Some((RETURN_FLAG_ROW, vec![kind, subject])),
        "overspend_debt" | "reversal_clamped" => {
            let (account, holder) = subject.split_once(':')?;
            let sql = if account == "savings" {
                SAVINGS_FLAG_ROW
            } else {
                GIFT_CARD_FLAG_ROW
            };
            Some((sql, vec![kind, holder, account]))
        }
        _ => None,
    }
}

/// A spend as read by [`SPEND_ROW`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpendRow {
    /// `savings` or `gift_card`.
    pub account: String,
    /// The customer or the card.
    pub holder: String,
    /// When it happened.
    pub at: i64,
    /// The till.
    pub till: String,
    /// How much was spent.
    pub amount: i64,
    /// The part the balance did not cover.
    pub short: i64,
    /// What the till spent from.
    pub source: Option<String>,
    /// The account's currency; `None` when the account is gone.
    pub currency: Option<String>,
    /// The account's debt now.
    pub debt: i64,
}

/// A flag as read by [`TOKEN_FLAG_ROW`], [`SAVINGS_FLAG_ROW`] or [`GIFT_CARD_FLAG_ROW`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlagRow {
    /// What the flag says.
    pub detail: String,
    /// When it was raised.
    pub raised_at: i64,
    /// Whose: a customer, a card, or the token's subject.
    pub holder: String,
    /// The account's debt now (0 for a token's flag).
    pub debt: i64,
    /// Whether central IT resolved it, as it reads now ([`crate::flags`]).
    pub resolved: bool,
}

/// The item for a spend, `row` `None` when there is nothing to send (past retention, not
/// a debit); an account that is gone (an erased customer) sends nothing either.
pub fn spend_item(event_id: &str, row: Option<SpendRow>) -> Result<Option<LedgerDelta>> {
    let Some(row) = row else {
        return Ok(None);
    };
    let Some(currency) = row.currency else {
        return Ok(None);
    };
    let currency = crate::storage::money(&currency, 0)?.currency;
    let outcome = match (row.short, row.debt) {
        (0, _) => LedgerOutcome::Confirmed,
        (_, 0) => LedgerOutcome::Resolved,
        _ => LedgerOutcome::Debt,
    };
    Ok(Some(LedgerDelta::Spend {
        spend: LedgerSpend {
            id: event_id.parse::<EventId>().map_err(Error::internal)?,
            till: TillId::new(row.till).map_err(Error::internal)?,
            at: row.at,
            account: if row.account == "savings" {
                LedgerAccount::Savings
            } else {
                LedgerAccount::GiftCard
            },
            holder: mask(&row.holder),
            amount: Money::new(row.amount, currency),
            short: Money::new(row.short, currency),
            source: row.source.map_or(BalanceSource::Cached, |s| {
                BalanceSource::from_code(&s).unwrap_or(BalanceSource::Unknown)
            }),
            outcome,
        },
    }))
}

/// The item for a flag key: the flag as it stands, or `gone` when a late journal
/// withdrew it (`row` `None`).
pub fn flag_item(kind: &str, subject: &str, row: Option<FlagRow>) -> Result<LedgerDelta> {
    let id = flag_id(kind, subject);
    let Some(row) = row else {
        return Ok(LedgerDelta::Gone { id });
    };
    let resolved = row.resolved || (kind == "overspend_debt" && row.debt == 0);
    let kind: EventFlag = serde_json::from_value(serde_json::Value::String(kind.to_owned()))
        .map_err(Error::internal)?;
    Ok(LedgerDelta::Flag {
        flag: LedgerFlag {
            id,
            kind,
            holder: mask(&row.holder),
            detail: row.detail,
            raised_at: row.raised_at,
            resolved,
        },
    })
}

/// The item for a changed key of the `ledger` stream, as it stands at `now`; `None` when
/// there is nothing to send (a spend past retention, a key of another form).
pub fn item(conn: &Connection, key: &str, now: i64) -> Result<Option<LedgerDelta>> {
    match Key::parse(key) {
        None => Ok(None),
        Some(Key::Spend(event_id)) => {
            let row = conn
                .prepare_cached(&sqlite(SPEND_ROW))?
                .query_row(params![event_id, oldest_kept(now)], |r| {
                    Ok(SpendRow {
                        account: r.get(0)?,
                        holder: r.get(1)?,
                        at: r.get(2)?,
                        till: r.get(3)?,
                        amount: r.get(4)?,
                        short: r.get(5)?,
                        source: r.get(6)?,
                        currency: r.get(7)?,
                        debt: r.get(8)?,
                    })
                })
                .optional()?;
            spend_item(event_id, row)
        }
        Some(Key::Flag { kind, subject }) => {
            let Some((sql, args)) = flag_query(kind, subject) else {
                return Ok(None);
            };
            let row = conn
                .prepare_cached(&sqlite(sql))?
                .query_row(rusqlite::params_from_iter(args), |r| {
                    Ok(FlagRow {
                        detail: r.get(0)?,
                        raised_at: r.get(1)?,
                        holder: r.get(2)?,
                        debt: r.get(3)?,
                        resolved: r.get(4)?,
                    })
                })
                .optional()?;
            flag_item(kind, subject, row).map(Some)
        }
    }
}

/// A flag's id as sent: stable for the flag, whichever store receives it, and telling
/// nothing of the reference.
pub fn flag_id(kind: &str, subject: &str) -> String {
    let digest = Sha256::digest(format!("{kind}:{subject}").as_bytes());
    hex::encode(&digest[..12])
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
