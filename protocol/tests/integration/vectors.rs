//! The committed token test vectors, `tests/vectors/tokens.json`.
//!
//! `generate` builds them from fixed key seeds and times. One test fails when the
//! committed file differs from what `generate` produces (regenerate with
//! `TILLPASS_WRITE_VECTORS=1 cargo test -p tillpass-protocol --test integration vectors`);
//! another checks every vector using only what the file says (keys, policy, revocations,
//! texts, verdicts), as an implementation in another language would.

use std::collections::BTreeMap;

use ed25519_dalek::{Signer, SigningKey};
use serde_json::{Value, json};
use tillpass_protocol::money::Currency;
use tillpass_protocol::token::{
    self, Balance, RevocationDelta, RevocationList, SIGNING_CONTEXT, Subject, SubjectRevocation,
    TokenBody, TokenId, TokenKind, VerifiedToken, VerifyPolicy,
};
use tillpass_protocol::trust::{KeyId, KeyPurpose, TrustStore, TrustedKey};

use crate::util::{self, T0};

const PATH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/vectors/tokens.json");
const DAY: u32 = 86_400;
/// The default `now` of the vectors: ten minutes after T0.
const NOW: u64 = T0 as u64 + 600;

/// A trusted key of the vectors: name, purpose, window.
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
    ]
}

fn revocations() -> RevocationDelta {
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

fn pass() -> TokenBody {
    util::typical_pass()
}

/// One vector: how its text was made and what a verifier must say.
struct Vector {
    name: &'static str,
    description: &'static str,
    text: String,
    now: u64,
    /// `None` to accept, else the refusal code and detail.
    refusal: Option<(&'static str, Option<&'static str>)>,
    /// The body and key the text was issued from, when it was issued as is.
    issued: Option<(TokenBody, &'static str)>,
}

fn issued(
    name: &'static str,
    description: &'static str,
    body: TokenBody,
    key: &'static str,
) -> Vector {
    Vector {
        name,
        description,
        text: token::issue(&body, &util::key(key)).to_text(),
        now: NOW,
        refusal: None,
        issued: Some((body, key)),
    }
}

fn refused(mut v: Vector, code: &'static str, detail: Option<&'static str>) -> Vector {
    v.refusal = Some((code, detail));
    v
}

fn at(mut v: Vector, now: u64) -> Vector {
    v.now = now;
    v
}

fn derived(name: &'static str, description: &'static str, text: String) -> Vector {
    Vector {
        name,
        description,
        text,
        now: NOW,
        refusal: None,
        issued: None,
    }
}

/// The bytes of `body` issued by `key`, altered by `alter`, then signed again: a token
/// whose signature is valid but whose layout is not.
fn resigned(body: &TokenBody, key: &str, alter: impl Fn(&mut Vec<u8>)) -> String {
    let key = util::key(key);
    let bytes = token::issue(body, &key).as_bytes().to_vec();
    let mut body_bytes = bytes[..bytes.len() - 64].to_vec();
    alter(&mut body_bytes);
    let mut message = SIGNING_CONTEXT.to_vec();
    message.extend_from_slice(&body_bytes);
    body_bytes.extend_from_slice(&key.sign(&message).to_bytes());
    token::text::encode(&body_bytes)
}

fn azerty(text: &str) -> String {
    const ROW: [char; 10] = ['à', '&', 'é', '"', '\'', '(', '-', 'è', '_', 'ç'];
    text.chars()
        .map(|c| c.to_digit(10).map_or(c, |d| ROW[d as usize]))
        .collect()
}

fn vectors() -> Vec<Vector> {
    let policy = VerifyPolicy::default();
    let skew = u64::from(policy.clock_skew_secs);
    let t0 = u64::from(T0);
    let good = token::issue(&pass(), &util::key("token-2026"));
    let good_text = good.to_text();
    let good_bytes = good.as_bytes().to_vec();
    let flip = |at: usize| {
        let mut b = good_bytes.clone();
        b[at] ^= 0x01;
        token::text::encode(&b)
    };
    let subject_len = pass().subject.as_bytes().len();
    let last_group = match good_bytes.len() % 7 {
        0 => 17,
        n => token::text::group_digits(n),
    };
    assert_eq!(
        good_bytes.len(),
        103,
        "update the truncated_last_group description"
    );
    let eur = |amount| {
        Some(Balance {
            amount,
            currency: Currency::EUR,
        })
    };

    vec![
        issued(
            "customer_pass_full",
            "Customer pass, 8-byte subject, tier 2, savings balance 12.50 EUR.",
            pass(),
            "token-2026",
        ),
        issued(
            "customer_pass_minimal",
            "Customer pass without claims.",
            TokenBody {
                tier: None,
                balance: None,
                ..pass()
            },
            "token-2026",
        ),
        issued(
            "gift_card",
            "Gift card: the subject is the card id; balance 50.00 EUR; valid 180 days.",
            TokenBody {
                kind: TokenKind::GiftCard,
                subject: Subject::new(b"GC-0000123456").unwrap(),
                lifetime_secs: 180 * DAY,
                tier: None,
                balance: eur(5_000),
                ..pass()
            },
            "token-2026",
        ),
        issued(
            "voucher",
            "Voucher with a 16-byte subject, valid 30 days.",
            TokenBody {
                kind: TokenKind::Voucher,
                subject: Subject::new(b"V-SPRING26-00042").unwrap(),
                lifetime_secs: 30 * DAY,
                tier: None,
                balance: None,
                ..pass()
            },
            "token-2026",
        ),
        issued(
            "balance_in_yen",
            "A balance in a currency with no minor unit: 3000 JPY (ISO 4217 392).",
            TokenBody {
                balance: Some(Balance {
                    amount: 3_000,
                    currency: Currency::from_code("JPY").unwrap(),
                }),
                ..pass()
            },
            "token-2026",
        ),
        at(
            issued(
                "valid_until_expiry_plus_skew",
                "Accepted at exactly expiry + skew.",
                pass(),
                "token-2026",
            ),
            t0 + 86_400 + skew,
        ),
        refused(
            at(
                issued(
                    "expired",
                    "One second after expiry + skew.",
                    pass(),
                    "token-2026",
                ),
                t0 + 86_400 + skew + 1,
            ),
            "expired",
            None,
        ),
        at(
            issued(
                "valid_from_issue_minus_skew",
                "Accepted at exactly issued-at - skew (till clock behind).",
                pass(),
                "token-2026",
            ),
            t0 - skew,
        ),
        refused(
            at(
                issued(
                    "not_yet_valid",
                    "One second before issued-at - skew.",
                    pass(),
                    "token-2026",
                ),
                t0 - skew - 1,
            ),
            "not_yet_valid",
            None,
        ),
        refused(
            issued(
                "lifetime_too_long",
                "A customer pass valid 7 days + 1 second; the policy allows 7 days.",
                TokenBody {
                    lifetime_secs: 7 * DAY + 1,
                    ..pass()
                },
                "token-2026",
            ),
            "lifetime_too_long",
            None,
        ),
        refused(
            derived(
                "bad_signature",
                "customer_pass_full with the lowest bit of the last signature byte flipped.",
                flip(good_bytes.len() - 1),
            ),
            "bad_signature",
            None,
        ),
        refused(
            derived(
                "body_tampered",
                "customer_pass_full with the tier changed from 2 to 3, signature kept.",
                flip(23 + subject_len + 1),
            ),
            "bad_signature",
            None,
        ),
        refused(
            issued(
                "unknown_key",
                "Signed by a key that is not in the trust store.",
                pass(),
                "token-unlisted",
            ),
            "unknown_key",
            None,
        ),
        refused(
            issued(
                "key_wrong_purpose",
                "Signed by a catalog key.",
                pass(),
                "catalog-2026",
            ),
            "key_wrong_purpose",
            None,
        ),
        refused(
            issued(
                "key_not_valid_at_issue",
                "Signed by a token key whose window ended 30 days before issued-at.",
                pass(),
                "token-retired",
            ),
            "key_not_valid_at_issue",
            None,
        ),
        refused(
            issued(
                "revoked_key",
                "Signed by a token key listed in the revocations.",
                pass(),
                "token-revoked",
            ),
            "revoked",
            Some("key"),
        ),
        refused(
            issued(
                "revoked_token_id",
                "Its token id is listed in the revocations.",
                TokenBody {
                    token_id: TokenId(*b"REVOKED!"),
                    ..pass()
                },
                "token-2026",
            ),
            "revoked",
            Some("token_id"),
        ),
        refused(
            issued(
                "revoked_subject",
                "Its subject's tokens issued before T0 + 1 are revoked; issued at T0.",
                TokenBody {
                    subject: Subject::new(b"LOST-PHONE-0007").unwrap(),
                    ..pass()
                },
                "token-2026",
            ),
            "revoked",
            Some("subject"),
        ),
        issued(
            "reissued_after_subject_revocation",
            "Same subject, issued at T0 + 1: not revoked.",
            TokenBody {
                subject: Subject::new(b"LOST-PHONE-0007").unwrap(),
                issued_at: T0 + 1,
                ..pass()
            },
            "token-2026",
        ),
        refused(
            derived(
                "truncated_one_digit",
                "customer_pass_full without its last digit.",
                good_text[..good_text.len() - 1].to_owned(),
            ),
            "malformed",
            Some("digit_count"),
        ),
        refused(
            derived(
                "truncated_last_group",
                "customer_pass_full without its last group of digits (its last 103 mod 7 = 5 bytes).",
                good_text[..good_text.len() - last_group].to_owned(),
            ),
            "malformed",
            Some("truncated"),
        ),
        refused(
            derived(
                "trailing_byte",
                "customer_pass_full's bytes plus one byte 0x00 after the signature, encoded.",
                token::text::encode(&[good_bytes.as_slice(), &[0]].concat()),
            ),
            "malformed",
            Some("trailing_bytes"),
        ),
        refused(
            derived(
                "appended_digits",
                "customer_pass_full's text followed by 000: no byte length has that many digits.",
                format!("{good_text}000"),
            ),
            "malformed",
            Some("digit_count"),
        ),
        refused(
            derived(
                "trailing_garbage",
                "customer_pass_full followed by X.",
                format!("{good_text}X"),
            ),
            "malformed",
            Some("invalid_character"),
        ),
        derived(
            "aim_identifier",
            "customer_pass_full behind the AIM identifier ]Q1.",
            format!("]Q1{good_text}"),
        ),
        derived(
            "lower_case_prefix",
            "customer_pass_full with a lower-case prefix.",
            format!("tp{}", &good_text[2..]),
        ),
        derived(
            "azerty_digits",
            "customer_pass_full as typed by a scanner on an AZERTY keyboard without Shift.",
            azerty(&good_text),
        ),
        derived(
            "surrounding_whitespace",
            "customer_pass_full with spaces before and CR LF after.",
            format!("  {good_text}\r\n"),
        ),
        refused(
            derived(
                "group_out_of_range",
                "customer_pass_full with its first group replaced by 2^56 (does not fit 7 bytes).",
                format!("TP{}{}", 1u64 << 56, &good_text[19..]),
            ),
            "malformed",
            Some("group_out_of_range"),
        ),
        refused(
            derived(
                "missing_prefix",
                "customer_pass_full without its prefix.",
                good_text[2..].to_owned(),
            ),
            "malformed",
            Some("missing_prefix"),
        ),
        refused(
            derived("empty", "An empty scan.", String::new()),
            "malformed",
            Some("missing_prefix"),
        ),
        refused(
            derived(
                "unknown_version",
                "Version byte 2, validly signed.",
                resigned(&pass(), "token-2026", |b| b[0] = 2),
            ),
            "malformed",
            Some("unknown_version"),
        ),
        refused(
            derived(
                "unknown_type",
                "Type byte 9, validly signed.",
                resigned(&pass(), "token-2026", |b| b[1] = 9),
            ),
            "malformed",
            Some("unknown_type"),
        ),
        refused(
            derived(
                "unknown_claim_flag",
                "Claim flag bit 2 set, validly signed.",
                resigned(&pass(), "token-2026", |b| b[23 + subject_len] |= 0b100),
            ),
            "malformed",
            Some("unknown_claims"),
        ),
    ]
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
            let signing = util::key(k.name);
            let public = signing.verifying_key();
            json!({
                "name": k.name,
                "seed": hex_of(signing.as_bytes()),
                "public_key": hex_of(public.as_bytes()),
                "kid": KeyId::of(&public).to_string(),
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

fn rendered() -> String {
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

// ---- Checking the file on its own, as another implementation would. ----

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
        let trusted = k.get("trusted").filter(|t| !t.is_null())?;
        let public: [u8; 32] = bytes_of(str_of(k, "public_key"));
        // The file's kid and seed must agree with its public key.
        let seed: [u8; 32] = bytes_of(str_of(k, "seed"));
        assert_eq!(
            SigningKey::from_bytes(&seed).verifying_key().to_bytes(),
            public
        );
        assert_eq!(KeyId::of_public_key(&public).to_string(), str_of(k, "kid"));
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
    assert!(vectors.len() >= 30);
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
