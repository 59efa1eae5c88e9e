//! # tillpass-installer
//!
//! `tillpass-install` puts tillpass on a Linux till and keeps it healthy: install and enrol,
//! upgrade with rollback, uninstall without losing unsynced sales, and `doctor`.
//!
//! ## Map
//! - [`layout`]: every path tillpass uses, below an optional staging root (`--root`).
//! - [`uninstall`]: removal that keeps, or refuses to purge, unsynced sales.
//! - [`tls`]: the TLS provider for HTTPS to central.
//! - [`fsops`]: idempotent, atomic file-system steps that report what they changed.
//! - [`assets`]: the embedded systemd unit, udev rules, sysusers.d and tmpfiles.d files.
//! - [`doctor`]: read-only checks of an installed till, each with what to do about it.
//! - [`enrol`]: presenting the one-time code to central and keeping its answer.
//! - [`install`]: the install steps in order, and the agent configuration they write.
//! - [`keys`]: the till's Ed25519 key and the POS API bearer token.
//!
//! ## Rules
//! - **Safe to re-run.** Every step first looks at what is there; a second `install`
//!   changes nothing that is already right.
//! - **Never destroys unsynced sales.** Nothing here deletes the state directory while the
//!   outbox holds events central has not acknowledged, unless forced.
#![forbid(unsafe_code)]

pub mod assets;
pub mod doctor;
pub mod enrol;
pub mod fsops;
pub mod install;
pub mod keys;
pub mod layout;
pub mod tls;
pub mod uninstall;
