//! The one error format of both HTTP services: [`Problem`], an RFC 9457
//! `application/problem+json` document with a stable `code`, and [`ErrorCode`], every code
//! the agent and central answer with of their own, each with its HTTP status and title.
//!
//! Refusals that have a vocabulary of their own (a scanned token's, a tender's, a pushed
//! catalog's) keep their codes: a problem carries one of them in `code`, and the service's
//! OpenAPI document lists them next to [`ErrorCode::ALL`].
//!
//! The HTTP glue (`IntoResponse`) lives in each service; this module does no I/O.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

/// The media type of a problem document.
pub const MEDIA_TYPE: &str = "application/problem+json";

macro_rules! codes {
    ($( $(#[$doc:meta])* $variant:ident = ($code:literal, $status:literal, $title:literal), )*) => {
        /// A stable error code of the agent's or central's own answers.
        ///
        /// Not `non_exhaustive` on purpose: a new code does not compile until every
        /// exhaustive match on it (the agent's cashier messages) says what it shows.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum ErrorCode {
            $( $(#[$doc])* $variant, )*
        }

        impl ErrorCode {
            /// Every code, in declaration order.
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$variant,)*];

            /// The code as it appears in a problem's `code` member.
            pub const fn code(self) -> &'static str {
                match self { $(ErrorCode::$variant => $code,)* }
            }

            /// The HTTP status answered with this code.
            pub const fn status(self) -> u16 {
                match self { $(ErrorCode::$variant => $status,)* }
            }

            /// A short title, the same for every occurrence of the code.
            pub const fn title(self) -> &'static str {
                match self { $(ErrorCode::$variant => $title,)* }
            }
        }
    };
}

codes! {
    // ---- the HTTP edge, both services ----
    /// No or a wrong bearer token (or, at central, till signature).
    Unauthorized = ("unauthorized", 401, "Unauthorized"),
    /// No such route, or (central) no such thing.
    NotFound = ("not_found", 404, "Not found"),
    /// The route exists, not with this method.
    MethodNotAllowed = ("method_not_allowed", 405, "Method not allowed"),
    /// The body is not JSON.
    MalformedJson = ("malformed_json", 400, "Malformed JSON"),
    /// The body is JSON, but a field breaks a rule; `field` names it.
    Invalid = ("invalid", 422, "Invalid request"),
    /// A path parameter is not of its type.
    BadPath = ("bad_path", 400, "Bad path parameter"),
    /// A query parameter is unknown or not of its type.
    BadQuery = ("bad_query", 400, "Bad query parameter"),
    /// The body is over the route's maximum.
    BodyTooLarge = ("body_too_large", 413, "Payload too large"),
    /// The body's `Content-Type` is not one the route reads.
    UnsupportedMediaType = ("unsupported_media_type", 415, "Unsupported media type"),
    /// The body could not be read (a broken transfer, a malformed `Content-Length`).
    UnreadableBody = ("unreadable_body", 400, "Unreadable body"),
    /// The body did not arrive in time.
    BodyTimeout = ("body_timeout", 408, "Body too slow"),
    /// Too much at once; retry shortly (`Retry-After`).
    Busy = ("busy", 503, "Busy"),
    /// The server failed; the detail is in its log.
    InternalError = ("internal_error", 500, "Internal error"),
    /// (agent) The `Host` is not one of the agent's own names (DNS rebinding).
    HostNotAllowed = ("host_not_allowed", 421, "Misdirected request"),
    /// `/readyz`: the till cannot work yet; the reasons say why.
    NotReady = ("not_ready", 503, "Not ready"),

    // ---- the agent's POS API ----
    /// A change without an `Idempotency-Key`.
    IdempotencyKeyRequired = ("idempotency_key_required", 400, "Idempotency-Key required"),
    /// An `Idempotency-Key` that is not 1–255 printable ASCII characters.
    IdempotencyKeyInvalid = ("idempotency_key_invalid", 400, "Invalid Idempotency-Key"),
    /// An `Idempotency-Key` used before for another request.
    IdempotencyKeyReused = ("idempotency_key_reused", 422, "Idempotency-Key reused"),
    /// The till's database failed; nothing was written.
    StoreError = ("store_error", 500, "Internal error"),
    /// The till's disk is full; nothing was written.
    DiskFull = ("disk_full", 507, "Disk full"),
    /// The till has no promotion catalog yet.
    NoCatalog = ("no_catalog", 503, "Not available"),
    /// The till is not enrolled with central.
    NotEnrolled = ("not_enrolled", 503, "Not available"),
    /// Offline too long: savings are earned, not spent.
    EarnOnly = ("earn_only", 422, "Cannot do that"),
    /// A customer new to this till earns, and spends once the till has synced.
    CustomerEarnOnly = ("customer_earn_only", 422, "Cannot do that"),
    /// More loyalty tenders than a sale may carry.
    TooManyTenders = ("too_many_tenders", 422, "Cannot do that"),
    /// A gift card this till does not know.
    UnknownGiftCard = ("unknown_gift_card", 422, "Cannot do that"),
    /// A balance from a token's signed snapshot (a customer or a card the till does not
    /// hold from central) is spent up to the catalog's offline cap at this till.
    SnapshotCapReached = ("snapshot_cap_reached", 422, "Cannot do that"),
    /// The tenders sent at close are not the session's.
    TendersDoNotMatch = ("tenders_do_not_match", 422, "Cannot do that"),
    /// A voucher another sale used.
    VoucherUsed = ("voucher_used", 409, "Conflict"),
    /// A gift card's hold lapsed before the close.
    HoldLapsed = ("hold_lapsed", 409, "Conflict"),
    /// The sale id is used by another sale of the store.
    SaleIdInUse = ("sale_id_in_use", 409, "Conflict"),
    /// The session is closed.
    SessionClosed = ("session_closed", 409, "Conflict"),
    /// The session is cancelled.
    SessionCancelled = ("session_cancelled", 409, "Conflict"),
    /// The change starts from an older version of the session.
    StaleVersion = ("stale_version", 409, "Conflict"),
    /// A session with this id exists.
    SessionExists = ("session_exists", 409, "Conflict"),
    /// The cart cannot change while tenders are on it.
    TendersPresent = ("tenders_present", 409, "Conflict"),
    /// A return with this id exists.
    ReturnExists = ("return_exists", 409, "Conflict"),
    /// The till does not have every earlier return of the sale.
    SaleHistoryIncomplete = ("sale_history_incomplete", 409, "Conflict"),
    /// No session with this id.
    SessionNotFound = ("session_not_found", 404, "Not found"),
    /// No closed sale with this id.
    SaleNotFound = ("sale_not_found", 404, "Not found"),
    /// No customer with this reference at this till.
    CustomerNotFound = ("customer_not_found", 404, "Not found"),

    // ---- central ----
    /// A request central cannot accept as sent (the detail names the field).
    InvalidRequest = ("invalid_request", 400, "Invalid request"),
    /// The request conflicts with central's state (an id taken, a code used).
    Conflict = ("conflict", 409, "Conflict"),
    /// A published catalog failed validation; every problem is listed.
    CatalogRefused = ("catalog_refused", 422, "Catalog refused"),
    /// `/readyz`: central cannot reach its database.
    DatabaseUnavailable = ("database_unavailable", 503, "Database unavailable"),
    /// A webhook delivery without a valid signature over its body (WhatsApp's
    /// `X-Hub-Signature-256`): nothing was stored.
    BadSignature = ("bad_signature", 401, "Unauthorized"),
    /// A webhook verification with the wrong verify token.
    Forbidden = ("forbidden", 403, "Forbidden"),
    /// An operation this central does not offer on its database's backend yet (an admin
    /// operation on PostgreSQL not yet behind the storage contract).
    NotOnThisBackend = ("not_on_this_backend", 501, "Not implemented"),
    /// One till sent more signed requests than its share of a node; retry after
    /// `Retry-After`.
    RateLimited = ("rate_limited", 429, "Too many requests"),
}

impl ErrorCode {
    /// Whether only central answers with this code (the agent's OpenAPI document does not
    /// list it, and no cashier sees it).
    pub const fn central_only(self) -> bool {
        matches!(
            self,
            ErrorCode::InvalidRequest
                | ErrorCode::Conflict
                | ErrorCode::CatalogRefused
                | ErrorCode::DatabaseUnavailable
                | ErrorCode::BadSignature
                | ErrorCode::Forbidden
                | ErrorCode::NotOnThisBackend
                | ErrorCode::RateLimited
        )
    }

    /// The code whose [`code`](Self::code) is `code`.
    pub fn from_code(code: &str) -> Option<ErrorCode> {
        ErrorCode::ALL.iter().copied().find(|c| c.code() == code)
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.code())
    }
}

/// An RFC 9457 problem document with a stable `code` and optional extension members.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Problem {
    /// Always `about:blank`: the `code` says what happened.
    #[serde(rename = "type", default = "about_blank")]
    pub kind: Cow<'static, str>,
    /// A short title, the same for every occurrence of the code.
    pub title: Cow<'static, str>,
    /// The HTTP status.
    pub status: u16,
    /// The stable code: an [`ErrorCode`], or a refusal's own.
    pub code: Cow<'static, str>,
    /// What happened with this request and what to do. Never internals.
    pub detail: String,
    /// The field at fault, as a path into the body (`cart.lines[2].quantity`), or the
    /// parameter's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// Seconds to wait before retrying, when the server is busy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after: Option<u64>,
    /// Further members of this kind of problem (a refusal's cashier messages, …).
    #[serde(flatten)]
    pub extensions: serde_json::Map<String, serde_json::Value>,
}

fn about_blank() -> Cow<'static, str> {
    Cow::Borrowed("about:blank")
}

impl Problem {
    /// A problem with `code`'s status and title.
    pub fn new(code: ErrorCode, detail: impl Into<String>) -> Problem {
        Problem {
            kind: about_blank(),
            title: Cow::Borrowed(code.title()),
            status: code.status(),
            code: Cow::Borrowed(code.code()),
            detail: detail.into(),
            field: None,
            retry_after: None,
            extensions: serde_json::Map::new(),
        }
    }

    /// A refusal with a code of its own vocabulary (a scan's, a tender's, a catalog's).
    pub fn refusal(
        status: u16,
        title: &'static str,
        code: &'static str,
        detail: impl Into<String>,
    ) -> Problem {
        Problem {
            kind: about_blank(),
            title: Cow::Borrowed(title),
            status,
            code: Cow::Borrowed(code),
            detail: detail.into(),
            field: None,
            retry_after: None,
            extensions: serde_json::Map::new(),
        }
    }

    /// The same problem naming the field at fault.
    pub fn with_field(mut self, field: impl Into<String>) -> Problem {
        self.field = Some(field.into());
        self
    }

    /// The same problem asking to retry after `secs`.
    pub fn with_retry_after(mut self, secs: u64) -> Problem {
        self.retry_after = Some(secs);
        self
    }

    /// The same problem with an extension member ([`Problem::set`]).
    pub fn with(mut self, name: &str, value: impl Into<serde_json::Value>) -> Problem {
        self.set(name, value);
        self
    }

    /// Sets an extension member. The standard members cannot be overwritten this way.
    pub fn set(&mut self, name: &str, value: impl Into<serde_json::Value>) {
        const STANDARD: [&str; 7] = [
            "type",
            "title",
            "status",
            "code",
            "detail",
            "field",
            "retry_after",
        ];
        if !STANDARD.contains(&name) {
            self.extensions.insert(name.to_owned(), value.into());
        }
    }

    /// The [`ErrorCode`] of this problem, if it is one of the services' own.
    pub fn error_code(&self) -> Option<ErrorCode> {
        ErrorCode::from_code(&self.code)
    }

    /// The document as JSON text.
    pub fn to_json(&self) -> String {
        // A map of strings, numbers and JSON values always serialises.
        serde_json::to_string(self).unwrap_or_else(|_| {
            format!(
                "{{\"type\":\"about:blank\",\"title\":\"Internal error\",\"status\":{},\"code\":\"internal_error\",\"detail\":\"\"}}",
                self.status
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_distinct_snake_case_with_error_statuses_and_titles() {
        let mut seen = std::collections::BTreeSet::new();
        for code in ErrorCode::ALL {
            assert!(seen.insert(code.code()), "{code} twice");
            assert!(
                code.code()
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b == b'_'),
                "{code}"
            );
            assert!((400..600).contains(&code.status()), "{code}");
            assert!(!code.title().is_empty(), "{code}");
            assert_eq!(ErrorCode::from_code(code.code()), Some(*code));
        }
    }

    #[test]
    fn a_problem_serialises_as_rfc_9457_with_its_extensions() {
        let p = Problem::new(ErrorCode::Invalid, "units and grams together")
            .with_field("cart.lines[0].quantity")
            .with("message_en", "Check the quantity")
            .with("status", 200);
        let v: serde_json::Value = serde_json::from_str(&p.to_json()).unwrap();
        assert_eq!(v["type"], "about:blank");
        assert_eq!(v["status"], 422);
        assert_eq!(v["code"], "invalid");
        assert_eq!(v["title"], "Invalid request");
        assert_eq!(v["field"], "cart.lines[0].quantity");
        assert_eq!(v["message_en"], "Check the quantity");
        assert!(v.get("retry_after").is_none());
        let back: Problem = serde_json::from_value(v).unwrap();
        assert_eq!(back, p);
        assert_eq!(back.error_code(), Some(ErrorCode::Invalid));
    }
}
