//! Promotion catalogs received (`catalogs`, migration 1): each verified envelope as it
//! came, with its sequence, issue time, activation time and state.
//!
//! At most one catalog is `active`: the one of highest sequence whose activation time has
//! passed. Activating a catalog retires every catalog of a lower sequence, scheduled ones
//! included (a newer catalog supersedes them). Retired envelopes are kept a little while
//! for support, then deleted.

use rusqlite::{Connection, OptionalExtension, params};

use super::{StoreError, sql};

/// How many retired catalogs are kept.
pub const KEEP_RETIRED: i64 = 2;

/// A catalog's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CatalogState {
    /// Waiting for its activation time.
    Scheduled,
    /// In force.
    Active,
    /// Superseded.
    Retired,
}

impl CatalogState {
    fn code(self) -> &'static str {
        match self {
            CatalogState::Scheduled => "scheduled",
            CatalogState::Active => "active",
            CatalogState::Retired => "retired",
        }
    }

    fn from_code(code: &str) -> Option<CatalogState> {
        match code {
            "scheduled" => Some(CatalogState::Scheduled),
            "active" => Some(CatalogState::Active),
            "retired" => Some(CatalogState::Retired),
            _ => None,
        }
    }
}

/// A stored catalog.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredCatalog {
    /// The envelope's sequence: a newer catalog has a higher one.
    pub sequence: u64,
    /// The envelope, as received.
    pub envelope: Vec<u8>,
    /// When central issued it, unix seconds.
    pub issued_at: u64,
    /// When it activates (None: on receipt), unix seconds.
    pub activates_at: Option<u64>,
    /// When the till received it, unix seconds.
    pub received_at: u64,
    pub state: CatalogState,
}

fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn to_u64(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

/// The highest sequence ever stored (0 before any): a newer catalog must be above it.
pub fn last_sequence(conn: &Connection) -> Result<u64, StoreError> {
    let n: Option<i64> = conn
        .query_row("SELECT max(sequence) FROM catalogs", [], |r| r.get(0))
        .map_err(sql)?;
    Ok(n.map(to_u64).unwrap_or(0))
}

/// Stores a verified catalog. Part of the caller's transaction.
pub fn insert(conn: &Connection, c: &StoredCatalog) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO catalogs(sequence, envelope, issued_at, activates_at, received_at, state)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![
            to_i64(c.sequence),
            c.envelope,
            to_i64(c.issued_at),
            c.activates_at.map(to_i64),
            to_i64(c.received_at),
            c.state.code()
        ],
    )
    .map_err(sql)?;
    Ok(())
}

fn one(conn: &Connection, filter: &str, arg: i64) -> Result<Option<StoredCatalog>, StoreError> {
    let query = format!(
        "SELECT sequence, envelope, issued_at, activates_at, received_at, state FROM catalogs
         WHERE {filter} ORDER BY sequence DESC LIMIT 1"
    );
    let row = conn
        .query_row(&query, [arg], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, Vec<u8>>(1)?,
                r.get::<_, i64>(2)?,
                r.get::<_, Option<i64>>(3)?,
                r.get::<_, i64>(4)?,
                r.get::<_, String>(5)?,
            ))
        })
        .optional()
        .map_err(sql)?;
    row.map(
        |(sequence, envelope, issued_at, activates_at, received_at, state)| {
            Ok(StoredCatalog {
                sequence: to_u64(sequence),
                envelope,
                issued_at: to_u64(issued_at),
                activates_at: activates_at.map(to_u64),
                received_at: to_u64(received_at),
                state: CatalogState::from_code(&state)
                    .ok_or_else(|| StoreError::Corrupted(format!("catalog state {state}")))?,
            })
        },
    )
    .transpose()
}

/// The active catalog, if any.
pub fn active(conn: &Connection) -> Result<Option<StoredCatalog>, StoreError> {
    one(conn, "state = 'active' AND ?1 = ?1", 0)
}

/// The newest scheduled catalog whose time has come at `now`, above the active one.
pub fn due(conn: &Connection, now: u64) -> Result<Option<StoredCatalog>, StoreError> {
    one(
        conn,
        "state = 'scheduled' AND activates_at <= ?1",
        to_i64(now),
    )
}

/// When the next scheduled catalog activates, if one waits.
pub fn next_activation(conn: &Connection) -> Result<Option<u64>, StoreError> {
    let at: Option<i64> = conn
        .query_row(
            "SELECT min(activates_at) FROM catalogs WHERE state = 'scheduled'",
            [],
            |r| r.get(0),
        )
        .map_err(sql)?;
    Ok(at.map(to_u64))
}

/// Makes catalog `sequence` the active one: every catalog below it is retired, and only
/// the newest [`KEEP_RETIRED`] retired envelopes are kept. Part of the caller's
/// transaction.
pub fn activate(conn: &Connection, sequence: u64) -> Result<(), StoreError> {
    let seq = to_i64(sequence);
    conn.execute(
        "UPDATE catalogs SET state = 'active' WHERE sequence = ?1",
        [seq],
    )
    .map_err(sql)?;
    conn.execute(
        "UPDATE catalogs SET state = 'retired' WHERE sequence < ?1 AND state != 'retired'",
        [seq],
    )
    .map_err(sql)?;
    conn.execute(
        "DELETE FROM catalogs WHERE state = 'retired' AND sequence NOT IN
           (SELECT sequence FROM catalogs WHERE state = 'retired'
            ORDER BY sequence DESC LIMIT ?1)",
        [KEEP_RETIRED],
    )
    .map_err(sql)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;

    fn catalog(sequence: u64, state: CatalogState, activates_at: Option<u64>) -> StoredCatalog {
        StoredCatalog {
            sequence,
            envelope: vec![1, 2, 3],
            issued_at: 100,
            activates_at,
            received_at: 100,
            state,
        }
    }

    #[test]
    fn activation_retires_older_catalogs_and_keeps_a_few() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let conn = store.conn();
        assert_eq!(last_sequence(&conn).unwrap(), 0);
        for seq in 1..=5 {
            insert(&conn, &catalog(seq, CatalogState::Active, None)).unwrap();
            activate(&conn, seq).unwrap();
        }
        insert(&conn, &catalog(7, CatalogState::Scheduled, Some(500))).unwrap();
        insert(&conn, &catalog(6, CatalogState::Scheduled, Some(300))).unwrap();
        assert_eq!(active(&conn).unwrap().unwrap().sequence, 5);
        assert_eq!(last_sequence(&conn).unwrap(), 7);
        let count: i64 = conn
            .query_row(
                "SELECT count(*) FROM catalogs WHERE state = 'retired'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(count, KEEP_RETIRED);
        assert_eq!(next_activation(&conn).unwrap(), Some(300));
        assert!(due(&conn, 299).unwrap().is_none());
        assert_eq!(due(&conn, 300).unwrap().unwrap().sequence, 6);
        // Both due: the newest wins and retires the other.
        let newest = due(&conn, 600).unwrap().unwrap();
        assert_eq!(newest.sequence, 7);
        activate(&conn, 7).unwrap();
        assert_eq!(active(&conn).unwrap().unwrap().sequence, 7);
        assert_eq!(next_activation(&conn).unwrap(), None);
    }
}
