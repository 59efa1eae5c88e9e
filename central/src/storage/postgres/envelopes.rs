//! Signed envelopes on PostgreSQL, as [`crate::envelopes`] and [`crate::catalogs`] keep
//! them on SQLite: sealed once, stored, and served from the table by every node, so two
//! nodes answer with the same bytes and the same ETag.
//!
//! An envelope is (re-)sealed under a transaction-scoped advisory lock on its purpose,
//! after reading the newest one again: nodes that find it stale together seal it once,
//! and the others serve the one sealed.

use std::collections::HashSet;

use deadpool_postgres::GenericClient;
use sha2::{Digest, Sha256};
use tillpass_protocol::envelope::{EnvelopeHeader, EnvelopePurpose};
use tokio_postgres::Row;

use super::{Pg, cached, keys, settings};
use crate::catalogs::{self, CATALOG, Publication};
use crate::clock::to_u64;
use crate::envelopes::{self, ListedKey, Published, TRUST_LIST};
use crate::error::{Error, Result};
use crate::keys::{KeyDir, Purpose};

/// The first key of the advisory locks on envelope purposes ("tillenvs").
const ENVELOPE_LOCK: i32 = 0x656e_7673;

fn published(row: &Row) -> Result<Published> {
    Ok(Published {
        sequence: u64::try_from(row.get::<_, i64>(0)).map_err(Error::internal)?,
        issued_at: row.get(1),
        max_age_secs: row.get(2),
        envelope: row.get(3),
        etag: row.get(4),
        source: row.get(5),
    })
}

/// The newest stored envelope of `purpose`.
pub async fn latest(c: &impl GenericClient, purpose: &str) -> Result<Option<Published>> {
    cached::query_opt(
        c,
        "SELECT sequence, issued_at, max_age, envelope, etag, source FROM envelopes
         WHERE purpose = $1 ORDER BY sequence DESC LIMIT 1",
        &[&purpose],
    )
    .await?
    .as_ref()
    .map(published)
    .transpose()
}

/// Stores an envelope just sealed.
async fn store(
    c: &impl GenericClient,
    purpose: &str,
    sequence: u64,
    issued_at: i64,
    max_age_secs: i64,
    envelope: Vec<u8>,
    source: Option<i64>,
) -> Result<Published> {
    let etag = envelopes::etag_of(&envelope);
    let seq = i64::try_from(sequence).map_err(Error::internal)?;
    c.execute(
        "INSERT INTO envelopes (purpose, sequence, issued_at, max_age, envelope, etag, source)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
        &[
            &purpose,
            &seq,
            &issued_at,
            &max_age_secs,
            &envelope,
            &etag,
            &source,
        ],
    )
    .await?;
    Ok(Published {
        sequence,
        issued_at,
        max_age_secs,
        envelope,
        etag,
        source,
    })
}

async fn lock(c: &impl GenericClient, purpose: &str) -> Result<()> {
    c.execute(
        "SELECT pg_advisory_xact_lock($1, hashtext($2))",
        &[&ENVELOPE_LOCK, &purpose],
    )
    .await?;
    Ok(())
}

/// Seals and stores a new trust list (as [`envelopes::publish_trust_list`]), inside the
/// caller's transaction.
async fn seal_trust_list(c: &impl GenericClient, dir: &KeyDir, now: i64) -> Result<Published> {
    let max_age = settings::policy(c).await?.max_trust_list_age_secs;
    let listed = c
        .query(
            "SELECT purpose, public_key, created_at, not_after FROM keys
             WHERE purpose != 'root' AND revoked_at IS NULL
                 AND (not_after IS NULL OR not_after > $1)
             ORDER BY created_at, kid",
            &[&now],
        )
        .await?
        .iter()
        .map(|row| ListedKey {
            purpose: row.get(0),
            public_key: row.get(1),
            created_at: row.get(2),
            not_after: row.get(3),
        })
        .collect();
    let sequence = settings::next_sequence(c, TRUST_LIST).await?;
    let root = keys::active(c, dir, Purpose::Root).await?;
    let envelope = envelopes::seal_trust_list(listed, sequence, &root, now, max_age)?;
    let max_age = i64::try_from(max_age).unwrap_or(i64::MAX);
    store(c, TRUST_LIST, sequence, now, max_age, envelope, None).await
}

/// Seals and stores a new trust list now (after a key changed).
pub async fn publish_trust_list(pg: &Pg, dir: &KeyDir, now: i64) -> Result<Published> {
    let mut client = pg.client().await?;
    let tx = client.transaction().await?;
    lock(&tx, TRUST_LIST).await?;
    let published = seal_trust_list(&tx, dir, now).await?;
    tx.commit().await?;
    Ok(published)
}

/// The current trust list, sealed again first — once, whichever nodes ask — if none
/// exists or half its age has passed.
pub async fn trust_list(pg: &Pg, dir: &KeyDir, now: i64) -> Result<Published> {
    let mut client = pg.client().await?;
    if let Some(published) = latest(&client, TRUST_LIST).await?
        && !published.is_stale(now)
    {
        return Ok(published);
    }
    let tx = client.transaction().await?;
    lock(&tx, TRUST_LIST).await?;
    let published = match latest(&tx, TRUST_LIST).await? {
        Some(published) if !published.is_stale(now) => published,
        _ => seal_trust_list(&tx, dir, now).await?,
    };
    tx.commit().await?;
    Ok(published)
}

/// The newest activated catalog: its number and CBOR body.
async fn newest_catalog(c: &impl GenericClient, now: i64) -> Result<Option<(i64, Vec<u8>)>> {
    Ok(cached::query_opt(
        c,
        "SELECT id, body_cbor FROM catalogs WHERE activates_at <= $1
             ORDER BY activates_at DESC, id DESC LIMIT 1",
        &[&now],
    )
    .await?
    .map(|r| (r.get(0), r.get(1))))
}

/// Whether `published` is the fresh envelope of catalog `number`.
fn serves(published: Option<&Published>, number: i64, now: i64) -> bool {
    published.is_some_and(|p| p.source == Some(number) && !p.is_stale(now))
}

/// Seals catalog `number` under the next sequence, inside the caller's transaction.
async fn seal_catalog(
    c: &impl GenericClient,
    dir: &KeyDir,
    number: i64,
    cbor: &[u8],
    now: i64,
) -> Result<Published> {
    let max_age = settings::policy(c).await?.max_catalog_age_secs;
    let sequence = settings::next_sequence(c, CATALOG).await?;
    let header = EnvelopeHeader {
        purpose: EnvelopePurpose::Catalog,
        sequence,
        issued_at: to_u64(now),
        max_age_secs: max_age,
    };
    let key = keys::active(c, dir, Purpose::Catalog).await?;
    let bytes = catalogs::seal(&header, cbor, &key)?;
    let max_age = i64::try_from(max_age).unwrap_or(i64::MAX);
    store(c, CATALOG, sequence, now, max_age, bytes, Some(number)).await
}

/// The envelope of the newest activated catalog (as [`catalogs::current`]), sealed
/// (again) if needed — once, whichever nodes ask; `None` before any catalog is active.
pub async fn current_catalog(pg: &Pg, dir: &KeyDir, now: i64) -> Result<Option<Published>> {
    let mut client = pg.client().await?;
    let Some((number, _)) = newest_catalog(&client, now).await? else {
        return Ok(None);
    };
    let stored = latest(&client, CATALOG).await?;
    if serves(stored.as_ref(), number, now) {
        return Ok(stored);
    }
    let tx = client.transaction().await?;
    lock(&tx, CATALOG).await?;
    let Some((number, cbor)) = newest_catalog(&tx, now).await? else {
        return Ok(None);
    };
    let stored = latest(&tx, CATALOG).await?;
    let published = match stored {
        Some(p) if serves(Some(&p), number, now) => p,
        _ => seal_catalog(&tx, dir, number, &cbor, now).await?,
    };
    tx.commit().await?;
    Ok(Some(published))
}

/// Validates and publishes a catalog written in TOML (as [`catalogs::publish`]).
pub async fn publish_catalog(
    pg: &Pg,
    dir: &KeyDir,
    toml_text: &str,
    activates_at: Option<i64>,
    now: i64,
) -> Result<Publication> {
    let (catalog, cbor) = catalogs::parse(toml_text)?;
    let activates_at = activates_at.unwrap_or(now);
    let named = catalogs::segments(&catalog);
    let mut client = pg.client().await?;
    let held: HashSet<String> = client
        .query(
            "SELECT DISTINCT segment FROM customer_segments WHERE segment = ANY($1)",
            &[&named],
        )
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect();
    catalogs::refuse_unheld(&catalog, &held)?;
    let promotions = i64::try_from(catalog.promotions.len()).map_err(Error::internal)?;
    let tx = client.transaction().await?;
    let number: i64 = tx
        .query_one(
            "INSERT INTO catalogs (source_sha256, body_cbor, promotions, published_at,
                                   activates_at, return_window_secs)
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
            &[
                &hex::encode(Sha256::digest(toml_text.as_bytes())),
                &cbor,
                &promotions,
                &now,
                &activates_at,
                &crate::pending::catalog_window_secs(&catalog),
            ],
        )
        .await?
        .get(0);
    let mut envelope_sequence = None;
    if activates_at <= now {
        lock(&tx, CATALOG).await?;
        if let Some((newest, body)) = newest_catalog(&tx, now).await?
            && newest == number
        {
            envelope_sequence = Some(seal_catalog(&tx, dir, number, &body, now).await?.sequence);
        }
    }
    tx.commit().await?;
    Ok(Publication {
        number,
        promotions: catalog.promotions.len(),
        published_at: now,
        activates_at,
        envelope_sequence,
    })
}
