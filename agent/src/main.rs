//! `tillpass`: the in-store loyalty agent.
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use tillpass_agent::clock::system_wall_clock;
use tillpass_agent::config::Config;
use tillpass_agent::daemon;
use tillpass_agent::paths::Paths;

/// tillpass: the in-store loyalty agent. Reads the till's barcode scanners, verifies the
/// customer's WhatsApp QR offline and serves the POS and the store manager on loopback.
#[derive(Debug, Parser)]
#[command(name = "tillpass", version, about, long_about = None)]
struct Cli {
    /// The configuration file. Default: `$CONFIGURATION_DIRECTORY/config.toml` under
    /// systemd, else the user's configuration directory (it may be absent: defaults and
    /// `TILLPASS_*` variables then apply).
    #[arg(long, global = true, value_name = "FILE", env = "TILLPASS_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Runs the agent until SIGTERM or SIGINT: scanners, identification, the local API on
    /// `api.listen`, systemd READY/WATCHDOG notifications.
    Run,
    /// Verifies one scan's text as the agent would, without recording a use, and prints
    /// the verdict and the reason (for support staff). Exits 1 when refused.
    Verify {
        /// The text the scanner read (quote it).
        scan: String,
    },
    /// Lists candidate scanners: serial ports and input devices with their paths, USB ids
    /// and a ready-to-paste `[[scanner]]` configuration.
    Scanners,
    /// Asks the running agent for its state (readiness, outbox, events central rejected,
    /// scanners, current customer); with `--offline`, reads the till's state from its
    /// files instead (database, trust list, catalog, outbox), whether the agent runs or not.
    Status {
        /// Read the till's files instead of asking the running agent.
        #[arg(long)]
        offline: bool,
        /// Print one JSON object (with `--offline`, the shape of
        /// `tillpass_tillfiles::status::OfflineStatus`, which `tillpass-install doctor`
        /// reads).
        #[arg(long)]
        json: bool,
    },
    /// The outbox's events central rejected: list them, and re-send them once central is
    /// fixed. Works on the till's database; safe while the agent runs.
    #[command(subcommand)]
    Journal(JournalCommand),
    /// Store manager accounts for the dashboard: add, password, list, remove, unlock.
    Manager(tillpass_agent::dashboard::cli::ManagerArgs),
    /// Prints this program's manual page (roff), generated from this command line; the
    /// package ships it as tillpass(1).
    #[command(hide = true)]
    Man,
}

fn man_page() -> anyhow::Result<ExitCode> {
    use std::io::Write;
    let mut page = Vec::new();
    clap_mangen::Man::new(<Cli as clap::CommandFactory>::command()).render(&mut page)?;
    std::io::stdout().write_all(&page)?;
    Ok(ExitCode::SUCCESS)
}

#[derive(Debug, Subcommand)]
enum JournalCommand {
    /// Lists the events central rejected, newest first, with central's code and reason.
    Rejected {
        /// One JSON object a line instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Makes rejected events pending again: the running agent sends them with its next
    /// upload (within a second while central is reachable). Run it once central is fixed.
    Retry {
        /// The event: its id (32 hex digits) or its sequence number.
        #[arg(required_unless_present = "all", conflicts_with = "all")]
        event: Option<String>,
        /// Every rejected event.
        #[arg(long)]
        all: bool,
    },
}

fn load(cli_config: Option<&PathBuf>) -> anyhow::Result<(Config, Paths)> {
    let paths = Paths::from_env(|k| std::env::var(k).ok());
    let (file, required) = match cli_config {
        Some(f) => (f.clone(), true),
        None => (paths.config_file(), false),
    };
    let config = Config::load(Some(&file), required, std::env::vars())?;
    Ok((config, paths))
}

#[allow(clippy::print_stdout, clippy::print_stderr)]
fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run => run(cli.config.as_ref()),
        Command::Verify { scan } => verify(cli.config.as_ref(), &scan),
        Command::Scanners => {
            scanners();
            Ok(ExitCode::SUCCESS)
        }
        Command::Status { offline, json } => status(cli.config.as_ref(), offline, json),
        Command::Journal(command) => journal(cli.config.as_ref(), &command),
        Command::Man => man_page(),
        Command::Manager(args) => manager(cli.config.as_ref(), args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("tillpass: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(config: Option<&PathBuf>) -> anyhow::Result<ExitCode> {
    let (config, paths) = load(config)?;
    tillpass_agent::telemetry::init(&config.log);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async {
        let agent = daemon::build(&config, &paths, system_wall_clock())?;
        let listener = tokio::net::TcpListener::bind(config.api.listen)
            .await
            .map_err(|e| daemon::DaemonError::Listen {
                addr: config.api.listen.to_string(),
                detail: e.to_string(),
            })?;
        daemon::run(agent, &config, listener).await?;
        Ok::<_, anyhow::Error>(())
    })?;
    Ok(ExitCode::SUCCESS)
}

#[allow(clippy::print_stdout)]
fn verify(config: Option<&PathBuf>, scan: &str) -> anyhow::Result<ExitCode> {
    use tillpass_protocol::token::{self, VerifyPolicy};
    let (config, paths) = load(config)?;
    let store = tillpass_agent::store::Store::open(&config.data_dir(&paths))?;
    let conn = store.conn();
    let trust = tillpass_agent::store::tokens::load_trust(&conn)?
        .context("this till has no trust list yet: enrol it with tillpass-install")?;
    let revocations = tillpass_agent::store::tokens::load_revocations(&conn)?;
    let clock = tillpass_agent::clock::Clock::new(
        system_wall_clock(),
        u64::from(config.identify.clock_skew_secs),
    );
    clock.observe_signed(trust.issued_at);
    let policy = VerifyPolicy {
        clock_skew_secs: config.identify.clock_skew_secs,
        ..VerifyPolicy::default()
    };
    match token::verify(scan, &trust.store, &policy, &revocations, clock.now()) {
        Ok(v) => {
            let uses = tillpass_agent::store::tokens::uses(&conn, &v.token_id())?;
            println!("ACCEPTED {} token", v.kind().code());
            println!(
                "  subject:    {}",
                String::from_utf8_lossy(v.subject().as_bytes())
            );
            println!("  token id:   {}", hex::encode(v.token_id().0));
            println!("  key id:     {}", v.kid());
            println!("  issued at:  {}", v.issued_at());
            println!("  expires at: {}", v.expires_at());
            println!(
                "  used here:  {uses} time(s) (replay policy is applied by the running agent)"
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(r) => {
            println!("REFUSED {}", r.code());
            if let Some(detail) = r.detail_code() {
                println!("  detail: {detail}");
            }
            println!("  es: {}", r.message(tillpass_protocol::lang::Lang::Es));
            println!("  en: {}", r.message(tillpass_protocol::lang::Lang::En));
            Ok(ExitCode::FAILURE)
        }
    }
}

#[allow(clippy::print_stdout)]
fn scanners() {
    let candidates = tillpass_hardware::discover();
    if candidates.is_empty() {
        println!("no serial ports or input devices found");
        return;
    }
    for c in candidates {
        println!("{c:#?}");
    }
}

#[allow(clippy::print_stdout)]
fn status(config: Option<&PathBuf>, offline: bool, json: bool) -> anyhow::Result<ExitCode> {
    let (config, paths) = load(config)?;
    if offline {
        let status = tillpass_agent::status::offline(&config.data_dir(&paths));
        if json {
            println!("{}", serde_json::to_string(&status)?);
        } else {
            println!("{}", serde_json::to_string_pretty(&status)?);
        }
        return Ok(
            if status.database.state == tillpass_tillfiles::status::DatabaseState::Damaged {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            },
        );
    }
    let token_path = config.token_file(&paths);
    let token = tillpass_tillfiles::keys::read_api_token(&token_path)
        .with_context(|| format!("reading the API token {}", token_path.display()))?;
    let base = format!("http://{}", config.api.local_address());
    let (code, body) = tillpass_agent::status::online(&base, &token)?;
    match serde_json::from_str::<serde_json::Value>(&body) {
        Ok(v) if json => println!("{}", serde_json::to_string(&v)?),
        Ok(v) => println!("{}", serde_json::to_string_pretty(&v)?),
        Err(_) => println!("{body}"),
    }
    Ok(if code == 200 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

#[allow(clippy::print_stdout)]
fn journal(config: Option<&PathBuf>, command: &JournalCommand) -> anyhow::Result<ExitCode> {
    use tillpass_agent::store::journal::{self, Retry};
    let (config, paths) = load(config)?;
    let data_dir = config.data_dir(&paths);
    let db = data_dir.join(tillpass_agent::store::DB_FILE);
    anyhow::ensure!(
        db.exists(),
        "no database at {}: is this the till's data directory (`[store] data_dir`)?",
        db.display()
    );
    let store = tillpass_agent::store::Store::open(&data_dir)?;
    let conn = store.conn();
    match command {
        JournalCommand::Rejected { json } => {
            let rejected = journal::rejected(&conn, usize::MAX)?;
            if *json {
                for r in &rejected {
                    println!("{}", serde_json::to_string(r)?);
                }
                return Ok(ExitCode::SUCCESS);
            }
            if rejected.is_empty() {
                println!("central rejected no event: nothing to do");
                return Ok(ExitCode::SUCCESS);
            }
            println!(
                "{} event(s) central rejected, newest first:",
                rejected.len()
            );
            for r in &rejected {
                println!(
                    "  #{} {} {} (made {}, refused {} time(s), last at {}): {}: {}",
                    r.seq,
                    r.event_id,
                    r.kind,
                    r.created_at,
                    r.attempts,
                    r.rejected_at.map(|t| t.to_string()).unwrap_or_default(),
                    r.code.as_deref().unwrap_or("rejected"),
                    r.reason
                );
            }
            println!(
                "They stay in the outbox and are not sent again. Have central fixed (the \
                 reason says what it refused), then: tillpass journal retry --all"
            );
        }
        JournalCommand::Retry { event, all } => {
            let which = match (event, all) {
                (_, true) => Retry::All,
                (Some(id), false) => Retry::One(id),
                (None, false) => anyhow::bail!("name an event, or --all"),
            };
            let n = journal::retry(&conn, &which)?;
            println!(
                "{n} event(s) pending again: the agent sends them with its next upload; \
                 `tillpass journal rejected` shows any central refuses again"
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn manager(
    config: Option<&PathBuf>,
    args: tillpass_agent::dashboard::cli::ManagerArgs,
) -> anyhow::Result<ExitCode> {
    let (config, paths) = load(config)?;
    tillpass_agent::dashboard::cli::run(&config, &paths, args)?;
    Ok(ExitCode::SUCCESS)
}
