//! The test harness: [`Central`] runs the server, [`TestTill`] enrols and signs.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use ed25519_dalek::SigningKey;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tillpass_central::auth::AdminToken;
use tillpass_central::db::Db;
use tillpass_central::http::{self, AppState};
use tillpass_central::keys::{self, KeyDir};
use tillpass_central::{clock, envelopes};
use tillpass_protocol::envelope::SignerKeys;
use tillpass_protocol::sync::{
    EnrolRequest, EnrolResponse, EventPayload, HEADER_SERVER_TIME, JournalEvent, RequestNonce,
    RequestParts, ServerTime, SignedHeaders, StoreId, TillId, UploadBatch,
};
use tillpass_protocol::trust::{KeyPurpose, RootKey, TrustStore};

pub const ADMIN: &str = "test-admin-token-0123456789";

/// A running central.
pub struct Central {
    pub base: String,
    pub client: reqwest::Client,
    /// Seconds added to the real clock.
    pub offset: Arc<AtomicI64>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    _dir: tempfile::TempDir,
}

impl Drop for Central {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

impl Central {
    pub async fn start() -> Central {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&dir.path().join("central.db")).unwrap();
        let keys = KeyDir::open(&dir.path().join("keys")).unwrap();
        let now = clock::now();
        db.with(|c| {
            keys::init(c, &keys, now)?;
            envelopes::publish_trust_list(c, &keys, now)?;
            Ok(())
        })
        .unwrap();
        let offset = Arc::new(AtomicI64::new(0));
        let clock_offset = offset.clone();
        let state = AppState::new(
            db.clone(),
            keys.clone(),
            Some(AdminToken::new(ADMIN).unwrap()),
            Arc::new(move || clock::now() + clock_offset.load(Ordering::SeqCst)),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (tx, rx) = tokio::sync::oneshot::channel();
        tokio::spawn(http::serve(listener, state, async {
            let _ = rx.await;
        }));
        Central {
            base,
            client: {
                // The workspace builds reqwest with rustls and no built-in provider.
                let _ = rustls::crypto::ring::default_provider().install_default();
                reqwest::Client::new()
            },
            offset,
            shutdown: Some(tx),
            _dir: dir,
        }
    }

    pub fn now(&self) -> i64 {
        clock::now() + self.offset.load(Ordering::SeqCst)
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// An admin request.
    pub fn admin(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        self.client
            .request(method, self.url(path))
            .bearer_auth(ADMIN)
    }

    /// A JSON request as admin (no body for `Null`); the status and the JSON answer
    /// (`Null` when empty).
    pub async fn admin_json(&self, method: Method, path: &str, body: Value) -> (StatusCode, Value) {
        let mut request = self.admin(method, path);
        if !body.is_null() {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let text = response.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    pub async fn create_customer(&self, reference: &str, savings: i64, receipts: bool) {
        let (status, body) = self
            .admin_json(
                Method::POST,
                "/admin/v1/customers",
                json!({
                    "customer": reference,
                    "first_name": "Lucía",
                    "tier": "gold",
                    "lang": "es",
                    "consent": { "receipts": receipts, "marketing": false },
                    "savings": savings,
                }),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }

    pub async fn customer(&self, reference: &str) -> Value {
        let (status, body) = self
            .admin_json(
                Method::GET,
                &format!("/admin/v1/customers/{reference}"),
                Value::Null,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body
    }

    pub async fn enrolment_code(&self, store: &str, till: &str) -> String {
        let (status, body) = self
            .admin_json(
                Method::POST,
                "/admin/v1/enrolment-codes",
                json!({ "store": store, "till": till, "region": "ES-M" }),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body["code"].as_str().unwrap().to_owned()
    }

    /// Enrols a new till at `store`.
    pub async fn enrol(&self, store: &str, till: &str) -> TestTill {
        let code = self.enrolment_code(store, till).await;
        let key = SigningKey::from_bytes(&rand::<32>());
        let request = EnrolRequest::new(code, key.verifying_key().to_bytes(), "0.1.0", "till-host");
        let response = self
            .client
            .post(self.url("/v1/enrol"))
            .json(&request)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let enrolment: EnrolResponse = response.json().await.unwrap();
        TestTill {
            key,
            id: enrolment.till.clone(),
            store: enrolment.store.clone(),
            enrolment,
            seq: AtomicI64::new(0),
        }
    }
}

pub fn rand<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).unwrap();
    bytes
}

/// An enrolled till.
pub struct TestTill {
    pub key: SigningKey,
    pub id: TillId,
    pub store: StoreId,
    pub enrolment: EnrolResponse,
    pub seq: AtomicI64,
}

impl TestTill {
    /// The trust list received at enrolment, opened with the root key.
    pub fn trust(&self, now: i64) -> TrustStore {
        let root = RootKey::new(&self.enrolment.root_public_key).unwrap();
        let (store, _) = TrustStore::open(
            &self.enrolment.trust_list,
            &root,
            u64::try_from(now).unwrap(),
            0,
        )
        .unwrap();
        store
    }

    /// Signature headers for a request signed at `timestamp` with `nonce`.
    pub fn headers(
        &self,
        method: &str,
        path: &str,
        body: &[u8],
        timestamp: i64,
        nonce: RequestNonce,
    ) -> [(&'static str, String); 4] {
        SignedHeaders::sign(
            &RequestParts {
                method,
                path_and_query: path,
                body,
            },
            self.id.clone(),
            timestamp,
            nonce,
            &self.key,
        )
        .unwrap()
        .to_headers()
    }

    /// Sends a request with the given signature headers.
    pub async fn send_with(
        &self,
        central: &Central,
        method: Method,
        path: &str,
        body: Vec<u8>,
        headers: &[(&'static str, String)],
    ) -> reqwest::Response {
        let mut request = central.client.request(method, central.url(path)).body(body);
        for (name, value) in headers {
            request = request.header(*name, value);
        }
        request.send().await.unwrap()
    }

    /// Sends a freshly signed request.
    pub async fn send(
        &self,
        central: &Central,
        method: Method,
        path: &str,
        body: Vec<u8>,
    ) -> reqwest::Response {
        let headers = self.headers(
            method.as_str(),
            path,
            &body,
            central.now(),
            RequestNonce(rand()),
        );
        self.send_with(central, method, path, body, &headers).await
    }

    /// An event of this till with the next sequence number.
    pub fn event(&self, payload: EventPayload) -> JournalEvent {
        let seq = u64::try_from(self.seq.fetch_add(1, Ordering::SeqCst) + 1).unwrap();
        JournalEvent::new(
            self.id.clone(),
            self.store.clone(),
            seq,
            clock::now(),
            payload,
        )
    }

    /// Uploads events; the status and the JSON answer.
    pub async fn upload(
        &self,
        central: &Central,
        events: Vec<JournalEvent>,
    ) -> (StatusCode, Value) {
        let batch = UploadBatch::new(self.id.clone(), events).unwrap();
        self.upload_raw(central, serde_json::to_vec(&batch).unwrap())
            .await
    }

    pub async fn upload_raw(&self, central: &Central, body: Vec<u8>) -> (StatusCode, Value) {
        let response = self.send(central, Method::POST, "/v1/journal", body).await;
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// `GET` a signed path and parse JSON.
    pub async fn get_json(&self, central: &Central, path: &str) -> (StatusCode, Value) {
        let response = self.send(central, Method::GET, path, vec![]).await;
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
    }
}

/// The statuses of a batch acknowledgement, in order.
pub fn statuses(ack: &Value) -> Vec<String> {
    ack["acks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["status"].as_str().unwrap().to_owned())
        .collect()
}

/// Checks a response's signed server time against the trust list's sync key, and that it
/// echoes `nonce`.
pub fn check_server_time(
    response: &reqwest::Response,
    trust: &TrustStore,
    nonce: Option<&RequestNonce>,
) -> i64 {
    let value = response
        .headers()
        .get(HEADER_SERVER_TIME)
        .expect("every answer carries the server time")
        .to_str()
        .unwrap();
    let time = ServerTime::from_header_value(value).unwrap();
    let kid = tillpass_protocol::trust::KeyId(time.key_id);
    let key = trust
        .signer(kid, KeyPurpose::Sync, u64::try_from(time.unix).unwrap())
        .unwrap();
    time.verify(key, nonce).unwrap()
}
