//! Every answer of every operation: each status it can return, with the codes of
//! [`ErrorCode`] and of the refusal vocabularies ([`crate::http::codes`]) each carries; the
//! links between the session operations (create → tender → close → return) that let a
//! client, or a tester, follow a sale; and what `GET /v1/events` sends.

use serde_json::{Value, json};
use tillpass_protocol::problem::ErrorCode::{self, *};

use crate::http::codes::{CATALOG_REFUSALS, SCAN_REFUSALS, TENDER_REFUSALS};

/// Codes every `/v1` route can answer, whatever it does.
const EVERY_ROUTE: &[ErrorCode] = &[Unauthorized, InternalError];

/// Codes of a route with a path id (`/v1/sessions/{id}`, `/v1/customers/{reference}`).
const PATH_ID: &[ErrorCode] = &[BadPath, Invalid];

/// Codes of a route that reads a body.
const WITH_BODY: &[ErrorCode] = &[
    MalformedJson,
    UnreadableBody,
    BodyTooLarge,
    UnsupportedMediaType,
    Invalid,
    Busy,
];

/// Codes of every change of a session, once its body is read.
const CHANGE: &[ErrorCode] = &[
    IdempotencyKeyRequired,
    IdempotencyKeyInvalid,
    IdempotencyKeyReused,
    StoreError,
    NotEnrolled,
    NoCatalog,
    DiskFull,
];

/// A refusal vocabulary an operation answers with (`422`, and the cashier's messages).
#[derive(Clone, Copy)]
enum Refusals {
    Scan,
    Tender,
    Catalog,
}

/// What each operation answers of its own, by operation id, beyond [`EVERY_ROUTE`],
/// [`PATH_ID`], [`WITH_BODY`] and [`CHANGE`].
const OPERATIONS: &[(&str, &[ErrorCode], &[Refusals])] = &[
    (
        "put_session",
        &[
            BadQuery,
            SessionNotFound,
            StaleVersion,
            SessionExists,
            SessionClosed,
            SessionCancelled,
            TendersPresent,
            SaleIdInUse,
            VoucherUsed,
        ],
        &[Refusals::Scan],
    ),
    ("get_session", &[SessionNotFound, StoreError], &[]),
    (
        "add_tender",
        &[
            SessionNotFound,
            StaleVersion,
            SessionClosed,
            SessionCancelled,
            EarnOnly,
            CustomerEarnOnly,
            TooManyTenders,
            UnknownGiftCard,
            SnapshotCapReached,
        ],
        &[Refusals::Tender, Refusals::Scan],
    ),
    (
        "close_session",
        &[
            SessionNotFound,
            StaleVersion,
            SessionClosed,
            SessionCancelled,
            HoldLapsed,
            VoucherUsed,
            SaleIdInUse,
            TendersDoNotMatch,
            EarnOnly,
        ],
        &[Refusals::Tender],
    ),
    (
        "cancel_session",
        &[
            SessionNotFound,
            StaleVersion,
            SessionClosed,
            SessionCancelled,
        ],
        &[],
    ),
    (
        "add_return",
        &[
            SaleNotFound,
            SessionNotFound,
            ReturnExists,
            SaleHistoryIncomplete,
        ],
        &[],
    ),
    ("get_customer", &[CustomerNotFound, StoreError], &[]),
    ("identify", &[], &[Refusals::Scan]),
    ("push_catalog", &[BadQuery], &[Refusals::Catalog]),
];

/// Whether an operation reads a body, and whether it changes a session.
fn reads_body(operation_id: &str) -> (bool, bool) {
    match operation_id {
        "put_session" | "add_tender" | "close_session" | "cancel_session" | "add_return" => {
            (true, true)
        }
        "identify" | "push_catalog" => (true, false),
        _ => (false, false),
    }
}

/// The answer of one error status with its codes.
fn error_response(codes: &[&str]) -> Value {
    let listed = codes
        .iter()
        .map(|c| format!("`{c}`"))
        .collect::<Vec<_>>()
        .join(", ");
    json!({
        "description": format!("Refused; `code` is one of {listed}."),
        "content": {
            "application/problem+json": {
                "schema": {"$ref": "#/components/schemas/Problem"}
            }
        }
    })
}

/// The errors of `operation_id` (with a path id or not), by status.
fn errors_of(operation_id: &str, path_id: bool) -> Vec<(u16, Vec<&'static str>)> {
    let (body, change) = reads_body(operation_id);
    let own = OPERATIONS.iter().find(|(id, _, _)| *id == operation_id);
    let mut codes: Vec<ErrorCode> = EVERY_ROUTE.to_vec();
    if path_id {
        codes.extend_from_slice(PATH_ID);
    }
    if body {
        codes.extend_from_slice(WITH_BODY);
    }
    if change {
        codes.extend_from_slice(CHANGE);
    }
    if let Some((_, more, _)) = own {
        codes.extend_from_slice(more);
    }
    let mut merged: Vec<(u16, Vec<&'static str>)> = Vec::new();
    let mut add =
        |status: u16, code: &'static str| match merged.iter_mut().find(|(s, _)| *s == status) {
            Some((_, all)) if all.contains(&code) => {}
            Some((_, all)) => all.push(code),
            None => merged.push((status, vec![code])),
        };
    for code in codes {
        add(code.status(), code.code());
    }
    for refusals in own.map(|(_, _, r)| *r).unwrap_or_default() {
        let vocabulary = match refusals {
            Refusals::Scan => SCAN_REFUSALS,
            Refusals::Tender => TENDER_REFUSALS,
            Refusals::Catalog => CATALOG_REFUSALS,
        };
        for code in vocabulary {
            add(422, code);
        }
    }
    merged.sort_by_key(|(s, _)| *s);
    merged
}

/// The links from an operation's success to the next steps of a sale.
fn links_of(operation_id: &str) -> Option<Value> {
    let id = json!({"id": "$request.path.id"});
    let versioned = |op: &str| {
        json!({
            "operationId": op,
            "parameters": id,
            "requestBody": {"version": "$response.body#/version"},
        })
    };
    match operation_id {
        "put_session" | "add_tender" => Some(json!({
            "GetSession": {"operationId": "get_session", "parameters": id},
            "AddTender": versioned("add_tender"),
            "CloseSession": versioned("close_session"),
            "CancelSession": versioned("cancel_session"),
        })),
        "close_session" => Some(json!({
            "GetSession": {"operationId": "get_session", "parameters": id},
            "AddReturn": {"operationId": "add_return", "parameters": id},
        })),
        _ => None,
    }
}

/// What `GET /v1/events` sends.
const EVENTS: &str = "A stream of `text/event-stream` events, one JSON object in each \
    event's `data`, its `type` member equal to the event's name: `identified` (a scan \
    identified a customer, gift card or voucher: the object `POST /v1/identify` answers, \
    with `type`), `refused` (a scan was refused: `code`, `detail`, `message_es`, \
    `message_en`, `source`, `at`), `scanner_connected` and `scanner_disconnected` \
    (`device`), `scanner_error` (`device`, `error`, `hint`), `sale_closed` (`sale_id`, \
    `net` as Money, `customer` masked or null), `sync_state` (`online`, `earn_only`). \
    Comments keep the connection alive. A slow reader misses old events rather than \
    slowing the till.";

/// Documents every answer in `doc`.
pub fn apply(doc: &mut Value) {
    let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) else {
        return;
    };
    if let Some(get) = paths
        .get_mut("/v1/events")
        .and_then(|p| p.get_mut("get"))
        .and_then(Value::as_object_mut)
    {
        get.insert("description".to_owned(), EVENTS.into());
    }
    // Both status handlers are named `status`; an operation id is unique.
    if let Some(get) = paths
        .get_mut("/v1/sync")
        .and_then(|p| p.get_mut("get"))
        .and_then(Value::as_object_mut)
    {
        get.insert("operationId".to_owned(), "sync_status".into());
    }
    for (path, item) in paths.iter_mut() {
        let path_id = path.contains('{');
        let Some(item) = item.as_object_mut() else {
            continue;
        };
        for operation in item.values_mut() {
            let Some(id) = operation
                .get("operationId")
                .and_then(Value::as_str)
                .map(str::to_owned)
            else {
                continue;
            };
            if id == "events" {
                // An open stream: its errors are its edge's (401).
                continue;
            }
            let Some(responses) = operation
                .get_mut("responses")
                .and_then(Value::as_object_mut)
            else {
                continue;
            };
            for (status, codes) in errors_of(&id, path_id) {
                responses.insert(status.to_string(), error_response(&codes));
            }
            if let Some(links) = links_of(&id) {
                for (status, answer) in responses.iter_mut() {
                    if let (true, Some(answer)) = (status.starts_with('2'), answer.as_object_mut())
                    {
                        answer.insert("links".to_owned(), links.clone());
                    }
                }
            }
        }
    }
}
