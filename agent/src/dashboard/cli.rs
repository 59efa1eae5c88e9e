//! `tillpass manager …`: the dashboard's manager accounts, on the till itself.
//!
//! ```text
//! tillpass manager add --name Ana [--lang es|en]   # password from stdin, or asked twice
//! tillpass manager password --name Ana             # a new password; signs Ana out
//! tillpass manager list
//! tillpass manager remove --name Ana
//! tillpass manager unlock Ana                      # lifts a lockout after failed sign-ins
//! ```
//!
//! Works while the agent runs (SQLite's WAL lets both write in turn).

use std::io::{BufRead, IsTerminal, Write};

use anyhow::{Context, bail};
use tillpass_protocol::lang::Lang;

use super::password;
use crate::config::Config;
use crate::paths::Paths;
use crate::store::Store;
use crate::store::managers;

/// `tillpass manager`.
#[derive(Debug, clap::Args)]
pub struct ManagerArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: ManagerCommand,
}

/// The manager subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum ManagerCommand {
    /// Adds a store manager for the dashboard. The password is read from standard input
    /// (its first line) or, on a terminal, asked for twice without echo.
    Add {
        /// The name to sign in with (1 to 64 characters; case does not matter).
        #[arg(long)]
        name: String,
        /// The dashboard's language for this manager; the store's language by default.
        #[arg(long, value_parser = ["es", "en"])]
        lang: Option<String>,
    },
    /// Sets a new password (read like `add`'s) and signs the manager out everywhere.
    Password {
        /// The manager.
        #[arg(long)]
        name: String,
    },
    /// Lists the managers.
    List,
    /// Removes a manager and signs them out.
    Remove {
        /// The manager.
        #[arg(long)]
        name: String,
    },
    /// Forgets the sign-in guesses made for a name, from every address: lifts its lockout.
    Unlock {
        /// The name (`tillpass manager unlock Ana`).
        #[arg(required_unless_present = "name_flag", conflicts_with = "name_flag")]
        name: Option<String>,
        /// The name, as the other subcommands take it.
        #[arg(long = "name", id = "name_flag", value_name = "NAME")]
        name_flag: Option<String>,
    },
}

/// Runs a `tillpass manager` command against the till's store, reading passwords from the
/// terminal or standard input and writing to standard output.
pub fn run(config: &Config, paths: &Paths, args: ManagerArgs) -> anyhow::Result<()> {
    run_with(
        config,
        paths,
        args,
        &mut read_password,
        &mut std::io::stdout(),
    )
}

/// [`run`] with the password source and the output given (for tests).
pub fn run_with(
    config: &Config,
    paths: &Paths,
    args: ManagerArgs,
    password_source: &mut dyn FnMut() -> anyhow::Result<String>,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let store = Store::open(&config.data_dir(paths))?;
    let now = i64::try_from(crate::clock::system_wall_clock()()).unwrap_or(i64::MAX);
    match args.command {
        ManagerCommand::Add { name, lang } => {
            let name = checked_name(&name)?;
            let lang = lang
                .as_deref()
                .and_then(Lang::from_code)
                .unwrap_or_else(|| crate::config::language(&config.till));
            let hash = password::hash(&password_source()?)?;
            let added = managers::add(&store.conn(), &name, &hash, lang, now)?;
            if added.is_none() {
                bail!(
                    "a manager named {name:?} already exists; use `tillpass manager password` to change the password"
                );
            }
            writeln!(out, "manager {name:?} added (language {})", lang.code())?;
        }
        ManagerCommand::Password { name } => {
            let hash = password::hash(&password_source()?)?;
            if !managers::set_password(&store.conn(), &name, &hash)? {
                bail!("no manager named {name:?}");
            }
            writeln!(
                out,
                "password of {name:?} changed; their sessions are closed"
            )?;
        }
        ManagerCommand::List => {
            let list = managers::list(&store.conn())?;
            if list.is_empty() {
                writeln!(
                    out,
                    "no managers yet: add one with `tillpass manager add --name NAME`"
                )?;
            }
            for m in list {
                let last = m.last_login_at.map_or_else(
                    || "never signed in".to_owned(),
                    |t| format!("last sign-in {t}"),
                );
                writeln!(out, "{}\t{}\t{last}", m.name, m.lang.code())?;
            }
        }
        ManagerCommand::Remove { name } => {
            if !managers::remove(&store.conn(), &name)? {
                bail!("no manager named {name:?}");
            }
            writeln!(out, "manager {name:?} removed")?;
        }
        ManagerCommand::Unlock { name, name_flag } => {
            let name = name.or(name_flag).unwrap_or_default();
            let cleared = managers::unlock(&store.conn(), &name)?;
            if cleared {
                writeln!(out, "{name:?} unlocked")?;
            } else {
                writeln!(out, "{name:?} was not locked")?;
            }
        }
    }
    Ok(())
}

fn checked_name(name: &str) -> anyhow::Result<String> {
    let name = name.trim();
    let count = name.chars().count();
    if count == 0 || count > 64 || name.chars().any(char::is_control) {
        bail!("a manager's name has 1 to 64 characters and no control characters");
    }
    Ok(name.to_owned())
}

/// The password: asked twice without echo on a terminal, else the first line of stdin.
fn read_password() -> anyhow::Result<String> {
    if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password("Password: ").context("reading the password")?;
        password::check(&first)?;
        let second =
            rpassword::prompt_password("Password again: ").context("reading the password")?;
        if first != second {
            bail!("the two passwords differ");
        }
        return Ok(first);
    }
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("reading the password from standard input")?;
    let password = line.trim_end_matches(['\r', '\n']).to_owned();
    if password.is_empty() {
        bail!("no password on standard input");
    }
    Ok(password)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setup() -> (tempfile::TempDir, Config, Paths) {
        let dir = tempfile::tempdir().unwrap();
        let mut config = Config::default();
        config.store.data_dir = Some(dir.path().join("data"));
        let paths = Paths {
            state_dir: dir.path().join("state"),
            config_dir: dir.path().to_path_buf(),
            credentials_dir: None,
        };
        (dir, config, paths)
    }

    fn run_cmd(config: &Config, paths: &Paths, args: &[&str], pw: &str) -> anyhow::Result<String> {
        use clap::Parser;
        #[derive(clap::Parser)]
        struct Cli {
            #[command(flatten)]
            args: ManagerArgs,
        }
        let cli = Cli::try_parse_from(std::iter::once("manager").chain(args.iter().copied()))?;
        let mut out = Vec::new();
        let pw = pw.to_owned();
        run_with(config, paths, cli.args, &mut || Ok(pw.clone()), &mut out)?;
        Ok(String::from_utf8(out).unwrap())
    }

    #[test]
    fn add_list_lock_unlock_remove() {
        let (_dir, config, paths) = setup();
        let out = run_cmd(
            &config,
            &paths,
            &["add", "--name", "Ana"],
            "a long enough password",
        )
        .unwrap();
        assert!(out.contains("\"Ana\" added (language es)"), "{out}");
        let err = run_cmd(
            &config,
            &paths,
            &["add", "--name", "ana"],
            "a long enough password",
        )
        .unwrap_err();
        assert!(err.to_string().contains("already exists"), "{err}");
        let err = run_cmd(
            &config,
            &paths,
            &["add", "--name", "Luis", "--lang", "en"],
            "short",
        )
        .unwrap_err();
        assert!(err.to_string().contains("at least"), "{err}");
        assert!(run_cmd(&config, &paths, &["add", "--name", "x", "--lang", "fr"], "").is_err());
        run_cmd(
            &config,
            &paths,
            &["add", "--name", "Luis", "--lang", "en"],
            "another long password",
        )
        .unwrap();
        let out = run_cmd(&config, &paths, &["list"], "").unwrap();
        assert!(
            out.contains("Ana\tes\tnever signed in") && out.contains("Luis\ten"),
            "{out}"
        );

        let store = Store::open(&config.data_dir(&paths)).unwrap();
        let (_, hash) = managers::find(&store.conn(), "ana").unwrap().unwrap();
        assert!(password::verify("a long enough password", &hash));
        let policy = managers::LockoutPolicy::DEFAULT;
        for _ in 0..5 {
            managers::reserve_attempt(&store.conn(), "ana", "10.1.1.1", now(), policy).unwrap();
        }
        let locked = || {
            managers::locked_until(&store.conn(), "ana", "10.1.1.2", now(), policy)
                .unwrap()
                .is_some()
        };
        assert!(locked());
        let out = run_cmd(&config, &paths, &["unlock", "Ana"], "").unwrap();
        assert!(out.contains("unlocked"), "{out}");
        assert!(!locked());
        let out = run_cmd(&config, &paths, &["unlock", "--name", "Ana"], "").unwrap();
        assert!(out.contains("was not locked"), "{out}");

        run_cmd(
            &config,
            &paths,
            &["password", "--name", "ana"],
            "a brand new password",
        )
        .unwrap();
        let (_, hash) = managers::find(&store.conn(), "ana").unwrap().unwrap();
        assert!(password::verify("a brand new password", &hash));
        run_cmd(&config, &paths, &["remove", "--name", "ANA"], "").unwrap();
        assert!(run_cmd(&config, &paths, &["remove", "--name", "ana"], "").is_err());
    }

    fn now() -> i64 {
        i64::try_from(crate::clock::system_wall_clock()()).unwrap()
    }
}
