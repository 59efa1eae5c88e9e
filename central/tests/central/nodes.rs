//! Stateless nodes: two real `tillpass-central serve` processes on two loopback ports,
//! one PostgreSQL database, one key directory. A till enrolled through one node syncs and
//! uploads through the other; both serve the same envelope bytes; a write's nonce seen by
//! one is a replay at the other (a read keeps no nonce); a key rotated with the CLI is used by both without a restart.

use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::Value;
use tillpass_protocol::envelope::SignerKeys;
use tillpass_protocol::money::{Currency, Money};
use tillpass_protocol::sync::{
    EventPayload, HEADER_SERVER_TIME, RequestNonce, ServerTime, UploadBatch,
};
use tillpass_protocol::trust::{KeyId, KeyPurpose, RootKey, TrustStore};

use crate::journal::sale;
use crate::pg;
use crate::util::{Central, TestTill, client, rand, statuses};

const CATALOG: &str = r#"
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

/// Runs the CLI on the shared database and key directory; its standard output.
fn cli(dir: &std::path::Path, url: &str, args: &[&str]) -> String {
    let output = Central::command_on(dir, &["--database", url])
        .args(args)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

/// A signed `GET`: status, ETag and body bytes.
async fn fetch(till: &TestTill, node: &Central, path: &str) -> (StatusCode, String, Vec<u8>) {
    let response = till.send(node, Method::GET, path, vec![]).await;
    let status = response.status();
    let etag = response
        .headers()
        .get("etag")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (status, etag, response.bytes().await.unwrap().to_vec())
}

/// The key id that signed an answer's server time.
fn time_kid(response: &reqwest::Response) -> String {
    let value = response.headers().get(HEADER_SERVER_TIME).unwrap();
    let time = ServerTime::from_header_value(value.to_str().unwrap()).unwrap();
    tillpass_protocol::trust::KeyId(time.key_id).to_string()
}

/// A sale without a customer.
fn anonymous_sale(id: &str) -> EventPayload {
    let EventPayload::SaleClosed(mut closed) = sale("C-1", id) else {
        unreachable!()
    };
    closed.customer = None;
    closed.savings_earned = Money::new(0, Currency::EUR);
    for line in &mut closed.lines {
        line.savings_earned = None;
    }
    EventPayload::SaleClosed(closed)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_on_one_postgresql_serve_one_central() {
    let Some(database) = pg::database("two_nodes_on_one_postgresql_serve_one_central").await else {
        return;
    };
    let folder = tempfile::tempdir().unwrap();
    let url = database.url();
    let a = Central::spawn_node(folder.path(), url, client()).await;
    let b = Central::spawn_node(folder.path(), url, client()).await;
    assert_ne!(a.base, b.base);
    let keys: Value = serde_json::from_str(&cli(folder.path(), url, &["keys", "list"])).unwrap();
    assert_eq!(
        keys.as_array().unwrap().len(),
        4,
        "nodes starting on one database make one key per purpose: {keys}"
    );
    let catalog_file = folder.path().join("catalog.toml");
    std::fs::write(&catalog_file, CATALOG).unwrap();
    // Customers and gift cards: made with the CLI or through one node, seen by the other.
    let made: Value = serde_json::from_str(&cli(
        folder.path(),
        url,
        &[
            "customer",
            "create",
            "C-1",
            "--first-name",
            "Ana",
            "--tier",
            "gold",
            "--savings",
            "1234",
        ],
    ))
    .unwrap();
    assert_eq!(made["savings"]["amount"], 1234, "{made}");
    let (status, shown) = a
        .admin_json(Method::GET, "/admin/v1/customers/C-1", Value::Null)
        .await;
    assert_eq!(status, StatusCode::OK, "{shown}");
    assert_eq!(shown["first_name"], "Ana", "{shown}");
    let (status, card) = b
        .admin_json(
            Method::POST,
            "/admin/v1/gift-cards",
            serde_json::json!({ "card": "GC-1", "balance": 2500 }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{card}");
    let shown: Value =
        serde_json::from_str(&cli(folder.path(), url, &["gift-card", "show", "GC-1"])).unwrap();
    assert_eq!(shown["balance"]["amount"], 2500, "{shown}");
    let published = cli(
        folder.path(),
        url,
        &["catalog", "publish", catalog_file.to_str().unwrap()],
    );
    assert!(published.contains("\"promotions\": 1"), "{published}");

    // Enrolled through A, a till syncs and uploads through B.
    let first = a.enrol("S1", "S1-T1").await;
    let second = b.enrol("S1", "S1-T2").await;
    for path in ["/v1/trust-list", "/v1/catalog"] {
        let (status_a, etag_a, body_a) = fetch(&first, &a, path).await;
        let (status_b, etag_b, body_b) = fetch(&first, &b, path).await;
        assert_eq!(
            (status_a, status_b),
            (StatusCode::OK, StatusCode::OK),
            "{path}"
        );
        assert!(!body_a.is_empty(), "{path}");
        assert_eq!(body_a, body_b, "{path}: both nodes serve the same bytes");
        assert_eq!(etag_a, etag_b, "{path}");
    }
    let events = vec![first.event(anonymous_sale("SALE-1"))];
    let batch = serde_json::to_vec(&UploadBatch::new(first.id.clone(), events).unwrap()).unwrap();
    let (status, ack) = first.upload_raw(&b, batch.clone()).await;
    assert_eq!(status, StatusCode::OK, "{ack}");
    assert_eq!(statuses(&ack), ["accepted"]);
    let (status, ack) = first.upload_raw(&a, batch).await;
    assert_eq!(status, StatusCode::OK, "{ack}");
    assert_eq!(
        statuses(&ack),
        ["duplicate"],
        "a retry at the other node is applied once"
    );
    for kind in [
        "customers",
        "balances",
        "gift-cards",
        "personal-promotions",
        "revocations",
        "ledger",
    ] {
        let (status, page) = first.get_json(&b, &format!("/v1/deltas/{kind}")).await;
        assert_eq!(status, StatusCode::OK, "{kind}: {page}");
    }
    // The live lookup answers from the shared database at either node.
    for node in [&a, &b] {
        let response = first
            .send(
                node,
                Method::POST,
                "/v1/lookup",
                br#"{"kind":"customer","subject":"C-1"}"#.to_vec(),
            )
            .await;
        assert_eq!(response.status(), StatusCode::OK);
        let answer: Value = response.json().await.unwrap();
        assert_eq!(answer["found"], true, "{answer}");
        assert_eq!(answer["balance"]["amount"], 1234, "{answer}");
    }
    let (status, page) = second.get_json(&a, "/v1/deltas/sales").await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let items = page["items"].as_array().unwrap();
    assert_eq!(
        items.len(),
        1,
        "the store's other till receives the sale: {page}"
    );
    assert_eq!(items[0]["sale"]["sale"]["sale_id"], "SALE-1", "{page}");

    // One replay cache for writes: a lookup or an upload accepted by A is a replay at B.
    // A read keeps no nonce: replayed at B it is answered, as a read changes nothing.
    let lookup = br#"{"kind":"customer","subject":"C-1"}"#.to_vec();
    let headers = first.headers("POST", "/v1/lookup", &lookup, a.now(), RequestNonce(rand()));
    let response = first
        .send_with(&a, Method::POST, "/v1/lookup", lookup.clone(), &headers)
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let response = first
        .send_with(&b, Method::POST, "/v1/lookup", lookup, &headers)
        .await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let problem: Value = response.json().await.unwrap();
    assert_eq!(problem["detail"], "replayed request", "{problem}");
    let events = vec![first.event(anonymous_sale("SALE-2"))];
    let batch = serde_json::to_vec(&UploadBatch::new(first.id.clone(), events).unwrap()).unwrap();
    let headers = first.headers("POST", "/v1/journal", &batch, a.now(), RequestNonce(rand()));
    let response = first
        .send_with(&a, Method::POST, "/v1/journal", batch.clone(), &headers)
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let response = first
        .send_with(&b, Method::POST, "/v1/journal", batch, &headers)
        .await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let headers = first.headers("GET", "/v1/trust-list", b"", a.now(), RequestNonce(rand()));
    for node in [&a, &b] {
        let response = first
            .send_with(node, Method::GET, "/v1/trust-list", vec![], &headers)
            .await;
        assert_eq!(response.status(), StatusCode::OK, "{}", node.base);
    }

    // A rotation made with the CLI reaches both nodes without a restart.
    let before = time_kid(&first.send(&a, Method::GET, "/v1/trust-list", vec![]).await);
    let made: Value =
        serde_json::from_str(&cli(folder.path(), url, &["keys", "rotate", "sync"])).unwrap();
    let rotated = made["kid"].as_str().unwrap().to_owned();
    assert_ne!(before, rotated);
    for node in [&a, &b] {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let response = first
                .send(node, Method::GET, "/v1/trust-list", vec![])
                .await;
            if time_kid(&response) == rotated {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{} still signs with {before}",
                node.base
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    let (_, etag_a, body_a) = fetch(&first, &a, "/v1/trust-list").await;
    let (_, etag_b, body_b) = fetch(&first, &b, "/v1/trust-list").await;
    assert_eq!((&body_a, etag_a), (&body_b, etag_b));
    let root = RootKey::new(&first.enrolment.root_public_key).unwrap();
    let now = u64::try_from(a.now()).unwrap();
    let (trust, _) = TrustStore::open(&body_a, &root, now, 0).unwrap();
    let kid: KeyId = rotated.parse().unwrap();
    assert!(
        trust.signer(kid, KeyPurpose::Sync, now).is_ok(),
        "the trust list both nodes serve holds the new sync key"
    );
}
