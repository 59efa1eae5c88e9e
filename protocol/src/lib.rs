//! # tillpass-protocol
//!
//! Everything that crosses a boundary between tillpass parts — the customer's phone, the
//! till and the central loyalty service — is defined here, and nothing else is.
//!
//! ## Map
//! - [`money`]: integer minor units with an ISO 4217 currency, checked arithmetic,
//!   half-even percentages and exact allocation across weights.
//! - [`token`]: the signed customer pass, gift-card and voucher tokens: binary body,
//!   QR text form, tolerant decoding, issuing and verification with typed refusals.
//! - [`trust`]: the trust list of public keys (purpose, validity), pinned to a root key,
//!   with a sequence number that refuses rollback.
//! - [`envelope`]: COSE_Sign1 envelopes over CBOR for the trust list, revocation deltas
//!   and promotion catalogs.
//! - [`catalog`]: the promotion catalog schema and its authoring format for central IT.
//! - [`sync`]: the till ↔ central messages: enrolment, journal events, batch upload with
//!   per-event acknowledgement, delta pages, signed requests.
//! - [`tender`]: [`tender::Tender`], how a sale was paid, in the journal's form and the
//!   POS API's.
//! - [`problem`]: the one error format of both HTTP services (RFC 9457 problem
//!   documents) and [`problem::ErrorCode`], every code they answer of their own.
//! - [`lang`]: the languages messages are shown in (Spanish, English).
//! - [`qr`]: rendering a token's text as a QR code (SVG, PNG, terminal).
//!
//! ## Rules of this crate
//! - **Pure.** No I/O, no clock, no randomness: `now`, keys and nonces are arguments.
//! - **No panics on any input.** Every decoder returns a typed error; arithmetic is checked.
//! - **Stable wire formats.** A change to a byte layout or a serialized name is a new
//!   version, never an edit of the old one.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod catalog;
pub mod envelope;
pub mod lang;
pub mod money;
pub mod problem;
pub mod qr;
pub mod sync;
pub mod tender;
pub mod token;
pub mod trust;
