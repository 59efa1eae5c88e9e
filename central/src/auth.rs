//! Who is calling: tills by their signed requests, administrators by a bearer token.
//!
//! A till request is checked in steps, so that its body is read only for a till that
//! could have sent it: [`precheck_till`] (before the body: the time window, then the till
//! must be enrolled and not revoked) and [`verify_signature`] (after: the signature with
//! [`tillpass_protocol::sync::verify_request`] against the till's enrolled key, within
//! the time window).
//!
//! **Replays.** Only a request whose replay could change state — a write: a journal
//! upload, a lookup, an enrolment — keeps its nonce: [`record_nonce`] puts it into the
//! database's `nonces` table, shared by every node, until the request would be stale
//! anyway, and a nonce seen before is refused as a replay. A read (delta pages, the trust
//! list, the catalog, a sync round) keeps the time window but writes nothing: a replay
//! within it is answered again, bound to the same nonce, which the till that sent it has
//! already used — harmless.
//!
//! A till's `last_seen_at` is written at most once every [`LAST_SEEN_EVERY_SECS`]: by a
//! write's transaction, and, for reads, when this node's memory of that till's last write
//! of it is older than that ([`crate::http::seen`]; each node keeps its own, so with `n`
//! nodes a till costs at most `n` writes a minute).
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

/// Keeps a verified write's nonce in the replay cache (shared by every node) until the
/// request would be stale anyway; a nonce seen before is refused as a replay. Notes the
/// till as seen, as any request does.
pub async fn record_nonce(
    db: &Database,
    till: &Till,
    verified: &VerifiedRequest,
    now: i64,
    window_secs: u64,
) -> Result<()> {
    let nonce = verified.nonce.to_hex();
    let fresh = db
        .record_request(
            till.id.as_str(),
            &nonce,
            verified.forget_after(window_secs),
            now,
        )
        .await?;
    if !fresh {
        return Err(Error::Unauthorized("replayed request".into()));
    }
    Ok(())
}

/// Records a verified request's nonce on SQLite, in one transaction: forgets the stale
/// ones, keeps this one until `forget_after`, and notes when the till was last seen (at
/// most every [`LAST_SEEN_EVERY_SECS`]). `false` when the nonce was seen before.
pub fn record_request(
    conn: &mut Connection,
    till: &str,
    nonce: &str,
    forget_after: i64,
    now: i64,
) -> Result<bool> {
    let tx = conn.transaction()?;
    tx.execute("DELETE FROM nonces WHERE forget_after < ?1", [now])?;
    let inserted = tx.execute(
        "INSERT INTO nonces (till, nonce, forget_after) VALUES (?1, ?2, ?3)
         ON CONFLICT (till, nonce) DO NOTHING",
        params![till, nonce, forget_after],
    )?;
    if inserted == 0 {
        return Ok(false);
    }
    tx.execute(
        "UPDATE tills SET last_seen_at = ?2
         WHERE id = ?1 AND (last_seen_at IS NULL OR last_seen_at <= ?2 - ?3)",
        params![till, now, LAST_SEEN_EVERY_SECS],
    )?;
    tx.commit()?;
    Ok(true)
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
