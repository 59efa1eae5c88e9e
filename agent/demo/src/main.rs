//! `tillpass-demo`: the demo store, and a terminal cashier against it.
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use tillpass_agent::config::LogSection;
use tillpass_agent::paths::Paths;
use tillpass_demo::shop;

/// tillpass-demo: a whole tillpass store on loopback — central with sample customers, an
/// enrolled till, a virtual scanner, the POS API and the dashboard — and a terminal cashier.
#[derive(Debug, Parser)]
#[command(
    name = "tillpass-demo",
    version,
    about,
    long_about = None,
    args_conflicts_with_subcommands = true
)]
struct Cli {
    #[command(flatten)]
    run: RunArgs,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Opens the demo store (what `tillpass-demo` alone does): central with sample
    /// customers, gift cards and a catalog; a till enrolled with it; a virtual serial
    /// scanner fed from this terminal; the POS API and the dashboard. Runs until Ctrl-C.
    Run(RunArgs),
    /// A terminal cashier against a running agent: ring up items, scan passes and
    /// vouchers, take savings and gift cards, close, return. Reads commands from stdin.
    Pos(PosArgs),
}

#[derive(Debug, Args)]
struct RunArgs {
    /// The demo's folder (wiped at start). Default: the user's data directory.
    #[arg(long)]
    dir: Option<PathBuf>,
    /// The agent's port (POS API and dashboard).
    #[arg(long, default_value_t = shop::DEFAULT_PORT)]
    port: u16,
    /// Central's port.
    #[arg(long, default_value_t = shop::DEFAULT_CENTRAL_PORT)]
    central_port: u16,
    /// The phone page's port.
    #[arg(long, default_value_t = shop::DEFAULT_PHONE_PORT)]
    phone_port: u16,
    /// Do not read scans from this terminal.
    #[arg(long)]
    no_stdin: bool,
}

#[derive(Debug, Args)]
struct PosArgs {
    /// The agent's address. Default: the running demo's (its `demo.json`).
    #[arg(long)]
    url: Option<String>,
    /// The API token file. Default: the running demo's.
    #[arg(long)]
    token_file: Option<PathBuf>,
    /// The demo's folder whose `demo.json` gives the defaults. Default: the user's data
    /// directory.
    #[arg(long)]
    dir: Option<PathBuf>,
    /// The store's currency.
    #[arg(long, default_value = "EUR")]
    currency: String,
    /// Print every request sent to the agent (for POS integrators).
    #[arg(long)]
    show_requests: bool,
}

#[allow(clippy::print_stderr)]
fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        None => run(cli.run),
        Some(Command::Run(args)) => run(args),
        Some(Command::Pos(args)) => pos(args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("tillpass-demo: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    let options = shop::DemoOptions {
        dir: args.dir.unwrap_or_else(shop::default_dir),
        port: args.port,
        central_port: args.central_port,
        phone_port: args.phone_port,
        read_stdin: !args.no_stdin,
    };
    tillpass_agent::telemetry::init(&LogSection {
        level: std::env::var("TILLPASS_LOG_LEVEL")
            .unwrap_or_else(|_| "warn,tillpass_agent=info".to_owned()),
        ..LogSection::default()
    });
    let paths = Paths::from_env(|_| None);
    shop::run(&options, &paths, &mut std::io::stdout())?;
    Ok(ExitCode::SUCCESS)
}

/// The running demo's API address and token file, from its `demo.json`.
fn demo_defaults(dir: &Path) -> anyhow::Result<(String, PathBuf)> {
    let file = dir.join(shop::SUMMARY_FILE);
    let text = std::fs::read_to_string(&file).with_context(|| {
        format!(
            "reading {}: start the demo first (`tillpass-demo`), or give --url and --token-file",
            file.display()
        )
    })?;
    let summary: shop::Summary =
        serde_json::from_str(&text).with_context(|| format!("reading {}", file.display()))?;
    Ok((summary.pos_api, summary.api_token_file))
}

fn pos(args: PosArgs) -> anyhow::Result<ExitCode> {
    use tillpass_demo::cashier::{Api, Cashier};
    let (url, token_path) = match (args.url, args.token_file) {
        (Some(url), Some(token)) => (url, token),
        (url, token) => {
            let (demo_url, demo_token) =
                demo_defaults(&args.dir.unwrap_or_else(shop::default_dir))?;
            (url.unwrap_or(demo_url), token.unwrap_or(demo_token))
        }
    };
    let token = tillpass_tillfiles::keys::read_api_token(&token_path)?;
    let currency = tillpass_protocol::money::Currency::from_code(&args.currency)
        .map_err(|e| anyhow::anyhow!("--currency: {e}"))?;
    let api = Api::new(&url, &token, args.show_requests)?;
    let mut cashier = Cashier::new(api, currency);
    let stdin = std::io::stdin();
    let mut stdout = std::io::stdout();
    cashier.run(stdin.lock(), &mut stdout)?;
    Ok(ExitCode::SUCCESS)
}
