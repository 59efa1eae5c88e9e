//! `PUT /v1/sessions/{id}`: the POS sends the whole cart each time; the agent evaluates it
//! against the catalog in force and the customer, and stores it with a new version.

use rusqlite::Connection;
use tillpass_engine::{Cart, Quantity, Voucher};
use tillpass_protocol::sync::limits::{self, MAX_AMOUNT, MAX_LINES};

use super::model::PutSession;
use super::scans::Scanned;
use super::{
    AcceptedVoucher, ApiError, Ctx, Session, State, check_open, check_version, context, events,
};
use tillpass_protocol::problem::ErrorCode;

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
        limits::quantity(line.quantity).map_err(|r| bad("quantity", r))?;
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
            return Err(ApiError::new(
                ErrorCode::SessionExists,
                format!(
                    "session {session_id} exists at version {}; send that version to change it",
                    s.version
                ),
            ));
        }
        (None, Some(_)) => {
            return Err(ApiError::new(
                ErrorCode::SessionNotFound,
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
        return Err(ApiError::new(
            ErrorCode::TendersPresent,
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
