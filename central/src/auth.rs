//! Who is calling: tills by their signed requests, administrators by a bearer token.
//!
//! A till request is checked in steps, so that its body is read only for a till that
//! could have sent it: [`precheck_till`] (before the body: the time window, then the till
//! must be enrolled and not revoked) and [`verify_signature`] (after: the signature with
//! [`tillpass_protocol::sync::verify_request`] against the till's enrolled key, within
//! the time window).
//!
//! **Replays.** Only a request whose replay could change state — a write: a journal
//! upload, a lookup — keeps its nonce ([`KeptNonce`]) in the database's `nonces` table,
//! shared by every node, until the request would be stale anyway, and a nonce seen before
//! is refused as a replay: a lookup's by [`record_nonce`] before it is answered, a journal
//! upload's in its batch's transaction ([`keep_nonce`]), so an upload commits once. A read (delta pages, the trust
//! list, the catalog, a sync round) keeps the time window but writes nothing: a replay
//! within it is answered again, bound to the same nonce, which the till that sent it has
//! already used — harmless.
//!
//! A till's `last_seen_at` is noted at most once every [`LAST_SEEN_EVERY_SECS`] by each
//! node, for any verified request, and written off the request path, many tills in one
//! statement ([`crate::http::seen`]).
//!
//! An unknown or revoked till and a bad signature get one and the same answer
//! ([`REFUSED`]), so the answer does not tell which till ids exist.

use rusqlite::{Connection, params};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use tillpass_protocol::sync::{
    RequestError, RequestParts, SignedHeaders, VerifiedRequest, verify_request,
};

use crate::enrol::Till;
use crate::error::{Error, Result};
use crate::storage::Database;

/// The one answer to a request whose till is unknown or revoked, or whose signature does
/// not verify.
pub const REFUSED: &str = "signature refused: unknown or revoked till, or bad signature";

/// How often, at most, a till's `last_seen_at` is written: once a minute, so an idle
/// till's requests cost no write for it.
pub const LAST_SEEN_EVERY_SECS: i64 = 60;

/// Checks what can be checked before the body is read: the timestamp lies within
/// `± window_secs` of `now`, and the till is enrolled and not revoked. Returns the till.
pub async fn precheck_till(
    db: &Database,
    headers: &SignedHeaders,
    now: i64,
    window_secs: u64,
) -> Result<Till> {
    let skew_secs = now.abs_diff(headers.timestamp);
    if skew_secs > window_secs {
        return Err(Error::Unauthorized(
            RequestError::Stale { skew_secs }.to_string(),
        ));
    }
    match db.till(headers.till.as_str()).await? {
        Some(till) => Ok(till),
        None => {
            tracing::warn!(till = %headers.till, "till request refused: unknown or revoked till");
            Err(Error::Unauthorized(REFUSED.into()))
        }
    }
}

/// Verifies a till's signed request (the till from [`precheck_till`]): the signature
/// over method, path, body, timestamp, nonce and till, within the time window. Records
/// nothing: a read stops here; a write then keeps its nonce ([`record_nonce`]).
pub fn verify_signature(
    till: &Till,
    parts: &RequestParts<'_>,
    headers: &SignedHeaders,
    now: i64,
    window_secs: u64,
) -> Result<VerifiedRequest> {
    verify_request(parts, headers, &till.key, now, window_secs).map_err(|e| {
        tracing::warn!(till = %till.id, reason = %e, "till request refused");
        match e {
            RequestError::Stale { .. } => Error::Unauthorized(e.to_string()),
            _ => Error::Unauthorized(REFUSED.into()),
        }
    })
}

/// A verified write's nonce, as the replay cache keeps it: until the request would be
/// stale anyway.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeptNonce {
    /// The till that signed the request.
    pub till: String,
    /// The nonce, in hex.
    pub nonce: String,
    /// When it may be forgotten (unix seconds).
    pub forget_after: i64,
}

impl KeptNonce {
    /// The nonce of `verified`, from `till`, with a time window of `window_secs`.
    pub fn of(till: &Till, verified: &VerifiedRequest, window_secs: u64) -> KeptNonce {
        KeptNonce {
            till: till.id.as_str().to_owned(),
            nonce: verified.nonce.to_hex(),
            forget_after: verified.forget_after(window_secs),
        }
    }
}

/// The refusal of a nonce seen before.
pub fn replayed() -> Error {
    Error::Unauthorized("replayed request".into())
}

/// Keeps a verified write's nonce in the replay cache (shared by every node) on its own
/// (a lookup); a nonce seen before is refused as a replay. A journal upload keeps its
/// nonce in its batch's transaction instead ([`crate::storage::Database::ingest_signed`]).
pub async fn record_nonce(db: &Database, nonce: &KeptNonce, now: i64) -> Result<()> {
    let fresh = db
        .record_request(&nonce.till, &nonce.nonce, nonce.forget_after, now)
        .await?;
    if !fresh {
        return Err(replayed());
    }
    Ok(())
}

/// Records a verified request's nonce on SQLite, in one transaction ([`keep_nonce`]).
/// `false` when the nonce was seen before.
pub fn record_request(
    conn: &mut Connection,
    till: &str,
    nonce: &str,
    forget_after: i64,
    now: i64,
) -> Result<bool> {
    let tx = conn.transaction()?;
    let nonce = KeptNonce {
        till: till.to_owned(),
        nonce: nonce.to_owned(),
        forget_after,
    };
    let fresh = keep_nonce(&tx, &nonce, now)?;
    if fresh {
        tx.commit()?;
    }
    Ok(fresh)
}

/// On SQLite, within the caller's transaction: forgets the stale nonces and keeps this
/// one until its `forget_after`. `false` when it was seen before (and is not stale).
pub fn keep_nonce(conn: &Connection, nonce: &KeptNonce, now: i64) -> Result<bool> {
    conn.prepare_cached("DELETE FROM nonces WHERE forget_after < ?1")?
        .execute([now])?;
    let inserted = conn
        .prepare_cached(
            "INSERT INTO nonces (till, nonce, forget_after) VALUES (?1, ?2, ?3)
             ON CONFLICT (till, nonce) DO NOTHING",
        )?
        .execute(params![nonce.till, nonce.nonce, nonce.forget_after])?;
    Ok(inserted == 1)
}

/// The administrator's bearer token, kept as its SHA-256 so comparisons take the same
/// time whatever the guess.
#[derive(Clone)]
pub struct AdminToken {
    digest: [u8; 32],
}

impl std::fmt::Debug for AdminToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AdminToken(..)")
    }
}

impl AdminToken {
    /// The token; refused when shorter than 16 characters.
    pub fn new(token: &str) -> Result<AdminToken> {
        let token = token.trim();
        if token.len() < 16 {
            return Err(Error::invalid(
                "the admin token must be at least 16 characters",
            ));
        }
        Ok(AdminToken {
            digest: Sha256::digest(token.as_bytes()).into(),
        })
    }

    /// Whether an `Authorization` header value is `Bearer <this token>`.
    pub fn matches(&self, authorization: Option<&str>) -> bool {
        let Some(token) = authorization.and_then(|v| v.strip_prefix("Bearer ")) else {
            return false;
        };
        let digest: [u8; 32] = Sha256::digest(token.trim().as_bytes()).into();
        digest.ct_eq(&self.digest).into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admin_tokens_match_exactly() {
        let token = AdminToken::new("0123456789abcdef").unwrap();
        assert!(token.matches(Some("Bearer 0123456789abcdef")));
        assert!(!token.matches(Some("Bearer 0123456789abcdeg")));
        assert!(!token.matches(Some("0123456789abcdef")));
        assert!(!token.matches(None));
        assert!(AdminToken::new("short").is_err());
    }
}
