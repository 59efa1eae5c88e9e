//! `daemon::run` as the binary runs it, in-process: the shutdown future it is given stops
//! it gracefully — a request in flight is answered, the background tasks end and let go
//! of the till's state, the listener closes.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tillpass_agent::config::Config;
use tillpass_agent::paths::Paths;

use crate::util::{Central, TOKEN, Till};

const DEADLINE: Duration = Duration::from_secs(20);

fn until(what: &str, mut f: impl FnMut() -> bool) {
    let end = Instant::now() + DEADLINE;
    while !f() {
        assert!(Instant::now() < end, "timed out waiting for {what}");
        std::thread::park_timeout(Duration::from_millis(10));
    }
}

/// Reads from `stream` until `marker` has arrived; returns everything read.
fn read_until(stream: &mut TcpStream, marker: &str) -> String {
    let mut seen = Vec::new();
    let mut buf = [0u8; 1024];
    while !String::from_utf8_lossy(&seen).contains(marker) {
        let n = stream.read(&mut buf).unwrap();
        assert!(
            n > 0,
            "closed before {marker:?}: {}",
            String::from_utf8_lossy(&seen)
        );
        seen.extend_from_slice(&buf[..n]);
    }
    String::from_utf8_lossy(&seen).into_owned()
}

#[test]
fn the_shutdown_future_stops_the_daemon_after_the_request_in_flight() {
    let central = Central::new();
    let till = Till::new(&central, 1, "");
    let config = Config::load(Some(&till.config), true, Vec::new()).unwrap();
    let paths = Paths::from_env(|_| None);
    let agent =
        tillpass_agent::daemon::build(&config, &paths, tillpass_agent::clock::system_wall_clock())
            .unwrap();
    let store = agent.state.store.clone();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let daemon = runtime.spawn(tillpass_agent::daemon::run(agent, listener, async {
        let _ = stop_rx.await;
    }));

    // A request whose handler is reading its body when the stop comes: the server's
    // `100 Continue` says the handler has started.
    let body = br#"{"scan": "not a pass"}"#;
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(DEADLINE)).unwrap();
    write!(
        stream,
        "POST /v1/identify HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {TOKEN}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nExpect: 100-continue\r\n\r\n",
        body.len()
    )
    .unwrap();
    read_until(&mut stream, "100 Continue\r\n\r\n");

    stop_tx.send(()).unwrap();
    // The listener stops taking connections while the request in flight goes on.
    until("the listener to stop accepting", || {
        let Ok(mut probe) = TcpStream::connect(addr) else {
            return true;
        };
        probe
            .set_read_timeout(Some(Duration::from_secs(1)))
            .unwrap();
        let _ = probe.write_all(b"GET /livez HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
        let mut answer = Vec::new();
        let _ = probe.read_to_end(&mut answer);
        !String::from_utf8_lossy(&answer).contains("200 OK")
    });
    assert!(
        !daemon.is_finished(),
        "the daemon waits for the request in flight"
    );

    stream.write_all(body).unwrap();
    let answer = read_until(&mut stream, "\"code\"");
    assert!(
        answer.contains("HTTP/1.1 422"),
        "the request in flight is answered in full: {answer}"
    );

    let outcome = runtime.block_on(async { tokio::time::timeout(DEADLINE, daemon).await });
    assert!(
        matches!(outcome, Ok(Ok(Ok(())))),
        "the daemon stops cleanly: {outcome:?}"
    );
    assert!(TcpStream::connect(addr).is_err(), "the listener is closed");
    // Every task has let go of the till's state: nothing runs on after the daemon.
    until("the tasks to let go of the store", || {
        Arc::strong_count(&store) == 1
    });
    drop(runtime);
}
