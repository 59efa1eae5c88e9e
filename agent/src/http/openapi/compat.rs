//! What makes a new document break a client written against an older one: `/v1`
//! changes only by addition.
//!
//! A client *sends* what the old document allowed, so the new one must still accept it:
//! no operation, parameter, body media type or body member removed; no new required
//! parameter or member; no type, range, length, pattern or enum narrowed; no member
//! refused that was allowed. A client *reads* what the old document promised, so the new
//! one must still give it: no answer member removed or made optional; no type or enum
//! widened (a new value a strict client cannot read). New operations, optional members,
//! new statuses and new answer members are additions, and so is a new error code: the
//! document tells clients to take a `code` they do not know as a refusal.

use serde_json::Value;

/// How deep `$ref`s are followed; the API's schemas are far shallower.
const MAX_DEPTH: usize = 32;

/// Which side of the wire a schema describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    /// What the client sends: the new schema must accept all the old one did.
    Request,
    /// What the client reads: the new schema must promise all the old one did.
    Response,
    /// An error answer the client reads: as [`Side::Response`], but its enums (the
    /// problem's `code`) may grow — a new code comes with a new refusal, and the
    /// document tells clients to take a code they do not know as a refusal.
    Error,
}

const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

/// Every way `new` breaks a client of `old`, one line each; empty when it does not.
pub fn breaks(old: &Value, new: &Value) -> Vec<String> {
    let mut out = Vec::new();
    let empty = serde_json::Map::new();
    let old_paths = old
        .get("paths")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    let new_paths = new
        .get("paths")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    for (path, old_item) in old_paths {
        for method in METHODS {
            let Some(old_op) = old_item.get(method) else {
                continue;
            };
            let at = format!("{} {path}", method.to_uppercase());
            match new_paths.get(path).and_then(|i| i.get(method)) {
                None => out.push(format!("{at}: operation removed")),
                Some(new_op) => {
                    let cx = Cx {
                        old,
                        new,
                        out: &mut out,
                    };
                    cx.operation(&at, old_op, new_op);
                }
            }
        }
    }
    out
}

struct Cx<'a> {
    old: &'a Value,
    new: &'a Value,
    out: &'a mut Vec<String>,
}

fn params(op: &Value) -> Vec<&Value> {
    op.get("parameters")
        .and_then(Value::as_array)
        .map(|a| a.iter().collect())
        .unwrap_or_default()
}

fn key(p: &Value) -> (String, String) {
    let s = |k: &str| {
        p.get(k)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_ascii_lowercase()
    };
    (s("in"), s("name"))
}

fn required(v: &Value) -> bool {
    v.get("required").and_then(Value::as_bool).unwrap_or(false)
}

impl Cx<'_> {
    fn operation(mut self, at: &str, old_op: &Value, new_op: &Value) {
        let old_params = params(old_op);
        let new_params = params(new_op);
        for np in &new_params {
            let found = old_params.iter().find(|op| key(op) == key(np));
            let name = key(np).1;
            match found {
                None if required(np) => self.push(format!("{at}: new required parameter {name}")),
                Some(op) if required(np) && !required(op) => {
                    self.push(format!("{at}: parameter {name} became required"))
                }
                _ => {}
            }
        }
        for op in &old_params {
            let name = key(op).1;
            match new_params.iter().find(|np| key(np) == key(op)) {
                None => self.push(format!("{at}: parameter {name} removed")),
                Some(np) => self.schema(
                    Side::Request,
                    &format!("{at} parameter {name}"),
                    op.get("schema").unwrap_or(&Value::Null),
                    np.get("schema").unwrap_or(&Value::Null),
                    0,
                ),
            }
        }
        let old_body = old_op.get("requestBody");
        let new_body = new_op.get("requestBody");
        match (old_body, new_body) {
            (None, Some(nb)) if required(nb) => self.push(format!("{at}: new required body")),
            (Some(_), None) => self.push(format!("{at}: body removed")),
            (Some(ob), Some(nb)) => {
                if required(nb) && !required(ob) {
                    self.push(format!("{at}: body became required"));
                }
                self.content(Side::Request, &format!("{at} body"), ob, nb);
            }
            _ => {}
        }
        let empty = serde_json::Map::new();
        let old_answers = old_op
            .get("responses")
            .and_then(Value::as_object)
            .unwrap_or(&empty);
        let new_answers = new_op
            .get("responses")
            .and_then(Value::as_object)
            .unwrap_or(&empty);
        for (status, old_answer) in old_answers {
            if let Some(new_answer) = new_answers.get(status) {
                let error = status.starts_with('4') || status.starts_with('5');
                self.content(
                    if error { Side::Error } else { Side::Response },
                    &format!("{at} answer {status}"),
                    old_answer,
                    new_answer,
                );
            }
        }
    }

    fn push(&mut self, line: String) {
        self.out.push(line);
    }

    /// The media types of a body or an answer.
    fn content(&mut self, side: Side, at: &str, old: &Value, new: &Value) {
        let Some(old_types) = old.get("content").and_then(Value::as_object) else {
            return;
        };
        for (media, old_media) in old_types {
            match new.get("content").and_then(|c| c.get(media)) {
                None => self.push(format!("{at}: media type {media} removed")),
                Some(new_media) => self.schema(
                    side,
                    &format!("{at} ({media})"),
                    old_media.get("schema").unwrap_or(&Value::Null),
                    new_media.get("schema").unwrap_or(&Value::Null),
                    0,
                ),
            }
        }
    }

    fn schema(&mut self, side: Side, at: &str, old: &Value, new: &Value, depth: usize) {
        if depth > MAX_DEPTH {
            return;
        }
        let old = resolve(self.old, old, 0);
        let new = resolve(self.new, new, 0);
        let (old, new) = (&old, &new);
        // The types a value may have.
        let (ot, nt) = (types(old), types(new));
        match side {
            Side::Request => {
                if let Some(nt) = &nt {
                    let narrowed = match &ot {
                        None => true,
                        Some(ot) => ot.iter().any(|t| !covers(nt, t)),
                    };
                    if narrowed {
                        self.push(format!("{at}: type narrowed"));
                    }
                }
            }
            Side::Response | Side::Error => {
                if let Some(ot) = &ot {
                    let widened = match &nt {
                        None => true,
                        Some(nt) => nt.iter().any(|t| !covers(ot, t)),
                    };
                    if widened {
                        self.push(format!("{at}: type widened"));
                    }
                }
            }
        }
        self.bounds(side, at, old, new);
        self.enums(side, at, old, new);
        // Members.
        let empty = serde_json::Map::new();
        let oprops = old
            .get("properties")
            .and_then(Value::as_object)
            .unwrap_or(&empty);
        let nprops = new
            .get("properties")
            .and_then(Value::as_object)
            .unwrap_or(&empty);
        let oreq = names(old.get("required"));
        let nreq = names(new.get("required"));
        match side {
            Side::Request => {
                for r in &nreq {
                    if !oreq.contains(r) {
                        self.push(format!("{at}: member {r} became required"));
                    }
                }
                let closed = |s: &Value| s.get("additionalProperties") == Some(&Value::Bool(false));
                if closed(new) && !closed(old) {
                    self.push(format!("{at}: unknown members now refused"));
                }
                for name in oprops.keys() {
                    if !nprops.contains_key(name) && closed(new) {
                        self.push(format!("{at}: member {name} removed"));
                    }
                }
            }
            Side::Response | Side::Error => {
                for name in oprops.keys() {
                    if !nprops.contains_key(name) {
                        self.push(format!("{at}: member {name} removed"));
                    }
                }
                for r in &oreq {
                    if !nreq.contains(r) {
                        self.push(format!("{at}: member {r} no longer always given"));
                    }
                }
            }
        }
        for (name, o) in oprops {
            if let Some(n) = nprops.get(name) {
                self.schema(side, &format!("{at}.{name}"), o, n, depth + 1);
            }
        }
        if let (Some(o), Some(n)) = (old.get("items"), new.get("items")) {
            self.schema(side, &format!("{at}[]"), o, n, depth + 1);
        }
        for word in ["oneOf", "anyOf"] {
            let (o, n) = (
                old.get(word).and_then(Value::as_array),
                new.get(word).and_then(Value::as_array),
            );
            match (o, n) {
                (Some(o), Some(n)) if o.len() == n.len() => {
                    for (i, (o, n)) in o.iter().zip(n).enumerate() {
                        self.schema(side, &format!("{at}<{word} {i}>"), o, n, depth + 1);
                    }
                }
                (Some(o), Some(n)) => {
                    let fewer = n.len() < o.len();
                    if (side == Side::Request && fewer) || (side != Side::Request && !fewer) {
                        self.push(format!("{at}: alternatives changed ({word})"));
                    }
                }
                (None, None) => {}
                _ => self.push(format!("{at}: shape changed ({word})")),
            }
        }
    }

    /// Lengths, ranges, item counts and patterns.
    fn bounds(&mut self, side: Side, at: &str, old: &Value, new: &Value) {
        // (keyword, whether a larger value is tighter)
        const BOUNDS: [(&str, bool); 8] = [
            ("minLength", true),
            ("maxLength", false),
            ("minimum", true),
            ("maximum", false),
            ("exclusiveMinimum", true),
            ("exclusiveMaximum", false),
            ("minItems", true),
            ("maxItems", false),
        ];
        for (word, larger_is_tighter) in BOUNDS {
            let o = bound(old, word);
            let n = bound(new, word);
            let tighter = match (o, n) {
                (None, None) => continue,
                (None, Some(_)) => true,
                (Some(_), None) => false,
                (Some(o), Some(n)) if larger_is_tighter => n > o,
                (Some(o), Some(n)) => n < o,
            };
            let looser = o != n && !tighter;
            if (side == Side::Request && tighter) || (side != Side::Request && looser) {
                self.push(format!(
                    "{at}: {word} {}",
                    if tighter { "tightened" } else { "loosened" }
                ));
            }
        }
        let (o, n) = (old.get("pattern"), new.get("pattern"));
        if o != n && (side == Side::Request && n.is_some() || side != Side::Request && o.is_some())
        {
            self.push(format!("{at}: pattern changed"));
        }
    }

    fn enums(&mut self, side: Side, at: &str, old: &Value, new: &Value) {
        let (o, n) = (
            old.get("enum").and_then(Value::as_array),
            new.get("enum").and_then(Value::as_array),
        );
        match side {
            Side::Request => match (o, n) {
                (None, Some(_)) => self.push(format!("{at}: values now limited")),
                (Some(o), Some(n)) => {
                    for v in o.iter().filter(|v| !n.contains(v)) {
                        self.push(format!("{at}: value {v} no longer accepted"));
                    }
                }
                _ => {}
            },
            Side::Error => {}
            Side::Response => match (o, n) {
                (Some(_), None) => self.push(format!("{at}: values no longer limited")),
                (Some(o), Some(n)) => {
                    for v in n.iter().filter(|v| !o.contains(v)) {
                        self.push(format!("{at}: new value {v}"));
                    }
                }
                _ => {}
            },
        }
    }
}

/// Follows `$ref`s into `doc`'s components, and unwraps an `allOf` of one schema (the
/// form a described `$ref` takes), keeping the outer members.
fn resolve(doc: &Value, schema: &Value, depth: usize) -> Value {
    if depth > MAX_DEPTH {
        return schema.clone();
    }
    if let Some(reference) = schema.get("$ref").and_then(Value::as_str) {
        let target = reference
            .strip_prefix('#')
            .and_then(|p| doc.pointer(p))
            .cloned()
            .unwrap_or(Value::Null);
        return resolve(doc, &target, depth + 1);
    }
    if let Some([inner]) = schema
        .get("allOf")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
    {
        let mut merged = resolve(doc, inner, depth + 1);
        if let (Some(m), Some(outer)) = (merged.as_object_mut(), schema.as_object()) {
            for (k, v) in outer {
                if k != "allOf" {
                    m.insert(k.clone(), v.clone());
                }
            }
        }
        return merged;
    }
    schema.clone()
}

/// A bound of a schema: its own, or the one its integer `format` implies.
fn bound(schema: &Value, word: &str) -> Option<f64> {
    if let Some(b) = schema.get(word).and_then(Value::as_f64) {
        return Some(b);
    }
    // The bounds are compared, not computed with: a float is precise enough.
    #[allow(clippy::cast_precision_loss)]
    let implied = match (schema.get("format").and_then(Value::as_str)?, word) {
        ("int32", "minimum") => f64::from(i32::MIN),
        ("int32", "maximum") => f64::from(i32::MAX),
        ("uint32", "minimum") | ("uint64", "minimum") => 0.0,
        ("uint32", "maximum") => f64::from(u32::MAX),
        ("int64", "minimum") => i64::MIN as f64,
        ("int64", "maximum") => i64::MAX as f64,
        ("uint64", "maximum") => u64::MAX as f64,
        _ => return None,
    };
    Some(implied)
}

/// The `type`s a schema allows, or `None` for any.
fn types(schema: &Value) -> Option<Vec<String>> {
    match schema.get("type")? {
        Value::String(t) => Some(vec![t.clone()]),
        Value::Array(ts) => Some(
            ts.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect(),
        ),
        _ => None,
    }
}

/// Whether a value of type `t` is one of `set` (an integer is a number).
fn covers(set: &[String], t: &str) -> bool {
    set.iter()
        .any(|s| s == t || (s == "number" && t == "integer"))
}

fn names(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::breaks;

    fn doc(request: Value, answer: Value) -> Value {
        json!({
            "paths": {"/v1/things/{id}": {"put": {
                "operationId": "put_thing",
                "parameters": [{"name": "id", "in": "path", "required": true,
                                "schema": {"type": "string", "maxLength": 64}}],
                "requestBody": {"required": true, "content": {"application/json": {
                    "schema": {"$ref": "#/components/schemas/Req"}}}},
                "responses": {"200": {"description": "ok", "content": {"application/json": {
                    "schema": {"$ref": "#/components/schemas/Ans"}}}}}
            }}},
            "components": {"schemas": {"Req": request, "Ans": answer}}
        })
    }

    fn req() -> Value {
        json!({"type": "object", "required": ["a"], "additionalProperties": false,
               "properties": {"a": {"type": "integer"}, "b": {"type": "string"}}})
    }

    fn ans() -> Value {
        json!({"type": "object", "required": ["x"],
               "properties": {"x": {"type": "string", "enum": ["open", "closed"]},
                              "y": {"type": "integer"}}})
    }

    #[test]
    fn the_same_document_and_additions_break_nothing() {
        let old = doc(req(), ans());
        assert_eq!(breaks(&old, &old), Vec::<String>::new());
        let mut more_req = req();
        more_req["properties"]["c"] = json!({"type": "boolean"});
        let mut more_ans = ans();
        more_ans["properties"]["z"] = json!({"type": "string"});
        let mut new = doc(more_req, more_ans);
        new["paths"]["/v1/other"] = json!({"get": {"responses": {}}});
        new["paths"]["/v1/things/{id}"]["put"]["responses"]["404"] = json!({"description": "no"});
        assert_eq!(breaks(&old, &new), Vec::<String>::new());
    }

    #[test]
    fn a_removed_operation_field_or_parameter_breaks() {
        let old = doc(req(), ans());
        let mut new = old.clone();
        new["paths"]["/v1/things/{id}"] = json!({"get": {"responses": {}}});
        assert_eq!(
            breaks(&old, &new),
            vec!["PUT /v1/things/{id}: operation removed"]
        );

        let mut less = ans();
        less["properties"].as_object_mut().unwrap().remove("y");
        let found = breaks(&old, &doc(req(), less));
        assert!(
            found.iter().any(|b| b.contains("member y removed")),
            "{found:?}"
        );

        let mut new = old.clone();
        new["paths"]["/v1/things/{id}"]["put"]["parameters"] = json!([]);
        let found = breaks(&old, &new);
        assert!(
            found.iter().any(|b| b.contains("parameter id removed")),
            "{found:?}"
        );
    }

    #[test]
    fn a_narrowed_type_or_a_new_required_member_or_parameter_breaks() {
        let old = doc(req(), ans());
        let mut narrowed = req();
        narrowed["properties"]["b"] = json!({"type": "string", "maxLength": 3});
        let found = breaks(&old, &doc(narrowed, ans()));
        assert!(
            found.iter().any(|b| b.contains(".b: maxLength tightened")),
            "{found:?}"
        );

        let mut retyped = req();
        retyped["properties"]["a"] = json!({"type": "string"});
        let found = breaks(&old, &doc(retyped, ans()));
        assert!(
            found.iter().any(|b| b.contains(".a: type narrowed")),
            "{found:?}"
        );

        let mut needs = req();
        needs["required"] = json!(["a", "b"]);
        let found = breaks(&old, &doc(needs, ans()));
        assert!(
            found.iter().any(|b| b.contains("member b became required")),
            "{found:?}"
        );

        let mut new = old.clone();
        new["paths"]["/v1/things/{id}"]["put"]["parameters"]
            .as_array_mut()
            .unwrap()
            .push(json!({"name": "Idempotency-Key", "in": "header", "required": true}));
        let found = breaks(&old, &new);
        assert!(
            found.iter().any(|b| b.contains("new required parameter")),
            "{found:?}"
        );
    }

    #[test]
    fn an_answer_that_promises_less_breaks() {
        let old = doc(req(), ans());
        let mut wider = ans();
        wider["properties"]["x"]["enum"] = json!(["open", "closed", "parked"]);
        let found = breaks(&old, &doc(req(), wider));
        assert!(
            found.iter().any(|b| b.contains("new value \"parked\"")),
            "{found:?}"
        );

        // An error answer's codes may grow.
        let mut with_error = old.clone();
        with_error["paths"]["/v1/things/{id}"]["put"]["responses"]["409"] = json!({
            "description": "no", "content": {"application/problem+json": {"schema": {
                "type": "object", "properties": {"code": {"enum": ["stale"]}}}}}});
        let mut more_codes = with_error.clone();
        more_codes["paths"]["/v1/things/{id}"]["put"]["responses"]["409"]["content"]["application/problem+json"]
            ["schema"]["properties"]["code"]["enum"] = json!(["stale", "taken"]);
        assert_eq!(breaks(&with_error, &more_codes), Vec::<String>::new());

        let mut optional = ans();
        optional["required"] = json!([]);
        let found = breaks(&old, &doc(req(), optional));
        assert!(
            found.iter().any(|b| b.contains("x no longer always given")),
            "{found:?}"
        );
    }
}
