//! Delta pages on PostgreSQL, as [`crate::deltas`] builds them on SQLite: the keys of a
//! stream changed after the cursor (customers, balances, personal promotions and gift
//! cards within the store's scope, [`crate::scope`]), each once at its latest change, with their current
//! state read in one set-based query per page (`= ANY($1)`), not one per item.
//!
//! Before a page of balances, the pending savings due by central's clock are released in
//! one statement: the due rows are deleted, their sums credited with
//! `balance = balance + …` (paying a debt first), and the balance changes logged. When
//! nothing is due, nothing is written.

use std::collections::HashMap;

use deadpool_postgres::GenericClient;
use ed25519_dalek::SigningKey;
use futures_util::future::try_join_all;
use tillpass_protocol::envelope::EnvelopePurpose;
use tillpass_protocol::lang::Lang;
use tillpass_protocol::money::Money;
use tillpass_protocol::sync::{
    BalanceDelta, Consent, CustomerDelta, CustomerRecord, CustomerRef, DeltaKind, DeltaPage,
    DeltaQuery, GiftCardDelta, GiftCardRef, JournalEvent, PageRequest, PersonalPromotion,
    PersonalPromotionDelta, PromotionId, SaleDelta, StoreId, seal_page,
};
use tokio_postgres::types::ToSql;

use super::{Pg, accounts, cached, settings};
use crate::changes::{Changed, Entry, Notice, ScopedPage, decode_cursor, encode_cursor};
use crate::clock::to_u64;
use crate::deltas::{AnyPage, DEFAULT_LIMIT};
use crate::error::{Error, Result};
use crate::published::{self, Versions};
use crate::storage::money;
use crate::{revocations, scope, store_sales};

/// The page of `kind` after `query.cursor` for a till of `store` (as
/// [`crate::deltas::page`]): a round of that one stream ([`round_read`]).
pub async fn page(
    pg: &Pg,
    kind: DeltaKind,
    query: &DeltaQuery,
    store: &StoreId,
    sync_key: &SigningKey,
    now: i64,
    notices: bool,
) -> Result<AnyPage> {
    let (mut pages, _) =
        round_read(pg, &[(kind, query.clone())], store, sync_key, now, notices).await?;
    pages
        .pop()
        .ok_or_else(|| Error::internal("a round of one stream read no page"))
}

/// A sync round's reads (as [`crate::storage::round`] on SQLite): the page of each of
/// `asked` for a till of `store` and the envelopes' versions, on one connection.
///
/// First where the round stands ([`Standing`]: two statements pipelined in one round trip),
/// then the writes a page needs, only when due (pending savings to release, lapses to
/// tell: then the standing is read again), then the page of every stream with something
/// new for the store, pipelined — a stream with nothing new after its cursor runs no
/// statement of its own ([`Standing::idle`]). An idle round is two statements.
pub async fn round_read(
    pg: &Pg,
    asked: &[(DeltaKind, DeltaQuery)],
    store: &StoreId,
    sync_key: &SigningKey,
    now: i64,
    notices: bool,
) -> Result<(Vec<AnyPage>, Versions)> {
    let client = pg.client().await?;
    let c = &client;
    let mut standing = Standing::read(c, store, now).await?;
    let asks = |kind: DeltaKind| asked.iter().any(|(k, _)| *k == kind);
    let release = asks(DeltaKind::Balances) && standing.savings_due;
    let lapses = asks(DeltaKind::Customers)
        .then(|| standing.lapse_horizon(now))
        .flatten();
    if release || lapses.is_some() {
        let release = async {
            if release {
                release_due(c, now).await?;
            }
            Ok::<_, Error>(())
        };
        let tell = async {
            if let Some(horizon) = lapses {
                super::scope::tell_lapses(c, store.as_str(), horizon, now).await?;
            }
            Ok(())
        };
        tokio::try_join!(release, tell)?;
        standing = Standing::read(c, store, now).await?;
    }
    let standing = &standing;
    let pages = try_join_all(asked.iter().map(|(kind, query)| async move {
        let after = decode_cursor(&query.cursor)?;
        if standing.idle(*kind, after, notices) {
            return Ok(AnyPage::empty(
                *kind,
                encode_cursor(standing.idle_next(*kind, after))?,
            ));
        }
        build(c, *kind, query, store, sync_key, now, notices, standing.log).await
    }))
    .await?;
    Ok((pages, standing.versions))
}

/// Where a round stands for one store, read before its pages in two statements sent
/// together: [`ROUND_SETTLED`] (where the log is settled, with what is due), then
/// [`ROUND_STORE`] (the envelopes' versions and the newest change of each stream for
/// the store). The second is a later statement than the first — sent after it on the
/// same connection, each its own implicit transaction — so every change at or below
/// where the log is settled is visible to it: a stream whose newest entry for the store
/// is at or before the till's cursor has nothing for the store up to where the log is
/// settled, and its page would be empty. (Rows of the fan-out are only ever added with
/// their change, and removed.)
#[derive(Debug, Clone, Copy)]
struct Standing {
    /// Where the log is settled, and the scoped kinds' ends.
    log: Log,
    /// Some pending saving is due.
    savings_due: bool,
    /// The oldest visit among the store's customers not told of a lapse (not assigned).
    untold_seen: Option<i64>,
    /// The scope period in force.
    scope_days: u32,
    /// The envelopes' versions.
    versions: Versions,
    /// The newest entry for the store of each stream, in [`ROUND_STORE`]'s order:
    /// customers, balances, gift cards, personal promotions, lapse notices, sales,
    /// ledger, revocations.
    store_ends: [Option<i64>; 8],
}

/// [`SETTLED`], then whether a pending saving is due at `$1` (now), the oldest visit of
/// `$2`'s (store) untold unassigned customers (on the index `customer_stores_untold`),
/// and the scope period's text ([`scope::DAYS`]).
static ROUND_SETTLED: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "{SETTLED},
         EXISTS (SELECT 1 FROM pending_savings WHERE release_at <= $1),
         (SELECT seen_at FROM customer_stores
          WHERE store = $2 AND assigned = 0 AND lapsed_at IS NULL
          ORDER BY seen_at LIMIT 1),
         ({days})",
        days = scope::DAYS,
    )
});

/// The envelopes' versions ([`published::VERSIONS`], `$1`–`$3`), then the newest entry
/// for `$4` (store) of each stream ([`Standing::store_ends`]): a scoped kind's own and every-store
/// fan-out rows, the store's lapse notices, sales and ledger changes, and the
/// revocations' (one stream for all).
///
/// Each is an index's last entry, written `ORDER BY seq DESC LIMIT 1` rather than
/// `max(seq)`: the statements keep a generic plan per connection, and one made while a
/// table's statistics were stale (a young database, before autovacuum analyzes it) chose
/// to aggregate the whole index range — every every-store row of a kind, ~6,000 rows
/// and ~10 ms per round after a minute of a 10,000-till load, halving the rounds served.
/// A descending index scan stopped at one row is the only plan of the explicit form.
static ROUND_STORE: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    let fanned = |kind: DeltaKind| {
        format!(
            "GREATEST(
                 (SELECT seq FROM change_stores WHERE kind = '{kind}' AND store = $4
                  ORDER BY seq DESC LIMIT 1),
                 (SELECT seq FROM change_stores WHERE kind = '{kind}' AND store = '{every}'
                  ORDER BY seq DESC LIMIT 1))",
            kind = kind.segment(),
            every = scope::EVERY_STORE,
        )
    };
    let owned = |kind: &str| {
        format!(
            "(SELECT seq FROM changes WHERE kind = '{kind}' AND owner = $4
              ORDER BY seq DESC LIMIT 1)"
        )
    };
    let ends = [
        fanned(DeltaKind::Customers),
        fanned(DeltaKind::Balances),
        fanned(DeltaKind::GiftCards),
        fanned(DeltaKind::PersonalPromotions),
        owned(scope::LEFT_SCOPE_KIND),
        owned(DeltaKind::Sales.segment()),
        owned(DeltaKind::Ledger.segment()),
        "(SELECT seq FROM revocations ORDER BY seq DESC LIMIT 1)".to_owned(),
    ];
    format!(
        "SELECT v.*, {ends} FROM ({versions}) v",
        ends = ends.join(",\n"),
        versions = published::VERSIONS,
    )
});

/// The statements a round reads where it stands with ([`Standing`]), in order, for tests
/// of their plans.
pub fn standing_statements() -> [&'static str; 2] {
    [ROUND_SETTLED.as_str(), ROUND_STORE.as_str()]
}

impl Standing {
    /// Reads it now: both statements prepared first, so they go out in order.
    async fn read(c: &impl GenericClient, store: &StoreId, now: i64) -> Result<Standing> {
        let (settled, standing) = tokio::try_join!(
            c.prepare_cached(&ROUND_SETTLED),
            c.prepare_cached(&ROUND_STORE),
        )?;
        let (trust, catalog, at) = published::params(now);
        let store = store.as_str();
        // Polled in this order, each statement is sent on its first poll: the second
        // runs after the first on the server.
        let first: [&(dyn ToSql + Sync); 2] = [&now, &store];
        let second: [&(dyn ToSql + Sync); 4] = [&trust, &catalog, &at, &store];
        let (s, t) = tokio::try_join!(
            c.query_one(&settled, &first),
            c.query_one(&standing, &second),
        )?;
        let settled: Option<i64> = s.get(0);
        let mut store_ends = [None; 8];
        for (i, end) in store_ends.iter_mut().enumerate() {
            *end = t.get(3 + i);
        }
        Ok(Standing {
            log: Log {
                settled: settled.unwrap_or(i64::MAX),
                ends: [s.get(1), s.get(2), s.get(3), s.get(4)],
            },
            savings_due: s.get(5),
            untold_seen: s.get(6),
            scope_days: scope::days_from(s.get(7)),
            versions: Versions {
                trust_list: t.get(0),
                catalog: t.get(1),
                newest_catalog: t.get(2),
            },
            store_ends,
        })
    }

    /// The horizon to tell the store's lapses at, when some customer's scope there has
    /// lapsed untold.
    fn lapse_horizon(&self, now: i64) -> Option<i64> {
        let horizon = scope::horizon(now, self.scope_days);
        self.untold_seen
            .is_some_and(|seen| seen < horizon)
            .then_some(horizon)
    }

    /// Whether `kind`'s page after `after` would be empty for the store (with lapse
    /// notices when `notices`).
    fn idle(&self, kind: DeltaKind, after: i64, notices: bool) -> bool {
        let passed = |i: usize| self.store_ends[i].is_none_or(|end| end <= after);
        match kind {
            DeltaKind::Customers => passed(0) && (!notices || passed(4)),
            DeltaKind::Balances => passed(1),
            DeltaKind::GiftCards => passed(2),
            DeltaKind::PersonalPromotions => passed(3),
            DeltaKind::Sales => passed(5),
            DeltaKind::Ledger => passed(6),
            DeltaKind::Revocations => passed(7),
        }
    }

    /// Where an idle page of `kind` leaves the cursor: a scoped kind's moves to its log's
    /// end, up to where the log is settled (as [`build`]); the store's own streams' stay.
    fn idle_next(&self, kind: DeltaKind, after: i64) -> i64 {
        if scope::subjects_of(kind).is_some() {
            self.log.scoped_end(kind, after)
        } else {
            after
        }
    }
}

/// The page of `request.kind`, sealed by `sync_key` for `request` (as
/// [`crate::deltas::signed_page`]).
pub async fn signed_page(
    pg: &Pg,
    request: &PageRequest,
    query: &DeltaQuery,
    store: &StoreId,
    sync_key: &SigningKey,
    now: i64,
) -> Result<Vec<u8>> {
    signed_page_counted(pg, request, query, store, sync_key, now)
        .await
        .map(|(sealed, _)| sealed)
}

/// [`signed_page`], with the number of items it carries.
pub async fn signed_page_counted(
    pg: &Pg,
    request: &PageRequest,
    query: &DeltaQuery,
    store: &StoreId,
    sync_key: &SigningKey,
    now: i64,
) -> Result<(Vec<u8>, usize)> {
    let page = page(pg, request.kind, query, store, sync_key, now, false).await?;
    let json = serde_json::to_vec(&page).map_err(Error::internal)?;
    let client = pg.client().await?;
    let sequence = settings::next_sequence(&client, EnvelopePurpose::DeltaPage.code()).await?;
    let sealed = seal_page(request, &json, sequence, to_u64(now), sync_key)
        .map_err(|e| Error::internal(format!("sealing a delta page: {e}")))?;
    Ok((sealed, page.len()))
}

/// [`CHANGES_IN_FLIGHT`] as a literal (0x6368, "ch"), for the SQL texts built from it.
macro_rules! changes_in_flight {
    () => {
        25448
    };
}

/// The top 16 bits of the advisory lock keys a statement appending to `changes` takes
/// (PostgreSQL migration 10, `changes_in_flight`); the low 48 hold the log's sequence as
/// it stood before the statement took any number.
pub const CHANGES_IN_FLIGHT: i64 = changes_in_flight!();

/// Where the change log is settled: the highest sequence number at or below which every
/// change is committed (visible to the next statement) or never will be (rolled back).
/// Read before a page, in a statement of its own; a page reads no change past it:
/// - the newest change visible to this statement's snapshot bounds it, so a transaction
///   appending after the snapshot gets a higher number;
/// - the appenders still in flight when the locks are read bound it by their keys
///   ([`CHANGES_IN_FLIGHT`]), below any number they took or will take;
/// - a change below both that was in flight at the snapshot and has committed since is
///   visible to the page's statement, which comes after.
///
/// `NULL` (an empty log, nobody appending) reads as no bound. A transaction that appends
/// and stays open holds every page at its key until it ends: appenders commit within
/// their request.
///
/// The same statement reads the end of each scoped kind's log ([`SCOPED`], as
/// [`scope::KIND_END`] does one at a time): a page that is not full moves its cursor to
/// the lower of its kind's end and where the log is settled. (An end from this snapshot
/// is never past a change the page's later statement cannot see: every change at or
/// below the settled number is visible by then.)
const SETTLED: &str = concat!(
    "SELECT LEAST(
         (SELECT seq FROM changes ORDER BY seq DESC LIMIT 1),
         (SELECT min(((CAST(l.classid AS BIGINT) << 32) | CAST(l.objid AS BIGINT))
                     & 281474976710655)
          FROM pg_locks l
          WHERE l.locktype = 'advisory' AND l.objsubid = 1
            AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
            AND (CAST(l.classid AS BIGINT) >> 16) = ",
    changes_in_flight!(),
    ")),
         (SELECT seq FROM changes WHERE kind = 'customers' ORDER BY seq DESC LIMIT 1),
         (SELECT seq FROM changes WHERE kind = 'balances' ORDER BY seq DESC LIMIT 1),
         (SELECT seq FROM changes WHERE kind = 'gift-cards' ORDER BY seq DESC LIMIT 1),
         (SELECT seq FROM changes WHERE kind = 'personal-promotions' ORDER BY seq DESC LIMIT 1)"
);

/// The scoped kinds whose ends [`SETTLED`] reads, in its order.
const SCOPED: [DeltaKind; 4] = [
    DeltaKind::Customers,
    DeltaKind::Balances,
    DeltaKind::GiftCards,
    DeltaKind::PersonalPromotions,
];

/// Where the change log stands for the pages about to be read ([`SETTLED`]).
#[derive(Debug, Clone, Copy)]
struct Log {
    /// No change numbered past it is read.
    settled: i64,
    /// The end of each of [`SCOPED`]'s logs.
    ends: [Option<i64>; 4],
}

impl Log {
    /// The end of `kind`'s log, if scoped and not empty.
    fn end(&self, kind: DeltaKind) -> Option<i64> {
        SCOPED
            .iter()
            .position(|k| *k == kind)
            .and_then(|i| self.ends[i])
    }

    /// Where a scoped page after `after` that is not full leaves the cursor: its kind's
    /// end, up to where the log is settled, never back.
    fn scoped_end(&self, kind: DeltaKind, after: i64) -> i64 {
        self.end(kind).unwrap_or(after).min(self.settled).max(after)
    }
}

/// The page of `kind` after `query.cursor`, reading no change numbered past where the
/// log is settled ([`SETTLED`]): its cursor never passes a change still in flight.
#[allow(clippy::too_many_arguments)]
async fn build(
    c: &impl GenericClient,
    kind: DeltaKind,
    query: &DeltaQuery,
    store: &StoreId,
    sync_key: &SigningKey,
    now: i64,
    notices: bool,
    log: Log,
) -> Result<AnyPage> {
    let settled = log.settled;
    let after = decode_cursor(&query.cursor)?;
    let limit = query.effective_limit(DEFAULT_LIMIT);
    if kind == DeltaKind::Revocations {
        return revocations_page(c, sync_key, after, limit, now).await;
    }
    let (entries, next, has_more) = if scope::subjects_of(kind).is_some() {
        let notices = if kind == DeltaKind::Customers && notices {
            lapse_notices(c, store.as_str(), after, limit, settled).await?
        } else {
            Vec::new()
        };
        let end = log.scoped_end(kind, after);
        let page = since_in_scope(c, kind, store.as_str(), after, limit, end).await?;
        page.with_notices(notices, limit)?
    } else {
        // Sales and the ledger: the store's own keys.
        let (changed, has_more) = since(c, kind, store.as_str(), after, limit, settled).await?;

        let next = changed.last().map_or(after, |c| c.seq);
        (
            changed.into_iter().map(Entry::Change).collect(),
            next,
            has_more,
        )
    };
    let next = encode_cursor(next)?;
    if kind == DeltaKind::Customers {
        return Ok(AnyPage::Customers(DeltaPage::new(
            customers(c, &entries).await?,
            next,
            has_more,
        )));
    }
    let changed: Vec<Changed> = entries
        .into_iter()
        .filter_map(|e| match e {
            Entry::Change(c) => Some(c),
            Entry::Notice(_) => None,
        })
        .collect();
    let keys: Vec<&str> = changed.iter().map(|c| c.key.as_str()).collect();
    Ok(match kind {
        DeltaKind::Customers => {
            return Err(Error::internal("customers page built twice"));
        }
        DeltaKind::Balances => AnyPage::Balances(DeltaPage::new(
            balances(c, &changed, &keys).await?,
            next,
            has_more,
        )),
        DeltaKind::GiftCards => AnyPage::GiftCards(DeltaPage::new(
            gift_cards(c, &changed, &keys).await?,
            next,
            has_more,
        )),
        DeltaKind::PersonalPromotions | DeltaKind::Revocations => AnyPage::PersonalPromotions(
            DeltaPage::new(promotions(c, &changed, &keys).await?, next, has_more),
        ),
        DeltaKind::Sales => {
            AnyPage::Sales(DeltaPage::new(sales(c, &keys, now).await?, next, has_more))
        }
        DeltaKind::Ledger => AnyPage::Ledger(DeltaPage::new(
            super::ledger::items(c, &keys, now).await?,
            next,
            has_more,
        )),
    })
}

/// The keys of `kind` of `owner` changed after `after` and at or before `settled`, each at its
/// latest change (as [`crate::changes::since`]), at most `limit`; and whether more follow.
async fn since(
    c: &impl GenericClient,
    kind: DeltaKind,
    owner: &str,
    after: i64,
    limit: u32,
    settled: i64,
) -> Result<(Vec<Changed>, bool)> {
    const LATEST: &str = "AND c.seq <= $5 AND NOT EXISTS (SELECT 1 FROM changes d
                           WHERE d.kind = c.kind AND d.key = c.key AND d.seq > c.seq)
         ORDER BY c.seq LIMIT $3";
    let fetch = i64::from(limit) + 1;
    let sql = format!(
        "SELECT c.key, c.owner, c.seq FROM changes c
         WHERE c.kind = $1 AND c.owner = $4 AND c.seq > $2 {LATEST}"
    );
    let rows = cached::query(
        c,
        &sql,
        &[&kind.segment(), &after, &fetch, &owner, &settled],
    )
    .await?;
    let mut changed: Vec<Changed> = rows.iter().map(changed_row).collect();
    let limit = usize::try_from(limit).map_err(Error::internal)?;
    let has_more = changed.len() > limit;
    changed.truncate(limit);
    Ok((changed, has_more))
}

/// The changes of a customer-scoped `kind` that `store` receives (as
/// [`crate::changes::since_in_scope`], with the same SQL), up to `end` ([`Log`]).
async fn since_in_scope(
    c: &impl GenericClient,
    kind: DeltaKind,
    store: &str,
    after: i64,
    limit: u32,
    end: i64,
) -> Result<ScopedPage> {
    let fetch = i64::from(limit) + 1;
    let changed: Vec<Changed> = cached::query(
        c,
        &scope::page_sql(),
        &[&kind.segment(), &after, &end, &fetch, &store],
    )
    .await?
    .iter()
    .map(changed_row)
    .collect();
    ScopedPage::assemble(changed, end, limit)
}

/// How many customers' due pending savings one round releases at most. Each customer
/// credited appends a balance change, whose fan-out takes the customer's scope lock
/// until the statement's transaction ends: unbounded, a release date shared by a chain's
/// customers (or a central back from an outage) held more locks than PostgreSQL's lock
/// table has room for ("out of shared memory"), and every round failed while they were
/// due. The next rounds release the rest (their standing reads that savings are due).
pub const RELEASE_CUSTOMERS: i64 = 1_000;

/// Releases the pending savings due at `now` (as [`crate::pending::release_due`] for
/// everyone) of at most [`RELEASE_CUSTOMERS`] customers, in one statement.
async fn release_due(c: &impl GenericClient, now: i64) -> Result<()> {
    cached::execute(
        c,
        "WITH due AS (
             DELETE FROM pending_savings WHERE release_at <= $1 AND customer IN (
                 SELECT customer FROM pending_savings WHERE release_at <= $1 LIMIT $3)
             RETURNING customer, amount
         ), sums AS (
             SELECT customer, sum(amount)::BIGINT AS amount FROM due GROUP BY customer
         ), credited AS (
             UPDATE savings_accounts a
             SET balance = a.balance + (s.amount - LEAST(s.amount, a.debt)),
                 debt = a.debt - LEAST(s.amount, a.debt),
                 updated_at = $1
             FROM sums s WHERE a.customer = s.customer
             RETURNING a.customer
         )
         INSERT INTO changes (kind, key, owner, at)
         SELECT $2, customer, NULL, $1 FROM credited ORDER BY customer",
        &[&now, &DeltaKind::Balances.segment(), &RELEASE_CUSTOMERS],
    )
    .await?;
    Ok(())
}

/// The lapse notices for `store` after `after` and at or before `settled` (as
/// [`crate::changes::notices`]).
async fn lapse_notices(
    c: &impl GenericClient,
    store: &str,
    after: i64,
    limit: u32,
    settled: i64,
) -> Result<Vec<Notice>> {
    let fetch = i64::from(limit) + 1;
    Ok(cached::query(c, scope::NOTICES, &[&store, &after, &fetch])
        .await?
        .iter()
        .map(|r| Notice {
            customer: r.get(0),
            seq: r.get(1),
            at: r.get(2),
        })
        .filter(|n| n.seq <= settled)
        .collect())
}

async fn customers(c: &impl GenericClient, entries: &[Entry]) -> Result<Vec<CustomerDelta>> {
    if entries.is_empty() {
        return Ok(Vec::new());
    }
    let keys: Vec<&str> = entries
        .iter()
        .filter_map(|e| match e {
            Entry::Change(ch) => Some(ch.key.as_str()),
            Entry::Notice(_) => None,
        })
        .collect();
    let keys: &[&str] = &keys;
    let mut records = HashMap::new();
    for r in cached::query(
        c,
        "SELECT c.ref, c.first_name, c.tier, c.lang, c.consent_receipts,
                    c.consent_marketing, c.earn_only,
                    COALESCE((SELECT array_agg(s.segment ORDER BY s.segment)
                              FROM customer_segments s WHERE s.customer = c.ref), '{}')
             FROM customers c WHERE c.ref = ANY($1)",
        &[&keys],
    )
    .await?
    {
        let reference: String = r.get(0);
        let lang: String = r.get(3);
        let record = CustomerRecord {
            customer: CustomerRef::new(reference.clone()).map_err(Error::internal)?,
            first_name: r.get(1),
            tier: r.get(2),
            lang: Lang::from_code(&lang).unwrap_or_default(),
            consent: Consent {
                receipts: r.get::<_, i64>(4) != 0,
                marketing: r.get::<_, i64>(5) != 0,
            },
            earn_only: r.get::<_, i64>(6) != 0,
            segments: r.get(7),
        };
        records.insert(reference, record);
    }
    let erased: HashMap<String, i64> = cached::query(
        c,
        "SELECT ref, erased_at FROM erased_customers WHERE ref = ANY($1)",
        &[&keys],
    )
    .await?
    .iter()
    .map(|r| (r.get(0), r.get(1)))
    .collect();
    let mut items = Vec::with_capacity(entries.len());
    for entry in entries {
        let ch = match entry {
            Entry::Change(ch) => ch,
            Entry::Notice(n) => {
                items.push(CustomerDelta::LeftScope {
                    customer: CustomerRef::new(n.customer.clone()).map_err(Error::internal)?,
                    at: n.at,
                });
                continue;
            }
        };
        if let Some(record) = records.remove(&ch.key) {
            items.push(CustomerDelta::Upsert { customer: record });
        } else if let Some(erased_at) = erased.get(&ch.key) {
            items.push(CustomerDelta::Erased {
                customer: CustomerRef::new(ch.key.clone()).map_err(Error::internal)?,
                erased_at: *erased_at,
            });
        }
    }
    Ok(items)
}

async fn balances(
    c: &impl GenericClient,
    changed: &[Changed],
    keys: &[&str],
) -> Result<Vec<BalanceDelta>> {
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    let mut accounts = HashMap::new();
    for r in cached::query(
        c,
        "SELECT a.customer, a.currency, a.balance, a.debt, a.updated_at,
                    p.amount, p.next_release_at
             FROM savings_accounts a
             LEFT JOIN LATERAL (
                 SELECT sum(amount)::BIGINT AS amount, min(release_at) AS next_release_at
                 FROM pending_savings WHERE customer = a.customer
             ) p ON true
             WHERE a.customer = ANY($1)",
        &[&keys],
    )
    .await?
    {
        let currency: String = r.get(1);
        let savings = money(&currency, r.get(2))?;
        let pending: Option<i64> = r.get(5);
        accounts.insert(
            r.get::<_, String>(0),
            (
                savings,
                money(&currency, r.get(3))?,
                r.get::<_, i64>(4),
                Money::new(pending.unwrap_or(0), savings.currency),
                r.get::<_, Option<i64>>(6),
            ),
        );
    }
    changed
        .iter()
        .map(|ch| {
            let customer = CustomerRef::new(ch.key.clone()).map_err(Error::internal)?;
            Ok(match accounts.remove(&ch.key) {
                Some((savings, debt, updated_at, pending, next_release_at)) => {
                    BalanceDelta::Upsert {
                        customer,
                        savings,
                        debt,
                        updated_at,
                        pending: Some(pending),
                        next_release_at,
                    }
                }
                None => BalanceDelta::Removed { customer },
            })
        })
        .collect()
}

async fn gift_cards(
    c: &impl GenericClient,
    changed: &[Changed],
    keys: &[&str],
) -> Result<Vec<GiftCardDelta>> {
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    let mut cards = HashMap::new();
    for r in cached::query(
        c,
        "SELECT ref, currency, balance, debt, status, expires_at, owner FROM gift_cards
             WHERE ref = ANY($1)",
        &[&keys],
    )
    .await?
    {
        cards.insert(r.get::<_, String>(0), accounts::gift_card_of(&r)?);
    }
    changed
        .iter()
        .map(|ch| {
            Ok(match cards.remove(&ch.key) {
                Some(card) => GiftCardDelta::Upsert { card },
                None => GiftCardDelta::Removed {
                    card: GiftCardRef::new(ch.key.clone()).map_err(Error::internal)?,
                },
            })
        })
        .collect()
}

async fn promotions(
    c: &impl GenericClient,
    changed: &[Changed],
    keys: &[&str],
) -> Result<Vec<PersonalPromotionDelta>> {
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    let mut found = HashMap::new();
    for r in cached::query(
        c,
        "SELECT id, customer, promotion_id, enabled, valid_from, valid_until
             FROM personal_promotions WHERE id = ANY($1)",
        &[&keys],
    )
    .await?
    {
        let id: String = r.get(0);
        let promotion = PersonalPromotion {
            id: PromotionId::new(id.clone()).map_err(Error::internal)?,
            customer: CustomerRef::new(r.get::<_, String>(1)).map_err(Error::internal)?,
            promotion_id: PromotionId::new(r.get::<_, String>(2)).map_err(Error::internal)?,
            enabled: r.get::<_, i64>(3) != 0,
            valid_from: r.get(4),
            valid_until: r.get(5),
        };
        found.insert(id, promotion);
    }
    let mut items = Vec::with_capacity(changed.len());
    for ch in changed {
        if let Some(promotion) = found.remove(&ch.key) {
            items.push(PersonalPromotionDelta::Upsert { promotion });
        } else if let Some(owner) = &ch.owner {
            items.push(PersonalPromotionDelta::Removed {
                id: PromotionId::new(ch.key.clone()).map_err(Error::internal)?,
                customer: CustomerRef::new(owner.clone()).map_err(Error::internal)?,
            });
        }
    }
    Ok(items)
}

/// The store's sales among `keys` (sale event ids), each as it is now (as
/// [`crate::store_sales::item`]): those changed within [`store_sales::MAX_AGE_SECS`].
async fn sales(c: &impl GenericClient, keys: &[&str], now: i64) -> Result<Vec<SaleDelta>> {
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    let oldest = now.saturating_sub(store_sales::MAX_AGE_SECS);
    let mut sales = HashMap::new();
    for r in cached::query(
        c,
        "SELECT s.event_id, s.till, s.closed_at, e.payload FROM store_sales s
             JOIN events e ON e.id = s.event_id
             WHERE s.event_id = ANY($1)
                 AND GREATEST(s.closed_at, COALESCE((SELECT max(r.returned_at)
                     FROM store_returns r WHERE r.sale_event = s.event_id), s.closed_at)) >= $2",
        &[&keys, &oldest],
    )
    .await?
    {
        let (id, till, closed_at, payload): (String, String, i64, String) =
            (r.get(0), r.get(1), r.get(2), r.get(3));
        sales.insert(id, (till, closed_at, payload));
    }
    let mut returns: HashMap<String, Vec<(String, i64, String)>> = HashMap::new();
    for r in cached::query(
        c,
        "SELECT r.sale_event, r.till, r.returned_at, e.payload FROM store_returns r
             JOIN events e ON e.id = r.event_id
             WHERE r.sale_event = ANY($1)
             ORDER BY r.returned_at, e.received_at, e.till, e.seq",
        &[&keys],
    )
    .await?
    {
        returns
            .entry(r.get(0))
            .or_default()
            .push((r.get(1), r.get(2), r.get(3)));
    }
    let customers: Vec<String> = sales
        .values()
        .filter_map(|(_, _, payload)| sale_customer(payload))
        .collect();
    let erased: std::collections::HashSet<String> = cached::query(
        c,
        "SELECT ref FROM erased_customers WHERE ref = ANY($1)",
        &[&customers],
    )
    .await?
    .iter()
    .map(|r| r.get(0))
    .collect();
    let mut items = Vec::with_capacity(keys.len());
    for key in keys {
        let Some((till, closed_at, payload)) = sales.remove(*key) else {
            continue;
        };
        let erased = sale_customer(&payload).is_some_and(|c| erased.contains(&c));
        let built = event(&payload).and_then(|sale| {
            let returns = returns
                .remove(*key)
                .unwrap_or_default()
                .into_iter()
                .map(|(till, at, payload)| Ok((till, at, event(&payload)?)))
                .collect::<Result<Vec<_>>>()?;
            store_sales::assemble(till, closed_at, sale, returns, erased)
        });
        match built {
            Ok(item) => items.push(item),
            // One unreadable event must not stop the store's other sales reaching its tills.
            Err(e) => {
                tracing::warn!(error = %e, sale_event = key, "a store sale could not be built: not sent");
            }
        }
    }
    Ok(items)
}

fn event(payload: &str) -> Result<JournalEvent> {
    serde_json::from_str(payload).map_err(Error::internal)
}

fn sale_customer(payload: &str) -> Option<String> {
    match event(payload).ok()?.payload {
        tillpass_protocol::sync::EventPayload::SaleClosed(sale) => {
            sale.customer.map(|c| c.as_str().to_owned())
        }
        _ => None,
    }
}

async fn revocations_page(
    c: &impl GenericClient,
    sync_key: &SigningKey,
    after: i64,
    limit: u32,
    now: i64,
) -> Result<AnyPage> {
    let mut rows: Vec<revocations::Row> = cached::query(
        c,
        "SELECT seq, what, value, token_kind, before FROM revocations
             WHERE seq > $1 ORDER BY seq LIMIT $2",
        &[&after, &(i64::from(limit) + 1)],
    )
    .await?
    .iter()
    .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4)))
    .collect();
    let limit = usize::try_from(limit).map_err(Error::internal)?;
    let has_more = rows.len() > limit;
    rows.truncate(limit);
    let Some(last) = rows.last().map(|r| r.0) else {
        return Ok(AnyPage::Revocations(DeltaPage::new(
            Vec::new(),
            encode_cursor(after)?,
            false,
        )));
    };
    let sequence = settings::next_sequence(c, revocations::SEQUENCE).await?;
    let envelope = revocations::seal(rows, sequence, sync_key, now)?;
    Ok(AnyPage::Revocations(DeltaPage::new(
        vec![envelope],
        encode_cursor(last)?,
        has_more,
    )))
}

/// A change-log row read as `(key, owner, seq)`.
fn changed_row(r: &tokio_postgres::Row) -> Changed {
    Changed {
        key: r.get(0),
        owner: r.get(1),
        seq: r.get(2),
    }
}
