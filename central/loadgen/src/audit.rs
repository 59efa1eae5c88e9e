//! The run's events against central's database: every event the generator sent is stored
//! there exactly once — none lost, none doubled.
//!
//! A simulated till numbers its events without a gap (`seq`), and an event's id is derived
//! from its till and number, so what a run sent is, per till, the numbers after the one it
//! started from up to the last one it took. The audit counts the rows of central's
//! `events` table in those ranges, on SQLite or PostgreSQL.

use anyhow::Context;
use serde::Serialize;

use crate::growth::Database;

/// What one till sent during the run: its events numbered `after + 1 ..= upto`.
#[derive(Debug, Clone)]
pub struct Sent {
    /// The till's id.
    pub till: String,
    /// The last number it had sent before the run.
    pub after: u64,
    /// The last number it took during the run.
    pub upto: u64,
}

impl Sent {
    /// How many events that is.
    pub fn count(&self) -> u64 {
        self.upto.saturating_sub(self.after)
    }
}

/// The audit's findings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Audit {
    /// Events the run sent (each at least once; a retried upload sends its events again).
    pub sent: u64,
    /// Rows of the run's events in central's database.
    pub stored: u64,
    /// Events sent and not stored.
    pub lost: u64,
    /// Rows beyond one per event sent.
    pub doubled: u64,
}

impl Audit {
    /// Compares `sent` events with `rows` stored, `distinct` of them distinct events.
    pub fn of(sent: u64, rows: u64, distinct: u64) -> Audit {
        Audit {
            sent,
            stored: rows,
            lost: sent.saturating_sub(distinct),
            doubled: rows.saturating_sub(distinct),
        }
    }

    /// Nothing lost, nothing doubled.
    pub fn holds(&self) -> bool {
        self.lost == 0 && self.doubled == 0
    }
}

/// Counts what `db` holds of the events `sent`.
pub async fn audit(db: &Database, sent: &[Sent]) -> anyhow::Result<Audit> {
    let total: u64 = sent.iter().map(Sent::count).sum();
    let sent: Vec<Sent> = sent.iter().filter(|s| s.count() > 0).cloned().collect();
    let (rows, distinct) = match db {
        Database::Sqlite(path) => {
            let path = path.clone();
            tokio::task::spawn_blocking(move || sqlite(&path, &sent))
                .await
                .context("the SQLite audit")??
        }
        Database::Postgres(url) => postgres(url, &sent).await?,
    };
    Ok(Audit::of(total, rows, distinct))
}

fn sqlite(path: &str, sent: &[Sent]) -> anyhow::Result<(u64, u64)> {
    let conn = rusqlite::Connection::open_with_flags(
        path,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .with_context(|| format!("opening {path}"))?;
    conn.busy_timeout(std::time::Duration::from_secs(30))?;
    let mut count = conn.prepare(
        "SELECT count(*), count(DISTINCT seq) FROM events WHERE till = ?1 AND seq > ?2 AND seq <= ?3",
    )?;
    let (mut rows, mut distinct) = (0u64, 0u64);
    for s in sent {
        let (r, d): (i64, i64) = count.query_row(
            rusqlite::params![s.till, to_i64(s.after), to_i64(s.upto)],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )?;
        rows += u64::try_from(r).unwrap_or(0);
        distinct += u64::try_from(d).unwrap_or(0);
    }
    Ok((rows, distinct))
}

async fn postgres(url: &str, sent: &[Sent]) -> anyhow::Result<(u64, u64)> {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .context("connecting to PostgreSQL")?;
    let task = tokio::spawn(connection);
    let tills: Vec<&str> = sent.iter().map(|s| s.till.as_str()).collect();
    let after: Vec<i64> = sent.iter().map(|s| to_i64(s.after)).collect();
    let upto: Vec<i64> = sent.iter().map(|s| to_i64(s.upto)).collect();
    let row = client
        .query_one(
            "SELECT count(*), count(DISTINCT (e.till, e.seq))
               FROM events e
               JOIN unnest($1::text[], $2::bigint[], $3::bigint[]) AS r (till, after, upto)
                 ON e.till = r.till AND e.seq > r.after AND e.seq <= r.upto",
            &[&tills, &after, &upto],
        )
        .await
        .context("counting the run's events")?;
    drop(client);
    let _ = task.await;
    let count = |i: usize| u64::try_from(row.get::<_, i64>(i)).unwrap_or(0);
    Ok((count(0), count(1)))
}

fn to_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lost_and_doubled_are_told_apart() {
        assert!(Audit::of(10, 10, 10).holds());
        assert_eq!(Audit::of(10, 9, 9).lost, 1);
        let doubled = Audit::of(10, 11, 10);
        assert_eq!((doubled.lost, doubled.doubled), (0, 1));
        assert!(!doubled.holds());
    }

    #[test]
    fn a_sqlite_journal_is_counted_per_till_range() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("central.db");
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch("CREATE TABLE events (id TEXT PRIMARY KEY, till TEXT, seq INTEGER)")
            .unwrap();
        for (till, seq) in [("A", 1), ("A", 2), ("A", 3), ("B", 5), ("B", 6), ("C", 1)] {
            conn.execute(
                "INSERT INTO events VALUES (?1, ?2, ?3)",
                rusqlite::params![format!("{till}{seq}"), till, seq],
            )
            .unwrap();
        }
        let sent = [
            // A sent 2 and 3 in this run (1 before it); B sent 5 to 7, 7 never landed.
            Sent {
                till: "A".into(),
                after: 1,
                upto: 3,
            },
            Sent {
                till: "B".into(),
                after: 4,
                upto: 7,
            },
        ];
        let (rows, distinct) = sqlite(path.to_str().unwrap(), &sent).unwrap();
        assert_eq!((rows, distinct), (4, 4));
        let audit = Audit::of(sent.iter().map(Sent::count).sum(), rows, distinct);
        assert_eq!((audit.sent, audit.lost, audit.doubled), (5, 1, 0));
    }
}
