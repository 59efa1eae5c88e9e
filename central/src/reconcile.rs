//! Reconciliation: how the money events of many tills, arriving in any order, become one
//! account's balance, debt and flags — the same whatever order the journals arrive in.
//!
//! - [`State`], [`Dir`], [`step`]: one movement on one account (credit pays the debt
//!   first; a debit the balance cannot cover becomes debt; a take-back stops at zero).
//! - [`Row`], [`replay`]: an account's movement log, kept in the order the movements
//!   **happened** — `(occurred_at, till, seq)` — and replayed from the insertion point
//!   when a journal brings a movement that happened before ones already applied.
//! - [`Outcome`]: what an account's log says about overspends and clamped take-backs:
//!   one flag per account and cause.
//!
//! ## The rule
//! Money moves on an account in the order the events happened (the tills' clocks, then
//! the till and its sequence number to break ties), not in the order they reach central. A till that comes back
//! late has its movements slotted into their place and everything after them moved again,
//! so balances, debts, the debts recorded per spend and the flags are a function of the set
//! of events alone. The arrival order decides nothing: the property test in
//! `central/tests/central/reconcile.rs` sends random interleavings of offline spends, earns
//! and returns at several tills and stores in random orders and compares the outcomes.
//!
//! Money moved outside the journal (an administrator's adjustment, pending savings
//! released by central's clock) is carried over as it stands: the difference between the
//! account and its log's last state is added back after a replay, and a difference
//! between two logged movements (one row's `after` and the next row's `before`) stays
//! between them when they are moved again.
//!
//! A debt is recorded per spend that went beyond the balance at its time; the account
//! carries one `overspend_debt` flag (its first such spend, the total overspent) and one
//! `reversal_clamped` flag, never one per event or per arrival.

use tillpass_protocol::sync::BalanceSource;

/// An account's money: balance and debt, minor units, never both positive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct State {
    /// Spendable.
    pub balance: i64,
    /// Owed from offline overspends.
    pub debt: i64,
}

/// Which way a movement goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dir {
    /// In: pays the debt first, then the balance.
    Credit,
    /// Out: what the balance cannot cover becomes debt.
    Debit,
    /// Out, but stopping at zero (an earn taken back by a return).
    Clamp,
}

impl Dir {
    /// The stored code.
    pub fn code(self) -> &'static str {
        match self {
            Dir::Credit => "credit",
            Dir::Debit => "debit",
            Dir::Clamp => "clamp",
        }
    }

    /// From the stored code.
    pub fn parse(code: &str) -> Option<Dir> {
        match code {
            "credit" => Some(Dir::Credit),
            "debit" => Some(Dir::Debit),
            "clamp" => Some(Dir::Clamp),
            _ => None,
        }
    }
}

/// What one movement did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stepped {
    /// The state after it.
    pub after: State,
    /// The part of a debit the balance could not cover (became debt).
    pub short: i64,
    /// Whether a take-back stopped at zero.
    pub clamped: bool,
}

/// Moves `amount` (not negative) on `state`; `None` on overflow.
pub fn step(state: State, amount: i64, dir: Dir) -> Option<Stepped> {
    let State { balance, debt } = state;
    Some(match dir {
        Dir::Credit => {
            let paid = amount.min(debt);
            Stepped {
                after: State {
                    balance: balance.checked_add(amount - paid)?,
                    debt: debt - paid,
                },
                short: 0,
                clamped: false,
            }
        }
        Dir::Debit => {
            let covered = amount.min(balance);
            let short = amount - covered;
            Stepped {
                after: State {
                    balance: balance - covered,
                    debt: debt.checked_add(short)?,
                },
                short,
                clamped: false,
            }
        }
        Dir::Clamp => Stepped {
            after: State {
                balance: (balance - amount).max(0),
                debt,
            },
            short: 0,
            clamped: amount > balance,
        },
    })
}

/// Where a movement stands in its account's log: when it happened (the till's clock),
/// then the till and its sequence number to break ties (a till's own events in the order
/// it journaled them); the event id names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Place {
    /// When it happened: unix seconds, the till's clock.
    pub at: i64,
    /// The till that journaled it.
    pub till: String,
    /// Its sequence number at that till.
    pub seq: i64,
    /// The event id.
    pub key: String,
}

impl Place {
    /// Its order in the log.
    pub fn order(&self) -> (i64, &str, i64) {
        (self.at, &self.till, self.seq)
    }
}

/// One movement of an account's log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    /// Its place.
    pub place: Place,
    /// Its way.
    pub dir: Dir,
    /// Its amount, minor units, not negative.
    pub amount: i64,
    /// The state before it.
    pub before: State,
    /// What it did.
    pub did: Stepped,
}

impl Row {
    /// Its order in the log.
    pub fn order(&self) -> (i64, &str, i64) {
        self.place.order()
    }

    /// Its event id.
    pub fn key(&self) -> &str {
        &self.place.key
    }
}

/// What a replay gives: the new row, the later rows moved again (only those whose effect
/// changed), and the account's state to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Replayed {
    /// The movement inserted.
    pub new: Row,
    /// Later rows whose before/after state changed, to write back.
    pub changed: Vec<Row>,
    /// Whether any later row's shortfall or clamp changed (the flags must be judged again).
    pub judged_again: bool,
    /// The account's state once everything moved.
    pub account: State,
}

/// Inserts a movement (`place`, `dir`, `amount`) into an account whose current state is
/// `current` and whose log holds `later` — the rows ordered after the new one, in order.
/// `None` on overflow.
pub fn replay(
    current: State,
    place: Place,
    dir: Dir,
    amount: i64,
    later: &[Row],
) -> Option<Replayed> {
    let start = later.first().map_or(current, |r| r.before);
    let did = step(start, amount, dir)?;
    let new = Row {
        place,
        dir,
        amount,
        before: start,
        did,
    };
    let mut state = did.after;
    let mut changed = Vec::new();
    let mut judged_again = false;
    let mut logged: Option<State> = None;
    for row in later {
        if let Some(previous) = logged {
            // What moved outside the log between the two rows stays between them.
            state = carry(state, previous, row.before)?;
        }
        logged = Some(row.did.after);
        let did = step(state, row.amount, row.dir)?;
        if did != row.did || state != row.before {
            judged_again |= did.short != row.did.short || did.clamped != row.did.clamped;
            changed.push(Row {
                before: state,
                did,
                ..row.clone()
            });
        }
        state = did.after;
    }
    let account = match later.last() {
        None => state,
        // What moved outside the log since its last row, carried over as it stands.
        Some(last) => carry(state, last.did.after, current)?,
    };
    Some(Replayed {
        new,
        changed,
        judged_again,
        account,
    })
}

/// `state` plus the difference between `current` and `logged` (the net of money moved
/// outside the log).
fn carry(state: State, logged: State, current: State) -> Option<State> {
    let drift = (current.balance - current.debt) - (logged.balance - logged.debt);
    Some(match drift {
        0 => state,
        d if d > 0 => step(state, d, Dir::Credit)?.after,
        d => step(state, d.checked_neg()?, Dir::Debit)?.after,
    })
}

/// What an account's log says, once: its overspends and its clamped take-backs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outcome {
    /// The spends that went beyond the balance: (event id, shortfall), in order.
    pub shorts: Vec<(String, i64)>,
    /// The take-backs that stopped at zero: event ids, in order.
    pub clamps: Vec<String>,
}

impl Outcome {
    /// Reads it from the whole log, in order.
    pub fn of<'a>(rows: impl IntoIterator<Item = &'a Row>) -> Outcome {
        let mut out = Outcome::default();
        for row in rows {
            if row.did.short > 0 {
                out.shorts.push((row.place.key.clone(), row.did.short));
            }
            if row.did.clamped {
                out.clamps.push(row.place.key.clone());
            }
        }
        out
    }

    /// The total overspent.
    pub fn overspent(&self) -> i64 {
        self.shorts.iter().map(|(_, s)| s).sum()
    }
}

/// The detail of an account's `overspend_debt` flag.
pub fn overspend_detail(total: i64) -> String {
    format!("offline overspend of {total} minor units recorded as debt")
}

/// The detail of an account's `reversal_clamped` flag.
pub const CLAMP_DETAIL: &str = "earn reversal stopped at zero";

/// Where the till took the balance a spend relied on, as its event's `basis` says; an
/// event without one is from a till that spent its cached balance.
pub fn spend_source(event: &tillpass_protocol::sync::JournalEvent) -> BalanceSource {
    use tillpass_protocol::sync::EventPayload;
    let basis = match &event.payload {
        EventPayload::SavingsRedeemed(m) => m.basis.as_ref(),
        EventPayload::GiftCardDebited(m) => m.basis.as_ref(),
        _ => None,
    };
    basis.map_or(BalanceSource::Cached, |b| b.source)
}

/// A token's uses `(store, event id)` in the order they happened: when they span stores,
/// the flag's detail (every store, in order of first use) and the event that raised it
/// (the first use at another store than the first).
pub fn two_stores(uses: &[(String, String)]) -> Option<(String, String)> {
    let (first, _) = uses.first()?;
    let (_, raised) = uses.iter().find(|(store, _)| store != first)?;
    let mut stores: Vec<&str> = Vec::new();
    for (store, _) in uses {
        if !stores.contains(&store.as_str()) {
            stores.push(store);
        }
    }
    Some((
        format!("token used at stores {}", stores.join(", ")),
        raised.clone(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(balance: i64, debt: i64) -> State {
        State { balance, debt }
    }

    #[test]
    fn money_moves_as_documented() {
        assert_eq!(step(s(100, 0), 30, Dir::Debit).unwrap().after, s(70, 0));
        let over = step(s(100, 0), 130, Dir::Debit).unwrap();
        assert_eq!((over.after, over.short), (s(0, 30), 30));
        assert_eq!(step(s(0, 30), 50, Dir::Credit).unwrap().after, s(20, 0));
        assert_eq!(step(s(0, 30), 10, Dir::Credit).unwrap().after, s(0, 20));
        let clamp = step(s(10, 0), 30, Dir::Clamp).unwrap();
        assert_eq!((clamp.after, clamp.clamped), (s(0, 0), true));
        assert_eq!(step(s(i64::MAX, 0), 1, Dir::Credit), None);
    }

    fn place(at: i64, key: &str) -> Place {
        Place {
            at,
            till: "T1".into(),
            seq: 1,
            key: key.into(),
        }
    }

    fn log(start: State, moves: &[(i64, &str, Dir, i64)]) -> Vec<Row> {
        let mut rows: Vec<Row> = Vec::new();
        let mut current = start;
        for &(at, key, dir, amount) in moves {
            let pos = rows.partition_point(|r| r.order() < (at, "T1", 1));
            let r = replay(current, place(at, key), dir, amount, &rows[pos..]).unwrap();
            for c in &r.changed {
                let i = rows.iter().position(|x| x.key() == c.key()).unwrap();
                rows[i] = c.clone();
            }
            rows.insert(pos, r.new);
            current = r.account;
        }
        rows
    }

    #[test]
    fn a_late_earn_that_happened_first_leaves_no_overspend() {
        let moves = [
            (2, "b", Dir::Debit, 8),
            (3, "c", Dir::Debit, 8),
            (1, "a", Dir::Credit, 10),
        ];
        let rows = log(s(10, 0), &moves);
        assert_eq!(rows.last().unwrap().did.after, s(4, 0));
        assert!(Outcome::of(&rows).shorts.is_empty());
        let mut in_order = moves;
        in_order.sort_by_key(|m| (m.0, m.1));
        assert_eq!(log(s(10, 0), &in_order), rows);
    }

    #[test]
    fn money_moved_outside_the_log_is_carried_over() {
        let first = replay(s(10, 0), place(5, "b"), Dir::Debit, 4, &[]).unwrap();
        // An administrator credits 100 after it; a movement from before arrives.
        let r = replay(s(106, 0), place(1, "a"), Dir::Debit, 20, &[first.new]).unwrap();
        assert_eq!(r.account, s(86, 0));
        assert!(r.judged_again, "b now overspends");
    }

    #[test]
    fn money_moved_between_two_logged_movements_stays_when_they_are_replayed() {
        let b = replay(s(10, 0), place(5, "b"), Dir::Debit, 4, &[]).unwrap();
        // An administrator credits 100 between b and c.
        let c = replay(s(106, 0), place(6, "c"), Dir::Debit, 1, &[]).unwrap();
        assert_eq!(c.account, s(105, 0));
        // A credit from before both arrives: b and c move again, the 100 stays.
        let r = replay(
            s(105, 0),
            place(1, "a"),
            Dir::Credit,
            3,
            &[b.new, c.new.clone()],
        )
        .unwrap();
        assert_eq!(r.account, s(108, 0));
        let moved_c = r.changed.iter().find(|row| row.key() == "c").unwrap();
        assert_eq!((moved_c.before, moved_c.did.after), (s(109, 0), s(108, 0)));
    }
}
