//! Promotion catalogs: `catalog publish promos.toml` validates the TOML
//! ([`Catalog::from_toml`]: every error names the promotion and the field), stores the
//! catalog as CBOR with a publication number and an activation time, and tills fetch the
//! newest activated one as a `catalog` envelope signed by the catalog key, with an ETag.
//!
//! **Only conditions a till can evaluate are published.** A condition of a kind this build
//! does not know fails validation (conditions deny unknown fields). A segment in
//! `conditions.segments` must be held by at least one customer at central when the catalog
//! is published: central delivers customers' segments to the tills
//! ([`crate::customers::update`]), so a segment no customer is in could never apply —
//! almost always a typo, or a catalog published before its customers were put in the
//! segment. Every such segment is named in the refusal.
//!
//! Activation is central's: a catalog is served from its activation time on. The envelope
//! is sealed when a catalog becomes current, and sealed again under a new sequence number
//! once half its maximum age (the offline policy's `max_catalog_age_secs`) has passed, so
//! a till that syncs never holds a catalog too old to use.

use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;
use sha2::{Digest, Sha256};
use tillpass_protocol::catalog::{Catalog, CatalogError};
use tillpass_protocol::envelope::{self, EnvelopeHeader, EnvelopePurpose};

use crate::clock::to_u64;
use crate::envelopes::{self, Published};
use crate::error::{Error, Result};
use crate::keys::{self, KeyDir, Purpose};
use crate::settings;

/// The envelope purpose name of catalogs.
pub const CATALOG: &str = "catalog";

/// A catalog just published.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Publication {
    /// The publication number: increases with every publication.
    pub number: i64,
    /// How many promotions it holds.
    pub promotions: usize,
    /// When it was published: unix seconds.
    pub published_at: i64,
    /// From when it is served: unix seconds.
    pub activates_at: i64,
    /// The sequence number of its envelope, if it is already current.
    pub envelope_sequence: Option<u64>,
}

/// Validates and publishes a catalog written in TOML. `activates_at` (unix seconds)
/// defaults to now.
pub fn publish(
    conn: &mut Connection,
    dir: &KeyDir,
    toml_text: &str,
    activates_at: Option<i64>,
    now: i64,
) -> Result<Publication> {
    let (catalog, cbor) = parse(toml_text)?;
    let activates_at = activates_at.unwrap_or(now);
    let tx = conn.transaction()?;
    unheld_segments(&tx, &catalog)?;
    let number: i64 = tx.query_row(
        "INSERT INTO catalogs (source_sha256, body_cbor, promotions, published_at, activates_at,
                               return_window_secs)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6) RETURNING id",
        params![
            hex::encode(Sha256::digest(toml_text.as_bytes())),
            cbor,
            i64::try_from(catalog.promotions.len()).map_err(Error::internal)?,
            now,
            activates_at,
            crate::pending::catalog_window_secs(&catalog)
        ],
        |row| row.get(0),
    )?;
    let envelope_sequence = current(&tx, dir, now)?
        .filter(|p| p.source == Some(number))
        .map(|p| p.sequence);
    tx.commit()?;
    Ok(Publication {
        number,
        promotions: catalog.promotions.len(),
        published_at: now,
        activates_at,
        envelope_sequence,
    })
}

/// Refuses a catalog naming a segment no customer is in (see the module documentation).
fn unheld_segments(conn: &Connection, catalog: &Catalog) -> Result<()> {
    let mut probe = conn.prepare_cached("SELECT 1 FROM customer_segments WHERE segment = ?1")?;
    let mut held = std::collections::HashSet::new();
    for segment in segments(catalog) {
        if probe.exists([&segment])? {
            held.insert(segment);
        }
    }
    refuse_unheld(catalog, &held)
}

/// Every segment the catalog's promotions name.
pub(crate) fn segments(catalog: &Catalog) -> Vec<String> {
    let mut all: Vec<String> = catalog
        .promotions
        .iter()
        .flat_map(|p| p.conditions.segments.iter().cloned())
        .collect();
    all.sort();
    all.dedup();
    all
}

/// Refuses a catalog naming a segment outside `held`, naming every such segment.
pub(crate) fn refuse_unheld(
    catalog: &Catalog,
    held: &std::collections::HashSet<String>,
) -> Result<()> {
    let mut problems = Vec::new();
    for promotion in &catalog.promotions {
        for (i, segment) in promotion.conditions.segments.iter().enumerate() {
            if !held.contains(segment.as_str()) {
                problems.push(CatalogError::promotion(
                    promotion.id.as_str(),
                    format!("conditions.segments[{i}]"),
                    format!(
                        "no customer is in segment {segment:?}: put customers in it first \
                         (PUT /admin/v1/customers/{{ref}}/segments), or the promotion never applies"
                    ),
                ));
            }
        }
    }
    if problems.is_empty() {
        return Ok(());
    }
    let text: Vec<String> = problems.iter().map(ToString::to_string).collect();
    Err(Error::Catalog(text.join("\n")))
}

/// The envelope of the newest activated catalog, sealed (again) if needed; `None` before
/// any catalog is active.
pub fn current(conn: &Connection, dir: &KeyDir, now: i64) -> Result<Option<Published>> {
    let newest: Option<(i64, Vec<u8>)> = conn
        .query_row(
            "SELECT id, body_cbor FROM catalogs WHERE activates_at <= ?1
             ORDER BY activates_at DESC, id DESC LIMIT 1",
            [now],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
        .optional()?;
    let Some((number, cbor)) = newest else {
        return Ok(None);
    };
    if let Some(published) = envelopes::latest(conn, CATALOG)?
        && published.source == Some(number)
        && !published.is_stale(now)
    {
        return Ok(Some(published));
    }
    let max_age = settings::policy(conn)?.max_catalog_age_secs;
    let sequence = settings::next_sequence(conn, CATALOG)?;
    let header = EnvelopeHeader {
        purpose: EnvelopePurpose::Catalog,
        sequence,
        issued_at: to_u64(now),
        max_age_secs: max_age,
    };
    let key = keys::active(conn, dir, Purpose::Catalog)?;
    let bytes = seal(&header, &cbor, &key)?;
    let max_age = i64::try_from(max_age).unwrap_or(i64::MAX);
    envelopes::store(conn, CATALOG, sequence, now, max_age, bytes, Some(number)).map(Some)
}

/// A catalog's CBOR body sealed under `header` by the catalog key.
pub(crate) fn seal(
    header: &EnvelopeHeader,
    cbor: &[u8],
    key: &ed25519_dalek::SigningKey,
) -> Result<Vec<u8>> {
    envelope::sign(header, cbor, key)
        .map_err(|e| Error::internal(format!("sealing the catalog: {e}")))
}

/// A catalog in TOML, validated, as its CBOR body.
pub(crate) fn parse(toml_text: &str) -> Result<(Catalog, Vec<u8>)> {
    let catalog = Catalog::from_toml(toml_text).map_err(|e| Error::Catalog(e.to_string()))?;
    let mut cbor = Vec::new();
    ciborium::into_writer(&catalog, &mut cbor).map_err(Error::internal)?;
    Ok((catalog, cbor))
}
