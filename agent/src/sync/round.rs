//! The sync round in one request (`POST /v1/sync/round`,
//! `tillpass_protocol::sync::round`): every stream's cursor and the envelopes' ETags go
//! in; what changed comes back, the streams sealed for this very request. An idle till's
//! round is one request and a few hundred bytes, and writes nothing at central.
//!
//! What comes back is applied as the per-stream round applies it: the trust list first
//! (so a rotated sync key opens the streams), then the streams in [`DeltaKind::ALL`]'s order,
//! each page in one transaction with its cursor ([`Puller::apply`]), then the catalog.
//! Balances and gift cards are asked for and applied while holding the relay's gate, as
//! their pages are ([`super::deltas`]); when an upload is still in doubt they are not asked
//! for this time. While central says `more`, the till asks again at once.
//!
//! The streams are taken only from a `sync-round` envelope that opens with a sync key of
//! the trust list in force, within its age, for this till, this request's nonce and the
//! protocol central chose ([`open_round`]); otherwise nothing of them is applied, the
//! refusal is counted (`tillpass_delta_pages_refused_total{kind="round"}`) and the round
//! fails.
//!
//! The till offers round protocols 1 and 2 (`ROUND_PROTOCOLS`); under protocol 2 a
//! customers page may carry `left_scope` items (the store stopped receiving a customer:
//! [`super::deltas`], "Leaving the store's scope"). An older central chooses 1.
//!
//! A central that answers `404` does not offer the round (an older central): the caller
//! goes back to the per-stream requests ([`run`] returns `None`).

use std::collections::BTreeMap;
use std::sync::Arc;

use tillpass_protocol::sync::{
    DeltaKind, EnvelopeVersions, ROUND_PAGE_ITEMS, ROUND_PROTOCOLS, RoundAnswer, RoundBinding,
    RoundRequest, RoundStreams, VERSION, open_round, paths,
};

use super::catalogs;
use super::deltas::{Pulled, Puller};
use super::{SyncError, blocking, trust};
use crate::store::sync_state;
use crate::store::tokens::StoredTrust;
use crate::till::Till;

/// What a round brought, whichever way it was asked.
#[derive(Debug, Default)]
pub struct Exchanged {
    /// The trust list now in force, if it changed.
    pub trust: Option<StoredTrust>,
    /// The delta items applied and the pages refused.
    pub pulled: Pulled,
    /// What became of the catalog.
    pub catalog: Option<catalogs::Pulled>,
    /// Signed requests the round took.
    pub requests: usize,
}

/// Runs one round by the one-request protocol, repeated while central says `more`.
/// `None` when central does not offer it (`404` to the first request).
pub async fn run(puller: &Puller, till: &Till) -> Result<Option<Exchanged>, SyncError> {
    let mut exchanged = Exchanged::default();
    loop {
        // Money is asked and applied under the gate: no acknowledgement arrives meanwhile.
        let gate = puller.relay.gate().lock().await;
        let money = puller.settled(&gate).await?;
        let store = puller.store.clone();
        let cursors: BTreeMap<DeltaKind, _> = blocking(move || {
            let conn = store.conn();
            let mut cursors = BTreeMap::new();
            for kind in DeltaKind::ALL {
                if money || !is_money(kind) {
                    cursors.insert(kind, sync_state::cursor(&conn, kind)?);
                }
            }
            Ok(cursors)
        })
        .await?;
        let request = RoundRequest {
            v: VERSION,
            protocols: ROUND_PROTOCOLS.to_vec(),
            cursors: cursors.clone(),
            limit: Some(puller.page_limit.clamp(1, ROUND_PAGE_ITEMS)),
            envelopes: EnvelopeVersions {
                trust_list: trust::etag(&puller.store).await?,
                catalog: catalogs::etag(&puller.store).await?,
            },
        };
        let body = serde_json::to_vec(&request).map_err(|e| SyncError::Internal(e.to_string()))?;
        let answer = puller
            .client
            .send("POST", paths::ROUND, body, Some("application/json"), None)
            .await?;
        exchanged.requests += 1;
        if answer.status == 404 && exchanged.requests == 1 {
            return Ok(None);
        }
        if !answer.is_success() {
            return Err(answer.error());
        }
        let nonce = answer.nonce;
        let answer: RoundAnswer = answer.json("round answer")?;
        if !ROUND_PROTOCOLS.contains(&answer.protocol) {
            return Err(SyncError::Refused(format!(
                "central chose round protocol {}, which this till does not speak",
                answer.protocol
            )));
        }
        if let Some(list) = answer.trust_list {
            let identifier = Some(&till.identifier);
            let client = &puller.client;
            let tag = Some(list.etag);
            if let Some(t) =
                trust::accept(client, &puller.store, identifier, list.envelope, tag).await?
            {
                exchanged.trust = Some(t);
            }
        }
        let streams = opened(puller, till, &answer.sealed, nonce, answer.protocol)?;
        let mut streams: RoundStreams = serde_json::from_slice(&streams)
            .map_err(|e| SyncError::Refused(format!("round streams: {e}")))?;
        if let Some(kind) = streams.streams.keys().find(|k| !cursors.contains_key(k)) {
            return Err(SyncError::Refused(format!(
                "the round answered the {kind} stream, which was not asked for"
            )));
        }
        for (kind, cursor) in &cursors {
            let Some(page) = streams.streams.remove(kind) else {
                continue;
            };
            let body = serde_json::to_vec(&page).map_err(|e| SyncError::Internal(e.to_string()))?;
            match puller.apply(*kind, cursor, body).await {
                Ok((n, _)) => exchanged.pulled.items += n,
                // As in the per-stream round: the store's sales and ledger never hold back
                // the rest.
                Err(e) if matches!(kind, DeltaKind::Sales | DeltaKind::Ledger) => {
                    tracing::warn!(%kind, error = %e, "a store stream of the round could not be applied; it waits");
                }
                Err(e) => return Err(e),
            }
        }
        drop(gate);
        if let Some(catalog) = answer.catalog {
            let policy = till.sync.offline_policy();
            let tag = Some(catalog.etag);
            let taken = catalogs::take(
                &puller.client,
                &puller.store,
                &till.catalogs,
                policy.as_ref(),
                catalog.envelope,
                tag,
            )
            .await?;
            exchanged.catalog = Some(taken);
        }
        if !streams.more {
            return Ok(Some(exchanged));
        }
    }
}

fn is_money(kind: DeltaKind) -> bool {
    matches!(kind, DeltaKind::Balances | DeltaKind::GiftCards)
}

/// The round's streams' JSON, once the envelope proved to be sealed by central's sync key
/// for this request; the refusal is counted and noted in the sync status otherwise.
fn opened(
    puller: &Puller,
    till: &Till,
    sealed: &[u8],
    nonce: tillpass_protocol::sync::RequestNonce,
    protocol: u16,
) -> Result<Vec<u8>, SyncError> {
    let binding = RoundBinding {
        till: puller.client.till().clone(),
        nonce,
        protocol,
    };
    let now = puller.client.clock().now();
    let outcome = puller.client.with_trust(|trust| match trust {
        None => Err((
            "no_trust_list",
            "no trust list to check the round's signature against".to_owned(),
        )),
        Some(trust) => {
            open_round(sealed, &binding, trust, now).map_err(|e| (e.code(), e.to_string()))
        }
    });
    outcome.map_err(|(code, detail)| {
        tracing::warn!(reason = code, error = %detail, "round answer refused; nothing of it applied");
        till.metrics.observe_delta_refused("round", code);
        till.sync.update(|s| {
            s.delta_pages_refused += 1;
            s.delta_refused = Some(format!("round {code}: {detail}"));
        });
        SyncError::Refused(format!("round answer ({code}): {detail}"))
    })
}

/// How long a till that found central without the round keeps to the per-stream requests
/// before asking it again (a central upgraded meanwhile).
pub const RECHECK_AFTER: std::time::Duration = std::time::Duration::from_secs(3_600);

/// Whether the till uses the per-stream round: since when, if central lacked the round.
#[derive(Debug, Clone, Default)]
pub struct Fallback(Arc<std::sync::Mutex<Option<tokio::time::Instant>>>);

impl Fallback {
    /// Whether to ask by the per-stream requests now.
    pub fn active(&self) -> bool {
        let since = *self.0.lock().unwrap_or_else(|p| p.into_inner());
        since.is_some_and(|at| at.elapsed() < RECHECK_AFTER)
    }

    /// Central answered `404` to the round.
    pub fn start(&self) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = Some(tokio::time::Instant::now());
    }
}
