//! `tillpass-central`: the reference central loyalty service.
use clap::Parser;

/// The reference central loyalty service.
#[derive(Debug, Parser)]
#[command(name = "tillpass-central", version, about)]
struct Cli {}

fn main() -> anyhow::Result<()> {
    let _cli = Cli::parse();
    anyhow::bail!("tillpass-central is not built yet; see the central service issue")
}
