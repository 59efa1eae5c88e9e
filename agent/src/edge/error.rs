//! The agent API's errors: [`ApiError`], a [`Problem`] (`application/problem+json`, RFC
//! 9457) with a stable `code` — an [`ErrorCode`] or a refusal's own — the `field` at fault
//! when there is one, and the cashier's message in Spanish and English (`message_es`,
//! `message_en`) when a cashier may see it. Nothing internal reaches the client; the
//! detail goes to the log.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tillpass_engine::{EngineError, TenderRefusal};
use tillpass_protocol::lang::Lang;
use tillpass_protocol::problem::{self, ErrorCode, Problem};

use crate::identify::ScanRefusal;
use crate::store::StoreError;

/// An error answer of the agent's API: a [`Problem`] (boxed: results stay small on the
/// happy path).
#[derive(Debug, Clone)]
pub struct ApiError(Box<Problem>);

impl std::ops::Deref for ApiError {
    type Target = Problem;
    fn deref(&self) -> &Problem {
        &self.0
    }
}

impl From<Problem> for ApiError {
    fn from(p: Problem) -> ApiError {
        ApiError(Box::new(p))
    }
}

impl ApiError {
    /// An answer with `code`'s status and title, and its cashier messages when it has
    /// some ([`super::messages::of`]).
    pub fn new(code: ErrorCode, detail: impl Into<String>) -> ApiError {
        let mut p = Problem::new(code, detail);
        if let Some(m) = super::messages::of(code) {
            p = p.with("message_es", m.es).with("message_en", m.en);
        }
        if code == ErrorCode::Busy {
            p = p.with_retry_after(1);
        }
        ApiError(Box::new(p))
    }

    /// The same error naming the field at fault.
    pub fn with_field(mut self, field: impl Into<String>) -> ApiError {
        self.0.field = Some(field.into());
        self
    }

    /// The same error with an extension member.
    pub fn with(mut self, name: &str, value: impl Into<serde_json::Value>) -> ApiError {
        self.0.set(name, value);
        self
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        StatusCode::from_u16(self.0.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    /// 422 `invalid`: a field has a value the agent cannot accept.
    pub fn invalid(field: impl Into<String>, detail: impl Into<String>) -> ApiError {
        ApiError::new(ErrorCode::Invalid, detail).with_field(field)
    }

    /// A refused tender, with the cashier's message.
    pub fn tender(refusal: &TenderRefusal) -> ApiError {
        let mut p = Problem::refusal(
            422,
            "Tender refused",
            refusal.code(),
            refusal.message_in(Lang::En),
        )
        .with("message_es", refusal.message_in(Lang::Es))
        .with("message_en", refusal.message_in(Lang::En));
        if let Ok(value) = serde_json::to_value(refusal) {
            p = p.with("refusal", value);
        }
        ApiError(Box::new(p))
    }

    /// A refused scan (customer pass, voucher, gift card), with the cashier's message.
    pub fn scan(field: &str, refusal: &ScanRefusal) -> ApiError {
        ApiError(Box::new(
            Problem::refusal(422, "Scan refused", refusal.code.code(), refusal.message_en)
                .with_field(field)
                .with("message_es", refusal.message_es)
                .with("message_en", refusal.message_en),
        ))
    }

    /// A cart the engine cannot price.
    pub fn engine(e: &EngineError) -> ApiError {
        ApiError::invalid("cart", e.to_string())
    }

    /// The store failed: a full disk is 507 (nothing was written), the rest 500.
    pub fn store(e: &StoreError) -> ApiError {
        match e {
            StoreError::Full => ApiError::new(
                ErrorCode::DiskFull,
                "the till's disk is full: nothing was written; free space and retry with \
                 the same Idempotency-Key",
            ),
            StoreError::Unjournalable { kind, error } => ApiError::invalid(
                match error.field() {
                    Some(field) => format!("{kind}.{field}"),
                    None => (*kind).to_owned(),
                },
                format!(
                    "central would refuse this {kind} event ({error}): nothing was stored; \
                     keep the sale within the bounds of the OpenAPI document"
                ),
            ),
            other => {
                tracing::error!(error = %other, "POS request failed in the store");
                ApiError::new(
                    ErrorCode::StoreError,
                    "the till's database failed; nothing was written; retry with the same \
                     Idempotency-Key",
                )
            }
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> ApiError {
        ApiError::store(&e)
    }
}

impl From<rusqlite::Error> for ApiError {
    fn from(e: rusqlite::Error) -> ApiError {
        ApiError::store(&crate::store::sql(e))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let retry_after = self.0.retry_after;
        let mut response = (
            status,
            [(header::CONTENT_TYPE, problem::MEDIA_TYPE)],
            self.0.to_json(),
        )
            .into_response();
        if let Some(secs) = retry_after
            && let Ok(value) = HeaderValue::from_str(&secs.to_string())
        {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
        response
    }
}
