//! The HTTP API: [`router`] builds it, [`serve`] (plain HTTP) and [`serve_tls`] run it on a
//! bound listener until a shutdown future completes.
//!
//! - [`till`]: what tills call — enrolment (`POST /v1/enrol`, by one-time code), and,
//!   signed with the till key, journal upload, deltas, trust list and catalog (ETag).
//! - [`signed`]: a till's signed request, authenticated before its body is read; a write
//!   keeps its nonce against replays, a read does not and writes nothing.
//! - [`round`]: the sync round in one signed request (`POST /v1/sync/round`), answered
//!   from the per-stream delta pages; an idle round writes nothing.
//! - [`quota`]: each till's token bucket on this node (`429 rate_limited`).
//! - [`seen`]: the tills' last-seen notes (at most once a minute per till and node),
//!   written off the request path, many tills in one statement.
//! - the WhatsApp webhook and its admin routes: [`crate::whatsapp::routes`].
//! - [`admin`]: what administrators and the WhatsApp bot call with the admin bearer token
//!   (checked before any body is read) — customers, gift cards, personal promotions,
//!   erasure, enrolment codes, passes, catalogs, keys, revocations, flags, offline policy.
//! - [`limits`]: [`Limits`] (connections, timeouts, large bodies in flight) and the body
//!   extractor that reads a route's body up to its real maximum.
//! - [`server`]: the listener loop that keeps the connection limits and timeouts.
//! - [`tls`]: the TLS acceptor from PEM certificate and key files.
//! - [`problem`]: errors as `application/problem+json`, with a stable `code` of
//!   [`ErrorCode`](tillpass_protocol::problem::ErrorCode) — every answer that is not a
//!   success, unknown paths (`404`) and methods (`405`) included.
//! - [`extract`]: path, query and JSON-body extractors that refuse with a problem.
//!
//! - here: the router, `GET /livez` (the process answers; no database), `GET /readyz`
//!   (the database answers within a short budget and its schema is at this build's
//!   version; else `503 database_unavailable` or `not_ready`), `GET /metrics` ([`crate::metrics`]; on this listener
//!   unless [`AppState::with_metrics_elsewhere`], then on [`serve_ops`]'s), and the
//!   middleware that counts and times every answer by route kind.
//!
//! Every answer, errors and `304` included, carries the signed server time header
//! (`Tillpass-Server-Time`), echoing the request's `Tillpass-Nonce` when it had one.
//!
//! **Backpressure.** A unit of work that gets no database connection within the
//! [`Budget`](crate::storage::Budget)'s wait (PostgreSQL's pool saturated, SQLite's one
//! connection queued past it) is answered `503 busy` with `Retry-After` before any
//! transaction began; so is a large body that gets no permit ([`limits`]). Tills back off
//! at least that long, with jitter.

pub mod admin;
pub mod extract;
pub mod limits;
pub mod problem;
pub mod quota;
pub mod round;
pub(crate) mod seen;
pub(crate) mod server;
pub mod signed;
pub mod till;
pub mod tls;

use std::future::Future;
use std::sync::{Arc, RwLock};

use axum::Router;
use axum::extract::{Request, State};
use axum::http::HeaderValue;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use ed25519_dalek::SigningKey;
use tillpass_protocol::problem::ErrorCode;
use tillpass_protocol::sync::{HEADER_NONCE, HEADER_SERVER_TIME, RequestNonce, ServerTime};

use crate::auth::AdminToken;
use crate::clock::Clock;
use crate::error::Result;
use crate::keys::{self, KeyDir, Purpose};
use crate::metrics::Metrics;
use crate::storage::Database;
use tillpass_protocol::trust::KeyId;

pub use limits::Limits;
pub use problem::Problem;
pub use tokio_rustls::TlsAcceptor;

/// How long the server keeps using the sync key it knows before asking the database
/// which key is active: a rotation made by the CLI or by another node is picked up within
/// this time, on every node; one made over this node's HTTP at once. The secret is read
/// from the key directory only when the active key changes.
pub const SYNC_KEY_TTL_SECS: i64 = 5;

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    /// The database, whichever backend holds it.
    pub db: Database,
    /// The key directory.
    pub keys: KeyDir,
    /// The admin bearer token; the admin API answers 401 to everyone without one.
    pub admin: Option<AdminToken>,
    /// The clock.
    pub clock: Clock,
    /// How far a till request's timestamp may be from the clock, in seconds.
    pub window_secs: u64,
    /// Connection and body limits.
    pub limits: Limits,
    /// The WhatsApp channel, when configured.
    pub whatsapp: Option<crate::whatsapp::Channel>,
    /// The server's metrics.
    pub metrics: Metrics,
    /// Whether `/metrics` is served by [`router`] (else only by [`ops_router`]).
    metrics_here: bool,
    /// How often the metrics' queried gauges are refreshed.
    refresh_every: std::time::Duration,
    bodies: limits::BodyPermits,
    sync_key: Arc<RwLock<Option<CachedKey>>>,
    quotas: quota::Quotas,
    seen: seen::SeenTills,
    published: crate::published::Held,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("window_secs", &self.window_secs)
            .finish_non_exhaustive()
    }
}

impl AppState {
    /// The state of a server over `db` and `keys`.
    pub fn new(
        db: impl Into<Database>,
        keys: KeyDir,
        admin: Option<AdminToken>,
        clock: Clock,
    ) -> AppState {
        AppState {
            db: db.into(),
            keys,
            admin,
            clock,
            window_secs: tillpass_protocol::sync::DEFAULT_WINDOW_SECS,
            limits: Limits::default(),
            whatsapp: None,
            metrics: Metrics::default(),
            metrics_here: true,
            refresh_every: crate::metrics::refresh::EVERY,
            bodies: limits::BodyPermits::new(&Limits::default()),
            sync_key: Arc::new(RwLock::new(None)),
            quotas: quota::Quotas::new(Limits::default().per_till),
            seen: seen::SeenTills::default(),
            published: crate::published::Held::default(),
        }
    }

    /// The same state with other limits.
    pub fn with_limits(mut self, limits: Limits) -> AppState {
        self.bodies = limits::BodyPermits::new(&limits);
        self.quotas = quota::Quotas::new(limits.per_till);
        self.limits = limits;
        self
    }

    /// The same state with the WhatsApp channel.
    pub fn with_whatsapp(mut self, channel: crate::whatsapp::Channel) -> AppState {
        self.whatsapp = Some(channel);
        self
    }

    /// The same state, whose `/metrics` is served only by [`ops_router`] (another
    /// listener, `serve --metrics-listen`), not by [`router`].
    pub fn with_metrics_elsewhere(mut self) -> AppState {
        self.metrics_here = false;
        self
    }

    /// The same state, refreshing the metrics' queried gauges every `every`.
    pub fn with_metrics_refresh(mut self, every: std::time::Duration) -> AppState {
        self.refresh_every = every;
        self
    }

    /// Now, by the state's clock.
    pub fn now(&self) -> i64 {
        (self.clock)()
    }

    /// The active sync key, looked up at most every [`SYNC_KEY_TTL_SECS`].
    pub async fn sync_key(&self) -> Result<SigningKey> {
        let now = self.now();
        let cached = self.sync_key.read().ok().and_then(|guard| guard.clone());
        if let Some(cached) = &cached
            && now.saturating_sub(cached.checked_at) < SYNC_KEY_TTL_SECS
        {
            return Ok(cached.key.clone());
        }
        let kid = self
            .db
            .active_kid(Purpose::Sync)
            .await?
            .ok_or_else(|| keys::none_active(Purpose::Sync))?;
        let key = match cached {
            Some(cached) if cached.kid == kid => cached.key,
            _ => self.keys.read(kid)?,
        };
        if let Ok(mut guard) = self.sync_key.write() {
            *guard = Some(CachedKey {
                kid,
                key: key.clone(),
                checked_at: now,
            });
        }
        Ok(key)
    }

    /// Forgets the cached sync key (after a rotation).
    pub fn forget_sync_key(&self) {
        if let Ok(mut guard) = self.sync_key.write() {
            *guard = None;
        }
    }
}

/// The sync key a node uses, and when it last asked the database whether it is active.
#[derive(Clone)]
struct CachedKey {
    kid: KeyId,
    key: SigningKey,
    checked_at: i64,
}

/// The whole API.
pub fn router(state: AppState) -> Router {
    let mut router = Router::new()
        .route("/livez", get(livez))
        .route("/readyz", get(readyz));
    if state.metrics_here {
        router = router.route("/metrics", get(metrics));
    }
    router
        .merge(till::routes())
        .merge(admin::routes(state.clone()))
        .merge(crate::whatsapp::routes::webhook(&state))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn_with_state(state.clone(), server_time))
        .layer(middleware::from_fn_with_state(state.clone(), observe))
        .with_state(state)
}

/// What central IT's own network sees (`serve --metrics-listen`): `/metrics`, `/livez`
/// and `/readyz`.
pub fn ops_router(state: AppState) -> Router {
    Router::new()
        .route("/livez", get(livez))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn_with_state(state.clone(), observe))
        .with_state(state)
}

/// Serves `router(state)` over plain HTTP on `listener`, within `state.limits`, until
/// `shutdown` completes, then drains. Refreshes the metrics' queried gauges meanwhile.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let limits = state.limits;
    let served = server::run(listener, router(state.clone()), limits, None, shutdown);
    with_background(served, state).await
}

/// [`serve`] over TLS ([`tls::acceptor`]).
pub async fn serve_tls(
    listener: tokio::net::TcpListener,
    state: AppState,
    tls: TlsAcceptor,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let limits = state.limits;
    let served = server::run(listener, router(state.clone()), limits, Some(tls), shutdown);
    with_background(served, state).await
}

/// Serves [`ops_router`] over plain HTTP on `listener` until `shutdown` completes.
pub async fn serve_ops(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let limits = state.limits;
    server::run(listener, ops_router(state), limits, None, shutdown).await
}

/// Runs `served` to its end, meanwhile refreshing the metrics and writing the tills'
/// last-seen notes ([`seen`]); writes the last notes once it has stopped.
async fn with_background(
    served: impl Future<Output = std::io::Result<()>>,
    state: AppState,
) -> std::io::Result<()> {
    let refresh = crate::metrics::refresh::run(state.clone(), state.refresh_every);
    let notes = seen::flush_every(state.seen.clone(), state.db.clone(), seen::FLUSH_EVERY);
    tokio::pin!(served, refresh, notes);
    let result = loop {
        tokio::select! {
            result = &mut served => break result,
            () = &mut refresh => {}
            () = &mut notes => {}
        }
    };
    state.seen.flush(&state.db).await;
    result
}

async fn livez() -> &'static str {
    "ok\n"
}

/// `GET /readyz`: `200` when the database answers within its budget and its schema is at
/// this build's version, else `503` — `database_unavailable`, or `not_ready` naming both
/// versions — (the cause goes to the log), so a balancer sends tills only to nodes that can work.
async fn readyz(State(state): State<AppState>) -> Response {
    match state.db.readiness().await {
        Ok(()) => "ready\n".into_response(),
        Err(reason) => {
            tracing::warn!(%reason, "not ready");
            match reason {
                crate::storage::health::NotReady::Unreachable(_) => Problem::new(
                    ErrorCode::DatabaseUnavailable,
                    "central cannot reach its database in time",
                ),
                schema @ crate::storage::health::NotReady::Schema { .. } => {
                    Problem::new(ErrorCode::NotReady, schema.to_string())
                }
            }
            .into_response()
        }
    }
}

/// `GET /metrics`: [`crate::metrics`]' exposition text.
async fn metrics(State(state): State<AppState>) -> Response {
    let text = state.metrics.render(&state.db);
    (
        [(
            axum::http::header::CONTENT_TYPE,
            crate::metrics::CONTENT_TYPE,
        )],
        text,
    )
        .into_response()
}

/// Counts and times every answer by route kind and status.
async fn observe(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let kind = crate::metrics::route::kind(request.uri().path());
    let started = tokio::time::Instant::now();
    let response = next.run(request).await;
    state
        .metrics
        .observe_request(kind, response.status().as_u16(), started.elapsed());
    response
}

async fn not_found() -> Problem {
    Problem::new(ErrorCode::NotFound, "no such endpoint")
}

async fn method_not_allowed() -> Problem {
    Problem::new(
        ErrorCode::MethodNotAllowed,
        "this endpoint does not take this method",
    )
}

/// Adds the signed server time to every answer.
async fn server_time(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let nonce = request
        .headers()
        .get(HEADER_NONCE)
        .and_then(|v| v.to_str().ok())
        .and_then(|t| t.parse::<RequestNonce>().ok());
    let mut response = next.run(request).await;
    match state.sync_key().await {
        Ok(key) => {
            let time = ServerTime::sign(state.now(), nonce, &key);
            if let Ok(value) = HeaderValue::from_str(&time.to_header_value()) {
                response.headers_mut().insert(HEADER_SERVER_TIME, value);
            }
        }
        Err(e) => tracing::error!(error = %e, "cannot sign the server time"),
    }
    response
}

/// `GET /v1/time`: the signed server time as a JSON body.
pub(crate) async fn time(
    State(state): State<AppState>,
    headers: axum::http::HeaderMap,
) -> Response {
    let nonce = headers
        .get(HEADER_NONCE)
        .and_then(|v| v.to_str().ok())
        .and_then(|t| t.parse::<RequestNonce>().ok());
    match state.sync_key().await {
        Ok(key) => axum::Json(ServerTime::sign(state.now(), nonce, &key)).into_response(),
        Err(e) => Problem::from(e).into_response(),
    }
}
