//! The HTTP edge: every route, walked with bad input — no or a wrong token or signature, a
//! method it does not take, a bad path parameter, text that is not JSON, JSON that breaks
//! a rule, a wrong `Content-Type`, a body over the route's maximum — and unknown paths.
//! Every answer must be `application/problem+json` with its status and a code of
//! `ErrorCode`.

use std::collections::BTreeSet;

use reqwest::Method;
use serde_json::Value;
use tillpass_central::http::limits::MAX_ADMIN_JSON_BYTES;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::util::{ADMIN, Central};

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Caller {
    /// The admin bearer token.
    Admin,
    /// A till's signature.
    Till,
    /// Anyone (enrolment carries its one-time code in the body).
    Open,
}

/// What a route's body is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Body {
    None,
    Json,
    Other,
}

/// Every route: method, path (`{}` for a parameter), caller, body.
const ROUTES: &[(&str, &str, Caller, Body)] = &[
    ("POST", "/admin/v1/customers", Caller::Admin, Body::Json),
    ("GET", "/admin/v1/customers/{}", Caller::Admin, Body::None),
    ("PATCH", "/admin/v1/customers/{}", Caller::Admin, Body::Json),
    (
        "DELETE",
        "/admin/v1/customers/{}",
        Caller::Admin,
        Body::None,
    ),
    (
        "POST",
        "/admin/v1/customers/{}/savings",
        Caller::Admin,
        Body::Json,
    ),
    (
        "PUT",
        "/admin/v1/customers/{}/promotions/{}",
        Caller::Admin,
        Body::Json,
    ),
    (
        "DELETE",
        "/admin/v1/customers/{}/promotions/{}",
        Caller::Admin,
        Body::None,
    ),
    (
        "GET",
        "/admin/v1/customers/{}/receipts",
        Caller::Admin,
        Body::None,
    ),
    (
        "GET",
        "/admin/v1/customers/{}/stores",
        Caller::Admin,
        Body::None,
    ),
    (
        "PUT",
        "/admin/v1/customers/{}/stores",
        Caller::Admin,
        Body::Json,
    ),
    ("POST", "/v1/customers/{}/pass", Caller::Admin, Body::Json),
    ("POST", "/admin/v1/gift-cards", Caller::Admin, Body::Json),
    ("GET", "/admin/v1/gift-cards/{}", Caller::Admin, Body::None),
    (
        "POST",
        "/admin/v1/gift-cards/{}/block",
        Caller::Admin,
        Body::None,
    ),
    (
        "POST",
        "/admin/v1/gift-cards/{}/unblock",
        Caller::Admin,
        Body::None,
    ),
    ("POST", "/v1/gift-cards/{}/token", Caller::Admin, Body::Json),
    ("POST", "/v1/vouchers", Caller::Admin, Body::Json),
    (
        "POST",
        "/admin/v1/enrolment-codes",
        Caller::Admin,
        Body::Json,
    ),
    (
        "POST",
        "/admin/v1/tills/{}/revoke",
        Caller::Admin,
        Body::None,
    ),
    ("POST", "/admin/v1/catalogs", Caller::Admin, Body::Other),
    ("GET", "/admin/v1/keys", Caller::Admin, Body::None),
    (
        "POST",
        "/admin/v1/keys/{}/rotate",
        Caller::Admin,
        Body::None,
    ),
    (
        "POST",
        "/admin/v1/keys/{}/revoke",
        Caller::Admin,
        Body::None,
    ),
    ("POST", "/admin/v1/revocations", Caller::Admin, Body::Json),
    ("GET", "/admin/v1/flags", Caller::Admin, Body::None),
    (
        "POST",
        "/admin/v1/flags/{}/resolve",
        Caller::Admin,
        Body::Json,
    ),
    ("GET", "/admin/v1/offline-policy", Caller::Admin, Body::None),
    ("PUT", "/admin/v1/offline-policy", Caller::Admin, Body::Json),
    (
        "GET",
        "/admin/v1/whatsapp/status",
        Caller::Admin,
        Body::None,
    ),
    (
        "GET",
        "/admin/v1/customers/{}/consents",
        Caller::Admin,
        Body::None,
    ),
    (
        "PUT",
        "/admin/v1/gift-cards/{}/owner",
        Caller::Admin,
        Body::Json,
    ),
    (
        "GET",
        "/admin/v1/whatsapp/poster.png",
        Caller::Admin,
        Body::None,
    ),
    (
        "GET",
        "/admin/v1/whatsapp/poster.svg",
        Caller::Admin,
        Body::None,
    ),
    ("POST", "/v1/enrol", Caller::Open, Body::Json),
    ("POST", "/v1/journal", Caller::Till, Body::Json),
    ("GET", "/v1/deltas/{}", Caller::Till, Body::None),
    ("GET", "/v1/trust-list", Caller::Till, Body::None),
    ("GET", "/v1/catalog", Caller::Till, Body::None),
    ("POST", "/v1/lookup", Caller::Till, Body::Json),
    ("POST", "/v1/sync/round", Caller::Till, Body::Json),
];

/// Asserts `response` is a problem with `status` and a code of the enum; its document.
async fn problem(response: reqwest::Response, status: u16, what: &str) -> Value {
    let codes: BTreeSet<&str> = tillpass_protocol::problem::ErrorCode::ALL
        .iter()
        .map(|c| c.code())
        .collect();
    let got = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let text = response.text().await.unwrap();
    assert_eq!(got, status, "{what}: {text}");
    assert_eq!(content_type, "application/problem+json", "{what}: {text}");
    let doc: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(doc["status"], status, "{what}: {doc}");
    assert_eq!(doc["type"], "about:blank", "{what}: {doc}");
    let code = doc["code"].as_str().unwrap_or_default();
    assert!(codes.contains(code), "{what}: {code:?} is not an ErrorCode");
    doc
}

#[test]
fn the_route_table_is_every_admin_route() {
    let source = [
        include_str!("../../src/http/admin.rs"),
        include_str!("../../src/whatsapp/routes.rs"),
    ]
    .concat();
    for (at, _) in source.match_indices(".route(") {
        let rest = source[at..].trim_start_matches(".route(").trim_start();
        let path = &rest[1..rest[1..].find('"').unwrap() + 1];
        if !path.starts_with("/admin") && !path.starts_with("/v1") {
            // The WhatsApp webhook: signed by Meta, tested in `whatsapp.rs`.
            continue;
        }
        let pattern = path
            .split('/')
            .map(|s| if s.starts_with('{') { "{}" } else { s })
            .collect::<Vec<_>>()
            .join("/");
        assert!(
            ROUTES.iter().any(|(_, p, _, _)| *p == pattern),
            "{path} is missing from ROUTES"
        );
    }
}

#[tokio::test]
async fn every_route_answers_bad_input_with_a_problem_of_the_enum() {
    let central = Central::start().await;
    let client = &central.client;
    for &(method, template, caller, body) in ROUTES {
        let path = template.replacen("{}", "X-1", 1).replacen("{}", "P-1", 1);
        let m = Method::from_bytes(method.as_bytes()).unwrap();
        let what = |case: &str| format!("{method} {template}: {case}");
        // No token or signature, a wrong one.
        if caller != Caller::Open {
            let response = client.request(m.clone(), central.url(&path)).send().await;
            let doc = problem(response.unwrap(), 401, &what("no credentials")).await;
            assert_eq!(doc["code"], "unauthorized");
            let response = client
                .request(m.clone(), central.url(&path))
                .bearer_auth("wrong")
                .send()
                .await;
            problem(response.unwrap(), 401, &what("wrong token")).await;
        }
        // A method the path does not take.
        let other = ["PATCH", "PUT", "DELETE", "POST", "GET"]
            .into_iter()
            .find(|o| !ROUTES.iter().any(|(m, p, _, _)| m == o && *p == template))
            .unwrap();
        let response = client
            .request(
                Method::from_bytes(other.as_bytes()).unwrap(),
                central.url(&path),
            )
            .bearer_auth(ADMIN)
            .send()
            .await;
        let doc = problem(response.unwrap(), 405, &what("wrong method")).await;
        assert_eq!(doc["code"], "method_not_allowed");
        if caller != Caller::Admin && caller != Caller::Open {
            continue;
        }
        // A path parameter that is not text.
        if template.contains("{}") {
            let bad = template.replace("{}", "%FF");
            let response = client
                .request(m.clone(), central.url(&bad))
                .bearer_auth(ADMIN)
                .send()
                .await;
            let doc = problem(response.unwrap(), 400, &what("bad path")).await;
            assert_eq!(doc["code"], "bad_path");
        }
        if body != Body::Json {
            continue;
        }
        let send = |content_type: &'static str, bytes: &'static [u8]| {
            client
                .request(m.clone(), central.url(&path))
                .bearer_auth(ADMIN)
                .header("content-type", content_type)
                .body(bytes)
                .send()
        };
        for bytes in [&b"{"[..], b"not json", b"{\"a\": }"] {
            let doc = problem(
                send("application/json", bytes).await.unwrap(),
                400,
                &what("malformed JSON"),
            )
            .await;
            assert_eq!(doc["code"], "malformed_json");
        }
        for bytes in [&b"42"[..], b"\"text\"", b"[1e400]"] {
            let doc = problem(
                send("application/json", bytes).await.unwrap(),
                422,
                &what("rule-breaking JSON"),
            )
            .await;
            assert_eq!(doc["code"], "invalid");
            assert!(doc["field"].is_string(), "{doc}");
        }
        let doc = problem(
            send("text/plain", b"{}").await.unwrap(),
            415,
            &what("wrong content type"),
        )
        .await;
        assert_eq!(doc["code"], "unsupported_media_type");
        // A body declared over the route's maximum: refused before it is read.
        let mut stream = TcpStream::connect(central.addr()).await.unwrap();
        let head = format!(
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {ADMIN}\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            64 * MAX_ADMIN_JSON_BYTES
        );
        stream.write_all(head.as_bytes()).await.unwrap();
        let mut answer = Vec::new();
        let _ = stream.read_to_end(&mut answer).await;
        let answer = String::from_utf8_lossy(&answer);
        assert!(answer.starts_with("HTTP/1.1 413"), "{}", what(&answer));
        assert!(answer.contains("application/problem+json"), "{answer}");
        assert!(answer.contains("\"code\":\"body_too_large\""), "{answer}");
    }
    // Unknown paths.
    for path in [
        "/nope",
        "/v1/nope",
        "/admin/v1/nope",
        "/admin/v1/customers/X-1/nope",
    ] {
        let response = client
            .get(central.url(path))
            .bearer_auth(ADMIN)
            .send()
            .await;
        let doc = problem(response.unwrap(), 404, &format!("GET {path}")).await;
        assert_eq!(doc["code"], "not_found");
    }
}
