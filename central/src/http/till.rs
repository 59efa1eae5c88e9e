//! The till-facing API.
//!
//! | method | path | auth | body → answer |
//! |---|---|---|---|
//! | `POST` | `/v1/enrol` | one-time code | `EnrolRequest` → `EnrolResponse` |
//! | `POST` | `/v1/journal` | till signature | `UploadBatch` → `BatchAck` |
//! | `POST` | `/v1/sync/round` | till signature (a read) | `RoundRequest` → `RoundAnswer`: every asked stream's news sealed for this request, changed envelopes ([`super::round`]) |
//! | `GET` | `/v1/deltas/{kind}?cursor=&limit=` | till signature (a read) | → `DeltaPage`, or with `Accept: application/cose` the page signed for this request (`application/cose`) |
//! | `GET` | `/v1/trust-list` | till signature (a read) | → envelope (`application/cose`), ETag |
//! | `GET` | `/v1/catalog` | till signature (a read) | → envelope (`application/cose`), ETag |
//! | `POST` | `/v1/lookup` | till signature | `LookupRequest` → `LookupAnswer` |
//! | `GET` | `/v1/time` | none | → `ServerTime` |
//!
//! A signed route reads its body only after the till's headers passed
//! ([`super::signed`]), and at most its real maximum: a journal batch's
//! [`MAX_BATCH_BYTES`], nothing for a `GET`, [`MAX_ENROL_BYTES`] for an enrolment,
//! `MAX_ROUND_BYTES` for a round. A read keeps no nonce and, idle, writes nothing; a
//! write (journal, lookup) keeps its nonce and refuses a replay, a journal upload in its
//! batch's transaction ([`super::signed`]).
//! Every signed request takes a token of its till's quota (`429 rate_limited`).

use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use tillpass_protocol::sync::batch::MAX_BATCH_BYTES;
use tillpass_protocol::sync::lookup::MAX_LOOKUP_BYTES;
use tillpass_protocol::sync::{
    DeltaKind, DeltaQuery, EnrolRequest, HEADER_NONCE, LookupRequest, PageRequest, RequestNonce,
    SIGNED_PAGE_MEDIA_TYPE, paths,
};

use tillpass_protocol::problem::ErrorCode;

use super::extract::{self, ApiPath};
use super::limits::Limited;
use super::signed::{Signed, SignedGet, SignedWrite};
use super::{AppState, Problem};
use crate::envelopes::Published;
use crate::error::Error;
use crate::journal::RawBatch;

/// The largest enrolment request accepted: a code, a key, a version and a host name.
pub const MAX_ENROL_BYTES: usize = 16 * 1024;

/// The till routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route(paths::ENROL, post(enrol_till))
        .route(paths::JOURNAL, post(upload))
        .route("/v1/deltas/{kind}", get(delta))
        .route(paths::TRUST_LIST, get(trust_list))
        .route(paths::CATALOG, get(catalog))
        .route(paths::LOOKUP, post(lookup))
        .route(paths::ROUND, post(super::round::round))
        .route(paths::TIME, get(super::time))
}

async fn enrol_till(
    State(state): State<AppState>,
    body: Limited<MAX_ENROL_BYTES>,
) -> Result<Response, Problem> {
    let request: EnrolRequest = extract::json(body.content_type.as_deref(), &body.bytes)?;
    let response = state.db.enrol(&state.keys, &request, state.now()).await?;
    tracing::info!(till = %response.till, store = %response.store, "till enrolled");
    Ok(Json(response).into_response())
}

async fn upload(
    State(state): State<AppState>,
    request: SignedWrite<MAX_BATCH_BYTES>,
) -> Result<Response, Problem> {
    let batch =
        extract::json::<RawBatch>(request.body.content_type.as_deref(), &request.body.bytes)?;
    drop(request.body);
    let now = state.now();
    let ack = state
        .db
        .ingest_signed(&request.till, &batch, now, &request.nonce)
        .await?;
    let occurred_at: Vec<Option<i64>> = batch
        .events
        .iter()
        .map(|e| e.get("occurred_at").and_then(serde_json::Value::as_i64))
        .collect();
    state.metrics.observe_batch(&ack, &occurred_at, now);
    Ok(Json(ack).into_response())
}

async fn lookup(
    State(state): State<AppState>,
    request: Signed<MAX_LOOKUP_BYTES>,
) -> Result<Response, Problem> {
    let asked: LookupRequest =
        extract::json(request.body.content_type.as_deref(), &request.body.bytes)?;
    let now = state.now();
    let answer = state.db.lookup(&asked, now).await?;
    if answer.found {
        // The asking store's scope grows by what it met (`crate::scope`); the answer
        // stands even when that cannot be recorded now.
        if let Err(e) = state
            .db
            .see_lookup(asked.kind, asked.subject.as_str(), &request.till.store, now)
            .await
        {
            tracing::warn!(error = %e, store = %request.till.store, "a lookup's scope was not recorded");
        }
    }
    Ok(Json(answer).into_response())
}

async fn delta(
    State(state): State<AppState>,
    ApiPath(kind): ApiPath<String>,
    uri: Uri,
    headers: HeaderMap,
    request: SignedGet,
) -> Result<Response, Problem> {
    let kind = DeltaKind::from_segment(&kind).ok_or(Error::NotFound("delta kind"))?;
    let Query(query) = Query::<DeltaQuery>::try_from_uri(&uri)
        .map_err(|e| Problem::new(ErrorCode::BadQuery, e.body_text()))?;
    let sync_key = state.sync_key().await?;
    let now = state.now();
    let till = request.till;
    if !wants_signed_page(&headers) {
        // A till of an earlier version: the page as bare JSON.
        let page = state
            .db
            .delta_page(kind, &query, &till.store, &sync_key, now)
            .await?;
        state.metrics.observe_delta_items(kind, page.len());
        return Ok(Json(page).into_response());
    }
    let nonce = headers
        .get(HEADER_NONCE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<RequestNonce>().ok())
        .ok_or_else(|| Error::Unauthorized("missing request nonce".into()))?;
    let request = PageRequest {
        kind,
        till: till.id.clone(),
        cursor: query.cursor.clone(),
        nonce,
    };
    let (sealed, items) = state
        .db
        .signed_delta_page_counted(&request, &query, &till.store, &sync_key, now)
        .await?;
    state.metrics.observe_delta_items(kind, items);
    let mut response = sealed.into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(SIGNED_PAGE_MEDIA_TYPE),
    );
    Ok(response)
}

/// Whether the till asked for a signed page (`Accept: application/cose`).
fn wants_signed_page(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|m| m.split(';').next())
        .any(|m| m.trim().eq_ignore_ascii_case(SIGNED_PAGE_MEDIA_TYPE))
}

async fn trust_list(
    State(state): State<AppState>,
    headers: HeaderMap,
    _request: SignedGet,
) -> Result<Response, Problem> {
    let published = state.db.trust_list(&state.keys, state.now()).await?;
    Ok(envelope_response(&headers, &published))
}

async fn catalog(
    State(state): State<AppState>,
    headers: HeaderMap,
    _request: SignedGet,
) -> Result<Response, Problem> {
    let published = state
        .db
        .current_catalog(&state.keys, state.now())
        .await?
        .ok_or(Error::NotFound("active catalog"))?;
    Ok(envelope_response(&headers, &published))
}

/// `200` with the envelope, or `304` when `If-None-Match` names its ETag.
pub fn envelope_response(headers: &HeaderMap, published: &Published) -> Response {
    let etag = HeaderValue::from_str(&published.etag).ok();
    let matches = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(',')
                .map(|t| t.trim().trim_start_matches("W/"))
                .any(|t| t == "*" || t == published.etag)
        });
    let mut response = if matches {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        let mut r = published.envelope.clone().into_response();
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/cose"),
        );
        r
    };
    if let Some(etag) = etag {
        response.headers_mut().insert(header::ETAG, etag);
    }
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}
