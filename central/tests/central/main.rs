//! Integration tests of tillpass-central: a real server on a loopback port, a real SQLite
//! file in a temporary directory, tills that sign their requests for real.

// The helpers outside `#[test]` functions unwrap too: a failing unwrap is a failing test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod catalogs;
mod cli;
mod deltas;
mod edge;
mod enrolment;
mod graph;
mod journal;
mod lookup;
mod migrate_db;
mod nodes;
mod ops;
mod passes;
mod pending;
mod pg;
mod process;
mod reconcile;
mod round;
mod segments;
mod signed;
mod storage;
mod surface;
mod util;
mod whatsapp;
mod whatsapp_load;
mod whatsapp_once;
