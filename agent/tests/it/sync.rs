//! Sync with the real `tillpass-central` on loopback: enrolment, deltas (balances, gift
//! cards, offers, erasure), signed server time, catalogs (pulled and pushed, good and
//! bad), the offline policy's earn-only mode, the journal crossing a faulty network
//! exactly once while central and the agent restart, pending savings that are never spent
//! and segment promotions that reach their segment.
//!
//! Central runs in this process, in a runtime of its own (so a restart can drop every
//! task and connection at once), over a real SQLite file and a real socket. The agent is
//! the real `tillpass` binary.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ed25519_dalek::SigningKey;
use serde_json::{Value, json};
use tillpass_central::auth::AdminToken;
use tillpass_central::db::Db;
use tillpass_central::keys::{self, KeyDir, Purpose};
use tillpass_central::{clock, envelopes};
use tillpass_protocol::catalog::Catalog;
use tillpass_protocol::envelope::{self, EnvelopeHeader, EnvelopePurpose};
use tillpass_protocol::money::{Currency, Money};
use tillpass_protocol::sync::{
    CustomerRef, EnrolRequest, EnrolResponse, EnrolmentRecord, EventPayload, OfflinePolicy,
    RegionId, ReplayPolicy, SavingsMovement, StoreId, TillId,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::util::{Agent, Central, TOKEN, Till, now};

const ADMIN: &str = "sync-test-admin-token-0123456789";

fn random<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    getrandom::fill(&mut b).unwrap();
    b
}

/// Polls `probe` until it gives a value; fails with `context()` after `timeout`.
fn wait_for<T>(
    what: &str,
    timeout: Duration,
    context: impl Fn() -> String,
    mut probe: impl FnMut() -> Option<T>,
) -> T {
    let deadline = Instant::now() + timeout;
    let mut pause = Duration::from_millis(10);
    loop {
        if let Some(v) = probe() {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}\n{}",
            context()
        );
        std::thread::park_timeout(pause);
        pause = (pause * 2).min(Duration::from_millis(200));
    }
}

// ---------------------------------------------------------------------------------------
// Central, in a runtime of its own.

struct CentralServer {
    rt: Option<tokio::runtime::Runtime>,
    dir: tempfile::TempDir,
    addr: SocketAddr,
    offset: Arc<AtomicI64>,
    /// How long a request waits for the database before central answers `503 busy`.
    wait: Duration,
    /// The database the server runs on.
    db: Option<Db>,
    /// Whether central answers the one-request round `404`, as a central older than it.
    old: bool,
    /// Till requests central received, by path (without the query).
    seen: Arc<Mutex<BTreeMap<String, usize>>>,
}

impl CentralServer {
    fn start() -> CentralServer {
        CentralServer::start_with_wait(tillpass_central::db::QUEUE_WAIT)
    }

    /// A central that does not offer the one-request round (an older one).
    fn start_old() -> CentralServer {
        CentralServer::start_as(tillpass_central::db::QUEUE_WAIT, true)
    }

    fn start_with_wait(wait: Duration) -> CentralServer {
        CentralServer::start_as(wait, false)
    }

    fn start_as(wait: Duration, old: bool) -> CentralServer {
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
        let mut central = CentralServer {
            rt: None,
            dir,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            offset: Arc::new(AtomicI64::new(0)),
            wait,
            db: None,
            old,
            seen: Arc::default(),
        };
        central.serve();
        central
    }

    fn serve(&mut self) {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let db = Db::open(&self.dir.path().join("central.db"))
            .unwrap()
            .with_wait(self.wait);
        self.db = Some(db.clone());
        let keys = KeyDir::open(&self.dir.path().join("keys")).unwrap();
        let offset = self.offset.clone();
        let state = tillpass_central::http::AppState::new(
            db,
            keys,
            Some(AdminToken::new(ADMIN).unwrap()),
            Arc::new(move || clock::now() + offset.load(Ordering::SeqCst)),
        );
        let listener = rt
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        self.addr = listener.local_addr().unwrap();
        let (old, seen) = (self.old, self.seen.clone());
        let app = tillpass_central::http::router(state).layer(axum::middleware::from_fn(
            move |request: axum::extract::Request, next: axum::middleware::Next| {
                let seen = seen.clone();
                async move {
                    let path = request.uri().path().to_owned();
                    if path.starts_with("/v1/") {
                        *seen.lock().unwrap().entry(path.clone()).or_default() += 1;
                    }
                    if old && path == tillpass_protocol::sync::paths::ROUND {
                        let problem = r#"{"type":"about:blank","title":"Not found","status":404,"code":"not_found"}"#;
                        return axum::response::IntoResponse::into_response((
                            axum::http::StatusCode::NOT_FOUND,
                            [("content-type", "application/problem+json")],
                            problem,
                        ));
                    }
                    next.run(request).await
                }
            },
        ));
        rt.spawn(async move { axum::serve(listener, app).await });
        self.rt = Some(rt);
    }

    /// Stops central abruptly (every task and connection dropped) and starts it again on
    /// the same database, on a new port.
    fn restart(&mut self) {
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
        self.serve();
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// How many till requests central received on `path`.
    fn seen(&self, path: &str) -> usize {
        self.seen.lock().unwrap().get(path).copied().unwrap_or(0)
    }

    /// How many till requests central received on paths starting with `prefix`.
    fn seen_under(&self, prefix: &str) -> usize {
        let seen = self.seen.lock().unwrap();
        seen.iter()
            .filter(|(p, _)| p.starts_with(prefix))
            .map(|(_, n)| n)
            .sum()
    }

    fn call(&self, method: &str, path: &str, body: Option<(Vec<u8>, &str)>) -> (u16, Value) {
        let (status, answer, _) = self.call_once(method, path, body);
        (status, answer)
    }

    /// One request: status, JSON body, and `Retry-After` in seconds when central gave one.
    fn call_once(
        &self,
        method: &str,
        path: &str,
        body: Option<(Vec<u8>, &str)>,
    ) -> (u16, Value, Option<u64>) {
        let url = format!("{}{path}", self.url());
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        self.rt.as_ref().unwrap().block_on(async move {
            let _ = rustls::crypto::ring::default_provider().install_default();
            let client = reqwest::Client::new();
            let mut request = client.request(method, url).bearer_auth(ADMIN);
            if let Some((bytes, content_type)) = body {
                request = request.header("content-type", content_type).body(bytes);
            }
            let response = request.send().await.unwrap();
            let status = response.status().as_u16();
            let retry_after = response
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse().ok());
            let text = response.text().await.unwrap();
            let answer = serde_json::from_str(&text).unwrap_or(Value::Null);
            (status, answer, retry_after)
        })
    }

    /// An admin call that must succeed. A `503 busy` (central's database queue was full; it
    /// applied nothing) is asked again after its `Retry-After`, as central's clients do,
    /// until a deadline: on a loaded machine central's one SQLite connection can be busy.
    fn admin(&self, method: &str, path: &str, body: Value) -> Value {
        let body = (!body.is_null()).then(|| (body.to_string().into_bytes(), "application/json"));
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let sent = body.as_ref().map(|(b, t)| (b.clone(), *t));
            let (status, answer, retry_after) = self.call_once(method, path, sent);
            if status == 503 && answer["code"] == "busy" && Instant::now() < deadline {
                let wait = Duration::from_secs(retry_after.unwrap_or(1).clamp(1, 5));
                std::thread::park_timeout(
                    wait.min(deadline.saturating_duration_since(Instant::now())),
                );
                continue;
            }
            assert!(
                (200..300).contains(&status),
                "{method} {path}: {status} {answer}"
            );
            return answer;
        }
    }

    fn create_customer(&self, reference: &str, savings: i64) {
        self.admin(
            "POST",
            "/admin/v1/customers",
            json!({
                "customer": reference, "first_name": "Lucía", "tier": "gold", "lang": "es",
                "consent": { "receipts": true, "marketing": false }, "savings": savings,
            }),
        );
    }

    fn pass(&self, reference: &str) -> String {
        self.admin(
            "POST",
            &format!("/v1/customers/{reference}/pass"),
            Value::Null,
        )["text"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    fn publish_catalog(&self, toml: &str) -> Value {
        let (status, answer) = self.call(
            "POST",
            "/admin/v1/catalogs",
            Some((toml.as_bytes().to_vec(), "text/plain")),
        );
        assert_eq!(status, 201, "{answer}");
        answer
    }

    fn db(&self) -> rusqlite::Connection {
        let conn = rusqlite::Connection::open(self.dir.path().join("central.db")).unwrap();
        conn.busy_timeout(Duration::from_secs(5)).unwrap();
        conn
    }

    /// What central holds of `customer`'s scope and changes, for a failure's message.
    fn dump_scope(&self, customer: &str) -> String {
        let db = self.db();
        let mut out = String::new();
        for sql in [
            "SELECT 'scope', store, assigned, seen_at, lapsed_at, NULL FROM customer_stores
             WHERE customer = ?1",
            "SELECT 'change', seq, kind, key, owner, at FROM changes
             WHERE key = ?1 OR owner = ?1 ORDER BY seq",
            "SELECT 'fan-out', e.seq, e.kind, e.store, NULL, NULL FROM change_stores e
             JOIN changes c ON c.seq = e.seq WHERE c.key = ?1 ORDER BY e.seq",
        ] {
            let mut statement = db.prepare(sql).unwrap();
            let rows = statement
                .query_map([customer], |r| {
                    Ok((0..6)
                        .map(|i| format!("{:?}", r.get::<_, rusqlite::types::Value>(i)))
                        .collect::<Vec<_>>()
                        .join(" "))
                })
                .unwrap();
            for row in rows {
                out.push_str(&row.unwrap());
                out.push('\n');
            }
        }
        out
    }

    fn key(&self, purpose: Purpose) -> SigningKey {
        let dir = KeyDir::open(&self.dir.path().join("keys")).unwrap();
        keys::active(&self.db(), &dir, purpose).unwrap()
    }

    fn savings(&self, reference: &str) -> i64 {
        self.admin(
            "GET",
            &format!("/admin/v1/customers/{reference}"),
            Value::Null,
        )["savings"]["amount"]
            .as_i64()
            .unwrap()
    }
}

impl Drop for CentralServer {
    fn drop(&mut self) {
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}

// ---------------------------------------------------------------------------------------
// A till enrolled with central.

struct Enrolled {
    till: Till,
    response: EnrolResponse,
    key: SigningKey,
}

impl Enrolled {
    fn db_path(&self) -> PathBuf {
        self.till.data().join("tillpass.db")
    }
}

fn write_till(
    dir: tempfile::TempDir,
    record: &EnrolmentRecord,
    key: Option<&SigningKey>,
    central_url: Option<&str>,
) -> Till {
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(
        data.join("enrolment.json"),
        serde_json::to_vec(record).unwrap(),
    )
    .unwrap();
    std::fs::write(data.join("api.token"), TOKEN).unwrap();
    let mut config = format!(
        "[api]\nlisten = \"127.0.0.1:0\"\n[store]\ndata_dir = {:?}\n\
         [log]\nlevel = \"info,tillpass_agent=debug\"\n[sync]\ninterval_secs = 1\nretry_max_secs = 2\n",
        data.display().to_string()
    );
    if let Some(key) = key {
        let path = dir.path().join("till.key");
        std::fs::write(&path, hex::encode(key.to_bytes())).unwrap();
        config.push_str(&format!(
            "[till]\nkey_file = {:?}\n",
            path.display().to_string()
        ));
    }
    if let Some(url) = central_url {
        config.push_str(&format!("[central]\nurl = {url:?}\n"));
    }
    let path = dir.path().join("config.toml");
    std::fs::write(&path, config).unwrap();
    Till { dir, config: path }
}

/// Enrols a till of `store` with central (a one-time code, the till's own key) and writes
/// its files; the agent will talk to `via` (central itself, or a proxy).
fn enrol(central: &CentralServer, store: &str, via: &str) -> Enrolled {
    let code = central.admin(
        "POST",
        "/admin/v1/enrolment-codes",
        json!({ "store": store, "region": "ES-M" }),
    )["code"]
        .as_str()
        .unwrap()
        .to_owned();
    let key = SigningKey::from_bytes(&random());
    let request = EnrolRequest::new(code, key.verifying_key().to_bytes(), "0.1.0", "till-test");
    let (status, answer) = central.call(
        "POST",
        "/v1/enrol",
        Some((serde_json::to_vec(&request).unwrap(), "application/json")),
    );
    assert_eq!(status, 200, "{answer}");
    let response: EnrolResponse = serde_json::from_value(answer).unwrap();
    let record = EnrolmentRecord {
        central: via.to_owned(),
        till_public_key: hex::encode(key.verifying_key().to_bytes()),
        response: response.clone(),
    };
    let till = write_till(tempfile::tempdir().unwrap(), &record, Some(&key), Some(via));
    Enrolled {
        till,
        response,
        key,
    }
}

fn open_db(path: &Path) -> rusqlite::Connection {
    let conn = rusqlite::Connection::open_with_flags(
        path,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .unwrap();
    conn.busy_timeout(Duration::from_secs(5)).unwrap();
    conn
}

fn query_i64(path: &Path, sql: &str) -> Option<i64> {
    if !path.exists() {
        return None;
    }
    use rusqlite::OptionalExtension;
    open_db(path)
        .query_row(sql, [], |r| r.get::<_, Option<i64>>(0))
        .optional()
        .ok()
        .flatten()
        .flatten()
}

fn sync_status(agent: &Agent) -> Value {
    let (status, body) = agent.request("GET", "/v1/sync", None);
    assert_eq!(status, 200, "{body}");
    body
}

/// A request with a raw body and content type; the status and the JSON answer.
fn push(agent: &Agent, path: &str, body: &[u8], content_type: &str, token: bool) -> (u16, Value) {
    let mut stream = std::net::TcpStream::connect(&agent.addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let auth = if token {
        format!("Authorization: Bearer {TOKEN}\r\n")
    } else {
        String::new()
    };
    write!(
        stream,
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{auth}Content-Type: {content_type}\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .unwrap();
    stream.write_all(body).unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).unwrap();
    let answer = String::from_utf8_lossy(&answer).into_owned();
    let (head, body) = answer.split_once("\r\n\r\n").unwrap();
    let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    (status, serde_json::from_str(body).unwrap_or(Value::Null))
}

fn catalog_toml(promotions: usize) -> String {
    let mut text = String::from("format = 1\ncurrency = \"EUR\"\ntiers = [\"gold\"]\n");
    for i in 0..promotions {
        text.push_str(&format!(
            "[[promotions]]\nid = \"P{i}\"\nlabel = {{ es = \"Oferta {i}\", en = \"Offer {i}\" }}\n\
             valid_from = 0\nvalid_until = 4000000000\n\
             rules = [{{ type = \"percent_off\", percent = 1000, items = {{ skus = [\"SKU-{i}\"] }} }}]\n"
        ));
    }
    text
}

fn sealed_catalog(key: &SigningKey, sequence: u64, issued_at: u64, promotions: usize) -> Vec<u8> {
    let catalog = Catalog::from_toml(&catalog_toml(promotions)).unwrap();
    let mut payload = Vec::new();
    ciborium::into_writer(&catalog, &mut payload).unwrap();
    envelope::sign(
        &EnvelopeHeader {
            purpose: EnvelopePurpose::Catalog,
            sequence,
            issued_at,
            max_age_secs: 86_400,
        },
        &payload,
        key,
    )
    .unwrap()
}

// ---------------------------------------------------------------------------------------

#[test]
fn balances_gift_cards_offers_and_erasures_reach_the_till() {
    let central = CentralServer::start();
    central.create_customer("ana", 1234);
    central.create_customer("bob", 500);
    central.admin(
        "POST",
        "/admin/v1/gift-cards",
        json!({ "card": "G1", "balance": 5000 }),
    );
    central.admin(
        "PUT",
        "/admin/v1/customers/ana/promotions/OFFER1",
        json!({ "promotion_id": "P1" }),
    );
    let bob_pass = central.pass("bob");
    let enrolled = enrol(&central, "S1", &central.url());
    let db = enrolled.db_path();
    let agent = enrolled.till.start();

    wait_for(
        "central's balances at the till",
        Duration::from_secs(30),
        || agent.output(),
        || {
            let ana = query_i64(
                &db,
                "SELECT synced_balance FROM savings_accounts WHERE customer_ref = 'ana'",
            )?;
            let bob = query_i64(
                &db,
                "SELECT synced_balance FROM savings_accounts WHERE customer_ref = 'bob'",
            )?;
            let card = query_i64(
                &db,
                "SELECT synced_balance FROM gift_cards WHERE card_ref = 'G1'",
            )?;
            let offer = query_i64(
                &db,
                "SELECT active FROM personal_promotions WHERE customer_ref = 'ana' AND promotion_id = 'P1'",
            )?;
            ((ana, bob, card, offer) == (1234, 500, 5000, 1)).then_some(())
        },
    );

    // A pass central issued identifies the customer central described.
    let (status, id) = agent.identify(&central.pass("ana"));
    assert_eq!(status, 200, "{id}");
    assert_eq!(id["customer"]["first_name"], "Lucía");
    assert_eq!(id["customer"]["earn_only"], false);
    assert_eq!(id["customer"]["savings"]["synced"], 1234);
    assert_eq!(id["customer"]["active_promotions"], json!(["P1"]));

    // A change at central reaches the till.
    central.admin(
        "POST",
        "/admin/v1/customers/ana/savings",
        json!({ "amount": 100 }),
    );
    wait_for(
        "the credit at the till",
        Duration::from_secs(30),
        || agent.output(),
        || {
            (query_i64(
                &db,
                "SELECT synced_balance FROM savings_accounts WHERE customer_ref = 'ana'",
            )? == 1334)
                .then_some(())
        },
    );

    // An erasure at central removes the customer from the till; their passes stop working.
    let (status, _) = central.call("DELETE", "/admin/v1/customers/bob", None);
    assert_eq!(status, 204);
    wait_for(
        "bob to disappear",
        Duration::from_secs(30),
        || agent.output(),
        || {
            let gone = query_i64(
                &db,
                "SELECT count(*) FROM customers WHERE customer_ref = 'bob'",
            )? == 0
                && query_i64(
                    &db,
                    "SELECT count(*) FROM savings_accounts WHERE customer_ref = 'bob'",
                )? == 0;
            gone.then_some(())
        },
    );
    let (status, refusal) = agent.identify(&bob_pass);
    assert_eq!(status, 422, "{refusal}");
    assert_eq!(refusal["code"], "revoked", "{refusal}");

    let s = sync_status(&agent);
    assert_eq!(s["online"], true, "{s}");
    assert_eq!(s["configured"], true, "{s}");
    assert!(s["last_delta_at"].as_u64().is_some(), "{s}");
    assert!(s["earn_only"].is_null(), "{s}");
    agent.stop();
}

/// A store whose scope of a customer lapsed is told (`left_scope`, round protocol 2):
/// the till forgets the cached customer, so identifying them with central reachable asks
/// central live and spends from central's balance, not the stale cache; the lookup brings
/// the customer back into the store's scope and its deltas again.
#[test]
fn a_customer_who_left_the_stores_scope_is_looked_up_live_again() {
    let central = CentralServer::start();
    central.create_customer("ana", 1234);
    let enrolled = enrol(&central, "S1", &central.url());
    let db = enrolled.db_path();
    let agent = enrolled.till.start();
    let balance = || {
        query_i64(
            &db,
            "SELECT synced_balance FROM savings_accounts WHERE customer_ref = 'ana'",
        )
    };
    wait_for(
        "ana's balance at the till",
        Duration::from_secs(30),
        || agent.output(),
        || (balance()? == 1234).then_some(()),
    );
    let (status, id) = agent.identify(&central.pass("ana"));
    assert_eq!(status, 200, "{id}");
    assert_eq!(id["customer"]["balance_source"], "cached", "{id}");

    // The scan's token use reaches central: S1's scope holds ana.
    let scope_row = || -> Option<i64> {
        central
            .db()
            .query_row(
                "SELECT count(*) FROM customer_stores WHERE customer = 'ana' AND store = 'S1'",
                [],
                |r| r.get(0),
            )
            .ok()
    };
    wait_for(
        "ana in S1's scope",
        Duration::from_secs(30),
        || agent.output(),
        || (scope_row()? == 1).then_some(()),
    );
    wait_for(
        "the till's outbox to empty",
        Duration::from_secs(30),
        || agent.output(),
        || (query_i64(&db, "SELECT count(*) FROM outbox")? == 0).then_some(()),
    );
    // Her visit was 200 days ago: S1's scope lapsed. Central credits her; S1 no longer
    // receives it, and is told instead.
    central
        .db()
        .execute(
            "UPDATE customer_stores SET seen_at = seen_at - 200 * 86400 WHERE customer = 'ana'",
            [],
        )
        .unwrap();
    central.admin(
        "POST",
        "/admin/v1/customers/ana/savings",
        json!({ "amount": 100 }),
    );
    wait_for(
        "the till to forget ana",
        Duration::from_secs(30),
        || {
            format!(
                "{}\ncentral:\n{}",
                agent.output(),
                central.dump_scope("ana")
            )
        },
        || {
            let gone = query_i64(
                &db,
                "SELECT count(*) FROM customers WHERE customer_ref = 'ana'",
            )? == 0;
            gone.then_some(())
        },
    );
    assert_eq!(balance(), None, "the stale balance is gone");
    assert_eq!(
        query_i64(&db, "SELECT count(*) FROM revocations"),
        Some(0),
        "not an erasure"
    );

    // Central reachable: the scan asks central live and gets its balance (1234 + 100).
    let (status, id) = agent.identify(&central.pass("ana"));
    assert_eq!(status, 200, "{id}");
    assert_eq!(id["customer"]["balance_source"], "live", "{id}");
    assert_eq!(id["customer"]["savings"]["synced"], 1334, "{id}");
    // The lookup put ana back in S1's scope: central's deltas bring her balance again.
    wait_for(
        "ana back in the till's deltas",
        Duration::from_secs(30),
        || agent.output(),
        || {
            let claims = query_i64(
                &db,
                "SELECT count(*) FROM balance_claims WHERE subject = 'ana'",
            )?;
            (claims == 0 && balance()? == 1334).then_some(())
        },
    );
    agent.stop();
}

#[test]
fn a_till_syncs_in_one_request_a_round_and_the_old_way_with_an_older_central() {
    for old in [false, true] {
        let central = if old {
            CentralServer::start_old()
        } else {
            CentralServer::start()
        };
        central.create_customer("ana", 1234);
        central.publish_catalog(&catalog_toml(1));
        let enrolled = enrol(&central, "S1", &central.url());
        let db = enrolled.db_path();
        let agent = enrolled.till.start();
        wait_for(
            "central's balance and catalog at the till",
            Duration::from_secs(30),
            || agent.output(),
            || {
                let ana = query_i64(
                    &db,
                    "SELECT synced_balance FROM savings_accounts WHERE customer_ref = 'ana'",
                )?;
                let catalog = sync_status(&agent)["catalog_sequence"].as_u64();
                (ana == 1234 && catalog.is_some()).then_some(())
            },
        );
        // A few more rounds (one a second), each of them idle.
        let rounds = central.seen(tillpass_protocol::sync::paths::ROUND);
        wait_for(
            "more rounds",
            Duration::from_secs(30),
            || agent.output(),
            || {
                let now = central.seen(tillpass_protocol::sync::paths::ROUND)
                    + central.seen("/v1/trust-list");
                (now >= rounds + 3).then_some(())
            },
        );
        let s = sync_status(&agent);
        assert_eq!(s["online"], true, "{s}");
        let deltas = central.seen_under("/v1/deltas/");
        let envelopes = central.seen("/v1/trust-list") + central.seen("/v1/catalog");
        let round = central.seen(tillpass_protocol::sync::paths::ROUND);
        if old {
            // Asked once, refused, then the per-stream requests for the next hour.
            assert_eq!(round, 1, "the round is asked once");
            assert!(deltas >= 7 && envelopes >= 2, "{deltas} {envelopes}");
        } else {
            assert!(round >= 4, "{round}");
            assert_eq!((deltas, envelopes), (0, 0), "every round in one request");
        }
        agent.stop();
    }
}

#[test]
fn central_signed_time_moves_the_till_clock() {
    let central = CentralServer::start();
    let enrolled = enrol(&central, "S1", &central.url());
    // Central's clock runs two hours ahead: the till's first request carries a timestamp
    // central refuses, but the refusal carries central's signed time, and the clock moves.
    central.offset.store(7_200, Ordering::SeqCst);
    let agent = enrolled.till.start();
    wait_for(
        "the till to sync on central's time",
        Duration::from_secs(30),
        || agent.output(),
        || {
            let s = sync_status(&agent);
            (s["online"] == true && s["last_delta_at"].is_u64()).then_some(())
        },
    );
    let (_, ready) = agent.request("GET", "/readyz", None);
    assert_eq!(ready["clock_skew_alarm"], true, "{ready}");
    // The age of the last sync is a real age, on the till's own (moved) clock.
    let (_, metrics) = agent.request("GET", "/metrics", None);
    let metrics = metrics.as_str().unwrap();
    let age: u64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("tillpass_last_sync_age_seconds "))
        .unwrap_or_else(|| panic!("no sync age in {metrics}"))
        .parse()
        .unwrap();
    assert!(age < 60, "{metrics}");
    assert!(
        metrics.contains("\ntillpass_clock_skew_alarm 1\n"),
        "{metrics}"
    );
    agent.stop();
}

#[test]
fn catalogs_reach_the_engine_and_bad_ones_leave_it_alone() {
    let central = CentralServer::start();
    let published = central.publish_catalog(&catalog_toml(3));
    let first = published["envelope_sequence"].as_u64().unwrap();
    let enrolled = enrol(&central, "S1", &central.url());
    let db = enrolled.db_path();
    let mut agent = enrolled.till.start();
    wait_for(
        "central's catalog in the engine",
        Duration::from_secs(30),
        || agent.output(),
        || {
            let s = sync_status(&agent);
            (s["catalog_sequence"] == first && s["catalog_promotions"] == 3).then_some(())
        },
    );

    let good: Vec<u8> = open_db(&db)
        .query_row(
            "SELECT envelope FROM catalogs WHERE state = 'active'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let catalog_key = central.key(Purpose::Catalog);
    let token_key = central.key(Purpose::Token);
    let now = now();

    // Not a valid push: no token, not an envelope's media type.
    assert_eq!(
        push(
            &agent,
            "/v1/admin/catalog",
            &good,
            "application/cbor",
            false
        )
        .0,
        401
    );
    let (status, problem) = push(&agent, "/v1/admin/catalog", &good, "application/json", true);
    assert_eq!(
        (status, problem["code"].as_str()),
        (415, Some("unsupported_media_type"))
    );

    let mut tampered = sealed_catalog(&catalog_key, first + 1, now, 4);
    let last = tampered.len() - 1;
    tampered[last] ^= 0x01;
    for (bytes, code) in [
        (tampered, "bad_signature"),
        (
            sealed_catalog(&token_key, first + 1, now, 4),
            "key_wrong_purpose",
        ),
        (good.clone(), "rollback"),
        (b"not an envelope".to_vec(), "malformed"),
    ] {
        let (status, problem) = push(
            &agent,
            "/v1/admin/catalog",
            &bytes,
            "application/cbor",
            true,
        );
        assert_eq!(status, 422, "{problem}");
        assert_eq!(problem["code"], code, "{problem}");
        assert!(
            problem["detail"].as_str().is_some_and(|d| !d.is_empty()),
            "{problem}"
        );
        assert_eq!(
            sync_status(&agent)["catalog_sequence"],
            first,
            "the previous catalog stays"
        );
    }
    assert!(agent.output().contains("catalog refused"));

    // A valid push (larger than the API's usual body limit) activates at once.
    let pushed = first + 10;
    let big = sealed_catalog(&catalog_key, pushed, now, 300);
    assert!(big.len() > 16 * 1024);
    let (status, answer) = push(
        &agent,
        "/v1/admin/catalog",
        &big,
        "application/octet-stream",
        true,
    );
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["state"], "active");
    let s = sync_status(&agent);
    assert_eq!(
        (
            s["catalog_sequence"].as_u64(),
            s["catalog_promotions"].as_u64()
        ),
        (Some(pushed), Some(300))
    );

    // A scheduled one waits for its time.
    let scheduled = pushed + 1;
    let (status, answer) = push(
        &agent,
        &format!("/v1/admin/catalog?activates_at={}", now + 2),
        &sealed_catalog(&catalog_key, scheduled, now, 2),
        "application/cose",
        true,
    );
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["state"], "scheduled");
    assert_eq!(sync_status(&agent)["catalog_sequence"], pushed);
    wait_for(
        "the scheduled catalog to activate",
        Duration::from_secs(20),
        || agent.output(),
        || (sync_status(&agent)["catalog_sequence"] == scheduled).then_some(()),
    );

    // After a restart, the catalog in force is the stored one.
    agent.stop();
    agent = enrolled.till.start();
    let s = sync_status(&agent);
    assert_eq!(
        (
            s["catalog_sequence"].as_u64(),
            s["catalog_promotions"].as_u64()
        ),
        (Some(scheduled), Some(2))
    );

    // Central publishes again, under its own (lower) sequence: an older sequence is
    // refused and the engine keeps the newer catalog.
    central.publish_catalog(&catalog_toml(1));
    wait_for(
        "central's older catalog to be refused",
        Duration::from_secs(30),
        || agent.output(),
        || {
            let s = sync_status(&agent);
            s["catalog_refused"]
                .as_str()
                .is_some_and(|r| r.starts_with("rollback"))
                .then_some(())
        },
    );
    assert_eq!(sync_status(&agent)["catalog_sequence"], scheduled);
    agent.stop();
}

fn policy(max_catalog_age_secs: u64, max_trust_list_age_secs: u64) -> OfflinePolicy {
    OfflinePolicy {
        max_savings_spend_per_customer: Money::new(2000, Currency::EUR),
        max_gift_card_spend_per_card: Money::new(5000, Currency::EUR),
        max_catalog_age_secs,
        max_trust_list_age_secs,
        retention_days: 90,
        replay: ReplayPolicy {
            max_uses_per_pass: 3,
        },
    }
}

/// A till whose keys are a test's [`Central`], with `policy`, and no way to central.
fn offline_till(keys: &Central, trust_issued_at: u64, policy: OfflinePolicy) -> Till {
    let record = EnrolmentRecord {
        central: "http://127.0.0.1:9".to_owned(),
        till_public_key: "00".repeat(32),
        response: EnrolResponse {
            v: tillpass_protocol::sync::VERSION,
            store: StoreId::new("S1").unwrap(),
            till: TillId::new("S1-T1").unwrap(),
            region: RegionId::new("north").unwrap(),
            root_public_key: keys.root.verifying_key().to_bytes(),
            trust_list: keys.trust_list(1, trust_issued_at),
            offline_policy: policy,
        },
    };
    write_till(tempfile::tempdir().unwrap(), &record, None, None)
}

#[test]
fn an_old_trust_list_degrades_to_earn_only_and_vouches_for_no_catalog() {
    let keys = Central::new();
    let till = offline_till(&keys, now() - 120, policy(7 * 86_400, 60));
    let agent = till.start();
    let s = sync_status(&agent);
    let why = s["earn_only"].as_str().unwrap_or_default().to_owned();
    assert!(why.starts_with("trust_list_too_old"), "{s}");
    assert_eq!(s["configured"], false);

    let (status, problem) = push(
        &agent,
        "/v1/admin/catalog",
        &sealed_catalog(&keys.catalog, 1, now(), 2),
        "application/cbor",
        true,
    );
    assert_eq!(
        (status, problem["code"].as_str()),
        (422, Some("trust_list_expired")),
        "{problem}"
    );
    assert!(sync_status(&agent)["catalog_sequence"].is_null());
    agent.stop();
}

#[test]
fn an_old_catalog_degrades_to_earn_only_until_a_fresh_one_arrives() {
    let keys = Central::new();
    let till = offline_till(&keys, now() - 60, policy(60, 30 * 86_400));
    let agent = till.start();
    assert!(sync_status(&agent)["earn_only"].is_null());
    let (status, answer) = push(
        &agent,
        "/v1/admin/catalog",
        &sealed_catalog(&keys.catalog, 1, now() - 120, 2),
        "application/cbor",
        true,
    );
    assert_eq!(status, 200, "{answer}");
    let s = sync_status(&agent);
    assert!(
        s["earn_only"]
            .as_str()
            .is_some_and(|w| w.starts_with("catalog_too_old")),
        "{s}"
    );
    let (status, _) = push(
        &agent,
        "/v1/admin/catalog",
        &sealed_catalog(&keys.catalog, 2, now(), 2),
        "application/cbor",
        true,
    );
    assert_eq!(status, 200);
    assert!(sync_status(&agent)["earn_only"].is_null());
    agent.stop();
}

#[test]
fn readyz_says_why_the_till_is_earn_only() {
    let keys = Central::new();
    let till = offline_till(&keys, now() - 120, policy(7 * 86_400, 60));
    let agent = till.start();
    let (_, ready) = agent.request("GET", "/readyz", None);
    let reasons = ready["reasons"].as_array().cloned().unwrap_or_default();
    assert!(
        reasons.iter().any(|r| r
            .as_str()
            .is_some_and(|r| r.starts_with("earn_only: trust_list_too_old"))),
        "{ready}"
    );
    agent.stop();
}

// ---------------------------------------------------------------------------------------
// The fault proxy.

#[derive(Debug, Clone, Copy)]
enum Fault {
    /// Relays, then closes after a while (wherever the exchange is).
    Pass(Duration),
    /// Waits, then relays for a while.
    Delay(Duration, Duration),
    /// Closes at once.
    Drop,
    /// Resets the connection (RST).
    Reset,
    /// Forwards only the first bytes of the request, then closes.
    CutRequest(usize),
    /// Forwards the request, but only the first bytes of the answer, then closes: central
    /// did the work, the till never hears of it.
    CutAnswer(usize),
}

impl Fault {
    fn name(self) -> &'static str {
        match self {
            Fault::Pass(_) => "pass",
            Fault::Delay(..) => "delay",
            Fault::Drop => "drop",
            Fault::Reset => "reset",
            Fault::CutRequest(_) => "cut_request",
            Fault::CutAnswer(_) => "cut_answer",
        }
    }
}

/// A TCP proxy between the agent and central that breaks connections on purpose, until
/// its fault budget is spent; then it relays faithfully.
struct FaultProxy {
    rt: Option<tokio::runtime::Runtime>,
    addr: SocketAddr,
    upstream: Arc<Mutex<SocketAddr>>,
    budget: Arc<AtomicUsize>,
    seen: Arc<Mutex<BTreeMap<&'static str, usize>>>,
}

impl FaultProxy {
    /// A proxy that applies `faults` to its first connections, in order.
    fn start(upstream: SocketAddr, faults: Vec<Fault>) -> FaultProxy {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let listener = rt
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let addr = listener.local_addr().unwrap();
        let upstream = Arc::new(Mutex::new(upstream));
        let budget = Arc::new(AtomicUsize::new(faults.len()));
        let seen = Arc::new(Mutex::new(BTreeMap::new()));
        let (up, left, stats) = (upstream.clone(), budget.clone(), seen.clone());
        let count = faults.len();
        rt.spawn(async move {
            loop {
                let Ok((client, _)) = listener.accept().await else {
                    continue;
                };
                let fault = if let Ok(n) =
                    left.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                {
                    faults[count - n]
                } else {
                    Fault::Pass(Duration::from_secs(3_600))
                };
                *stats.lock().unwrap().entry(fault.name()).or_default() += 1;
                let target = *up.lock().unwrap();
                tokio::spawn(handle(client, target, fault));
            }
        });
        FaultProxy {
            rt: Some(rt),
            addr,
            upstream,
            budget,
            seen,
        }
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn retarget(&self, upstream: SocketAddr) {
        *self.upstream.lock().unwrap() = upstream;
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}

fn next(state: &AtomicU64) -> u64 {
    // xorshift64*
    let mut x = state.load(Ordering::SeqCst);
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    state.store(x, Ordering::SeqCst);
    x.wrapping_mul(0x2545_f491_4f6c_dd1d)
}

/// `n` faults: every kind in turn, with random parameters from `seed`.
fn schedule(n: usize, seed: u64) -> Vec<Fault> {
    let rng = AtomicU64::new(seed | 1);
    (0..n).map(|i| choose(i, next(&rng))).collect()
}

/// The `n`th faulty connection's fault: every kind in turn, with random parameters. A
/// time-limited pass cuts wherever the exchange happens to be (request, central's work,
/// answer).
fn choose(n: usize, r: u64) -> Fault {
    let ms = |lo: u64, hi: u64| Duration::from_millis(lo + (r >> 20) % (hi - lo));
    let bytes = |hi: u64| usize::try_from((r >> 24) % hi).unwrap();
    match n % 8 {
        0 => Fault::CutAnswer(bytes(4 * 1024)),
        1 => Fault::Pass(ms(100, 1_500)),
        2 => Fault::Drop,
        3 => Fault::CutRequest(bytes(128 * 1024)),
        4 => Fault::Reset,
        5 => Fault::Delay(ms(100, 1_000), ms(200, 1_500)),
        6 => Fault::CutAnswer(bytes(256)),
        _ => Fault::Pass(ms(100, 1_500)),
    }
}

/// Copies at most `budget` bytes, and stops once `from` has been quiet for a moment (so a
/// cut always comes: a request shorter than the budget is cut when it is complete).
async fn copy_at_most(
    from: &mut (impl AsyncReadExt + Unpin),
    to: &mut (impl AsyncWriteExt + Unpin),
    mut budget: usize,
) {
    let mut buf = vec![0u8; 16 * 1024];
    while budget > 0 {
        let want = buf.len().min(budget);
        match tokio::time::timeout(Duration::from_millis(300), from.read(&mut buf[..want])).await {
            Err(_) | Ok(Ok(0)) | Ok(Err(_)) => break,
            Ok(Ok(n)) => {
                if to.write_all(&buf[..n]).await.is_err() {
                    break;
                }
                budget -= n;
            }
        }
    }
}

async fn relay_for(client: tokio::net::TcpStream, upstream: SocketAddr, limit: Duration) {
    let Ok(mut server) = tokio::net::TcpStream::connect(upstream).await else {
        return;
    };
    let mut client = client;
    let _ = tokio::time::timeout(
        limit,
        tokio::io::copy_bidirectional(&mut client, &mut server),
    )
    .await;
}

async fn handle(client: tokio::net::TcpStream, upstream: SocketAddr, fault: Fault) {
    match fault {
        Fault::Pass(limit) => relay_for(client, upstream, limit).await,
        Fault::Delay(wait, limit) => {
            tokio::time::sleep(wait).await;
            relay_for(client, upstream, limit).await;
        }
        Fault::Drop => drop(client),
        Fault::Reset => {
            let _ = client.set_zero_linger();
            drop(client);
        }
        Fault::CutRequest(n) => {
            let Ok(mut server) = tokio::net::TcpStream::connect(upstream).await else {
                return;
            };
            let (mut from, _to) = client.into_split();
            let (_r, mut w) = server.split();
            copy_at_most(&mut from, &mut w, n).await;
        }
        Fault::CutAnswer(n) => {
            let Ok(server) = tokio::net::TcpStream::connect(upstream).await else {
                return;
            };
            let (mut client_r, mut client_w) = client.into_split();
            let (mut server_r, mut server_w) = server.into_split();
            let up = tokio::spawn(async move {
                let _ = tokio::io::copy(&mut client_r, &mut server_w).await;
            });
            // Forward the answer's first `n` bytes; cut once central has answered past them
            // (it answers after committing: the work is done, the till never learns it).
            let mut forwarded = 0;
            let mut buf = vec![0u8; 16 * 1024];
            loop {
                match tokio::time::timeout(Duration::from_secs(30), server_r.read(&mut buf)).await {
                    Ok(Ok(k)) if k > 0 => {
                        let take = k.min(n - forwarded);
                        if take > 0 && client_w.write_all(&buf[..take]).await.is_err() {
                            break;
                        }
                        forwarded += take;
                        if forwarded >= n {
                            break;
                        }
                    }
                    _ => break,
                }
            }
            up.abort();
        }
    }
}

/// How the journal's savings events move one account: the till's columns always add up
/// to central's balance plus what central has not seen.
const START: i64 = 100_000;
const REDEEMED: i64 = 4_000; // events of 1
const EARNED: i64 = 2_000; // events of 3
const SCANS: usize = 20;

#[test]
fn journal_events_cross_a_faulty_network_exactly_once() {
    let mut central = CentralServer::start();
    central.create_customer("C1", START);
    let proxy = FaultProxy::start(central.addr, schedule(48, 0x5eed_1234_abcd));
    let enrolled = enrol(&central, "S1", &proxy.url());
    let db = enrolled.db_path();
    let expected = START - REDEEMED + 3 * EARNED;

    // The till's sales before it could sync: redemptions and earns, each with its event,
    // as the session code writes them.
    {
        let store = tillpass_agent::store::Store::open(&enrolled.till.data()).unwrap();
        let mut conn = store.conn();
        let tx = conn.transaction().unwrap();
        let who = tillpass_agent::store::journal::TillIdentity {
            store: enrolled.response.store.clone(),
            till: enrolled.response.till.clone(),
        };
        tillpass_agent::store::customers::put(
            &tx,
            &tillpass_agent::store::customers::NewCustomer {
                customer_ref: "C1",
                first_name: Some("Lucía"),
                tier: None,
                lang: "es",
                savings: Some(("EUR", START)),
            },
            0,
        )
        .unwrap();
        let at = i64::try_from(now()).unwrap();
        for i in 0..REDEEMED + EARNED {
            let earn = i >= REDEEMED;
            let movement = SavingsMovement {
                customer: CustomerRef::new("C1").unwrap(),
                amount: Money::new(if earn { 3 } else { 1 }, Currency::EUR),
                sale_id: None,
                basis: None,
            };
            let payload = if earn {
                EventPayload::SavingsEarned(movement)
            } else {
                EventPayload::SavingsRedeemed(movement)
            };
            tillpass_agent::store::journal::append(&tx, &who, at, payload).unwrap();
            tx.execute(
                "UPDATE savings_accounts SET pending = pending + ?1,
                   unsynced_spent = unsynced_spent + ?2 WHERE customer_ref = 'C1'",
                [if earn { 3 } else { 0 }, if earn { 0 } else { 1 }],
            )
            .unwrap();
        }
        tx.commit().unwrap();
    }
    let total = usize::try_from(REDEEMED + EARNED).unwrap() + SCANS;

    // Watch the till's columns the whole time.
    let stop = Arc::new(AtomicBool::new(false));
    let watcher = {
        let (stop, db) = (stop.clone(), db.clone());
        std::thread::spawn(move || {
            let mut samples = 0u64;
            let mut broken = Vec::new();
            while !stop.load(Ordering::SeqCst) {
                if let Some(local) = query_i64(
                    &db,
                    "SELECT synced_balance - unsynced_spent + pending FROM savings_accounts
                     WHERE customer_ref = 'C1'",
                ) {
                    samples += 1;
                    if local != expected {
                        broken.push(local);
                    }
                }
                std::thread::park_timeout(Duration::from_millis(5));
            }
            (samples, broken)
        })
    };
    let outbox = || query_i64(&db, "SELECT count(*) FROM outbox").unwrap_or(-1);

    let t0 = Instant::now();
    let phase = |name: &str| {
        eprintln!(
            "[{:>6.1} s] {name}: outbox {}, faults {:?}",
            t0.elapsed().as_secs_f64(),
            outbox(),
            proxy.seen.lock().unwrap()
        )
    };
    let mut agent = enrolled.till.start();
    // The agent is killed as soon as central acknowledged a first batch, and started again.
    let first = usize::try_from(REDEEMED + EARNED).unwrap();
    wait_for(
        "a first batch acknowledged",
        Duration::from_secs(120),
        || agent.output(),
        || (usize::try_from(outbox()).unwrap_or(usize::MAX) < first).then_some(()),
    );
    let killed_at = outbox();
    phase("agent killed");
    drop(agent);
    agent = enrolled.till.start();
    // More events while the journal drains: identifications of passes central issued.
    for _ in 0..SCANS {
        let (status, id) = agent.identify(&central.pass("C1"));
        assert_eq!(status, 200, "{id}");
    }

    // Central is stopped mid-upload and started again (on another port).
    wait_for(
        "more progress",
        Duration::from_secs(120),
        || agent.output(),
        || (outbox() < killed_at || outbox() == 0).then_some(()),
    );
    central.restart();
    proxy.retarget(central.addr);
    phase("central restarted");

    wait_for(
        "the outbox to drain",
        Duration::from_secs(240),
        || {
            format!(
                "outbox {} faults {:?}\n{}",
                outbox(),
                proxy.seen.lock().unwrap(),
                agent.output()
            )
        },
        || (outbox() == 0).then_some(()),
    );
    phase("drained");
    wait_for(
        "the till's balance to match central's",
        Duration::from_secs(60),
        || agent.output(),
        || {
            let synced = query_i64(
                &db,
                "SELECT synced_balance FROM savings_accounts WHERE customer_ref = 'C1'",
            )?;
            let spent = query_i64(
                &db,
                "SELECT unsynced_spent FROM savings_accounts WHERE customer_ref = 'C1'",
            )?;
            let pending = query_i64(
                &db,
                "SELECT pending FROM savings_accounts WHERE customer_ref = 'C1'",
            )?;
            ((synced, spent, pending) == (expected, 0, 0)).then_some(())
        },
    );
    phase("balances converged");
    stop.store(true, Ordering::SeqCst);
    let (samples, broken) = watcher.join().unwrap();

    // Central holds each event once and applied each once.
    let central_db = central.db();
    let (events, distinct): (i64, i64) = central_db
        .query_row(
            "SELECT count(*), count(DISTINCT id) FROM events WHERE till = ?1",
            [enrolled.response.till.as_str()],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(events, i64::try_from(total).unwrap());
    assert_eq!(distinct, events);
    let seqs: i64 = central_db
        .query_row(
            "SELECT count(DISTINCT seq) FROM events WHERE till = ?1",
            [enrolled.response.till.as_str()],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(seqs, events, "one event per journal sequence number");
    assert_eq!(
        central.savings("C1"),
        expected,
        "every movement applied exactly once"
    );
    assert_eq!(
        query_i64(
            &db,
            "SELECT count(*) FROM outbox WHERE last_error IS NOT NULL"
        ),
        Some(0)
    );

    // Never double-counted, never lost, at any moment the till was looked at.
    assert!(samples > 10, "{samples}");
    assert!(broken.is_empty(), "the till's balance strayed: {broken:?}");
    let seen = proxy.seen.lock().unwrap().clone();
    let faults = 48 - proxy.budget.load(Ordering::SeqCst);
    assert!(faults >= 8, "only {faults} faulty connections: {seen:?}");
    for kind in ["drop", "reset", "cut_request", "cut_answer", "delay"] {
        assert!(
            seen.get(kind).copied().unwrap_or(0) > 0,
            "no {kind}: {seen:?}"
        );
    }
    agent.stop();
}

/// The till's sales as the session code writes them: `redeemed` redemptions of 1 and
/// `earned` earns of 3 for `customer`, each event with its balance movement.
fn sell_offline(enrolled: &Enrolled, customer: &str, start: i64, redeemed: i64, earned: i64) {
    let store = tillpass_agent::store::Store::open(&enrolled.till.data()).unwrap();
    let mut conn = store.conn();
    let tx = conn.transaction().unwrap();
    let who = tillpass_agent::store::journal::TillIdentity {
        store: enrolled.response.store.clone(),
        till: enrolled.response.till.clone(),
    };
    tillpass_agent::store::customers::put(
        &tx,
        &tillpass_agent::store::customers::NewCustomer {
            customer_ref: customer,
            first_name: Some("Lucía"),
            tier: None,
            lang: "es",
            savings: Some(("EUR", start)),
        },
        0,
    )
    .unwrap();
    let at = i64::try_from(now()).unwrap();
    for i in 0..redeemed + earned {
        let earn = i >= redeemed;
        let movement = SavingsMovement {
            customer: CustomerRef::new(customer).unwrap(),
            amount: Money::new(if earn { 3 } else { 1 }, Currency::EUR),
            sale_id: None,
            basis: None,
        };
        let payload = if earn {
            EventPayload::SavingsEarned(movement)
        } else {
            EventPayload::SavingsRedeemed(movement)
        };
        tillpass_agent::store::journal::append(&tx, &who, at, payload).unwrap();
        tx.execute(
            "UPDATE savings_accounts SET pending = pending + ?1,
               unsynced_spent = unsynced_spent + ?2 WHERE customer_ref = ?3",
            rusqlite::params![if earn { 3 } else { 0 }, if earn { 0 } else { 1 }, customer],
        )
        .unwrap();
    }
    tx.commit().unwrap();
}

fn savings_columns(db: &Path, customer: &str) -> (i64, i64, i64) {
    open_db(db)
        .query_row(
            "SELECT synced_balance, unsynced_spent, pending FROM savings_accounts
             WHERE customer_ref = ?1",
            [customer],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap()
}

/// Central applies a batch but its answer is lost: the events stay in the outbox. A
/// balance read now already reflects them — applying it as is would count them twice.
/// The puller first settles the upload in doubt (central answers `duplicate`).
#[test]
fn a_lost_acknowledgement_is_never_counted_twice() {
    use tillpass_agent::relay::Relay;
    use tillpass_agent::sync::deltas::Puller;
    use tillpass_protocol::sync::DeltaKind;

    let central = CentralServer::start();
    central.create_customer("C1", 1_000);
    // The first connection carries the upload; its answer never comes back.
    let proxy = FaultProxy::start(central.addr, vec![Fault::CutAnswer(0)]);
    let enrolled = enrol(&central, "S1", &proxy.url());
    sell_offline(&enrolled, "C1", 1_000, 10, 5);
    let db = enrolled.db_path();
    assert_eq!(savings_columns(&db, "C1"), (1_000, 10, 15));

    let store = Arc::new(tillpass_agent::store::Store::open(&enrolled.till.data()).unwrap());
    let clock = Arc::new(tillpass_agent::clock::Clock::new(
        tillpass_agent::clock::system_wall_clock(),
        300,
    ));
    let trust = tillpass_agent::store::tokens::accept_trust_list(
        &store.conn(),
        enrolled.response.root_public_key,
        &enrolled.response.trust_list,
        now(),
    )
    .unwrap();
    let client = Arc::new(
        tillpass_agent::sync::CentralClient::new(
            &proxy.url(),
            enrolled.response.till.clone(),
            enrolled.key.clone(),
            clock,
            Some(trust.store),
            None,
        )
        .unwrap(),
    );
    let relay = Arc::new(Relay::new(store.clone(), client.clone(), None));
    let puller = Puller {
        store: store.clone(),
        client,
        relay: relay.clone(),
        identifier: None,
        page_limit: 1000,
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    assert!(
        rt.block_on(relay.upload_once()).is_err(),
        "the answer was cut"
    );
    assert!(rt.block_on(relay.in_doubt()).unwrap());
    assert_eq!(query_i64(&db, "SELECT count(*) FROM outbox"), Some(15));
    assert_eq!(
        central.savings("C1"),
        1_000 - 10 + 15,
        "central applied the batch"
    );

    rt.block_on(puller.pull(DeltaKind::Customers)).unwrap();
    rt.block_on(puller.pull(DeltaKind::Balances)).unwrap();
    assert_eq!(
        savings_columns(&db, "C1"),
        (1_005, 0, 0),
        "central's balance, and nothing counted again"
    );
    assert_eq!(query_i64(&db, "SELECT count(*) FROM outbox"), Some(0));
    assert!(!rt.block_on(relay.in_doubt()).unwrap());
    let events: i64 = central
        .db()
        .query_row("SELECT count(*) FROM events", [], |r| r.get(0))
        .unwrap();
    assert_eq!(events, 15, "each event once");
}

/// Central's database is saturated: it answers `503 busy` with `Retry-After: 1`. The
/// relay (whose own backoff would retry within 100 ms) waits at least that second
/// between attempts, then uploads every event once central has room again.
#[test]
fn the_relay_waits_as_a_saturated_central_asks_then_uploads() {
    use tillpass_agent::relay::Relay;

    let central = CentralServer::start_with_wait(Duration::from_millis(100));
    central.create_customer("C1", 1_000);
    let enrolled = enrol(&central, "S1", &central.url());
    sell_offline(&enrolled, "C1", 1_000, 0, 3);
    let db = enrolled.db_path();
    assert_eq!(query_i64(&db, "SELECT count(*) FROM outbox"), Some(3));

    let store = Arc::new(tillpass_agent::store::Store::open(&enrolled.till.data()).unwrap());
    let clock = Arc::new(tillpass_agent::clock::Clock::new(
        tillpass_agent::clock::system_wall_clock(),
        300,
    ));
    let trust = tillpass_agent::store::tokens::accept_trust_list(
        &store.conn(),
        enrolled.response.root_public_key,
        &enrolled.response.trust_list,
        now(),
    )
    .unwrap();
    let client = Arc::new(
        tillpass_agent::sync::CentralClient::new(
            &central.url(),
            enrolled.response.till.clone(),
            enrolled.key.clone(),
            clock,
            Some(trust.store),
            None,
        )
        .unwrap(),
    );
    let relay = Arc::new(
        Relay::new(store.clone(), client, None).with_retry_max(Duration::from_millis(100)),
    );

    // Something holds central's one database connection.
    let (held_tx, held_rx) = std::sync::mpsc::channel();
    let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
    let holder = central.db.clone().unwrap();
    let held = central.rt.as_ref().unwrap().spawn(async move {
        holder
            .call(move |_| {
                held_tx.send(()).unwrap();
                release_rx.recv().unwrap();
                Ok(())
            })
            .await
    });
    held_rx.recv_timeout(Duration::from_secs(10)).unwrap();

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let refused = rt.block_on(relay.upload_once()).unwrap_err();
    assert_eq!(
        refused.retry_after(),
        Some(Duration::from_secs(1)),
        "{refused}"
    );
    let _ = rustls::crypto::ring::default_provider().install_default();
    let busy = || {
        let text = central.rt.as_ref().unwrap().block_on(async {
            reqwest::get(format!("{}/metrics", central.url()))
                .await
                .unwrap()
                .text()
                .await
                .unwrap()
        });
        text.lines()
            .find_map(|l| {
                l.strip_prefix(
                    r#"tillpass_central_http_requests_total{route="journal",status="503"} "#,
                )
            })
            .map_or(0, |v| v.trim().parse::<u64>().unwrap())
    };
    assert_eq!(busy(), 1);

    // The relay runs: its first attempt at once, the next one only after the second
    // central asked for.
    let running = rt.spawn(relay.clone().run());
    wait_for(
        "the relay's first attempt",
        Duration::from_secs(10),
        String::new,
        || (busy() >= 2).then_some(()),
    );
    let first = Instant::now();
    wait_for(
        "the relay's second attempt",
        Duration::from_secs(10),
        String::new,
        || (busy() >= 3).then_some(()),
    );
    let gap = first.elapsed();
    assert!(
        gap >= Duration::from_millis(900),
        "the relay came back after {gap:?}, before the Retry-After second"
    );
    let events = || -> i64 {
        central
            .db()
            .query_row("SELECT count(*) FROM events", [], |r| r.get(0))
            .unwrap()
    };
    assert_eq!(events(), 0, "nothing applied while central was saturated");

    release_tx.send(()).unwrap();
    central
        .rt
        .as_ref()
        .unwrap()
        .block_on(held)
        .unwrap()
        .unwrap();
    wait_for(
        "the outbox to drain",
        Duration::from_secs(20),
        String::new,
        || (query_i64(&db, "SELECT count(*) FROM outbox") == Some(0)).then_some(()),
    );
    assert_eq!(events(), 3, "each event once");
    running.abort();
}

/// Two tills of one store, offline, each take 40.00 from the same 50.00 gift card (each
/// within its offline cap). Central accepts both debits, records the overspend as a
/// flagged debt, and both tills receive the corrected balance — nothing spendable, and
/// nothing of their own spend counted again.
#[test]
fn two_tills_overspend_one_gift_card_and_both_learn_the_debt() {
    let central = CentralServer::start();
    central.admin(
        "POST",
        "/admin/v1/gift-cards",
        json!({ "card": "G1", "balance": 5000 }),
    );
    let tills: Vec<Enrolled> = (0..2)
        .map(|_| enrol(&central, "S1", &central.url()))
        .collect();
    for till in &tills {
        let store = tillpass_agent::store::Store::open(&till.till.data()).unwrap();
        let mut conn = store.conn();
        let tx = conn.transaction().unwrap();
        tx.execute(
            "INSERT INTO gift_cards(card_ref, currency, synced_balance, unsynced_spent, updated_at)
             VALUES ('G1', 'EUR', 5000, 4000, 0)",
            [],
        )
        .unwrap();
        tillpass_agent::store::journal::append(
            &tx,
            &tillpass_agent::store::journal::TillIdentity {
                store: till.response.store.clone(),
                till: till.response.till.clone(),
            },
            i64::try_from(now()).unwrap(),
            EventPayload::GiftCardDebited(tillpass_protocol::sync::GiftCardMovement {
                card: tillpass_protocol::sync::GiftCardRef::new("G1").unwrap(),
                amount: Money::new(4000, Currency::EUR),
                sale_id: None,
                hold_id: None,
                basis: None,
            }),
        )
        .unwrap();
        tx.commit().unwrap();
    }
    let agents: Vec<Agent> = tills.iter().map(|t| t.till.start()).collect();
    for (till, agent) in tills.iter().zip(&agents) {
        let db = till.db_path();
        wait_for(
            "the corrected balance at each till",
            Duration::from_secs(30),
            || agent.output(),
            || {
                let balance = query_i64(
                    &db,
                    "SELECT synced_balance FROM gift_cards WHERE card_ref = 'G1'",
                )?;
                let spent = query_i64(
                    &db,
                    "SELECT unsynced_spent FROM gift_cards WHERE card_ref = 'G1'",
                )?;
                ((balance, spent) == (-3000, 0)).then_some(())
            },
        );
    }
    let card = central.admin("GET", "/admin/v1/gift-cards/G1", Value::Null);
    assert_eq!(
        (
            card["balance"]["amount"].as_i64(),
            card["debt"]["amount"].as_i64()
        ),
        (Some(0), Some(3000)),
        "{card}"
    );
    let flags = central.admin("GET", "/admin/v1/flags", Value::Null);
    assert!(flags.to_string().contains("overspend_debt"), "{flags}");
    for agent in agents {
        agent.stop();
    }
}

/// Three tills — two of store S1, one of S2 — each spend 10.00 of one customer's 15.00
/// offline, from the balance they hold. Their journals reach central in another order
/// than the spends happened (S1's second till first, S1's first till last): central
/// judges them in the order they happened — the first spend confirmed, the other two
/// debts, one flag — and every till of each store receives its own store's ledger with
/// those outcomes, the customer masked.
#[test]
fn offline_spends_at_two_stores_reach_each_stores_ledger_with_centrals_outcome() {
    let central = CentralServer::start();
    central.create_customer("C-000123", 1500);
    let tills: Vec<Enrolled> = ["S1", "S1", "S2"]
        .iter()
        .map(|store| enrol(&central, store, &central.url()))
        .collect();
    let base = i64::try_from(now()).unwrap() - 600;
    for (till, offset) in tills.iter().zip([0, 20, 10]) {
        let store = tillpass_agent::store::Store::open(&till.till.data()).unwrap();
        let mut conn = store.conn();
        let tx = conn.transaction().unwrap();
        tx.execute(
            "INSERT INTO customers(customer_ref, earn_only, created_locally, updated_at)
             VALUES ('C-000123', 0, 0, 0)",
            [],
        )
        .unwrap();
        tx.execute(
            "INSERT INTO savings_accounts(customer_ref, currency, synced_balance, unsynced_spent)
             VALUES ('C-000123', 'EUR', 1500, 1000)",
            [],
        )
        .unwrap();
        tillpass_agent::store::journal::append(
            &tx,
            &tillpass_agent::store::journal::TillIdentity {
                store: till.response.store.clone(),
                till: till.response.till.clone(),
            },
            base + offset,
            EventPayload::SavingsRedeemed(SavingsMovement {
                customer: CustomerRef::new("C-000123").unwrap(),
                amount: Money::new(1000, Currency::EUR),
                sale_id: None,
                basis: None,
            }),
        )
        .unwrap();
        tx.commit().unwrap();
    }
    // Arrival: S1's second till, then S2's, then S1's first.
    let mut agents = Vec::new();
    for i in [1, 2, 0] {
        let agent = tills[i].till.start();
        let db = tills[i].db_path();
        wait_for(
            "the journal to reach central",
            Duration::from_secs(30),
            || agent.output(),
            || {
                let waiting = query_i64(&db, "SELECT count(*) FROM outbox")?;
                (waiting == 0).then_some(())
            },
        );
        agents.push(agent);
    }
    let customer = central.admin("GET", "/admin/v1/customers/C-000123", Value::Null);
    assert_eq!(customer["debt"]["amount"], 1500, "{customer}");
    let flags = central.admin("GET", "/admin/v1/flags", Value::Null);
    let overspends = flags
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["kind"] == "overspend_debt")
        .count();
    assert_eq!(overspends, 1, "one flag for the account: {flags}");

    let till_ids: Vec<String> = tills
        .iter()
        .map(|t| t.response.till.as_str().to_owned())
        .collect();
    let ledger_of = |db: &Path| -> Option<Vec<String>> {
        let conn = open_db(db);
        let mut stmt = conn
            .prepare(
                "SELECT till || ':' || holder || ':' || short || ':' || outcome
                 FROM store_ledger_spends ORDER BY at",
            )
            .ok()?;
        let rows = stmt.query_map([], |r| r.get::<_, String>(0)).ok()?;
        rows.collect::<Result<Vec<_>, _>>().ok()
    };
    let s1 = vec![
        format!("{}:C-••••23:0:confirmed", till_ids[0]),
        format!("{}:C-••••23:1000:debt", till_ids[1]),
    ];
    let s2 = vec![format!("{}:C-••••23:500:debt", till_ids[2])];
    for (till, expected) in tills.iter().zip([&s1, &s1, &s2]) {
        let db = till.db_path();
        wait_for(
            "the store's ledger at each of its tills",
            Duration::from_secs(60),
            || format!("{:?}", ledger_of(&db)),
            || (ledger_of(&db).as_ref() == Some(expected)).then_some(()),
        );
        let flag = query_i64(
            &db,
            "SELECT count(*) FROM store_ledger_flags WHERE kind = 'overspend_debt'
               AND holder = 'C-••••23' AND resolved = 0",
        );
        assert_eq!(flag, Some(1), "the flag reaches every till of the store");
    }
    for agent in agents {
        agent.stop();
    }
}

// ---------------------------------------------------------------------------------------
// Pending savings and segments, through the POS API of a till synced with central.

/// 2 % back, pending for one day; 10 % off books for students.
const SAVINGS_AND_SEGMENTS: &str = r#"
format = 1
currency = "EUR"
tiers = ["gold"]

[savings]
earn_rate = 200
return_window_days = 1

[[promotions]]
id = "STUDENTS"
label = { es = "Estudiantes -10 %", en = "Students 10 % off" }
valid_from = 0
valid_until = 4000000000
rules = [{ type = "percent_off", percent = 1000, items = { skus = ["BOOK"] } }]
conditions = { segments = ["students"] }
"#;

/// A POS call with an `Idempotency-Key`.
fn pos(agent: &Agent, method: &str, path: &str, key: &str, body: &Value) -> (u16, Value) {
    crate::sessions::raw(
        &agent.addr,
        method,
        path,
        Some(key),
        &body.to_string(),
        true,
    )
}

fn one_line(sku: &str, price: i64) -> Value {
    json!({
        "currency": "EUR",
        "lines": [{ "line_id": "1", "sku": sku, "quantity": { "units": 1 },
                    "unit_price": { "amount": price, "currency": "EUR" } }]
    })
}

/// Opens session `id` for `customer` (a fresh pass) with one line.
fn open_sale(
    central: &CentralServer,
    agent: &Agent,
    id: &str,
    customer: &str,
    cart: Value,
) -> Value {
    let body = json!({
        "cart": cart, "customer_scan": central.pass(customer), "use_current_customer": false
    });
    let (status, session) = pos(
        agent,
        "PUT",
        &format!("/v1/sessions/{id}"),
        &format!("{id}-put"),
        &body,
    );
    assert_eq!(status, 200, "{session}");
    session
}

fn savings_tender(agent: &Agent, id: &str, version: u64, amount: i64) -> (u16, Value) {
    pos(
        agent,
        "POST",
        &format!("/v1/sessions/{id}/tenders"),
        &format!("{id}-tender-{amount}"),
        &json!({ "version": version, "tender": { "type": "savings",
                 "amount": { "amount": amount, "currency": "EUR" } } }),
    )
}

fn close(agent: &Agent, id: &str, version: u64) -> Value {
    let (status, closed) = pos(
        agent,
        "POST",
        &format!("/v1/sessions/{id}/close"),
        &format!("{id}-close"),
        &json!({ "version": version }),
    );
    assert_eq!(status, 200, "{closed}");
    closed
}

/// (spendable, pending, local pending, outbox rows) at the till for `customer`.
fn till_savings(db: &Path, customer: &str) -> Option<(i64, i64, i64, i64)> {
    let row = |column: &str| {
        query_i64(
            db,
            &format!("SELECT {column} FROM savings_accounts WHERE customer_ref = '{customer}'"),
        )
    };
    Some((
        row("synced_balance")?,
        row("synced_pending")?,
        row("pending")?,
        query_i64(db, "SELECT count(*) FROM outbox")?,
    ))
}

/// (spendable, pending, debt) at central.
fn central_savings(central: &CentralServer, customer: &str) -> (i64, i64, i64) {
    let view = central.admin(
        "GET",
        &format!("/admin/v1/customers/{customer}"),
        Value::Null,
    );
    (
        view["savings"]["amount"].as_i64().unwrap(),
        view["pending"]["amount"].as_i64().unwrap(),
        view["debt"]["amount"].as_i64().unwrap(),
    )
}

/// The golden scenario of issue «Money at the seams»: a customer with no savings buys
/// €1,995.00 and earns €39.90, pending for the return window. Before central kept pending
/// savings apart, one sync made all of it spendable; now it is refused as a tender before
/// and after the sync, a return inside the window takes it back whole (no savings kept
/// from a returned purchase), and savings of a kept sale become spendable at their release
/// time by central's clock. Along the way a segment promotion applies for a customer in
/// the segment and not for another, through the real API.
#[test]
fn pending_savings_are_never_spent_and_segment_promotions_reach_their_segment() {
    let central = CentralServer::start();
    central.create_customer("ana", 0);
    central.create_customer("bob", 0);
    central.admin(
        "PATCH",
        "/admin/v1/customers/ana",
        json!({ "segments": ["students"] }),
    );
    central.publish_catalog(SAVINGS_AND_SEGMENTS);
    let enrolled = enrol(&central, "S1", &central.url());
    let db = enrolled.db_path();
    let agent = enrolled.till.start();
    wait_for(
        "the catalog and ana's segments at the till",
        Duration::from_secs(30),
        || agent.output(),
        || {
            let s = sync_status(&agent);
            let segments = query_i64(
                &db,
                "SELECT count(*) FROM customers WHERE customer_ref = 'ana'
                 AND segments = '[\"students\"]'",
            )?;
            (s["catalog_promotions"] == 1 && segments == 1).then_some(())
        },
    );

    // The segment promotion: for ana (a student), not for bob.
    for (customer, discount) in [("ana", 200), ("bob", 0)] {
        let body = json!({
            "cart": one_line("BOOK", 2000), "customer_scan": central.pass(customer),
            "use_current_customer": false
        });
        let (status, s) = pos(&agent, "PUT", "/v1/sessions/BOOK?dry=true", "unused", &body);
        assert_eq!(status, 200, "{s}");
        assert_eq!(s["customer"]["customer_ref"], customer, "{s}");
        assert_eq!(
            s["evaluation"]["totals"]["discount"]["amount"], discount,
            "{customer}: {s}"
        );
    }

    // Earn: €1,995.00 at 2 % is €39.90, pending.
    open_sale(&central, &agent, "S-1", "ana", one_line("TV", 199_500));
    let closed = close(&agent, "S-1", 1);
    assert_eq!(
        closed["receipt"]["savings_earned"]["amount"], 3990,
        "{closed}"
    );
    assert_eq!(closed["receipt"]["savings_after"]["available"]["amount"], 0);
    assert_eq!(
        closed["receipt"]["savings_after"]["pending"]["amount"],
        3990
    );

    // Try to spend it, before and after central has it: refused, nothing is spendable.
    let s = open_sale(&central, &agent, "S-2", "ana", one_line("MILK", 5000));
    assert_eq!(s["customer"]["savings"]["available"]["amount"], 0, "{s}");
    assert_eq!(s["customer"]["savings"]["pending"]["amount"], 3990, "{s}");
    let (status, refusal) = savings_tender(&agent, "S-2", 1, 3990);
    assert_eq!(status, 422, "{refusal}");
    assert_eq!(refusal["code"], "insufficient_balance", "{refusal}");
    wait_for(
        "the earn at central and back at the till as pending",
        Duration::from_secs(30),
        || format!("{:?}\n{}", till_savings(&db, "ana"), agent.output()),
        || (till_savings(&db, "ana")? == (0, 3990, 0, 0)).then_some(()),
    );
    assert_eq!(central_savings(&central, "ana"), (0, 3990, 0));
    for amount in [3990, 1] {
        let (status, refusal) = savings_tender(&agent, "S-2", 1, amount);
        assert_eq!(status, 422, "after a sync, {amount}: {refusal}");
        assert_eq!(refusal["code"], "insufficient_balance", "{refusal}");
    }

    // Return the sale inside the window: its pending savings are taken back whole.
    let (status, returned) = pos(
        &agent,
        "POST",
        "/v1/sessions/S-1/returns",
        "S-1-return",
        &json!({ "return_id": "R-1", "lines": [{ "line": "1", "qty": 1 }] }),
    );
    assert_eq!(status, 200, "{returned}");
    assert_eq!(returned["outcome"]["savings_reversed"]["amount"], 3990);
    assert_eq!(returned["savings_after"]["available"]["amount"], 0);
    assert_eq!(returned["savings_after"]["pending"]["amount"], 0);
    wait_for(
        "the return at central",
        Duration::from_secs(30),
        || format!("{:?}\n{}", till_savings(&db, "ana"), agent.output()),
        || (till_savings(&db, "ana")? == (0, 0, 0, 0)).then_some(()),
    );
    assert_eq!(central_savings(&central, "ana"), (0, 0, 0));
    let flags = central.admin("GET", "/admin/v1/flags", Value::Null);
    assert_eq!(flags, json!([]), "nothing overspent, nothing clamped");

    // A kept sale: pending until its release time, then spendable.
    open_sale(&central, &agent, "S-3", "ana", one_line("TV", 199_500));
    close(&agent, "S-3", 1);
    wait_for(
        "the second earn pending at the till",
        Duration::from_secs(30),
        || format!("{:?}\n{}", till_savings(&db, "ana"), agent.output()),
        || (till_savings(&db, "ana")? == (0, 3990, 0, 0)).then_some(()),
    );
    let release = query_i64(
        &db,
        "SELECT next_release_at FROM savings_accounts WHERE customer_ref = 'ana'",
    )
    .unwrap();
    let to_release = release - i64::try_from(now()).unwrap();
    assert!(
        (86_400 - 120..=86_400).contains(&to_release),
        "one day of window: {to_release}"
    );
    // Central's clock passes the release time; the till follows central's signed time.
    central.offset.store(to_release + 60, Ordering::SeqCst);
    wait_for(
        "the released savings at the till",
        Duration::from_secs(60),
        || format!("{:?}\n{}", till_savings(&db, "ana"), agent.output()),
        || (till_savings(&db, "ana")? == (3990, 0, 0, 0)).then_some(()),
    );
    assert_eq!(central_savings(&central, "ana"), (3990, 0, 0));
    open_sale(&central, &agent, "S-4", "ana", one_line("MILK", 5000));
    let (status, s) = savings_tender(&agent, "S-4", 1, 3990);
    assert_eq!(status, 200, "{s}");
    let closed = close(&agent, "S-4", 2);
    assert_eq!(
        closed["receipt"]["savings_redeemed"]["amount"], 3990,
        "{closed}"
    );
    agent.stop();
}

// ---------------------------------------------------------------------------------------
// Signed delta pages against a man in the middle.

/// What the [`TamperProxy`] does to the exchanges it relays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tamper {
    /// Relays faithfully.
    Nothing,
    /// Rewrites a balance of 12.34 into 99.99 in answers to balance pages, byte for byte
    /// (the signed page stays well-formed CBOR; only its signature can tell).
    RewriteBalance,
    /// Drops the till's `Accept` header, so central answers an unsigned page.
    StripAccept,
}

/// An HTTP/1.1 proxy between the agent and central that reads each exchange whole (one per
/// connection) and can rewrite it.
struct TamperProxy {
    rt: Option<tokio::runtime::Runtime>,
    addr: SocketAddr,
    mode: Arc<Mutex<Tamper>>,
    rewritten: Arc<AtomicUsize>,
}

impl TamperProxy {
    fn start(upstream: SocketAddr, mode: Tamper) -> TamperProxy {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let listener = rt
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let addr = listener.local_addr().unwrap();
        let mode = Arc::new(Mutex::new(mode));
        let rewritten = Arc::new(AtomicUsize::new(0));
        let (m, n) = (mode.clone(), rewritten.clone());
        rt.spawn(async move {
            loop {
                let Ok((client, _)) = listener.accept().await else {
                    continue;
                };
                let mode = *m.lock().unwrap();
                tokio::spawn(tamper_exchange(client, upstream, mode, n.clone()));
            }
        });
        TamperProxy {
            rt: Some(rt),
            addr,
            mode,
            rewritten,
        }
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn set(&self, mode: Tamper) {
        *self.mode.lock().unwrap() = mode;
    }
}

impl Drop for TamperProxy {
    fn drop(&mut self) {
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

async fn tamper_exchange(
    mut client: tokio::net::TcpStream,
    upstream: SocketAddr,
    mode: Tamper,
    rewritten: Arc<AtomicUsize>,
) {
    let mut request = Vec::new();
    let mut buf = vec![0u8; 16 * 1024];
    let head_end = loop {
        if let Some(at) = find(&request, b"\r\n\r\n") {
            break at + 4;
        }
        match client.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => request.extend_from_slice(&buf[..n]),
        }
    };
    let head = String::from_utf8_lossy(&request[..head_end]).into_owned();
    let length = head
        .lines()
        .filter_map(|l| l.split_once(':'))
        .find(|(name, _)| name.trim().eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.trim().parse::<usize>().ok())
        .unwrap_or(0);
    while request.len() < head_end + length {
        match client.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => request.extend_from_slice(&buf[..n]),
        }
    }
    let path = head.split_whitespace().nth(1).unwrap_or("").to_owned();
    // Pages are tampered with one by one: the proxy stands for a central older than the
    // one-request round, so the till asks stream by stream.
    if path == tillpass_protocol::sync::paths::ROUND {
        let body = r#"{"type":"about:blank","title":"Not found","status":404,"code":"not_found"}"#;
        let answer = format!(
            "HTTP/1.1 404 Not Found\r\ncontent-type: application/problem+json\r\n\
             content-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        );
        let _ = client.write_all(answer.as_bytes()).await;
        let _ = client.shutdown().await;
        return;
    }
    // One exchange per connection, both ways.
    let mut lines: Vec<&str> = head
        .trim_end()
        .split("\r\n")
        .filter(|l| {
            let name = l.split(':').next().unwrap_or("").trim();
            let dropped = name.eq_ignore_ascii_case("connection")
                || (mode == Tamper::StripAccept && name.eq_ignore_ascii_case("accept"));
            !dropped
        })
        .collect();
    lines.push("Connection: close");
    let mut forwarded = lines.join("\r\n").into_bytes();
    forwarded.extend_from_slice(b"\r\n\r\n");
    forwarded.extend_from_slice(&request[head_end..]);
    let Ok(mut server) = tokio::net::TcpStream::connect(upstream).await else {
        return;
    };
    if server.write_all(&forwarded).await.is_err() {
        return;
    }
    let mut answer = Vec::new();
    if server.read_to_end(&mut answer).await.is_err() {
        return;
    }
    if mode == Tamper::RewriteBalance && path.starts_with("/v1/deltas/balances") {
        while let Some(at) = find(&answer, br#""amount":1234"#) {
            answer[at..at + 13].copy_from_slice(br#""amount":9999"#);
            rewritten.fetch_add(1, Ordering::SeqCst);
        }
    }
    let _ = client.write_all(&answer).await;
    let _ = client.shutdown().await;
}

#[test]
fn a_rewritten_balance_page_is_refused_whole_and_the_other_streams_go_on() {
    let central = CentralServer::start();
    central.create_customer("ana", 1234);
    central.admin(
        "POST",
        "/admin/v1/gift-cards",
        json!({ "card": "G1", "balance": 5000 }),
    );
    let proxy = TamperProxy::start(central.addr, Tamper::RewriteBalance);
    let enrolled = enrol(&central, "S1", &proxy.url());
    let db = enrolled.db_path();
    let agent = enrolled.till.start();

    // The gift card stream goes on while the balances stream is refused.
    let status = wait_for(
        "the gift card at the till and a refused balance page",
        Duration::from_secs(30),
        || agent.output(),
        || {
            let card = query_i64(
                &db,
                "SELECT synced_balance FROM gift_cards WHERE card_ref = 'G1'",
            )?;
            let s = sync_status(&agent);
            // The refusal is counted during the round and reported when the round ends:
            // wait for both.
            let reported = s["last_error"]
                .as_str()
                .is_some_and(|e| e.contains("balances page refused"));
            (card == 5000 && s["delta_pages_refused"].as_u64()? >= 1 && reported).then_some(s)
        },
    );
    assert!(proxy.rewritten.load(Ordering::SeqCst) >= 1);
    let refused = status["delta_refused"].as_str().unwrap();
    assert!(refused.starts_with("balances bad_signature"), "{status:#}");
    assert!(
        status["last_error"]
            .as_str()
            .unwrap()
            .contains("balances page refused"),
        "{status:#}"
    );
    assert_eq!(status["online"], true, "{status:#}");
    // Nothing of the page: no balance, rewritten or not, and its cursor did not move.
    assert_eq!(
        query_i64(&db, "SELECT count(*) FROM savings_accounts"),
        Some(0)
    );
    let (_, metrics) = agent.request("GET", "/metrics", None);
    let metrics = metrics.as_str().unwrap().to_owned();
    assert!(
        metrics.contains(
            "tillpass_delta_pages_refused_total{kind=\"balances\",code=\"bad_signature\"}"
        ),
        "{metrics}"
    );
    assert!(
        agent.output().contains("delta page refused"),
        "the refusal is logged"
    );

    // Once the proxy stops rewriting, central's true balance arrives.
    proxy.set(Tamper::Nothing);
    wait_for(
        "central's balance at the till",
        Duration::from_secs(30),
        || agent.output(),
        || {
            (query_i64(
                &db,
                "SELECT synced_balance FROM savings_accounts WHERE customer_ref = 'ana'",
            )? == 1234)
                .then_some(())
        },
    );

    // A page stripped of its signature (the till's Accept removed) is refused as unsigned.
    let before = sync_status(&agent)["delta_pages_refused"].as_u64().unwrap();
    proxy.set(Tamper::StripAccept);
    central.admin(
        "POST",
        "/admin/v1/customers/ana/savings",
        json!({ "amount": 100 }),
    );
    let status = wait_for(
        "an unsigned page refused",
        Duration::from_secs(30),
        || agent.output(),
        || {
            let s = sync_status(&agent);
            (s["delta_pages_refused"].as_u64()? > before
                && s["delta_refused"].as_str()?.contains("unsigned"))
            .then_some(s)
        },
    );
    assert_eq!(
        query_i64(
            &db,
            "SELECT synced_balance FROM savings_accounts WHERE customer_ref = 'ana'",
        ),
        Some(1234),
        "the unsigned page's credit is not applied: {status:#}"
    );
    agent.stop();
}
