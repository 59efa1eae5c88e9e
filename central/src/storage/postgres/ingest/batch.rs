//! What a batch reads once and writes once: its event rows (claimed in one statement),
//! the change log of its accepted events (appended in one statement), and what its events
//! would otherwise each ask — the customers who take receipts, the customers with pending
//! savings due, the return window in force.

use std::collections::{HashMap, HashSet};

use deadpool_postgres::Transaction;
use sha2::{Digest, Sha256};
use tillpass_protocol::sync::{AckOutcome, DeltaKind, EventPayload, JournalEvent, movement};
use tokio_postgres::Row;

use super::savings::Savings;
use super::{exec, one_row, opt, rows};
use crate::error::{Error, Result};

/// An event's row in `events`, as stored.
pub(super) struct EventRow {
    pub id: String,
    till: String,
    store: String,
    seq: i64,
    kind: &'static str,
    occurred_at: i64,
    pub sha: String,
    canonical: String,
}

impl EventRow {
    /// The row of an admitted event.
    pub fn of(event: &JournalEvent) -> Result<EventRow> {
        let canonical = serde_json::to_string(event).map_err(Error::internal)?;
        Ok(EventRow {
            id: event.id.to_hex(),
            till: event.till.as_str().to_owned(),
            store: event.store.as_str().to_owned(),
            seq: i64::try_from(event.seq).map_err(|_| Error::invalid("seq: too large"))?,
            kind: event.payload.kind(),
            occurred_at: event.occurred_at,
            sha: hex::encode(Sha256::digest(canonical.as_bytes())),
            canonical,
        })
    }
}

/// What claiming an event's id gave.
pub(super) enum Claim {
    /// The row is this batch's: apply the event.
    New,
    /// Another event had the id (its SHA-256): a duplicate, or an id conflict.
    Stored(String),
    /// The id came earlier in the batch: claim it again at its turn.
    Again,
}

/// Inserts the rows of the batch's events (the first of each id) in one statement;
/// answers each event's claim (`Again` for refused events, which have no row).
pub(super) async fn claim_all(
    tx: &Transaction<'_>,
    events: &[Option<EventRow>],
    now: i64,
) -> Result<Vec<Claim>> {
    let mut firsts = HashSet::new();
    let fresh: Vec<&EventRow> = events
        .iter()
        .flatten()
        .filter(|r| firsts.insert(r.id.as_str()))
        .collect();
    if fresh.is_empty() {
        return Ok(events.iter().map(|_| Claim::Again).collect());
    }
    let ids: Vec<&str> = fresh.iter().map(|r| r.id.as_str()).collect();
    let tills: Vec<&str> = fresh.iter().map(|r| r.till.as_str()).collect();
    let stores: Vec<&str> = fresh.iter().map(|r| r.store.as_str()).collect();
    let seqs: Vec<i64> = fresh.iter().map(|r| r.seq).collect();
    let kinds: Vec<&str> = fresh.iter().map(|r| r.kind).collect();
    let times: Vec<i64> = fresh.iter().map(|r| r.occurred_at).collect();
    let shas: Vec<&str> = fresh.iter().map(|r| r.sha.as_str()).collect();
    let payloads: Vec<&str> = fresh.iter().map(|r| r.canonical.as_str()).collect();
    let inserted: HashSet<String> = rows(
        tx,
        "INSERT INTO events (id, till, store, seq, kind, occurred_at, received_at, sha256,
                             payload)
         SELECT id, till, store, seq, kind, occurred_at, $7::bigint, sha256, payload
           FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::text[],
                       $6::bigint[], $8::text[], $9::text[])
                AS u(id, till, store, seq, kind, occurred_at, sha256, payload)
         ON CONFLICT (id) DO NOTHING RETURNING id",
        &[
            &ids, &tills, &stores, &seqs, &kinds, &times, &now, &shas, &payloads,
        ],
    )
    .await?
    .iter()
    .map(|r| r.get(0))
    .collect();
    let mut stored: HashMap<String, String> = HashMap::new();
    if inserted.len() < ids.len() {
        let others: Vec<&str> = ids
            .iter()
            .copied()
            .filter(|id| !inserted.contains(*id))
            .collect();
        stored = rows(
            tx,
            "SELECT id, sha256 FROM events WHERE id = ANY($1)",
            &[&others],
        )
        .await?
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    }
    let mut claimed = HashSet::new();
    events
        .iter()
        .map(|row| {
            let Some(row) = row else {
                return Ok(Claim::Again);
            };
            if !claimed.insert(row.id.as_str()) {
                return Ok(Claim::Again);
            }
            if inserted.contains(&row.id) {
                return Ok(Claim::New);
            }
            match stored.get(&row.id) {
                Some(sha) => Ok(Claim::Stored(sha.clone())),
                None => Err(Error::internal("an event row neither inserted nor stored")),
            }
        })
        .collect()
}

/// Claims one event's id alone (an id repeated in its batch), as [`claim_all`] does.
pub(super) async fn claim_one(tx: &Transaction<'_>, row: &EventRow, now: i64) -> Result<Claim> {
    let inserted = exec(
        tx,
        "INSERT INTO events (id, till, store, seq, kind, occurred_at, received_at, sha256,
                                 payload)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (id) DO NOTHING",
        &[
            &row.id,
            &row.till,
            &row.store,
            &row.seq,
            &row.kind,
            &row.occurred_at,
            &now,
            &row.sha,
            &row.canonical,
        ],
    )
    .await?;
    if inserted > 0 {
        return Ok(Claim::New);
    }
    let sha: String = one_row(tx, "SELECT sha256 FROM events WHERE id = $1", &[&row.id])
        .await?
        .get(0);
    Ok(Claim::Stored(sha))
}

/// A row of the change log (as [`crate::changes::record`]).
struct Change {
    kind: &'static str,
    key: String,
    owner: Option<String>,
    /// A sale's change (its key the sale's event id), kept only if the sale was added.
    if_sold: bool,
}

/// A sale to add to `store_sales` (as [`crate::store_sales`] records it).
struct Sale {
    store: String,
    sale_id: String,
    till: String,
    event_id: String,
    closed_at: i64,
}

/// What a batch knows once and writes once.
pub(super) struct Batch {
    /// When the batch is ingested.
    pub now: i64,
    /// The batch's sale customers who take receipts.
    consenting: HashSet<String>,
    /// The batch's customers with pending savings due at `now`, not yet released.
    due: HashSet<String>,
    /// Released by the event being applied.
    released: Vec<String>,
    /// Return windows by the time they start.
    windows: HashMap<i64, i64>,
    /// The change log of the accepted events, in order.
    changes: Vec<Change>,
    /// That of the event being applied.
    pending: Vec<Change>,
    /// The sales to add to `store_sales`, in order.
    sales: Vec<Sale>,
    /// The savings accounts as locked, and the movements held back.
    pub savings: Savings,
}

impl Batch {
    /// Reads what the batch's events would each ask, once, in one round trip. The
    /// accounts are locked (`locked` their savings rows), so what is due stays due until
    /// this batch releases it.
    pub async fn load(
        tx: &Transaction<'_>,
        admitted: &[std::result::Result<JournalEvent, AckOutcome>],
        locked: &[Row],
        now: i64,
    ) -> Result<Batch> {
        let mut buyers = HashSet::new();
        let mut savers = HashSet::new();
        for event in admitted.iter().flatten() {
            if let EventPayload::SaleClosed(sale) = &event.payload
                && let Some(customer) = &sale.customer
            {
                buyers.insert(customer.as_str());
            }
            if let Some(movement::Account::Savings(customer)) =
                event.payload.movement().map(|m| m.account)
            {
                savers.insert(customer.as_str());
            }
        }
        let consenting = async {
            if buyers.is_empty() {
                return Ok(HashSet::new());
            }
            let buyers: Vec<&str> = buyers.iter().copied().collect();
            Ok::<_, Error>(
                rows(
                    tx,
                    "SELECT ref FROM customers WHERE ref = ANY($1) AND consent_receipts != 0",
                    &[&buyers],
                )
                .await?
                .iter()
                .map(|r| r.get(0))
                .collect(),
            )
        };
        let due = async {
            if savers.is_empty() {
                return Ok(HashSet::new());
            }
            let savers: Vec<&str> = savers.iter().copied().collect();
            Ok::<_, Error>(
                rows(
                    tx,
                    "SELECT DISTINCT customer FROM pending_savings
                     WHERE customer = ANY($1) AND release_at <= $2",
                    &[&savers, &now],
                )
                .await?
                .iter()
                .map(|r| r.get(0))
                .collect(),
            )
        };
        let (consenting, due, savings) =
            tokio::try_join!(consenting, due, Savings::load(tx, locked, admitted))?;
        let batch = Batch {
            now,
            consenting,
            due,
            released: vec![],
            windows: HashMap::new(),
            changes: vec![],
            pending: vec![],
            sales: vec![],
            savings,
        };
        Ok(batch)
    }

    /// Whether `customer` takes receipts.
    pub fn consents(&self, customer: &str) -> bool {
        self.consenting.contains(customer)
    }

    /// Whether `customer` may have pending savings due.
    pub fn due(&self, customer: &str) -> bool {
        self.due.contains(customer)
    }

    /// The event being applied released `customer`'s due savings.
    pub fn released(&mut self, customer: &str) {
        self.released.push(customer.to_owned());
    }

    /// The return window starting at `start`, if this batch asked already.
    pub fn window(&self, start: i64) -> Option<i64> {
        self.windows.get(&start).copied()
    }

    /// Remembers the return window starting at `start`.
    pub fn keep_window(&mut self, start: i64, secs: i64) {
        self.windows.insert(start, secs);
    }

    /// Appends to the change log of the event being applied.
    pub fn change(&mut self, kind: DeltaKind, key: &str, owner: Option<&str>) {
        self.pending.push(Change {
            kind: kind.segment(),
            key: key.to_owned(),
            owner: owner.map(str::to_owned),
            if_sold: false,
        });
    }

    /// Adds a sale to its store's sales (written with the change log: first come, first
    /// served on its store and sale id), and its change if it is added.
    pub fn sold(&mut self, event: &JournalEvent, sale_id: &str) {
        let event_id = event.id.to_hex();
        self.pending.push(Change {
            kind: DeltaKind::Sales.segment(),
            key: event_id.clone(),
            owner: Some(event.store.as_str().to_owned()),
            if_sold: true,
        });
        self.sales.push(Sale {
            store: event.store.as_str().to_owned(),
            sale_id: sale_id.to_owned(),
            till: event.till.as_str().to_owned(),
            event_id,
            closed_at: event.occurred_at,
        });
    }

    /// Whether the batch adds the sale `sale_id` of `store` at its next flush.
    pub fn sells(&self, store: &str, sale_id: &str) -> bool {
        self.sales
            .iter()
            .any(|s| s.store == store && s.sale_id == sale_id)
    }

    /// Drops the sales added (their event ids `added`) and the changes of those whose id
    /// the store had already used.
    fn sales_added(&mut self, added: &HashSet<String>) {
        for sale in self.sales.drain(..) {
            if !added.contains(&sale.event_id) {
                tracing::warn!(
                    store = %sale.store,
                    till = %sale.till,
                    sale = %sale.sale_id,
                    "a sale id already used at another till of the store: not offered to its other tills"
                );
            }
        }
        let kept = |c: &Change| !c.if_sold || added.contains(&c.key);
        self.changes.retain(kept);
        self.pending.retain(kept);
    }

    /// Writes the savings movements held back (before anything reads an account's log,
    /// balance or pending entries from the database).
    pub async fn flush_savings(&mut self, tx: &Transaction<'_>) -> Result<()> {
        self.savings.flush(tx, self.now).await
    }

    /// The event being applied is accepted: what it did stands.
    pub fn accept(&mut self) {
        self.changes.append(&mut self.pending);
        for customer in self.released.drain(..) {
            self.due.remove(&customer);
        }
    }

    /// The event being applied is refused: nothing it did stands.
    pub fn refuse(&mut self) {
        self.pending.clear();
        self.released.clear();
    }

    /// Adds the sales kept so far and writes the savings movements held back (one round
    /// trip), then appends the change log kept so far (the accepted events', then the event
    /// being applied's), in order, in one statement: before any statement that appends to
    /// the log itself or reads a sale the batch adds, before a savepoint, and at the end of
    /// the batch — the log's order is the order in which the events changed things, as on
    /// SQLite.
    pub async fn flush(&mut self, tx: &Transaction<'_>) -> Result<()> {
        let (added, ()) =
            tokio::try_join!(add_sales(tx, &self.sales), self.savings.flush(tx, self.now))?;
        if let Some(added) = added {
            self.sales_added(&added);
        }
        if self.changes.is_empty() && self.pending.is_empty() {
            return Ok(());
        }
        let all = || self.changes.iter().chain(&self.pending);
        let kinds: Vec<&str> = all().map(|c| c.kind).collect();
        let keys: Vec<&str> = all().map(|c| c.key.as_str()).collect();
        let owners: Vec<Option<&str>> = all().map(|c| c.owner.as_deref()).collect();
        exec(
            tx,
            "INSERT INTO changes (kind, key, owner, at)
             SELECT kind, key, owner, $4::bigint
               FROM unnest($1::text[], $2::text[], $3::text[]) WITH ORDINALITY
                    AS u(kind, key, owner, n)
              ORDER BY n",
            &[&kinds, &keys, &owners, &self.now],
        )
        .await?;
        self.changes.clear();
        self.pending.clear();
        Ok(())
    }
}

/// Adds `sales`, in order, in one statement (first come, first served on their store and
/// sale id); answers the event ids of those added, `None` for no sales.
async fn add_sales(tx: &Transaction<'_>, sales: &[Sale]) -> Result<Option<HashSet<String>>> {
    if sales.is_empty() {
        return Ok(None);
    }
    let stores: Vec<&str> = sales.iter().map(|s| s.store.as_str()).collect();
    let ids: Vec<&str> = sales.iter().map(|s| s.sale_id.as_str()).collect();
    let tills: Vec<&str> = sales.iter().map(|s| s.till.as_str()).collect();
    let events: Vec<&str> = sales.iter().map(|s| s.event_id.as_str()).collect();
    let times: Vec<i64> = sales.iter().map(|s| s.closed_at).collect();
    Ok(Some(
        rows(
            tx,
            "INSERT INTO store_sales (store, sale_id, till, event_id, closed_at)
             SELECT store, sale_id, till, event_id, closed_at
               FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[])
                    WITH ORDINALITY AS u(store, sale_id, till, event_id, closed_at, n)
              ORDER BY n
             ON CONFLICT (store, sale_id) DO NOTHING RETURNING event_id",
            &[&stores, &ids, &tills, &events, &times],
        )
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect(),
    ))
}

/// The return window of the catalog in force at `at` (as [`crate::pending::window_secs`]),
/// asked once per batch and start time.
pub(super) async fn window_secs(tx: &Transaction<'_>, batch: &mut Batch, at: i64) -> Result<i64> {
    if let Some(secs) = batch.window(at) {
        return Ok(secs);
    }
    let secs = read_window(tx, at).await?;
    batch.keep_window(at, secs);
    Ok(secs)
}

async fn read_window(tx: &Transaction<'_>, at: i64) -> Result<i64> {
    let mut row = opt(
        tx,
        "SELECT id, return_window_secs FROM catalogs WHERE activates_at <= $1
             ORDER BY activates_at DESC, id DESC LIMIT 1",
        &[&at],
    )
    .await?;
    if row.is_none() {
        row = opt(
            tx,
            "SELECT id, return_window_secs FROM catalogs WHERE activates_at > $1
                 ORDER BY activates_at, id LIMIT 1",
            &[&at],
        )
        .await?;
    }
    let Some(row) = row else {
        return Ok(0);
    };
    let (id, known): (i64, Option<i64>) = (row.get(0), row.get(1));
    if let Some(secs) = known {
        return Ok(secs);
    }
    let cbor: Vec<u8> = one_row(tx, "SELECT body_cbor FROM catalogs WHERE id = $1", &[&id])
        .await?
        .get(0);
    let catalog: tillpass_protocol::catalog::Catalog =
        ciborium::from_reader(cbor.as_slice()).map_err(Error::internal)?;
    let secs = crate::pending::catalog_window_secs(&catalog);
    exec(
        tx,
        "UPDATE catalogs SET return_window_secs = $2 WHERE id = $1",
        &[&id, &secs],
    )
    .await?;
    Ok(secs)
}
