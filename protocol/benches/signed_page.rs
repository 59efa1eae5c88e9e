//! What a signed delta page costs the till: opening a full page (1,000 balance items) —
//! envelope checks, Ed25519 over the page, payload and binding — against parsing the same
//! page's JSON, which the till does either way. Also central's cost to seal it.
//!
//! Run: `cargo bench -p tillpass-protocol --bench signed_page`

// Setup may unwrap: a bench that cannot set up should stop loudly; it prints the sizes.
#![allow(clippy::unwrap_used, clippy::print_stderr)]

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use ed25519_dalek::SigningKey;
use tillpass_protocol::money::{Currency, Money};
use tillpass_protocol::sync::{
    BalanceDelta, Cursor, CustomerRef, DeltaKind, DeltaPage, PageRequest, RequestNonce, TillId,
    open_page, seal_page,
};
use tillpass_protocol::trust::{KeyPurpose, TrustStore, TrustedKey};

const NOW: u64 = 1_750_000_000;

fn page_json() -> Vec<u8> {
    let items = (0..1_000)
        .map(|i| BalanceDelta::Upsert {
            customer: CustomerRef::new(format!("C-{i:06}")).unwrap(),
            savings: Money::new(1_000 + i, Currency::EUR),
            debt: Money::zero(Currency::EUR),
            updated_at: 1_749_990_000 + i,
            pending: None,
            next_release_at: None,
        })
        .collect();
    serde_json::to_vec(&DeltaPage::new(items, Cursor::new("1000").unwrap(), true)).unwrap()
}

fn bench(c: &mut Criterion) {
    let key = SigningKey::from_bytes(&[0x33; 32]);
    let trust = TrustStore::new(
        1,
        [
            TrustedKey::from_verifying_key(KeyPurpose::Sync, key.verifying_key(), 0, u64::MAX)
                .unwrap(),
        ],
    )
    .unwrap();
    let request = PageRequest {
        kind: DeltaKind::Balances,
        till: TillId::new("S001-T01").unwrap(),
        cursor: Cursor::new("0").unwrap(),
        nonce: RequestNonce([7; 16]),
    };
    let json = page_json();
    let sealed = seal_page(&request, &json, 1, NOW, &key).unwrap();
    eprintln!(
        "page JSON {} bytes, signed page {} bytes",
        json.len(),
        sealed.len()
    );

    let mut group = c.benchmark_group("delta_page_1000_balances");
    group.bench_function("parse_json", |b| {
        b.iter(|| serde_json::from_slice::<DeltaPage<BalanceDelta>>(black_box(&json)).unwrap())
    });
    group.bench_function("open_signed_then_parse_json", |b| {
        b.iter(|| {
            let page = open_page(black_box(&sealed), &request, &trust, NOW).unwrap();
            serde_json::from_slice::<DeltaPage<BalanceDelta>>(&page).unwrap()
        })
    });
    group.bench_function("seal", |b| {
        b.iter(|| seal_page(&request, black_box(&json), 1, NOW, &key).unwrap())
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
