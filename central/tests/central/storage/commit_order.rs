//! Changes committed out of order on PostgreSQL: a change's sequence number is taken when
//! it is appended, so a transaction that appended early may commit after one that
//! appended later. A page must not move a till's cursor past a change still in flight,
//! or the till never receives it. (SQLite runs one writer at a time: never out of order.)

use serde_json::Value;
use tillpass_central::keys::{KeyDir, Purpose};
use tillpass_central::storage::{Database, Location};
use tillpass_protocol::sync::{Cursor, DeltaKind, DeltaQuery, StoreId};

use super::customer;
use crate::pg;

/// Every item of `kind` for `store` from `cursor` to the end, and the cursor after them.
async fn read_from(
    db: &Database,
    dir: &KeyDir,
    kind: DeltaKind,
    cursor: &Cursor,
    now: i64,
) -> (Vec<Value>, Cursor) {
    let sync = db.active_key(dir, Purpose::Sync).await.unwrap();
    let mut query = DeltaQuery {
        cursor: cursor.clone(),
        limit: Some(50),
    };
    let mut items = Vec::new();
    loop {
        let page = db
            .delta_page(kind, &query, &StoreId::new("S001").unwrap(), &sync, now)
            .await
            .unwrap();
        let page = serde_json::to_value(page).unwrap();
        items.extend(page["items"].as_array().unwrap().iter().cloned());
        query.cursor = Cursor::new(page["next_cursor"].as_str().unwrap().to_owned()).unwrap();
        if page["has_more"] != true {
            return (items, query.cursor);
        }
    }
}

fn refs(items: &[Value]) -> Vec<String> {
    items
        .iter()
        .map(|i| {
            i["customer"]["customer"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_committed_after_a_later_one_still_reaches_the_till() {
    let Some(test_db) = pg::database("changes_committed_out_of_order").await else {
        return;
    };
    let db = Database::open(&Location::Postgres(test_db.url().to_owned()))
        .await
        .unwrap();
    let folder = tempfile::tempdir().unwrap();
    let dir = KeyDir::open(&folder.path().join("keys")).unwrap();
    db.init_keys(&dir, 1_000).await.unwrap();
    for c in ["C-1", "C-2", "C-3"] {
        db.create_customer(&customer(c, 100), 1).await.unwrap();
    }
    let kind = DeltaKind::Customers;
    let (_, start) = read_from(&db, &dir, kind, &Cursor::default(), 2_000).await;

    // Two writers: the first appends C-1's change and has not committed; the second
    // appends C-2's, later in the log, and commits.
    let (mut early, connection) = tokio_postgres::connect(test_db.url(), tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    let append = "INSERT INTO changes (kind, key, owner, at) VALUES ('customers', $1, NULL, 2000)";
    let in_flight = early.transaction().await.unwrap();
    in_flight.execute(append, &[&"C-1"]).await.unwrap();
    let late = crate::pg::connect(test_db.url()).await;
    late.execute(append, &[&"C-2"]).await.unwrap();

    let (first, cursor) = read_from(&db, &dir, kind, &start, 2_001).await;
    assert!(
        !refs(&first).contains(&"C-1".to_owned()),
        "not committed yet: {first:?}"
    );
    in_flight.commit().await.unwrap();
    let (then, _) = read_from(&db, &dir, kind, &cursor, 2_002).await;
    let mut seen = refs(&first);
    seen.extend(refs(&then));
    assert!(
        seen.contains(&"C-1".to_owned()) && seen.contains(&"C-2".to_owned()),
        "the till receives both changes, whatever order they committed in: {seen:?}"
    );
}
