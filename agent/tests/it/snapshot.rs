//! A customer or a gift card the till has never synced, identified by a verified token:
//! the pass's signed snapshot (tier and savings) or the gift-card token's balance is spent
//! within the catalog's offline caps, the cashier sees where the balance came from, every
//! spend is journaled with the snapshot it relied on, and a second spend sees the first.
//! The live lookup's budget holds against a central that accepts and never answers.

use std::sync::Arc;
use std::time::{Duration, Instant};

use proptest::prelude::*;
use serde_json::{Value, json};
use tillpass_agent::catalog::Active;
use tillpass_agent::clock::{Clock, system_wall_clock};
use tillpass_agent::identify::live::Lookup;
use tillpass_agent::identify::{Identifier, IdentifierParts};
use tillpass_agent::metrics::Metrics;
use tillpass_agent::slot::Slot;
use tillpass_agent::store::Store;
use tillpass_agent::store::journal::TillIdentity;
use tillpass_agent::sync::{CentralClient, LiveLookup};
use tillpass_engine::Engine;
use tillpass_protocol::catalog::Catalog;
use tillpass_protocol::money::Currency;
use tillpass_protocol::sync::{LookupKind, StoreId, TillId};
use tillpass_protocol::token::{
    self, Balance, Subject, TokenBody, TokenId, TokenKind, VerifyPolicy,
};

use crate::sessions::{Served, amount, eur, seeded_till};
use crate::util::{Central, now};

/// Gold customers pay €3.99 for coffee; €20.00 of savings and €50.00 per card offline.
const CATALOG: &str = r#"
format = 1
currency = "EUR"
tiers = ["silver", "gold"]

[savings]
earn_rate = 100
return_window_days = 30
offline_redeem_cap = 2000

[gift_cards]
hold_ttl_seconds = 900
offline_cap_per_card = 5000

[[promotions]]
id = "COFFEE-TIER"
label = { es = "Café oro", en = "Gold coffee" }
valid_from = 0
valid_until = 4000000000
rules = [{ type = "tier_price", items = { skus = ["COFFEE"] }, prices = [{ tier = "gold", price = 399 }] }]
"#;

/// A token of `kind` for `subject` claiming `tier` and `balance` cents, issued at `at`.
fn token_with(
    central: &Central,
    kind: TokenKind,
    subject: &str,
    tier: Option<u8>,
    balance: Option<u32>,
    at: u64,
    id: u8,
) -> String {
    let body = TokenBody {
        kind,
        subject: Subject::new(subject.as_bytes()).unwrap(),
        issued_at: u32::try_from(at).unwrap(),
        lifetime_secs: 3_600,
        token_id: TokenId([id, 1, 2, 3, 4, 5, 6, 7]),
        tier,
        balance: balance.map(|amount| Balance {
            amount,
            currency: Currency::EUR,
        }),
    };
    token::issue(&body, &central.token).to_text()
}

fn served(central: &Central) -> (crate::util::Till, Served) {
    let till = seeded_till(central);
    let pos = Served::start(&till);
    pos.state.catalogs.set(Active {
        sequence: 2,
        issued_at: now(),
        engine: Arc::new(Engine::new(Catalog::from_toml(CATALOG).unwrap()).unwrap()),
    });
    (till, pos)
}

fn coffee_cart() -> Value {
    json!({
        "currency": "EUR",
        "lines": [
            { "line_id": "1", "sku": "COFFEE", "quantity": { "units": 10 },
              "unit_price": eur(599) }
        ]
    })
}

/// The outbox's events of `kind`, as JSON.
fn outbox(pos: &Served, kind: &str) -> Vec<Value> {
    let conn = pos.state.store.conn();
    let mut stmt = conn
        .prepare("SELECT body FROM outbox WHERE kind = ?1 ORDER BY seq")
        .unwrap();
    stmt.query_map([kind], |r| r.get::<_, String>(0))
        .unwrap()
        .map(|p| serde_json::from_str(&p.unwrap()).unwrap())
        .collect()
}

#[test]
fn an_unseen_customer_spends_the_pass_snapshot_within_the_cap_with_tier_prices() {
    let central = Central::new();
    let (_till, pos) = served(&central);
    let issued = now() - 30;
    // C-NEW is unknown here; the pass says gold (tier 1) with €50.00 of savings.
    let pass = token_with(
        &central,
        TokenKind::CustomerPass,
        "C-NEW",
        Some(1),
        Some(5000),
        issued,
        1,
    );
    let (status, s) = pos.put(
        "T-1",
        "k1",
        &json!({ "cart": coffee_cart(), "customer_scan": pass }),
    );
    assert_eq!(status, 200, "{s:#}");
    let customer = &s["customer"];
    assert_eq!(customer["tier"], "gold", "{s:#}");
    assert_eq!(customer["balance_source"], "snapshot", "{s:#}");
    assert_eq!(customer["balance_as_of"], issued, "{s:#}");
    assert_eq!(customer["earn_only"], false, "{s:#}");
    // The catalog's offline cap, not the €50.00 claimed, is what can be spent.
    assert_eq!(amount(&customer["savings"]["available"]), 2000, "{s:#}");
    // Ten gold coffees at €3.99.
    assert_eq!(amount(&s["evaluation"]["totals"]["total"]), 3990, "{s:#}");

    let (status, s) = pos.post(
        "/v1/sessions/T-1/tenders",
        "k2",
        &json!({ "version": 1, "tender": { "type": "savings", "amount": eur(1500) } }),
    );
    assert_eq!(status, 200, "{s:#}");
    let (status, e) = pos.post(
        "/v1/sessions/T-1/tenders",
        "k3",
        &json!({ "version": 2, "tender": { "type": "savings", "amount": eur(600) } }),
    );
    assert_eq!(status, 422, "{e:#}");
    assert_eq!(e["code"], "snapshot_cap_reached", "{e:#}");
    assert_eq!(amount(&e["remaining"]), 500, "{e:#}");
    assert!(e["message_es"].as_str().unwrap().contains("QR"), "{e:#}");
    assert!(e["message_en"].as_str().unwrap().contains("QR"), "{e:#}");
    let (status, s) = pos.post("/v1/sessions/T-1/close", "k4", &json!({ "version": 2 }));
    assert_eq!(status, 200, "{s:#}");

    // The spend is journaled with the snapshot it relied on.
    let redeemed = outbox(&pos, "savings_redeemed");
    assert_eq!(redeemed.len(), 1);
    let basis = &redeemed[0]["payload"]["basis"];
    assert_eq!(basis["source"], "snapshot", "{redeemed:#?}");
    assert_eq!(basis["token_id"], "0101020304050607");
    assert_eq!(amount(&basis["balance"]), 5000);
    assert_eq!(basis["as_of"], issued);

    // A newer pass (€35.00, as central saw the balance before this till's spend arrived):
    // the second sale sees the first spend — €5.00 of the cap is left.
    let pass2 = token_with(
        &central,
        TokenKind::CustomerPass,
        "C-NEW",
        Some(1),
        Some(3500),
        issued + 10,
        2,
    );
    let (status, s) = pos.put(
        "T-2",
        "k5",
        &json!({ "cart": coffee_cart(), "customer_scan": pass2 }),
    );
    assert_eq!(status, 200, "{s:#}");
    assert_eq!(amount(&s["customer"]["savings"]["available"]), 500, "{s:#}");
    let (status, e) = pos.post(
        "/v1/sessions/T-2/tenders",
        "k6",
        &json!({ "version": 1, "tender": { "type": "savings", "amount": eur(501) } }),
    );
    assert_eq!(status, 422, "{e:#}");
    assert_eq!(e["code"], "snapshot_cap_reached");
}

#[test]
fn a_pass_without_a_balance_claim_still_makes_an_earn_only_profile() {
    let central = Central::new();
    let (_till, pos) = served(&central);
    let pass = token_with(
        &central,
        TokenKind::CustomerPass,
        "C-BARE",
        None,
        None,
        now() - 5,
        3,
    );
    let (status, s) = pos.put(
        "T-3",
        "b1",
        &json!({ "cart": coffee_cart(), "customer_scan": pass }),
    );
    assert_eq!(status, 200, "{s:#}");
    assert_eq!(s["customer"]["earn_only"], true, "{s:#}");
    assert!(s["customer"].get("balance_source").is_none(), "{s:#}");
    let (status, e) = pos.post(
        "/v1/sessions/T-3/tenders",
        "b2",
        &json!({ "version": 1, "tender": { "type": "savings", "amount": eur(100) } }),
    );
    assert_eq!(status, 422, "{e:#}");
    assert_eq!(e["code"], "customer_earn_only");
}

#[test]
fn a_cached_customer_is_never_overridden_by_a_pass_claim() {
    let central = Central::new();
    let (_till, pos) = served(&central);
    // C-1 is synced with €10.00; a pass claiming €500.00 changes nothing.
    let pass = token_with(
        &central,
        TokenKind::CustomerPass,
        "C-1",
        Some(1),
        Some(50_000),
        now() - 5,
        4,
    );
    let (status, s) = pos.put(
        "T-4",
        "c1",
        &json!({ "cart": coffee_cart(), "customer_scan": pass }),
    );
    assert_eq!(status, 200, "{s:#}");
    assert_eq!(s["customer"]["balance_source"], "cached", "{s:#}");
    assert_eq!(
        amount(&s["customer"]["savings"]["available"]),
        1000,
        "{s:#}"
    );
}

#[test]
fn an_unsynced_gift_card_pays_up_to_its_token_and_the_per_card_cap() {
    let central = Central::new();
    let (_till, pos) = served(&central);
    // GC-NEW is unknown here; its token says €90.00; the catalog allows €50.00 per card.
    let card = token_with(
        &central,
        TokenKind::GiftCard,
        "GC-NEW",
        None,
        Some(9000),
        now() - 5,
        5,
    );
    let (status, s) = pos.put("G-1", "g1", &json!({ "cart": coffee_cart() }));
    assert_eq!(status, 200, "{s:#}");
    let total = amount(&s["evaluation"]["totals"]["total"]);
    assert_eq!(total, 5990);
    let (status, e) = pos.post(
        "/v1/sessions/G-1/tenders",
        "g2",
        &json!({ "version": 1, "tender": { "type": "gift_card", "scan": card, "amount": eur(5001) } }),
    );
    assert_eq!(status, 422, "{e:#}");
    assert_eq!(e["code"], "snapshot_cap_reached", "{e:#}");
    assert_eq!(amount(&e["remaining"]), 5000, "{e:#}");
    let (status, s) = pos.post(
        "/v1/sessions/G-1/tenders",
        "g3",
        &json!({ "version": 1, "tender": { "type": "gift_card", "scan": card, "amount": eur(5000) } }),
    );
    assert_eq!(status, 200, "{s:#}");
    let (status, s) = pos.post("/v1/sessions/G-1/close", "g4", &json!({ "version": 2 }));
    assert_eq!(status, 200, "{s:#}");
    let debited = outbox(&pos, "gift_card_debited");
    assert_eq!(debited.len(), 1);
    let basis = &debited[0]["payload"]["basis"];
    assert_eq!(basis["source"], "snapshot", "{debited:#?}");
    assert_eq!(amount(&basis["balance"]), 9000);
    // A card with no balance claim stays unknown.
    let bare = token_with(
        &central,
        TokenKind::GiftCard,
        "GC-BARE",
        None,
        None,
        now() - 5,
        6,
    );
    let (status, _) = pos.put("G-2", "g5", &json!({ "cart": coffee_cart() }));
    assert_eq!(status, 200);
    let (status, e) = pos.post(
        "/v1/sessions/G-2/tenders",
        "g6",
        &json!({ "version": 1, "tender": { "type": "gift_card", "scan": bare, "amount": eur(100) } }),
    );
    assert_eq!(status, 422, "{e:#}");
    assert_eq!(e["code"], "unknown_gift_card");
}

/// A scanner identification pipeline over a fresh store, with the gold catalog.
fn pipeline(dir: &std::path::Path, central: &Central) -> Identifier {
    let store = Arc::new(Store::open(dir).unwrap());
    tillpass_agent::store::tokens::accept_trust_list(
        &store.conn(),
        central.root.verifying_key().to_bytes(),
        &central.trust_list(1, now() - 60),
        now(),
    )
    .unwrap();
    let catalogs = Arc::new(tillpass_agent::catalog::Catalogs::new());
    catalogs.set(Active {
        sequence: 1,
        issued_at: now(),
        engine: Arc::new(Engine::new(Catalog::from_toml(CATALOG).unwrap()).unwrap()),
    });
    Identifier::new(IdentifierParts {
        store,
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
    .with_catalogs(catalogs)
}

#[test]
fn a_central_that_never_answers_costs_the_cashier_at_most_the_budget() {
    let central = Central::new();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    // A real socket that accepts connections and never says a word.
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let addr = listener.local_addr().unwrap();
    runtime.spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    let client = Arc::new(
        CentralClient::new(
            &format!("http://{addr}"),
            TillId::new("S1-T1").unwrap(),
            ed25519_dalek::SigningKey::from_bytes(&[7; 32]),
            Arc::new(Clock::new(system_wall_clock(), 300)),
            None,
            None,
        )
        .unwrap(),
    );
    let budget = Duration::from_millis(300);
    let live = Arc::new(LiveLookup::new(client, runtime.handle().clone(), budget));
    let started = Instant::now();
    assert!(live.lookup(LookupKind::Customer, "C-NEW").is_none());
    let waited = started.elapsed();
    assert!(waited >= budget, "gave up before the budget: {waited:?}");
    assert!(
        waited < budget + Duration::from_millis(200),
        "waited {waited:?}"
    );

    // Through the pipeline: the scan falls back to the pass's snapshot, within the budget.
    let dir = tempfile::tempdir().unwrap();
    let identifier = pipeline(dir.path(), &central).with_live(live);
    let pass = token_with(
        &central,
        TokenKind::CustomerPass,
        "C-NEW",
        Some(1),
        Some(700),
        now() - 5,
        8,
    );
    let started = Instant::now();
    let id = identifier.identify(&pass, "api").unwrap();
    let waited = started.elapsed();
    assert!(
        waited < budget + Duration::from_millis(200),
        "waited {waited:?}"
    );
    assert_eq!(
        id.balance_source,
        Some(tillpass_protocol::sync::BalanceSource::Snapshot)
    );
    let customer = id.customer.unwrap();
    assert_eq!(customer.tier.as_deref(), Some("gold"));
    assert_eq!(customer.savings.unwrap().synced, 700);
    runtime.shutdown_timeout(Duration::from_secs(1));
}

#[test]
fn a_known_customer_is_not_looked_up() {
    // No lookup configured would also say nothing; here a lookup that fails the test if
    // asked proves the cached customer never waits on central.
    #[derive(Debug)]
    struct Never;
    impl Lookup for Never {
        fn lookup(
            &self,
            _: LookupKind,
            subject: &str,
        ) -> Option<tillpass_protocol::sync::LookupAnswer> {
            panic!("asked central about {subject}, whose balance the till holds");
        }
    }
    let central = Central::new();
    let dir = tempfile::tempdir().unwrap();
    let identifier = pipeline(dir.path(), &central).with_live(Arc::new(Never));
    tillpass_agent::store::customers::put(
        &identifier.store().conn(),
        &tillpass_agent::store::customers::NewCustomer {
            customer_ref: "C-1",
            first_name: None,
            tier: None,
            lang: "es",
            savings: Some(("EUR", 10)),
        },
        0,
    )
    .unwrap();
    let pass = token_with(
        &central,
        TokenKind::CustomerPass,
        "C-1",
        None,
        Some(9),
        now() - 5,
        9,
    );
    let id = identifier.identify(&pass, "api").unwrap();
    assert_eq!(
        id.balance_source,
        Some(tillpass_protocol::sync::BalanceSource::Cached)
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// Whatever the cashier tries, sale after sale and pass after pass (each claiming
    /// the same snapshot or less), what this till spends against one customer's
    /// snapshot never exceeds min(snapshot, the catalog's offline cap).
    #[test]
    fn spends_against_a_snapshot_never_exceed_the_snapshot_or_the_cap(
        snapshot in 0u32..6000,
        tries in proptest::collection::vec(1i64..2500, 1..6),
    ) {
        let central = Central::new();
        let (_till, pos) = served(&central);
        let mut spent = 0i64;
        for (i, try_amount) in tries.iter().enumerate() {
            let sale = format!("P-{i}");
            let id = u8::try_from(i + 10).unwrap();
            let pass = token_with(&central, TokenKind::CustomerPass, "C-P", Some(0), Some(snapshot), now() - 100 + i as u64, id);
            let (status, s) = pos.put(&sale, &format!("{sale}-put"), &json!({ "cart": coffee_cart(), "customer_scan": pass }));
            prop_assert_eq!(status, 200, "{:#}", s);
            let (status, _) = pos.post(
                &format!("/v1/sessions/{sale}/tenders"),
                &format!("{sale}-t"),
                &json!({ "version": 1, "tender": { "type": "savings", "amount": eur(*try_amount) } }),
            );
            if status == 200 {
                let (status, s) = pos.post(&format!("/v1/sessions/{sale}/close"), &format!("{sale}-c"), &json!({ "version": 2 }));
                prop_assert_eq!(status, 200, "{:#}", s);
                spent += try_amount;
            } else {
                prop_assert_eq!(status, 422);
            }
        }
        let bound = i64::from(snapshot).min(2000);
        prop_assert!(spent <= bound, "spent {} against a snapshot of {} (cap 2000)", spent, snapshot);
        let journaled: i64 = outbox(&pos, "savings_redeemed").iter().map(|e| amount(&e["payload"]["amount"])).sum();
        prop_assert_eq!(journaled, spent);
    }
}
