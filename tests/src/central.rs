//! The real `tillpass-central` as a process: its database and key folder in a directory the
//! test owns, its HTTP API on loopback (port 0, or a fixed port to come back on after a
//! stop), its admin API behind a token, and its command line for everything else
//! (customers, gift cards, catalogs, enrolment codes, passes).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::binary::{self, CENTRAL};
use crate::http::{Request, Response};
use crate::process::Child;

/// The admin bearer token every test central is started with.
pub const ADMIN_TOKEN: &str = "e2e-central-admin-token-0123456789";

/// A running (or stopped) central.
#[derive(Debug)]
pub struct Central {
    dir: PathBuf,
    /// `--db`: the SQLite file in `dir`, or a PostgreSQL URL.
    db: String,
    child: Option<Child>,
    starts: u32,
    /// `127.0.0.1:port`, kept across a stop so a restart comes back on the same port.
    pub addr: String,
}

impl Central {
    /// Starts central with its files in `dir`, on a free port.
    pub fn start(dir: &Path) -> Result<Central, String> {
        Central::start_on(dir, "central.db")
    }

    /// Starts central with its key folder and logs in `dir`, on a free port, on the
    /// database `db` (a file in `dir`, or a PostgreSQL URL: several nodes may share one,
    /// given the same key folder).
    pub fn start_on(dir: &Path, db: &str) -> Result<Central, String> {
        std::fs::write(dir.join("admin.token"), ADMIN_TOKEN)
            .map_err(|e| format!("writing the admin token: {e}"))?;
        let mut central = Central {
            dir: dir.to_path_buf(),
            db: db.to_owned(),
            child: None,
            starts: 0,
            addr: "127.0.0.1:0".to_owned(),
        };
        central.serve()?;
        Ok(central)
    }

    /// Its base URL.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The folder of its database, keys and logs.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Its SQLite database.
    pub fn db_path(&self) -> PathBuf {
        self.dir.join("central.db")
    }

    /// Whether the server process is running.
    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    /// Kills the server (SIGKILL: nothing is flushed that was not committed).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill();
        }
    }

    /// Starts the server again on the same port and database.
    pub fn restart(&mut self) -> Result<(), String> {
        self.stop();
        self.serve()
    }

    fn serve(&mut self) -> Result<(), String> {
        self.starts += 1;
        let mut cmd = self.command()?;
        cmd.args([
            "serve",
            "--listen",
            &self.addr,
            "--admin-token-file",
            "admin.token",
        ]);
        let name = format!("central-{}", self.starts);
        let mut child = Child::spawn(&name, cmd, &self.dir).map_err(|e| e.to_string())?;
        let line = child.wait_for_line("tillpass-central listening", Duration::from_secs(30))?;
        let addr = line
            .rsplit('=')
            .next()
            .map(str::trim)
            .filter(|a| !a.is_empty())
            .ok_or_else(|| format!("no address in {line:?}"))?;
        self.addr = addr.to_owned();
        self.child = Some(child);
        Ok(())
    }

    /// Everything the server printed since its last start.
    pub fn output(&self) -> String {
        self.child.as_ref().map(Child::output).unwrap_or_default()
    }

    fn command(&self) -> Result<Command, String> {
        let mut cmd = Command::new(binary::path(CENTRAL)?);
        cmd.current_dir(&self.dir)
            .args(["--database", &self.db, "--keys", "keys"]);
        Ok(cmd)
    }

    /// Runs a `tillpass-central` subcommand on this central's files; its standard output,
    /// or the whole output as the error.
    pub fn cli(&self, args: &[&str]) -> Result<String, String> {
        let out = self
            .command()?
            .args(args)
            .output()
            .map_err(|e| format!("tillpass-central {args:?}: {e}"))?;
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        if out.status.success() {
            Ok(stdout)
        } else {
            Err(format!(
                "tillpass-central {args:?} failed ({}):\n{stdout}{}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            ))
        }
    }

    /// A one-time enrolment code for the next till of `store`.
    pub fn enrol_code(&self, store: &str) -> Result<String, String> {
        let out = self.cli(&["enrol-code", "--store", store])?;
        // `{ "code": "…", … }`, pretty-printed.
        out.split("\"code\"")
            .nth(1)
            .and_then(|rest| rest.split('"').nth(1))
            .map(str::to_owned)
            .ok_or_else(|| format!("no code in {out}"))
    }

    /// A request to the admin API (with the admin token).
    pub fn admin(&self, method: &str, path: &str, json: Option<&str>) -> Result<Response, String> {
        let mut request = Request::new(method, path).bearer(ADMIN_TOKEN);
        if let Some(body) = json {
            request = request.json(body);
        }
        request
            .send(&self.addr)
            .map_err(|e| format!("{method} {path} to central: {e}"))
    }
}
