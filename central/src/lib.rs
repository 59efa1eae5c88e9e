//! # tillpass-central
//!
//! The reference central loyalty service. (Being built: see the central service issue.)
#![forbid(unsafe_code)]
