//! What one client can cost central: the [`Limits`] the listener and the handlers keep,
//! and [`Limited`], the body extractor that reads a route's body only up to that route's
//! real maximum, within a deadline, and — for large bodies — only while holding one of a
//! bounded number of permits.
//!
//! Routes that need a caller's identity check it before they read: the admin guard runs
//! before any admin body is read, and a till request's signature headers, its time window
//! and its till are checked before its body is read ([`super::signed`]).

use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{FromRequest, Request};
use axum::http::{HeaderMap, header};
use http_body_util::{BodyExt, LengthLimitError};
use tillpass_protocol::problem::ErrorCode;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::{AppState, Problem};

/// Bodies up to this size are read without a permit: their memory is bounded by the
/// number of connections. Larger ones (journal batches, catalogs) need one.
pub const SMALL_BODY_BYTES: usize = 64 * 1024;

/// The largest admin JSON body (customers, gift cards, promotions, policy…).
pub const MAX_ADMIN_JSON_BYTES: usize = 64 * 1024;

/// The largest request head (request line and headers) a connection may send; hyper's
/// read buffer never grows beyond it.
pub const MAX_HEAD_BYTES: usize = 16 * 1024;

/// Connection and body limits. [`Limits::default`] suits a central facing the internet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Connections served at once; further clients wait in the listen backlog. Lowered at
    /// start to what the process's open-file limit allows.
    pub max_connections: usize,
    /// How long a client has to send a complete request head, from the moment central
    /// waits for one: on a new connection, and between two requests of a kept-alive one
    /// (which is how idle kept-alive connections end). A TLS handshake has as long.
    pub header_timeout: Duration,
    /// A connection that moves no byte either way for this long is closed (a stalled
    /// body, a client that stops reading the answer).
    pub idle_timeout: Duration,
    /// How long reading a whole body may take (`408` after it).
    pub body_timeout: Duration,
    /// How long a large body waits for a permit (`503` with `Retry-After` after it).
    pub permit_wait: Duration,
    /// Bodies larger than [`SMALL_BODY_BYTES`] (by their declared length; without one, a
    /// route's that takes more) read or processed at once.
    pub large_bodies_in_flight: usize,
    /// Each till's share of this node ([`super::quota`]).
    pub per_till: super::quota::TillRate,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_connections: 4096,
            header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            body_timeout: Duration::from_secs(60),
            permit_wait: Duration::from_secs(5),
            large_bodies_in_flight: 8,
            per_till: super::quota::TillRate::default(),
        }
    }
}

/// The permits for large bodies, shared by every handler.
#[derive(Debug, Clone)]
pub(crate) struct BodyPermits(Arc<Semaphore>);

impl BodyPermits {
    pub(crate) fn new(limits: &Limits) -> BodyPermits {
        BodyPermits(Arc::new(Semaphore::new(
            limits.large_bodies_in_flight.max(1),
        )))
    }
}

/// A request body read in full, at most `MAX` bytes. Holds its permit (if it needed one)
/// until the handler is done with it, so parsed copies count too.
#[derive(Debug)]
pub struct Limited<const MAX: usize> {
    /// The body.
    pub bytes: Bytes,
    /// Its declared `Content-Type`, if any.
    pub content_type: Option<String>,
    _permit: Option<OwnedSemaphorePermit>,
}

impl<const MAX: usize> FromRequest<AppState> for Limited<MAX> {
    type Rejection = Problem;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, Problem> {
        let (parts, body) = request.into_parts();
        read_body(state, &parts.headers, body).await
    }
}

/// Reads `body` under the route's maximum `MAX`, the state's deadline and permits.
pub(crate) async fn read_body<const MAX: usize>(
    state: &AppState,
    headers: &HeaderMap,
    body: Body,
) -> Result<Limited<MAX>, Problem> {
    let declared = declared_length(headers)?;
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    if declared.is_some_and(|length| length > MAX) {
        return Err(too_large(MAX));
    }
    if declared == Some(0)
        || (declared.is_none() && !headers.contains_key(header::TRANSFER_ENCODING))
    {
        return Ok(Limited {
            bytes: Bytes::new(),
            content_type,
            _permit: None,
        });
    }
    let permit = if is_large::<MAX>(declared) {
        let semaphore = state.bodies.0.clone();
        match tokio::time::timeout(state.limits.permit_wait, semaphore.acquire_owned()).await {
            Ok(Ok(permit)) => Some(permit),
            Ok(Err(_)) | Err(_) => return Err(busy()),
        }
    } else {
        None
    };
    let deadline = tokio::time::Instant::now() + state.limits.body_timeout;
    let collected = http_body_util::Limited::new(body, MAX).collect();
    match tokio::time::timeout_at(deadline, collected).await {
        Ok(Ok(collected)) => Ok(Limited {
            bytes: collected.to_bytes(),
            content_type,
            _permit: permit,
        }),
        Ok(Err(e)) if e.is::<LengthLimitError>() => Err(too_large(MAX)),
        Ok(Err(_)) => Err(Problem::new(
            ErrorCode::UnreadableBody,
            "the request body could not be read",
        )),
        Err(_) => Err(Problem::new(
            ErrorCode::BodyTimeout,
            "the request body did not arrive in time",
        )),
    }
}

/// Whether a body needs a permit: one that may be larger than [`SMALL_BODY_BYTES`] —
/// declared so, or of undeclared length on a route that takes more. A small body on a
/// route that takes large ones (a one-sale journal upload) is not held up by the large
/// ones in flight: its memory is bounded by the number of connections, as any small
/// body's.
fn is_large<const MAX: usize>(declared: Option<usize>) -> bool {
    MAX > SMALL_BODY_BYTES && declared.is_none_or(|length| length > SMALL_BODY_BYTES)
}

/// The `Content-Length`, if declared; a malformed one is refused.
fn declared_length(headers: &HeaderMap) -> Result<Option<usize>, Problem> {
    let Some(value) = headers.get(header::CONTENT_LENGTH) else {
        return Ok(None);
    };
    value
        .to_str()
        .ok()
        .and_then(|v| v.trim().parse::<usize>().ok())
        .map(Some)
        .ok_or_else(|| Problem::new(ErrorCode::UnreadableBody, "malformed Content-Length"))
}

fn too_large(max: usize) -> Problem {
    Problem::new(
        ErrorCode::BodyTooLarge,
        format!("this endpoint takes at most {max} bytes"),
    )
}

/// `503` (with `Retry-After`): central is at its limit of large bodies in flight.
fn busy() -> Problem {
    Problem::new(ErrorCode::Busy, "central is busy; retry shortly")
}

#[cfg(test)]
mod tests {
    use super::{SMALL_BODY_BYTES, is_large};

    const BIG_ROUTE: usize = 4 * SMALL_BODY_BYTES;

    #[test]
    fn a_permit_goes_by_the_body_not_the_route() {
        assert!(!is_large::<BIG_ROUTE>(Some(300)));
        assert!(!is_large::<BIG_ROUTE>(Some(SMALL_BODY_BYTES)));
        assert!(is_large::<BIG_ROUTE>(Some(SMALL_BODY_BYTES + 1)));
        // Without a declared length, the route's maximum decides.
        assert!(is_large::<BIG_ROUTE>(None));
        assert!(!is_large::<SMALL_BODY_BYTES>(None));
    }
}
