//! The contract cases of what the admin API, the CLI and the till's live lookup do with
//! customers and gift cards, on both backends: profile changes, savings adjustments,
//! personal promotions, receipts, erasure (nothing personal left), gift cards, the live
//! lookup, and the stores' ledger stream. Where an answer does not depend on random keys,
//! both backends must give the same one.

use serde_json::{Value, json};
use tillpass_central::customers::CustomerPatch;
use tillpass_central::error::Error;
use tillpass_central::giftcards::NewGiftCard;
use tillpass_central::keys::{KeyDir, Purpose};
use tillpass_central::passes::IssueOptions;
use tillpass_central::storage::copy::TABLES;
use tillpass_central::storage::{Database, Location};
use tillpass_protocol::money::Currency;
use tillpass_protocol::sync::{
    BalanceSource, CustomerRef, DeltaKind, DeltaQuery, EventPayload, GiftCardRef, GiftCardStatus,
    LookupKind, LookupRequest, PersonalPromotion, PromotionId, SavingsMovement, SpendBasis,
    StoreId, Subject, TokenId, TokenKind, TokenUsed,
};

use super::{Backend, backends, batch, card_move, customer, earn, events, execute, outcomes, till};
use crate::journal::{eur, sale};

/// The first name used in these cases: after an erasure, found nowhere.
const NAME: &str = "Beatriz-Unica";

fn card(reference: &str, balance: i64, expires_at: Option<i64>) -> NewGiftCard {
    NewGiftCard {
        card: GiftCardRef::new(reference).unwrap(),
        balance,
        currency: Some(Currency::EUR),
        expires_at,
    }
}

fn promotion(id: &str, customer: &str, enabled: bool) -> PersonalPromotion {
    PersonalPromotion {
        id: PromotionId::new(id).unwrap(),
        customer: CustomerRef::new(customer).unwrap(),
        promotion_id: PromotionId::new("VIP-10").unwrap(),
        enabled,
        valid_from: Some(100),
        valid_until: None,
    }
}

fn json_of(value: impl serde::Serialize) -> Value {
    serde_json::to_value(value).unwrap()
}

/// Every value of every table of central, as text: what an erasure must leave nothing
/// personal in.
async fn everything(b: &Backend) -> String {
    let mut all = String::new();
    match &b.location {
        Location::Sqlite(path) => {
            let conn = rusqlite::Connection::open(path).unwrap();
            for table in TABLES {
                let mut stmt = conn.prepare(&format!("SELECT * FROM {table}")).unwrap();
                let width = stmt.column_count();
                let mut rows = stmt.query([]).unwrap();
                while let Some(row) = rows.next().unwrap() {
                    for i in 0..width {
                        let value: rusqlite::types::Value = row.get(i).unwrap();
                        all.push_str(&format!("{value:?}|"));
                    }
                    all.push('\n');
                }
            }
        }
        Location::Postgres(url) => {
            let client = crate::pg::connect(url).await;
            for table in TABLES {
                for row in client
                    .query(&format!("SELECT t::text FROM {table} t"), &[])
                    .await
                    .unwrap()
                {
                    all.push_str(row.get::<_, &str>(0));
                    all.push('\n');
                }
            }
        }
    }
    all
}

/// The one number `sql` answers on a backend's database.
async fn count(b: &Backend, sql: &str) -> i64 {
    match &b.location {
        Location::Sqlite(path) => rusqlite::Connection::open(path)
            .unwrap()
            .query_row(sql, [], |r| r.get(0))
            .unwrap(),
        Location::Postgres(url) => {
            let client = crate::pg::connect(url).await;
            client.query_one(sql, &[]).await.unwrap().get(0)
        }
    }
}

async fn page(db: &Database, dir: &KeyDir, kind: DeltaKind, store: &str, now: i64) -> Value {
    let sync = db.active_key(dir, Purpose::Sync).await.unwrap();
    let page = db
        .delta_page(
            kind,
            &DeltaQuery::default(),
            &StoreId::new(store).unwrap(),
            &sync,
            now,
        )
        .await
        .unwrap();
    json_of(page)
}

#[tokio::test]
async fn a_customer_is_changed_adjusted_promoted_and_erased_alike_on_both_backends() {
    let mut answers = Vec::new();
    for b in backends("customer_admin").await {
        let (db, name) = (&b.db, b.name);
        let folder = tempfile::tempdir().unwrap();
        let dir = KeyDir::open(&folder.path().join("keys")).unwrap();
        db.init_keys(&dir, 1_000).await.unwrap();
        let mut seen = Vec::new();

        let mut new = customer("C-1", 500);
        new.first_name = NAME.into();
        db.create_customer(&new, 1_000).await.unwrap();
        db.create_customer(&customer("C-2", 0), 1_000)
            .await
            .unwrap();
        assert!(
            matches!(
                db.create_customer(&customer("C-1", 0), 1_000).await,
                Err(Error::Conflict(_))
            ),
            "{name}"
        );
        seen.push(json_of(db.customer("C-1", 1_000).await.unwrap()));
        assert!(db.customer("NOBODY", 1_000).await.unwrap().is_none());

        // The profile: a new tier, segments in a byte order both backends keep.
        let patch = CustomerPatch {
            tier: Some("gold".into()),
            segments: Some(vec!["b-seg".into(), "Zed".into(), "a seg".into()]),
            ..CustomerPatch::default()
        };
        let changed = db.update_customer("C-1", &patch, 1_010).await.unwrap();
        assert_eq!(changed.record.tier.as_deref(), Some("gold"), "{name}");
        assert_eq!(changed.record.segments, ["Zed", "a seg", "b-seg"], "{name}");
        assert_eq!(changed.record.first_name, NAME, "{name}: kept");
        seen.push(json_of(&changed));
        let bad = CustomerPatch {
            segments: Some(vec!["x".into(), "x".into()]),
            ..CustomerPatch::default()
        };
        assert!(
            matches!(
                db.update_customer("C-1", &bad, 1_010).await,
                Err(Error::Invalid(_))
            ),
            "{name}"
        );
        assert!(
            matches!(
                db.update_customer("NOBODY", &patch, 1_010).await,
                Err(Error::NotFound(_))
            ),
            "{name}"
        );

        // Savings adjustments: credit, debit, never below zero, nothing half-written.
        assert_eq!(
            db.adjust_savings("C-1", 250, 1_020).await.unwrap(),
            eur(750)
        );
        assert_eq!(
            db.adjust_savings("C-1", -700, 1_021).await.unwrap(),
            eur(50)
        );
        assert!(
            matches!(
                db.adjust_savings("C-1", -51, 1_022).await,
                Err(Error::Invalid(_))
            ),
            "{name}"
        );
        assert!(
            matches!(
                db.adjust_savings("C-1", i64::MAX, 1_022).await,
                Err(Error::Invalid(_))
            ),
            "{name}"
        );
        assert!(
            matches!(
                db.adjust_savings("NOBODY", 1, 1_022).await,
                Err(Error::NotFound(_))
            ),
            "{name}"
        );
        assert_eq!(db.savings("C-1").await.unwrap().unwrap().0, eur(50));

        // Personal promotions: an id belongs to one customer.
        db.put_promotion(&promotion("P-1", "C-1", true), 1_030)
            .await
            .unwrap();
        db.put_promotion(&promotion("P-2", "C-1", true), 1_030)
            .await
            .unwrap();
        db.put_promotion(&promotion("P-1", "C-1", false), 1_031)
            .await
            .unwrap();
        assert!(
            matches!(
                db.put_promotion(&promotion("P-1", "C-2", true), 1_031)
                    .await,
                Err(Error::Conflict(_))
            ),
            "{name}"
        );
        assert!(
            matches!(
                db.put_promotion(&promotion("P-9", "NOBODY", true), 1_031)
                    .await,
                Err(Error::NotFound(_))
            ),
            "{name}"
        );
        assert_eq!(
            db.promotion("P-1").await.unwrap(),
            Some(promotion("P-1", "C-1", false)),
            "{name}"
        );
        db.put_promotion(&promotion("P-3", "C-2", true), 1_032)
            .await
            .unwrap();
        db.remove_promotion("P-3", 1_033).await.unwrap();
        assert!(db.promotion("P-3").await.unwrap().is_none(), "{name}");
        assert!(
            matches!(
                db.remove_promotion("P-3", 1_033).await,
                Err(Error::NotFound(_))
            ),
            "{name}"
        );

        // Receipts: a sale naming a customer who consents; newest first.
        let t = till("S001-T01", "S001");
        let ack = db
            .ingest(
                &t,
                &batch(
                    &t,
                    events(&t, 1, vec![sale("C-1", "SALE-1"), sale("C-1", "SALE-2")]),
                ),
                1_040,
            )
            .await
            .unwrap();
        assert_eq!(outcomes(&ack), ["accepted", "accepted"], "{name}");
        let receipts = db.receipts("C-1").await.unwrap();
        let ids: Vec<&str> = receipts.iter().map(|r| r.sale_id.as_str()).collect();
        assert_eq!(ids, ["SALE-2", "SALE-1"], "{name}");
        seen.push(json_of(&receipts));
        assert!(db.receipts("C-2").await.unwrap().is_empty(), "{name}");
        for kind in [
            DeltaKind::Customers,
            DeltaKind::Balances,
            DeltaKind::PersonalPromotions,
        ] {
            seen.push(page(db, &dir, kind, "S001", 1_050).await);
        }

        // Erasure: the profile and all that hangs off it go, the passes are revoked, the
        // tills learn it, and the reference cannot come back.
        db.customer_pass(&dir, "C-1", &IssueOptions::default(), 1_060)
            .await
            .unwrap();
        assert!(everything(&b).await.contains(NAME), "{name}");
        assert_eq!(db.erase_customer("C-1", 1_070).await.unwrap(), 1_070);
        assert!(db.customer("C-1", 1_080).await.unwrap().is_none(), "{name}");
        assert_eq!(db.erased_at("C-1").await.unwrap(), Some(1_070), "{name}");
        assert_eq!(db.erased_at("C-2").await.unwrap(), None, "{name}");
        assert!(db.receipts("C-1").await.unwrap().is_empty(), "{name}");
        assert!(db.promotion("P-1").await.unwrap().is_none(), "{name}");
        for (table, left) in [
            ("customers", 1),
            ("savings_accounts", 1),
            ("customer_segments", 1),
            ("personal_promotions", 0),
            ("receipts", 0),
            ("issued_tokens", 0),
            ("revocations", 1),
            ("erased_customers", 1),
        ] {
            assert_eq!(db.count_rows(table).await.unwrap(), left, "{name}: {table}");
        }
        let all = everything(&b).await;
        assert!(
            !all.contains(NAME),
            "{name}: nothing personal is left after erasure"
        );
        assert!(
            matches!(
                db.erase_customer("C-1", 1_080).await,
                Err(Error::NotFound(_))
            ),
            "{name}"
        );
        assert!(
            matches!(
                db.create_customer(&customer("C-1", 0), 1_080).await,
                Err(Error::Conflict(_))
            ),
            "{name}"
        );
        assert!(
            db.customer_pass(&dir, "C-1", &IssueOptions::default(), 1_080)
                .await
                .is_err(),
            "{name}"
        );
        for kind in [
            DeltaKind::Customers,
            DeltaKind::Balances,
            DeltaKind::PersonalPromotions,
        ] {
            seen.push(page(db, &dir, kind, "S001", 1_090).await);
        }
        answers.push((name, seen));
    }
    if let [(_, sqlite), (_, postgresql)] = answers.as_slice() {
        assert_eq!(sqlite, postgresql, "both backends answer the same");
    }
}

#[tokio::test]
async fn gift_cards_are_created_read_blocked_owned_and_tokened_alike() {
    let mut answers = Vec::new();
    for b in backends("gift_card_admin").await {
        let (db, name) = (&b.db, b.name);
        let folder = tempfile::tempdir().unwrap();
        let dir = KeyDir::open(&folder.path().join("keys")).unwrap();
        db.init_keys(&dir, 1_000).await.unwrap();
        let mut seen = Vec::new();

        db.create_gift_card(&card("GC-1", 2_500, Some(90_000)), 1_000)
            .await
            .unwrap();
        assert!(
            matches!(
                db.create_gift_card(&card("GC-1", 1, None), 1_000).await,
                Err(Error::Conflict(_))
            ),
            "{name}"
        );
        assert!(
            matches!(
                db.create_gift_card(&card("GC-2", -1, None), 1_000).await,
                Err(Error::Invalid(_))
            ),
            "{name}"
        );
        assert_eq!(db.count_rows("gift_cards").await.unwrap(), 1, "{name}");
        seen.push(json_of(db.gift_card("GC-1").await.unwrap()));

        let blocked = db
            .set_gift_card_status("GC-1", GiftCardStatus::Blocked, 1_010)
            .await
            .unwrap();
        assert_eq!(blocked.status, GiftCardStatus::Blocked, "{name}");
        assert!(
            db.gift_card_token(&dir, "GC-1", &IssueOptions::default(), 1_010)
                .await
                .is_err(),
            "{name}: no token for a blocked card"
        );
        let active = db
            .set_gift_card_status("GC-1", GiftCardStatus::Active, 1_020)
            .await
            .unwrap();
        assert_eq!(active.status, GiftCardStatus::Active, "{name}");
        assert!(
            matches!(
                db.set_gift_card_status("NOPE", GiftCardStatus::Blocked, 1_020)
                    .await,
                Err(Error::NotFound(_))
            ),
            "{name}"
        );
        let token = db
            .gift_card_token(&dir, "GC-1", &IssueOptions::default(), 1_030)
            .await
            .unwrap();
        assert_eq!(token.subject, "GC-1", "{name}");
        seen.push(json_of(&active));
        seen.push(page(db, &dir, DeltaKind::GiftCards, "S001", 1_040).await);

        // An owner, as the chat sets it, is forgotten when the customer is erased; the
        // card stays.
        db.create_customer(&customer("C-1", 0), 1_000)
            .await
            .unwrap();
        execute(&b, "UPDATE gift_cards SET owner = 'C-1' WHERE ref = 'GC-1'").await;
        db.erase_customer("C-1", 1_050).await.unwrap();
        assert_eq!(
            count(
                &b,
                "SELECT count(*) FROM gift_cards WHERE owner IS NOT NULL"
            )
            .await,
            0,
            "{name}: the erased owner is forgotten"
        );
        seen.push(json_of(db.gift_card("GC-1").await.unwrap()));
        answers.push((name, seen));
    }
    if let [(_, sqlite), (_, postgresql)] = answers.as_slice() {
        assert_eq!(sqlite, postgresql, "both backends answer the same");
    }
}

fn ask(kind: LookupKind, subject: &str) -> LookupRequest {
    serde_json::from_value(json!({ "kind": kind, "subject": subject })).unwrap()
}

#[tokio::test]
async fn the_live_lookup_answers_the_same_on_both_backends() {
    let mut answers = Vec::new();
    for b in backends("live_lookup").await {
        let (db, name) = (&b.db, b.name);
        // A return window of 1,000 s: an earn at 1,000 is pending until 2,000.
        execute(
            &b,
            "INSERT INTO catalogs (source_sha256, body_cbor, promotions, published_at,
                                   activates_at, return_window_secs)
             VALUES ('x', x'00', 0, 0, 0, 1000)",
        )
        .await;
        let mut gold = customer("C-1", 300);
        gold.tier = Some("gold".into());
        db.create_customer(&gold, 1).await.unwrap();
        db.create_customer(&customer("C-2", 100), 1).await.unwrap();
        db.create_customer(&customer("C-3", 100), 1).await.unwrap();
        db.create_gift_card(&card("GC-1", 2_500, None), 1)
            .await
            .unwrap();
        db.create_gift_card(&card("GC-2", 900, None), 1)
            .await
            .unwrap();
        db.create_gift_card(&card("GC-3", 900, Some(1_500)), 1)
            .await
            .unwrap();
        db.set_gift_card_status("GC-2", GiftCardStatus::Blocked, 2)
            .await
            .unwrap();
        let t = till("S001-T01", "S001");
        let spend = card_move("GC-1", 3_000);
        let ack = db
            .ingest(
                &t,
                &batch(
                    &t,
                    events(
                        &t,
                        1,
                        vec![
                            earn("C-1", 200),
                            super::redeem("C-2", 150),
                            EventPayload::GiftCardDebited(spend),
                        ],
                    ),
                ),
                1_000,
            )
            .await
            .unwrap();
        assert_eq!(outcomes(&ack), ["accepted"; 3], "{name}");
        db.erase_customer("C-3", 1_100).await.unwrap();

        let mut seen = Vec::new();
        for now in [1_200, 2_000] {
            for (kind, subject) in [
                (LookupKind::Customer, "C-1"),
                (LookupKind::Customer, "C-2"),
                (LookupKind::Customer, "C-3"),
                (LookupKind::Customer, "NOBODY"),
                (LookupKind::GiftCard, "GC-1"),
                (LookupKind::GiftCard, "GC-2"),
                (LookupKind::GiftCard, "GC-3"),
                (LookupKind::GiftCard, "NOPE"),
            ] {
                let answer = db.lookup(&ask(kind, subject), now).await.unwrap();
                seen.push(json_of(answer));
            }
        }
        let found: Vec<bool> = seen.iter().map(|a| a["found"].as_bool().unwrap()).collect();
        assert_eq!(
            found,
            [
                true, true, false, false, true, false, true, false, // at 1,200
                true, true, false, false, true, false, false, false, // at 2,000
            ],
            "{name}"
        );
        assert_eq!(seen[0]["tier"], "gold", "{name}");
        assert_eq!(seen[0]["balance"]["amount"], 300, "{name}: pending held");
        assert_eq!(seen[8]["balance"]["amount"], 500, "{name}: due counts");
        assert_eq!(seen[1]["balance"]["amount"], 0, "{name}: debt is off");
        assert_eq!(seen[4]["balance"]["amount"], 0, "{name}: card debt is off");
        // Read-only: nothing was released.
        assert_eq!(db.pending("C-1").await.unwrap().amount, 200, "{name}");
        answers.push((name, seen));
    }
    if let [(_, sqlite), (_, postgresql)] = answers.as_slice() {
        assert_eq!(sqlite, postgresql, "both backends answer the same");
    }
}

#[tokio::test]
async fn the_ledger_stream_and_reconciliation_are_the_same_on_both_backends() {
    let mut answers = Vec::new();
    for b in backends("ledger_stream").await {
        let (db, name) = (&b.db, b.name);
        let folder = tempfile::tempdir().unwrap();
        let dir = KeyDir::open(&folder.path().join("keys")).unwrap();
        db.init_keys(&dir, 1_000).await.unwrap();
        db.create_customer(&customer("C-1", 1_000), 1)
            .await
            .unwrap();
        db.create_gift_card(&card("GC-1", 800, None), 1)
            .await
            .unwrap();
        let basis = |amount: i64| {
            Some(SpendBasis {
                source: BalanceSource::Snapshot,
                token_id: Some(TokenId::new(&[9; 8]).unwrap()),
                balance: eur(amount),
                as_of: 900,
            })
        };
        let spend = |amount: i64, snapshot: i64| {
            EventPayload::SavingsRedeemed(SavingsMovement {
                customer: CustomerRef::new("C-1").unwrap(),
                amount: eur(amount),
                sale_id: None,
                basis: basis(snapshot),
            })
        };
        let used = EventPayload::TokenUsed(TokenUsed {
            token_id: TokenId::new(&[9; 8]).unwrap(),
            kind: TokenKind::CustomerPass,
            subject: Subject::new("C-1").unwrap(),
            key_id: [1, 2, 3, 4],
            sale_id: None,
        });
        let (north, north_2, south) = (
            till("S001-T01", "S001"),
            till("S001-T02", "S001"),
            till("S002-T01", "S002"),
        );
        let mut card_spend = card_move("GC-1", 900);
        card_spend.basis = basis(900);
        // Each till spends offline from the same pass: together beyond the balance.
        for (t, payloads, now) in [
            (
                &north,
                vec![
                    used.clone(),
                    spend(600, 1_000),
                    EventPayload::GiftCardDebited(card_spend),
                ],
                10,
            ),
            (&south, vec![used, spend(700, 1_000)], 11),
            (&north_2, vec![earn("C-1", 500), spend(100, 1_000)], 12),
        ] {
            let ack = db
                .ingest(t, &batch(t, events(t, 1, payloads)), now)
                .await
                .unwrap();
            assert!(
                outcomes(&ack).iter().all(|o| o == "accepted"),
                "{name}: {ack:?}"
            );
        }
        let mut seen = Vec::new();
        for store in ["S001", "S002"] {
            let ledger = page(db, &dir, DeltaKind::Ledger, store, 100).await;
            assert!(
                !ledger["items"].as_array().unwrap().is_empty(),
                "{name}: {store} receives its ledger: {ledger}"
            );
            seen.push(ledger);
        }
        let text = seen[0].to_string();
        assert!(
            text.contains("\"gone\""),
            "{name}: the overspend a late journal undid is withdrawn: {text}"
        );
        assert!(text.contains("\"spend\""), "{name}: {text}");
        assert!(text.contains("token_at_two_stores"), "{name}: {text}");
        assert!(text.contains("overspend_debt"), "{name}: {text}");
        assert!(!text.contains("\"C-1\""), "{name}: references are masked");
        seen.push(json_of(db.flag_list().await.unwrap()));
        seen.push(json_of(db.debt_list().await.unwrap()));
        answers.push((name, seen));
    }
    if let [(_, sqlite), (_, postgresql)] = answers.as_slice() {
        assert_eq!(sqlite, postgresql, "both backends send the same ledger");
    }
}

#[tokio::test]
async fn adjustments_and_ingestion_on_one_account_at_once_all_count() {
    for b in backends("adjust_at_once").await {
        b.db.create_customer(&customer("C-1", 1_000), 1)
            .await
            .unwrap();
        let nodes = [
            b.db.clone(),
            Database::open(&b.location).await.unwrap(),
            Database::open(&b.location).await.unwrap(),
        ];
        let mut tasks = tokio::task::JoinSet::new();
        for n in 0..6_usize {
            let db = nodes[n % nodes.len()].clone();
            tasks.spawn(async move {
                for _ in 0..5 {
                    db.adjust_savings("C-1", 11, 10).await.unwrap();
                    db.adjust_savings("C-1", -4, 10).await.unwrap();
                }
            });
            let db = nodes[(n + 1) % nodes.len()].clone();
            tasks.spawn(async move {
                let t = till(&format!("S001-T{n:02}"), "S001");
                for k in 0..5_u64 {
                    let sent = events(&t, k + 1, vec![earn("C-1", 3)]);
                    let ack = db.ingest(&t, &batch(&t, sent), 10).await.unwrap();
                    assert_eq!(outcomes(&ack), ["accepted"]);
                }
            });
        }
        while let Some(done) = tasks.join_next().await {
            done.unwrap();
        }
        // 6 × 5 × (11 − 4) by the administrator, 6 × 5 × 3 by the tills.
        assert_eq!(
            b.db.savings("C-1").await.unwrap().unwrap().0,
            eur(1_000 + 210 + 90),
            "{}",
            b.name
        );
    }
}

/// The live lookup's latency through the contract on each backend (no HTTP):
/// `cargo test -p tillpass-central --test central lookup_contract_latency -- --ignored --nocapture`
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement, not a check"]
async fn lookup_contract_latency() {
    for b in backends("lookup_latency").await {
        for i in 0..200 {
            b.db.create_customer(&customer(&format!("C-{i}"), 100 + i), 1)
                .await
                .unwrap();
        }
        let mut took = Vec::new();
        for i in 0..2_000 {
            let asked = ask(LookupKind::Customer, &format!("C-{}", i % 200));
            let start = std::time::Instant::now();
            let answer = b.db.lookup(&asked, 10).await.unwrap();
            took.push(start.elapsed());
            assert!(answer.found);
        }
        took.sort();
        println!(
            "{}: lookup p50 {:?} p99 {:?} max {:?} over {} lookups",
            b.name,
            took[took.len() / 2],
            took[took.len() * 99 / 100],
            took[took.len() - 1],
            took.len()
        );
    }
}
