//! `tillpass-loadgen`: a chain's tills, simulated, against a real `tillpass-central`.
//!
//! Central IT runs it against their own deployment (one node or several behind a balancer,
//! on SQLite or PostgreSQL) to see what it holds before the tills do. Every simulated till
//! enrols with its own Ed25519 key and speaks the real protocol: signed requests, signed
//! delta pages opened with the trust list, journal batches central acknowledges event by
//! event. Nothing here is mocked; what is measured is what a till would wait for.
//!
//! ## Map
//! - [`plan`]: what to simulate — tills, stores, the sync interval, the sale, return and
//!   pass rates, customers' stores, the duration and warm-up, or the ingest ceiling
//!   ([`plan::Plan`], from the command line).
//! - [`admin`]: the admin API calls that set a run up (enrolment codes, customers) and the
//!   pass requests the chat would make.
//! - [`till`]: one simulated till: enrolment, its signed client, a sync round (trust list,
//!   every delta stream to its end, catalog), journal uploads.
//! - [`sales`]: the journal events of a sale and of a return, valid by
//!   `JournalEvent::check` (the till's own rule).
//! - [`stats`]: latency histograms per request kind, errors by kind and status, accepted
//!   events.
//! - [`growth`]: the database's size before and after (a SQLite file or a PostgreSQL
//!   database), scaled to a simulated day.
//! - [`audit`]: the run's events counted in central's database — every one stored exactly
//!   once, none lost, none doubled.
//! - [`cpu`]: the generator's own CPU time and the machine's, so a run says what share of
//!   the machine the generator took.
//! - [`run`]: the schedule — every till's rounds every interval with jitter, sales and
//!   passes at their rates, failed uploads sent again as a till's relay does; or the
//!   ingest ceiling (batches back to back) — the warm-up left out, and the report.

pub mod admin;
pub mod audit;
pub mod cpu;
pub mod growth;
pub mod plan;
pub mod run;
pub mod sales;
pub mod stats;
pub mod till;
