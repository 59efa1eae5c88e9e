//! The dashboard's Today and Transactions pages with 100,000 sales in the day: median and
//! p95 of the whole request through the router (session check, queries, HTML), as the
//! daemon serves it. Run: `cargo bench -p tillpass-agent --bench dashboard`.
//!
//! Each sale is a real engine evaluation (two lines, one promotion) stored as the POS API
//! stores it — the row, its JSON, its effects — so rows have their real size; one sale in
//! a hundred has a return. Goal: under 50 ms for each page.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    clippy::cast_possible_wrap
)]

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Request, header};
use rusqlite::params;
use sha2::{Digest, Sha256};
use tillpass_agent::catalog::{Active, Catalogs};
use tillpass_agent::clock::{Clock, system_wall_clock};
use tillpass_agent::identify::{Identifier, IdentifierParts};
use tillpass_agent::metrics::Metrics;
use tillpass_agent::slot::Slot;
use tillpass_agent::store::Store;
use tillpass_agent::store::managers::{self, NewSession};
use tillpass_agent::till::Till;
use tillpass_engine::{Cart, ClosedSale, Engine, Line, LocalTime, Quantity, SaleContext, Tender};
use tillpass_protocol::catalog::{Catalog, Weekday};
use tillpass_protocol::lang::Lang;
use tillpass_protocol::money::{Currency, Money};
use tillpass_protocol::token::VerifyPolicy;
use tower::ServiceExt;

const SALES: i64 = 100_000;
const RUNS: usize = 60;

const CATALOG: &str = r#"
format = 1
currency = "EUR"
[savings]
earn_rate = 100
return_window_days = 30
offline_redeem_cap = 2000
[[promotions]]
id = "SHIRT-10"
label = { es = "Camisas -10 %", en = "Shirts 10 % off" }
valid_from = 0
valid_until = 4000000000
rules = [{ type = "percent_off", percent = 1000, items = { skus = ["SHIRT"] } }]
"#;

fn eur(amount: i64) -> Money {
    Money::new(amount, Currency::EUR)
}

fn closed_sale(engine: &Engine) -> ClosedSale {
    let line = |id: &str, sku: &str, units: u32, price: i64| Line {
        line_id: id.into(),
        sku: sku.into(),
        category: Some("clothing".into()),
        brand: Some("tillpass".into()),
        quantity: Quantity::Units(units),
        unit_price: eur(price),
        no_promotion: false,
        gift_card_purchase: false,
    };
    let cart = Cart {
        currency: Currency::EUR,
        lines: vec![line("1", "SHIRT", 2, 1999), line("2", "SOCKS", 1, 500)],
        vouchers: vec![],
    };
    let ctx = SaleContext {
        now: 1_750_000_000,
        local: LocalTime {
            weekday: Weekday::Mon,
            minute_of_day: 600,
        },
        store_id: "S1".into(),
        region: "north".into(),
    };
    let evaluation = engine.evaluate(&cart, None, &ctx).unwrap();
    let total = evaluation.totals.total;
    ClosedSale::new(evaluation, vec![Tender::Card { amount: total }]).unwrap()
}

fn median_p95(mut samples: Vec<Duration>) -> (Duration, Duration) {
    samples.sort();
    let p95 = samples[(samples.len() * 95 / 100).min(samples.len() - 1)];
    (samples[samples.len() / 2], p95)
}

fn main() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(dir.path()).unwrap());
    let tz = jiff::tz::TimeZone::get("Europe/Madrid").unwrap();
    let now = system_wall_clock()();
    let today = jiff::Timestamp::from_second(now as i64)
        .unwrap()
        .to_zoned(tz.clone())
        .date();
    let start = today.to_zoned(tz.clone()).unwrap().timestamp().as_second();
    let engine = Arc::new(Engine::new(Catalog::from_toml(CATALOG).unwrap()).unwrap());
    let sale = closed_sale(&engine);
    let json = serde_json::to_string(&sale).unwrap();
    let totals = &sale.evaluation.totals;

    let loading = Instant::now();
    {
        let mut conn = store.conn();
        let tx = conn.transaction().unwrap();
        {
            let mut insert = tx
                .prepare(
                    "INSERT INTO sales(sale_id, till_id, origin, closed_at, customer_ref, currency,
                       gross, discount, net, savings_earned, savings_redeemed, gift_card_tendered,
                       line_count, sale, receipt)
                     VALUES (?1, 'S1-T1', 'local', ?2, ?3, 'EUR', ?4, ?5, ?6, ?7, 0, 0, 2, ?8, ?9)",
                )
                .unwrap();
            let mut effect = tx
                .prepare(
                    "INSERT INTO sale_effects(sale_id, promotion_id, kind, amount)
                     VALUES (?1, 'SHIRT-10', 'percent_off', ?2)",
                )
                .unwrap();
            let mut ret = tx
                .prepare(
                    "INSERT INTO sale_returns(return_id, sale_id, returned_at, refund,
                       savings_reversed, outcome) VALUES (?1, ?2, ?3, 100, 0, '{}')",
                )
                .unwrap();
            for i in 0..SALES {
                let id = format!("S1-T1-{i:08}");
                let at = start + i * 86_000 / SALES;
                let customer = (i % 3 == 0).then(|| format!("C-{:06}", i % 5000));
                insert
                    .execute(params![
                        id,
                        at,
                        customer,
                        totals.subtotal.amount,
                        totals.discount.amount,
                        totals.total.amount,
                        totals.savings.total.amount,
                        json,
                        "{\"net\":{\"amount\":4098,\"currency\":\"EUR\"}}",
                    ])
                    .unwrap();
                effect.execute(params![id, totals.discount.amount]).unwrap();
                if i % 100 == 0 {
                    ret.execute(params![format!("R-{i}"), id, at + 60]).unwrap();
                }
            }
        }
        tx.commit().unwrap();
    }
    let db_mib = std::fs::metadata(store.path())
        .map(|m| m.len())
        .unwrap_or(0)
        / (1 << 20);
    println!(
        "loaded {SALES} sales in {:.1?} ({db_mib} MiB database)",
        loading.elapsed()
    );

    let metrics = Arc::new(Metrics::default());
    let clock = Arc::new(Clock::new(system_wall_clock(), 300));
    let identifier = Arc::new(
        Identifier::new(IdentifierParts {
            store: store.clone(),
            policy: VerifyPolicy::default(),
            max_uses_per_pass: 1,
            who: None,
            clock: clock.clone(),
            slot: Slot::new(Duration::from_secs(60)),
            metrics: metrics.clone(),
        })
        .unwrap(),
    );
    let catalogs = Arc::new(Catalogs::new());
    catalogs.set(Active {
        sequence: 1,
        issued_at: now,
        engine,
    });
    let state = Till {
        store: store.clone(),
        clock,
        identifier,
        bus: tillpass_agent::bus::Bus::new(),
        metrics,
        token: Arc::from("bench-token-0123456789abcdef"),
        devices: Arc::new(Mutex::new(BTreeMap::new())),
        catalogs,
        time_zone: tz,
        lang: Lang::Es,
        sync: Arc::new(tillpass_agent::sync::SyncStatus::default()),
        region: std::sync::Arc::from("north"),
    };

    // A signed-in manager: the session is made directly (Argon2 is not what is measured).
    let token = "ab".repeat(32);
    {
        let conn = store.conn();
        let id = managers::add(&conn, "bench", "$argon2id$unused", Lang::Es, 0)
            .unwrap()
            .unwrap();
        let hash: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        managers::create_session(
            &conn,
            &NewSession {
                token_hash: &hash,
                manager_id: id,
                csrf: "c",
                now: now as i64,
                expires_at: now as i64 + 3600,
            },
        )
        .unwrap();
    }
    let router = tillpass_agent::dashboard::router(state);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let cookie = format!("tillpass_session={token}");
    let get = |path: String| {
        let router = router.clone();
        let cookie = cookie.clone();
        runtime.block_on(async move {
            let request = Request::get(path)
                .header(header::COOKIE, cookie)
                .body(Body::empty())
                .unwrap();
            let started = Instant::now();
            let response = router.oneshot(request).await.unwrap();
            let status = response.status();
            let body = axum::body::to_bytes(response.into_body(), usize::MAX)
                .await
                .unwrap();
            let took = started.elapsed();
            assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
            (
                took,
                body.len(),
                String::from_utf8_lossy(&body).into_owned(),
            )
        })
    };

    let day = today.to_string();
    let (_, _, first) = get(format!("/dashboard/transactions?day={day}"));
    // A page deep in the day: the cursor of sale 50,000.
    let middle = start + (SALES / 2) * 86_000 / SALES;
    let deep = format!("{middle}%3AS1-T1-{:08}", SALES / 2);
    assert!(first.contains("100.000 ventas este día"), "the day count");
    let pages = [
        ("Today", format!("/dashboard/today?day={day}")),
        (
            "Transactions (newest 50)",
            format!("/dashboard/transactions?day={day}"),
        ),
        (
            "Transactions (page at sale 50,000)",
            format!("/dashboard/transactions?day={day}&before={deep}"),
        ),
        (
            "Transactions (search by customer)",
            "/dashboard/transactions?q=C-000123".to_owned(),
        ),
        (
            "Sale detail",
            "/dashboard/transactions/S1-T1-00050000".to_owned(),
        ),
    ];
    println!("page                                   median      p95   bytes   ({RUNS} runs)");
    for (name, path) in pages {
        for _ in 0..5 {
            get(path.clone());
        }
        let mut samples = Vec::with_capacity(RUNS);
        let mut bytes = 0;
        for _ in 0..RUNS {
            let (took, len, _) = get(path.clone());
            samples.push(took);
            bytes = len;
        }
        let (median, p95) = median_p95(samples);
        println!(
            "{name:<36} {:>7.2} ms {:>7.2} ms {bytes:>7}",
            median.as_secs_f64() * 1000.0,
            p95.as_secs_f64() * 1000.0
        );
    }
    let (took, bytes, csv) = get(format!("/dashboard/transactions.csv?day={day}"));
    println!(
        "CSV of the day (once)                {:>7.0} ms           {bytes:>7} ({} rows)",
        took.as_secs_f64() * 1000.0,
        csv.lines().count() - 1
    );
}
