//! One simulated till: enrolled with its own key, speaking the protocol as the agent does.
//!
//! A sync round is what the agent's `Syncer::round` asks: one `POST /v1/sync/round` with
//! every stream's cursor and the envelopes' ETags (the answer's streams opened with the
//! trust list and checked against the request they answer), again at once while central
//! says `more`. With `--legacy-sync`, the per-stream round of earlier agents: the trust
//! list with `If-None-Match`, every delta stream from its cursor to its end (signed
//! pages), then the catalog with `If-None-Match`. Uploads are journal batches,
//! acknowledged event by event.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, anyhow, bail};
use ed25519_dalek::SigningKey;
use reqwest::StatusCode;
use reqwest::header::{ACCEPT, CONTENT_TYPE, ETAG, IF_NONE_MATCH};
use serde::{Deserialize, Serialize};
use tillpass_protocol::sync::{
    AckOutcome, BatchAck, Cursor, DeltaKind, DeltaPage, DeltaQuery, EnrolRequest, EnrolResponse,
    EnvelopeVersions, JournalEvent, MAX_PAGE_ITEMS, PageRequest, ROUND_PAGE_ITEMS, ROUND_PROTOCOLS,
    RequestNonce, RequestParts, RoundAnswer, RoundBinding, RoundRequest, RoundStreams,
    SIGNED_PAGE_MEDIA_TYPE, SignedHeaders, StoreId, TillId, UploadBatch, VERSION, open_page,
    open_round, paths,
};
use tillpass_protocol::trust::{RootKey, TrustStore};
use tokio::sync::Mutex;

use crate::sales::{At, SoldLine};
use crate::stats::{Failure, Kind, Stats};

/// What a run keeps of an enrolled till (the `--state` file): enough to sign as it again.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Enrolled {
    /// The till's id.
    pub till: TillId,
    /// Its store.
    pub store: StoreId,
    /// The till key's secret, hex.
    pub secret: String,
    /// Central's root public key, hex.
    pub root: String,
    /// The journal sequence the till has reached.
    #[serde(default)]
    pub seq: u64,
}

/// A till in the middle of a run. Its sync rounds and its uploads run concurrently, as
/// the agent's syncer and relay do.
pub struct SimTill {
    till: TillId,
    store: StoreId,
    secret: String,
    root_hex: String,
    key: SigningKey,
    root: RootKey,
    seq: AtomicU64,
    first_seq: u64,
    sync: Mutex<SyncState>,
    sold: std::sync::Mutex<Vec<SoldLine>>,
}

/// What a till keeps between sync rounds.
struct SyncState {
    trust: Option<TrustStore>,
    trust_etag: Option<String>,
    catalog_etag: Option<String>,
    cursors: Vec<(DeltaKind, Cursor)>,
}

/// An answer's status and body.
struct Answer {
    status: StatusCode,
    etag: Option<String>,
    body: Vec<u8>,
}

impl SimTill {
    /// Enrols a new till with a one-time `code`, with a fresh key.
    pub async fn enrol(http: &reqwest::Client, central: &str, code: &str) -> anyhow::Result<Self> {
        let mut secret = [0u8; 32];
        getrandom::fill(&mut secret).map_err(|e| anyhow!("random source: {e}"))?;
        let key = SigningKey::from_bytes(&secret);
        let request = EnrolRequest::new(
            code,
            key.verifying_key().to_bytes(),
            env!("CARGO_PKG_VERSION"),
            "tillpass-loadgen",
        );
        let answer = http
            .post(format!("{central}{}", paths::ENROL))
            .json(&request)
            .send()
            .await
            .context("enrol")?;
        let status = answer.status();
        let body = answer.bytes().await.context("enrol answer")?;
        if !status.is_success() {
            bail!("enrol: {status}: {}", String::from_utf8_lossy(&body));
        }
        let enrolled: EnrolResponse = serde_json::from_slice(&body).context("enrol answer")?;
        let till = SimTill::resume(Enrolled {
            till: enrolled.till,
            store: enrolled.store,
            secret: hex::encode(secret),
            root: hex::encode(enrolled.root_public_key),
            seq: 0,
        })?;
        if !enrolled.trust_list.is_empty() {
            let (trust, _) = TrustStore::open(&enrolled.trust_list, &till.root, now(), 0)
                .map_err(|e| anyhow!("trust list at enrolment: {e}"))?;
            till.sync.lock().await.trust = Some(trust);
        }
        Ok(till)
    }

    /// A till enrolled by an earlier run.
    pub fn resume(enrolled: Enrolled) -> anyhow::Result<Self> {
        let secret: [u8; 32] = hex::decode(&enrolled.secret)
            .ok()
            .and_then(|b| b.try_into().ok())
            .context("till secret: 64 hex digits")?;
        let root: [u8; 32] = hex::decode(&enrolled.root)
            .ok()
            .and_then(|b| b.try_into().ok())
            .context("root key: 64 hex digits")?;
        Ok(SimTill {
            key: SigningKey::from_bytes(&secret),
            root: RootKey::new(&root).map_err(|e| anyhow!("root key: {e}"))?,
            till: enrolled.till,
            store: enrolled.store,
            secret: enrolled.secret,
            root_hex: enrolled.root,
            seq: AtomicU64::new(enrolled.seq),
            first_seq: enrolled.seq,
            sync: Mutex::new(SyncState {
                trust: None,
                trust_etag: None,
                catalog_etag: None,
                cursors: DeltaKind::ALL
                    .iter()
                    .map(|k| (*k, Cursor::start()))
                    .collect(),
            }),
            sold: std::sync::Mutex::new(Vec::new()),
        })
    }

    /// What a later run needs to sign as this till again.
    pub fn enrolled(&self) -> Enrolled {
        Enrolled {
            till: self.till.clone(),
            store: self.store.clone(),
            secret: self.secret.clone(),
            root: self.root_hex.clone(),
            seq: self.seq.load(Ordering::SeqCst),
        }
    }

    /// The events this till sent since it was made or resumed, for the audit.
    pub fn sent(&self) -> crate::audit::Sent {
        crate::audit::Sent {
            till: self.till.as_str().to_owned(),
            after: self.first_seq,
            upto: self.seq.load(Ordering::SeqCst),
        }
    }

    /// Its store's id.
    pub fn store(&self) -> &StoreId {
        &self.store
    }

    /// Starts the delta streams and the catalog where `other` stands: a till already in
    /// step with central, as a chain's tills are, instead of one pulling every change ever.
    pub async fn follow(&self, other: &SimTill) {
        let (cursors, catalog_etag) = {
            let other = other.sync.lock().await;
            (other.cursors.clone(), other.catalog_etag.clone())
        };
        let mut state = self.sync.lock().await;
        state.cursors = cursors;
        state.catalog_etag = catalog_etag;
    }

    /// Where this till's events happen, now.
    pub fn at(&self) -> At {
        At {
            till: self.till.clone(),
            store: self.store.clone(),
            now: i64::try_from(now()).unwrap_or(i64::MAX),
        }
    }

    /// The next journal sequence number.
    pub fn next_seq(&self) -> u64 {
        self.seq.fetch_add(1, Ordering::SeqCst) + 1
    }

    /// Remembers a sale's line for a later return (the most recent few).
    pub fn sold(&self, line: SoldLine) {
        let mut sold = self.sold.lock().unwrap_or_else(|e| e.into_inner());
        if sold.len() >= 16 {
            sold.remove(0);
        }
        sold.push(line);
    }

    /// A sold line to return, if the till has one (each is returned at most once).
    pub fn take_sold(&self) -> Option<SoldLine> {
        self.sold.lock().unwrap_or_else(|e| e.into_inner()).pop()
    }

    /// One sync round — in one request, or per stream when `legacy`; every request is
    /// recorded as `sync_request`, the round as `sync_round`. Returns the bytes received.
    pub async fn sync_round(
        &self,
        http: &reqwest::Client,
        central: &str,
        stats: &Stats,
        legacy: bool,
    ) -> Result<usize, Failure> {
        let started = Instant::now();
        let outcome = if legacy {
            self.round(http, central, stats).await
        } else {
            self.one_request_round(http, central, stats).await
        };
        match &outcome {
            Ok(bytes) => stats.ok(Kind::SyncRound, started.elapsed(), *bytes),
            Err(failure) => stats.failed(Kind::SyncRound, failure.clone()),
        }
        outcome
    }

    /// The round in one request (`POST /v1/sync/round`), repeated while central has more.
    async fn one_request_round(
        &self,
        http: &reqwest::Client,
        central: &str,
        stats: &Stats,
    ) -> Result<usize, Failure> {
        let mut state = self.sync.lock().await;
        let state = &mut *state;
        let mut bytes = 0;
        loop {
            let request = RoundRequest {
                v: VERSION,
                protocols: ROUND_PROTOCOLS.to_vec(),
                cursors: state.cursors.iter().cloned().collect(),
                limit: Some(ROUND_PAGE_ITEMS),
                envelopes: EnvelopeVersions {
                    trust_list: state.trust_etag.clone(),
                    catalog: state.catalog_etag.clone(),
                },
            };
            let body = serde_json::to_vec(&request).map_err(|_| Failure::Answer)?;
            let nonce = fresh_nonce();
            let started = Instant::now();
            let sent = self
                .send(
                    http,
                    central,
                    ("POST", paths::ROUND),
                    body,
                    None,
                    None,
                    nonce,
                )
                .await;
            let answer = match sent {
                Ok(a) if a.status.is_success() => a,
                Ok(a) => return fail(stats, Kind::SyncRequest, Failure::Status(a.status.as_u16())),
                Err(f) => return fail(stats, Kind::SyncRequest, f),
            };
            stats.ok(Kind::SyncRequest, started.elapsed(), answer.body.len());
            bytes += answer.body.len();
            let answer: RoundAnswer =
                serde_json::from_slice(&answer.body).map_err(|_| Failure::Answer)?;
            if let Some(list) = answer.trust_list {
                let current = state.trust.as_ref().map_or(0, TrustStore::sequence);
                match TrustStore::open(&list.envelope, &self.root, now(), current) {
                    Ok((trust, _)) => state.trust = Some(trust),
                    Err(_) if current > 0 => {}
                    Err(_) => return Err(Failure::Answer),
                }
                state.trust_etag = Some(list.etag);
            }
            let trust = state.trust.as_ref().ok_or(Failure::Answer)?;
            let binding = RoundBinding {
                till: self.till.clone(),
                nonce,
                protocol: answer.protocol,
            };
            let json =
                open_round(&answer.sealed, &binding, trust, now()).map_err(|_| Failure::Answer)?;
            let streams: RoundStreams =
                serde_json::from_slice(&json).map_err(|_| Failure::Answer)?;
            for (kind, page) in streams.streams {
                let page: DeltaPage<serde_json::Value> =
                    serde_json::from_value(page).map_err(|_| Failure::Answer)?;
                if let Some(entry) = state.cursors.iter_mut().find(|(k, _)| *k == kind) {
                    entry.1 = page.next_cursor;
                }
            }
            if let Some(catalog) = answer.catalog {
                state.catalog_etag = Some(catalog.etag);
            }
            if !streams.more {
                return Ok(bytes);
            }
        }
    }

    /// The per-stream round of earlier agents.
    async fn round(
        &self,
        http: &reqwest::Client,
        central: &str,
        stats: &Stats,
    ) -> Result<usize, Failure> {
        let mut state = self.sync.lock().await;
        let state = &mut *state;
        let mut bytes = 0;
        // The trust list.
        let etag = state.trust_etag.clone();
        let (answer, _) = self
            .get(http, central, paths::TRUST_LIST, None, etag, stats)
            .await?;
        bytes += answer.body.len();
        if answer.status == StatusCode::OK {
            let current = state.trust.as_ref().map_or(0, TrustStore::sequence);
            match TrustStore::open(&answer.body, &self.root, now(), current) {
                Ok((trust, _)) => {
                    state.trust = Some(trust);
                    state.trust_etag = answer.etag;
                }
                Err(_) if current > 0 => state.trust_etag = answer.etag,
                Err(_) => return Err(Failure::Answer),
            }
        }
        // Every delta stream, page by page to its end.
        for i in 0..state.cursors.len() {
            loop {
                let (kind, cursor) = state.cursors[i].clone();
                let query = DeltaQuery {
                    cursor: cursor.clone(),
                    limit: Some(MAX_PAGE_ITEMS),
                };
                let path = format!("{}?{}", paths::deltas(kind), query.to_query_string());
                let accept = state.trust.as_ref().map(|_| SIGNED_PAGE_MEDIA_TYPE);
                let (answer, nonce) = self.get(http, central, &path, accept, None, stats).await?;
                bytes += answer.body.len();
                let json = match &state.trust {
                    Some(trust) => {
                        let request = PageRequest {
                            kind,
                            till: self.till.clone(),
                            cursor,
                            nonce,
                        };
                        open_page(&answer.body, &request, trust, now())
                            .map_err(|_| Failure::Answer)?
                    }
                    None => answer.body,
                };
                let page: DeltaPage<serde_json::Value> =
                    serde_json::from_slice(&json).map_err(|_| Failure::Answer)?;
                let moved = page.next_cursor != state.cursors[i].1;
                state.cursors[i].1 = page.next_cursor;
                if !page.has_more || !moved {
                    break;
                }
            }
        }
        // The catalog.
        let etag = state.catalog_etag.clone();
        let (answer, _) = self
            .get(http, central, paths::CATALOG, None, etag, stats)
            .await?;
        bytes += answer.body.len();
        if answer.status == StatusCode::OK {
            state.catalog_etag = answer.etag;
        }
        Ok(bytes)
    }

    /// Uploads `events` as one batch, recorded as `upload`; counts central's acks (those
    /// of a `retried` batch apart: its events may have landed before).
    pub async fn upload(
        &self,
        http: &reqwest::Client,
        central: &str,
        events: Vec<JournalEvent>,
        retried: bool,
        stats: &Stats,
    ) -> Result<(), Failure> {
        let count = events.len();
        let batch = UploadBatch::new(self.till.clone(), events).map_err(|_| Failure::Answer)?;
        let body = serde_json::to_vec(&batch).map_err(|_| Failure::Answer)?;
        let started = Instant::now();
        let answer = self
            .send(
                http,
                central,
                ("POST", paths::JOURNAL),
                body,
                None,
                None,
                fresh_nonce(),
            )
            .await;
        let answer = match answer {
            Ok(a) if a.status.is_success() => a,
            Ok(a) => return fail(stats, Kind::Upload, Failure::Status(a.status.as_u16())),
            Err(f) => return fail(stats, Kind::Upload, f),
        };
        let ack: BatchAck = match serde_json::from_slice(&answer.body) {
            Ok(ack) => ack,
            Err(_) => return fail(stats, Kind::Upload, Failure::Answer),
        };
        if ack.acks.len() != count {
            return fail(stats, Kind::Upload, Failure::Answer);
        }
        stats.ok(Kind::Upload, started.elapsed(), answer.body.len());
        let (mut accepted, mut duplicate, mut rejected) = (0, 0, 0);
        for event in &ack.acks {
            match event.outcome {
                AckOutcome::Accepted => accepted += 1,
                AckOutcome::Duplicate => duplicate += 1,
                AckOutcome::Rejected { .. } => rejected += 1,
            }
        }
        stats.acks(accepted, duplicate, rejected, retried);
        Ok(())
    }

    /// A signed GET recorded as `sync_request`: 200 and 304 are successes.
    async fn get(
        &self,
        http: &reqwest::Client,
        central: &str,
        path: &str,
        accept: Option<&str>,
        etag: Option<String>,
        stats: &Stats,
    ) -> Result<(Answer, RequestNonce), Failure> {
        let nonce = fresh_nonce();
        let started = Instant::now();
        let answer = self
            .send(
                http,
                central,
                ("GET", path),
                Vec::new(),
                accept,
                etag,
                nonce,
            )
            .await;
        match answer {
            Ok(a) if a.status.is_success() || a.status == StatusCode::NOT_MODIFIED => {
                stats.ok(Kind::SyncRequest, started.elapsed(), a.body.len());
                Ok((a, nonce))
            }
            // No catalog published yet: nothing to pull, not an error.
            Ok(a) if a.status == StatusCode::NOT_FOUND && path == paths::CATALOG => {
                stats.ok(Kind::SyncRequest, started.elapsed(), a.body.len());
                Ok((a, nonce))
            }
            Ok(a) => fail(stats, Kind::SyncRequest, Failure::Status(a.status.as_u16())),
            Err(f) => fail(stats, Kind::SyncRequest, f),
        }
    }

    #[allow(clippy::too_many_arguments)]
    async fn send(
        &self,
        http: &reqwest::Client,
        central: &str,
        (method, path): (&str, &str),
        body: Vec<u8>,
        accept: Option<&str>,
        etag: Option<String>,
        nonce: RequestNonce,
    ) -> Result<Answer, Failure> {
        let parts = RequestParts {
            method,
            path_and_query: path,
            body: &body,
        };
        let timestamp = i64::try_from(now()).unwrap_or(i64::MAX);
        let signed = SignedHeaders::sign(&parts, self.till.clone(), timestamp, nonce, &self.key)
            .map_err(|_| Failure::Answer)?;
        let url = format!("{central}{path}");
        let mut request = match method {
            "POST" => http
                .post(url)
                .header(CONTENT_TYPE, "application/json")
                .body(body),
            _ => http.get(url),
        };
        for (name, value) in signed.to_headers() {
            request = request.header(name, value);
        }
        if let Some(accept) = accept {
            request = request.header(ACCEPT, accept);
        }
        if let Some(etag) = etag {
            request = request.header(IF_NONE_MATCH, etag);
        }
        let answer = request.send().await.map_err(|_| Failure::Network)?;
        let status = answer.status();
        let etag = answer
            .headers()
            .get(ETAG)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = answer.bytes().await.map_err(|_| Failure::Network)?.to_vec();
        Ok(Answer { status, etag, body })
    }
}

fn fail<T>(stats: &Stats, kind: Kind, failure: Failure) -> Result<T, Failure> {
    stats.failed(kind, failure.clone());
    Err(failure)
}

fn fresh_nonce() -> RequestNonce {
    let mut bytes = [0u8; 16];
    // The OS random source does not fail on Linux once booted; a zero nonce would only be
    // refused by central as a replay, which the run would count.
    let _ = getrandom::fill(&mut bytes);
    RequestNonce(bytes)
}

/// Unix seconds now.
pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_secs()
}
