//! The POS API under load, over real loopback HTTP with keep-alive, against a real SQLite
//! file (`synchronous=FULL`): evaluating a 30-line cart, closing a sale (fsync), and a
//! sustained rate of sales with the process's memory watched.
//!
//! Run: `cargo bench -p tillpass-agent --bench pos` (a one-minute soak), or with
//! `TILLPASS_SOAK_MINUTES=10` for the ten minutes at 200 sales a minute.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    clippy::cast_precision_loss
)]

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ed25519_dalek::SigningKey;
use serde_json::{Value, json};
use tillpass_agent::catalog::Active;
use tillpass_agent::config::Config;
use tillpass_agent::paths::Paths;
use tillpass_engine::Engine;
use tillpass_protocol::catalog::Catalog;
use tillpass_protocol::money::{Currency, Money};
use tillpass_protocol::sync::{
    EnrolResponse, EnrolmentRecord, OfflinePolicy, RegionId, ReplayPolicy, StoreId, TillId,
};
use tillpass_protocol::trust::{KeyPurpose, TrustStore, TrustedKey};

const TOKEN: &str = "bench-api-token-0123456789abcdef";

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// A catalog of 200 promotions over 50 categories, as a mid-size retailer's.
fn catalog() -> String {
    let mut text = String::from(
        "format = 1\ncurrency = \"EUR\"\n[savings]\nearn_rate = 100\nreturn_window_days = 14\n",
    );
    for i in 0..200 {
        let rule = match i % 3 {
            0 => format!(
                "{{ type = \"percent_off\", percent = 500, items = {{ categories = [\"cat{}\"] }} }}",
                i % 50
            ),
            1 => format!(
                "{{ type = \"buy_x_get_y\", buy = 2, get = 1, items = {{ categories = [\"cat{}\"] }} }}",
                i % 50
            ),
            _ => format!(
                "{{ type = \"amount_off\", amount = 20, items = {{ skus = [\"SKU{}\"] }} }}",
                i % 300
            ),
        };
        text.push_str(&format!(
            "[[promotions]]\nid = \"P{i}\"\nlabel = {{ es = \"P{i}\", en = \"P{i}\" }}\n\
             valid_from = 0\nvalid_until = 4000000000\nrules = [{rule}]\n"
        ));
    }
    text
}

fn cart(lines: usize) -> Value {
    let lines: Vec<Value> = (0..lines)
        .map(|i| {
            json!({
                "line_id": (i + 1).to_string(), "sku": format!("SKU{}", i * 7 % 300),
                "category": format!("cat{}", i % 50), "quantity": { "units": 1 + i % 3 },
                "unit_price": { "amount": 199 + i64::try_from(i).unwrap() * 37, "currency": "EUR" }
            })
        })
        .collect();
    json!({ "currency": "EUR", "lines": lines })
}

fn till(dir: &std::path::Path) -> std::path::PathBuf {
    let root = SigningKey::from_bytes(&[1; 32]);
    let token_key = SigningKey::from_bytes(&[2; 32]);
    let trust = TrustStore::new(
        1,
        [TrustedKey::new(
            KeyPurpose::Token,
            &token_key.verifying_key().to_bytes(),
            0,
            u64::MAX,
        )
        .unwrap()],
    )
    .unwrap()
    .seal(&root, now() - 60, 30 * 86_400)
    .unwrap();
    let data = dir.join("data");
    std::fs::create_dir_all(&data).unwrap();
    let record = EnrolmentRecord {
        central: "http://127.0.0.1:9".to_owned(),
        till_public_key: "00".repeat(32),
        response: EnrolResponse {
            v: tillpass_protocol::sync::VERSION,
            store: StoreId::new("S1").unwrap(),
            till: TillId::new("S1-T1").unwrap(),
            region: RegionId::new("north").unwrap(),
            root_public_key: root.verifying_key().to_bytes(),
            trust_list: trust,
            offline_policy: OfflinePolicy {
                max_savings_spend_per_customer: Money::new(2000, Currency::EUR),
                max_gift_card_spend_per_card: Money::new(5000, Currency::EUR),
                max_catalog_age_secs: 7 * 86_400,
                max_trust_list_age_secs: 30 * 86_400,
                retention_days: 90,
                replay: ReplayPolicy {
                    max_uses_per_pass: 3,
                },
            },
        },
    };
    std::fs::write(
        data.join("enrolment.json"),
        serde_json::to_vec(&record).unwrap(),
    )
    .unwrap();
    std::fs::write(data.join("api.token"), TOKEN).unwrap();
    let config = dir.join("config.toml");
    std::fs::write(
        &config,
        format!(
            "[store]\ndata_dir = {:?}\n[log]\nlevel = \"warn\"\n",
            data.display().to_string()
        ),
    )
    .unwrap();
    config
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn report(name: &str, mut samples: Vec<Duration>) {
    samples.sort();
    println!(
        "{name:<40} n={:<6} p50={:>8.3} ms  p99={:>8.3} ms  max={:>8.3} ms",
        samples.len(),
        percentile(&samples, 0.5).as_secs_f64() * 1e3,
        percentile(&samples, 0.99).as_secs_f64() * 1e3,
        samples.last().unwrap().as_secs_f64() * 1e3,
    );
}

struct Client {
    http: reqwest::Client,
    base: String,
    keys: u64,
}

impl Client {
    async fn send(&mut self, method: reqwest::Method, path: &str, body: &Value) -> Value {
        self.keys += 1;
        let response = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(TOKEN)
            .header("Idempotency-Key", format!("bench-{}", self.keys))
            .json(body)
            .send()
            .await
            .unwrap();
        let status = response.status();
        let value: Value = response.json().await.unwrap();
        assert!(status.is_success(), "{status}: {value}");
        value
    }

    /// One sale: the cart, then the close. Returns the close's latency.
    async fn sale(&mut self, id: &str, cart: &Value) -> Duration {
        let s = self
            .send(
                reqwest::Method::PUT,
                &format!("/v1/sessions/{id}"),
                &json!({ "cart": cart, "use_current_customer": false }),
            )
            .await;
        let version = s["version"].as_u64().unwrap();
        let started = Instant::now();
        self.send(
            reqwest::Method::POST,
            &format!("/v1/sessions/{id}/close"),
            &json!({ "version": version, "payments": [{ "method": "card", "amount": s["amount_due"] }] }),
        )
        .await;
        started.elapsed()
    }
}

fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().unwrap();
    let config_file = till(dir.path());
    let config = Config::load(Some(&config_file), true, Vec::new()).unwrap();
    let agent = tillpass_agent::daemon::build(
        &config,
        &Paths::from_env(|_| None),
        tillpass_agent::clock::system_wall_clock(),
    )
    .unwrap();
    let engine = Engine::new(Catalog::from_toml(&catalog()).unwrap()).unwrap();
    agent.state.catalogs.set(Active {
        sequence: 1,
        issued_at: now(),
        engine: Arc::new(engine),
    });
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    runtime.spawn(tillpass_agent::http::serve(
        listener,
        tillpass_agent::http::router(agent.state.clone()),
        std::future::pending(),
    ));
    let soak_minutes: u64 = std::env::var("TILLPASS_SOAK_MINUTES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1);

    runtime.block_on(async move {
        let mut client = Client {
            http: reqwest::Client::builder().build().unwrap(),
            base,
            keys: 0,
        };
        let cart30 = cart(30);
        // Warm up.
        for i in 0..50 {
            client.sale(&format!("warm-{i}"), &cart30).await;
        }

        let mut dry = Vec::new();
        for _ in 0..1_000 {
            let started = Instant::now();
            let response = client
                .http
                .put(format!("{}/v1/sessions/dry-1?dry=true", client.base))
                .bearer_auth(TOKEN)
                .header("Idempotency-Key", "dry-1")
                .json(&json!({ "cart": cart30, "use_current_customer": false }))
                .send()
                .await
                .unwrap();
            assert!(response.status().is_success());
            let _ = response.bytes().await.unwrap();
            dry.push(started.elapsed());
        }
        report("evaluate 30-line cart (PUT ?dry=true)", dry);

        let mut stored = Vec::new();
        for i in 0..1_000 {
            let started = Instant::now();
            client
                .send(
                    reqwest::Method::PUT,
                    &format!("/v1/sessions/put-{i}"),
                    &json!({ "cart": cart30, "use_current_customer": false }),
                )
                .await;
            stored.push(started.elapsed());
        }
        report("store 30-line cart (PUT, fsync)", stored);

        let mut closes = Vec::new();
        for i in 0..1_000 {
            closes.push(client.sale(&format!("close-{i}"), &cart30).await);
        }
        report("close a 30-line sale (fsync)", closes);

        // Sustained: 200 sales a minute.
        let rss_start = rss_kib();
        let mut closes = Vec::new();
        let period = Duration::from_millis(300);
        let mut next = tokio::time::Instant::now();
        let total = soak_minutes * 200;
        let mut rss_samples = Vec::new();
        for i in 0..total {
            next += period;
            closes.push(client.sale(&format!("soak-{i}"), &cart30).await);
            if i % 200 == 199 {
                rss_samples.push(rss_kib());
            }
            tokio::time::sleep_until(next).await;
        }
        report(
            &format!("sustained 200 sales/min for {soak_minutes} min: close"),
            closes,
        );
        println!(
            "resident memory: {:.1} MiB at the start of the soak, per minute: {:?} MiB",
            rss_start as f64 / 1024.0,
            rss_samples
                .iter()
                .map(|k| format!("{:.1}", *k as f64 / 1024.0))
                .collect::<Vec<_>>()
        );
    });
}
