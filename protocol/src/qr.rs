//! `qr`: being built (see the foundation issue).
