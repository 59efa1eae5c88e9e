//! The sync routes of the local API (bearer token, like every `/v1` route):
//!
//! | method | path | what |
//! |---|---|---|
//! | `POST` | `/v1/admin/catalog[?activates_at=unix]` | central IT pushes a catalog: the body is the signed envelope's bytes (`application/cbor`, `application/cose` or `application/octet-stream`) |
//! | `GET` | `/v1/sync` | the sync status ([`super::SyncSnapshot`]) |
//!
//! A pushed catalog is taken only as a valid signed envelope ([`super::catalogs`]); any
//! refusal answers `application/problem+json` with the reason's stable `code`.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use tillpass_protocol::envelope::EnvelopePurpose;
use tillpass_protocol::problem::{ErrorCode, Problem};

use super::catalogs::{self, CatalogRefusal};
use crate::edge::ApiError;
use crate::edge::extract::{ApiQuery, body_rejection};
use crate::till::{SyncStatus, Till};

/// The routes, to merge into the API's router.
pub fn routes() -> Router<Till> {
    Router::new()
        .route(
            "/v1/admin/catalog",
            post(push_catalog).layer(DefaultBodyLimit::max(EnvelopePurpose::Catalog.max_bytes())),
        )
        .route("/v1/sync", get(status))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PushQuery {
    activates_at: Option<u64>,
}

const ENVELOPE_TYPES: [&str; 3] = [
    "application/cbor",
    "application/cose",
    "application/octet-stream",
];

/// Central IT pushes a signed catalog straight to this till: taken only as a valid signed
/// envelope (catalog-purpose key of the trust list, newer sequence), activated now or at
/// `activates_at`.
#[utoipa::path(post, path = "/v1/admin/catalog", tag = "sync",
    params(("activates_at" = Option<u64>, Query, description = "Activate at this unix time")),
    request_body(content = Vec<u8>, content_type = "application/cbor",
                 description = "The signed COSE_Sign1 catalog envelope, as central publishes it"),
    responses((status = 200, description = "Accepted", body = Object),
              (status = 409, description = "The till is not enrolled (`not_enrolled`)"),
              (status = 415, description = "Not an envelope media type"),
              (status = 422, description = "Refused, with the reason's code; the previous catalog stays")),
    security(("bearer" = [])))]
pub(crate) async fn push_catalog(
    State(state): State<Till>,
    headers: HeaderMap,
    ApiQuery(query): ApiQuery<PushQuery>,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Response {
    let media = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase());
    if !media
        .as_deref()
        .is_some_and(|m| ENVELOPE_TYPES.contains(&m))
    {
        return ApiError::new(
            ErrorCode::UnsupportedMediaType,
            "send the signed catalog envelope's bytes as application/cbor, application/cose \
             or application/octet-stream",
        )
        .into_response();
    }
    let bytes = match body {
        Ok(b) => b,
        Err(e) => return body_rejection(e).into_response(),
    };
    let s = state.clone();
    let outcome = tokio::task::spawn_blocking(move || {
        let now = s.clock.now();
        let policy = s.sync.offline_policy();
        catalogs::install(
            &s.store,
            &s.catalogs,
            now,
            policy.as_ref(),
            &bytes,
            query.activates_at,
        )
    })
    .await;
    match outcome {
        Ok(Ok(installed)) => {
            super::policy::refresh_state(&state);
            state.sync.update(|s| {
                s.catalog_scheduled = installed
                    .activates_at
                    .map(|at| (installed.sequence, at))
                    .or(s.catalog_scheduled);
            });
            state.sync.wake();
            (StatusCode::OK, axum::Json(installed)).into_response()
        }
        Ok(Err(refusal)) => refused(&state, &refusal),
        Err(e) => {
            tracing::error!(error = %e, "catalog install task failed");
            ApiError::new(
                ErrorCode::InternalError,
                "the catalog could not be checked; the previous one stays in force",
            )
            .into_response()
        }
    }
}

fn refused(state: &Till, refusal: &CatalogRefusal) -> Response {
    let code = refusal.code();
    tracing::warn!(
        reason = code,
        error = %refusal,
        source = "admin",
        "catalog refused; the previous catalog stays in force"
    );
    state
        .sync
        .update(|s| s.catalog_refused = Some(format!("{code}: {refusal}")));
    let status = match refusal {
        CatalogRefusal::Store(_) => 503,
        CatalogRefusal::NotEnrolled => 409,
        _ => 422,
    };
    let detail = match refusal {
        // Internals go to the log.
        CatalogRefusal::Store(_) => "the store is unavailable".to_owned(),
        other => other.to_string(),
    };
    ApiError::from(Problem::refusal(status, "Catalog refused", code, detail)).into_response()
}

/// The state of the conversation with central: online, last sync, catalog and trust-list
/// ages, earn-only reason, offline policy.
#[utoipa::path(get, path = "/v1/sync", tag = "sync",
    responses((status = 200, description = "The sync status", body = Object)),
    security(("bearer" = [])))]
pub(crate) async fn status(State(sync): State<Arc<SyncStatus>>) -> Response {
    axum::Json(sync.snapshot()).into_response()
}
