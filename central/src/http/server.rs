//! The listener: accepts connections up to [`Limits::max_connections`], speaks HTTP/1.1 on
//! each — over TLS when given a [`TlsAcceptor`] — with hyper's header-read timeout and an
//! idle timeout of our own, and drains on shutdown.
//!
//! Why not `axum::serve`: it sets no header-read timeout (hyper needs a timer for one), no
//! idle timeout and no connection limit, so a client could hold sockets open forever.
//!
//! - When every slot is taken, a new connection takes the slot of the connection that has
//!   been waiting longest between requests (no request in progress: an idle socket, a
//!   slow-header client), which is closed; if every connection is in the middle of a
//!   request, the new one waits for a slot. Sockets held open cannot lock tills out.
//! - An accept error (out of file descriptors) pauses the loop instead of spinning it.
//! - A connection that does not complete its request head within
//!   [`Limits::header_timeout`] — a fresh one, a kept-alive one between requests, a
//!   slow-header client — is closed; so is a TLS handshake that takes as long.
//! - A connection that moves no byte either way for [`Limits::idle_timeout`] is closed.
//! - A request head is at most [`MAX_HEAD_BYTES`].

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::http::Request;
use axum::response::Response;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, Semaphore, watch};
use tokio::time::Instant;
use tokio_rustls::TlsAcceptor;

use super::limits::{Limits, MAX_HEAD_BYTES};

/// How long shutdown waits for requests in progress before it gives up on them.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// File descriptors kept for everything but connections (the database, keys, logs).
const RESERVED_FILES: usize = 64;

/// Serves `router` on `listener` until `shutdown` completes, then drains.
pub(crate) async fn run(
    listener: TcpListener,
    router: Router,
    limits: Limits,
    tls: Option<TlsAcceptor>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let max = connection_budget(limits.max_connections);
    let connections = Arc::new(Semaphore::new(max));
    let table = Arc::new(Table::default());
    let (stop, stopping) = watch::channel(false);
    tokio::pin!(shutdown);
    loop {
        let (stream, _) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let permit = match connections.clone().try_acquire_owned() {
            Ok(permit) => permit,
            Err(_) => {
                table.shed_longest_idle();
                tokio::select! {
                    () = &mut shutdown => break,
                    permit = connections.clone().acquire_owned() => match permit {
                        Ok(permit) => permit,
                        Err(_) => break,
                    },
                }
            }
        };
        let conn = table.insert();
        let (router, tls, stopping, table) =
            (router.clone(), tls.clone(), stopping.clone(), table.clone());
        tokio::spawn(async move {
            connection(stream, router, limits, tls, stopping, conn.clone()).await;
            table.remove(conn.id);
            drop(permit);
        });
    }
    drop(listener);
    let _ = stop.send(true);
    let all = u32::try_from(max).unwrap_or(u32::MAX);
    if tokio::time::timeout(DRAIN_TIMEOUT, connections.acquire_many(all))
        .await
        .is_err()
    {
        tracing::warn!("shutdown: connections still open after the drain timeout");
    }
    Ok(())
}

/// `wanted`, lowered to what the process's open-file limit leaves for connections.
fn connection_budget(wanted: usize) -> usize {
    let wanted = wanted.min(Semaphore::MAX_PERMITS);
    let Some(files) = open_file_limit() else {
        return wanted.max(1);
    };
    let budget = files.saturating_sub(RESERVED_FILES).max(1);
    if budget < wanted {
        tracing::warn!(
            wanted,
            open_files = files,
            serving = budget,
            "the open-file limit (LimitNOFILE, ulimit -n) allows fewer connections"
        );
    }
    wanted.min(budget).max(1)
}

/// The soft limit on open files, from `/proc/self/limits` (Linux).
fn open_file_limit() -> Option<usize> {
    let text = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = text.lines().find(|l| l.starts_with("Max open files"))?;
    line.trim_start_matches("Max open files")
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

async fn connection(
    stream: TcpStream,
    router: Router,
    limits: Limits,
    tls: Option<TlsAcceptor>,
    stopping: watch::Receiver<bool>,
    conn: Arc<Conn>,
) {
    let _ = stream.set_nodelay(true);
    let stream = Watched {
        inner: stream,
        conn: conn.clone(),
    };
    let served = async {
        match tls {
            None => http(TokioIo::new(stream), router, limits, conn.clone(), stopping).await,
            Some(acceptor) => {
                match tokio::time::timeout(limits.header_timeout, acceptor.accept(stream)).await {
                    Ok(Ok(stream)) => {
                        http(TokioIo::new(stream), router, limits, conn.clone(), stopping).await;
                    }
                    Ok(Err(e)) => tracing::debug!(error = %e, "TLS handshake failed"),
                    Err(_) => tracing::debug!("TLS handshake timed out"),
                }
            }
        }
    };
    tokio::select! {
        () = served => {}
        () = conn.shed.notified() => tracing::debug!("idle connection closed for a new one"),
    }
}

async fn http<I>(
    io: I,
    router: Router,
    limits: Limits,
    conn: Arc<Conn>,
    mut stopping: watch::Receiver<bool>,
) where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .max_buf_size(MAX_HEAD_BYTES)
        .keep_alive(true);
    let service = Tracked {
        router,
        conn: conn.clone(),
    };
    let http = builder.serve_connection(io, service);
    tokio::pin!(http);
    let mut draining = *stopping.borrow();
    if draining {
        http.as_mut().graceful_shutdown();
    }
    let activity = &conn.activity;
    loop {
        let idle_at = activity.last() + limits.idle_timeout;
        tokio::select! {
            result = http.as_mut() => {
                if let Err(e) = result {
                    tracing::debug!(error = %e, "connection ended");
                }
                return;
            }
            () = tokio::time::sleep_until(idle_at) => {
                if activity.last() + limits.idle_timeout <= Instant::now() {
                    tracing::debug!("connection idle: closed");
                    return;
                }
            }
            changed = stopping.changed(), if !draining => {
                draining = true;
                if changed.is_ok() {
                    http.as_mut().graceful_shutdown();
                }
            }
        }
    }
}

/// The open connections, for shedding.
#[derive(Debug, Default)]
struct Table {
    next: AtomicU64,
    conns: Mutex<HashMap<u64, Arc<Conn>>>,
}

impl Table {
    fn insert(&self) -> Arc<Conn> {
        let conn = Arc::new(Conn {
            id: self.next.fetch_add(1, Ordering::Relaxed),
            activity: Activity::new(),
            requests: AtomicUsize::new(0),
            shed: Notify::new(),
        });
        if let Ok(mut conns) = self.conns.lock() {
            conns.insert(conn.id, conn.clone());
        }
        conn
    }

    fn remove(&self, id: u64) {
        if let Ok(mut conns) = self.conns.lock() {
            conns.remove(&id);
        }
    }

    /// Closes the connection that has waited longest with no request in progress.
    fn shed_longest_idle(&self) {
        let Ok(conns) = self.conns.lock() else {
            return;
        };
        let idlest = conns
            .values()
            .filter(|c| c.requests.load(Ordering::Relaxed) == 0)
            .min_by_key(|c| c.activity.last());
        if let Some(conn) = idlest {
            conn.shed.notify_one();
        }
    }
}

/// One connection: its activity, its requests in progress, and the signal that closes it.
#[derive(Debug)]
struct Conn {
    id: u64,
    activity: Activity,
    requests: AtomicUsize,
    shed: Notify,
}

/// The router, counting the connection's requests in progress.
#[derive(Debug, Clone)]
struct Tracked {
    router: Router,
    conn: Arc<Conn>,
}

impl hyper::service::Service<Request<Incoming>> for Tracked {
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn call(&self, request: Request<Incoming>) -> Self::Future {
        let in_progress = InProgress::new(self.conn.clone());
        let mut router = self.router.clone();
        Box::pin(async move {
            let response = tower_service::Service::call(&mut router, request).await;
            drop(in_progress);
            response
        })
    }
}

/// A request in progress on a connection, counted while it lives.
struct InProgress(Arc<Conn>);

impl InProgress {
    fn new(conn: Arc<Conn>) -> InProgress {
        conn.requests.fetch_add(1, Ordering::Relaxed);
        InProgress(conn)
    }
}

impl Drop for InProgress {
    fn drop(&mut self) {
        self.0.requests.fetch_sub(1, Ordering::Relaxed);
    }
}

/// When a connection last moved a byte.
#[derive(Debug)]
struct Activity {
    start: Instant,
    millis: AtomicU64,
}

impl Activity {
    fn new() -> Activity {
        Activity {
            start: Instant::now(),
            millis: AtomicU64::new(0),
        }
    }

    fn touch(&self) {
        let millis = u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.millis.store(millis, Ordering::Relaxed);
    }

    fn last(&self) -> Instant {
        self.start + Duration::from_millis(self.millis.load(Ordering::Relaxed))
    }
}

/// A stream that records its connection's activity.
#[derive(Debug)]
struct Watched<S> {
    inner: S,
    conn: Arc<Conn>,
}

impl<S: AsyncRead + Unpin> AsyncRead for Watched<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let poll = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(poll, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.conn.activity.touch();
        }
        poll
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Watched<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let poll = Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(poll, Poll::Ready(Ok(n)) if n > 0) {
            self.conn.activity.touch();
        }
        poll
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let poll = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(poll, Poll::Ready(Ok(n)) if n > 0) {
            self.conn.activity.touch();
        }
        poll
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connections_fit_in_the_open_file_limit() {
        let files = open_file_limit().unwrap();
        assert!(files > RESERVED_FILES);
        assert_eq!(connection_budget(usize::MAX), files - RESERVED_FILES);
        assert_eq!(connection_budget(10), 10);
        assert_eq!(connection_budget(0), 1);
    }
}
