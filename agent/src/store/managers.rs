//! Store manager accounts for the dashboard: the accounts (Argon2id password hashes made by
//! `crate::dashboard::password`), their signed-in sessions, and failed sign-ins with the
//! lockout they lead to.
//!
//! Failures are counted by login name whether or not an account has that name, so a
//! lockout tells nothing about which names exist; they are in SQLite, so a restart does not
//! lift a lockout.

use rusqlite::{Connection, OptionalExtension, params};
use tillpass_protocol::lang::Lang;

use super::{StoreError, sql};

/// A manager account, without its password hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manager {
    /// The account's id.
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

/// How many failed sign-ins lock a name, and for how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LockoutPolicy {
    /// Failures that lock the name.
    pub max_failures: i64,
    /// Failures further apart than this start the count again, seconds.
    pub window_secs: i64,
    /// How long a lock lasts, seconds.
    pub lock_secs: i64,
}

impl LockoutPolicy {
    /// Five failures within 15 minutes lock the name for 15 minutes.
    pub const DEFAULT: LockoutPolicy = LockoutPolicy {
        max_failures: 5,
        window_secs: 15 * 60,
        lock_secs: 15 * 60,
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

/// Until when the name is locked, if it is locked at `now`.
pub fn locked_until(conn: &Connection, name: &str, now: i64) -> Result<Option<i64>, StoreError> {
    let until: Option<Option<i64>> = conn
        .query_row(
            "SELECT locked_until FROM manager_login_failures WHERE login_key = ?1",
            [login_key(name)],
            |r| r.get(0),
        )
        .optional()
        .map_err(sql)?;
    Ok(until.flatten().filter(|&u| u > now))
}

/// Counts a failed sign-in; returns until when the name is now locked, if it is.
pub fn record_failure(
    conn: &Connection,
    name: &str,
    now: i64,
    policy: LockoutPolicy,
) -> Result<Option<i64>, StoreError> {
    let key = login_key(name);
    let previous: Option<(i64, i64)> = conn
        .query_row(
            "SELECT failures, last_failure_at FROM manager_login_failures WHERE login_key = ?1",
            [&key],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()
        .map_err(sql)?;
    let failures = match previous {
        Some((n, last)) if now.saturating_sub(last) <= policy.window_secs => n.saturating_add(1),
        _ => 1,
    };
    let locked = (failures >= policy.max_failures).then(|| now.saturating_add(policy.lock_secs));
    // A lock starts the count again: after it, the next failures are counted afresh.
    let stored_failures = if locked.is_some() { 0 } else { failures };
    conn.execute(
        "INSERT INTO manager_login_failures(login_key, failures, last_failure_at, locked_until)
         VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT(login_key) DO UPDATE SET failures = excluded.failures,
           last_failure_at = excluded.last_failure_at,
           locked_until = coalesce(excluded.locked_until, locked_until)",
        params![key, stored_failures, now, locked],
    )
    .map_err(sql)?;
    Ok(locked)
}

/// Forgets a name's failures and lifts its lock (a successful sign-in, or
/// `tillpass manager unlock`); whether there was anything to forget.
pub fn clear_failures(conn: &Connection, name: &str) -> Result<bool, StoreError> {
    let changed = conn
        .execute(
            "DELETE FROM manager_login_failures WHERE login_key = ?1",
            [login_key(name)],
        )
        .map_err(sql)?;
    Ok(changed == 1)
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
#[derive(Debug, Clone, PartialEq, Eq)]
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

    #[test]
    fn five_failures_lock_the_name_durably() {
        let dir = tempfile::tempdir().unwrap();
        let policy = LockoutPolicy::DEFAULT;
        {
            let store = Store::open(dir.path()).unwrap();
            let conn = store.conn();
            for i in 0..4 {
                assert_eq!(record_failure(&conn, "ana", 100 + i, policy).unwrap(), None);
            }
            assert_eq!(locked_until(&conn, "ana", 104).unwrap(), None);
            assert_eq!(
                record_failure(&conn, "Ana", 104, policy).unwrap(),
                Some(104 + policy.lock_secs)
            );
        }
        // A restart does not lift it.
        let store = Store::open(dir.path()).unwrap();
        let conn = store.conn();
        assert_eq!(
            locked_until(&conn, "ana", 200).unwrap(),
            Some(104 + policy.lock_secs)
        );
        assert_eq!(
            locked_until(&conn, "ana", 104 + policy.lock_secs).unwrap(),
            None
        );
        // Another name is not affected.
        assert_eq!(locked_until(&conn, "luis", 200).unwrap(), None);
        assert!(clear_failures(&conn, "ana").unwrap());
        assert_eq!(locked_until(&conn, "ana", 200).unwrap(), None);
    }

    #[test]
    fn failures_far_apart_start_the_count_again() {
        let (_dir, store) = store();
        let conn = store.conn();
        let policy = LockoutPolicy::DEFAULT;
        for i in 0..4 {
            record_failure(&conn, "ana", i * (policy.window_secs + 1), policy).unwrap();
        }
        assert_eq!(
            locked_until(&conn, "ana", 10 * policy.window_secs).unwrap(),
            None
        );
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
