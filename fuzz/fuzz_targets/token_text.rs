//! Token text decoding and verification on arbitrary input: must never panic, and whatever
//! decodes must re-encode to a text that decodes to the same token.
#![no_main]

use std::sync::LazyLock;

use ed25519_dalek::SigningKey;
use libfuzzer_sys::fuzz_target;
use tillpass_protocol::token::{self, NoRevocations, SignedToken, VerifyPolicy};
use tillpass_protocol::trust::{KeyPurpose, TrustStore, TrustedKey};

/// A store trusting one fixed token key, so that inputs can reach every check.
static STORE: LazyLock<TrustStore> = LazyLock::new(|| {
    let key = SigningKey::from_bytes(&[0x42; 32]).verifying_key();
    let trusted = TrustedKey::from_verifying_key(KeyPurpose::Token, key, 0, u64::MAX);
    TrustStore::new(1, trusted).unwrap_or_default()
});

fuzz_target!(|data: &[u8]| {
    // As text (what a scanner hands over)...
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(token) = token::decode(text) {
            let again = token::decode(&token.to_text());
            assert_eq!(again.as_ref(), Ok(&token), "canonical text must round-trip");
        }
        let _ = token::verify(text, &STORE, &VerifyPolicy::default(), &NoRevocations, 1_750_000_000);
    }
    // ...and as raw token bytes.
    if let Ok(token) = SignedToken::from_bytes(data) {
        assert_eq!(token.as_bytes(), data, "bytes must round-trip");
    }
});
