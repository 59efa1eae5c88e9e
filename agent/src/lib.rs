//! # tillpass-agent
//!
//! The in-store daemon `tillpass`. (Being built: see the agent daemon issue.)
#![forbid(unsafe_code)]
