//! Store manager accounts for the dashboard: the accounts (Argon2id password hashes made by
//! `crate::dashboard::password`), their signed-in sessions, and the sign-in guesses with
//! the lockout they lead to.
//!
//! ## Lockout
//! A guess is reserved ([`reserve_attempt`]) in one `BEGIN IMMEDIATE` transaction that
//! counts the guesses already made and records this one, before the password is checked:
//! however many guesses arrive at once, at most the budget of them is ever checked. A
//! right password then re-checks the account in the transaction that opens the session
//! ([`sign_in`]). Budgets, over any [`LockoutPolicy::window_secs`]:
//!
//! - **per account, from strangers**: [`LockoutPolicy::per_account`] guesses for a name,
//!   shared by every address that has not signed in to that account before;
//! - **per account, from each known address**: an address the manager signed in from
//!   within [`LockoutPolicy::known_secs`] has a budget of the same size of its own, so a
//!   stranger's guesses do not lock the manager out where they usually sign in;
//! - **per address**: [`LockoutPolicy::per_address`] guesses from one address across all
//!   names, so one client cannot sweep names.
//!
//! Guesses are counted by login name whether or not an account has that name, so a
//! lockout tells nothing about which names exist; they are in SQLite, so a restart does not
//! lift a lockout. `tillpass manager unlock NAME` forgets a name's guesses.

use rusqlite::{Connection, OptionalExtension, params};
use tillpass_protocol::lang::Lang;

use super::{StoreError, sql};

/// A manager account, without its password hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manager {
    pub id: i64,
    /// The name, as given when the account was made.
    pub name: String,
    /// The dashboard's language for this manager.
    pub lang: Lang,
    /// When the account was made, unix seconds.
    pub created_at: i64,
    /// When the manager last signed in, unix seconds.
    pub last_login_at: Option<i64>,
}

/// How many sign-in guesses are allowed, from where, and over how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LockoutPolicy {
    /// Guesses for one name from addresses that have not signed in to it before (all of
    /// them together), and from each address that has (each on its own).
    pub per_account: i64,
    /// Guesses from one address, whatever the names.
    pub per_address: i64,
    /// The sliding window the budgets are counted over, seconds.
    pub window_secs: i64,
    /// How long after a sign-in an address stays known for that account, seconds.
    pub known_secs: i64,
}

impl LockoutPolicy {
    /// Five guesses per account per 15 minutes, twenty per address; an address stays known
    /// for 90 days after a sign-in.
    pub const DEFAULT: LockoutPolicy = LockoutPolicy {
        per_account: 5,
        per_address: 20,
        window_secs: 15 * 60,
        known_secs: 90 * 86_400,
    };
}

/// The name as it is looked up: trimmed and in lower case.
pub fn login_key(name: &str) -> String {
    name.trim().to_lowercase()
}

fn lang_of(code: &str) -> Lang {
    Lang::from_code(code).unwrap_or_default()
}

fn manager_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Manager> {
    Ok(Manager {
        id: r.get(0)?,
        name: r.get(1)?,
        lang: lang_of(&r.get::<_, String>(2)?),
        created_at: r.get(3)?,
        last_login_at: r.get(4)?,
    })
}

/// Adds an account; `None` when the name is taken.
pub fn add(
    conn: &Connection,
    name: &str,
    password_hash: &str,
    lang: Lang,
    now: i64,
) -> Result<Option<i64>, StoreError> {
    let changed = conn
        .execute(
            "INSERT INTO managers(name, login_key, password_hash, lang, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT(login_key) DO NOTHING",
            params![
                name.trim(),
                login_key(name),
                password_hash,
                lang.code(),
                now
            ],
        )
        .map_err(sql)?;
    Ok((changed == 1).then(|| conn.last_insert_rowid()))
}

/// The account with this login name, and its password hash.
pub fn find(conn: &Connection, name: &str) -> Result<Option<(Manager, String)>, StoreError> {
    conn.query_row(
        "SELECT manager_id, name, lang, created_at, last_login_at, password_hash
         FROM managers WHERE login_key = ?1",
        [login_key(name)],
        |r| Ok((manager_row(r)?, r.get(5)?)),
    )
    .optional()
    .map_err(sql)
}

/// Every account, by name.
pub fn list(conn: &Connection) -> Result<Vec<Manager>, StoreError> {
    let mut stmt = conn
        .prepare(
            "SELECT manager_id, name, lang, created_at, last_login_at
             FROM managers ORDER BY login_key",
        )
        .map_err(sql)?;
    let rows = stmt.query_map([], manager_row).map_err(sql)?;
    rows.collect::<Result<Vec<_>, _>>().map_err(sql)
}

/// Removes an account and its sessions; whether it existed.
pub fn remove(conn: &Connection, name: &str) -> Result<bool, StoreError> {
    let changed = conn
        .execute(
            "DELETE FROM managers WHERE login_key = ?1",
            [login_key(name)],
        )
        .map_err(sql)?;
    Ok(changed == 1)
}

/// Replaces an account's password hash and signs out its sessions; whether it existed.
pub fn set_password(
    conn: &Connection,
    name: &str,
    password_hash: &str,
) -> Result<bool, StoreError> {
    let key = login_key(name);
    let changed = conn
        .execute(
            "UPDATE managers SET password_hash = ?2 WHERE login_key = ?1",
            params![key, password_hash],
        )
        .map_err(sql)?;
    conn.execute(
        "DELETE FROM manager_sessions WHERE manager_id IN
           (SELECT manager_id FROM managers WHERE login_key = ?1)",
        [key],
    )
    .map_err(sql)?;
    Ok(changed == 1)
}

/// Sets a manager's language.
pub fn set_lang(conn: &Connection, manager_id: i64, lang: Lang) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE managers SET lang = ?2 WHERE manager_id = ?1",
        params![manager_id, lang.code()],
    )
    .map_err(sql)?;
    Ok(())
}

/// Whether a client key (see [`client_key`]) is a loopback address, which every process on
/// the till shares.
fn shared_address(key: &str) -> bool {
    key.starts_with("127.") || key == "0:0:0:0::/64"
}

/// The client address as guesses are counted: an IPv4 address (also when it comes mapped
/// into IPv6), or an IPv6 address's /64 network (one host usually holds a whole /64).
pub fn client_key(addr: std::net::IpAddr) -> String {
    match addr {
        std::net::IpAddr::V4(v4) => v4.to_string(),
        std::net::IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
    }
}

/// The answer to a reserved guess.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reservation {
    /// The guess is counted; check the password.
    Granted {
        /// The guess, to release it if it could not be checked.
        attempt_id: i64,
        /// The account with that name and its password hash, if there is one.
        account: Option<(Manager, String)>,
        /// Guesses left in the budget this guess was taken from, after it.
        left: i64,
    },
    /// No budget left: refused without looking at the password.
    Locked {
        /// When a guess will be allowed again, unix seconds.
        until: i64,
    },
}

fn is_known(conn: &Connection, key: &str, addr: &str, since: i64) -> Result<bool, StoreError> {
    conn.query_row(
        "SELECT EXISTS(SELECT 1 FROM manager_known_addrs k JOIN managers m USING (manager_id)
                       WHERE m.login_key = ?1 AND k.addr = ?2 AND k.last_login_at > ?3)",
        params![key, addr, since],
        |r| r.get(0),
    )
    .map_err(sql)
}

/// How many guesses of a budget are spent since `since`, and when the budget has one
/// again if it is spent (the `budget`-th newest guess leaves the window).
fn spent(
    conn: &Connection,
    filter: &str,
    args: &[&dyn rusqlite::ToSql],
    budget: i64,
    window: i64,
) -> Result<Option<i64>, StoreError> {
    let sql_text = format!(
        "SELECT at FROM manager_login_attempts WHERE {filter} ORDER BY at DESC LIMIT 1 OFFSET ?"
    );
    let mut all: Vec<&dyn rusqlite::ToSql> = args.to_vec();
    let offset = budget.saturating_sub(1).max(0);
    all.push(&offset);
    let at: Option<i64> = conn
        .query_row(&sql_text, all.as_slice(), |r| r.get(0))
        .optional()
        .map_err(sql)?;
    Ok(at.map(|at| at.saturating_add(window)))
}

/// What is left of the budgets of a guess for `key` from `addr` at `now`: `Err(until)`
/// when one is spent, else whether the address is known and the account budget left.
fn budgets(
    conn: &Connection,
    key: &str,
    addr: &str,
    now: i64,
    policy: LockoutPolicy,
) -> Result<Result<(bool, i64), i64>, StoreError> {
    let since = now.saturating_sub(policy.window_secs);
    let known = is_known(conn, key, addr, now.saturating_sub(policy.known_secs))?;
    let account = if known {
        spent(
            conn,
            "login_key = ?1 AND addr = ?2 AND known = 1 AND at > ?3",
            &[&key, &addr, &since],
            policy.per_account,
            policy.window_secs,
        )?
    } else {
        spent(
            conn,
            "login_key = ?1 AND known = 0 AND at > ?2",
            &[&key, &since],
            policy.per_account,
            policy.window_secs,
        )?
    };
    let address = spent(
        conn,
        "addr = ?1 AND at > ?2",
        &[&addr, &since],
        policy.per_address,
        policy.window_secs,
    )?;
    if let Some(until) = account.into_iter().chain(address).max() {
        return Ok(Err(until));
    }
    let used: i64 = if known {
        conn.query_row(
            "SELECT count(*) FROM manager_login_attempts
             WHERE login_key = ?1 AND addr = ?2 AND known = 1 AND at > ?3",
            params![key, addr, since],
            |r| r.get(0),
        )
    } else {
        conn.query_row(
            "SELECT count(*) FROM manager_login_attempts
             WHERE login_key = ?1 AND known = 0 AND at > ?2",
            params![key, since],
            |r| r.get(0),
        )
    }
    .map_err(sql)?;
    Ok(Ok((known, policy.per_account.saturating_sub(used))))
}

/// Until when a guess for `name` from `addr` would be refused, if it would be at `now`.
pub fn locked_until(
    conn: &Connection,
    name: &str,
    addr: &str,
    now: i64,
    policy: LockoutPolicy,
) -> Result<Option<i64>, StoreError> {
    Ok(budgets(conn, &login_key(name), addr, now, policy)?.err())
}

/// Reserves one guess for `name` from `addr`: checks the budgets and records the guess in
/// one immediate transaction, and reads the account. Guesses older than the window are
/// forgotten on the way.
pub fn reserve_attempt(
    conn: &Connection,
    name: &str,
    addr: &str,
    now: i64,
    policy: LockoutPolicy,
) -> Result<Reservation, StoreError> {
    let key = login_key(name);
    let tx = rusqlite::Transaction::new_unchecked(conn, rusqlite::TransactionBehavior::Immediate)
        .map_err(sql)?;
    tx.execute(
        "DELETE FROM manager_login_attempts WHERE at <= ?1",
        [now.saturating_sub(policy.window_secs)],
    )
    .map_err(sql)?;
    let (known, left) = match budgets(&tx, &key, addr, now, policy)? {
        Ok(b) => b,
        Err(until) => {
            tx.commit().map_err(sql)?;
            return Ok(Reservation::Locked { until });
        }
    };
    tx.execute(
        "INSERT INTO manager_login_attempts(login_key, addr, known, at) VALUES (?1, ?2, ?3, ?4)",
        params![key, addr, known, now],
    )
    .map_err(sql)?;
    let attempt_id = tx.last_insert_rowid();
    let account = find(&tx, name)?;
    tx.commit().map_err(sql)?;
    Ok(Reservation::Granted {
        attempt_id,
        account,
        left: left.saturating_sub(1),
    })
}

/// Gives back a reserved guess whose password could not be checked.
pub fn release_attempt(conn: &Connection, attempt_id: i64) -> Result<(), StoreError> {
    conn.execute(
        "DELETE FROM manager_login_attempts WHERE attempt_id = ?1",
        [attempt_id],
    )
    .map_err(sql)?;
    Ok(())
}

/// Forgets a name's guesses (`tillpass manager unlock`); whether there were any.
pub fn unlock(conn: &Connection, name: &str) -> Result<bool, StoreError> {
    let changed = conn
        .execute(
            "DELETE FROM manager_login_attempts WHERE login_key = ?1",
            [login_key(name)],
        )
        .map_err(sql)?;
    Ok(changed > 0)
}

/// A sign-in whose password was verified against `password_hash`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignIn<'a> {
    /// The name signed in with.
    pub name: &'a str,
    /// The password hash the password matched.
    pub password_hash: &'a str,
    /// The client's address ([`client_key`]).
    pub addr: &'a str,
    /// The session to open.
    pub session: NewSession<'a>,
}

/// Completes a verified sign-in in one immediate transaction: re-checks that the account
/// still has the hash that was verified (not removed, password not changed meanwhile),
/// forgets this address's guesses for the name, remembers the address as known, records
/// the sign-in and opens the session. `None` when the re-check fails.
pub fn sign_in(conn: &Connection, s: &SignIn<'_>) -> Result<Option<Manager>, StoreError> {
    let tx = rusqlite::Transaction::new_unchecked(conn, rusqlite::TransactionBehavior::Immediate)
        .map_err(sql)?;
    let Some((manager, hash)) = find(&tx, s.name)? else {
        return Ok(None);
    };
    if hash != s.password_hash || manager.id != s.session.manager_id {
        return Ok(None);
    }
    let now = s.session.now;
    // A loopback address is shared by every process on the till: forgetting its guesses
    // on the manager's success would hand a local guesser a fresh budget each time.
    if !shared_address(s.addr) {
        tx.execute(
            "DELETE FROM manager_login_attempts WHERE login_key = ?1 AND addr = ?2",
            params![login_key(s.name), s.addr],
        )
        .map_err(sql)?;
    }
    tx.execute(
        "INSERT INTO manager_known_addrs(manager_id, addr, last_login_at) VALUES (?1, ?2, ?3)
         ON CONFLICT(manager_id, addr) DO UPDATE SET last_login_at = excluded.last_login_at",
        params![manager.id, s.addr, now],
    )
    .map_err(sql)?;
    record_login(&tx, manager.id, now)?;
    create_session(&tx, &s.session)?;
    tx.commit().map_err(sql)?;
    Ok(Some(manager))
}

/// Records a successful sign-in.
pub fn record_login(conn: &Connection, manager_id: i64, now: i64) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE managers SET last_login_at = ?2 WHERE manager_id = ?1",
        params![manager_id, now],
    )
    .map_err(sql)?;
    Ok(())
}

/// A new signed-in session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NewSession<'a> {
    /// SHA-256 of the cookie's token.
    pub token_hash: &'a [u8],
    /// Whose session.
    pub manager_id: i64,
    /// The session's anti-forgery token.
    pub csrf: &'a str,
    /// Now, unix seconds.
    pub now: i64,
    /// When it ends whatever happens, unix seconds.
    pub expires_at: i64,
}

/// Stores a new session, and drops sessions that have ended.
pub fn create_session(conn: &Connection, s: &NewSession<'_>) -> Result<(), StoreError> {
    conn.execute(
        "DELETE FROM manager_sessions WHERE expires_at <= ?1",
        [s.now],
    )
    .map_err(sql)?;
    conn.execute(
        "INSERT INTO manager_sessions(token_hash, manager_id, csrf, created_at, seen_at, expires_at)
         VALUES (?1, ?2, ?3, ?4, ?4, ?5)",
        params![s.token_hash, s.manager_id, s.csrf, s.now, s.expires_at],
    )
    .map_err(sql)?;
    Ok(())
}

/// A session in force, with its manager.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// Who.
    pub manager: Manager,
    /// The anti-forgery token.
    pub csrf: String,
    /// When the session was last used, unix seconds.
    pub seen_at: i64,
    /// When it ends, unix seconds.
    pub expires_at: i64,
}

/// The session with this token hash, if it is in force at `now` and was used within
/// `idle_secs`.
pub fn session(
    conn: &Connection,
    token_hash: &[u8],
    now: i64,
    idle_secs: i64,
) -> Result<Option<Session>, StoreError> {
    conn.query_row(
        "SELECT m.manager_id, m.name, m.lang, m.created_at, m.last_login_at,
                s.csrf, s.seen_at, s.expires_at
         FROM manager_sessions s JOIN managers m ON m.manager_id = s.manager_id
         WHERE s.token_hash = ?1 AND s.expires_at > ?2 AND s.seen_at > ?3",
        params![token_hash, now, now.saturating_sub(idle_secs)],
        |r| {
            Ok(Session {
                manager: manager_row(r)?,
                csrf: r.get(5)?,
                seen_at: r.get(6)?,
                expires_at: r.get(7)?,
            })
        },
    )
    .optional()
    .map_err(sql)
}

/// Marks a session as used at `now`.
pub fn touch_session(conn: &Connection, token_hash: &[u8], now: i64) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE manager_sessions SET seen_at = ?2 WHERE token_hash = ?1",
        params![token_hash, now],
    )
    .map_err(sql)?;
    Ok(())
}

/// Ends a session.
pub fn delete_session(conn: &Connection, token_hash: &[u8]) -> Result<(), StoreError> {
    conn.execute(
        "DELETE FROM manager_sessions WHERE token_hash = ?1",
        [token_hash],
    )
    .map_err(sql)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        (dir, store)
    }

    #[test]
    fn names_are_unique_whatever_their_case() {
        let (_dir, store) = store();
        let conn = store.conn();
        assert!(add(&conn, "Ana", "h1", Lang::Es, 10).unwrap().is_some());
        assert!(add(&conn, " ana ", "h2", Lang::En, 11).unwrap().is_none());
        let (m, hash) = find(&conn, "ANA").unwrap().unwrap();
        assert_eq!(
            (m.name.as_str(), m.lang, hash.as_str()),
            ("Ana", Lang::Es, "h1")
        );
        set_lang(&conn, m.id, Lang::En).unwrap();
        assert_eq!(list(&conn).unwrap()[0].lang, Lang::En);
        assert!(remove(&conn, "ana").unwrap());
        assert!(find(&conn, "ana").unwrap().is_none());
    }

    fn granted(r: Reservation) -> i64 {
        match r {
            Reservation::Granted { attempt_id, .. } => attempt_id,
            Reservation::Locked { until } => panic!("locked until {until}"),
        }
    }

    #[test]
    fn five_guesses_lock_the_name_durably() {
        let dir = tempfile::tempdir().unwrap();
        let policy = LockoutPolicy::DEFAULT;
        {
            let store = Store::open(dir.path()).unwrap();
            let conn = store.conn();
            for i in 0..5 {
                granted(reserve_attempt(&conn, "ana", "10.0.0.9", 100 + i, policy).unwrap());
            }
            assert_eq!(
                reserve_attempt(&conn, "Ana", "10.0.0.9", 105, policy).unwrap(),
                Reservation::Locked {
                    until: 100 + policy.window_secs
                }
            );
        }
        // A restart does not lift it; other strangers share the same budget.
        let store = Store::open(dir.path()).unwrap();
        let conn = store.conn();
        assert_eq!(
            locked_until(&conn, "ana", "10.0.0.7", 200, policy).unwrap(),
            Some(100 + policy.window_secs)
        );
        // The window slides: the oldest guess leaving it frees one.
        assert_eq!(
            locked_until(&conn, "ana", "10.0.0.9", 100 + policy.window_secs, policy).unwrap(),
            None
        );
        // Another name is not affected; unlock forgets the name's guesses.
        assert_eq!(
            locked_until(&conn, "luis", "10.0.0.9", 200, policy).unwrap(),
            None
        );
        assert!(unlock(&conn, "ana").unwrap());
        assert_eq!(
            locked_until(&conn, "ana", "10.0.0.9", 200, policy).unwrap(),
            None
        );
    }

    #[test]
    fn a_known_address_keeps_a_budget_of_its_own() {
        let (_dir, store) = store();
        let conn = store.conn();
        let policy = LockoutPolicy::DEFAULT;
        let id = add(&conn, "ana", "h", Lang::Es, 0).unwrap().unwrap();
        let session = NewSession {
            token_hash: b"t",
            manager_id: id,
            csrf: "c",
            now: 50,
            expires_at: 5000,
        };
        let signed = sign_in(
            &conn,
            &SignIn {
                name: "ana",
                password_hash: "h",
                addr: "10.0.0.2",
                session,
            },
        )
        .unwrap();
        assert_eq!(signed.map(|m| m.id), Some(id));
        for i in 0..5 {
            granted(reserve_attempt(&conn, "ana", "10.0.0.66", 100 + i, policy).unwrap());
        }
        assert!(matches!(
            reserve_attempt(&conn, "ana", "10.0.0.67", 110, policy).unwrap(),
            Reservation::Locked { .. }
        ));
        // The manager's own address is not locked by the stranger.
        granted(reserve_attempt(&conn, "ana", "10.0.0.2", 111, policy).unwrap());
        // A password changed meanwhile fails the re-check.
        let stale = SignIn {
            name: "ana",
            password_hash: "old",
            addr: "10.0.0.2",
            session: NewSession {
                token_hash: b"u",
                ..session
            },
        };
        assert_eq!(sign_in(&conn, &stale).unwrap(), None);
    }

    #[test]
    fn one_address_cannot_sweep_names() {
        let (_dir, store) = store();
        let conn = store.conn();
        let policy = LockoutPolicy::DEFAULT;
        for i in 0..policy.per_address {
            granted(reserve_attempt(&conn, &format!("n{i}"), "10.0.0.5", 100, policy).unwrap());
        }
        assert!(matches!(
            reserve_attempt(&conn, "someone", "10.0.0.5", 101, policy).unwrap(),
            Reservation::Locked { .. }
        ));
        granted(reserve_attempt(&conn, "someone", "10.0.0.6", 101, policy).unwrap());
        // A released guess is given back.
        let id = granted(reserve_attempt(&conn, "x", "10.0.0.8", 101, policy).unwrap());
        release_attempt(&conn, id).unwrap();
        assert_eq!(
            conn.query_row(
                "SELECT count(*) FROM manager_login_attempts WHERE addr = '10.0.0.8'",
                [],
                |r| r.get::<_, i64>(0)
            )
            .unwrap(),
            0
        );
    }

    #[test]
    fn loopback_client_keys_are_shared() {
        use std::net::IpAddr;
        let v4: IpAddr = "127.0.0.2".parse().unwrap();
        let v6: IpAddr = "::1".parse().unwrap();
        let lan: IpAddr = "192.168.1.9".parse().unwrap();
        assert!(shared_address(&client_key(v4)));
        assert!(shared_address(&client_key(v6)));
        assert!(!shared_address(&client_key(lan)));
    }

    #[test]
    fn client_keys_fold_mapped_and_v6_networks() {
        use std::net::IpAddr;
        let v4: IpAddr = "192.168.1.9".parse().unwrap();
        let mapped: IpAddr = "::ffff:192.168.1.9".parse().unwrap();
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:bbbb::9".parse().unwrap();
        assert_eq!(client_key(v4), client_key(mapped));
        assert_eq!(client_key(a), client_key(b));
        assert_eq!(client_key(a), "2001:db8:1:2::/64");
    }

    #[test]
    fn sessions_end_when_idle_expired_or_removed() {
        let (_dir, store) = store();
        let conn = store.conn();
        let id = add(&conn, "ana", "h", Lang::Es, 0).unwrap().unwrap();
        let s = NewSession {
            token_hash: b"hash",
            manager_id: id,
            csrf: "c",
            now: 100,
            expires_at: 1000,
        };
        create_session(&conn, &s).unwrap();
        assert_eq!(session(&conn, b"hash", 150, 60).unwrap().unwrap().csrf, "c");
        assert!(session(&conn, b"hash", 161, 60).unwrap().is_none(), "idle");
        touch_session(&conn, b"hash", 161).unwrap();
        assert!(session(&conn, b"hash", 200, 60).unwrap().is_some());
        assert!(
            session(&conn, b"hash", 1000, 10_000).unwrap().is_none(),
            "expired"
        );
        assert!(session(&conn, b"other", 200, 60).unwrap().is_none());
        set_password(&conn, "ana", "h2").unwrap();
        assert!(
            session(&conn, b"hash", 200, 60).unwrap().is_none(),
            "signed out"
        );
    }
}
