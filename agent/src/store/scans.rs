//! The scan log: every scan, accepted or refused, with the reason, for the dashboard and
//! support.

use rusqlite::{Connection, params};
use serde::Serialize;

use super::{StoreError, sql};

/// One line of the scan log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ScanRecord {
    /// When, unix seconds.
    pub at: i64,
    /// Which scanner, or `api`.
    pub source: String,
    /// Accepted or not.
    pub accepted: bool,
    /// The refusal code; `None` when accepted.
    pub code: Option<String>,
    /// More detail on a refusal (e.g. which part was malformed).
    pub detail: Option<String>,
    /// The token type, when known.
    pub token_kind: Option<String>,
    /// The subject, masked.
    pub subject_masked: Option<String>,
    /// How long the identification took, in microseconds.
    pub latency_us: i64,
}

/// Appends a scan.
pub fn log(conn: &Connection, r: &ScanRecord) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO scan_log(at, source, result, code, detail, token_kind, subject_masked, latency_us)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![
            r.at,
            r.source,
            if r.accepted { "accepted" } else { "refused" },
            r.code,
            r.detail,
            r.token_kind,
            r.subject_masked,
            r.latency_us
        ],
    )
    .map_err(sql)?;
    Ok(())
}

/// The newest `limit` scans, newest first.
pub fn recent(conn: &Connection, limit: usize) -> Result<Vec<ScanRecord>, StoreError> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT at, source, result, code, detail, token_kind, subject_masked, latency_us
             FROM scan_log ORDER BY id DESC LIMIT ?1",
        )
        .map_err(sql)?;
    let rows = stmt
        .query_map([i64::try_from(limit).unwrap_or(i64::MAX)], |r| {
            Ok(ScanRecord {
                at: r.get(0)?,
                source: r.get(1)?,
                accepted: r.get::<_, String>(2)? == "accepted",
                code: r.get(3)?,
                detail: r.get(4)?,
                token_kind: r.get(5)?,
                subject_masked: r.get(6)?,
                latency_us: r.get(7)?,
            })
        })
        .map_err(sql)?;
    rows.collect::<Result<Vec<_>, _>>().map_err(sql)
}
