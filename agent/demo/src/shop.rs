//! The demo store: a whole store on loopback in one command — the reference central
//! service with sample customers, savings, gift cards, a personal promotion and a signed
//! catalog; a till enrolled with it exactly as the installer enrols one; a virtual serial
//! scanner fed from the terminal; the POS API and the manager dashboard.
//!
//! Everything is real: central serves its HTTP API, the till enrols over it with its own
//! Ed25519 key, pulls its catalog and customers through the signed sync, and reads scans
//! through a pseudo-terminal exactly as it reads a USB serial scanner. Only the shop is
//! pretend. The demo starts fresh each time in its own folder and runs until Ctrl-C.

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};
use tillpass_central::customers::NewCustomer;
use tillpass_central::db::Db;
use tillpass_central::enrol::NewCode;
use tillpass_central::giftcards::NewGiftCard;
use tillpass_central::keys::KeyDir;
use tillpass_central::passes::{IssueOptions, IssuedToken, NewVoucher};
use tillpass_protocol::lang::Lang;
use tillpass_protocol::money::Currency;
use tillpass_protocol::qr::{TerminalBackground, TokenQr};
use tillpass_protocol::sync::{
    Consent, CustomerRef, EnrolmentRecord, GiftCardRef, PromotionId, StoreId, TillId,
};
use tillpass_tillfiles::{keys, layout};

use tillpass_agent::config::Config;
use tillpass_agent::paths::Paths;

use crate::scanner::VirtualScanner;

/// The demo store's catalog.
pub const CATALOG: &str = include_str!("catalog.toml");
/// The marker file that makes a folder the demo's (and so safe to wipe).
const MARKER: &str = ".tillpass-demo";
/// The demo manager's login.
pub const MANAGER: (&str, &str) = ("manager", "tillpass-demo");
/// The agent's port (POS API and dashboard) unless `--port` says otherwise: the agent's
/// own default.
pub const DEFAULT_PORT: u16 = tillpass_tillfiles::config::DEFAULT_LISTEN.port();
/// Central's port unless `--central-port` says otherwise.
pub const DEFAULT_CENTRAL_PORT: u16 = 7200;
/// The phone page's port unless `--phone-port` says otherwise.
pub const DEFAULT_PHONE_PORT: u16 = 7300;
/// The visitor's WhatsApp number on the phone page (digits, as Meta's `wa_id`) and name.
pub const VISITOR: (&str, &str) = ("34612345678", "Marta");
/// The brand, as the chat shows it.
pub const BRAND: &str = "tillpass demo store";
/// The file in the demo's folder that says where everything is (0600: it holds the API
/// token and the manager's password).
pub const SUMMARY_FILE: &str = "demo.json";

/// What `demo.json` holds: where the running demo's parts are, and its secrets.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Summary {
    pub central: String,
    /// The agent's base URL (POS API and dashboard).
    pub pos_api: String,
    pub api_token: String,
    pub api_token_file: PathBuf,
    pub dashboard: String,
    pub dashboard_login: Login,
    /// The virtual scanner's serial port.
    pub virtual_scanner: PathBuf,
    /// The phone page: a chat with the brand's WhatsApp number.
    pub phone: String,
    /// The fake Graph API central's WhatsApp channel talks to.
    pub graph_api: String,
    /// Lucía's WhatsApp pass.
    pub customer_pass: Pass,
    /// The WELCOME voucher's QR text.
    pub voucher: String,
    /// The demo gift card's QR text.
    pub gift_card: String,
    pub data_dir: PathBuf,
}

/// A dashboard login.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Login {
    pub user: String,
    pub password: String,
}

/// A pass as text and as pictures.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Pass {
    /// What the scanner reads.
    pub text: String,
    pub svg: PathBuf,
    pub png: PathBuf,
}

/// Where and how the demo runs.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    /// The demo's folder (wiped and recreated at start).
    pub dir: PathBuf,
    /// The agent's port (POS API and dashboard).
    pub port: u16,
    /// Central's port.
    pub central_port: u16,
    /// The phone page's port.
    pub phone_port: u16,
    /// Feed lines typed in the terminal to the virtual scanner.
    pub read_stdin: bool,
}

/// The default folder: the user's data directory.
pub fn default_dir() -> PathBuf {
    directories::ProjectDirs::from("", "", "tillpass")
        .map(|d| d.data_local_dir().join("demo"))
        .unwrap_or_else(|| std::env::temp_dir().join("tillpass-demo"))
}

fn fresh_dir(dir: &Path) -> anyhow::Result<()> {
    if dir.exists() {
        if !dir.join(MARKER).exists() {
            bail!(
                "{} exists and is not a tillpass demo folder: choose another with --dir",
                dir.display()
            );
        }
        std::fs::remove_dir_all(dir).with_context(|| format!("clearing {}", dir.display()))?;
    }
    // The demo's folder holds the API token and the manager's password (demo.json): the
    // owner's alone, whatever the umask.
    tillpass_agent::store::private_dir(dir)
        .with_context(|| format!("creating {}", dir.display()))?;
    std::fs::write(
        dir.join(MARKER),
        "tillpass demo data; deleted at the next demo start\n",
    )?;
    Ok(())
}

fn now() -> i64 {
    tillpass_central::clock::now()
}

/// Central's sample data, and the tokens the WhatsApp bot would send.
struct Seeded {
    code: String,
    pass: IssuedToken,
    voucher: IssuedToken,
    gift_card: IssuedToken,
}

fn seed_central(db: &Db, keys: &KeyDir) -> anyhow::Result<Seeded> {
    let now = now();
    let eur = Some(Currency::EUR);
    let people = [
        ("C-LUCIA", "Lucía", Some("gold"), Lang::Es, 1250),
        ("C-TOM", "Tom", Some("silver"), Lang::En, 300),
        ("C-ANA", "Ana", None, Lang::Es, 0),
    ]
    .into_iter()
    .map(|(reference, name, tier, lang, savings)| {
        Ok(NewCustomer {
            customer: CustomerRef::new(reference)?,
            first_name: name.to_owned(),
            tier: tier.map(str::to_owned),
            lang,
            consent: Consent {
                receipts: true,
                marketing: false,
            },
            currency: eur,
            savings,
            segments: Vec::new(),
        })
    })
    .collect::<Result<Vec<_>, tillpass_protocol::sync::IdError>>()?;
    let card = NewGiftCard {
        card: GiftCardRef::new("GC-DEMO-1")?,
        balance: 5000,
        currency: eur,
        expires_at: None,
    };
    let code = NewCode {
        store: StoreId::new("S-DEMO")?,
        till: Some(TillId::new("S-DEMO-T1")?),
        region: None,
        ttl_secs: None,
    };
    let options = IssueOptions {
        lifetime_secs: None,
        module_px: None,
    };
    let voucher = NewVoucher {
        code: PromotionId::new("WELCOME")?,
        promotion_id: Some(PromotionId::new("WELCOME-5")?),
        options: options.clone(),
    };
    db.with(|c| {
        if !tillpass_central::keys::init(c, keys, now)?.is_empty() {
            tillpass_central::envelopes::publish_trust_list(c, keys, now)?;
        }
        for person in &people {
            tillpass_central::customers::create(c, person, now)?;
        }
        tillpass_central::giftcards::create(c, &card, now)?;
        tillpass_central::catalogs::publish(c, keys, CATALOG, None, now)?;
        Ok(())
    })?;
    let code = db.with(|c| tillpass_central::enrol::create_code(c, &code, now))?;
    let pass =
        db.with(|c| tillpass_central::passes::customer_pass(c, keys, "C-LUCIA", &options, now))?;
    let gift_card = db
        .with(|c| tillpass_central::passes::gift_card_token(c, keys, "GC-DEMO-1", &options, now))?;
    let voucher = db.with(|c| tillpass_central::passes::voucher(c, keys, &voucher, now))?;
    Ok(Seeded {
        code: code.code,
        pass,
        voucher,
        gift_card,
    })
}

fn write_token(dir: &Path, name: &str, token: &IssuedToken) -> anyhow::Result<(PathBuf, PathBuf)> {
    use base64::Engine as _;
    let svg = dir.join(format!("{name}.svg"));
    let png = dir.join(format!("{name}.png"));
    std::fs::write(&svg, &token.svg)?;
    std::fs::write(
        &png,
        base64::engine::general_purpose::STANDARD.decode(&token.png_base64)?,
    )?;
    Ok((svg, png))
}

/// The till's files, made the way `tillpass-install` makes them: its own key, an API
/// token, and the enrolment record central answered.
fn enrol_till(till: &Path, central: &str, code: &str) -> anyhow::Result<Config> {
    let data = till.join("data");
    std::fs::create_dir_all(&data)?;
    let key_text = keys::new_till_key_file()?;
    let key = keys::parse_till_key(&key_text)?;
    write_private(&till.join(layout::TILL_KEY_FILE), &key_text)?;
    write_private(
        &till.join(layout::API_TOKEN_FILE),
        &keys::new_api_token_file()?,
    )?;
    let response = tillpass_installer::enrol::enrol(
        central,
        code,
        key.verifying_key().to_bytes(),
        "tillpass-demo",
    )?;
    let record = EnrolmentRecord {
        central: central.to_owned(),
        till_public_key: keys::public_hex(&key),
        response,
    };
    std::fs::write(
        data.join(layout::ENROLMENT_FILE),
        serde_json::to_vec_pretty(&record)?,
    )?;
    let mut config = Config::default();
    config.store.data_dir = Some(data);
    config.till.key_file = Some(till.join(layout::TILL_KEY_FILE));
    config.api.token_file = Some(till.join(layout::API_TOKEN_FILE));
    config.central.url = Some(central.to_owned());
    config.sync.interval_secs = 5;
    Ok(config)
}

fn write_private(path: &Path, text: &str) -> anyhow::Result<()> {
    keys::write_secret(path, text).with_context(|| format!("writing {}", path.display()))
}

/// Runs the demo until Ctrl-C.
pub fn run(options: &DemoOptions, paths: &Paths, out: &mut impl Write) -> anyhow::Result<()> {
    fresh_dir(&options.dir)?;
    let central_dir = options.dir.join("central");
    std::fs::create_dir_all(&central_dir)?;
    let db = Db::open(&central_dir.join("central.db"))?;
    let keys = KeyDir::open(&central_dir.join("keys"))?;
    let seeded = seed_central(&db, &keys)?;
    let (pass_svg, pass_png) = write_token(&options.dir, "customer-pass", &seeded.pass)?;
    write_token(&options.dir, "voucher", &seeded.voucher)?;
    write_token(&options.dir, "gift-card", &seeded.gift_card)?;

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let central_listener = runtime
        .block_on(tokio::net::TcpListener::bind((
            "127.0.0.1",
            options.central_port,
        )))
        .with_context(|| {
            format!(
                "central cannot listen on 127.0.0.1:{}: choose another --central-port",
                options.central_port
            )
        })?;
    let central_url = format!("http://{}", central_listener.local_addr()?);
    // Meta's Cloud API cannot be reached from a demo: the fake Graph API stands in for it,
    // delivering the phone's messages to central's webhook, signed as Meta signs them.
    let graph = runtime.block_on(start_graph(&central_url))?;
    let (stop_central, central_stopped) = tokio::sync::oneshot::channel::<()>();
    let issuer = (db.clone(), keys.clone());
    let channel = runtime.block_on(async {
        let channel = tillpass_central::whatsapp::Channel::new(
            channel_config(&graph),
            tillpass_central::storage::Database::Sqlite(db.clone()),
            Some(keys.clone()),
            tillpass_central::clock::system(),
        )?;
        channel.spawn();
        anyhow::Ok(channel)
    })?;
    let central_state =
        tillpass_central::http::AppState::new(db, keys, None, tillpass_central::clock::system())
            .with_whatsapp(channel);
    let central = runtime.spawn(tillpass_central::http::serve(
        central_listener,
        central_state,
        async move {
            let _ = central_stopped.await;
        },
    ));

    let till_dir = options.dir.join("till");
    let mut config = enrol_till(&till_dir, &central_url, &seeded.code)?;
    config.api.listen = std::net::SocketAddr::from(([127, 0, 0, 1], options.port));
    let scanner = VirtualScanner::open()?;
    config.scanners.push(scanner.scanner_config()?);
    config.validate()?;
    let manager = tillpass_agent::dashboard::cli::ManagerArgs {
        command: tillpass_agent::dashboard::cli::ManagerCommand::Add {
            name: MANAGER.0.to_owned(),
            lang: None,
        },
    };
    tillpass_agent::dashboard::cli::run_with(
        &config,
        paths,
        manager,
        &mut || Ok(MANAGER.1.to_owned()),
        &mut std::io::sink(),
    )?;

    // Built in the runtime, as the agent's own binary builds it: the till's live lookup
    // (a customer it does not hold yet, e.g. one who just signed up in the chat, asked of
    // central at the scan) runs on the runtime it finds there.
    let agent = runtime.block_on(async {
        tillpass_agent::daemon::build(&config, paths, tillpass_agent::clock::system_wall_clock())
    })?;
    let token = agent.state.token.to_string();
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind(config.api.listen))
        .with_context(|| {
            format!(
                "the agent cannot listen on {}: choose another --port",
                config.api.listen
            )
        })?;
    let api = format!("http://{}", listener.local_addr()?);
    let phone_url = runtime.block_on(serve_phone(options.phone_port, &graph, &scanner))?;
    let summary = Summary {
        central: central_url,
        pos_api: api.clone(),
        api_token: token.clone(),
        api_token_file: till_dir.join(layout::API_TOKEN_FILE),
        dashboard: format!("{api}/dashboard/"),
        phone: phone_url.clone(),
        graph_api: graph.base_url().to_owned(),
        dashboard_login: Login {
            user: MANAGER.0.to_owned(),
            password: MANAGER.1.to_owned(),
        },
        virtual_scanner: scanner.path.clone(),
        customer_pass: Pass {
            text: seeded.pass.text.clone(),
            svg: pass_svg,
            png: pass_png,
        },
        voucher: seeded.voucher.text.clone(),
        gift_card: seeded.gift_card.text.clone(),
        data_dir: options.dir.clone(),
    };
    write_private(
        &options.dir.join(SUMMARY_FILE),
        &serde_json::to_string_pretty(&summary)?,
    )?;
    banner(
        out,
        &seeded,
        &phone_url,
        &api,
        &token,
        &till_dir,
        &scanner.path,
        options,
    )?;

    if options.read_stdin {
        let mut master = scanner.master.try_clone()?;
        // Lines typed in the terminal become scans: the scanner ends each with CR.
        std::thread::spawn(move || {
            let stdin = std::io::stdin();
            for line in stdin.lock().lines() {
                let Ok(line) = line else { break };
                let text = line.trim();
                if text.is_empty() {
                    continue;
                }
                if text == "pass" {
                    let mut stdout = std::io::stdout();
                    let shown = fresh_tokens(&issuer.0, &issuer.1)
                        .and_then(|(pass, card)| show_fresh(&mut stdout, &pass, &card));
                    if let Err(e) = shown {
                        let _ = writeln!(stdout, "  no fresh pass: {e:#}");
                    }
                    continue;
                }
                if master.write_all(format!("{text}\r").as_bytes()).is_err() {
                    break;
                }
            }
        });
    }
    let result = runtime.block_on(async {
        tillpass_agent::daemon::run(agent, listener, tillpass_agent::daemon::stop_signals())
            .await?;
        Ok::<_, anyhow::Error>(())
    });
    let _ = stop_central.send(());
    let _ = runtime.block_on(central);
    drop(scanner);
    result
}

/// The path of central's WhatsApp webhook (the callback URL configured at Meta).
pub const WEBHOOK_PATH: &str = "/webhooks/whatsapp";

/// Central's WhatsApp channel, pointed at the fake Graph API with the fake's number and
/// secrets (at Meta, the app's).
fn channel_config(graph: &tillpass_fakegraph::FakeGraph) -> tillpass_central::whatsapp::Config {
    use tillpass_central::whatsapp::Config;
    use tillpass_central::whatsapp::config::Secret;
    let fake = graph.config();
    Config {
        graph_url: graph.base_url().trim_end_matches('/').to_owned(),
        api_version: fake.api_version.clone(),
        phone_number_id: fake.phone_number_id.clone(),
        display_number: Some(fake.display_phone_number.clone()),
        terms_version: "2026-12".to_owned(),
        receipt_template: None,
        verify_token: Secret::new("tillpass-demo-verify-token"),
        app_secret: Secret::new(fake.app_secret.clone()),
        access_token: Secret::new(fake.access_token.clone()),
        pass_interval: std::time::Duration::from_secs(5),
        max_attempts: 8,
        backoff: std::time::Duration::from_millis(200),
        max_backoff: std::time::Duration::from_secs(5),
        // The fake answers on loopback at once; a send without an answer in 5 s is
        // unconfirmed, and the fake's status settles it well within the window.
        send_timeout: std::time::Duration::from_secs(5),
        confirm_window: std::time::Duration::from_secs(60),
    }
}

/// Starts the fake Graph API, delivering to central's webhook; the visitor's number is a
/// WhatsApp user.
async fn start_graph(central_url: &str) -> anyhow::Result<tillpass_fakegraph::FakeGraph> {
    let config = tillpass_fakegraph::Config {
        webhook: Some(format!("{central_url}{WEBHOOK_PATH}")),
        ..tillpass_fakegraph::Config::default()
    };
    let graph = tillpass_fakegraph::FakeGraph::start(config)
        .await
        .context("starting the fake Graph API")?;
    graph.add_user(VISITOR.0, VISITOR.1);
    Ok(graph)
}

/// Serves the phone page on `port`; its URL.
async fn serve_phone(
    port: u16,
    graph: &tillpass_fakegraph::FakeGraph,
    scanner: &VirtualScanner,
) -> anyhow::Result<String> {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .with_context(|| {
            format!("the phone page cannot listen on 127.0.0.1:{port}: choose another --phone-port")
        })?;
    let url = format!("http://{}/phone", listener.local_addr()?);
    let sink: crate::phone::ScanSink = Arc::new(std::sync::Mutex::new(scanner.master.try_clone()?));
    let phone = crate::phone::Phone {
        fake: graph.clone(),
        wa_id: VISITOR.0.to_owned(),
        name: VISITOR.1.to_owned(),
        brand: BRAND.to_owned(),
        scanner: sink,
    };
    let router = crate::phone::router(Arc::new(phone));
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, router).await {
            tracing::warn!("the phone page stopped: {e}");
        }
    });
    Ok(url)
}

#[allow(clippy::too_many_arguments)]
fn banner(
    out: &mut impl Write,
    seeded: &Seeded,
    phone: &str,
    api: &str,
    token: &str,
    till_dir: &Path,
    scanner: &Path,
    options: &DemoOptions,
) -> anyhow::Result<()> {
    let qr = TokenQr::from_text(&seeded.pass.text)?;
    writeln!(out, "{}", qr.to_terminal(TerminalBackground::Dark))?;
    writeln!(
        out,
        "tillpass demo store is open — Lucía's WhatsApp pass is the QR above:\n  {}\n",
        seeded.pass.text
    )?;
    writeln!(
        out,
        "  phone        {phone}   (a chat with the store's WhatsApp number: say \"hola\")"
    )?;
    writeln!(out, "  POS API      {api}   (bearer token: {token})")?;
    writeln!(
        out,
        "  dashboard    {api}/dashboard/   (user {} / password {})",
        MANAGER.0, MANAGER.1
    )?;
    writeln!(out, "  scanner      {} (a serial port)", scanner.display())?;
    writeln!(out, "  files        {}", options.dir.display())?;
    let me = std::env::current_exe()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| "tillpass-demo".to_owned());
    writeln!(
        out,
        "\n  Play the cashier in another terminal:\n    {me} pos --url {api} --token-file {}",
        till_dir.join(layout::API_TOKEN_FILE).display()
    )?;
    writeln!(
        out,
        "  then: add APPLES 2.40 2 fresh · add COFFEE 4.50 3 coffee · voucher {} · \
         savings 2 · giftcard {} 5 · close card",
        seeded.voucher.text, seeded.gift_card.text
    )?;
    if options.read_stdin {
        writeln!(
            out,
            "\n  Paste a pass here and press Enter: it is scanned by the virtual scanner.\n  \
             Passes run out (5 visits or an hour): type `pass` for fresh ones (or ask the \
             phone page for your QR)."
        )?;
    }
    writeln!(out, "  Ctrl-C stops the store.\n")?;
    out.flush()?;
    Ok(())
}

/// A fresh pass for Lucía and a fresh QR for the demo gift card.
fn fresh_tokens(db: &Db, keys: &KeyDir) -> anyhow::Result<(IssuedToken, IssuedToken)> {
    let options = IssueOptions {
        lifetime_secs: None,
        module_px: None,
    };
    let now = now();
    let pass =
        db.with(|c| tillpass_central::passes::customer_pass(c, keys, "C-LUCIA", &options, now))?;
    let card = db
        .with(|c| tillpass_central::passes::gift_card_token(c, keys, "GC-DEMO-1", &options, now))?;
    Ok((pass, card))
}

fn show_fresh(out: &mut impl Write, pass: &IssuedToken, card: &IssuedToken) -> anyhow::Result<()> {
    let qr = TokenQr::from_text(&pass.text)?;
    writeln!(out, "{}", qr.to_terminal(TerminalBackground::Dark))?;
    writeln!(
        out,
        "  a fresh pass for Lucía (paste it to scan it):\n  {}\n  a fresh gift-card QR:\n  {}\n",
        pass.text, card.text
    )?;
    out.flush()?;
    Ok(())
}

/// The demo's catalog parses (the test keeps the embedded file honest).
pub fn catalog() -> anyhow::Result<Arc<tillpass_engine::Engine>> {
    let catalog = tillpass_protocol::catalog::Catalog::from_toml(CATALOG)?;
    Ok(Arc::new(tillpass_engine::Engine::new(catalog)?))
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_demo_folder_and_its_secrets_are_private_whatever_the_umask() {
        use std::os::unix::fs::PermissionsExt;
        nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o022));
        let parent = tempfile::tempdir().unwrap();
        let dir = parent.path().join("demo");
        super::fresh_dir(&dir).unwrap();
        super::write_private(&dir.join("demo.json"), "{\"api_token\": \"t\"}").unwrap();
        let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&dir.join("demo.json")), 0o600);
        // A second start wipes and makes it again the same way.
        super::fresh_dir(&dir).unwrap();
        assert_eq!(mode(&dir), 0o700);
    }

    #[test]
    fn the_demo_catalog_is_valid() {
        let engine = super::catalog().unwrap();
        assert_eq!(engine.catalog().promotions.len(), 4);
    }
}
