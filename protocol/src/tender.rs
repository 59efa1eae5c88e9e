//! How a sale was paid, or how a return's money went back: one [`Tender`] for the whole
//! workspace, and its two wire forms.
//!
//! ## Map
//! - [`Tender`] — the domain type: cash, a bank card, savings, a gift card, a voucher, or
//!   another method the POS names. Its own serde form is the **journal's**, tagged `kind`
//!   (`{"kind": "cash", "amount": …}`): central and every till read it, so it never changes.
//! - [`Tender::paid_at_pos`] / [`Tender::pos_method`] — the one mapping between a POS's
//!   payment method (`cash`, `card`, anything else) and a tender.
//! - [`pos_form`] — the **POS API's** form, tagged `type`, of a list of tenders
//!   (`{"type": "other", "method": "cash", …}`), as a return's answer and the till's stored
//!   sales carry it; use it with `#[serde(with = "tillpass_protocol::tender::pos_form")]`.
//!
//! The POS form names three kinds: `savings`, `gift_card`, and `other` for everything the
//! POS pays back itself, named by its method. Cash and bank cards are the methods `cash`
//! and `card`; a voucher is the method `voucher`, so a voucher tender read back from the
//! POS form is `Other { label: "voucher" }` (the POS form never carried the token id).

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::money::Money;
use crate::sync::ids::{GiftCardRef, TokenId};

/// One payment of a sale, or one refund of a return. Serialized with a `kind` tag (the
/// journal's form); see [`pos_form`] for the POS API's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Tender {
    /// Cash.
    Cash {
        /// How much.
        amount: Money,
    },
    /// A bank card, taken by the POS's payment terminal.
    Card {
        /// How much.
        amount: Money,
    },
    /// The customer's savings balance.
    Savings {
        /// How much.
        amount: Money,
    },
    /// A gift card.
    GiftCard {
        /// Which card.
        card: GiftCardRef,
        /// How much.
        amount: Money,
    },
    /// A voucher token.
    Voucher {
        /// The voucher token's id.
        token_id: TokenId,
        /// How much.
        amount: Money,
    },
    /// Anything else the POS takes.
    Other {
        /// What the POS calls it.
        label: String,
        /// How much.
        amount: Money,
    },
}

/// The POS's name for cash.
pub const CASH: &str = "cash";
/// The POS's name for a bank card.
pub const CARD: &str = "card";
/// The POS's name for a voucher.
pub const VOUCHER: &str = "voucher";

impl Tender {
    /// A payment the POS took itself, by the POS's name for its method: `cash` and `card`
    /// are named, any other method is [`Tender::Other`].
    pub fn paid_at_pos(method: &str, amount: Money) -> Tender {
        match method {
            CASH => Tender::Cash { amount },
            CARD => Tender::Card { amount },
            other => Tender::Other {
                label: other.to_owned(),
                amount,
            },
        }
    }

    /// The POS's name for the method, for a tender the POS pays and refunds itself;
    /// `None` for savings and gift cards, which the till re-credits.
    pub fn pos_method(&self) -> Option<&str> {
        match self {
            Tender::Cash { .. } => Some(CASH),
            Tender::Card { .. } => Some(CARD),
            Tender::Voucher { .. } => Some(VOUCHER),
            Tender::Other { label, .. } => Some(label),
            Tender::Savings { .. } | Tender::GiftCard { .. } => None,
        }
    }

    /// The amount of the tender.
    pub fn amount(&self) -> Money {
        match self {
            Tender::Cash { amount }
            | Tender::Card { amount }
            | Tender::Savings { amount }
            | Tender::GiftCard { amount, .. }
            | Tender::Voucher { amount, .. }
            | Tender::Other { amount, .. } => *amount,
        }
    }

    /// The same tender for another amount (a refund's share of it).
    pub fn with_amount(&self, amount: Money) -> Tender {
        let mut tender = self.clone();
        match &mut tender {
            Tender::Cash { amount: a }
            | Tender::Card { amount: a }
            | Tender::Savings { amount: a }
            | Tender::GiftCard { amount: a, .. }
            | Tender::Voucher { amount: a, .. }
            | Tender::Other { amount: a, .. } => *a = amount,
        }
        tender
    }

    /// Whether `other` pays to and from the same place: savings, the same gift card, or the
    /// same POS method — what a refund of this tender must be.
    pub fn same_account(&self, other: &Tender) -> bool {
        match (self, other) {
            (Tender::Savings { .. }, Tender::Savings { .. }) => true,
            (Tender::GiftCard { card: a, .. }, Tender::GiftCard { card: b, .. }) => a == b,
            _ => matches!((self.pos_method(), other.pos_method()), (Some(a), Some(b)) if a == b),
        }
    }
}

/// The POS API's form of a list of tenders, tagged `type`: `savings`, `gift_card` (with
/// `card_id`) and `other` (with the POS's `method`). Unknown fields are refused.
pub mod pos_form {
    use super::*;

    #[derive(Serialize)]
    #[serde(tag = "type", rename_all = "snake_case")]
    enum Out<'a> {
        Savings { amount: Money },
        GiftCard { card_id: &'a str, amount: Money },
        Other { method: &'a str, amount: Money },
    }

    #[derive(Deserialize)]
    #[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
    enum In {
        Savings { amount: Money },
        GiftCard { card_id: String, amount: Money },
        Other { method: String, amount: Money },
    }

    fn out(tender: &Tender) -> Out<'_> {
        match tender {
            Tender::Savings { amount } => Out::Savings { amount: *amount },
            Tender::GiftCard { card, amount } => Out::GiftCard {
                card_id: card.as_str(),
                amount: *amount,
            },
            other => Out::Other {
                method: other.pos_method().unwrap_or_default(),
                amount: other.amount(),
            },
        }
    }

    fn into_tender(tender: In) -> Result<Tender, crate::sync::ids::IdError> {
        Ok(match tender {
            In::Savings { amount } => Tender::Savings { amount },
            In::GiftCard { card_id, amount } => Tender::GiftCard {
                card: GiftCardRef::new(card_id)?,
                amount,
            },
            In::Other { method, amount } => Tender::paid_at_pos(&method, amount),
        })
    }

    /// Serializes `tenders` in the POS form.
    pub fn serialize<S: Serializer>(tenders: &[Tender], serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(tenders.iter().map(out))
    }

    /// Reads tenders in the POS form.
    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Vec<Tender>, D::Error> {
        Vec::<In>::deserialize(deserializer)?
            .into_iter()
            .map(|t| into_tender(t).map_err(D::Error::custom))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde::{Deserialize, Serialize};

    use super::*;
    use crate::money::Currency;

    fn eur(amount: i64) -> Money {
        Money::new(amount, Currency::EUR)
    }

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Pos {
        #[serde(with = "pos_form")]
        tenders: Vec<Tender>,
    }

    fn every_kind() -> Vec<Tender> {
        vec![
            Tender::Cash { amount: eur(1) },
            Tender::Card { amount: eur(2) },
            Tender::Savings { amount: eur(3) },
            Tender::GiftCard {
                card: GiftCardRef::new("GC-1").unwrap(),
                amount: eur(4),
            },
            Tender::Voucher {
                token_id: TokenId::new(&[1, 2]).unwrap(),
                amount: eur(5),
            },
            Tender::Other {
                label: "meal_voucher".into(),
                amount: eur(6),
            },
        ]
    }

    /// The journal's form, byte for byte: central and older tills read it.
    #[test]
    fn the_journal_form_is_unchanged() {
        let json = serde_json::to_string(&every_kind()).unwrap();
        assert_eq!(
            json,
            r#"[{"kind":"cash","amount":{"amount":1,"currency":"EUR"}},{"kind":"card","amount":{"amount":2,"currency":"EUR"}},{"kind":"savings","amount":{"amount":3,"currency":"EUR"}},{"kind":"gift_card","card":"GC-1","amount":{"amount":4,"currency":"EUR"}},{"kind":"voucher","token_id":"0102","amount":{"amount":5,"currency":"EUR"}},{"kind":"other","label":"meal_voucher","amount":{"amount":6,"currency":"EUR"}}]"#
        );
        assert_eq!(
            serde_json::from_str::<Vec<Tender>>(&json).unwrap(),
            every_kind()
        );
    }

    /// The POS API's form, byte for byte: the answer of a return and the till's stored
    /// sales carry it.
    #[test]
    fn the_pos_form_is_unchanged() {
        let json = serde_json::to_string(&Pos {
            tenders: every_kind(),
        })
        .unwrap();
        assert_eq!(
            json,
            r#"{"tenders":[{"type":"other","method":"cash","amount":{"amount":1,"currency":"EUR"}},{"type":"other","method":"card","amount":{"amount":2,"currency":"EUR"}},{"type":"savings","amount":{"amount":3,"currency":"EUR"}},{"type":"gift_card","card_id":"GC-1","amount":{"amount":4,"currency":"EUR"}},{"type":"other","method":"voucher","amount":{"amount":5,"currency":"EUR"}},{"type":"other","method":"meal_voucher","amount":{"amount":6,"currency":"EUR"}}]}"#
        );
        let back: Pos = serde_json::from_str(&json).unwrap();
        let mut expected = every_kind();
        // The POS form never carried a voucher's token id.
        expected[4] = Tender::Other {
            label: "voucher".into(),
            amount: eur(5),
        };
        assert_eq!(back.tenders, expected);
    }

    #[test]
    fn the_pos_form_refuses_unknown_fields_and_bad_cards() {
        for bad in [
            r#"{"tenders":[{"type":"savings","amount":{"amount":1,"currency":"EUR"},"x":1}]}"#,
            r#"{"tenders":[{"type":"gift_card","card_id":"no spaces","amount":{"amount":1,"currency":"EUR"}}]}"#,
            r#"{"tenders":[{"type":"cash","amount":{"amount":1,"currency":"EUR"}}]}"#,
        ] {
            assert!(serde_json::from_str::<Pos>(bad).is_err(), "{bad}");
        }
    }

    fn any_tender() -> impl Strategy<Value = Tender> {
        let amount = (0_i64..1_000_000).prop_map(eur);
        prop_oneof![
            amount.clone().prop_map(|amount| Tender::Cash { amount }),
            amount.clone().prop_map(|amount| Tender::Card { amount }),
            amount.clone().prop_map(|amount| Tender::Savings { amount }),
            ("[A-Za-z0-9._-]{1,64}", amount.clone()).prop_map(|(card, amount)| {
                Tender::GiftCard {
                    card: GiftCardRef::new(card).unwrap(),
                    amount,
                }
            }),
            ("[A-Za-z0-9_-]{1,32}", amount).prop_map(|(m, amount)| Tender::paid_at_pos(&m, amount)),
        ]
    }

    proptest! {
        /// Both forms give back the tender they were written from (vouchers aside, which
        /// the POS form names by method only), and a tender's amount and account survive
        /// [`Tender::with_amount`].
        #[test]
        fn both_forms_round_trip(tenders in proptest::collection::vec(any_tender(), 0..8)) {
            let journal = serde_json::to_string(&tenders).unwrap();
            prop_assert_eq!(&serde_json::from_str::<Vec<Tender>>(&journal).unwrap(), &tenders);
            let pos = serde_json::to_string(&Pos { tenders: tenders.clone() }).unwrap();
            prop_assert_eq!(&serde_json::from_str::<Pos>(&pos).unwrap().tenders, &tenders);
            for t in &tenders {
                let half = t.with_amount(eur(t.amount().amount / 2));
                prop_assert!(half.same_account(t));
                prop_assert_eq!(half.amount().amount, t.amount().amount / 2);
            }
        }
    }
}
