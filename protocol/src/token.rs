//! `token`: being built (see the foundation issue).
