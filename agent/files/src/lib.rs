//! # tillpass-tillfiles
//!
//! The files `tillpass-install` writes and the agent `tillpass` reads, with one typed owner
//! each, so the two never drift. Used by the agent, the installer and the demo; depends on
//! none of them.
//!
//! ## Map
//! - [`layout`]: file names (`config.toml`, `till.key`, `api.token`, `enrolment.json`, the
//!   database `tillpass.db`) and an installed till's folders.
//! - [`keys`]: the till key file (Ed25519 seed in hex) and the API token file: made, written
//!   0600, read and parsed.
//! - [`config`]: the schema of the sections of `config.toml` the installer writes and the
//!   agent reads (`[till]`, `[central]`, `[api]`, `[store]`) with their defaults — the API's
//!   default address once — and the file the installer writes, serialised with `toml`.
//! - [`status`]: the JSON shape of `tillpass status --offline --json`, which the installer's
//!   doctor reads instead of the agent's tables.
//! - [`tls`]: the roots trusted for HTTPS to central (the system's store plus an optional
//!   private CA file).
#![forbid(unsafe_code)]

pub mod config;
pub mod keys;
pub mod layout;
pub mod status;
pub mod tls;
