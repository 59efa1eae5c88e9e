//! TCP line sources (development and demo): connect and listen modes.

use tillpass_hardware::config::{DeviceConfig, TcpConfig};
use tillpass_hardware::{DisconnectReason, ScannerEvent};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};

use crate::util::{DEADLINE, Running, scanner};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connects_reads_lines_and_reconnects() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let mut run = Running::start(vec![scanner(
        "bridge",
        DeviceConfig::Tcp(TcpConfig {
            addr,
            listen: false,
        }),
    )]);
    let (mut peer, _) = listener.accept().await.unwrap();
    run.connected().await;
    peer.write_all(b"TP1\r\nTP2\n").await.unwrap();
    assert_eq!(run.scan().await, "TP1");
    assert_eq!(run.scan().await, "TP2");
    drop(peer);
    let ScannerEvent::Disconnected { reason, .. } = run.disconnected().await else {
        unreachable!()
    };
    assert_eq!(reason, DisconnectReason::EndOfFile);
    // It comes back by itself.
    let (mut peer, _) = listener.accept().await.unwrap();
    run.connected().await;
    peer.write_all(b"TP3\n").await.unwrap();
    assert_eq!(run.scan().await, "TP3");
    run.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listens_for_one_client_at_a_time() {
    // A free port: bind, note it, release it.
    let addr = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        probe.local_addr().unwrap()
    };
    let mut run = Running::start(vec![scanner(
        "demo",
        DeviceConfig::Tcp(TcpConfig {
            addr: addr.to_string(),
            listen: true,
        }),
    )]);
    // Wait (with a deadline) until the supervisor listens.
    let deadline = tokio::time::Instant::now() + DEADLINE;
    let mut client = loop {
        match TcpStream::connect(addr).await {
            Ok(stream) => break stream,
            Err(e) if tokio::time::Instant::now() < deadline => {
                let _ = e;
                tokio::task::yield_now().await;
            }
            Err(e) => panic!("never listened: {e}"),
        }
    };
    run.connected().await;
    client.write_all(b"]Q1TP9\n").await.unwrap();
    assert_eq!(run.scan().await, "TP9");
    drop(client);
    run.disconnected().await;
    let mut again = TcpStream::connect(addr).await.unwrap();
    run.connected().await;
    again.write_all(b"TP10\n").await.unwrap();
    assert_eq!(run.scan().await, "TP10");
    run.shutdown().await;
}
