//! Scoped feeds: which stores' tills receive a customer's or a gift card's changes.
//!
//! ## The rule
//! A store's **scope** holds a customer when
//! - the customer had a journal event at one of its tills (a sale, a token use, a savings
//!   movement, a sign-up) within the scope period (`serve --scope-days`, [`DEFAULT_DAYS`]
//!   by default), or
//! - central IT assigned the customer to the store (`PUT /admin/v1/customers/{ref}/stores`,
//!   kept until unassigned), or
//! - a till of the store looked the customer up live (`POST /v1/lookup`), within the scope
//!   period.
//!
//! Customer, balance and personal-promotion changes go to the tills of the stores whose
//! scope holds the customer. **A customer known at no store** — no row at all: never seen,
//! never assigned, never looked up (just signed up from the chat, say) — goes to every
//! store, as before scoping: a new customer can walk in anywhere, and a small chain or the
//! demo works unchanged. Once a customer has any row, even an expired one, only the stores
//! in scope receive their changes; a store whose scope lapsed stops receiving them, is
//! told so once (below), and its tills ask central live when they meet the customer.
//!
//! A gift card owned by a customer follows its owner's scope. An unowned card is scoped
//! to the stores where it was sold or used ([`SEE_CARD`]); a card known nowhere goes
//! everywhere. Revocations, catalogs, the trust list and the offline policy go everywhere;
//! store sales and the ledger were already per store.
//!
//! An erased customer's rows go with the customer (`ON DELETE CASCADE`): the erasure's
//! tombstones are then known nowhere and reach every store.
//!
//! ## Entering a scope
//! When a customer enters a store's scope (a first sale there, an assignment, a lookup, or
//! after the scope had lapsed), that store's tills hold nothing of them, and the changes
//! that made their state are older than the tills' cursors: [`FRESH_CUSTOMER`] appends a
//! fresh change for the customer's profile, balance, personal promotions and owned cards,
//! so the page sends their current state. Stores already holding the customer receive the
//! same state again (an upsert of what they hold).
//!
//! ## Leaving a scope
//! A store's tills cached what they received of a customer; once the store stops
//! receiving the customer's changes, that cache goes stale (a balance spent elsewhere
//! would be spent again). So a store is **told** when a customer leaves its scope: a
//! `left-scope` row in the change log ([`LEFT_SCOPE_KIND`]: key the customer, owner the
//! store), which reaches that store's tills alone, as a `CustomerDelta::LeftScope` item
//! of the `customers` stream; the till then drops the cached profile, balance and offers
//! (keeping what it has not synced) and asks central live next time.
//! - **When.** A row lapses when it is not assigned and its `seen_at` fell behind the
//!   horizon. Each customers page first tells its store of the rows that lapsed and were
//!   not told yet ([`tell_lapses`], [`LAPSE_STORE`]): a `left-scope` change each, and
//!   `customer_stores.lapsed_at` set, in one transaction (PostgreSQL: one statement, so two
//!   nodes tell a lapse once). It reads one partial index (the rows not yet told, by store
//!   and visit) and writes only when a lapse is due: an idle round still writes nothing.
//!   What was queued for the store of the customer (the fan-out rows of their changes)
//!   goes with the notice ([`UNQUEUE_STORE`]): a till reads its customers page before
//!   its balances, offers and cards pages, and one of those must not bring back, after
//!   the notice, what the till just dropped. An unassignment that leaves a store without
//!   the customer tells it in the assignment's transaction ([`LAPSE_CUSTOMER`],
//!   [`UNQUEUE_CUSTOMER`]).
//! - **Once.** A told row is not told again until it enters the scope again: a visit or a
//!   lookup that brings it back (with [`FRESH_CUSTOMER`]) or an assignment clears
//!   `lapsed_at` ([`CLEAR_LAPSE`], [`ASSIGN`]); a late event older than the horizon does
//!   not.
//! - **Who hears it.** Tills of round protocol 2 or later (`ROUND_PROTOCOLS`). Pages of
//!   round protocol 1 and of `GET /v1/deltas/customers` skip the notices (a till of an
//!   earlier build refuses a page holding an `op` it does not know) — a known limit: an
//!   old till keeps trusting its cache of a lapsed customer until it is upgraded, and an
//!   upgraded till whose cursor already passed the notice does not get it again.
//! - **Pages.** The notices for the store after the cursor ([`NOTICES`], on the
//!   `(kind, owner, seq)` index) are merged in log order with the page's changes
//!   ([`crate::changes::ScopedPage::with_notices`]); the cursor moves past the notices
//!   sent.
//! - **Compaction.** Notices are never superseded by one another (one per store);
//!   `crate::retention` deletes one past its week once the store's row is no longer
//!   marked told (the customer came back, or was erased).
//! - Gift cards: an owned card follows its owner, and every item of it names the owner
//!   (`GiftCardRecord::owner`; giving a card an owner logs a change of the card, so it
//!   reaches the owner's stores at once), so a till told its store left the owner drops
//!   the owner's cards too (or marks them unconfirmed, keeping what it has not synced).
//!   Known limits: an unowned card's lapse is not told, nor is the store where an
//!   unowned card was used when the card gets an owner known elsewhere; a card cached
//!   by a till before this build names no owner until its next change.
//!
//! ## Pages
//! The log is fanned out at write time: each change of a scoped kind gets a
//! `change_stores` row `(kind, store, seq)` for every store whose scope holds its subject
//! at the change's time, or one row for every store ([`EVERY_STORE`]) when the subject is
//! known nowhere. One rule writes them, [`FAN_OUT`], run by a database trigger on every
//! insert into `changes` (SQLite migration 11, PostgreSQL migration 8), so every append
//! (customers, balances, ingest, admin, the chat, [`FRESH_CUSTOMER`]) is covered. A page
//! for a store is then an index range scan over its own rows and the every-store rows
//! after the cursor ([`page_sql`]), each kept when it is its key's latest change; the
//! trigger also deletes the rows of the change it supersedes ([`SUPERSEDE`]), so those
//! scans walk about one row per live key: a page's cost is the store's changes, not the
//! chain's. The log's end for the kind is read first
//! ([`KIND_END`]); a page that is not full moves the cursor there. On PostgreSQL that end,
//! and every page, stops where the log is settled (no change at or below it still in
//! flight: `crate::storage::postgres::deltas`, `SETTLED`), so a change committed after
//! a later-numbered one is not passed over.
//!
//! Scope is judged when a change is written, not when it is read. A store entering a
//! scope is written first (the scope row), then [`FRESH_CUSTOMER`] / [`FRESH_CARD`], so
//! the fresh changes are fanned out to it. A change written while the store held the
//! customer is still sent after the scope lapsed; the lapse notice, later in the log,
//! follows it. A change fanned out to every store and then superseded by a change for
//! fewer stores is not sent (a page sends each key's latest change only). Lapse notices
//! are not fanned out: [`NOTICES`] reads the store's own on `changes (kind, owner, seq)`.
//! Rows go with their change (`ON DELETE CASCADE`), so compaction and retention need
//! nothing more.
//!
//! The SQL shared by both backends is one text with `$n` parameters (SQLite runs it
//! through [`crate::ledger::sqlite`]).

use rusqlite::{Connection, OptionalExtension, params};
use tillpass_protocol::sync::{DeltaKind, EventPayload, JournalEvent, LookupKind};
use tillpass_protocol::token::TokenKind;

use crate::error::Result;
use crate::ledger::sqlite;

/// The scope period when `serve` is not told: 90 days.
pub const DEFAULT_DAYS: u32 = 90;

/// The longest scope period accepted: ten years.
pub const MAX_DAYS: u32 = 3_650;

/// The key of the scope period (days, as text) in `settings`.
pub const DAYS_KEY: &str = "scope_days";

/// A customer's or a card's `seen_at` is rewritten at most this often (a customer's
/// every sale does not rewrite it).
pub const REFRESH_SECS: i64 = 86_400;

/// The oldest `seen_at` still in scope at `now` with a period of `days`.
pub fn horizon(now: i64, days: u32) -> i64 {
    now.saturating_sub(i64::from(days).saturating_mul(86_400))
}

/// The scope period stored as `text`: [`DEFAULT_DAYS`] when none or unreadable.
pub fn days_from(text: Option<String>) -> u32 {
    text.and_then(|t| t.parse::<u32>().ok())
        .filter(|d| (1..=MAX_DAYS).contains(d))
        .unwrap_or(DEFAULT_DAYS)
}

/// Checks a scope period given to `serve` or the contract.
pub fn check_days(days: u32) -> Result<u32> {
    if (1..=MAX_DAYS).contains(&days) {
        Ok(days)
    } else {
        Err(crate::error::Error::invalid(format!(
            "scope days: 1 to {MAX_DAYS}"
        )))
    }
}

/// Whether a row `(assigned, seen_at)` holds its subject in scope at `horizon`.
pub fn holds(assigned: i64, seen_at: Option<i64>, horizon: i64) -> bool {
    assigned != 0 || seen_at.is_some_and(|s| s >= horizon)
}

/// What a journal event shows a store knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subject<'a> {
    /// A customer, by reference.
    Customer(&'a str),
    /// A gift card, by reference.
    GiftCard(&'a str),
}

/// The customers and cards `event` shows its store knows.
pub fn subjects(event: &JournalEvent) -> Vec<Subject<'_>> {
    use tillpass_protocol::sync::movement::Account;
    let mut found = Vec::new();
    match &event.payload {
        EventPayload::SaleClosed(sale) => {
            if let Some(c) = &sale.customer {
                found.push(Subject::Customer(c.as_str()));
            }
        }
        EventPayload::TokenUsed(used) => match used.kind {
            TokenKind::CustomerPass => found.push(Subject::Customer(used.subject.as_str())),
            TokenKind::GiftCard => found.push(Subject::GiftCard(used.subject.as_str())),
            _ => {}
        },
        EventPayload::CustomerCreated(c) => found.push(Subject::Customer(c.customer.as_str())),
        EventPayload::GiftCardHeld(h) => found.push(Subject::GiftCard(h.card.as_str())),
        payload => match payload.movement().map(|m| m.account) {
            Some(Account::Savings(c)) => found.push(Subject::Customer(c.as_str())),
            Some(Account::GiftCard(card)) => found.push(Subject::GiftCard(card.as_str())),
            None => {}
        },
    }
    found
}

/// What a batch's accepted events show their store knows: each subject once, at its
/// latest time, so a batch costs one scope write per customer or card, not per event.
#[derive(Debug, Default)]
pub struct Seen {
    customers: std::collections::BTreeMap<String, i64>,
    cards: std::collections::BTreeMap<String, i64>,
}

impl Seen {
    /// Adds what `event` shows, ingested at `now`.
    pub fn add(&mut self, event: &JournalEvent, now: i64) {
        let at = seen_at(event.occurred_at, now);
        for subject in subjects(event) {
            let (map, key) = match subject {
                Subject::Customer(c) => (&mut self.customers, c),
                Subject::GiftCard(c) => (&mut self.cards, c),
            };
            let entry = map.entry(key.to_owned()).or_insert(at);
            *entry = (*entry).max(at);
        }
    }

    /// Each subject and when it was last seen.
    pub fn each(&self) -> impl Iterator<Item = (Subject<'_>, i64)> {
        self.customers
            .iter()
            .map(|(c, at)| (Subject::Customer(c.as_str()), *at))
            .chain(
                self.cards
                    .iter()
                    .map(|(c, at)| (Subject::GiftCard(c.as_str()), *at)),
            )
    }

    /// Whether nothing was seen.
    pub fn is_empty(&self) -> bool {
        self.customers.is_empty() && self.cards.is_empty()
    }
}

/// When an event at `occurred_at` counts as seen, ingested at `now`: never later than
/// central's clock.
pub fn seen_at(occurred_at: i64, now: i64) -> i64 {
    occurred_at.min(now)
}

/// The scope period: no parameter.
pub const DAYS: &str = "SELECT value FROM settings WHERE key = 'scope_days'";

/// Stores the scope period: `$1` days as text.
pub const SET_DAYS: &str = "INSERT INTO settings (key, value) VALUES ('scope_days', $1)
     ON CONFLICT (key) DO UPDATE SET value = excluded.value";

/// A customer's row at a store: `$1` customer, `$2` store → `(assigned, seen_at)`.
pub const CUSTOMER_ROW: &str =
    "SELECT assigned, seen_at FROM customer_stores WHERE customer = $1 AND store = $2";

/// A card's owner and its row at a store: `$1` card, `$2` store → `(owner, seen_at)`;
/// no row for an unknown card.
pub const CARD_ROW: &str = "SELECT g.owner, s.seen_at FROM gift_cards g
     LEFT JOIN gift_card_stores s ON s.card = g.ref AND s.store = $2
     WHERE g.ref = $1";

/// Records that `$2` (store) saw `$1` (customer) at `$3`, for a customer central holds;
/// an existing row's time moves at most once per [`REFRESH_SECS`].
pub const SEE_CUSTOMER: &str = "INSERT INTO customer_stores (customer, store, assigned, seen_at)
     SELECT CAST($1 AS TEXT), CAST($2 AS TEXT), 0, CAST($3 AS BIGINT)
     WHERE EXISTS (SELECT 1 FROM customers WHERE ref = $1)
     ON CONFLICT (customer, store) DO UPDATE SET seen_at = excluded.seen_at
     WHERE customer_stores.seen_at IS NULL OR customer_stores.seen_at < excluded.seen_at - 86400";

/// Records that `$2` (store) saw the card `$1` at `$3` (as [`SEE_CUSTOMER`]).
pub const SEE_CARD: &str = "INSERT INTO gift_card_stores (card, store, seen_at)
     SELECT CAST($1 AS TEXT), CAST($2 AS TEXT), CAST($3 AS BIGINT)
     WHERE EXISTS (SELECT 1 FROM gift_cards WHERE ref = $1)
     ON CONFLICT (card, store) DO UPDATE SET seen_at = excluded.seen_at
     WHERE gift_card_stores.seen_at < excluded.seen_at - 86400";

/// Assigns `$1` (customer) to `$2` (store): in scope again, so a later lapse is told
/// again.
pub const ASSIGN: &str = "INSERT INTO customer_stores (customer, store, assigned, seen_at)
     VALUES ($1, $2, 1, NULL)
     ON CONFLICT (customer, store) DO UPDATE SET assigned = 1, lapsed_at = NULL";

/// The change-log kind of a lapse notice: key the customer, owner the store told.
pub const LEFT_SCOPE_KIND: &str = "left-scope";

/// The fan-out rows `(store, seq)` of every change of a customer for a store, for each
/// `(customer, store)` of the relation `$told`: their profile and balance, their personal
/// promotions, the gift cards they own.
macro_rules! queued_for {
    ($told:literal) => {
        concat!(
            "SELECT t.store, c.seq FROM ",
            $told,
            " t JOIN changes c ON c.kind IN ('customers', 'balances') AND c.key = t.customer
         UNION ALL SELECT t.store, c.seq FROM ",
            $told,
            " t JOIN changes c ON c.kind = 'personal-promotions' AND c.owner = t.customer
         UNION ALL SELECT t.store, c.seq FROM ",
            $told,
            " t JOIN gift_cards g ON g.owner = t.customer
             JOIN changes c ON c.kind = 'gift-cards' AND c.key = g.ref"
        )
    };
}

/// Tells the store `$1` of every customer whose scope there lapsed at horizon `$2` and
/// was not told yet: a `left-scope` change for the store at `$3`, and the row marked
/// told (SQLite: run with [`TOLD_STORE`] after it, in one transaction).
pub const LAPSE_STORE: &str = "INSERT INTO changes (kind, key, owner, at)
     SELECT 'left-scope', customer, store, CAST($3 AS BIGINT) FROM customer_stores
     WHERE store = $1 AND assigned = 0 AND lapsed_at IS NULL AND seen_at < $2
     ORDER BY customer";

/// Marks the rows [`LAPSE_STORE`] told (same parameters).
pub const TOLD_STORE: &str = "UPDATE customer_stores SET lapsed_at = $3
     WHERE store = $1 AND assigned = 0 AND lapsed_at IS NULL AND seen_at < $2";

/// [`LAPSE_STORE`], [`UNQUEUE_STORE`] and [`TOLD_STORE`] as one statement (PostgreSQL):
/// two nodes serving the store at once tell each lapse once (the second `UPDATE` finds
/// the row told).
pub const LAPSE_STORE_PG: &str = concat!(
    "WITH told AS (
         UPDATE customer_stores SET lapsed_at = $3
         WHERE store = $1 AND assigned = 0 AND lapsed_at IS NULL AND seen_at < $2
         RETURNING customer, store),
     unqueued AS (DELETE FROM change_stores WHERE (store, seq) IN (",
    queued_for!("told"),
    "))
     INSERT INTO changes (kind, key, owner, at)
     SELECT 'left-scope', customer, store, $3 FROM told ORDER BY customer"
);

/// What was queued for the stores told by [`LAPSE_STORE`] (same `$1` store and `$2`
/// horizon; SQLite, before [`TOLD_STORE`]): the told store's fan-out rows of the
/// customer's changes go. A store told that a customer left its scope must not receive
/// an older change of theirs on another stream after the notice (a till would hold it
/// again, untrusted): the rows of changes queued before the notice go with it. The
/// customer entering the scope again brings fresh changes ([`FRESH_CUSTOMER`]).
pub const UNQUEUE_STORE: &str = concat!(
    "DELETE FROM change_stores WHERE (store, seq) IN (",
    queued_for!(
        "(SELECT customer, store FROM customer_stores
          WHERE store = $1 AND assigned = 0 AND lapsed_at IS NULL AND seen_at < $2)"
    ),
    ")"
);

/// [`UNQUEUE_STORE`] for the stores told by [`LAPSE_CUSTOMER`] (same `$1` customer and
/// `$2` horizon; SQLite, before [`TOLD_CUSTOMER`]).
pub const UNQUEUE_CUSTOMER: &str = concat!(
    "DELETE FROM change_stores WHERE (store, seq) IN (",
    queued_for!(
        "(SELECT customer, store FROM customer_stores
          WHERE customer = $1 AND assigned = 0 AND lapsed_at IS NULL
            AND (seen_at IS NULL OR seen_at < $2))"
    ),
    ")"
);

/// Tells every store that no longer holds the customer `$1` at horizon `$2` (after an
/// unassignment) and was not told yet, at `$3`; with [`TOLD_CUSTOMER`] after it, in the
/// assignment's transaction.
pub const LAPSE_CUSTOMER: &str = "INSERT INTO changes (kind, key, owner, at)
     SELECT 'left-scope', customer, store, CAST($3 AS BIGINT) FROM customer_stores
     WHERE customer = $1 AND assigned = 0 AND lapsed_at IS NULL
       AND (seen_at IS NULL OR seen_at < $2)
     ORDER BY store";

/// [`LAPSE_CUSTOMER`], [`UNQUEUE_CUSTOMER`] and [`TOLD_CUSTOMER`] as one statement
/// (PostgreSQL).
pub const LAPSE_CUSTOMER_PG: &str = concat!(
    "WITH told AS (
         UPDATE customer_stores SET lapsed_at = $3
         WHERE customer = $1 AND assigned = 0 AND lapsed_at IS NULL
           AND (seen_at IS NULL OR seen_at < $2)
         RETURNING customer, store),
     unqueued AS (DELETE FROM change_stores WHERE (store, seq) IN (",
    queued_for!("told"),
    "))
     INSERT INTO changes (kind, key, owner, at)
     SELECT 'left-scope', customer, store, $3 FROM told ORDER BY store"
);

/// Marks the rows [`LAPSE_CUSTOMER`] told (same parameters).
pub const TOLD_CUSTOMER: &str = "UPDATE customer_stores SET lapsed_at = $3
     WHERE customer = $1 AND assigned = 0 AND lapsed_at IS NULL
       AND (seen_at IS NULL OR seen_at < $2)";

/// Clears the lapse told to `$2` (store) of `$1` (customer): they entered its scope again.
pub const CLEAR_LAPSE: &str = "UPDATE customer_stores SET lapsed_at = NULL
     WHERE customer = $1 AND store = $2 AND lapsed_at IS NOT NULL";

/// The lapse notices for the store `$1` after `$2` (seq), at most `$3` →
/// `(customer, seq, at)`, oldest first.
pub const NOTICES: &str = "SELECT key, seq, at FROM changes
     WHERE kind = 'left-scope' AND owner = $1 AND seq > $2 ORDER BY seq LIMIT $3";

/// Ends `$1`'s assignment to `$2`; a row never seen goes (the store's scope of them was
/// only the assignment).
pub const UNASSIGN: &str = "UPDATE customer_stores SET assigned = 0
     WHERE customer = $1 AND store = $2";

/// Removes the rows left with neither an assignment nor a visit: `$1` customer.
pub const DROP_EMPTY: &str =
    "DELETE FROM customer_stores WHERE customer = $1 AND assigned = 0 AND seen_at IS NULL";

/// A customer's rows: `$1` customer → `(store, assigned, seen_at)` by store.
pub const ROWS: &str = "SELECT store, assigned, seen_at FROM customer_stores
     WHERE customer = $1 ORDER BY store";

/// Fresh changes for everything of `$1` (customer) a till holds, at `$2`: profile,
/// balance, personal promotions, owned gift cards.
pub const FRESH_CUSTOMER: &str = "INSERT INTO changes (kind, key, owner, at)
     SELECT 'customers', ref, NULL, CAST($2 AS BIGINT) FROM customers WHERE ref = $1
     UNION ALL
     SELECT 'balances', customer, NULL, CAST($2 AS BIGINT) FROM savings_accounts
     WHERE customer = $1
     UNION ALL
     SELECT 'personal-promotions', id, customer, CAST($2 AS BIGINT) FROM personal_promotions
     WHERE customer = $1
     UNION ALL
     SELECT 'gift-cards', ref, NULL, CAST($2 AS BIGINT) FROM gift_cards WHERE owner = $1";

/// A fresh change for the card `$1`, at `$2`.
pub const FRESH_CARD: &str = "INSERT INTO changes (kind, key, owner, at)
     SELECT 'gift-cards', ref, NULL, CAST($2 AS BIGINT) FROM gift_cards WHERE ref = $1";

/// The store of a fan-out row for a change whose subject is known at no store: every
/// store receives it. Not a store id (those hold only letters, digits, `-`, `_`, `.`).
pub const EVERY_STORE: &str = "*";

/// The rule, as SQL run for each new change row `NEW` of a scoped kind: one
/// `change_stores` row per store whose scope holds the change's subject at the change's
/// time (`NEW.at`, with the scope period in `settings`), or one [`EVERY_STORE`] row when
/// the subject is known at no store. The subject is the key (customers, balances), the
/// owner (personal promotions), a gift card's owner, or for an unowned card the card
/// itself (the stores where it was sold or used).
///
/// It is the body of the trigger `change_stores_fan_out` of SQLite migration 11 and
/// PostgreSQL migration 8, so every append — customers, balances, ingest, admin, the
/// chat, [`FRESH_CUSTOMER`] — is fanned out by one rule. It is a landed migration's text:
/// a change to the rule is a new macro and a new migration replacing the trigger, never
/// an edit of this one.
macro_rules! fan_out_v1 {
    () => {
        "INSERT INTO change_stores (kind, store, seq)
     SELECT NEW.kind, f.store, NEW.seq FROM (
         SELECT s.store FROM customer_stores s
         WHERE s.customer = (CASE NEW.kind
                 WHEN 'personal-promotions' THEN NEW.owner
                 WHEN 'gift-cards' THEN (SELECT g.owner FROM gift_cards g WHERE g.ref = NEW.key)
                 ELSE NEW.key END)
           AND (s.assigned = 1 OR s.seen_at >= NEW.at - 86400 * COALESCE(
                (SELECT CAST(v.value AS BIGINT) FROM settings v WHERE v.key = 'scope_days'), 90))
         UNION ALL
         SELECT '*' WHERE NOT EXISTS (SELECT 1 FROM customer_stores s
                 WHERE s.customer = (CASE NEW.kind
                     WHEN 'personal-promotions' THEN NEW.owner
                     WHEN 'gift-cards' THEN (SELECT g.owner FROM gift_cards g WHERE g.ref = NEW.key)
                     ELSE NEW.key END))
           AND (NEW.kind <> 'gift-cards'
                OR (SELECT g.owner FROM gift_cards g WHERE g.ref = NEW.key) IS NOT NULL)
         UNION ALL
         SELECT t.store FROM gift_card_stores t
         WHERE NEW.kind = 'gift-cards' AND t.card = NEW.key
           AND (SELECT g.owner FROM gift_cards g WHERE g.ref = NEW.key) IS NULL
           AND t.seen_at >= NEW.at - 86400 * COALESCE(
                (SELECT CAST(v.value AS BIGINT) FROM settings v WHERE v.key = 'scope_days'), 90)
         UNION ALL
         SELECT '*' WHERE NEW.kind = 'gift-cards'
           AND (SELECT g.owner FROM gift_cards g WHERE g.ref = NEW.key) IS NULL
           AND NOT EXISTS (SELECT 1 FROM gift_card_stores t WHERE t.card = NEW.key)
     ) f"
    };
}
pub(crate) use fan_out_v1;

/// PostgreSQL: a store entering a subject's scope takes this lock (`$1` the customer,
/// or an unowned card) before writing the scope row, and the fan-out trigger takes it
/// shared before reading the scopes. Without it a change appended by another transaction
/// while the scope row is not yet committed would be fanned out without the entering
/// store and, being later than [`FRESH_CUSTOMER`]'s change for the same key, supersede
/// it: the store would miss the subject's state. With it, the change waits and reads the
/// committed row (each statement of the trigger's function reads anew), or commits
/// first and the fresh change comes after it. Appenders share it, so they never wait for
/// each other. (SQLite runs one writer at a time.)
pub const ENTER_LOCK_PG: &str = "SELECT pg_advisory_xact_lock(hashtext('scope'), hashtext($1))";

/// [`ENTER_LOCK_PG`] for every customer of `$1`, in one order (an ingest batch, after its
/// changes are appended). The lock is taken after the rows a writer updates (accounts,
/// customers), as the trigger takes it when the change is appended, so the two wait in
/// one order.
pub const ENTER_LOCKS_PG: &str = "SELECT pg_advisory_xact_lock(hashtext('scope'), hashtext(x.s))
     FROM (SELECT DISTINCT s FROM unnest(CAST($1 AS TEXT[])) AS u (s) ORDER BY s) x";

/// The second statement of the trigger (after [`fan_out_v1`]): the fan-out rows of the
/// key's previous change go, as that change is superseded and will never be sent (a page
/// sends each key's latest change). So a store's rows and the every-store rows hold about
/// one row per live key, and a page walks no superseded ones. (A change committed out of
/// order on PostgreSQL may keep its rows: the page still sends only each key's latest.)
macro_rules! supersede_v1 {
    () => {
        "DELETE FROM change_stores WHERE seq = (SELECT max(p.seq) FROM changes p
         WHERE p.kind = NEW.kind AND p.key = NEW.key AND p.seq < NEW.seq)"
    };
}
pub(crate) use supersede_v1;

/// The text of [`supersede_v1`], for reading.
pub const SUPERSEDE: &str = supersede_v1!();

/// The text of [`fan_out_v1`], for reading.
pub const FAN_OUT: &str = fan_out_v1!();

/// The change-log kinds fanned out to stores (the trigger's `WHEN`).
pub const FANNED_KINDS: [&str; 4] = ["customers", "balances", "personal-promotions", "gift-cards"];

/// How the subject of a kind's change is found ([`FAN_OUT`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subjects {
    /// The key is the customer (customers, balances).
    Key,
    /// The owner is the customer (personal promotions).
    Owner,
    /// The key is a gift card: its owner's scope, or its own when unowned.
    GiftCard,
}

/// How the subject of `kind`'s changes is found; `None` for a kind not scoped by customer.
pub fn subjects_of(kind: DeltaKind) -> Option<Subjects> {
    match kind {
        DeltaKind::Customers | DeltaKind::Balances => Some(Subjects::Key),
        DeltaKind::PersonalPromotions => Some(Subjects::Owner),
        DeltaKind::GiftCards => Some(Subjects::GiftCard),
        DeltaKind::Revocations | DeltaKind::Sales | DeltaKind::Ledger => None,
    }
}

/// The entries of one store (`{store}`) for `$1` (kind) after `$2` (seq), up to `$3`
/// (seq), each kept when it is its key's latest change, at most `$4` → `(key, owner,
/// seq)`, oldest first: a range scan of the store's `change_stores` entries.
fn entries(store: &str) -> String {
    format!(
        "SELECT c.key, c.owner, c.seq FROM change_stores e JOIN changes c ON c.seq = e.seq
         WHERE e.kind = $1 AND e.store = {store} AND e.seq > $2 AND e.seq <= $3
           AND NOT EXISTS (SELECT 1 FROM changes d
                           WHERE d.kind = c.kind AND d.key = c.key AND d.seq > c.seq)
         ORDER BY e.seq LIMIT $4"
    )
}

/// The page query of a scoped kind: `$1` kind, `$2` after, `$3` the log's end read
/// before ([`KIND_END`]), `$4` items at most (the page's limit + 1), `$5` store →
/// `(key, owner, seq)` of the changes the store receives, oldest first: its own entries
/// and those for every store ([`EVERY_STORE`]), each an index range scan that stops at
/// the page's end, merged. What it costs is the store's changes (and the chain's
/// changes of subjects known nowhere), not the chain's.
pub fn page_sql() -> String {
    format!(
        "SELECT key, owner, seq FROM ({own}) a
         UNION ALL
         SELECT key, owner, seq FROM ({every}) b
         ORDER BY seq LIMIT $4",
        own = entries("$5"),
        every = entries("'*'"),
    )
}

/// The end of `$1`'s (kind) log: its last sequence number, `NULL` when empty. Read before
/// a page, so a page that is not full moves the cursor there.
pub const KIND_END: &str = "SELECT max(seq) FROM changes WHERE kind = $1";

/// Stores a customer may be assigned to at once.
pub const MAX_ASSIGNED_STORES: usize = 1_000;

/// A customer's standing at one store, as the admin API shows it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct StoreScope {
    /// The store.
    pub store: String,
    /// Assigned by central IT.
    pub assigned: bool,
    /// Last seen there (a journal event or a live lookup), unix seconds.
    pub seen_at: Option<i64>,
    /// Whether the store's tills receive the customer's changes now.
    pub in_scope: bool,
}

/// A customer's stores, as the admin API shows them.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CustomerStores {
    /// The customer.
    pub customer: String,
    /// The scope period in force, days.
    pub scope_days: u32,
    /// Known at no store: their changes go to every store.
    pub everywhere: bool,
    /// Each store with a row, by store.
    pub stores: Vec<StoreScope>,
}

/// Builds [`CustomerStores`] from `rows` (`(store, assigned, seen_at)`).
pub fn customer_stores(
    customer: &str,
    days: u32,
    rows: Vec<(String, i64, Option<i64>)>,
    now: i64,
) -> CustomerStores {
    let h = horizon(now, days);
    CustomerStores {
        customer: customer.to_owned(),
        scope_days: days,
        everywhere: rows.is_empty(),
        stores: rows
            .into_iter()
            .map(|(store, assigned, seen_at)| StoreScope {
                in_scope: holds(assigned, seen_at, h),
                store,
                assigned: assigned != 0,
                seen_at,
            })
            .collect(),
    }
}

/// Checks an assignment's stores: each a store id, at most [`MAX_ASSIGNED_STORES`];
/// returns them sorted, once each.
pub fn check_stores(stores: &[String]) -> Result<Vec<String>> {
    if stores.len() > MAX_ASSIGNED_STORES {
        return Err(crate::error::Error::invalid(format!(
            "stores: at most {MAX_ASSIGNED_STORES}"
        )));
    }
    let mut checked = stores
        .iter()
        .map(|s| {
            tillpass_protocol::sync::StoreId::new(s.clone())
                .map(|s| s.as_str().to_owned())
                .map_err(|_| crate::error::Error::invalid("stores: not a store id"))
        })
        .collect::<Result<Vec<_>>>()?;
    checked.sort();
    checked.dedup();
    Ok(checked)
}

// ---- SQLite ----

/// The scope period in force (SQLite).
pub fn days(conn: &Connection) -> Result<u32> {
    let text: Option<String> = conn.query_row(&sqlite(DAYS), [], |r| r.get(0)).optional()?;
    Ok(days_from(text))
}

/// Sets the scope period (SQLite).
pub fn set_days(conn: &Connection, days: u32) -> Result<()> {
    let days = check_days(days)?;
    conn.execute(&sqlite(SET_DAYS), [days.to_string()])?;
    Ok(())
}

/// Records what a batch's events showed `store` knows, ingested at `now`, in the batch's
/// transaction (SQLite).
pub fn see_all(conn: &Connection, store: &str, seen: &Seen, now: i64) -> Result<()> {
    if seen.is_empty() {
        return Ok(());
    }
    let h = horizon(now, days(conn)?);
    for (subject, at) in seen.each() {
        see(conn, subject, store, at, h, now)?;
    }
    Ok(())
}

/// Records that `store` saw `subject` at `at` (SQLite); a subject entering the store's
/// scope gets fresh changes.
pub fn see(
    conn: &Connection,
    subject: Subject<'_>,
    store: &str,
    at: i64,
    horizon: i64,
    now: i64,
) -> Result<()> {
    match subject {
        Subject::Customer(customer) => see_customer(conn, customer, store, at, horizon, now),
        Subject::GiftCard(card) => {
            let row: Option<(Option<String>, Option<i64>)> = conn
                .prepare_cached(&sqlite(CARD_ROW))?
                .query_row(params![card, store], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()?;
            let Some((owner, seen)) = row else {
                return Ok(());
            };
            conn.prepare_cached(&sqlite(SEE_CARD))?
                .execute(params![card, store, at])?;
            match owner {
                Some(owner) => see_customer(conn, &owner, store, at, horizon, now),
                None => {
                    if !holds(0, seen, horizon) && at >= horizon {
                        conn.execute(&sqlite(FRESH_CARD), params![card, now])?;
                    }
                    Ok(())
                }
            }
        }
    }
}

fn see_customer(
    conn: &Connection,
    customer: &str,
    store: &str,
    at: i64,
    horizon: i64,
    now: i64,
) -> Result<()> {
    let before: Option<(i64, Option<i64>)> = conn
        .prepare_cached(&sqlite(CUSTOMER_ROW))?
        .query_row(params![customer, store], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    let held = before.is_some_and(|(a, s)| holds(a, s, horizon));
    let written = conn
        .prepare_cached(&sqlite(SEE_CUSTOMER))?
        .execute(params![customer, store, at])?;
    if written > 0 && !held && at >= horizon {
        conn.execute(&sqlite(FRESH_CUSTOMER), params![customer, now])?;
        conn.prepare_cached(&sqlite(CLEAR_LAPSE))?
            .execute(params![customer, store])?;
    }
    Ok(())
}

/// Tells `store`'s tills of every customer whose scope there lapsed at `horizon` and who
/// was not told yet (SQLite): one `left-scope` change each, at `now`. Writes nothing when
/// there is none.
pub fn tell_lapses(conn: &Connection, store: &str, horizon: i64, now: i64) -> Result<()> {
    let due: Option<i64> = conn
        .prepare_cached(
            "SELECT 1 FROM customer_stores
             WHERE store = ?1 AND assigned = 0 AND lapsed_at IS NULL AND seen_at < ?2 LIMIT 1",
        )?
        .query_row(params![store, horizon], |r| r.get(0))
        .optional()?;
    if due.is_none() {
        return Ok(());
    }
    let tx = conn.unchecked_transaction()?;
    tx.execute(&sqlite(LAPSE_STORE), params![store, horizon, now])?;
    tx.execute(&sqlite(UNQUEUE_STORE), params![store, horizon])?;
    tx.execute(&sqlite(TOLD_STORE), params![store, horizon, now])?;
    tx.commit()?;
    Ok(())
}

/// A customer's stores (SQLite); `None` for an unknown customer.
pub fn stores_of(conn: &Connection, customer: &str, now: i64) -> Result<Option<CustomerStores>> {
    if crate::customers::record(conn, customer)?.is_none() {
        return Ok(None);
    }
    let rows = conn
        .prepare(&sqlite(ROWS))?
        .query_map([customer], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(Some(customer_stores(customer, days(conn)?, rows, now)))
}

/// Makes `stores` the stores `customer` is assigned to (SQLite): a store newly in scope
/// gets the customer's current state. `None` for an unknown customer.
pub fn assign(
    conn: &mut Connection,
    customer: &str,
    stores: &[String],
    now: i64,
) -> Result<Option<CustomerStores>> {
    let stores = check_stores(stores)?;
    let tx = conn.transaction()?;
    if crate::customers::record(&tx, customer)?.is_none() {
        return Ok(None);
    }
    let h = horizon(now, days(&tx)?);
    let rows = tx
        .prepare(&sqlite(ROWS))?
        .query_map([customer], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?, r.get(2)?))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let mut entered = false;
    for store in &stores {
        let held = rows
            .iter()
            .any(|(s, a, seen)| s == store && holds(*a, *seen, h));
        entered |= !held;
        tx.execute(&sqlite(ASSIGN), params![customer, store])?;
    }
    for (store, assigned, _) in &rows {
        if *assigned != 0 && stores.binary_search(store).is_err() {
            tx.execute(&sqlite(UNASSIGN), params![customer, store])?;
        }
    }
    tx.execute(&sqlite(LAPSE_CUSTOMER), params![customer, h, now])?;
    tx.execute(&sqlite(UNQUEUE_CUSTOMER), params![customer, h])?;
    tx.execute(&sqlite(TOLD_CUSTOMER), params![customer, h, now])?;
    tx.execute(&sqlite(DROP_EMPTY), [customer])?;
    if entered {
        tx.execute(&sqlite(FRESH_CUSTOMER), params![customer, now])?;
    }
    let found = stores_of(&tx, customer, now)?;
    tx.commit()?;
    Ok(found)
}

/// Records a live lookup of `kind`'s `subject` by a till of `store` (SQLite): the
/// store's scope grows by it.
pub fn see_lookup(
    conn: &mut Connection,
    kind: LookupKind,
    subject: &str,
    store: &str,
    now: i64,
) -> Result<()> {
    let tx = conn.transaction()?;
    let h = horizon(now, days(&tx)?);
    see(&tx, lookup_subject(kind, subject), store, now, h, now)?;
    tx.commit()?;
    Ok(())
}

/// What a lookup of `kind` names.
pub fn lookup_subject(kind: LookupKind, subject: &str) -> Subject<'_> {
    match kind {
        LookupKind::Customer => Subject::Customer(subject),
        LookupKind::GiftCard => Subject::GiftCard(subject),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_period_is_read_with_a_default() {
        assert_eq!(days_from(None), DEFAULT_DAYS);
        assert_eq!(days_from(Some("7".into())), 7);
        assert_eq!(days_from(Some("0".into())), DEFAULT_DAYS);
        assert_eq!(days_from(Some("x".into())), DEFAULT_DAYS);
        assert!(check_days(0).is_err());
        assert!(check_days(MAX_DAYS + 1).is_err());
        assert_eq!(check_days(30).unwrap(), 30);
    }

    #[test]
    fn a_row_holds_when_assigned_or_seen_since_the_horizon() {
        let h = horizon(100 * 86_400, 90);
        assert_eq!(h, 10 * 86_400);
        assert!(holds(1, None, h));
        assert!(holds(0, Some(h), h));
        assert!(!holds(0, Some(h - 1), h));
        assert!(!holds(0, None, h));
    }
}
