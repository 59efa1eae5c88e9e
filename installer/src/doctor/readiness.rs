//! What the agent's `/readyz` needs of the till's files, said with what to do: an
//! enrolment, a trust list and a promotion catalog (the till key and central's URL are
//! the `till-key` and `central` checks). And the outbox: events waiting for central are
//! normal; events central **rejected** are kept, not sent again, and need central IT.
//!
//! The database is the agent's: what it holds comes from the agent itself,
//! `tillpass status --offline --json` ([`crate::agent::offline_status`]), never from its
//! tables.

use tillpass_tillfiles::status::{DatabaseState, OfflineStatus};

use super::{Finding, Status};
use crate::enrol::Enrolment;
use crate::layout::Layout;

/// `enrolment`, `trust-list`, `catalog` and `outbox-rejected`.
pub fn check(layout: &Layout, status: &Result<OfflineStatus, String>) -> Vec<Finding> {
    let enrolment = std::fs::read_to_string(layout.enrolment_file())
        .ok()
        .map(|text| serde_json::from_str::<Enrolment>(&text));
    let mut findings = vec![match &enrolment {
        Some(Ok(e)) => Finding::ok(
            "enrolment",
            format!("till {} of store {}", e.response.till, e.response.store),
        ),
        Some(Err(e)) => Finding::bad(
            "enrolment",
            Status::Fail,
            format!("{} cannot be read: {e}", layout.enrolment_file().display()),
            "enrol the till again: `tillpass-install install --central URL --enrol CODE` \
             with a new code from central IT",
        ),
        None => Finding::bad(
            "enrolment",
            Status::Fail,
            "the till is not enrolled: the agent reports not_enrolled and keeps its journal",
            "enrol it: `tillpass-install install --central URL --enrol CODE`",
        ),
    }];
    let skipped =
        |check, detail: String, fix: &str| Finding::bad(check, Status::Skipped, detail, fix);
    let status = match status {
        Ok(status) => status,
        Err(why) => {
            for check in ["trust-list", "catalog"] {
                findings.push(skipped(
                    check,
                    format!("the agent could not be asked: {why}"),
                    "install the tillpass package (or `tillpass-install install --agent-binary \
                     FILE`), then run doctor again",
                ));
            }
            return findings;
        }
    };
    match status.database.state {
        DatabaseState::Missing => {
            for check in ["trust-list", "catalog"] {
                findings.push(skipped(
                    check,
                    "the agent has not made its database yet".to_owned(),
                    "start the agent: it takes the trust list from the enrolment and the \
                     catalog at its first sync with central",
                ));
            }
            return findings;
        }
        DatabaseState::Damaged => {
            for check in ["trust-list", "catalog"] {
                findings.push(skipped(
                    check,
                    "the database cannot be read (see `database`)".to_owned(),
                    "fix the database first",
                ));
            }
            return findings;
        }
        DatabaseState::Intact => {}
    }
    findings.push(match &status.trust_list {
        Some(t) => Finding::ok("trust-list", format!("sequence {}", t.sequence)),
        None => Finding::bad(
            "trust-list",
            Status::Fail,
            "the till has never had a trust list: it verifies no QR, /readyz says \
             no_trust_list",
            "enrol the till (`tillpass-install install --central URL --enrol CODE`) and \
             start the agent; it then keeps the list fresh from central",
        ),
    });
    findings.push(match &status.catalog {
        Some(c) => Finding::ok("catalog", format!("catalog {} active", c.sequence)),
        None => Finding::bad(
            "catalog",
            Status::Fail,
            "the till has never had a promotion catalog: every cart gets 503 no_catalog, \
             /readyz says no_catalog",
            "it arrives with the first sync: check that central is reachable (see `central`) \
             and that central IT published a catalog (`tillpass-central catalog publish`)",
        ),
    });
    match &status.outbox {
        Some(o) if o.rejected > 0 => {
            let newest = o
                .newest_rejection
                .as_ref()
                .map(|r| format!(" (newest: {} {}: {})", r.kind, r.code, r.reason))
                .unwrap_or_default();
            findings.push(Finding::bad(
                "outbox-rejected",
                Status::Warn,
                format!(
                    "central rejected {} event(s){newest}; they are kept on the till and not \
                     sent again",
                    o.rejected
                ),
                "list them with `tillpass journal rejected`; have central IT fix central (the \
                 reason says what it refused), then re-send them with `tillpass journal retry \
                 --all`. Never delete them: they are sales central does not have",
            ));
        }
        Some(_) => findings.push(Finding::ok("outbox-rejected", "central rejected no event")),
        None => {}
    }
    findings
}

#[cfg(test)]
mod tests {
    use super::*;
    use tillpass_tillfiles::status::{Catalog, Database, Outbox, Rejection, TrustList};

    fn finding<'a>(findings: &'a [Finding], check: &str) -> &'a Finding {
        findings.iter().find(|f| f.check == check).unwrap()
    }

    fn intact() -> OfflineStatus {
        OfflineStatus {
            database: Database {
                path: "/var/lib/tillpass/tillpass.db".into(),
                state: DatabaseState::Intact,
                problem: None,
            },
            trust_list: None,
            catalog: None,
            outbox: Some(Outbox {
                pending: 0,
                rejected: 0,
                newest_rejection: None,
            }),
        }
    }

    #[test]
    fn a_till_without_enrolment_trust_list_or_catalog_is_told_what_to_do() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::new(dir.path());
        let mut missing = intact();
        missing.database.state = DatabaseState::Missing;
        let findings = check(&layout, &Ok(missing));
        assert_eq!(finding(&findings, "enrolment").status, Status::Fail);
        assert_eq!(finding(&findings, "catalog").status, Status::Skipped);

        let findings = check(&layout, &Ok(intact()));
        for name in ["enrolment", "trust-list", "catalog"] {
            let f = finding(&findings, name);
            assert_eq!(f.status, Status::Fail, "{f}");
            assert!(f.fix.as_deref().is_some_and(|fix| fix.contains('`')), "{f}");
        }
        assert!(finding(&findings, "catalog").detail.contains("no_catalog"));

        let mut ready = intact();
        ready.trust_list = Some(TrustList {
            sequence: 4,
            issued_at: 1,
            expires_at: 2,
            envelope: String::new(),
        });
        ready.catalog = Some(Catalog { sequence: 7 });
        let findings = check(&layout, &Ok(ready));
        assert_eq!(finding(&findings, "trust-list").status, Status::Ok);
        assert_eq!(finding(&findings, "catalog").detail, "catalog 7 active");
    }

    #[test]
    fn rejected_events_are_a_warning_with_the_reason_and_the_way_out() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::new(dir.path());
        let mut status = intact();
        status.outbox = Some(Outbox {
            pending: 1,
            rejected: 1,
            newest_rejection: Some(Rejection {
                kind: "sale_closed".to_owned(),
                code: "invalid".to_owned(),
                reason: "lines[0].sku: holds a control character".to_owned(),
            }),
        });
        let findings = check(&layout, &Ok(status));
        let f = finding(&findings, "outbox-rejected");
        assert_eq!(f.status, Status::Warn, "{f}");
        assert!(
            f.detail
                .contains("sale_closed invalid: lines[0].sku: holds a control character"),
            "{f}"
        );
        assert!(
            f.fix
                .as_deref()
                .unwrap()
                .contains("tillpass journal retry --all")
        );
    }

    #[test]
    fn an_agent_that_cannot_be_asked_skips_what_only_it_knows() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::new(dir.path());
        let findings = check(&layout, &Err("no agent binary".to_owned()));
        let f = finding(&findings, "trust-list");
        assert_eq!(f.status, Status::Skipped, "{f}");
        assert!(f.detail.contains("no agent binary"), "{f}");
    }
}
