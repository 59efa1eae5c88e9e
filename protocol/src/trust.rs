//! The trust list: the public keys a till believes, what each may sign, and when.
//!
//! - [`KeyId`]: the 4-byte key id, the first 4 bytes of SHA-256 of a 32-byte Ed25519
//!   public key. Tokens and envelopes name their signer by it.
//! - [`KeyPurpose`]: what a key may sign: customer tokens, promotion catalogs, sync data
//!   (revocation deltas), or — for the pinned root only — the trust list. A key has exactly
//!   one purpose.
//! - [`TrustedKey`]: a public key (kept decompressed, ready to verify) with its purpose and
//!   validity window.
//! - [`TrustStore`]: the keys in force, looked up by key id, purpose and time, plus the
//!   sequence number of the trust list they came from.
//! - [`RootKey`]: the pinned root key. It signs the trust list, as a
//!   [`crate::envelope`] of purpose `trust-list`, and nothing else; it is not itself in
//!   the list. [`TrustStore::open`] refuses a list whose sequence is not above the current
//!   one (rollback).
//!
//! The wire form of the list (the envelope payload) is specified in `protocol/TOKEN.md`.

mod key;
mod list;
mod store;

pub use key::{KeyId, KeyPurpose, TrustError, TrustedKey};
pub use list::RootKey;
pub use store::{KeyLookupError, TrustStore};
