//! The internal event bus: identifications, refusals and scanner state, broadcast to the
//! POS API's event stream, the dashboard and the logs.

use serde::Serialize;
use tokio::sync::broadcast;

use crate::identify::{Identification, ScanRefusal};

/// Something the POS, the dashboard or support may want to know at once.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum AgentEvent {
    /// A scan identified a customer, a gift card or a voucher.
    Identified(Box<Identification>),
    /// A scan was refused, with the reason.
    Refused(ScanRefusal),
    /// A scanner was opened.
    ScannerConnected {
        /// The scanner's configured name.
        device: String,
        /// The device path.
        path: String,
    },
    /// A scanner went away (unplugged, or closed at shutdown).
    ScannerDisconnected {
        /// The scanner's configured name.
        device: String,
        /// Why.
        reason: String,
    },
    /// A scanner reported something it could not read or open.
    ScannerError {
        /// The scanner's configured name.
        device: String,
        /// What went wrong.
        message: String,
        /// What a technician can do about it.
        hint: Option<String>,
    },
    /// A POS session was closed: the sale is committed.
    SaleClosed {
        /// The sale (the POS's transaction id).
        sale_id: String,
        /// What the customer paid, in minor units.
        net: tillpass_protocol::money::Money,
        /// The customer's masked reference, if one was identified.
        customer: Option<String>,
    },
    /// The conversation with central changed: online, offline, earn-only.
    SyncState {
        /// Whether the last exchange with central succeeded.
        online: bool,
        /// Why the till is limited to earning, if it is.
        earn_only: Option<String>,
        /// A line for people.
        detail: String,
    },
}

impl AgentEvent {
    /// The event's name on the event stream.
    pub fn name(&self) -> &'static str {
        match self {
            AgentEvent::Identified(_) => "identified",
            AgentEvent::Refused(_) => "refused",
            AgentEvent::ScannerConnected { .. } => "scanner_connected",
            AgentEvent::ScannerDisconnected { .. } => "scanner_disconnected",
            AgentEvent::ScannerError { .. } => "scanner_error",
            AgentEvent::SaleClosed { .. } => "sale_closed",
            AgentEvent::SyncState { .. } => "sync_state",
        }
    }
}

/// The bus: a broadcast channel. Slow subscribers miss old events rather than slowing the
/// till down.
#[derive(Debug, Clone)]
pub struct Bus {
    tx: broadcast::Sender<AgentEvent>,
}

impl Default for Bus {
    fn default() -> Bus {
        Bus::new()
    }
}

impl Bus {
    /// A bus that keeps the last 256 events for slow subscribers.
    pub fn new() -> Bus {
        let (tx, _) = broadcast::channel(256);
        Bus { tx }
    }

    /// Publishes an event; nobody listening is fine.
    pub fn publish(&self, event: AgentEvent) {
        let _ = self.tx.send(event);
    }

    /// A new subscriber, receiving events from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<AgentEvent> {
        self.tx.subscribe()
    }
}
