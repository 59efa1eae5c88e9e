//! The agent's server loop: every connection is served by hyper's HTTP/1 server with a
//! timer, so a client that does not send a whole request head within
//! [`ServeSettings::header_timeout`] — a slow-header client, or an idle connection waiting
//! for its next request — is dropped; and at most [`ServeSettings::max_connections`] are
//! open at once.
//!
//! At the limit, a new connection takes the place of the one idle the longest (no request
//! in flight, no answer still streaming — one that has never sent a request goes first);
//! only when every connection is busy is the new one closed. Idle sockets, however many,
//! therefore never keep the POS out.
//!
//! Before the router sees a request, its `Host` must be allowed ([`host_allowed`]): an IP
//! address, `localhost` or a name of [`ServeSettings::allowed_hosts`] — a page of another
//! site whose name was rebound to 127.0.0.1 gets `421` with code `host_not_allowed`. The
//! client's address goes to the handlers as `ConnectInfo<SocketAddr>`.

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tillpass_protocol::problem::{ErrorCode, Problem};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::ConnectInfo;
use axum::http::{Request, Response, StatusCode, header};
use hyper::body::{Frame, Incoming, SizeHint};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tower::ServiceExt;

/// How the listener serves.
#[derive(Debug, Clone)]
pub struct ServeSettings {
    /// A request head must arrive within this, counted from the connection's start or the
    /// end of its previous answer (so it is also the idle timeout).
    pub header_timeout: Duration,
    /// Connections open at once at most.
    pub max_connections: usize,
    /// Host names allowed besides IP addresses and `localhost`, in lower case.
    pub allowed_hosts: Arc<[String]>,
}

impl Default for ServeSettings {
    fn default() -> ServeSettings {
        ServeSettings {
            header_timeout: Duration::from_secs(10),
            max_connections: 1000,
            allowed_hosts: Arc::from(Vec::new()),
        }
    }
}

/// Whether a request's `Host` (or its absolute URI's authority) names this agent: an IP
/// address, `localhost` or a `*.localhost` name, or one of `allowed` — any port.
pub fn host_allowed(host: &str, allowed: &[String]) -> bool {
    let name = match host.strip_prefix('[') {
        // [v6]:port
        Some(rest) => match rest.split_once(']') {
            Some((v6, _)) => return v6.parse::<std::net::Ipv6Addr>().is_ok(),
            None => return false,
        },
        None => host.rsplit_once(':').map_or(host, |(name, port)| {
            if port.bytes().all(|b| b.is_ascii_digit()) {
                name
            } else {
                host
            }
        }),
    };
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    if name.is_empty() {
        return false;
    }
    name.parse::<std::net::IpAddr>().is_ok()
        || name == "localhost"
        || name.ends_with(".localhost")
        || allowed.iter().any(|a| a.eq_ignore_ascii_case(&name))
}

fn host_of<B>(req: &Request<B>) -> Option<&str> {
    req.headers()
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .or_else(|| req.uri().authority().map(|a| a.as_str()))
}

/// One open connection as the limit sees it.
#[derive(Debug)]
struct Slot {
    /// Requests in flight, answers still streaming.
    busy: usize,
    /// Whether it ever sent a request.
    served: bool,
    /// When it last became idle (or opened).
    idle_since: Instant,
    /// Told when it must close to make room.
    evict: Arc<Notify>,
}

/// The open connections.
#[derive(Debug)]
struct Tracker {
    max: usize,
    next: std::sync::atomic::AtomicU64,
    slots: Mutex<HashMap<u64, Slot>>,
}

impl Tracker {
    fn slots(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Slot>> {
        self.slots.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Room for a new connection: its id and its eviction signal, or `None` when every
    /// connection is busy.
    fn admit(&self) -> Option<(u64, Arc<Notify>)> {
        let mut slots = self.slots();
        if slots.len() >= self.max {
            let victim = slots
                .iter()
                .filter(|(_, s)| s.busy == 0)
                .min_by_key(|(_, s)| (s.served, s.idle_since))
                .map(|(id, _)| *id)?;
            if let Some(slot) = slots.remove(&victim) {
                slot.evict.notify_one();
            }
        }
        let id = self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let evict = Arc::new(Notify::new());
        slots.insert(
            id,
            Slot {
                busy: 0,
                served: false,
                idle_since: Instant::now(),
                evict: evict.clone(),
            },
        );
        Some((id, evict))
    }

    fn begin(self: &Arc<Self>, id: u64) -> Busy {
        if let Some(slot) = self.slots().get_mut(&id) {
            slot.busy = slot.busy.saturating_add(1);
            slot.served = true;
        }
        Busy {
            tracker: self.clone(),
            id,
        }
    }

    fn close(&self, id: u64) {
        self.slots().remove(&id);
    }
}

/// A request in flight; its answer's body carries it until the body ends.
#[derive(Debug)]
struct Busy {
    tracker: Arc<Tracker>,
    id: u64,
}

impl Drop for Busy {
    fn drop(&mut self) {
        if let Some(slot) = self.tracker.slots().get_mut(&self.id) {
            slot.busy = slot.busy.saturating_sub(1);
            slot.idle_since = Instant::now();
        }
    }
}

/// An answer's body that keeps its connection busy until it is sent or dropped.
struct Tracked {
    inner: Body,
    _busy: Busy,
}

impl http_body::Body for Tracked {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.get_mut().inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

fn misdirected() -> Response<Body> {
    let body = Problem::new(
        ErrorCode::HostNotAllowed,
        "this agent answers only to its own names: an IP address, localhost, or a name of \
         api.allowed_hosts",
    );
    let mut response = Response::new(Body::from(body.to_json()));
    *response.status_mut() = StatusCode::MISDIRECTED_REQUEST;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static(tillpass_protocol::problem::MEDIA_TYPE),
    );
    response
}

/// Serves `router` on an already-bound listener with [`ServeSettings`] until `shutdown`
/// completes; then stops accepting and lets open connections finish.
pub async fn serve_with(
    listener: TcpListener,
    router: Router,
    settings: ServeSettings,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let tracker = Arc::new(Tracker {
        max: settings.max_connections.max(1),
        next: std::sync::atomic::AtomicU64::new(0),
        slots: Mutex::new(HashMap::new()),
    });
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut connections = tokio::task::JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        // Out of descriptors or memory: give closing connections a moment.
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let Some((id, evict)) = tracker.admit() else {
                    tracing::warn!("every connection is busy: a new one is closed");
                    continue;
                };
                let _ = stream.set_nodelay(true);
                connections.spawn(connection(
                    stream,
                    peer,
                    router.clone(),
                    settings.clone(),
                    tracker.clone(),
                    id,
                    evict,
                    stop_rx.clone(),
                ));
            }
        }
    }
    let _ = stop_tx.send(true);
    while connections.join_next().await.is_some() {}
    Ok(())
}

#[allow(clippy::too_many_arguments)] // one connection's parts, passed once
async fn connection(
    stream: tokio::net::TcpStream,
    peer: SocketAddr,
    router: Router,
    settings: ServeSettings,
    tracker: Arc<Tracker>,
    id: u64,
    evict: Arc<Notify>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let allowed = settings.allowed_hosts.clone();
    let requests = tracker.clone();
    let service = hyper::service::service_fn(move |request: Request<Incoming>| {
        let busy = requests.begin(id);
        let router = router.clone();
        let allowed = allowed.clone();
        async move {
            let response = if host_of(&request).is_some_and(|h| host_allowed(h, &allowed)) {
                let mut request = request.map(Body::new);
                request.extensions_mut().insert(ConnectInfo(peer));
                match router.oneshot(request).await {
                    Ok(r) => r,
                    Err(never) => match never {},
                }
            } else {
                misdirected()
            };
            Ok::<_, std::convert::Infallible>(response.map(|inner| Tracked { inner, _busy: busy }))
        }
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(settings.header_timeout)
        .keep_alive(true);
    let conn = builder.serve_connection(TokioIo::new(stream), service);
    tokio::pin!(conn);
    tokio::select! {
        served = conn.as_mut() => {
            if let Err(e) = served {
                tracing::debug!(error = %e, "connection ended");
            }
        }
        () = evict.notified() => tracing::debug!("idle connection closed to make room"),
        _ = stop.changed() => {
            conn.as_mut().graceful_shutdown();
            let _ = conn.await;
        }
    }
    tracker.close(id);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_are_ip_addresses_localhost_or_configured_names() {
        let allowed = vec!["till-3.shop.lan".to_owned()];
        for ok in [
            "127.0.0.1:7100",
            "127.0.0.1",
            "[::1]:7100",
            "localhost:7100",
            "LOCALHOST",
            "app.localhost",
            "192.168.1.20:7100",
            "till-3.shop.lan:7100",
            "Till-3.Shop.Lan.",
        ] {
            assert!(host_allowed(ok, &allowed), "{ok}");
        }
        for bad in [
            "evil.example:7100",
            "evil.example",
            "x",
            "",
            ":7100",
            "localhost.evil.example",
            "127.0.0.1.evil.example",
            "[::1",
            "till-3.shop.lan.evil.example",
        ] {
            assert!(!host_allowed(bad, &allowed), "{bad}");
        }
    }

    #[test]
    fn at_the_limit_the_longest_idle_connection_makes_room() {
        let tracker = Arc::new(Tracker {
            max: 2,
            next: std::sync::atomic::AtomicU64::new(0),
            slots: Mutex::new(HashMap::new()),
        });
        let (a, _) = tracker.admit().unwrap();
        let (b, b_evict) = tracker.admit().unwrap();
        let busy_a = tracker.begin(a);
        // b never sent a request: it goes.
        let (c, _) = tracker.admit().unwrap();
        assert!(!tracker.slots().contains_key(&b));
        assert!(
            futures_util::FutureExt::now_or_never(b_evict.notified()).is_some(),
            "b was told"
        );
        let busy_c = tracker.begin(c);
        // Both busy: no room.
        assert!(tracker.admit().is_none());
        drop(busy_a);
        assert!(tracker.admit().is_some(), "a, idle again, made room");
        drop(busy_c);
    }
}
