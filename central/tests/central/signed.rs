//! Signed till requests: good, tampered, stale, replayed (a read is answered again, a
//! write refused); the signed server time.

use reqwest::{Method, StatusCode};
use serde_json::Value;
use tillpass_protocol::sync::{HEADER_NONCE, RequestNonce};

use crate::util::{Central, check_server_time, rand};

const PATH: &str = "/v1/deltas/customers?cursor=&limit=10";

#[tokio::test]
async fn a_good_signature_is_accepted_and_answered_with_a_signed_time() {
    let central = Central::start().await;
    let till = central.enrol("S001", "S001-T01").await;
    let nonce = RequestNonce(rand());
    let headers = till.headers("GET", PATH, b"", central.now(), nonce);
    let response = till
        .send_with(&central, Method::GET, PATH, vec![], &headers)
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let time = check_server_time(&response, &till.trust(central.now()), Some(&nonce));
    assert!((time - central.now()).abs() < 5);
    let page: Value = response.json().await.unwrap();
    assert_eq!(page["has_more"], false);
}

#[tokio::test]
async fn a_tampered_request_is_refused() {
    let central = Central::start().await;
    let till = central.enrol("S001", "S001-T01").await;
    // Signed for one path, sent to another.
    let headers = till.headers("GET", PATH, b"", central.now(), RequestNonce(rand()));
    let other = "/v1/deltas/customers?cursor=&limit=11";
    let response = till
        .send_with(&central, Method::GET, other, vec![], &headers)
        .await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let problem: Value = response.json().await.unwrap();
    assert_eq!(problem["detail"], tillpass_central::auth::REFUSED);

    // Signed for one body, sent with another.
    let body = br#"{"v":1,"till":"S001-T01","events":[]}"#.to_vec();
    let headers = till.headers(
        "POST",
        "/v1/journal",
        &body,
        central.now(),
        RequestNonce(rand()),
    );
    let mut changed = body.clone();
    changed[5] = b'2';
    let response = till
        .send_with(&central, Method::POST, "/v1/journal", changed, &headers)
        .await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);

    // Signed by a key that is not the till's.
    let impostor = crate::util::TestTill {
        key: ed25519_dalek::SigningKey::from_bytes(&rand::<32>()),
        ..central.enrol("S001", "S001-T02").await
    };
    let headers = impostor.headers("GET", PATH, b"", central.now(), RequestNonce(rand()));
    let response = impostor
        .send_with(&central, Method::GET, PATH, vec![], &headers)
        .await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);

    // No signature at all.
    let response = central.client.get(central.url(PATH)).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_stale_request_is_refused() {
    let central = Central::start().await;
    let till = central.enrol("S001", "S001-T01").await;
    for skew in [-400, 400] {
        let headers = till.headers("GET", PATH, b"", central.now() + skew, RequestNonce(rand()));
        let response = till
            .send_with(&central, Method::GET, PATH, vec![], &headers)
            .await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        let problem: Value = response.json().await.unwrap();
        assert!(
            problem["detail"]
                .as_str()
                .unwrap()
                .starts_with("stale request"),
            "{problem}"
        );
    }
}

#[tokio::test]
async fn a_replayed_read_is_answered_and_a_replayed_write_refused() {
    let central = Central::start().await;
    let till = central.enrol("S001", "S001-T01").await;
    // A read changes nothing: its replay within the time window is answered again, and
    // a signed page stays bound to the same nonce, which the till has already used.
    let headers = till.headers("GET", PATH, b"", central.now(), RequestNonce(rand()));
    for _ in 0..2 {
        let response = till
            .send_with(&central, Method::GET, PATH, vec![], &headers)
            .await;
        assert_eq!(response.status(), StatusCode::OK);
    }
    // A write's replay is refused: its nonce is kept.
    let events = vec![till.event(crate::journal::sale("C-1", "SALE-R1"))];
    let batch = tillpass_protocol::sync::UploadBatch::new(till.id.clone(), events).unwrap();
    let body = serde_json::to_vec(&batch).unwrap();
    let headers = till.headers(
        "POST",
        "/v1/journal",
        &body,
        central.now(),
        RequestNonce(rand()),
    );
    let first = till
        .send_with(
            &central,
            Method::POST,
            "/v1/journal",
            body.clone(),
            &headers,
        )
        .await;
    assert_eq!(first.status(), StatusCode::OK);
    let replay = till
        .send_with(&central, Method::POST, "/v1/journal", body, &headers)
        .await;
    assert_eq!(replay.status(), StatusCode::UNAUTHORIZED);
    let problem: Value = replay.json().await.unwrap();
    assert_eq!(problem["detail"], "replayed request");
    // So is a lookup's.
    let body = br#"{"kind":"customer","subject":"C-1"}"#.to_vec();
    let headers = till.headers(
        "POST",
        "/v1/lookup",
        &body,
        central.now(),
        RequestNonce(rand()),
    );
    let first = till
        .send_with(&central, Method::POST, "/v1/lookup", body.clone(), &headers)
        .await;
    assert_eq!(first.status(), StatusCode::OK);
    let replay = till
        .send_with(&central, Method::POST, "/v1/lookup", body, &headers)
        .await;
    assert_eq!(replay.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn errors_and_unsigned_answers_carry_the_server_time_too() {
    let central = Central::start().await;
    let till = central.enrol("S001", "S001-T01").await;
    let trust = till.trust(central.now());
    let nonce = RequestNonce(rand());
    let response = central
        .client
        .get(central.url("/v1/nowhere"))
        .header(HEADER_NONCE, nonce.to_hex())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    check_server_time(&response, &trust, Some(&nonce));

    let response = central
        .client
        .get(central.url("/v1/time"))
        .send()
        .await
        .unwrap();
    check_server_time(&response, &trust, None);
    let body: tillpass_protocol::sync::ServerTime = response.json().await.unwrap();
    assert!((body.unix - central.now()).abs() < 5);
}
