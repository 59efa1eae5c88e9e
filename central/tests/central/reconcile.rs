//! Reconciliation whatever the arrival order: the offline journals of several tills at
//! two stores — spends, earns, returns, gift-card debits, one pass token shown everywhere —
//! reach central in random orders; the balances, the debts recorded, and the flags are the
//! same for every order, on SQLite and on PostgreSQL, and the total overspend stays within
//! the sum of the tills' offline caps.

use proptest::prelude::*;
use tillpass_central::enrol::Till;
use tillpass_central::giftcards::NewGiftCard;
use tillpass_central::storage::{Database, Location};
use tillpass_protocol::money::Currency;
use tillpass_protocol::sync::{
    CustomerRef, EventPayload, GiftCardMovement, GiftCardRef, JournalEvent, Reverses,
    SavingsReversal, Subject, TokenId, TokenKind, TokenUsed,
};

use crate::journal::eur;
use crate::storage::{Backend, backends, batch, customer, earn, outcomes, redeem, till};

/// What each till may spend offline against one account, in all.
const CAP: i64 = 300;

/// One offline operation at a till.
#[derive(Debug, Clone)]
enum Op {
    Redeem(i64),
    Earn(i64),
    /// A return giving back part of a redemption.
    GiveBack(i64),
    /// A return taking back part of an earn.
    TakeBack(i64),
    CardDebit(i64),
    CardCredit(i64),
    /// The customer's pass shown (the same token at every till).
    Pass,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (1..=CAP).prop_map(Op::Redeem),
        2 => (1..=200_i64).prop_map(Op::Earn),
        1 => (1..=100_i64).prop_map(Op::GiveBack),
        1 => (1..=200_i64).prop_map(Op::TakeBack),
        2 => (1..=CAP).prop_map(Op::CardDebit),
        1 => (1..=100_i64).prop_map(Op::CardCredit),
        1 => Just(Op::Pass),
    ]
}

/// A till's journal: its operations, each with the seconds since the last.
fn journal() -> impl Strategy<Value = Vec<(Op, i64)>> {
    prop::collection::vec((op(), 0..=30_i64), 1..8)
}

fn tills() -> Vec<Till> {
    vec![
        till("S001-T01", "S001"),
        till("S001-T02", "S001"),
        till("S002-T01", "S002"),
    ]
}

fn card(amount: i64) -> EventPayload {
    EventPayload::GiftCardDebited(GiftCardMovement {
        card: GiftCardRef::new("GC-1").unwrap(),
        amount: eur(amount),
        sale_id: None,
        hold_id: None,
    })
}

fn reversal(amount: i64, reverses: Reverses) -> EventPayload {
    EventPayload::SavingsReversed(SavingsReversal {
        customer: CustomerRef::new("C-1").unwrap(),
        amount: eur(amount),
        reverses,
        original_event: None,
        sale_id: None,
    })
}

/// A till's events: redemptions and card debits beyond its cap are left out (the till
/// refuses them offline).
fn events(till: &Till, ops: &[(Op, i64)]) -> Vec<JournalEvent> {
    let (mut at, mut spent, mut debited) = (1_000_i64, 0, 0);
    let mut out = Vec::new();
    for (op, gap) in ops {
        at += gap;
        let payload = match *op {
            Op::Redeem(a) if spent + a <= CAP => {
                spent += a;
                redeem("C-1", a)
            }
            Op::CardDebit(a) if debited + a <= CAP => {
                debited += a;
                card(a)
            }
            Op::Redeem(_) | Op::CardDebit(_) => continue,
            Op::Earn(a) => earn("C-1", a),
            Op::GiveBack(a) => reversal(a, Reverses::Redemption),
            Op::TakeBack(a) => reversal(a, Reverses::Earn),
            Op::CardCredit(a) => EventPayload::GiftCardCredited(GiftCardMovement {
                card: GiftCardRef::new("GC-1").unwrap(),
                amount: eur(a),
                sale_id: None,
                hold_id: None,
            }),
            Op::Pass => EventPayload::TokenUsed(TokenUsed {
                token_id: TokenId::new(&[9; 16]).unwrap(),
                kind: TokenKind::CustomerPass,
                subject: Subject::new("C-1").unwrap(),
                key_id: [1, 2, 3, 4],
                sale_id: None,
            }),
        };
        let seq = out.len() as u64 + 1;
        out.push(JournalEvent::new(
            till.id.clone(),
            till.store.clone(),
            seq,
            at,
            payload,
        ));
    }
    out
}

/// What central decided: savings (balance, debt), card (balance, debt), debts, flags.
type Decided = (
    (i64, i64),
    (i64, i64),
    Vec<(String, String, String, i64)>,
    Vec<(String, String, Option<String>, String)>,
);

async fn decided(db: &Database) -> Decided {
    let (balance, debt) = db.savings("C-1").await.unwrap().unwrap();
    let card = db.gift_card("GC-1").await.unwrap().unwrap();
    (
        (balance.amount, debt.amount),
        (card.balance.amount, card.debt.amount),
        db.debt_list().await.unwrap(),
        db.flag_list().await.unwrap(),
    )
}

/// Sends each till's journal in batches of `chunk` events, the batches in the order
/// `order` (indices into the list of batches; a till's own batches keep their order, as a
/// till uploads them).
async fn deliver(db: &Database, journals: &[(Till, Vec<JournalEvent>)], order: &[usize]) {
    let mut queues: Vec<std::collections::VecDeque<Vec<JournalEvent>>> = journals
        .iter()
        .map(|(_, events)| events.chunks(2).map(<[_]>::to_vec).collect())
        .collect();
    let mut now = 5_000;
    for &pick in order {
        let live: Vec<usize> = (0..queues.len())
            .filter(|i| !queues[*i].is_empty())
            .collect();
        let Some(&i) = live.get(pick % live.len().max(1)) else {
            break;
        };
        let Some(events) = queues[i].pop_front() else {
            continue;
        };
        let till = &journals[i].0;
        let ack = db.ingest(till, &batch(till, events), now).await.unwrap();
        assert!(
            outcomes(&ack).iter().all(|o| o == "accepted"),
            "{:?}",
            outcomes(&ack)
        );
        now += 1;
    }
    // Whatever the order left, in till order.
    for (i, queue) in queues.iter_mut().enumerate() {
        let till = &journals[i].0;
        while let Some(events) = queue.pop_front() {
            db.ingest(till, &batch(till, events), now).await.unwrap();
        }
    }
}

/// SQLite alone, or SQLite and PostgreSQL.
#[derive(Clone, Copy)]
enum On {
    Sqlite,
    Both,
}

async fn open(on: On, case: &str) -> Vec<Backend> {
    match on {
        On::Both => backends(case).await,
        On::Sqlite => {
            let dir = tempfile::tempdir().unwrap();
            let location = Location::Sqlite(dir.path().join("central.db"));
            vec![Backend::sqlite(
                Database::open(&location).await.unwrap(),
                location,
                dir,
            )]
        }
    }
}

async fn run(
    on: On,
    case: &str,
    savings: i64,
    card_balance: i64,
    journals: &[(Till, Vec<JournalEvent>)],
    orders: &[Vec<usize>],
) -> Vec<(String, Decided)> {
    let mut all = Vec::new();
    for (n, order) in orders.iter().enumerate() {
        for b in open(on, &format!("{case}_{n}")).await {
            b.db.create_customer(&customer("C-1", savings), 1)
                .await
                .unwrap();
            b.db.create_gift_card(
                &NewGiftCard {
                    card: GiftCardRef::new("GC-1").unwrap(),
                    balance: card_balance,
                    currency: Some(Currency::EUR),
                    expires_at: None,
                },
                1,
            )
            .await
            .unwrap();
            deliver(&b.db, journals, order).await;
            all.push((format!("{} order {n}", b.name), decided(&b.db).await));
        }
    }
    all
}

fn check(all: &[(String, Decided)], journals: &[(Till, Vec<JournalEvent>)]) {
    let (first_name, first) = &all[0];
    for (name, other) in &all[1..] {
        assert_eq!(other, first, "{name} differs from {first_name}");
    }
    let (_, _, debts, flags) = first;
    // Total overspend, per account, within the sum of the caps of the tills involved.
    for account in ["savings", "gift_card"] {
        let overspent: i64 = debts.iter().filter(|d| d.0 == account).map(|d| d.3).sum();
        assert!(
            overspent <= CAP * i64::try_from(journals.len()).unwrap(),
            "{overspent}"
        );
    }
    // One flag per account and cause.
    let mut keys: Vec<_> = flags.iter().map(|f| (&f.0, &f.2)).collect();
    let n = keys.len();
    keys.dedup();
    assert_eq!(keys.len(), n, "{flags:?}");
}

fn journals(ops: &[Vec<(Op, i64)>]) -> Vec<(Till, Vec<JournalEvent>)> {
    tills()
        .into_iter()
        .zip(ops)
        .map(|(till, ops)| {
            let events = events(&till, ops);
            (till, events)
        })
        .collect()
}

fn decide(on: On, savings: i64, card_balance: i64, ops: &[Vec<(Op, i64)>], orders: &[Vec<usize>]) {
    let journals = journals(ops);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let case = "reconcile_any_order";
    let all = rt.block_on(run(on, case, savings, card_balance, &journals, orders));
    check(&all, &journals);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    /// Many cases on SQLite, five arrival orders each.
    #[test]
    fn any_arrival_order_gives_the_same_balances_debts_and_flags(
        savings in 0..=400_i64,
        card_balance in 0..=400_i64,
        ops in prop::collection::vec(journal(), 3),
        orders in prop::collection::vec(prop::collection::vec(0..6_usize, 12), 5),
    ) {
        decide(On::Sqlite, savings, card_balance, &ops, &orders);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 4, ..ProptestConfig::default() })]

    /// Fewer cases on both backends: PostgreSQL decides as SQLite does.
    #[test]
    fn postgresql_decides_as_sqlite_does(
        savings in 0..=400_i64,
        card_balance in 0..=400_i64,
        ops in prop::collection::vec(journal(), 3),
        orders in prop::collection::vec(prop::collection::vec(0..6_usize, 12), 2),
    ) {
        decide(On::Both, savings, card_balance, &ops, &orders);
    }
}

/// The case: two tills of one store and one of another, all offline, each spends
/// within its cap against one customer and one card and shows the same pass; every order
/// of the three journals gives one debt per overspending spend, one flag per account and
/// cause, and the token flagged once.
#[tokio::test]
async fn three_tills_overspend_once_in_every_order() {
    let journals: Vec<(Till, Vec<JournalEvent>)> = tills()
        .into_iter()
        .enumerate()
        .map(|(i, till)| {
            let ops = [(Op::Pass, 0), (Op::Redeem(250), 1), (Op::CardDebit(200), 1)];
            let mut events = events(&till, &ops);
            for e in &mut events {
                e.occurred_at += i64::try_from(i).unwrap() * 10;
            }
            (till, events)
        })
        .collect();
    let orders: Vec<Vec<usize>> = [
        [0, 1, 2],
        [0, 2, 1],
        [1, 0, 2],
        [1, 2, 0],
        [2, 0, 1],
        [2, 1, 0],
    ]
    .iter()
    .map(|perm| {
        // Each till's two batches back to back, tills in `perm` order.
        perm.iter().flat_map(|&t| [t, t]).collect::<Vec<usize>>()
    })
    .collect();
    let mut all = Vec::new();
    for (n, order) in orders.iter().enumerate() {
        // Picks are indices among the tills still sending: map the till number to one.
        let mut left: Vec<usize> = vec![0, 1, 2];
        let mut picks = Vec::new();
        for (k, &t) in order.iter().enumerate() {
            let i = left.iter().position(|x| *x == t).unwrap();
            picks.push(i);
            if k % 2 == 1 {
                left.remove(i);
            }
        }
        let case = format!("three_tills_{n}");
        all.extend(run(On::Both, &case, 300, 300, &journals, &[picks]).await);
    }
    check(&all, &journals);
    let (savings, card, debts, flags) = &all[0].1;
    assert_eq!(*savings, (0, 450));
    assert_eq!(*card, (0, 300));
    assert_eq!(debts.len(), 4, "{debts:?}");
    let kinds: Vec<&str> = flags.iter().map(|f| f.0.as_str()).collect();
    assert_eq!(
        kinds,
        ["overspend_debt", "overspend_debt", "token_at_two_stores"]
    );
    assert!(flags[2].3.contains("S001, S002"), "{flags:?}");
}
