//! The contract case of one batch moving the same accounts many times: in order, with
//! rows placed before ones already logged, overspends and debts paid back, an account
//! made in the batch, pending savings — the same balances, log, debts, flags, pending
//! entries and change log on both backends.

use tillpass_central::storage::Location;
use tillpass_protocol::sync::{CustomerRef, EventPayload, JournalEvent, LocalCustomer};

use super::{Backend, backends, batch, customer, earn, execute, outcomes, redeem, till};

/// The rows `sql` answers (one text column) on a backend's database, in its order.
async fn texts(b: &Backend, sql: &str) -> Vec<String> {
    match &b.location {
        Location::Sqlite(path) => {
            let conn = rusqlite::Connection::open(path).unwrap();
            let mut stmt = conn.prepare(sql).unwrap();
            stmt.query_map([], |r| r.get(0))
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap()
        }
        Location::Postgres(url) => {
            let client = crate::pg::connect(url).await;
            client
                .query(sql, &[])
                .await
                .unwrap()
                .iter()
                .map(|r| r.get(0))
                .collect()
        }
    }
}

/// What the batches left: every table money moves, and the change log.
async fn state(b: &Backend) -> Vec<Vec<String>> {
    let mut all = Vec::new();
    for sql in [
        "SELECT customer || ':' || CAST(balance AS TEXT) || ':' || CAST(debt AS TEXT)
           FROM savings_accounts ORDER BY customer",
        "SELECT holder || ':' || CAST(at AS TEXT) || ':' || till || ':' || CAST(seq AS TEXT)
                || ':' || direction || ':' || CAST(amount AS TEXT) || ':'
                || CAST(before_balance AS TEXT) || ':' || CAST(before_debt AS TEXT) || ':'
                || CAST(after_balance AS TEXT) || ':' || CAST(after_debt AS TEXT) || ':'
                || CAST(short AS TEXT) || ':' || CAST(clamped AS TEXT) || ':'
                || coalesce(source, '-')
           FROM account_moves ORDER BY holder, at, till, seq",
        "SELECT customer || ':' || CAST(amount AS TEXT) || ':' || CAST(release_at AS TEXT)
           FROM pending_savings ORDER BY id",
        "SELECT holder || ':' || CAST(amount AS TEXT) FROM debts ORDER BY holder, event_id",
        "SELECT kind || ':' || coalesce(subject, '-') FROM flags ORDER BY kind, subject",
        "SELECT kind || ':' || key || ':' || coalesce(owner, '-') FROM changes ORDER BY seq",
    ] {
        all.push(texts(b, sql).await);
    }
    all
}

/// An event of the till at `at`, numbered `seq`.
fn at(t: &tillpass_central::enrol::Till, seq: u64, at: i64, p: EventPayload) -> JournalEvent {
    JournalEvent::new(t.id.clone(), t.store.clone(), seq, at, p)
}

#[tokio::test]
async fn many_movements_on_few_accounts_in_one_batch_land_alike_on_both_backends() {
    let mut answers = Vec::new();
    for b in backends("batch_movements").await {
        let (db, name) = (&b.db, b.name);
        for (reference, savings) in [("C-1", 1_000), ("C-2", 0), ("C-3", 500)] {
            db.create_customer(&customer(reference, savings), 1)
                .await
                .unwrap();
        }
        // Another till logged C-3's earn at 2,000: this batch's earlier ones go before it.
        let other = till("S001-T02", "S001");
        let sent = batch(&other, vec![at(&other, 1, 2_000, earn("C-3", 100))]);
        let ack = db.ingest(&other, &sent, 10).await.unwrap();
        assert_eq!(outcomes(&ack), ["accepted"], "{name}");

        let t = till("S001-T01", "S001");
        let made = EventPayload::CustomerCreated(LocalCustomer {
            customer: CustomerRef::new("L-1").unwrap(),
            first_name: Some("Luz".into()),
            lang: None,
        });
        let payloads = [
            (1_000, earn("C-1", 50)),
            (1_000, redeem("C-1", 30)),
            (1_001, earn("C-1", 20)),
            (1_001, earn("C-2", 10)),
            (1_002, redeem("C-2", 100)),
            (1_003, earn("C-2", 40)),
            (1_003, earn("C-2", 80)),
            (1_500, earn("C-3", 5)),
            (1_600, redeem("C-3", 700)),
            (1_601, earn("C-3", 7)),
            (1_602, made),
            (1_603, earn("L-1", 9)),
            (1_604, earn("L-1", 1)),
            // Placed before this batch's own C-1 rows.
            (900, earn("C-1", 11)),
            (1_700, earn("C-1", 3)),
            (1_701, earn("C-9", 4)),
        ];
        let sent = payloads
            .into_iter()
            .zip(1..)
            .map(|((time, p), seq)| at(&t, seq, time, p))
            .collect();
        let ack = db.ingest(&t, &batch(&t, sent), 20).await.unwrap();
        let mut expected = vec!["accepted"; 15];
        expected.push("unknown_customer");
        assert_eq!(outcomes(&ack), expected, "{name}");
        assert_eq!(
            db.savings("C-1").await.unwrap().unwrap().0.amount,
            1_000 + 50 - 30 + 20 + 11 + 3,
            "{name}"
        );

        // With a return window, the earns of one batch wait as pending entries, in order.
        execute(
            &b,
            "INSERT INTO catalogs (source_sha256, body_cbor, promotions, published_at,
                                   activates_at, return_window_secs)
             VALUES ('x', x'00', 0, 0, 0, 1000)",
        )
        .await;
        let sent = [earn("C-1", 6), earn("C-2", 7), earn("C-1", 8)]
            .into_iter()
            .zip(20..)
            .map(|(p, seq)| at(&t, seq, 1_800, p))
            .collect();
        let ack = db.ingest(&t, &batch(&t, sent), 30).await.unwrap();
        assert_eq!(outcomes(&ack), ["accepted"; 3], "{name}");
        answers.push((name, state(&b).await));
    }
    if let [(_, sqlite), (_, postgresql)] = answers.as_slice() {
        for (s, p) in sqlite.iter().zip(postgresql) {
            assert_eq!(s, p, "both backends hold the same");
        }
    }
}
