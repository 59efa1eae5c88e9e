//! Opening arbitrary bytes as signed envelopes of every purpose, and reading arbitrary
//! revocation payloads: must never panic.
#![no_main]

use std::sync::LazyLock;

use ed25519_dalek::SigningKey;
use libfuzzer_sys::fuzz_target;
use tillpass_protocol::envelope::{self, EnvelopePurpose};
use tillpass_protocol::token::RevocationDelta;
use tillpass_protocol::trust::{KeyPurpose, RootKey, TrustStore, TrustedKey};

static STORE: LazyLock<TrustStore> = LazyLock::new(|| {
    let key = |seed: u8, purpose| {
        let vk = SigningKey::from_bytes(&[seed; 32]).verifying_key();
        TrustedKey::from_verifying_key(purpose, vk, 0, u64::MAX).ok()
    };
    let keys = [key(1, KeyPurpose::Catalog), key(2, KeyPurpose::Sync)];
    TrustStore::new(1, keys.into_iter().flatten()).unwrap_or_default()
});

static ROOT: LazyLock<Option<RootKey>> = LazyLock::new(|| {
    RootKey::from_verifying_key(SigningKey::from_bytes(&[3; 32]).verifying_key()).ok()
});

fuzz_target!(|data: &[u8]| {
    for purpose in [EnvelopePurpose::Revocations, EnvelopePurpose::Catalog] {
        let _ = envelope::open(data, purpose, &*STORE, 1_750_000_000, 0);
    }
    if let Some(root) = ROOT.as_ref() {
        let _ = TrustStore::open(data, root, 1_750_000_000, 0);
    }
    let _ = RevocationDelta::from_cbor(data);
});
