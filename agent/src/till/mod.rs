//! The till's state, at the bottom of the agent: the store, the clock, the promotion
//! catalogs, the identification pipeline, the state of the conversation with central, the
//! event bus, the scanners' states, the metrics and the till's settings.
//!
//! [`Till`] is built once by `daemon::build` and cloned (every part is shared) into the
//! HTTP routes, the POS sessions, the sync task and the dashboard. A route that needs only
//! some parts takes them through axum's `FromRef` (`State<Arc<Store>>`, `State<Bus>`…, as
//! `/metrics` does); other code reaches the store and the clock directly ([`Till::store`],
//! [`Till::clock`]), never through the identifier.
//!
//! This module uses no module above it: not HTTP, sessions, sync or the dashboard (the
//! layering is written in `ARCHITECTURE.md` and checked by a test).
//!
//! ## Map
//! - [`sync_status`]: [`SyncStatus`], what the till knows about its conversation with
//!   central.
//! - [`devices`]: [`DeviceStatus`], each scanner's state.

pub mod devices;
pub mod sync_status;

use std::sync::Arc;

use axum::extract::FromRef;
use tillpass_protocol::lang::Lang;

use crate::bus::Bus;
use crate::catalog::Catalogs;
use crate::clock::Clock;
use crate::identify::Identifier;
use crate::metrics::Metrics;
use crate::store::Store;

pub use devices::{DeviceStatus, Devices};
pub use sync_status::{SyncSnapshot, SyncStatus};

/// The till's state. Cheap to clone: every part is shared.
#[derive(Debug, Clone)]
pub struct Till {
    /// The SQLite store.
    pub store: Arc<Store>,
    /// The wall clock, never earlier than central's newest signed time.
    pub clock: Arc<Clock>,
    /// The identification pipeline (and the current-customer slot).
    pub identifier: Arc<Identifier>,
    /// The event bus.
    pub bus: Bus,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// The POS bearer token.
    pub token: Arc<str>,
    /// Scanner states by name.
    pub devices: Devices,
    /// The promotion catalog in force.
    pub catalogs: Arc<Catalogs>,
    /// The store's time zone.
    pub time_zone: jiff::tz::TimeZone,
    /// The store's language.
    pub lang: Lang,
    /// The state of the conversation with central.
    pub sync: Arc<SyncStatus>,
    /// The store's region (from enrolment), as promotions are scoped by it.
    pub region: Arc<str>,
}

impl Till {
    /// The store's region, as the engine matches promotions by region.
    pub fn region(&self) -> String {
        self.region.to_string()
    }
}

macro_rules! part {
    ($ty:ty, $field:ident) => {
        impl FromRef<Till> for $ty {
            fn from_ref(till: &Till) -> $ty {
                till.$field.clone()
            }
        }
    };
}

part!(Arc<Store>, store);
part!(Arc<Clock>, clock);
part!(Arc<Identifier>, identifier);
part!(Bus, bus);
part!(Arc<Metrics>, metrics);
part!(Devices, devices);
part!(Arc<Catalogs>, catalogs);
part!(Arc<SyncStatus>, sync);
