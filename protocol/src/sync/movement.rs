//! How a journal event moves money: the one statement of it, read by central when it
//! applies an event and by the till when it reconciles its balances with central's.
//!
//! Balance changes travel as their own events (see [`super::journal`]); each moves one
//! account — a customer's savings or a gift card — in one [`Direction`]:
//!
//! | event | account | direction |
//! |---|---|---|
//! | `savings_earned` | savings | [`Direction::Earn`]: pending until the return window closes |
//! | `savings_redeemed` | savings | [`Direction::Spend`] |
//! | `savings_reversed`, `reverses: earn` | savings | [`Direction::TakeBack`] |
//! | `savings_reversed`, `reverses: redemption` | savings | [`Direction::GiveBack`] |
//! | `gift_card_debited` | gift card | [`Direction::Spend`] |
//! | `gift_card_credited` | gift card | [`Direction::GiveBack`] |
//!
//! Every other event (a sale's or a return's summary, a token use, a hold, a release, a
//! new customer) moves no money: [`EventPayload::movement`] is `None` for it.
//!
//! At the till a movement changes two counters of the account ([`TillDelta`]): `pending`
//! (earned here, not spendable) and `spent` (spent here). [`Movement::till_delta`] is
//! what the till adds for the event; summed over the events central has not applied, it is
//! what the till keeps on top of central's balance. [`Direction::to_holder`] says which
//! movements bring money to the holder: a till stops counting one of those once central
//! has rejected it (central will never give that money), and keeps counting the others
//! (the customer did take the money at the till).

use super::ids::{CustomerRef, GiftCardRef, SaleId};
use super::journal::{EventPayload, Reverses};
use crate::money::Money;

/// Whose money an event moves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Account<'a> {
    /// A customer's savings.
    Savings(&'a CustomerRef),
    /// A gift card.
    GiftCard(&'a GiftCardRef),
}

/// Which way an event moves money on its account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Savings earned: held pending (never spendable) until the return window of the sale
    /// closes, then credited.
    Earn,
    /// Out of the spendable balance; at central what the balance cannot cover (an offline
    /// overspend) becomes debt.
    Spend,
    /// Back into the spendable balance (a redemption reversed, a gift card credited); at
    /// central it pays the holder's debt first.
    GiveBack,
    /// An earn taken back by a return: out of pending savings first (the returned sale's
    /// own), then out of the spendable balance, never below zero at central.
    TakeBack,
}

impl Direction {
    /// Whether the movement brings money to the holder (an earn, a give-back), as opposed to
    /// taking it away (a spend, a take-back).
    pub fn to_holder(self) -> bool {
        match self {
            Direction::Earn | Direction::GiveBack => true,
            Direction::Spend | Direction::TakeBack => false,
        }
    }
}

/// What a till adds to an account's counters for one movement: `pending` (savings earned
/// here, not spendable) and `spent` (spent here). Both in the account's minor units.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct TillDelta {
    /// Savings earned less earns taken back. Always 0 for a gift card.
    pub pending: i64,
    /// Spent less given back.
    pub spent: i64,
}

impl TillDelta {
    /// The sum of two deltas, saturating.
    pub fn plus(self, other: TillDelta) -> TillDelta {
        TillDelta {
            pending: self.pending.saturating_add(other.pending),
            spent: self.spent.saturating_add(other.spent),
        }
    }
}

/// How one journal event moves money.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Movement<'a> {
    /// Whose money.
    pub account: Account<'a>,
    /// Which way.
    pub direction: Direction,
    /// How much: positive in every event that passed [`super::JournalEvent::check`].
    pub amount: Money,
    /// The sale or return it belongs to, if the event names one.
    pub sale: Option<&'a SaleId>,
}

impl Movement<'_> {
    /// What the till adds to the account's counters for this movement.
    pub fn till_delta(&self) -> TillDelta {
        let a = self.amount.amount;
        match self.direction {
            Direction::Earn => TillDelta {
                pending: a,
                spent: 0,
            },
            Direction::TakeBack => TillDelta {
                pending: a.saturating_neg(),
                spent: 0,
            },
            Direction::Spend => TillDelta {
                pending: 0,
                spent: a,
            },
            Direction::GiveBack => TillDelta {
                pending: 0,
                spent: a.saturating_neg(),
            },
        }
    }
}

fn savings<'a>(
    customer: &'a CustomerRef,
    direction: Direction,
    amount: Money,
    sale: &'a Option<SaleId>,
) -> Movement<'a> {
    Movement {
        account: Account::Savings(customer),
        direction,
        amount,
        sale: sale.as_ref(),
    }
}

impl EventPayload {
    /// How the event moves money, or `None` for an event that moves none.
    pub fn movement(&self) -> Option<Movement<'_>> {
        match self {
            EventPayload::SavingsEarned(m) => {
                Some(savings(&m.customer, Direction::Earn, m.amount, &m.sale_id))
            }
            EventPayload::SavingsRedeemed(m) => {
                Some(savings(&m.customer, Direction::Spend, m.amount, &m.sale_id))
            }
            EventPayload::SavingsReversed(r) => {
                let direction = match r.reverses {
                    Reverses::Earn => Direction::TakeBack,
                    Reverses::Redemption => Direction::GiveBack,
                };
                Some(savings(&r.customer, direction, r.amount, &r.sale_id))
            }
            EventPayload::GiftCardDebited(m) | EventPayload::GiftCardCredited(m) => {
                let direction = if matches!(self, EventPayload::GiftCardDebited(_)) {
                    Direction::Spend
                } else {
                    Direction::GiveBack
                };
                Some(Movement {
                    account: Account::GiftCard(&m.card),
                    direction,
                    amount: m.amount,
                    sale: m.sale_id.as_ref(),
                })
            }
            EventPayload::SaleClosed(_)
            | EventPayload::ReturnRecorded(_)
            | EventPayload::TokenUsed(_)
            | EventPayload::GiftCardHeld(_)
            | EventPayload::GiftCardReleased(_)
            | EventPayload::CustomerCreated(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::money::Currency;
    use crate::sync::ids::HoldId;
    use crate::sync::journal::{
        GiftCardHold, GiftCardMovement, GiftCardRelease, LocalCustomer, SavingsMovement,
        SavingsReversal,
    };

    fn eur(amount: i64) -> Money {
        Money::new(amount, Currency::EUR)
    }

    fn customer() -> CustomerRef {
        CustomerRef::new("c1").unwrap()
    }

    fn card() -> GiftCardRef {
        GiftCardRef::new("G1").unwrap()
    }

    fn sale() -> SaleId {
        SaleId::new("POS-1").unwrap()
    }

    /// One event of every kind that moves money, with `amount`.
    fn moving(amount: i64) -> Vec<EventPayload> {
        let m = SavingsMovement {
            customer: customer(),
            amount: eur(amount),
            sale_id: Some(sale()),
            basis: None,
        };
        let r = |reverses| SavingsReversal {
            customer: customer(),
            amount: eur(amount),
            reverses,
            original_event: None,
            sale_id: Some(sale()),
        };
        let g = GiftCardMovement {
            card: card(),
            amount: eur(amount),
            sale_id: Some(sale()),
            hold_id: None,
            basis: None,
        };
        vec![
            EventPayload::SavingsEarned(m.clone()),
            EventPayload::SavingsRedeemed(m),
            EventPayload::SavingsReversed(r(Reverses::Earn)),
            EventPayload::SavingsReversed(r(Reverses::Redemption)),
            EventPayload::GiftCardDebited(g.clone()),
            EventPayload::GiftCardCredited(g),
        ]
    }

    /// The golden table: each kind, its account, its direction and what the till adds.
    #[test]
    fn each_event_kind_moves_as_the_table_says() {
        let (c, g) = (customer(), card());
        let expected = [
            (
                "savings_earned",
                Account::Savings(&c),
                Direction::Earn,
                7,
                0,
            ),
            (
                "savings_redeemed",
                Account::Savings(&c),
                Direction::Spend,
                0,
                7,
            ),
            (
                "savings_reversed",
                Account::Savings(&c),
                Direction::TakeBack,
                -7,
                0,
            ),
            (
                "savings_reversed",
                Account::Savings(&c),
                Direction::GiveBack,
                0,
                -7,
            ),
            (
                "gift_card_debited",
                Account::GiftCard(&g),
                Direction::Spend,
                0,
                7,
            ),
            (
                "gift_card_credited",
                Account::GiftCard(&g),
                Direction::GiveBack,
                0,
                -7,
            ),
        ];
        let events = moving(7);
        assert_eq!(events.len(), expected.len());
        for (event, (kind, account, direction, pending, spent)) in events.iter().zip(expected) {
            assert_eq!(event.kind(), kind);
            let m = event.movement().unwrap();
            assert_eq!(m.account, account, "{kind}");
            assert_eq!(m.direction, direction, "{kind}");
            assert_eq!(m.amount, eur(7), "{kind}");
            assert_eq!(m.sale, Some(&sale()), "{kind}");
            assert_eq!(m.till_delta(), TillDelta { pending, spent }, "{kind}");
        }
    }

    #[test]
    fn events_that_move_no_money_have_no_movement() {
        let still = [
            crate::sync::journal::tests::sale_event(1).payload,
            EventPayload::GiftCardHeld(GiftCardHold {
                card: card(),
                hold_id: HoldId::new("h1").unwrap(),
                amount: eur(5),
                expires_at: 1,
            }),
            EventPayload::GiftCardReleased(GiftCardRelease {
                card: card(),
                hold_id: HoldId::new("h1").unwrap(),
            }),
            EventPayload::CustomerCreated(LocalCustomer {
                customer: customer(),
                first_name: None,
                lang: None,
            }),
        ];
        for event in still {
            assert_eq!(event.movement(), None, "{}", event.kind());
        }
    }

    #[test]
    fn money_to_the_holder_is_an_earn_or_a_give_back() {
        let to_holder: Vec<&str> = moving(1)
            .iter()
            .filter(|e| e.movement().unwrap().direction.to_holder())
            .map(EventPayload::kind)
            .collect();
        assert_eq!(
            to_holder,
            ["savings_earned", "savings_reversed", "gift_card_credited"]
        );
    }

    proptest! {
        /// A movement to the holder never adds to what the till counts as spent or takes
        /// from pending; one away from the holder never adds to pending or gives back.
        /// The signs follow the direction, the size is the amount.
        #[test]
        fn signs_follow_the_direction(amount in 1_i64..=i64::MAX) {
            for event in moving(amount) {
                let m = event.movement().unwrap();
                let d = m.till_delta();
                prop_assert_eq!(d.pending.unsigned_abs() + d.spent.unsigned_abs(), amount.unsigned_abs());
                if m.direction.to_holder() {
                    prop_assert!(d.pending >= 0 && d.spent <= 0);
                } else {
                    prop_assert!(d.pending <= 0 && d.spent >= 0);
                }
                if matches!(m.account, Account::GiftCard(_)) {
                    prop_assert_eq!(d.pending, 0);
                }
            }
        }

        /// Any movement followed by its opposite leaves the till's counters where they were,
        /// and sums do not depend on order.
        #[test]
        fn a_movement_and_its_reversal_sum_to_nothing(
            amounts in proptest::collection::vec(1_i64..1_000_000_000, 1..20),
            picks in proptest::collection::vec(0_usize..6, 1..20),
        ) {
            let mut forward = TillDelta::default();
            let mut backward = TillDelta::default();
            let mut all = Vec::new();
            for (amount, pick) in amounts.iter().zip(&picks) {
                let events = moving(*amount);
                all.push(events[*pick].clone());
                // 0↔2 (earn, take back), 1↔3 (redeem, give back), 4↔5 (debit, credit).
                let opposite = [2, 3, 0, 1, 5, 4][*pick];
                all.push(events[opposite].clone());
            }
            for e in &all {
                forward = forward.plus(e.movement().unwrap().till_delta());
            }
            for e in all.iter().rev() {
                backward = backward.plus(e.movement().unwrap().till_delta());
            }
            prop_assert_eq!(forward, TillDelta::default());
            prop_assert_eq!(backward, forward);
        }
    }
}
