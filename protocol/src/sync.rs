//! `sync`: being built (see the foundation issue).
