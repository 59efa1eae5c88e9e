//! A till as the field has one: staged by the real `tillpass-install` below a root folder
//! and enrolled with a real central ([`Till`]), and the real `tillpass` daemon running on
//! its files with the POS API on a free loopback port ([`Agent`]).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::binary::{self, INSTALL, TILLPASS};
use crate::central::Central;
use crate::http::{Request, Response};
use crate::process::Child;
use crate::wait;

/// A till installed and enrolled below `root` (what `/` is on a real till).
#[derive(Debug, Clone)]
pub struct Till {
    root: PathBuf,
}

impl Till {
    /// Installs a till of `store` below `root` with `tillpass-install install --root`,
    /// enrolled with `central` through a fresh one-time code.
    pub fn install(central: &Central, store: &str, root: &Path) -> Result<Till, String> {
        let code = central.enrol_code(store)?;
        let out = Command::new(binary::path(INSTALL)?)
            .args(["install", "--central", &central.url(), "--enrol", &code])
            .arg("--root")
            .arg(root)
            .output()
            .map_err(|e| format!("tillpass-install: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "tillpass-install failed ({}):\n{}{}",
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        Ok(Till {
            root: root.to_path_buf(),
        })
    }

    /// A till already installed below `root` (by a test's own `tillpass-install` run).
    pub fn at(root: &Path) -> Till {
        Till {
            root: root.to_path_buf(),
        }
    }

    /// The root folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `etc/tillpass/config.toml`.
    pub fn config_file(&self) -> PathBuf {
        self.root.join("etc/tillpass/config.toml")
    }

    /// `var/lib/tillpass`: the agent's state (database, enrolment record).
    pub fn state_dir(&self) -> PathBuf {
        self.root.join("var/lib/tillpass")
    }

    /// The POS bearer token the installer made.
    pub fn api_token(&self) -> Result<String, String> {
        std::fs::read_to_string(self.root.join("etc/tillpass/api.token"))
            .map(|t| t.trim().to_owned())
            .map_err(|e| format!("reading the API token: {e}"))
    }

    /// Adds `settings` below the installer's marker line, where the operator's own lines
    /// (e.g. `[[scanner]]` entries) go.
    pub fn add_config(&self, settings: &str) -> Result<(), String> {
        let path = self.config_file();
        let mut text = std::fs::read_to_string(&path).map_err(|e| e.to_string())?;
        if !text.ends_with('\n') {
            text.push('\n');
        }
        text.push_str(settings);
        std::fs::write(&path, text).map_err(|e| e.to_string())
    }

    /// The environment that points the agent at this staged root instead of `/` (with the
    /// database in `data_dir`, the state folder when `None`), its API on a free port and a
    /// sync round every second.
    pub fn agent_env(&self, data_dir: Option<&Path>) -> Vec<(String, String)> {
        let root = self.root.display();
        let data = data_dir.map_or_else(|| self.state_dir(), Path::to_path_buf);
        vec![
            (
                "TILLPASS_STORE_DATA_DIR".to_owned(),
                data.display().to_string(),
            ),
            (
                "TILLPASS_TILL_ENROLMENT_FILE".to_owned(),
                format!("{root}/var/lib/tillpass/enrolment.json"),
            ),
            (
                "TILLPASS_API_TOKEN_FILE".to_owned(),
                format!("{root}/etc/tillpass/api.token"),
            ),
            (
                "TILLPASS_TILL_KEY_FILE".to_owned(),
                format!("{root}/etc/tillpass/till.key"),
            ),
            ("TILLPASS_API_LISTEN".to_owned(), "127.0.0.1:0".to_owned()),
            ("TILLPASS_SYNC_INTERVAL_SECS".to_owned(), "1".to_owned()),
        ]
    }

    /// Starts the agent on this till's files (see [`Till::agent_env`]); its log goes to
    /// `<root>/<name>.log`.
    pub fn start_agent(&self, name: &str, data_dir: Option<&Path>) -> Result<Agent, String> {
        Agent::start(
            name,
            &self.config_file(),
            &self.agent_env(data_dir),
            &self.root,
            &self.api_token()?,
        )
    }
}

/// The running daemon, killed when dropped.
#[derive(Debug)]
pub struct Agent {
    child: Child,
    /// Where the POS API listens, `127.0.0.1:port`.
    pub addr: String,
    /// The POS bearer token.
    pub token: String,
}

impl Agent {
    /// Starts `tillpass --config <config> run` with `env`, logging to `<log_dir>/<name>.log`,
    /// and waits until it listens.
    pub fn start(
        name: &str,
        config: &Path,
        env: &[(String, String)],
        log_dir: &Path,
        token: &str,
    ) -> Result<Agent, String> {
        let mut cmd = Command::new(binary::path(TILLPASS)?);
        cmd.arg("--config")
            .arg(config)
            .arg("run")
            .env_remove("TILLPASS_CONFIG");
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = Child::spawn(name, cmd, log_dir).map_err(|e| e.to_string())?;
        let rest = child.wait_for_line("tillpass listening address=", Duration::from_secs(30))?;
        let addr = rest
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .to_owned();
        Ok(Agent {
            child,
            addr,
            token: token.to_owned(),
        })
    }

    /// Everything it logged.
    pub fn output(&self) -> String {
        self.child.output()
    }

    /// Its process id.
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILL.
    pub fn kill(&mut self) {
        self.child.kill();
    }

    /// Sends `request` with the bearer token.
    pub fn send(&self, request: Request<'_>) -> Result<Response, String> {
        let method = request.method;
        let path = request.path;
        request
            .bearer(&self.token)
            .send(&self.addr)
            .map_err(|e| format!("{method} {path}: {e}\nagent log:\n{}", self.output()))
    }

    /// `GET path`.
    pub fn get(&self, path: &str) -> Result<Response, String> {
        self.send(Request::new("GET", path))
    }

    /// `method path` with a JSON body and an `Idempotency-Key`.
    pub fn change(
        &self,
        method: &str,
        path: &str,
        key: &str,
        json: &str,
    ) -> Result<Response, String> {
        self.send(Request::new(method, path).key(key).json(json))
    }

    /// Polls `GET path` until `check` holds for the answer's body, at most `timeout`.
    pub fn wait_for(
        &self,
        what: &str,
        path: &str,
        timeout: Duration,
        check: impl Fn(&str) -> bool,
    ) -> Result<String, String> {
        let mut last = String::new();
        wait::until(what, timeout, || {
            let body = self.get(path).ok()?.body;
            if check(&body) {
                Some(body)
            } else {
                last = body;
                None
            }
        })
        .map_err(|e| format!("{e}\nlast {path}: {last}\nagent log:\n{}", self.output()))
    }
}
