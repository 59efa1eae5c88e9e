//! What every HTTP route of the agent shares, below the routes themselves: the
//! `application/problem+json` answer ([`ApiError`], with the cashier's messages of
//! [`messages`]), the request extractors of [`extract`] and the check of the till's bearer
//! token. The POS
//! routes (`http`), the sale API (`sessions`), the sync routes and the dashboard all use
//! it; it uses only what lies below it (the till's state, the store, identification).

pub mod error;
pub mod extract;
pub mod messages;

use axum::http::{HeaderMap, header};
use subtle::ConstantTimeEq;
use tillpass_protocol::problem::ErrorCode;

pub use error::ApiError;

use crate::till::Till;

/// Whether `headers` present the till's API token.
pub(crate) fn authorised(state: &Till, headers: &HeaderMap) -> Result<(), ApiError> {
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    if bool::from(presented.trim().as_bytes().ct_eq(state.token.as_bytes())) {
        Ok(())
    } else {
        Err(ApiError::new(
            ErrorCode::Unauthorized,
            "present the till's API token as `Authorization: Bearer <token>`",
        ))
    }
}
