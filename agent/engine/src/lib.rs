//! # tillpass-engine
//!
//! The benefits engine. (Being built: see the benefits engine issue.)
#![forbid(unsafe_code)]
