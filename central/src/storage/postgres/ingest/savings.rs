//! The batch's savings accounts as read under their locks, and the savings movements the
//! batch holds back to write in one statement each.
//!
//! A movement on an account the batch knows (read when it was locked, moved by this batch
//! alone since) and with nothing placed after it in the account's log is replayed here,
//! in memory: its log row, its pending entry and the account's new state wait in the
//! batch and are written, in order, whenever the batch flushes — before anything reads
//! them back. Any other movement (an account created in the batch, rows placed after it,
//! due or taken-back pending savings) leaves the account to the database for the rest of
//! the batch: what is held back is written first, and the movement reads what it needs.

use std::collections::{HashMap, HashSet};

use deadpool_postgres::Transaction;
use tillpass_protocol::sync::{AckOutcome, JournalEvent, movement};
use tokio_postgres::Row;

use super::{exec, rows};
use crate::error::{Error, Result};
use crate::reconcile::{self, State};

/// A savings account as the batch knows it.
struct Known {
    currency: String,
    state: State,
    /// The state changed since it was last written.
    dirty: bool,
    /// The places (till, at, seq) of the movements this batch logged on it.
    placed: Vec<(String, i64, i64)>,
}

/// A log row held back.
struct Move {
    holder: String,
    at: i64,
    event_id: String,
    direction: &'static str,
    amount: i64,
    before: State,
    after: State,
    short: i64,
    clamped: i64,
    store: String,
    till: String,
    seq: i64,
}

/// A pending entry held back.
struct Pending {
    customer: String,
    amount: i64,
    release_at: i64,
    sale_id: Option<String>,
    event_id: String,
}

/// What the batch knows of its savings accounts, and the writes it holds back.
#[derive(Default)]
pub(super) struct Savings {
    known: HashMap<String, Known>,
    /// The savings events with log rows placed after them before the batch began.
    followed: HashSet<String>,
    moves: Vec<Move>,
    pending: Vec<Pending>,
}

/// The savings events of a batch whose account's log has rows placed after them.
/// (A lateral probe of the log's order index per event: as `EXISTS` the planner may hash
/// every savings row of the log instead.)
const FOLLOWED: &str = "SELECT u.id
       FROM unnest($1::text[], $2::text[], $3::bigint[], $4::text[], $5::bigint[])
            AS u(id, holder, at, till, seq),
            LATERAL (SELECT 1 FROM account_moves m
                      WHERE m.account = 'savings' AND m.holder = u.holder
                        AND (m.at, m.till, m.seq) > (u.at, u.till, u.seq)
                      ORDER BY m.at, m.till, m.seq LIMIT 1) AS after";

impl Savings {
    /// The accounts from their locked rows (`customer, currency, balance, debt`), and
    /// which of the batch's savings events have log rows placed after them.
    pub async fn load(
        tx: &Transaction<'_>,
        locked: &[Row],
        admitted: &[std::result::Result<JournalEvent, AckOutcome>],
    ) -> Result<Savings> {
        let known = locked
            .iter()
            .map(|r| {
                let known = Known {
                    currency: r.get(1),
                    state: State {
                        balance: r.get(2),
                        debt: r.get(3),
                    },
                    dirty: false,
                    placed: vec![],
                };
                (r.get(0), known)
            })
            .collect();
        let mut ids = vec![];
        let mut holders = vec![];
        let mut times = vec![];
        let mut tills = vec![];
        let mut seqs = vec![];
        for event in admitted.iter().flatten() {
            if let Some(movement::Account::Savings(customer)) =
                event.payload.movement().map(|m| m.account)
            {
                ids.push(event.id.to_hex());
                holders.push(customer.as_str());
                times.push(event.occurred_at);
                tills.push(event.till.as_str());
                seqs.push(i64::try_from(event.seq).map_err(|_| Error::invalid("seq: too large"))?);
            }
        }
        let mut followed = HashSet::new();
        if !ids.is_empty() {
            followed = rows(tx, FOLLOWED, &[&ids, &holders, &times, &tills, &seqs])
                .await?
                .iter()
                .map(|r| r.get(0))
                .collect();
        }
        Ok(Savings {
            known,
            followed,
            moves: vec![],
            pending: vec![],
        })
    }

    /// The currency and state of `customer`'s account if the batch knows them and nothing
    /// in its log is placed after `event`: the movement may then be replayed here.
    pub fn known(&self, customer: &str, event: &JournalEvent) -> Option<(&str, State)> {
        let known = self.known.get(customer)?;
        if self.followed.contains(&event.id.to_hex()) {
            return None;
        }
        let seq = i64::try_from(event.seq).ok()?;
        let till = event.till.as_str();
        let after = |(t, at, s): &(String, i64, i64)| {
            // Another till's place is ordered by the database's collation: ask it.
            t != till || (*at, *s) > (event.occurred_at, seq)
        };
        if known.placed.iter().any(after) {
            return None;
        }
        Some((known.currency.as_str(), known.state))
    }

    /// The database is to hold `customer`'s account from now on in the batch.
    pub fn forget(&mut self, customer: &str) {
        self.known.remove(customer);
    }

    /// A movement on a known account was written (or held back): its new state.
    pub fn moved(&mut self, customer: &str, event: &JournalEvent, state: State, written: bool) {
        if let Some(known) = self.known.get_mut(customer) {
            known.state = state;
            known.dirty |= !written;
            known.placed.push((
                event.till.as_str().to_owned(),
                event.occurred_at,
                i64::try_from(event.seq).unwrap_or(i64::MAX),
            ));
        }
    }

    /// Holds back a movement's log row, replayed on a known account.
    pub fn hold_move(&mut self, customer: &str, event: &JournalEvent, new: &reconcile::Row) {
        self.moves.push(Move {
            holder: customer.to_owned(),
            at: new.place.at,
            event_id: new.place.key.clone(),
            direction: new.dir.code(),
            amount: new.amount,
            before: new.before,
            after: new.did.after,
            short: new.did.short,
            clamped: i64::from(new.did.clamped),
            store: event.store.as_str().to_owned(),
            till: new.place.till.clone(),
            seq: new.place.seq,
        });
    }

    /// Holds back a pending entry.
    pub fn hold_pending(
        &mut self,
        customer: &str,
        amount: i64,
        release_at: i64,
        sale_id: Option<&str>,
        event_id: &str,
    ) {
        self.pending.push(Pending {
            customer: customer.to_owned(),
            amount,
            release_at,
            sale_id: sale_id.map(str::to_owned),
            event_id: event_id.to_owned(),
        });
    }

    /// Writes what is held back: the log rows and the pending entries in order, and the
    /// accounts' new states — three statements in one round trip.
    pub async fn flush(&mut self, tx: &Transaction<'_>, now: i64) -> Result<()> {
        let moves = async {
            if self.moves.is_empty() {
                return Ok(());
            }
            let m = &self.moves;
            let holders: Vec<&str> = m.iter().map(|m| m.holder.as_str()).collect();
            let times: Vec<i64> = m.iter().map(|m| m.at).collect();
            let events: Vec<&str> = m.iter().map(|m| m.event_id.as_str()).collect();
            let directions: Vec<&str> = m.iter().map(|m| m.direction).collect();
            let amounts: Vec<i64> = m.iter().map(|m| m.amount).collect();
            let before_balances: Vec<i64> = m.iter().map(|m| m.before.balance).collect();
            let before_debts: Vec<i64> = m.iter().map(|m| m.before.debt).collect();
            let after_balances: Vec<i64> = m.iter().map(|m| m.after.balance).collect();
            let after_debts: Vec<i64> = m.iter().map(|m| m.after.debt).collect();
            let shorts: Vec<i64> = m.iter().map(|m| m.short).collect();
            let clamps: Vec<i64> = m.iter().map(|m| m.clamped).collect();
            let stores: Vec<&str> = m.iter().map(|m| m.store.as_str()).collect();
            let tills: Vec<&str> = m.iter().map(|m| m.till.as_str()).collect();
            let seqs: Vec<i64> = m.iter().map(|m| m.seq).collect();
            exec(
                tx,
                "INSERT INTO account_moves (account, holder, at, event_id, direction, amount,
                     before_balance, before_debt, after_balance, after_debt, short, clamped,
                     store, till, source, seq)
                 SELECT 'savings', holder, at, event_id, direction, amount, before_balance,
                        before_debt, after_balance, after_debt, short, clamped, store, till,
                        NULL, seq
                   FROM unnest($1::text[], $2::bigint[], $3::text[], $4::text[], $5::bigint[],
                               $6::bigint[], $7::bigint[], $8::bigint[], $9::bigint[],
                               $10::bigint[], $11::bigint[], $12::text[], $13::text[],
                               $14::bigint[]) WITH ORDINALITY
                        AS u(holder, at, event_id, direction, amount, before_balance,
                             before_debt, after_balance, after_debt, short, clamped, store,
                             till, seq, n)
                  ORDER BY n",
                &[
                    &holders,
                    &times,
                    &events,
                    &directions,
                    &amounts,
                    &before_balances,
                    &before_debts,
                    &after_balances,
                    &after_debts,
                    &shorts,
                    &clamps,
                    &stores,
                    &tills,
                    &seqs,
                ],
            )
            .await?;
            Ok::<(), Error>(())
        };
        let pending = async {
            if self.pending.is_empty() {
                return Ok(());
            }
            let p = &self.pending;
            let customers: Vec<&str> = p.iter().map(|p| p.customer.as_str()).collect();
            let amounts: Vec<i64> = p.iter().map(|p| p.amount).collect();
            let releases: Vec<i64> = p.iter().map(|p| p.release_at).collect();
            let sales: Vec<Option<&str>> = p.iter().map(|p| p.sale_id.as_deref()).collect();
            let events: Vec<&str> = p.iter().map(|p| p.event_id.as_str()).collect();
            exec(
                tx,
                "INSERT INTO pending_savings (customer, amount, release_at, sale_id, event_id)
                 SELECT customer, amount, release_at, sale_id, event_id
                   FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::text[], $5::text[])
                        WITH ORDINALITY AS u(customer, amount, release_at, sale_id, event_id, n)
                  ORDER BY n",
                &[&customers, &amounts, &releases, &sales, &events],
            )
            .await?;
            Ok(())
        };
        let dirty: Vec<(&str, State)> = self
            .known
            .iter()
            .filter(|(_, k)| k.dirty)
            .map(|(c, k)| (c.as_str(), k.state))
            .collect();
        let states = async {
            if dirty.is_empty() {
                return Ok(());
            }
            let customers: Vec<&str> = dirty.iter().map(|(c, _)| *c).collect();
            let balances: Vec<i64> = dirty.iter().map(|(_, s)| s.balance).collect();
            let debts: Vec<i64> = dirty.iter().map(|(_, s)| s.debt).collect();
            exec(
                tx,
                "UPDATE savings_accounts AS s SET balance = u.balance, debt = u.debt,
                        updated_at = $4
                   FROM unnest($1::text[], $2::bigint[], $3::bigint[])
                        AS u(customer, balance, debt)
                  WHERE s.customer = u.customer",
                &[&customers, &balances, &debts, &now],
            )
            .await?;
            Ok(())
        };
        tokio::try_join!(moves, pending, states)?;
        self.moves.clear();
        self.pending.clear();
        for known in self.known.values_mut() {
            known.dirty = false;
        }
        Ok(())
    }
}
