//! The sync task's text facts (`sync_state`, migration 4): central's opaque delta cursors
//! and the ETags of the trust list and the catalog. Integers (the journal sequence, the
//! last revocations envelope, whether an upload is in doubt) live in `till_state`.

use rusqlite::{Connection, OptionalExtension, params};
use tillpass_protocol::sync::{Cursor, DeltaKind};

use super::{StoreError, set_till_state, sql, till_state};

/// The `till_state` key set while a journal upload may have reached central without its
/// acknowledgement reaching the till (see `crate::sync::deltas`).
pub const UPLOAD_IN_DOUBT: &str = "relay_in_doubt";

/// The `till_state` key of the sequence of the last revocations envelope applied.
pub const REVOCATIONS_SEQUENCE: &str = "revocations_sequence";

/// A text fact, if set.
pub fn get(conn: &Connection, key: &str) -> Result<Option<String>, StoreError> {
    conn.query_row("SELECT value FROM sync_state WHERE key = ?1", [key], |r| {
        r.get(0)
    })
    .optional()
    .map_err(sql)
}

/// Sets a text fact. Part of the caller's transaction.
pub fn set(conn: &Connection, key: &str, value: &str) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO sync_state(key, value) VALUES (?1, ?2)
         ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        params![key, value],
    )
    .map_err(sql)?;
    Ok(())
}

fn cursor_key(kind: DeltaKind) -> String {
    format!("cursor.{}", kind.segment())
}

/// Where the next delta page of `kind` starts (the beginning when never pulled). A stored
/// cursor that no longer parses starts again from the beginning: deltas are upserts, so
/// a replay is harmless.
pub fn cursor(conn: &Connection, kind: DeltaKind) -> Result<Cursor, StoreError> {
    Ok(get(conn, &cursor_key(kind))?
        .and_then(Cursor::new)
        .unwrap_or_default())
}

/// Stores the cursor after a page of `kind`. Part of the page's transaction.
pub fn set_cursor(conn: &Connection, kind: DeltaKind, cursor: &Cursor) -> Result<(), StoreError> {
    set(conn, &cursor_key(kind), cursor.as_str())
}

/// Whether a journal upload may have been applied by central without the till knowing.
pub fn upload_in_doubt(conn: &Connection) -> Result<bool, StoreError> {
    Ok(till_state(conn, UPLOAD_IN_DOUBT)?.unwrap_or(0) != 0)
}

/// Marks (or clears) an upload in doubt. Cleared in the transaction that settles the
/// acknowledged events.
pub fn set_upload_in_doubt(conn: &Connection, in_doubt: bool) -> Result<(), StoreError> {
    set_till_state(conn, UPLOAD_IN_DOUBT, i64::from(in_doubt))
}

/// The sequence of the last revocations envelope applied (0 before any).
pub fn revocations_sequence(conn: &Connection) -> Result<u64, StoreError> {
    Ok(till_state(conn, REVOCATIONS_SEQUENCE)?
        .and_then(|v| u64::try_from(v).ok())
        .unwrap_or(0))
}

/// Stores the sequence of the last revocations envelope applied.
pub fn set_revocations_sequence(conn: &Connection, sequence: u64) -> Result<(), StoreError> {
    set_till_state(
        conn,
        REVOCATIONS_SEQUENCE,
        i64::try_from(sequence).unwrap_or(i64::MAX),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;

    #[test]
    fn cursors_and_flags_survive_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = Store::open(dir.path()).unwrap();
            let conn = store.conn();
            assert!(cursor(&conn, DeltaKind::Balances).unwrap().is_start());
            set_cursor(&conn, DeltaKind::Balances, &Cursor::new("v1.42").unwrap()).unwrap();
            set_upload_in_doubt(&conn, true).unwrap();
            set_revocations_sequence(&conn, 9).unwrap();
        }
        let store = Store::open(dir.path()).unwrap();
        let conn = store.conn();
        assert_eq!(
            cursor(&conn, DeltaKind::Balances).unwrap().as_str(),
            "v1.42"
        );
        assert!(cursor(&conn, DeltaKind::Customers).unwrap().is_start());
        assert!(upload_in_doubt(&conn).unwrap());
        assert_eq!(revocations_sequence(&conn).unwrap(), 9);
    }
}
