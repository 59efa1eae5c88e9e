//! The till's "current customer" slot: the last identified customer, until a timeout or
//! the sale ends. Its timeout is also how long a pass's visit lasts after its last read
//! (`protocol::token::replay`): a re-scan within it is the same visit, not another use.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::identify::Identification;

/// The current-customer slot.
#[derive(Debug)]
pub struct Slot {
    timeout: Duration,
    current: Mutex<Option<(Identification, Instant)>>,
}

impl Slot {
    /// A slot whose occupant leaves after `timeout`.
    pub fn new(timeout: Duration) -> Slot {
        Slot {
            timeout,
            current: Mutex::new(None),
        }
    }

    /// How long an occupant stays after being set.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<(Identification, Instant)>> {
        self.current.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Puts a customer in the slot.
    pub fn set(&self, id: Identification) {
        *self.lock() = Some((id, Instant::now() + self.timeout));
    }

    /// The customer in the slot, if the timeout has not passed.
    pub fn current(&self) -> Option<Identification> {
        let mut guard = self.lock();
        match &*guard {
            Some((id, until)) if Instant::now() < *until => Some(id.clone()),
            Some(_) => {
                *guard = None;
                None
            }
            None => None,
        }
    }

    /// Empties the slot (the sale ended).
    pub fn clear(&self) {
        *self.lock() = None;
    }
}
