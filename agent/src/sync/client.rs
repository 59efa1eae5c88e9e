//! The till's HTTP client to central: every request is signed with the till key (method,
//! path and query, body hash, timestamp, nonce — `tillpass_protocol::sync::request`), and
//! every answer's signed server time is checked against the trust list and fed to the
//! clock.
//!
//! Central's URL must be `https://` — verified against the system's roots plus an optional
//! CA file ([`super::tls`]) — or `http://` to this machine only
//! (`tillpass_protocol::sync::check_central_url`).

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use ed25519_dalek::SigningKey;
use tillpass_protocol::sync::{
    HEADER_SERVER_TIME, RequestNonce, RequestParts, SignedHeaders, TillId, check_central_url,
    is_https,
};
use tillpass_protocol::trust::TrustStore;

use super::SyncError;
use crate::clock::Clock;

/// How long one exchange with central may take.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// The largest answer read from central: a catalog envelope's bound plus room.
pub const MAX_ANSWER_BYTES: usize = 5 * 1024 * 1024;

/// Central's answer to one request.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    /// The `ETag`, if any.
    pub etag: Option<String>,
    pub body: Vec<u8>,
    /// The signed server time, when it verified.
    pub server_time: Option<u64>,
    /// The `Content-Type`, if any.
    pub content_type: Option<String>,
    /// The nonce the request was signed with (a signed answer may be bound to it).
    pub nonce: RequestNonce,
    /// How long central asked the till to wait, on a `429` or `503` with `Retry-After`.
    pub retry_after: Option<Duration>,
}

impl Answer {
    /// Whether the status is 2xx.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The error for an unexpected status, with the start of the body (and central's
    /// `Retry-After`, on a `429` or `503`).
    pub fn error(&self) -> SyncError {
        SyncError::Status {
            status: self.status,
            retry_after: self.retry_after,
            detail: String::from_utf8_lossy(&self.body)
                .chars()
                .take(300)
                .collect(),
        }
    }

    /// The JSON body, or an error naming what could not be read.
    pub fn json<T: serde::de::DeserializeOwned>(&self, what: &str) -> Result<T, SyncError> {
        serde_json::from_slice(&self.body).map_err(|e| SyncError::Refused(format!("{what}: {e}")))
    }
}

/// A client for one till and one central (one node, or several nodes of it tried in
/// turn: [`CentralClient::with_fallbacks`]).
#[derive(Debug)]
pub struct CentralClient {
    http: reqwest::Client,
    /// Central's nodes: the enrolled URL first, then `[central] fallback_urls`.
    bases: Vec<String>,
    /// The node requests go to, until it cannot be reached.
    current: AtomicUsize,
    till: TillId,
    key: SigningKey,
    clock: Arc<Clock>,
    trust: RwLock<Option<TrustStore>>,
}

impl CentralClient {
    /// A client for `till` to `base` (central's URL), signing with `key`; server times are
    /// checked against `trust` (replaced with [`CentralClient::set_trust`] on rotation).
    /// HTTPS trusts the system's roots and those of `ca_file`. Refuses a plain `http://`
    /// URL to another machine, and roots that cannot be loaded.
    pub fn new(
        base: &str,
        till: TillId,
        key: SigningKey,
        clock: Arc<Clock>,
        trust: Option<TrustStore>,
        ca_file: Option<&Path>,
    ) -> Result<CentralClient, SyncError> {
        check_central_url(base)?;
        let _ = rustls::crypto::ring::default_provider().install_default();
        // No redirects: a redirect could take signed batches (whose acknowledgements are
        // not signed) to another host, or from https to plain http.
        let mut builder = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .connect_timeout(Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::none());
        if is_https(base) {
            builder = builder.tls_backend_preconfigured(super::tls::client_config(ca_file)?);
        }
        let http = builder
            .build()
            .map_err(|e| SyncError::Internal(e.to_string()))?;
        Ok(CentralClient {
            http,
            bases: vec![base.trim_end_matches('/').to_owned()],
            current: AtomicUsize::new(0),
            till,
            key,
            clock,
            trust: RwLock::new(trust),
        })
    }

    /// Adds other nodes of the same central (`[central] fallback_urls`): a request that
    /// cannot reach the node in use goes to the next, signed afresh, and the client stays
    /// with the node that answered. Only a failed exchange moves on; an answer, even `503`,
    /// is the node's (its `Retry-After` is honoured). Every URL is checked as the first
    /// was, and must use its scheme (one TLS configuration serves them all).
    pub fn with_fallbacks(mut self, urls: &[String]) -> Result<CentralClient, SyncError> {
        let https = self.bases.first().is_some_and(|b| is_https(b));
        for url in urls {
            check_central_url(url)?;
            if is_https(url) != https {
                return Err(SyncError::Refused(format!(
                    "central.fallback_urls: {url} does not use central.url's scheme"
                )));
            }
            self.bases.push(url.trim_end_matches('/').to_owned());
        }
        Ok(self)
    }

    /// The node requests go to now.
    pub fn current_base(&self) -> &str {
        let at = self.current.load(Ordering::Relaxed) % self.bases.len().max(1);
        self.bases.get(at).map_or("", String::as_str)
    }

    /// The till this client signs for.
    pub fn till(&self) -> &TillId {
        &self.till
    }

    /// The clock.
    pub fn clock(&self) -> &Arc<Clock> {
        &self.clock
    }

    /// Runs `f` with the trust list in force (the one server times are checked against).
    pub fn with_trust<R>(&self, f: impl FnOnce(Option<&TrustStore>) -> R) -> R {
        f(self
            .trust
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref())
    }

    /// Replaces the trust list server times are checked against.
    pub fn set_trust(&self, trust: TrustStore) {
        *self.trust.write().unwrap_or_else(|p| p.into_inner()) = Some(trust);
    }

    /// Sends a signed request. `path_and_query` is signed exactly as sent. Any status is
    /// an [`Answer`]; only a failed exchange is an error.
    pub async fn send(
        &self,
        method: &str,
        path_and_query: &str,
        body: Vec<u8>,
        content_type: Option<&str>,
        if_none_match: Option<&str>,
    ) -> Result<Answer, SyncError> {
        self.exchange(
            method,
            path_and_query,
            body,
            content_type,
            if_none_match,
            None,
        )
        .await
    }

    /// Sends a signed request, with `Accept: accept` when given, to the node in use, or
    /// to the next ones in turn while a node cannot be reached.
    async fn exchange(
        &self,
        method: &str,
        path_and_query: &str,
        body: Vec<u8>,
        content_type: Option<&str>,
        if_none_match: Option<&str>,
        accept: Option<&str>,
    ) -> Result<Answer, SyncError> {
        let nodes = self.bases.len();
        let start = self.current.load(Ordering::Relaxed) % nodes.max(1);
        let mut failed = None;
        for step in 0..nodes {
            let at = (start + step) % nodes;
            let base = &self.bases[at];
            let sent = self
                .exchange_at(
                    base,
                    method,
                    path_and_query,
                    body.clone(),
                    content_type,
                    if_none_match,
                    accept,
                )
                .await;
            match sent {
                Err(SyncError::Network(e)) if nodes > 1 => {
                    tracing::warn!(central = %base, error = %e, "central node unreachable; trying the next");
                    failed = Some(SyncError::Network(e));
                }
                Ok(answer) => {
                    if at != start {
                        self.current.store(at, Ordering::Relaxed);
                        tracing::info!(central = %base, "now talking to this central node");
                    }
                    return Ok(answer);
                }
                Err(e) => return Err(e),
            }
        }
        Err(failed.unwrap_or_else(|| SyncError::Internal("no central URL".into())))
    }

    /// One signed exchange with the node at `base`.
    #[allow(clippy::too_many_arguments)]
    async fn exchange_at(
        &self,
        base: &str,
        method: &str,
        path_and_query: &str,
        body: Vec<u8>,
        content_type: Option<&str>,
        if_none_match: Option<&str>,
        accept: Option<&str>,
    ) -> Result<Answer, SyncError> {
        let mut nonce = [0u8; 16];
        getrandom::fill(&mut nonce).map_err(|e| SyncError::Internal(e.to_string()))?;
        let nonce = RequestNonce(nonce);
        let signed = SignedHeaders::sign(
            &RequestParts {
                method,
                path_and_query,
                body: &body,
            },
            self.till.clone(),
            i64::try_from(self.clock.now()).unwrap_or(i64::MAX),
            nonce,
            &self.key,
        )
        .map_err(|e| SyncError::Internal(e.to_string()))?;
        let method = reqwest::Method::from_bytes(method.as_bytes())
            .map_err(|e| SyncError::Internal(e.to_string()))?;
        let mut request = self.http.request(method, format!("{base}{path_and_query}"));
        for (name, value) in signed.to_headers() {
            request = request.header(name, value);
        }
        if let Some(ct) = content_type {
            request = request.header(reqwest::header::CONTENT_TYPE, ct);
        }
        if let Some(tag) = if_none_match {
            request = request.header(reqwest::header::IF_NONE_MATCH, tag);
        }
        if let Some(accept) = accept {
            request = request.header(reqwest::header::ACCEPT, accept);
        }
        if !body.is_empty() {
            request = request.body(body);
        }
        let mut answer = request
            .send()
            .await
            .map_err(|e| SyncError::Network(error_chain(&e)))?;
        let status = answer.status().as_u16();
        let header = |name: &str| {
            answer
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let etag = header(reqwest::header::ETAG.as_str());
        let answer_type = header(reqwest::header::CONTENT_TYPE.as_str());
        let time_header = header(HEADER_SERVER_TIME);
        let retry_after = if matches!(status, 429 | 503) {
            header(reqwest::header::RETRY_AFTER.as_str())
                .as_deref()
                .and_then(super::backoff::parse_retry_after)
        } else {
            None
        };
        let mut bytes = Vec::new();
        while let Some(chunk) = answer
            .chunk()
            .await
            .map_err(|e| SyncError::Network(error_chain(&e)))?
        {
            if bytes.len() + chunk.len() > MAX_ANSWER_BYTES {
                return Err(SyncError::Refused(format!(
                    "answer larger than {MAX_ANSWER_BYTES} bytes"
                )));
            }
            bytes.extend_from_slice(&chunk);
        }
        let server_time = {
            let trust = self.trust.read().unwrap_or_else(|p| p.into_inner());
            super::time::observe(&self.clock, time_header.as_deref(), trust.as_ref(), &nonce)
        };
        Ok(Answer {
            status,
            etag,
            body: bytes,
            server_time,
            content_type: answer_type,
            nonce,
            retry_after,
        })
    }

    /// A signed `GET`.
    pub async fn get(
        &self,
        path_and_query: &str,
        if_none_match: Option<&str>,
    ) -> Result<Answer, SyncError> {
        self.send("GET", path_and_query, Vec::new(), None, if_none_match)
            .await
    }

    /// A signed `GET` asking for the media type `accept`.
    pub async fn get_accepting(
        &self,
        path_and_query: &str,
        accept: &str,
    ) -> Result<Answer, SyncError> {
        self.exchange("GET", path_and_query, Vec::new(), None, None, Some(accept))
            .await
    }
}

/// An error and its causes on one line (reqwest hides the useful part in the sources).
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}
