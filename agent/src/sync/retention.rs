//! Retention: scan-log lines and token-use records older than the retention period
//! (`[sync] retention_days`, 90 by default; the enrolment's offline policy wins when it is
//! shorter) are deleted — but only once synced: nothing at or after the oldest event still
//! pending in the outbox is touched, since that event and everything after it have not
//! reached central yet. Events central rejected do not hold retention back: they are kept
//! whole in the outbox until central IT re-drives them, and waiting for them would keep
//! every scan and token use forever. A token-use record is kept while its token is still
//! valid (it is the replay record).
//!
//! Sales of the store's other tills (`origin = 'store'`, kept so they can be returned here)
//! go after [`STORE_SALE_DAYS`] (or the retention period, when shorter), with the store
//! returns recorded against them — unless this till recorded a return of one, which keeps
//! it. Central sends them for as long.

use rusqlite::{Connection, params};

use crate::store::{StoreError, sql};

/// How long sales of the store's other tills are kept: a store's usual return period.
pub const STORE_SALE_DAYS: u32 = 30;

/// What a purge deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Purged {
    /// Scan-log lines.
    pub scans: usize,
    /// Token-use records.
    pub token_uses: usize,
    /// Sales of the store's other tills.
    pub store_sales: usize,
}

/// The retention period in days: the configured one, or the policy's when shorter.
pub fn period_days(configured: u32, policy: Option<u32>) -> u32 {
    match policy {
        Some(p) if p > 0 => configured.min(p),
        _ => configured,
    }
}

/// Deletes what is older than `days` at `now` and synced, in one transaction.
pub fn purge(conn: &mut Connection, now: u64, days: u32) -> Result<Purged, StoreError> {
    let now = i64::try_from(now).unwrap_or(i64::MAX);
    let mut cutoff = now.saturating_sub(i64::from(days).saturating_mul(86_400));
    let (_, oldest_unsynced) = crate::store::journal::depth(conn)?;
    if let Some(oldest) = oldest_unsynced {
        cutoff = cutoff.min(oldest);
    }
    let tx = conn.transaction().map_err(sql)?;
    let scans = tx
        .execute("DELETE FROM scan_log WHERE at < ?1", [cutoff])
        .map_err(sql)?;
    let token_uses = tx
        .execute(
            "DELETE FROM token_uses WHERE last_used_at < ?1 AND expires_at < ?2",
            params![cutoff, now],
        )
        .map_err(sql)?;
    // Store sales never enter the outbox: the plain period applies.
    let store_days = i64::from(days.min(STORE_SALE_DAYS));
    let store_cutoff = now.saturating_sub(store_days.saturating_mul(86_400));
    tx.execute(
        "DELETE FROM sale_returns WHERE origin = 'store' AND sale_id IN (
           SELECT s.sale_id FROM sales s WHERE s.origin = 'store' AND s.closed_at < ?1
             AND NOT EXISTS (SELECT 1 FROM sale_returns l
                             WHERE l.sale_id = s.sale_id AND l.origin = 'local'))",
        [store_cutoff],
    )
    .map_err(sql)?;
    let store_sales = tx
        .execute(
            "DELETE FROM sales WHERE origin = 'store' AND closed_at < ?1
               AND NOT EXISTS (SELECT 1 FROM sale_returns r WHERE r.sale_id = sales.sale_id)",
            [store_cutoff],
        )
        .map_err(sql)?;
    tx.commit().map_err(sql)?;
    Ok(Purged {
        scans,
        token_uses,
        store_sales,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;
    use crate::store::journal::{self, TillIdentity};
    use crate::store::scans::{self, ScanRecord};
    use tillpass_protocol::sync::{CustomerRef, EventPayload, LocalCustomer, StoreId, TillId};

    const DAY: i64 = 86_400;

    fn scan(conn: &Connection, at: i64) {
        scans::log(
            conn,
            &ScanRecord {
                at,
                source: "api".into(),
                accepted: true,
                code: None,
                detail: None,
                token_kind: None,
                subject_masked: None,
                latency_us: 1,
            },
        )
        .unwrap();
    }

    fn count(conn: &Connection, table: &str) -> i64 {
        conn.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
            .unwrap()
    }

    #[test]
    fn old_synced_rows_go_and_unsynced_or_recent_ones_stay() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let mut conn = store.conn();
        let now = 1_000 * DAY;
        for days_ago in [200, 120, 95, 10] {
            scan(&conn, now - days_ago * DAY);
        }
        for (id, days_ago, expires_in) in [(1u8, 200, -199), (2, 150, 10), (3, 5, -4)] {
            conn.execute(
                "INSERT INTO token_uses(token_id, kind, subject, uses, first_used_at,
                   last_used_at, expires_at) VALUES (?1, 'customer_pass', x'01', 1, ?2, ?2, ?3)",
                params![vec![id; 8], now - days_ago * DAY, now + expires_in * DAY],
            )
            .unwrap();
        }
        // An event from 150 days ago has not reached central: nothing after it goes.
        let who = TillIdentity {
            store: StoreId::new("S1").unwrap(),
            till: TillId::new("S1-T1").unwrap(),
        };
        journal::append(
            &conn,
            &who,
            now - 150 * DAY,
            EventPayload::CustomerCreated(LocalCustomer {
                customer: CustomerRef::new("c").unwrap(),
                first_name: None,
                lang: None,
            }),
        )
        .unwrap();
        let purged = purge(&mut conn, u64::try_from(now).unwrap(), 90).unwrap();
        assert_eq!(
            purged,
            Purged {
                scans: 1,
                token_uses: 1,
                store_sales: 0
            }
        );
        assert_eq!(count(&conn, "scan_log"), 3);
        // Central rejected it: kept, but it holds nothing back any more.
        let id: String = conn
            .query_row("SELECT event_id FROM outbox", [], |r| r.get(0))
            .unwrap();
        journal::mark_rejected(&conn, &id, "invalid", "lines: too many entries", now).unwrap();
        let purged = purge(&mut conn, u64::try_from(now).unwrap(), 90).unwrap();
        assert_eq!(
            purged,
            Purged {
                scans: 2,
                token_uses: 0,
                store_sales: 0
            },
            "a still-valid token keeps its replay record"
        );
        assert_eq!(count(&conn, "scan_log"), 1);
        assert_eq!(count(&conn, "token_uses"), 2);
        assert_eq!(
            count(&conn, "outbox"),
            1,
            "a rejected event is never purged"
        );
        assert_eq!(period_days(90, Some(30)), 30);
        assert_eq!(period_days(90, Some(0)), 90);
        assert_eq!(period_days(90, None), 90);
    }
}
