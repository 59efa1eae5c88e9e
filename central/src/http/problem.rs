//! Errors as `application/problem+json` (RFC 9457) with a stable `code`. Internal failures
//! are logged in full and answered with a generic text: no SQL, path or key ever reaches a
//! caller. Contention (the database busy beyond its timeout and retries, too many bodies in
//! flight) is `503 busy` with `Retry-After`, never a `500`.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::error::Error;

/// An HTTP error answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The status.
    pub status: StatusCode,
    /// A short, stable summary of the kind of problem.
    pub title: &'static str,
    /// What went wrong with this request, safe to show.
    pub detail: String,
    /// The stable code, when it is not the title in snake case.
    pub code: Option<&'static str>,
}

#[derive(Serialize)]
struct Body<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    title: &'static str,
    status: u16,
    code: &'a str,
    detail: &'a str,
}

impl Problem {
    /// A problem with this status, title and detail.
    pub fn new(status: StatusCode, title: &'static str, detail: impl Into<String>) -> Problem {
        Problem {
            status,
            title,
            detail: detail.into(),
            code: None,
        }
    }

    /// The same problem with its own stable code.
    pub fn with_code(mut self, code: &'static str) -> Problem {
        self.code = Some(code);
        self
    }

    /// The stable code: the one given, or the title in snake case.
    pub fn code(&self) -> String {
        match self.code {
            Some(code) => code.to_owned(),
            None => self.title.replace(' ', "_"),
        }
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let code = self.code();
        let body = Body {
            kind: "about:blank",
            title: self.title,
            status: self.status.as_u16(),
            code: &code,
            detail: &self.detail,
        };
        let text = serde_json::to_string(&body).unwrap_or_default();
        let mut response = (self.status, text).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        response
    }
}

impl From<Error> for Problem {
    fn from(error: Error) -> Problem {
        match error {
            Error::Invalid(detail) => {
                Problem::new(StatusCode::BAD_REQUEST, "invalid request", detail)
            }
            Error::NotFound(what) => Problem::new(
                StatusCode::NOT_FOUND,
                "not found",
                format!("{what} not found"),
            ),
            Error::Conflict(detail) => Problem::new(StatusCode::CONFLICT, "conflict", detail),
            Error::Unauthorized(detail) => {
                Problem::new(StatusCode::UNAUTHORIZED, "unauthorized", detail)
            }
            Error::Catalog(detail) => {
                Problem::new(StatusCode::UNPROCESSABLE_ENTITY, "catalog refused", detail)
            }
            other if other.is_busy() => {
                tracing::warn!(error = %other, "database busy");
                Problem::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "busy",
                    "central is busy; retry shortly",
                )
            }
            other => {
                tracing::error!(error = %other, "request failed");
                Problem::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal error",
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
        assert!(!body.to_string().contains("locked"), "{body}");
    }

    #[test]
    fn every_problem_has_a_stable_code() {
        let problem = Problem::new(StatusCode::NOT_FOUND, "not found", "no such endpoint");
        assert_eq!(problem.code(), "not_found");
        assert_eq!(problem.with_code("gone").code(), "gone");
    }
}
