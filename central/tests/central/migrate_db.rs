//! `tillpass-central migrate-db`: a central made by this build's SQLite code (a real
//! server, real admin calls, a real till's uploads) moves to PostgreSQL with every row,
//! its signed envelopes byte for byte, and goes on ingesting there.

use ed25519_dalek::SigningKey;
use reqwest::Method;
use serde_json::{Value, json};
use tillpass_central::enrol::Till;
use tillpass_central::storage::copy::TABLES;
use tillpass_central::storage::{Database, Location};
use tillpass_protocol::sync::{LookupRequest, RegionId};

use crate::journal::sale;
use crate::pg;
use crate::storage::{batch, earn, outcomes, redeem};
use crate::util::{Central, statuses};

fn binary() -> std::process::Command {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_tillpass-central"));
    command
        .env_remove("TILLPASS_CENTRAL_DB")
        .env_remove("TILLPASS_CENTRAL_DATABASE");
    command
}

/// Runs `migrate-db` from the SQLite file `source` to `url`: its output, once it succeeded.
fn migrate_db(source: &std::path::Path, url: &str) -> String {
    let output = binary()
        .args(["migrate-db", "--from"])
        .arg(source)
        .args(["--to", url])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

#[tokio::test]
async fn a_sqlite_central_moves_to_postgresql_whole_and_goes_on_there() {
    let Some(target) = pg::database("migrate_db").await else {
        return;
    };
    let central = Central::start().await;
    central.create_customer("C-1", 5000, true).await;
    central.create_customer("C-2", 0, false).await;
    let till = central.enrol("S001", "S001-T01").await;
    let sent = vec![
        till.event(earn("C-1", 50)),
        till.event(redeem("C-1", 300)),
        till.event(sale("C-1", "S-1")),
        till.event(redeem("C-2", 70)),
    ];
    let (status, ack) = till.upload(&central, sent.clone()).await;
    assert!(status.is_success(), "{ack}");
    assert_eq!(statuses(&ack), ["accepted"; 4]);
    // What the admin API keeps: a personal promotion, a gift card (blocked), an erasure.
    central.create_customer("C-3", 10, false).await;
    for (method, path, body) in [
        (
            Method::PUT,
            "/admin/v1/customers/C-1/promotions/P-1",
            json!({ "promotion_id": "VIP-10" }),
        ),
        (
            Method::POST,
            "/admin/v1/gift-cards",
            json!({ "card": "GC-1", "balance": 2500 }),
        ),
        (Method::POST, "/admin/v1/gift-cards/GC-1/block", Value::Null),
        (Method::DELETE, "/admin/v1/customers/C-3", Value::Null),
    ] {
        let (status, answer) = central.admin_json(method, path, body).await;
        assert!(status.is_success(), "{path}: {answer}");
    }
    let source = central.dir().join("central.db");

    let stdout = migrate_db(&source, target.url());
    assert!(stdout.contains("moved "), "{stdout}");

    // Every table, row for row; envelopes, keys and events byte for byte.
    let sqlite = rusqlite::Connection::open(&source).unwrap();
    let client = crate::pg::connect(target.url()).await;
    for table in TABLES {
        let sql = format!("SELECT count(*) FROM {table}");
        let here: i64 = sqlite.query_row(&sql, [], |r| r.get(0)).unwrap();
        let there: i64 = client.query_one(&sql, &[]).await.unwrap().get(0);
        assert_eq!(here, there, "{table}");
    }
    let envelopes = "SELECT purpose, sequence, envelope, etag FROM envelopes
                     ORDER BY purpose, sequence";
    let here: Vec<(String, i64, Vec<u8>, String)> = sqlite
        .prepare(envelopes)
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap();
    let there: Vec<(String, i64, Vec<u8>, String)> = client
        .query(envelopes, &[])
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
        .collect();
    assert!(!here.is_empty());
    assert_eq!(here, there, "signed envelopes are copied byte for byte");
    for sql in [
        "SELECT kid || ':' || encode(public_key, 'hex') FROM keys ORDER BY kid",
        "SELECT id || ':' || sha256 || ':' || payload FROM events ORDER BY id",
    ] {
        let sqlite_sql = sql.replace("encode(public_key, 'hex')", "lower(hex(public_key))");
        let here: Vec<String> = sqlite
            .prepare(&sqlite_sql)
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        let there: Vec<String> = client
            .query(sql, &[])
            .await
            .unwrap()
            .iter()
            .map(|r| r.get(0))
            .collect();
        assert_eq!(here, there, "{sql}");
    }
    let last_change: i64 = sqlite
        .query_row("SELECT max(seq) FROM changes", [], |r| r.get(0))
        .unwrap();

    // PostgreSQL now answers as SQLite did: the same upload is a duplicate, balances are
    // the same, and the change log numbers on after SQLite's.
    let db = Database::open(&Location::Postgres(target.url().to_owned()))
        .await
        .unwrap();
    let signer = Till {
        id: till.id.clone(),
        store: till.store.clone(),
        region: RegionId::new("ES-M").unwrap(),
        key: SigningKey::from_bytes(&[1; 32]).verifying_key(),
    };
    let ack = db.ingest(&signer, &batch(&signer, sent), 1).await.unwrap();
    assert_eq!(outcomes(&ack), ["duplicate"; 4]);
    let (balance, debt) = db.savings("C-1").await.unwrap().unwrap();
    assert_eq!((balance.amount, debt.amount), (4750, 0));
    let (balance, debt) = db.savings("C-2").await.unwrap().unwrap();
    assert_eq!((balance.amount, debt.amount), (0, 70));
    let more = vec![till.event(earn("C-2", 100))];
    let ack = db.ingest(&signer, &batch(&signer, more), 2).await.unwrap();
    assert_eq!(outcomes(&ack), ["accepted"]);
    let next_change: i64 = client
        .query_one("SELECT max(seq) FROM changes", &[])
        .await
        .unwrap()
        .get(0);
    assert!(
        next_change > last_change,
        "{next_change} after {last_change}"
    );

    // What the administrator and the tills read is the same on both.
    let sqlite_db = Database::open(&Location::sqlite(&source)).await.unwrap();
    let now = central.now();
    let ask = |kind: &str, subject: &str| -> LookupRequest {
        serde_json::from_value(json!({ "kind": kind, "subject": subject })).unwrap()
    };
    let mut answers = Vec::new();
    for database in [&sqlite_db, &db] {
        answers.push(json!({
            "customer": database.customer("C-1", now).await.unwrap(),
            "erased": database.erased_at("C-3").await.unwrap(),
            "promotion": database.promotion("P-1").await.unwrap(),
            "receipts": database.receipts("C-1").await.unwrap(),
            "card": database.gift_card("GC-1").await.unwrap(),
            "lookups": [
                database.lookup(&ask("customer", "C-1"), now).await.unwrap(),
                database.lookup(&ask("customer", "C-3"), now).await.unwrap(),
                database.lookup(&ask("gift_card", "GC-1"), now).await.unwrap(),
            ],
        }));
    }
    assert_eq!(answers[0]["receipts"].as_array().unwrap().len(), 1);
    assert!(answers[0]["erased"].is_i64(), "{}", answers[0]);
    assert_eq!(
        answers[0], answers[1],
        "SQLite and PostgreSQL answer the same"
    );

    // The move never merges: a second one into the same database is refused whole.
    let output = binary()
        .args(["migrate-db", "--from"])
        .arg(&source)
        .args(["--to", target.url()])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("not empty"), "{stderr}");
}

#[test]
fn database_takes_a_path_or_a_url_and_never_shows_a_password() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.db");
    let output = binary()
        .arg("--database")
        .arg(&path)
        .args(["--keys"])
        .arg(dir.path().join("keys"))
        .arg("flags")
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    assert!(path.is_file());

    let output = binary()
        .args([
            "--database",
            "postgres://central:secret@127.0.0.1:9/central",
            "flags",
        ])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("opening postgres://central:***@127.0.0.1:9/central"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("secret"),
        "the password is never shown: {stderr}"
    );

    // A move to a server that does not answer, or to no URL, fails and says why.
    let output = binary()
        .args(["migrate-db", "--from"])
        .arg(&path)
        .args(["--to", "postgres://central:secret@127.0.0.1:9/central"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("opening postgres://central:***@127.0.0.1:9/central"),
        "{stderr}"
    );
    assert!(!stderr.contains("secret"), "{stderr}");
    let output = binary()
        .args(["migrate-db", "--from"])
        .arg(&path)
        .args(["--to", "other.db"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("--to: a PostgreSQL URL"));

    let output = binary()
        .args(["--db", "a.db", "--database", "b.db", "flags"])
        .output()
        .unwrap();
    assert!(
        !output.status.success(),
        "--db and --database are one setting"
    );
}

/// A chain's central moves whole too: its change log names more customers than
/// PostgreSQL's lock table holds locks (about 12,000 on a default server), and the move
/// is one transaction. Copying `changes` ran the target's fan-out trigger on every row,
/// each taking its customer's scope lock: the move failed with "out of shared memory".
#[tokio::test]
async fn a_central_with_many_customers_moves_in_one_transaction() {
    const CUSTOMERS: i64 = 15_000;
    let Some(target) = pg::database("migrate_db_many").await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("central.db");
    let db = tillpass_central::db::Db::open(&source).unwrap();
    db.with(|c| {
        c.execute_batch(&format!(
            "WITH RECURSIVE n (i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {CUSTOMERS})
             INSERT INTO customers (ref, first_name, lang, consent_receipts, consent_marketing,
                                    created_by, created_at, updated_at)
             SELECT 'C-' || i, 'Ana', 'es', 1, 0, 'admin', 1000, 1000 FROM n;
             INSERT INTO changes (kind, key, owner, at)
             SELECT 'customers', ref, NULL, 1000 FROM customers ORDER BY ref;"
        ))?;
        Ok(())
    })
    .unwrap();
    drop(db);

    migrate_db(&source, target.url());
    let client = crate::pg::connect(target.url()).await;
    for (table, rows) in [("changes", CUSTOMERS), ("change_stores", CUSTOMERS)] {
        let moved: i64 = client
            .query_one(&format!("SELECT count(*) FROM {table}"), &[])
            .await
            .unwrap()
            .get(0);
        assert_eq!(moved, rows, "{table}");
    }
    // The fan-out is on again after the move.
    let seq: i64 = client
        .query_one(
            "INSERT INTO changes (kind, key, owner, at) VALUES ('customers', 'C-1', NULL, 2000)
             RETURNING seq",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    let fanned: i64 = client
        .query_one("SELECT count(*) FROM change_stores WHERE seq = $1", &[&seq])
        .await
        .unwrap()
        .get(0);
    assert_eq!(fanned, 1, "a change after the move is fanned out");
}
