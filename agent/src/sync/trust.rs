//! Trust-list rotations: `GET /v1/trust-list` with `If-None-Match`; a newer list signed
//! by the pinned root key ([`tokens::accept_trust_list`]: signature, sequence above the one
//! in force, not expired) replaces the one in force — in the store, in the identification
//! pipeline and in the client that checks server times. Central re-seals its list before
//! half its age, so a till that syncs always holds a fresh one.

use std::sync::Arc;

use tillpass_protocol::envelope::EnvelopeError;
use tillpass_protocol::sync::paths;

use super::{CentralClient, SyncError, blocking};
use crate::identify::Identifier;
use crate::store::tokens::{self, StoredTrust, TrustLoadError};
use crate::store::{Store, sync_state};

/// The `sync_state` key of the trust list's ETag.
pub const ETAG_KEY: &str = "etag.trust-list";

/// The trust list's ETag the till holds.
pub async fn etag(store: &Arc<Store>) -> Result<Option<String>, SyncError> {
    let s = store.clone();
    blocking(move || Ok(sync_state::get(&s.conn(), ETAG_KEY)?)).await
}

/// Pulls central's trust list; returns the list now in force if it changed.
pub async fn pull(
    client: &CentralClient,
    store: &Arc<Store>,
    identifier: Option<&Arc<Identifier>>,
) -> Result<Option<StoredTrust>, SyncError> {
    let s = store.clone();
    let etag = blocking(move || Ok(sync_state::get(&s.conn(), ETAG_KEY)?)).await?;
    let answer = client.get(paths::TRUST_LIST, etag.as_deref()).await?;
    match answer.status {
        304 | 404 => return Ok(None),
        _ if !answer.is_success() => return Err(answer.error()),
        _ => {}
    }
    accept(client, store, identifier, answer.body, answer.etag).await
}

/// Takes a trust list central sent (with its ETag): a newer one, signed by the pinned root,
/// replaces the one in force; the list in force again changes nothing. Returns the list
/// now in force if it changed.
pub async fn accept(
    client: &CentralClient,
    store: &Arc<Store>,
    identifier: Option<&Arc<Identifier>>,
    bytes: Vec<u8>,
    tag: Option<String>,
) -> Result<Option<StoredTrust>, SyncError> {
    let s = store.clone();
    let now = client.clock().now();
    let accepted = blocking(move || {
        let conn = s.conn();
        let Some(current) = tokens::load_trust(&conn).map_err(trust_error)? else {
            return Err(SyncError::Refused(
                "no pinned root key: the till is not enrolled".into(),
            ));
        };
        let outcome = match tokens::accept_trust_list(&conn, current.root, &bytes, now) {
            Ok(t) => Some(t),
            // The list in force (a first pull, or a re-sealed list the till already took).
            Err(TrustLoadError::Envelope(EnvelopeError::Rollback { sequence, last }))
                if sequence == last =>
            {
                None
            }
            Err(e) => return Err(trust_error(e)),
        };
        if let Some(tag) = &tag {
            sync_state::set(&conn, ETAG_KEY, tag)?;
        }
        Ok(outcome)
    })
    .await?;
    if let Some(t) = &accepted {
        tracing::info!(sequence = t.sequence, "trust list rotated");
        client.set_trust(t.store.clone());
        if let Some(identifier) = identifier {
            identifier.set_trust(t.clone());
        }
    }
    Ok(accepted)
}

fn trust_error(e: TrustLoadError) -> SyncError {
    match e {
        TrustLoadError::Store(e) => SyncError::Store(e),
        other => SyncError::Refused(other.to_string()),
    }
}
