//! Byte streams for development and demos: TCP (connect to a scanner bridge such as
//! `ser2net`, or listen for one client at a time) and standard input.

use std::io::Read;
use std::path::Path;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

use super::{
    Chunk, Connection, DeviceState, ReaderItem, io_open_error, open_error, spawn_detached_reader,
    spawn_reader_task,
};
use crate::clock::Timestamp;
use crate::config::TcpConfig;
use crate::event::{DisconnectReason, OpenProblem, ScannerError};
use crate::hint::NodeKind;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

pub(super) async fn open_tcp(
    config: &TcpConfig,
    state: &mut DeviceState,
) -> Result<Connection, ScannerError> {
    let path = Path::new(&config.addr);
    let (stream, detail) = if config.listen {
        let listener = match state.listener.take() {
            Some(l) => l,
            None => TcpListener::bind(&config.addr)
                .await
                .map_err(|e| io_open_error(NodeKind::Tcp, path, &e))?,
        };
        let accepted = listener.accept().await;
        state.listener = Some(listener);
        let (stream, peer) = accepted.map_err(|e| io_open_error(NodeKind::Tcp, path, &e))?;
        (stream, format!("tcp client {peer} on {}", config.addr))
    } else {
        let stream = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(&config.addr))
            .await
            .map_err(|_| {
                open_error(
                    NodeKind::Tcp,
                    path,
                    OpenProblem::NotFound,
                    "connection timed out".into(),
                )
            })?
            .map_err(|e| {
                let problem = match e.kind() {
                    std::io::ErrorKind::ConnectionRefused => OpenProblem::NotFound,
                    _ => OpenProblem::from_io(&e),
                };
                open_error(NodeKind::Tcp, path, problem, e.to_string())
            })?;
        let detail = match stream.peer_addr() {
            Ok(peer) => format!("tcp connected to {peer}"),
            Err(_) => "tcp connected".to_owned(),
        };
        (stream, detail)
    };
    let _ = stream.set_nodelay(true);
    let (rx, stopper) = spawn_reader_task(|tx| read_stream(stream, tx));
    Ok(Connection {
        rx,
        target: None,
        detail,
        caps_lock: None,
        forward: None,
        stopper,
    })
}

/// Standard input, read on a thread of its own: a read of stdin cannot be interrupted, and a
/// tokio blocking task would hold up the runtime's shutdown until a line arrived.
pub(super) fn open_stdin() -> Result<Connection, ScannerError> {
    let (rx, stopper) = spawn_detached_reader("scanner-stdin".to_owned(), |tx| {
        let mut stdin = std::io::stdin().lock();
        let mut buf = vec![0u8; 4096];
        loop {
            let item = match stdin.read(&mut buf) {
                Ok(0) => Err(DisconnectReason::EndOfFile),
                Ok(n) => Ok(Chunk::Bytes(buf[..n].to_vec(), Timestamp::now())),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => Err(DisconnectReason::from_io(&e)),
            };
            let last = item.is_err();
            if tx.blocking_send(item).is_err() || last {
                return;
            }
        }
    })
    .map_err(|e| {
        open_error(
            NodeKind::Tcp,
            Path::new("stdin"),
            OpenProblem::Io,
            e.to_string(),
        )
    })?;
    Ok(Connection {
        rx,
        target: None,
        detail: "standard input".to_owned(),
        caps_lock: None,
        forward: None,
        stopper,
    })
}

async fn read_stream<R: AsyncRead + Unpin>(mut reader: R, tx: mpsc::Sender<ReaderItem>) {
    let mut buf = vec![0u8; 4096];
    loop {
        let item = match reader.read(&mut buf).await {
            Ok(0) => Err(DisconnectReason::EndOfFile),
            Ok(n) => Ok(Chunk::Bytes(buf[..n].to_vec(), Timestamp::now())),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => Err(DisconnectReason::from_io(&e)),
        };
        let last = item.is_err();
        if tx.send(item).await.is_err() || last {
            return;
        }
    }
}
