//! Idempotency keys of the POS API: the answer given to a mutating call, kept with a hash
//! of the request so a retry gets the same answer — also after a restart — and a reuse of
//! the key for another request is told apart.
//!
//! The answer is written in the same transaction as the change it reports: either both
//! exist or neither does.

use rusqlite::{Connection, OptionalExtension, params};
use sha2::{Digest, Sha256};

use super::{StoreError, sql};

/// The longest key accepted, in bytes.
pub const MAX_KEY_LEN: usize = 255;

/// An answer stored under a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    /// The route it answered (`POST /v1/sessions/{id}/close` with the id filled in).
    pub route: String,
    /// SHA-256 of the request body.
    pub body_hash: [u8; 32],
    /// The HTTP status answered.
    pub status: u16,
    /// The body answered.
    pub response: String,
}

/// What a key says about a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seen {
    /// Never seen: run the request.
    New,
    /// The same request was answered: answer it again.
    Replay {
        /// The first answer's HTTP status.
        status: u16,
        /// The body.
        response: String,
    },
    /// The key was used for another request.
    Conflict,
}

/// The SHA-256 of a request: its route and body.
pub fn hash(body: &[u8]) -> [u8; 32] {
    Sha256::digest(body).into()
}

/// Looks `key` up for a request to `route` with `body_hash`.
pub fn check(
    conn: &Connection,
    key: &str,
    route: &str,
    body_hash: &[u8; 32],
) -> Result<Seen, StoreError> {
    let row = conn
        .query_row(
            "SELECT route, body_hash, status, response FROM idempotency WHERE key = ?1",
            [key],
            |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, Vec<u8>>(1)?,
                    r.get::<_, u16>(2)?,
                    r.get::<_, String>(3)?,
                ))
            },
        )
        .optional()
        .map_err(sql)?;
    Ok(match row {
        None => Seen::New,
        Some((r, h, status, response)) if r == route && h.as_slice() == body_hash => {
            Seen::Replay { status, response }
        }
        Some(_) => Seen::Conflict,
    })
}

/// Stores the answer to a request. Part of the caller's transaction.
pub fn save(conn: &Connection, key: &str, stored: &Stored, now: i64) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO idempotency(key, route, body_hash, status, response, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![
            key,
            stored.route,
            stored.body_hash.as_slice(),
            stored.status,
            stored.response,
            now
        ],
    )
    .map_err(sql)?;
    Ok(())
}

/// Forgets answers older than `before` (unix seconds); how many were removed.
pub fn purge(conn: &Connection, before: i64) -> Result<usize, StoreError> {
    conn.execute("DELETE FROM idempotency WHERE created_at < ?1", [before])
        .map_err(sql)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_request_replays_and_another_conflicts() {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::store::Store::open(dir.path()).unwrap();
        let conn = store.conn();
        let h = hash(b"{\"a\":1}");
        assert_eq!(check(&conn, "k1", "PUT /x", &h).unwrap(), Seen::New);
        let stored = Stored {
            route: "PUT /x".into(),
            body_hash: h,
            status: 200,
            response: "{\"ok\":true}".into(),
        };
        save(&conn, "k1", &stored, 10).unwrap();
        assert_eq!(
            check(&conn, "k1", "PUT /x", &h).unwrap(),
            Seen::Replay {
                status: 200,
                response: "{\"ok\":true}".into()
            }
        );
        assert_eq!(
            check(&conn, "k1", "PUT /x", &hash(b"{\"a\":2}")).unwrap(),
            Seen::Conflict
        );
        assert_eq!(check(&conn, "k1", "PUT /y", &h).unwrap(), Seen::Conflict);
        assert_eq!(purge(&conn, 11).unwrap(), 1);
        assert_eq!(check(&conn, "k1", "PUT /x", &h).unwrap(), Seen::New);
    }
}
