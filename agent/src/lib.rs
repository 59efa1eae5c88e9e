//! # tillpass-agent
//!
//! The in-store daemon `tillpass`: reads the till's scanners, identifies customers offline
//! from their signed WhatsApp QR, and serves the POS and the store manager on loopback.
//!
//! ## Map
//! From the bottom up; a module uses only modules above it in this list's order — the
//! layering in `ARCHITECTURE.md` ("The agent's layers"), and a test fails on any import
//! cycle between these modules.
//! - [`paths`]: where files live (systemd directories win); [`config`]: defaults → TOML
//!   → `TILLPASS_*` environment, validated; [`telemetry`]: how log lines are written;
//!   [`failpoint`]: step boundaries where crash tests stop the daemon (debug builds only).
//! - [`clock`]: the wall clock, never earlier than central's newest signed time.
//! - [`store`]: the SQLite store — migrations, customers, trust list, revocations,
//!   token uses, the outbox, the scan log.
//! - [`metrics`]: the Prometheus families (prometheus-client, OpenMetrics text);
//!   [`catalog`]: the promotion catalog in force.
//! - [`identify`]: scan text → verification → revocation → replay → customer lookup →
//!   an identification or a refusal with its reason; [`slot`](identify::slot): the
//!   till's current customer.
//! - [`bus`]: events for the POS, the event stream and the dashboard.
//! - [`till`]: the till's state — store, clock, catalogs, identifier, sync status, bus,
//!   scanner states, metrics, settings — shared by everything above, its parts taken
//!   through axum's `FromRef`.
//! - [`edge`]: what every HTTP route shares: problem+json answers, the bearer check.
//! - [`sessions`]: the POS sale API — carts, tenders, close, cancel, returns, idempotency
//!   keys.
//! - [`sync`]: the conversation with central — the outbox [`relay`](sync::relay) (signed,
//!   batched, deleted only when acknowledged), deltas, catalogs, trust list, time.
//! - [`dashboard`]: the store manager's web dashboard under `/dashboard` (sign-in,
//!   pages, CSV) and `tillpass manager`.
//! - [`http`]: the router — health, metrics, `/v1/identify`, `/v1/events`, `/v1/status`,
//!   with the sessions, sync and dashboard routes — its listener, and the generated
//!   OpenAPI document ([`openapi`](http::openapi)).
//! - [`daemon`]: the composition root — builds the till, runs the listener and the
//!   supervised background tasks (relay, sync, scanner pump, watchdog) until the shutdown
//!   future it is given completes.
//! - [`status`]: `tillpass status` — the running agent's `/v1/status`, or with
//!   `--offline` the till's state from its files (the shape the installer's doctor reads).
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
pub mod edge;
pub mod failpoint;
pub mod http;
pub mod identify;
pub mod metrics;
pub mod paths;
pub mod sessions;
pub mod status;
pub mod store;
pub mod sync;
pub mod telemetry;
pub mod till;

pub use http::openapi;
pub use identify::slot;
pub use sync::relay;
