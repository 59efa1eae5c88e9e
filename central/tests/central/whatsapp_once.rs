//! The WhatsApp channel sends nothing twice: a send that times out after Meta accepted
//! it, and a central killed mid-send or between inbox and reply, each lead to exactly
//! one message at the fake Graph API (`tillpass-fakegraph`, whose statuses carry our
//! idempotency key as Meta's do); two nodes on one PostgreSQL database answer each
//! message once.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::Value;
use tillpass_central::storage::{Database, Location};
use tillpass_central::whatsapp::store;
use tillpass_fakegraph::{Direction, FakeGraph, Message};

use crate::graph::{self, Graph, SECRET};
use crate::util::{Central, client};

/// The channel's configuration file for `fake`, plus `extra` lines; the secrets are in
/// files under `dir`.
fn fake_toml(fake: &FakeGraph, dir: &std::path::Path, extra: &str) -> String {
    for (name, value) in [
        ("verify.secret", "verify"),
        ("app.secret", fake.config().app_secret.as_str()),
        ("access.secret", fake.config().access_token.as_str()),
    ] {
        std::fs::write(dir.join(name), value).unwrap();
    }
    format!(
        "graph_url = \"{}\"\napi_version = \"{}\"\nphone_number_id = \"{}\"\n\
         terms_version = \"2026-01\"\nbackoff_ms = 50\nmax_backoff_ms = 200\n\
         verify_token_file = \"verify.secret\"\napp_secret_file = \"app.secret\"\n\
         access_token_file = \"access.secret\"\n{extra}",
        fake.base_url(),
        fake.config().api_version,
        fake.config().phone_number_id
    )
}

/// Central in this process with the channel against `fake`, its webhook set.
async fn central_for(fake: &FakeGraph, extra: &str) -> Central {
    let dir = tempfile::tempdir().unwrap();
    let text = fake_toml(fake, dir.path(), extra);
    let config = tillpass_central::whatsapp::Config::parse(&text, Some(dir.path()), None).unwrap();
    let (central, _channel) = Central::start_whatsapp(config).await;
    fake.set_webhook(Some(central.url("/webhooks/whatsapp")));
    central
}

/// What the fake accepted for `wa_id`.
fn outbound(fake: &FakeGraph, wa_id: &str) -> Vec<Message> {
    fake.chat(wa_id, 0)
        .into_iter()
        .filter(|m| m.direction == Direction::Outbound)
        .collect()
}

/// Waits (up to 20 s) until `wa_id` got `n` messages; returns them.
async fn wait_outbound(fake: &FakeGraph, wa_id: &str, n: usize) -> Vec<Message> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let sent = outbound(fake, wa_id);
        if sent.len() >= n {
            return sent;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{wa_id} got {} messages, not {n}",
            sent.len()
        );
        fake.changed(Duration::from_millis(50)).await;
    }
}

/// The outbox row of idempotency key `key` in the SQLite file `db`: state, wamid.
fn row(db: &std::path::Path, key: &str) -> Option<(String, Option<String>)> {
    use rusqlite::OptionalExtension;
    rusqlite::Connection::open(db)
        .unwrap()
        .query_row(
            "SELECT state, wamid FROM wa_outbox WHERE idempotency_key = ?1",
            [key],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()
        .unwrap()
}

/// Waits (up to 20 s) until the row of `key` is in `state`; returns its wamid.
async fn wait_state(db: &std::path::Path, key: &str, state: &str) -> Option<String> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let now = row(db, key);
        if let Some((s, wamid)) = &now
            && s == state
        {
            return wamid.clone();
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{key} is {now:?}, not {state}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_send_that_times_out_after_meta_accepted_it_is_settled_by_its_status_not_sent_again() {
    let fake = FakeGraph::start(tillpass_fakegraph::Config::default())
        .await
        .unwrap();
    let central = central_for(&fake, "send_timeout_ms = 300\nconfirm_window_ms = 600000\n").await;
    let db = central.dir().join("central.db");

    // The statuses come while the answer hangs: they settle the message.
    let ana = "34611000201";
    fake.hang_next(1);
    let first = fake.customer_text(ana, "hola");
    let key = format!("{first}:0");
    let sent = wait_outbound(&fake, ana, 1).await;
    assert_eq!(sent[0].callback_data.as_deref(), Some(key.as_str()));
    let wamid = wait_state(&db, &key, "read").await;
    assert_eq!(wamid.as_deref(), Some(sent[0].id.as_str()));

    // The client times out first and the statuses come later: unconfirmed until then.
    let bea = "34611000202";
    fake.deliver_statuses(false);
    fake.hang_next(1);
    let second = fake.customer_text(bea, "hola");
    let key = format!("{second}:0");
    wait_state(&db, &key, "unconfirmed").await;
    let (status, report) = central
        .admin_json(Method::GET, "/admin/v1/whatsapp/status", Value::Null)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(report["channel"]["unconfirmed"], 1, "{report}");
    let sent = outbound(&fake, bea);
    assert_eq!(sent.len(), 1);
    assert!(fake.deliver_statuses_for(&sent[0].id));
    let wamid = wait_state(&db, &key, "read").await;
    assert_eq!(wamid.as_deref(), Some(sent[0].id.as_str()));

    // A later message gets exactly one more answer: nothing was sent again.
    fake.deliver_statuses(true);
    for phone in [ana, bea] {
        let next = fake.customer_text(phone, "hola");
        wait_state(&db, &format!("{next}:0"), "read").await;
        assert_eq!(outbound(&fake, phone).len(), 2, "{phone}");
    }
    fake.release_hung();
}

#[tokio::test]
async fn an_unconfirmed_send_no_status_names_is_sent_again_after_the_window() {
    let fake = FakeGraph::start(tillpass_fakegraph::Config::default())
        .await
        .unwrap();
    let central = central_for(&fake, "send_timeout_ms = 300\nconfirm_window_ms = 500\n").await;
    let db = central.dir().join("central.db");
    fake.deliver_statuses(false);
    fake.hang_next(1);
    let phone = "34611000203";
    let id = fake.customer_text(phone, "hola");
    let key = format!("{id}:0");
    wait_state(&db, &key, "unconfirmed").await;
    // The window is the bound: with no status at all, it goes again, with the same key.
    let wamid = wait_state(&db, &key, "sent").await;
    let sent = outbound(&fake, phone);
    assert_eq!(sent.len(), 2);
    assert_eq!(wamid.as_deref(), Some(sent[1].id.as_str()));
    assert!(
        sent.iter()
            .all(|m| m.callback_data.as_deref() == Some(key.as_str()))
    );
    fake.release_hung();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_central_killed_mid_send_or_between_inbox_and_reply_sends_everything_once() {
    let fake = FakeGraph::start(tillpass_fakegraph::Config::default())
        .await
        .unwrap();
    fake.deliver_statuses(false);
    let dir = tempfile::tempdir().unwrap();
    let toml = fake_toml(
        &fake,
        dir.path(),
        "max_attempts = 100\nsend_timeout_ms = 1000\nconfirm_window_ms = 600000\n",
    );
    std::fs::write(dir.path().join("whatsapp.toml"), toml).unwrap();
    let args = ["--whatsapp", "whatsapp.toml"];
    let central = Central::spawn_in(dir, &args, client()).await;
    fake.set_webhook(Some(central.url("/webhooks/whatsapp")));

    // Mid-send: three replies accepted by Meta, their answers never come back.
    let hung: Vec<String> = (0..3).map(|i| format!("3461400{i:04}")).collect();
    fake.hang_next(3);
    let mut keys = vec![];
    for phone in &hung {
        keys.push(format!("{}:0", fake.customer_text(phone, "hola")));
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while fake.sent().len() < 3 {
        assert!(tokio::time::Instant::now() < deadline, "{:?}", fake.sent());
        fake.changed(Duration::from_millis(50)).await;
    }
    // Between inbox and reply: Meta is down, twenty replies wait in the outbox.
    fake.fail_next(100_000, StatusCode::INTERNAL_SERVER_ERROR);
    let down: Vec<String> = (0..20).map(|i| format!("3461401{i:04}")).collect();
    for phone in &down {
        fake.customer_text(phone, "hola");
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while fake.outstanding_deliveries() > 0 {
        assert!(tokio::time::Instant::now() < deadline);
        fake.changed(Duration::from_millis(50)).await;
    }
    let log = central.log();
    let dir = central.kill();
    let db = dir.path().join("data/central.db");
    let stored: i64 = rusqlite::Connection::open(&db)
        .unwrap()
        .query_row("SELECT count(*) FROM wa_inbox", [], |r| r.get(0))
        .unwrap();
    assert_eq!(stored, 23, "every delivery answered 200 was stored");
    for key in &keys {
        let (state, _) = row(&db, key).unwrap();
        assert!(
            state == "in_flight" || state == "unconfirmed",
            "{key}: {state}"
        );
    }
    assert!(!log.contains(&down[3]), "no phone number in the log");

    // Meta is back; so is central. The statuses of what Meta accepted arrive.
    fake.fail_next(0, StatusCode::INTERNAL_SERVER_ERROR);
    let central = Central::spawn_in(dir, &args, client()).await;
    fake.set_webhook(Some(central.url("/webhooks/whatsapp")));
    for phone in &down {
        wait_outbound(&fake, phone, 1).await;
    }
    for (phone, key) in hung.iter().zip(&keys) {
        let sent = outbound(&fake, phone);
        assert_eq!(sent.len(), 1, "{phone}");
        assert!(fake.deliver_statuses_for(&sent[0].id));
        let wamid = wait_state(&db, key, "read").await;
        assert_eq!(wamid.as_deref(), Some(sent[0].id.as_str()));
    }
    // A later message's answer comes after any a resend could have made.
    fake.deliver_statuses(true);
    for phone in hung.iter().chain(&down[..1]) {
        let next = fake.customer_text(phone, "hola");
        wait_state(&db, &format!("{next}:0"), "read").await;
    }
    for phone in &hung {
        assert_eq!(outbound(&fake, phone).len(), 2, "{phone}");
    }
    assert_eq!(outbound(&fake, &down[0]).len(), 2);
    for phone in &down[1..] {
        assert_eq!(outbound(&fake, phone).len(), 1, "{phone} got one answer");
    }
    fake.release_hung();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_on_one_postgresql_database_answer_each_message_once() {
    let Some(test_db) = crate::pg::database("whatsapp_two_nodes").await else {
        return;
    };
    let location = Location::Postgres(test_db.url().to_owned());
    let graph = Graph::start().await;
    let mut nodes = vec![];
    for _ in 0..2 {
        let db = Database::open(&location).await.unwrap();
        nodes.push(Central::start_whatsapp_on(graph.config(None), Some(db)).await);
    }
    let phones: Vec<String> = (0..30).map(|i| format!("3461600{i:04}")).collect();
    let rounds = 3;
    let mut posts = vec![];
    for round in 0..rounds {
        for (i, phone) in phones.iter().enumerate() {
            let (node, _) = &nodes[(i + round) % 2];
            let body = graph::text(phone, &format!("wamid.two.{round}.{i}"), "hola");
            let (client, base) = (node.client.clone(), node.base.clone());
            posts.push(tokio::spawn(async move {
                graph::post(&client, &base, &body, Some(SECRET))
                    .await
                    .status()
            }));
        }
    }
    for post in posts {
        assert_eq!(post.await.unwrap(), StatusCode::OK);
    }
    let expected = phones.len() * rounds;
    let db = Database::open(&location).await.unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let report = store::status(&db).await.unwrap();
        let rows: i64 = report.outbox.iter().map(|(_, n)| n).sum();
        let sent = report
            .outbox
            .iter()
            .find(|(s, _)| s == "sent")
            .map_or(0, |(_, n)| *n);
        if report.inbox_pending == 0 && rows == sent && sent == i64::try_from(expected).unwrap() {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{report:?}, {} at the Graph API",
            graph.sent().len()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Every row is final: nothing more can be sent. Exactly one answer per message.
    let sent = graph.sent();
    assert_eq!(sent.len(), expected);
    let keys: std::collections::HashSet<&str> = sent
        .iter()
        .map(|m| m["biz_opaque_callback_data"].as_str().unwrap())
        .collect();
    assert_eq!(keys.len(), expected, "no key sent twice");
    for phone in &phones {
        assert_eq!(graph.sent_to(phone).len(), rounds, "{phone}");
    }
    let handled: Vec<u64> = nodes
        .iter()
        .map(|(_, ch)| {
            ch.counters()
                .handled
                .load(std::sync::atomic::Ordering::Relaxed)
        })
        .collect();
    assert_eq!(
        handled.iter().sum::<u64>(),
        u64::try_from(expected).unwrap(),
        "{handled:?}"
    );
}

/// On PostgreSQL the chat signs up, hands out a pass image and erases, as on SQLite: the
/// customer is gone and no table but the channel's erasure record knows the number.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_postgresql_the_chat_signs_up_hands_out_a_pass_and_erases() {
    use tillpass_central::whatsapp::intent::button;
    let Some(test_db) = crate::pg::database("whatsapp_pg_flows").await else {
        return;
    };
    let location = Location::Postgres(test_db.url().to_owned());
    let graph = Graph::start().await;
    let db = Database::open(&location).await.unwrap();
    let (node, _channel) = Central::start_whatsapp_on(graph.config(None), Some(db)).await;
    let phone = "34611000099";
    let post = |body: Value| {
        let (client, base) = (node.client.clone(), node.base.clone());
        async move {
            assert_eq!(
                graph::post(&client, &base, &body, Some(SECRET))
                    .await
                    .status(),
                StatusCode::OK
            );
        }
    };
    post(graph::text(phone, "wamid.pg.1", "hola")).await;
    let consent = graph.wait_for(phone, 1).await.pop().unwrap();
    assert_eq!(consent["type"], "interactive", "{consent}");
    post(graph::tap(phone, "wamid.pg.2", button::ACCEPT, "Acepto")).await;
    graph.wait_for(phone, 2).await;
    post(graph::text(phone, "wamid.pg.3", "QR")).await;
    let pass = graph.wait_for(phone, 3).await.pop().unwrap();
    assert_eq!(pass["type"], "image", "a pass image on PostgreSQL: {pass}");
    let db = Database::open(&location).await.unwrap();
    let customers = db.count_rows("customers").await.unwrap();
    assert_eq!(customers, 1);
    assert_eq!(db.count_rows("issued_tokens").await.unwrap(), 1);

    post(graph::text(phone, "wamid.pg.4", "borrar mis datos")).await;
    graph.wait_for(phone, 4).await;
    post(graph::tap(phone, "wamid.pg.5", button::ERASE, "Borrar")).await;
    let done = graph.wait_for(phone, 5).await.pop().unwrap();
    assert!(done.to_string().contains("Hemos borrado"), "{done}");
    assert_eq!(db.count_rows("customers").await.unwrap(), 0);
    assert_eq!(db.count_rows("erased_customers").await.unwrap(), 1);
}
