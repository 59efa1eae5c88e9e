//! `tillpass status`: the running agent's state from `GET /v1/status` (over reqwest), or,
//! with `--offline`, the till's state read from its files by this code
//! ([`tillpass_tillfiles::status`], the shape `tillpass-install doctor` reads).

use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};
use tillpass_tillfiles::status::{
    Catalog, Database, DatabaseState, OfflineStatus, Outbox, Rejection, TrustList,
};

use crate::store::{journal, sync_catalogs, tokens};

/// The till's state as the database in `data_dir` holds it, read without writing (the
/// agent may be running, or may never have run).
pub fn offline(data_dir: &Path) -> OfflineStatus {
    let path = data_dir.join(crate::store::DB_FILE);
    let mut status = OfflineStatus {
        database: Database {
            path: path.clone(),
            state: DatabaseState::Missing,
            problem: None,
        },
        trust_list: None,
        catalog: None,
        outbox: None,
    };
    if !path.exists() {
        return status;
    }
    let conn = match Connection::open_with_flags(&path, OpenFlags::SQLITE_OPEN_READ_ONLY) {
        Ok(conn) => conn,
        Err(e) => return damaged(status, e.to_string()),
    };
    match conn.query_row("PRAGMA integrity_check(1)", [], |r| r.get::<_, String>(0)) {
        Ok(ok) if ok == "ok" => {}
        Ok(problem) => return damaged(status, problem),
        Err(e) => return damaged(status, e.to_string()),
    }
    let outbox = journal::depth(&conn).and_then(|(pending, _)| {
        let rejected = journal::rejected_count(&conn)?;
        let newest = journal::rejected(&conn, 1)?.into_iter().next();
        Ok(Outbox {
            pending,
            rejected,
            newest_rejection: newest.map(|r| Rejection {
                kind: r.kind,
                code: r.code.unwrap_or_else(|| "rejected".to_owned()),
                reason: r.reason,
            }),
        })
    });
    match outbox {
        Ok(outbox) => status.outbox = Some(outbox),
        Err(e) => return damaged(status, e.to_string()),
    }
    status.database.state = DatabaseState::Intact;
    let envelope = conn
        .query_row("SELECT envelope FROM trust_list WHERE id = 1", [], |r| {
            r.get::<_, Vec<u8>>(0)
        })
        .ok();
    status.trust_list =
        tokens::load_trust(&conn)
            .ok()
            .flatten()
            .zip(envelope)
            .map(|(t, envelope)| TrustList {
                sequence: t.sequence,
                issued_at: t.issued_at,
                expires_at: t.expires_at,
                envelope: hex::encode(envelope),
            });
    status.catalog = sync_catalogs::active(&conn)
        .ok()
        .flatten()
        .map(|c| Catalog {
            sequence: c.sequence,
        });
    status
}

fn damaged(mut status: OfflineStatus, problem: String) -> OfflineStatus {
    status.database.state = DatabaseState::Damaged;
    status.database.problem = Some(problem);
    status
}

/// Why the running agent could not be asked.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StatusError {
    /// The HTTP client or its runtime could not be made.
    #[error("cannot ask the agent: {0}")]
    Client(String),
    /// The agent did not answer.
    #[error("connecting to the agent at {url}: {detail}: is `tillpass run` running?")]
    Unreachable {
        /// Where it was asked.
        url: String,
        /// What the client said.
        detail: String,
    },
}

/// `GET {base}/v1/status` with the API token: the answer's status and body.
pub fn online(base: &str, token: &str) -> Result<(u16, String), StatusError> {
    tillpass_tillfiles::tls::init();
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .map_err(|e| StatusError::Client(e.to_string()))?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| StatusError::Client(e.to_string()))?;
    let url = format!("{base}/v1/status");
    runtime
        .block_on(async {
            let answer = client.get(&url).bearer_auth(token).send().await?;
            let status = answer.status().as_u16();
            Ok::<_, reqwest::Error>((status, answer.text().await?))
        })
        .map_err(|e| StatusError::Unreachable {
            url,
            detail: e.to_string(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_offline_status_says_missing_damaged_or_what_the_database_holds() {
        let dir = tempfile::tempdir().unwrap();
        let status = offline(dir.path());
        assert_eq!(status.database.state, DatabaseState::Missing);
        assert!(status.outbox.is_none());

        // A fresh store: intact, nothing yet.
        drop(crate::store::Store::open(dir.path()).unwrap());
        let status = offline(dir.path());
        assert_eq!(status.database.state, DatabaseState::Intact, "{status:?}");
        assert_eq!(
            status.outbox,
            Some(Outbox {
                pending: 0,
                rejected: 0,
                newest_rejection: None
            })
        );
        assert!(status.trust_list.is_none() && status.catalog.is_none());
        // The JSON shape the installer reads.
        let json = serde_json::to_value(&status).unwrap();
        assert_eq!(json["database"]["state"], "intact");
        assert_eq!(json["outbox"]["pending"], 0);

        let junk = tempfile::tempdir().unwrap();
        std::fs::write(
            junk.path().join(crate::store::DB_FILE),
            b"not a database at all, but somebody's sales".repeat(200),
        )
        .unwrap();
        let status = offline(junk.path());
        assert_eq!(status.database.state, DatabaseState::Damaged);
        assert!(status.database.problem.is_some());
    }
}
