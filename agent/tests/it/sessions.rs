//! Placeholder: filled by the sessions work.
