//! The scans a POS request carries — a customer pass and vouchers with a cart, a gift card
//! with a tender — in two steps:
//!
//! 1. [`scan`] / [`gift_card`], before the request's transaction: each new scan is
//!    verified (form, signature, key, time, revocation), its kind checked, and a token
//!    already used up refused as `replayed` — reading the store, writing nothing; for a
//!    customer or card the till does not hold, central is asked live within its budget
//!    (`identify::Identifier::consult`), holding no store connection.
//! 2. [`record`], inside the request's transaction: each read recorded for the request's
//!    sale (`identify::Identifier::record`): a new use with its `token_used` event naming
//!    the sale, or the same use as an earlier read (the same sale, a pass's visit). If the
//!    request is refused (a stale version, an invalid cart, a tender the card cannot pay)
//!    or the till stops before the commit, the transaction rolls back and no token was
//!    used; a retry runs both steps again.
//!
//! A scan the session already holds (the same pass or voucher text sent again with its
//! cart) is not read again.

use std::time::Instant;

use rusqlite::Connection;
use tillpass_protocol::lang::Lang;
use tillpass_protocol::token::TokenKind;

use super::cart::MAX_VOUCHERS;
use super::model::PutSession;
use super::{AcceptedVoucher, ApiError, ScannedToken, Session};
use crate::bus::AgentEvent;
use crate::identify::{Identification, RecordError, Verified};
use crate::till::Till;

/// The scans of a request the session does not hold yet, verified and not yet recorded.
#[derive(Debug, Clone, Default)]
pub struct Scanned {
    /// The customer from the request's scan, or from the till's current-customer slot.
    pub customer: Option<String>,
    /// Vouchers newly accepted.
    pub vouchers: Vec<AcceptedVoucher>,
    /// The reads to record in the request's transaction, with the field each came from.
    reads: Vec<(String, Verified)>,
    /// The pass (token id, hex) of the till's current customer, when the sale takes them.
    current: Option<String>,
}

/// A scan accepted in a request's transaction: what the POS, the dashboard and the
/// current-customer slot learn once it committed.
#[derive(Debug, Clone)]
pub struct Accepted {
    /// The identification.
    pub id: Identification,
    started: Instant,
}

/// Takes note of the scans a committed request accepted: metrics, the log, the till's
/// current customer, and the event stream.
pub fn announce(state: &Till, accepted: Vec<Accepted>) {
    for a in accepted {
        state.identifier.accepted(&a.id, a.started);
        state.bus.publish(AgentEvent::Identified(Box::new(a.id)));
    }
}

/// Verifies the request's new scans (step 1) for the sale `session_id`. Blocking: call it
/// off the async runtime, holding no store connection. A dry run checks replays neither.
pub fn scan(
    state: &Till,
    existing: Option<&Session>,
    request: &PutSession,
    session_id: &str,
    dry: bool,
) -> Result<Scanned, ApiError> {
    if request.voucher_scans.len() > MAX_VOUCHERS {
        return Err(ApiError::invalid(
            "voucher_scans",
            format!("at most {MAX_VOUCHERS} vouchers per sale"),
        ));
    }
    let mut scanned = Scanned::default();
    let known_scan = existing.and_then(|s| s.customer_scan.as_deref());
    match &request.customer_scan {
        Some(text) if Some(text.as_str()) != known_scan => {
            let field = "customer_scan";
            let mut verified = verify(state, text, TokenKind::CustomerPass, field, dry)?;
            if !dry {
                peek(state, &verified, session_id, field)?;
                state.identifier.consult(&mut verified);
            }
            scanned.customer = Some(verified.subject().to_owned());
            scanned.reads.push((field.to_owned(), verified));
        }
        _ => {}
    }
    if scanned.customer.is_none()
        && existing.and_then(|s| s.customer_ref.as_ref()).is_none()
        && request.use_current_customer
        && let Some(current) = state
            .identifier
            .slot()
            .current()
            .filter(|id| id.token_kind == TokenKind::CustomerPass)
    {
        scanned.customer = Some(current.subject);
        scanned.current = Some(current.token_id);
    }
    for (i, text) in request.voucher_scans.iter().enumerate() {
        let known = existing.is_some_and(|s| s.vouchers.iter().any(|v| &v.scan == text))
            || scanned.vouchers.iter().any(|v| &v.scan == text);
        if known {
            continue;
        }
        let field = format!("voucher_scans[{i}]");
        let verified = verify(state, text, TokenKind::Voucher, &field, dry)?;
        if !dry {
            peek(state, &verified, session_id, &field)?;
        }
        scanned.vouchers.push(AcceptedVoucher {
            scan: text.clone(),
            code: verified.subject().to_owned(),
            token: (!dry).then(|| ScannedToken {
                token_id: verified.token_id(),
                key_id: verified.key_id(),
                expires_at: verified.expires_at(),
            }),
        });
        scanned.reads.push((field, verified));
    }
    Ok(scanned)
}

/// Verifies a gift card's QR for a tender of the sale `session_id` (step 1). Blocking.
pub fn gift_card(
    state: &Till,
    text: &str,
    session_id: &str,
    field: &str,
) -> Result<Verified, ApiError> {
    let mut verified = verify(state, text, TokenKind::GiftCard, field, false)?;
    peek(state, &verified, session_id, field)?;
    state.identifier.consult(&mut verified);
    Ok(verified)
}

/// Records every read of `scanned` for the sale `session_id` in the request's transaction
/// (step 2), and binds the visit of a current customer the sale took to it.
pub fn record(
    tx: &Connection,
    state: &Till,
    scanned: &Scanned,
    session_id: &str,
) -> Result<Vec<Accepted>, ApiError> {
    let mut accepted = Vec::with_capacity(scanned.reads.len());
    for (field, verified) in &scanned.reads {
        accepted.push(record_one(tx, state, verified, session_id, field)?);
    }
    if let Some(token) = &scanned.current {
        state
            .identifier
            .bind_current(tx, token, session_id)
            .map_err(|e| ApiError::store(&e))?;
    }
    Ok(accepted)
}

/// Records one verified read for the sale `session_id` in the request's transaction.
pub fn record_one(
    tx: &Connection,
    state: &Till,
    verified: &Verified,
    session_id: &str,
    field: &str,
) -> Result<Accepted, ApiError> {
    match state
        .identifier
        .record(tx, verified, "api", Some(session_id))
    {
        Ok(id) => Ok(Accepted {
            id,
            started: verified.started(),
        }),
        Err(RecordError::Store(e)) => Err(ApiError::store(&e)),
        Err(RecordError::Refused(r)) => Err(ApiError::scan(field, &r)),
    }
}

/// Verifies one scan and checks it is a token of `kind`. A refusal is logged and
/// announced like one at the till's scanner, except in a dry run.
fn verify(
    state: &Till,
    text: &str,
    kind: TokenKind,
    field: &str,
    dry: bool,
) -> Result<Verified, ApiError> {
    let started = Instant::now();
    let verified = match state.identifier.verify(text, "api") {
        Ok(v) => v,
        Err(r) => {
            if !dry {
                state.identifier.refused(&r, started);
                state.bus.publish(AgentEvent::Refused(r.clone()));
            }
            return Err(ApiError::scan(field, &r));
        }
    };
    if verified.kind() != kind {
        return Err(ApiError::invalid(
            field,
            format!(
                "this QR is a {}, not a {}",
                kind_name(verified.kind()),
                kind_name(kind)
            ),
        ));
    }
    Ok(verified)
}

/// Refuses a token already used up, before the request's transaction.
fn peek(state: &Till, verified: &Verified, session_id: &str, field: &str) -> Result<(), ApiError> {
    let result = {
        let conn = state.store.conn();
        state.identifier.peek(&conn, verified, Some(session_id))
    };
    result.map_err(|r| {
        state.identifier.refused(&r, verified.started());
        state.bus.publish(AgentEvent::Refused(r.clone()));
        ApiError::scan(field, &r)
    })
}

/// The kind as the English detail of an API error names it: `customer pass`, …
fn kind_name(kind: TokenKind) -> String {
    kind.label(Lang::En).to_lowercase()
}
