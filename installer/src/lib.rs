//! # tillpass-installer
//!
//! Installs tillpass on a till. (Being built: see the installer issue.)
#![forbid(unsafe_code)]
