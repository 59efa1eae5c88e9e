//! # tillpass-installer
//!
//! `tillpass-install` puts tillpass on a Linux till and keeps it healthy: install and enrol,
//! upgrade with rollback, uninstall without losing unsynced sales, and `doctor`.
//!
//! ## Map
//! - [`layout`]: every path tillpass uses, below an optional staging root (`--root`); the
//!   agent's file names and folders come from `tillpass_tillfiles::layout`, shared with it.
//! - [`uninstall`]: removal that keeps, or refuses to purge, unsynced sales; on a live
//!   till it stops and disables the service first.
//! - [`tls`]: HTTPS to central: the TLS provider and the trusted roots (system store plus
//!   an optional CA file), `tillpass_tillfiles::tls`, shared with the agent.
//! - [`fsops`]: idempotent, atomic file-system steps that report what they changed.
//! - [`assets`]: the embedded systemd unit, udev rules, sysusers.d and tmpfiles.d files.
//! - [`system_files`]: who owns those files on this till (the `.deb` in `/usr/lib`, or
//!   the installer in `/etc`) and where they are: one owner, never two shadowing copies.
//! - [`doctor`]: read-only checks of an installed till, each with what to do about it.
//! - [`enrol`]: presenting the one-time code to central and keeping its answer.
//! - [`install`]: the install steps in order, and the agent configuration they write
//!   (`tillpass_tillfiles::config::ConfigFile`, the schema the agent reads).
//! - [`keys`]: the till's Ed25519 key and the POS API bearer token
//!   (`tillpass_tillfiles::keys`, shared with the agent).
//! - [`system`]: the machine behind a trait (commands, HTTP, accounts, clock). Its
//!   recording implementation, `system::recorder` (test builds only, re-exported as
//!   `system::Recorder`), is how the live-system steps are tested.
//! - [`service`]: the live-system steps: service user, ownership, udev, systemd, start and
//!   wait for `/readyz`; at uninstall, stop and disable the unit, then reload systemd and
//!   udev.
//! - [`agent`]: the agent as the installer drives it: `/readyz`, running it from a staged
//!   root, `tillpass manager add`, and `tillpass status --offline --json` — what the
//!   agent's database holds (its state, the outbox), which `doctor`, `uninstall` and
//!   `package` ask the agent for: the installer never reads the agent's tables.
//! - [`package`]: the steps the `.deb`'s maintainer scripts run: a database backup before
//!   an upgraded agent starts and the rollback if it does not become ready; the outbox
//!   count at removal that a purge obeys.
//! - [`upgrade`]: stop, back up the database, swap the binary, start, roll back both if
//!   the new agent does not come up; keep only the newest upgrade backups.
//!
//! ## Rules
//! - **Safe to re-run.** Every step first looks at what is there; a second `install`
//!   changes nothing that is already right.
//! - **Never destroys unsynced sales.** Nothing here deletes the state directory while the
//!   outbox holds events central has not acknowledged, unless forced.
#![forbid(unsafe_code)]

pub mod agent;
pub mod assets;
pub mod doctor;
pub mod enrol;
pub mod fsops;
pub mod install;
pub mod keys;
pub mod layout;
pub mod package;
pub mod service;
pub mod system;
pub mod system_files;
pub mod tls;
pub mod uninstall;
pub mod upgrade;
