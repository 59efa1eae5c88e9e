//! Placeholder: filled by the sync work.
