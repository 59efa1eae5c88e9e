//! The contract cases of retention, on both backends: compaction changes no delta page
//! for any cursor; token uses, expired tokens, resolved flags and old store sales go after
//! their periods; open flags and a flagged token's uses stay; a resolved flag reaches its
//! stores' ledgers.

use serde_json::Value;
use tillpass_central::flags;
use tillpass_central::keys::{KeyDir, Purpose};
use tillpass_central::passes::IssueOptions;
use tillpass_central::retention::Policy;
use tillpass_central::storage::Database;
use tillpass_protocol::sync::{
    BalanceSource, Cursor, CustomerRef, DeltaKind, DeltaQuery, EventPayload, SavingsMovement,
    SpendBasis, StoreId, Subject, TokenId, TokenKind, TokenUsed,
};

use super::{backends, batch, customer, earn, events, outcomes, till};
use crate::journal::eur;

const DAY: i64 = 86_400;

/// Every page of `kind` for `store` from the cursor `v1.{after}` (the start for 0).
async fn pages_from(
    db: &Database,
    dir: &KeyDir,
    kind: DeltaKind,
    store: &str,
    after: i64,
    now: i64,
) -> Value {
    let sync = db.active_key(dir, Purpose::Sync).await.unwrap();
    let mut query = DeltaQuery {
        cursor: if after == 0 {
            Cursor::default()
        } else {
            Cursor::new(format!("v1.{after}")).unwrap()
        },
        limit: Some(2),
    };
    let mut all = Vec::new();
    loop {
        let page = db
            .delta_page(kind, &query, &StoreId::new(store).unwrap(), &sync, now)
            .await
            .unwrap();
        let page = serde_json::to_value(page).unwrap();
        all.push(page["items"].clone());
        let next = page["next_cursor"].as_str().unwrap_or_default().to_owned();
        if page["has_more"] != true || next.is_empty() {
            all.push(Value::String(next));
            break;
        }
        query.cursor = Cursor::new(next).unwrap();
    }
    Value::Array(all)
}

#[tokio::test]
async fn compaction_leaves_every_page_the_same_for_every_cursor() {
    for b in backends("retention_compaction").await {
        let (db, name) = (&b.db, b.name);
        let folder = tempfile::tempdir().unwrap();
        let dir = KeyDir::open(&folder.path().join("keys")).unwrap();
        db.init_keys(&dir, 1_000).await.unwrap();
        for c in ["C-1", "C-2", "C-3"] {
            db.create_customer(&customer(c, 100), 1).await.unwrap();
        }
        let t = till("S001-T01", "S001");
        // C-1 and C-2 change again and again; C-3 never after its creation.
        for (seq, (who, at)) in [
            ("C-1", 10),
            ("C-2", 20),
            ("C-1", 30),
            ("C-1", 40),
            ("C-2", 50),
        ]
        .into_iter()
        .enumerate()
        {
            let seq = u64::try_from(seq).unwrap() + 1;
            let ack = db
                .ingest(&t, &batch(&t, events(&t, seq, vec![earn(who, 10)])), at)
                .await
                .unwrap();
            assert_eq!(outcomes(&ack), ["accepted"], "{name}");
        }
        let kinds = [DeltaKind::Customers, DeltaKind::Balances];
        let last: i64 = db.count_rows("changes").await.unwrap() + 20;
        let now = 60 + 8 * DAY;
        let mut before = Vec::new();
        for kind in kinds {
            for after in 0..=last {
                before.push(pages_from(db, &dir, kind, "S001", after, now).await);
            }
        }
        let rows_before = db.count_rows("changes").await.unwrap();

        let swept = db.sweep(&Policy::default(), now).await.unwrap();
        assert!(swept.of("superseded_changes") > 0, "{name}: {swept:?}");
        let rows_after = db.count_rows("changes").await.unwrap();
        assert_eq!(
            rows_before - rows_after,
            i64::try_from(swept.of("superseded_changes")).unwrap(),
            "{name}"
        );
        let mut after_sweep = Vec::new();
        for kind in kinds {
            for after in 0..=last {
                after_sweep.push(pages_from(db, &dir, kind, "S001", after, now).await);
            }
        }
        assert_eq!(before, after_sweep, "{name}: a page changed");

        // Nothing left to compact: a second sweep deletes nothing.
        let again = db.sweep(&Policy::default(), now).await.unwrap();
        assert_eq!(again.of("superseded_changes"), 0, "{name}");
    }
}

#[tokio::test]
async fn token_uses_tokens_and_resolved_flags_go_after_their_periods_open_flags_stay() {
    for b in backends("retention_periods").await {
        let (db, name) = (&b.db, b.name);
        let folder = tempfile::tempdir().unwrap();
        let dir = KeyDir::open(&folder.path().join("keys")).unwrap();
        db.init_keys(&dir, 1_000).await.unwrap();
        db.create_customer(&customer("C-1", 1_000), 1_000)
            .await
            .unwrap();
        db.customer_pass(&dir, "C-1", &IssueOptions::default(), 1_000)
            .await
            .unwrap();
        assert_eq!(db.count_rows("issued_tokens").await.unwrap(), 1, "{name}");
        let used = |id: u8| {
            EventPayload::TokenUsed(TokenUsed {
                token_id: TokenId::new(&[id; 8]).unwrap(),
                kind: TokenKind::CustomerPass,
                subject: Subject::new("C-1").unwrap(),
                key_id: [1, 2, 3, 4],
                sale_id: None,
            })
        };
        let spend = |amount: i64| {
            EventPayload::SavingsRedeemed(SavingsMovement {
                customer: CustomerRef::new("C-1").unwrap(),
                amount: eur(amount),
                sale_id: None,
                basis: Some(SpendBasis {
                    source: BalanceSource::Snapshot,
                    token_id: Some(TokenId::new(&[9; 8]).unwrap()),
                    balance: eur(1_000),
                    as_of: 900,
                }),
            })
        };
        let (north, south) = (till("S001-T01", "S001"), till("S002-T01", "S002"));
        // Token 9 at both stores (flagged), token 8 at one; together beyond the balance.
        for (t, payloads, now) in [
            (&north, vec![used(9), used(8), spend(700)], 1_010),
            (&south, vec![used(9), spend(700)], 1_020),
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
        assert_eq!(db.count_rows("token_uses").await.unwrap(), 3, "{name}");
        let open = db
            .flags_page(&flags::Query {
                open_only: true,
                before: None,
                limit: 10,
            })
            .await
            .unwrap();
        let kinds: Vec<&str> = open.iter().map(|f| f.kind.as_str()).collect();
        assert!(kinds.contains(&"overspend_debt"), "{name}: {kinds:?}");
        assert!(kinds.contains(&"token_at_two_stores"), "{name}: {kinds:?}");

        // A month on: the unflagged token's use and the expired pass go; the flagged
        // token's uses stay while its flag does.
        let month = 1_100 + 31 * DAY;
        let swept = db.sweep(&Policy::default(), month).await.unwrap();
        assert_eq!(swept.of("token_uses"), 1, "{name}: {swept:?}");
        assert_eq!(swept.of("issued_tokens"), 1, "{name}: {swept:?}");
        assert_eq!(db.count_rows("token_uses").await.unwrap(), 2, "{name}");
        assert_eq!(db.count_rows("issued_tokens").await.unwrap(), 0, "{name}");

        // Where each store's tills are: past every ledger item so far.
        let sync = db.active_key(&dir, Purpose::Sync).await.unwrap();
        let mut cursors = Vec::new();
        for store in ["S001", "S002"] {
            let page = db
                .delta_page(
                    DeltaKind::Ledger,
                    &DeltaQuery::default(),
                    &StoreId::new(store).unwrap(),
                    &sync,
                    month,
                )
                .await
                .unwrap();
            let page = serde_json::to_value(page).unwrap();
            assert_eq!(page["has_more"], false, "{name}: {page:#}");
            cursors.push(Cursor::new(page["next_cursor"].as_str().unwrap().to_owned()).unwrap());
        }

        // Central IT resolves the overspend: it leaves the open list, and the stores'
        // tills learn it from their cursor on (the debt is still owed).
        let overspend = open.iter().find(|f| f.kind == "overspend_debt").unwrap();
        db.resolve_flag(overspend.id, "ana", "called the customer", month)
            .await
            .unwrap();
        assert!(matches!(
            db.resolve_flag(i64::MAX, "ana", "no such flag", month)
                .await
                .unwrap_err(),
            tillpass_central::error::Error::NotFound(_)
        ));
        let open_now = db
            .flags_page(&flags::Query {
                open_only: true,
                before: None,
                limit: 10,
            })
            .await
            .unwrap();
        assert!(
            open_now.iter().all(|f| f.kind != "overspend_debt"),
            "{name}: {open_now:?}"
        );
        let all = db.flags().await.unwrap();
        let resolved = all.iter().find(|f| f.kind == "overspend_debt").unwrap();
        let resolution = resolved.resolution.as_ref().unwrap();
        assert_eq!(resolution.resolved_by, "ana", "{name}");
        assert_eq!(resolution.note, "called the customer", "{name}");
        // Paged: one at a time, newest first, the second page after the first's id.
        let first = db
            .flags_page(&flags::Query {
                open_only: false,
                before: None,
                limit: 1,
            })
            .await
            .unwrap();
        let second = db
            .flags_page(&flags::Query {
                open_only: false,
                before: Some(first[0].id),
                limit: 1,
            })
            .await
            .unwrap();
        assert_eq!(first.len(), 1, "{name}");
        assert_eq!(second.len(), 1, "{name}");
        assert!(second[0].id < first[0].id, "{name}");
        for (store, cursor) in ["S001", "S002"].into_iter().zip(cursors) {
            let page = db
                .delta_page(
                    DeltaKind::Ledger,
                    &DeltaQuery {
                        cursor,
                        limit: None,
                    },
                    &StoreId::new(store).unwrap(),
                    &sync,
                    month,
                )
                .await
                .unwrap();
            let page = serde_json::to_value(page).unwrap();
            let overspend = page["items"]
                .as_array()
                .unwrap()
                .iter()
                .find(|i| i["kind"] == "overspend_debt" || i["flag"]["kind"] == "overspend_debt")
                .cloned()
                .unwrap_or_else(|| panic!("{name}: no overspend flag in {page:#}"));
            assert!(
                overspend.to_string().contains("\"resolved\":true"),
                "{name}: {overspend:#}"
            );
        }

        // A year after its resolution the resolved flag goes; the open one stays.
        let swept = db
            .sweep(&Policy::default(), month + 366 * DAY)
            .await
            .unwrap();
        assert_eq!(swept.of("resolved_flags"), 1, "{name}: {swept:?}");
        let left: Vec<String> = db
            .flags()
            .await
            .unwrap()
            .into_iter()
            .map(|f| f.kind)
            .collect();
        assert_eq!(left, ["token_at_two_stores"], "{name}");
        assert_eq!(db.count_rows("token_uses").await.unwrap(), 2, "{name}");
    }
}
