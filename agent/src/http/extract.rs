//! The extractors every `/v1` handler reads its request with, each refusing with an
//! [`ApiError`] (`application/problem+json` with a code of [`ErrorCode`]):
//!
//! - [`ApiJson`]: a JSON body, read up to the route's `DefaultBodyLimit` (`413
//!   body_too_large` beyond it), as `application/json` (`415 unsupported_media_type` for
//!   another declared `Content-Type`; none declared is read as
//!   JSON); text that is not JSON is `400 malformed_json`, JSON that
//!   breaks a rule of the type (a missing field, `{units, grams}` together, a number out
//!   of range) is `422 invalid` with the `field` path (`serde_path_to_error`).
//!   [`ApiJsonOrEmpty`] also takes an empty body as the type's default.
//! - [`ApiQuery`]: the query string (`400 bad_query`).
//! - [`IdempotencyKey`]: the `Idempotency-Key` header, 1 to
//!   [`MAX_KEY_LEN`](crate::store::idempotency::MAX_KEY_LEN) printable ASCII characters
//!   (`400 idempotency_key_required` / `idempotency_key_invalid`); as an `Option` when a
//!   route needs it only sometimes.
//! - [`SessionId`], [`CustomerReference`]: validated path ids (`422 invalid`, `field`
//!   naming the parameter).

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{
    FromRequest, FromRequestParts, OptionalFromRequestParts, Path, Query, Request,
};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use serde::de::{DeserializeOwned, IgnoredAny};
use tillpass_protocol::problem::ErrorCode;
use tillpass_protocol::sync::{CustomerRef, SaleId};

use crate::sessions::ApiError;
use crate::store::idempotency::MAX_KEY_LEN;

/// A JSON body of type `T`, with its bytes (the idempotency hash is taken over them).
#[derive(Debug)]
pub struct ApiJson<T>(pub T, pub Bytes);

/// A JSON body of type `T`, or `T::default()` for an empty body.
#[derive(Debug)]
pub struct ApiJsonOrEmpty<T>(pub T, pub Bytes);

/// Whether the request's body may be read as JSON: declared `application/json` (or
/// `…+json`), or declared as nothing.
fn is_json(headers: &axum::http::HeaderMap) -> bool {
    let Some(value) = headers.get(header::CONTENT_TYPE) else {
        return true;
    };
    value
        .to_str()
        .ok()
        .and_then(|v| v.split(';').next())
        .map(|m| m.trim().to_ascii_lowercase())
        .is_some_and(|m| m == "application/json" || m.ends_with("+json"))
}

/// The body's bytes under the route's limit.
async fn bytes<S: Send + Sync>(request: Request, state: &S) -> Result<Bytes, ApiError> {
    Bytes::from_request(request, state)
        .await
        .map_err(body_rejection)
}

/// A body that could not be read: over the route's limit, or broken.
pub fn body_rejection(e: BytesRejection) -> ApiError {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::new(
            ErrorCode::BodyTooLarge,
            "the body is over this route's maximum",
        )
    } else {
        ApiError::new(ErrorCode::UnreadableBody, e.body_text())
    }
}

/// The `415` for a body that is not declared as JSON.
fn not_json() -> ApiError {
    ApiError::new(
        ErrorCode::UnsupportedMediaType,
        "send the body as `Content-Type: application/json`",
    )
}

/// Parses `bytes` as `T`: not JSON is `400 malformed_json`; JSON that `T` refuses is `422
/// invalid` with the path of the field at fault (`body` for the whole).
pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    // Whether it is JSON at all: `IgnoredAny` checks the syntax without converting a
    // number, so `1e400` is JSON here and out of range below.
    if let Err(e) = serde_json::from_slice::<IgnoredAny>(bytes) {
        return Err(ApiError::new(
            ErrorCode::MalformedJson,
            format!("the body is not JSON: {e}"),
        ));
    }
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize::<_, T>(de).map_err(|e| {
        let path = e.path().to_string();
        let field = if path == "." { "body".to_owned() } else { path };
        ApiError::invalid(field, e.into_inner().to_string())
    })
}

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        if !is_json(request.headers()) {
            return Err(not_json());
        }
        let bytes = bytes(request, state).await?;
        Ok(ApiJson(parse(&bytes)?, bytes))
    }
}

impl<S: Send + Sync, T: DeserializeOwned + Default> FromRequest<S> for ApiJsonOrEmpty<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        let json = is_json(request.headers());
        let bytes = bytes(request, state).await?;
        if bytes.is_empty() {
            return Ok(ApiJsonOrEmpty(T::default(), bytes));
        }
        if !json {
            return Err(not_json());
        }
        Ok(ApiJsonOrEmpty(parse(&bytes)?, bytes))
    }
}

/// The query string as `T`.
#[derive(Debug)]
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|Query(q)| ApiQuery(q))
            .map_err(|e| ApiError::new(ErrorCode::BadQuery, e.body_text()))
    }
}

/// The `Idempotency-Key` of a change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKey(pub String);

impl IdempotencyKey {
    fn read(parts: &Parts) -> Option<Result<IdempotencyKey, ApiError>> {
        let value = parts.headers.get("idempotency-key")?;
        let key = value.to_str().unwrap_or("").trim();
        if key.is_empty() || key.len() > MAX_KEY_LEN || !key.bytes().all(|b| b.is_ascii_graphic()) {
            return Some(Err(ApiError::new(
                ErrorCode::IdempotencyKeyInvalid,
                format!("`Idempotency-Key` must be 1 to {MAX_KEY_LEN} printable ASCII characters"),
            )
            .with_field("Idempotency-Key")));
        }
        Some(Ok(IdempotencyKey(key.to_owned())))
    }

    /// The `400` of a change sent without one.
    pub fn required() -> ApiError {
        ApiError::new(
            ErrorCode::IdempotencyKeyRequired,
            "every change needs an `Idempotency-Key` header (a fresh random value per \
             change; send the same one again when retrying)",
        )
        .with_field("Idempotency-Key")
    }
}

impl<S: Send + Sync> FromRequestParts<S> for IdempotencyKey {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        IdempotencyKey::read(parts).unwrap_or_else(|| Err(IdempotencyKey::required()))
    }
}

impl<S: Send + Sync> OptionalFromRequestParts<S> for IdempotencyKey {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Option<Self>, ApiError> {
        IdempotencyKey::read(parts).transpose()
    }
}

/// The one path parameter of the route, as text.
async fn one_segment<S: Send + Sync>(parts: &mut Parts, state: &S) -> Result<String, ApiError> {
    <Path<String> as FromRequestParts<S>>::from_request_parts(parts, state)
        .await
        .map(|Path(p)| p)
        .map_err(|e| ApiError::new(ErrorCode::BadPath, e.body_text()))
}

/// A sale id in the path (`/v1/sessions/{id}`): [`SaleId`]'s rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionId(pub String);

impl<S: Send + Sync> FromRequestParts<S> for SessionId {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let id = one_segment(parts, state).await?;
        SaleId::new(id.as_str()).map_err(|e| ApiError::invalid("session_id", e.to_string()))?;
        Ok(SessionId(id))
    }
}

/// A customer reference in the path (`/v1/customers/{reference}`): [`CustomerRef`]'s rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomerReference(pub String);

impl<S: Send + Sync> FromRequestParts<S> for CustomerReference {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let reference = one_segment(parts, state).await?;
        CustomerRef::new(reference.as_str())
            .map_err(|e| ApiError::invalid("reference", e.to_string()))?;
        Ok(CustomerReference(reference))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Body {
        lines: Vec<Line>,
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Line {
        units: i64,
    }

    #[test]
    fn not_json_is_400_and_json_breaking_a_rule_is_422_with_its_path() {
        for text in ["", "{", "{\"lines\": [}", "nope"] {
            let e = parse::<Body>(text.as_bytes()).unwrap_err();
            assert_eq!(e.code, "malformed_json", "{text}");
            assert_eq!(e.status(), StatusCode::BAD_REQUEST);
        }
        for (text, field) in [
            (r#"{"lines": [{"units": 1e400}]}"#, "lines[0].units"),
            (
                r#"{"lines": [{"units": 1}, {"units": "x"}]}"#,
                "lines[1].units",
            ),
            (r#"{"lines": [{}]}"#, "lines[0]"),
            (r#"{}"#, "body"),
            (r#"[]"#, "body"),
            (r#"{"lines": [], "other": 1}"#, "other"),
        ] {
            let e = parse::<Body>(text.as_bytes()).unwrap_err();
            assert_eq!(e.code, "invalid", "{text}");
            assert_eq!(e.status(), StatusCode::UNPROCESSABLE_ENTITY);
            assert_eq!(e.field.as_deref(), Some(field), "{text}");
        }
    }
}
