//! [`Signed`]: a till's signed request, authenticated before its body is read.
//!
//! In order, each step answering before the next one costs anything:
//! 1. the four signature headers parse (`401`);
//! 2. the timestamp lies within the window and the till is enrolled and not revoked —
//!    one indexed read, no body read yet (`401`, the same answer for an unknown or revoked
//!    till as for a bad signature: [`crate::auth::REFUSED`]);
//! 3. the body is read up to the route's real maximum `MAX` ([`super::limits`]);
//! 4. the signature over method, path, body, timestamp, nonce and till verifies and the
//!    nonce is new (`401`).

use axum::extract::{FromRequest, Request};
use axum::http::HeaderMap;
use tillpass_protocol::sync::{
    HEADER_NONCE, HEADER_SIGNATURE, HEADER_TILL, HEADER_TIMESTAMP, RequestParts, SignedHeaders,
};

use super::limits::{self, Limited};
use super::{AppState, Problem};
use crate::auth;
use crate::enrol::Till;
use crate::error::Error;

/// A verified till request whose body is at most `MAX` bytes.
#[derive(Debug)]
pub struct Signed<const MAX: usize> {
    /// The till that signed it.
    pub till: Till,
    /// Its body.
    pub body: Limited<MAX>,
}

/// A signed request without a body (`GET`).
pub type SignedGet = Signed<0>;

impl<const MAX: usize> FromRequest<AppState> for Signed<MAX> {
    type Rejection = Problem;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, Problem> {
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
        auth::verify_till(&state.db, &till, &request, &headers, now, window).await?;
        Ok(Signed { till, body })
    }
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
