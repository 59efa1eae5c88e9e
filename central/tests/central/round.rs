//! The sync round in one request (`POST /v1/sync/round`): an idle round is one small
//! signed answer and writes nothing (SQLite: the file's data version and WAL; PostgreSQL:
//! no WAL record for the database); streams come back sealed for the request, paged with
//! `more`; protocols are negotiated; a replayed round is answered for the same nonce;
//! reads' notes reach `last_seen_at`; one till over its quota gets `429`; a
//! catalog or trust list published anywhere reaches the next round.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tillpass_central::http::Limits;
use tillpass_central::http::quota::TillRate;
use tillpass_protocol::sync::{
    Cursor, DeltaKind, EnvelopeVersions, ROUND_PROTOCOLS, RequestNonce, RoundAnswer, RoundBinding,
    RoundRequest, RoundStreams, VERSION, open_round, paths,
};

use crate::pg;
use crate::util::{Central, TestTill, client, rand};

/// What a till holds between rounds.
#[derive(Default)]
struct Held {
    cursors: std::collections::BTreeMap<DeltaKind, Cursor>,
    envelopes: EnvelopeVersions,
}

impl Held {
    fn new() -> Held {
        Held {
            cursors: DeltaKind::ALL
                .into_iter()
                .map(|k| (k, Cursor::start()))
                .collect(),
            envelopes: EnvelopeVersions::default(),
        }
    }

    fn request(&self, limit: Option<u32>) -> RoundRequest {
        RoundRequest {
            v: VERSION,
            protocols: ROUND_PROTOCOLS.to_vec(),
            cursors: self.cursors.clone(),
            limit,
            envelopes: self.envelopes.clone(),
        }
    }
}

/// One round: the answer's size, the answer and its opened streams; the held cursors and
/// ETags move as a till's would.
async fn round(
    central: &Central,
    till: &TestTill,
    held: &mut Held,
    limit: Option<u32>,
) -> (usize, RoundAnswer, RoundStreams) {
    let body = serde_json::to_vec(&held.request(limit)).unwrap();
    let nonce = RequestNonce(rand());
    let headers = till.headers("POST", paths::ROUND, &body, central.now(), nonce);
    let response = till
        .send_with(central, Method::POST, paths::ROUND, body, &headers)
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let bytes = response.bytes().await.unwrap();
    let answer: RoundAnswer = serde_json::from_slice(&bytes).unwrap();
    let streams = opened(central, till, &answer, nonce);
    for (kind, page) in &streams.streams {
        let next = page["next_cursor"].as_str().unwrap();
        held.cursors.insert(*kind, Cursor::new(next).unwrap());
    }
    if let Some(list) = &answer.trust_list {
        held.envelopes.trust_list = Some(list.etag.clone());
    }
    if let Some(catalog) = &answer.catalog {
        held.envelopes.catalog = Some(catalog.etag.clone());
    }
    (bytes.len(), answer, streams)
}

fn opened(
    central: &Central,
    till: &TestTill,
    answer: &RoundAnswer,
    nonce: RequestNonce,
) -> RoundStreams {
    let binding = RoundBinding {
        till: till.id.clone(),
        nonce,
        protocol: answer.protocol,
    };
    let now = u64::try_from(central.now()).unwrap();
    let json = open_round(&answer.sealed, &binding, &till.trust(central.now()), now).unwrap();
    serde_json::from_slice(&json).unwrap()
}

fn items(streams: &RoundStreams, kind: DeltaKind) -> usize {
    streams
        .streams
        .get(&kind)
        .map_or(0, |p| p["items"].as_array().unwrap().len())
}

/// `(data_version seen by another connection, WAL bytes)` of central's SQLite file.
fn sqlite_state(central: &Central, reader: &rusqlite::Connection) -> (i64, u64) {
    let version: i64 = reader
        .query_row("PRAGMA data_version", [], |r| r.get(0))
        .unwrap();
    let wal = std::fs::metadata(central.dir().join("central.db-wal")).map_or(0, |m| m.len());
    (version, wal)
}

#[tokio::test]
async fn an_idle_round_is_one_small_signed_answer_and_writes_nothing() {
    let central = Central::start().await;
    let till = central.enrol("S1", "S1-T1").await;
    let mut held = Held::new();
    // The first round brings the trust list (the till names none).
    let (_, first, streams) = round(&central, &till, &mut held, None).await;
    assert_eq!(first.protocol, 2, "the newest protocol both speak");
    assert!(
        first.trust_list.is_some(),
        "a till without an ETag gets the list"
    );
    assert!(first.catalog.is_none(), "no catalog is published");
    assert!(!streams.more);

    let reader = rusqlite::Connection::open(central.dir().join("central.db")).unwrap();
    let before = sqlite_state(&central, &reader);
    for _ in 0..5 {
        let (size, answer, streams) = round(&central, &till, &mut held, None).await;
        assert!(size < 2048, "an idle answer is small: {size} bytes");
        assert!(answer.trust_list.is_none() && answer.catalog.is_none());
        assert!(streams.streams.is_empty(), "{:?}", streams.streams);
        assert!(!streams.more);
    }
    assert_eq!(
        sqlite_state(&central, &reader),
        before,
        "idle rounds left the database as it was"
    );

    // The metrics count the rounds by answer.
    let text = central
        .client
        .get(central.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        text.contains(r#"tillpass_central_sync_rounds_total{answer="idle"} 5"#),
        "{text}"
    );
    assert!(text.contains(r#"route="round""#), "{text}");
}

#[tokio::test]
async fn a_round_brings_what_changed_page_by_page_and_binds_it_to_the_request() {
    let central = Central::start().await;
    for (i, name) in ["ana", "bob", "eva"].iter().enumerate() {
        central
            .create_customer(name, 100 * i64::try_from(i + 1).unwrap(), false)
            .await;
    }
    let till = central.enrol("S1", "S1-T1").await;
    let mut held = Held::new();
    let (_, _, streams) = round(&central, &till, &mut held, Some(2)).await;
    assert_eq!(items(&streams, DeltaKind::Customers), 2);
    assert_eq!(items(&streams, DeltaKind::Balances), 2);
    assert!(streams.more, "a stream has more past its page");
    let (_, _, streams) = round(&central, &till, &mut held, Some(2)).await;
    assert_eq!(items(&streams, DeltaKind::Customers), 1);
    assert_eq!(items(&streams, DeltaKind::Balances), 1);
    assert!(!streams.more);
    let (_, _, streams) = round(&central, &till, &mut held, Some(2)).await;
    assert!(streams.streams.is_empty(), "then nothing new");

    // A change reaches the next round, in its stream alone.
    let (status, _) = central
        .admin_json(
            Method::POST,
            "/admin/v1/customers/bob/savings",
            json!({ "amount": 50 }),
        )
        .await;
    assert!(status.is_success());
    let (_, _, streams) = round(&central, &till, &mut held, None).await;
    assert_eq!(items(&streams, DeltaKind::Balances), 1);
    assert_eq!(
        streams.streams.keys().copied().collect::<Vec<_>>(),
        [DeltaKind::Balances]
    );

    // The answer is bound to its request: replayed, it is answered for the same nonce
    // (a read keeps no nonce), and it opens for no other nonce or till.
    let body = serde_json::to_vec(&held.request(None)).unwrap();
    let nonce = RequestNonce(rand());
    let headers = till.headers("POST", paths::ROUND, &body, central.now(), nonce);
    for _ in 0..2 {
        let response = till
            .send_with(&central, Method::POST, paths::ROUND, body.clone(), &headers)
            .await;
        assert_eq!(response.status(), StatusCode::OK);
        let answer: RoundAnswer = response.json().await.unwrap();
        opened(&central, &till, &answer, nonce);
        let other = RoundBinding {
            till: till.id.clone(),
            nonce: RequestNonce(rand()),
            protocol: answer.protocol,
        };
        let now = u64::try_from(central.now()).unwrap();
        assert!(open_round(&answer.sealed, &other, &till.trust(central.now()), now).is_err());
    }
    // Only the asked streams are answered.
    let mut only = held.request(None);
    only.cursors.retain(|k, _| *k == DeltaKind::Customers);
    only.cursors.insert(DeltaKind::Customers, Cursor::start());
    let body = serde_json::to_vec(&only).unwrap();
    let nonce = RequestNonce(rand());
    let headers = till.headers("POST", paths::ROUND, &body, central.now(), nonce);
    let response = till
        .send_with(&central, Method::POST, paths::ROUND, body, &headers)
        .await;
    let answer: RoundAnswer = response.json().await.unwrap();
    let streams = opened(&central, &till, &answer, nonce);
    assert_eq!(
        streams.streams.keys().copied().collect::<Vec<_>>(),
        [DeltaKind::Customers]
    );
    assert_eq!(items(&streams, DeltaKind::Customers), 3);
}

#[tokio::test]
async fn protocols_are_negotiated_and_bad_requests_refused_with_problems() {
    let central = Central::start().await;
    let till = central.enrol("S1", "S1-T1").await;
    let send = |body: Vec<u8>| {
        let (central, till) = (&central, &till);
        async move {
            let response = till.send(central, Method::POST, paths::ROUND, body).await;
            let status = response.status();
            let kind = response
                .headers()
                .get("content-type")
                .map(|v| v.to_str().unwrap().to_owned());
            (status, kind, response.json::<Value>().await.unwrap())
        }
    };
    // A till speaking a newer protocol too gets the one both speak.
    let (status, _, answer) = send(br#"{"v":1,"protocols":[1,7]}"#.to_vec()).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["protocol"], 1);
    // None in common: 422 naming the field.
    let (status, kind, problem) = send(br#"{"v":1,"protocols":[7]}"#.to_vec()).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(kind.as_deref(), Some("application/problem+json"));
    assert_eq!(problem["code"], "invalid");
    assert_eq!(problem["field"], "protocols");
    for (body, code, field) in [
        (&br#"{"v":1,"protocols":[]}"#[..], "invalid", "protocols"),
        (br#"{"v":1,"protocols":[1],"limit":0}"#, "invalid", "limit"),
        (
            br#"{"v":1,"protocols":[1],"cursors":{"x":""}}"#,
            "invalid",
            "cursors",
        ),
        (
            br#"{"v":1,"protocols":[1],"cursors":{"sales":"a b"}}"#,
            "invalid",
            "cursors",
        ),
        (br#"{"v":1,"protocols":[1],"extra":1}"#, "invalid", "extra"),
    ] {
        let (status, _, problem) = send(body.to_vec()).await;
        assert_eq!(problem["code"], code, "{problem}");
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
        assert!(
            problem["field"].as_str().unwrap().starts_with(field),
            "{field}: {problem}"
        );
    }
    let (status, _, problem) = send(b"{".to_vec()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(problem["code"], "malformed_json");
    let huge = format!(
        r#"{{"v":1,"protocols":[1],"pad":"{}"}}"#,
        "x".repeat(tillpass_protocol::sync::MAX_ROUND_BYTES)
    );
    let (status, _, problem) = send(huge.into_bytes()).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{problem}");
    // Unsigned: 401, as every till route.
    let response = central
        .client
        .post(central.url(paths::ROUND))
        .body(r#"{"v":1,"protocols":[1]}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}

/// Waits, up to a deadline, until `read` answers something `accept`s, and answers it.
async fn eventually<T: std::fmt::Debug>(
    what: &str,
    read: impl AsyncFn() -> T,
    accept: impl Fn(&T) -> bool,
) -> T {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let value = read().await;
        if accept(&value) {
            return value;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}: {value:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn reads_note_the_till_and_again_a_minute_later() {
    // That a till is noted at most once a minute is the node's memory's rule
    // (`http::seen`'s unit test) and the database's guard (`storage::serving`); here,
    // that the notes of reads reach `last_seen_at`, off the request path.
    let central = Central::start().await;
    let till = central.enrol("S1", "S1-T1").await;
    let reader = rusqlite::Connection::open(central.dir().join("central.db")).unwrap();
    let seen = async || -> Option<i64> {
        reader
            .query_row(
                "SELECT last_seen_at FROM tills WHERE id = 'S1-T1'",
                [],
                |r| r.get(0),
            )
            .unwrap()
    };
    let mut held = Held::new();
    round(&central, &till, &mut held, None).await;
    let first = eventually("the first read's note", &seen, Option::is_some)
        .await
        .unwrap();
    central
        .offset
        .fetch_add(30, std::sync::atomic::Ordering::SeqCst);
    round(&central, &till, &mut held, None).await;
    central
        .offset
        .fetch_add(31, std::sync::atomic::Ordering::SeqCst);
    round(&central, &till, &mut held, None).await;
    let later = eventually("a note a minute later", &seen, |s| *s != Some(first))
        .await
        .unwrap();
    assert!(
        later >= first + 60,
        "a minute on, once more: {first} → {later}"
    );
}

#[tokio::test]
async fn a_till_over_its_quota_gets_429_and_others_carry_on() {
    let limits = Limits {
        per_till: TillRate {
            burst: 3,
            per_sec: 1,
        },
        ..Limits::default()
    };
    let central = Central::start_with(limits).await;
    let noisy = central.enrol("S1", "S1-T1").await;
    let quiet = central.enrol("S1", "S1-T2").await;
    // Requests in the noisy till's name with bad signatures take none of its quota.
    for _ in 0..10 {
        let mut headers = noisy.headers(
            "GET",
            "/v1/trust-list",
            b"",
            central.now(),
            RequestNonce(rand()),
        );
        headers[3].1 = "00".repeat(64);
        let response = noisy
            .send_with(&central, Method::GET, "/v1/trust-list", vec![], &headers)
            .await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    }
    let mut statuses = Vec::new();
    let mut refusal = None;
    for _ in 0..5 {
        let response = noisy
            .send(&central, Method::GET, "/v1/trust-list", vec![])
            .await;
        statuses.push(response.status().as_u16());
        if response.status() == StatusCode::TOO_MANY_REQUESTS {
            let retry: u64 = response.headers()["retry-after"]
                .to_str()
                .unwrap()
                .parse()
                .unwrap();
            let kind = response.headers()["content-type"]
                .to_str()
                .unwrap()
                .to_owned();
            refusal = Some((retry, kind, response.json::<Value>().await.unwrap()));
        }
    }
    assert_eq!(&statuses[..3], [200, 200, 200], "{statuses:?}");
    assert!(statuses[3..].iter().all(|s| *s == 429), "{statuses:?}");
    let (retry, kind, problem) = refusal.unwrap();
    assert!((1..=2).contains(&retry), "{retry}");
    assert_eq!(kind, "application/problem+json");
    assert_eq!(problem["code"], "rate_limited", "{problem}");
    assert_eq!(problem["status"], 429, "{problem}");
    // Another till of the same store is not held back.
    let mut held = Held::new();
    round(&central, &quiet, &mut held, None).await;
    // The noisy till is served again once its bucket refilled.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let response = noisy
            .send(&central, Method::GET, "/v1/trust-list", vec![])
            .await;
        if response.status() == StatusCode::OK {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "never served again");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

const CATALOG: &str = r#"
format = 1
currency = "EUR"
tiers = ["silver", "gold"]

[[promotions]]
id = "SUMMER-10"
label = { es = "Verano -10 %", en = "Summer 10 % off" }
valid_from = 1751328000
valid_until = 1756684800
rules = [{ type = "percent_off", percent = 1000 }]
"#;

/// A till's rounds at `serving` once it holds the envelopes: a catalog published and a
/// key rotated through `publishing` (after `serving` served the envelopes it held) reach
/// its very next round, and the rounds after it are idle again.
async fn publications_reach_the_next_round(serving: &Central, publishing: &Central) {
    let till = serving.enrol("S1", "S1-T1").await;
    let mut held = Held::new();
    let (_, first, _) = round(serving, &till, &mut held, None).await;
    assert!(first.trust_list.is_some() && first.catalog.is_none());
    let (_, idle, _) = round(serving, &till, &mut held, None).await;
    assert!(idle.trust_list.is_none() && idle.catalog.is_none());

    let response = publishing
        .admin(Method::POST, "/admin/v1/catalogs")
        .header("content-type", "application/toml")
        .body(CATALOG)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let (_, next, _) = round(serving, &till, &mut held, None).await;
    assert!(next.catalog.is_some(), "the new catalog at the next round");
    assert!(next.trust_list.is_none());
    let (_, idle, _) = round(serving, &till, &mut held, None).await;
    assert!(idle.trust_list.is_none() && idle.catalog.is_none());

    let before = held.envelopes.trust_list.clone();
    let (status, made) = publishing
        .admin_json(Method::POST, "/admin/v1/keys/token/rotate", Value::Null)
        .await;
    assert_eq!(status, StatusCode::CREATED, "{made}");
    let (_, next, _) = round(serving, &till, &mut held, None).await;
    let list = next
        .trust_list
        .expect("the new trust list at the next round");
    assert_ne!(Some(list.etag), before);
    let (_, idle, _) = round(serving, &till, &mut held, None).await;
    assert!(idle.trust_list.is_none() && idle.catalog.is_none());
}

#[tokio::test]
async fn publications_reach_the_next_round_on_sqlite() {
    let central = Central::start().await;
    publications_reach_the_next_round(&central, &central).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publications_on_another_node_reach_the_next_round_on_postgresql() {
    let Some(database) =
        pg::database("publications_on_another_node_reach_the_next_round_on_postgresql").await
    else {
        return;
    };
    let folder = tempfile::tempdir().unwrap();
    let a = Central::spawn_node(folder.path(), database.url(), client()).await;
    let b = Central::spawn_node(folder.path(), database.url(), client()).await;
    publications_reach_the_next_round(&a, &b).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_writes_last_seen_on_postgresql() {
    let Some(database) = pg::database("a_read_writes_last_seen_on_postgresql").await else {
        return;
    };
    let folder = tempfile::tempdir().unwrap();
    let node = Central::spawn_node(folder.path(), database.url(), client()).await;
    let till = node.enrol("S1", "S1-T1").await;
    let pg = crate::pg::connect(database.url()).await;
    pg.execute("UPDATE tills SET last_seen_at = 0 WHERE id = 'S1-T1'", &[])
        .await
        .unwrap();
    round(&node, &till, &mut Held::new(), None).await;
    let seen = async || -> Option<i64> {
        pg.query_one("SELECT last_seen_at FROM tills WHERE id = 'S1-T1'", &[])
            .await
            .unwrap()
            .get(0)
    };
    let seen = eventually("a round's note", seen, |s| s.unwrap_or(0) > 0).await;
    assert!(seen.unwrap_or(0) > 0, "a round notes the till: {seen:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_round_writes_no_wal_on_postgresql() {
    let Some(database) = pg::database("an_idle_round_writes_no_wal_on_postgresql").await else {
        return;
    };
    let folder = tempfile::tempdir().unwrap();
    let node = Central::spawn_node(folder.path(), database.url(), client()).await;
    let till = node.enrol("S1", "S1-T1").await;
    let pg = crate::pg::connect(database.url()).await;
    // WAL is the cluster's: other databases may write meanwhile. pg_walinspect reads the
    // records between two positions and names the database and relation of every block
    // they touch.
    let inspect = pg
        .batch_execute("CREATE EXTENSION IF NOT EXISTS pg_walinspect")
        .await
        .is_ok();
    let mut held = Held::new();
    // The first rounds bring the trust list, note the till as seen and let PostgreSQL
    // settle what reading fresh rows sets (hint bits, pruning).
    for _ in 0..3 {
        round(&node, &till, &mut held, None).await;
    }
    let oid: u32 = pg
        .query_one(
            "SELECT oid FROM pg_database WHERE datname = current_database()",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    let start = flushed(&pg).await;
    for _ in 0..5 {
        let (size, answer, streams) = round(&node, &till, &mut held, None).await;
        assert!(size < 2048, "{size} bytes");
        assert!(streams.streams.is_empty() && answer.trust_list.is_none());
    }
    let end = settled(&pg, inspect).await;
    let idle = ours(&pg, inspect, &start, &end, oid).await;
    assert!(
        idle.is_empty(),
        "idle rounds wrote WAL for the database: {idle:?}"
    );

    // The check sees a write: a journal upload keeps its nonce.
    let start = flushed(&pg).await;
    let (status, _) = till
        .upload(
            &node,
            vec![till.event(crate::journal::sale("C-1", "SALE-W1"))],
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let end = settled(&pg, inspect).await;
    assert!(!ours(&pg, inspect, &start, &end, oid).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rounds_standing_reads_last_entries_under_stale_statistics_on_postgresql() {
    let Some(database) = pg::database("round_standing_plans_on_postgresql").await else {
        return;
    };
    let folder = tempfile::tempdir().unwrap();
    let _node = Central::spawn_node(folder.path(), database.url(), client()).await;
    let pg = crate::pg::connect(database.url()).await;
    // Statistics taken on a young database, then a chain-wide feed: a customer with no
    // store yet is fanned out to every store.
    pg.batch_execute(
        "ANALYZE;
         INSERT INTO changes (kind, key, owner, at)
             SELECT 'customers', 'C-' || g, NULL, 0 FROM generate_series(1, 3000) g;
         SET plan_cache_mode = force_generic_plan;",
    )
    .await
    .unwrap();
    let [settled, store] = tillpass_central::storage::postgres::deltas::standing_statements();
    let runs = [
        (settled, "EXECUTE p0(0, 'S1')"),
        (store, "EXECUTE p1('trust-list', 'catalog', 0, 'S1')"),
    ];
    for (i, (statement, execute)) in runs.into_iter().enumerate() {
        pg.batch_execute(&format!("PREPARE p{i} AS {statement}"))
            .await
            .unwrap();
        let plan = pg
            .simple_query(&format!("EXPLAIN (FORMAT JSON) {execute}"))
            .await
            .unwrap()
            .into_iter()
            .find_map(|m| match m {
                tokio_postgres::SimpleQueryMessage::Row(row) => row.get(0).map(str::to_owned),
                _ => None,
            })
            .unwrap();
        let plan: Value = serde_json::from_str(&plan).unwrap();
        let mut scans = Vec::new();
        aggregated_tables(&plan[0]["Plan"], false, &mut scans);
        assert!(
            scans.is_empty(),
            "statement {i} aggregates a table's range instead of reading its last entry: \
             {scans:?}\n{plan:#}"
        );
    }
}

/// The tables scanned under an `Aggregate` node of `plan` (the catalogs' `pg_locks` aside).
fn aggregated_tables(plan: &Value, under: bool, out: &mut Vec<String>) {
    let under = under || plan["Node Type"] == "Aggregate";
    if let Some(table) = plan["Relation Name"].as_str()
        && under
        && !table.starts_with("pg_")
    {
        out.push(table.to_owned());
    }
    for child in plan["Plans"].as_array().into_iter().flatten() {
        // An init plan below an aggregate is its own statement, not its input.
        let input = child["Parent Relationship"] != "InitPlan";
        aggregated_tables(child, under && input, out);
    }
}

/// The WAL records between `start` and `end` that touch a table of database `oid` (with
/// pg_walinspect; PostgreSQL's own catalogs, below relation 16384, left out: it prunes
/// them on its own after the extension's creation), or, without it, a record for any
/// movement of the WAL.
async fn ours(
    pg: &tokio_postgres::Client,
    inspect: bool,
    start: &str,
    end: &str,
    oid: u32,
) -> Vec<String> {
    if start == end {
        return Vec::new();
    }
    if !inspect {
        return vec![format!("the WAL moved from {start} to {end}")];
    }
    pg.query(
        "SELECT resource_manager || ' ' || record_type || ' ' || coalesce(block_ref, '')
         FROM pg_get_wal_records_info($1::text::pg_lsn, $2::text::pg_lsn)
         WHERE substring(block_ref from 'rel \\d+/' || $3::text || '/(\\d+)')::bigint >= 16384",
        &[&start, &end, &oid.to_string()],
    )
    .await
    .unwrap()
    .iter()
    .map(|r| r.get(0))
    .collect()
}

/// PostgreSQL's flushed WAL position once every record begun before it is on disk, as
/// text. The flush position alone can fall inside a record another database's session is
/// still writing, and pg_walinspect then finds no valid record after the start; a WAL
/// switch (with pg_walinspect only: without it, any movement is counted) flushes them.
async fn settled(pg: &tokio_postgres::Client, inspect: bool) -> String {
    if inspect {
        pg.execute("SELECT pg_switch_wal()", &[]).await.unwrap();
    }
    flushed(pg).await
}

/// PostgreSQL's flushed WAL position, as text.
async fn flushed(pg: &tokio_postgres::Client) -> String {
    pg.query_one("SELECT pg_current_wal_flush_lsn()::text", &[])
        .await
        .unwrap()
        .get(0)
}

/// The fan-out trigger reads its tables by index whatever the statistics say. Its plans
/// are generic, made once per connection: made when a young database's statistics said
/// `change_stores` was empty, each change's supersede read the whole of `change_stores`,
/// so a transaction appending many changes took time in the square of their number (the
/// scope measurement's setup: 10,000 changes, 25 s).
#[tokio::test]
async fn the_fan_out_reads_by_index_under_an_empty_tables_statistics_on_postgresql() {
    use tillpass_central::storage::{Database, Location};
    let Some(database) = pg::database("fan_out_plans").await else {
        return;
    };
    let _db = Database::open(&Location::Postgres(database.url().to_owned()))
        .await
        .unwrap();
    let mut pg = pg::connect(database.url()).await;
    pg.batch_execute("ANALYZE").await.unwrap();
    let tx = pg.transaction().await.unwrap();
    tx.batch_execute(
        "INSERT INTO changes (kind, key, owner, at)
         SELECT 'customers', 'C-' || g, NULL, 0 FROM generate_series(1, 2000) g",
    )
    .await
    .unwrap();
    let scans: Vec<(String, i64)> = tx
        .query(
            "SELECT relname::TEXT, seq_scan FROM pg_stat_xact_user_tables
             WHERE seq_scan > 0 ORDER BY relname",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    let most = scans.iter().map(|(_, n)| *n).max().unwrap_or(0);
    assert!(
        most < 100,
        "2,000 changes appended; sequential scans: {scans:?}"
    );
}
