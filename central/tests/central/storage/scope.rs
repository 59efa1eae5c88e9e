//! The contract cases of scoped feeds, on both backends: a customer's changes reach the
//! stores where the customer is known — seen there, assigned, looked up — and every store
//! while known nowhere; a store entering a scope receives the current state; a lapsed
//! scope stops the changes; an erasure reaches every store.

use ed25519_dalek::SigningKey;
use serde_json::Value;
use tillpass_central::giftcards::NewGiftCard;
use tillpass_central::storage::Database;
use tillpass_protocol::sync::{Cursor, DeltaKind, DeltaQuery, GiftCardRef, LookupKind, StoreId};

use super::{backends, batch, card_move, customer, earn, events, outcomes, till};
use crate::journal::sale;

const DAY: i64 = 86_400;

/// Every item of `kind` a till of `store` receives after `cursor`, page by page, and the
/// cursor after them.
async fn pull(
    db: &Database,
    kind: DeltaKind,
    store: &str,
    cursor: &Cursor,
    now: i64,
) -> (Vec<Value>, Cursor) {
    pull_as(db, kind, store, cursor, now, 1).await
}

/// [`pull`], as a till speaking round `protocol`.
async fn pull_as(
    db: &Database,
    kind: DeltaKind,
    store: &str,
    cursor: &Cursor,
    now: i64,
    protocol: u16,
) -> (Vec<Value>, Cursor) {
    let key = SigningKey::from_bytes(&[9; 32]);
    let store = StoreId::new(store).unwrap();
    let mut cursor = cursor.clone();
    let mut items = Vec::new();
    for _ in 0..10_000 {
        let query = DeltaQuery {
            cursor: cursor.clone(),
            limit: Some(2),
        };
        let page = db
            .round_page(kind, &query, &store, &key, now, protocol)
            .await
            .unwrap();
        let page = serde_json::to_value(page).unwrap();
        items.extend(page["items"].as_array().unwrap().iter().cloned());
        cursor = serde_json::from_value(page["next_cursor"].clone()).unwrap();
        if !page["has_more"].as_bool().unwrap() {
            return (items, cursor);
        }
    }
    panic!("{kind}: pages never ended");
}

/// Whether `items` name `reference`.
fn names(items: &[Value], reference: &str) -> bool {
    let quoted = format!("\"{reference}\"");
    items.iter().any(|i| i.to_string().contains(&quoted))
}

/// The stores (of `stores`) whose tills receive a `kind` item naming `reference` after
/// their `cursors`; the cursors move on.
async fn reached(
    db: &Database,
    kind: DeltaKind,
    stores: &[&str],
    cursors: &mut [Cursor],
    reference: &str,
    now: i64,
) -> Vec<String> {
    let mut found = Vec::new();
    for (store, cursor) in stores.iter().zip(cursors.iter_mut()) {
        let (items, next) = pull(db, kind, store, cursor, now).await;
        if names(&items, reference) {
            found.push((*store).to_owned());
        }
        *cursor = next;
    }
    found
}

#[tokio::test]
async fn a_customers_changes_reach_the_stores_where_they_are_known() {
    let stores = ["S1", "S2", "S3", "S4"];
    for b in backends("scope_customer").await {
        let (db, name) = (&b.db, b.name);
        let t0 = 1_000 * DAY;
        db.create_customer(&customer("C-1", 500), t0).await.unwrap();
        db.create_customer(&customer("C-2", 500), t0).await.unwrap();
        let mut balances = vec![Cursor::start(); 4];
        let mut profiles = vec![Cursor::start(); 4];
        // Known nowhere yet: every store receives both.
        assert_eq!(
            reached(db, DeltaKind::Balances, &stores, &mut balances, "C-1", t0).await,
            stores,
            "{name}"
        );
        reached(db, DeltaKind::Customers, &stores, &mut profiles, "C-1", t0).await;

        // C-1 shops at S1: their balance changes reach S1's tills only.
        let t1 = till("S1-T1", "S1");
        let mut evs = events(&t1, 1, vec![sale("C-1", "SALE-1"), earn("C-1", 40)]);
        for e in &mut evs {
            e.occurred_at = t0 + 10;
        }
        let ack = db.ingest(&t1, &batch(&t1, evs), t0 + 20).await.unwrap();
        assert_eq!(outcomes(&ack), ["accepted", "accepted"], "{name}");
        reached(
            db,
            DeltaKind::Balances,
            &stores,
            &mut balances,
            "C-1",
            t0 + 30,
        )
        .await;
        db.adjust_savings("C-1", 100, t0 + 40).await.unwrap();
        assert_eq!(
            reached(
                db,
                DeltaKind::Balances,
                &stores,
                &mut balances,
                "C-1",
                t0 + 50
            )
            .await,
            ["S1"],
            "{name}: a balance change of a customer who shopped at S1"
        );
        // C-2, known nowhere, still reaches every store.
        db.adjust_savings("C-2", 100, t0 + 40).await.unwrap();
        let mut again = balances.clone();
        assert_eq!(
            reached(db, DeltaKind::Balances, &stores, &mut again, "C-2", t0 + 50).await,
            stores,
            "{name}: a customer known nowhere"
        );

        // Assigned to S2: S2 receives the current state, though older than its cursors.
        let assigned = db
            .assign_stores("C-1", &["S2".to_owned()], t0 + 60)
            .await
            .unwrap()
            .unwrap();
        assert!(!assigned.everywhere, "{name}");
        assert_eq!(assigned.stores.len(), 2, "{name}: S1 seen, S2 assigned");
        let (items, next) = pull(db, DeltaKind::Balances, "S2", &balances[1], t0 + 70).await;
        assert!(names(&items, "C-1"), "{name}: S2 receives C-1's balance");
        assert!(
            items
                .iter()
                .any(|i| i["savings"]["amount"] == 640 || i.to_string().contains("640")),
            "{name}: the current balance (500 + 40 + 100): {items:?}"
        );
        balances[1] = next;
        assert_eq!(
            reached(
                db,
                DeltaKind::Customers,
                &stores[1..],
                &mut profiles[1..],
                "C-1",
                t0 + 70
            )
            .await,
            ["S2"],
            "{name}: S2 receives the profile, S3 and S4 do not"
        );

        // A till of S3 looks C-1 up live: S3 is added.
        db.see_lookup(
            LookupKind::Customer,
            "C-1",
            &StoreId::new("S3").unwrap(),
            t0 + 80,
        )
        .await
        .unwrap();
        let mut s3 = vec![balances[2].clone()];
        assert_eq!(
            reached(db, DeltaKind::Balances, &["S3"], &mut s3, "C-1", t0 + 90).await,
            ["S3"],
            "{name}: a lookup adds S3"
        );
        balances[2] = s3.remove(0);
        reached(
            db,
            DeltaKind::Balances,
            &stores,
            &mut balances,
            "C-1",
            t0 + 90,
        )
        .await;
        db.adjust_savings("C-1", 1, t0 + 100).await.unwrap();
        assert_eq!(
            reached(
                db,
                DeltaKind::Balances,
                &stores,
                &mut balances,
                "C-1",
                t0 + 110
            )
            .await,
            ["S1", "S2", "S3"],
            "{name}"
        );

        // Past the scope period, a seen or looked-up store stops receiving them; an
        // assigned one does not.
        db.set_scope_days(30).await.unwrap();
        assert_eq!(db.scope_days().await.unwrap(), 30, "{name}");
        let later = t0 + 31 * DAY;
        db.adjust_savings("C-1", 1, later).await.unwrap();
        assert_eq!(
            reached(
                db,
                DeltaKind::Balances,
                &stores,
                &mut balances,
                "C-1",
                later
            )
            .await,
            ["S2"],
            "{name}: scope expiry after scope_days"
        );
        let shown = db.customer_stores("C-1", later).await.unwrap().unwrap();
        assert_eq!(
            shown
                .stores
                .iter()
                .filter(|s| s.in_scope)
                .map(|s| s.store.as_str())
                .collect::<Vec<_>>(),
            ["S2"],
            "{name}"
        );

        // Erasure reaches every store, in scope or not.
        db.erase_customer("C-1", later + 10).await.unwrap();
        assert_eq!(
            reached(
                db,
                DeltaKind::Customers,
                &stores,
                &mut profiles,
                "C-1",
                later + 20
            )
            .await,
            stores,
            "{name}: the erasure's tombstone"
        );
        assert_eq!(
            reached(
                db,
                DeltaKind::Balances,
                &stores,
                &mut balances,
                "C-1",
                later + 20
            )
            .await,
            stores,
            "{name}: the balance's removal"
        );
        assert!(db.customer_stores("C-1", later).await.unwrap().is_none());
        assert!(db.assign_stores("C-9", &[], later).await.unwrap().is_none());
        assert!(
            db.assign_stores("C-2", &["not a store!".to_owned()], later)
                .await
                .is_err()
        );
    }
}

#[tokio::test]
async fn a_gift_card_follows_its_owner_or_where_it_was_used() {
    let stores = ["S1", "S2"];
    for b in backends("scope_gift_card").await {
        let (db, name) = (&b.db, b.name);
        let t0 = 1_000 * DAY;
        for card in ["GC-1", "GC-2"] {
            db.create_gift_card(
                &NewGiftCard {
                    card: GiftCardRef::new(card).unwrap(),
                    currency: None,
                    balance: 2_000,
                    expires_at: None,
                },
                t0,
            )
            .await
            .unwrap();
        }
        let mut cursors = vec![Cursor::start(); 2];
        assert_eq!(
            reached(db, DeltaKind::GiftCards, &stores, &mut cursors, "GC-1", t0).await,
            stores,
            "{name}: a card known nowhere goes everywhere"
        );
        let t1 = till("S1-T1", "S1");
        let mut evs = events(
            &t1,
            1,
            vec![tillpass_protocol::sync::EventPayload::GiftCardDebited(
                card_move("GC-1", 300),
            )],
        );
        evs[0].occurred_at = t0 + 5;
        let ack = db.ingest(&t1, &batch(&t1, evs), t0 + 10).await.unwrap();
        assert_eq!(outcomes(&ack), ["accepted"], "{name}");
        assert_eq!(
            reached(
                db,
                DeltaKind::GiftCards,
                &stores,
                &mut cursors,
                "GC-1",
                t0 + 20
            )
            .await,
            ["S1"],
            "{name}: an unowned card goes where it was used"
        );
        let mut again = vec![Cursor::start(); 2];
        assert_eq!(
            reached(
                db,
                DeltaKind::GiftCards,
                &stores,
                &mut again,
                "GC-2",
                t0 + 20
            )
            .await,
            stores,
            "{name}"
        );
    }
}

/// Giving a card an owner is a change of the card: it reaches the owner's stores at once
/// (not only when the card next moves), and every item of an owned card names its owner,
/// which is how a till knows to drop the card when the owner leaves its store's scope.
#[tokio::test]
async fn an_owned_card_reaches_its_owners_stores_naming_the_owner() {
    let stores = ["S1", "S2"];
    for b in backends("scope_card_owner").await {
        let (db, name) = (&b.db, b.name);
        let t0 = 1_000 * DAY;
        db.create_customer(&customer("C-1", 500), t0).await.unwrap();
        let t1 = till("S1-T1", "S1");
        let mut evs = events(&t1, 1, vec![sale("C-1", "SALE-1")]);
        evs[0].occurred_at = t0 + 5;
        let ack = db.ingest(&t1, &batch(&t1, evs), t0 + 10).await.unwrap();
        assert_eq!(outcomes(&ack), ["accepted"], "{name}");
        db.create_gift_card(
            &NewGiftCard {
                card: GiftCardRef::new("GC-1").unwrap(),
                currency: None,
                balance: 2_000,
                expires_at: None,
            },
            t0 + 20,
        )
        .await
        .unwrap();
        let mut cursors = vec![Cursor::start(); 2];
        assert_eq!(
            reached(
                db,
                DeltaKind::GiftCards,
                &stores,
                &mut cursors,
                "GC-1",
                t0 + 30
            )
            .await,
            stores,
            "{name}: unowned and known nowhere, it goes everywhere"
        );
        let owned = db
            .set_gift_card_owner("GC-1", Some("C-1"), t0 + 40)
            .await
            .unwrap();
        assert_eq!(owned.owner.as_ref().map(|o| o.as_str()), Some("C-1"));
        let (s1, _) = pull(db, DeltaKind::GiftCards, "S1", &cursors[0], t0 + 50).await;
        assert_eq!(s1.len(), 1, "{name}: {s1:?}");
        assert_eq!(s1[0]["card"]["owner"], "C-1", "{name}: {s1:?}");
        let (s2, _) = pull(db, DeltaKind::GiftCards, "S2", &cursors[1], t0 + 50).await;
        assert!(s2.is_empty(), "{name}: S2 does not know C-1: {s2:?}");
        assert_eq!(
            db.gift_card("GC-1").await.unwrap().unwrap().owner,
            owned.owner,
            "{name}"
        );
        let unknown = db.set_gift_card_owner("GC-404", Some("C-1"), t0 + 60).await;
        assert!(
            matches!(unknown, Err(tillpass_central::error::Error::NotFound(_))),
            "{name}: {unknown:?}"
        );
    }
}

/// A store's page is a range scan over its own entries: the changes of 6,000 customers
/// who signed up at another store (more than a page of the old design read of the log)
/// do not stand between a till far behind and its store's one change, which comes in
/// one page that says nothing more follows; a store that knows none of them gets an
/// empty page that says the same.
#[tokio::test]
async fn a_stores_page_does_not_depend_on_other_stores_changes() {
    use tillpass_protocol::sync::{CustomerRef, EventPayload, LocalCustomer};
    for b in backends("scope_fan_out").await {
        let (db, name) = (&b.db, b.name);
        let t0 = 1_000 * DAY;
        db.create_customer(&customer("C-1", 500), t0).await.unwrap();
        let t1 = till("S1-T1", "S1");
        let mut evs = events(&t1, 1, vec![sale("C-1", "SALE-1")]);
        evs[0].occurred_at = t0 + 10;
        let ack = db.ingest(&t1, &batch(&t1, evs), t0 + 20).await.unwrap();
        assert_eq!(outcomes(&ack), ["accepted"], "{name}");
        let (_, s1_old) = pull(db, DeltaKind::Balances, "S1", &Cursor::start(), t0 + 30).await;
        let (_, s3_old) = pull(db, DeltaKind::Balances, "S3", &Cursor::start(), t0 + 30).await;
        let t2 = till("S2-T1", "S2");
        for n in 0..6_u64 {
            let payloads = (0..1_000)
                .map(|i| {
                    EventPayload::CustomerCreated(LocalCustomer {
                        customer: CustomerRef::new(format!("C-S2-{n}-{i}")).unwrap(),
                        first_name: None,
                        lang: None,
                    })
                })
                .collect();
            let mut evs = events(&t2, 1 + n * 1_000, payloads);
            for e in &mut evs {
                e.occurred_at = t0 + 40;
            }
            let ack = db.ingest(&t2, &batch(&t2, evs), t0 + 50).await.unwrap();
            assert!(
                outcomes(&ack).iter().all(|o| o == "accepted"),
                "{name}: {ack:?}"
            );
        }
        db.adjust_savings("C-1", 7, t0 + 60).await.unwrap();
        let key = SigningKey::from_bytes(&[9; 32]);
        for (store, cursor, expected) in [("S1", s1_old, 1), ("S3", s3_old, 0)] {
            let query = DeltaQuery {
                cursor,
                limit: Some(50),
            };
            let page = db
                .round_page(
                    DeltaKind::Balances,
                    &query,
                    &StoreId::new(store).unwrap(),
                    &key,
                    t0 + 70,
                    2,
                )
                .await
                .unwrap();
            let page = serde_json::to_value(page).unwrap();
            let items = page["items"].as_array().unwrap();
            assert_eq!(items.len(), expected, "{name}: {store}: {page}");
            if expected == 1 {
                assert_eq!(items[0]["customer"], "C-1", "{name}: {page}");
                assert_eq!(items[0]["savings"]["amount"], 507, "{name}: {page}");
            }
            assert_eq!(page["has_more"], false, "{name}: {store}: {page}");
        }
    }
}

/// The `left_scope` items of `items` naming `reference`.
fn left_scope(items: &[Value], reference: &str) -> usize {
    items
        .iter()
        .filter(|i| i["op"] == "left_scope" && i["customer"] == reference)
        .count()
}

/// A store whose scope of a customer lapses is told once (round protocol 2), the
/// other stores not; the customer's later changes reach only the stores in scope; the
/// customer shopping there again brings the store their current state; an unassignment
/// is told too; a till of round protocol 1 never receives the notice; the notice is kept
/// by compaction while it is the store's word, and goes once the customer is back.
#[tokio::test]
async fn a_lapsed_scope_tells_its_store_once_and_re_entry_brings_the_state_back() {
    use tillpass_central::retention::Policy;
    let stores = ["S1", "S2"];
    for b in backends("scope_lapse").await {
        let (db, name) = (&b.db, b.name);
        db.set_scope_days(30).await.unwrap();
        let t0 = 1_000 * DAY;
        db.create_customer(&customer("C-1", 500), t0).await.unwrap();
        // C-1 shops at S1 on day 0 and at S2 on day 20.
        for (n, (store, day)) in [("S1", 0), ("S2", 20)].into_iter().enumerate() {
            let t = till(&format!("{store}-T1"), store);
            let mut evs = events(&t, 1, vec![sale("C-1", &format!("SALE-{n}"))]);
            evs[0].occurred_at = t0 + day * DAY;
            let ack = db
                .ingest(&t, &batch(&t, evs), t0 + day * DAY + 1)
                .await
                .unwrap();
            assert_eq!(outcomes(&ack), ["accepted"], "{name}");
        }
        let day21 = t0 + 21 * DAY;
        let mut profiles = vec![Cursor::start(); 2];
        let mut balances = vec![Cursor::start(); 2];
        let mut old = Cursor::start();
        for (i, store) in stores.iter().enumerate() {
            let (items, next) =
                pull_as(db, DeltaKind::Customers, store, &profiles[i], day21, 2).await;
            assert!(names(&items, "C-1"), "{name}: {store} holds C-1");
            assert_eq!(left_scope(&items, "C-1"), 0, "{name}");
            profiles[i] = next;
            balances[i] = pull(db, DeltaKind::Balances, store, &balances[i], day21)
                .await
                .1;
        }
        old = pull(db, DeltaKind::Customers, "S1", &old, day21).await.1;

        // Day 31: S1's scope (last visit day 0) lapsed, S2's (day 20) holds.
        let day31 = t0 + 31 * DAY;
        let (s1, next) = pull_as(db, DeltaKind::Customers, "S1", &profiles[0], day31, 2).await;
        assert_eq!(left_scope(&s1, "C-1"), 1, "{name}: S1 is told: {s1:?}");
        assert_eq!(s1.len(), 1, "{name}: {s1:?}");
        assert_eq!(s1[0]["at"], day31, "{name}");
        profiles[0] = next;
        let (s2, next) = pull_as(db, DeltaKind::Customers, "S2", &profiles[1], day31, 2).await;
        assert!(s2.is_empty(), "{name}: S2 is not told: {s2:?}");
        profiles[1] = next;
        // Once: S1's next pages, and a fresh cursor's page past the notice, carry no other.
        let (again, _) = pull_as(db, DeltaKind::Customers, "S1", &profiles[0], day31 + 60, 2).await;
        assert!(again.is_empty(), "{name}: told once: {again:?}");
        let (from_start, _) = pull_as(
            db,
            DeltaKind::Customers,
            "S1",
            &Cursor::start(),
            day31 + 60,
            2,
        )
        .await;
        assert_eq!(left_scope(&from_start, "C-1"), 1, "{name}: {from_start:?}");
        // Round protocol 1 and the per-stream pages never carry it.
        let (one, _) = pull(db, DeltaKind::Customers, "S1", &old, day31 + 60).await;
        assert_eq!(left_scope(&one, "C-1"), 0, "{name}: protocol 1: {one:?}");

        // Later balance changes reach S2 only.
        db.adjust_savings("C-1", 100, day31 + 100).await.unwrap();
        assert_eq!(
            reached(
                db,
                DeltaKind::Balances,
                &stores,
                &mut balances,
                "C-1",
                day31 + 110
            )
            .await,
            ["S2"],
            "{name}: a lapsed store receives no change"
        );

        // A week on, compaction keeps the notice: it is still S1's word.
        let swept = db.sweep(&Policy::default(), day31 + 8 * DAY).await.unwrap();
        assert_eq!(swept.of("lapse_notices"), 0, "{name}: {swept:?}");

        // Day 40: C-1 shops at S1 again: S1 re-enters and receives the current state.
        let day40 = t0 + 40 * DAY;
        let t = till("S1-T1", "S1");
        let mut evs = events(&t, 2, vec![sale("C-1", "SALE-9")]);
        evs[0].occurred_at = day40;
        let ack = db.ingest(&t, &batch(&t, evs), day40 + 1).await.unwrap();
        assert_eq!(outcomes(&ack), ["accepted"], "{name}");
        let (back, next) =
            pull_as(db, DeltaKind::Customers, "S1", &profiles[0], day40 + 10, 2).await;
        assert_eq!(
            left_scope(&back, "C-1"),
            0,
            "{name}: not told again: {back:?}"
        );
        assert!(
            back.iter()
                .any(|i| i["op"] == "upsert" && i["customer"]["customer"] == "C-1"),
            "{name}: S1 receives the profile again: {back:?}"
        );
        profiles[0] = next;
        let (money, next) = pull(db, DeltaKind::Balances, "S1", &balances[0], day40 + 10).await;
        assert!(
            money
                .iter()
                .any(|i| i["customer"] == "C-1" && i["savings"]["amount"] == 600),
            "{name}: the current balance (500 + 100): {money:?}"
        );
        balances[0] = next;
        // Back in scope, the notice goes at the next compaction past its week.
        let swept = db.sweep(&Policy::default(), day40 + 8 * DAY).await.unwrap();
        assert_eq!(swept.of("lapse_notices"), 1, "{name}: {swept:?}");

        // Lapsing again (day 71) is told again, once.
        let day71 = t0 + 71 * DAY;
        let (s1, next) = pull_as(db, DeltaKind::Customers, "S1", &profiles[0], day71, 2).await;
        assert_eq!(left_scope(&s1, "C-1"), 1, "{name}: a second lapse: {s1:?}");
        profiles[0] = next;

        // An unassignment is a lapse too: S3, assigned and unassigned, is told.
        db.assign_stores("C-1", &["S3".to_owned()], day71 + 10)
            .await
            .unwrap()
            .unwrap();
        let (s3, s3_next) = pull_as(
            db,
            DeltaKind::Customers,
            "S3",
            &Cursor::start(),
            day71 + 20,
            2,
        )
        .await;
        assert!(names(&s3, "C-1"), "{name}: {s3:?}");
        assert_eq!(left_scope(&s3, "C-1"), 0, "{name}: {s3:?}");
        db.assign_stores("C-1", &[], day71 + 30)
            .await
            .unwrap()
            .unwrap();
        let (s3, _) = pull_as(db, DeltaKind::Customers, "S3", &s3_next, day71 + 40, 2).await;
        assert_eq!(left_scope(&s3, "C-1"), 1, "{name}: unassigned: {s3:?}");
        let (s1, _) = pull_as(db, DeltaKind::Customers, "S1", &profiles[0], day71 + 40, 2).await;
        assert_eq!(
            left_scope(&s1, "C-1"),
            0,
            "{name}: S1 was told already: {s1:?}"
        );
    }
}

/// A store told that a customer left its scope receives nothing older of the customer on
/// the other streams: what was queued for the store before the notice goes with it. (A
/// till applies the customers page before the balances page: a balance queued before the
/// notice would come back after the till forgot the customer, as a stale balance with
/// nobody to trust it.) By a lapse and by an unassignment alike.
#[tokio::test]
async fn a_lapse_takes_back_what_was_queued_for_the_store() {
    for b in backends("scope_lapse_queue").await {
        let (db, name) = (&b.db, b.name);
        db.set_scope_days(30).await.unwrap();
        let t0 = 1_000 * DAY;
        db.create_customer(&customer("C-1", 500), t0).await.unwrap();
        let t = till("S1-T1", "S1");
        let mut evs = events(&t, 1, vec![sale("C-1", "SALE-1")]);
        evs[0].occurred_at = t0;
        let ack = db.ingest(&t, &batch(&t, evs), t0 + 1).await.unwrap();
        assert_eq!(outcomes(&ack), ["accepted"], "{name}");
        let (queued, _) = pull(db, DeltaKind::Balances, "S1", &Cursor::start(), t0 + 2).await;
        assert!(names(&queued, "C-1"), "{name}: S1 holds C-1: {queued:?}");

        // Day 31: the till's round reads the customers page first, then the balances.
        let day31 = t0 + 31 * DAY;
        let (told, _) = pull_as(db, DeltaKind::Customers, "S1", &Cursor::start(), day31, 2).await;
        assert_eq!(left_scope(&told, "C-1"), 1, "{name}: {told:?}");
        let (after, _) = pull(db, DeltaKind::Balances, "S1", &Cursor::start(), day31).await;
        assert!(
            !names(&after, "C-1"),
            "{name}: a balance from before the notice: {after:?}"
        );

        // Assigned to S2, then unassigned before S2's till read its balances.
        db.assign_stores("C-1", &["S2".to_owned()], day31 + 10)
            .await
            .unwrap()
            .unwrap();
        db.assign_stores("C-1", &[], day31 + 20)
            .await
            .unwrap()
            .unwrap();
        let (told, _) = pull_as(
            db,
            DeltaKind::Customers,
            "S2",
            &Cursor::start(),
            day31 + 30,
            2,
        )
        .await;
        assert_eq!(left_scope(&told, "C-1"), 1, "{name}: {told:?}");
        let (after, _) = pull(db, DeltaKind::Balances, "S2", &Cursor::start(), day31 + 30).await;
        assert!(
            !names(&after, "C-1"),
            "{name}: unassigned: a balance from before the notice: {after:?}"
        );
    }
}

/// Measures scoped feeds on PostgreSQL: 100,000 customers known at 2 of 200 stores each,
/// a change log of one profile and one balance change per customer. Prints how many
/// stores receive one balance change, and a delta page's p50/p99 for a till starting
/// from the beginning and for an idle till (1,000 changes behind). Run with
/// `cargo test -p tillpass-central --test central -- --ignored --nocapture scope_measure`.
#[tokio::test]
#[ignore = "a measurement: minutes, PostgreSQL"]
async fn scope_measure() {
    const CUSTOMERS: i64 = 100_000;
    const STORES: i64 = 200;
    let Some(test_db) = crate::pg::database("scope_measure").await else {
        panic!("scope_measure needs PostgreSQL");
    };
    let location = tillpass_central::storage::Location::Postgres(test_db.url().to_owned());
    let db = Database::open(&location).await.unwrap();
    let client = crate::pg::connect(test_db.url()).await;
    let t0 = 1_000 * DAY;
    crate::pg::many_customers(&client, CUSTOMERS, 500, t0).await;
    client
        .batch_execute(&format!(
            "INSERT INTO customer_stores (customer, store, assigned, seen_at)
             SELECT 'C-' || i, 'S' || (i % {STORES}), 0, {t0} FROM generate_series(1, {CUSTOMERS}) i
             UNION ALL
             SELECT 'C-' || i, 'S' || ((i * 7 + 3) % {STORES}), 0, {t0}
             FROM generate_series(1, {CUSTOMERS}) i WHERE (i * 7 + 3) % {STORES} != i % {STORES};
"
        ))
        .await
        .unwrap();
    // The change log in transactions of 5,000 customers, as appends come: each fanned
    // change takes its customer's scope lock until its transaction ends, and PostgreSQL's
    // lock table holds about 12,000.
    for first in (1..=CUSTOMERS).step_by(5_000) {
        client
            .batch_execute(&format!(
                "INSERT INTO changes (kind, key, owner, at)
                 SELECT k, 'C-' || i, NULL, {t0} FROM generate_series({first}, {last}) i,
                     (VALUES ('customers'), ('balances')) AS kinds(k) ORDER BY random();",
                last = first + 4_999
            ))
            .await
            .unwrap();
    }
    client.batch_execute("ANALYZE").await.unwrap();
    let key = SigningKey::from_bytes(&[9; 32]);
    let all: Vec<String> = (0..STORES).map(|s| format!("S{s}")).collect();

    // Items sent for one balance change of a customer known at 2 stores.
    let before: i64 = client
        .query_one("SELECT max(seq) FROM changes", &[])
        .await
        .unwrap()
        .get(0);
    db.adjust_savings("C-12345", 100, t0 + 10).await.unwrap();
    let cursor = Cursor::new(format!("v1.{before}")).unwrap();
    let mut sent = 0;
    for store in &all {
        let (items, _) = pull(&db, DeltaKind::Balances, store, &cursor, t0 + 20).await;
        sent += items.len();
    }
    println!(
        "one balance change, customer known at 2 of {STORES} stores: {sent} store pages carry it"
    );
    assert_eq!(sent, 2);

    // A page for a till starting from the beginning, and for a till 1,000 changes behind.
    let mut idle_from = before;
    for (label, from) in [
        ("first page (cursor 0)", 0),
        ("idle till, 1,000 changes behind", -1),
    ] {
        if from < 0 {
            idle_from = client
                .query_one("SELECT max(seq) FROM changes", &[])
                .await
                .unwrap()
                .get(0);
            for i in 0..1_000 {
                db.adjust_savings(&format!("C-{}", 1 + i * 97), 1, t0 + 30)
                    .await
                    .unwrap();
            }
        }
        let start = if from < 0 { idle_from } else { 0 };
        let mut took = Vec::new();
        for n in 0..400 {
            let store = StoreId::new(all[n % all.len()].clone()).unwrap();
            let query = DeltaQuery {
                cursor: if start == 0 {
                    Cursor::start()
                } else {
                    Cursor::new(format!("v1.{start}")).unwrap()
                },
                limit: Some(200),
            };
            let at = std::time::Instant::now();
            db.delta_page(DeltaKind::Balances, &query, &store, &key, t0 + 40)
                .await
                .unwrap();
            took.push(at.elapsed());
        }
        took.sort();
        println!(
            "{label}: p50 {:?}, p99 {:?} ({} pages, limit 200)",
            took[took.len() / 2],
            took[took.len() * 99 / 100],
            took.len(),
        );
    }
}
