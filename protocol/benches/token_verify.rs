//! Full decode + verify of one customer-pass text against a bare `verify_strict` of the
//! same signed message: the cost of everything that is not the signature check. Then
//! mangled texts: one typed on the last layout profile to match (Lithuanian with Caps
//! Lock, framed with STX/ETX and an AIM identifier with ECI, read twice), and the worst
//! case for reading — a canonical text whose last character no US-digit profile reads,
//! so every profile reads it to the end — with its p99 over single calls.
//!
//! Run: `cargo bench -p tillpass-protocol --bench token_verify`

// Setup may unwrap: a bench that cannot set up should stop loudly; the p99 is printed.
#![allow(clippy::unwrap_used, clippy::print_stdout)]

use std::hint::black_box;
use std::time::{Duration, Instant};

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

    let late = lithuanian_caps_framed(&text);
    assert!(token::verify(&late, &store, &policy, &revocations, NOW).is_ok());
    group.bench_function("verify_mangled_late_layout", |b| {
        b.iter(|| token::verify(black_box(&late), &store, &policy, &revocations, NOW))
    });
    let worst = format!("{}é", &text[..text.len() - 1]);
    assert_eq!(
        token::verify(&worst, &store, &policy, &revocations, NOW).map_err(|r| r.detail_code()),
        Err(Some("invalid_character"))
    );
    group.bench_function("verify_worst_mangled", |b| {
        b.iter(|| token::verify(black_box(&worst), &store, &policy, &revocations, NOW))
    });
    group.finish();

    for (name, text) in [("mangled_late_layout", &late), ("worst_mangled", &worst)] {
        let p99 = p99_of(|| {
            let _ = black_box(token::verify(
                black_box(text),
                &store,
                &policy,
                &revocations,
                NOW,
            ));
        });
        println!("token_verify/{name}: p99 of 5,000 single calls = {p99:?}");
    }
}

/// `text` as a host with Lithuanian and Caps Lock types it, between STX and ETX, behind
/// the AIM identifier `]Q2` and the ECI escape `\000026`, read twice.
fn lithuanian_caps_framed(text: &str) -> String {
    const DIGITS: [char; 10] = ['“', 'Ą', 'Č', 'Ę', 'Ė', 'Į', 'Š', 'Ų', 'Ū', '„'];
    let typed = |us: &str| -> String {
        us.chars()
            .map(|c| match c.to_digit(10) {
                Some(d) => DIGITS[d as usize],
                None => c.to_ascii_lowercase(),
            })
            .collect()
    };
    let read = format!(
        "\u{2}]q{}\\{}{}\u{3}",
        typed("2"),
        typed("000026"),
        typed(text)
    );
    format!("{read}{read}")
}

/// The 99th percentile of `f`'s duration over 5,000 single calls.
fn p99_of(mut f: impl FnMut()) -> Duration {
    let mut times: Vec<Duration> = (0..5_000)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed()
        })
        .collect();
    times.sort_unstable();
    times[times.len() * 99 / 100]
}

criterion_group!(benches, bench);
criterion_main!(benches);
