//! `catalog`: being built (see the foundation issue).
