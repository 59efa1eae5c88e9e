//! Money movements on savings and gift cards (`tillpass_protocol::sync::movement`), as
//! [`crate::journal`] applies them on SQLite: the account's log replayed
//! ([`crate::reconcile`]), its balance, debts and flags.
//!
//! A savings movement on an account the batch holds as locked, with nothing logged after
//! it, is replayed in memory and held back to be written with the batch's others
//! ([`super::savings`]) unless it must be judged or enters the ledger. Any other reads
//! first (the account, its later log rows, in one round trip) and refuses before it
//! writes, unless pending savings must be released or taken first; those, and gift-card
//! movements, run under a savepoint ([`may_refuse_after_writing`]).

use deadpool_postgres::Transaction;
use tillpass_protocol::money::{Currency, Money};
use tillpass_protocol::sync::{
    DeltaKind, Direction, EventFlag, JournalEvent, Movement, RejectCode, movement,
};
use tokio_postgres::Row;
use tokio_postgres::types::ToSql;

use super::batch::{self, Batch};
use super::{Applied, exec, flag, is_erased, one_row, opt, rows};
use crate::error::{Error, Result};
use crate::reconcile::{self, Dir, Outcome, Replayed, State};
use crate::settings;
use crate::{journal, ledger};

/// Whether `event` may be refused after it wrote something (so it needs a savepoint):
/// a savings movement that releases due pending savings or takes some back, and any
/// gift-card movement. Every other event is refused, if at all, before it writes.
pub(super) fn may_refuse_after_writing(event: &JournalEvent, batch: &Batch) -> bool {
    let Some(movement) = event.payload.movement() else {
        return false;
    };
    match movement.account {
        movement::Account::Savings(customer) => {
            movement.direction == Direction::TakeBack || batch.due(customer.as_str())
        }
        movement::Account::GiftCard(_) => true,
    }
}

/// Applies one movement of money, as [`crate::journal`] does on SQLite.
pub(super) async fn moves(
    tx: &Transaction<'_>,
    batch: &mut Batch,
    event: &JournalEvent,
    movement: &Movement<'_>,
) -> Result<Applied> {
    let now = batch.now;
    let sale = movement.sale.map(|s| s.as_str());
    match movement.account {
        movement::Account::Savings(customer) => {
            let direction = match movement.direction {
                Direction::Earn => {
                    let start = event.occurred_at.min(now);
                    let window = batch::window_secs(tx, batch, start).await?;
                    SavingsMove::Earn {
                        release_at: start.saturating_add(window),
                        sale,
                    }
                }
                Direction::Spend => SavingsMove::Spend,
                Direction::GiveBack => SavingsMove::GiveBack,
                Direction::TakeBack => SavingsMove::TakeBack { sale },
            };
            savings(
                tx,
                batch,
                event,
                customer.as_str(),
                movement.amount,
                direction,
            )
            .await
        }
        movement::Account::GiftCard(card) => {
            let Some(direction) = journal::card_direction(movement.direction) else {
                return Ok(Applied::Rejected(
                    RejectCode::Invalid,
                    journal::NOT_A_CARD_MOVE.into(),
                ));
            };
            gift_card(tx, batch, event, card.as_str(), movement.amount, direction).await
        }
    }
}

/// The accounts money moves on.
#[derive(Clone, Copy)]
enum Account {
    Savings,
    GiftCard,
}

impl Account {
    fn lock(self) -> &'static str {
        match self {
            Account::Savings => {
                "SELECT currency, balance, debt FROM savings_accounts WHERE customer = $1 FOR UPDATE"
            }
            Account::GiftCard => {
                "SELECT currency, balance, debt FROM gift_cards WHERE ref = $1 FOR UPDATE"
            }
        }
    }

    /// Money in (pending savings released): pays the debt first, then the balance.
    fn credit(self) -> &'static str {
        match self {
            Account::Savings => {
                "UPDATE savings_accounts SET balance = balance + GREATEST($2 - debt, 0),
                 debt = GREATEST(debt - $2, 0), updated_at = $3 WHERE customer = $1"
            }
            Account::GiftCard => {
                "UPDATE gift_cards SET balance = balance + GREATEST($2 - debt, 0),
                 debt = GREATEST(debt - $2, 0), updated_at = $3 WHERE ref = $1"
            }
        }
    }

    fn code(self) -> &'static str {
        match self {
            Account::Savings => "savings",
            Account::GiftCard => "gift_card",
        }
    }
}

/// A locked account: its currency, balance and debt.
struct Locked {
    currency: String,
    balance: i64,
    debt: i64,
}

async fn lock(tx: &Transaction<'_>, account: Account, key: &str) -> Result<Option<Locked>> {
    Ok(opt(tx, account.lock(), &[&key]).await?.map(|r| Locked {
        currency: r.get(0),
        balance: r.get(1),
        debt: r.get(2),
    }))
}

/// How a savings event moves a customer's savings.
#[derive(Clone, Copy)]
enum SavingsMove<'a> {
    Earn {
        release_at: i64,
        sale: Option<&'a str>,
    },
    Spend,
    GiveBack,
    TakeBack {
        sale: Option<&'a str>,
    },
}

async fn savings(
    tx: &Transaction<'_>,
    batch: &mut Batch,
    event: &JournalEvent,
    customer: &str,
    amount: Money,
    direction: SavingsMove<'_>,
) -> Result<Applied> {
    let now = batch.now;
    let event_id = event.id.to_hex();
    let event_id = event_id.as_str();
    let holder = Holder {
        account: Account::Savings,
        key: customer,
        currency: amount.currency,
    };
    // A movement the batch can replay on the account as locked is held back; any other
    // leaves the account to the database (what is held back written first).
    let replayable = !batch.due(customer) && !matches!(direction, SavingsMove::TakeBack { .. });
    let known = replayable
        .then(|| batch.savings.known(customer, event))
        .flatten()
        .map(|(currency, state)| Locked {
            currency: currency.to_owned(),
            balance: state.balance,
            debt: state.debt,
        });
    let from_batch = known.is_some();
    let (held, later) = match known {
        Some(held) => (held, vec![]),
        None => {
            batch.savings.forget(customer);
            batch.flush_savings(tx).await?;
            let Some(found) = read_savings(tx, batch, customer, &holder, event).await? else {
                return Ok(if is_erased(tx, customer).await? {
                    Applied::Rejected(RejectCode::CustomerErased, "the customer was erased".into())
                } else {
                    Applied::Rejected(RejectCode::UnknownCustomer, "no such customer".into())
                });
            };
            found
        }
    };
    if held.currency != amount.currency.code() {
        return Ok(Applied::Rejected(
            RejectCode::CurrencyMismatch,
            format!("the savings account is in {}", held.currency),
        ));
    }
    let (direction, amount_now, pending) = match direction {
        SavingsMove::Earn { release_at, sale } if release_at > now => {
            (Dir::Credit, 0, Some((release_at, sale)))
        }
        SavingsMove::Earn { .. } | SavingsMove::GiveBack => (Dir::Credit, amount.amount, None),
        SavingsMove::Spend => (Dir::Debit, amount.amount, None),
        SavingsMove::TakeBack { sale } => {
            let from_pending = take_pending(tx, customer, sale, amount.amount).await?;
            (Dir::Clamp, amount.amount.saturating_sub(from_pending), None)
        }
    };
    let Some(replayed) = replay(&held, event, amount_now, direction, &later)? else {
        return Ok(Applied::Rejected(
            RejectCode::Invalid,
            "amount: balance overflow".into(),
        ));
    };
    if from_batch && quiet(&held, direction, &replayed) {
        // Nothing to judge and no ledger entry: the batch writes it with the others.
        if let Some((release_at, sale)) = pending {
            batch
                .savings
                .hold_pending(customer, amount.amount, release_at, sale, event_id);
        }
        batch.savings.hold_move(customer, event, &replayed.new);
        batch
            .savings
            .moved(customer, event, replayed.account, false);
        batch.change(DeltaKind::Balances, customer, None);
        return Ok(Applied::Accepted(vec![]));
    }
    // What the batch held back comes first in the log and the ledger.
    batch.flush_savings(tx).await?;
    let add_pending = async {
        if let Some((release_at, sale)) = pending {
            exec(
                tx,
                "INSERT INTO pending_savings (customer, amount, release_at, sale_id, event_id)
                 VALUES ($1, $2, $3, $4, $5)",
                &[&customer, &amount.amount, &release_at, &sale, &event_id],
            )
            .await?;
        }
        Ok::<(), Error>(())
    };
    let ((), logged) = tokio::try_join!(
        add_pending,
        log_move(
            tx, batch, &holder, &held, event, amount_now, direction, &replayed, now
        )
    )?;
    batch.savings.moved(customer, event, replayed.account, true);
    batch.change(DeltaKind::Balances, customer, None);
    Ok(Applied::Accepted(logged))
}

/// The account's row (locked) and its log rows placed after `event`, read from the
/// database; due pending savings released first. `None` for no account.
async fn read_savings(
    tx: &Transaction<'_>,
    batch: &mut Batch,
    customer: &str,
    holder: &Holder<'_>,
    event: &JournalEvent,
) -> Result<Option<(Locked, Vec<reconcile::Row>)>> {
    // The account row first, then its pending entries: one order for every transaction,
    // so two batches on one customer wait for each other instead of deadlocking.
    let (mut held, later) = tokio::try_join!(
        lock(tx, Account::Savings, customer),
        later(tx, holder, event)
    )?;
    if held.is_some() && batch.due(customer) {
        batch.released(customer);
        if release(tx, customer, batch.now).await? {
            batch.change(DeltaKind::Balances, customer, None);
            held = lock(tx, Account::Savings, customer).await?;
        }
    }
    Ok(held.map(|held| (held, later)))
}

/// Whether a replayed movement asks for nothing but its row and the account's state: no
/// later row moved, no shortfall or clamp, the debt neither begun nor paid off, and no
/// spend for the ledger.
fn quiet(held: &Locked, dir: Dir, replayed: &Replayed) -> bool {
    let new = &replayed.new;
    dir != Dir::Debit
        && replayed.changed.is_empty()
        && !replayed.judged_again
        && new.did.short == 0
        && !new.did.clamped
        && (held.debt > 0) == (replayed.account.debt > 0)
}

async fn gift_card(
    tx: &Transaction<'_>,
    batch: &mut Batch,
    event: &JournalEvent,
    card: &str,
    amount: Money,
    direction: Dir,
) -> Result<Applied> {
    let holder = Holder {
        account: Account::GiftCard,
        key: card,
        currency: amount.currency,
    };
    let (held, later) =
        tokio::try_join!(lock(tx, Account::GiftCard, card), later(tx, &holder, event))?;
    let Some(held) = held else {
        return Ok(Applied::Rejected(
            RejectCode::UnknownGiftCard,
            "no such gift card".into(),
        ));
    };
    if held.currency != amount.currency.code() {
        return Ok(Applied::Rejected(
            RejectCode::CurrencyMismatch,
            format!("the gift card is in {}", held.currency),
        ));
    }
    let Some(replayed) = replay(&held, event, amount.amount, direction, &later)? else {
        return Ok(Applied::Rejected(
            RejectCode::Invalid,
            "amount: balance overflow".into(),
        ));
    };
    let now = batch.now;
    let logged = log_move(
        tx,
        batch,
        &holder,
        &held,
        event,
        amount.amount,
        direction,
        &replayed,
        now,
    )
    .await?;
    batch.change(DeltaKind::GiftCards, card, None);
    Ok(Applied::Accepted(logged))
}

/// The account a movement is on.
struct Holder<'a> {
    account: Account,
    key: &'a str,
    currency: Currency,
}

const LOG_COLUMNS: &str = "at, till, seq, event_id, direction, amount, before_balance,
     before_debt, after_balance, after_debt, short, clamped";

fn log_row(r: &Row) -> reconcile::Row {
    let code: String = r.get(4);
    let clamped: i64 = r.get(11);
    reconcile::Row {
        place: reconcile::Place {
            at: r.get(0),
            till: r.get(1),
            seq: r.get(2),
            key: r.get(3),
        },
        dir: Dir::parse(&code).unwrap_or(Dir::Credit),
        amount: r.get(5),
        before: State {
            balance: r.get(6),
            debt: r.get(7),
        },
        did: reconcile::Stepped {
            after: State {
                balance: r.get(8),
                debt: r.get(9),
            },
            short: r.get(10),
            clamped: clamped != 0,
        },
    }
}

fn seq_of(event: &JournalEvent) -> Result<i64> {
    i64::try_from(event.seq).map_err(|_| Error::invalid("seq: too large"))
}

/// The account's log rows placed after `event`, in order. Only this batch writes the
/// account's log (it holds the account's row), so they may be read before its movement.
async fn later(
    tx: &Transaction<'_>,
    holder: &Holder<'_>,
    event: &JournalEvent,
) -> Result<Vec<reconcile::Row>> {
    let seq = seq_of(event)?;
    Ok(rows(
        tx,
        &format!(
            "SELECT {LOG_COLUMNS} FROM account_moves WHERE account = $1 AND holder = $2
               AND (at, till, seq) > ($3, $4, $5) ORDER BY at, till, seq"
        ),
        &[
            &holder.account.code(),
            &holder.key,
            &event.occurred_at,
            &event.till.as_str(),
            &seq,
        ],
    )
    .await?
    .iter()
    .map(log_row)
    .collect())
}

/// The movement put in its place in the account's log, `None` on overflow.
fn replay(
    held: &Locked,
    event: &JournalEvent,
    amount: i64,
    dir: Dir,
    later: &[reconcile::Row],
) -> Result<Option<Replayed>> {
    let current = State {
        balance: held.balance,
        debt: held.debt,
    };
    let place = reconcile::Place {
        at: event.occurred_at,
        till: event.till.as_str().to_owned(),
        seq: seq_of(event)?,
        key: event.id.to_hex(),
    };
    Ok(reconcile::replay(current, place, dir, amount, later))
}

/// Writes a replayed movement in the account's log, as [`crate::journal`] does on SQLite
/// ([`crate::reconcile`]), on the locked account; answers the event's flags.
#[allow(clippy::too_many_arguments)]
async fn log_move(
    tx: &Transaction<'_>,
    batch: &mut Batch,
    holder: &Holder<'_>,
    held: &Locked,
    event: &JournalEvent,
    amount: i64,
    dir: Dir,
    replayed: &Replayed,
    now: i64,
) -> Result<Vec<EventFlag>> {
    let seq = seq_of(event)?;
    let new = &replayed.new;
    let code = holder.account.code();
    let update = match holder.account {
        Account::Savings => {
            "UPDATE savings_accounts SET balance = $2, debt = $3, updated_at = $4 WHERE customer = $1"
        }
        Account::GiftCard => {
            "UPDATE gift_cards SET balance = $2, debt = $3, updated_at = $4 WHERE ref = $1"
        }
    };
    let (direction, clamped) = (dir.code(), i64::from(new.did.clamped));
    let (store, till) = (event.store.as_str(), event.till.as_str());
    let source = (dir == Dir::Debit).then(|| reconcile::spend_source(event).code());
    let moved: [&(dyn ToSql + Sync); 16] = [
        &code,
        &holder.key,
        &new.place.at,
        &new.place.key,
        &direction,
        &amount,
        &new.before.balance,
        &new.before.debt,
        &new.did.after.balance,
        &new.did.after.debt,
        &new.did.short,
        &clamped,
        &store,
        &till,
        &source,
        &seq,
    ];
    let state: [&(dyn ToSql + Sync); 4] = [
        &holder.key,
        &replayed.account.balance,
        &replayed.account.debt,
        &now,
    ];
    // The movement and the account's new state, in one round trip.
    tokio::try_join!(
        exec(
            tx,
            "INSERT INTO account_moves (account, holder, at, event_id, direction, amount,
                 before_balance, before_debt, after_balance, after_debt, short, clamped, store,
                 till, source, seq)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)",
            &moved,
        ),
        exec(tx, update, &state),
    )?;
    for row in &replayed.changed {
        exec(
            tx,
            "UPDATE account_moves SET before_balance = $4, before_debt = $5, after_balance = $6,
                 after_debt = $7, short = $8, clamped = $9
             WHERE account = $1 AND holder = $2 AND event_id = $3",
            &[
                &code,
                &holder.key,
                &row.place.key,
                &row.before.balance,
                &row.before.debt,
                &row.did.after.balance,
                &row.did.after.debt,
                &row.did.short,
                &i64::from(row.did.clamped),
            ],
        )
        .await?;
    }
    let judged = new.did.short > 0 || new.did.clamped || replayed.judged_again;
    if judged {
        judge(tx, holder, now).await?;
    }
    // What the store ledgers must learn, as `crate::journal` records it.
    let spends = replayed.changed.iter().any(|r| r.dir == Dir::Debit);
    let rejudged = judged || (held.debt > 0) != (replayed.account.debt > 0);
    if dir == Dir::Debit || spends || rejudged {
        batch.flush(tx).await?;
    }
    if dir == Dir::Debit {
        exec(tx, ledger::SPEND, &[&new.place.key, &now]).await?;
    }
    for row in replayed.changed.iter().filter(|r| r.dir == Dir::Debit) {
        exec(tx, ledger::SPEND, &[&row.place.key, &now]).await?;
    }
    if rejudged {
        let oldest = ledger::oldest_kept(now);
        let key = holder.key;
        exec(tx, ledger::SPENDS_OF_ACCOUNT, &[&code, &key, &now, &oldest]).await?;
        exec(tx, ledger::FLAGS_OF_ACCOUNT, &[&code, &key, &now]).await?;
    }
    let mut flags = vec![];
    if new.did.short > 0 {
        flags.push(EventFlag::OverspendDebt);
    }
    if new.did.clamped {
        flags.push(EventFlag::ReversalClamped);
    }
    Ok(flags)
}

/// An account's debts and flags from its whole log, as [`crate::journal`] writes them.
async fn judge(tx: &Transaction<'_>, holder: &Holder<'_>, now: i64) -> Result<()> {
    let code = holder.account.code();
    let log: Vec<reconcile::Row> = rows(
        tx,
        &format!(
            "SELECT {LOG_COLUMNS} FROM account_moves WHERE account = $1 AND holder = $2
             ORDER BY at, till, seq"
        ),
        &[&code, &holder.key],
    )
    .await?
    .iter()
    .map(log_row)
    .collect();
    let outcome = Outcome::of(&log);
    exec(
        tx,
        "DELETE FROM debts WHERE account = $1 AND holder = $2 AND event_id IN
             (SELECT event_id FROM account_moves WHERE account = $1 AND holder = $2)",
        &[&code, &holder.key],
    )
    .await?;
    for (event_id, short) in &outcome.shorts {
        exec(
            tx,
            "INSERT INTO debts (event_id, account, holder, amount, currency, created_at)
             VALUES ($1, $2, $3, $4, $5, $6)",
            &[
                event_id,
                &code,
                &holder.key,
                short,
                &holder.currency.code(),
                &now,
            ],
        )
        .await?;
    }
    let first_short = outcome.shorts.first().map(|(id, _)| id.as_str());
    let detail = reconcile::overspend_detail(outcome.overspent());
    one_flag(
        tx,
        holder,
        EventFlag::OverspendDebt,
        first_short,
        &detail,
        now,
    )
    .await?;
    let first_clamp = outcome.clamps.first().map(String::as_str);
    one_flag(
        tx,
        holder,
        EventFlag::ReversalClamped,
        first_clamp,
        reconcile::CLAMP_DETAIL,
        now,
    )
    .await
}

/// Keeps one flag of `kind` for the account, as [`crate::journal`] does.
async fn one_flag(
    tx: &Transaction<'_>,
    holder: &Holder<'_>,
    kind: EventFlag,
    event_id: Option<&str>,
    detail: &str,
    now: i64,
) -> Result<()> {
    let standing: Option<i64> = one_row(
        tx,
        "WITH gone AS (DELETE FROM flags WHERE kind = $1 AND subject = $2 AND event_id IN
             (SELECT event_id FROM account_moves WHERE account = $3 AND holder = $2)
             RETURNING created_at)
         SELECT min(created_at) FROM gone",
        &[&kind.code(), &holder.key, &holder.account.code()],
    )
    .await?
    .get(0);
    if let Some(event_id) = event_id {
        flag(
            tx,
            kind,
            event_id,
            Some(holder.key),
            detail,
            standing.unwrap_or(now),
        )
        .await?;
    }
    Ok(())
}

/// Credits `customer`'s pending savings whose time has come (as
/// [`crate::pending::release_due`] does): the rows are deleted and their sum credited in
/// one transaction, so two nodes never release one entry twice. The caller holds the
/// account's row.
/// Answers whether anything was released.
pub(crate) async fn release_due(tx: &Transaction<'_>, customer: &str, now: i64) -> Result<bool> {
    let released = release(tx, customer, now).await?;
    if released {
        exec(
            tx,
            "INSERT INTO changes (kind, key, owner, at) VALUES ($1, $2, NULL, $3)",
            &[&DeltaKind::Balances.segment(), &customer, &now],
        )
        .await?;
    }
    Ok(released)
}

/// [`release_due`] but for its change log, which the caller records.
async fn release(tx: &Transaction<'_>, customer: &str, now: i64) -> Result<bool> {
    let due: Option<i64> = one_row(
        tx,
        "WITH due AS (DELETE FROM pending_savings WHERE customer = $1 AND release_at <= $2
                          RETURNING amount)
             SELECT sum(amount)::BIGINT FROM due",
        &[&customer, &now],
    )
    .await?
    .get(0);
    let Some(due) = due.filter(|d| *d > 0) else {
        return Ok(false);
    };
    let Some(held) = lock(tx, Account::Savings, customer).await? else {
        return Ok(false);
    };
    let state = State {
        balance: held.balance,
        debt: held.debt,
    };
    if reconcile::step(state, due, Dir::Credit).is_none() {
        return Err(Error::internal("savings balance overflow"));
    }
    exec(tx, Account::Savings.credit(), &[&customer, &due, &now]).await?;
    Ok(true)
}

/// Takes up to `amount` out of `customer`'s pending savings, the sale's own first, then
/// what releases last (as [`crate::pending::take`] does); answers how much it took.
async fn take_pending(
    tx: &Transaction<'_>,
    customer: &str,
    sale: Option<&str>,
    amount: i64,
) -> Result<i64> {
    let entries = rows(
        tx,
        "SELECT id, amount FROM pending_savings WHERE customer = $1
             ORDER BY coalesce(sale_id = $2, false) DESC, release_at DESC, id DESC
             FOR UPDATE",
        &[&customer, &sale],
    )
    .await?;
    let mut taken = 0_i64;
    for row in entries {
        let (id, held): (i64, i64) = (row.get(0), row.get(1));
        let want = amount.saturating_sub(taken);
        if want <= 0 {
            break;
        }
        let part = held.min(want);
        if part == held {
            exec(tx, "DELETE FROM pending_savings WHERE id = $1", &[&id]).await?;
        } else {
            exec(
                tx,
                "UPDATE pending_savings SET amount = amount - $2 WHERE id = $1",
                &[&id, &part],
            )
            .await?;
        }
        taken = taken.saturating_add(part);
    }
    Ok(taken)
}

/// The currency of accounts created without one (as [`crate::settings::currency`]).
pub(super) async fn currency(tx: &Transaction<'_>) -> Result<Currency> {
    let text: Option<String> = opt(
        tx,
        "SELECT value FROM settings WHERE key = $1",
        &[&settings::POLICY_KEY],
    )
    .await?
    .map(|r| r.get(0));
    Ok(settings::policy_from(text)?
        .max_savings_spend_per_customer
        .currency)
}
