//! Full decode + verify of one customer-pass text against a bare `verify_strict` of the
//! same signed message: the cost of everything that is not the signature check.
//!
//! Run: `cargo bench -p tillpass-protocol --bench token_verify`

// Setup may unwrap: a bench that cannot set up should stop loudly.
#![allow(clippy::unwrap_used)]

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use ed25519_dalek::SigningKey;
use tillpass_protocol::money::Currency;
use tillpass_protocol::token::{
    self, Balance, RevocationDelta, RevocationList, SIGNING_CONTEXT, Subject, TokenBody, TokenId,
    TokenKind, VerifyPolicy,
};
use tillpass_protocol::trust::{KeyId, KeyPurpose, TrustStore, TrustedKey};

const NOW: u64 = 1_750_000_600;

fn setup() -> (String, TrustStore, RevocationList) {
    let key = SigningKey::from_bytes(&[0x5a; 32]);
    let body = TokenBody {
        kind: TokenKind::CustomerPass,
        subject: Subject::new(&[0x11; 8]).unwrap(),
        issued_at: 1_750_000_000,
        lifetime_secs: 86_400,
        token_id: TokenId([0x22; 8]),
        tier: Some(2),
        balance: Some(Balance {
            amount: 1_250,
            currency: Currency::EUR,
        }),
    };
    let text = token::issue(&body, &key).to_text();
    // A realistic store: a few keys of each purpose, the right one among them.
    let mut keys: Vec<TrustedKey> = (1..=6u8)
        .map(|seed| {
            let purpose =
                [KeyPurpose::Token, KeyPurpose::Catalog, KeyPurpose::Sync][usize::from(seed % 3)];
            let vk = SigningKey::from_bytes(&[seed; 32]).verifying_key();
            TrustedKey::from_verifying_key(purpose, vk, 0, u64::MAX).unwrap()
        })
        .collect();
    keys.push(
        TrustedKey::from_verifying_key(KeyPurpose::Token, key.verifying_key(), 0, u64::MAX)
            .unwrap(),
    );
    let store = TrustStore::new(1, keys).unwrap();
    // And some revocations to look through.
    let mut revocations = RevocationList::new();
    revocations.apply(&RevocationDelta {
        kids: vec![KeyId([9, 9, 9, 9])],
        token_ids: (0..1_000u32)
            .map(|i| {
                let [a, b, c, d] = i.to_be_bytes();
                TokenId([a, b, c, d, 0, 0, 0, 1])
            })
            .collect(),
        subjects: vec![],
    });
    (text, store, revocations)
}

fn bench(c: &mut Criterion) {
    let (text, store, revocations) = setup();
    let policy = VerifyPolicy::default();
    assert!(token::verify(&text, &store, &policy, &revocations, NOW).is_ok());

    let decoded = token::decode(&text).unwrap();
    let mut message = SIGNING_CONTEXT.to_vec();
    message.extend_from_slice(decoded.body_bytes());
    let signature = decoded.signature();
    let key = *store.get(decoded.kid()).unwrap().verifying_key();
    assert!(key.verify_strict(&message, &signature).is_ok());

    let mut group = c.benchmark_group("token_verify");
    group.bench_function("bare_verify_strict", |b| {
        b.iter(|| black_box(&key).verify_strict(black_box(&message), black_box(&signature)))
    });
    group.bench_function("decode_and_verify", |b| {
        b.iter(|| {
            token::verify(
                black_box(&text),
                black_box(&store),
                &policy,
                &revocations,
                NOW,
            )
        })
    });
    group.bench_function("decode_only", |b| {
        b.iter(|| token::decode(black_box(&text)))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
