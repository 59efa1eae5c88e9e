//! The POS API's errors: `application/problem+json` (RFC 9457) with a stable `code`, the
//! `field` at fault when there is one, and for refusals the cashier's message in Spanish
//! and English. Nothing internal reaches the client; the detail goes to the log.

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use tillpass_engine::{EngineError, TenderRefusal};
use tillpass_protocol::lang::Lang;

use crate::identify::ScanRefusal;
use crate::store::StoreError;

/// An error answer (boxed: results stay small on the happy path).
#[derive(Debug, Clone)]
pub struct ApiError(Box<Problem>);

/// The problem document of an error answer.
#[derive(Debug, Clone, Serialize)]
pub struct Problem {
    #[serde(skip)]
    status: StatusCode,
    /// A stable code.
    pub code: String,
    /// A short title.
    pub title: &'static str,
    /// What happened and what to do.
    pub detail: String,
    /// The field at fault (`cart.lines[2].quantity`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// The cashier's message in Spanish.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message_es: Option<String>,
    /// The cashier's message in English.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message_en: Option<String>,
    /// More about a refusal (the amount available, …).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refusal: Option<serde_json::Value>,
}

impl std::ops::Deref for ApiError {
    type Target = Problem;
    fn deref(&self) -> &Problem {
        &self.0
    }
}

impl std::ops::DerefMut for ApiError {
    fn deref_mut(&mut self) -> &mut Problem {
        &mut self.0
    }
}

impl ApiError {
    fn new(status: StatusCode, code: &str, title: &'static str, detail: String) -> ApiError {
        let messages = super::messages::of(code);
        ApiError(Box::new(Problem {
            status,
            code: code.to_owned(),
            title,
            detail,
            field: None,
            message_es: messages.map(|m| m.0.to_owned()),
            message_en: messages.map(|m| m.1.to_owned()),
            refusal: None,
        }))
    }

    /// The same error with another status.
    pub fn with_status(mut self, status: StatusCode) -> ApiError {
        self.status = status;
        self
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// 400: the request cannot be read.
    pub fn bad_request(code: &str, detail: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, code, "Bad request", detail.into())
    }

    /// 422: a field has a value the agent cannot accept.
    pub fn invalid(field: impl Into<String>, detail: impl Into<String>) -> ApiError {
        let mut e = ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
            "Invalid request",
            detail.into(),
        );
        e.field = Some(field.into());
        e
    }

    /// 422 with a code of its own.
    pub fn unprocessable(code: &str, detail: impl Into<String>) -> ApiError {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            code,
            "Cannot do that",
            detail.into(),
        )
    }

    /// 404.
    pub fn not_found(code: &str, detail: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, code, "Not found", detail.into())
    }

    /// 409: the session changed, or is in a state that does not allow this.
    pub fn conflict(code: &str, detail: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::CONFLICT, code, "Conflict", detail.into())
    }

    /// 503: something the sale needs is not there yet (no catalog, not enrolled).
    pub fn unavailable(code: &str, detail: impl Into<String>) -> ApiError {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            code,
            "Not available",
            detail.into(),
        )
    }

    /// A refused tender, with the cashier's message.
    pub fn tender(refusal: &TenderRefusal) -> ApiError {
        let mut e = ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            refusal.code(),
            "Tender refused",
            refusal.message_in(Lang::En).to_owned(),
        );
        e.message_es = Some(refusal.message_in(Lang::Es).to_owned());
        e.message_en = Some(refusal.message_in(Lang::En).to_owned());
        e.refusal = serde_json::to_value(refusal).ok();
        e
    }

    /// A refused scan (customer pass, voucher, gift card), with the cashier's message.
    pub fn scan(field: &str, refusal: &ScanRefusal) -> ApiError {
        let mut e = ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            refusal.code.code(),
            "Scan refused",
            refusal.message_en.to_owned(),
        );
        e.field = Some(field.to_owned());
        e.message_es = Some(refusal.message_es.to_owned());
        e.message_en = Some(refusal.message_en.to_owned());
        e
    }

    /// A cart the engine cannot price.
    pub fn engine(e: &EngineError) -> ApiError {
        ApiError::invalid("cart", e.to_string())
    }

    /// The store failed: a full disk is 507 (nothing was written), the rest 500.
    pub fn store(e: &StoreError) -> ApiError {
        match e {
            StoreError::Full => ApiError::new(
                StatusCode::INSUFFICIENT_STORAGE,
                "disk_full",
                "Disk full",
                "the till's disk is full: nothing was written; free space and retry with \
                 the same Idempotency-Key"
                    .to_owned(),
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
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "store_error",
                    "Internal error",
                    "the till's database failed; nothing was written; retry with the same \
                     Idempotency-Key"
                        .to_owned(),
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
        let mut body = serde_json::to_value(&*self.0).unwrap_or_default();
        if let Some(map) = body.as_object_mut() {
            map.insert("type".into(), "about:blank".into());
            map.insert("status".into(), self.status.as_u16().into());
        }
        (
            self.status,
            [(header::CONTENT_TYPE, "application/problem+json")],
            body.to_string(),
        )
            .into_response()
    }
}
