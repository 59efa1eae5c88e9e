//! A child process for a test: killed when dropped, its output kept in a file.
//!
//! Servers are started on port 0 and announce the address they bound on a line of their
//! output; [`Child::wait_for_line`] finds it. On failure, [`Child::output`] gives the whole
//! log for the assertion message.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::Duration;

use crate::wait;

/// A running child process that is killed (SIGKILL) when dropped.
#[derive(Debug)]
pub struct Child {
    name: String,
    child: std::process::Child,
    log: PathBuf,
}

impl Child {
    /// Starts `command` with stdout and stderr going to `log_dir/<name>.log`.
    pub fn spawn(name: &str, mut command: Command, log_dir: &Path) -> std::io::Result<Child> {
        let log = log_dir.join(format!("{name}.log"));
        let out = File::create(&log)?;
        let err = out.try_clone()?;
        let child = command
            .stdin(Stdio::null())
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err))
            .spawn()?;
        Ok(Child {
            name: name.to_owned(),
            child,
            log,
        })
    }

    /// The process id.
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// Everything the process has written so far.
    pub fn output(&self) -> String {
        let mut text = String::new();
        if let Ok(mut f) = File::open(&self.log) {
            let _ = f.read_to_string(&mut text);
        }
        text
    }

    /// Waits until a line of output contains `marker`, and returns the rest of that line
    /// after the marker, trimmed. Fails if the process exits first or the deadline passes.
    pub fn wait_for_line(&mut self, marker: &str, timeout: Duration) -> Result<String, String> {
        let name = self.name.clone();
        let mut exited = None;
        let found = wait::until(&format!("{name} to print {marker:?}"), timeout, || {
            if let Some(rest) = self.output().lines().find_map(|line| {
                line.find(marker)
                    .map(|at| line[at + marker.len()..].trim().to_owned())
            }) {
                return Some(Some(rest));
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                exited = Some(status);
                return Some(None);
            }
            None
        });
        match found {
            Ok(Some(rest)) => Ok(rest),
            Ok(None) => Err(format!(
                "{name} exited ({}) before printing {marker:?}:\n{}",
                exited.map(|s| s.to_string()).unwrap_or_default(),
                self.output()
            )),
            Err(e) => Err(format!("{e}\n{name} output:\n{}", self.output())),
        }
    }

    /// Sends SIGKILL, as a power cut would, and reaps the process.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Waits for the process to exit, at most `timeout`.
    pub fn wait_exit(&mut self, timeout: Duration) -> Result<ExitStatus, String> {
        let name = self.name.clone();
        wait::until(&format!("{name} to exit"), timeout, || {
            self.child.try_wait().ok().flatten()
        })
        .map_err(|e| format!("{e}\n{name} output:\n{}", self.output()))
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        self.kill();
    }
}
