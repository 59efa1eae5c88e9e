//! The installer's window on the machine it installs: external commands (`systemctl`,
//! `udevadm`, `systemd-sysusers`, `chown`, the agent itself), HTTP probes, accounts and the
//! clock it waits with.
//!
//! Everything that touches a live system goes through the [`System`] trait, so the order
//! and arguments of those steps can be tested without a machine to break:
//!
//! - [`Host`] is the real one: `std::process::Command`, reqwest, `getpwnam`.
//! - `Recorder` (in `system/recorder.rs`, built for tests only and re-exported here as
//!   `crate::system::Recorder`) records every command instead of running it and answers
//!   from a script; its clock moves only when something pauses, so a test of a 60-second
//!   deadline takes no time.
//!
//! **The recorder is the only test of the live-system steps** (creating the service user,
//! reloading udev and systemd, enabling and starting the unit, `systemctl is-active`,
//! stopping and disabling the unit at uninstall): the machines this project is built and
//! tested on do not run systemd as PID 1, so those commands cannot run there. The steps that need no systemd (backing up and restoring the
//! database, swapping the binary, starting the agent and waiting for `/readyz`) are tested
//! for real on a staged root (`--root`) in `tests/tests/install.rs`.

use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use thiserror::Error;

#[cfg(test)]
mod recorder;
#[cfg(test)]
pub use recorder::Recorder;

/// An external command to run.
#[derive(Clone, PartialEq, Eq)]
pub struct Command {
    /// The program, by name (looked up in `PATH`) or path.
    pub program: String,
    /// Its arguments.
    pub args: Vec<String>,
    /// Extra environment variables.
    pub env: Vec<(String, String)>,
    /// Bytes for its standard input (a password: never shown by `Debug` or `Display`).
    pub stdin: Option<Vec<u8>>,
}

impl Command {
    /// `program` with `args`, no extra environment, no input.
    pub fn new<S: AsRef<str>>(program: impl Into<String>, args: &[S]) -> Command {
        Command {
            program: program.into(),
            args: args.iter().map(|a| a.as_ref().to_owned()).collect(),
            env: Vec::new(),
            stdin: None,
        }
    }

    /// Sets the bytes fed to standard input.
    #[must_use]
    pub fn with_stdin(mut self, bytes: Vec<u8>) -> Command {
        self.stdin = Some(bytes);
        self
    }

    /// Adds environment variables.
    #[must_use]
    pub fn with_env(mut self, env: Vec<(String, String)>) -> Command {
        self.env.extend(env);
        self
    }

    /// The command line, as an operator would type it.
    pub fn line(&self) -> String {
        let mut line = shell_word(&self.program);
        for arg in &self.args {
            line.push(' ');
            line.push_str(&shell_word(arg));
        }
        line
    }
}

fn shell_word(word: &str) -> String {
    if !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=,@+".contains(c))
    {
        word.to_owned()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

impl fmt::Display for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.line())
    }
}

impl fmt::Debug for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Command")
            .field("line", &self.line())
            .field("env", &self.env)
            .field("stdin", &self.stdin.as_ref().map(|_| "<hidden>"))
            .finish()
    }
}

/// What a command did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Output {
    /// The exit code; `None` when a signal ended it.
    pub code: Option<i32>,
    /// Its standard output.
    pub stdout: String,
    /// Its standard error.
    pub stderr: String,
}

impl Output {
    /// A successful run printing `stdout`.
    pub fn ok(stdout: &str) -> Output {
        Output {
            code: Some(0),
            stdout: stdout.to_owned(),
            stderr: String::new(),
        }
    }

    /// A failed run with exit `code` printing `stderr`.
    pub fn failed(code: i32, stderr: &str) -> Output {
        Output {
            code: Some(code),
            stdout: String::new(),
            stderr: stderr.to_owned(),
        }
    }

    /// Whether it exited 0.
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }
}

/// An HTTP answer: status and body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpAnswer {
    /// The status code.
    pub status: u16,
    /// The body, as text.
    pub body: String,
}

/// A user account: uid and primary gid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Account {
    /// The user id.
    pub uid: u32,
    /// The primary group id.
    pub gid: u32,
}

/// The machine, as far as the installer needs it.
pub trait System {
    /// Whether `program` can be found in `PATH`.
    fn has_program(&self, program: &str) -> bool;
    /// Whether systemd runs this machine (`/run/systemd/system` exists).
    fn booted_with_systemd(&self) -> bool;
    /// Whether udevd runs (its control socket `/run/udev/control` exists): udev can be
    /// installed but not running (a container, a chroot, an image being built), and then
    /// `udevadm control` fails.
    fn udev_running(&self) -> bool;
    /// Runs `command` to the end. `Err` when it could not be started at all.
    fn run(&self, command: &Command) -> std::io::Result<Output>;
    /// `GET url` with extra headers.
    fn http_get(
        &self,
        url: &str,
        headers: &[(&str, String)],
        timeout: Duration,
    ) -> Result<HttpAnswer, String>;
    /// The account `name`, if it exists.
    fn user(&self, name: &str) -> Option<Account>;
    /// The gid of group `name`, if it exists.
    fn group(&self, name: &str) -> Option<u32>;
    /// The time, for deadlines.
    fn now(&self) -> Instant;
    /// Waits a little between two looks at a condition (never a wait for the outcome).
    fn pause(&self, duration: Duration);
}

/// The real machine.
#[derive(Debug, Default, Clone, Copy)]
pub struct Host;

impl System for Host {
    fn has_program(&self, program: &str) -> bool {
        if program.contains('/') {
            return Path::new(program).is_file();
        }
        std::env::var_os("PATH")
            .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(program).is_file()))
    }

    fn booted_with_systemd(&self) -> bool {
        Path::new("/run/systemd/system").is_dir()
    }

    fn udev_running(&self) -> bool {
        Path::new("/run/udev/control").exists()
    }

    fn run(&self, command: &Command) -> std::io::Result<Output> {
        let mut cmd = std::process::Command::new(&command.program);
        cmd.args(&command.args)
            .envs(command.env.iter().map(|(k, v)| (k, v)))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .stdin(if command.stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            });
        let mut child = cmd.spawn()?;
        if let (Some(bytes), Some(mut stdin)) = (&command.stdin, child.stdin.take()) {
            // A program that exits without reading its input closes the pipe: that is its
            // answer, and its exit status tells the rest.
            let _ = stdin.write_all(bytes);
        }
        let out = child.wait_with_output()?;
        Ok(Output {
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        })
    }

    fn http_get(
        &self,
        url: &str,
        headers: &[(&str, String)],
        timeout: Duration,
    ) -> Result<HttpAnswer, String> {
        crate::tls::init();
        let client = reqwest::blocking::Client::builder()
            .timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| e.to_string())?;
        let mut request = client.get(url);
        for (name, value) in headers {
            request = request.header(*name, value);
        }
        let answer = request.send().map_err(|e| error_chain(&e))?;
        let status = answer.status().as_u16();
        let body = answer.text().map_err(|e| error_chain(&e))?;
        Ok(HttpAnswer { status, body })
    }

    fn user(&self, name: &str) -> Option<Account> {
        nix::unistd::User::from_name(name)
            .ok()
            .flatten()
            .map(|u| Account {
                uid: u.uid.as_raw(),
                gid: u.gid.as_raw(),
            })
    }

    fn group(&self, name: &str) -> Option<u32> {
        nix::unistd::Group::from_name(name)
            .ok()
            .flatten()
            .map(|g| g.gid.as_raw())
    }

    fn now(&self) -> Instant {
        Instant::now()
    }

    fn pause(&self, duration: Duration) {
        let deadline = Instant::now() + duration;
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            if left.is_zero() {
                break;
            }
            std::thread::park_timeout(left);
        }
    }
}

/// An error and its causes on one line ("error sending request: connection refused").
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        let next = cause.to_string();
        if !text.contains(&next) {
            text.push_str(": ");
            text.push_str(&next);
        }
        source = cause.source();
    }
    text
}

/// A command that failed, with what the operator should do about it.
#[derive(Debug, Error)]
#[error("{step}: `{command}` {outcome}{}. {hint}", detail(.output))]
pub struct CommandError {
    /// What the step was for, e.g. "creating the service user".
    pub step: String,
    /// The command line.
    pub command: String,
    /// How it went: "could not be started (…)" or "exited with status 1".
    pub outcome: String,
    /// What it printed, trimmed.
    pub output: String,
    /// What to do.
    pub hint: String,
}

fn detail(output: &str) -> String {
    if output.is_empty() {
        String::new()
    } else {
        format!(": {output}")
    }
}

/// The last few lines of `text`, trimmed, on one line.
pub fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    all[all.len().saturating_sub(lines)..].join(" / ")
}

/// Runs `command` for `step`; anything but exit 0 is a [`CommandError`] carrying `hint`.
pub fn run_checked(
    system: &dyn System,
    step: &str,
    command: &Command,
    hint: &str,
) -> Result<Output, CommandError> {
    explain(step, command, hint, system.run(command))
}

/// What [`run_checked`] makes of a run of `command` that already happened: `Ok` on exit 0,
/// otherwise a [`CommandError`] for `step` carrying `hint`. For steps that first look at
/// the output themselves (an answer that means "already done").
pub fn explain(
    step: &str,
    command: &Command,
    hint: &str,
    result: std::io::Result<Output>,
) -> Result<Output, CommandError> {
    let fail = |outcome: String, output: String| CommandError {
        step: step.to_owned(),
        command: command.line(),
        outcome,
        output,
        hint: hint.to_owned(),
    };
    match result {
        Err(e) => Err(fail(format!("could not be started ({e})"), String::new())),
        Ok(out) if out.success() => Ok(out),
        Ok(out) => {
            let outcome = match out.code {
                Some(code) => format!("exited with status {code}"),
                None => "was killed by a signal".to_owned(),
            };
            let printed = if out.stderr.trim().is_empty() {
                &out.stdout
            } else {
                &out.stderr
            };
            Err(fail(outcome, tail(printed, 4)))
        }
    }
}

/// Polls `probe` until it returns `Some`, pausing a little longer each time, until
/// `timeout` has passed on `system`'s clock; then `Err` with the last thing seen.
pub fn wait_until<T>(
    system: &dyn System,
    timeout: Duration,
    mut probe: impl FnMut() -> Result<T, String>,
) -> Result<T, String> {
    let start = system.now();
    let mut pause = Duration::from_millis(20);
    loop {
        let last = match probe() {
            Ok(value) => return Ok(value),
            Err(e) => e,
        };
        let waited = system.now().saturating_duration_since(start);
        if waited >= timeout {
            return Err(last);
        }
        system.pause(pause.min(timeout.saturating_sub(waited)));
        pause = (pause * 2).min(Duration::from_millis(500));
    }
}

/// Where a path given on the command line points, made absolute against the working
/// directory (commands run elsewhere must still find it).
pub fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_lines_quote_what_a_shell_would_split() {
        let c = Command::new("useradd", &["--comment", "tillpass loyalty agent", "x'y"]);
        assert_eq!(
            c.line(),
            r"useradd --comment 'tillpass loyalty agent' 'x'\''y'"
        );
        let secret = Command::new("tillpass", &["manager"]).with_stdin(b"hunter2".to_vec());
        assert!(!format!("{secret:?}").contains("hunter2"));
    }

    #[test]
    fn a_failed_command_is_explained_with_its_output_and_a_hint() {
        let system = Recorder::new();
        system.answer(
            "systemctl start",
            vec![Output::failed(1, "Job failed.\nSee journalctl.\n")],
        );
        let err = run_checked(
            &system,
            "starting the agent",
            &Command::new("systemctl", &["start", "tillpass.service"]),
            "run `journalctl -u tillpass`",
        )
        .unwrap_err()
        .to_string();
        assert_eq!(
            err,
            "starting the agent: `systemctl start tillpass.service` exited with status 1: \
             Job failed. / See journalctl.. run `journalctl -u tillpass`"
        );
        let host = Host;
        let err = run_checked(
            &host,
            "x",
            &Command::new("/nonexistent/tillpass-no-such-program", &[] as &[&str]),
            "install it",
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("could not be started"), "{err}");
    }

    #[test]
    fn the_host_feeds_stdin_and_reads_the_exit_code() {
        let out = Host
            .run(
                &Command::new("sh", &["-c", "read line; echo \"got $line\"; exit 3"])
                    .with_stdin(b"secret\n".to_vec()),
            )
            .unwrap();
        assert_eq!(out.code, Some(3));
        assert_eq!(out.stdout.trim(), "got secret");
        assert!(Host.has_program("sh"));
        assert!(!Host.has_program("tillpass-surely-not-a-program"));
    }

    #[test]
    fn waiting_on_the_recorders_clock_takes_no_time() {
        let system = Recorder::new();
        let real = Instant::now();
        let err = wait_until(&system, Duration::from_secs(60), || {
            Err::<(), _>("not yet".to_owned())
        })
        .unwrap_err();
        assert_eq!(err, "not yet");
        assert!(system.elapsed() >= Duration::from_secs(60));
        assert!(real.elapsed() < Duration::from_secs(5));
    }
}
