//! Money movements at this till: savings earned, spent and given back, gift-card holds,
//! debits and credits — what the till knows before central confirms it.
//!
//! Savings: `pending` grows with what a sale earns (it becomes spendable when central
//! confirms it, after the return window); `unsynced_spent` grows with redemptions and
//! shrinks with re-credits. Gift cards: `unsynced_spent` grows with debits and shrinks
//! with credits. Every function is part of the caller's transaction.

use rusqlite::{Connection, OptionalExtension, params};

use super::{StoreError, sql};

/// A gift card as the till knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Card {
    /// Its reference.
    pub card_ref: String,
    /// ISO 4217 code.
    pub currency: String,
    /// What central last confirmed.
    pub synced_balance: i64,
    /// Spent here since.
    pub unsynced_spent: i64,
    /// When it expires, unix seconds.
    pub expires_at: Option<i64>,
    /// Whether it is blocked.
    pub blocked: bool,
}

/// A hold on a gift card.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hold {
    pub hold_id: String,
    /// The gift card's reference.
    pub card_ref: String,
    /// The session holding it.
    pub session_id: String,
    /// The amount held.
    pub amount: i64,
    /// When it lapses, unix seconds.
    pub expires_at: i64,
}

/// Reads a gift card.
pub fn card(conn: &Connection, card_ref: &str) -> Result<Option<Card>, StoreError> {
    conn.query_row(
        "SELECT card_ref, currency, synced_balance, unsynced_spent, expires_at, blocked
         FROM gift_cards WHERE card_ref = ?1",
        [card_ref],
        |r| {
            Ok(Card {
                card_ref: r.get(0)?,
                currency: r.get(1)?,
                synced_balance: r.get(2)?,
                unsynced_spent: r.get(3)?,
                expires_at: r.get(4)?,
                blocked: r.get(5)?,
            })
        },
    )
    .optional()
    .map_err(sql)
}

/// The holds on a card, or of a session.
fn holds_where(conn: &Connection, column: &str, value: &str) -> Result<Vec<Hold>, StoreError> {
    let query = format!(
        "SELECT hold_id, card_ref, session_id, amount, expires_at FROM gift_card_holds
         WHERE {column} = ?1 ORDER BY hold_id"
    );
    let mut stmt = conn.prepare_cached(&query).map_err(sql)?;
    stmt.query_map([value], |r| {
        Ok(Hold {
            hold_id: r.get(0)?,
            card_ref: r.get(1)?,
            session_id: r.get(2)?,
            amount: r.get(3)?,
            expires_at: r.get(4)?,
        })
    })
    .map_err(sql)?
    .collect::<Result<Vec<_>, _>>()
    .map_err(sql)
}

/// The holds on a card.
pub fn holds_on(conn: &Connection, card_ref: &str) -> Result<Vec<Hold>, StoreError> {
    holds_where(conn, "card_ref", card_ref)
}

/// The holds a session placed.
pub fn holds_of(conn: &Connection, session_id: &str) -> Result<Vec<Hold>, StoreError> {
    holds_where(conn, "session_id", session_id)
}

/// Places a hold.
pub fn hold(conn: &Connection, h: &Hold) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO gift_card_holds(hold_id, card_ref, session_id, amount, expires_at)
         VALUES (?1, ?2, ?3, ?4, ?5)",
        params![h.hold_id, h.card_ref, h.session_id, h.amount, h.expires_at],
    )
    .map_err(sql)?;
    Ok(())
}

/// Removes a hold (released, or turned into a debit).
pub fn drop_hold(conn: &Connection, hold_id: &str) -> Result<(), StoreError> {
    conn.execute("DELETE FROM gift_card_holds WHERE hold_id = ?1", [hold_id])
        .map_err(sql)?;
    Ok(())
}

/// Debits (positive `amount`) or credits (negative) a card at this till.
pub fn card_spent(conn: &Connection, card_ref: &str, amount: i64) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE gift_cards SET unsynced_spent = unsynced_spent + ?2 WHERE card_ref = ?1",
        params![card_ref, amount],
    )
    .map_err(sql)?;
    Ok(())
}

/// Adds to a customer's savings: `pending` earned (negative: taken back) and
/// `spent` (negative: re-credited). Creates the account in `currency` if there is none.
pub fn savings_moved(
    conn: &Connection,
    customer_ref: &str,
    currency: &str,
    pending: i64,
    spent: i64,
) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO savings_accounts(customer_ref, currency, pending, unsynced_spent)
         VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT(customer_ref) DO UPDATE SET pending = pending + excluded.pending,
           unsynced_spent = unsynced_spent + excluded.unsynced_spent",
        params![customer_ref, currency, pending, spent],
    )
    .map_err(sql)?;
    Ok(())
}
