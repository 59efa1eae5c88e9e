//! Catalog publication: validation naming the promotion and field, ETag and 304, the
//! envelope signed by the catalog key, activation time.

use reqwest::{Method, StatusCode};
use serde_json::Value;
use tillpass_protocol::catalog::Catalog;
use tillpass_protocol::envelope::{self, EnvelopePurpose};
use tillpass_protocol::sync::RequestNonce;

use crate::util::{Central, check_server_time, rand};

const GOOD: &str = r#"
format = 1
currency = "EUR"
tiers = ["silver", "gold"]

[[promotions]]
id = "SUMMER-10"
label = { es = "Verano -10 %", en = "Summer 10 % off" }
valid_from = 1751328000
valid_until = 1756684800
rules = [{ type = "percent_off", percent = 1000 }]
"#;

const BAD: &str = r#"
format = 1
currency = "EUR"

[[promotions]]
id = "GOOD-ONE"
label = { es = "Bien", en = "Good" }
valid_from = 1751328000
valid_until = 1756684800
rules = [{ type = "percent_off", percent = 500 }]

[[promotions]]
id = "BROKEN"
label = { es = "Roto", en = "Broken" }
valid_from = 1751328000
valid_until = 1756684800
rules = [{ type = "percent_off", percent = 0 }]
"#;

async fn publish(central: &Central, text: &str, query: &str) -> (StatusCode, Value) {
    let response = central
        .admin(Method::POST, &format!("/admin/v1/catalogs{query}"))
        .header("content-type", "application/toml")
        .body(text.to_owned())
        .send()
        .await
        .unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn a_bad_promotion_is_refused_by_name_and_field() {
    let central = Central::start().await;
    let (status, problem) = publish(&central, BAD, "").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let detail = problem["detail"].as_str().unwrap();
    assert!(detail.contains(r#"promotion "BROKEN""#), "{detail}");
    assert!(detail.contains("rules[0].percent"), "{detail}");
    assert!(!detail.contains("GOOD-ONE"), "{detail}");

    // Nothing was published.
    let till = central.enrol("S001", "S001-T01").await;
    let response = till
        .send(&central, Method::GET, "/v1/catalog", vec![])
        .await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_published_catalog_is_served_signed_with_an_etag() {
    let central = Central::start().await;
    let (status, publication) = publish(&central, GOOD, "").await;
    assert_eq!(status, StatusCode::CREATED, "{publication}");
    assert_eq!(publication["number"], 1);
    assert_eq!(publication["promotions"], 1);
    assert_eq!(publication["envelope_sequence"], 1);

    let till = central.enrol("S001", "S001-T01").await;
    let trust = till.trust(central.now());
    let response = till
        .send(&central, Method::GET, "/v1/catalog", vec![])
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let etag = response.headers()["etag"].to_str().unwrap().to_owned();
    let bytes = response.bytes().await.unwrap();
    let opened = envelope::open(
        &bytes,
        EnvelopePurpose::Catalog,
        &trust,
        u64::try_from(central.now()).unwrap(),
        0,
    )
    .unwrap();
    assert_eq!(opened.header.sequence, 1);
    let catalog: Catalog = ciborium::from_reader(opened.payload.as_slice()).unwrap();
    catalog.validate().unwrap();
    assert_eq!(catalog.promotions[0].id, "SUMMER-10");

    // If-None-Match with the ETag: 304, still with a signed server time.
    let nonce = RequestNonce(rand());
    let mut headers = till
        .headers("GET", "/v1/catalog", b"", central.now(), nonce)
        .to_vec();
    headers.push(("if-none-match", etag.clone()));
    let cached = till
        .send_with(&central, Method::GET, "/v1/catalog", vec![], &headers)
        .await;
    assert_eq!(cached.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(cached.headers()["etag"].to_str().unwrap(), etag);
    check_server_time(&cached, &trust, Some(&nonce));

    // A catalog that activates later is not served before its time.
    let later = central.now() + 3_600;
    let (status, publication) = publish(&central, GOOD, &format!("?activates_at={later}")).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(publication["envelope_sequence"], Value::Null);
    let response = till
        .send(&central, Method::GET, "/v1/catalog", vec![])
        .await;
    assert_eq!(response.headers()["etag"].to_str().unwrap(), etag);

    central
        .offset
        .store(3_601, std::sync::atomic::Ordering::SeqCst);
    let response = till
        .send(&central, Method::GET, "/v1/catalog", vec![])
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_ne!(response.headers()["etag"].to_str().unwrap(), etag);
    let bytes = response.bytes().await.unwrap();
    let opened = envelope::open(
        &bytes,
        EnvelopePurpose::Catalog,
        &trust,
        u64::try_from(central.now()).unwrap(),
        1,
    )
    .unwrap();
    assert_eq!(opened.header.sequence, 2);
}
