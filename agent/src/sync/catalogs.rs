//! Promotion catalogs from central: verified, stored, activated.
//!
//! A catalog arrives as a signed envelope — pulled from `GET /v1/catalog` with
//! `If-None-Match`, or pushed by central IT to `POST /v1/admin/catalog` — and is taken
//! only if, in this order:
//! 1. the till has a trust list that is not expired (its envelope's maximum age) nor older
//!    than the offline policy's `max_trust_list_age_secs` (`trust_list_expired`);
//! 2. the envelope opens ([`envelope::open`]): shape, a **catalog** key of the trust list
//!    valid at its issue time (a token key is `key_wrong_purpose`), `verify_strict`,
//!    purpose `catalog`, sequence above every catalog the till ever stored (`rollback`),
//!    not issued in the future, not past its maximum age;
//! 3. its CBOR payload is a [`Catalog`] the engine accepts (`bad_payload`,
//!    `invalid_catalog`).
//!
//! A refused catalog changes nothing: the previous one stays in force, and the refusal is
//! logged with its code and kept in the sync status.
//!
//! An accepted catalog is stored (`catalogs` table) and, unless it names a later
//! activation time, activated at once: the store marks it active and retires the older
//! ones in one transaction, then the engine built from it replaces the previous one in
//! [`Catalogs`] in one swap — a POS session sees the old engine or the new one, never a mix.
//! A scheduled catalog is activated by the sync task when its time comes. At start-up the
//! stored active catalog is verified again (as of its issue time) and put in force.

use tillpass_engine::Engine;
use tillpass_protocol::catalog::Catalog;
use tillpass_protocol::envelope::{self, EnvelopeError, EnvelopePurpose};
use tillpass_protocol::sync::{OfflinePolicy, paths};

use super::{CentralClient, SyncError};
use crate::catalog::{Active, Catalogs};
use crate::store::sync_catalogs::{self, CatalogState, StoredCatalog};
use crate::store::{Store, StoreError, sql, sync_state, tokens};

/// The `sync_state` key of the catalog's ETag.
pub const ETAG_KEY: &str = "etag.catalog";

/// Why a catalog was refused. The previous catalog stays in force.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CatalogRefusal {
    /// The till has no trust list.
    #[error("the till has no trust list: it is not enrolled")]
    NotEnrolled,
    /// The trust list is too old to vouch for anything new.
    #[error("the trust list is expired: {0}")]
    TrustListExpired(String),
    /// The envelope was refused.
    #[error(transparent)]
    Envelope(#[from] EnvelopeError),
    /// The payload is not a catalog.
    #[error("the payload is not a catalog: {0}")]
    BadPayload(String),
    /// The catalog breaks the catalog's rules.
    #[error("the catalog is invalid: {0}")]
    Invalid(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl CatalogRefusal {
    /// A stable code: `not_enrolled`, `trust_list_expired`, the envelope's codes
    /// (`bad_signature`, `key_wrong_purpose`, `rollback`, `too_old`, …), `bad_payload`,
    /// `invalid_catalog`, `store_unavailable`.
    pub fn code(&self) -> &'static str {
        match self {
            CatalogRefusal::NotEnrolled => "not_enrolled",
            CatalogRefusal::TrustListExpired(_) => "trust_list_expired",
            CatalogRefusal::Envelope(e) => e.code(),
            CatalogRefusal::BadPayload(_) => "bad_payload",
            CatalogRefusal::Invalid(_) => "invalid_catalog",
            CatalogRefusal::Store(_) => "store_unavailable",
        }
    }

    /// Whether the same bytes would be refused again whatever happens (so a pull need not
    /// fetch them again). A stale trust list or a store failure may pass.
    pub fn is_permanent(&self) -> bool {
        !matches!(
            self,
            CatalogRefusal::NotEnrolled
                | CatalogRefusal::TrustListExpired(_)
                | CatalogRefusal::Store(_)
                | CatalogRefusal::Envelope(EnvelopeError::IssuedInFuture { .. })
        )
    }
}

/// A catalog taken.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Installed {
    pub sequence: u64,
    /// When central issued it, unix seconds.
    pub issued_at: u64,
    /// How many promotions it holds.
    pub promotions: usize,
    /// `active` or `scheduled`.
    pub state: &'static str,
    /// When it activates, if later.
    pub activates_at: Option<u64>,
}

/// Checks that the trust list may vouch for new data at `now`.
pub fn check_trust_fresh(
    trust: &tokens::StoredTrust,
    now: u64,
    policy: Option<&OfflinePolicy>,
) -> Result<(), CatalogRefusal> {
    if now > trust.expires_at {
        return Err(CatalogRefusal::TrustListExpired(format!(
            "trust list {} expired at {}",
            trust.sequence, trust.expires_at
        )));
    }
    if let Some(policy) = policy {
        let age = now.saturating_sub(trust.issued_at);
        if age > policy.max_trust_list_age_secs {
            return Err(CatalogRefusal::TrustListExpired(format!(
                "trust list {} is {age} s old, the offline policy allows {} s",
                trust.sequence, policy.max_trust_list_age_secs
            )));
        }
    }
    Ok(())
}

/// Decodes a catalog payload (CBOR), refusing trailing bytes.
pub fn decode(payload: &[u8]) -> Result<Catalog, CatalogRefusal> {
    let mut rest = payload;
    let catalog: Catalog =
        ciborium::from_reader(&mut rest).map_err(|e| CatalogRefusal::BadPayload(e.to_string()))?;
    if !rest.is_empty() {
        return Err(CatalogRefusal::BadPayload(
            "trailing bytes after the catalog".into(),
        ));
    }
    Ok(catalog)
}

fn engine(catalog: Catalog) -> Result<(Engine, usize), CatalogRefusal> {
    let promotions = catalog.promotions.len();
    let engine = Engine::new(catalog).map_err(|e| CatalogRefusal::Invalid(e.to_string()))?;
    Ok((engine, promotions))
}

/// Verifies `bytes` and stores the catalog; activates it at once unless `activates_at`
/// is later than `now`. Blocking (SQLite, signature, engine build).
pub fn install(
    store: &Store,
    catalogs: &Catalogs,
    now: u64,
    policy: Option<&OfflinePolicy>,
    bytes: &[u8],
    activates_at: Option<u64>,
) -> Result<Installed, CatalogRefusal> {
    let (trust, last) = {
        let conn = store.conn();
        let trust = tokens::load_trust(&conn)
            .map_err(|e| match e {
                tokens::TrustLoadError::Store(e) => CatalogRefusal::Store(e),
                other => CatalogRefusal::TrustListExpired(other.to_string()),
            })?
            .ok_or(CatalogRefusal::NotEnrolled)?;
        (trust, sync_catalogs::last_sequence(&conn)?)
    };
    check_trust_fresh(&trust, now, policy)?;
    let opened = envelope::open(bytes, EnvelopePurpose::Catalog, &trust.store, now, last)?;
    let (engine, promotions) = engine(decode(&opened.payload)?)?;
    let header = opened.header;
    let scheduled = activates_at.filter(|at| *at > now);
    let record = StoredCatalog {
        sequence: header.sequence,
        envelope: bytes.to_vec(),
        issued_at: header.issued_at,
        activates_at: scheduled,
        received_at: now,
        state: if scheduled.is_some() {
            CatalogState::Scheduled
        } else {
            CatalogState::Active
        },
    };
    {
        let mut conn = store.conn();
        let tx = conn.transaction().map_err(sql)?;
        // Checked again inside the transaction: two catalogs verified at once.
        let last = sync_catalogs::last_sequence(&tx)?;
        if header.sequence <= last {
            return Err(EnvelopeError::Rollback {
                sequence: header.sequence,
                last,
            }
            .into());
        }
        sync_catalogs::insert(&tx, &record)?;
        if scheduled.is_none() {
            sync_catalogs::activate(&tx, header.sequence)?;
        }
        tx.commit().map_err(sql)?;
    }
    if scheduled.is_none() {
        catalogs.set(Active {
            sequence: header.sequence,
            issued_at: header.issued_at,
            engine: std::sync::Arc::new(engine),
        });
        tracing::info!(
            sequence = header.sequence,
            promotions,
            issued_at = header.issued_at,
            "catalog activated"
        );
    } else {
        tracing::info!(
            sequence = header.sequence,
            promotions,
            activates_at = ?scheduled,
            "catalog scheduled"
        );
    }
    Ok(Installed {
        sequence: header.sequence,
        issued_at: header.issued_at,
        promotions,
        state: if scheduled.is_some() {
            "scheduled"
        } else {
            "active"
        },
        activates_at: scheduled,
    })
}

/// Builds the engine of a stored catalog, verifying its envelope again with the trust
/// list in force as of its issue time.
fn rebuild(store: &Store, stored: &StoredCatalog) -> Result<(Active, usize), CatalogRefusal> {
    let trust = tokens::load_trust(&store.conn())
        .map_err(|e| CatalogRefusal::TrustListExpired(e.to_string()))?
        .ok_or(CatalogRefusal::NotEnrolled)?;
    let opened = envelope::open(
        &stored.envelope,
        EnvelopePurpose::Catalog,
        &trust.store,
        stored.issued_at,
        stored.sequence.saturating_sub(1),
    )?;
    let (engine, promotions) = engine(decode(&opened.payload)?)?;
    Ok((
        Active {
            sequence: opened.header.sequence,
            issued_at: opened.header.issued_at,
            engine: std::sync::Arc::new(engine),
        },
        promotions,
    ))
}

/// At start-up: puts the stored active catalog in force (and any scheduled one whose
/// time has come). Returns the sequence in force.
pub fn load_at_start(
    store: &Store,
    catalogs: &Catalogs,
    now: u64,
) -> Result<Option<u64>, StoreError> {
    let stored = sync_catalogs::active(&store.conn())?;
    if let Some(stored) = stored {
        match rebuild(store, &stored) {
            Ok((active, promotions)) => {
                tracing::info!(
                    sequence = active.sequence,
                    promotions,
                    "stored catalog in force"
                );
                catalogs.set(active);
            }
            Err(e) => tracing::error!(
                sequence = stored.sequence,
                reason = e.code(),
                error = %e,
                "the stored catalog cannot be used; waiting for central's"
            ),
        }
    }
    activate_due(store, catalogs, now)?;
    Ok(catalogs.active().map(|a| a.sequence))
}

/// Activates the newest scheduled catalog whose time has come, if any. A scheduled catalog
/// that can no longer be built is retired with the reason logged.
pub fn activate_due(
    store: &Store,
    catalogs: &Catalogs,
    now: u64,
) -> Result<Option<u64>, StoreError> {
    let Some(due) = sync_catalogs::due(&store.conn(), now)? else {
        return Ok(None);
    };
    match rebuild(store, &due) {
        Ok((active, promotions)) => {
            {
                let mut conn = store.conn();
                let tx = conn.transaction().map_err(sql)?;
                sync_catalogs::activate(&tx, due.sequence)?;
                tx.commit().map_err(sql)?;
            }
            tracing::info!(
                sequence = due.sequence,
                promotions,
                "scheduled catalog activated"
            );
            catalogs.set(active);
            Ok(Some(due.sequence))
        }
        Err(e) => {
            tracing::warn!(
                sequence = due.sequence,
                reason = e.code(),
                error = %e,
                "scheduled catalog refused at its activation; the previous one stays"
            );
            store
                .conn()
                .execute(
                    "UPDATE catalogs SET state = 'retired' WHERE sequence = ?1",
                    [i64::try_from(due.sequence).unwrap_or(i64::MAX)],
                )
                .map_err(sql)?;
            Ok(None)
        }
    }
}

/// When the next scheduled catalog activates.
pub fn next_activation(store: &Store) -> Result<Option<u64>, StoreError> {
    sync_catalogs::next_activation(&store.conn())
}

/// The outcome of a catalog pull.
#[derive(Debug)]
pub enum Pulled {
    /// Central's catalog is the one the till already has (`304`).
    Unchanged,
    /// Central has no active catalog.
    NoCatalog,
    /// A newer catalog was taken.
    Installed(Installed),
    /// Central's catalog was refused; the previous one stays.
    Refused(CatalogRefusal),
}

/// Pulls central's newest catalog with `If-None-Match`, and installs it.
pub async fn pull(
    client: &CentralClient,
    store: &std::sync::Arc<Store>,
    catalogs: &std::sync::Arc<Catalogs>,
    policy: Option<&OfflinePolicy>,
) -> Result<Pulled, SyncError> {
    let s = store.clone();
    let etag = super::blocking(move || Ok(sync_state::get(&s.conn(), ETAG_KEY)?)).await?;
    let answer = client.get(paths::CATALOG, etag.as_deref()).await?;
    match answer.status {
        304 => return Ok(Pulled::Unchanged),
        404 => return Ok(Pulled::NoCatalog),
        _ if !answer.is_success() => return Err(answer.error()),
        _ => {}
    }
    take(client, store, catalogs, policy, answer.body, answer.etag).await
}

/// The catalog's ETag the till holds.
pub async fn etag(store: &std::sync::Arc<Store>) -> Result<Option<String>, SyncError> {
    let s = store.clone();
    super::blocking(move || Ok(sync_state::get(&s.conn(), ETAG_KEY)?)).await
}

/// Installs a catalog envelope central sent (with its ETag), as a pulled one is: the ETag
/// is remembered when it installed or was refused for good.
pub async fn take(
    client: &CentralClient,
    store: &std::sync::Arc<Store>,
    catalogs: &std::sync::Arc<Catalogs>,
    policy: Option<&OfflinePolicy>,
    bytes: Vec<u8>,
    tag: Option<String>,
) -> Result<Pulled, SyncError> {
    let (s, c, p) = (store.clone(), catalogs.clone(), policy.cloned());
    let now = client.clock().now();
    super::blocking(move || {
        let outcome = install(&s, &c, now, p.as_ref(), &bytes, None);
        let remember = match &outcome {
            Ok(_) => true,
            Err(e) => e.is_permanent(),
        };
        if remember && let Some(tag) = &tag {
            sync_state::set(&s.conn(), ETAG_KEY, tag)?;
        }
        Ok(match outcome {
            Ok(installed) => Pulled::Installed(installed),
            Err(refusal) => Pulled::Refused(refusal),
        })
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::SigningKey;
    use tillpass_protocol::envelope::EnvelopeHeader;
    use tillpass_protocol::trust::{KeyPurpose, TrustStore, TrustedKey};

    const NOW: u64 = 1_750_000_000;

    struct Keys {
        root: SigningKey,
        catalog: SigningKey,
        token: SigningKey,
    }

    fn keys() -> Keys {
        Keys {
            root: SigningKey::from_bytes(&[1; 32]),
            catalog: SigningKey::from_bytes(&[3; 32]),
            token: SigningKey::from_bytes(&[2; 32]),
        }
    }

    fn enrolled(k: &Keys, trust_issued_at: u64) -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let list = TrustStore::new(
            1,
            [
                TrustedKey::new(
                    KeyPurpose::Catalog,
                    &k.catalog.verifying_key().to_bytes(),
                    0,
                    u64::MAX,
                )
                .unwrap(),
                TrustedKey::new(
                    KeyPurpose::Token,
                    &k.token.verifying_key().to_bytes(),
                    0,
                    u64::MAX,
                )
                .unwrap(),
            ],
        )
        .unwrap()
        .seal(&k.root, trust_issued_at, 30 * 86_400)
        .unwrap();
        tokens::accept_trust_list(
            &store.conn(),
            k.root.verifying_key().to_bytes(),
            &list,
            trust_issued_at,
        )
        .unwrap();
        (dir, store)
    }

    fn catalog_bytes(promotions: usize) -> Vec<u8> {
        let mut text = String::from("format = 1\ncurrency = \"EUR\"\n");
        for i in 0..promotions {
            text.push_str(&format!(
                "[[promotions]]\nid = \"P{i}\"\nlabel = {{ es = \"p\", en = \"p\" }}\n\
                 valid_from = 0\nvalid_until = 4000000000\n\
                 rules = [{{ type = \"percent_off\", percent = 1000, items = {{ skus = [\"S{i}\"] }} }}]\n"
            ));
        }
        let catalog = Catalog::from_toml(&text).unwrap();
        let mut out = Vec::new();
        ciborium::into_writer(&catalog, &mut out).unwrap();
        out
    }

    fn sealed(key: &SigningKey, sequence: u64, issued_at: u64, payload: &[u8]) -> Vec<u8> {
        envelope::sign(
            &EnvelopeHeader {
                purpose: EnvelopePurpose::Catalog,
                sequence,
                issued_at,
                max_age_secs: 7 * 86_400,
            },
            payload,
            key,
        )
        .unwrap()
    }

    #[test]
    fn a_good_catalog_activates_and_bad_ones_keep_it() {
        let k = keys();
        let (_dir, store) = enrolled(&k, NOW - 60);
        let catalogs = Catalogs::new();
        let good = sealed(&k.catalog, 5, NOW - 10, &catalog_bytes(3));
        let installed = install(&store, &catalogs, NOW, None, &good, None).unwrap();
        assert_eq!((installed.sequence, installed.promotions), (5, 3));
        assert_eq!(catalogs.active().unwrap().sequence, 5);

        let mut tampered = sealed(&k.catalog, 6, NOW - 10, &catalog_bytes(2));
        let at = tampered.len() - 80;
        tampered[at] ^= 1;
        let refusals = [
            (tampered, "bad_signature"),
            (
                sealed(&k.token, 6, NOW - 10, &catalog_bytes(2)),
                "key_wrong_purpose",
            ),
            (
                sealed(&k.catalog, 4, NOW - 10, &catalog_bytes(2)),
                "rollback",
            ),
            (
                sealed(&k.catalog, 5, NOW - 10, &catalog_bytes(2)),
                "rollback",
            ),
            (sealed(&k.catalog, 6, NOW - 10, b"\x01"), "bad_payload"),
        ];
        for (bytes, code) in refusals {
            let e = install(&store, &catalogs, NOW, None, &bytes, None).unwrap_err();
            assert_eq!(e.code(), code, "{e}");
            assert_eq!(catalogs.active().unwrap().sequence, 5);
        }
        // Restart: the stored catalog comes back.
        let again = Catalogs::new();
        assert_eq!(load_at_start(&store, &again, NOW + 10).unwrap(), Some(5));
        assert_eq!(again.engine().unwrap().catalog().promotions.len(), 3);
    }

    #[test]
    fn an_old_trust_list_vouches_for_nothing_new() {
        let k = keys();
        let (_dir, store) = enrolled(&k, NOW - 3_600);
        let catalogs = Catalogs::new();
        let policy = OfflinePolicy {
            max_trust_list_age_secs: 600,
            ..tillpass_protocol_policy()
        };
        let good = sealed(&k.catalog, 1, NOW - 10, &catalog_bytes(1));
        let e = install(&store, &catalogs, NOW, Some(&policy), &good, None).unwrap_err();
        assert_eq!(e.code(), "trust_list_expired");
        assert!(!e.is_permanent());
        assert!(catalogs.active().is_none());
        // Past the envelope's own maximum age, whatever the policy.
        let e = install(&store, &catalogs, NOW + 31 * 86_400, None, &good, None).unwrap_err();
        assert_eq!(e.code(), "trust_list_expired");
    }

    #[test]
    fn a_scheduled_catalog_waits_for_its_time() {
        let k = keys();
        let (_dir, store) = enrolled(&k, NOW - 60);
        let catalogs = Catalogs::new();
        install(
            &store,
            &catalogs,
            NOW,
            None,
            &sealed(&k.catalog, 1, NOW - 10, &catalog_bytes(1)),
            None,
        )
        .unwrap();
        let later = install(
            &store,
            &catalogs,
            NOW,
            None,
            &sealed(&k.catalog, 2, NOW - 5, &catalog_bytes(2)),
            Some(NOW + 100),
        )
        .unwrap();
        assert_eq!(later.state, "scheduled");
        assert_eq!(catalogs.active().unwrap().sequence, 1);
        assert_eq!(next_activation(&store).unwrap(), Some(NOW + 100));
        assert_eq!(activate_due(&store, &catalogs, NOW + 99).unwrap(), None);
        assert_eq!(activate_due(&store, &catalogs, NOW + 100).unwrap(), Some(2));
        assert_eq!(catalogs.active().unwrap().sequence, 2);
        assert_eq!(next_activation(&store).unwrap(), None);
    }

    fn tillpass_protocol_policy() -> OfflinePolicy {
        use tillpass_protocol::money::{Currency, Money};
        OfflinePolicy {
            max_savings_spend_per_customer: Money::new(2000, Currency::EUR),
            max_gift_card_spend_per_card: Money::new(5000, Currency::EUR),
            max_catalog_age_secs: 7 * 86_400,
            max_trust_list_age_secs: 30 * 86_400,
            retention_days: 90,
            replay: tillpass_protocol::sync::ReplayPolicy {
                max_uses_per_pass: 3,
            },
        }
    }
}
