//! The agent's HTTP server on loopback: health (`/livez`, `/readyz`), `/metrics`, and the
//! first POS API routes: `POST /v1/identify`, `GET /v1/events` (Server-Sent Events) and
//! `GET /v1/status`.
//!
//! `/v1` routes need the till's bearer token, checked before the body is read, and each
//! takes a body only up to its real maximum ([`guard`]); handlers read their requests with
//! the extractors of [`extract`](crate::edge::extract). Every error answer — refusals, `401`, unknown routes
//! (`404`) and methods (`405`), a `/readyz` that is not ready — is an [`ApiError`]:
//! `application/problem+json` with a stable `code`
//! ([`ErrorCode`](tillpass_protocol::problem::ErrorCode)); the detail goes to the log,
//! never internals to the client.
//!
//! [`serve`](fn@serve) and [`serve_with`] run the server loop of [`serve`](mod@serve):
//! header-read and idle timeouts, a connection limit, the `Host` allowlist.

pub mod codes;
pub mod guard;
pub mod openapi;
pub mod serve;

pub use crate::edge::ApiError;
pub use crate::till::DeviceStatus;
pub use serve::{ServeSettings, host_allowed, serve_with};

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, State};
use axum::http::{StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use futures_util::Stream;
use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;
use tokio_stream::StreamExt;
use tokio_stream::wrappers::BroadcastStream;

use tillpass_protocol::problem::{ErrorCode, Problem};

use crate::bus::{AgentEvent, Bus};
use crate::clock::Clock;
use crate::edge::extract::ApiJson;
use crate::identify::Identification;
use crate::metrics::{Gauges, Metrics};
use crate::store::{Store, journal};
use crate::till::{SyncStatus, Till};

/// The largest body of `POST /v1/identify`: a scan of
/// [`MAX_SCAN_BYTES`](tillpass_protocol::token::text::MAX_SCAN_BYTES), every byte of it escaped
/// in JSON (`\u00XX`), in `{"scan": "…"}`.
pub const IDENTIFY_BODY: usize = 6 * tillpass_protocol::token::text::MAX_SCAN_BYTES + 64;

/// The router.
pub fn router(state: Till) -> Router {
    let open = Router::new()
        .route("/livez", get(livez))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/openapi.json", get(openapi))
        .layer(DefaultBodyLimit::max(0));
    let v1 = Router::new()
        .route(
            "/v1/identify",
            post(identify).layer(DefaultBodyLimit::max(IDENTIFY_BODY)),
        )
        .route("/v1/events", get(events))
        .route("/v1/status", get(status))
        .merge(crate::sessions::routes::routes())
        .merge(crate::sync::routes())
        .route_layer(axum::middleware::from_fn_with_state(
            Arc::new(tokio::sync::Semaphore::new(guard::BODIES_IN_FLIGHT)),
            guard::limit_bodies,
        ))
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            guard::require_token,
        ));
    Router::new()
        .merge(open)
        .merge(v1)
        .with_state(state.clone())
        .merge(crate::dashboard::router(state))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
}

async fn openapi() -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        openapi::document(),
    )
        .into_response()
}

/// Serves `router` on an already-bound listener until `shutdown` completes, with the
/// default [`ServeSettings`].
pub async fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_with(listener, router, ServeSettings::default(), shutdown).await
}

/// `404 not_found`: the router's answer to a path it does not serve.
pub async fn not_found() -> ApiError {
    ApiError::new(ErrorCode::NotFound, "no such route; see /openapi.json")
}

/// `405 method_not_allowed`: the router's answer to a method a path does not take.
pub async fn method_not_allowed() -> ApiError {
    ApiError::new(
        ErrorCode::MethodNotAllowed,
        "this route does not take this method; see /openapi.json",
    )
}

async fn livez() -> &'static str {
    "ok\n"
}

#[derive(Debug, Serialize)]
struct Readiness {
    ready: bool,
    reasons: Vec<String>,
    trust_list_sequence: Option<u64>,
    clock_skew_alarm: bool,
    /// Events central rejected, kept in the outbox.
    rejected_events: i64,
}

/// Whether the till can work, and why not. Not ready while it cannot sell with its
/// promotions and talk to central: not enrolled, no central URL, no till key, never had a
/// trust list, never had a catalog. Informational reasons leave it ready: the clock behind
/// central's, earn-only, central unreachable, events central rejected. Blocking: it reads
/// the outbox.
fn readiness(state: &Till) -> Readiness {
    let sync = state.sync.snapshot();
    let mut reasons = sync.unconfigured.clone();
    let trust = state.identifier.trust_sequence();
    if trust.is_none() {
        reasons.push(
            "no_trust_list: the till has never had a trust list, so it can verify no QR: \
             enrol it (`tillpass-install install --central URL --enrol CODE`) or connect it \
             to central"
                .to_owned(),
        );
    }
    if state.catalogs.active().is_none() {
        reasons.push(
            "no_catalog: the till has never had a promotion catalog, so every cart gets 503 \
             no_catalog: it arrives with the first sync with central (check that central \
             published one and is reachable)"
                .to_owned(),
        );
    }
    let ready = reasons.is_empty();
    let skew = state.clock.skew_alarm();
    if skew {
        reasons.push("clock_skew: the wall clock is behind central's signed time".to_owned());
    }
    reasons.extend(crate::sync::readiness_reasons(state));
    let conn = state.store.conn();
    let rejected = journal::rejected_count(&conn).unwrap_or(0);
    if rejected > 0 {
        let newest = journal::rejected(&conn, 1)
            .ok()
            .and_then(|r| r.into_iter().next())
            .map(|r| {
                format!(
                    " (newest: {} {}: {})",
                    r.kind,
                    r.code.as_deref().unwrap_or("rejected"),
                    r.reason
                )
            })
            .unwrap_or_default();
        reasons.push(format!(
            "rejected_events: central refused {rejected} event(s){newest}; they are kept: \
             list them with `tillpass journal rejected`, have central fixed, then re-send \
             them with `tillpass journal retry --all`"
        ));
    }
    Readiness {
        ready,
        reasons,
        trust_list_sequence: trust.map(|t| t.0),
        clock_skew_alarm: skew,
        rejected_events: rejected,
    }
}

async fn readyz(State(state): State<Till>) -> Response {
    let Ok(r) = tokio::task::spawn_blocking(move || readiness(&state)).await else {
        return ApiError::new(ErrorCode::NotReady, "the readiness check failed").into_response();
    };
    if r.ready {
        return Json(r).into_response();
    }
    // Not ready: a problem document that also carries the readiness fields.
    let detail = r.reasons.join("; ");
    let mut e = ApiError::new(ErrorCode::NotReady, detail);
    if let Ok(serde_json::Value::Object(fields)) = serde_json::to_value(&r) {
        for (name, value) in fields {
            e = e.with(&name, value);
        }
    }
    e.into_response()
}

async fn metrics(
    State(store): State<Arc<Store>>,
    State(clock): State<Arc<Clock>>,
    State(metrics): State<Arc<Metrics>>,
    State(sync): State<Arc<SyncStatus>>,
) -> Response {
    let last_success_at = sync.snapshot().last_success_at;
    let gauges = tokio::task::spawn_blocking(move || {
        let conn = store.conn();
        let (depth, _) = journal::depth(&conn).unwrap_or((0, None));
        let customers = crate::store::customers::count(&conn).unwrap_or(0);
        Gauges {
            outbox_depth: depth,
            last_sync_age_secs: Gauges::sync_age(clock.now(), last_success_at),
            clock_skew_alarm: clock.skew_alarm(),
            customers,
        }
    })
    .await
    .unwrap_or_default();
    (
        [(header::CONTENT_TYPE, crate::metrics::CONTENT_TYPE)],
        metrics.render(gauges),
    )
        .into_response()
}

/// The body of `POST /v1/identify`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IdentifyRequest {
    /// The scan text, as the POS's scanner read it.
    pub scan: String,
}

/// Identifies a scan read by the POS's own scanner: the same pipeline and answers as a
/// scan at the till's scanner.
///
/// A customer pass is used once per *visit*, and `max_uses` counts visits at this till. A
/// visit is every read of the pass for the same sale, and every read less than the
/// till's current-customer time (`identify.customer_slot_secs`, 180 s by default) after
/// its previous read, unless the sale the visit identified has closed since or the read
/// is for another sale: a scanner's double read, the pass shown again, or the same pass
/// sent with the sale (`customer_scan`) is the same use (`uses` does not grow). A gift
/// card or a voucher read here is only checked: a gift card is used by the tenders it
/// pays (`max_uses` is null: its balance and expiry decide), a voucher by the close of
/// the sale that applied it.
#[utoipa::path(post, path = "/v1/identify", tag = "identify", request_body = IdentifyRequest,
    responses((status = 200, description = "Identified", body = Object),
              (status = 422, description = "Refused, with the reason and the cashier's message", body = Object)),
    security(("bearer" = [])))]
pub(crate) async fn identify(
    State(state): State<Till>,
    ApiJson(request, _): ApiJson<IdentifyRequest>,
) -> Response {
    match identify_scan(&state, request.scan, "api".to_owned()).await {
        Ok(id) => (StatusCode::OK, Json(id)).into_response(),
        Err(refusal) => refused(&refusal).into_response(),
    }
}

/// A refused scan as a problem: `422` with the refusal's code and every field it had as a
/// plain answer (`source`, `message_es`, `message_en`, `at`; `detail` when it has one).
fn refused(r: &crate::identify::ScanRefusal) -> ApiError {
    let detail = r.detail.clone().unwrap_or_else(|| r.message_en.to_owned());
    ApiError::from(
        Problem::refusal(422, "Scan refused", r.code.code(), detail)
            .with("source", r.source.as_str())
            .with("message_es", r.message_es)
            .with("message_en", r.message_en)
            .with("at", r.at),
    )
}

/// Runs one scan through the pipeline on a blocking thread and publishes the outcome.
pub async fn identify_scan(
    state: &Till,
    scan: String,
    source: String,
) -> Result<Identification, crate::identify::ScanRefusal> {
    let identifier = state.identifier.clone();
    let src = source.clone();
    let outcome = tokio::task::spawn_blocking(move || identifier.identify(&scan, &src))
        .await
        .unwrap_or_else(|e| {
            tracing::error!(error = %e, "identification task failed");
            Err(crate::identify::unreadable(
                &source,
                "internal error".to_owned(),
                0,
            ))
        });
    match &outcome {
        Ok(id) => state
            .bus
            .publish(AgentEvent::Identified(Box::new(id.clone()))),
        Err(r) => state.bus.publish(AgentEvent::Refused(r.clone())),
    }
    outcome
}

/// The till's events as Server-Sent Events (`text/event-stream`), for a POS that shows
/// what the scanner read without asking. Each event's `event:` is its type and its
/// `data:` one line of JSON, whose `type` member is the event's type again:
///
/// - `identified`: a scan identified a customer, gift card or voucher — the same object
///   as `POST /v1/identify`'s `200` answer;
/// - `refused`: a scan was refused — `{source, code, detail, message_es, message_en, at}`,
///   `code` one of the scan refusal codes of the `Problem` schema;
/// - `scanner_connected` `{device, path}`, `scanner_disconnected` `{device, reason}`,
///   `scanner_error` `{device, message, hint}`: a scanner's state;
/// - `sale_closed` `{sale_id, net, customer}`: a sale was committed (`net` in minor
///   units, `customer` masked);
/// - `sync_state` `{online, earn_only, detail}`: the conversation with central changed.
///
/// Comments (`:`) keep the connection alive. A slow client misses old events rather
/// than slowing the till down.
#[utoipa::path(get, path = "/v1/events", tag = "identify",
    responses((status = 200, description = "The stream of events", content_type = "text/event-stream", body = String)),
    security(("bearer" = [])))]
pub(crate) async fn events(
    State(bus): State<Bus>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let stream = BroadcastStream::new(bus.subscribe()).filter_map(|item| {
        let event = item.ok()?;
        let name = event.name();
        let data = serde_json::to_string(&event).ok()?;
        Some(Ok(Event::default().event(name).data(data)))
    });
    Sse::new(stream).keep_alive(KeepAlive::default())
}

#[derive(Debug, Serialize)]
struct Status {
    version: &'static str,
    ready: bool,
    reasons: Vec<String>,
    trust_list_sequence: Option<u64>,
    clock_skew_secs: u64,
    /// Events waiting for central (central's rejections are not waiting).
    outbox_depth: i64,
    oldest_unsynced_at: Option<i64>,
    /// Events central rejected, kept in the outbox.
    rejected_events: i64,
    /// The newest of them, with central's reason.
    rejected: Vec<journal::Rejected>,
    current_customer: Option<Identification>,
    scanners: BTreeMap<String, DeviceStatus>,
}

/// The till's state: readiness, outbox (waiting and rejected), current customer, scanners.
#[utoipa::path(get, path = "/v1/status", tag = "identify",
    responses((status = 200, description = "The state", body = Object)),
    security(("bearer" = [])))]
pub(crate) async fn status(State(state): State<Till>) -> Response {
    let facts = state.clone();
    let Ok((r, (depth, oldest), rejected)) = tokio::task::spawn_blocking(move || {
        let r = readiness(&facts);
        let conn = facts.store.conn();
        let depth = journal::depth(&conn).unwrap_or((0, None));
        let rejected = journal::rejected(&conn, 10).unwrap_or_default();
        (r, depth, rejected)
    })
    .await
    else {
        return ApiError::new(ErrorCode::InternalError, "the status could not be read")
            .into_response();
    };
    let scanners = state.devices.lock().map(|d| d.clone()).unwrap_or_default();
    Json(Status {
        version: env!("CARGO_PKG_VERSION"),
        ready: r.ready,
        reasons: r.reasons,
        trust_list_sequence: r.trust_list_sequence,
        clock_skew_secs: state.clock.skew_secs(),
        outbox_depth: depth,
        oldest_unsynced_at: oldest,
        rejected_events: r.rejected_events,
        rejected,
        current_customer: state.identifier.slot().current(),
        scanners,
    })
    .into_response()
}
