//! The committed token test vectors, `tests/vectors/tokens.json`: the keys, policy and
//! revocations they assume, the JSON document, and the test that fails when the committed
//! file differs from what is generated here (regenerate with
//! `TILLPASS_WRITE_VECTORS=1 cargo test -p tillpass-protocol --test integration vector`).
//! Generated from fixed key seeds and times, never written by hand.

use std::collections::BTreeMap;

use serde_json::{Value, json};
use tillpass_protocol::token::{
    self, RevocationDelta, SIGNING_CONTEXT, Subject, SubjectRevocation, TokenBody, TokenId,
    TokenKind, VerifyPolicy,
};
use tillpass_protocol::trust::{KeyId, KeyPurpose};

use crate::util::{self, T0};
use crate::vector_cases::vectors;

/// Where the vectors are committed.
pub const PATH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/vectors/tokens.json");
const DAY: u32 = 86_400;

/// The name of the small-order key (the identity point) in the vectors.
const SMALL_ORDER_KEY: &str = "small-order";

struct VectorKey {
    name: &'static str,
    purpose: Option<KeyPurpose>,
    not_before: u64,
    not_after: u64,
}

fn vector_keys() -> Vec<VectorKey> {
    let t0 = u64::from(T0);
    let day = u64::from(DAY);
    let key = |name, purpose, not_before, not_after| VectorKey {
        name,
        purpose,
        not_before,
        not_after,
    };
    vec![
        key(
            "token-2026",
            Some(KeyPurpose::Token),
            t0 - 30 * day,
            t0 + 365 * day,
        ),
        key(
            "token-retired",
            Some(KeyPurpose::Token),
            t0 - 400 * day,
            t0 - 30 * day,
        ),
        key(
            "token-revoked",
            Some(KeyPurpose::Token),
            t0 - 30 * day,
            t0 + 365 * day,
        ),
        key(
            "catalog-2026",
            Some(KeyPurpose::Catalog),
            t0 - 30 * day,
            t0 + 365 * day,
        ),
        // Not in the trust store.
        key("token-unlisted", None, 0, 0),
        // The identity point: small order, refused by every trust list; it has no seed.
        key(SMALL_ORDER_KEY, None, 0, 0),
    ]
}

pub fn revocations() -> RevocationDelta {
    RevocationDelta {
        kids: vec![KeyId::of(&util::key("token-revoked").verifying_key())],
        token_ids: vec![TokenId(*b"REVOKED!")],
        subjects: vec![SubjectRevocation {
            kind: TokenKind::CustomerPass,
            subject: Subject::new(b"LOST-PHONE-0007").unwrap(),
            before: u64::from(T0) + 1,
        }],
    }
}

fn hex_of(bytes: &[u8]) -> String {
    hex::encode(bytes)
}

fn body_json(body: &TokenBody) -> Value {
    json!({
        "type": body.kind.code(),
        "subject": hex_of(body.subject.as_bytes()),
        "issued_at": body.issued_at,
        "lifetime_secs": body.lifetime_secs,
        "expires_at": body.expires_at(),
        "token_id": hex_of(&body.token_id.0),
        "tier": body.tier,
        "balance": body.balance.map(|b| json!({
            "amount": b.amount,
            "currency": b.currency.code(),
            "currency_numeric": b.currency.numeric(),
        })),
    })
}

/// The whole vectors document.
fn generate() -> Value {
    let policy = VerifyPolicy::default();
    let keys: Vec<Value> = vector_keys()
        .iter()
        .map(|k| {
            let (seed, public) = if k.name == SMALL_ORDER_KEY {
                (None, crate::vector_edges::IDENTITY)
            } else {
                let signing = util::key(k.name);
                (
                    Some(hex_of(signing.as_bytes())),
                    signing.verifying_key().to_bytes(),
                )
            };
            json!({
                "name": k.name,
                "seed": seed,
                "public_key": hex_of(&public),
                "kid": KeyId::of_public_key(&public).to_string(),
                "trusted": k.purpose.map(|p| json!({
                    "purpose": p.code(),
                    "not_before": k.not_before,
                    "not_after": k.not_after,
                })),
            })
        })
        .collect();
    let rev = revocations();
    let vectors: Vec<Value> = vectors()
        .into_iter()
        .map(|v| {
            let decoded = token::decode(&v.text).ok();
            let mut o = BTreeMap::new();
            o.insert("name", json!(v.name));
            o.insert("description", json!(v.description));
            o.insert("text", json!(v.text));
            o.insert("now", json!(v.now));
            o.insert(
                "bytes",
                json!(decoded.as_ref().map(|t| hex_of(t.as_bytes()))),
            );
            o.insert(
                "issued_from",
                json!(
                    v.issued
                        .map(|(body, key)| json!({"key": key, "body": body_json(&body)}))
                ),
            );
            match v.refusal {
                None => {
                    o.insert("verdict", json!("accept"));
                    let t = decoded.expect("accepted vectors decode");
                    o.insert(
                        "token",
                        json!({"kid": t.kid().to_string(), "body": body_json(t.body())}),
                    );
                }
                Some((code, detail)) => {
                    o.insert("verdict", json!("refuse"));
                    o.insert("code", json!(code));
                    o.insert("detail", json!(detail));
                }
            }
            json!(o)
        })
        .collect();
    json!({
        "format": "tillpass token v1 — see protocol/TOKEN.md",
        "warning": "TEST KEYS ONLY: the seeds are public. Seeds are SHA-256(\"tillpass test key \" + name).",
        "prefix": token::text::PREFIX,
        "signing_context": hex_of(SIGNING_CONTEXT),
        "t0": T0,
        "keys": keys,
        "policy": {
            "clock_skew_secs": policy.clock_skew_secs,
            "max_lifetime_secs": {
                "customer_pass": policy.max_lifetime_customer_pass_secs,
                "gift_card": policy.max_lifetime_gift_card_secs,
                "voucher": policy.max_lifetime_voucher_secs,
            },
        },
        "revocations": {
            "kids": rev.kids.iter().map(|k| k.to_string()).collect::<Vec<_>>(),
            "token_ids": rev.token_ids.iter().map(|t| hex_of(&t.0)).collect::<Vec<_>>(),
            "subjects": rev.subjects.iter().map(|s| json!({
                "type": s.kind.code(),
                "subject": hex_of(s.subject.as_bytes()),
                "before": s.before,
            })).collect::<Vec<_>>(),
        },
        "vectors": vectors,
    })
}

pub fn rendered() -> String {
    let mut text = serde_json::to_string_pretty(&generate()).unwrap();
    text.push('\n');
    text
}

#[test]
fn committed_vectors_match_the_generator() {
    let fresh = rendered();
    if std::env::var_os("TILLPASS_WRITE_VECTORS").is_some() {
        std::fs::write(PATH, &fresh).unwrap();
    }
    let committed = std::fs::read_to_string(PATH).unwrap_or_default();
    assert!(
        committed == fresh,
        "{PATH} differs from the generator's output; if the change is intended, run \
         TILLPASS_WRITE_VECTORS=1 cargo test -p tillpass-protocol --test integration vectors"
    );
}
