//! What a till acknowledges, central accepts. Carts, loyalty tenders, payments and returns
//! at and beyond every bound of `tillpass_protocol::sync::limits` are driven through the
//! real session code in-process, on a real SQLite file, one transaction per change as the
//! POS API runs them; every event that reaches the outbox then goes through central's own
//! admission (`tillpass_central::journal::admit`, what its ingest runs before it looks at
//! any account). A refused change is a 4xx with the field at fault, and stores nothing.

use std::sync::Arc;

use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use rusqlite::Connection;
use serde_json::json;
use tillpass_agent::sessions::model::{Payment, PutSession, ReturnRequest, TenderInput};
use tillpass_agent::sessions::scans::Scanned;
use tillpass_agent::sessions::tenders::CardRef;
use tillpass_agent::sessions::{self, ApiError, Ctx, cart, close, context, returns, tenders};
use tillpass_agent::store::Store;
use tillpass_agent::store::journal::TillIdentity;
use tillpass_engine::{Engine, Line, Quantity};
use tillpass_protocol::catalog::Catalog;
use tillpass_protocol::money::{Currency, Money};
use tillpass_protocol::sync::limits::{self, MAX_AMOUNT, MAX_LINES, MAX_TEXT_LEN};
use tillpass_protocol::sync::{RegionId, StoreId, TillId};

const NOW: u64 = 1_780_000_000;

fn eur(amount: i64) -> Money {
    Money::new(amount, Currency::EUR)
}

/// Promotions whose labels use up the catalog's 80 characters in two-byte letters, a
/// per-line discount on every `fresh` line and savings on everything.
fn catalog() -> String {
    let long = "é".repeat(80);
    format!(
        "format = 1\ncurrency = \"EUR\"\n[savings]\nearn_rate = 100\nreturn_window_days = 14\n\
         [[promotions]]\nid = \"FRESH-10\"\nlabel = {{ es = \"{long}\", en = \"Fresh 10 %\" }}\n\
         valid_from = 0\nvalid_until = 4000000000\n\
         rules = [{{ type = \"percent_off\", percent = 1000, items = {{ categories = [\"fresh\"] }} }}]\n\
         [[promotions]]\nid = \"BASKET\"\nlabel = {{ es = \"Cesta\", en = \"Basket\" }}\n\
         valid_from = 0\nvalid_until = 4000000000\ngroup = \"basket\"\n\
         rules = [{{ type = \"spend_threshold\", steps = [{{ spend = 5000, off = 500 }}] }}]\n"
    )
}

struct Till {
    _dir: tempfile::TempDir,
    store: Store,
    ctx: Ctx,
    central: tillpass_central::enrol::Till,
}

impl Till {
    fn new() -> Till {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        {
            let conn = store.conn();
            conn.execute_batch(
                "INSERT INTO customers(customer_ref, updated_at) VALUES ('C-1', 0);
                 INSERT INTO savings_accounts(customer_ref, currency, synced_balance)
                   VALUES ('C-1', 'EUR', 100000000);
                 INSERT INTO gift_cards(card_ref, currency, synced_balance, updated_at)
                   VALUES ('G-1', 'EUR', 100000000, 0);",
            )
            .unwrap();
        }
        let who = TillIdentity {
            store: StoreId::new("S1").unwrap(),
            till: TillId::new("S1-T1").unwrap(),
        };
        let engine = Engine::new(Catalog::from_toml(&catalog()).unwrap()).unwrap();
        let ctx = Ctx {
            engine: Some(Arc::new(engine)),
            sale: context::sale_context(NOW, &jiff::tz::TimeZone::UTC, "S1", "north"),
            who: who.clone(),
            now: NOW,
            online: true,
            earn_only: None,
            policy: None,
        };
        let central = tillpass_central::enrol::Till {
            id: who.till,
            store: who.store,
            region: RegionId::new("north").unwrap(),
            key: ed25519_dalek::SigningKey::from_bytes(&[7; 32]).verifying_key(),
        };
        Till {
            _dir: dir,
            store,
            ctx,
            central,
        }
    }

    /// What a refused change must leave as it was.
    fn footprint(conn: &Connection) -> (i64, i64, i64, i64) {
        let count = |table: &str| -> i64 {
            conn.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
                .unwrap()
        };
        let versions: i64 = conn
            .query_row(
                "SELECT coalesce(sum(version), 0) FROM pos_sessions",
                [],
                |r| r.get(0),
            )
            .unwrap();
        (
            count("outbox"),
            count("sales"),
            count("gift_card_holds"),
            versions,
        )
    }

    /// Runs one change in one transaction, as the POS API does: committed when it
    /// succeeds, nothing kept when it fails — and a failure is the POS's to fix (4xx) with
    /// the field at fault when it is a 422.
    fn change<T>(
        &self,
        f: impl FnOnce(&rusqlite::Transaction<'_>, &Ctx) -> Result<T, ApiError>,
    ) -> Result<Option<T>, TestCaseError> {
        let mut conn = self.store.conn();
        let before = Till::footprint(&conn);
        let tx = conn.transaction().unwrap();
        match f(&tx, &self.ctx) {
            Ok(value) => {
                tx.commit().unwrap();
                Ok(Some(value))
            }
            Err(e) => {
                drop(tx);
                prop_assert!(e.status().is_client_error(), "{:?}", *e);
                if e.status().as_u16() == 422 && e.code == "invalid" {
                    prop_assert!(e.field.is_some(), "{:?}", *e);
                }
                prop_assert!(
                    e.extensions.contains_key("message_es")
                        && e.extensions.contains_key("message_en"),
                    "{:?}",
                    *e
                );
                prop_assert_eq!(Till::footprint(&conn), before, "a refusal stored something");
                Ok(None)
            }
        }
    }

    /// The newest outbox row's sequence number.
    fn last_seq(&self) -> i64 {
        self.store
            .conn()
            .query_row("SELECT coalesce(max(seq), 0) FROM outbox", [], |r| r.get(0))
            .unwrap()
    }

    /// Every event in the outbox after `since`, through central's admission.
    fn central_accepts_the_outbox(&self, since: i64) -> Result<usize, TestCaseError> {
        let conn = self.store.conn();
        let mut stmt = conn
            .prepare("SELECT body FROM outbox WHERE seq > ?1 ORDER BY seq")
            .unwrap();
        let bodies: Vec<String> = stmt
            .query_map([since], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        for body in &bodies {
            let raw: serde_json::Value = serde_json::from_str(body).unwrap();
            if let Err(refusal) = tillpass_central::journal::admit(raw, &self.central) {
                let kind =
                    serde_json::from_str::<serde_json::Value>(body).unwrap()["payload"]["type"]
                        .clone();
                return Err(TestCaseError::fail(format!(
                    "the till journalled a {kind} central refuses: {refusal:?}"
                )));
            }
        }
        Ok(bodies.len())
    }
}

/// Texts at and beyond the bounds: plain, the longest, one byte over, multi-byte, control
/// characters (the issue's TAB), empty, and anything at all.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "[A-Z0-9-]{1,12}",
        1 => Just("x".repeat(MAX_TEXT_LEN)),
        1 => Just("x".repeat(MAX_TEXT_LEN + 1)),
        1 => Just("é".repeat(MAX_TEXT_LEN / 2)),
        1 => Just("é".repeat(MAX_TEXT_LEN / 2 + 1)),
        1 => Just("A\tB".to_owned()),
        1 => Just("A\u{85}B".to_owned()),
        1 => Just("A\u{7f}".to_owned()),
        1 => Just(String::new()),
        1 => any::<String>(),
    ]
}

fn line_id() -> impl Strategy<Value = Option<String>> {
    prop_oneof![
        6 => Just(None),
        1 => Just(Some("1".repeat(limits::MAX_LINE_ID_LEN))),
        1 => Just(Some("1".repeat(limits::MAX_LINE_ID_LEN + 1))),
        1 => Just(Some("L\t1".to_owned())),
        1 => Just(Some("línea-ü".to_owned())),
    ]
}

fn quantity() -> impl Strategy<Value = Quantity> {
    prop_oneof![
        6 => (1u32..5).prop_map(Quantity::Units),
        2 => (1u32..5000).prop_map(Quantity::Grams),
        1 => Just(Quantity::Units(0)),
        1 => Just(Quantity::Units(u32::MAX)),
        1 => Just(Quantity::Grams(u32::MAX)),
    ]
}

fn price() -> impl Strategy<Value = i64> {
    prop_oneof![
        8 => 0i64..100_000,
        1 => Just(MAX_AMOUNT),
        1 => Just(MAX_AMOUNT + 1),
        1 => Just(i64::MAX),
        1 => Just(-1i64),
    ]
}

/// A cart: how many lines (few, the most, one over), and one line bent at a bound.
#[derive(Debug, Clone)]
struct Case {
    lines: usize,
    bent: usize,
    sku: String,
    id: Option<String>,
    quantity: Quantity,
    price: i64,
    customer: bool,
    savings: Option<i64>,
    gift_card: Option<i64>,
    payments: usize,
    method: String,
    returned: usize,
}

fn case() -> impl Strategy<Value = Case> {
    (
        prop_oneof![8 => 1usize..6, 1 => Just(MAX_LINES), 1 => Just(MAX_LINES + 1)],
        any::<prop::sample::Index>(),
        text(),
        line_id(),
        quantity(),
        price(),
        any::<bool>(),
        prop::option::of(prop_oneof![1i64..500, Just(MAX_AMOUNT + 1)]),
        prop::option::of(1i64..500),
        prop_oneof![
            Just(0usize),
            1usize..4,
            Just(limits::MAX_PAYMENTS),
            Just(limits::MAX_PAYMENTS + 1)
        ],
        prop_oneof![
            4 => Just("cash".to_owned()),
            1 => Just("m".repeat(limits::MAX_METHOD_LEN)),
            1 => Just("m".repeat(limits::MAX_METHOD_LEN + 1)),
            1 => Just("gift card".to_owned()),
        ],
        0usize..3,
    )
        .prop_map(
            |(
                lines,
                bent,
                sku,
                id,
                quantity,
                price,
                customer,
                savings,
                gift_card,
                payments,
                method,
                returned,
            )| {
                Case {
                    bent: bent.index(lines),
                    lines,
                    sku,
                    id,
                    quantity,
                    price,
                    customer,
                    savings,
                    gift_card,
                    payments,
                    method,
                    returned,
                }
            },
        )
}

fn lines(case: &Case) -> Vec<Line> {
    (0..case.lines)
        .map(|i| {
            let bent = i == case.bent;
            Line {
                line_id: match (&case.id, bent) {
                    (Some(id), true) => id.clone(),
                    _ => format!("{i}"),
                },
                sku: if bent {
                    case.sku.clone()
                } else {
                    format!("SKU-{}", i % 7)
                },
                category: (i % 2 == 0).then(|| "fresh".to_owned()),
                brand: None,
                quantity: if bent {
                    case.quantity
                } else {
                    Quantity::Units(1)
                },
                unit_price: eur(if bent { case.price } else { 250 }),
                no_promotion: false,
                gift_card_purchase: false,
            }
        })
        .collect()
}

/// One sale through PUT, tenders, close and a return, each change as the POS API runs it.
fn sale(till: &Till, n: usize, case: &Case) -> Result<(), TestCaseError> {
    let id = format!("S-{n}");
    let request: PutSession = serde_json::from_value(json!({
        "cart": {"currency": "EUR", "lines": []},
        "use_current_customer": false,
    }))
    .unwrap();
    let request = PutSession {
        cart: tillpass_agent::sessions::model::CartInput {
            currency: Currency::EUR,
            lines: lines(case),
        },
        ..request
    };
    let mut scanned = Scanned::default();
    scanned.customer = case.customer.then(|| "C-1".to_owned());
    let put = till.change(|tx, ctx| {
        cart::check_limits(&request)?;
        let session = cart::put(tx, ctx, &id, request.clone(), scanned.clone(), None)?;
        sessions::save(tx, &session, ctx.now_i64())?;
        Ok(session)
    })?;
    let Some(mut session) = put else {
        return Ok(());
    };
    let mut tenders_in = Vec::new();
    if let (true, Some(amount)) = (case.customer, case.savings) {
        tenders_in.push((
            TenderInput::Savings {
                amount: eur(amount),
            },
            CardRef::None,
        ));
    }
    if let Some(amount) = case.gift_card {
        tenders_in.push((
            TenderInput::GiftCard {
                scan: None,
                card_id: Some("G-1".to_owned()),
                amount: Some(eur(amount)),
            },
            CardRef::Card("G-1".to_owned()),
        ));
    }
    for (tender, card) in tenders_in {
        let current = session.clone();
        if let Some(s) = till.change(|tx, ctx| {
            let version = current.version;
            let s = tenders::add(tx, ctx, current, version, tender, card)?;
            sessions::save(tx, &s, ctx.now_i64())?;
            Ok(s)
        })? {
            session = s;
        }
    }
    // The POS's payments: what is due, in `payments` parts (the last takes the rest).
    let due = session.amount_due().amount;
    let parts = i64::try_from(case.payments).unwrap();
    let payments: Vec<Payment> = (0..parts)
        .map(|i| Payment {
            method: case.method.clone(),
            amount: eur(if i + 1 == parts {
                due - (due / parts.max(1)) * (parts - 1)
            } else {
                due / parts.max(1)
            }),
        })
        .collect();
    let current = session.clone();
    let closed = till.change(|tx, ctx| {
        let version = current.version;
        let s = close::close(tx, ctx, current, version, payments)?;
        sessions::save(tx, &s, ctx.now_i64())?;
        Ok(s)
    })?;
    if closed.is_none() || case.returned == 0 {
        return Ok(());
    }
    let request: ReturnRequest = serde_json::from_value(json!({
        "return_id": format!("R-{n}"),
        "lines": (0..case.returned.min(case.lines))
            .map(|i| json!({"line": format!("{i}"), "qty": 1}))
            .collect::<Vec<_>>(),
    }))
    .unwrap();
    till.change(|tx, ctx| returns::record(tx, ctx, &id, &request))?;
    Ok(())
}

#[test]
fn every_event_a_till_can_journal_passes_centrals_check() {
    let till = Till::new();
    let mut runner = TestRunner::new(Config {
        cases: 96,
        ..Config::default()
    });
    let n = std::cell::Cell::new(0usize);
    runner
        .run(&case(), |case| {
            n.set(n.get() + 1);
            let since = till.last_seq();
            sale(&till, n.get(), &case)?;
            till.central_accepts_the_outbox(since)?;
            Ok(())
        })
        .unwrap();
    let journalled = till.central_accepts_the_outbox(0).unwrap();
    assert!(
        journalled >= 10,
        "too few events to prove anything: {journalled}"
    );
}

#[test]
fn the_issues_carts_are_refused_with_the_field_at_fault() {
    let till = Till::new();
    let put = |lines: Vec<Line>| -> ApiError {
        let request: PutSession = serde_json::from_value(json!({
            "cart": {"currency": "EUR", "lines": []},
            "use_current_customer": false,
        }))
        .unwrap();
        let request = PutSession {
            cart: tillpass_agent::sessions::model::CartInput {
                currency: Currency::EUR,
                lines,
            },
            ..request
        };
        cart::check_limits(&request).unwrap_err()
    };
    let line = |i: usize, sku: &str| Line {
        line_id: format!("{i}"),
        sku: sku.to_owned(),
        category: None,
        brand: None,
        quantity: Quantity::Units(1),
        unit_price: eur(100),
        no_promotion: false,
        gift_card_purchase: false,
    };
    let tab = put(vec![line(1, "A\tB")]);
    assert_eq!(tab.status().as_u16(), 422);
    assert_eq!(
        tab.field.as_deref(),
        Some("cart.lines[0].sku"),
        "{:?}",
        *tab
    );
    let long = put(vec![line(1, "A"), line(2, &"x".repeat(257))]);
    assert_eq!(long.field.as_deref(), Some("cart.lines[1].sku"));
    let many = put((0..=MAX_LINES).map(|i| line(i, "A")).collect());
    assert_eq!(many.field.as_deref(), Some("cart.lines"));
    assert!(many.detail.contains("1001 lines"), "{}", many.detail);
    // At the bound, the whole sale goes through and central takes every event.
    let fine = Case {
        lines: MAX_LINES,
        bent: MAX_LINES - 1,
        sku: "x".repeat(MAX_TEXT_LEN),
        id: Some("1".repeat(limits::MAX_LINE_ID_LEN)),
        quantity: Quantity::Units(1),
        price: 100,
        customer: true,
        savings: Some(100),
        gift_card: Some(100),
        payments: limits::MAX_PAYMENTS,
        method: "m".repeat(limits::MAX_METHOD_LEN),
        returned: 2,
    };
    sale(&till, 1, &fine).unwrap();
    let conn = till.store.conn();
    let kinds: Vec<String> = conn
        .prepare("SELECT kind FROM outbox ORDER BY seq")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    drop(conn);
    for kind in [
        "sale_closed",
        "savings_earned",
        "gift_card_debited",
        "return_recorded",
    ] {
        assert!(kinds.iter().any(|k| k == kind), "{kind}: {kinds:?}");
    }
    till.central_accepts_the_outbox(0).unwrap();
}
