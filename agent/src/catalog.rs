//! The promotion catalog in force at this till, and the benefits engine built from it.
//!
//! Sessions ask [`Catalogs::engine`] for the engine of the active catalog; the sync task
//! and `POST /v1/admin/catalog` install newer verified catalogs.

use std::sync::{Arc, RwLock};

use tillpass_engine::Engine;

/// The active catalog's engine, swapped atomically when a newer catalog activates.
#[derive(Debug, Default)]
pub struct Catalogs {
    active: RwLock<Option<Active>>,
}

/// A catalog in force.
#[derive(Debug, Clone)]
pub struct Active {
    /// Its sequence number (0 for a catalog installed by a test or the demo without an
    /// envelope).
    pub sequence: u64,
    /// When central issued it, unix seconds.
    pub issued_at: u64,
    /// The engine built from it.
    pub engine: Arc<Engine>,
}

impl Catalogs {
    /// No catalog yet.
    pub fn new() -> Catalogs {
        Catalogs::default()
    }

    /// The engine of the active catalog, if there is one.
    pub fn engine(&self) -> Option<Arc<Engine>> {
        self.active().map(|a| a.engine)
    }

    /// The active catalog, if there is one.
    pub fn active(&self) -> Option<Active> {
        self.active
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Makes `active` the catalog in force.
    pub fn set(&self, active: Active) {
        *self.active.write().unwrap_or_else(|p| p.into_inner()) = Some(active);
    }
}
