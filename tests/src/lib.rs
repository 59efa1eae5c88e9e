//! # tillpass-tests
//!
//! End-to-end tests that run the real binaries (`tillpass`, `tillpass-central`,
//! `tillpass-install`) as processes, over real loopback sockets, SQLite files and
//! pseudo-terminals. The tests live in `tests/tests/`; this library holds what they share.
//!
//! ## Map
//! - [`binary`]: finds a workspace binary, building it once if a test run did not.
//! - [`process`]: a child process that is killed when dropped, whose output is kept in a
//!   file for the failure message, and whose announced listening address can be awaited.
//! - [`wait`]: waiting on a condition with a deadline, never a fixed sleep.
#![forbid(unsafe_code)]

pub mod binary;
pub mod process;
pub mod wait;
