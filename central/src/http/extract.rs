//! Extractors that refuse with a [`Problem`] (`application/problem+json` with a code of
//! [`ErrorCode`]) instead of axum's plain-text answers:
//!
//! - [`ApiPath`]: path parameters (`400 bad_path`);
//! - [`ApiQuery`]: the query string (`400 bad_query`);
//! - [`json`]: a JSON body already read under its route's limit
//!   ([`Limited`](super::limits::Limited)): a declared `Content-Type` that is not JSON is
//!   `415 unsupported_media_type`, text that is not JSON `400 malformed_json`, JSON the
//!   type refuses (a missing field, a number out of range) `422 invalid` with the field's
//!   path.

use axum::extract::{FromRequestParts, Path, Query};
use axum::http::request::Parts;
use serde::de::{DeserializeOwned, IgnoredAny};
use tillpass_protocol::problem::ErrorCode;

use super::Problem;

/// Path parameters as `T`.
#[derive(Debug)]
pub struct ApiPath<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for ApiPath<T> {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Problem> {
        Path::<T>::from_request_parts(parts, state)
            .await
            .map(|Path(p)| ApiPath(p))
            .map_err(|e| Problem::new(ErrorCode::BadPath, e.body_text()))
    }
}

/// The query string as `T`.
#[derive(Debug)]
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Problem> {
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|Query(q)| ApiQuery(q))
            .map_err(|e| Problem::new(ErrorCode::BadQuery, e.body_text()))
    }
}

/// Whether a declared media type is JSON (`application/json`, `…+json`).
pub fn is_json_media_type(content_type: &str) -> bool {
    let media = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    media == "application/json" || media.ends_with("+json")
}

/// Parses a JSON body declared as `content_type` (none declared: read as JSON).
pub fn json<T: DeserializeOwned>(content_type: Option<&str>, bytes: &[u8]) -> Result<T, Problem> {
    if content_type.is_some_and(|c| !is_json_media_type(c)) {
        return Err(Problem::new(
            ErrorCode::UnsupportedMediaType,
            "send the body as `Content-Type: application/json`",
        ));
    }
    parse(bytes)
}

/// Parses `bytes` as `T`: not JSON is `400 malformed_json`; JSON that `T` refuses is `422
/// invalid` with the path of the field at fault (`body` for the whole).
pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Problem> {
    // `IgnoredAny` checks the syntax without converting numbers: `1e400` is JSON here and
    // out of range below.
    if let Err(e) = serde_json::from_slice::<IgnoredAny>(bytes) {
        return Err(Problem::new(
            ErrorCode::MalformedJson,
            format!("the body is not JSON: {e}"),
        ));
    }
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize::<_, T>(de).map_err(|e| {
        let path = e.path().to_string();
        let field = if path == "." { "body".to_owned() } else { path };
        Problem::new(ErrorCode::Invalid, e.into_inner().to_string()).with_field(field)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Body {
        amount: i64,
    }

    #[test]
    fn json_that_breaks_a_rule_is_422_with_its_path_and_text_that_is_not_json_400() {
        let e = parse::<Body>(br#"{"amount": 1e400}"#).unwrap_err();
        assert_eq!((e.status().as_u16(), e.code()), (422, "invalid"));
        assert_eq!(e.document().field.as_deref(), Some("amount"));
        let e = parse::<Body>(br#"{}"#).unwrap_err();
        assert_eq!((e.status().as_u16(), e.code()), (422, "invalid"));
        let e = parse::<Body>(b"{\"amount\": ").unwrap_err();
        assert_eq!((e.status().as_u16(), e.code()), (400, "malformed_json"));
        let e = json::<Body>(Some("text/plain"), br#"{"amount": 1}"#).unwrap_err();
        assert_eq!(
            (e.status().as_u16(), e.code()),
            (415, "unsupported_media_type")
        );
        assert!(json::<Body>(Some("application/json; charset=utf-8"), br#"{"amount": 1}"#).is_ok());
        assert!(json::<Body>(None, br#"{"amount": 1}"#).is_ok());
    }
}
