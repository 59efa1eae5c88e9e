//! # tillpass-demo
//!
//! The demo store and the terminal cashier: the binary `tillpass-demo`. This crate links
//! the agent with the reference central service and the installer's enrolment, so the
//! agent crate (what a till runs) links neither.
//!
//! ## Map
//! - [`shop`]: `tillpass-demo` (or `tillpass-demo run`) — central with sample customers, a
//!   till enrolled with it as the installer enrols one, the POS API and the dashboard, all
//!   on loopback until Ctrl-C; its catalog is `src/catalog.toml`.
//! - [`phone`]: the phone page — a chat with the brand's WhatsApp number in the browser,
//!   driven by the fake Graph API ([`tillpass_fakegraph`]) the demo runs in process.
//! - [`scanner`]: the virtual serial scanner (a pseudo-terminal) the demo's till reads.
//! - [`cashier`]: `tillpass-demo pos`, a terminal cashier against a running agent (the
//!   demo's, or any till's with `--url` and `--token-file`).
#![forbid(unsafe_code)]

pub mod cashier;
pub mod phone;
pub mod scanner;
pub mod shop;
