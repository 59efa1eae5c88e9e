//! The live lookup (`POST /v1/lookup`): a till meeting a customer or a gift card it does
//! not hold asks for the current balance, and uses it for that scan instead of the
//! token's snapshot. Read-only: savings pending release whose time has come count as
//! spendable (as the next write releases them), a debt is taken off, and nothing is
//! written.
//!
//! Scope: central sends every customer and card to every till today, so there is no
//! per-store scope to add the customer to; when scoped feeds arrive, this is where the
//! asking store's scope grows.

use rusqlite::Connection;
use tillpass_protocol::money::Money;
use tillpass_protocol::sync::{GiftCardStatus, LookupAnswer, LookupKind, LookupRequest};

use crate::error::Result;
use crate::{customers, giftcards};

/// Central's answer to a lookup at `now`.
pub fn answer(conn: &Connection, request: &LookupRequest, now: i64) -> Result<LookupAnswer> {
    let subject = request.subject.as_str();
    let none = || LookupAnswer::not_found(request.kind, request.subject.clone(), now);
    match request.kind {
        LookupKind::Customer => {
            if customers::is_erased(conn, subject)? {
                return Ok(none());
            }
            let Some(record) = customers::record(conn, subject)? else {
                return Ok(none());
            };
            let Some((balance, debt, _)) = customers::balance(conn, subject)? else {
                return Ok(none());
            };
            let due: i64 = conn
                .prepare_cached(
                    "SELECT coalesce(sum(amount), 0) FROM pending_savings
                     WHERE customer = ?1 AND release_at <= ?2",
                )?
                .query_row(rusqlite::params![subject, now], |row| row.get(0))?;
            let spendable = balance
                .amount
                .saturating_add(due)
                .saturating_sub(debt.amount)
                .max(0);
            Ok(LookupAnswer {
                found: true,
                tier: record.tier,
                balance: Some(Money::new(spendable, balance.currency)),
                ..none()
            })
        }
        LookupKind::GiftCard => {
            let Some(card) = giftcards::get(conn, subject)? else {
                return Ok(none());
            };
            let expired = card.expires_at.is_some_and(|e| e <= now);
            if card.status == GiftCardStatus::Blocked || expired {
                return Ok(none());
            }
            let spendable = card.balance.amount.saturating_sub(card.debt.amount).max(0);
            Ok(LookupAnswer {
                found: true,
                balance: Some(Money::new(spendable, card.balance.currency)),
                expires_at: card.expires_at,
                ..none()
            })
        }
    }
}
