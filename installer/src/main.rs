//! `tillpass-install`: installs tillpass on a Linux till and keeps it healthy.
use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};
use tillpass_installer::agent::Manager;
use tillpass_installer::layout::Layout;
use tillpass_installer::system::Host;
use tillpass_installer::{doctor, install, package, uninstall, upgrade};

/// Install, enrol, upgrade, uninstall and diagnose tillpass on a Linux till.
#[derive(Debug, Parser)]
#[command(name = "tillpass-install", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Installs and enrols tillpass: directories, systemd unit, udev rules, service user,
    /// the till's key and POS API token, enrolment with central, configuration. On a till
    /// installed from the .deb the unit, udev rules, sysusers.d and tmpfiles.d entries are
    /// the package's and none is written to /etc. Safe to re-run: what is already right is
    /// left alone, and an enrolled till is not enrolled again.
    Install {
        /// Central's base URL, e.g. https://loyalty.example.com.
        #[arg(long, value_name = "URL")]
        central: String,
        /// The one-time enrolment code central IT made for this till
        /// (`tillpass-central enrol-code`), CODE-<fingerprint of central's root key>. Not
        /// needed when re-running on an enrolled till.
        #[arg(long, value_name = "CODE")]
        enrol: Option<String>,
        /// The fingerprint of central's root key (32 hex digits), for an enrolment code
        /// that does not carry it; central's answer must match it.
        #[arg(long, value_name = "FINGERPRINT")]
        central_root: Option<tillpass_protocol::sync::RootFingerprint>,
        /// A PEM file of CA certificates to trust for central's HTTPS certificate besides
        /// the system's (a private CA); the agent is configured to trust it too.
        #[arg(long, value_name = "FILE")]
        central_ca: Option<PathBuf>,
        /// Stage everything below this folder instead of installing on this machine
        /// (for image builders and tests); services are not touched.
        #[arg(long, value_name = "DIR", default_value = "/")]
        root: PathBuf,
        /// Copy this agent binary to /usr/bin/tillpass (the .deb installs it itself).
        #[arg(long, value_name = "FILE")]
        agent_binary: Option<PathBuf>,
        /// The name central's inventory shows for this till; the host name by default.
        #[arg(long)]
        hostname: Option<String>,
        /// Create the first store manager account with this name (`tillpass manager add`).
        /// The password is asked on the terminal, or read from standard input with
        /// --manager-password-stdin.
        #[arg(long, value_name = "NAME")]
        manager: Option<String>,
        /// The manager's dashboard language.
        #[arg(long, value_name = "LANG", requires = "manager")]
        manager_lang: Option<Lang>,
        /// Read the manager's password from the first line of standard input.
        #[arg(long, requires = "manager")]
        manager_password_stdin: bool,
        /// How long to wait for the started agent's /readyz, in seconds.
        #[arg(long, value_name = "SECS", default_value_t = 60)]
        ready_timeout: u64,
    },
    /// Upgrades the agent: stops it, backs up its database, keeps the current binary as
    /// tillpass.prev, installs the new one and starts it (its migrations run), then waits
    /// for /readyz. If it does not come up, binary and database are rolled back. A till
    /// installed from the .deb is upgraded with apt instead, and this refuses it.
    Upgrade {
        /// The new agent binary.
        #[arg(long, value_name = "FILE")]
        binary: PathBuf,
        /// Upgrade a till staged below this folder: the new agent is run directly from
        /// the staged files to check that it comes up, then stopped.
        #[arg(long, value_name = "DIR", default_value = "/")]
        root: PathBuf,
        /// How long the new agent has to answer /readyz, in seconds.
        #[arg(long, value_name = "SECS", default_value_t = 60)]
        ready_timeout: u64,
    },
    /// Removes tillpass. On this machine (no --root) it first stops the agent and disables
    /// it at boot, then removes the unit, udev rules, sysusers.d and tmpfiles.d files and
    /// reloads systemd and udev (on a till installed from the .deb those files are the
    /// package's: remove them with `apt-get remove tillpass`). Without --purge the configuration, the till's key and its
    /// data stay (a reinstall continues where it left off). --purge removes them too, and
    /// refuses while sales have not reached central, unless --force is also given.
    Uninstall {
        /// Also remove the configuration, keys and data.
        #[arg(long)]
        purge: bool,
        /// Purge even if unsynced events would be lost.
        #[arg(long, requires = "purge")]
        force: bool,
        /// Uninstall from a till staged below this folder (nothing is stopped or reloaded:
        /// nothing runs there).
        #[arg(long, value_name = "DIR", default_value = "/")]
        root: PathBuf,
    },
    /// Checks an installed till and says what to do about each problem found. Changes
    /// nothing. Exits 1 if any check failed.
    Doctor {
        /// Check a till staged below this folder instead of this machine.
        #[arg(long, value_name = "DIR", default_value = "/")]
        root: PathBuf,
    },
    /// Backs up the agent's database into /var/lib/tillpass/backups (a consistent copy,
    /// checked) and prints the backup's path. The package runs it on an upgrade before
    /// the new agent starts.
    Backup {
        /// The till: `/`, or a staged root.
        #[arg(long, value_name = "DIR", default_value = "/")]
        root: PathBuf,
    },
    /// After a package upgrade: waits for the restarted agent's /readyz; if it does not
    /// answer, stops it, puts the database backup back and says how to return to the
    /// previous version. Run by the package's postinst.
    #[command(hide = true)]
    CheckUpgrade {
        /// The version upgraded from.
        #[arg(long, value_name = "VERSION")]
        from: String,
        /// The backup `tillpass-install backup` made before the new agent ran.
        #[arg(long, value_name = "FILE")]
        backup: PathBuf,
        /// How long the new agent has to answer /readyz, in seconds.
        #[arg(long, value_name = "SECS", default_value_t = 60)]
        ready_timeout: u64,
    },
    /// Counts the outbox of the stopped agent and leaves /var/lib/tillpass/UNSYNCED while
    /// events have not reached central (a package purge then refuses). Run by the
    /// package's prerm.
    #[command(hide = true)]
    MarkUnsynced,
    /// Prints this program's manual page (roff), generated from this command line; the
    /// package ships it as tillpass-install(1).
    #[command(hide = true)]
    Man,
}

/// A dashboard language.
#[derive(Debug, Clone, Copy, ValueEnum)]
enum Lang {
    /// Spanish.
    Es,
    /// English.
    En,
}

/// The manager's password: the first line of standard input, or asked twice on the
/// terminal without echo.
#[allow(clippy::print_stderr)]
fn manager_password(from_stdin: bool) -> Result<String, String> {
    let stdin = std::io::stdin();
    if from_stdin {
        let mut line = String::new();
        stdin
            .lock()
            .read_line(&mut line)
            .map_err(|e| format!("cannot read the manager password from standard input: {e}"))?;
        let password = line.trim_end_matches(['\r', '\n']).to_owned();
        if password.is_empty() {
            return Err("the manager password on standard input is empty".to_owned());
        }
        return Ok(password);
    }
    if !stdin.is_terminal() {
        return Err(
            "--manager needs a password: give it on standard input with \
             --manager-password-stdin, or run install on a terminal to be asked"
                .to_owned(),
        );
    }
    let first = prompt("password for the manager account: ")?;
    if first.is_empty() {
        return Err("the manager password is empty".to_owned());
    }
    let again = prompt("the same password again: ")?;
    if first != again {
        return Err("the two passwords differ: run install again".to_owned());
    }
    Ok(first)
}

/// Reads a line from the terminal with echo off.
#[allow(clippy::print_stderr)]
fn prompt(question: &str) -> Result<String, String> {
    use nix::sys::termios::{LocalFlags, SetArg, tcgetattr, tcsetattr};
    let stdin = std::io::stdin();
    eprint!("{question}");
    let _ = std::io::stderr().flush();
    let saved = tcgetattr(&stdin).map_err(|e| format!("cannot use the terminal: {e}"))?;
    let mut quiet = saved.clone();
    quiet.local_flags.remove(LocalFlags::ECHO);
    tcsetattr(&stdin, SetArg::TCSANOW, &quiet)
        .map_err(|e| format!("cannot use the terminal: {e}"))?;
    let mut line = String::new();
    let read = stdin.lock().read_line(&mut line);
    let _ = tcsetattr(&stdin, SetArg::TCSANOW, &saved);
    eprintln!();
    read.map_err(|e| format!("cannot read the password: {e}"))?;
    Ok(line.trim_end_matches(['\r', '\n']).to_owned())
}

fn host_name() -> String {
    std::fs::read_to_string("/etc/hostname")
        .map(|h| h.trim().to_owned())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "till".to_owned())
}

#[allow(clippy::print_stdout, clippy::print_stderr)]
fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Install {
            central,
            enrol,
            central_root,
            central_ca,
            root,
            agent_binary,
            hostname,
            manager,
            manager_lang,
            manager_password_stdin,
            ready_timeout,
        } => {
            let manager = match manager {
                None => None,
                Some(name) => match manager_password(manager_password_stdin) {
                    Ok(password) => Some(Manager {
                        name,
                        lang: manager_lang.map(|l| {
                            match l {
                                Lang::Es => "es",
                                Lang::En => "en",
                            }
                            .to_owned()
                        }),
                        password,
                    }),
                    Err(e) => {
                        eprintln!("tillpass-install: {e}");
                        return ExitCode::FAILURE;
                    }
                },
            };
            let options = install::InstallOptions {
                layout: Layout::new(root),
                central,
                enrol_code: enrol,
                central_root,
                central_ca,
                agent_binary,
                hostname: hostname.unwrap_or_else(host_name),
                manager,
                ready_timeout: Duration::from_secs(ready_timeout),
            };
            let mut report = install::Report::default();
            let result = install::install(&Host, &options, &mut report);
            for step in &report.steps {
                println!("{step}");
            }
            for action in &report.actions {
                println!("{action}");
            }
            match result {
                Ok(()) => {
                    if !report.changed() {
                        println!("nothing to change: this till is installed as it should be");
                    }
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("tillpass-install: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Upgrade {
            binary,
            root,
            ready_timeout,
        } => {
            let layout = Layout::new(root);
            let options = upgrade::UpgradeOptions {
                service: layout.is_live(),
                layout,
                binary,
                ready_timeout: Duration::from_secs(ready_timeout),
            };
            let mut actions = Vec::new();
            let result = upgrade::upgrade(&Host, &options, &mut actions);
            for action in &actions {
                println!("{action}");
            }
            match result {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("tillpass-install: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Uninstall { purge, force, root } => {
            let layout = Layout::new(root);
            let options = uninstall::UninstallOptions {
                service: layout.is_live(),
                layout,
                purge,
                force,
            };
            let mut done = Vec::new();
            let result = uninstall::uninstall(&Host, &options, &mut done);
            for step in &done {
                println!("{step}");
            }
            match result {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("tillpass-install: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Backup { root } => match package::backup(&Layout::new(root)) {
            Ok(Some(path)) => {
                println!("{}", path.display());
                ExitCode::SUCCESS
            }
            Ok(None) => {
                eprintln!("tillpass-install: no database yet: nothing to back up");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("tillpass-install: {e}");
                ExitCode::FAILURE
            }
        },
        Command::CheckUpgrade {
            from,
            backup,
            ready_timeout,
        } => {
            let mut actions = Vec::new();
            let result = package::check_upgrade(
                &Host,
                &Layout::new("/"),
                &from,
                &backup,
                Duration::from_secs(ready_timeout),
                &mut actions,
            );
            for action in &actions {
                println!("tillpass: {action}");
            }
            match result {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("tillpass-install: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::MarkUnsynced => match package::mark_unsynced(&Host, &Layout::new("/")) {
            Ok(outbox) => {
                println!("tillpass: {outbox}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("tillpass-install: {e}");
                ExitCode::FAILURE
            }
        },
        Command::Man => {
            let mut page = Vec::new();
            let written = clap_mangen::Man::new(<Cli as clap::CommandFactory>::command())
                .render(&mut page)
                .and_then(|()| std::io::stdout().write_all(&page));
            match written {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("tillpass-install: writing the manual page: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Doctor { root } => {
            let findings = doctor::check_all(&Layout::new(root), &Host);
            for finding in &findings {
                println!("{finding}");
            }
            if doctor::has_failures(&findings) {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            }
        }
    }
}
