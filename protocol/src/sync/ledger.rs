//! The store's offline-risk ledger: what central returns to **every till of a store** about
//! the spends its tills made against balances central had not confirmed, and the flags
//! concerning the store — the `ledger` delta stream ([`super::DeltaKind::Ledger`]), scoped
//! to the till's store.
//!
//! - [`LedgerDelta`]: one item — a spend ([`LedgerSpend`]) with central's outcome, a flag
//!   ([`LedgerFlag`]), or a flag withdrawn ([`LedgerDelta::Gone`]).
//! - Where the till took the balance it spent from is the journal's
//!   [`BalanceSource`](super::journal::BalanceSource), the same vocabulary.
//! - [`LedgerOutcome`]: what central made of a spend once the journals came in.
//! - [`mask`]: the only form in which a customer, card or voucher reference appears in
//!   the ledger, the feed and the dashboard.
//! - [`LEDGER_RETENTION_SECS`]: how long central serves, and tills keep, an entry.

use serde::{Deserialize, Serialize};

use super::batch::EventFlag;
use super::ids::{EventId, TillId};
use super::journal::BalanceSource;
use crate::money::Money;

/// How long an entry of the ledger is kept, by central (served) and by the tills (shown):
/// 90 days after the spend.
pub const LEDGER_RETENTION_SECS: i64 = 90 * 86_400;

/// What central made of a spend.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LedgerOutcome {
    /// The real balance covered it.
    Confirmed,
    /// It went beyond the real balance: the rest is a debt on the account, still owed.
    Debt,
    /// It went beyond the real balance, and the debt has since been paid.
    Resolved,
    /// An outcome a newer central names.
    #[serde(other)]
    Unknown,
}

impl LedgerOutcome {
    /// The code: `confirmed`, `debt`, `resolved`, `unknown`.
    pub fn code(self) -> &'static str {
        match self {
            LedgerOutcome::Confirmed => "confirmed",
            LedgerOutcome::Debt => "debt",
            LedgerOutcome::Resolved => "resolved",
            LedgerOutcome::Unknown => "unknown",
        }
    }

    /// From a code; `Unknown` for any other.
    pub fn from_code(code: &str) -> LedgerOutcome {
        match code {
            "confirmed" => LedgerOutcome::Confirmed,
            "debt" => LedgerOutcome::Debt,
            "resolved" => LedgerOutcome::Resolved,
            _ => LedgerOutcome::Unknown,
        }
    }
}

/// The account a spend was on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LedgerAccount {
    /// A customer's savings.
    Savings,
    /// A gift card.
    GiftCard,
}

impl LedgerAccount {
    /// The code: `savings`, `gift_card`.
    pub fn code(self) -> &'static str {
        match self {
            LedgerAccount::Savings => "savings",
            LedgerAccount::GiftCard => "gift_card",
        }
    }
}

/// A spend at one of the store's tills, with central's outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerSpend {
    /// The spend's journal event.
    pub id: EventId,
    /// The till that made it.
    pub till: TillId,
    /// When: unix seconds (the till's clock).
    pub at: i64,
    /// Savings or gift card.
    pub account: LedgerAccount,
    /// The customer or card, masked ([`mask`]).
    pub holder: String,
    /// What was spent.
    pub amount: Money,
    /// The part the real balance did not cover (zero when confirmed).
    pub short: Money,
    /// Where the till took the balance from.
    pub source: BalanceSource,
    /// What central made of it.
    pub outcome: LedgerOutcome,
}

/// A flag concerning the store: an account its tills overspent, a token also used at
/// another store, a take-back stopped at zero.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerFlag {
    /// Stable for the flag: the same flag updated keeps it.
    pub id: String,
    /// What was noticed.
    pub kind: EventFlag,
    /// The customer, card or voucher, masked ([`mask`]).
    pub holder: String,
    /// What happened (amounts, store ids; never a reference).
    pub detail: String,
    /// When central raised it: unix seconds.
    pub raised_at: i64,
    /// Whether what it points at is settled (an overspend's debt paid).
    pub resolved: bool,
}

/// One item of the `ledger` stream. Serialized with an `op` tag.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum LedgerDelta {
    /// A spend, as it stands now.
    Spend {
        /// The spend.
        spend: LedgerSpend,
    },
    /// A flag, as it stands now.
    Flag {
        /// The flag.
        flag: LedgerFlag,
    },
    /// A flag withdrawn: a journal that came late showed the account was never overspent.
    Gone {
        /// The flag's id.
        id: String,
    },
}

/// A reference masked: its first two and last two characters, the rest as `•`; a
/// reference of four characters or fewer entirely as `•`.
pub fn mask(reference: &str) -> String {
    let chars: Vec<char> = reference.chars().collect();
    if chars.len() <= 4 {
        return "•".repeat(chars.len());
    }
    let head: String = chars.iter().take(2).collect();
    let tail: String = chars.iter().skip(chars.len() - 2).collect();
    format!("{head}{}{tail}", "•".repeat(chars.len() - 4))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_keep_only_the_ends() {
        assert_eq!(mask("C-000123"), "C-••••23");
        assert_eq!(mask("GC-1"), "••••");
        assert_eq!(mask(""), "");
    }

    #[test]
    fn codes_a_newer_side_adds_read_as_unknown() {
        let source: BalanceSource = serde_json::from_str(r#""voucher""#).unwrap();
        assert_eq!(source, BalanceSource::Unknown);
        let outcome: LedgerOutcome = serde_json::from_str(r#""written_off""#).unwrap();
        assert_eq!(outcome, LedgerOutcome::Unknown);
        assert_eq!(LedgerOutcome::from_code("debt"), LedgerOutcome::Debt);
        assert_eq!(
            BalanceSource::from_code("snapshot"),
            Some(BalanceSource::Snapshot)
        );
    }

    #[test]
    fn an_item_is_tagged_by_op() {
        let gone = LedgerDelta::Gone { id: "f1".into() };
        let json = serde_json::to_string(&gone).unwrap();
        assert_eq!(json, r#"{"op":"gone","id":"f1"}"#);
        assert_eq!(serde_json::from_str::<LedgerDelta>(&json).unwrap(), gone);
    }
}
