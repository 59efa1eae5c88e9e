//! What the agent's `/readyz` needs of the till's files, said with what to do: an
//! enrolment, a trust list and a promotion catalog (the till key and central's URL are
//! the `till-key` and `central` checks). And the outbox: events waiting for central are
//! normal; events central **rejected** are kept, not sent again, and need central IT.

use rusqlite::{Connection, OpenFlags, OptionalExtension};

use super::{Finding, Status};
use crate::enrol::Enrolment;
use crate::layout::Layout;

/// The outbox's rows by state.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outbox {
    /// Waiting for central.
    pub pending: i64,
    /// Refused by central: kept, not sent again.
    pub rejected: i64,
    /// The newest refusal: (kind, central's code, central's reason).
    pub newest_rejection: Option<(String, String, String)>,
}

/// Counts the outbox by state. A database the agent has not migrated to outbox states yet
/// (before its migration 9) counts rows with central's reason as rejected.
pub fn outbox(conn: &Connection) -> rusqlite::Result<Outbox> {
    let has_state: bool = conn.query_row(
        "SELECT count(*) > 0 FROM pragma_table_info('outbox') WHERE name = 'state'",
        [],
        |r| r.get(0),
    )?;
    let (rejected_when, code) = if has_state {
        ("state = 'rejected'", "coalesce(reject_code, 'rejected')")
    } else {
        ("last_error IS NOT NULL", "'rejected'")
    };
    let (total, rejected): (i64, i64) = conn.query_row(
        &format!("SELECT count(*), count(*) FILTER (WHERE {rejected_when}) FROM outbox"),
        [],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    let newest_rejection = conn
        .query_row(
            &format!(
                "SELECT kind, {code}, coalesce(last_error, '') FROM outbox
                  WHERE {rejected_when} ORDER BY seq DESC LIMIT 1"
            ),
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()?;
    Ok(Outbox {
        pending: total - rejected,
        rejected,
        newest_rejection,
    })
}

/// `enrolment`, `trust-list`, `catalog` and `outbox-rejected`.
pub fn check(layout: &Layout) -> Vec<Finding> {
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
    let db = layout.database();
    let conn = if db.exists() {
        Connection::open_with_flags(&db, OpenFlags::SQLITE_OPEN_READ_ONLY).ok()
    } else {
        None
    };
    let Some(conn) = conn else {
        let not_yet = |check| {
            Finding::bad(
                check,
                Status::Skipped,
                "the agent has not made its database yet",
                "start the agent: it takes the trust list from the enrolment and the catalog \
                 at its first sync with central",
            )
        };
        findings.push(not_yet("trust-list"));
        findings.push(not_yet("catalog"));
        return findings;
    };
    let trust: Option<i64> = conn
        .query_row("SELECT sequence FROM trust_list WHERE id = 1", [], |r| {
            r.get(0)
        })
        .optional()
        .ok()
        .flatten();
    findings.push(match trust {
        Some(sequence) => Finding::ok("trust-list", format!("sequence {sequence}")),
        None => Finding::bad(
            "trust-list",
            Status::Fail,
            "the till has never had a trust list: it verifies no QR, /readyz says \
             no_trust_list",
            "enrol the till (`tillpass-install install --central URL --enrol CODE`) and \
             start the agent; it then keeps the list fresh from central",
        ),
    });
    let catalog: Option<i64> = conn
        .query_row(
            "SELECT max(sequence) FROM catalogs WHERE state = 'active'",
            [],
            |r| r.get(0),
        )
        .ok()
        .flatten();
    findings.push(match catalog {
        Some(sequence) => Finding::ok("catalog", format!("catalog {sequence} active")),
        None => Finding::bad(
            "catalog",
            Status::Fail,
            "the till has never had a promotion catalog: every cart gets 503 no_catalog, \
             /readyz says no_catalog",
            "it arrives with the first sync: check that central is reachable (see `central`) \
             and that central IT published a catalog (`tillpass-central catalog publish`)",
        ),
    });
    match outbox(&conn) {
        Ok(o) if o.rejected > 0 => {
            let newest = o
                .newest_rejection
                .map(|(kind, code, reason)| format!(" (newest: {kind} {code}: {reason})"))
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
        Ok(_) => findings.push(Finding::ok("outbox-rejected", "central rejected no event")),
        Err(_) => {}
    }
    findings
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fsops::ensure_dir;

    fn database(layout: &Layout, sql: &str) {
        ensure_dir(&layout.state_dir(), 0o750).unwrap();
        let conn = Connection::open(layout.database()).unwrap();
        conn.execute_batch(sql).unwrap();
    }

    fn finding<'a>(findings: &'a [Finding], check: &str) -> &'a Finding {
        findings.iter().find(|f| f.check == check).unwrap()
    }

    const SCHEMA: &str = "
        CREATE TABLE trust_list (id INTEGER PRIMARY KEY, sequence INTEGER);
        CREATE TABLE catalogs (sequence INTEGER PRIMARY KEY, state TEXT);
        CREATE TABLE outbox (seq INTEGER PRIMARY KEY, kind TEXT, last_error TEXT,
                             state TEXT NOT NULL DEFAULT 'pending', reject_code TEXT);";

    #[test]
    fn a_till_without_enrolment_trust_list_or_catalog_is_told_what_to_do() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::new(dir.path());
        let findings = check(&layout);
        assert_eq!(finding(&findings, "enrolment").status, Status::Fail);
        assert_eq!(finding(&findings, "catalog").status, Status::Skipped);

        database(&layout, SCHEMA);
        let findings = check(&layout);
        for name in ["enrolment", "trust-list", "catalog"] {
            let f = finding(&findings, name);
            assert_eq!(f.status, Status::Fail, "{f}");
            assert!(f.fix.as_deref().is_some_and(|fix| fix.contains('`')), "{f}");
        }
        assert!(finding(&findings, "catalog").detail.contains("no_catalog"));

        database(
            &layout,
            "INSERT INTO trust_list VALUES (1, 4); INSERT INTO catalogs VALUES (7, 'active');",
        );
        let findings = check(&layout);
        assert_eq!(finding(&findings, "trust-list").status, Status::Ok);
        assert_eq!(finding(&findings, "catalog").detail, "catalog 7 active");
    }

    #[test]
    fn rejected_events_are_a_warning_with_the_reason_and_the_way_out() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::new(dir.path());
        database(
            &layout,
            &format!(
                "{SCHEMA}
                 INSERT INTO outbox(kind) VALUES ('savings_earned');
                 INSERT INTO outbox(kind, last_error, state, reject_code)
                   VALUES ('sale_closed', 'lines[0].sku: holds a control character',
                           'rejected', 'invalid');"
            ),
        );
        let conn = Connection::open(layout.database()).unwrap();
        let o = outbox(&conn).unwrap();
        assert_eq!((o.pending, o.rejected), (1, 1));
        let findings = check(&layout);
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
    fn an_outbox_before_states_counts_central_reasons_as_rejected() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::new(dir.path());
        database(
            &layout,
            "CREATE TABLE outbox (seq INTEGER PRIMARY KEY, kind TEXT, last_error TEXT);
             INSERT INTO outbox(kind) VALUES ('token_used');
             INSERT INTO outbox(kind, last_error) VALUES ('sale_closed', '{}');",
        );
        let conn = Connection::open(layout.database()).unwrap();
        let o = outbox(&conn).unwrap();
        assert_eq!((o.pending, o.rejected), (1, 1));
    }
}
