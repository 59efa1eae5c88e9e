//! `envelope`: being built (see the foundation issue).
