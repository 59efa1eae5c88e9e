//! The attack surface: nothing is read for a caller who has not shown who they are, a body
//! is read only up to its route's real maximum, one answer for an unknown, revoked or
//! badly signed till, and connections that send nothing (or too slowly) do not stay.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::Value;
use tillpass_central::http::Limits;
use tillpass_central::http::limits::MAX_ADMIN_JSON_BYTES;
use tillpass_central::http::till::MAX_ENROL_BYTES;
use tillpass_protocol::sync::batch::MAX_BATCH_BYTES;
use tillpass_protocol::sync::{RequestNonce, TillId};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{Instant, timeout};

use crate::journal::sale;
use crate::util::{ADMIN, Central, TestTill, client, rand};

const PATH: &str = "/v1/deltas/customers?cursor=&limit=10";

/// Sends a request head (no body) on a new connection.
async fn send_head(addr: &str, head: &str) -> TcpStream {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(head.as_bytes()).await.unwrap();
    stream
}

/// Reads an answer's head within `within`; its status.
async fn read_status(stream: &mut TcpStream, within: Duration) -> u16 {
    let mut head = Vec::new();
    let mut buf = [0u8; 4096];
    timeout(within, async {
        while !head.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = stream.read(&mut buf).await.unwrap();
            assert!(
                n > 0,
                "closed without an answer: {:?}",
                String::from_utf8_lossy(&head)
            );
            head.extend_from_slice(&buf[..n]);
        }
    })
    .await
    .expect("an answer in time");
    let text = String::from_utf8_lossy(&head);
    text.split(' ').nth(1).unwrap().parse().unwrap()
}

/// A till's request head with a declared body of `length` bytes that it does not send.
fn upload_head(till: &TestTill, central: &Central, length: usize) -> String {
    let headers = till.headers(
        "POST",
        "/v1/journal",
        b"{}",
        central.now(),
        RequestNonce(rand()),
    );
    let mut head = format!(
        "POST /v1/journal HTTP/1.1\r\nHost: central\r\nContent-Type: application/json\r\n\
         Content-Length: {length}\r\n"
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    head
}

/// The same till with an id central never enrolled.
async fn stranger(central: &Central) -> TestTill {
    TestTill {
        id: TillId::new("S001-T99").unwrap(),
        ..central.enrol("S001", "S001-T09").await
    }
}

#[tokio::test]
async fn an_unknown_revoked_or_badly_signed_till_gets_one_answer() {
    let central = Central::start().await;
    let good = central.enrol("S001", "S001-T01").await;
    let revoked = central.enrol("S001", "S001-T02").await;
    let (status, _) = central
        .admin_json(Method::POST, "/admin/v1/tills/S001-T02/revoke", Value::Null)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let unknown = stranger(&central).await;
    let forged = TestTill {
        key: ed25519_dalek::SigningKey::from_bytes(&rand::<32>()),
        ..central.enrol("S001", "S001-T03").await
    };

    let body = br#"{"v":1,"till":"S001-T01","events":[]}"#.to_vec();
    let mut answers = Vec::new();
    for till in [&revoked, &unknown, &forged] {
        for (method, path, body) in [
            (Method::GET, PATH, vec![]),
            (Method::POST, "/v1/journal", body.clone()),
        ] {
            let response = till.send(&central, method, path, body).await;
            let status = response.status();
            let kind = response.headers()["content-type"]
                .to_str()
                .unwrap()
                .to_owned();
            let problem: Value = response.json().await.unwrap();
            answers.push((status, kind, problem));
        }
    }
    let first = answers[0].clone();
    assert_eq!(first.0, StatusCode::UNAUTHORIZED);
    assert_eq!(first.1, "application/problem+json");
    assert_eq!(first.2["code"], "unauthorized");
    assert_eq!(first.2["detail"], tillpass_central::auth::REFUSED);
    for answer in &answers {
        assert_eq!(answer, &first, "every refusal must read the same");
    }
    let (status, _) = good.get_json(&central, PATH).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn strangers_are_answered_before_their_body_is_sent() {
    let central = Central::start().await;
    let till = central.enrol("S001", "S001-T01").await;
    let unknown = stranger(&central).await;
    let within = Duration::from_secs(10);

    // An unknown till's 16 MiB upload: 401 on the head alone.
    let mut stream = send_head(
        &central.addr(),
        &upload_head(&unknown, &central, MAX_BATCH_BYTES),
    )
    .await;
    assert_eq!(read_status(&mut stream, within).await, 401);

    // No signature at all.
    let head = format!(
        "POST /v1/journal HTTP/1.1\r\nHost: central\r\nContent-Length: {MAX_BATCH_BYTES}\r\n\r\n"
    );
    let mut stream = send_head(&central.addr(), &head).await;
    assert_eq!(read_status(&mut stream, within).await, 401);

    // The admin API without its token: 401 before an 8 MiB catalog.
    let head =
        "POST /admin/v1/catalogs HTTP/1.1\r\nHost: central\r\nContent-Length: 8388608\r\n\r\n";
    let mut stream = send_head(&central.addr(), head).await;
    assert_eq!(read_status(&mut stream, within).await, 401);

    // A known till declaring more than a batch's maximum: 413 before the body.
    let head = upload_head(&till, &central, MAX_BATCH_BYTES + 1);
    let mut stream = send_head(&central.addr(), &head).await;
    assert_eq!(read_status(&mut stream, within).await, 413);

    // An enrolment (unauthenticated by nature) is read up to its own small maximum.
    let head = format!(
        "POST /v1/enrol HTTP/1.1\r\nHost: central\r\nContent-Length: {}\r\n\r\n",
        MAX_ENROL_BYTES + 1
    );
    let mut stream = send_head(&central.addr(), &head).await;
    assert_eq!(read_status(&mut stream, within).await, 413);

    // So is an admin JSON body, once the token passed.
    let head = format!(
        "POST /admin/v1/customers HTTP/1.1\r\nHost: central\r\nAuthorization: Bearer {ADMIN}\r\n\
         Content-Length: {}\r\n\r\n",
        MAX_ADMIN_JSON_BYTES + 1
    );
    let mut stream = send_head(&central.addr(), &head).await;
    assert_eq!(read_status(&mut stream, within).await, 413);

    // A chunked body without a declared length is cut at the maximum too.
    let mut stream = send_head(
        &central.addr(),
        "POST /v1/enrol HTTP/1.1\r\nHost: central\r\nTransfer-Encoding: chunked\r\n\r\n",
    )
    .await;
    let chunk = format!("400\r\n{}\r\n", " ".repeat(0x400));
    for _ in 0..MAX_ENROL_BYTES / 0x400 + 2 {
        if stream.write_all(chunk.as_bytes()).await.is_err() {
            break;
        }
    }
    assert_eq!(read_status(&mut stream, within).await, 413);
}

/// The resident set of a process and its peak, in KiB, from `/proc`.
fn memory_kib(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let field = |name: &str| -> u64 {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .unwrap()
            .parse()
            .unwrap()
    };
    (field("VmRSS:"), field("VmHWM:"))
}

#[tokio::test]
async fn thirty_unauthenticated_16_mib_uploads_held_open_cost_central_no_memory() {
    let central = Central::spawn(&[], client()).await;
    let unknown = stranger(&central).await;
    let (before, _) = memory_kib(central.pid());

    let mut uploads = Vec::new();
    for _ in 0..30 {
        let head = upload_head(&unknown, &central, MAX_BATCH_BYTES);
        let addr = central.addr();
        uploads.push(tokio::spawn(async move {
            let mut stream = send_head(&addr, &head).await;
            // Push the body as fast as central takes it; it has no reason to take it.
            let chunk = vec![b' '; 64 * 1024];
            let mut sent = 0;
            let pushed = timeout(Duration::from_secs(5), async {
                while sent < MAX_BATCH_BYTES {
                    if stream.write_all(&chunk).await.is_err() {
                        break;
                    }
                    sent += chunk.len();
                }
            })
            .await;
            let status = read_status(&mut stream, Duration::from_secs(20)).await;
            (status, pushed.is_ok(), sent, stream)
        }));
    }
    let mut held = Vec::new();
    for upload in uploads {
        let (status, _, sent, stream) = upload.await.unwrap();
        assert_eq!(status, 401);
        assert!(
            sent < MAX_BATCH_BYTES,
            "central read a whole stranger's body"
        );
        held.push(stream);
    }
    let (after, peak) = memory_kib(central.pid());
    assert!(
        peak.saturating_sub(before) < 32 * 1024,
        "central grew from {before} KiB to a peak of {peak} KiB (now {after} KiB)"
    );
    drop(held);
}

#[tokio::test]
async fn idle_and_slow_header_connections_are_closed_while_tills_are_served() {
    let limits = Limits {
        header_timeout: Duration::from_secs(1),
        idle_timeout: Duration::from_secs(2),
        ..Limits::default()
    };
    let central = Central::start_with(limits).await;
    let till = central.enrol("S001", "S001-T01").await;
    let deadline = Duration::from_secs(10);

    // A connection that never sends a byte.
    let mut idle = TcpStream::connect(central.addr()).await.unwrap();
    // A client that sends its head one byte every 100 ms, for ever.
    let addr = central.addr();
    let slow = tokio::spawn(async move {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        let started = Instant::now();
        for byte in b"GET /livez HTTP/1.1\r\nX-Slow: "
            .iter()
            .chain([b'a'; 4096].iter())
        {
            if stream.write_all(&[*byte]).await.is_err() {
                return started.elapsed();
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
            let mut buf = [0u8; 512];
            if let Ok(Ok(0) | Err(_)) = timeout(Duration::ZERO, stream.read(&mut buf)).await {
                return started.elapsed();
            }
        }
        started.elapsed()
    });
    // A kept-alive connection after one request.
    let mut kept = send_head(
        &central.addr(),
        "GET /livez HTTP/1.1\r\nHost: central\r\n\r\n",
    )
    .await;
    assert_eq!(read_status(&mut kept, deadline).await, 200);
    // A body that stalls half-way.
    let mut stalled = send_head(
        &central.addr(),
        "POST /v1/enrol HTTP/1.1\r\nHost: central\r\nContent-Length: 100\r\n\r\n{\"code\":",
    )
    .await;

    // Meanwhile a till is served.
    let (status, _) = till.get_json(&central, PATH).await;
    assert_eq!(status, StatusCode::OK);

    for (name, stream) in [("idle", &mut idle), ("kept-alive", &mut kept)] {
        let mut buf = [0u8; 1024];
        let closed = timeout(deadline, async {
            loop {
                match stream.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {}
                }
            }
        })
        .await;
        assert!(closed.is_ok(), "the {name} connection stayed open");
    }
    let mut buf = [0u8; 1024];
    let answered = timeout(deadline, stalled.read(&mut buf)).await;
    assert!(
        answered.is_ok(),
        "the stalled body's connection stayed open"
    );
    let elapsed = timeout(deadline, slow)
        .await
        .expect("slow header closed")
        .unwrap();
    assert!(
        elapsed < Duration::from_secs(5),
        "the slow header lasted {elapsed:?}"
    );
}

/// Waits until `stream` is closed by central; whether it was within `within`.
async fn closed_within(stream: &mut TcpStream, within: Duration) -> bool {
    let mut buf = [0u8; 1024];
    timeout(within, async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
    })
    .await
    .is_ok()
}

#[tokio::test]
async fn a_full_table_gives_the_longest_idle_slot_to_a_newcomer() {
    let limits = Limits {
        max_connections: 3,
        header_timeout: Duration::from_secs(60),
        idle_timeout: Duration::from_secs(60),
        ..Limits::default()
    };
    let central = Central::start_with(limits).await;
    // Three sockets that never send a byte hold every slot, the oldest first.
    let mut idle = Vec::new();
    for _ in 0..3 {
        idle.push(TcpStream::connect(central.addr()).await.unwrap());
    }
    // A newcomer is served at once, in the slot of the socket idle the longest.
    let mut newcomer = send_head(
        &central.addr(),
        "GET /livez HTTP/1.1\r\nHost: central\r\n\r\n",
    )
    .await;
    assert_eq!(
        read_status(&mut newcomer, Duration::from_secs(10)).await,
        200
    );
    assert!(closed_within(&mut idle[0], Duration::from_secs(10)).await);
}

#[tokio::test]
async fn connections_in_the_middle_of_a_request_are_never_shed() {
    let limits = Limits {
        max_connections: 3,
        header_timeout: Duration::from_secs(60),
        idle_timeout: Duration::from_secs(60),
        body_timeout: Duration::from_secs(60),
        ..Limits::default()
    };
    let central = Central::start_with(limits).await;
    // Three enrolments whose bodies are on their way hold every slot.
    let mut busy = Vec::new();
    for _ in 0..3 {
        busy.push(
            send_head(
                &central.addr(),
                "POST /v1/enrol HTTP/1.1\r\nHost: central\r\nContent-Length: 100\r\n\r\n{",
            )
            .await,
        );
    }
    let request = tokio::spawn(
        central
            .client
            .get(central.url("/livez"))
            .timeout(Duration::from_secs(30))
            .send(),
    );
    // The newcomer waits: no request in progress is cut…
    let waiting = timeout(Duration::from_millis(500), async {
        while !request.is_finished() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert!(waiting.is_err(), "a fourth connection was served");
    for stream in &mut busy {
        let mut buf = [0u8; 16];
        assert!(
            timeout(Duration::from_millis(10), stream.read(&mut buf))
                .await
                .is_err()
        );
    }
    // …and it is served as soon as one of them ends.
    drop(busy.pop());
    let response = timeout(Duration::from_secs(20), request)
        .await
        .expect("served once a slot freed")
        .unwrap()
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn large_bodies_in_flight_are_bounded() {
    let limits = Limits {
        large_bodies_in_flight: 1,
        permit_wait: Duration::from_secs(1),
        body_timeout: Duration::from_secs(60),
        ..Limits::default()
    };
    let central = Central::start_with(limits).await;
    let till = central.enrol("S001", "S001-T01").await;

    // Two uploads of a large body send a few bytes of it and stall: whichever holds the
    // only permit waits for its body; the other is told to come back.
    let length = 1024 * 1024;
    let mut uploads = Vec::new();
    for _ in 0..2 {
        let mut stream = send_head(&central.addr(), &upload_head(&till, &central, length)).await;
        stream.write_all(b"{\"v\":1,").await.unwrap();
        uploads.push(stream);
    }
    let (mut first, mut second) = (uploads.remove(0), uploads.remove(0));
    let within = Duration::from_secs(15);
    let status = tokio::select! {
        status = read_status(&mut first, within) => status,
        status = read_status(&mut second, within) => status,
    };
    assert_eq!(status, 503);

    // Requests without a large body were never held up: a read, and an upload of one
    // sale on the route that takes large bodies, while the permit is still held.
    let (status, _) = till.get_json(&central, PATH).await;
    assert_eq!(status, StatusCode::OK);
    let sale = till.event(sale("C001", "SALE-1"));
    let (status, ack) = timeout(within, till.upload(&central, vec![sale]))
        .await
        .expect("a small upload answered while the permit is held");
    assert_eq!(status, StatusCode::OK, "{ack}");
    drop((first, second));
}
