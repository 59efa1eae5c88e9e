//! POS sessions: a sale driven by the till's POS software over the API, from the first
//! cart to its close, and returns against closed sales.
//!
//! ## Map
//! - [`model`]: the API's bodies (requests and answers), with their OpenAPI schemas.
//! - [`error`]: [`ApiError`], the problem+json answers.
//! - [`messages`]: the cashier's message, in Spanish and English, of every answer's code.
//! - [`context`]: what the engine needs from the store — the customer's balances and
//!   promotion uses, the store's local time.
//! - [`scans`]: the scans a request carries — verified before its transaction, their use
//!   recorded inside it.
//! - [`cart`]: `PUT /v1/sessions/{id}` — evaluate the whole cart, store it versioned.
//! - [`tenders`]: savings redemptions and gift-card holds.
//! - [`close`]: the commit — sale, effects, balances, holds and journal events in one
//!   transaction — and cancel.
//! - [`returns`]: returns against a closed sale, pro rata.
//! - [`events`]: the journal events a close or a return sends to central.
//! - [`routes`]: the HTTP handlers, idempotency keys and `/openapi.json`.
//!
//! ## Rules
//! - Every change runs in one SQLite transaction (`synchronous=FULL`: on disk before the
//!   answer), together with the answer stored under the call's `Idempotency-Key`.
//! - A session has a version; every change names the version it starts from, and a stale
//!   one gets 409 rather than overwriting another POS client's change.
//! - Scans a request carries (customer pass, vouchers, gift card) are verified before the
//!   transaction and their use recorded *inside* it, bound to the sale ([`scans`]): a
//!   refused request, or one the till did not finish, used no token, and a retry reads
//!   it again. A second read for the same sale (a pass sent again, a gift card tendered
//!   twice) is the same use; a scan already part of the session is not read again. A
//!   gift card's QR pays sale after sale until its balance is spent; a voucher's scan only
//!   checks it, and the close of the sale that applied it spends it (see [`close`]), so a
//!   cancelled sale or a voucher taken off the cart leaves it to the customer.

pub mod cart;
pub mod close;
pub mod context;
pub mod events;
pub mod model;
pub mod returns;
pub mod routes;
pub mod scans;
pub mod tenders;

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tillpass_engine::{Cart, Engine, Evaluation, SaleContext};
use tillpass_protocol::money::Money;

pub use crate::edge::error::ApiError;
pub use crate::edge::{error, messages};

use crate::store::journal::TillIdentity;
use crate::store::pos_sessions;
use model::{Receipt, SessionView, TenderView};
use tillpass_protocol::problem::ErrorCode;

/// The state of a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    /// The cart can still change.
    Open,
    /// Committed.
    Closed,
    /// Abandoned: holds released, nothing earned.
    Cancelled,
}

impl State {
    /// Its name in the API and the database.
    pub fn as_str(self) -> &'static str {
        match self {
            State::Open => "open",
            State::Closed => "closed",
            State::Cancelled => "cancelled",
        }
    }
}

/// A voucher accepted into a session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AcceptedVoucher {
    /// The scan as the POS sent it (a re-sent scan is recognised by it).
    pub scan: String,
    /// The voucher code.
    pub code: String,
    /// The token it was scanned with, which the close records as used. `None` in
    /// sessions stored before vouchers were spent at close (their scan already used them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<ScannedToken>,
}

/// A scanned token as the close journals its use.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScannedToken {
    /// The token id, hex.
    pub token_id: String,
    /// The signing key's id, hex.
    pub key_id: String,
    /// When it expires, unix seconds.
    pub expires_at: u64,
}

/// A session as stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Session {
    /// The POS's transaction id.
    pub session_id: String,
    /// Bumped by every change; a change that names another version is a 409.
    pub version: u64,
    pub state: State,
    /// The cart, with the accepted vouchers.
    pub cart: Cart,
    /// The identified customer's reference, if any.
    pub customer_ref: Option<String>,
    /// The customer pass scan the POS sent, if it sent one.
    pub customer_scan: Option<String>,
    /// Vouchers accepted.
    pub vouchers: Vec<AcceptedVoucher>,
    /// The cart's evaluation, as shown to the POS.
    pub evaluation: Evaluation,
    /// The loyalty tenders placed: savings and gift-card holds.
    pub tenders: Vec<TenderView>,
    /// The receipt, once closed.
    pub receipt: Option<Receipt>,
}

impl Session {
    /// Total of the loyalty tenders.
    pub fn tendered(&self) -> i64 {
        self.tenders
            .iter()
            .map(|t| match t {
                TenderView::Savings { amount } | TenderView::GiftCard { amount, .. } => {
                    amount.amount
                }
            })
            .fold(0_i64, i64::saturating_add)
    }

    /// Savings tendered.
    pub fn savings_tendered(&self) -> i64 {
        self.tenders
            .iter()
            .map(|t| match t {
                TenderView::Savings { amount } => amount.amount,
                TenderView::GiftCard { .. } => 0,
            })
            .fold(0_i64, i64::saturating_add)
    }

    /// What is left to pay.
    pub fn amount_due(&self) -> Money {
        let total = self.evaluation.totals.total;
        Money::new(
            total.amount.saturating_sub(self.tendered()).max(0),
            total.currency,
        )
    }
}

/// What every operation needs: the engine of the catalog in force, who the till is, the
/// time, and whether spending is allowed.
#[derive(Debug, Clone)]
pub struct Ctx {
    /// The engine of the catalog in force, if the till has one.
    pub engine: Option<Arc<Engine>>,
    /// The till.
    pub who: TillIdentity,
    /// Now, unix seconds (the till's clock, never behind central's signed time).
    pub now: u64,
    /// The sale's context for the engine.
    pub sale: SaleContext,
    /// Whether the till's last exchange with central succeeded.
    pub online: bool,
    /// Why spending is refused, if it is.
    pub earn_only: Option<String>,
    /// Central's caps on spending while the till is unsynced.
    pub policy: Option<tillpass_protocol::sync::OfflinePolicy>,
}

impl Ctx {
    /// The engine, or 503 when the till has no catalog yet.
    pub fn engine(&self) -> Result<&Arc<Engine>, ApiError> {
        self.engine.as_ref().ok_or_else(|| {
            ApiError::new(
                ErrorCode::NoCatalog,
                "the till has no promotion catalog yet: it arrives with the first sync with                  central (or POST /v1/admin/catalog)",
            )
        })
    }

    /// `now` as SQLite stores it.
    pub fn now_i64(&self) -> i64 {
        i64::try_from(self.now).unwrap_or(i64::MAX)
    }
}

/// Reads a stored session.
pub fn load(conn: &rusqlite::Connection, session_id: &str) -> Result<Option<Session>, ApiError> {
    let Some(row) = pos_sessions::load(conn, session_id)? else {
        return Ok(None);
    };
    serde_json::from_str(&row.body).map(Some).map_err(|e| {
        ApiError::store(&crate::store::StoreError::Corrupted(format!(
            "session {session_id}: {e}"
        )))
    })
}

/// Writes a session.
pub fn save(conn: &rusqlite::Connection, session: &Session, now: i64) -> Result<(), ApiError> {
    let body = serde_json::to_string(session).map_err(|e| {
        ApiError::store(&crate::store::StoreError::Corrupted(format!(
            "session: {e}"
        )))
    })?;
    pos_sessions::save(
        conn,
        &session.session_id,
        &pos_sessions::Row {
            version: session.version,
            state: session.state.as_str().to_owned(),
            body,
        },
        session.customer_ref.as_deref(),
        now,
    )?;
    Ok(())
}

/// The session as the POS sees it.
pub fn view(
    conn: &rusqlite::Connection,
    session: &Session,
    ctx_earn_only: Option<String>,
    engine: Option<&Engine>,
    now: i64,
) -> Result<SessionView, ApiError> {
    let customer = match &session.customer_ref {
        Some(r) => context::summary(conn, r, session, engine, now)?,
        None => None,
    };
    Ok(SessionView {
        session_id: session.session_id.clone(),
        version: session.version,
        state: session.state.as_str().to_owned(),
        customer,
        vouchers: session
            .evaluation
            .vouchers
            .iter()
            .map(|v| model::VoucherView {
                code: v.code.clone(),
                status: v.status,
            })
            .collect(),
        evaluation: session.evaluation.clone(),
        tenders: session.tenders.clone(),
        amount_due: session.amount_due(),
        earn_only: ctx_earn_only,
        receipt: session.receipt.clone(),
    })
}

/// Checks the version a change starts from.
pub fn check_version(session: &Session, version: u64) -> Result<(), ApiError> {
    if session.version != version {
        return Err(ApiError::new(
            ErrorCode::StaleVersion,
            format!(
                "the session is at version {}, not {version}: another change came first; \
                 read it (GET) and retry",
                session.version
            ),
        ));
    }
    Ok(())
}

/// Checks that the session can still change.
pub fn check_open(session: &Session) -> Result<(), ApiError> {
    match session.state {
        State::Open => Ok(()),
        State::Closed => Err(ApiError::new(
            ErrorCode::SessionClosed,
            "the session is closed; a return is the way to take goods back",
        )),
        State::Cancelled => Err(ApiError::new(
            ErrorCode::SessionCancelled,
            "the session was cancelled; start a new one",
        )),
    }
}
