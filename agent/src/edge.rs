//! What every HTTP route of the agent shares, below the routes themselves: the
//! `application/problem+json` answer and the check of the till's bearer token. The POS
//! routes (`http`), the sale API (`sessions`), the sync routes and the dashboard all use
//! it; it uses only the till's state ([`crate::till`]).

use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use subtle::ConstantTimeEq;

use crate::till::Till;

/// An `application/problem+json` answer.
pub fn problem(status: StatusCode, title: &str, detail: &str) -> Response {
    let body = serde_json::json!({
        "type": "about:blank",
        "title": title,
        "status": status.as_u16(),
        "detail": detail,
    });
    (
        status,
        [(header::CONTENT_TYPE, "application/problem+json")],
        body.to_string(),
    )
        .into_response()
}

/// An `application/problem+json` answer with a stable `code`.
pub fn problem_code(status: StatusCode, code: &str, title: &str, detail: &str) -> Response {
    let body = serde_json::json!({
        "type": "about:blank",
        "title": title,
        "status": status.as_u16(),
        "code": code,
        "detail": detail,
    });
    (
        status,
        [(header::CONTENT_TYPE, "application/problem+json")],
        body.to_string(),
    )
        .into_response()
}

#[allow(clippy::result_large_err)] // the error is the response itself
pub(crate) fn authorised(state: &Till, headers: &HeaderMap) -> Result<(), Response> {
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    if bool::from(presented.trim().as_bytes().ct_eq(state.token.as_bytes())) {
        Ok(())
    } else {
        Err(problem_code(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "Unauthorized",
            "present the till's API token as `Authorization: Bearer <token>`",
        ))
    }
}
