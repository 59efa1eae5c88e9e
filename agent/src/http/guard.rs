//! What every `/v1` route goes through before its handler reads anything, as route layers
//! of the API's router (a route added to it cannot forget them):
//!
//! 1. [`require_token`]: the bearer token, checked before the body is read — a client
//!    without it never gets a byte of its body buffered;
//! 2. [`limit_bodies`]: at most [`BODIES_IN_FLIGHT`] requests with a body read at once; one
//!    more waits up to [`BODY_WAIT`] for its turn, then gets `503` with code `busy`.
//!
//! Each route's own body limit (`DefaultBodyLimit`) is its real maximum, so the memory
//! bodies take is bounded by `BODIES_IN_FLIGHT × the largest limit`.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{Method, header};
use axum::middleware::Next;
use axum::response::Response;
use tokio::sync::Semaphore;

use axum::response::IntoResponse;
use tillpass_protocol::problem::ErrorCode;

use super::{ApiError, AppState, authorised};

/// Requests with a body being read at once, at most.
pub const BODIES_IN_FLIGHT: usize = 16;
/// How long a request with a body waits for its turn.
pub const BODY_WAIT: Duration = Duration::from_secs(5);

/// Refuses a request without the till's bearer token before anything else is read.
pub async fn require_token(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    match authorised(&state, request.headers()) {
        Ok(()) => next.run(request).await,
        Err(refused) => refused.into_response(),
    }
}

fn has_body(request: &Request) -> bool {
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    match declared {
        Some(n) => n > 0,
        None => {
            request.headers().contains_key(header::TRANSFER_ENCODING)
                || !matches!(
                    *request.method(),
                    Method::GET | Method::HEAD | Method::DELETE
                )
        }
    }
}

/// Holds one of [`BODIES_IN_FLIGHT`] permits while a request with a body is handled.
pub async fn limit_bodies(
    State(permits): State<Arc<Semaphore>>,
    request: Request,
    next: Next,
) -> Response {
    if !has_body(&request) {
        return next.run(request).await;
    }
    match tokio::time::timeout(BODY_WAIT, permits.acquire_owned()).await {
        Ok(Ok(_permit)) => next.run(request).await,
        _ => ApiError::new(
            ErrorCode::Busy,
            "too many requests with a body at once; retry shortly",
        )
        .into_response(),
    }
}
