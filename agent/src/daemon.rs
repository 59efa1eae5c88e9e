//! The composition root of `tillpass run`: [`build`] puts the till together from its
//! configuration, [`run`] runs it until the shutdown future it is given completes (the
//! binary gives it [`stop_signals`], SIGTERM or SIGINT) or a vital task dies.
//!
//! Start-up: open the store (integrity check, migrations) → take the enrolment record's
//! trust list if it is newer than the one stored → put the stored catalog in force →
//! build the identification pipeline → evaluate the offline policy → start the scanners,
//! the outbox relay and the sync task (both resume from the store) → serve HTTP (with the
//! sync routes) → tell systemd READY (and feed its watchdog while the store answers,
//! [`watchdog`]).
//! Shutdown: stop accepting, let requests in flight finish within [`DRAIN_DEADLINE`],
//! release the scanners, stop the background tasks within [`TASKS_DEADLINE`].
//!
//! The background tasks are supervised ([`tasks`]): a task that dies (an error, a panic,
//! a return) is logged and either restarted with back-off or made the daemon's failure:
//!
//! | task | when it dies | why |
//! |---|---|---|
//! | relay | restarted | it resumes from the outbox; a restart loses nothing |
//! | sync | restarted | it resumes from the stored cursors |
//! | scanner pump | restarted | it takes up the same scanner channel |
//! | watchdog | fails the daemon | without it systemd would kill the daemon anyway, later |
//! | HTTP server | fails the daemon | a till that cannot serve its POS must be restarted |

use std::collections::BTreeMap;
use std::future::Future;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use thiserror::Error;
use tillpass_hardware::{ScannerEvent, Supervisor};
use tillpass_protocol::sync::{EnrolmentRecord, StoreId, TillId};
use tillpass_protocol::token::VerifyPolicy;
use tokio::net::TcpListener;

use crate::bus::{AgentEvent, Bus};
use crate::clock::{Clock, WallClock};
use crate::config::Config;
use crate::http;
use crate::identify::slot::Slot;
use crate::identify::{Identifier, IdentifierParts};
use crate::metrics::Metrics;
use crate::paths::Paths;
use crate::store::journal::TillIdentity;
use crate::store::tokens::{self, TrustLoadError};
use crate::store::{Store, StoreError};
use crate::sync::relay::{Relay, Reporter};
use crate::sync::task::Remote;
use crate::sync::{CentralClient, SyncSettings, SyncStatus, Syncer};
use crate::till::{DeviceStatus, Till};
use tasks::{OnExit, Tasks};
use watchdog::WatchdogSettings;

pub mod tasks;
pub mod watchdog;

/// How long requests in flight may take to finish at shutdown.
pub const DRAIN_DEADLINE: Duration = Duration::from_secs(10);
/// How long the background tasks may take to stop once the requests are drained.
pub const TASKS_DEADLINE: Duration = Duration::from_secs(5);

/// Why the daemon could not start.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum DaemonError {
    /// The store cannot be used.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The enrolment record cannot be read.
    #[error("enrolment record {path}: {detail}")]
    Enrolment {
        /// The file.
        path: String,
        /// What is wrong.
        detail: String,
    },
    /// The enrolment's trust list was refused.
    #[error(transparent)]
    Trust(#[from] TrustLoadError),
    /// The API token file cannot be read.
    #[error(
        "cannot read the API token {path}: {detail}. tillpass-install creates it; for a \
         development run, write any long random text to that file"
    )]
    Token {
        /// The file.
        path: String,
        /// Why.
        detail: String,
    },
    /// The listen address cannot be bound.
    #[error("cannot listen on {addr}: {detail}")]
    Listen {
        /// The address.
        addr: String,
        /// Why.
        detail: String,
    },
    /// The scanners could not be started.
    #[error("scanners: {0}")]
    Scanners(String),
    /// The relay to central could not be set up.
    #[error("relay to central: {0}")]
    Relay(#[from] crate::sync::relay::RelayError),
    /// The client to central could not be set up.
    #[error("sync with central: {0}")]
    Sync(#[from] crate::sync::SyncError),
    /// Serving failed.
    #[error("server: {0}")]
    Serve(std::io::Error),
    /// A background task the daemon cannot run without died.
    #[error("the {task} task died: {cause}")]
    Task {
        /// The task.
        task: &'static str,
        /// Its error or panic.
        cause: String,
    },
}

/// Everything the running agent holds.
#[derive(Debug)]
pub struct Agent {
    /// The HTTP state (identifier, bus, metrics).
    pub state: Till,
    /// The outbox relay to central, when the till is enrolled and has its key.
    pub relay: Option<Arc<Relay>>,
    /// The sync task (deltas, catalogs, trust list, offline policy, retention).
    pub syncer: Syncer,
    /// The scanners to read.
    pub scanners: Vec<tillpass_hardware::ScannerConfig>,
    /// How the listener serves.
    pub serve: http::ServeSettings,
}

/// Builds the agent from its configuration: store, enrolment, pipeline.
pub fn build(config: &Config, paths: &Paths, wall: WallClock) -> Result<Agent, DaemonError> {
    let data_dir = config.data_dir(paths);
    let store = Arc::new(Store::open(&data_dir)?);
    let clock = Arc::new(Clock::new(wall, u64::from(config.identify.clock_skew_secs)));

    let enrolment = read_enrolment(&config.enrolment_file(paths))?;
    let mut max_uses = config.identify.max_uses_per_pass;
    if let Some(record) = &enrolment {
        let response = &record.response;
        if !response.trust_list.is_empty() {
            let conn = store.conn();
            match tokens::accept_trust_list(
                &conn,
                response.root_public_key,
                &response.trust_list,
                clock.now(),
            ) {
                Ok(t) => tracing::info!(sequence = t.sequence, "trust list from enrolment"),
                // Not newer than the stored one (a restart) or past its age: the stored
                // list stays in force.
                Err(TrustLoadError::Envelope(e)) => {
                    tracing::debug!(error = %e, "enrolment trust list not taken")
                }
                Err(e) => return Err(e.into()),
            }
        }
        max_uses = response.offline_policy.replay.max_uses_per_pass.max(1);
    }
    let who = till_identity(config, enrolment.as_ref());
    let central = config
        .central
        .url
        .clone()
        .or_else(|| enrolment.as_ref().map(|r| r.central.clone()));
    let key = config.key_file(paths).and_then(|f| read_key_file(&f));

    let metrics = Arc::new(Metrics::default());
    let policy = VerifyPolicy {
        clock_skew_secs: config.identify.clock_skew_secs,
        ..VerifyPolicy::default()
    };
    let bus = Bus::new();
    let sync_status = Arc::new(SyncStatus::default());
    let trust_now = match tokens::load_trust(&store.conn()) {
        Ok(t) => t,
        Err(e) => {
            tracing::error!(error = %e, "the stored trust list cannot be used");
            None
        }
    };
    let has_key = key.is_some();
    let remote = match (&central, &who, key) {
        (Some(url), Some(who), Some(key)) => {
            let client = Arc::new(
                CentralClient::new(
                    url,
                    who.till.clone(),
                    key,
                    clock.clone(),
                    trust_now.as_ref().map(|t| t.store.clone()),
                    config.central.ca_file.as_deref(),
                )?
                .with_fallbacks(&config.central.fallback_urls)?,
            );
            let relay = Arc::new(
                Relay::new(
                    store.clone(),
                    client.clone(),
                    Some(Reporter {
                        status: sync_status.clone(),
                        bus: bus.clone(),
                    }),
                )
                .with_retry_max(Duration::from_secs(config.sync.retry_max_secs)),
            );
            Some(Remote { client, relay })
        }
        _ => {
            tracing::warn!("no central URL, till id or till key: the journal stays on this till");
            None
        }
    };
    let unconfigured = unconfigured(who.is_some(), central.is_some(), has_key);
    sync_status.update(|s| {
        s.configured = remote.is_some();
        s.unconfigured = unconfigured;
        s.offline_policy = enrolment
            .as_ref()
            .map(|r| r.response.offline_policy.clone());
        s.trust_expires_at = trust_now.as_ref().map(|t| (t.sequence, t.expires_at));
    });
    let catalogs = Arc::new(crate::catalog::Catalogs::new());
    if let Err(e) = crate::sync::catalogs::load_at_start(&store, &catalogs, clock.now()) {
        tracing::error!(error = %e, "stored catalogs could not be read");
    }
    let mut identifier = Identifier::new(IdentifierParts {
        store: store.clone(),
        policy,
        max_uses_per_pass: max_uses,
        who,
        clock: clock.clone(),
        slot: Slot::new(Duration::from_secs(config.identify.customer_slot_secs)),
        metrics: metrics.clone(),
    })?
    .with_catalogs(catalogs.clone());
    // A customer or gift card the till does not hold: central is asked live first.
    if let (Some(r), Ok(runtime)) = (&remote, tokio::runtime::Handle::try_current()) {
        identifier = identifier.with_live(Arc::new(crate::sync::LiveLookup::new(
            r.client.clone(),
            runtime,
            Duration::from_millis(config.sync.lookup_budget_ms),
        )));
    }
    let identifier = Arc::new(identifier);

    let token_path = config.token_file(paths);
    let token =
        tillpass_tillfiles::keys::read_api_token(&token_path).map_err(|e| DaemonError::Token {
            path: token_path.display().to_string(),
            detail: e.to_string(),
        })?;
    let token = token.as_str();
    if token.len() < 16 {
        return Err(DaemonError::Token {
            path: token_path.display().to_string(),
            detail: "the token must be at least 16 characters".to_owned(),
        });
    }
    let state = Till {
        store,
        clock,
        identifier,
        bus,
        metrics,
        token: Arc::from(token),
        devices: Arc::new(Mutex::new(BTreeMap::new())),
        catalogs,
        time_zone: crate::config::time_zone(&config.till),
        lang: crate::config::language(&config.till),
        sync: sync_status,
        region: Arc::from(
            enrolment
                .as_ref()
                .map(|r| r.response.region.as_str().to_owned())
                .or_else(|| config.till.region.clone())
                .unwrap_or_default(),
        ),
    };
    crate::sync::policy::refresh_state(&state);
    let relay = remote.as_ref().map(|r| r.relay.clone());
    let syncer = Syncer::new(state.clone(), remote, SyncSettings::from(&config.sync));
    Ok(Agent {
        state,
        relay,
        syncer,
        scanners: config.scanners.clone(),
        serve: http::ServeSettings::from(&config.api),
    })
}

fn read_enrolment(path: &Path) -> Result<Option<EnrolmentRecord>, DaemonError> {
    match std::fs::read_to_string(path) {
        Ok(text) => serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| DaemonError::Enrolment {
                path: path.display().to_string(),
                detail: e.to_string(),
            }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(DaemonError::Enrolment {
            path: path.display().to_string(),
            detail: e.to_string(),
        }),
    }
}

/// Why the till cannot talk to central, each with what to do (for `/readyz`).
fn unconfigured(enrolled: bool, central: bool, key: bool) -> Vec<String> {
    let mut reasons = Vec::new();
    if !enrolled {
        reasons.push(
            "not_enrolled: no enrolment record and no [till] ids: enrol the till with \
             `tillpass-install install --central URL --enrol CODE`"
                .to_owned(),
        );
    }
    if !central {
        reasons.push(
            "no_central_url: neither [central] url nor the enrolment names central: set \
             [central] url or enrol the till again"
                .to_owned(),
        );
    }
    if !key {
        reasons.push(
            "no_till_key: the till key (till.key, or the TillKey credential) is missing or \
             unreadable: restore it from backup, or enrol the till again with a new code"
                .to_owned(),
        );
    }
    reasons
}

fn till_identity(config: &Config, enrolment: Option<&EnrolmentRecord>) -> Option<TillIdentity> {
    if let Some(record) = enrolment {
        return Some(TillIdentity {
            store: record.response.store.clone(),
            till: record.response.till.clone(),
        });
    }
    let store = StoreId::new(config.till.store.clone()?).ok()?;
    let till = TillId::new(config.till.till.clone()?).ok()?;
    Some(TillIdentity { store, till })
}

/// Runs the agent until `shutdown` completes or a vital task dies: scanners, HTTP on
/// `listener`, the background tasks, systemd notifications.
///
/// Stopping is graceful: the listener stops accepting and requests in flight finish
/// (within [`DRAIN_DEADLINE`]), the scanners are released, then the background tasks are
/// told to stop and waited for (within [`TASKS_DEADLINE`]). Which task is restarted
/// when it dies and which fails the daemon is [`tasks`]'s table in `ARCHITECTURE.md`
/// ("Shutdown and supervision").
pub async fn run(
    agent: Agent,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), DaemonError> {
    let Agent {
        state,
        relay,
        syncer,
        scanners,
        serve,
    } = agent;
    let (tx, rx) = tokio::sync::mpsc::channel(256);
    let scanners = if scanners.is_empty() {
        None
    } else {
        Some(Supervisor::start(scanners, tx).map_err(|e| DaemonError::Scanners(e.to_string()))?)
    };
    let mut tasks = Tasks::new();
    spawn_background(&tasks, &state, relay, syncer, rx);

    let addr = listener
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    tracing::info!(address = %addr, "tillpass listening");
    notify_ready();
    if let Some(settings) = WatchdogSettings::from_env() {
        let store = state.store.clone();
        tasks.spawn("watchdog", OnExit::Fail, move |stop| {
            let store = store.clone();
            async move {
                watchdog::feed(store, settings, watchdog::notify_systemd, stop).await;
                Ok(())
            }
        });
    }

    let router = http::router(state);
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let mut server = tokio::spawn(http::serve_with(listener, router, serve, async move {
        let _ = stop_rx.await;
    }));
    let mut outcome = Ok(());
    tokio::pin!(shutdown);
    let server_done = tokio::select! {
        () = &mut shutdown => None,
        death = tasks.failed() => {
            outcome = Err(DaemonError::Task { task: death.task, cause: death.cause });
            None
        }
        served = &mut server => Some(served),
    };
    tracing::info!("stopping: draining requests");
    let _ = sd_notify::notify(&[sd_notify::NotifyState::Stopping]);
    let _ = stop_tx.send(());
    let served = match server_done {
        Some(served) => Ok(served),
        None => tokio::time::timeout(DRAIN_DEADLINE, &mut server).await,
    };
    match served {
        Ok(Ok(Ok(()))) => {}
        Ok(Ok(Err(e))) => {
            tracing::error!(error = %e, "the server failed");
            outcome = outcome.and(Err(DaemonError::Serve(e)));
        }
        Ok(Err(e)) => {
            tracing::error!(error = %e, "the server task failed");
            outcome = outcome.and(Err(DaemonError::Serve(std::io::Error::other(
                e.to_string(),
            ))));
        }
        Err(_) => {
            tracing::warn!("drain deadline passed; stopping anyway");
            server.abort();
        }
    }
    // The scanners first, so the pump still passes on their last events.
    if let Some(s) = scanners {
        s.shutdown().await;
    }
    if !tasks.stop(TASKS_DEADLINE).await {
        tracing::warn!("background tasks did not stop in time; stopping anyway");
    }
    tracing::info!("stopped");
    outcome
}

/// Starts the relay, the sync task and the scanner pump, each restarted with back-off
/// when it dies: each resumes from the store (the outbox, the cursors) or from the
/// scanner channel, so a restart loses nothing.
fn spawn_background(
    tasks: &Tasks,
    state: &Till,
    relay: Option<Arc<Relay>>,
    syncer: Syncer,
    rx: tokio::sync::mpsc::Receiver<ScannerEvent>,
) {
    if let Some(relay) = relay {
        tasks.spawn("relay", OnExit::Restart, move |_| {
            let relay = relay.clone();
            async move {
                relay.run().await;
                Ok(())
            }
        });
    }
    let db = state.store.path().to_path_buf();
    tasks.spawn("checkpointer", OnExit::Restart, move |_| {
        crate::store::checkpoint::run(db.clone())
    });
    tasks.spawn("sync", OnExit::Restart, move |_| {
        let syncer = syncer.clone();
        async move {
            syncer.run().await;
            Ok(())
        }
    });
    let rx = Arc::new(tokio::sync::Mutex::new(rx));
    let state = state.clone();
    tasks.spawn("scanner pump", OnExit::Restart, move |_| {
        let (state, rx) = (state.clone(), rx.clone());
        async move {
            let mut rx = rx.lock().await;
            pump_scanner_events(&state, &mut rx).await;
            // The channel closed: the scanners stopped, nothing more will come.
            std::future::pending::<()>().await;
            Ok(())
        }
    });
}

async fn pump_scanner_events(state: &Till, rx: &mut tokio::sync::mpsc::Receiver<ScannerEvent>) {
    while let Some(event) = rx.recv().await {
        let now = state.clock.now();
        match event {
            ScannerEvent::Scan(scan) => {
                update_device(state, &scan.device, |d| d.last_scan_at = Some(now));
                let _ = http::identify_scan(state, scan.label.clone(), scan.device.clone()).await;
            }
            ScannerEvent::Connected { device, path, .. } => {
                let path = path.display().to_string();
                update_device(state, &device, |d| {
                    d.connected = true;
                    d.path = Some(path.clone());
                    d.last_error = None;
                });
                state
                    .bus
                    .publish(AgentEvent::ScannerConnected { device, path });
            }
            ScannerEvent::Disconnected { device, reason, .. } => {
                update_device(state, &device, |d| d.connected = false);
                state.bus.publish(AgentEvent::ScannerDisconnected {
                    device,
                    reason: format!("{reason:?}"),
                });
            }
            ScannerEvent::Error { device, error, .. } => {
                let message = error.to_string();
                let hint = error.hint().map(str::to_owned);
                update_device(state, &device, |d| {
                    d.last_error = Some(match &hint {
                        Some(h) => format!("{message} — {h}"),
                        None => message.clone(),
                    })
                });
                if error.raw().is_some() {
                    // Something was read but could not be framed or decoded: a refused scan,
                    // logged and counted like any other.
                    let refusal = crate::identify::unreadable(&device, message.clone(), now);
                    state.metrics.observe_scan(Some(refusal.code.code()), 0.0);
                    let record = crate::store::scans::ScanRecord {
                        at: i64::try_from(now).unwrap_or(i64::MAX),
                        source: device.clone(),
                        accepted: false,
                        code: Some(refusal.code.code().to_owned()),
                        detail: refusal.detail.clone(),
                        token_kind: None,
                        subject_masked: None,
                        latency_us: 0,
                    };
                    let store = state.store.clone();
                    let logged = tokio::task::spawn_blocking(move || {
                        crate::store::scans::log(&store.conn(), &record)
                    })
                    .await;
                    if !matches!(logged, Ok(Ok(()))) {
                        tracing::warn!(device = %device, "scan log write failed");
                    }
                    state.bus.publish(AgentEvent::Refused(refusal));
                }
                state.bus.publish(AgentEvent::ScannerError {
                    device,
                    message,
                    hint,
                });
            }
            _ => {}
        }
    }
}

fn update_device(state: &Till, device: &str, f: impl FnOnce(&mut DeviceStatus)) {
    if let Ok(mut devices) = state.devices.lock() {
        f(devices.entry(device.to_owned()).or_default());
    }
}

fn notify_ready() {
    if let Err(e) = sd_notify::notify(&[sd_notify::NotifyState::Ready]) {
        tracing::debug!(error = %e, "sd_notify READY not sent");
    }
}

/// The stop signals, SIGTERM and SIGINT, registered now (so a stop right after the start
/// drains like any other); the future completes when one arrives. The binary passes it to
/// [`run`].
pub fn stop_signals() -> impl Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    let signals = {
        use tokio::signal::unix::{SignalKind, signal};
        (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        )
    };
    async move {
        #[cfg(unix)]
        match signals {
            (Ok(mut term), Ok(mut int)) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = int.recv() => {}
                }
            }
            _ => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

/// The till key from `file`, or `None` with the exact cause logged: a key the process may
/// not read (a run by hand as a user other than the unit's, which reads it as root through
/// `LoadCredential=`) is not a missing key.
fn read_key_file(file: &std::path::Path) -> Option<ed25519_dalek::SigningKey> {
    use tillpass_tillfiles::keys::{self, KeyError};
    match keys::read_till_key(file) {
        Ok(key) => Some(key),
        Err(KeyError::Malformed) => {
            tracing::error!(
                file = %file.display(),
                "the till key file does not hold a key (64 hex digits); re-enrol the till"
            );
            None
        }
        Err(KeyError::Forbidden(_)) => {
            tracing::error!(
                file = %file.display(),
                "this process may not read the till key: start the agent with \
                 `systemctl start tillpass` (the unit hands it the key), or run it as root"
            );
            None
        }
        Err(e) => {
            tracing::error!(file = %file.display(), error = %e, "the till key cannot be read");
            None
        }
    }
}
