//! Integration tests for tillpass-hardware, one binary (see `util` for the helpers).
//!
//! No test sleeps for a fixed time to let something happen: each waits for the event it
//! expects, with a deadline. (The serial pacing test does wait between bytes, but that is the
//! stimulus: it plays a 9600-baud line.)

// Test helpers may unwrap and panic: a failing unwrap is a failing test (clippy.toml allows it
// inside #[test] functions; this extends it to the helpers of this test crate).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::cast_possible_truncation
)]

mod config;
#[cfg(unix)]
mod discovery;
mod fixtures;
mod keymaps;
mod replay;
#[cfg(unix)]
mod serial;
mod stdin;
mod tcp;
mod util;
