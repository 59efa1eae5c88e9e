//! The API's edge: every route the OpenAPI document lists, walked with bad input — no or a
//! wrong token, a bad path id, a method it does not take, text that is not JSON, JSON that
//! breaks a rule, a wrong `Content-Type`, a body over the route's maximum — and unknown
//! paths. Every answer must be `application/problem+json` with a `code` the document
//! lists, and the status it says.

use std::collections::BTreeSet;
use std::io::{Read, Write};

use serde_json::{Value, json};

use crate::util::{Central, TOKEN, Till};

/// An answer: status, `Content-Type`, body.
struct Answer {
    status: u16,
    content_type: String,
    body: String,
}

/// Sends one request on its own connection.
fn send(addr: &str, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Answer {
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(20)))
        .unwrap();
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\
         Content-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).unwrap();
    // The server may answer (413) before reading the rest.
    let _ = stream.write_all(body);
    let mut raw = Vec::new();
    let _ = stream.read_to_end(&mut raw);
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status in {text:?}"));
    let content_type = head
        .lines()
        .find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.eq_ignore_ascii_case("content-type")
                .then(|| value.trim().to_owned())
        })
        .unwrap_or_default();
    Answer {
        status,
        content_type,
        body: body.to_owned(),
    }
}

/// Asserts `answer` is a problem with `status` and a listed code; returns the document.
fn problem(answer: &Answer, status: u16, codes: &BTreeSet<String>, what: &str) -> Value {
    assert_eq!(answer.status, status, "{what}: {}", answer.body);
    assert_eq!(
        answer.content_type, "application/problem+json",
        "{what}: {}",
        answer.body
    );
    let doc: Value = serde_json::from_str(&answer.body)
        .unwrap_or_else(|e| panic!("{what}: not JSON ({e}): {}", answer.body));
    assert_eq!(doc["status"], status, "{what}: {doc}");
    assert_eq!(doc["type"], "about:blank", "{what}: {doc}");
    assert!(
        doc["title"].as_str().is_some_and(|t| !t.is_empty()),
        "{what}: {doc}"
    );
    let code = doc["code"].as_str().unwrap_or_default();
    assert!(
        codes.contains(code),
        "{what}: code {code:?} is not in the document"
    );
    doc
}

#[test]
fn every_route_answers_bad_input_with_a_problem_of_a_listed_code() {
    let central = Central::new();
    let till = Till::new(&central, 2, "");
    let agent = till.start();
    let addr = agent.addr.as_str();
    let auth = format!("Bearer {TOKEN}");
    let document: Value =
        serde_json::from_str(&send(addr, "GET", "/openapi.json", &[], b"").body).unwrap();
    let codes: BTreeSet<String> =
        document["components"]["schemas"]["Problem"]["properties"]["code"]["enum"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c.as_str().unwrap().to_owned())
            .collect();
    assert!(codes.len() > 40, "{codes:?}");

    let largest = [
        tillpass_agent::http::IDENTIFY_BODY,
        tillpass_agent::sessions::routes::MAX_BODY,
        tillpass_protocol::envelope::EnvelopePurpose::Catalog.max_bytes(),
    ]
    .into_iter()
    .max()
    .unwrap();
    let mut big = vec![b' '; largest + 1024];
    big[0] = b'[';

    let paths = document["paths"].as_object().unwrap();
    assert!(paths.len() >= 11, "{:?}", paths.keys());
    let mut walked = 0;
    for (template, item) in paths {
        let path = template
            .replace("{id}", "S-1")
            .replace("{reference}", "C-1");
        let methods: Vec<String> = item
            .as_object()
            .unwrap()
            .keys()
            .map(|m| m.to_ascii_uppercase())
            .collect();
        for (method, operation) in item.as_object().unwrap() {
            let method = method.to_ascii_uppercase();
            let what = |case: &str| format!("{method} {template}: {case}");
            // The operation documents the status of each bad input it is sent.
            let documented = |status: u16, case: &str| {
                assert!(
                    operation["responses"][status.to_string()].is_object(),
                    "{method} {template}: {case}: {status} is not documented"
                );
            };
            walked += 1;
            // Every error the operation documents is a problem.
            for (status, response) in operation["responses"].as_object().unwrap() {
                if status.starts_with('4') || status.starts_with('5') {
                    assert!(
                        response["content"]["application/problem+json"].is_object(),
                        "{}",
                        what(status)
                    );
                }
            }
            // No token, a wrong token.
            for headers in [vec![], vec![("Authorization", "Bearer wrong")]] {
                let a = send(addr, &method, &path, &headers, b"");
                let doc = problem(&a, 401, &codes, &what("no token"));
                documented(401, "no token");
                assert_eq!(doc["code"], "unauthorized");
            }
            // A method the path does not take.
            let other = ["DELETE", "PATCH", "PUT", "POST"]
                .into_iter()
                .find(|m| !methods.iter().any(|k| k == m))
                .unwrap();
            let a = send(addr, other, &path, &[("Authorization", &auth)], b"");
            let doc = problem(&a, 405, &codes, &what("wrong method"));
            assert_eq!(doc["code"], "method_not_allowed");
            // A path id that breaks the id rules.
            if template.contains('{') {
                let bad = template
                    .replace("{id}", "bad%20id%21")
                    .replace("{reference}", "bad%20ref%21");
                let a = send(
                    addr,
                    &method,
                    &bad,
                    &[
                        ("Authorization", &auth),
                        ("Idempotency-Key", "k-bad-path"),
                        ("Content-Type", "application/json"),
                    ],
                    b"{}",
                );
                let doc = problem(&a, 422, &codes, &what("bad path id"));
                documented(422, "bad path id");
                assert_eq!(doc["code"], "invalid", "{doc}");
                assert!(doc["field"].is_string(), "{doc}");
            }
            let Some(content) = operation["requestBody"]["content"].as_object() else {
                continue;
            };
            let json_body = content.contains_key("application/json");
            let headers = |content_type: &'static str| {
                vec![
                    ("Authorization", auth.as_str()),
                    ("Idempotency-Key", "k-edge-1"),
                    ("Content-Type", content_type),
                ]
            };
            // A body over any route's maximum.
            let declared = headers(if json_body {
                "application/json"
            } else {
                "application/cbor"
            });
            let a = send(addr, &method, &path, &declared, &big);
            let doc = problem(&a, 413, &codes, &what("oversized body"));
            documented(413, "oversized body");
            assert_eq!(doc["code"], "body_too_large");
            // A Content-Type the route does not read.
            let a = send(
                addr,
                &method,
                &path,
                &headers(if json_body {
                    "text/plain"
                } else {
                    "application/json"
                }),
                b"{}",
            );
            let doc = problem(&a, 415, &codes, &what("wrong content type"));
            documented(415, "wrong content type");
            assert_eq!(doc["code"], "unsupported_media_type");
            if !json_body {
                continue;
            }
            // Text that is not JSON.
            for body in [&b"{"[..], b"not json", b"{\"a\": }"] {
                let a = send(addr, &method, &path, &declared, body);
                let doc = problem(&a, 400, &codes, &what("malformed JSON"));
                documented(400, "malformed JSON");
                assert_eq!(doc["code"], "malformed_json");
            }
            // JSON that breaks the body's rules.
            for body in [&b"42"[..], b"\"text\"", b"[1e400]"] {
                let a = send(addr, &method, &path, &declared, body);
                let doc = problem(&a, 422, &codes, &what("rule-breaking JSON"));
                documented(422, "rule-breaking JSON");
                assert_eq!(doc["code"], "invalid");
                assert!(doc["field"].is_string(), "{doc}");
            }
        }
    }
    assert!(walked >= 12, "walked {walked} operations");

    // Unknown paths, with and without the token.
    for path in ["/v1/nope", "/nope", "/v1/sessions", "/v1/sessions/S-1/nope"] {
        for headers in [vec![], vec![("Authorization", auth.as_str())]] {
            let a = send(addr, "GET", path, &headers, b"");
            let doc = problem(&a, 404, &codes, &format!("GET {path}"));
            assert_eq!(doc["code"], "not_found");
        }
    }
    agent.stop();
}

#[test]
fn a_cart_that_breaks_a_rule_is_422_with_the_field_path() {
    let central = Central::new();
    let till = Till::new(&central, 2, "");
    let agent = till.start();
    let line = |quantity: Value| {
        json!({ "cart": { "currency": "EUR", "lines": [
            { "line_id": "1", "sku": "MILK", "quantity": quantity,
              "unit_price": { "amount": 100, "currency": "EUR" } }
        ] } })
        .to_string()
    };
    for (quantity, field) in [
        (json!({ "units": 1, "grams": 5 }), "cart.lines[0].quantity"),
        (json!({ "units": 1e300 }), "cart.lines[0].quantity"),
    ] {
        let (status, body) =
            agent.request("PUT", "/v1/sessions/S-9?dry=true", Some(&line(quantity)));
        assert_eq!(status, 422, "{body}");
        assert_eq!(body["code"], "invalid", "{body}");
        assert!(
            body["field"]
                .as_str()
                .unwrap_or_default()
                .starts_with(field),
            "{body}"
        );
    }
    // `1e400` is out of every number's range: still JSON, so 422 too.
    let text = line(json!(0)).replace("\"quantity\":0", "\"quantity\":{\"units\":1e400}");
    let (status, body) = agent.request("PUT", "/v1/sessions/S-9?dry=true", Some(&text));
    assert_eq!(status, 422, "{text} → {body}");
    assert_eq!(body["code"], "invalid", "{body}");
    // A query parameter of the wrong type is a problem too.
    let (status, body) = agent.request(
        "PUT",
        "/v1/sessions/S-9?dry=maybe",
        Some(&line(json!({"units": 1}))),
    );
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["code"], "bad_query", "{body}");
    agent.stop();
}
