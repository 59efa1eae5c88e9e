//! Scan text → identification with 1,000,000 customers in the cache: p50 and p99, and the
//! process's resident memory. Run: `cargo bench -p tillpass-agent --bench identify`.
//!
//! Each identification is the whole pipeline as the daemon runs it: decode, trust lookup,
//! `verify_strict`, time and revocation checks, replay record, customer lookup, the journal
//! event and the scan log, committed in one SQLite transaction with `synchronous=FULL`.
//!
//! Then the same against customers the cache does not hold, offline (no live lookup): each
//! pass's signed snapshot (tier, savings) becomes a profile with a balance claim — the
//! profile, its savings account and claim, the `customer_created` event — in the same
//! transaction.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    clippy::cast_possible_wrap
)]

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ed25519_dalek::SigningKey;
use tillpass_agent::catalog::{Active, Catalogs};
use tillpass_agent::clock::{Clock, system_wall_clock};
use tillpass_agent::identify::{Identifier, IdentifierParts};
use tillpass_agent::metrics::Metrics;
use tillpass_agent::slot::Slot;
use tillpass_agent::store::Store;
use tillpass_agent::store::journal::TillIdentity;
use tillpass_engine::Engine;
use tillpass_protocol::catalog::Catalog;
use tillpass_protocol::money::Currency;
use tillpass_protocol::sync::{StoreId, TillId};
use tillpass_protocol::token::{
    self, Balance, Subject, TokenBody, TokenId, TokenKind, VerifyPolicy,
};
use tillpass_protocol::trust::{KeyPurpose, TrustStore, TrustedKey};

const CUSTOMERS: u32 = 1_000_000;
const SCANS: u32 = 5_000;

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn report(what: &str, times: &mut [Duration]) {
    times.sort();
    let pct = |p: f64| times[((times.len() as f64 - 1.0) * p) as usize];
    println!(
        "{}: p50 {:?}  p99 {:?}  max {:?}",
        what.replace("{SCANS}", &SCANS.to_string()),
        pct(0.50),
        pct(0.99),
        times[times.len() - 1]
    );
}

/// A catalog in force with two tiers, so a pass's tier 1 is named `gold`.
fn catalogs() -> Arc<Catalogs> {
    let catalog = Catalog::from_toml(
        "format = 1\ncurrency = \"EUR\"\ntiers = [\"silver\", \"gold\"]\n\
         [savings]\nearn_rate = 100\nreturn_window_days = 30\noffline_redeem_cap = 2000\n",
    )
    .unwrap();
    let catalogs = Arc::new(Catalogs::new());
    catalogs.set(Active {
        sequence: 1,
        issued_at: 0,
        engine: Arc::new(Engine::new(catalog).unwrap()),
    });
    catalogs
}

fn main() {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let dir = tempfile::tempdir().unwrap();
    let rss_start = rss_kib();
    let store = Arc::new(Store::open(dir.path()).unwrap());
    // As the daemon runs it: the log checkpointed off the request path.
    let _checkpointer = tillpass_agent::store::checkpoint::Background::start(store.path()).unwrap();
    let root = SigningKey::from_bytes(&[1; 32]);
    let key = SigningKey::from_bytes(&[2; 32]);
    let trust = TrustStore::new(
        1,
        [TrustedKey::new(
            KeyPurpose::Token,
            &key.verifying_key().to_bytes(),
            0,
            u64::MAX,
        )
        .unwrap()],
    )
    .unwrap()
    .seal(&root, now - 60, 86_400)
    .unwrap();
    {
        let mut conn = store.conn();
        tillpass_agent::store::tokens::accept_trust_list(
            &conn,
            root.verifying_key().to_bytes(),
            &trust,
            now,
        )
        .unwrap();
        let started = Instant::now();
        let tx = conn.transaction().unwrap();
        {
            let mut c = tx
                .prepare("INSERT INTO customers(customer_ref, first_name, tier, updated_at) VALUES (?1, 'Ana', 'gold', ?2)")
                .unwrap();
            let mut s = tx
                .prepare("INSERT INTO savings_accounts(customer_ref, currency, synced_balance) VALUES (?1, 'EUR', ?2)")
                .unwrap();
            for i in 0..CUSTOMERS {
                let r = format!("C{i:07}");
                c.execute(rusqlite::params![r, now as i64]).unwrap();
                s.execute(rusqlite::params![r, i64::from(i % 5000)])
                    .unwrap();
            }
        }
        tx.commit().unwrap();
        println!("loaded {CUSTOMERS} customers in {:.1?}", started.elapsed());
    }
    let identifier = Identifier::new(IdentifierParts {
        store: store.clone(),
        policy: VerifyPolicy::default(),
        max_uses_per_pass: 3,
        who: Some(TillIdentity {
            store: StoreId::new("S1").unwrap(),
            till: TillId::new("S1-T1").unwrap(),
        }),
        clock: Arc::new(Clock::new(system_wall_clock(), 300)),
        slot: Slot::new(Duration::from_secs(60)),
        metrics: Arc::new(Metrics::default()),
    })
    .unwrap()
    .with_catalogs(catalogs());
    let texts: Vec<String> = (0..SCANS)
        .map(|i| {
            let customer = (i.wrapping_mul(7919)) % CUSTOMERS;
            let mut id = [0u8; 8];
            id[..4].copy_from_slice(&i.to_le_bytes());
            token::issue(
                &TokenBody {
                    kind: TokenKind::CustomerPass,
                    subject: Subject::new(format!("C{customer:07}").as_bytes()).unwrap(),
                    issued_at: (now - 10) as u32,
                    lifetime_secs: 3600,
                    token_id: TokenId(id),
                    tier: Some(1),
                    balance: None,
                },
                &key,
            )
            .to_text()
        })
        .collect();
    let mut times = Vec::with_capacity(texts.len());
    for text in &texts {
        identifier.slot().clear();
        let t = Instant::now();
        identifier.identify(text, "bench").unwrap();
        times.push(t.elapsed());
    }
    report("identify (1M customers, {SCANS} scans)", &mut times);

    // Customers the cache has never seen: the pass's snapshot is what the till has.
    let unseen: Vec<String> = (0..SCANS)
        .map(|i| {
            let mut id = [0xffu8; 8];
            id[..4].copy_from_slice(&i.to_le_bytes());
            token::issue(
                &TokenBody {
                    kind: TokenKind::CustomerPass,
                    subject: Subject::new(format!("U{i:07}").as_bytes()).unwrap(),
                    issued_at: (now - 10) as u32,
                    lifetime_secs: 3600,
                    token_id: TokenId(id),
                    tier: Some(1),
                    balance: Some(Balance {
                        amount: 1000 + i,
                        currency: Currency::EUR,
                    }),
                },
                &key,
            )
            .to_text()
        })
        .collect();
    let mut times = Vec::with_capacity(unseen.len());
    for text in &unseen {
        identifier.slot().clear();
        let t = Instant::now();
        let id = identifier.identify(text, "bench").unwrap();
        times.push(t.elapsed());
        assert!(id.new_customer);
    }
    report(
        "identify unseen customers from the pass snapshot, offline (1M cached, {SCANS} scans)",
        &mut times,
    );
    println!(
        "resident memory: {} KiB at start, {} KiB with the 1M-customer store open and {SCANS} scans done",
        rss_start,
        rss_kib()
    );
}
