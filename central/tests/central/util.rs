//! The test harness: [`Central`] runs the server (in the test's runtime, or as the real
//! `tillpass-central serve` process), [`TestTill`] enrols and signs.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use ed25519_dalek::SigningKey;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tillpass_central::auth::AdminToken;
use tillpass_central::db::Db;
use tillpass_central::http::{self, AppState};
use tillpass_central::keys::{self, KeyDir};
use tillpass_central::{clock, envelopes};
use tillpass_protocol::envelope::SignerKeys;
use tillpass_protocol::sync::{
    EnrolRequest, EnrolResponse, EventPayload, HEADER_SERVER_TIME, JournalEvent, RequestNonce,
    RequestParts, ServerTime, SignedHeaders, StoreId, TillId, UploadBatch,
};
use tillpass_protocol::trust::{KeyPurpose, RootKey, TrustStore};

/// The value of [`Central::frozen`] while the clock runs.
const RUNNING: i64 = i64::MIN;

pub const ADMIN: &str = "test-admin-token-0123456789";

/// A running central.
pub struct Central {
    pub base: String,
    pub client: reqwest::Client,
    /// Seconds added to the real clock.
    pub offset: Arc<AtomicI64>,
    /// When set (not [`RUNNING`]), the in-process central's clock stands still at it.
    frozen: Arc<AtomicI64>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    process: Option<Process>,
    dir: Folder,
}

/// The folder of a central's files: its own, or one it shares with other nodes.
enum Folder {
    Own(tempfile::TempDir),
    Shared(std::path::PathBuf),
}

impl Folder {
    fn path(&self) -> &std::path::Path {
        match self {
            Folder::Own(dir) => dir.path(),
            Folder::Shared(path) => path,
        }
    }
}

/// A `tillpass-central serve` process and what it wrote to stderr.
struct Process {
    child: std::process::Child,
    log: Arc<std::sync::Mutex<String>>,
}

impl Drop for Central {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(process) = &mut self.process {
            let _ = process.child.kill();
            let _ = process.child.wait();
        }
    }
}

impl Central {
    pub async fn start() -> Central {
        Central::start_with(http::Limits::default()).await
    }

    /// The folder of its database and keys.
    pub fn dir(&self) -> &std::path::Path {
        self.dir.path()
    }

    /// Kills the server process with SIGKILL and hands back its folder.
    pub fn kill(mut self) -> tempfile::TempDir {
        let mut process = self.process.take().unwrap();
        process.child.kill().unwrap();
        process.child.wait().unwrap();
        let dir = Folder::Own(tempfile::tempdir().unwrap());
        match std::mem::replace(&mut self.dir, dir) {
            Folder::Own(dir) => dir,
            Folder::Shared(path) => panic!("{} is shared with other nodes", path.display()),
        }
    }

    /// The server process's id (a process central only).
    pub fn pid(&self) -> u32 {
        self.process.as_ref().unwrap().child.id()
    }

    /// What the server process logged so far.
    pub fn log(&self) -> String {
        self.process
            .as_ref()
            .map(|p| p.log.lock().unwrap().clone())
            .unwrap_or_default()
    }

    /// The address it listens on, `127.0.0.1:port`.
    pub fn addr(&self) -> String {
        self.base.split("://").nth(1).unwrap().to_owned()
    }

    /// `tillpass-central` on this central's files (`--db central.db --keys keys` in its
    /// folder: `--db data/central.db --keys keys`), with `umask 022` whatever the test runner's.
    pub fn command(dir: &std::path::Path) -> std::process::Command {
        Central::command_on(dir, &["--db", "data/central.db"])
    }

    /// `tillpass-central` on the database named by `database` (`--db PATH` or
    /// `--database URL`) and the key directory `keys` in `dir`, under `umask 022`.
    pub fn command_on(dir: &std::path::Path, database: &[&str]) -> std::process::Command {
        let mut command = std::process::Command::new("sh");
        command
            .arg("-c")
            .arg("umask 022; exec \"$0\" \"$@\"")
            .arg(env!("CARGO_BIN_EXE_tillpass-central"))
            .args(database)
            .args(["--keys", "keys"])
            .current_dir(dir)
            .env_remove("TILLPASS_CENTRAL_DB")
            .env_remove("TILLPASS_CENTRAL_KEYS")
            .env("RUST_LOG", "info");
        command
    }

    /// Runs the real `tillpass-central serve` with `args` on a fresh folder (its admin
    /// token file is `admin.token`), under `umask 022`; `client` talks to it.
    pub async fn spawn(args: &[&str], client: reqwest::Client) -> Central {
        let dir = tempfile::tempdir().unwrap();
        Central::spawn_in(dir, args, client).await
    }

    /// [`Central::spawn`] on a folder the test prepared.
    pub async fn spawn_in(
        dir: tempfile::TempDir,
        args: &[&str],
        client: reqwest::Client,
    ) -> Central {
        let database = ["--db", "data/central.db"];
        Central::spawn_process(Folder::Own(dir), &database, args, client).await
    }

    /// One node of several: the real `tillpass-central serve` on the PostgreSQL database
    /// at `url`, with the key directory and admin token in `dir`, which other nodes share.
    pub async fn spawn_node(dir: &std::path::Path, url: &str, client: reqwest::Client) -> Central {
        Central::spawn_node_with(dir, url, &[], client).await
    }

    /// [`Central::spawn_node`] with more `serve` arguments.
    pub async fn spawn_node_with(
        dir: &std::path::Path,
        url: &str,
        args: &[&str],
        client: reqwest::Client,
    ) -> Central {
        let folder = Folder::Shared(dir.to_path_buf());
        Central::spawn_process(folder, &["--database", url], args, client).await
    }

    async fn spawn_process(
        dir: Folder,
        database: &[&str],
        args: &[&str],
        client: reqwest::Client,
    ) -> Central {
        use std::io::BufRead;
        std::fs::write(dir.path().join("admin.token"), ADMIN).unwrap();
        let mut child = Central::command_on(dir.path(), database)
            .args(["serve", "--listen", "127.0.0.1:0"])
            .args(["--admin-token-file", "admin.token"])
            .args(args)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let log = Arc::new(std::sync::Mutex::new(String::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if line.contains("tillpass-central listening") {
                    let _ = tx.send(line.clone());
                }
                let mut log = sink.lock().unwrap();
                log.push_str(&line);
                log.push('\n');
            }
        });
        let line = tokio::task::spawn_blocking(move || {
            rx.recv_timeout(std::time::Duration::from_secs(60))
        })
        .await
        .unwrap()
        .unwrap_or_else(|_| panic!("central did not start:\n{}", log.lock().unwrap()));
        let addr = line.rsplit('=').next().unwrap().trim().to_owned();
        let scheme = if line.contains("https") {
            "https"
        } else {
            "http"
        };
        Central {
            base: format!("{scheme}://{addr}"),
            client,
            offset: Arc::new(AtomicI64::new(0)),
            frozen: Arc::new(AtomicI64::new(RUNNING)),
            shutdown: None,
            process: Some(Process { child, log }),
            dir,
        }
    }

    /// An in-process central with these limits.
    pub async fn start_with(limits: http::Limits) -> Central {
        Central::start_full(limits, None).await.0
    }

    /// An in-process central running the WhatsApp channel with `config`.
    pub async fn start_whatsapp(
        config: tillpass_central::whatsapp::Config,
    ) -> (Central, tillpass_central::whatsapp::Channel) {
        Central::start_whatsapp_on(config, None).await
    }

    /// [`Central::start_whatsapp`] with the channel's tables on `database` (the SQLite
    /// file of the central when `None`).
    pub async fn start_whatsapp_on(
        config: tillpass_central::whatsapp::Config,
        database: Option<tillpass_central::storage::Database>,
    ) -> (Central, tillpass_central::whatsapp::Channel) {
        let (central, channel) =
            Central::start_full(http::Limits::default(), Some((config, database))).await;
        (central, channel.unwrap())
    }

    async fn start_full(
        limits: http::Limits,
        whatsapp: Option<(
            tillpass_central::whatsapp::Config,
            Option<tillpass_central::storage::Database>,
        )>,
    ) -> (Central, Option<tillpass_central::whatsapp::Channel>) {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&dir.path().join("central.db")).unwrap();
        let keys = KeyDir::open(&dir.path().join("keys")).unwrap();
        let now = clock::now();
        db.with(|c| {
            keys::init(c, &keys, now)?;
            envelopes::publish_trust_list(c, &keys, now)?;
            Ok(())
        })
        .unwrap();
        let offset = Arc::new(AtomicI64::new(0));
        let frozen = Arc::new(AtomicI64::new(RUNNING));
        let (clock_offset, clock_frozen) = (offset.clone(), frozen.clone());
        let clock: clock::Clock = Arc::new(move || match clock_frozen.load(Ordering::SeqCst) {
            RUNNING => clock::now() + clock_offset.load(Ordering::SeqCst),
            at => at,
        });
        let mut state = AppState::new(
            db.clone(),
            keys.clone(),
            Some(AdminToken::new(ADMIN).unwrap()),
            clock.clone(),
        )
        .with_limits(limits);
        let whatsapp = match whatsapp {
            // Another database (PostgreSQL) signs with keys of its own, in the same folder.
            Some((config, Some(database))) => {
                database.init_keys(&keys, now).await.unwrap();
                Some((config, Some(database)))
            }
            other => other,
        };
        let channel = whatsapp.map(|(config, database)| {
            let channel = tillpass_central::whatsapp::Channel::new(
                config,
                database.unwrap_or_else(|| tillpass_central::storage::Database::Sqlite(db.clone())),
                Some(keys.clone()),
                clock,
            )
            .unwrap();
            channel.spawn();
            channel
        });
        if let Some(channel) = &channel {
            state = state.with_whatsapp(channel.clone());
        }
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (tx, rx) = tokio::sync::oneshot::channel();
        tokio::spawn(http::serve(listener, state, async {
            let _ = rx.await;
        }));
        let central = Central {
            base,
            client: client(),
            offset,
            frozen,
            shutdown: Some(tx),
            process: None,
            dir: Folder::Own(dir),
        };
        (central, channel)
    }

    pub fn now(&self) -> i64 {
        match self.frozen.load(Ordering::SeqCst) {
            RUNNING => clock::now() + self.offset.load(Ordering::SeqCst),
            at => at,
        }
    }

    /// Stops the in-process central's clock at `at` (unix seconds): a test that looks at
    /// the second before a deadline must not race the wall clock's next tick.
    pub fn freeze_at(&self, at: i64) {
        self.frozen.store(at, Ordering::SeqCst);
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// An admin request.
    pub fn admin(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        self.client
            .request(method, self.url(path))
            .bearer_auth(ADMIN)
    }

    /// A JSON request as admin (no body for `Null`); the status and the JSON answer
    /// (`Null` when empty).
    pub async fn admin_json(&self, method: Method, path: &str, body: Value) -> (StatusCode, Value) {
        let mut request = self.admin(method, path);
        if !body.is_null() {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let text = response.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    pub async fn create_customer(&self, reference: &str, savings: i64, receipts: bool) {
        let (status, body) = self
            .admin_json(
                Method::POST,
                "/admin/v1/customers",
                json!({
                    "customer": reference,
                    "first_name": "Lucía",
                    "tier": "gold",
                    "lang": "es",
                    "consent": { "receipts": receipts, "marketing": false },
                    "savings": savings,
                }),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }

    pub async fn customer(&self, reference: &str) -> Value {
        let (status, body) = self
            .admin_json(
                Method::GET,
                &format!("/admin/v1/customers/{reference}"),
                Value::Null,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body
    }

    pub async fn enrolment_code(&self, store: &str, till: &str) -> String {
        let (status, body) = self
            .admin_json(
                Method::POST,
                "/admin/v1/enrolment-codes",
                json!({ "store": store, "till": till, "region": "ES-M" }),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body["code"].as_str().unwrap().to_owned()
    }

    /// Enrols a new till at `store`.
    pub async fn enrol(&self, store: &str, till: &str) -> TestTill {
        let code = self.enrolment_code(store, till).await;
        let key = SigningKey::from_bytes(&rand::<32>());
        let request = EnrolRequest::new(code, key.verifying_key().to_bytes(), "0.1.0", "till-host");
        let response = self
            .client
            .post(self.url("/v1/enrol"))
            .json(&request)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let enrolment: EnrolResponse = response.json().await.unwrap();
        TestTill {
            key,
            id: enrolment.till.clone(),
            store: enrolment.store.clone(),
            enrolment,
            seq: AtomicI64::new(0),
        }
    }
}

/// A plain client. The workspace builds reqwest with rustls and no built-in provider.
pub fn client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::new()
}

pub fn rand<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).unwrap();
    bytes
}

/// An enrolled till.
pub struct TestTill {
    pub key: SigningKey,
    pub id: TillId,
    pub store: StoreId,
    pub enrolment: EnrolResponse,
    pub seq: AtomicI64,
}

impl TestTill {
    /// The trust list received at enrolment, opened with the root key.
    pub fn trust(&self, now: i64) -> TrustStore {
        let root = RootKey::new(&self.enrolment.root_public_key).unwrap();
        let (store, _) = TrustStore::open(
            &self.enrolment.trust_list,
            &root,
            u64::try_from(now).unwrap(),
            0,
        )
        .unwrap();
        store
    }

    /// Signature headers for a request signed at `timestamp` with `nonce`.
    pub fn headers(
        &self,
        method: &str,
        path: &str,
        body: &[u8],
        timestamp: i64,
        nonce: RequestNonce,
    ) -> [(&'static str, String); 4] {
        SignedHeaders::sign(
            &RequestParts {
                method,
                path_and_query: path,
                body,
            },
            self.id.clone(),
            timestamp,
            nonce,
            &self.key,
        )
        .unwrap()
        .to_headers()
    }

    /// Sends a request with the given signature headers.
    pub async fn send_with(
        &self,
        central: &Central,
        method: Method,
        path: &str,
        body: Vec<u8>,
        headers: &[(&'static str, String)],
    ) -> reqwest::Response {
        let mut request = central.client.request(method, central.url(path)).body(body);
        for (name, value) in headers {
            request = request.header(*name, value);
        }
        request.send().await.unwrap()
    }

    /// Sends a freshly signed request.
    pub async fn send(
        &self,
        central: &Central,
        method: Method,
        path: &str,
        body: Vec<u8>,
    ) -> reqwest::Response {
        let headers = self.headers(
            method.as_str(),
            path,
            &body,
            central.now(),
            RequestNonce(rand()),
        );
        self.send_with(central, method, path, body, &headers).await
    }

    /// An event of this till with the next sequence number.
    pub fn event(&self, payload: EventPayload) -> JournalEvent {
        let seq = u64::try_from(self.seq.fetch_add(1, Ordering::SeqCst) + 1).unwrap();
        JournalEvent::new(
            self.id.clone(),
            self.store.clone(),
            seq,
            clock::now(),
            payload,
        )
    }

    /// Uploads events; the status and the JSON answer.
    pub async fn upload(
        &self,
        central: &Central,
        events: Vec<JournalEvent>,
    ) -> (StatusCode, Value) {
        let batch = UploadBatch::new(self.id.clone(), events).unwrap();
        self.upload_raw(central, serde_json::to_vec(&batch).unwrap())
            .await
    }

    pub async fn upload_raw(&self, central: &Central, body: Vec<u8>) -> (StatusCode, Value) {
        let response = self.send(central, Method::POST, "/v1/journal", body).await;
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// `GET` a signed path and parse JSON.
    pub async fn get_json(&self, central: &Central, path: &str) -> (StatusCode, Value) {
        let response = self.send(central, Method::GET, path, vec![]).await;
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
    }
}

/// The statuses of a batch acknowledgement, in order.
pub fn statuses(ack: &Value) -> Vec<String> {
    ack["acks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["status"].as_str().unwrap().to_owned())
        .collect()
}

/// Checks a response's signed server time against the trust list's sync key, and that it
/// echoes `nonce`.
pub fn check_server_time(
    response: &reqwest::Response,
    trust: &TrustStore,
    nonce: Option<&RequestNonce>,
) -> i64 {
    let value = response
        .headers()
        .get(HEADER_SERVER_TIME)
        .expect("every answer carries the server time")
        .to_str()
        .unwrap();
    let time = ServerTime::from_header_value(value).unwrap();
    let kid = tillpass_protocol::trust::KeyId(time.key_id);
    let key = trust
        .signer(kid, KeyPurpose::Sync, u64::try_from(time.unix).unwrap())
        .unwrap();
    time.verify(key, nonce).unwrap()
}
