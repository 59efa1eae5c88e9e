//! End-to-end tests of the `tillpass` daemon: the real binary, a real SQLite file, real
//! loopback sockets and pseudo-terminal scanners. No mocks, no fixed sleeps.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod crash;
mod daemon;
mod dashboard;
mod edge;
mod hostile;
mod layering;
mod limits;
mod refusals;
mod scanner;
mod security;
mod sessions;
mod snapshot;
mod sync;
mod token_uses;
mod util;
