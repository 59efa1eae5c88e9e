//! The POS API's session routes and their OpenAPI description. Each handler reads its
//! request with the extractors of [`crate::edge::extract`] (validated path ids,
//! `Idempotency-Key`, JSON bodies with the field path of every error); the bearer token
//! is the API router's route layer ([`crate::http::guard`]).

use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use rusqlite::TransactionBehavior;
use serde::Deserialize;

use super::model::{
    CancelRequest, CloseRequest, PutSession, ReturnRequest, ReturnView, SessionView, TenderInput,
    TenderRequest,
};
use super::scans::{self, Accepted};
use super::{ApiError, Ctx, Session, cart, close, context, returns, tenders};
use crate::bus::AgentEvent;
use crate::edge::extract::{
    ApiJson, ApiJsonOrEmpty, ApiQuery, CustomerReference, IdempotencyKey, SessionId,
};
use crate::failpoint;
use crate::store::idempotency::{self, Seen, Stored};
use crate::till::Till;
use tillpass_protocol::problem::ErrorCode;

/// The largest request body: a cart of a few thousand lines.
pub const MAX_BODY: usize = 1024 * 1024;

/// The session routes, with their own body limit.
pub fn routes() -> Router<Till> {
    Router::new()
        .route("/v1/sessions/{id}", put(put_session).get(get_session))
        .route("/v1/sessions/{id}/tenders", post(add_tender))
        .route("/v1/sessions/{id}/close", post(close_session))
        .route("/v1/sessions/{id}/cancel", post(cancel_session))
        .route("/v1/sessions/{id}/returns", post(add_return))
        .route("/v1/customers/{reference}", get(get_customer))
        .layer(DefaultBodyLimit::max(MAX_BODY))
}

fn json_response(status: StatusCode, body: String) -> Response {
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// The context of one operation.
pub fn ctx(state: &Till) -> Result<Ctx, ApiError> {
    let Some(who) = state.identifier.who().cloned() else {
        return Err(ApiError::new(
            ErrorCode::NotEnrolled,
            "this till is not enrolled: run tillpass-install",
        ));
    };
    let now = state.clock.now();
    let sync = state.sync.snapshot();
    Ok(Ctx {
        engine: state.catalogs.engine(),
        sale: context::sale_context(now, &state.time_zone, who.store.as_str(), &state.region()),
        who,
        now,
        online: sync.online,
        earn_only: sync.earn_only,
        policy: sync.offline_policy,
    })
}

/// What a change produced.
struct Outcome {
    status: StatusCode,
    body: serde_json::Value,
    event: Option<AgentEvent>,
    /// The scans the change accepted, announced once it committed.
    accepted: Vec<Accepted>,
}

/// Runs a change: the replay check, the scans' verification (`prepare`, before the
/// transaction), then `apply` — which records the scans' use — and the stored answer in
/// one transaction. `what` names the change for its failpoints: `<what>.verified`,
/// `<what>.stored` (everything written, not committed) and `<what>.committed` (not yet
/// answered).
fn mutate<P>(
    state: &Till,
    what: &str,
    key: &str,
    route: &str,
    body: &[u8],
    prepare: impl FnOnce(&Till) -> Result<P, ApiError>,
    apply: impl FnOnce(&rusqlite::Transaction<'_>, &Ctx, P) -> Result<Outcome, ApiError>,
) -> Response {
    let hash = idempotency::hash(body);
    let seen = |conn: &rusqlite::Connection| -> Result<Option<Response>, ApiError> {
        match idempotency::check(conn, key, route, &hash)? {
            Seen::New => Ok(None),
            Seen::Replay { status, response } => Ok(Some(json_response(
                StatusCode::from_u16(status).unwrap_or(StatusCode::OK),
                response,
            ))),
            Seen::Conflict => Err(ApiError::new(
                ErrorCode::IdempotencyKeyReused,
                "this Idempotency-Key was used for another request: use a fresh key for a \
                 new change",
            )),
        }
    };
    let run = || -> Result<Response, ApiError> {
        let store = state.store.clone();
        if let Some(replay) = seen(&store.conn())? {
            return Ok(replay);
        }
        let prepared = prepare(state)?;
        failpoint::hit(what, "verified");
        let ctx = ctx(state)?;
        let mut conn = store.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        if let Some(replay) = seen(&tx)? {
            return Ok(replay);
        }
        let outcome = apply(&tx, &ctx, prepared)?;
        let response = outcome.body.to_string();
        idempotency::save(
            &tx,
            key,
            &Stored {
                route: route.to_owned(),
                body_hash: hash,
                status: outcome.status.as_u16(),
                response: response.clone(),
            },
            ctx.now_i64(),
        )?;
        failpoint::hit(what, "stored");
        tx.commit()?;
        drop(conn);
        failpoint::hit(what, "committed");
        scans::announce(state, outcome.accepted);
        if let Some(event) = outcome.event {
            state.bus.publish(event);
        }
        Ok(json_response(outcome.status, response))
    };
    run().unwrap_or_else(IntoResponse::into_response)
}

fn to_value(view: &impl serde::Serialize) -> Result<serde_json::Value, ApiError> {
    serde_json::to_value(view)
        .map_err(|e| ApiError::store(&crate::store::StoreError::Corrupted(format!("answer: {e}"))))
}

/// Runs blocking work off the async runtime.
async fn blocking(f: impl FnOnce() -> Response + Send + 'static) -> Response {
    tokio::task::spawn_blocking(f).await.unwrap_or_else(|e| {
        tracing::error!(error = %e, "POS request task failed");
        ApiError::store(&crate::store::StoreError::Corrupted("task failed".into())).into_response()
    })
}

/// `?dry=true`.
#[derive(Debug, Default, Deserialize)]
pub struct PutQuery {
    /// Evaluate without storing anything.
    #[serde(default)]
    pub dry: bool,
}

/// Creates or replaces a session's cart.
///
/// The scans it carries (`customer_scan`, `voucher_scans`) are used in the same
/// transaction as the cart: a refused request (409, 422) or one the till did not finish
/// uses no QR, and a retry reads them again. A pass sent again for the same sale, or
/// within its visit (see `POST /v1/identify`), is the same use.
#[utoipa::path(put, path = "/v1/sessions/{id}", tag = "sessions",
    params(("id" = String, Path, description = "The POS's transaction id"),
           ("dry" = Option<bool>, Query, description = "Evaluate without storing"),
           ("Idempotency-Key" = String, Header,
            description = "Required, also for a dry run (which stores nothing under it)")),
    request_body = PutSession,
    responses((status = 200, body = SessionView), (status = 409, description = "Stale version"),
              (status = 422, description = "Invalid cart or refused scan")),
    security(("bearer" = [])))]
pub async fn put_session(
    State(state): State<Till>,
    SessionId(id): SessionId,
    ApiQuery(query): ApiQuery<PutQuery>,
    IdempotencyKey(key): IdempotencyKey,
    ApiJson(request, bytes): ApiJson<PutSession>,
) -> Response {
    // Every PUT names its key, as the document requires; a dry run stores nothing under
    // it.
    let key = if query.dry { None } else { Some(key) };
    if let Err(e) = cart::check_limits(&request) {
        return e.into_response();
    }
    blocking(move || match key {
        None => dry_run(&state, &id, request).unwrap_or_else(IntoResponse::into_response),
        Some(key) => {
            let route = format!("PUT /v1/sessions/{id}");
            let req2 = request.clone();
            let id2 = id.clone();
            mutate(
                &state,
                "put",
                &key,
                &route,
                &bytes,
                move |state| {
                    let existing = super::load(&state.store.conn(), &id2)?;
                    scans::scan(state, existing.as_ref(), &req2, &id2, false)
                },
                |tx, ctx, scanned| {
                    let existing = super::load(tx, &id)?;
                    let accepted = scans::record(tx, &state, &scanned, &id)?;
                    failpoint::hit("put", "recorded");
                    let session = cart::put(tx, ctx, &id, request, scanned, existing)?;
                    let mut outcome = stored(tx, ctx, &session, None)?;
                    outcome.accepted = accepted;
                    Ok(outcome)
                },
            )
        }
    })
    .await
}

fn dry_run(state: &Till, id: &str, request: PutSession) -> Result<Response, ApiError> {
    let existing = super::load(&state.store.conn(), id)?;
    let scanned = scans::scan(state, existing.as_ref(), &request, id, true)?;
    let ctx = ctx(state)?;
    let conn = state.store.conn();
    let session = cart::put(&conn, &ctx, id, request, scanned, existing)?;
    let view = super::view(
        &conn,
        &session,
        ctx.earn_only.clone(),
        ctx.engine.as_deref(),
        ctx.now_i64(),
    )?;
    Ok(json_response(StatusCode::OK, to_value(&view)?.to_string()))
}

/// Reads a session.
#[utoipa::path(get, path = "/v1/sessions/{id}", tag = "sessions",
    params(("id" = String, Path, description = "The POS's transaction id")),
    responses((status = 200, body = SessionView), (status = 404, description = "No such session")),
    security(("bearer" = [])))]
pub async fn get_session(State(state): State<Till>, SessionId(id): SessionId) -> Response {
    blocking(move || {
        let run = || -> Result<Response, ApiError> {
            let conn = state.store.conn();
            let Some(session) = super::load(&conn, &id)? else {
                return Err(ApiError::new(
                    ErrorCode::SessionNotFound,
                    format!("no session {id}"),
                ));
            };
            let earn_only = state.sync.earn_only();
            let engine = state.catalogs.engine();
            let now = i64::try_from(state.clock.now()).unwrap_or(i64::MAX);
            let view = super::view(&conn, &session, earn_only, engine.as_deref(), now)?;
            Ok(json_response(StatusCode::OK, to_value(&view)?.to_string()))
        };
        run().unwrap_or_else(IntoResponse::into_response)
    })
    .await
}

/// Stores the changed session and answers its view.
fn stored(
    tx: &rusqlite::Transaction<'_>,
    ctx: &Ctx,
    session: &Session,
    event: Option<AgentEvent>,
) -> Result<Outcome, ApiError> {
    super::save(tx, session, ctx.now_i64())?;
    let view = super::view(
        tx,
        session,
        ctx.earn_only.clone(),
        ctx.engine.as_deref(),
        ctx.now_i64(),
    )?;
    Ok(Outcome {
        status: StatusCode::OK,
        body: to_value(&view)?,
        event,
        accepted: Vec::new(),
    })
}

fn existing(tx: &rusqlite::Connection, id: &str) -> Result<Session, ApiError> {
    super::load(tx, id)?
        .ok_or_else(|| ApiError::new(ErrorCode::SessionNotFound, format!("no session {id}")))
}

/// Adds a loyalty tender: savings, or a gift card (held until the close).
///
/// A gift card's QR (`scan`) is used in the same transaction as its hold: a refused
/// tender (a stale version, more than is due, a card that cannot pay) or one the till did
/// not finish uses nothing. The QR pays sale after sale until its card is empty or
/// expired; tendered twice in one sale, it is one use.
#[utoipa::path(post, path = "/v1/sessions/{id}/tenders", tag = "sessions",
    params(("id" = String, Path, description = "The POS's transaction id"),
           ("Idempotency-Key" = String, Header, description = "Required")),
    request_body = TenderRequest,
    responses((status = 200, body = SessionView),
              (status = 404, description = "No such session (`session_not_found`)"),
              (status = 409, description = "Stale version"),
              (status = 422, description = "Tender refused, with the cashier's message")),
    security(("bearer" = [])))]
pub async fn add_tender(
    State(state): State<Till>,
    SessionId(id): SessionId,
    IdempotencyKey(key): IdempotencyKey,
    ApiJson(request, bytes): ApiJson<TenderRequest>,
) -> Response {
    blocking(move || {
        let route = format!("POST /v1/sessions/{id}/tenders");
        let tender = request.tender.clone();
        let id2 = id.clone();
        mutate(
            &state,
            "tender",
            &key,
            &route,
            &bytes,
            move |state| match &tender {
                TenderInput::GiftCard {
                    scan: Some(text),
                    card_id: None,
                    ..
                } => {
                    let verified = scans::gift_card(state, text, &id2, "tender.scan")?;
                    let card = tenders::CardRef::Card(verified.subject().to_owned());
                    Ok((card, Some(verified)))
                }
                TenderInput::GiftCard {
                    scan: None,
                    card_id: Some(card),
                    ..
                } => Ok((tenders::CardRef::Card(card.clone()), None)),
                TenderInput::GiftCard { .. } => Err(ApiError::invalid(
                    "tender",
                    "name the gift card by `scan` or by `card_id`, not both and not neither",
                )),
                TenderInput::Savings { .. } => Ok((tenders::CardRef::None, None)),
            },
            |tx, ctx, (card, verified)| {
                let session = existing(tx, &id)?;
                // The QR's use is written with the hold it pays, or not at all.
                let accepted = match &verified {
                    Some(v) => vec![scans::record_one(tx, &state, v, &id, "tender.scan")?],
                    None => Vec::new(),
                };
                failpoint::hit("tender", "recorded");
                let session =
                    tenders::add(tx, ctx, session, request.version, request.tender, card)?;
                failpoint::hit("tender", "held");
                let mut outcome = stored(tx, ctx, &session, None)?;
                outcome.accepted = accepted;
                Ok(outcome)
            },
        )
    })
    .await
}

/// Closes the session: commits the sale and answers the receipt.
#[utoipa::path(post, path = "/v1/sessions/{id}/close", tag = "sessions",
    params(("id" = String, Path, description = "The POS's transaction id"),
           ("Idempotency-Key" = String, Header, description = "Required")),
    request_body = CloseRequest,
    responses((status = 200, body = SessionView, description = "Closed; `receipt` is set"),
              (status = 404, description = "No such session (`session_not_found`)"),
              (status = 409, description = "Stale version, or a gift-card hold lapsed"),
              (status = 507, description = "Disk full: nothing written")),
    security(("bearer" = [])))]
pub async fn close_session(
    State(state): State<Till>,
    SessionId(id): SessionId,
    IdempotencyKey(key): IdempotencyKey,
    ApiJson(request, bytes): ApiJson<CloseRequest>,
) -> Response {
    blocking(move || {
        let route = format!("POST /v1/sessions/{id}/close");
        let slot_state = state.clone();
        let response = mutate(
            &state,
            "close",
            &key,
            &route,
            &bytes,
            |_| Ok(()),
            |tx, ctx, ()| {
                let session = existing(tx, &id)?;
                let session = close::close(tx, ctx, session, request.version, request.payments)?;
                let event = AgentEvent::SaleClosed {
                    sale_id: session.session_id.clone(),
                    net: session.evaluation.totals.total,
                    customer: session.customer_ref.as_deref().map(crate::identify::mask),
                };
                stored(tx, ctx, &session, Some(event))
            },
        );
        if response.status().is_success() {
            // The sale ended: the next scan starts the next customer's visit.
            slot_state.identifier.slot().clear();
        }
        response
    })
    .await
}

/// Cancels the session: releases its holds; nothing is earned.
#[utoipa::path(post, path = "/v1/sessions/{id}/cancel", tag = "sessions",
    params(("id" = String, Path, description = "The POS's transaction id"),
           ("Idempotency-Key" = String, Header, description = "Required")),
    request_body = CancelRequest,
    responses((status = 200, body = SessionView),
              (status = 404, description = "No such session (`session_not_found`)"),
              (status = 409, description = "Already closed")),
    security(("bearer" = [])))]
pub async fn cancel_session(
    State(state): State<Till>,
    SessionId(id): SessionId,
    IdempotencyKey(key): IdempotencyKey,
    ApiJsonOrEmpty(request, bytes): ApiJsonOrEmpty<CancelRequest>,
) -> Response {
    blocking(move || {
        let route = format!("POST /v1/sessions/{id}/cancel");
        mutate(
            &state,
            "cancel",
            &key,
            &route,
            &bytes,
            |_| Ok(()),
            |tx, ctx, ()| {
                let session = existing(tx, &id)?;
                let session = close::cancel(tx, ctx, session, request.version)?;
                stored(tx, ctx, &session, None)
            },
        )
    })
    .await
}

/// Records a return against the closed sale `id`: a sale closed at this till, or at another
/// till of the store once this till has received it from central (for 30 days). Each return
/// continues from every earlier return of the sale, at whichever till. Sale and return ids
/// must be unique within the store.
#[utoipa::path(post, path = "/v1/sessions/{id}/returns", tag = "sessions",
    params(("id" = String, Path, description = "The closed sale's id"),
           ("Idempotency-Key" = String, Header, description = "Required")),
    request_body = ReturnRequest,
    responses((status = 200, body = ReturnView), (status = 404, description = "No such sale"),
              (status = 422, description = "More returned than sold, unknown line")),
    security(("bearer" = [])))]
pub async fn add_return(
    State(state): State<Till>,
    SessionId(id): SessionId,
    IdempotencyKey(key): IdempotencyKey,
    ApiJson(request, bytes): ApiJson<ReturnRequest>,
) -> Response {
    blocking(move || {
        let route = format!("POST /v1/sessions/{id}/returns");
        mutate(
            &state,
            "return",
            &key,
            &route,
            &bytes,
            |_| Ok(()),
            |tx, ctx, ()| {
                let view = returns::record(tx, ctx, &id, &request)?;
                Ok(Outcome {
                    status: StatusCode::OK,
                    body: to_value(&view)?,
                    event: None,
                    accepted: Vec::new(),
                })
            },
        )
    })
    .await
}

/// What the till knows of a customer: profile, savings, gift cards, personal promotions.
#[utoipa::path(get, path = "/v1/customers/{reference}", tag = "customers",
    params(("reference" = String, Path, description = "The customer's reference")),
    responses((status = 200, description = "The customer", body = Object),
              (status = 404, description = "Not known at this till")),
    security(("bearer" = [])))]
pub async fn get_customer(
    State(state): State<Till>,
    CustomerReference(reference): CustomerReference,
) -> Response {
    blocking(move || {
        let run = || -> Result<Response, ApiError> {
            let conn = state.store.conn();
            let now = i64::try_from(state.clock.now()).unwrap_or(i64::MAX);
            let Some(view) = crate::store::customers::lookup(&conn, &reference, now)? else {
                return Err(ApiError::new(
                    ErrorCode::CustomerNotFound,
                    "this till does not know the customer",
                ));
            };
            Ok(json_response(StatusCode::OK, to_value(&view)?.to_string()))
        };
        run().unwrap_or_else(IntoResponse::into_response)
    })
    .await
}
