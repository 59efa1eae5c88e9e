//! `tillpass-install`: installs tillpass on a Linux till and keeps it healthy.
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tillpass_installer::doctor;
use tillpass_installer::layout::Layout;

/// Install, enrol, upgrade, uninstall and diagnose tillpass on a Linux till.
#[derive(Debug, Parser)]
#[command(name = "tillpass-install", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Checks an installed till and says what to do about each problem found. Changes
    /// nothing. Exits 1 if any check failed.
    Doctor {
        /// Check a till staged below this folder instead of this machine.
        #[arg(long, value_name = "DIR", default_value = "/")]
        root: PathBuf,
    },
}

#[allow(clippy::print_stdout)]
fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
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
