//! # tillpass-agent
//!
//! The in-store daemon `tillpass`: reads the till's scanners, identifies customers offline
//! from their signed WhatsApp QR, and serves the POS and the store manager on loopback.
//!
//! ## Map
//! - [`config`]: defaults → TOML → `TILLPASS_*` environment, validated; [`paths`]: where
//!   files live (systemd directories win).
//! - [`store`]: the SQLite store — migrations, customers, trust list, revocations,
//!   token uses, the outbox, the scan log.
//! - [`identify`]: scan text → verification → revocation → replay → customer lookup →
//!   an identification or a refusal with its reason.
//! - [`clock`]: the wall clock, never earlier than central's newest signed time.
//! - [`slot`]: the till's current customer; [`bus`]: events for the POS, the event
//!   stream and the dashboard.
//! - [`http`]: health, metrics and the POS API routes; [`metrics`]: the Prometheus
//!   families (prometheus-client, OpenMetrics text).
//! - [`dashboard`]: the store manager's web dashboard under `/dashboard` (sign-in,
//!   pages, CSV) and `tillpass manager`.
//! - [`sessions`]: the POS sale API — carts, tenders, close, cancel, returns, idempotency
//!   keys; [`openapi`]: its generated OpenAPI document.
//! - [`catalog`]: the promotion catalog in force; [`sync`]: the conversation with central.
//! - [`relay`]: the outbox relay to central (signed, batched, deleted only when
//!   acknowledged).
//! - [`status`]: `tillpass status` — the running agent's `/v1/status`, or with
//!   `--offline` the till's state from its files (the shape the installer's doctor reads).
//! - [`daemon`]: start-up, scanners, serving, systemd notifications, graceful shutdown.
//! - [`telemetry`]: logging (native journal entries under systemd, else stderr lines);
//!   [`failpoint`]: step boundaries where crash tests stop the daemon (debug builds only).
//!
//! The benefits engine is the separate pure crate `tillpass-engine`; scanners are
//! `tillpass-hardware`; every wire format is `tillpass-protocol`. The demo store and the
//! terminal cashier are the crate `tillpass-demo`, which links this one with central and
//! the installer; the till's build links neither.
#![forbid(unsafe_code)]

pub mod bus;
pub mod catalog;
pub mod clock;
pub mod config;
pub mod daemon;
pub mod dashboard;
pub mod failpoint;
pub mod http;
pub mod identify;
pub mod metrics;
pub mod openapi;
pub mod paths;
pub mod relay;
pub mod sessions;
pub mod slot;
pub mod status;
pub mod store;
pub mod sync;
pub mod telemetry;
