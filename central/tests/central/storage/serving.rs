//! The contract cases of serving tills, on both backends: keys, enrolment, the shared
//! replay cache, `last_seen`, stored envelopes, the offline policy, delta pages, passes,
//! tokens, revocations and flags. Where
//! an answer does not depend on random keys, both backends must give the same one.

use ed25519_dalek::SigningKey;
use serde_json::Value;
use tillpass_central::enrol::NewCode;
use tillpass_central::giftcards::NewGiftCard;
use tillpass_central::keys::{KeyDir, Purpose};
use tillpass_central::passes::{IssueOptions, NewVoucher};
use tillpass_central::storage::Database;
use tillpass_protocol::sync::{
    Cursor, DeltaKind, DeltaQuery, EnrolCode, EnrolRequest, GiftCardRef, PageRequest, PromotionId,
    RequestNonce, StoreId, TillId, open_page,
};
use tillpass_protocol::token::{TokenId, TokenKind};
use tillpass_protocol::trust::{RootKey, TrustStore};

use super::{backends, batch, customer, earn, events, outcomes, till};
use crate::journal::sale;

const CATALOG: &str = r#"
format = 1
currency = "EUR"

[[promotions]]
id = "VIP-10"
label = { es = "VIP -10 %", en = "VIP 10 % off" }
valid_from = 1751328000
valid_until = 1756684800
conditions = { segments = ["vip"] }
rules = [{ type = "percent_off", percent = 1000 }]
"#;

fn code(store: &str, till: &str) -> NewCode {
    NewCode {
        store: StoreId::new(store).unwrap(),
        till: Some(TillId::new(till).unwrap()),
        region: None,
        ttl_secs: Some(3_600),
    }
}

fn keys_in(dir: &tempfile::TempDir) -> KeyDir {
    KeyDir::open(&dir.path().join("keys")).unwrap()
}

#[tokio::test]
async fn keys_are_made_once_rotated_and_revoked_with_a_trust_list_each_time() {
    for b in backends("keys_made_once").await {
        let (db, name) = (&b.db, b.name);
        let folder = tempfile::tempdir().unwrap();
        let dir = keys_in(&folder);
        let made = db.init_keys(&dir, 1_000).await.unwrap();
        assert_eq!(made.len(), 4, "{name}");
        assert!(
            db.init_keys(&dir, 1_000).await.unwrap().is_empty(),
            "{name}"
        );
        let first = db.trust_list(&dir, 1_000).await.unwrap();
        assert_eq!(first.sequence, 1, "{name}");
        assert_eq!(
            db.trust_list(&dir, 1_010).await.unwrap(),
            first,
            "{name}: stored"
        );

        let sync = db.active_kid(Purpose::Sync).await.unwrap().unwrap();
        let rotated = db
            .rotate_key(&dir, Purpose::Sync, 2_000, 100)
            .await
            .unwrap();
        assert_ne!(rotated.kid, sync.to_string(), "{name}");
        assert_eq!(
            db.active_kid(Purpose::Sync)
                .await
                .unwrap()
                .unwrap()
                .to_string(),
            rotated.kid,
            "{name}"
        );
        let key = db.active_key(&dir, Purpose::Sync).await.unwrap();
        assert_eq!(
            tillpass_protocol::trust::KeyId::of(&key.verifying_key()).to_string(),
            rotated.kid,
            "{name}: the secret comes from the key directory"
        );
        let second = db.trust_list(&dir, 2_000).await.unwrap();
        assert_eq!(
            second.sequence, 2,
            "{name}: a rotation publishes a trust list"
        );
        let root = RootKey::new(&db.root_public_key().await.unwrap()).unwrap();
        let (list, _) = TrustStore::open(&second.envelope, &root, 2_000, 1).unwrap();
        assert_eq!(
            list.keys().len(),
            4,
            "{name}: the old sync key during its grace"
        );
        assert!(
            db.rotate_key(&dir, Purpose::Root, 2_000, 100)
                .await
                .is_err(),
            "{name}"
        );

        let revoked = db.revoke_key(&dir, &rotated.kid, 3_000).await.unwrap();
        assert_eq!(revoked.revoked_at, Some(3_000), "{name}");
        assert!(
            db.revoke_key(&dir, &rotated.kid, 3_000).await.is_err(),
            "{name}"
        );
        let replacement = db.active_kid(Purpose::Sync).await.unwrap().unwrap();
        assert_ne!(replacement.to_string(), rotated.kid, "{name}");
        assert_eq!(db.list_keys().await.unwrap().len(), 6, "{name}");
        assert_eq!(
            db.trust_list(&dir, 3_000).await.unwrap().sequence,
            3,
            "{name}"
        );
    }
}

#[tokio::test]
async fn a_code_enrols_once_and_a_nonce_is_accepted_once() {
    for b in backends("enrols_once").await {
        let (db, name) = (&b.db, b.name);
        let folder = tempfile::tempdir().unwrap();
        let dir = keys_in(&folder);
        db.init_keys(&dir, 1_000).await.unwrap();
        let issued = db
            .create_enrolment_code(&code("S1", "S1-T1"), 1_000)
            .await
            .unwrap();
        assert_eq!(
            EnrolCode::parse(&issued.code).root,
            Some(tillpass_protocol::sync::RootFingerprint::of(
                &db.root_public_key().await.unwrap()
            )),
            "{name}"
        );
        let automatic = NewCode {
            till: None,
            ..code("S1", "x")
        };
        let next = db.create_enrolment_code(&automatic, 1_000).await.unwrap();
        assert_eq!(next.till.as_str(), "S1-T2", "{name}: the open code counts");

        let key = SigningKey::from_bytes(&[9; 32]);
        let request = EnrolRequest::new(
            issued.code.clone(),
            key.verifying_key().to_bytes(),
            "0.1.0",
            "host",
        );
        let enrolled = db.enrol(&dir, &request, 1_100).await.unwrap();
        assert_eq!(enrolled.till.as_str(), "S1-T1", "{name}");
        assert_eq!(
            enrolled.trust_list,
            db.trust_list(&dir, 1_100).await.unwrap().envelope,
            "{name}"
        );
        assert!(
            db.enrol(&dir, &request, 1_100).await.is_err(),
            "{name}: used"
        );
        let unknown = EnrolRequest::new(
            "BCDF-GHJK-MNPR-TVX2".to_owned(),
            key.verifying_key().to_bytes(),
            "0.1.0",
            "host",
        );
        assert!(db.enrol(&dir, &unknown, 1_100).await.is_err(), "{name}");
        let expired = db
            .create_enrolment_code(&code("S1", "S1-T9"), 1_000)
            .await
            .unwrap();
        let late = EnrolRequest::new(expired.code, key.verifying_key().to_bytes(), "0.1.0", "h");
        assert!(
            db.enrol(&dir, &late, 1_000 + 3_601).await.is_err(),
            "{name}"
        );

        let known = db.till("S1-T1").await.unwrap().unwrap();
        assert_eq!(known.key, key.verifying_key(), "{name}");
        assert!(db.till("S1-T9").await.unwrap().is_none(), "{name}");

        // The replay cache: a nonce is kept once.
        assert!(
            db.record_request("S1-T1", "n1", 1_400, 1_200)
                .await
                .unwrap()
        );
        assert!(
            !db.record_request("S1-T1", "n1", 1_400, 1_201)
                .await
                .unwrap(),
            "{name}"
        );
        assert!(
            db.record_request("S1-T1", "n2", 1_400, 1_259)
                .await
                .unwrap()
        );
        // `last_seen`: many tills' notes in one write, each moving at most once a minute.
        assert_eq!(db.last_seen("S1-T1").await.unwrap(), None, "{name}");
        let note = |till: &str, at: i64| (till.to_owned(), at);
        db.touch_tills(&[note("S1-T1", 1_200), note("S1-T9", 1_200)])
            .await
            .unwrap();
        assert_eq!(db.last_seen("S1-T1").await.unwrap(), Some(1_200), "{name}");
        db.touch_tills(&[note("S1-T1", 1_259)]).await.unwrap();
        assert_eq!(
            db.last_seen("S1-T1").await.unwrap(),
            Some(1_200),
            "not again within the minute: {name}"
        );
        db.touch_tills(&[note("S1-T1", 1_260)]).await.unwrap();
        assert_eq!(db.last_seen("S1-T1").await.unwrap(), Some(1_260), "{name}");
        db.touch_tills(&[note("S1-T1", 1_100)]).await.unwrap();
        assert_eq!(
            db.last_seen("S1-T1").await.unwrap(),
            Some(1_260),
            "an older note does not move it back: {name}"
        );
        // Once stale, a nonce is forgotten (the time window refuses its request anyway).
        assert!(
            db.record_request("S1-T1", "n1", 1_900, 1_401)
                .await
                .unwrap(),
            "{name}"
        );

        db.revoke_till("S1-T1", 2_000).await.unwrap();
        assert!(db.till("S1-T1").await.unwrap().is_none(), "{name}");
        assert!(db.revoke_till("S1-T1", 2_000).await.is_err(), "{name}");
    }
}

#[tokio::test]
async fn a_catalog_is_sealed_once_and_the_policy_round_trips() {
    for b in backends("catalog_sealed_once").await {
        let (db, name) = (&b.db, b.name);
        let folder = tempfile::tempdir().unwrap();
        let dir = keys_in(&folder);
        db.init_keys(&dir, 1_000).await.unwrap();
        assert!(
            db.current_catalog(&dir, 1_000).await.unwrap().is_none(),
            "{name}"
        );
        let refused = db.publish_catalog(&dir, CATALOG, None, 1_000).await;
        assert!(
            refused.unwrap_err().to_string().contains("segment \"vip\""),
            "{name}: no customer is in the segment yet"
        );
        db.create_customer(&customer("C-1", 0), 1_000)
            .await
            .unwrap();
        let published = db
            .publish_catalog(&dir, CATALOG, None, 1_000)
            .await
            .unwrap();
        assert_eq!(published.promotions, 1, "{name}");
        assert_eq!(published.envelope_sequence, Some(1), "{name}");
        let current = db.current_catalog(&dir, 1_010).await.unwrap().unwrap();
        assert_eq!(current.sequence, 1, "{name}");
        assert_eq!(
            db.current_catalog(&dir, 1_020).await.unwrap().unwrap(),
            current,
            "{name}: served as stored"
        );
        let later = db
            .publish_catalog(&dir, CATALOG, Some(5_000), 1_100)
            .await
            .unwrap();
        assert_eq!(later.envelope_sequence, None, "{name}: not active yet");
        assert_eq!(
            db.current_catalog(&dir, 5_000)
                .await
                .unwrap()
                .unwrap()
                .source,
            Some(later.number),
            "{name}: sealed when it activates"
        );

        let mut policy = db.policy().await.unwrap();
        assert_eq!(
            policy,
            tillpass_central::settings::default_policy(),
            "{name}"
        );
        policy.retention_days = 7;
        db.set_policy(&policy).await.unwrap();
        assert_eq!(db.policy().await.unwrap(), policy, "{name}");
        policy.max_catalog_age_secs = 0;
        assert!(db.set_policy(&policy).await.is_err(), "{name}");
    }
}

/// Every stream's first page for a till of `store`, as JSON (revocations: how many
/// envelopes, as their signatures differ by backend).
async fn pages(db: &Database, dir: &KeyDir, store: &str, now: i64) -> Vec<Value> {
    let sync = db.active_key(dir, Purpose::Sync).await.unwrap();
    let store = StoreId::new(store).unwrap();
    let mut all = Vec::new();
    for kind in [
        DeltaKind::Customers,
        DeltaKind::Balances,
        DeltaKind::GiftCards,
        DeltaKind::PersonalPromotions,
        DeltaKind::Sales,
        DeltaKind::Revocations,
    ] {
        let page = db
            .delta_page(kind, &DeltaQuery::default(), &store, &sync, now)
            .await
            .unwrap();
        let mut page = serde_json::to_value(page).unwrap();
        if kind == DeltaKind::Revocations {
            page = Value::from(page["items"].as_array().unwrap().len());
        }
        all.push(page);
    }
    all
}

#[tokio::test]
async fn delta_pages_carry_the_same_items_on_both_backends() {
    let mut answers = Vec::new();
    for b in backends("delta_pages_same").await {
        let (db, name) = (&b.db, b.name);
        let folder = tempfile::tempdir().unwrap();
        let dir = keys_in(&folder);
        db.init_keys(&dir, 1_000).await.unwrap();
        db.create_customer(&customer("C-1", 500), 1_000)
            .await
            .unwrap();
        db.create_gift_card(
            &NewGiftCard {
                card: GiftCardRef::new("GC-1").unwrap(),
                currency: None,
                balance: 2_000,
                expires_at: None,
            },
            1_000,
        )
        .await
        .unwrap();
        let t = till("S001-T01", "S001");
        let ack = db
            .ingest(
                &t,
                &batch(
                    &t,
                    events(&t, 1, vec![earn("C-1", 50), sale("C-1", "SALE-1")]),
                ),
                1_100,
            )
            .await
            .unwrap();
        assert_eq!(outcomes(&ack), ["accepted", "accepted"], "{name}");
        let kid = db.active_kid(Purpose::Token).await.unwrap().unwrap();
        db.revoke_key(&dir, &kid.to_string(), 1_200).await.unwrap();

        let first = pages(db, &dir, "S001", 1_300).await;
        assert_eq!(first[5], Value::from(1), "{name}: one revocations envelope");
        let other_store = pages(db, &dir, "S002", 1_300).await;
        assert_eq!(
            other_store[4]["items"],
            Value::Array(vec![]),
            "{name}: sales go to their store only"
        );

        // A page signed for its request opens with the sync key, for that request only.
        let sync = db.active_key(&dir, Purpose::Sync).await.unwrap();
        let request = PageRequest {
            kind: DeltaKind::Balances,
            till: t.id.clone(),
            cursor: Cursor::start(),
            nonce: RequestNonce([4; 16]),
        };
        let sealed = db
            .signed_delta_page(&request, &DeltaQuery::default(), &t.store, &sync, 1_300)
            .await
            .unwrap();
        let root = RootKey::new(&db.root_public_key().await.unwrap()).unwrap();
        let list = db.trust_list(&dir, 1_300).await.unwrap();
        let (trust, _) = TrustStore::open(&list.envelope, &root, 1_300, 0).unwrap();
        let opened = open_page(&sealed, &request, &trust, 1_300).unwrap();
        let body: Value = serde_json::from_slice(&opened).unwrap();
        assert_eq!(body, first[1], "{name}");
        answers.push((name, first));
    }
    if let [(_, sqlite), (_, postgresql)] = answers.as_slice() {
        assert_eq!(sqlite, postgresql, "both backends send the same items");
    }
}

#[tokio::test]
async fn passes_and_tokens_are_signed_recorded_and_revocable() {
    for b in backends("passes_signed").await {
        let (db, name) = (&b.db, b.name);
        let folder = tempfile::tempdir().unwrap();
        let dir = keys_in(&folder);
        db.init_keys(&dir, 1_000).await.unwrap();
        db.create_customer(&customer("C-1", 1_234), 1_000)
            .await
            .unwrap();
        db.create_gift_card(
            &NewGiftCard {
                card: GiftCardRef::new("GC-1").unwrap(),
                currency: None,
                balance: 2_000,
                expires_at: Some(1_000 + 86_400),
            },
            1_000,
        )
        .await
        .unwrap();
        let options = IssueOptions::default();
        let pass = db
            .customer_pass(&dir, "C-1", &options, 1_100)
            .await
            .unwrap();
        assert_eq!(
            (pass.kind.as_str(), pass.subject.as_str()),
            ("customer_pass", "C-1")
        );
        let token_kid = db.active_kid(Purpose::Token).await.unwrap().unwrap();
        assert_eq!(pass.kid, token_kid.to_string(), "{name}");
        assert_eq!(pass.expires_at, 1_100 + 3_600, "{name}");
        assert!(
            db.customer_pass(&dir, "NOBODY", &options, 1_100)
                .await
                .is_err(),
            "{name}"
        );
        let card = db
            .gift_card_token(&dir, "GC-1", &options, 1_100)
            .await
            .unwrap();
        assert_eq!(
            card.expires_at,
            1_000 + 86_400,
            "{name}: never past the card"
        );
        let voucher = db
            .voucher(
                &dir,
                &NewVoucher {
                    code: PromotionId::new("WELCOME").unwrap(),
                    promotion_id: None,
                    options: options.clone(),
                },
                1_100,
            )
            .await
            .unwrap();
        assert_eq!(voucher.subject, "WELCOME", "{name}");
        assert_eq!(db.count_rows("issued_tokens").await.unwrap(), 3, "{name}");
        assert_ne!(pass.token_id, card.token_id, "{name}");

        let mut id = [0u8; 8];
        hex::decode_to_slice(&pass.token_id, &mut id).unwrap();
        db.revoke_token(TokenId(id), 1_200).await.unwrap();
        db.revoke_subject(TokenKind::GiftCard, b"GC-1", 1_201, 1_200)
            .await
            .unwrap();
        assert!(
            db.revoke_subject(TokenKind::GiftCard, b"", 1_201, 1_200)
                .await
                .is_err(),
            "{name}"
        );
        assert_eq!(db.count_rows("revocations").await.unwrap(), 2, "{name}");
        assert!(db.flags().await.unwrap().is_empty(), "{name}");
    }
}
