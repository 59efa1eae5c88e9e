//! The offline policy central set at enrolment (`OfflinePolicy`): while the till cannot
//! refresh them, its catalog and trust list grow old; past `max_catalog_age_secs` or
//! `max_trust_list_age_secs` (or past the trust list's own expiry) the till degrades to
//! **earn only** — customers still earn, but savings redemptions and gift-card spend are
//! refused — and says why in [`super::SyncStatus`], on the event stream, the
//! dashboard and `/readyz`. Reconnecting brings fresh ones and lifts it.
//!
//! A catalog installed without an envelope (sequence 0: the demo, tests) has no age.
//! The caps on savings and gift-card spend per customer and card while unsynced are the
//! session code's to apply ([`SyncStatus::offline_policy`](super::SyncStatus::offline_policy)).

use tillpass_protocol::sync::OfflinePolicy;

use super::{SyncSnapshot, SyncStatus};
use crate::bus::Bus;
use crate::catalog::Catalogs;
use crate::http::AppState;
use crate::identify::Identifier;

/// What the till holds, for the policy.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Holding {
    /// The trust list in force: (sequence, issued at, expires at).
    pub trust: Option<(u64, u64, u64)>,
    /// The active catalog: (sequence, issued at, promotions).
    pub catalog: Option<(u64, u64, usize)>,
}

/// A duration for people: `3 d 4 h`, `2 h 5 min`, `40 s`.
pub fn human(secs: u64) -> String {
    let (d, h, m) = (secs / 86_400, secs % 86_400 / 3_600, secs % 3_600 / 60);
    match (d, h, m) {
        (0, 0, 0) => format!("{secs} s"),
        (0, 0, m) => format!("{m} min"),
        (0, h, m) => format!("{h} h {m} min"),
        (d, h, _) => format!("{d} d {h} h"),
    }
}

/// Why the till is earn-only at `now`, if it is: each reason starts with a stable code
/// (`trust_list_expired`, `trust_list_too_old`, `catalog_too_old`).
pub fn earn_only(now: u64, policy: Option<&OfflinePolicy>, holding: &Holding) -> Option<String> {
    let mut reasons = Vec::new();
    if let Some((sequence, issued_at, expires_at)) = holding.trust {
        let age = now.saturating_sub(issued_at);
        if now > expires_at {
            reasons.push(format!(
                "trust_list_expired: trust list {sequence} expired {} ago; connect the till \
                 to central",
                human(now - expires_at)
            ));
        } else if let Some(p) = policy
            && age > p.max_trust_list_age_secs
        {
            reasons.push(format!(
                "trust_list_too_old: trust list {sequence} is {} old, the offline policy \
                 allows {}; connect the till to central",
                human(age),
                human(p.max_trust_list_age_secs)
            ));
        }
    }
    if let (Some(p), Some((sequence, issued_at, _))) = (policy, holding.catalog)
        && sequence > 0
    {
        let age = now.saturating_sub(issued_at);
        if age > p.max_catalog_age_secs {
            reasons.push(format!(
                "catalog_too_old: catalog {sequence} is {} old, the offline policy allows {}; \
                 connect the till to central",
                human(age),
                human(p.max_catalog_age_secs)
            ));
        }
    }
    (!reasons.is_empty()).then(|| reasons.join("; "))
}

/// What the till holds now. The trust list's expiry is the one the sync status recorded
/// for that sequence (none known: it does not expire).
pub fn holding(identifier: &Identifier, catalogs: &Catalogs, status: &SyncStatus) -> Holding {
    let expiry = status.snapshot().trust_expires_at;
    Holding {
        trust: identifier.trust_sequence().map(|(sequence, issued_at)| {
            let expires_at = match expiry {
                Some((seq, at)) if seq == sequence => at,
                _ => u64::MAX,
            };
            (sequence, issued_at, expires_at)
        }),
        catalog: catalogs
            .active()
            .map(|a| (a.sequence, a.issued_at, a.engine.catalog().promotions.len())),
    }
}

/// Re-evaluates the policy at `now` and updates `status` (publishing a change).
pub fn refresh(status: &SyncStatus, bus: &Bus, now: u64, holding: &Holding) {
    status.update_and_publish(bus, |s| {
        s.earn_only = earn_only(now, s.offline_policy.as_ref(), holding);
        s.trust_sequence = holding.trust.map(|t| t.0);
        s.trust_age_secs = holding.trust.map(|t| now.saturating_sub(t.1));
        s.catalog_sequence = holding.catalog.map(|c| c.0);
        s.catalog_issued_at = holding.catalog.map(|c| c.1);
        s.catalog_age_secs = holding.catalog.map(|c| now.saturating_sub(c.1));
        s.catalog_promotions = holding.catalog.map(|c| c.2);
    });
}

/// Re-evaluates the policy from what the app holds now.
pub fn refresh_state(state: &AppState) {
    let now = state.identifier.clock().now();
    let holding = holding(&state.identifier, &state.catalogs, &state.sync);
    refresh(&state.sync, &state.bus, now, &holding);
}

/// Why `/readyz` should mention sync, if it should: `earn_only: …` while the till is
/// limited to earning, `central_unreachable: …` once an exchange with central failed.
/// Informational: the till still sells.
pub fn readiness_reasons(state: &AppState) -> Vec<String> {
    reasons(&state.sync.snapshot())
}

fn reasons(s: &SyncSnapshot) -> Vec<String> {
    let mut reasons = Vec::new();
    if let Some(why) = &s.earn_only {
        reasons.push(format!("earn_only: {why}"));
    }
    if s.configured && !s.online && s.last_attempt_at.is_some() {
        reasons.push(format!(
            "central_unreachable: {}",
            s.last_error.as_deref().unwrap_or("no answer")
        ));
    }
    reasons
}

#[cfg(test)]
mod tests {
    use super::*;
    use tillpass_protocol::money::{Currency, Money};
    use tillpass_protocol::sync::ReplayPolicy;

    fn policy() -> OfflinePolicy {
        OfflinePolicy {
            max_savings_spend_per_customer: Money::new(2000, Currency::EUR),
            max_gift_card_spend_per_card: Money::new(5000, Currency::EUR),
            max_catalog_age_secs: 7 * 86_400,
            max_trust_list_age_secs: 30 * 86_400,
            retention_days: 90,
            replay: ReplayPolicy {
                max_uses_per_pass: 3,
            },
        }
    }

    #[test]
    fn old_catalogs_and_trust_lists_make_the_till_earn_only() {
        let p = policy();
        let now = 100 * 86_400;
        let fresh = Holding {
            trust: Some((1, now - 86_400, now + 86_400)),
            catalog: Some((4, now - 3_600, 1)),
        };
        assert_eq!(earn_only(now, Some(&p), &fresh), None);
        let old_catalog = Holding {
            catalog: Some((4, now - 8 * 86_400, 1)),
            ..fresh
        };
        let why = earn_only(now, Some(&p), &old_catalog).unwrap();
        assert!(
            why.starts_with("catalog_too_old: catalog 4 is 8 d 0 h old"),
            "{why}"
        );
        let demo = Holding {
            catalog: Some((0, 0, 1)),
            ..fresh
        };
        assert_eq!(
            earn_only(now, Some(&p), &demo),
            None,
            "no age without an envelope"
        );
        let old_trust = Holding {
            trust: Some((2, now - 31 * 86_400, now + 1)),
            ..fresh
        };
        assert!(
            earn_only(now, Some(&p), &old_trust)
                .unwrap()
                .starts_with("trust_list_too_old")
        );
        let expired = Holding {
            trust: Some((2, now - 86_400, now - 60)),
            ..old_catalog
        };
        let why = earn_only(now, None, &expired).unwrap();
        assert!(why.starts_with("trust_list_expired"), "{why}");
        let both = earn_only(now, Some(&p), &expired).unwrap();
        assert!(both.contains("; catalog_too_old"), "{both}");
    }

    #[test]
    fn readiness_names_earn_only_and_an_unreachable_central() {
        let mut s = SyncSnapshot::default();
        assert!(reasons(&s).is_empty());
        s.configured = true;
        assert!(reasons(&s).is_empty(), "not tried yet");
        s.last_attempt_at = Some(1);
        s.last_error = Some("connection refused".into());
        s.earn_only = Some("catalog_too_old: …".into());
        assert_eq!(
            reasons(&s),
            [
                "earn_only: catalog_too_old: …",
                "central_unreachable: connection refused"
            ]
        );
        assert_eq!(human(40), "40 s");
        assert_eq!(human(7_500), "2 h 5 min");
    }
}
