//! The storage contract suite: every case runs against SQLite and PostgreSQL (each
//! PostgreSQL case on a database of its own; skipped loudly without a server, see
//! [`crate::pg`]). A case states what [`Database`] promises, whichever backend holds it.

mod accounts;
mod batches;
mod commit_order;
mod retention;
mod scope;
mod serving;

use ed25519_dalek::SigningKey;
use tillpass_central::customers::NewCustomer;
use tillpass_central::enrol::Till;
use tillpass_central::giftcards::NewGiftCard;
use tillpass_central::journal::RawBatch;
use tillpass_central::storage::{Database, Location};
use tillpass_protocol::lang::Lang;
use tillpass_protocol::money::{Currency, Money};
use tillpass_protocol::sync::{
    AckOutcome, BatchAck, Consent, CustomerRef, EventPayload, GiftCardMovement, GiftCardRef,
    JournalEvent, LocalCustomer, RegionId, Reverses, SavingsMovement, SavingsReversal, StoreId,
    TillId, UploadBatch,
};

use crate::journal::{eur, sale};
use crate::pg::{self, TestDb};

/// One backend under test, with what keeps its files or database alive.
pub struct Backend {
    pub name: &'static str,
    pub db: Database,
    pub location: Location,
    keep: Keep,
}

enum Keep {
    Dir(#[allow(dead_code)] tempfile::TempDir),
    Pg(#[allow(dead_code)] TestDb),
}

impl Backend {
    /// SQLite, kept in `dir`.
    pub fn sqlite(db: Database, location: Location, dir: tempfile::TempDir) -> Backend {
        Backend {
            name: "sqlite",
            db,
            location,
            keep: Keep::Dir(dir),
        }
    }
}

/// SQLite in a temporary folder, and PostgreSQL when a server answers.
pub async fn backends(case: &str) -> Vec<Backend> {
    let dir = tempfile::tempdir().unwrap();
    let location = Location::Sqlite(dir.path().join("central.db"));
    let mut all = vec![Backend {
        name: "sqlite",
        db: Database::open(&location).await.unwrap(),
        location,
        keep: Keep::Dir(dir),
    }];
    if let Some(test_db) = pg::database(case).await {
        let location = Location::Postgres(test_db.url().to_owned());
        all.push(Backend {
            name: "postgresql",
            db: Database::open(&location).await.unwrap(),
            location,
            keep: Keep::Pg(test_db),
        });
    }
    all
}

pub fn till(id: &str, store: &str) -> Till {
    Till {
        id: TillId::new(id).unwrap(),
        store: StoreId::new(store).unwrap(),
        region: RegionId::new("R1").unwrap(),
        key: SigningKey::from_bytes(&[7; 32]).verifying_key(),
    }
}

/// Journal events of `till`, numbered from `first_seq`.
pub fn events(till: &Till, first_seq: u64, payloads: Vec<EventPayload>) -> Vec<JournalEvent> {
    payloads
        .into_iter()
        .zip(first_seq..)
        .map(|(p, seq)| JournalEvent::new(till.id.clone(), till.store.clone(), seq, 1_000, p))
        .collect()
}

pub fn batch(till: &Till, events: Vec<JournalEvent>) -> RawBatch {
    let upload = UploadBatch::new(till.id.clone(), events).unwrap();
    serde_json::from_value(serde_json::to_value(upload).unwrap()).unwrap()
}

/// Ingests `sent` as a till's relay does: a busy database (no turn on the connection in
/// time, or a lock held past the busy timeout) applied nothing and is asked again, with a
/// short backoff, until a deadline. Tests where several nodes contend for one database use
/// it: on a loaded machine a turn can take longer than central's wait.
pub async fn ingest_as_a_till(db: &Database, till: &Till, sent: &RawBatch, now: i64) -> BatchAck {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        match db.ingest(till, sent, now).await {
            Err(e) if e.is_busy() && tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
            answer => return answer.unwrap(),
        }
    }
}

/// Each event's answer: `accepted`, `duplicate` or the refusal's code.
pub fn outcomes(ack: &BatchAck) -> Vec<String> {
    ack.acks
        .iter()
        .map(|a| match &a.outcome {
            AckOutcome::Accepted => "accepted".to_owned(),
            AckOutcome::Duplicate => "duplicate".to_owned(),
            AckOutcome::Rejected { code, .. } => serde_json::to_value(code)
                .unwrap()
                .as_str()
                .unwrap()
                .to_owned(),
        })
        .collect()
}

pub fn customer(reference: &str, savings: i64) -> NewCustomer {
    NewCustomer {
        customer: CustomerRef::new(reference).unwrap(),
        first_name: "Ana".into(),
        tier: None,
        lang: Lang::default(),
        consent: Consent {
            receipts: true,
            marketing: false,
        },
        currency: Some(Currency::EUR),
        savings,
        segments: vec!["vip".into()],
    }
}

pub fn earn(customer: &str, amount: i64) -> EventPayload {
    EventPayload::SavingsEarned(SavingsMovement {
        customer: CustomerRef::new(customer).unwrap(),
        amount: eur(amount),
        sale_id: None,
        basis: None,
    })
}

pub fn redeem(customer: &str, amount: i64) -> EventPayload {
    EventPayload::SavingsRedeemed(SavingsMovement {
        customer: CustomerRef::new(customer).unwrap(),
        amount: eur(amount),
        sale_id: None,
        basis: None,
    })
}

pub fn card_move(card: &str, amount: i64) -> GiftCardMovement {
    GiftCardMovement {
        card: GiftCardRef::new(card).unwrap(),
        amount: eur(amount),
        sale_id: None,
        hold_id: None,
        basis: None,
    }
}

async fn savings(db: &Database, customer: &str) -> (i64, i64) {
    let (balance, debt) = db.savings(customer).await.unwrap().unwrap();
    (balance.amount, debt.amount)
}

#[tokio::test]
async fn a_database_opens_migrated_and_reopens_as_it_is() {
    for b in backends("opens_migrated").await {
        let latest = i64::try_from(b.db.latest_version()).unwrap();
        assert_eq!(b.db.schema_version().await.unwrap(), latest, "{}", b.name);
        b.db.create_customer(&customer("C-1", 100), 1)
            .await
            .unwrap();
        let again = Database::open(&b.location).await.unwrap();
        assert_eq!(again.schema_version().await.unwrap(), latest, "{}", b.name);
        assert_eq!(savings(&again, "C-1").await, (100, 0), "{}", b.name);
    }
}

#[tokio::test]
async fn savings_move_as_documented_and_a_shortfall_becomes_a_flagged_debt() {
    for b in backends("savings_move").await {
        let db = &b.db;
        let t = till("S001-T01", "S001");
        db.create_customer(&customer("C-1", 1000), 1).await.unwrap();
        let ack = db
            .ingest(&t, &batch(&t, events(&t, 1, vec![redeem("C-1", 300)])), 10)
            .await
            .unwrap();
        assert_eq!(outcomes(&ack), ["accepted"], "{}", b.name);
        assert_eq!(savings(db, "C-1").await, (700, 0), "{}", b.name);

        // An offline overspend: the balance goes to zero, the rest is debt, flagged.
        let ack = db
            .ingest(&t, &batch(&t, events(&t, 2, vec![redeem("C-1", 900)])), 11)
            .await
            .unwrap();
        assert_eq!(outcomes(&ack), ["accepted"], "{}", b.name);
        assert_eq!(savings(db, "C-1").await, (0, 200), "{}", b.name);
        assert_eq!(
            db.count_flags("overspend_debt").await.unwrap(),
            1,
            "{}",
            b.name
        );

        // Money coming in pays the debt first (no catalog: spendable at once).
        let ack = db
            .ingest(&t, &batch(&t, events(&t, 3, vec![earn("C-1", 500)])), 12)
            .await
            .unwrap();
        assert_eq!(outcomes(&ack), ["accepted"], "{}", b.name);
        assert_eq!(savings(db, "C-1").await, (300, 0), "{}", b.name);

        // A reversed earn stops at zero, flagged.
        let reverse = EventPayload::SavingsReversed(SavingsReversal {
            customer: CustomerRef::new("C-1").unwrap(),
            amount: eur(400),
            reverses: Reverses::Earn,
            original_event: None,
            sale_id: None,
        });
        let ack = db
            .ingest(&t, &batch(&t, events(&t, 4, vec![reverse])), 13)
            .await
            .unwrap();
        assert_eq!(outcomes(&ack), ["accepted"], "{}", b.name);
        assert_eq!(savings(db, "C-1").await, (0, 0), "{}", b.name);
        assert_eq!(
            db.count_flags("reversal_clamped").await.unwrap(),
            1,
            "{}",
            b.name
        );
    }
}

/// What a till that never held the customer or the card sends after spending from a
/// pass's snapshot or a gift-card token: the profile it made, then spends naming the
/// snapshot. Central applies them to its own balances; the snapshot is never the truth.
#[tokio::test]
async fn spends_from_a_snapshot_move_centrals_own_balances_and_overspend_is_debt() {
    use tillpass_protocol::sync::{BalanceSource, SpendBasis, TokenId};
    for b in backends("snapshot_spends").await {
        let db = &b.db;
        let t = till("S001-T02", "S001");
        db.create_customer(&customer("C-7", 1000), 1).await.unwrap();
        db.create_gift_card(
            &NewGiftCard {
                card: GiftCardRef::new("GC-7").unwrap(),
                balance: 800,
                currency: Some(Currency::EUR),
                expires_at: None,
            },
            1,
        )
        .await
        .unwrap();
        // The pass claimed €15.00 (stale: central holds €10.00); the card token €9.00.
        let basis = |amount: i64| {
            Some(SpendBasis {
                source: BalanceSource::Snapshot,
                token_id: Some(TokenId::new(&[9; 8]).unwrap()),
                balance: eur(amount),
                as_of: 900,
            })
        };
        let made = EventPayload::CustomerCreated(LocalCustomer {
            customer: CustomerRef::new("C-7").unwrap(),
            first_name: None,
            lang: None,
        });
        let spend = EventPayload::SavingsRedeemed(SavingsMovement {
            customer: CustomerRef::new("C-7").unwrap(),
            amount: eur(1200),
            sale_id: None,
            basis: basis(1500),
        });
        let mut card = card_move("GC-7", 900);
        card.basis = basis(900);
        let sent = events(
            &t,
            1,
            vec![made, spend, EventPayload::GiftCardDebited(card)],
        );
        let ack = db.ingest(&t, &batch(&t, sent.clone()), 10).await.unwrap();
        assert_eq!(
            outcomes(&ack),
            ["accepted", "accepted", "accepted"],
            "{}",
            b.name
        );
        // Central's balance, not the snapshot, is what moves: €2.00 and €1.00 of debt.
        assert_eq!(savings(db, "C-7").await, (0, 200), "{}", b.name);
        let held = db.gift_card("GC-7").await.unwrap().unwrap();
        assert_eq!((held.balance, held.debt), (eur(0), eur(100)), "{}", b.name);
        assert_eq!(
            db.count_flags("overspend_debt").await.unwrap(),
            2,
            "{}",
            b.name
        );
        // The profile the till made did not replace central's customer.
        assert_eq!(db.count_rows("customers").await.unwrap(), 1, "{}", b.name);
        // Sent again (a retry): applied once.
        let ack = db.ingest(&t, &batch(&t, sent), 11).await.unwrap();
        assert_eq!(
            outcomes(&ack),
            ["duplicate", "duplicate", "duplicate"],
            "{}",
            b.name
        );
        assert_eq!(savings(db, "C-7").await, (0, 200), "{}", b.name);
    }
}

#[tokio::test]
async fn an_event_id_is_applied_once_and_a_rejected_event_leaves_no_trace() {
    for b in backends("event_id_once").await {
        let db = &b.db;
        let t = till("S001-T01", "S001");
        db.create_customer(&customer("C-1", 1000), 1).await.unwrap();
        let sent = events(&t, 1, vec![redeem("C-1", 100), earn("NOBODY", 50)]);
        let ack = db.ingest(&t, &batch(&t, sent.clone()), 10).await.unwrap();
        assert_eq!(
            outcomes(&ack),
            ["accepted", "unknown_customer"],
            "{}",
            b.name
        );
        assert_eq!(db.count_rows("events").await.unwrap(), 1, "{}", b.name);

        let ack = db.ingest(&t, &batch(&t, sent.clone()), 11).await.unwrap();
        assert_eq!(
            outcomes(&ack),
            ["duplicate", "unknown_customer"],
            "{}",
            b.name
        );
        assert_eq!(savings(db, "C-1").await, (900, 0), "{}", b.name);

        // The same id with other content is a conflict, not a duplicate.
        let mut changed = sent[0].clone();
        changed.payload = redeem("C-1", 5);
        let ack = db.ingest(&t, &batch(&t, vec![changed]), 12).await.unwrap();
        assert_eq!(outcomes(&ack), ["id_conflict"], "{}", b.name);

        // The rejected event is judged afresh once its customer exists.
        db.create_customer(&customer("NOBODY", 0), 13)
            .await
            .unwrap();
        let ack = db
            .ingest(&t, &batch(&t, vec![sent[1].clone()]), 14)
            .await
            .unwrap();
        assert_eq!(outcomes(&ack), ["accepted"], "{}", b.name);
        assert_eq!(savings(db, "NOBODY").await, (50, 0), "{}", b.name);
        assert_eq!(db.count_rows("events").await.unwrap(), 2, "{}", b.name);
    }
}

#[tokio::test]
async fn a_sale_id_used_twice_in_one_batch_keeps_the_first_and_its_return_finds_it() {
    for b in backends("sale_id_twice").await {
        let db = &b.db;
        let t = till("S001-T01", "S001");
        db.create_customer(&customer("C-1", 0), 1).await.unwrap();
        let ret = EventPayload::ReturnRecorded(tillpass_protocol::sync::ReturnRecorded {
            return_id: tillpass_protocol::sync::SaleId::new("R-1").unwrap(),
            original_sale_id: tillpass_protocol::sync::SaleId::new("S-1").unwrap(),
            customer: None,
            lines: vec![tillpass_protocol::sync::ReturnLine {
                line_id: "1".into(),
                quantity: tillpass_protocol::sync::Quantity::Units(2),
                refund: eur(1000),
                discount: None,
                savings_reversed: None,
            }],
            refunds: vec![],
            savings_reversed: eur(0),
        });
        let sent = events(
            &t,
            1,
            vec![
                sale("C-1", "S-1"),
                sale("C-1", "S-1"),
                ret,
                sale("C-1", "S-2"),
            ],
        );
        let ack = db.ingest(&t, &batch(&t, sent), 10).await.unwrap();
        assert_eq!(
            outcomes(&ack),
            ["accepted", "accepted", "accepted", "accepted"],
            "{}",
            b.name
        );
        assert_eq!(
            ack.acks[2].flags,
            [tillpass_protocol::sync::EventFlag::ReturnExceedsSale],
            "{}",
            b.name
        );
        assert_eq!(db.count_rows("store_sales").await.unwrap(), 2, "{}", b.name);
        // As SQLite keeps it: a change per sale kept (S-1 once, S-2), the return's, the
        // flag's, and the customer's feeds once the store knows them.
        assert_eq!(db.count_rows("changes").await.unwrap(), 8, "{}", b.name);
    }
}

#[tokio::test]
async fn an_id_repeated_in_one_batch_is_judged_at_its_turn() {
    for b in backends("id_repeated").await {
        let db = &b.db;
        let t = till("S001-T01", "S001");
        db.create_customer(&customer("C-1", 1000), 1).await.unwrap();
        let sent = events(&t, 1, vec![earn("NOBODY", 50), redeem("C-1", 100)]);
        // Refused, its id is free again for the next event that has it.
        let mut again = sent[0].clone();
        again.payload = redeem("C-1", 100);
        let mut other = sent[1].clone();
        other.payload = redeem("C-1", 7);
        let repeated = vec![
            sent[0].clone(),
            again.clone(),
            again,
            sent[1].clone(),
            other,
        ];
        let ack = db.ingest(&t, &batch(&t, repeated), 10).await.unwrap();
        assert_eq!(
            outcomes(&ack),
            [
                "unknown_customer",
                "accepted",
                "duplicate",
                "accepted",
                "id_conflict"
            ],
            "{}",
            b.name
        );
        assert_eq!(savings(db, "C-1").await, (800, 0), "{}", b.name);
        assert_eq!(db.count_rows("events").await.unwrap(), 2, "{}", b.name);
    }
}

#[tokio::test]
async fn a_refused_event_undoes_the_release_it_made_and_the_next_one_releases() {
    for b in backends("release_refused").await {
        let db = &b.db;
        let t = till("S001-T01", "S001");
        execute(
            &b,
            "INSERT INTO catalogs (source_sha256, body_cbor, promotions, published_at,
                                   activates_at, return_window_secs)
             VALUES ('x', x'00', 0, 0, 0, 1000)",
        )
        .await;
        db.create_customer(&customer("C-1", 40), 1).await.unwrap();
        let ack = db
            .ingest(&t, &batch(&t, events(&t, 1, vec![earn("C-1", 100)])), 1_000)
            .await
            .unwrap();
        assert_eq!(outcomes(&ack), ["accepted"], "{}", b.name);
        // Due at 2,000: the first event releases it, then is refused; the second
        // releases it again and spends from it; the earn (at 1,000) is due at once.
        let usd = EventPayload::SavingsRedeemed(SavingsMovement {
            customer: CustomerRef::new("C-1").unwrap(),
            amount: Money::new(10, Currency::from_code("USD").unwrap()),
            sale_id: None,
            basis: None,
        });
        let sent = events(&t, 2, vec![usd, redeem("C-1", 120), earn("C-1", 5)]);
        let ack = db.ingest(&t, &batch(&t, sent), 3_000).await.unwrap();
        assert_eq!(
            outcomes(&ack),
            ["currency_mismatch", "accepted", "accepted"],
            "{}",
            b.name
        );
        assert_eq!(savings(db, "C-1").await, (25, 0), "{}", b.name);
        assert_eq!(db.count_rows("events").await.unwrap(), 3, "{}", b.name);
        assert_eq!(
            db.count_rows("pending_savings").await.unwrap(),
            0,
            "{}",
            b.name
        );
    }
}

#[tokio::test]
async fn gift_cards_move_and_an_unknown_card_is_refused() {
    for b in backends("gift_cards_move").await {
        let db = &b.db;
        let t = till("S001-T01", "S001");
        let card = NewGiftCard {
            card: GiftCardRef::new("GC-1").unwrap(),
            balance: 500,
            currency: Some(Currency::EUR),
            expires_at: None,
        };
        db.create_gift_card(&card, 1).await.unwrap();
        assert!(db.create_gift_card(&card, 1).await.is_err(), "{}", b.name);
        let sent = events(
            &t,
            1,
            vec![
                EventPayload::GiftCardDebited(card_move("GC-1", 700)),
                EventPayload::GiftCardCredited(card_move("GC-1", 250)),
                EventPayload::GiftCardDebited(card_move("GC-404", 1)),
            ],
        );
        let ack = db.ingest(&t, &batch(&t, sent), 10).await.unwrap();
        assert_eq!(
            outcomes(&ack),
            ["accepted", "accepted", "unknown_gift_card"],
            "{}",
            b.name
        );
        let card = db.gift_card("GC-1").await.unwrap().unwrap();
        assert_eq!((card.balance, card.debt), (eur(50), eur(0)), "{}", b.name);
        assert_eq!(db.count_rows("debts").await.unwrap(), 1, "{}", b.name);
    }
}

#[tokio::test]
async fn a_till_made_customer_a_sale_and_its_return_are_kept_for_the_store() {
    for b in backends("customer_sale_return").await {
        let db = &b.db;
        let t = till("S001-T01", "S001");
        let local = EventPayload::CustomerCreated(LocalCustomer {
            customer: CustomerRef::new("L-1").unwrap(),
            first_name: Some("Luz".into()),
            lang: None,
        });
        let ret = EventPayload::ReturnRecorded(tillpass_protocol::sync::ReturnRecorded {
            return_id: tillpass_protocol::sync::SaleId::new("R-1").unwrap(),
            original_sale_id: tillpass_protocol::sync::SaleId::new("S-1").unwrap(),
            customer: None,
            lines: vec![tillpass_protocol::sync::ReturnLine {
                line_id: "1".into(),
                quantity: tillpass_protocol::sync::Quantity::Units(2),
                refund: eur(1000),
                discount: None,
                savings_reversed: None,
            }],
            refunds: vec![],
            savings_reversed: eur(0),
        });
        db.create_customer(&customer("C-1", 0), 1).await.unwrap();
        let sent = events(&t, 1, vec![local, sale("C-1", "S-1"), ret]);
        let ack = db.ingest(&t, &batch(&t, sent), 10).await.unwrap();
        assert_eq!(
            outcomes(&ack),
            ["accepted", "accepted", "accepted"],
            "{}",
            b.name
        );
        assert_eq!(
            ack.acks[2].flags,
            [tillpass_protocol::sync::EventFlag::ReturnExceedsSale],
            "{}: two of one sold",
            b.name
        );
        assert_eq!(savings(db, "L-1").await, (0, 0), "{}", b.name);
        assert_eq!(db.count_rows("store_sales").await.unwrap(), 1, "{}", b.name);
        assert_eq!(
            db.count_rows("store_returns").await.unwrap(),
            1,
            "{}",
            b.name
        );
        assert_eq!(db.count_rows("receipts").await.unwrap(), 1, "{}", b.name);

        // The store's ledger carries the flag, the sale masked; another store's does not.
        let folder = tempfile::tempdir().unwrap();
        let dir = tillpass_central::keys::KeyDir::open(&folder.path().join("keys")).unwrap();
        db.init_keys(&dir, 1).await.unwrap();
        let sync = db
            .active_key(&dir, tillpass_central::keys::Purpose::Sync)
            .await
            .unwrap();
        let ledger = |store: &'static str| {
            let sync = sync.clone();
            async move {
                let page = db
                    .delta_page(
                        tillpass_protocol::sync::DeltaKind::Ledger,
                        &tillpass_protocol::sync::DeltaQuery::default(),
                        &StoreId::new(store).unwrap(),
                        &sync,
                        20,
                    )
                    .await
                    .unwrap();
                serde_json::to_value(page).unwrap()["items"].clone()
            }
        };
        let here = ledger("S001").await.to_string();
        assert!(here.contains("return_exceeds_sale"), "{}: {here}", b.name);
        assert!(!here.contains("\"S-1\""), "{}: masked: {here}", b.name);
        let elsewhere = ledger("S002").await.to_string();
        assert!(
            !elsewhere.contains("return_exceeds_sale"),
            "{}: {elsewhere}",
            b.name
        );
    }
}

#[tokio::test]
async fn one_batch_retried_by_two_nodes_at_once_is_applied_once() {
    for b in backends("two_nodes_one_batch").await {
        let first = b.db.clone();
        let second = Database::open(&b.location).await.unwrap();
        let t = till("S001-T01", "S001");
        first.create_customer(&customer("C-1", 0), 1).await.unwrap();
        let payloads = (0..50).map(|_| earn("C-1", 10)).collect();
        let sent = batch(&t, events(&t, 1, payloads));
        for round in 0..5 {
            let (a, c) = tokio::join!(
                ingest_as_a_till(&first, &t, &sent, 10 + round),
                ingest_as_a_till(&second, &t, &sent, 10 + round)
            );
            let (a, c) = (outcomes(&a), outcomes(&c));
            for (x, y) in a.iter().zip(&c) {
                let mut pair = [x.as_str(), y.as_str()];
                pair.sort_unstable();
                let expected = if round == 0 {
                    ["accepted", "duplicate"]
                } else {
                    ["duplicate", "duplicate"]
                };
                assert_eq!(pair, expected, "{}", b.name);
            }
        }
        assert_eq!(savings(&first, "C-1").await, (500, 0), "{}", b.name);
        assert_eq!(first.count_rows("events").await.unwrap(), 50, "{}", b.name);
    }
}

#[tokio::test]
async fn batches_from_many_tills_on_one_account_at_once_all_count() {
    for b in backends("many_tills_one_account").await {
        b.db.create_customer(&customer("C-1", 10_000), 1)
            .await
            .unwrap();
        let nodes = [
            b.db.clone(),
            Database::open(&b.location).await.unwrap(),
            Database::open(&b.location).await.unwrap(),
        ];
        let mut tasks = tokio::task::JoinSet::new();
        for n in 0..12_u32 {
            let db = nodes[usize::try_from(n).unwrap() % nodes.len()].clone();
            tasks.spawn(async move {
                let t = till(&format!("S001-T{n:02}"), "S001");
                for k in 0..5_u64 {
                    let sent = events(&t, k * 2 + 1, vec![earn("C-1", 7), redeem("C-1", 3)]);
                    let ack = ingest_as_a_till(&db, &t, &batch(&t, sent), 10).await;
                    assert_eq!(outcomes(&ack), ["accepted", "accepted"]);
                }
            });
        }
        while let Some(done) = tasks.join_next().await {
            done.unwrap();
        }
        // 12 tills × 5 batches × (7 − 3).
        assert_eq!(savings(&b.db, "C-1").await, (10_000 + 240, 0), "{}", b.name);
        assert_eq!(b.db.count_rows("events").await.unwrap(), 120, "{}", b.name);
    }
}

#[tokio::test]
async fn a_batch_in_another_currency_is_refused_per_event() {
    for b in backends("currency_mismatch").await {
        let db = &b.db;
        let t = till("S001-T01", "S001");
        db.create_customer(&customer("C-1", 100), 1).await.unwrap();
        let usd = EventPayload::SavingsRedeemed(SavingsMovement {
            customer: CustomerRef::new("C-1").unwrap(),
            amount: Money::new(10, Currency::from_code("USD").unwrap()),
            sale_id: None,
            basis: None,
        });
        let ack = db
            .ingest(&t, &batch(&t, events(&t, 1, vec![usd])), 10)
            .await
            .unwrap();
        assert_eq!(outcomes(&ack), ["currency_mismatch"], "{}", b.name);
        assert_eq!(savings(db, "C-1").await, (100, 0), "{}", b.name);
    }
}

#[tokio::test]
async fn a_pass_used_at_two_stores_is_flagged_and_holds_are_kept_and_released() {
    use tillpass_protocol::sync::{
        EventFlag, GiftCardHold, GiftCardRelease, HoldId, Subject, TokenId, TokenKind, TokenUsed,
    };
    for b in backends("tokens_and_holds").await {
        let db = &b.db;
        let used = |kind| {
            EventPayload::TokenUsed(TokenUsed {
                token_id: TokenId::new(&[9; 8]).unwrap(),
                kind,
                subject: Subject::new("C-1").unwrap(),
                key_id: [1, 2, 3, 4],
                sale_id: None,
            })
        };
        let (north, south) = (till("S001-T01", "S001"), till("S002-T01", "S002"));
        let ack = db
            .ingest(
                &north,
                &batch(
                    &north,
                    events(&north, 1, vec![used(TokenKind::CustomerPass)]),
                ),
                10,
            )
            .await
            .unwrap();
        assert!(ack.acks[0].flags.is_empty(), "{}", b.name);
        let ack = db
            .ingest(
                &south,
                &batch(
                    &south,
                    events(&south, 1, vec![used(TokenKind::CustomerPass)]),
                ),
                11,
            )
            .await
            .unwrap();
        assert_eq!(outcomes(&ack), ["accepted"], "{}", b.name);
        assert_eq!(
            ack.acks[0].flags,
            [EventFlag::TokenAtTwoStores],
            "{}",
            b.name
        );
        assert_eq!(
            db.count_flags("token_at_two_stores").await.unwrap(),
            1,
            "{}",
            b.name
        );
        assert_eq!(db.count_rows("token_uses").await.unwrap(), 2, "{}", b.name);

        db.create_gift_card(
            &NewGiftCard {
                card: GiftCardRef::new("GC-1").unwrap(),
                balance: 500,
                currency: Some(Currency::EUR),
                expires_at: None,
            },
            1,
        )
        .await
        .unwrap();
        let hold = |card: &str, id: &str| {
            EventPayload::GiftCardHeld(GiftCardHold {
                card: GiftCardRef::new(card).unwrap(),
                hold_id: HoldId::new(id).unwrap(),
                amount: eur(200),
                expires_at: 100,
            })
        };
        let release = EventPayload::GiftCardReleased(GiftCardRelease {
            card: GiftCardRef::new("GC-1").unwrap(),
            hold_id: HoldId::new("h1").unwrap(),
        });
        let sent = events(
            &north,
            2,
            vec![hold("GC-1", "h1"), hold("GC-404", "h2"), release],
        );
        let ack = db.ingest(&north, &batch(&north, sent), 12).await.unwrap();
        assert_eq!(
            outcomes(&ack),
            ["accepted", "unknown_gift_card", "accepted"],
            "{}",
            b.name
        );
        assert_eq!(
            db.count_rows("gift_card_holds").await.unwrap(),
            1,
            "{}",
            b.name
        );
        let card = db.gift_card("GC-1").await.unwrap().unwrap();
        assert_eq!(card.balance, eur(500), "{}: a hold moves no money", b.name);
    }
}

#[tokio::test]
async fn nodes_starting_together_migrate_once_and_a_newer_schema_is_refused() {
    let Some(test_db) = pg::database("migrate_together").await else {
        return;
    };
    let location = Location::Postgres(test_db.url().to_owned());
    let (a, b, c) = tokio::join!(
        Database::open(&location),
        Database::open(&location),
        Database::open(&location)
    );
    for db in [a.unwrap(), b.unwrap(), c.unwrap()] {
        let latest = i64::try_from(db.latest_version()).unwrap();
        assert_eq!(db.schema_version().await.unwrap(), latest);
    }
    let client = crate::pg::connect(test_db.url()).await;
    client
        .batch_execute("UPDATE schema_version SET version = 999")
        .await
        .unwrap();
    let refused = Database::open(&location).await.unwrap_err();
    assert!(
        refused.to_string().contains("newer than this build"),
        "{refused}"
    );
}

/// Runs `sql` (no parameters) on a backend's database, as a tool outside central would.
async fn execute(b: &Backend, sql: &str) {
    match &b.location {
        Location::Sqlite(path) => {
            rusqlite::Connection::open(path)
                .unwrap()
                .execute_batch(sql)
                .unwrap();
        }
        Location::Postgres(url) => {
            let client = crate::pg::connect(url).await;
            // PostgreSQL writes a byte string as '\x…', not SQLite's x'…'.
            let sql = sql.replace("x'00'", "'\\x00'::bytea");
            client.batch_execute(&sql).await.unwrap();
        }
    }
}

#[tokio::test]
async fn an_earn_stays_pending_for_the_return_window_then_is_released_by_central() {
    for b in backends("pending_window").await {
        let db = &b.db;
        let t = till("S001-T01", "S001");
        // A catalog in force with a return window of 1,000 s (kept beside its body).
        execute(
            &b,
            "INSERT INTO catalogs (source_sha256, body_cbor, promotions, published_at,
                                   activates_at, return_window_secs)
             VALUES ('x', x'00', 0, 0, 0, 1000)",
        )
        .await;
        db.create_customer(&customer("C-1", 40), 1).await.unwrap();
        // Events happen at 1,000 (the till's clock): pending until 2,000.
        let ack = db
            .ingest(&t, &batch(&t, events(&t, 1, vec![earn("C-1", 100)])), 1_000)
            .await
            .unwrap();
        assert_eq!(outcomes(&ack), ["accepted"], "{}", b.name);
        assert_eq!(
            savings(db, "C-1").await,
            (40, 0),
            "{}: not spendable",
            b.name
        );
        let pending = db.pending("C-1").await.unwrap();
        assert_eq!(
            (pending.amount, pending.next_release_at),
            (100, Some(2_000)),
            "{}",
            b.name
        );

        // A return takes back from pending first, never below zero.
        let reverse = EventPayload::SavingsReversed(SavingsReversal {
            customer: CustomerRef::new("C-1").unwrap(),
            amount: eur(30),
            reverses: Reverses::Earn,
            original_event: None,
            sale_id: None,
        });
        let ack = db
            .ingest(&t, &batch(&t, events(&t, 2, vec![reverse])), 1_500)
            .await
            .unwrap();
        assert_eq!(outcomes(&ack), ["accepted"], "{}", b.name);
        assert_eq!(db.pending("C-1").await.unwrap().amount, 70, "{}", b.name);
        assert_eq!(savings(db, "C-1").await, (40, 0), "{}", b.name);

        // Past the window, central releases before it moves the balance.
        let ack = db
            .ingest(
                &t,
                &batch(&t, events(&t, 3, vec![redeem("C-1", 100)])),
                2_500,
            )
            .await
            .unwrap();
        assert_eq!(outcomes(&ack), ["accepted"], "{}", b.name);
        assert_eq!(db.pending("C-1").await.unwrap().amount, 0, "{}", b.name);
        assert_eq!(savings(db, "C-1").await, (10, 0), "{}", b.name);
    }
}

#[tokio::test]
async fn a_database_answers_a_ping_until_it_is_gone() {
    for b in backends("ping").await {
        b.db.ping().await.unwrap();
        if let Keep::Pg(test_db) = b.keep {
            // Dropping the database ends its connections: the pool's next ping fails.
            drop(test_db);
            assert!(b.db.ping().await.is_err(), "{}", b.name);
        }
    }
}

#[tokio::test]
async fn readyz_answers_when_the_database_does() {
    let central = crate::util::Central::start().await;
    let response = central
        .client
        .get(central.url("/readyz"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), reqwest::StatusCode::OK);
    assert_eq!(response.text().await.unwrap(), "ready\n");
}

/// Ingestion's rate on each backend: `TILLS` tills upload `BATCHES` batches of
/// `EVENTS` savings events each, all at once, across 2,000 customers. Run it with
/// `cargo test -p tillpass-central --test central --release -- --ignored ingest_rate`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement, not a check"]
async fn ingest_rate() {
    use std::io::Write;
    const TILLS: u32 = 20;
    const BATCHES: u64 = 20;
    const EVENTS: u64 = 50;
    const CUSTOMERS: u64 = 2_000;
    for b in backends("ingest_rate").await {
        for c in 0..CUSTOMERS {
            b.db.create_customer(&customer(&format!("C-{c}"), 1_000_000), 1)
                .await
                .unwrap();
        }
        let started = std::time::Instant::now();
        let mut tasks = tokio::task::JoinSet::new();
        for n in 0..TILLS {
            let db = b.db.clone();
            tasks.spawn(async move {
                let t = till(&format!("S{:03}-T01", n), &format!("S{:03}", n));
                for k in 0..BATCHES {
                    let payloads = (0..EVENTS)
                        .map(|e| {
                            let who =
                                format!("C-{}", (u64::from(n) * 7919 + k * 31 + e) % CUSTOMERS);
                            if e % 3 == 0 {
                                redeem(&who, 5)
                            } else {
                                earn(&who, 10)
                            }
                        })
                        .collect();
                    let sent = events(&t, k * EVENTS + 1, payloads);
                    let ack = ingest_as_a_till(&db, &t, &batch(&t, sent), 10).await;
                    assert!(outcomes(&ack).iter().all(|o| o == "accepted"));
                }
            });
        }
        while let Some(done) = tasks.join_next().await {
            done.unwrap();
        }
        let elapsed = started.elapsed().as_secs_f64();
        let total = f64::from(TILLS) * (BATCHES * EVENTS) as f64;
        let _ = writeln!(
            std::io::stderr(),
            "ingest_rate {}: {total} events in {elapsed:.2} s = {:.0} events/s \
             ({TILLS} tills at once, batches of {EVENTS})",
            b.name,
            total / elapsed
        );
        assert_eq!(
            b.db.count_rows("events").await.unwrap(),
            i64::from(TILLS) * i64::try_from(BATCHES * EVENTS).unwrap()
        );
    }
}

/// The WhatsApp channel's tables on each backend: a delivery is stored once, a refused
/// signature stores nothing, sign-up creates the customer with its evidence, a sale's
/// receipt is queued by ingestion and sent, and statuses never move a message backwards.
#[tokio::test]
async fn the_whatsapp_channel_keeps_its_tables_on_both_backends() {
    use tillpass_central::whatsapp::{Channel, Refusal, handle, signature, store, worker};

    let graph = crate::graph::Graph::start().await;
    for (n, backend) in backends("whatsapp_channel").await.into_iter().enumerate() {
        let db = &backend.db;
        let channel = Channel::new(
            graph.config(None),
            db.clone(),
            None,
            tillpass_central::clock::system(),
        )
        .unwrap();
        let phone = format!("3461300000{n}");
        let signed = |body: &serde_json::Value| {
            let raw = serde_json::to_vec(body).unwrap();
            let header = signature::sign(crate::graph::SECRET.as_bytes(), &raw);
            (raw, header)
        };
        let work = || async {
            while worker::inbox_pass(&channel).await.unwrap() {}
            while worker::outbox_pass(&channel).await.unwrap() {}
        };

        let hello = format!("wamid.hello.{n}");
        let (raw, header) = signed(&crate::graph::text(&phone, &hello, "hola"));
        assert!(matches!(
            channel.receive(&raw, None).await,
            Err(Refusal::Signature)
        ));
        assert_eq!(
            db.count_rows("wa_inbox").await.unwrap(),
            0,
            "{}",
            backend.name
        );
        assert_eq!(channel.receive(&raw, Some(&header)).await.unwrap(), 1);
        assert_eq!(
            channel.receive(&raw, Some(&header)).await.unwrap(),
            0,
            "a duplicate"
        );
        work().await;
        assert_eq!(graph.sent_to(&phone).len(), 1, "{}", backend.name);

        let accept = format!("wamid.accept.{n}");
        let (raw, header) = signed(&crate::graph::tap(
            &phone,
            &accept,
            tillpass_central::whatsapp::intent::button::ACCEPT,
            "Acepto / I agree",
        ));
        channel.receive(&raw, Some(&header)).await.unwrap();
        work().await;
        let customer = handle::reference_for(&accept);
        assert!(
            db.savings(&customer).await.unwrap().is_some(),
            "{}",
            backend.name
        );
        let evidence = store::evidence(db, &customer).await.unwrap();
        assert_eq!(evidence.len(), 2);
        assert_eq!(evidence[0].terms_version.as_deref(), Some("2026-01"));
        assert_eq!(evidence[0].message_id.as_deref(), Some(accept.as_str()));

        let till = till("T1", "S1");
        let ack = db
            .ingest(
                &till,
                &batch(&till, events(&till, 1, vec![sale(&customer, "W-1")])),
                1_000,
            )
            .await
            .unwrap();
        assert_eq!(outcomes(&ack), ["accepted"]);
        work().await;
        let receipt = graph.sent_to(&phone).pop().unwrap();
        assert!(
            receipt["text"]["body"]
                .as_str()
                .unwrap()
                .starts_with("Recibo W-1"),
            "{} {receipt}",
            backend.name
        );

        let wamid = receipt["id"].as_str().unwrap().to_owned();
        for state in ["read", "delivered"] {
            let (raw, header) = signed(&crate::graph::status(&wamid, state, &phone));
            channel.receive(&raw, Some(&header)).await.unwrap();
        }
        work().await;
        let key = format!("receipt:{}:W-1", till.id);
        assert_eq!(
            store::outbox_state(db, &key).await.unwrap().unwrap().0,
            "read",
            "{}",
            backend.name
        );
        let report = store::status(db).await.unwrap();
        assert_eq!(report.inbox_pending, 0);
        assert_eq!(report.receipts_queued, 0);
    }
}
