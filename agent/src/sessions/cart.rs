//! `PUT /v1/sessions/{id}`: the POS sends the whole cart each time; the agent evaluates it
//! against the catalog in force and the customer, and stores it with a new version.

use rusqlite::Connection;
use tillpass_engine::{Cart, Quantity, Voucher};
use tillpass_protocol::sync::limits::{self, MAX_AMOUNT, MAX_LINES};
use tillpass_protocol::token::TokenKind;

use super::model::PutSession;
use super::{
    AcceptedVoucher, ApiError, Ctx, ScannedToken, Session, State, check_open, check_version,
    context, events,
};
use crate::bus::AgentEvent;
use crate::http::AppState;

/// The longest session id, in bytes (a sale id of the journal).
pub const MAX_SESSION_ID: usize = 64;
/// The most vouchers one sale may carry.
pub const MAX_VOUCHERS: usize = 20;

/// Checks a session id (the POS's transaction id): 1 to 64 of `A-Z a-z 0-9 - _ .`.
pub fn check_id(id: &str) -> Result<(), ApiError> {
    tillpass_protocol::sync::SaleId::new(id)
        .map(|_| ())
        .map_err(|e| ApiError::invalid("session_id", e.to_string()))
}

/// Checks the cart against the journal's bounds (`tillpass_protocol::sync::limits`, the
/// bounds central applies to the sale's events) before anything is scanned, evaluated or
/// stored, with the field path of the request: a sale the till accepts is a sale central
/// accepts.
pub fn check_limits(request: &PutSession) -> Result<(), ApiError> {
    let lines = &request.cart.lines;
    limits::count(lines.len(), MAX_LINES).map_err(|_| {
        ApiError::invalid(
            "cart.lines",
            format!(
                "{} lines: a sale holds at most {MAX_LINES}; split it into two sales",
                lines.len()
            ),
        )
    })?;
    let mut total: i128 = 0;
    for (i, line) in lines.iter().enumerate() {
        let field = |name: &str| format!("cart.lines[{i}].{name}");
        let bad = |name: &str, reason: &str| ApiError::invalid(field(name), reason.to_owned());
        limits::line_id(&line.line_id).map_err(|r| bad("line_id", r))?;
        limits::text(&line.sku).map_err(|r| bad("sku", r))?;
        limits::quantity(events::quantity(line.quantity)).map_err(|r| bad("quantity", r))?;
        limits::amount(line.unit_price).map_err(|r| bad("unit_price", r))?;
        let price = i128::from(line.unit_price.amount);
        let amount = match line.quantity {
            Quantity::Units(n) => price * i128::from(n),
            Quantity::Grams(g) => price * i128::from(g) / 1000,
        };
        if amount > i128::from(MAX_AMOUNT) {
            return Err(ApiError::invalid(
                format!("cart.lines[{i}]"),
                "the line's amount (price × quantity) is above the largest amount a sale may \
                 carry (10^15 minor units)",
            ));
        }
        total += amount;
    }
    if total > i128::from(MAX_AMOUNT) {
        return Err(ApiError::invalid(
            "cart.lines",
            "the cart's total is above the largest amount a sale may carry (10^15 minor units)",
        ));
    }
    Ok(())
}

/// The scans of a request the session does not hold yet, verified (and, unless it is a
/// dry run, recorded as used) before the transaction.
#[derive(Debug, Clone, Default)]
pub struct Scanned {
    /// The customer from the request's scan, or from the till's current-customer slot.
    pub customer: Option<String>,
    /// Vouchers newly accepted.
    pub vouchers: Vec<AcceptedVoucher>,
}

/// Verifies the request's new scans. Blocking: call it off the async runtime.
pub fn scan(
    state: &AppState,
    existing: Option<&Session>,
    request: &PutSession,
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
            let (kind, subject, _) = verify(state, text, dry, "customer_scan")?;
            if kind != TokenKind::CustomerPass {
                return Err(ApiError::invalid(
                    "customer_scan",
                    format!("this QR is a {}, not a customer pass", kind.code()),
                ));
            }
            scanned.customer = Some(subject);
        }
        _ => {}
    }
    if scanned.customer.is_none()
        && existing.and_then(|s| s.customer_ref.as_ref()).is_none()
        && request.use_current_customer
    {
        scanned.customer = state
            .identifier
            .slot()
            .current()
            .filter(|id| id.token_kind == TokenKind::CustomerPass.code())
            .map(|id| id.subject);
    }
    for (i, text) in request.voucher_scans.iter().enumerate() {
        let known = existing.is_some_and(|s| s.vouchers.iter().any(|v| &v.scan == text))
            || scanned.vouchers.iter().any(|v| &v.scan == text);
        if known {
            continue;
        }
        let field = format!("voucher_scans[{i}]");
        let (kind, code, token) = verify(state, text, dry, &field)?;
        if kind != TokenKind::Voucher {
            return Err(ApiError::invalid(
                field,
                format!("this QR is a {}, not a voucher", kind.code()),
            ));
        }
        scanned.vouchers.push(AcceptedVoucher {
            scan: text.clone(),
            code,
            token,
        });
    }
    Ok(scanned)
}

/// Verifies one scan: recorded like a scan at the till's scanner, or only checked in a dry
/// run. Its kind, its subject and (not in a dry run) the token, which a voucher's close
/// records as used.
pub fn verify(
    state: &AppState,
    text: &str,
    dry: bool,
    field: &str,
) -> Result<(TokenKind, String, Option<ScannedToken>), ApiError> {
    if dry {
        let (kind, subject) = state
            .identifier
            .check(text, "api")
            .map_err(|r| ApiError::scan(field, &r))?;
        return Ok((kind, subject, None));
    }
    match state.identifier.identify(text, "api") {
        Ok(id) => {
            state
                .bus
                .publish(AgentEvent::Identified(Box::new(id.clone())));
            let kind = match id.token_kind {
                "gift_card" => TokenKind::GiftCard,
                "voucher" => TokenKind::Voucher,
                _ => TokenKind::CustomerPass,
            };
            let token = ScannedToken {
                token_id: id.token_id,
                key_id: id.key_id,
                expires_at: id.expires_at,
            };
            Ok((kind, id.subject, Some(token)))
        }
        Err(r) => {
            state.bus.publish(AgentEvent::Refused(r.clone()));
            Err(ApiError::scan(field, &r))
        }
    }
}

/// Evaluates the cart and makes the session's next version (not stored: the caller does,
/// unless it is a dry run).
pub fn put(
    conn: &Connection,
    ctx: &Ctx,
    session_id: &str,
    request: PutSession,
    scanned: Scanned,
    existing: Option<Session>,
) -> Result<Session, ApiError> {
    let currency = ctx.engine()?.currency();
    if request.cart.currency != currency {
        return Err(ApiError::invalid(
            "cart.currency",
            format!(
                "the store sells in {}, not {}",
                currency.code(),
                request.cart.currency.code()
            ),
        ));
    }
    let version = match (&existing, request.version) {
        (Some(s), Some(v)) => {
            check_open(s)?;
            check_version(s, v)?;
            v.saturating_add(1)
        }
        (Some(s), None) => {
            return Err(ApiError::conflict(
                "session_exists",
                format!(
                    "session {session_id} exists at version {}; send that version to change it",
                    s.version
                ),
            ));
        }
        (None, Some(_)) => {
            return Err(ApiError::not_found(
                "session_not_found",
                format!("no session {session_id}: leave `version` out to create it"),
            ));
        }
        (None, None) => 1,
    };
    let customer_ref = scanned
        .customer
        .or_else(|| existing.as_ref().and_then(|s| s.customer_ref.clone()));
    let customer_scan = request
        .customer_scan
        .clone()
        .or_else(|| existing.as_ref().and_then(|s| s.customer_scan.clone()));
    let mut vouchers: Vec<AcceptedVoucher> = existing
        .as_ref()
        .map(|s| {
            s.vouchers
                .iter()
                .filter(|v| request.voucher_scans.contains(&v.scan))
                .cloned()
                .collect()
        })
        .unwrap_or_default();
    vouchers.extend(scanned.vouchers);

    let cart = Cart {
        currency,
        lines: request.cart.lines,
        vouchers: vouchers
            .iter()
            .map(|v| Voucher {
                code: v.code.clone(),
                token_id: None,
            })
            .collect(),
    };
    if let Some(s) = &existing
        && !s.tenders.is_empty()
        && (s.cart != cart || s.customer_ref != customer_ref)
    {
        return Err(ApiError::conflict(
            "tenders_present",
            "the sale has loyalty tenders: cancel the session (which releases them) to \
             change its cart or customer",
        ));
    }
    let customer = match &customer_ref {
        Some(r) => context::customer(conn, r, currency, ctx.online, ctx.now_i64())?,
        None => None,
    };
    let evaluation = ctx
        .engine()?
        .evaluate(&cart, customer.as_ref().map(|c| &c.context), &ctx.sale)
        .map_err(|e| ApiError::engine(&e))?;
    let session = Session {
        session_id: session_id.to_owned(),
        version,
        state: State::Open,
        cart,
        customer_ref: customer.map(|c| c.view.customer_ref),
        customer_scan,
        vouchers,
        evaluation,
        tenders: existing.map(|s| s.tenders).unwrap_or_default(),
        receipt: None,
    };
    events::check_sale(ctx, &session)?;
    Ok(session)
}
