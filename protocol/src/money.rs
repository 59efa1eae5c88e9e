//! Money: filled in below.
