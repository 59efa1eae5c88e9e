//! Enrolment: an administrator makes a one-time code for a store and till; the till
//! presents it with its own public key and receives its ids, the trust list and its
//! offline policy. Codes are stored only as their SHA-256, expire, and work once.
//!
//! A code is handed out with the fingerprint of the root key appended
//! (`BCDF-GHJK-MNPR-TVX2-<fingerprint>`, [`EnrolCode`]): the installer checks central's
//! answer against it, so a man in the middle cannot give the till another root. Only the
//! one-time part is stored and checked here; a till that sends the whole printed code is
//! understood too.
//! Enrolling a till id again (a new code, a new key: the till lost its key) replaces its
//! key.

use ed25519_dalek::VerifyingKey;
use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tillpass_protocol::sync::{
    EnrolCode, EnrolRequest, EnrolResponse, RegionId, RootFingerprint, StoreId, TillId, VERSION,
};

use crate::error::{Error, Result};
use crate::keys::{self, KeyDir, random_bytes};
use crate::{envelopes, settings};

/// How long a code stays usable by default: 7 days.
pub const DEFAULT_CODE_TTL_SECS: i64 = 7 * 86_400;

/// The letters and digits of a code: no vowels (no words), nothing that looks like another
/// character (0/O, 1/I/L, 5/S…), and none that moves between QWERTY, QWERTZ and AZERTY.
const ALPHABET: &[u8] = b"BCDFGHJKMNPRTVX2346789";

/// What an administrator asks for.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewCode {
    /// The store the till belongs to.
    pub store: StoreId,
    /// The till's id; `{store}-T{n}` when absent.
    #[serde(default)]
    pub till: Option<TillId>,
    /// The store's region; `default` when absent.
    #[serde(default)]
    pub region: Option<RegionId>,
    /// How long the code stays usable, in seconds.
    #[serde(default)]
    pub ttl_secs: Option<i64>,
}

/// A code just made. The code itself is shown once and never stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IssuedCode {
    /// The code to hand out: the one-time code and the root key's fingerprint,
    /// `XXXX-XXXX-XXXX-XXXX-<32 hex digits>`.
    pub code: String,
    /// The fingerprint of the root key alone (what `--central-root` takes).
    pub root_fingerprint: String,
    /// The store.
    pub store: StoreId,
    /// The till.
    pub till: TillId,
    /// The region.
    pub region: RegionId,
    /// Until when it works: unix seconds.
    pub expires_at: i64,
}

/// A till as central knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Till {
    /// Its id.
    pub id: TillId,
    /// Its store.
    pub store: StoreId,
    /// Its region.
    pub region: RegionId,
    /// Its public key.
    pub key: VerifyingKey,
}

pub(crate) fn code_hash(code: &str) -> String {
    let one_time = EnrolCode::parse(code).code;
    let normalised: String = one_time
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .flat_map(char::to_uppercase)
        .collect();
    hex::encode(Sha256::digest(normalised.as_bytes()))
}

pub(crate) fn random_code() -> Result<String> {
    let mut chars = Vec::with_capacity(16);
    while chars.len() < 16 {
        for byte in random_bytes::<32>()? {
            // Rejection sampling: 220 = 10 × 22, so every character is equally likely.
            if byte < 220 && chars.len() < 16 {
                let index = usize::from(byte) % ALPHABET.len();
                chars.extend(ALPHABET.get(index).map(|b| char::from(*b)));
            }
        }
    }
    let groups: Vec<String> = chars.chunks(4).map(|g| g.iter().collect()).collect();
    Ok(groups.join("-"))
}

/// Makes a one-time enrolment code.
pub fn create_code(conn: &Connection, new: &NewCode, now: i64) -> Result<IssuedCode> {
    let (ttl, region) = code_terms(new)?;
    let till = match &new.till {
        Some(t) => t.clone(),
        None => {
            let count: i64 = conn.query_row(
                "SELECT (SELECT count(*) FROM tills WHERE store = ?1)
                      + (SELECT count(*) FROM enrolment_codes WHERE store = ?1 AND used_at IS NULL)",
                [new.store.as_str()],
                |row| row.get(0),
            )?;
            next_till(&new.store, count)?
        }
    };
    let root = RootFingerprint::of(&keys::root_public_key(conn)?);
    let code = random_code()?;
    let expires_at = now.saturating_add(ttl);
    conn.execute(
        "INSERT INTO enrolment_codes (code_sha256, store, till, region, created_at, expires_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![
            code_hash(&code),
            new.store.as_str(),
            till.as_str(),
            region.as_str(),
            now,
            expires_at
        ],
    )?;
    Ok(IssuedCode {
        code: EnrolCode::with_root(&code, root),
        root_fingerprint: root.to_string(),
        store: new.store.clone(),
        till,
        region,
        expires_at,
    })
}

/// A code's lifetime and region, checked and defaulted.
pub(crate) fn code_terms(new: &NewCode) -> Result<(i64, RegionId)> {
    let ttl = new.ttl_secs.unwrap_or(DEFAULT_CODE_TTL_SECS);
    if ttl <= 0 {
        return Err(Error::invalid("ttl_secs: must be above zero"));
    }
    let region = match &new.region {
        Some(r) => r.clone(),
        None => RegionId::new("default").map_err(Error::internal)?,
    };
    Ok((ttl, region))
}

/// The id of the next till of `store`, which has `count` tills and open codes.
pub(crate) fn next_till(store: &StoreId, count: i64) -> Result<TillId> {
    TillId::new(format!("{store}-T{}", count + 1)).map_err(Error::invalid)
}

/// The request checked and its till key, usable.
pub(crate) fn checked_key(request: &EnrolRequest) -> Result<VerifyingKey> {
    request.check().map_err(Error::invalid)?;
    VerifyingKey::from_bytes(&request.till_public_key)
        .ok()
        .filter(|k| !k.is_weak())
        .ok_or_else(|| Error::invalid("till_public_key: not a usable Ed25519 public key"))
}

/// Refuses a code that is used or expired at `now`.
pub(crate) fn check_code(expires_at: i64, used_at: Option<i64>, now: i64) -> Result<()> {
    if used_at.is_some() {
        return Err(Error::Conflict("enrolment code already used".into()));
    }
    if now > expires_at {
        return Err(Error::Unauthorized("enrolment code expired".into()));
    }
    Ok(())
}

/// Enrols a till: checks the code (known, unused, unexpired) and the key, records the
/// till, spends the code, and answers with everything the till needs.
pub fn enrol(
    conn: &mut Connection,
    dir: &KeyDir,
    request: &EnrolRequest,
    now: i64,
) -> Result<EnrolResponse> {
    let key = checked_key(request)?;
    let tx = conn.transaction()?;
    let row = tx
        .query_row(
            "SELECT store, till, region, expires_at, used_at FROM enrolment_codes
             WHERE code_sha256 = ?1",
            [code_hash(&request.code)],
            |row| {
                Ok((
                    row.get::<_, String>(0)?,
                    row.get::<_, String>(1)?,
                    row.get::<_, String>(2)?,
                    row.get::<_, i64>(3)?,
                    row.get::<_, Option<i64>>(4)?,
                ))
            },
        )
        .optional()?;
    let Some((store, till, region, expires_at, used_at)) = row else {
        return Err(Error::Unauthorized("unknown enrolment code".into()));
    };
    check_code(expires_at, used_at, now)?;
    tx.execute(
        "UPDATE enrolment_codes SET used_at = ?2 WHERE code_sha256 = ?1",
        params![code_hash(&request.code), now],
    )?;
    tx.execute(
        "INSERT INTO tills (id, store, region, public_key, agent_version, hostname, enrolled_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
         ON CONFLICT (id) DO UPDATE SET store = excluded.store, region = excluded.region,
             public_key = excluded.public_key, agent_version = excluded.agent_version,
             hostname = excluded.hostname, enrolled_at = excluded.enrolled_at,
             revoked_at = NULL",
        params![
            till,
            store,
            region,
            key.as_bytes().as_slice(),
            request.agent_version,
            request.hostname,
            now
        ],
    )?;
    let trust_list = envelopes::trust_list(&tx, dir, now)?;
    let response = EnrolResponse {
        v: VERSION,
        store: StoreId::new(store).map_err(Error::internal)?,
        till: TillId::new(till).map_err(Error::internal)?,
        region: RegionId::new(region).map_err(Error::internal)?,
        root_public_key: keys::root_public_key(&tx)?,
        trust_list: trust_list.envelope,
        offline_policy: settings::policy(&tx)?,
    };
    tx.commit()?;
    Ok(response)
}

/// An enrolled, unrevoked till.
pub fn till(conn: &Connection, id: &str) -> Result<Option<Till>> {
    let row = conn
        .query_row(
            "SELECT id, store, region, public_key FROM tills WHERE id = ?1 AND revoked_at IS NULL",
            [id],
            |row| {
                Ok((
                    row.get::<_, String>(0)?,
                    row.get::<_, String>(1)?,
                    row.get::<_, String>(2)?,
                    row.get::<_, Vec<u8>>(3)?,
                ))
            },
        )
        .optional()?;
    row.map(|(id, store, region, public)| till_of(id, store, region, public))
        .transpose()
}

/// A till from its row.
pub(crate) fn till_of(id: String, store: String, region: String, public: Vec<u8>) -> Result<Till> {
    let public: [u8; 32] = public
        .try_into()
        .map_err(|_| Error::internal("till key is not 32 bytes"))?;
    Ok(Till {
        id: TillId::new(id).map_err(Error::internal)?,
        store: StoreId::new(store).map_err(Error::internal)?,
        region: RegionId::new(region).map_err(Error::internal)?,
        key: VerifyingKey::from_bytes(&public).map_err(Error::internal)?,
    })
}

/// Revokes a till: its signed requests are refused from now on.
pub fn revoke_till(conn: &Connection, id: &str, now: i64) -> Result<()> {
    let changed = conn.execute(
        "UPDATE tills SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL",
        params![id, now],
    )?;
    if changed == 0 {
        return Err(Error::NotFound("till"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_look_right_and_normalise() {
        let code = random_code().unwrap();
        assert_eq!(code.len(), 19);
        assert!(code.split('-').all(|g| g.len() == 4));
        assert_eq!(
            code_hash(&code),
            code_hash(&code.to_lowercase().replace('-', " "))
        );
        assert_ne!(random_code().unwrap(), code);
        let printed = EnrolCode::with_root(&code, RootFingerprint::of(&[1; 32]));
        assert_eq!(code_hash(&printed), code_hash(&code));
    }

    #[test]
    fn issued_codes_carry_the_root_fingerprint() {
        let dir = tempfile::tempdir().unwrap();
        let db = crate::db::Db::open(&dir.path().join("c.db")).unwrap();
        let keys_dir = KeyDir::open(&dir.path().join("keys")).unwrap();
        db.with(|conn| {
            keys::init(conn, &keys_dir, 1_000)?;
            let issued = create_code(
                conn,
                &NewCode {
                    store: StoreId::new("S1").unwrap(),
                    till: None,
                    region: None,
                    ttl_secs: None,
                },
                1_000,
            )?;
            let parsed = EnrolCode::parse(&issued.code);
            let root = keys::root_public_key(conn)?;
            assert_eq!(parsed.root, Some(RootFingerprint::of(&root)));
            assert_eq!(
                issued.root_fingerprint,
                RootFingerprint::of(&root).to_string()
            );
            assert_eq!(parsed.code.len(), 19);
            Ok(())
        })
        .unwrap();
    }
}
