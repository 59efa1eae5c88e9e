//! Every answer of every operation: each status it can return, its errors as
//! `application/problem+json` with the codes they carry; the links between the session
//! operations (create → tender → close → return) that let a client, or a tester, follow
//! a sale; and `GET /v1/events`, the Server-Sent Events stream.

use serde_json::{Value, json};

/// Errors every `/v1` route can answer, whatever it does.
const EVERY_ROUTE: &[(u16, &[&str])] = &[(401, &["unauthorized"])];

/// Errors of every route that reads a body.
const WITH_BODY: &[(u16, &[&str])] = &[
    (400, &["malformed_json", "unreadable_body"]),
    (413, &["body_too_large"]),
    (503, &["busy"]),
];

/// Errors of every change of a session (after its body is read).
const CHANGE: &[(u16, &[&str])] = &[
    (
        400,
        &["idempotency_key_required", "idempotency_key_invalid"],
    ),
    (422, &["invalid", "idempotency_key_reused"]),
    (500, &["store_error"]),
    (503, &["not_enrolled", "no_catalog"]),
    (507, &["disk_full"]),
];

/// What each operation answers beyond [`EVERY_ROUTE`], by operation id: the success
/// status and its description are the handler's own; these are the errors.
const OPERATIONS: &[(&str, &[(u16, &[&str])])] = &[
    (
        "put_session",
        &[
            (
                409,
                &[
                    "stale_version",
                    "session_exists",
                    "session_closed",
                    "session_cancelled",
                    "tenders_present",
                    "sale_id_in_use",
                    "voucher_used",
                ],
            ),
            (400, &["bad_query"]),
            (404, &["session_not_found"]),
            (422, &["scan refusals: see `POST /v1/identify`"]),
        ],
    ),
    (
        "get_session",
        &[
            (404, &["session_not_found"]),
            (422, &["invalid"]),
            (500, &["store_error"]),
        ],
    ),
    (
        "add_tender",
        &[
            (404, &["session_not_found"]),
            (
                409,
                &["stale_version", "session_closed", "session_cancelled"],
            ),
            (
                422,
                &[
                    "earn_only",
                    "customer_earn_only",
                    "too_many_tenders",
                    "unknown_gift_card",
                    "tender refusals (`no_customer`, `exceeds_amount_due`, \
                     `insufficient_balance`, …) with the cashier's message",
                    "scan refusals of the gift card's QR",
                ],
            ),
        ],
    ),
    (
        "close_session",
        &[
            (404, &["session_not_found"]),
            (
                409,
                &[
                    "stale_version",
                    "session_closed",
                    "session_cancelled",
                    "hold_lapsed",
                    "voucher_used",
                    "sale_id_in_use",
                ],
            ),
            (422, &["tenders_do_not_match", "tender refusals"]),
        ],
    ),
    (
        "cancel_session",
        &[
            (404, &["session_not_found"]),
            (
                409,
                &["stale_version", "session_closed", "session_cancelled"],
            ),
        ],
    ),
    (
        "add_return",
        &[
            (404, &["sale_not_found", "session_not_found"]),
            (409, &["return_exists", "sale_history_incomplete"]),
        ],
    ),
    (
        "get_customer",
        &[
            (404, &["customer_not_found"]),
            (422, &["invalid"]),
            (500, &["store_error"]),
        ],
    ),
    ("identify", &[]),
    ("status", &[(500, &["internal_error"])]),
    ("push_catalog", &[(415, &["unsupported_media_type"])]),
];

/// Operations that read a body; those that change a session also need an
/// `Idempotency-Key`.
fn reads_body(operation_id: &str) -> (bool, bool) {
    match operation_id {
        "put_session" | "add_tender" | "close_session" | "cancel_session" | "add_return" => {
            (true, true)
        }
        "identify" | "push_catalog" => (true, false),
        _ => (false, false),
    }
}

/// The problem document, the one error format of the API.
fn problem_schema() -> Value {
    json!({
        "type": "object",
        "description": "An RFC 9457 problem document with a stable `code`.",
        "required": ["type", "title", "status", "code", "detail"],
        "properties": {
            "type": {"type": "string", "description": "Always `about:blank`."},
            "title": {"type": "string"},
            "status": {"type": "integer"},
            "code": {"type": "string", "description": "A stable code; each answer lists its own."},
            "detail": {"type": "string", "description": "What happened and what to do."},
            "field": {"type": "string",
                      "description": "The field at fault, as a path into the body \
                                      (`cart.lines[2].quantity`), or the parameter's name."},
            "message_es": {"type": "string", "description": "The cashier's message in Spanish."},
            "message_en": {"type": "string", "description": "The cashier's message in English."},
            "refusal": {"description": "More about a refusal (the amount available, …)."},
        },
    })
}

/// The answer of one error status with its codes.
fn error_response(codes: &[&str]) -> Value {
    let listed = codes
        .iter()
        .map(|c| {
            if c.contains(' ') {
                (*c).to_owned()
            } else {
                format!("`{c}`")
            }
        })
        .collect::<Vec<_>>()
        .join(", ");
    json!({
        "description": format!("Refused. `code`: {listed}."),
        "content": {
            "application/problem+json": {
                "schema": {"$ref": "#/components/schemas/Problem"}
            }
        }
    })
}

/// The errors of `operation_id`, merged by status.
fn errors_of(operation_id: &str) -> Vec<(u16, Vec<&'static str>)> {
    let (body, change) = reads_body(operation_id);
    let mut tables: Vec<&[(u16, &[&str])]> = vec![EVERY_ROUTE];
    if body {
        tables.push(WITH_BODY);
    }
    if change {
        tables.push(CHANGE);
    }
    if let Some((_, own)) = OPERATIONS.iter().find(|(id, _)| *id == operation_id) {
        tables.push(own);
    }
    let mut merged: Vec<(u16, Vec<&'static str>)> = Vec::new();
    for table in tables {
        for (status, codes) in table.iter() {
            match merged.iter_mut().find(|(s, _)| s == status) {
                Some((_, all)) => {
                    for c in codes.iter() {
                        if !all.contains(c) {
                            all.push(c);
                        }
                    }
                }
                None => merged.push((*status, codes.to_vec())),
            }
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

/// `GET /v1/events`.
fn events() -> Value {
    json!({
        "get": {
            "tags": ["identify"],
            "operationId": "events",
            "summary": "The till's events as they happen (Server-Sent Events).",
            "description": "A stream of `text/event-stream` events, one JSON object in each \
                event's `data`, its `type` member equal to the event's name: \
                `identified` (a scan identified a customer, gift card or voucher: the same \
                object as `POST /v1/identify` answers, with `type`), `refused` (a scan was \
                refused: `code`, `detail`, `message_es`, `message_en`, `source`, `at`), \
                `scanner_connected` and `scanner_disconnected` (`device`), `scanner_error` \
                (`device`, `error`, `hint`), `sale_closed` (`sale_id`, `net` as Money, \
                `customer` masked or null), `sync_state` (`online`, `earn_only`). Comments \
                keep the connection alive. A slow reader misses old events rather than \
                slowing the till.",
            "responses": {
                "200": {
                    "description": "The stream; it ends when the till stops.",
                    "content": {"text/event-stream": {"schema": {"type": "string"}}}
                }
            },
            "security": [{"bearer": []}]
        }
    })
}

/// Documents every answer in `doc`.
pub fn apply(doc: &mut Value) {
    if let Some(schemas) = doc
        .pointer_mut("/components/schemas")
        .and_then(Value::as_object_mut)
    {
        schemas.insert("Problem".to_owned(), problem_schema());
    }
    let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) else {
        return;
    };
    paths.insert("/v1/events".to_owned(), events());
    // Both status handlers are named `status`; an operation id is unique.
    if let Some(get) = paths.get_mut("/v1/sync").and_then(|p| p.get_mut("get")) {
        if let Some(op) = get.as_object_mut() {
            op.insert("operationId".to_owned(), "sync_status".into());
        }
    }
    for item in paths.values_mut() {
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
            let Some(responses) = operation
                .get_mut("responses")
                .and_then(Value::as_object_mut)
            else {
                continue;
            };
            for (status, codes) in errors_of(&id) {
                responses.insert(status.to_string(), error_response(&codes));
            }
            if let Some(links) = links_of(&id) {
                for (status, answer) in responses.iter_mut() {
                    if status.starts_with('2') {
                        if let Some(answer) = answer.as_object_mut() {
                            answer.insert("links".to_owned(), links.clone());
                        }
                    }
                }
            }
        }
    }
}
