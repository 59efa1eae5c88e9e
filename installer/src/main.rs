//! `tillpass-install`: installs tillpass on a Linux till.
use clap::Parser;

/// Install, enrol, upgrade, uninstall and diagnose tillpass on a Linux till.
#[derive(Debug, Parser)]
#[command(name = "tillpass-install", version, about)]
struct Cli {}

fn main() -> anyhow::Result<()> {
    let _cli = Cli::parse();
    anyhow::bail!("tillpass-install is not built yet; see the installer issue")
}
