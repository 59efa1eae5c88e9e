//! # tillpass-central
//!
//! The reference central loyalty service: it issues customers' QR passes (what the
//! WhatsApp bot sends), enrols tills, ingests their journals idempotently, and serves them
//! deltas, the trust list and signed promotion catalogs — the store-facing protocol of
//! [`tillpass_protocol::sync`] — on one SQLite file, or as any number of stateless nodes
//! on one PostgreSQL database ([`storage`]).
//!
//! ## Map
//! - [`db`], [`migrations`]: the SQLite database (WAL, `synchronous=FULL`, foreign keys,
//!   immediate transactions with a busy timeout and a bounded retry; files 0600) and its
//!   numbered, never-edited migrations.
//! - [`storage`]: the storage contract ([`storage::Database`]) the HTTP API and the CLI
//!   use, one file per area (journal, accounts, tills, keys, envelopes, deltas), over
//!   SQLite (the modules below) and PostgreSQL ([`storage::postgres`]: pool, migrations,
//!   each area in set-based SQL, balances moved in the database, envelopes sealed once
//!   under advisory locks), the one migration mechanism ([`storage::migrate`]), and the
//!   move of a SQLite central to PostgreSQL ([`storage::copy`]).
//! - [`keys`]: root, token, catalog and sync keys; private keys on disk (0600); rotation
//!   and revocation.
//! - [`envelopes`]: signed envelopes central publishes, the trust list first (re-sealed
//!   before it grows too old to open).
//! - [`customers`]: customers, their segments, savings accounts, personal promotions,
//!   GDPR erasure.
//! - [`pending`]: savings earned and still inside their return window, kept apart from the
//!   spendable balance and released by central's clock.
//! - [`giftcards`]: gift cards.
//! - [`lookup`]: the live lookup — a customer's or a gift card's balance now, for a till
//!   that does not hold it.
//! - [`passes`]: customer passes, gift-card tokens and vouchers: text, SVG, PNG.
//! - [`enrol`]: one-time enrolment codes (handed out with the root key's fingerprint) and
//!   till enrolment.
//! - [`auth`]: till request signatures — checked in two steps, before and after the body
//!   — with a nonce replay cache and one answer for every refused till; the admin token.
//! - [`journal`]: batch ingestion, per-event acknowledgement, balances, debts, flags.
//! - [`reconcile`]: the order-independent rule: an account's movements applied in the
//!   order they happened, replayed when a late journal slots one in before others.
//! - [`receipts`]: digital receipts, only with the customer's consent.
//! - [`store_sales`]: each store's sales and returns, sent to its other tills so a sale
//!   can be returned at any till of the store.
//! - [`flags`]: what ingestion noticed: overspend debts, a token at two stores; paged,
//!   and resolved by central IT.
//! - [`retention`]: what central keeps and for how long — superseded changes compacted,
//!   token uses, expired tokens, resolved flags and old store sales swept in batches.
//! - [`ledger`]: the store-wide offline-risk ledger — each store's spends with central's
//!   outcome and the flags concerning it, the `ledger` delta stream, references masked.
//! - [`changes`], [`deltas`], [`revocations`]: the change log, delta pages by cursor
//!   (signed for their request when the till asks), and revocations sealed as envelopes.
//! - [`scope`]: scoped feeds — the stores where a customer or a gift card is known (seen
//!   within the scope period, assigned, looked up live), which stores' tills receive their
//!   changes, and the fresh changes a store entering a scope gets.
//! - [`catalogs`]: catalog publication (validated TOML), activation, signed envelopes.
//! - [`published`]: the trust list and catalog a node hands to sync rounds, held in
//!   memory and checked against the stored versions on every round.
//! - [`settings`]: the offline policy and envelope sequence counters.
//! - [`http`]: the axum API (till, admin, problem+json, signed server time on every answer)
//!   on central's own listener: connection limit, header-read and idle timeouts, bodies
//!   read after authentication and up to each route's maximum, optional TLS.
//! - [`clock`], [`error`]: the clock as a value; the library's error type.
//! - [`telemetry`]: logging, to the journal natively when stderr is the journal's stream.
//! - [`metrics`]: `/metrics` for central IT — requests and latency by route kind, ingest
//!   lag and outcomes, database connections and waits, tills seen per store, the WhatsApp
//!   channel's backlogs (the last two refreshed once a minute, not per scrape).
//! - [`whatsapp`]: the WhatsApp Cloud API channel — the signed webhook into a durable
//!   inbox, the flows (sign-up with consent evidence, pass, balance, offers, receipts,
//!   opt-out, erasure) and a durable outbox to the Graph API.
//!
//! ## Invariants
//! - Money is integer minor units; a debit the balance cannot cover becomes a recorded,
//!   flagged debt, never a silent drop and never a negative balance.
//! - Every change a till must learn is written to the change log in the same transaction.
//! - An event id is applied at most once; a batch is committed before it is acknowledged.
//! - HTTP errors never carry internal detail; it goes to the log.
//! - No body is read before its caller is known (admin token; till headers, time window
//!   and enrolment), and none beyond its route's maximum.
//! - Contention is `503` with `Retry-After`, never `500`: a unit of work that gets no
//!   database connection within its budget is refused before it begins.
#![forbid(unsafe_code)]

pub mod auth;
pub mod catalogs;
pub mod changes;
pub mod clock;
pub mod customers;
pub mod db;
pub mod deltas;
pub mod enrol;
pub mod envelopes;
pub mod error;
pub mod flags;
pub mod giftcards;
pub mod http;
pub mod journal;
pub mod keys;
pub mod ledger;
pub mod lookup;
pub mod metrics;
pub mod migrations;
pub mod passes;
pub mod pending;
pub mod published;
pub mod receipts;
pub mod reconcile;
pub mod retention;
pub mod revocations;
pub mod scope;
pub mod settings;
pub mod storage;
pub mod store_sales;
pub mod telemetry;
pub mod whatsapp;

pub use error::{Error, Result};
