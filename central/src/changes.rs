//! The change log behind the deltas: every change to a customer, balance, gift card,
//! personal promotion or store sale appends `(seq, kind, key, owner)`; a delta page reads the keys changed
//! after a cursor, each once, at its latest change, and sends their current state — for
//! customers, balances, personal promotions and gift cards, only those fanned out to the
//! asking store when they were appended ([`since_in_scope`], [`crate::scope`]). A `left-scope` row is a lapse
//! notice for one store (owner), merged into that store's customers pages for round
//! protocol 2 ([`ScopedPage::with_notices`], [`notices`]).
//!
//! Cursors are opaque to tills; here they are `v1.{seq}` (the empty cursor is the start).

use rusqlite::{Connection, params};
use tillpass_protocol::sync::{Cursor, DeltaKind};

use crate::error::{Error, Result};
use crate::ledger::sqlite;
use crate::scope;

/// Records that `key` (of `kind`, belonging to `owner` when the key alone does not say
/// whose it is) changed.
pub fn record(
    conn: &Connection,
    kind: DeltaKind,
    key: &str,
    owner: Option<&str>,
    now: i64,
) -> Result<()> {
    conn.execute(
        "INSERT INTO changes (kind, key, owner, at) VALUES (?1, ?2, ?3, ?4)",
        params![kind.segment(), key, owner, now],
    )?;
    Ok(())
}

/// One changed key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Changed {
    /// The key: a customer reference, a gift card, a personal promotion id.
    pub key: String,
    /// Whose it is, when recorded.
    pub owner: Option<String>,
    /// Its latest change.
    pub seq: i64,
}

/// The keys of `kind` changed after `after`, oldest latest-change first, at most
/// `limit`; and whether more follow. With `owner`, only the keys recorded for that owner
/// (the `sales` stream is scoped to a store this way).
///
/// It walks the log in order from the cursor and keeps a change only if it is its key's
/// latest (an index probe on `(kind, key, seq)`), stopping at the page's end: the cost of a
/// page is its own size plus the superseded changes it steps over, not the whole log
/// after the cursor.
pub fn since(
    conn: &Connection,
    kind: DeltaKind,
    owner: Option<&str>,
    after: i64,
    limit: u32,
) -> Result<(Vec<Changed>, bool)> {
    const LATEST: &str = "AND NOT EXISTS (SELECT 1 FROM changes d
                           WHERE d.kind = c.kind AND d.key = c.key AND d.seq > c.seq)
         ORDER BY c.seq LIMIT ?3";
    let read = |row: &rusqlite::Row<'_>| {
        Ok(Changed {
            key: row.get(0)?,
            owner: row.get(1)?,
            seq: row.get(2)?,
        })
    };
    let fetch = i64::from(limit) + 1;
    let mut changed = match owner {
        // Two statements, so that each walks its own index: (kind, seq) or
        // (kind, owner, seq).
        None => conn
            .prepare_cached(&format!(
                "SELECT c.key, c.owner, c.seq FROM changes c
                 WHERE c.kind = ?1 AND c.seq > ?2 {LATEST}"
            ))?
            .query_map(params![kind.segment(), after, fetch], read)?
            .collect::<rusqlite::Result<Vec<_>>>()?,
        Some(owner) => conn
            .prepare_cached(&format!(
                "SELECT c.key, c.owner, c.seq FROM changes c
                 WHERE c.kind = ?1 AND c.owner = ?4 AND c.seq > ?2 {LATEST}"
            ))?
            .query_map(params![kind.segment(), after, fetch, owner], read)?
            .collect::<rusqlite::Result<Vec<_>>>()?,
    };
    let limit = usize::try_from(limit).map_err(Error::internal)?;
    let has_more = changed.len() > limit;
    changed.truncate(limit);
    Ok((changed, has_more))
}

/// The keys of a customer-scoped `kind` (customers, balances, personal promotions, gift
/// cards) changed after `after` that `store` receives ([`crate::scope`]): as [`since`],
/// each at its latest change, among the changes fanned out to the store or to every
/// store when they were appended ([`scope::FAN_OUT`]). The log's end for the kind is read
/// first; a page that is not full moves the cursor there.
pub fn since_in_scope(
    conn: &Connection,
    kind: DeltaKind,
    store: &str,
    after: i64,
    limit: u32,
) -> Result<ScopedPage> {
    scope::subjects_of(kind)
        .ok_or_else(|| Error::internal(format!("{kind} is not scoped by customer")))?;
    let end: Option<i64> = conn
        .prepare_cached(&sqlite(scope::KIND_END))?
        .query_row([kind.segment()], |row| row.get(0))?;
    let end = end.unwrap_or(after).max(after);
    let fetch = i64::from(limit) + 1;
    let changed = conn
        .prepare_cached(&sqlite(&scope::page_sql()))?
        .query_map(params![kind.segment(), after, end, fetch, store], |row| {
            Ok(Changed {
                key: row.get(0)?,
                owner: row.get(1)?,
                seq: row.get(2)?,
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    ScopedPage::assemble(changed, end, limit)
}

/// A scoped page's changes, its next cursor and whether more follow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScopedPage {
    /// The changes the store receives, oldest first.
    pub changed: Vec<Changed>,
    /// The sequence number of the next cursor.
    pub next: i64,
    /// Whether more follow.
    pub has_more: bool,
}

impl ScopedPage {
    /// From up to `limit + 1` `changed` the store receives up to `end`, the log's end
    /// read before them: a full page stops at its last change and says more follow;
    /// otherwise the cursor moves to `end`.
    pub fn assemble(mut changed: Vec<Changed>, end: i64, limit: u32) -> Result<ScopedPage> {
        let limit = usize::try_from(limit).map_err(Error::internal)?;
        if changed.len() > limit {
            changed.truncate(limit);
            let next = changed.last().map_or(end, |c| c.seq);
            return Ok(ScopedPage {
                changed,
                next,
                has_more: true,
            });
        }
        Ok(ScopedPage {
            changed,
            next: end,
            has_more: false,
        })
    }
}

/// A lapse notice for one store ([`crate::scope::LAPSE_STORE`]): its customer left the
/// store's scope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    /// The customer.
    pub customer: String,
    /// Its place in the log.
    pub seq: i64,
    /// When central told it.
    pub at: i64,
}

/// One entry of a scoped page, in log order: a change, or (customers pages for round
/// protocol 2) a lapse notice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    /// A change of the page's kind.
    Change(Changed),
    /// The store's tills no longer receive this customer's changes.
    Notice(Notice),
}

impl Entry {
    /// Its place in the log.
    pub fn seq(&self) -> i64 {
        match self {
            Entry::Change(c) => c.seq,
            Entry::Notice(n) => n.seq,
        }
    }
}

impl ScopedPage {
    /// The page with the store's lapse `notices` after the same cursor (read before the
    /// page, at most `limit + 1`) merged in log order: a notice past the page's end is
    /// left for a later page while more changes follow; at most `limit` entries,
    /// the cursor at the last one sent when that cuts the page; otherwise the cursor moves
    /// past the notices sent. Returns the entries, the next cursor's sequence number and
    /// whether more follow.
    pub fn with_notices(self, notices: Vec<Notice>, limit: u32) -> Result<(Vec<Entry>, i64, bool)> {
        let limit = usize::try_from(limit).map_err(Error::internal)?;
        let ScopedPage {
            changed,
            next,
            has_more,
        } = self;
        let notices = notices
            .into_iter()
            .filter(|n| !has_more || n.seq <= next)
            .map(Entry::Notice);
        let mut entries: Vec<Entry> = changed
            .into_iter()
            .map(Entry::Change)
            .chain(notices)
            .collect();
        entries.sort_by_key(Entry::seq);
        if entries.len() > limit {
            entries.truncate(limit);
            let next = entries.last().map_or(next, Entry::seq);
            return Ok((entries, next, true));
        }
        let next = entries.last().map_or(next, |e| e.seq().max(next));
        Ok((entries, next, has_more))
    }
}

/// The lapse notices for `store` after `after`, at most `limit + 1`, oldest first
/// ([`crate::scope::NOTICES`]).
pub fn notices(conn: &Connection, store: &str, after: i64, limit: u32) -> Result<Vec<Notice>> {
    Ok(conn
        .prepare_cached(&sqlite(scope::NOTICES))?
        .query_map(params![store, after, i64::from(limit) + 1], |row| {
            Ok(Notice {
                customer: row.get(0)?,
                seq: row.get(1)?,
                at: row.get(2)?,
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?)
}

/// The sequence number a cursor stands for.
pub fn decode_cursor(cursor: &Cursor) -> Result<i64> {
    if cursor.is_start() {
        return Ok(0);
    }
    cursor
        .as_str()
        .strip_prefix("v1.")
        .and_then(|n| n.parse::<i64>().ok())
        .filter(|n| *n >= 0)
        .ok_or_else(|| Error::invalid("malformed cursor"))
}

/// The cursor of a sequence number.
pub fn encode_cursor(seq: i64) -> Result<Cursor> {
    Cursor::new(format!("v1.{seq}")).ok_or_else(|| Error::internal("cursor encoding"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::Db;

    #[test]
    fn notices_merge_in_log_order_and_the_cursor_passes_what_was_sent() {
        let change = |seq| Changed {
            key: format!("c{seq}"),
            owner: None,
            seq,
        };
        let notice = |seq| Notice {
            customer: format!("n{seq}"),
            seq,
            at: 1,
        };
        let seqs = |entries: &[Entry]| entries.iter().map(Entry::seq).collect::<Vec<_>>();
        // The page read everything: notices past it are sent, the cursor passes them.
        let page = ScopedPage {
            changed: vec![change(3), change(7)],
            next: 8,
            has_more: false,
        };
        let (entries, next, more) = page.with_notices(vec![notice(5), notice(9)], 10).unwrap();
        assert_eq!(seqs(&entries), [3, 5, 7, 9]);
        assert_eq!((next, more), (9, false));
        // More follow past the page: notices past it wait for a later page.
        let page = ScopedPage {
            changed: vec![change(3)],
            next: 6,
            has_more: true,
        };
        let (entries, next, more) = page.with_notices(vec![notice(5), notice(9)], 10).unwrap();
        assert_eq!(seqs(&entries), [3, 5]);
        assert_eq!((next, more), (6, true));
        // A full page stops at its last entry.
        let page = ScopedPage {
            changed: vec![change(3), change(7)],
            next: 8,
            has_more: false,
        };
        let (entries, next, more) = page.with_notices(vec![notice(1), notice(5)], 2).unwrap();
        assert_eq!(seqs(&entries), [1, 3]);
        assert_eq!((next, more), (3, true));
        // Nothing at all: the log's end.
        let page = ScopedPage {
            changed: vec![],
            next: 4,
            has_more: false,
        };
        let (entries, next, more) = page.with_notices(vec![], 2).unwrap();
        assert!(entries.is_empty());
        assert_eq!((next, more), (4, false));
    }

    #[test]
    fn keys_appear_once_at_their_latest_change() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&dir.path().join("c.db")).unwrap();
        db.with(|conn| {
            let k = DeltaKind::Customers;
            record(conn, k, "a", None, 1)?;
            record(conn, k, "b", None, 1)?;
            record(conn, DeltaKind::Balances, "a", None, 1)?;
            record(conn, k, "a", None, 2)?;
            let (page, more) = since(conn, k, None, 0, 1)?;
            assert_eq!(
                page.iter().map(|c| c.key.as_str()).collect::<Vec<_>>(),
                ["b"]
            );
            assert!(more);
            let (page, more) = since(conn, k, None, page[0].seq, 10)?;
            assert_eq!(
                page.iter().map(|c| c.key.as_str()).collect::<Vec<_>>(),
                ["a"]
            );
            assert!(!more);
            let cursor = encode_cursor(page[0].seq)?;
            assert_eq!(decode_cursor(&cursor)?, page[0].seq);
            assert!(decode_cursor(&Cursor::new("zz").unwrap()).is_err());

            let s = DeltaKind::Sales;
            record(conn, s, "x", Some("S1"), 3)?;
            record(conn, s, "y", Some("S2"), 3)?;
            record(conn, s, "x", Some("S1"), 4)?;
            let (page, more) = since(conn, s, Some("S1"), 0, 10)?;
            assert_eq!(
                page.iter().map(|c| c.key.as_str()).collect::<Vec<_>>(),
                ["x"]
            );
            assert!(!more);
            let (page, _) = since(conn, s, Some("S3"), 0, 10)?;
            assert!(page.is_empty());
            Ok(())
        })
        .unwrap();
    }
}
