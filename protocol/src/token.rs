//! Signed customer tokens — customer passes, gift cards and vouchers — as shown in a
//! WhatsApp QR and verified offline at the till.
//!
//! - [`body`]: the fields ([`TokenBody`], [`TokenKind`], [`Subject`], [`TokenId`],
//!   [`Balance`]) and the fixed binary layout, version 1.
//! - [`text`]: the canonical QR text form (`TP` + decimal digits, 7 bytes → 17 digits).
//! - `reading`: a scanned text read back under one keyboard profile — framing (control
//!   characters, BOM, AIM identifier with or without ECI, full-width forms, doubled
//!   reads), the prefix in either case, the digit keys as the layout types them.
//! - `keyboards`: the profiles, generated from xkeyboard-config by `protocol/xkbgen`: what
//!   each layout and Caps Lock state types for the keys of a token text.
//! - `candidates`: every reading of a text, decided by the signature ([`MAX_READINGS`]
//!   at most), or the refusal of the reading that got furthest.
//! - [`SignedToken`], [`issue`] and [`decode`]: the body with its Ed25519 signature over
//!   [`SIGNING_CONTEXT`] ‖ body.
//! - [`verify`] / [`verify_token`] with a [`VerifyPolicy`], giving a [`VerifiedToken`] or a
//!   typed [`Refusal`] (stable code, cashier message in Spanish and English).
//! - [`Revocations`], [`RevocationList`], [`RevocationDelta`]: what is revoked, and the
//!   delta central sends in a `revocations` envelope.
//! - [`replay`]: the replay rule — when a read of a token at a till is a new use of it,
//!   the same use (a visit, a sale) or a replay.
//!
//! The format is specified for other implementers in `protocol/TOKEN.md`, with test
//! vectors in `protocol/tests/vectors/tokens.json`.
//!
//! ```
//! use ed25519_dalek::SigningKey;
//! use tillpass_protocol::token::{self, NoRevocations, Subject, TokenBody, TokenId, TokenKind, VerifyPolicy};
//! use tillpass_protocol::trust::{KeyPurpose, TrustStore, TrustedKey};
//!
//! let key = SigningKey::from_bytes(&[7; 32]); // in real life: central's token key
//! let body = TokenBody {
//!     kind: TokenKind::CustomerPass,
//!     subject: Subject::new(b"C-000123").unwrap(),
//!     issued_at: 1_750_000_000,
//!     lifetime_secs: 86_400,
//!     token_id: TokenId([1, 2, 3, 4, 5, 6, 7, 8]), // random in real life
//!     tier: Some(2),
//!     balance: None,
//! };
//! let text = token::issue(&body, &key).to_text();
//! assert!(text.starts_with("TP"));
//!
//! let trusted = TrustedKey::from_verifying_key(KeyPurpose::Token, key.verifying_key(), 0, u64::MAX).unwrap();
//! let trust = TrustStore::new(1, [trusted]).unwrap();
//! let verified = token::verify(&text, &trust, &VerifyPolicy::default(), &NoRevocations, 1_750_000_100).unwrap();
//! assert_eq!(verified.subject().as_bytes(), b"C-000123");
//! ```

pub mod body;
mod candidates;
mod keyboards;
mod reading;
mod refusal;
pub mod replay;
mod revocation;
mod signed;
pub mod text;
mod verify;

pub use body::{Balance, Subject, TokenBody, TokenId, TokenKind};
pub use candidates::MAX_READINGS;
pub use refusal::{Malformed, Refusal, RefusalCode, RevokedBy};
pub use revocation::{
    NoRevocations, RevocationDelta, RevocationList, Revocations, SubjectRevocation,
};
pub use signed::{SIGNING_CONTEXT, SignedToken, decode, issue};
pub use verify::{VerifiedToken, VerifyPolicy, verify, verify_token};
