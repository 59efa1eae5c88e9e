//! Integration tests of the cryptographic half of `tillpass-protocol`, as one binary:
//!
//! - `token_props`: property tests of tokens (round trip, truncations, bit flips, hostile
//!   text).
//! - `envelope_props`: property tests of signed envelopes and the trust list.
//! - `vector_cases`, `vector_file`, `vector_check`: the committed test vectors
//!   `tests/vectors/tokens.json`: each case, the generated file compared byte for byte with
//!   the committed one, then every vector checked from the file alone.
//! - `vector_edges`: the texts behind the strict-signature vectors (small-order R and key,
//!   S + ℓ, non-canonical R) and the typing of vectors through the layouts corpus.
//! - `layouts_corpus`: tokens typed through every layout of `tests/vectors/layouts.json`,
//!   Caps Lock off and on, in every scanner framing: each identifies its token; each
//!   corrupted one gets the refusal its canonical text gets.
//! - `qr_scan`: a token rendered as PNG and read back by an independent QR decoder, and
//!   the measured sizes against the targets.

// A test binary: helpers outside `#[test]` functions may unwrap too, as clippy.toml allows
// inside them; a failing unwrap is a failing test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod envelope_props;
mod layouts_corpus;
mod qr_scan;
mod token_props;
mod util;
mod vector_cases;
mod vector_check;
mod vector_edges;
mod vector_file;
