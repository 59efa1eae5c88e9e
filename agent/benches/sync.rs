//! Sync with the real central (in this process, on loopback, over a real SQLite file):
//!
//! 1. **drain**: 100,000 queued journal events uploaded by the relay (batches of 1,000,
//!    signed, acknowledged per event, deleted) — goal < 30 s;
//! 2. **delta**: a 100,000-customer delta (customers and balances pages, 1,000 items
//!    each) pulled by cursor and applied page by page — goal < 10 s; also the local apply
//!    alone, from pages already fetched;
//! 3. **catalog**: a 10,000-promotion catalog verified (envelope, signature, sequence),
//!    decoded, its engine built, stored and activated — goal < 1 s;
//! 4. **store sales**: a new till of a store pulls the 20,000 sales (10 lines each) another
//!    till of the store closed, rebuilds and keeps them so they can be returned there;
//!    the bytes each adds to the till's database are printed too.
//!
//! Each is run several times; the median and the spread are printed.
//! Run: `cargo bench -p tillpass-agent --bench sync`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    clippy::cast_possible_wrap,
    clippy::cast_precision_loss
)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use ed25519_dalek::SigningKey;
use tillpass_agent::catalog::Catalogs;
use tillpass_agent::clock::{Clock, system_wall_clock};
use tillpass_agent::relay::Relay;
use tillpass_agent::store::Store;
use tillpass_agent::store::journal::{self, TillIdentity};
use tillpass_agent::sync::CentralClient;
use tillpass_agent::sync::deltas::{self, Puller};
use tillpass_central::auth::AdminToken;
use tillpass_central::db::Db;
use tillpass_central::keys::{self, KeyDir};
use tillpass_central::{clock, customers, enrol, envelopes};
use tillpass_protocol::catalog::Catalog;
use tillpass_protocol::envelope::{self, EnvelopeHeader, EnvelopePurpose};
use tillpass_protocol::money::{Currency, Money};
use tillpass_protocol::sync::{
    BalanceDelta, CustomerDelta, CustomerRef, DeltaKind, DeltaPage, DeltaQuery, EnrolRequest,
    EnrolResponse, EventPayload, Quantity, SaleClosed, SaleId, SaleLine, SaleTotals,
    SavingsMovement, Tender, TokenKind, TokenUsed, paths,
};
use tillpass_protocol::trust::{KeyPurpose, TrustStore, TrustedKey};

const EVENTS: usize = 100_000;
const CUSTOMERS: usize = 100_000;
const PROMOTIONS: usize = 10_000;
const STORE_SALES: usize = 20_000;
/// The customers the drained savings events credit (also in the delta).
const DRAIN_CUSTOMERS: usize = 100;

struct CentralServer {
    _rt: tokio::runtime::Runtime,
    dir: tempfile::TempDir,
    db: Db,
    url: String,
}

impl CentralServer {
    fn start() -> CentralServer {
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
        let rt = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .unwrap();
        let state = tillpass_central::http::AppState::new(
            db.clone(),
            keys,
            Some(AdminToken::new("bench-admin-token-0123456789").unwrap()),
            clock::system(),
        );
        let listener = rt
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        rt.spawn(tillpass_central::http::serve(
            listener,
            state,
            std::future::pending(),
        ));
        CentralServer {
            _rt: rt,
            dir,
            db,
            url,
        }
    }

    /// A till enrolled at `store`: its key and central's answer.
    fn enrol(&self, store: &str) -> (SigningKey, EnrolResponse) {
        let key = SigningKey::from_bytes(&rand32());
        let keys = KeyDir::open(&self.dir.path().join("keys")).unwrap();
        let response = self
            .db
            .with(|c| {
                let code = enrol::create_code(
                    c,
                    &serde_json::from_value(serde_json::json!({ "store": store })).unwrap(),
                    clock::now(),
                )?;
                let request =
                    EnrolRequest::new(code.code, key.verifying_key().to_bytes(), "bench", "bench");
                enrol::enrol(c, &keys, &request, clock::now())
            })
            .unwrap();
        (key, response)
    }
}

fn rand32() -> [u8; 32] {
    let mut b = [0u8; 32];
    getrandom::fill(&mut b).unwrap();
    b
}

/// A till's store, enrolled, and its client to central.
struct BenchTill {
    _dir: tempfile::TempDir,
    store: Arc<Store>,
    client: Arc<CentralClient>,
    who: TillIdentity,
}

fn till(central: &CentralServer, store: &str) -> BenchTill {
    let (key, response) = central.enrol(store);
    let dir = tempfile::tempdir().unwrap();
    let db = Arc::new(Store::open(dir.path()).unwrap());
    let clock = Arc::new(Clock::new(system_wall_clock(), 300));
    let trust = tillpass_agent::store::tokens::accept_trust_list(
        &db.conn(),
        response.root_public_key,
        &response.trust_list,
        clock.now(),
    )
    .unwrap();
    let client = Arc::new(
        CentralClient::new(
            &central.url,
            response.till.clone(),
            key,
            clock,
            Some(trust.store),
            None,
        )
        .unwrap(),
    );
    BenchTill {
        _dir: dir,
        store: db,
        client,
        who: TillIdentity {
            store: response.store,
            till: response.till,
        },
    }
}

fn median(mut v: Vec<Duration>) -> (Duration, Duration, Duration) {
    v.sort();
    (v[0], v[v.len() / 2], v[v.len() - 1])
}

fn report(name: &str, runs: Vec<Duration>, per: usize, unit: &str) {
    let (min, med, max) = median(runs);
    let rate = per as f64 / med.as_secs_f64();
    println!(
        "{name:<44} median {:>9.3} s   min {:>9.3} s   max {:>9.3} s   ({rate:>10.0} {unit}/s)",
        med.as_secs_f64(),
        min.as_secs_f64(),
        max.as_secs_f64()
    );
}

fn drain(rt: &tokio::runtime::Runtime, central: &CentralServer, run: usize) -> Duration {
    let t = till(central, &format!("D{run}"));
    {
        let mut conn = t.store.conn();
        let tx = conn.transaction().unwrap();
        let now = clock::now();
        for i in 0..EVENTS {
            let payload = if i % 2 == 0 {
                let id = (i as u64).to_le_bytes();
                EventPayload::TokenUsed(TokenUsed {
                    token_id: tillpass_protocol::sync::TokenId::new(&id).unwrap(),
                    kind: TokenKind::CustomerPass,
                    subject: tillpass_protocol::sync::Subject::new(format!(
                        "B{}",
                        i % DRAIN_CUSTOMERS
                    ))
                    .unwrap(),
                    key_id: [1, 2, 3, 4],
                    sale_id: None,
                })
            } else {
                EventPayload::SavingsEarned(SavingsMovement {
                    customer: CustomerRef::new(format!("B{}", i % DRAIN_CUSTOMERS)).unwrap(),
                    amount: Money::new(1, Currency::EUR),
                    sale_id: None,
                    basis: None,
                })
            };
            journal::append(&tx, &t.who, now, payload).unwrap();
        }
        tx.commit().unwrap();
    }
    let relay = Relay::new(t.store.clone(), t.client.clone(), None);
    let started = Instant::now();
    rt.block_on(async {
        let mut total = 0;
        loop {
            let n = relay.upload_once().await.unwrap();
            if n == 0 {
                break;
            }
            total += n;
        }
        assert_eq!(total, EVENTS);
    });
    started.elapsed()
}

fn delta(
    rt: &tokio::runtime::Runtime,
    central: &CentralServer,
    run: usize,
) -> (Duration, Duration) {
    let t = till(central, &format!("C{run}"));
    let relay = Arc::new(Relay::new(t.store.clone(), t.client.clone(), None));
    let puller = Puller {
        store: t.store.clone(),
        client: t.client.clone(),
        relay,
        identifier: None,
        page_limit: tillpass_protocol::sync::MAX_PAGE_ITEMS,
    };
    let started = Instant::now();
    let applied = rt.block_on(async {
        puller.pull(DeltaKind::Customers).await.unwrap()
            + puller.pull(DeltaKind::Balances).await.unwrap()
    });
    let end_to_end = started.elapsed();
    assert_eq!(applied, 2 * (CUSTOMERS + DRAIN_CUSTOMERS));

    // The local apply alone: the same pages, fetched first, applied into a fresh store.
    let fresh = tempfile::tempdir().unwrap();
    let store = Store::open(fresh.path()).unwrap();
    let (customers, balances) = rt.block_on(async {
        let mut customers: Vec<DeltaPage<CustomerDelta>> = Vec::new();
        let mut balances: Vec<DeltaPage<BalanceDelta>> = Vec::new();
        for kind in [DeltaKind::Customers, DeltaKind::Balances] {
            let mut cursor = tillpass_protocol::sync::Cursor::start();
            loop {
                let q = DeltaQuery {
                    cursor: cursor.clone(),
                    limit: Some(1000),
                };
                let answer = t
                    .client
                    .get(
                        &format!("{}?{}", paths::deltas(kind), q.to_query_string()),
                        None,
                    )
                    .await
                    .unwrap();
                let (more, next) = if kind == DeltaKind::Customers {
                    let p: DeltaPage<CustomerDelta> = deltas::parse_page(&answer.body).unwrap();
                    let r = (p.has_more, p.next_cursor.clone());
                    customers.push(p);
                    r
                } else {
                    let p: DeltaPage<BalanceDelta> = deltas::parse_page(&answer.body).unwrap();
                    let r = (p.has_more, p.next_cursor.clone());
                    balances.push(p);
                    r
                };
                cursor = next;
                if !more {
                    break;
                }
            }
        }
        (customers, balances)
    });
    let started = Instant::now();
    let now = clock::now();
    for page in &customers {
        let mut conn = store.conn();
        let tx = conn.transaction().unwrap();
        deltas::apply_customers(&tx, &page.items, now).unwrap();
        tillpass_agent::store::sync_state::set_cursor(&tx, DeltaKind::Customers, &page.next_cursor)
            .unwrap();
        tx.commit().unwrap();
    }
    for page in &balances {
        let mut conn = store.conn();
        let tx = conn.transaction().unwrap();
        deltas::apply_balances(&tx, &page.items, now).unwrap();
        tillpass_agent::store::sync_state::set_cursor(&tx, DeltaKind::Balances, &page.next_cursor)
            .unwrap();
        tx.commit().unwrap();
    }
    (end_to_end, started.elapsed())
}

fn big_catalog() -> Vec<u8> {
    let mut text = String::from(
        "format = 1\ncurrency = \"EUR\"\ntiers = [\"silver\", \"gold\"]\n\
         [savings]\nearn_rate = 100\nreturn_window_days = 30\nmax_earn_per_sale = 5000\n\
         offline_redeem_cap = 2000\n",
    );
    for i in 0..PROMOTIONS {
        let rule = match i % 4 {
            0 => format!(
                "{{ type = \"percent_off\", percent = 1000, items = {{ skus = [\"SKU-{i}\"] }} }}"
            ),
            1 => format!(
                "{{ type = \"percent_off\", percent = 500, items = {{ categories = [\"cat-{}\"] }} }}",
                i % 200
            ),
            2 => format!(
                "{{ type = \"percent_off\", percent = 1500, items = {{ brands = [\"brand-{}\"] }} }}",
                i % 300
            ),
            _ => format!(
                "{{ type = \"percent_off\", percent = 2000, items = {{ skus = [\"SKU-{i}\", \"SKU-{}\"] }} }}",
                i + 1
            ),
        };
        text.push_str(&format!(
            "[[promotions]]\nid = \"P{i:05}\"\nlabel = {{ es = \"Oferta {i}\", en = \"Offer {i}\" }}\n\
             valid_from = 0\nvalid_until = 4000000000\npriority = {}\nrules = [{rule}]\n",
            i % 10
        ));
    }
    let catalog = Catalog::from_toml(&text).unwrap();
    let mut out = Vec::new();
    ciborium::into_writer(&catalog, &mut out).unwrap();
    out
}

fn catalogs(runs: usize) -> (Vec<Duration>, usize) {
    let root = SigningKey::from_bytes(&[1; 32]);
    let catalog_key = SigningKey::from_bytes(&[3; 32]);
    let now = clock::to_u64(clock::now());
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let list = TrustStore::new(
        1,
        [TrustedKey::new(
            KeyPurpose::Catalog,
            &catalog_key.verifying_key().to_bytes(),
            0,
            u64::MAX,
        )
        .unwrap()],
    )
    .unwrap()
    .seal(&root, now, 30 * 86_400)
    .unwrap();
    tillpass_agent::store::tokens::accept_trust_list(
        &store.conn(),
        root.verifying_key().to_bytes(),
        &list,
        now,
    )
    .unwrap();
    let payload = big_catalog();
    let catalogs = Catalogs::new();
    let mut times = Vec::new();
    let mut size = 0;
    for run in 0..runs {
        let sealed = envelope::sign(
            &EnvelopeHeader {
                purpose: EnvelopePurpose::Catalog,
                sequence: run as u64 + 1,
                issued_at: now,
                max_age_secs: 7 * 86_400,
            },
            &payload,
            &catalog_key,
        )
        .unwrap();
        size = sealed.len();
        let started = Instant::now();
        let installed =
            tillpass_agent::sync::catalogs::install(&store, &catalogs, now, None, &sealed, None)
                .unwrap();
        times.push(started.elapsed());
        assert_eq!(installed.promotions, PROMOTIONS);
        assert_eq!(catalogs.active().unwrap().sequence, run as u64 + 1);
    }
    (times, size)
}

fn eur(amount: i64) -> Money {
    Money::new(amount, Currency::EUR)
}

/// A 10-line sale of a customer, paid by card.
fn store_sale(i: usize) -> EventPayload {
    let lines: Vec<SaleLine> = (1..=10)
        .map(|l| SaleLine {
            line_id: l.to_string(),
            sku: format!("SKU-{:05}", (i * 7 + l) % 20_000),
            quantity: Quantity::Units(1),
            unit_price: eur(199),
            discount: eur(0),
            total: eur(199),
            savings_earned: Some(eur(2)),
        })
        .collect();
    EventPayload::SaleClosed(SaleClosed {
        sale_id: SaleId::new(format!("POS-{i:06}")).unwrap(),
        customer: Some(CustomerRef::new(format!("B{}", i % DRAIN_CUSTOMERS)).unwrap()),
        lines,
        effects: vec![],
        tenders: vec![Tender::Card { amount: eur(1990) }],
        totals: SaleTotals {
            gross: eur(1990),
            discounts: eur(0),
            net: eur(1990),
        },
        savings_earned: eur(20),
        savings_redeemed: eur(0),
    })
}

/// One till of store `SS` closes [`STORE_SALES`] sales and uploads them (set-up).
fn close_store_sales(rt: &tokio::runtime::Runtime, central: &CentralServer) {
    let t = till(central, "SS");
    {
        let mut conn = t.store.conn();
        let tx = conn.transaction().unwrap();
        let now = clock::now();
        for i in 0..STORE_SALES {
            journal::append(&tx, &t.who, now, store_sale(i)).unwrap();
        }
        tx.commit().unwrap();
    }
    let relay = Relay::new(t.store.clone(), t.client.clone(), None);
    rt.block_on(async { while relay.upload_once().await.unwrap() > 0 {} });
}

/// Another till of the store pulls them all: the time and the database bytes per sale.
fn pull_store_sales(rt: &tokio::runtime::Runtime, central: &CentralServer) -> (Duration, f64) {
    let t = till(central, "SS");
    let relay = Arc::new(Relay::new(t.store.clone(), t.client.clone(), None));
    let puller = Puller {
        store: t.store.clone(),
        client: t.client.clone(),
        relay,
        identifier: None,
        page_limit: tillpass_protocol::sync::MAX_PAGE_ITEMS,
    };
    let pages = |conn: &rusqlite::Connection| -> i64 {
        conn.query_row(
            "SELECT page_count * page_size FROM pragma_page_count(), pragma_page_size()",
            [],
            |r| r.get(0),
        )
        .unwrap()
    };
    let before = pages(&t.store.conn());
    let started = Instant::now();
    let applied = rt.block_on(puller.pull(DeltaKind::Sales)).unwrap();
    let elapsed = started.elapsed();
    assert_eq!(applied, STORE_SALES);
    let after = pages(&t.store.conn());
    (elapsed, (after - before) as f64 / STORE_SALES as f64)
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let central = CentralServer::start();
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!("sync benchmarks ({cores} cores), central in-process on loopback");

    let (times, size) = catalogs(7);
    report(
        &format!(
            "catalog: verify+activate {PROMOTIONS} promotions ({} KiB)",
            size / 1024
        ),
        times,
        PROMOTIONS,
        "promotions",
    );

    // The customers the drained savings events credit.
    central
        .db
        .with(|c| {
            for i in 0..DRAIN_CUSTOMERS {
                customers::create(
                    c,
                    &serde_json::from_value(
                        serde_json::json!({ "customer": format!("B{i}"), "first_name": "Ana" }),
                    )
                    .unwrap(),
                    clock::now(),
                )?;
            }
            Ok(())
        })
        .unwrap();
    let runs: Vec<Duration> = (0..3).map(|run| drain(&rt, &central, run)).collect();
    report(
        &format!("drain: {EVENTS} events to central"),
        runs,
        EVENTS,
        "events",
    );

    // 100,000 customers with a savings balance at central (set-up, not measured).
    central
        .db
        .with(|c| {
            c.execute_batch("PRAGMA synchronous = OFF")?;
            let now = clock::now();
            for i in 0..CUSTOMERS {
                customers::create(
                    c,
                    &serde_json::from_value(serde_json::json!({
                        "customer": format!("K{i:06}"),
                        "first_name": "Ana",
                        "tier": "gold",
                        "savings": (i % 5000) as i64,
                    }))
                    .unwrap(),
                    now,
                )?;
            }
            c.execute_batch("PRAGMA synchronous = FULL")?;
            Ok(())
        })
        .unwrap();
    let mut end_to_end = Vec::new();
    let mut apply = Vec::new();
    for run in 0..3 {
        let (e, a) = delta(&rt, &central, run);
        end_to_end.push(e);
        apply.push(a);
    }
    report(
        &format!("delta: {CUSTOMERS} customers pulled+applied"),
        end_to_end,
        CUSTOMERS,
        "customers",
    );
    report(
        &format!("delta: {CUSTOMERS} customers, local apply only"),
        apply,
        CUSTOMERS,
        "customers",
    );

    close_store_sales(&rt, &central);
    let mut runs = Vec::new();
    let mut bytes = 0.0;
    for _ in 0..3 {
        let (elapsed, per_sale) = pull_store_sales(&rt, &central);
        runs.push(elapsed);
        bytes = per_sale;
    }
    report(
        &format!("store sales: {STORE_SALES} sales of 10 lines pulled+kept"),
        runs,
        STORE_SALES,
        "sales",
    );
    println!("store sales: {bytes:.0} bytes of till database per sale");
}
