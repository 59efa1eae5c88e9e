//! The scan log of a period: per scanner, per refusal reason, and the latest scans.

use rusqlite::{Connection, params};

use crate::store::{StoreError, sql};

/// One scanner's (or the API's) scans.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SourceCounts {
    /// The scanner's name, or `api`.
    pub source: String,
    /// Accepted scans.
    pub accepted: i64,
    /// Refused scans.
    pub refused: i64,
    /// The latest, unix seconds.
    pub last_at: i64,
}

/// Scans per source in `[start, end)`, by name.
pub(crate) fn per_source(
    conn: &Connection,
    start: i64,
    end: i64,
) -> Result<Vec<SourceCounts>, StoreError> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT source, sum(result = 'accepted'), sum(result = 'refused'), max(at)
             FROM scan_log WHERE at >= ?1 AND at < ?2 GROUP BY source ORDER BY source",
        )
        .map_err(sql)?;
    let rows = stmt
        .query_map(params![start, end], |r| {
            Ok(SourceCounts {
                source: r.get(0)?,
                accepted: r.get(1)?,
                refused: r.get(2)?,
                last_at: r.get(3)?,
            })
        })
        .map_err(sql)?;
    rows.collect::<Result<Vec<_>, _>>().map_err(sql)
}

/// Refusals per code in `[start, end)` (of one source, if given), most frequent first.
pub(crate) fn reasons(
    conn: &Connection,
    start: i64,
    end: i64,
    source: Option<&str>,
) -> Result<Vec<(String, i64)>, StoreError> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT coalesce(code, ''), count(*) FROM scan_log
             WHERE at >= ?1 AND at < ?2 AND result = 'refused' AND (?3 IS NULL OR source = ?3)
             GROUP BY 1 ORDER BY 2 DESC, 1",
        )
        .map_err(sql)?;
    let rows = stmt
        .query_map(params![start, end, source], |r| Ok((r.get(0)?, r.get(1)?)))
        .map_err(sql)?;
    rows.collect::<Result<Vec<_>, _>>().map_err(sql)
}

/// One scan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ScanRow {
    /// Unix seconds.
    pub at: i64,
    /// The scanner, or `api`.
    pub source: String,
    /// Accepted or refused.
    pub accepted: bool,
    /// The refusal code; `None` when accepted.
    pub code: Option<String>,
    /// The finer code or detail.
    pub detail: Option<String>,
    /// The token's kind, when accepted.
    pub token_kind: Option<String>,
    /// The subject, masked.
    pub subject_masked: Option<String>,
    /// Microseconds.
    pub latency_us: i64,
}

/// The latest `limit` scans in `[start, end)`, filtered by source and result.
pub(crate) fn latest(
    conn: &Connection,
    start: i64,
    end: i64,
    source: Option<&str>,
    accepted: Option<bool>,
    limit: i64,
) -> Result<Vec<ScanRow>, StoreError> {
    let result = accepted.map(|a| if a { "accepted" } else { "refused" });
    let mut stmt = conn
        .prepare_cached(
            "SELECT at, source, result, code, detail, token_kind, subject_masked, latency_us
             FROM scan_log
             WHERE at >= ?1 AND at < ?2 AND (?3 IS NULL OR source = ?3)
               AND (?4 IS NULL OR result = ?4)
             ORDER BY at DESC, id DESC LIMIT ?5",
        )
        .map_err(sql)?;
    let rows = stmt
        .query_map(params![start, end, source, result, limit], |r| {
            Ok(ScanRow {
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
