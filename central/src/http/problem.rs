//! Errors as `application/problem+json` (RFC 9457): [`Problem`] wraps the protocol's
//! [`tillpass_protocol::problem::Problem`] with a stable code of
//! [`ErrorCode`], and answers it. Internal failures are logged in full and answered with a
//! generic text: no SQL, path or key ever reaches a caller. Contention (the database busy
//! beyond its timeout and retries, too many bodies in flight) is `503 busy` with
//! `Retry-After`, never a `500`.
//!
//! The router's fallbacks answer unknown paths (`404 not_found`) and methods (`405
//! method_not_allowed`) the same way, and the extractors of [`super::extract`] refuse
//! path, query and body with problems too.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tillpass_protocol::problem::{self, ErrorCode};

use crate::error::Error;

/// An HTTP error answer (boxed: results stay small on the happy path).
#[derive(Debug, Clone, PartialEq)]
pub struct Problem(Box<problem::Problem>);

impl Problem {
    /// A problem with `code`'s status and title, and this detail.
    pub fn new(code: ErrorCode, detail: impl Into<String>) -> Problem {
        let mut p = problem::Problem::new(code, detail);
        if code == ErrorCode::Busy {
            p = p.with_retry_after(1);
        }
        Problem(Box::new(p))
    }

    /// The same problem asking the client to wait `secs` (`Retry-After`).
    pub fn with_retry_after(mut self, secs: u64) -> Problem {
        self.0.retry_after = Some(secs);
        self
    }

    /// The same problem naming the field at fault.
    pub fn with_field(mut self, field: impl Into<String>) -> Problem {
        self.0.field = Some(field.into());
        self
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        StatusCode::from_u16(self.0.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    /// The stable code.
    pub fn code(&self) -> &str {
        &self.0.code
    }

    /// The document.
    pub fn document(&self) -> &problem::Problem {
        &self.0
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let mut response = (self.status(), self.0.to_json()).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(problem::MEDIA_TYPE),
        );
        if let Some(secs) = self.0.retry_after
            && let Ok(value) = HeaderValue::from_str(&secs.to_string())
        {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
        response
    }
}

impl From<Error> for Problem {
    fn from(error: Error) -> Problem {
        match error {
            Error::Invalid(detail) => Problem::new(ErrorCode::InvalidRequest, detail),
            Error::NotFound(what) => Problem::new(ErrorCode::NotFound, format!("{what} not found")),
            Error::Conflict(detail) => Problem::new(ErrorCode::Conflict, detail),
            Error::Unauthorized(detail) => Problem::new(ErrorCode::Unauthorized, detail),
            Error::Catalog(detail) => Problem::new(ErrorCode::CatalogRefused, detail),
            Error::NotOnThisBackend(what) => Problem::new(
                ErrorCode::NotOnThisBackend,
                format!("{what} is not available on this database's backend yet"),
            ),
            other if other.is_busy() => {
                tracing::warn!(error = %other, "database busy");
                Problem::new(ErrorCode::Busy, "central is busy; retry shortly")
            }
            other => {
                tracing::error!(error = %other, "request failed");
                Problem::new(
                    ErrorCode::InternalError,
                    "the server could not complete the request; the detail is in its log",
                )
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn contention_is_503_busy_with_retry_after_never_500() {
        let busy = Error::Db(rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_BUSY),
            Some("database is locked".into()),
        ));
        let response = Problem::from(busy).into_response();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers()[header::RETRY_AFTER], "1");
        assert_eq!(
            response.headers()[header::CONTENT_TYPE],
            "application/problem+json"
        );
        let body = axum::body::to_bytes(response.into_body(), 4096)
            .await
            .unwrap();
        let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(body["code"], "busy");
        assert_eq!(body["retry_after"], 1);
        assert!(!body.to_string().contains("locked"), "{body}");
    }

    #[test]
    fn every_error_maps_to_a_code_of_the_enum() {
        for error in [
            Error::invalid("x"),
            Error::NotFound("customer"),
            Error::Conflict("taken".into()),
            Error::Unauthorized("no".into()),
            Error::Catalog("bad".into()),
            Error::internal("oops"),
        ] {
            let problem = Problem::from(error);
            assert!(problem.document().error_code().is_some(), "{problem:?}");
        }
    }
}
