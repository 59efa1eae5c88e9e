//! The agent as the installer drives it: where its `/readyz` answers, how to run it from a
//! staged root, and its `manager add` command.
//!
//! On a live till the agent runs under systemd and reads the live paths its configuration
//! names. On a staged root (`--root DIR`) the configuration still names the live paths (it
//! is written for the till the image becomes), so the installer points the agent at the
//! staged files with `TILLPASS_*` variables ([`staged_env`]) and runs it directly
//! ([`StagedAgent`]); devices and the network are this machine's.

use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use thiserror::Error;

use crate::layout::Layout;
use crate::system::{self, Command, System};

/// Where the agent's API listens when the configuration says nothing.
pub const DEFAULT_LISTEN: SocketAddr = tillpass_tillfiles::config::DEFAULT_LISTEN;

/// The address the agent's configuration file at `config` makes it listen on (the
/// default when the file or the key is absent). An unspecified address (`0.0.0.0`) is
/// reached on loopback.
pub fn listen_address(config: &Path) -> Result<SocketAddr, String> {
    let Ok(text) = std::fs::read_to_string(config) else {
        return Ok(DEFAULT_LISTEN);
    };
    tillpass_tillfiles::config::local_api_address(&text)
        .map_err(|e| format!("{}: [api] listen: {e}", config.display()))
}

/// The `/readyz` URL of an agent listening on `addr`.
pub fn readyz_url(addr: SocketAddr) -> String {
    format!("http://{addr}/readyz")
}

/// Waits until `GET url` answers 200, at most `timeout`. The error is the last thing
/// seen: a network error or the agent's answer (its body lists why it is not ready).
pub fn wait_ready(system: &dyn System, url: &str, timeout: Duration) -> Result<(), String> {
    system::wait_until(system, timeout, || {
        match system.http_get(url, &[], Duration::from_secs(2)) {
            Ok(answer) if answer.status == 200 => Ok(()),
            Ok(answer) => Err(format!(
                "{url} answered {}: {}",
                answer.status,
                answer.body.trim()
            )),
            Err(e) => Err(format!("{url}: {e}")),
        }
    })
}

/// The `TILLPASS_*` variables that point an agent at a staged root's files (empty for a
/// live install).
pub fn staged_env(layout: &Layout) -> Vec<(String, String)> {
    if layout.is_live() {
        return Vec::new();
    }
    let path = |p: std::path::PathBuf| system::absolute(&p).display().to_string();
    vec![
        (
            "TILLPASS_STORE_DATA_DIR".to_owned(),
            path(layout.state_dir()),
        ),
        (
            "TILLPASS_TILL_ENROLMENT_FILE".to_owned(),
            path(layout.enrolment_file()),
        ),
        ("TILLPASS_TILL_KEY_FILE".to_owned(), path(layout.till_key())),
        (
            "TILLPASS_API_TOKEN_FILE".to_owned(),
            path(layout.api_token()),
        ),
    ]
}

/// The agent binary's name.
const AGENT_BINARY_NAME: &str = "tillpass";

/// The till's state as the agent reads it from its files: `tillpass status --offline
/// --json` of the installed agent binary, or of the one beside this installer (pointed at
/// a staged root's files when staged).
/// The installer never reads the agent's tables itself. The error says why the agent
/// could not be asked (no binary, an agent older than `status --offline`, …).
pub fn offline_status(
    system: &dyn System,
    layout: &Layout,
) -> Result<tillpass_tillfiles::status::OfflineStatus, String> {
    let installed = system::absolute(&layout.agent_binary());
    // A staged root may not hold the agent yet: then the one beside this installer (the
    // package installs both in /usr/bin; a build puts both in one folder).
    let beside = std::env::current_exe()
        .ok()
        .and_then(|me| Some(me.parent()?.join(AGENT_BINARY_NAME)));
    let Some(binary) = std::iter::once(installed.clone())
        .chain(beside)
        .find(|b| b.is_file())
    else {
        return Err(format!(
            "there is no agent binary at {}",
            installed.display()
        ));
    };
    let mut args = Vec::new();
    let config = system::absolute(&layout.config_file());
    if config.is_file() {
        args.push("--config".to_owned());
        args.push(config.display().to_string());
    }
    args.extend(["status", "--offline", "--json"].map(str::to_owned));
    let command = Command::new(binary.display().to_string(), &args).with_env(staged_env(layout));
    let output = system
        .run(&command)
        .map_err(|e| format!("cannot run {}: {e}", binary.display()))?;
    serde_json::from_str(output.stdout.trim()).map_err(|_| {
        format!(
            "`{} status --offline --json` answered no status (an agent older than this \
             installer?): {}",
            binary.display(),
            system::tail(&format!("{}{}", output.stdout, output.stderr), 3)
        )
    })
}

/// Why the first manager account could not be made.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ManagerError {
    /// There is no agent binary to ask.
    #[error(
        "cannot create the manager account: there is no agent binary at {0}. Install the \
         tillpass package (or give --agent-binary FILE), then run install again with --manager"
    )]
    NoBinary(String),
    /// The agent binary is older than the `manager` command.
    #[error(
        "cannot create the manager account: the agent at {0} has no `manager add` command \
         (it is older than this installer). Install a newer tillpass, then run install \
         again with --manager; everything else is installed"
    )]
    Unsupported(String),
    /// The agent refused or failed.
    #[error(transparent)]
    Failed(#[from] system::CommandError),
}

/// The first manager account: who, in which language, with which password.
#[derive(Clone)]
pub struct Manager {
    /// The manager's login name.
    pub name: String,
    /// The dashboard language (`es` or `en`), if chosen.
    pub lang: Option<String>,
    /// The password (fed to the agent on standard input, never on a command line).
    pub password: String,
}

impl std::fmt::Debug for Manager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Manager")
            .field("name", &self.name)
            .field("lang", &self.lang)
            .finish_non_exhaustive()
    }
}

/// Runs `<bindir>/tillpass --config <config> manager add --name NAME [--lang L]` with the
/// password on standard input.
pub fn add_manager(
    system: &dyn System,
    layout: &Layout,
    manager: &Manager,
) -> Result<(), ManagerError> {
    let binary = system::absolute(&layout.agent_binary());
    if !binary.is_file() {
        return Err(ManagerError::NoBinary(binary.display().to_string()));
    }
    let config = system::absolute(&layout.config_file());
    let mut args = vec![
        "--config".to_owned(),
        config.display().to_string(),
        "manager".to_owned(),
        "add".to_owned(),
        "--name".to_owned(),
        manager.name.clone(),
    ];
    if let Some(lang) = &manager.lang {
        args.push("--lang".to_owned());
        args.push(lang.clone());
    }
    let command = Command::new(binary.display().to_string(), &args)
        .with_env(staged_env(layout))
        .with_stdin(format!("{}\n", manager.password).into_bytes());
    let result = system::run_checked(
        system,
        "creating the manager account",
        &command,
        "fix what the agent says, then run install again with --manager",
    );
    match result {
        Ok(_) => Ok(()),
        Err(e)
            if e.output.contains("unrecognized subcommand")
                || e.output.contains("unexpected argument 'add'") =>
        {
            Err(ManagerError::Unsupported(binary.display().to_string()))
        }
        Err(e) => Err(e.into()),
    }
}

/// An agent started from a staged root's files, listening on a free loopback port. Killed
/// when dropped.
#[derive(Debug)]
pub struct StagedAgent {
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
    /// How many of the two output readers have reached the end of their stream.
    finished: Arc<AtomicUsize>,
}

/// The line the agent logs once it listens, followed by `address=`.
const LISTENING: &str = "tillpass listening";

impl StagedAgent {
    /// Starts `<root>/usr/bin/tillpass run` on the staged configuration and files.
    pub fn start(layout: &Layout) -> Result<StagedAgent, String> {
        let binary = system::absolute(&layout.agent_binary());
        let mut command = std::process::Command::new(&binary);
        command
            .arg("--config")
            .arg(system::absolute(&layout.config_file()))
            .arg("run")
            .envs(staged_env(layout))
            .env("TILLPASS_API_LISTEN", "127.0.0.1:0")
            .env("TILLPASS_LOG_FORMAT", "human")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", binary.display()))?;
        let lines = Arc::new(Mutex::new(Vec::new()));
        let finished = Arc::new(AtomicUsize::new(0));
        for stream in [
            child
                .stdout
                .take()
                .map(|s| Box::new(s) as Box<dyn Read + Send>),
            child
                .stderr
                .take()
                .map(|s| Box::new(s) as Box<dyn Read + Send>),
        ] {
            match stream {
                Some(stream) => collect(stream, Arc::clone(&lines), Arc::clone(&finished)),
                None => {
                    finished.fetch_add(1, Ordering::SeqCst);
                }
            }
        }
        Ok(StagedAgent {
            child,
            lines,
            finished,
        })
    }

    /// Everything the agent printed so far.
    pub fn output(&self) -> String {
        self.lines.lock().map(|l| l.join("\n")).unwrap_or_default()
    }

    fn exited(&mut self, system: &dyn System) -> Option<String> {
        match self.child.try_wait() {
            Ok(Some(status)) => {
                // Its last words may still be in the pipes: read them to the end (a
                // child of its own could hold them open, hence the deadline).
                let _ = system::wait_until(system, Duration::from_secs(2), || {
                    if self.finished.load(Ordering::SeqCst) >= 2 {
                        Ok(())
                    } else {
                        Err(String::new())
                    }
                });
                Some(format!(
                    "the agent exited ({status}) before it was ready: {}",
                    system::tail(&self.output(), 6)
                ))
            }
            _ => None,
        }
    }

    /// Waits until the agent listens and its `/readyz` answers 200, at most `timeout`.
    pub fn wait_ready(&mut self, system: &dyn System, timeout: Duration) -> Result<(), String> {
        let start = system.now();
        let addr = system::wait_until(system, timeout, || {
            if let Some(addr) = self
                .output()
                .lines()
                .find_map(|l| l.find(LISTENING).map(|at| address_after(&l[at..])))
                .flatten()
            {
                return Ok(Ok(addr));
            }
            match self.exited(system) {
                Some(why) => Ok(Err(why)),
                None => Err(format!(
                    "the agent did not announce its address: {}",
                    system::tail(&self.output(), 6)
                )),
            }
        })??;
        let left = timeout.saturating_sub(system.now().saturating_duration_since(start));
        let url = readyz_url(addr);
        system::wait_until(system, left, || {
            if let Some(why) = self.exited(system) {
                return Ok(Err(why));
            }
            match system.http_get(&url, &[], Duration::from_secs(2)) {
                Ok(answer) if answer.status == 200 => Ok(Ok(())),
                Ok(answer) => Err(format!(
                    "{url} answered {}: {}",
                    answer.status,
                    answer.body.trim()
                )),
                Err(e) => Err(format!("{url}: {e}")),
            }
        })?
    }

    /// Stops the agent: SIGTERM, then SIGKILL if it has not exited within `grace`.
    pub fn stop(mut self, system: &dyn System, grace: Duration) {
        if let Ok(pid) = i32::try_from(self.child.id()) {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGTERM,
            );
        }
        let _ = system::wait_until(system, grace, || match self.child.try_wait() {
            Ok(Some(_)) => Ok(()),
            _ => Err(String::new()),
        });
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for StagedAgent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The socket address after `address=` in a log line.
fn address_after(line: &str) -> Option<SocketAddr> {
    let at = line.find("address=")?;
    let rest = &line[at + "address=".len()..];
    // The agent logs without colour when its output is not a terminal, as here.
    let text: String = rest
        .chars()
        .take_while(|c| !c.is_whitespace() && *c != '\u{1b}')
        .collect();
    text.trim_matches('"').parse().ok()
}

fn collect(
    stream: Box<dyn Read + Send>,
    lines: Arc<Mutex<Vec<String>>>,
    finished: Arc<AtomicUsize>,
) {
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines() {
            let Ok(line) = line else { break };
            if let Ok(mut lines) = lines.lock() {
                lines.push(line);
            }
        }
        finished.fetch_add(1, Ordering::SeqCst);
    });
}

/// The till's agent as the installer's tests see it: a binary, the database it keeps and
/// its answers to `status --offline --json`, scripted on a [`Recorder`](crate::system::Recorder).
#[cfg(test)]
pub(crate) mod testing {
    use tillpass_tillfiles::status::{Database, DatabaseState, OfflineStatus, Outbox};

    use crate::fsops::{ensure_dir, ensure_file, ensure_file_once};
    use crate::layout::Layout;
    use crate::system::{Output, Recorder};

    /// The agent's command line counting the outbox.
    pub(crate) fn status_line(layout: &Layout) -> String {
        let config = layout.config_file();
        let config = if config.is_file() {
            format!(" --config {}", config.display())
        } else {
            String::new()
        };
        format!(
            "{}{config} status --offline --json",
            layout.agent_binary().display()
        )
    }

    /// The agent's answer to `status --offline --json`: an intact database whose outbox
    /// holds `unsynced` events, one of them rejected by central when there are any.
    pub(crate) fn counted(layout: &Layout, unsynced: i64) -> Output {
        let rejected = i64::from(unsynced > 0);
        let status = OfflineStatus {
            database: Database {
                path: layout.database(),
                state: DatabaseState::Intact,
                problem: None,
            },
            trust_list: None,
            catalog: None,
            outbox: Some(Outbox {
                pending: unsynced - rejected,
                rejected,
                newest_rejection: None,
            }),
        };
        Output::ok(&serde_json::to_string(&status).unwrap())
    }

    /// The till's agent as the installer sees it: its binary, the database it keeps (the
    /// installer never opens it) and its counts of the outbox, one per time it is asked
    /// (the last repeats).
    pub(crate) fn agent(system: &Recorder, layout: &Layout, unsynced: &[i64]) {
        ensure_dir(layout.agent_binary().parent().unwrap(), 0o755).unwrap();
        ensure_file(&layout.agent_binary(), b"the agent", 0o755).unwrap();
        ensure_file_once(&layout.database(), b"the agent's own", 0o600).unwrap();
        system.answer(
            &layout.agent_binary().display().to_string(),
            unsynced.iter().map(|n| counted(layout, *n)).collect(),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::system::{HttpAnswer, Recorder};

    #[test]
    fn the_listen_address_comes_from_the_configuration() {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("config.toml");
        assert_eq!(listen_address(&config).unwrap(), DEFAULT_LISTEN);
        std::fs::write(&config, "[api]\nlisten = \"0.0.0.0:7200\"\n").unwrap();
        assert_eq!(
            listen_address(&config).unwrap().to_string(),
            "127.0.0.1:7200"
        );
        std::fs::write(&config, "[api]\nlisten = \"nowhere\"\n").unwrap();
        assert!(listen_address(&config).unwrap_err().contains("listen"));
    }

    #[test]
    fn the_address_is_read_from_the_listening_line() {
        assert_eq!(
            address_after("INFO tillpass listening address=127.0.0.1:4242").unwrap(),
            "127.0.0.1:4242".parse::<SocketAddr>().unwrap()
        );
        assert!(address_after("tillpass listening").is_none());
    }

    #[test]
    fn readiness_is_awaited_and_the_last_answer_explains_a_timeout() {
        let system = Recorder::new();
        let url = "http://127.0.0.1:7100/readyz";
        system.answer_http(
            url,
            vec![
                Err("connection refused".to_owned()),
                Ok(HttpAnswer {
                    status: 200,
                    body: "{}".to_owned(),
                }),
            ],
        );
        wait_ready(&system, url, Duration::from_secs(60)).unwrap();
        system.answer_http(
            url,
            vec![Ok(HttpAnswer {
                status: 503,
                body: "{\"reasons\":[\"not_enrolled\"]}".to_owned(),
            })],
        );
        let err = wait_ready(&system, url, Duration::from_secs(60)).unwrap_err();
        assert!(err.contains("503") && err.contains("not_enrolled"), "{err}");
    }

    #[test]
    fn staged_env_points_at_the_staged_files_and_live_needs_none() {
        assert!(staged_env(&Layout::new("/")).is_empty());
        let env = staged_env(&Layout::new("/tmp/stage"));
        assert!(env.contains(&(
            "TILLPASS_STORE_DATA_DIR".to_owned(),
            "/tmp/stage/var/lib/tillpass".to_owned()
        )));
    }
}
