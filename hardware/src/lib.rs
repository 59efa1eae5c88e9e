//! # tillpass-hardware
//!
//! Reads scans from the till's barcode scanners. (Being built: see the scanners issue.)
#![forbid(unsafe_code)]
