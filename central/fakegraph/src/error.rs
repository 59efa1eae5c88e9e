//! Meta's error answers: `{"error":{"message","type","code","error_data","error_subcode",
//! "fbtrace_id"}}` with the HTTP status the Graph API gives each.
//!
//! - [`GraphError`]: one error, built by meaning ([`GraphError::outside_window`], …).
//! - [`codes`]: the numeric codes the fake answers with.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

/// The Graph API's numeric error codes this fake answers with.
pub mod codes {
    /// A generic temporary failure (HTTP 503).
    pub const SERVICE_UNAVAILABLE: u32 = 2;
    /// Invalid parameter (a malformed request).
    pub const INVALID_PARAMETER: u32 = 100;
    /// Invalid OAuth access token (HTTP 401).
    pub const ACCESS_TOKEN: u32 = 190;
    /// Throughput exceeded.
    pub const RATE_LIMIT: u32 = 130_429;
    /// Something went wrong (HTTP 500).
    pub const SOMETHING_WENT_WRONG: u32 = 131_000;
    /// A parameter's value is not valid (e.g. four reply buttons, a 21-character title).
    pub const PARAMETER_VALUE: u32 = 131_009;
    /// A required parameter is missing.
    pub const REQUIRED_PARAMETER: u32 = 131_008;
    /// Message undeliverable: the recipient is not on WhatsApp.
    pub const UNDELIVERABLE: u32 = 131_026;
    /// Re-engagement message: more than 24 hours since the customer's last message.
    pub const OUTSIDE_WINDOW: u32 = 131_047;
    /// Media upload error.
    pub const MEDIA_UPLOAD: u32 = 131_053;
}

/// The body of an error answer, as Meta sends it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

/// The `error` object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorDetail {
    pub message: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub code: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_data: Option<ErrorData>,
    pub error_subcode: u32,
    pub fbtrace_id: String,
}

/// `error_data`: the product and the details Meta recommends handling by.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorData {
    pub messaging_product: String,
    pub details: String,
}

/// One error answer: an HTTP status and Meta's body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GraphError {
    pub status: StatusCode,
    pub code: u32,
    pub subcode: u32,
    pub title: &'static str,
    pub details: String,
}

impl GraphError {
    fn new(status: StatusCode, code: u32, title: &'static str, details: impl Into<String>) -> Self {
        GraphError {
            status,
            code,
            subcode: 0,
            title,
            details: details.into(),
        }
    }

    /// 190: the bearer token is missing or wrong (HTTP 401).
    pub fn access_token() -> Self {
        let mut e = GraphError::new(
            StatusCode::UNAUTHORIZED,
            codes::ACCESS_TOKEN,
            "Invalid OAuth access token - Cannot parse access token",
            "the access token is missing or not valid",
        );
        e.subcode = 463;
        e
    }

    /// 100: a malformed request or an unknown object.
    pub fn invalid_parameter(details: impl Into<String>) -> Self {
        GraphError::new(
            StatusCode::BAD_REQUEST,
            codes::INVALID_PARAMETER,
            "Invalid parameter",
            details,
        )
    }

    /// 131008: a required parameter is missing.
    pub fn required(name: &str) -> Self {
        GraphError::new(
            StatusCode::BAD_REQUEST,
            codes::REQUIRED_PARAMETER,
            "Required parameter is missing",
            format!("the parameter {name} is required"),
        )
    }

    /// 131009: a parameter's value is not valid.
    pub fn value(details: impl Into<String>) -> Self {
        GraphError::new(
            StatusCode::BAD_REQUEST,
            codes::PARAMETER_VALUE,
            "Parameter value is not valid",
            details,
        )
    }

    /// 131026: the recipient cannot receive WhatsApp messages.
    pub fn undeliverable(to: &str) -> Self {
        let _ = to;
        GraphError::new(
            StatusCode::BAD_REQUEST,
            codes::UNDELIVERABLE,
            "Message undeliverable",
            "the recipient is not a WhatsApp user",
        )
    }

    /// 131047: more than 24 hours since the customer's last message; only a template.
    pub fn outside_window() -> Self {
        let mut e = GraphError::new(
            StatusCode::BAD_REQUEST,
            codes::OUTSIDE_WINDOW,
            "Re-engagement message",
            "Message failed to send because more than 24 hours have passed since the \
             customer last replied to this number.",
        );
        e.subcode = 2_494_010;
        e
    }

    /// 130429: the phone number's throughput was exceeded.
    pub fn rate_limited() -> Self {
        GraphError::new(
            StatusCode::BAD_REQUEST,
            codes::RATE_LIMIT,
            "Rate limit hit",
            "Cloud API message throughput has been reached.",
        )
    }

    /// A server error: 131000 with 500, or 2 with 503 (other 5xx statuses say 131000).
    pub fn server(status: StatusCode) -> Self {
        let status = if status.is_server_error() {
            status
        } else {
            StatusCode::INTERNAL_SERVER_ERROR
        };
        if status == StatusCode::SERVICE_UNAVAILABLE {
            GraphError::new(
                status,
                codes::SERVICE_UNAVAILABLE,
                "Service temporarily unavailable",
                "temporarily unavailable: retry later",
            )
        } else {
            GraphError::new(
                status,
                codes::SOMETHING_WENT_WRONG,
                "Something went wrong",
                "an unknown error occurred: retry later",
            )
        }
    }

    /// 131053: the upload is not media the Cloud API takes.
    pub fn media(details: impl Into<String>) -> Self {
        GraphError::new(
            StatusCode::BAD_REQUEST,
            codes::MEDIA_UPLOAD,
            "Media upload error",
            details,
        )
    }

    /// The body Meta sends for this error.
    pub fn body(&self) -> ErrorBody {
        ErrorBody {
            error: ErrorDetail {
                message: format!("(#{}) {}", self.code, self.title),
                kind: "OAuthException".to_owned(),
                code: self.code,
                error_data: Some(ErrorData {
                    messaging_product: "whatsapp".to_owned(),
                    details: self.details.clone(),
                }),
                error_subcode: self.subcode,
                fbtrace_id: crate::ids::fbtrace_id(),
            },
        }
    }
}

impl IntoResponse for GraphError {
    fn into_response(self) -> Response {
        let mut response = (self.status, axum::Json(self.body())).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                axum::http::header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static(
                    "OAuth \"Facebook Platform\" \"invalid_token\"",
                ),
            );
        }
        response
    }
}
