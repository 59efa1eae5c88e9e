//! The live lookup as the identification pipeline sees it: a [`Lookup`] asks central for
//! the current balance of a customer or a gift card the till does not hold, within a hard
//! time budget, and says nothing when central does not answer in time — the pipeline then
//! relies on the token's signed snapshot. The implementation over the till's signed client
//! is the sync layer's (`crate::sync::lookup`); the daemon plugs it in.

use std::time::Duration;

use tillpass_protocol::sync::{LookupAnswer, LookupKind};

/// How long the till waits for central's live answer unless configured otherwise.
pub const DEFAULT_BUDGET: Duration = Duration::from_millis(300);

/// Asks central, live. Blocking; bounded by the implementation's budget.
pub trait Lookup: Send + Sync + std::fmt::Debug {
    /// Central's answer about `subject`, or `None` when it did not come within the budget
    /// (no network, a central that hangs, an error answer).
    fn lookup(&self, kind: LookupKind, subject: &str) -> Option<LookupAnswer>;
}
