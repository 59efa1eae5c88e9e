//! Enrolment with one-time codes.

use reqwest::{Method, StatusCode};
use serde_json::Value;
use tillpass_protocol::sync::EnrolRequest;
use tillpass_protocol::trust::KeyPurpose;

use crate::util::{Central, rand};

#[tokio::test]
async fn a_till_enrols_once_per_code_and_gets_ids_trust_list_and_policy() {
    let central = Central::start().await;
    let code = central.enrolment_code("S001", "S001-T01").await;
    let key = ed25519_dalek::SigningKey::from_bytes(&rand::<32>());
    let request = EnrolRequest::new(code.clone(), key.verifying_key().to_bytes(), "0.1.0", "t1");

    let response = central
        .client
        .post(central.url("/v1/enrol"))
        .json(&request)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["till"], "S001-T01");
    assert_eq!(body["store"], "S001");
    assert_eq!(body["region"], "ES-M");
    assert_eq!(body["offline_policy"]["replay"]["max_uses_per_pass"], 5);
    // The code handed out pins the root key the answer carries.
    let root: [u8; 32] = hex::decode(body["root_public_key"].as_str().unwrap())
        .unwrap()
        .try_into()
        .unwrap();
    let pinned = tillpass_protocol::sync::EnrolCode::parse(&code)
        .root
        .unwrap();
    assert!(pinned.matches(&root), "{code}");

    // The same code again, even with the same key: refused.
    let again = central
        .client
        .post(central.url("/v1/enrol"))
        .json(&request)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::CONFLICT);
    assert_eq!(again.headers()["content-type"], "application/problem+json");
    let problem: Value = again.json().await.unwrap();
    assert_eq!(problem["detail"], "enrolment code already used");

    // An unknown code.
    let mut unknown = request.clone();
    unknown.code = "BBBB-BBBB-BBBB-BBBB".into();
    let refused = central
        .client
        .post(central.url("/v1/enrol"))
        .json(&unknown)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn the_trust_list_received_opens_with_the_root_key_and_lists_every_purpose() {
    let central = Central::start().await;
    let till = central.enrol("S001", "S001-T01").await;
    let trust = till.trust(central.now());
    for purpose in [KeyPurpose::Token, KeyPurpose::Catalog, KeyPurpose::Sync] {
        assert_eq!(
            trust
                .keys()
                .iter()
                .filter(|k| k.purpose() == purpose)
                .count(),
            1,
            "{purpose:?}"
        );
    }
    // And the trust list endpoint serves the same list, with an ETag.
    let response = till
        .send(&central, Method::GET, "/v1/trust-list", vec![])
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "application/cose");
    let etag = response.headers()["etag"].to_str().unwrap().to_owned();
    assert_eq!(
        response.bytes().await.unwrap().as_ref(),
        till.enrolment.trust_list.as_slice()
    );

    let path = "/v1/trust-list";
    let mut headers = till
        .headers(
            "GET",
            path,
            b"",
            central.now(),
            tillpass_protocol::sync::RequestNonce(rand()),
        )
        .to_vec();
    headers.push(("if-none-match", etag));
    let cached = till
        .send_with(&central, Method::GET, path, vec![], &headers)
        .await;
    assert_eq!(cached.status(), StatusCode::NOT_MODIFIED);
}

#[tokio::test]
async fn an_expired_code_is_refused() {
    let central = Central::start().await;
    let (status, body) = central
        .admin_json(
            Method::POST,
            "/admin/v1/enrolment-codes",
            serde_json::json!({ "store": "S9", "ttl_secs": 60 }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(body["till"], "S9-T1");
    central
        .offset
        .store(120, std::sync::atomic::Ordering::SeqCst);
    let key = ed25519_dalek::SigningKey::from_bytes(&rand::<32>());
    let request = EnrolRequest::new(
        body["code"].as_str().unwrap(),
        key.verifying_key().to_bytes(),
        "0.1.0",
        "t",
    );
    let response = central
        .client
        .post(central.url("/v1/enrol"))
        .json(&request)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn admin_endpoints_need_the_token() {
    let central = Central::start().await;
    let response = central
        .client
        .post(central.url("/admin/v1/enrolment-codes"))
        .json(&serde_json::json!({ "store": "S1" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let response = central
        .client
        .post(central.url("/v1/customers/c1/pass"))
        .bearer_auth("wrong-token-0123456789")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let live = central
        .client
        .get(central.url("/livez"))
        .send()
        .await
        .unwrap();
    assert_eq!(live.status(), StatusCode::OK);
}
