//! [`Signed`] and [`SignedRead`]: a till's signed request, authenticated before its body is
//! read.
//!
//! In order, each step answering before the next one costs anything:
//! 1. the four signature headers parse (`401`);
//! 2. the timestamp lies within the window and the till is enrolled and not revoked —
//!    one indexed read, no body read yet (`401`, the same answer for an unknown or revoked
//!    till as for a bad signature: [`crate::auth::REFUSED`]);
//! 3. the body is read up to the route's real maximum `MAX` ([`super::limits`]);
//! 4. the signature over method, path, body, timestamp, nonce and till verifies (`401`);
//! 5. the till's quota on this node has a token left ([`super::quota`]: `429
//!    rate_limited` with `Retry-After`);
//! 6. a write keeps its nonce, and a nonce seen before is refused as a replay (`401`):
//!    a lookup ([`Signed`]) before it is answered, a journal upload ([`SignedWrite`]) in
//!    its batch's own transaction; a read ([`SignedRead`]: sync rounds, delta pages,
//!    trust list, catalog) keeps nothing — an idle read writes nothing ([`crate::auth`],
//!    "Replays").
//!
//! Every verified request notes its till as seen; the notes reach `last_seen_at` off the
//! request path, at most once a minute per till ([`super::seen`]).

use axum::extract::{FromRequest, Request};
use axum::http::HeaderMap;
use tillpass_protocol::problem::ErrorCode;
use tillpass_protocol::sync::{
    HEADER_NONCE, HEADER_SIGNATURE, HEADER_TILL, HEADER_TIMESTAMP, RequestNonce, RequestParts,
    SignedHeaders, VerifiedRequest,
};

use super::limits::{self, Limited};
use super::{AppState, Problem};
use crate::auth::{self, KeptNonce};
use crate::enrol::Till;
use crate::error::Error;

/// A verified till request whose body is at most `MAX` bytes, whose replay would change
/// state: its nonce is kept, and a replay refused.
#[derive(Debug)]
pub struct Signed<const MAX: usize> {
    /// The till that signed it.
    pub till: Till,
    /// Its body.
    pub body: Limited<MAX>,
}

/// A verified till request whose replay would change state, whose handler keeps its
/// nonce in the write's own transaction (a journal upload:
/// [`crate::storage::Database::ingest_signed`]), so the request commits once.
#[derive(Debug)]
pub struct SignedWrite<const MAX: usize> {
    /// The till that signed it.
    pub till: Till,
    /// Its body.
    pub body: Limited<MAX>,
    /// Its nonce, for the write to keep (a replay is refused there).
    pub nonce: KeptNonce,
}

/// A verified till request that changes nothing: its nonce is not kept (the answer is
/// bound to it instead, where the answer is signed).
#[derive(Debug)]
pub struct SignedRead<const MAX: usize> {
    /// The till that signed it.
    pub till: Till,
    /// Its body.
    pub body: Limited<MAX>,
    /// The request's nonce.
    pub nonce: RequestNonce,
}

/// A signed read without a body (`GET`).
pub type SignedGet = SignedRead<0>;

impl<const MAX: usize> FromRequest<AppState> for Signed<MAX> {
    type Rejection = Problem;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, Problem> {
        let (till, body, verified) = authenticate::<MAX>(request, state).await?;
        let nonce = KeptNonce::of(&till, &verified, state.window_secs);
        auth::record_nonce(&state.db, &nonce, state.now()).await?;
        Ok(Signed { till, body })
    }
}

impl<const MAX: usize> FromRequest<AppState> for SignedWrite<MAX> {
    type Rejection = Problem;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, Problem> {
        let (till, body, verified) = authenticate::<MAX>(request, state).await?;
        let nonce = KeptNonce::of(&till, &verified, state.window_secs);
        Ok(SignedWrite { till, body, nonce })
    }
}

impl<const MAX: usize> FromRequest<AppState> for SignedRead<MAX> {
    type Rejection = Problem;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, Problem> {
        let (till, body, verified) = authenticate::<MAX>(request, state).await?;
        Ok(SignedRead {
            till,
            body,
            nonce: verified.nonce,
        })
    }
}

/// Steps 1 to 5: the till, its body and the verified request; the till noted as seen.
async fn authenticate<const MAX: usize>(
    request: Request,
    state: &AppState,
) -> Result<(Till, Limited<MAX>, VerifiedRequest), Problem> {
    let (parts, body) = request.into_parts();
    let headers = signature_headers(&parts.headers)?;
    let (now, window) = (state.now(), state.window_secs);
    let till = auth::precheck_till(&state.db, &headers, now, window).await?;
    let body = limits::read_body::<MAX>(state, &parts.headers, body).await?;
    let path = parts
        .uri
        .path_and_query()
        .map_or_else(|| parts.uri.path().to_owned(), |p| p.as_str().to_owned());
    let request = RequestParts {
        method: parts.method.as_str(),
        path_and_query: &path,
        body: &body.bytes,
    };
    let verified = auth::verify_signature(&till, &request, &headers, now, window)?;
    if let Err(wait) = state
        .quotas
        .take(till.id.as_str(), tokio::time::Instant::now())
    {
        tracing::warn!(till = %till.id, retry_after = wait, "till over its request quota");
        return Err(Problem::new(
            ErrorCode::RateLimited,
            "this till sent too many requests; retry after the time given",
        )
        .with_retry_after(wait));
    }
    state.seen.note(till.id.as_str(), now);
    Ok((till, body, verified))
}

fn signature_headers(headers: &HeaderMap) -> Result<SignedHeaders, Problem> {
    let get = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    SignedHeaders::from_headers(
        get(HEADER_TILL),
        get(HEADER_TIMESTAMP),
        get(HEADER_NONCE),
        get(HEADER_SIGNATURE),
    )
    .map_err(|e| Problem::from(Error::Unauthorized(e.to_string())))
}
