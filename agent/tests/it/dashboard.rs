//! Placeholder: filled by the dashboard work.
