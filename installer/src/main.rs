//! `tillpass-install`: installs tillpass on a Linux till and keeps it healthy.
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tillpass_installer::layout::Layout;
use tillpass_installer::{doctor, install, uninstall};

/// Install, enrol, upgrade, uninstall and diagnose tillpass on a Linux till.
#[derive(Debug, Parser)]
#[command(name = "tillpass-install", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Installs and enrols tillpass: directories, systemd unit, udev rules, service user,
    /// the till's key and POS API token, enrolment with central, configuration. Safe to
    /// re-run: what is already right is left alone, and an enrolled till is not enrolled
    /// again.
    Install {
        /// Central's base URL, e.g. https://loyalty.example.com.
        #[arg(long, value_name = "URL")]
        central: String,
        /// The one-time enrolment code central IT made for this till
        /// (`tillpass-central enrol-code`). Not needed when re-running on an enrolled till.
        #[arg(long, value_name = "CODE")]
        enrol: Option<String>,
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
    },
    /// Removes tillpass. Without --purge the configuration, the till's key and its data
    /// stay (a reinstall continues where it left off). --purge removes them too, and
    /// refuses while sales have not reached central, unless --force is also given.
    Uninstall {
        /// Also remove the configuration, keys and data.
        #[arg(long)]
        purge: bool,
        /// Purge even if unsynced events would be lost.
        #[arg(long, requires = "purge")]
        force: bool,
        /// Uninstall from a till staged below this folder.
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
            root,
            agent_binary,
            hostname,
        } => {
            let options = install::InstallOptions {
                layout: Layout::new(root),
                central,
                enrol_code: enrol,
                agent_binary,
                hostname: hostname.unwrap_or_else(host_name),
            };
            match install::install_files(&options) {
                Ok(report) => {
                    for step in &report.steps {
                        println!("{step}");
                    }
                    if !report.changed() {
                        println!("nothing to change: this till is installed as it should be");
                    }
                    if !options.layout.is_live() {
                        println!(
                            "staged below {}: services were not touched",
                            options.layout.root().display()
                        );
                    }
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("tillpass-install: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Uninstall { purge, force, root } => {
            match uninstall::uninstall(&Layout::new(root), purge, force) {
                Ok(removed) => {
                    for path in removed {
                        println!("removed {path}");
                    }
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("tillpass-install: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Doctor { root } => {
            let findings = doctor::check_files(&Layout::new(root));
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
