//! The store's offline-risk ledger from central (the `ledger` delta stream): every till of
//! the store holds every till's spends with central's outcome, and the flags concerning
//! the store, for the dashboard's Sync page.
//!
//! - [`apply_ledger`]: a page, item by item — an item this build cannot read is skipped
//!   with a warning, never the page; a spend or flag replaces what this till held of it; a
//!   `gone` flag is deleted.
//! - Entries older than [`LEDGER_RETENTION_SECS`] are dropped as pages arrive and by
//!   [`prune`] (run with the other retention work).
//!
//! References arrive masked by central and are kept as they arrive.

use rusqlite::{Connection, params};
use tillpass_protocol::sync::{LEDGER_RETENTION_SECS, LedgerDelta, LedgerFlag, LedgerSpend};

use super::SyncError;
use super::deltas::Applied;
use crate::store::{StoreError, sql};

/// Applies a page of the store's ledger at `now`.
pub fn apply_ledger(
    conn: &Connection,
    items: &[serde_json::Value],
    now: i64,
) -> Result<Applied, SyncError> {
    let mut applied = Applied::default();
    for value in items {
        match serde_json::from_value::<LedgerDelta>(value.clone()) {
            Ok(LedgerDelta::Spend { spend }) => {
                keep_spend(conn, &spend, now)?;
                applied.items += 1;
            }
            Ok(LedgerDelta::Flag { flag }) => {
                keep_flag(conn, &flag, now)?;
                applied.items += 1;
            }
            Ok(LedgerDelta::Gone { id }) => {
                conn.prepare_cached("DELETE FROM store_ledger_flags WHERE id = ?1")
                    .and_then(|mut s| s.execute([id]))
                    .map_err(sql)?;
                applied.items += 1;
            }
            Err(e) => tracing::warn!(error = %e, "an item of the store's ledger was not kept"),
        }
    }
    prune(conn, now)?;
    Ok(applied)
}

fn keep_spend(conn: &Connection, s: &LedgerSpend, now: i64) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO store_ledger_spends
             (id, till, at, account, holder, amount, short, currency, source, outcome, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)
         ON CONFLICT (id) DO UPDATE SET till = excluded.till, at = excluded.at,
             account = excluded.account, holder = excluded.holder, amount = excluded.amount,
             short = excluded.short, currency = excluded.currency, source = excluded.source,
             outcome = excluded.outcome, updated_at = excluded.updated_at",
    )
    .and_then(|mut st| {
        st.execute(params![
            s.id.to_hex(),
            s.till.as_str(),
            s.at,
            s.account.code(),
            s.holder,
            s.amount.amount,
            s.short.amount,
            s.amount.currency.code(),
            s.source.code(),
            s.outcome.code(),
            now
        ])
    })
    .map_err(sql)?;
    Ok(())
}

fn keep_flag(conn: &Connection, f: &LedgerFlag, now: i64) -> Result<(), StoreError> {
    let kind = serde_json::to_value(f.kind)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_else(|| "unknown".to_owned());
    conn.prepare_cached(
        "INSERT INTO store_ledger_flags (id, kind, holder, detail, raised_at, resolved, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
         ON CONFLICT (id) DO UPDATE SET kind = excluded.kind, holder = excluded.holder,
             detail = excluded.detail, raised_at = excluded.raised_at,
             resolved = excluded.resolved, updated_at = excluded.updated_at",
    )
    .and_then(|mut st| {
        st.execute(params![
            f.id,
            kind,
            f.holder,
            f.detail.chars().take(300).collect::<String>(),
            f.raised_at,
            f.resolved,
            now
        ])
    })
    .map_err(sql)?;
    Ok(())
}

/// Drops the ledger's entries and flags older than [`LEDGER_RETENTION_SECS`] at `now`.
pub fn prune(conn: &Connection, now: i64) -> Result<(), StoreError> {
    let oldest = now.saturating_sub(LEDGER_RETENTION_SECS);
    conn.prepare_cached("DELETE FROM store_ledger_spends WHERE at < ?1")
        .and_then(|mut s| s.execute([oldest]))
        .map_err(sql)?;
    conn.prepare_cached("DELETE FROM store_ledger_flags WHERE raised_at < ?1")
        .and_then(|mut s| s.execute([oldest]))
        .map_err(sql)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;
    use serde_json::json;

    fn spend(id: &str, at: i64, outcome: &str) -> serde_json::Value {
        json!({"op": "spend", "spend": {
            "id": id, "till": "S001-T02", "at": at, "account": "savings",
            "holder": "C-••••23", "amount": {"amount": 250, "currency": "EUR"},
            "short": {"amount": 200, "currency": "EUR"}, "source": "snapshot",
            "outcome": outcome}})
    }

    #[test]
    fn items_replace_unreadable_ones_are_skipped_and_old_ones_go() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let conn = store.conn();
        let id = "0123456789abcdef0123456789abcdef";
        let now = 10 * 86_400 * 100;
        let page = [
            spend(id, now - 60, "debt"),
            json!({"op": "spend", "spend": {"id": "nope"}}),
            json!({"op": "flag", "flag": {"id": "f1", "kind": "token_at_two_stores",
                "holder": "C-••••23", "detail": "token used at stores S001, S002",
                "raised_at": now - 30, "resolved": false}}),
            spend(
                "fedcba9876543210fedcba9876543210",
                now - LEDGER_RETENTION_SECS - 1,
                "debt",
            ),
        ];
        let applied = apply_ledger(&conn, &page, now).unwrap();
        assert_eq!(applied.items, 3);
        let outcome = |conn: &Connection| -> Vec<(String, String)> {
            conn.prepare("SELECT id, outcome FROM store_ledger_spends ORDER BY id")
                .unwrap()
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap()
        };
        assert_eq!(outcome(&conn), [(id.to_owned(), "debt".to_owned())]);
        apply_ledger(&conn, &[spend(id, now - 60, "resolved")], now).unwrap();
        assert_eq!(outcome(&conn), [(id.to_owned(), "resolved".to_owned())]);
        apply_ledger(&conn, &[json!({"op": "gone", "id": "f1"})], now).unwrap();
        let flags: i64 = conn
            .query_row("SELECT count(*) FROM store_ledger_flags", [], |r| r.get(0))
            .unwrap();
        assert_eq!(flags, 0);
    }
}
