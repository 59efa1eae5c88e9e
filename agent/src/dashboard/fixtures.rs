//! Test fixtures: an agent state on a temp store with a clock the test moves, a catalog,
//! and real closed sales (evaluated by the engine) with their returns and scans.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusqlite::{Connection, params};
use tillpass_engine::{
    Cart, ClosedSale, CustomerContext, Engine, Line, LocalTime, Quantity, ReturnLine,
    ReturnRequest, SaleContext, SavingsBalance, Tender,
};
use tillpass_protocol::catalog::{Catalog, Weekday};
use tillpass_protocol::lang::Lang;
use tillpass_protocol::money::{Currency, Money};
use tillpass_protocol::sync::GiftCardRef;
use tillpass_protocol::token::VerifyPolicy;

use crate::bus::Bus;
use crate::catalog::{Active, Catalogs};
use crate::clock::Clock;
use crate::identify::slot::Slot;
use crate::identify::{Identifier, IdentifierParts};
use crate::metrics::Metrics;
use crate::store::Store;
use crate::store::scans::{self, ScanRecord};
use crate::till::Till;

/// 2025-06-02T12:00:00+02:00, a Monday in Madrid.
pub(crate) const NOON: u64 = 1_748_858_400;

/// A test's agent state and the hand on its clock.
pub(crate) struct Fixture {
    pub _dir: tempfile::TempDir,
    pub state: Till,
    pub clock: Arc<AtomicU64>,
}

impl Fixture {
    pub fn new(lang: Lang) -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(Store::open(dir.path()).unwrap());
        let now = Arc::new(AtomicU64::new(NOON));
        let hand = now.clone();
        let clock = Arc::new(Clock::new(
            Arc::new(move || hand.load(Ordering::Relaxed)),
            300,
        ));
        let metrics = Arc::new(Metrics::default());
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
            sequence: 7,
            issued_at: NOON - 3 * 86_400,
            engine: engine(),
        });
        let state = Till {
            store,
            clock,
            identifier,
            bus: Bus::new(),
            metrics,
            token: Arc::from("test-token-0123456789abcdef"),
            devices: Arc::new(Mutex::new(BTreeMap::new())),
            catalogs,
            time_zone: jiff::tz::TimeZone::get("Europe/Madrid").unwrap(),
            lang,
            sync: Arc::new(crate::till::SyncStatus::default()),
            region: std::sync::Arc::from("north"),
        };
        Fixture {
            _dir: dir,
            state,
            clock: now,
        }
    }

    pub fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.state.store.conn()
    }

    pub fn advance(&self, secs: u64) {
        self.clock.fetch_add(secs, Ordering::Relaxed);
    }
}

/// The test catalog: shirts 10 % off, 5 € off baskets with a voucher, 1 % savings.
pub(crate) const CATALOG: &str = r#"
format = 1
currency = "EUR"
[savings]
earn_rate = 100
return_window_days = 30
offline_redeem_cap = 2000
[[promotions]]
id = "SHIRT-10"
label = { es = "Camisas -10 %", en = "Shirts 10 % off" }
valid_from = 1700000000
valid_until = 1900000000
rules = [{ type = "percent_off", percent = 1000, items = { skus = ["SHIRT"] } }]
[[promotions]]
id = "SOCKS-2X1"
label = { es = "Calcetines 2x1", en = "Socks 2 for 1" }
valid_from = 1700000000
valid_until = 1900000000
audience = "members"
rules = [{ type = "amount_off", amount = 100, items = { skus = ["SOCKS"] } }]
[[promotions]]
id = "WINTER"
label = { es = "Invierno", en = "Winter" }
valid_from = 1900000000
valid_until = 1950000000
rules = [{ type = "percent_off", percent = 1250 }]
"#;

pub(crate) fn engine() -> Arc<Engine> {
    Arc::new(Engine::new(Catalog::from_toml(CATALOG).unwrap()).unwrap())
}

fn eur(amount: i64) -> Money {
    Money::new(amount, Currency::EUR)
}

/// A closed sale of two shirts and a pair of socks; with a customer it earns savings and
/// is paid partly with savings and a gift card.
pub(crate) fn closed_sale(customer: bool) -> ClosedSale {
    let cart = Cart {
        currency: Currency::EUR,
        lines: vec![
            Line {
                line_id: "1".into(),
                sku: "SHIRT".into(),
                category: None,
                brand: None,
                quantity: Quantity::Units(2),
                unit_price: eur(1999),
                no_promotion: false,
                gift_card_purchase: false,
            },
            Line {
                line_id: "2".into(),
                sku: "SOCKS".into(),
                category: None,
                brand: None,
                quantity: Quantity::Units(1),
                unit_price: eur(500),
                no_promotion: false,
                gift_card_purchase: false,
            },
        ],
        vouchers: vec![],
    };
    let ctx = SaleContext {
        now: NOON,
        local: LocalTime {
            weekday: Weekday::Mon,
            minute_of_day: 720,
        },
        store_id: "S1".into(),
        region: "north".into(),
    };
    let customer_ctx = CustomerContext {
        tier: None,
        segments: vec![],
        activated_promotions: vec![],
        uses: BTreeMap::new(),
        savings: SavingsBalance {
            available: eur(1000),
            pending: eur(0),
        },
        balance_synced: true,
        offline_redeemed: eur(0),
    };
    let evaluation = engine()
        .evaluate(&cart, customer.then_some(&customer_ctx), &ctx)
        .unwrap();
    let total = evaluation.totals.total.amount;
    let tenders = if customer {
        vec![
            Tender::Savings { amount: eur(100) },
            Tender::GiftCard {
                card: GiftCardRef::new("GC-12345678").unwrap(),
                amount: eur(500),
            },
            Tender::Card {
                amount: eur(total - 600),
            },
        ]
    } else {
        vec![Tender::Cash { amount: eur(total) }]
    };
    ClosedSale::new(evaluation, tenders).unwrap()
}

/// Records a closed sale as the POS API does: the row and its effects.
pub(crate) fn insert_sale(
    conn: &Connection,
    sale_id: &str,
    closed_at: u64,
    customer_ref: Option<&str>,
) -> ClosedSale {
    let sale = closed_sale(customer_ref.is_some());
    let e = &sale.evaluation;
    let tendered = |f: fn(&Tender) -> bool| -> i64 {
        sale.tenders
            .iter()
            .filter(|t| f(t))
            .map(|t| t.amount().amount)
            .sum()
    };
    conn.execute(
        "INSERT INTO sales(sale_id, till_id, origin, closed_at, customer_ref, currency, gross,
           discount, net, savings_earned, savings_redeemed, gift_card_tendered, line_count,
           sale, receipt)
         VALUES (?1, 'S1-T1', 'local', ?2, ?3, 'EUR', ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, '{}')",
        params![
            sale_id,
            i64::try_from(closed_at).unwrap(),
            customer_ref,
            e.totals.subtotal.amount,
            e.totals.discount.amount,
            e.totals.total.amount,
            e.totals.savings.total.amount,
            tendered(|t| matches!(t, Tender::Savings { .. })),
            tendered(|t| matches!(t, Tender::GiftCard { .. })),
            i64::try_from(e.lines.len()).unwrap(),
            serde_json::to_string(&sale).unwrap(),
        ],
    )
    .unwrap();
    for effect in &e.effects {
        conn.execute(
            "INSERT INTO sale_effects(sale_id, promotion_id, kind, amount) VALUES (?1, ?2, ?3, ?4)",
            params![
                sale_id,
                effect.promotion_id,
                effect.kind.code(),
                effect.amount.amount
            ],
        )
        .unwrap();
    }
    sale
}

/// Records the return of one shirt of `sale`.
pub(crate) fn insert_return(
    conn: &Connection,
    sale: &ClosedSale,
    sale_id: &str,
    return_id: &str,
    at: u64,
) {
    let outcome = tillpass_engine::reverse(
        sale,
        &[],
        &ReturnRequest {
            lines: vec![ReturnLine {
                line_id: "1".into(),
                quantity: 1,
            }],
            clawback_limit: None,
        },
    )
    .unwrap();
    conn.execute(
        "INSERT INTO sale_returns(return_id, sale_id, returned_at, refund, savings_reversed, outcome)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![
            return_id,
            sale_id,
            i64::try_from(at).unwrap(),
            outcome.refund.amount,
            outcome.savings_reversed.amount,
            serde_json::to_string(&outcome).unwrap()
        ],
    )
    .unwrap();
}

/// Logs a scan.
pub(crate) fn scan(conn: &Connection, at: u64, source: &str, refused: Option<&str>) {
    scans::log(
        conn,
        &ScanRecord {
            at: i64::try_from(at).unwrap(),
            source: source.into(),
            accepted: refused.is_none(),
            code: refused.map(str::to_owned),
            detail: None,
            token_kind: refused.is_none().then(|| "customer_pass".to_owned()),
            subject_masked: refused.is_none().then(|| "C-••••23".to_owned()),
            latency_us: 1234,
        },
    )
    .unwrap();
}

/// A customer the till knows.
pub(crate) fn customer(conn: &Connection, reference: &str, first_name: &str) {
    crate::store::customers::create_local(conn, reference, 0).unwrap();
    conn.execute(
        "UPDATE customers SET first_name = ?2, tier = 'gold' WHERE customer_ref = ?1",
        params![reference, first_name],
    )
    .unwrap();
}
