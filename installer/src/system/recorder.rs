//! [`Recorder`]: the [`System`] the unit tests run the live-system steps against. It
//! records every command instead of running it, answers from a script, and keeps a clock
//! that moves only when something pauses, so a test of a 60-second deadline takes no time.
//!
//! Built for tests only (`cfg(test)`); [`crate::system`] re-exports it as
//! `crate::system::Recorder`.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::{Account, Command, HttpAnswer, Output, System};

/// A [`System`] that records commands instead of running them, for tests.
///
/// Commands succeed with no output unless a scripted answer matches the start of their
/// command line; HTTP answers come from a queue whose last entry repeats.
#[derive(Debug)]
pub struct Recorder {
    programs: BTreeSet<String>,
    systemd: bool,
    udevd: bool,
    answers: Mutex<Vec<(String, VecDeque<Output>)>>,
    http: Mutex<BTreeMap<String, VecDeque<Result<HttpAnswer, String>>>>,
    users: BTreeMap<String, Account>,
    groups: BTreeMap<String, u32>,
    calls: Mutex<Vec<Command>>,
    start: Instant,
    elapsed: Mutex<Duration>,
}

impl Default for Recorder {
    fn default() -> Recorder {
        Recorder::new()
    }
}

impl Recorder {
    /// A systemd machine with `systemd-sysusers`, `udevadm` and `systemctl`, no
    /// `tillpass` account yet, and nothing answering HTTP.
    pub fn new() -> Recorder {
        Recorder {
            programs: ["systemd-sysusers", "udevadm", "systemctl", "getent"]
                .into_iter()
                .map(str::to_owned)
                .collect(),
            systemd: true,
            udevd: true,
            answers: Mutex::new(Vec::new()),
            http: Mutex::new(BTreeMap::new()),
            users: BTreeMap::new(),
            groups: BTreeMap::new(),
            calls: Mutex::new(Vec::new()),
            start: Instant::now(),
            elapsed: Mutex::new(Duration::ZERO),
        }
    }

    /// With udev installed but udevd not running (a container, a chroot).
    #[must_use]
    pub fn without_udevd(mut self) -> Recorder {
        self.udevd = false;
        self
    }

    /// Without `program` in `PATH`.
    #[must_use]
    pub fn without_program(mut self, program: &str) -> Recorder {
        self.programs.remove(program);
        self
    }

    /// A machine where systemd is not PID 1.
    #[must_use]
    pub fn without_systemd(mut self) -> Recorder {
        self.systemd = false;
        self
    }

    /// With account `name`.
    #[must_use]
    pub fn with_user(mut self, name: &str, account: Account) -> Recorder {
        self.users.insert(name.to_owned(), account);
        self
    }

    /// With group `name`.
    #[must_use]
    pub fn with_group(mut self, name: &str, gid: u32) -> Recorder {
        self.groups.insert(name.to_owned(), gid);
        self
    }

    /// Commands whose line starts with `prefix` answer `outputs` in turn (the last one
    /// repeats).
    pub fn answer(&self, prefix: &str, outputs: Vec<Output>) {
        if let Ok(mut answers) = self.answers.lock() {
            answers.push((prefix.to_owned(), outputs.into()));
        }
    }

    /// `GET url` answers `answers` in turn (the last one repeats).
    pub fn answer_http(&self, url: &str, answers: Vec<Result<HttpAnswer, String>>) {
        if let Ok(mut http) = self.http.lock() {
            http.insert(url.to_owned(), answers.into());
        }
    }

    /// Every command run so far, as command lines.
    pub fn lines(&self) -> Vec<String> {
        self.calls()
            .iter()
            .map(Command::line)
            .collect::<Vec<String>>()
    }

    /// Every command run so far.
    pub fn calls(&self) -> Vec<Command> {
        self.calls.lock().map(|c| c.clone()).unwrap_or_default()
    }

    /// How much time pauses have taken on the recorder's clock.
    pub fn elapsed(&self) -> Duration {
        self.elapsed.lock().map(|e| *e).unwrap_or_default()
    }
}

fn next<T: Clone>(queue: &mut VecDeque<T>) -> Option<T> {
    if queue.len() > 1 {
        queue.pop_front()
    } else {
        queue.front().cloned()
    }
}

impl System for Recorder {
    fn has_program(&self, program: &str) -> bool {
        self.programs.contains(program)
    }

    fn booted_with_systemd(&self) -> bool {
        self.systemd
    }

    fn udev_running(&self) -> bool {
        self.udevd
    }

    fn run(&self, command: &Command) -> std::io::Result<Output> {
        if let Ok(mut calls) = self.calls.lock() {
            calls.push(command.clone());
        }
        let line = command.line();
        if let Ok(mut answers) = self.answers.lock() {
            for (prefix, outputs) in answers.iter_mut().rev() {
                if line.starts_with(prefix.as_str()) {
                    return next(outputs).ok_or_else(|| {
                        std::io::Error::new(std::io::ErrorKind::NotFound, "no such program")
                    });
                }
            }
        }
        if command.program == "getent" {
            let known = match command.args.as_slice() {
                [db, name] if db == "passwd" => self.users.contains_key(name),
                [db, name] if db == "group" => self.groups.contains_key(name),
                _ => false,
            };
            return Ok(if known {
                Output::ok("")
            } else {
                Output::failed(2, "")
            });
        }
        Ok(Output::ok(""))
    }

    fn http_get(
        &self,
        url: &str,
        _headers: &[(&str, String)],
        _timeout: Duration,
    ) -> Result<HttpAnswer, String> {
        self.http
            .lock()
            .ok()
            .and_then(|mut http| http.get_mut(url).and_then(next))
            .unwrap_or_else(|| Err("connection refused".to_owned()))
    }

    fn user(&self, name: &str) -> Option<Account> {
        self.users.get(name).copied()
    }

    fn group(&self, name: &str) -> Option<u32> {
        self.groups.get(name).copied()
    }

    fn now(&self) -> Instant {
        self.start + self.elapsed()
    }

    fn pause(&self, duration: Duration) {
        if let Ok(mut elapsed) = self.elapsed.lock() {
            *elapsed += duration;
        }
    }
}
