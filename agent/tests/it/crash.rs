//! Power loss at the till: the real daemon is killed with SIGKILL at random moments while a
//! POS client closes 500 sales with idempotency keys and retries whatever got no answer.
//! Afterwards every acknowledged close is there exactly once, and retrying any close with
//! its key gives back the original answer.
//!
//! And at every step boundary of a tender by gift-card QR, and of a cart with a customer
//! pass (the daemon's failpoints stop it there, then SIGKILL): the retry with the same key
//! succeeds, no QR is burnt, the card is charged exactly once and the pass used once.

use std::io::{Read, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tillpass_protocol::catalog::Catalog;
use tillpass_protocol::envelope::{EnvelopeHeader, EnvelopePurpose};

use tillpass_protocol::token::TokenKind;

use crate::sessions::{CATALOG, cart, eur};
use crate::util::{Central, TOKEN, Till, now};

const SALES: usize = 500;

/// The daemon as a process we can kill.
struct Proc {
    child: Child,
    addr: String,
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(config: &Path, log: &Path) -> Proc {
    start_stopping_at(config, log, None)
}

/// Starts the daemon; with `failpoint`, a request that reaches it waits there to be killed.
// The child is reaped by `Proc`'s Drop, or killed and waited for by the test.
#[allow(clippy::zombie_processes)]
fn start_stopping_at(config: &Path, log: &Path, failpoint: Option<&str>) -> Proc {
    let out = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .unwrap();
    let offset = std::fs::metadata(log).map(|m| m.len()).unwrap_or(0);
    let mut command = Command::new(env!("CARGO_BIN_EXE_tillpass"));
    command.env_remove(tillpass_agent::failpoint::VAR);
    if let Some(point) = failpoint {
        command.env(tillpass_agent::failpoint::VAR, point);
    }
    let child = command
        .args(["--config", config.to_str().unwrap(), "run"])
        .env_remove("TILLPASS_CONFIG")
        .stdin(Stdio::null())
        .stdout(out.try_clone().unwrap())
        .stderr(out)
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let marker = "tillpass listening address=";
    loop {
        let text = std::fs::read(log).unwrap_or_default();
        let fresh = String::from_utf8_lossy(&text[usize::try_from(offset).unwrap()..]).into_owned();
        if let Some(addr) = fresh.lines().find_map(|l| {
            l.find(marker).map(|i| {
                l[i + marker.len()..]
                    .split_whitespace()
                    .next()
                    .unwrap_or("")
                    .to_owned()
            })
        }) {
            return Proc { child, addr };
        }
        assert!(Instant::now() < deadline, "agent did not start:\n{fresh}");
        std::thread::park_timeout(Duration::from_millis(10));
    }
}

/// One request; `None` when the agent did not answer (killed mid-request).
fn try_call(
    addr: &str,
    method: &str,
    path: &str,
    key: Option<&str>,
    body: &[u8],
    media: &str,
) -> Option<(u16, Value)> {
    let mut stream = std::net::TcpStream::connect(addr).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .ok()?;
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nAuthorization: Bearer {TOKEN}\r\n\
         Content-Type: {media}\r\nContent-Length: {}\r\n",
        body.len()
    );
    if let Some(key) = key {
        head.push_str(&format!("Idempotency-Key: {key}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).ok()?;
    stream.write_all(body).ok()?;
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).ok()?;
    let answer = String::from_utf8_lossy(&answer).into_owned();
    let (head, body) = answer.split_once("\r\n\r\n")?;
    let status = head.split_whitespace().nth(1)?.parse().ok()?;
    let json = serde_json::from_str(body).unwrap_or_else(|_| Value::String(body.to_owned()));
    Some((status, json))
}

/// A small xorshift: random kill moments without a dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self, below: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % below
    }
}

pub fn signed_catalog(central: &Central, text: &str, sequence: u64) -> Vec<u8> {
    let catalog = Catalog::from_toml(text).unwrap();
    let mut cbor = Vec::new();
    ciborium::into_writer(&catalog, &mut cbor).unwrap();
    tillpass_protocol::envelope::sign(
        &EnvelopeHeader {
            purpose: EnvelopePurpose::Catalog,
            sequence,
            issued_at: now() - 5,
            max_age_secs: 30 * 86_400,
        },
        &cbor,
        &central.catalog,
    )
    .unwrap()
}

#[test]
fn acknowledged_closes_survive_sigkill_exactly_once() {
    let central = Central::new();
    let till = Till::new(&central, 3, "");
    let log = till.dir.path().join("agent.log");
    let first = start(&till.config, &log);
    let envelope = signed_catalog(&central, CATALOG, 1);
    let (status, answer) = try_call(
        &first.addr,
        "POST",
        "/v1/admin/catalog",
        None,
        &envelope,
        "application/cbor",
    )
    .unwrap();
    assert_eq!(status, 200, "{answer:#}");

    let agent = Arc::new(Mutex::new(first));
    let done = Arc::new(AtomicBool::new(false));
    let kills = Arc::new(AtomicU32::new(0));
    let killer = {
        let (agent, done, kills) = (agent.clone(), done.clone(), kills.clone());
        let (config, log) = (till.config.clone(), log.clone());
        std::thread::spawn(move || {
            let mut rng = Rng(now() | 1);
            while !done.load(Ordering::SeqCst) {
                // A random moment: 20 to 220 ms of work between power cuts.
                std::thread::park_timeout(Duration::from_millis(20 + rng.next(200)));
                if done.load(Ordering::SeqCst) {
                    break;
                }
                let mut a = agent.lock().unwrap();
                a.child.kill().unwrap();
                a.child.wait().unwrap();
                kills.fetch_add(1, Ordering::SeqCst);
                *a = start(&config, &log);
            }
        })
    };
    let addr = || agent.lock().unwrap().addr.clone();
    // Retries a change until the agent answers it.
    let until_answered = |method: &str, path: &str, key: &str, body: &Value| -> (u16, Value) {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let bytes = body.to_string();
            if let Some(answer) = try_call(
                &addr(),
                method,
                path,
                Some(key),
                bytes.as_bytes(),
                "application/json",
            ) {
                return answer;
            }
            assert!(
                Instant::now() < deadline,
                "{method} {path}: no answer for two minutes"
            );
            std::thread::park_timeout(Duration::from_millis(5));
        }
    };

    let mut acknowledged: Vec<(Value, Value)> = Vec::with_capacity(SALES);
    for i in 0..SALES {
        let id = format!("K-{i}");
        let (status, session) = until_answered(
            "PUT",
            &format!("/v1/sessions/{id}"),
            &format!("put-{i}"),
            &json!({ "cart": cart(), "use_current_customer": false }),
        );
        assert_eq!(status, 200, "{session:#}");
        let body = json!({ "version": session["version"], "payments": [
            { "method": "cash", "amount": session["amount_due"] }] });
        let (status, closed) = until_answered(
            "POST",
            &format!("/v1/sessions/{id}/close"),
            &format!("close-{i}"),
            &body,
        );
        assert_eq!(status, 200, "{closed:#}");
        assert_eq!(closed["state"], "closed");
        acknowledged.push((body, closed));
    }
    done.store(true, Ordering::SeqCst);
    killer.join().unwrap();
    let kills = kills.load(Ordering::SeqCst);
    assert!(kills >= 5, "the agent was killed only {kills} times");

    // After the last restart: every close retried with its key answers as it did.
    for (i, (body, original)) in acknowledged.iter().enumerate() {
        let id = format!("K-{i}");
        let (status, again) = until_answered(
            "POST",
            &format!("/v1/sessions/{id}/close"),
            &format!("close-{i}"),
            body,
        );
        assert_eq!(status, 200);
        assert_eq!(
            &again, original,
            "close {i} answered differently after the crashes"
        );
    }
    {
        let mut a = agent.lock().unwrap();
        a.child.kill().unwrap();
        a.child.wait().unwrap();
    }
    let store = tillpass_agent::store::Store::open(&till.data()).unwrap();
    let conn = store.conn();
    let count = |sql: &str| -> i64 { conn.query_row(sql, [], |r| r.get(0)).unwrap() };
    assert_eq!(
        count("SELECT count(*) FROM sales"),
        i64::try_from(SALES).unwrap()
    );
    assert_eq!(
        count("SELECT count(*) FROM outbox WHERE kind = 'sale_closed'"),
        i64::try_from(SALES).unwrap(),
        "one sale_closed event per sale, none doubled"
    );
    assert_eq!(
        count(
            "SELECT count(DISTINCT json_extract(body, '$.payload.sale_id')) FROM outbox WHERE kind = 'sale_closed'"
        ),
        i64::try_from(SALES).unwrap()
    );
}

/// Waits until the log, from `offset` on, has a line with every one of `parts`.
fn wait_log(log: &Path, offset: u64, parts: &[&str]) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let text = std::fs::read(log).unwrap_or_default();
        let fresh = String::from_utf8_lossy(&text[usize::try_from(offset).unwrap()..]).into_owned();
        if fresh.lines().any(|l| parts.iter().all(|p| l.contains(p))) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "no {parts:?} in the log:\n{fresh}"
        );
        std::thread::park_timeout(Duration::from_millis(10));
    }
}

/// The step boundaries of a tender by gift-card QR, in order: the QR verified (before the
/// transaction), its use recorded, the hold written, the answer stored (not committed),
/// committed (not answered).
const TENDER_STEPS: [&str; 5] = [
    "tender.verified",
    "tender.recorded",
    "tender.held",
    "tender.stored",
    "tender.committed",
];

#[test]
fn a_tender_by_qr_killed_at_every_step_burns_no_qr_and_charges_the_card_once() {
    let central = Central::new();
    let till = Till::new(&central, 3, "");
    {
        let store = tillpass_agent::store::Store::open(&till.data()).unwrap();
        store
            .conn()
            .execute(
                "INSERT INTO gift_cards(card_ref, owner_ref, currency, synced_balance, updated_at)
                 VALUES ('GC-1', NULL, 'EUR', 5000, 0)",
                [],
            )
            .unwrap();
    }
    let log = till.dir.path().join("agent.log");
    {
        let agent = start(&till.config, &log);
        let envelope = signed_catalog(&central, CATALOG, 1);
        let (status, answer) = try_call(
            &agent.addr,
            "POST",
            "/v1/admin/catalog",
            None,
            &envelope,
            "application/cbor",
        )
        .unwrap();
        assert_eq!(status, 200, "{answer:#}");
    }
    // One QR for every sale: were it burnt at any step, a later sale could not use it.
    let card = central.token_of(
        TokenKind::GiftCard,
        "GC-1",
        now() - 10,
        3600,
        41,
        &central.token,
    );
    let call = |agent: &Proc, method: &str, path: &str, key: &str, body: &Value| {
        try_call(
            &agent.addr,
            method,
            path,
            Some(key),
            body.to_string().as_bytes(),
            "application/json",
        )
        .unwrap_or_else(|| panic!("{method} {path}: no answer"))
    };
    for (i, step) in TENDER_STEPS.iter().enumerate() {
        let id = format!("Q-{i}");
        let offset = std::fs::metadata(&log).map(|m| m.len()).unwrap_or(0);
        let mut agent = start_stopping_at(&till.config, &log, Some(step));
        let (status, s) = call(
            &agent,
            "PUT",
            &format!("/v1/sessions/{id}"),
            &format!("put-{i}"),
            &json!({ "cart": cart(), "use_current_customer": false }),
        );
        assert_eq!(status, 200, "{s:#}");

        let path = format!("/v1/sessions/{id}/tenders");
        let key = format!("tender-{i}");
        let tender = json!({ "version": 1, "tender": {
            "type": "gift_card", "scan": card, "amount": eur(500) } });
        let unanswered = {
            let (addr, path, key, body) = (
                agent.addr.clone(),
                path.clone(),
                key.clone(),
                tender.to_string(),
            );
            std::thread::spawn(move || {
                try_call(
                    &addr,
                    "POST",
                    &path,
                    Some(&key),
                    body.as_bytes(),
                    "application/json",
                )
            })
        };
        wait_log(&log, offset, &["failpoint reached", step]);
        agent.child.kill().unwrap();
        agent.child.wait().unwrap();
        assert!(
            unanswered.join().unwrap().is_none(),
            "{step}: the killed agent answered"
        );

        // Restarted: the same request with the same key pays, and keeps its answer.
        let agent = start(&till.config, &log);
        let (status, paid) = call(&agent, "POST", &path, &key, &tender);
        assert_eq!(status, 200, "{step}: {paid:#}");
        let tenders = paid["tenders"].as_array().unwrap();
        assert_eq!(tenders.len(), 1, "{step}: {paid:#}");
        assert_eq!(tenders[0]["type"], "gift_card");
        assert_eq!(tenders[0]["amount"], eur(500));
        let (status, again) = call(&agent, "POST", &path, &key, &tender);
        assert_eq!(status, 200);
        assert_eq!(again, paid, "{step}: the retry got another answer");

        let (status, closed) = call(
            &agent,
            "POST",
            &format!("/v1/sessions/{id}/close"),
            &format!("close-{i}"),
            &json!({ "version": 2, "payments": [
                { "method": "cash", "amount": paid["amount_due"] }] }),
        );
        assert_eq!(status, 200, "{step}: {closed:#}");
        let remaining = 5000 - 500 * (i64::try_from(i).unwrap() + 1);
        assert_eq!(
            closed["receipt"]["gift_cards"][0]["remaining"],
            eur(remaining),
            "{step}: {closed:#}"
        );
    }

    let store = tillpass_agent::store::Store::open(&till.data()).unwrap();
    let conn = store.conn();
    let count = |sql: &str| -> i64 { conn.query_row(sql, [], |r| r.get(0)).unwrap() };
    let sales = i64::try_from(TENDER_STEPS.len()).unwrap();
    assert_eq!(
        count("SELECT unsynced_spent FROM gift_cards WHERE card_ref = 'GC-1'"),
        500 * sales
    );
    assert_eq!(count("SELECT count(*) FROM gift_card_holds"), 0);
    for kind in [
        "gift_card_held",
        "gift_card_debited",
        "token_used",
        "sale_closed",
    ] {
        assert_eq!(
            count(&format!(
                "SELECT count(*) FROM outbox WHERE kind = '{kind}'"
            )),
            sales,
            "one {kind} per sale"
        );
    }
    assert_eq!(
        count(
            "SELECT count(DISTINCT json_extract(body, '$.payload.sale_id')) FROM outbox
             WHERE kind = 'token_used'"
        ),
        sales,
        "each use of the QR names its own sale"
    );
}

/// The step boundaries of a cart with a customer pass: the pass verified, its use recorded,
/// the answer stored (not committed), committed (not answered).
const PUT_STEPS: [&str; 4] = [
    "put.verified",
    "put.recorded",
    "put.stored",
    "put.committed",
];

#[test]
fn a_cart_with_a_pass_killed_at_every_step_uses_the_pass_once() {
    let central = Central::new();
    // One visit per pass: a pass burnt by the crash would make the retry a replay.
    let till = Till::new(&central, 1, "");
    let log = till.dir.path().join("agent.log");
    {
        let agent = start(&till.config, &log);
        let envelope = signed_catalog(&central, CATALOG, 1);
        let (status, answer) = try_call(
            &agent.addr,
            "POST",
            "/v1/admin/catalog",
            None,
            &envelope,
            "application/cbor",
        )
        .unwrap();
        assert_eq!(status, 200, "{answer:#}");
    }
    for (i, step) in PUT_STEPS.iter().enumerate() {
        let pass = central.pass(
            &format!("C-{i}"),
            now() - 10,
            3600,
            50 + u8::try_from(i).unwrap(),
        );
        let path = format!("/v1/sessions/P-{i}");
        let key = format!("put-{i}");
        let body = json!({ "cart": cart(), "customer_scan": pass }).to_string();
        let offset = std::fs::metadata(&log).map(|m| m.len()).unwrap_or(0);
        let mut agent = start_stopping_at(&till.config, &log, Some(step));
        let unanswered = {
            let (addr, path, key, body) =
                (agent.addr.clone(), path.clone(), key.clone(), body.clone());
            std::thread::spawn(move || {
                try_call(
                    &addr,
                    "PUT",
                    &path,
                    Some(&key),
                    body.as_bytes(),
                    "application/json",
                )
            })
        };
        wait_log(&log, offset, &["failpoint reached", step]);
        agent.child.kill().unwrap();
        agent.child.wait().unwrap();
        assert!(
            unanswered.join().unwrap().is_none(),
            "{step}: the killed agent answered"
        );

        let agent = start(&till.config, &log);
        let put = |key: &str, body: &str| {
            try_call(
                &agent.addr,
                "PUT",
                &path,
                Some(key),
                body.as_bytes(),
                "application/json",
            )
            .unwrap()
        };
        let (status, s) = put(&key, &body);
        assert_eq!(status, 200, "{step}: {s:#}");
        assert_eq!(
            s["customer"]["customer_ref"],
            format!("C-{i}"),
            "{step}: {s:#}"
        );
        assert_eq!(
            put(&key, &body),
            (status, s.clone()),
            "{step}: the retry got another answer"
        );
        let close = json!({ "version": 1 }).to_string();
        let (status, closed) = try_call(
            &agent.addr,
            "POST",
            &format!("{path}/close"),
            Some(&format!("close-{i}")),
            close.as_bytes(),
            "application/json",
        )
        .unwrap();
        assert_eq!(status, 200, "{step}: {closed:#}");
        // Used once: its one visit is over, so the next sale cannot take it.
        let (status, e) = try_call(
            &agent.addr,
            "PUT",
            &format!("/v1/sessions/P-{i}-again"),
            Some(&format!("again-{i}")),
            body.as_bytes(),
            "application/json",
        )
        .unwrap();
        assert_eq!(status, 422, "{step}: {e:#}");
        assert_eq!(e["code"], "replayed", "{step}: {e:#}");
    }

    let store = tillpass_agent::store::Store::open(&till.data()).unwrap();
    let conn = store.conn();
    let count = |sql: &str| -> i64 { conn.query_row(sql, [], |r| r.get(0)).unwrap() };
    let sales = i64::try_from(PUT_STEPS.len()).unwrap();
    assert_eq!(
        count("SELECT count(*) FROM outbox WHERE kind = 'token_used'"),
        sales
    );
    assert_eq!(
        count("SELECT count(*) FROM outbox WHERE kind = 'customer_created'"),
        sales
    );
    assert_eq!(count("SELECT sum(uses) FROM token_uses"), sales);
}
