//! Balance claims: what the till relies on for a customer or a gift card it does not hold
//! from central's deltas — the signed snapshot a verified token carried, or central's
//! answer to a live lookup.
//!
//! A claim is applied to the same rows a cached balance lives in (the customer's savings
//! account, the gift card), so every spend goes through the one arithmetic of
//! [`super::balances`]: `synced_balance` becomes the claimed balance and `unsynced_spent`
//! keeps what this till spent, across claims — a newer pass does not forget an earlier
//! spend. Which claim wins: the newest (`as_of`); a live answer is central's present
//! balance, newer than any token. Central's own balance, when its delta arrives, replaces
//! the claim ([`forget`]). Every function is part of the caller's transaction.

use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;
use tillpass_protocol::sync::BalanceSource;

use super::{StoreError, sql};

/// What a claim is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A customer's savings.
    Customer,
    /// A gift card's balance.
    GiftCard,
}

impl Kind {
    fn code(self) -> &'static str {
        match self {
            Kind::Customer => "customer",
            Kind::GiftCard => "gift_card",
        }
    }
}

/// A balance the till relies on without central's deltas.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Claim {
    /// `snapshot` (a verified token's claim) or `live` (central's answer).
    pub source: BalanceSource,
    /// The token it came with, hex.
    pub token_id: Option<String>,
    /// The balance claimed, minor units (never negative).
    pub amount: i64,
    /// ISO 4217 code.
    pub currency: String,
    /// As of when, unix seconds: the token's issue, or central's answer.
    pub as_of: i64,
}

/// The claim held for `subject`, if any.
pub fn get(conn: &Connection, kind: Kind, subject: &str) -> Result<Option<Claim>, StoreError> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT source, token_id, amount, currency, as_of FROM balance_claims
             WHERE kind = ?1 AND subject = ?2",
        )
        .map_err(sql)?;
    let row = stmt
        .query_row(params![kind.code(), subject], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, Option<String>>(1)?,
                r.get::<_, i64>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, i64>(4)?,
            ))
        })
        .optional()
        .map_err(sql)?;
    let Some((source, token_id, amount, currency, as_of)) = row else {
        return Ok(None);
    };
    let source = BalanceSource::from_code(&source)
        .filter(|s| *s != BalanceSource::Cached)
        .ok_or_else(|| StoreError::Corrupted(format!("balance claim source {source}")))?;
    Ok(Some(Claim {
        source,
        token_id,
        amount,
        currency,
        as_of,
    }))
}

/// Whether the till holds central's own balance for `subject` (a cached one): a savings
/// account or a gift card that no claim made.
pub fn holds_cached(conn: &Connection, kind: Kind, subject: &str) -> Result<bool, StoreError> {
    let table = match kind {
        Kind::Customer => "SELECT 1 FROM savings_accounts WHERE customer_ref = ?1",
        Kind::GiftCard => "SELECT 1 FROM gift_cards WHERE card_ref = ?1",
    };
    let held = conn
        .prepare_cached(table)
        .map_err(sql)?
        .query_row([subject], |_| Ok(()))
        .optional()
        .map_err(sql)?
        .is_some();
    Ok(held && get(conn, kind, subject)?.is_none())
}

/// Applies `claim` to `subject`, unless the till holds central's own balance for it or a
/// newer claim: the savings account or the gift card takes the claimed balance, keeping
/// what was spent here. Returns whether it was applied. `now` dates a gift card's row.
pub fn apply(
    conn: &Connection,
    kind: Kind,
    subject: &str,
    claim: &Claim,
    now: i64,
) -> Result<bool, StoreError> {
    if claim.source == BalanceSource::Cached || claim.amount < 0 {
        return Ok(false);
    }
    if holds_cached(conn, kind, subject)? {
        return Ok(false);
    }
    if let Some(held) = get(conn, kind, subject)?
        && held.as_of > claim.as_of
    {
        return Ok(false);
    }
    match kind {
        Kind::Customer => conn
            .execute(
                "INSERT INTO savings_accounts(customer_ref, currency, synced_balance)
                 VALUES (?1, ?2, ?3)
                 ON CONFLICT(customer_ref) DO UPDATE SET currency = excluded.currency,
                   synced_balance = excluded.synced_balance",
                params![subject, claim.currency, claim.amount],
            )
            .map_err(sql)?,
        Kind::GiftCard => conn
            .execute(
                "INSERT INTO gift_cards(card_ref, currency, synced_balance, updated_at)
                 VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT(card_ref) DO UPDATE SET currency = excluded.currency,
                   synced_balance = excluded.synced_balance, updated_at = excluded.updated_at",
                params![subject, claim.currency, claim.amount, now],
            )
            .map_err(sql)?,
    };
    conn.execute(
        "INSERT INTO balance_claims(kind, subject, source, token_id, amount, currency, as_of)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
         ON CONFLICT(kind, subject) DO UPDATE SET source = excluded.source,
           token_id = excluded.token_id, amount = excluded.amount,
           currency = excluded.currency, as_of = excluded.as_of",
        params![
            kind.code(),
            subject,
            claim.source.code(),
            claim.token_id,
            claim.amount,
            claim.currency,
            claim.as_of
        ],
    )
    .map_err(sql)?;
    Ok(true)
}

/// Marks the balance the till holds for `subject` unconfirmed (central stopped sending it,
/// `CustomerDelta::LeftScope`): it becomes a `snapshot` claim of what it was (never
/// negative), as of 0, so that the till no longer holds it as cached — the next scan asks
/// central live, and any newer claim (a live answer, a token's snapshot) replaces it —
/// while `unsynced_spent` and `pending` stay as they are. A claim already held is kept.
/// Returns whether a balance was there to mark.
pub fn unconfirm(conn: &Connection, kind: Kind, subject: &str) -> Result<bool, StoreError> {
    let held = match kind {
        Kind::Customer => {
            "SELECT synced_balance, currency FROM savings_accounts
                           WHERE customer_ref = ?1"
        }
        Kind::GiftCard => "SELECT synced_balance, currency FROM gift_cards WHERE card_ref = ?1",
    };
    let Some((balance, currency)) = conn
        .prepare_cached(held)
        .map_err(sql)?
        .query_row([subject], |r| {
            Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?))
        })
        .optional()
        .map_err(sql)?
    else {
        return Ok(false);
    };
    conn.execute(
        "INSERT INTO balance_claims(kind, subject, source, token_id, amount, currency, as_of)
         VALUES (?1, ?2, ?3, NULL, ?4, ?5, 0)
         ON CONFLICT(kind, subject) DO NOTHING",
        params![
            kind.code(),
            subject,
            BalanceSource::Snapshot.code(),
            balance.max(0),
            currency
        ],
    )
    .map_err(sql)?;
    Ok(true)
}

/// Forgets the claim on `subject`: central's own balance has arrived.
pub fn forget(conn: &Connection, kind: Kind, subject: &str) -> Result<(), StoreError> {
    conn.prepare_cached("DELETE FROM balance_claims WHERE kind = ?1 AND subject = ?2")
        .map_err(sql)?
        .execute(params![kind.code(), subject])
        .map_err(sql)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::customers;

    fn store() -> (tempfile::TempDir, crate::store::Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::store::Store::open(dir.path()).unwrap();
        (dir, store)
    }

    fn snapshot(amount: i64, as_of: i64) -> Claim {
        Claim {
            source: BalanceSource::Snapshot,
            token_id: Some("0102030405060708".into()),
            amount,
            currency: "EUR".into(),
            as_of,
        }
    }

    #[test]
    fn a_newer_claim_replaces_the_balance_and_keeps_what_was_spent() {
        let (_dir, store) = store();
        let conn = store.conn();
        customers::create_local(&conn, "C-1", 10).unwrap();
        assert!(apply(&conn, Kind::Customer, "C-1", &snapshot(1000, 100), 10).unwrap());
        conn.execute(
            "UPDATE savings_accounts SET unsynced_spent = 300 WHERE customer_ref = 'C-1'",
            [],
        )
        .unwrap();
        // An older pass changes nothing; a newer one sets the balance, not the spend.
        assert!(!apply(&conn, Kind::Customer, "C-1", &snapshot(5000, 50), 10).unwrap());
        assert!(apply(&conn, Kind::Customer, "C-1", &snapshot(800, 200), 10).unwrap());
        let view = customers::lookup(&conn, "C-1", 10).unwrap().unwrap();
        let savings = view.savings.unwrap();
        assert_eq!((savings.synced, savings.unsynced_spent), (800, 300));
        assert_eq!(
            get(&conn, Kind::Customer, "C-1").unwrap().unwrap().as_of,
            200
        );
    }

    #[test]
    fn a_cached_balance_is_never_replaced_by_a_claim() {
        let (_dir, store) = store();
        let conn = store.conn();
        customers::put(
            &conn,
            &customers::NewCustomer {
                customer_ref: "C-2",
                first_name: None,
                tier: None,
                lang: "es",
                savings: Some(("EUR", 40)),
            },
            10,
        )
        .unwrap();
        assert!(holds_cached(&conn, Kind::Customer, "C-2").unwrap());
        assert!(!apply(&conn, Kind::Customer, "C-2", &snapshot(9000, 100), 10).unwrap());
        let savings = customers::lookup(&conn, "C-2", 10)
            .unwrap()
            .unwrap()
            .savings
            .unwrap();
        assert_eq!(savings.synced, 40);
    }

    #[test]
    fn a_card_claim_makes_the_card_and_goes_when_central_speaks() {
        let (_dir, store) = store();
        let conn = store.conn();
        assert!(apply(&conn, Kind::GiftCard, "GC-1", &snapshot(2500, 100), 10).unwrap());
        let card = crate::store::balances::card(&conn, "GC-1")
            .unwrap()
            .unwrap();
        assert_eq!((card.synced_balance, card.unsynced_spent), (2500, 0));
        assert!(!holds_cached(&conn, Kind::GiftCard, "GC-1").unwrap());
        forget(&conn, Kind::GiftCard, "GC-1").unwrap();
        assert!(holds_cached(&conn, Kind::GiftCard, "GC-1").unwrap());
    }
}
