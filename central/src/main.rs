//! `tillpass-central`: the reference central loyalty service.
//!
//! `serve` runs the HTTP API (plain HTTP, or HTTPS with `--tls-cert` and `--tls-key`);
//! every other subcommand works on the database and key directory directly (stop nothing:
//! SQLite's WAL, immediate transactions and a bounded retry let both write at once).
//! `migrate-db` moves a SQLite central to PostgreSQL.
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use tillpass_central::auth::AdminToken;
use tillpass_central::clock;
use tillpass_central::customers::{self, NewCustomer};
use tillpass_central::db::Db;
use tillpass_central::enrol::NewCode;
use tillpass_central::flags;
use tillpass_central::giftcards::NewGiftCard;
use tillpass_central::http::{self, AppState, Limits};
use tillpass_central::keys::{KeyDir, Purpose};
use tillpass_central::passes::{IssueOptions, IssuedToken, NewVoucher};
use tillpass_central::storage::{self, Database, Location, postgres::Pg};
use tillpass_central::whatsapp;
use tillpass_protocol::lang::Lang;
use tillpass_protocol::qr::{TerminalBackground, TokenQr};
use tillpass_protocol::sync::{
    Consent, CustomerRef, GiftCardRef, PromotionId, RegionId, StoreId, TillId,
};
use tillpass_protocol::token::{TokenId, TokenKind};

/// The reference central loyalty service.
#[derive(Debug, Parser)]
#[command(name = "tillpass-central", version, about)]
struct Cli {
    /// The SQLite database (the same as `--database PATH`).
    #[arg(long, env = "TILLPASS_CENTRAL_DB", global = true)]
    db: Option<PathBuf>,
    /// The database: a SQLite file's path, or a PostgreSQL URL
    /// (`postgres://user@host:5432/name`). Default: `central.db`.
    #[arg(
        long,
        env = "TILLPASS_CENTRAL_DATABASE",
        global = true,
        conflicts_with = "db"
    )]
    database: Option<Location>,
    /// The directory of private keys (created 0700; keys 0600).
    #[arg(
        long,
        env = "TILLPASS_CENTRAL_KEYS",
        default_value = "keys",
        global = true
    )]
    keys: PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the HTTP API (makes missing keys and the first trust list).
    Serve {
        /// Where to listen.
        #[arg(
            long,
            env = "TILLPASS_CENTRAL_LISTEN",
            default_value = "127.0.0.1:8440"
        )]
        listen: SocketAddr,
        /// A file holding the admin bearer token (at least 16 characters).
        #[arg(long, env = "TILLPASS_CENTRAL_ADMIN_TOKEN_FILE")]
        admin_token_file: Option<PathBuf>,
        /// Serve HTTPS with this certificate chain (PEM, leaf first); needs --tls-key.
        /// Without it central serves plain HTTP: for loopback, or behind a TLS proxy.
        #[arg(long, env = "TILLPASS_CENTRAL_TLS_CERT", requires = "tls_key")]
        tls_cert: Option<PathBuf>,
        /// The private key of --tls-cert (PEM: PKCS#8, PKCS#1 or SEC1).
        #[arg(long, env = "TILLPASS_CENTRAL_TLS_KEY", requires = "tls_cert")]
        tls_key: Option<PathBuf>,
        #[command(flatten)]
        limits: LimitArgs,
        /// Run the WhatsApp channel with this configuration file (TOML: the Graph API,
        /// the business number, the terms' version; secrets from files or systemd
        /// credentials).
        #[arg(long, env = "TILLPASS_CENTRAL_WHATSAPP")]
        whatsapp: Option<PathBuf>,
        /// Serve `/metrics` (with `/livez` and `/readyz`) on this address only, plain
        /// HTTP, instead of on --listen: for central IT's own network.
        #[arg(long, env = "TILLPASS_CENTRAL_METRICS_LISTEN")]
        metrics_listen: Option<SocketAddr>,
        /// Seconds between two reads of the gauges that need a query (tills seen per
        /// store, the WhatsApp channel's backlogs).
        #[arg(long, env = "TILLPASS_CENTRAL_METRICS_REFRESH_SECS", default_value_t = tillpass_central::metrics::refresh::EVERY.as_secs())]
        metrics_refresh_secs: u64,
        #[command(flatten)]
        budget: BudgetArgs,
        /// Days a customer stays in a store's scope after their last journal event or
        /// live lookup there: their changes reach that store's tills (assigned
        /// customers stay; a customer known at no store reaches every store). Stored in
        /// the database, so every node of a chain applies the last one given.
        #[arg(long, env = "TILLPASS_CENTRAL_SCOPE_DAYS", default_value_t = tillpass_central::scope::DEFAULT_DAYS)]
        scope_days: u32,
    },
    /// Signing keys.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Publish a fresh trust list now.
    TrustList,
    /// Customers.
    #[command(subcommand)]
    Customer(CustomerCommand),
    /// Gift cards.
    #[command(subcommand, name = "gift-card")]
    GiftCard(GiftCardCommand),
    /// Issue a voucher token.
    Voucher {
        /// The voucher code (1 to 16 characters).
        code: String,
        /// The promotion it unlocks.
        #[arg(long)]
        promotion: Option<String>,
        /// Lifetime in seconds.
        #[arg(long)]
        lifetime: Option<u32>,
        /// Write `{code}.svg` and `{code}.png` there.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Make a one-time enrolment code for a till.
    EnrolCode {
        /// The store's id, e.g. `S1`.
        #[arg(long)]
        store: String,
        /// The till id (`{store}-T{n}` when absent).
        #[arg(long)]
        till: Option<String>,
        /// The store's region: promotions can be scoped by it.
        #[arg(long)]
        region: Option<String>,
        /// Days the code stays usable.
        #[arg(long, default_value_t = 7)]
        ttl_days: i64,
    },
    /// Promotion catalogs.
    #[command(subcommand)]
    Catalog(CatalogCommand),
    /// Revoke a token, or every token of a subject issued until now.
    #[command(subcommand)]
    Revoke(RevokeCommand),
    /// List flags (overspend debts, tokens at two stores…), newest first; or resolve one.
    Flags {
        /// Only the flags not resolved.
        #[arg(long)]
        open: bool,
        /// Only flags with an id below this one (the previous page's last id).
        #[arg(long)]
        before: Option<i64>,
        /// At most this many.
        #[arg(long)]
        limit: Option<i64>,
        #[command(subcommand)]
        action: Option<FlagsCommand>,
    },
    /// Apply the retention policy now: compact superseded changes, delete token uses,
    /// expired tokens, resolved flags and store sales past their periods (`serve` does it
    /// every hour). Prints what it deleted.
    Compact,
    /// Move a SQLite central to a fresh PostgreSQL database: every row as it is (signed
    /// envelopes byte for byte), in one transaction. Stop `serve` first.
    MigrateDb {
        /// The SQLite database to move.
        #[arg(long)]
        from: PathBuf,
        /// The PostgreSQL database to move it to (migrated here; must hold no rows).
        #[arg(long)]
        to: String,
    },
    /// The offline policy.
    #[command(subcommand)]
    Policy(PolicyCommand),
    /// The WhatsApp channel.
    #[command(subcommand)]
    Whatsapp(WhatsappCommand),
}

#[derive(Debug, Subcommand)]
enum WhatsappCommand {
    /// Inbox and outbox depths, dead letters with their reasons, Meta's last error (works
    /// on SQLite and PostgreSQL).
    Status,
    /// Write the stores' click-to-chat poster QR: `poster.png` and `poster.svg`.
    Poster {
        /// The business number, international form, digits only (e.g. 34600111222).
        #[arg(long)]
        number: String,
        /// The first message the chat opens with.
        #[arg(long, default_value = tillpass_central::whatsapp::poster::DEFAULT_TEXT)]
        text: String,
        /// The folder to write into.
        #[arg(long, default_value = ".")]
        out: PathBuf,
    },
}

/// Connection limits of `serve`.
#[derive(Debug, clap::Args)]
struct LimitArgs {
    /// Connections served at once (lowered to what the open-file limit allows).
    #[arg(long, env = "TILLPASS_CENTRAL_MAX_CONNECTIONS", default_value_t = Limits::default().max_connections)]
    max_connections: usize,
    /// Seconds a client has to send a request's headers (and to finish a TLS handshake);
    /// a kept-alive connection with no new request within them is closed.
    #[arg(long, env = "TILLPASS_CENTRAL_HEADER_TIMEOUT", default_value_t = Limits::default().header_timeout.as_secs())]
    header_timeout_secs: u64,
    /// Seconds without a byte either way after which a connection is closed.
    #[arg(long, env = "TILLPASS_CENTRAL_IDLE_TIMEOUT", default_value_t = Limits::default().idle_timeout.as_secs())]
    idle_timeout_secs: u64,
    /// Signed requests one till may send this node at once (its bucket); past it and its
    /// refill, `429 rate_limited` with `Retry-After`. `0` turns the quota off.
    #[arg(long, env = "TILLPASS_CENTRAL_TILL_BURST", default_value_t = Limits::default().per_till.burst)]
    till_burst: u32,
    /// Signed requests a second one till's bucket gets back. `0` turns the quota off.
    #[arg(long, env = "TILLPASS_CENTRAL_TILL_RATE", default_value_t = Limits::default().per_till.per_sec)]
    till_rate: u32,
}

/// What `serve` takes of its database.
#[derive(Debug, clap::Args)]
struct BudgetArgs {
    /// PostgreSQL connections this node holds at most (every node's, together, within the
    /// server's max_connections).
    #[arg(long, env = "TILLPASS_CENTRAL_DB_POOL_SIZE", default_value_t = storage::Budget::default().pool_size)]
    db_pool_size: usize,
    /// Milliseconds a request waits for a database connection (PostgreSQL's pool, SQLite's
    /// one) before it is answered `503 busy` with `Retry-After`, nothing begun.
    #[arg(long, env = "TILLPASS_CENTRAL_DB_WAIT_MS", default_value_t = u64::try_from(storage::Budget::default().wait.as_millis()).unwrap_or(u64::MAX))]
    db_wait_ms: u64,
}

impl BudgetArgs {
    fn budget(&self) -> storage::Budget {
        storage::Budget {
            pool_size: self.db_pool_size.max(1),
            wait: Duration::from_millis(self.db_wait_ms.max(1)),
        }
    }
}

impl LimitArgs {
    fn limits(&self) -> Limits {
        Limits {
            max_connections: self.max_connections.max(1),
            header_timeout: Duration::from_secs(self.header_timeout_secs.max(1)),
            idle_timeout: Duration::from_secs(self.idle_timeout_secs.max(1)),
            per_till: tillpass_central::http::quota::TillRate {
                burst: self.till_burst,
                per_sec: self.till_rate,
            },
            ..Limits::default()
        }
    }
}

#[derive(Debug, Subcommand)]
enum KeysCommand {
    /// Make every missing key.
    Init,
    /// List the keys.
    List,
    /// Replace the token, catalog or sync key; publishes a new trust list.
    Rotate {
        /// token, catalog or sync.
        purpose: String,
        /// Days the old key stays trusted.
        #[arg(long, default_value_t = 400)]
        grace_days: i64,
    },
    /// Revoke a key by id; publishes a new trust list and a revocation.
    Revoke {
        /// The key id (8 hex digits).
        kid: String,
    },
}

#[derive(Debug, Subcommand)]
enum CustomerCommand {
    /// Create a customer.
    Create {
        /// The opaque reference (1 to 16 characters).
        reference: String,
        /// First name.
        #[arg(long)]
        first_name: String,
        /// The loyalty tier's name.
        #[arg(long)]
        tier: Option<String>,
        /// Language: es or en.
        #[arg(long, default_value = "es")]
        lang: String,
        /// The customer consents to digital receipts.
        #[arg(long)]
        receipts: bool,
        /// The customer consents to marketing.
        #[arg(long)]
        marketing: bool,
        /// Opening savings, minor units.
        #[arg(long, default_value_t = 0)]
        savings: i64,
    },
    /// Show a customer.
    Show {
        /// The customer's reference.
        reference: String,
    },
    /// Put a customer in exactly these segments (none: out of every segment).
    Segments {
        /// The customer's reference.
        reference: String,
        /// The segments' names.
        segments: Vec<String>,
    },
    /// Erase a customer (GDPR): tills receive the erasure in their next delta.
    Erase {
        /// The customer's reference.
        reference: String,
    },
    /// Issue a pass: prints the text and the QR; writes SVG and PNG with --out.
    Pass {
        /// The customer's reference.
        reference: String,
        /// Lifetime in seconds.
        #[arg(long)]
        lifetime: Option<u32>,
        /// Write `{reference}.svg` and `{reference}.png` there.
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
enum GiftCardCommand {
    /// Create a gift card.
    Create {
        /// The card reference (1 to 16 characters).
        reference: String,
        /// Opening balance, minor units.
        #[arg(long)]
        balance: i64,
        /// Expiry, unix seconds.
        #[arg(long)]
        expires_at: Option<i64>,
    },
    /// Show a gift card.
    Show {
        /// The gift card's reference.
        reference: String,
    },
    /// Issue a gift-card token.
    Token {
        /// The gift card's reference.
        reference: String,
        /// Lifetime in seconds.
        #[arg(long)]
        lifetime: Option<u32>,
        /// Write `{reference}.svg` and `{reference}.png` there.
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
enum CatalogCommand {
    /// Validate, sign and publish a catalog written in TOML.
    Publish {
        /// The TOML file.
        file: PathBuf,
        /// Serve it from this time on (unix seconds); now when absent.
        #[arg(long)]
        activates_at: Option<i64>,
    },
}

#[derive(Debug, Subcommand)]
enum RevokeCommand {
    /// One token by id (16 hex digits).
    Token {
        /// The token id.
        token_id: String,
    },
    /// Every token of a subject issued until now.
    Subject {
        /// customer_pass, gift_card or voucher.
        kind: String,
        /// The subject's reference: a customer, gift card or voucher.
        subject: String,
    },
}

#[derive(Debug, Subcommand)]
enum FlagsCommand {
    /// Resolve a flag: the stores whose ledger shows it see it resolved.
    Resolve {
        /// The flag's id (from the list).
        id: i64,
        /// What was done about it.
        #[arg(long)]
        note: String,
        /// Who resolved it.
        #[arg(long, default_value = "central-cli")]
        by: String,
    },
}

#[derive(Debug, Subcommand)]
enum PolicyCommand {
    /// Print the offline policy as JSON.
    Show,
    /// Replace it with the JSON in a file.
    Set {
        /// The JSON file.
        file: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "tillpass-central: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn out(text: &str) -> anyhow::Result<()> {
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{text}")?;
    Ok(())
}

fn json(value: &impl serde::Serialize) -> anyhow::Result<()> {
    out(&serde_json::to_string_pretty(value)?)
}

/// The database the command line names. `--db` is a SQLite file: a PostgreSQL URL there
/// is refused rather than made into a file of that name.
fn location(cli: &Cli) -> anyhow::Result<Location> {
    Ok(match (&cli.database, &cli.db) {
        (Some(location), _) => location.clone(),
        (None, Some(path)) => {
            let text = path.to_string_lossy();
            if text.starts_with("postgres://") || text.starts_with("postgresql://") {
                bail!(
                    "--db names a SQLite file; give a PostgreSQL URL with --database \
                     (or TILLPASS_CENTRAL_DATABASE)"
                );
            }
            Location::sqlite(path)
        }
        (None, None) => Location::sqlite(Path::new("central.db")),
    })
}

fn run(cli: Cli) -> anyhow::Result<()> {
    if let Command::MigrateDb { from, to } = &cli.command {
        return migrate_db(from, to);
    }
    if let Command::Whatsapp(command) = &cli.command {
        return whatsapp_command(&cli, command);
    }
    let location = location(&cli)?;
    let dir = KeyDir::open(&cli.keys)?;
    let runtime = tokio::runtime::Runtime::new().context("starting the runtime")?;
    let budget = match &cli.command {
        Command::Serve { budget, .. } => budget.budget(),
        _ => storage::Budget::default(),
    };
    let database = runtime
        .block_on(Database::open_with(&location, budget))
        .with_context(|| format!("opening {location}"))?;
    let now = clock::now();
    match cli.command {
        Command::Serve {
            listen,
            admin_token_file,
            tls_cert,
            tls_key,
            limits,
            whatsapp,
            metrics_listen,
            metrics_refresh_secs,
            budget: _,
            scope_days,
        } => {
            runtime.block_on(database.set_scope_days(scope_days))?;
            let tls = match (tls_cert, tls_key) {
                (Some(cert), Some(key)) => Some(http::tls::acceptor(&cert, &key)?),
                _ => None,
            };
            serve(
                &runtime,
                database,
                dir,
                Listeners {
                    api: listen,
                    metrics: metrics_listen,
                },
                admin_token_file.as_deref(),
                tls,
                limits.limits(),
                whatsapp.as_deref(),
                Duration::from_secs(metrics_refresh_secs),
            )
        }
        Command::Keys(command) => runtime.block_on(keys_command(&database, &dir, command, now)),
        Command::TrustList => {
            let published = runtime.block_on(database.publish_trust_list(&dir, now))?;
            out(&format!(
                "trust list {} published ({} bytes)",
                published.sequence,
                published.envelope.len()
            ))
        }
        Command::EnrolCode {
            store,
            till,
            region,
            ttl_days,
        } => {
            let new = NewCode {
                store: StoreId::new(store)?,
                till: till.map(TillId::new).transpose()?,
                region: region.map(RegionId::new).transpose()?,
                ttl_secs: Some(ttl_days.saturating_mul(86_400)),
            };
            json(&runtime.block_on(database.create_enrolment_code(&new, now))?)
        }
        Command::Catalog(CatalogCommand::Publish { file, activates_at }) => {
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("reading {}", file.display()))?;
            json(&runtime.block_on(database.publish_catalog(&dir, &text, activates_at, now))?)
        }
        Command::Policy(PolicyCommand::Show) => json(&runtime.block_on(database.policy())?),
        Command::Policy(PolicyCommand::Set { file }) => {
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("reading {}", file.display()))?;
            let policy = serde_json::from_str(&text).context("the policy file")?;
            runtime.block_on(database.set_policy(&policy))?;
            out("offline policy set")
        }
        Command::Voucher {
            code,
            promotion,
            lifetime,
            out: out_dir,
        } => {
            let new = NewVoucher {
                code: PromotionId::new(code)?,
                promotion_id: promotion.map(PromotionId::new).transpose()?,
                options: IssueOptions {
                    lifetime_secs: lifetime,
                    module_px: None,
                },
            };
            let issued = runtime.block_on(database.voucher(&dir, &new, now))?;
            show_token(&issued, out_dir.as_deref())
        }
        Command::Revoke(RevokeCommand::Token { token_id }) => {
            let mut id = [0u8; 8];
            hex::decode_to_slice(&token_id, &mut id).context("a token id is 16 hex digits")?;
            runtime.block_on(database.revoke_token(TokenId(id), now))?;
            out("revoked")
        }
        Command::Revoke(RevokeCommand::Subject { kind, subject }) => {
            let Some(kind) = TokenKind::from_code(&kind) else {
                bail!("kind: customer_pass, gift_card or voucher");
            };
            runtime.block_on(database.revoke_subject(kind, subject.as_bytes(), now + 1, now))?;
            out("revoked")
        }
        Command::Flags {
            action: Some(FlagsCommand::Resolve { id, note, by }),
            ..
        } => {
            runtime.block_on(database.resolve_flag(id, &by, &note, now))?;
            out(&format!("flag {id} resolved"))
        }
        Command::Flags {
            open,
            before,
            limit,
            action: None,
        } => json(&runtime.block_on(database.flags_page(&flags::Query {
            open_only: open,
            before,
            limit: limit.unwrap_or(i64::MAX),
        }))?),
        Command::Compact => json(
            &runtime
                .block_on(database.sweep(&tillpass_central::retention::Policy::default(), now))?,
        ),
        Command::MigrateDb { .. } => bail!("migrate-db opens its own databases"),
        Command::Whatsapp(_) => bail!("whatsapp opens its own database"),
        Command::Customer(command) => {
            runtime.block_on(customer_command(&database, &dir, command, now))
        }
        Command::GiftCard(command) => {
            runtime.block_on(gift_card_command(&database, &dir, command, now))
        }
    }
}

/// Moves the SQLite central at `from` to the PostgreSQL database at `to`.
fn migrate_db(from: &Path, to: &str) -> anyhow::Result<()> {
    let Location::Postgres(url) = Location::parse(to) else {
        bail!("--to: a PostgreSQL URL (postgres://user@host:5432/name)");
    };
    if !from.is_file() {
        bail!("--from: {} is not a SQLite database file", from.display());
    }
    let source = Db::open(from).with_context(|| format!("opening {}", from.display()))?;
    let runtime = tokio::runtime::Runtime::new().context("starting the runtime")?;
    let copied = runtime.block_on(async {
        let target = Pg::open(&url)
            .await
            .with_context(|| format!("opening {}", Location::parse(to)))?;
        storage::copy::copy(&source, &target)
            .await
            .context("moving the rows")
    })?;
    let rows: i64 = copied.tables.iter().map(|(_, n)| n).sum();
    for (table, count) in &copied.tables {
        out(&format!("{table:<20} {count:>10}"))?;
    }
    out(&format!(
        "moved {rows} rows of {} tables from {} to {}",
        copied.tables.len(),
        from.display(),
        Location::parse(to)
    ))
}

async fn keys_command(
    db: &Database,
    dir: &KeyDir,
    command: KeysCommand,
    now: i64,
) -> anyhow::Result<()> {
    match command {
        KeysCommand::Init => json(&db.init_keys(dir, now).await?),
        KeysCommand::List => json(&db.list_keys().await?),
        KeysCommand::Rotate {
            purpose,
            grace_days,
        } => {
            let Some(purpose) = Purpose::from_code(&purpose) else {
                bail!("purpose: token, catalog or sync");
            };
            let grace = grace_days.saturating_mul(86_400);
            json(&db.rotate_key(dir, purpose, now, grace).await?)
        }
        KeysCommand::Revoke { kid } => json(&db.revoke_key(dir, &kid, now).await?),
    }
}

async fn customer_command(
    db: &Database,
    dir: &KeyDir,
    command: CustomerCommand,
    now: i64,
) -> anyhow::Result<()> {
    match command {
        CustomerCommand::Create {
            reference,
            first_name,
            tier,
            lang,
            receipts,
            marketing,
            savings,
        } => {
            let new = NewCustomer {
                customer: CustomerRef::new(reference)?,
                first_name,
                tier,
                lang: Lang::from_code(&lang).context("lang: es or en")?,
                consent: Consent {
                    receipts,
                    marketing,
                },
                currency: None,
                savings,
                segments: Vec::new(),
            };
            db.create_customer(&new, now).await?;
            match db.customer(new.customer.as_str(), now).await? {
                Some(view) => json(&view),
                None => bail!("no customer {}", new.customer),
            }
        }
        CustomerCommand::Show { reference } => match db.customer(&reference, now).await? {
            Some(view) => json(&view),
            None => bail!("no customer {reference}"),
        },
        CustomerCommand::Segments {
            reference,
            segments,
        } => {
            let patch = customers::CustomerPatch {
                segments: Some(segments),
                ..customers::CustomerPatch::default()
            };
            json(&db.update_customer(&reference, &patch, now).await?)
        }
        CustomerCommand::Erase { reference } => {
            db.erase_customer(&reference, now).await?;
            out("erased")
        }
        CustomerCommand::Pass {
            reference,
            lifetime,
            out: out_dir,
        } => {
            let options = IssueOptions {
                lifetime_secs: lifetime,
                module_px: None,
            };
            let issued = db.customer_pass(dir, &reference, &options, now).await?;
            show_token(&issued, out_dir.as_deref())
        }
    }
}

async fn gift_card_command(
    db: &Database,
    dir: &KeyDir,
    command: GiftCardCommand,
    now: i64,
) -> anyhow::Result<()> {
    match command {
        GiftCardCommand::Create {
            reference,
            balance,
            expires_at,
        } => {
            let new = NewGiftCard {
                card: GiftCardRef::new(reference)?,
                balance,
                currency: None,
                expires_at,
            };
            db.create_gift_card(&new, now).await?;
            match db.gift_card(new.card.as_str()).await? {
                Some(card) => json(&card),
                None => bail!("no gift card {}", new.card),
            }
        }
        GiftCardCommand::Show { reference } => match db.gift_card(&reference).await? {
            Some(card) => json(&card),
            None => bail!("no gift card {reference}"),
        },
        GiftCardCommand::Token {
            reference,
            lifetime,
            out: out_dir,
        } => {
            let options = IssueOptions {
                lifetime_secs: lifetime,
                module_px: None,
            };
            let issued = db.gift_card_token(dir, &reference, &options, now).await?;
            show_token(&issued, out_dir.as_deref())
        }
    }
}

/// Prints a token's text and QR; writes its SVG and PNG into `out_dir` if given.
fn show_token(issued: &IssuedToken, out_dir: Option<&Path>) -> anyhow::Result<()> {
    use base64::Engine as _;
    let qr = TokenQr::from_text(&issued.text)?;
    out(&qr.to_terminal(TerminalBackground::Dark))?;
    out(&issued.text)?;
    out(&format!(
        "token {} ({}) expires at {}",
        issued.token_id, issued.kind, issued.expires_at
    ))?;
    if let Some(dir) = out_dir {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let svg = dir.join(format!("{}.svg", issued.subject));
        let png = dir.join(format!("{}.png", issued.subject));
        std::fs::write(&svg, &issued.svg).with_context(|| format!("writing {}", svg.display()))?;
        let bytes = base64::engine::general_purpose::STANDARD.decode(&issued.png_base64)?;
        std::fs::write(&png, bytes).with_context(|| format!("writing {}", png.display()))?;
        out(&format!("wrote {} and {}", svg.display(), png.display()))?;
    }
    Ok(())
}

/// Where `serve` listens: the API, and `/metrics` when elsewhere.
struct Listeners {
    api: SocketAddr,
    metrics: Option<SocketAddr>,
}

#[allow(clippy::too_many_arguments)]
fn serve(
    runtime: &tokio::runtime::Runtime,
    db: Database,
    dir: KeyDir,
    listen: Listeners,
    admin_token_file: Option<&Path>,
    tls: Option<http::TlsAcceptor>,
    limits: Limits,
    whatsapp: Option<&Path>,
    refresh: Duration,
) -> anyhow::Result<()> {
    tillpass_central::telemetry::init();
    let whatsapp = whatsapp
        .map(|path| {
            whatsapp::Config::load(path).with_context(|| format!("reading {}", path.display()))
        })
        .transpose()?;
    let admin = match admin_token_file {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            Some(AdminToken::new(&text)?)
        }
        None => {
            tracing::warn!("no admin token file: the admin API refuses every request");
            None
        }
    };
    runtime.block_on(async move {
        db.init_keys(&dir, clock::now()).await?;
        let api = listen.api;
        let listener = tokio::net::TcpListener::bind(api)
            .await
            .with_context(|| format!("listening on {api}"))?;
        let metrics_listener = match listen.metrics {
            Some(address) => Some(
                tokio::net::TcpListener::bind(address)
                    .await
                    .with_context(|| format!("listening on {address}"))?,
            ),
            None => None,
        };
        let scheme = if tls.is_some() { "https" } else { "http" };
        tracing::info!(
            database = db.backend(),
            scheme,
            address = %listener.local_addr()?,
            "tillpass-central listening"
        );
        tokio::spawn(db.clone().sweep_every(
            tillpass_central::retention::Policy::default(),
            tillpass_central::retention::SWEEP_EVERY,
        ));
        let mut state = AppState::new(db.clone(), dir.clone(), admin, clock::system())
            .with_limits(limits)
            .with_metrics_refresh(refresh);
        if let Some(config) = whatsapp {
            let channel = whatsapp::Channel::new(config, db, Some(dir), clock::system())?;
            channel.spawn();
            tracing::info!("the WhatsApp channel is on: /webhooks/whatsapp");
            state = state.with_whatsapp(channel);
        }
        let (stop, stopping) = tokio::sync::watch::channel(false);
        let stopped = move || {
            let mut stopping = stopping.clone();
            async move {
                let _ = stopping.wait_for(|stop| *stop).await;
            }
        };
        let ops = match metrics_listener {
            Some(listener) => {
                tracing::info!(address = %listener.local_addr()?, "metrics listening: /metrics, /livez, /readyz");
                state = state.with_metrics_elsewhere();
                Some(tokio::spawn(http::serve_ops(
                    listener,
                    state.clone(),
                    stopped(),
                )))
            }
            None => None,
        };
        tokio::spawn(async move {
            shutdown_signal().await;
            let _ = stop.send(true);
        });
        match tls {
            Some(tls) => http::serve_tls(listener, state, tls, stopped()).await?,
            None => http::serve(listener, state, stopped()).await?,
        }
        if let Some(ops) = ops {
            ops.await.context("the metrics listener")??;
        }
        tracing::info!("tillpass-central stopped");
        Ok(())
    })
}

async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut terminate) => {
                tokio::select! {
                    _ = interrupt => {}
                    _ = terminate.recv() => {}
                }
            }
            Err(_) => {
                let _ = interrupt.await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = interrupt.await;
    }
}

/// `tillpass-central whatsapp …`.
fn whatsapp_command(cli: &Cli, command: &WhatsappCommand) -> anyhow::Result<()> {
    match command {
        WhatsappCommand::Poster {
            number,
            text,
            out: dir,
        } => {
            let link = whatsapp::poster::link(number, text)?;
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
            for (name, bytes) in [
                ("poster.png", whatsapp::poster::png(&link)?),
                ("poster.svg", whatsapp::poster::svg(&link)?.into_bytes()),
            ] {
                let path = dir.join(name);
                std::fs::write(&path, bytes)
                    .with_context(|| format!("writing {}", path.display()))?;
            }
            out(&link)
        }
        WhatsappCommand::Status => {
            let location = location(cli)?;
            let runtime = tokio::runtime::Runtime::new().context("starting the runtime")?;
            let report = runtime.block_on(async {
                let db = storage::Database::open(&location)
                    .await
                    .with_context(|| format!("opening {location}"))?;
                anyhow::Ok(whatsapp::store::status(&db).await?)
            })?;
            out(&format!(
                "inbox not yet handled   {:>8}",
                report.inbox_pending
            ))?;
            out(&format!(
                "receipts queued         {:>8}",
                report.receipts_queued
            ))?;
            out(&format!(
                "outbox unconfirmed      {:>8}",
                report.unconfirmed
            ))?;
            for (state, count) in report.outbox.iter().filter(|(s, _)| s != "unconfirmed") {
                out(&format!("outbox {state:<16} {count:>8}"))?;
            }
            for (state, count) in &report.contacts {
                out(&format!("contacts {state:<14} {count:>8}"))?;
            }
            match &report.last_meta_error {
                Some((error, at)) => out(&format!("last Meta error         {error} (at {at})"))?,
                None => out("last Meta error         none")?,
            }
            for (key, state, reason) in &report.dead_letters {
                out(&format!("{state:<9} {key}: {reason}"))?;
            }
            Ok(())
        }
    }
}
