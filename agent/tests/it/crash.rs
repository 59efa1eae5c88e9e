//! Power loss at the till: the real daemon is killed with SIGKILL at random moments while a
//! POS client closes 500 sales with idempotency keys and retries whatever got no answer.
//! Afterwards every acknowledged close is there exactly once, and retrying any close with
//! its key gives back the original answer.

use std::io::{Read, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tillpass_protocol::catalog::Catalog;
use tillpass_protocol::envelope::{EnvelopeHeader, EnvelopePurpose};

use crate::sessions::{CATALOG, cart};
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

// The child is reaped by `Proc`'s Drop, or killed and waited for by the test.
#[allow(clippy::zombie_processes)]
fn start(config: &Path, log: &Path) -> Proc {
    let out = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .unwrap();
    let offset = std::fs::metadata(log).map(|m| m.len()).unwrap_or(0);
    let child = Command::new(env!("CARGO_BIN_EXE_tillpass"))
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
