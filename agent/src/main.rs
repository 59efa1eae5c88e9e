//! `tillpass`: the in-store loyalty agent.
use clap::Parser;

/// The in-store loyalty agent.
#[derive(Debug, Parser)]
#[command(name = "tillpass", version, about)]
struct Cli {}

fn main() -> anyhow::Result<()> {
    let _cli = Cli::parse();
    anyhow::bail!("the tillpass daemon is not built yet; see the agent daemon issue")
}
