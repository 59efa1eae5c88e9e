//! The replay rule: whether a read of a token at a till starts a new use of it, belongs to
//! the use it already has, or is a replay to refuse. Pure: the till passes what it stored
//! of the token's current use, what the read is for and the time.
//!
//! What one *use* is depends on the kind:
//! - **A customer pass: one visit.** A visit is the reads of one pass at one till that
//!   belong together: every read for the same sale (POS session), and every read less
//!   than [`ReplayRule::visit_secs`] after the pass's previous read — unless the sale the
//!   visit identified has closed since, or the read is for another sale than the one it
//!   identifies. A scanner's double read, the pass scanned again at the scanner, or sent
//!   again with its sale, is the same visit. [`ReplayRule::max_uses_per_pass`] counts
//!   visits: past it, a read that starts a new visit is a replay.
//! - **A gift card: one sale it pays.** A read for a sale that is not the card's current
//!   sale is a new use; a read outside a sale (at the scanner) only checks the card. There
//!   is no count: the card's balance and expiry decide how often it pays.
//! - **A voucher: the sale that closes with it**, once. A read only checks it; the close
//!   of the sale that applied it records the use, and afterwards every read is a replay.
//!
//! ```
//! use tillpass_protocol::token::TokenKind;
//! use tillpass_protocol::token::replay::{CurrentUse, ReplayRule, SaleState, Verdict, judge};
//!
//! let rule = ReplayRule { max_uses_per_pass: 1, visit_secs: 180 };
//! // The first read of a pass starts its first visit.
//! assert_eq!(judge(TokenKind::CustomerPass, None, Some("T-1"), 1_000, &rule), Verdict::NewUse);
//! // The same pass sent again with the same sale, ten minutes on: the same visit.
//! let used = CurrentUse { uses: 1, last_read_at: 1_000, sale: Some(("T-1", SaleState::Open)) };
//! assert_eq!(judge(TokenKind::CustomerPass, Some(&used), Some("T-1"), 1_600, &rule), Verdict::SameUse);
//! // Once that sale closed, a read for the next sale is a new visit: its only one is gone.
//! let closed = CurrentUse { sale: Some(("T-1", SaleState::Closed)), ..used };
//! assert_eq!(judge(TokenKind::CustomerPass, Some(&closed), Some("T-2"), 1_010, &rule), Verdict::Replayed);
//! ```

use super::TokenKind;

/// The till's replay settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplayRule {
    /// How many visits one customer pass (one token id) may make at a till.
    pub max_uses_per_pass: u32,
    /// How long after a pass's last read a read without a sale, or for a sale its visit
    /// has not identified yet, still belongs to the visit (seconds; the till's
    /// current-customer time).
    pub visit_secs: u64,
}

/// The state of the sale a use is bound to, as the till knows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SaleState {
    /// The sale can still change.
    Open,
    /// The sale closed: the use is over.
    Closed,
    /// The sale was cancelled: the visit may go on with another sale.
    Cancelled,
    /// The till has no such sale (any more): the use is over.
    Unknown,
}

/// What the till stored of a token's current use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CurrentUse<'a> {
    /// How many uses the token has had at this till, the current one included.
    pub uses: u32,
    /// The last read that belonged to the current use (unix seconds).
    pub last_read_at: u64,
    /// The sale the current use is bound to, with its state; `None` for a visit that has
    /// identified no sale yet.
    pub sale: Option<(&'a str, SaleState)>,
}

/// What a read is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// It starts a new use: record it (one more use, bound to the read's sale).
    NewUse,
    /// It belongs to the current use: nothing new is used (the read's sale, if any,
    /// becomes the use's sale).
    SameUse,
    /// It only checks the token: a voucher before the close of its sale, a gift card read
    /// outside a sale.
    Check,
    /// The token is used up: refuse the read.
    Replayed,
}

/// Judges one read of a token of `kind` whose current use at this till is `current`
/// (`None`: never used here), made for the sale `read_for` (`None`: at the scanner or
/// `POST /v1/identify`) at `now` (unix seconds).
pub fn judge(
    kind: TokenKind,
    current: Option<&CurrentUse<'_>>,
    read_for: Option<&str>,
    now: u64,
    rule: &ReplayRule,
) -> Verdict {
    match kind {
        TokenKind::Voucher => {
            if current.is_some_and(|c| c.uses > 0) {
                Verdict::Replayed
            } else {
                Verdict::Check
            }
        }
        TokenKind::GiftCard => match (read_for, current.and_then(|c| c.sale)) {
            (None, _) => Verdict::Check,
            (Some(sale), Some((bound, _))) if sale == bound => Verdict::SameUse,
            (Some(_), _) => Verdict::NewUse,
        },
        // Customer passes, and any kind a newer format adds, are counted by visits.
        _ => {
            let Some(current) = current.filter(|c| c.uses > 0) else {
                return Verdict::NewUse;
            };
            if same_visit(current, read_for, now, rule) {
                Verdict::SameUse
            } else if current.uses < rule.max_uses_per_pass {
                Verdict::NewUse
            } else {
                Verdict::Replayed
            }
        }
    }
}

/// Whether a read of a pass belongs to its current visit.
fn same_visit(
    current: &CurrentUse<'_>,
    read_for: Option<&str>,
    now: u64,
    rule: &ReplayRule,
) -> bool {
    let recent = now.saturating_sub(current.last_read_at) < rule.visit_secs;
    match (current.sale, read_for) {
        (Some((bound, _)), Some(sale)) if bound == sale => true,
        (Some((_, SaleState::Closed | SaleState::Unknown)), _) => false,
        (Some((_, SaleState::Open)), Some(_)) => false,
        _ => recent,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RULE: ReplayRule = ReplayRule {
        max_uses_per_pass: 2,
        visit_secs: 180,
    };

    fn pass(current: Option<&CurrentUse<'_>>, read_for: Option<&str>, now: u64) -> Verdict {
        judge(TokenKind::CustomerPass, current, read_for, now, &RULE)
    }

    fn used(uses: u32, at: u64, sale: Option<(&str, SaleState)>) -> CurrentUse<'_> {
        CurrentUse {
            uses,
            last_read_at: at,
            sale,
        }
    }

    #[test]
    fn a_scanner_s_double_read_of_a_pass_is_the_same_visit() {
        assert_eq!(pass(None, None, 100), Verdict::NewUse);
        let first = used(1, 100, None);
        assert_eq!(pass(Some(&first), None, 101), Verdict::SameUse);
        // Sent with the sale a minute later: the same visit, which then identifies it.
        assert_eq!(pass(Some(&first), Some("T-1"), 160), Verdict::SameUse);
    }

    #[test]
    fn a_visit_ends_when_its_sale_closes_or_after_the_visit_time() {
        let open = used(1, 100, Some(("T-1", SaleState::Open)));
        assert_eq!(pass(Some(&open), Some("T-1"), 100_000), Verdict::SameUse);
        assert_eq!(pass(Some(&open), None, 200), Verdict::SameUse);
        assert_eq!(pass(Some(&open), None, 280), Verdict::NewUse);
        // Another sale while the first is open: a second visit.
        assert_eq!(pass(Some(&open), Some("T-2"), 101), Verdict::NewUse);
        let closed = used(1, 100, Some(("T-1", SaleState::Closed)));
        assert_eq!(pass(Some(&closed), None, 101), Verdict::NewUse);
        assert_eq!(pass(Some(&closed), Some("T-2"), 101), Verdict::NewUse);
        let gone = used(1, 100, Some(("T-1", SaleState::Unknown)));
        assert_eq!(pass(Some(&gone), None, 101), Verdict::NewUse);
        // A cancelled sale leaves the visit open for the next one.
        let cancelled = used(1, 100, Some(("T-1", SaleState::Cancelled)));
        assert_eq!(pass(Some(&cancelled), Some("T-2"), 150), Verdict::SameUse);
        assert_eq!(pass(Some(&cancelled), Some("T-2"), 280), Verdict::NewUse);
        let idle = used(1, 100, None);
        assert_eq!(pass(Some(&idle), None, 280), Verdict::NewUse);
    }

    #[test]
    fn a_pass_past_its_visits_is_a_replay_but_its_last_visit_goes_on() {
        let last = used(2, 100, Some(("T-2", SaleState::Closed)));
        assert_eq!(pass(Some(&last), Some("T-3"), 101), Verdict::Replayed);
        assert_eq!(pass(Some(&last), None, 101), Verdict::Replayed);
        let going_on = used(2, 100, Some(("T-2", SaleState::Open)));
        assert_eq!(pass(Some(&going_on), Some("T-2"), 5_000), Verdict::SameUse);
        assert_eq!(pass(Some(&going_on), None, 150), Verdict::SameUse);
    }

    #[test]
    fn a_gift_card_pays_sale_after_sale_without_a_count() {
        let card = |c, r| judge(TokenKind::GiftCard, c, r, 100, &RULE);
        assert_eq!(card(None, None), Verdict::Check);
        assert_eq!(card(None, Some("T-1")), Verdict::NewUse);
        let paid = used(40, 90, Some(("T-1", SaleState::Closed)));
        assert_eq!(card(Some(&paid), Some("T-1")), Verdict::SameUse);
        assert_eq!(card(Some(&paid), Some("T-2")), Verdict::NewUse);
        assert_eq!(card(Some(&paid), None), Verdict::Check);
    }

    #[test]
    fn a_voucher_is_checked_until_a_sale_spent_it() {
        let voucher = |c, r| judge(TokenKind::Voucher, c, r, 100, &RULE);
        assert_eq!(voucher(None, Some("T-1")), Verdict::Check);
        assert_eq!(voucher(None, None), Verdict::Check);
        let spent = used(1, 90, Some(("T-1", SaleState::Closed)));
        assert_eq!(voucher(Some(&spent), Some("T-2")), Verdict::Replayed);
        assert_eq!(voucher(Some(&spent), None), Verdict::Replayed);
    }
}
