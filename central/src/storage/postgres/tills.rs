//! Tills on PostgreSQL, as [`crate::enrol`] and [`crate::auth`] keep them on SQLite:
//! one-time enrolment codes, enrolment, revocation, the signer of a request, and the
//! shared replay cache (nonces) every node checks.

use deadpool_postgres::GenericClient;
use tillpass_protocol::sync::{
    EnrolCode, EnrolRequest, EnrolResponse, RegionId, RootFingerprint, StoreId, TillId, VERSION,
};

use super::{Pg, cached, envelopes, keys, settings};
use crate::auth::{KeptNonce, LAST_SEEN_EVERY_SECS};
use crate::enrol::{self, IssuedCode, NewCode, Till};
use crate::error::{Error, Result};
use crate::keys::KeyDir;

/// An enrolled, unrevoked till.
pub async fn till(pg: &Pg, id: &str) -> Result<Option<Till>> {
    let client = pg.client().await?;
    let row = cached::query_opt(
        &client,
        "SELECT id, store, region, public_key FROM tills WHERE id = $1 AND revoked_at IS NULL",
        &[&id],
    )
    .await?;
    row.map(|r| enrol::till_of(r.get(0), r.get(1), r.get(2), r.get(3)))
        .transpose()
}

/// Records a verified request's nonce (as [`crate::auth::record_request`]) on its own.
/// `false` for a nonce seen before and not yet stale.
pub async fn record_request(
    pg: &Pg,
    till: &str,
    nonce: &str,
    forget_after: i64,
    now: i64,
) -> Result<bool> {
    let client = pg.client().await?;
    let nonce = KeptNonce {
        till: till.to_owned(),
        nonce: nonce.to_owned(),
        forget_after,
    };
    keep_nonce(&client, &nonce, now).await
}

/// Keeps `nonce` (as [`crate::auth::keep_nonce`]) in one statement, within the caller's
/// transaction when there is one: forgets this till's stale nonces and keeps this one.
/// `false` for a nonce seen before and not yet stale. (The statement's parts share one
/// snapshot: a stale row of this very nonce is renewed by the insert rather than deleted
/// beside it.)
pub async fn keep_nonce(c: &impl GenericClient, nonce: &KeptNonce, now: i64) -> Result<bool> {
    let fresh: i64 = cached::query_one(
        c,
        "WITH purged AS (
             DELETE FROM nonces WHERE till = $1 AND forget_after < $4 AND nonce <> $2
         ), fresh AS (
             INSERT INTO nonces (till, nonce, forget_after) VALUES ($1, $2, $3)
             ON CONFLICT (till, nonce) DO UPDATE SET forget_after = excluded.forget_after
                 WHERE nonces.forget_after < $4
             RETURNING 1
         )
         SELECT count(*) FROM fresh",
        &[&nonce.till, &nonce.nonce, &nonce.forget_after, &now],
    )
    .await?
    .get(0);
    Ok(fresh == 1)
}

/// Notes tills as seen (as [`crate::storage::Database::touch_tills`]): one statement that
/// locks the rows due a note in one order (two nodes' flushes wait for each other rather
/// than deadlock) and writes them, its commit not waiting for the WAL flush.
pub async fn touch(pg: &Pg, notes: &[(String, i64)]) -> Result<()> {
    let (tills, at): (Vec<&str>, Vec<i64>) = notes.iter().map(|(t, a)| (t.as_str(), *a)).unzip();
    let mut client = pg.client().await?;
    let tx = client.transaction().await?;
    tx.batch_execute("SET LOCAL synchronous_commit = off")
        .await?;
    cached::execute(
        &tx,
        "WITH v AS (
             SELECT * FROM unnest(CAST($1 AS TEXT[]), CAST($2 AS BIGINT[])) AS v (id, at)
         ), locked AS (
             SELECT t.id FROM tills t JOIN v ON v.id = t.id
             WHERE t.last_seen_at IS NULL OR t.last_seen_at <= v.at - CAST($3 AS BIGINT)
             ORDER BY t.id FOR UPDATE OF t
         )
         UPDATE tills t SET last_seen_at = GREATEST(COALESCE(t.last_seen_at, v.at), v.at)
         FROM v WHERE t.id = v.id AND t.id IN (SELECT id FROM locked)",
        &[&tills, &at, &LAST_SEEN_EVERY_SECS],
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Makes a one-time enrolment code (as [`enrol::create_code`]).
pub async fn create_code(pg: &Pg, new: &NewCode, now: i64) -> Result<IssuedCode> {
    let (ttl, region) = enrol::code_terms(new)?;
    let client = pg.client().await?;
    let till = match &new.till {
        Some(t) => t.clone(),
        None => {
            let count: i64 = client
                .query_one(
                    "SELECT (SELECT count(*) FROM tills WHERE store = $1)
                          + (SELECT count(*) FROM enrolment_codes
                             WHERE store = $1 AND used_at IS NULL)",
                    &[&new.store.as_str()],
                )
                .await?
                .get(0);
            enrol::next_till(&new.store, count)?
        }
    };
    let root = RootFingerprint::of(&keys::root_public_key(&client).await?);
    let code = enrol::random_code()?;
    let expires_at = now.saturating_add(ttl);
    client
        .execute(
            "INSERT INTO enrolment_codes (code_sha256, store, till, region, created_at, expires_at)
             VALUES ($1, $2, $3, $4, $5, $6)",
            &[
                &enrol::code_hash(&code),
                &new.store.as_str(),
                &till.as_str(),
                &region.as_str(),
                &now,
                &expires_at,
            ],
        )
        .await?;
    Ok(IssuedCode {
        code: EnrolCode::with_root(&code, root),
        root_fingerprint: root.to_string(),
        store: new.store.clone(),
        till,
        region,
        expires_at,
    })
}

/// Enrols a till (as [`enrol::enrol`]): the code is spent and the till recorded in one
/// transaction, the code's row locked so two nodes given the same code enrol once.
pub async fn enrol(
    pg: &Pg,
    dir: &KeyDir,
    request: &EnrolRequest,
    now: i64,
) -> Result<EnrolResponse> {
    let key = enrol::checked_key(request)?;
    let trust_list = envelopes::trust_list(pg, dir, now).await?;
    let hash = enrol::code_hash(&request.code);
    let mut client = pg.client().await?;
    let tx = client.transaction().await?;
    let row = tx
        .query_opt(
            "SELECT store, till, region, expires_at, used_at FROM enrolment_codes
             WHERE code_sha256 = $1 FOR UPDATE",
            &[&hash],
        )
        .await?
        .ok_or_else(|| Error::Unauthorized("unknown enrolment code".into()))?;
    let (store, till, region): (String, String, String) = (row.get(0), row.get(1), row.get(2));
    enrol::check_code(row.get(3), row.get(4), now)?;
    tx.execute(
        "UPDATE enrolment_codes SET used_at = $2 WHERE code_sha256 = $1",
        &[&hash, &now],
    )
    .await?;
    tx.execute(
        "INSERT INTO tills (id, store, region, public_key, agent_version, hostname, enrolled_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)
         ON CONFLICT (id) DO UPDATE SET store = excluded.store, region = excluded.region,
             public_key = excluded.public_key, agent_version = excluded.agent_version,
             hostname = excluded.hostname, enrolled_at = excluded.enrolled_at,
             revoked_at = NULL",
        &[
            &till,
            &store,
            &region,
            &key.as_bytes().as_slice(),
            &request.agent_version,
            &request.hostname,
            &now,
        ],
    )
    .await?;
    let response = EnrolResponse {
        v: VERSION,
        store: StoreId::new(store).map_err(Error::internal)?,
        till: TillId::new(till).map_err(Error::internal)?,
        region: RegionId::new(region).map_err(Error::internal)?,
        root_public_key: keys::root_public_key(&tx).await?,
        trust_list: trust_list.envelope,
        offline_policy: settings::policy(&tx).await?,
    };
    tx.commit().await?;
    Ok(response)
}

/// Revokes a till: its signed requests are refused from now on.
pub async fn revoke_till(pg: &Pg, id: &str, now: i64) -> Result<()> {
    let changed = pg
        .client()
        .await?
        .execute(
            "UPDATE tills SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL",
            &[&id, &now],
        )
        .await?;
    if changed == 0 {
        return Err(Error::NotFound("till"));
    }
    Ok(())
}
