//! The store's side of the sync state: the store's offline-risk ledger (every till's
//! spends with central's outcome, and the flags concerning the store), the outbox, the
//! events central rejected, the money this till spent while unsynced, and a catalog waiting
//! for its activation time.

use rusqlite::{Connection, OptionalExtension};

use crate::store::{StoreError, sql};

pub(crate) use crate::store::journal::Rejected;

/// Money spent at this till while unsynced, in one currency.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Risk {
    /// ISO 4217 code.
    pub currency: String,
    /// Customers (or cards) concerned.
    pub holders: i64,
    /// Spent, minor units.
    pub amount: i64,
}

/// A catalog received and waiting for its activation time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Scheduled {
    /// Its sequence number.
    pub sequence: i64,
    /// When central issued it.
    pub issued_at: i64,
    /// When it takes effect, unix seconds.
    pub activates_at: Option<i64>,
}

/// What the Sync page reads from the store.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct SyncFacts {
    /// Events waiting (central's rejections are not waiting).
    pub outbox_depth: i64,
    /// The oldest waiting event, unix seconds.
    pub outbox_oldest: Option<i64>,
    /// How many events central rejected.
    pub rejected_count: i64,
    /// The latest 50 rejected events.
    pub rejected: Vec<Rejected>,
    /// Savings spent while unsynced.
    pub savings: Vec<Risk>,
    /// Gift cards spent while unsynced.
    pub gift_cards: Vec<Risk>,
    /// The next scheduled catalog.
    pub scheduled: Option<Scheduled>,
    /// The store's ledger, as central returned it.
    pub ledger: Ledger,
}

/// The most spends of the store's ledger the page lists.
pub(crate) const LEDGER_ROWS: i64 = 500;

/// A spend of the store's ledger (any till), with central's outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LedgerSpend {
    /// The till that spent.
    pub till: String,
    /// When, unix seconds.
    pub at: i64,
    /// `savings` or `gift_card`.
    pub account: String,
    /// The customer or card, masked by central.
    pub holder: String,
    /// Spent, minor units.
    pub amount: i64,
    /// Beyond the real balance, minor units.
    pub short: i64,
    /// ISO 4217 code.
    pub currency: String,
    /// `snapshot`, `cached`, `live`, `unknown`.
    pub source: String,
    /// `confirmed`, `debt`, `resolved`, `unknown`.
    pub outcome: String,
}

/// A flag concerning the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LedgerFlag {
    /// `overspend_debt`, `token_at_two_stores`, …
    pub kind: String,
    /// The customer, card or voucher, masked by central.
    pub holder: String,
    /// What happened.
    pub detail: String,
    /// When central raised it.
    pub raised_at: i64,
    /// Whether it is settled.
    pub resolved: bool,
}

/// The store's ledger: its latest spends, newest first, and its flags, newest first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Ledger {
    /// At most [`LEDGER_ROWS`].
    pub spends: Vec<LedgerSpend>,
    /// Every flag kept.
    pub flags: Vec<LedgerFlag>,
}

/// Reads the store's ledger.
pub(crate) fn ledger(conn: &Connection) -> Result<Ledger, StoreError> {
    let spends = conn
        .prepare_cached(
            "SELECT till, at, account, holder, amount, short, currency, source, outcome
             FROM store_ledger_spends ORDER BY at DESC, id LIMIT ?1",
        )
        .map_err(sql)?
        .query_map([LEDGER_ROWS], |r| {
            Ok(LedgerSpend {
                till: r.get(0)?,
                at: r.get(1)?,
                account: r.get(2)?,
                holder: r.get(3)?,
                amount: r.get(4)?,
                short: r.get(5)?,
                currency: r.get(6)?,
                source: r.get(7)?,
                outcome: r.get(8)?,
            })
        })
        .map_err(sql)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(sql)?;
    let flags = conn
        .prepare_cached(
            "SELECT kind, holder, detail, raised_at, resolved FROM store_ledger_flags
             ORDER BY raised_at DESC, id",
        )
        .map_err(sql)?
        .query_map([], |r| {
            Ok(LedgerFlag {
                kind: r.get(0)?,
                holder: r.get(1)?,
                detail: r.get(2)?,
                raised_at: r.get(3)?,
                resolved: r.get(4)?,
            })
        })
        .map_err(sql)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(sql)?;
    Ok(Ledger { spends, flags })
}

/// Reads the facts.
pub(crate) fn facts(conn: &Connection) -> Result<SyncFacts, StoreError> {
    let (outbox_depth, outbox_oldest) = crate::store::journal::depth(conn)?;
    let rejected_count = crate::store::journal::rejected_count(conn)?;
    let rejected = crate::store::journal::rejected(conn, 50)?;
    let risk = |query: &str| -> Result<Vec<Risk>, StoreError> {
        let mut stmt = conn.prepare_cached(query).map_err(sql)?;
        let rows = stmt
            .query_map([], |r| {
                Ok(Risk {
                    currency: r.get(0)?,
                    holders: r.get(1)?,
                    amount: r.get(2)?,
                })
            })
            .map_err(sql)?;
        rows.collect::<Result<Vec<_>, _>>().map_err(sql)
    };
    let savings = risk(
        "SELECT currency, count(*), sum(unsynced_spent) FROM savings_accounts
         WHERE unsynced_spent > 0 GROUP BY currency ORDER BY currency",
    )?;
    let gift_cards = risk(
        "SELECT currency, count(*), sum(unsynced_spent) FROM gift_cards
         WHERE unsynced_spent > 0 GROUP BY currency ORDER BY currency",
    )?;
    let scheduled = conn
        .query_row(
            "SELECT sequence, issued_at, activates_at FROM catalogs WHERE state = 'scheduled'
             ORDER BY sequence DESC LIMIT 1",
            [],
            |r| {
                Ok(Scheduled {
                    sequence: r.get(0)?,
                    issued_at: r.get(1)?,
                    activates_at: r.get(2)?,
                })
            },
        )
        .optional()
        .map_err(sql)?;
    let ledger = ledger(conn)?;
    Ok(SyncFacts {
        ledger,
        outbox_depth,
        outbox_oldest,
        rejected_count,
        rejected,
        savings,
        gift_cards,
        scheduled,
    })
}

/// The newest scheduled catalog, opened: its signature checked again against the trust
/// list in force and its promotions decoded. `None` when there is none, or when it cannot
/// be opened any more (it is then shown by version only).
pub(crate) fn scheduled_catalog(
    conn: &Connection,
) -> Result<Option<(Scheduled, tillpass_protocol::catalog::Catalog)>, StoreError> {
    use tillpass_protocol::envelope::{self, EnvelopePurpose};
    let row: Option<(Scheduled, Vec<u8>)> = conn
        .query_row(
            "SELECT sequence, issued_at, activates_at, envelope FROM catalogs
             WHERE state = 'scheduled' ORDER BY sequence DESC LIMIT 1",
            [],
            |r| {
                Ok((
                    Scheduled {
                        sequence: r.get(0)?,
                        issued_at: r.get(1)?,
                        activates_at: r.get(2)?,
                    },
                    r.get(3)?,
                ))
            },
        )
        .optional()
        .map_err(sql)?;
    let Some((scheduled, bytes)) = row else {
        return Ok(None);
    };
    let trust = match crate::store::tokens::load_trust(conn) {
        Ok(Some(t)) => t,
        Ok(None) => return Ok(None),
        Err(e) => {
            tracing::warn!(error = %e, "the scheduled catalog cannot be shown: no usable trust list");
            return Ok(None);
        }
    };
    let issued = u64::try_from(scheduled.issued_at).unwrap_or(0);
    let sequence = u64::try_from(scheduled.sequence).unwrap_or(0);
    let opened = match envelope::open(
        &bytes,
        EnvelopePurpose::Catalog,
        &trust.store,
        issued,
        sequence.saturating_sub(1),
    ) {
        Ok(o) => o,
        Err(e) => {
            tracing::warn!(error = %e, sequence, "the scheduled catalog cannot be opened");
            return Ok(None);
        }
    };
    let mut rest = opened.payload.as_slice();
    match ciborium::from_reader(&mut rest) {
        Ok(catalog) if rest.is_empty() => Ok(Some((scheduled, catalog))),
        _ => {
            tracing::warn!(sequence, "the scheduled catalog's payload cannot be read");
            Ok(None)
        }
    }
}
