//! Checks every committed vector using only what `tests/vectors/tokens.json` says (keys,
//! policy, revocations, texts, verdicts), as an implementation in another language would.

use ed25519_dalek::SigningKey;
use serde_json::Value;
use tillpass_protocol::money::Currency;
use tillpass_protocol::token::{
    self, Balance, RevocationDelta, RevocationList, SIGNING_CONTEXT, Subject, SubjectRevocation,
    TokenBody, TokenId, TokenKind, VerifiedToken, VerifyPolicy,
};
use tillpass_protocol::trust::{KeyId, KeyPurpose, TrustStore, TrustedKey};

use crate::vector_file::{PATH, rendered};

fn str_of<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key]
        .as_str()
        .unwrap_or_else(|| panic!("{key} is not a string in {v}"))
}

fn u64_of(v: &Value, key: &str) -> u64 {
    v[key]
        .as_u64()
        .unwrap_or_else(|| panic!("{key} is not a u64 in {v}"))
}

fn bytes_of<const N: usize>(hex_text: &str) -> [u8; N] {
    let mut out = [0u8; N];
    hex::decode_to_slice(hex_text, &mut out).unwrap();
    out
}

fn purpose_of(code: &str) -> KeyPurpose {
    match code {
        "token" => KeyPurpose::Token,
        "catalog" => KeyPurpose::Catalog,
        "sync" => KeyPurpose::Sync,
        other => panic!("unknown purpose {other}"),
    }
}

fn file_store(doc: &Value) -> TrustStore {
    let keys = doc["keys"].as_array().unwrap().iter().filter_map(|k| {
        let public: [u8; 32] = bytes_of(str_of(k, "public_key"));
        // The file's kid and seed must agree with its public key.
        assert_eq!(KeyId::of_public_key(&public).to_string(), str_of(k, "kid"));
        match k["seed"].as_str() {
            Some(seed) => assert_eq!(
                SigningKey::from_bytes(&bytes_of(seed))
                    .verifying_key()
                    .to_bytes(),
                public
            ),
            // A key without a seed is a weak point that no trust store takes.
            None => assert!(TrustedKey::new(KeyPurpose::Token, &public, 0, u64::MAX).is_err()),
        }
        let trusted = k.get("trusted").filter(|t| !t.is_null())?;
        Some(
            TrustedKey::new(
                purpose_of(str_of(trusted, "purpose")),
                &public,
                u64_of(trusted, "not_before"),
                u64_of(trusted, "not_after"),
            )
            .unwrap(),
        )
    });
    TrustStore::new(1, keys).unwrap()
}

fn file_policy(doc: &Value) -> VerifyPolicy {
    let p = &doc["policy"];
    let max = &p["max_lifetime_secs"];
    let secs = |v: &Value, key: &str| u32::try_from(u64_of(v, key)).unwrap();
    VerifyPolicy {
        clock_skew_secs: secs(p, "clock_skew_secs"),
        max_lifetime_customer_pass_secs: secs(max, "customer_pass"),
        max_lifetime_gift_card_secs: secs(max, "gift_card"),
        max_lifetime_voucher_secs: secs(max, "voucher"),
    }
}

fn file_revocations(doc: &Value) -> RevocationList {
    let r = &doc["revocations"];
    let list = |key: &str| r[key].as_array().unwrap().iter();
    let mut revocations = RevocationList::new();
    revocations.apply(&RevocationDelta {
        kids: list("kids")
            .map(|k| KeyId(bytes_of(k.as_str().unwrap())))
            .collect(),
        token_ids: list("token_ids")
            .map(|t| TokenId(bytes_of(t.as_str().unwrap())))
            .collect(),
        subjects: list("subjects")
            .map(|s| SubjectRevocation {
                kind: TokenKind::from_code(str_of(s, "type")).unwrap(),
                subject: Subject::new(&hex::decode(str_of(s, "subject")).unwrap()).unwrap(),
                before: u64_of(s, "before"),
            })
            .collect(),
    });
    revocations
}

fn assert_token_matches(verified: &VerifiedToken, expected: &Value, name: &str) {
    let body = &expected["body"];
    assert_eq!(
        verified.kid().to_string(),
        str_of(expected, "kid"),
        "{name}"
    );
    assert_eq!(verified.kind().code(), str_of(body, "type"), "{name}");
    assert_eq!(
        hex::encode(verified.subject().as_bytes()),
        str_of(body, "subject"),
        "{name}"
    );
    assert_eq!(verified.issued_at(), u64_of(body, "issued_at"), "{name}");
    assert_eq!(verified.expires_at(), u64_of(body, "expires_at"), "{name}");
    assert_eq!(
        hex::encode(verified.token_id().0),
        str_of(body, "token_id"),
        "{name}"
    );
    assert_eq!(
        verified.tier().map(u64::from),
        body["tier"].as_u64(),
        "{name}"
    );
    let balance = verified.balance().map(|b| {
        (
            u64::from(b.amount),
            b.currency.code().to_owned(),
            u64::from(b.currency.numeric()),
        )
    });
    let expected_balance = body["balance"].as_object().map(|b| {
        (
            b["amount"].as_u64().unwrap(),
            b["currency"].as_str().unwrap().to_owned(),
            b["currency_numeric"].as_u64().unwrap(),
        )
    });
    assert_eq!(balance, expected_balance, "{name}");
}

#[test]
fn every_committed_vector_gets_its_verdict() {
    // While regenerating, check what is being written (the other test may not have
    // written it yet).
    let text = if std::env::var_os("TILLPASS_WRITE_VECTORS").is_some() {
        rendered()
    } else {
        std::fs::read_to_string(PATH).unwrap()
    };
    let doc: Value = serde_json::from_str(&text).unwrap();
    let store = file_store(&doc);
    let policy = file_policy(&doc);
    let revocations = file_revocations(&doc);
    assert_eq!(
        str_of(&doc, "signing_context"),
        hex::encode(SIGNING_CONTEXT)
    );
    let vectors = doc["vectors"].as_array().unwrap();
    assert!(vectors.len() >= 70);
    let mut seen_codes = std::collections::BTreeSet::new();
    for v in vectors {
        let name = str_of(v, "name");
        let result = token::verify(
            str_of(v, "text"),
            &store,
            &policy,
            &revocations,
            u64_of(v, "now"),
        );
        match str_of(v, "verdict") {
            "accept" => {
                let verified = result.unwrap_or_else(|r| panic!("{name}: refused as {}", r.code()));
                assert_token_matches(&verified, &v["token"], name);
                seen_codes.insert("accept");
            }
            "refuse" => {
                let refusal = result.err().unwrap_or_else(|| panic!("{name}: accepted"));
                assert_eq!(refusal.code(), str_of(v, "code"), "{name}");
                assert_eq!(refusal.detail_code(), v["detail"].as_str(), "{name}");
                seen_codes.insert(refusal.code());
            }
            other => panic!("{name}: verdict {other}"),
        }
        // Issued vectors: the issuer must produce exactly this text from the body and key.
        if let Some(from) = v["issued_from"].as_object() {
            let key = doc["keys"]
                .as_array()
                .unwrap()
                .iter()
                .find(|k| k["name"] == from["key"])
                .unwrap();
            let seed: [u8; 32] = bytes_of(str_of(key, "seed"));
            let b = &from["body"];
            let body = TokenBody {
                kind: TokenKind::from_code(str_of(b, "type")).unwrap(),
                subject: Subject::new(&hex::decode(str_of(b, "subject")).unwrap()).unwrap(),
                issued_at: u32::try_from(u64_of(b, "issued_at")).unwrap(),
                lifetime_secs: u32::try_from(u64_of(b, "lifetime_secs")).unwrap(),
                token_id: TokenId(bytes_of(str_of(b, "token_id"))),
                tier: b["tier"].as_u64().map(|t| u8::try_from(t).unwrap()),
                balance: b["balance"].as_object().map(|bal| Balance {
                    amount: u32::try_from(bal["amount"].as_u64().unwrap()).unwrap(),
                    currency: Currency::from_numeric(
                        u16::try_from(bal["currency_numeric"].as_u64().unwrap()).unwrap(),
                    )
                    .unwrap(),
                }),
            };
            let text = token::issue(&body, &SigningKey::from_bytes(&seed)).to_text();
            assert_eq!(
                text,
                str_of(v, "text"),
                "{name}: issuing is not deterministic"
            );
        }
    }
    // The vectors cover every refusal code.
    for code in [
        "accept",
        "malformed",
        "unknown_key",
        "key_wrong_purpose",
        "key_not_valid_at_issue",
        "bad_signature",
        "not_yet_valid",
        "expired",
        "lifetime_too_long",
        "revoked",
    ] {
        assert!(seen_codes.contains(code), "no vector for {code}");
    }
}
