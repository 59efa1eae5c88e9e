//! # tillpass-tests
//!
//! End-to-end tests that run the real binaries (`tillpass`, `tillpass-central`,
//! `tillpass-install`) as processes, over real loopback sockets, SQLite files and
//! pseudo-terminals. The tests live in `tests/tests/`; this library holds what they share.
//!
//! ## Map
//! - [`browser`]: a real headless Chromium over chromedriver, skipped loudly when absent
//!   (a failure under `TILLPASS_REQUIRE_BROWSER=1`).
//! - [`binary`]: finds a workspace binary, building it once if a test run did not.
//! - [`central`]: the real `tillpass-central` as a process, stopped and restarted on the
//!   same port, with its command line and admin API.
//! - [`http`]: a small HTTP/1.1 client over a plain socket, as a POS talks to the agent.
//! - [`proxy`]: a man in the middle in front of central, in plain HTTP or over TLS with a
//!   test CA's certificate, that can rewrite central's answers.
//! - [`postgres`]: a PostgreSQL database of its own per test, skipped loudly without a
//!   server (a failure under `TILLPASS_REQUIRE_POSTGRES=1`).
//! - [`process`]: a child process that is killed when dropped, whose output is kept in a
//!   file for the failure message, and whose announced listening address can be awaited.
//! - [`pty`]: a serial scanner on a pseudo-terminal, typed into by the test.
//! - [`till`]: a till staged and enrolled by the real `tillpass-install`, and the real
//!   `tillpass` daemon on its files.
//! - [`tmpfs`]: a small tmpfs to fill up (a disk that is really full; needs root).
//! - [`wait`]: waiting on a condition with a deadline, never a fixed sleep.
#![forbid(unsafe_code)]

pub mod binary;
pub mod browser;
pub mod central;
pub mod http;
pub mod postgres;
pub mod process;
pub mod proxy;
pub mod pty;
pub mod till;
pub mod tmpfs;
pub mod wait;
