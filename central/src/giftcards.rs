//! Gift cards: created by an administrator with an opening balance, debited and credited
//! by tills' journals, blocked and unblocked by central. Every change goes to the change
//! log so tills receive it.

use rusqlite::{Connection, OptionalExtension, params};
use serde::Deserialize;
use tillpass_protocol::money::{Currency, Money};
use tillpass_protocol::sync::{
    CustomerRef, DeltaKind, GiftCardRecord, GiftCardRef, GiftCardStatus,
};

use crate::error::{Error, Result};
use crate::{changes, settings};

/// The longest gift-card reference: a token subject holds at most 16 bytes.
pub const MAX_REF_LEN: usize = 16;

/// What an administrator sends to create a gift card.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewGiftCard {
    /// The card's reference (1 to 16 characters).
    pub card: GiftCardRef,
    /// The opening balance, minor units.
    pub balance: i64,
    /// The currency; central's default when absent.
    #[serde(default)]
    pub currency: Option<Currency>,
    /// When it stops being usable: unix seconds.
    #[serde(default)]
    pub expires_at: Option<i64>,
}

/// Creates a gift card.
pub fn create(conn: &mut Connection, new: &NewGiftCard, now: i64) -> Result<GiftCardRecord> {
    if new.card.as_str().len() > MAX_REF_LEN {
        return Err(Error::invalid(format!(
            "card: a reference is at most {MAX_REF_LEN} characters"
        )));
    }
    if new.balance < 0 {
        return Err(Error::invalid("balance: must not be negative"));
    }
    let currency = match new.currency {
        Some(c) => c,
        None => settings::currency(conn)?,
    };
    let tx = conn.transaction()?;
    let inserted = tx.execute(
        "INSERT INTO gift_cards (ref, currency, balance, status, expires_at, created_at, updated_at)
         VALUES (?1, ?2, ?3, 'active', ?4, ?5, ?5) ON CONFLICT (ref) DO NOTHING",
        params![new.card.as_str(), currency.code(), new.balance, new.expires_at, now],
    )?;
    if inserted == 0 {
        return Err(Error::Conflict(
            "a gift card with this reference exists".into(),
        ));
    }
    changes::record(&tx, DeltaKind::GiftCards, new.card.as_str(), None, now)?;
    tx.commit()?;
    get(conn, new.card.as_str())?.ok_or(Error::NotFound("gift card"))
}

/// One gift card.
pub fn get(conn: &Connection, card: &str) -> Result<Option<GiftCardRecord>> {
    let row = conn
        .query_row(
            "SELECT ref, currency, balance, debt, status, expires_at, owner FROM gift_cards
             WHERE ref = ?1",
            [card],
            |row| {
                Ok((
                    row.get::<_, String>(0)?,
                    row.get::<_, String>(1)?,
                    row.get::<_, i64>(2)?,
                    row.get::<_, i64>(3)?,
                    row.get::<_, String>(4)?,
                    row.get::<_, Option<i64>>(5)?,
                    row.get::<_, Option<String>>(6)?,
                ))
            },
        )
        .optional()?;
    row.map(
        |(card, currency, balance, debt, status, expires_at, owner)| {
            let currency = Currency::from_code(&currency).map_err(Error::internal)?;
            Ok(GiftCardRecord {
                card: GiftCardRef::new(card).map_err(Error::internal)?,
                balance: Money::new(balance, currency),
                debt: Money::new(debt, currency),
                status: if status == "blocked" {
                    GiftCardStatus::Blocked
                } else {
                    GiftCardStatus::Active
                },
                expires_at,
                owner: owner
                    .map(CustomerRef::new)
                    .transpose()
                    .map_err(Error::internal)?,
            })
        },
    )
    .transpose()
}

/// Makes `owner` the card's owner (`None`: nobody), and logs a change of the card: it
/// reaches its owner's stores (`crate::scope`) carrying the owner, so their tills drop it
/// with the owner when the owner leaves their scope. Answers the card.
pub fn set_owner(
    conn: &mut Connection,
    card: &str,
    owner: Option<&str>,
    now: i64,
) -> Result<GiftCardRecord> {
    update_and_log(
        conn,
        "UPDATE gift_cards SET owner = ?2, updated_at = ?3 WHERE ref = ?1",
        card,
        &owner,
        now,
    )
}

/// Blocks or unblocks a card.
pub fn set_status(
    conn: &mut Connection,
    card: &str,
    status: GiftCardStatus,
    now: i64,
) -> Result<GiftCardRecord> {
    let code = match status {
        GiftCardStatus::Active => "active",
        GiftCardStatus::Blocked => "blocked",
    };
    update_and_log(
        conn,
        "UPDATE gift_cards SET status = ?2, updated_at = ?3 WHERE ref = ?1",
        card,
        &code,
        now,
    )
}

/// Runs `update` (`?1` the card, `?2` `value`, `?3` `now`) and logs a change of the card,
/// in one transaction; answers the card.
fn update_and_log(
    conn: &mut Connection,
    update: &str,
    card: &str,
    value: &dyn rusqlite::ToSql,
    now: i64,
) -> Result<GiftCardRecord> {
    let tx = conn.transaction()?;
    if tx.execute(update, params![card, value, now])? == 0 {
        return Err(Error::NotFound("gift card"));
    }
    changes::record(&tx, DeltaKind::GiftCards, card, None, now)?;
    tx.commit()?;
    get(conn, card)?.ok_or(Error::NotFound("gift card"))
}
