//! What the till needs to judge a token: the trust list in force, the revocations it
//! knows, and the uses of every token it accepted (the replay records).

use rusqlite::{Connection, OptionalExtension, params};
use tillpass_protocol::envelope::EnvelopeError;
use tillpass_protocol::token::{
    RevocationDelta, RevocationList, Subject, SubjectRevocation, TokenId, TokenKind,
};
use tillpass_protocol::trust::{KeyId, RootKey, TrustStore};

use super::{StoreError, sql};

/// The trust list in force, as stored.
#[derive(Debug, Clone)]
pub struct StoredTrust {
    /// The opened store of keys.
    pub store: TrustStore,
    /// The root key that pins it.
    pub root: [u8; 32],
    /// Its sequence number.
    pub sequence: u64,
    /// When central signed it (unix seconds): a signed time, used by the clock.
    pub issued_at: u64,
    /// The last second its envelope may be opened (issued-at plus its maximum age): past
    /// it the list is expired and nothing new signed under it is taken.
    pub expires_at: u64,
}

/// Why a trust list was not taken.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TrustLoadError {
    /// The envelope was refused.
    #[error("trust list refused: {0}")]
    Envelope(#[from] EnvelopeError),
    /// The root key is not usable.
    #[error("the pinned root key is not a valid Ed25519 key")]
    BadRoot,
    /// A different root key than the one pinned.
    #[error("the trust list is signed by another root key than the one this till pinned")]
    RootChanged,
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Verifies `envelope` against `root` at `now` and, if its sequence is above the one in
/// force, makes it the trust list in force. Returns the list now in force.
pub fn accept_trust_list(
    conn: &Connection,
    root: [u8; 32],
    envelope: &[u8],
    now: u64,
) -> Result<StoredTrust, TrustLoadError> {
    let current = load_trust(conn)?;
    if let Some(current) = &current
        && current.root != root
    {
        return Err(TrustLoadError::RootChanged);
    }
    let root_key = RootKey::new(&root).map_err(|_| TrustLoadError::BadRoot)?;
    let current_seq = current.as_ref().map(|c| c.sequence).unwrap_or(0);
    let (store, header) = TrustStore::open(envelope, &root_key, now, current_seq)?;
    conn.execute(
        "INSERT INTO trust_list(id, root_public_key, envelope, sequence, issued_at, received_at)
         VALUES (1, ?1, ?2, ?3, ?4, ?5)
         ON CONFLICT(id) DO UPDATE SET root_public_key = excluded.root_public_key,
           envelope = excluded.envelope, sequence = excluded.sequence,
           issued_at = excluded.issued_at, received_at = excluded.received_at",
        params![
            root.as_slice(),
            envelope,
            to_i64(header.sequence),
            to_i64(header.issued_at),
            to_i64(now)
        ],
    )
    .map_err(sql)?;
    Ok(StoredTrust {
        store,
        root,
        sequence: header.sequence,
        issued_at: header.issued_at,
        expires_at: header.expires_at(),
    })
}

/// The trust list in force, if the till has one. Its signature is checked again as of
/// the time it was issued; how old it may be is the offline policy's business.
pub fn load_trust(conn: &Connection) -> Result<Option<StoredTrust>, TrustLoadError> {
    let row = conn
        .query_row(
            "SELECT root_public_key, envelope, sequence, issued_at FROM trust_list WHERE id = 1",
            [],
            |r| {
                Ok((
                    r.get::<_, Vec<u8>>(0)?,
                    r.get::<_, Vec<u8>>(1)?,
                    r.get::<_, i64>(2)?,
                    r.get::<_, i64>(3)?,
                ))
            },
        )
        .optional()
        .map_err(sql)?;
    let Some((root, envelope, sequence, issued_at)) = row else {
        return Ok(None);
    };
    let root: [u8; 32] = root
        .try_into()
        .map_err(|_| StoreError::Corrupted("trust_list.root_public_key".into()))?;
    let root_key = RootKey::new(&root).map_err(|_| TrustLoadError::BadRoot)?;
    let issued_at = u64::try_from(issued_at).unwrap_or(0);
    let sequence = u64::try_from(sequence).unwrap_or(0);
    let (store, header) =
        TrustStore::open(&envelope, &root_key, issued_at, sequence.saturating_sub(1))?;
    Ok(Some(StoredTrust {
        store,
        root,
        sequence: header.sequence,
        issued_at: header.issued_at,
        expires_at: header.expires_at(),
    }))
}

fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// Records every revocation of `delta`.
pub fn add_revocations(conn: &Connection, delta: &RevocationDelta) -> Result<(), StoreError> {
    for kid in &delta.kids {
        conn.execute(
            "INSERT OR IGNORE INTO revocations(what, value) VALUES ('key', ?1)",
            [kid.0.as_slice()],
        )
        .map_err(sql)?;
    }
    for id in &delta.token_ids {
        conn.execute(
            "INSERT OR IGNORE INTO revocations(what, value) VALUES ('token', ?1)",
            [id.0.as_slice()],
        )
        .map_err(sql)?;
    }
    for s in &delta.subjects {
        conn.execute(
            "INSERT INTO revocations(what, token_kind, value, revoked_before)
             VALUES ('subject', ?1, ?2, ?3)
             ON CONFLICT(what, token_kind, value) DO UPDATE SET
               revoked_before = max(revoked_before, excluded.revoked_before)",
            params![s.kind.code(), s.subject.as_bytes(), to_i64(s.before)],
        )
        .map_err(sql)?;
    }
    Ok(())
}

/// Every revocation the till knows, for the verifier.
pub fn load_revocations(conn: &Connection) -> Result<RevocationList, StoreError> {
    let mut delta = RevocationDelta::default();
    let mut stmt = conn
        .prepare("SELECT what, token_kind, value, revoked_before FROM revocations")
        .map_err(sql)?;
    let rows = stmt
        .query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, Vec<u8>>(2)?,
                r.get::<_, Option<i64>>(3)?,
            ))
        })
        .map_err(sql)?;
    for row in rows {
        let (what, kind, value, before) = row.map_err(sql)?;
        let bad = || StoreError::Corrupted(format!("revocation {what}"));
        match what.as_str() {
            "key" => delta.kids.push(KeyId(value.try_into().map_err(|_| bad())?)),
            "token" => delta
                .token_ids
                .push(TokenId(value.try_into().map_err(|_| bad())?)),
            _ => delta.subjects.push(SubjectRevocation {
                kind: TokenKind::from_code(&kind).ok_or_else(bad)?,
                subject: Subject::new(&value).ok_or_else(bad)?,
                before: u64::try_from(before.unwrap_or(0)).unwrap_or(0),
            }),
        }
    }
    let mut list = RevocationList::new();
    list.apply(&delta);
    Ok(list)
}

/// How often a token was used here.
pub fn uses(conn: &Connection, token_id: &TokenId) -> Result<u32, StoreError> {
    Ok(current_use(conn, token_id)?.map(|u| u.uses).unwrap_or(0))
}

/// What the till stored of a token's current use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UseRow {
    /// How many uses the token has had here, the current one included.
    pub uses: u32,
    /// The last read that belonged to the current use (unix seconds).
    pub last_read_at: i64,
    /// The sale (POS session) the current use is bound to, if any.
    pub sale_id: Option<String>,
}

/// A token's current use here, if it was ever used here.
pub fn current_use(conn: &Connection, token_id: &TokenId) -> Result<Option<UseRow>, StoreError> {
    conn.query_row(
        "SELECT uses, last_used_at, sale_id FROM token_uses WHERE token_id = ?1",
        [token_id.0.as_slice()],
        |r| {
            Ok(UseRow {
                uses: u32::try_from(r.get::<_, i64>(0)?).unwrap_or(u32::MAX),
                last_read_at: r.get(1)?,
                sale_id: r.get(2)?,
            })
        },
    )
    .optional()
    .map_err(sql)
}

/// Records one more use of a token, bound to `sale_id` (the sale it identifies or pays;
/// `None` for a visit that identified no sale yet). Part of the caller's transaction.
pub fn record_use(
    conn: &Connection,
    token_id: &TokenId,
    kind: TokenKind,
    subject: &Subject,
    expires_at: u64,
    now: i64,
    sale_id: Option<&str>,
) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO token_uses(token_id, kind, subject, uses, first_used_at, last_used_at,
           expires_at, sale_id)
         VALUES (?1, ?2, ?3, 1, ?4, ?4, ?5, ?6)
         ON CONFLICT(token_id) DO UPDATE SET uses = uses + 1,
           last_used_at = excluded.last_used_at, sale_id = excluded.sale_id",
        params![
            token_id.0.as_slice(),
            kind.code(),
            subject.as_bytes(),
            now,
            to_i64(expires_at),
            sale_id
        ],
    )
    .map_err(sql)?;
    Ok(())
}

/// A read that belongs to the token's current use: notes its time and, when it is for a
/// sale, binds the use to that sale. Part of the caller's transaction.
pub fn same_use(
    conn: &Connection,
    token_id: &TokenId,
    now: i64,
    sale_id: Option<&str>,
) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE token_uses SET last_used_at = max(last_used_at, ?2),
           sale_id = COALESCE(?3, sale_id)
         WHERE token_id = ?1",
        params![token_id.0.as_slice(), now, sale_id],
    )
    .map_err(sql)?;
    Ok(())
}

/// Binds the current use of a token to `sale_id` (a sale that took the till's current
/// customer). Part of the caller's transaction.
pub fn bind(conn: &Connection, token_id: &TokenId, sale_id: &str) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE token_uses SET sale_id = ?2 WHERE token_id = ?1",
        params![token_id.0.as_slice(), sale_id],
    )
    .map_err(sql)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_use_keeps_its_sale_until_a_read_for_another_moves_it() {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::store::Store::open(dir.path()).unwrap();
        let conn = store.conn();
        let id = TokenId([1, 2, 3, 4, 5, 6, 7, 8]);
        let subject = Subject::new(b"C-1").unwrap();
        assert_eq!(current_use(&conn, &id).unwrap(), None);
        assert_eq!(uses(&conn, &id).unwrap(), 0);

        record_use(
            &conn,
            &id,
            TokenKind::CustomerPass,
            &subject,
            900,
            100,
            None,
        )
        .unwrap();
        same_use(&conn, &id, 110, Some("T-1")).unwrap();
        // A read at the scanner during the sale: later, still the sale's.
        same_use(&conn, &id, 120, None).unwrap();
        // An out-of-order earlier time never moves the last read back.
        same_use(&conn, &id, 90, None).unwrap();
        let row = UseRow {
            uses: 1,
            last_read_at: 120,
            sale_id: Some("T-1".to_owned()),
        };
        assert_eq!(current_use(&conn, &id).unwrap(), Some(row));

        record_use(
            &conn,
            &id,
            TokenKind::CustomerPass,
            &subject,
            900,
            200,
            Some("T-2"),
        )
        .unwrap();
        bind(&conn, &id, "T-3").unwrap();
        let row = current_use(&conn, &id).unwrap().unwrap();
        assert_eq!((row.uses, row.last_read_at), (2, 200));
        assert_eq!(row.sale_id.as_deref(), Some("T-3"));
    }
}
