//! Fixed keys, times and builders shared by the integration tests.

use ed25519_dalek::SigningKey;
use sha2::{Digest, Sha256};
use tillpass_protocol::money::Currency;
use tillpass_protocol::token::{Balance, Subject, TokenBody, TokenId, TokenKind, VerifyPolicy};
use tillpass_protocol::trust::{KeyPurpose, TrustStore, TrustedKey};

/// 2026-01-01T00:00:00Z.
pub const T0: u32 = 1_767_225_600;

/// A test key derived from its name: seed = SHA-256("tillpass test key " ‖ name).
pub fn key(name: &str) -> SigningKey {
    let seed: [u8; 32] = Sha256::digest(format!("tillpass test key {name}")).into();
    SigningKey::from_bytes(&seed)
}

/// A store trusting each key for its purpose, forever.
pub fn store(keys: &[(KeyPurpose, &SigningKey)]) -> TrustStore {
    TrustStore::new(
        1,
        keys.iter().map(|(purpose, k)| {
            TrustedKey::from_verifying_key(*purpose, k.verifying_key(), 0, u64::MAX).unwrap()
        }),
    )
    .unwrap()
}

/// A policy that accepts any lifetime, for properties that are not about time.
pub fn any_lifetime() -> VerifyPolicy {
    VerifyPolicy {
        max_lifetime_customer_pass_secs: u32::MAX,
        max_lifetime_gift_card_secs: u32::MAX,
        max_lifetime_voucher_secs: u32::MAX,
        ..VerifyPolicy::default()
    }
}

/// The typical customer pass: 8-byte customer reference, 24 hours, tier and savings.
pub fn typical_pass() -> TokenBody {
    TokenBody {
        kind: TokenKind::CustomerPass,
        subject: Subject::new(&[0xc1, 0x00, 0x00, 0x00, 0x00, 0x01, 0xe2, 0x40]).unwrap(),
        issued_at: T0,
        lifetime_secs: 86_400,
        token_id: TokenId([0x5e, 0x1f, 0x0a, 0x9c, 0x33, 0x71, 0xd4, 0x08]),
        tier: Some(2),
        balance: Some(Balance {
            amount: 1_250,
            currency: Currency::EUR,
        }),
    }
}
