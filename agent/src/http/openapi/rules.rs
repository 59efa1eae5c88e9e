//! The rules the server enforces, stated in the document from the constants and types
//! that enforce them: the ids' characters and lengths (`protocol::sync::ids`), the
//! journal's bounds (`protocol::sync::limits`), the `Idempotency-Key`'s form
//! ([`MAX_KEY_LEN`]), the scans' size, the cart's line, and that no request body takes a
//! member it does not know.

use serde_json::{Map, Value, json};
use tillpass_protocol::sync::ids::{MAX_ID_LEN, TEXT_ID_PATTERN};
use tillpass_protocol::sync::limits::{
    MAX_AMOUNT, MAX_LINE_ID_LEN, MAX_LINES, MAX_METHOD_LEN, MAX_PAYMENTS, MAX_TEXT_LEN,
    METHOD_PATTERN,
};
use tillpass_protocol::token::text::MAX_SCAN_BYTES;

use crate::sessions::cart::MAX_VOUCHERS;
use crate::store::idempotency::MAX_KEY_LEN;

/// An ISO 4217 alphabetic code's form; the code must also be a known retail currency,
/// and a cart's the catalog's.
pub const CURRENCY_PATTERN: &str = "^[A-Z]{3}$";

/// The `Idempotency-Key`'s characters: printable ASCII, no space.
pub const IDEMPOTENCY_KEY_PATTERN: &str = "^[!-~]+$";

/// A text id (sale, return, customer, gift card): [`TEXT_ID_PATTERN`], 1 to
/// [`MAX_ID_LEN`] characters.
pub fn text_id(description: &str) -> Value {
    json!({
        "type": "string",
        "minLength": 1,
        "maxLength": MAX_ID_LEN,
        "pattern": TEXT_ID_PATTERN,
        "description": description,
    })
}

/// The `Idempotency-Key` header's value.
pub fn idempotency_key() -> Value {
    json!({
        "type": "string",
        "minLength": 1,
        "maxLength": MAX_KEY_LEN,
        "pattern": IDEMPOTENCY_KEY_PATTERN,
    })
}

/// A scanned text: at most [`MAX_SCAN_BYTES`] bytes.
fn scan(description: &str) -> Value {
    json!({
        "type": "string",
        "minLength": 1,
        "maxLength": MAX_SCAN_BYTES,
        "description": format!("{description} At most {MAX_SCAN_BYTES} bytes of UTF-8."),
    })
}

/// A currency: one of the ISO 4217 codes with a minor unit the server knows
/// ([`Currency::known_codes`](tillpass_protocol::money::Currency::known_codes)).
fn currency() -> Value {
    json!({"type": "string", "pattern": CURRENCY_PATTERN,
           "enum": tillpass_protocol::money::Currency::known_codes(),
           "example": "EUR",
           "description": "ISO 4217 alphabetic code; a cart's must be the catalog's."})
}

/// Money: integer minor units of an ISO 4217 currency.
fn money() -> Value {
    json!({
        "type": "object",
        "description": "Integer minor units (cents for EUR) of an ISO 4217 currency.",
        "required": ["amount", "currency"],
        "properties": {
            "amount": {"type": "integer", "format": "int64",
                       "minimum": -MAX_AMOUNT, "maximum": MAX_AMOUNT},
            "currency": {"$ref": "#/components/schemas/Currency"},
        },
    })
}

/// A free text of the journal: at most [`MAX_TEXT_LEN`] bytes, no control character.
fn text(description: &str) -> Value {
    json!({
        "type": "string",
        "maxLength": MAX_TEXT_LEN,
        "description": format!(
            "{description} At most {MAX_TEXT_LEN} bytes of UTF-8, no control character."
        ),
    })
}

/// A cart line (`tillpass_engine::Line`).
fn line() -> Value {
    let count = json!({"type": "integer", "format": "uint32", "minimum": 1,
                       "maximum": u32::MAX});
    json!({
        "type": "object",
        "additionalProperties": false,
        "required": ["line_id", "sku", "quantity", "unit_price"],
        "properties": {
            "line_id": {
                "type": "string", "minLength": 1, "maxLength": MAX_LINE_ID_LEN,
                "description": format!(
                    "The POS's id for the line, unique in the cart: 1 to {MAX_LINE_ID_LEN} \
                     bytes of UTF-8, no control character."
                ),
            },
            "sku": text("The article's SKU."),
            "category": text("The article's category, if the POS knows it."),
            "brand": text("The article's brand, if the POS knows it."),
            "quantity": {
                "description": "Whole units, or grams for an article priced per kilogram.",
                "oneOf": [
                    {"type": "object", "additionalProperties": false,
                     "required": ["units"], "properties": {"units": count}},
                    {"type": "object", "additionalProperties": false,
                     "required": ["grams"], "properties": {"grams": count}},
                ],
            },
            "unit_price": {
                "allOf": [{"$ref": "#/components/schemas/Money"}],
                "description": format!(
                    "The tax-inclusive price of one unit (of one kilogram when weighed), \
                     0 to {MAX_AMOUNT} minor units; the line's amount and the cart's total \
                     are bounded alike."
                ),
            },
            "no_promotion": {"type": "boolean", "default": false,
                             "description": "Never discounted (still earns savings)."},
            "gift_card_purchase": {"type": "boolean", "default": false,
                                   "description": "Sells a gift card: never discounted, \
                                                   never earns."},
        },
    })
}

/// Sets `value` at `path` (object members) under `root`, creating objects on the way.
fn set(root: &mut Value, path: &[&str], value: Value) {
    let mut at = root;
    for key in path {
        if !at.is_object() {
            *at = Value::Object(Map::new());
        }
        let Some(map) = at.as_object_mut() else {
            return;
        };
        at = map.entry((*key).to_owned()).or_insert(Value::Null);
    }
    *at = value;
}

/// Merges the members of `extra` into the schema at `path`.
fn merge(root: &mut Value, path: &[&str], extra: Value) {
    let mut at = &mut *root;
    for key in path {
        match at.get_mut(*key) {
            Some(next) => at = next,
            None => return,
        }
    }
    if let (Some(target), Value::Object(extra)) = (at.as_object_mut(), extra) {
        for (k, v) in extra {
            target.insert(k, v);
        }
    }
}

/// The request bodies: every one refuses a member it does not know.
const REQUEST_BODIES: [&str; 9] = [
    "PutSession",
    "CartInput",
    "TenderRequest",
    "Payment",
    "CloseRequest",
    "CancelRequest",
    "ReturnRequest",
    "ReturnLineInput",
    "IdentifyRequest",
];

/// States the rules in `doc`'s schemas and parameters.
pub fn apply(doc: &mut Value) {
    let schemas = ["components", "schemas"];
    let at = |name: &'static str| [schemas[0], schemas[1], name];
    set(doc, &at("Currency"), currency());
    set(doc, &at("Money"), money());
    set(doc, &at("CartLine"), line());
    merge(
        doc,
        &at("PutSession"),
        json!({"example": {
            "cart": {"currency": "EUR", "lines": [{
                "line_id": "1", "sku": "8410000000017", "quantity": {"units": 2},
                "unit_price": {"amount": 250, "currency": "EUR"}
            }]},
            "use_current_customer": false
        }}),
    );
    merge(doc, &at("CloseRequest"), json!({"example": {"version": 1}}));
    for name in REQUEST_BODIES {
        merge(doc, &at(name), json!({"additionalProperties": false}));
    }
    if let Some(variants) = doc
        .pointer_mut("/components/schemas/TenderInput/oneOf")
        .and_then(Value::as_array_mut)
    {
        for variant in variants {
            merge(variant, &[], json!({"additionalProperties": false}));
        }
    }
    let gift_card = "/components/schemas/TenderInput/oneOf";
    if let Some(variants) = doc.pointer_mut(gift_card).and_then(Value::as_array_mut) {
        for variant in variants {
            if variant.pointer("/properties/card_id").is_some() {
                set(
                    variant,
                    &["properties", "card_id"],
                    nullable(text_id("The gift card's reference, when typed.")),
                );
                set(
                    variant,
                    &["properties", "scan"],
                    nullable(scan("The gift card's QR.")),
                );
                // Exactly one of the two names the card: not both, and `card_id` when
                // there is no `scan` (a `null` counts as left out).
                merge(
                    variant,
                    &[],
                    json!({
                        "not": {"properties": {"scan": {"type": "string"},
                                               "card_id": {"type": "string"}},
                                "required": ["scan", "card_id"]},
                        "if": {"not": {"properties": {"scan": {"type": "string"}},
                                       "required": ["scan"]}},
                        "then": {"properties": {"card_id": {"type": "string"}},
                                 "required": ["card_id"]}
                    }),
                );
            }
        }
    }
    let prop = |name: &'static str, field: &'static str| {
        [schemas[0], schemas[1], name, "properties", field]
    };
    set(
        doc,
        &prop("PutSession", "customer_scan"),
        nullable(scan(
            "A customer pass scanned by the POS's own scanner for this sale.",
        )),
    );
    set(
        doc,
        &prop("PutSession", "voucher_scans"),
        json!({"type": "array", "maxItems": MAX_VOUCHERS, "items": scan("A voucher's QR."),
               "description": "Voucher QRs scanned for this sale."}),
    );
    set(
        doc,
        &prop("CartInput", "currency"),
        json!({"$ref": "#/components/schemas/Currency"}),
    );
    merge(
        doc,
        &prop("CartInput", "lines"),
        json!({"maxItems": MAX_LINES, "items": {"$ref": "#/components/schemas/CartLine"}}),
    );
    merge(
        doc,
        &prop("Payment", "method"),
        json!({"minLength": 1, "maxLength": MAX_METHOD_LEN, "pattern": METHOD_PATTERN}),
    );
    merge(
        doc,
        &prop("CloseRequest", "payments"),
        json!({"maxItems": MAX_PAYMENTS}),
    );
    set(
        doc,
        &prop("ReturnRequest", "return_id"),
        text_id("The POS's id for the return, unique in the store."),
    );
    merge(
        doc,
        &prop("ReturnRequest", "lines"),
        json!({"minItems": 1, "maxItems": MAX_LINES}),
    );
    merge(
        doc,
        &prop("ReturnLineInput", "line"),
        json!({"minLength": 1, "maxLength": MAX_LINE_ID_LEN}),
    );
    set(
        doc,
        &prop("IdentifyRequest", "scan"),
        scan("The scan text, as the POS's scanner read it."),
    );
    parameters(doc);
    for name in REQUEST_BODIES.iter().chain(&["TenderInput"]) {
        if let Some(schema) = doc.pointer_mut(&format!("/components/schemas/{name}")) {
            unsigned(schema);
        }
    }
    // After the unsigned bounds: a returned quantity is at least one.
    merge(doc, &prop("ReturnLineInput", "qty"), json!({"minimum": 1}));
}

/// The unsigned integers (`u32`, `u64`: `int32`/`int64` with a minimum of 0) of a request
/// with their true maximum: the server takes a value above the signed range. (An answer
/// keeps the signed range: no version, time or count the till gives reaches beyond it.)
fn unsigned(schema: &mut Value) {
    match schema {
        Value::Object(map) => {
            let at_least_zero = map.get("minimum").and_then(Value::as_i64) == Some(0);
            let format = map.get("format").and_then(Value::as_str).map(str::to_owned);
            match format.as_deref() {
                Some("int64") if at_least_zero => {
                    map.insert("format".to_owned(), "uint64".into());
                    map.insert("maximum".to_owned(), u64::MAX.into());
                }
                Some("int32") if at_least_zero => {
                    map.insert("format".to_owned(), "uint32".into());
                    map.insert("maximum".to_owned(), u32::MAX.into());
                }
                _ => {}
            }
            map.values_mut().for_each(unsigned);
        }
        Value::Array(items) => items.iter_mut().for_each(unsigned),
        _ => {}
    }
}

/// A schema that also takes `null`.
fn nullable(schema: Value) -> Value {
    json!({"oneOf": [{"type": "null"}, schema]})
}

/// Path ids and the `Idempotency-Key` header on every operation that has them.
fn parameters(doc: &mut Value) {
    let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) else {
        return;
    };
    for item in paths.values_mut() {
        let Some(item) = item.as_object_mut() else {
            continue;
        };
        for operation in item.values_mut() {
            let Some(params) = operation
                .get_mut("parameters")
                .and_then(Value::as_array_mut)
            else {
                continue;
            };
            for param in params.iter_mut() {
                let name = param.get("name").and_then(Value::as_str).unwrap_or("");
                let place = param.get("in").and_then(Value::as_str).unwrap_or("");
                match (place, name) {
                    ("path", "id") => {
                        set(param, &["schema"], text_id("A sale id."));
                    }
                    ("path", "reference") => {
                        set(param, &["schema"], text_id("A customer reference."));
                    }
                    ("header", "Idempotency-Key") => {
                        // Required on every change, a dry run included.
                        set(param, &["schema"], idempotency_key());
                        set(param, &["required"], Value::Bool(true));
                    }
                    _ => {}
                }
            }
        }
    }
}
