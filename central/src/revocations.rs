//! Revocations: keys, token ids and "every token of this subject issued before" entries,
//! numbered in the order they were made. A delta page of revocations is one freshly sealed
//! `revocations` envelope (signed by the sync key) holding the entries past the cursor.

use ed25519_dalek::SigningKey;
use rusqlite::{Connection, params};
use tillpass_protocol::sync::RevocationEnvelope;
use tillpass_protocol::token::{self, RevocationDelta, SubjectRevocation, TokenKind};
use tillpass_protocol::trust::KeyId;

use crate::clock::to_u64;
use crate::error::{Error, Result};
use crate::settings;

/// How long a revocations envelope may be opened after central sealed it: one day. A till
/// opens it at once; a later request gets a fresh one.
pub const ENVELOPE_MAX_AGE_SECS: u64 = 86_400;

/// Revokes everything signed by `kid`.
pub fn add_key(conn: &Connection, kid: KeyId, now: i64) -> Result<()> {
    conn.execute(
        "INSERT INTO revocations (what, value, revoked_at) VALUES ('key', ?1, ?2)",
        params![kid.0.as_slice(), now],
    )?;
    Ok(())
}

/// Revokes one token.
pub fn add_token(conn: &Connection, token_id: token::TokenId, now: i64) -> Result<()> {
    conn.execute(
        "INSERT INTO revocations (what, value, revoked_at) VALUES ('token', ?1, ?2)",
        params![token_id.0.as_slice(), now],
    )?;
    Ok(())
}

/// Revokes every token of `kind` and `subject` issued before `before`.
pub fn add_subject(
    conn: &Connection,
    kind: TokenKind,
    subject: &[u8],
    before: i64,
    now: i64,
) -> Result<()> {
    if token::Subject::new(subject).is_none() {
        return Err(Error::invalid("a token subject is 1 to 16 bytes"));
    }
    conn.execute(
        "INSERT INTO revocations (what, value, token_kind, before, revoked_at)
         VALUES ('subject', ?1, ?2, ?3, ?4)",
        params![subject, kind.code(), before, now],
    )?;
    Ok(())
}

/// The revocations made after `after`: at most `limit` of them as one sealed envelope
/// (none if there are none), the sequence of the last one included, and whether more
/// follow.
pub fn page(
    conn: &Connection,
    sync_key: &SigningKey,
    after: i64,
    limit: u32,
    now: i64,
) -> Result<(Option<RevocationEnvelope>, i64, bool)> {
    let mut stmt = conn.prepare(
        "SELECT seq, what, value, token_kind, before FROM revocations
         WHERE seq > ?1 ORDER BY seq LIMIT ?2",
    )?;
    let rows = stmt.query_map(params![after, i64::from(limit) + 1], |row| {
        Ok((
            row.get::<_, i64>(0)?,
            row.get::<_, String>(1)?,
            row.get::<_, Vec<u8>>(2)?,
            row.get::<_, Option<String>>(3)?,
            row.get::<_, Option<i64>>(4)?,
        ))
    })?;
    let mut rows = rows.collect::<rusqlite::Result<Vec<_>>>()?;
    let limit = usize::try_from(limit).map_err(Error::internal)?;
    let has_more = rows.len() > limit;
    rows.truncate(limit);
    let Some(last) = rows.last().map(|r| r.0) else {
        return Ok((None, after, false));
    };
    let sequence = settings::next_sequence(conn, SEQUENCE)?;
    let envelope = seal(rows, sequence, sync_key, now)?;
    Ok((Some(envelope), last, has_more))
}

/// A revocation as either backend reads it: `(seq, what, value, token_kind, before)`.
pub(crate) type Row = (i64, String, Vec<u8>, Option<String>, Option<i64>);

/// The counter that numbers revocation envelopes.
pub(crate) const SEQUENCE: &str = "revocations";

/// `rows` as one `revocations` envelope under `sequence`, sealed by `sync_key` at `now`.
pub(crate) fn seal(
    rows: Vec<Row>,
    sequence: u64,
    sync_key: &SigningKey,
    now: i64,
) -> Result<RevocationEnvelope> {
    let mut delta = RevocationDelta::default();
    for (_, what, value, kind, before) in rows {
        match what.as_str() {
            "key" => delta.kids.push(KeyId(to_array(&value)?)),
            "token" => delta.token_ids.push(token::TokenId(to_array(&value)?)),
            _ => delta.subjects.push(SubjectRevocation {
                kind: kind
                    .as_deref()
                    .and_then(TokenKind::from_code)
                    .ok_or_else(|| Error::internal("revocation without a token kind"))?,
                subject: token::Subject::new(&value)
                    .ok_or_else(|| Error::internal("revocation with a bad subject"))?,
                before: to_u64(before.unwrap_or(0)),
            }),
        }
    }
    let envelope = delta
        .seal(sequence, to_u64(now), ENVELOPE_MAX_AGE_SECS, sync_key)
        .map_err(|e| Error::internal(format!("sealing revocations: {e}")))?;
    Ok(RevocationEnvelope { sequence, envelope })
}

fn to_array<const N: usize>(bytes: &[u8]) -> Result<[u8; N]> {
    bytes
        .try_into()
        .map_err(|_| Error::internal("revocation value of the wrong length"))
}
