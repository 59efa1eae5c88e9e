//! A till for a test: keys, a trust list, an enrolment record, a token file, a config, and
//! the daemon running on port 0.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ed25519_dalek::SigningKey;
use tillpass_protocol::money::{Currency, Money};
use tillpass_protocol::sync::{
    EnrolResponse, EnrolmentRecord, OfflinePolicy, RegionId, ReplayPolicy, StoreId, TillId,
};
use tillpass_protocol::token::{self, Subject, TokenBody, TokenId, TokenKind};
use tillpass_protocol::trust::{KeyPurpose, TrustStore, TrustedKey};

pub const TOKEN: &str = "test-api-token-0123456789abcdef";

pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// Central's keys, as a test plays central.
pub struct Central {
    pub root: SigningKey,
    pub token: SigningKey,
    pub catalog: SigningKey,
}

impl Central {
    pub fn new() -> Central {
        Central {
            root: SigningKey::from_bytes(&[1; 32]),
            token: SigningKey::from_bytes(&[2; 32]),
            catalog: SigningKey::from_bytes(&[3; 32]),
        }
    }

    pub fn trust_list(&self, sequence: u64, issued_at: u64) -> Vec<u8> {
        let keys = [
            TrustedKey::new(
                KeyPurpose::Token,
                &self.token.verifying_key().to_bytes(),
                0,
                u64::MAX,
            )
            .unwrap(),
            TrustedKey::new(
                KeyPurpose::Catalog,
                &self.catalog.verifying_key().to_bytes(),
                0,
                u64::MAX,
            )
            .unwrap(),
        ];
        TrustStore::new(sequence, keys)
            .unwrap()
            .seal(&self.root, issued_at, 30 * 86_400)
            .unwrap()
    }

    pub fn pass(&self, subject: &str, issued_at: u64, lifetime: u32, id: u8) -> String {
        self.token_of(
            TokenKind::CustomerPass,
            subject,
            issued_at,
            lifetime,
            id,
            &self.token,
        )
    }

    pub fn token_of(
        &self,
        kind: TokenKind,
        subject: &str,
        issued_at: u64,
        lifetime: u32,
        id: u8,
        key: &SigningKey,
    ) -> String {
        let body = TokenBody {
            kind,
            subject: Subject::new(subject.as_bytes()).unwrap(),
            issued_at: u32::try_from(issued_at).unwrap(),
            lifetime_secs: lifetime,
            token_id: TokenId([id, 0, 0, 0, 0, 0, 0, 9]),
            tier: None,
            balance: None,
        };
        token::issue(&body, key).to_text()
    }
}

/// A till's files in a temp dir.
pub struct Till {
    pub dir: tempfile::TempDir,
    pub config: PathBuf,
}

impl Till {
    pub fn new(central: &Central, max_uses: u32, scanners: &str) -> Till {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        std::fs::create_dir_all(&data).unwrap();
        let record = EnrolmentRecord {
            central: "http://127.0.0.1:9".to_owned(),
            till_public_key: "00".repeat(32),
            response: EnrolResponse {
                v: tillpass_protocol::sync::VERSION,
                store: StoreId::new("S1").unwrap(),
                till: TillId::new("S1-T1").unwrap(),
                region: RegionId::new("north").unwrap(),
                root_public_key: central.root.verifying_key().to_bytes(),
                trust_list: central.trust_list(1, now() - 60),
                offline_policy: OfflinePolicy {
                    max_savings_spend_per_customer: Money::new(2000, Currency::EUR),
                    max_gift_card_spend_per_card: Money::new(5000, Currency::EUR),
                    max_catalog_age_secs: 7 * 86_400,
                    max_trust_list_age_secs: 30 * 86_400,
                    retention_days: 90,
                    replay: ReplayPolicy {
                        max_uses_per_pass: max_uses,
                    },
                },
            },
        };
        std::fs::write(
            data.join("enrolment.json"),
            serde_json::to_vec(&record).unwrap(),
        )
        .unwrap();
        std::fs::write(data.join("api.token"), TOKEN).unwrap();
        let config = dir.path().join("config.toml");
        std::fs::write(
            &config,
            format!(
                "[api]\nlisten = \"127.0.0.1:0\"\n[store]\ndata_dir = {:?}\n[log]\nlevel = \"info\"\n{scanners}",
                data.display().to_string()
            ),
        )
        .unwrap();
        Till { dir, config }
    }

    pub fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    pub fn start(&self) -> Agent {
        Agent::start(&self.config, self.dir.path())
    }
}

/// The running daemon.
pub struct Agent {
    child: Child,
    log: PathBuf,
    pub addr: String,
}

impl Agent {
    fn start(config: &Path, dir: &Path) -> Agent {
        let log = dir.join(format!("agent-{}.log", now_nanos()));
        let out = std::fs::File::create(&log).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_tillpass"))
            .args(["--config", config.to_str().unwrap(), "run"])
            .env_remove("TILLPASS_CONFIG")
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .unwrap();
        let mut agent = Agent {
            child,
            log,
            addr: String::new(),
        };
        agent.addr = agent
            .wait_log("tillpass listening address=", Duration::from_secs(30))
            .split_whitespace()
            .next()
            .unwrap()
            .to_owned();
        agent
    }

    pub fn output(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits for a log line containing `marker`; returns the rest of the line.
    pub fn wait_log(&mut self, marker: &str, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(rest) = self
                .output()
                .lines()
                .find_map(|l| l.find(marker).map(|i| l[i + marker.len()..].to_owned()))
            {
                return rest;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "agent exited ({status}) before {marker:?}:\n{}",
                    self.output()
                );
            }
            assert!(
                Instant::now() < deadline,
                "no {marker:?} within {timeout:?}:\n{}",
                self.output()
            );
            std::thread::park_timeout(Duration::from_millis(20));
        }
    }

    /// A request with the bearer token; returns the status and the JSON body.
    pub fn request(
        &self,
        method: &str,
        path: &str,
        body: Option<&str>,
    ) -> (u16, serde_json::Value) {
        let mut stream = std::net::TcpStream::connect(&self.addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        let body = body.unwrap_or("");
        write!(
            stream,
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {TOKEN}\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).unwrap();
        let (head, body) = answer.split_once("\r\n\r\n").unwrap();
        let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
        let json = serde_json::from_str(body).unwrap_or(serde_json::Value::String(body.to_owned()));
        (status, json)
    }

    pub fn identify(&self, scan: &str) -> (u16, serde_json::Value) {
        let body = serde_json::json!({ "scan": scan }).to_string();
        self.request("POST", "/v1/identify", Some(&body))
    }

    /// Polls `/v1/status` until `check` holds.
    pub fn wait_status(
        &self,
        what: &str,
        check: impl Fn(&serde_json::Value) -> bool,
    ) -> serde_json::Value {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let (_, status) = self.request("GET", "/v1/status", None);
            if check(&status) {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "status never showed {what}: {status:#}\n{}",
                self.output()
            );
            std::thread::park_timeout(Duration::from_millis(20));
        }
    }

    /// SIGTERM, and wait for a clean exit.
    pub fn stop(mut self) {
        let pid = nix::unistd::Pid::from_raw(i32::try_from(self.child.id()).unwrap());
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                assert!(status.success(), "agent exit {status}:\n{}", self.output());
                return;
            }
            assert!(
                Instant::now() < deadline,
                "agent did not stop:\n{}",
                self.output()
            );
            std::thread::park_timeout(Duration::from_millis(20));
        }
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn now_nanos() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos()
}
