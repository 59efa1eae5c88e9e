//! `POST /v1/sync/round`: a till's whole sync round in one signed request
//! (`tillpass_protocol::sync::round`).
//!
//! The till names the round protocols it speaks, every stream's cursor and the ETags of
//! the trust list and catalog it holds; central chooses the newest protocol both speak
//! (`422 invalid` on `protocols` when there is none), reads each asked stream's page with
//! the same page function `GET /v1/deltas/{kind}` uses (up to the request's `limit` items;
//! from protocol 2 on, a customers page also carries the store's lapse notices,
//! `crate::scope`, "Leaving a scope"),
//! keeps the streams with something new (items, a cursor that moved, more to come), seals
//! them for this request (till, nonce, protocol) with the sync key, and adds the trust list
//! and catalog when the till's ETag is not theirs.
//!
//! The pages and the envelopes' stored versions are read in one unit
//! ([`crate::storage::Database::round_read`]: on PostgreSQL one pooled connection, its
//! statements pipelined and prepared once per connection); the pages are serialized
//! once, straight from their types, and the trust list and catalog come from the node's
//! memory while the versions read name the ones it holds ([`crate::published`]).
//!
//! The request is a read ([`super::signed::SignedRead`]): its nonce is not kept. The
//! round's envelope takes its sequence from central's clock, not from a stored counter
//! (freshness comes from the nonce), so an idle round — nothing new in any stream, the
//! envelopes the till holds — writes nothing to the database.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use tillpass_protocol::problem::ErrorCode;
use tillpass_protocol::sync::{
    DeltaKind, DeltaQuery, EnvelopeUpdate, MAX_ROUND_BYTES, ROUND_PROTOCOLS, RoundAnswer,
    RoundBinding, RoundRequest, VERSION, choose_protocol, seal_round,
};

use super::extract;
use super::signed::SignedRead;
use super::{AppState, Problem};
use crate::clock::to_u64;
use crate::deltas::AnyPage;
use crate::envelopes::Published;
use crate::error::Error;

/// Answers one round.
pub(crate) async fn round(
    State(state): State<AppState>,
    request: SignedRead<MAX_ROUND_BYTES>,
) -> Result<Response, Problem> {
    let asked: RoundRequest =
        extract::json(request.body.content_type.as_deref(), &request.body.bytes)?;
    asked
        .check()
        .map_err(|e| Problem::new(ErrorCode::Invalid, e.reason).with_field(e.field))?;
    let protocol = choose_protocol(&asked.protocols, ROUND_PROTOCOLS).ok_or_else(|| {
        Problem::new(
            ErrorCode::Invalid,
            format!("central speaks round protocols {ROUND_PROTOCOLS:?} only"),
        )
        .with_field("protocols")
    })?;
    let till = request.till;
    let sync_key = state.sync_key().await?;
    let now = state.now();
    let limit = asked.page_limit();
    let pages: Vec<(DeltaKind, DeltaQuery)> = asked
        .cursors
        .iter()
        .map(|(kind, cursor)| {
            let query = DeltaQuery {
                cursor: cursor.clone(),
                limit: Some(limit),
            };
            (*kind, query)
        })
        .collect();
    let read = state
        .db
        .round_read(&pages, &till.store, &sync_key, now, protocol)
        .await?;
    let mut streams = BTreeMap::new();
    let mut more = false;
    for ((kind, query), page) in pages.iter().zip(&read.pages) {
        state.metrics.observe_delta_items(*kind, page.len());
        let has_more = page.has_more();
        let moved = *page.next_cursor() != query.cursor;
        if !page.is_empty() || moved || has_more {
            more |= has_more;
            streams.insert(*kind, page);
        }
    }
    let streams_idle = streams.is_empty();
    let answer = Streams {
        v: VERSION,
        streams,
        more,
        time: now,
    };
    let json = serde_json::to_vec(&answer).map_err(Error::internal)?;
    let binding = RoundBinding {
        till: till.id.clone(),
        nonce: request.nonce,
        protocol,
    };
    let sealed = seal_round(&binding, &json, to_u64(now), to_u64(now), &sync_key)
        .map_err(|e| Error::internal(format!("sealing a sync round: {e}")))?;
    let held = &state.published;
    let trust = held
        .trust_list(&state.db, &state.keys, &read.versions, now)
        .await?;
    let catalog = held
        .catalog(&state.db, &state.keys, &read.versions, now)
        .await?;
    let envelopes = &asked.envelopes;
    let answer = RoundAnswer {
        v: VERSION,
        protocol,
        sealed,
        trust_list: update(envelopes.trust_list.as_deref(), Some(trust)),
        catalog: update(envelopes.catalog.as_deref(), catalog),
    };
    let idle = streams_idle && answer.trust_list.is_none() && answer.catalog.is_none();
    state.metrics.observe_round(idle);
    Ok(Json(answer).into_response())
}

/// [`tillpass_protocol::sync::RoundStreams`] as it is sealed, its pages serialized once, straight from their types.
#[derive(Serialize)]
struct Streams<'a> {
    v: u16,
    streams: BTreeMap<DeltaKind, &'a AnyPage>,
    more: bool,
    time: i64,
}

/// The envelope, unless the till's ETag names it.
fn update(held: Option<&str>, published: Option<Published>) -> Option<EnvelopeUpdate> {
    let published = published?;
    let same = held.is_some_and(|t| t.trim_start_matches("W/") == published.etag);
    (!same).then_some(EnvelopeUpdate {
        etag: published.etag,
        envelope: published.envelope,
    })
}
