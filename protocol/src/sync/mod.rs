//! The till ↔ central messages.
//!
//! ## Map
//! - [`ids`] — the identifiers both sides use: [`TillId`], [`StoreId`], [`RegionId`],
//!   [`CustomerRef`], [`GiftCardRef`], [`SaleId`], [`HoldId`], [`PromotionId`],
//!   [`Subject`], [`EventId`] and [`TokenId`]. Checked when built and when deserialized.
//! - [`enrol`] — [`EnrolRequest`] (one-time code, till public key, agent version, hostname)
//!   and [`EnrolResponse`] (ids, root key, trust list envelope, [`OfflinePolicy`]); the
//!   code as printed, pinning central's root key ([`EnrolCode`], [`RootFingerprint`]); which
//!   central URLs a till may use ([`check_central_url`]: `https://`, or `http://` to
//!   loopback only).
//! - [`journal`] — [`JournalEvent`] and its typed [`EventPayload`]: sale closed, return,
//!   token used, savings earned / redeemed / reversed, gift-card debit / credit / hold /
//!   release, customer created locally.
//! - [`movement`] — how a journal event moves money ([`Movement`]: account, direction,
//!   amount), read by central's ingest and the till's balance reconciliation.
//! - [`returns`] — [`left_to_return`]: returns never take back more than a line sold.
//! - [`batch`] — [`UploadBatch`] (at most [`MAX_BATCH_EVENTS`]) and [`BatchAck`]: per event
//!   `accepted | duplicate | rejected{code, detail}`, plus [`EventFlag`]s.
//! - [`delta`] — [`DeltaPage`]s by opaque [`Cursor`] for customers (with erasure
//!   tombstones), balances, gift cards, personal promotions, revocations (as signed
//!   envelopes) and the store's sales with their returns ([`SaleDelta`]); pages signed for
//!   the request they answer ([`seal_page`], [`open_page`]).
//! - [`ledger`] — the store's offline-risk ledger ([`LedgerDelta`]: spends with central's
//!   outcome, flags concerning the store), returned to every till of the store; references
//!   only [`mask`]ed.
//! - [`round`] — the sync round in one signed request: [`RoundRequest`] (protocols,
//!   every stream's cursor, the envelopes' ETags) and [`RoundAnswer`] (the chosen
//!   protocol, the streams with something new sealed for the request, changed envelopes);
//!   [`choose_protocol`], [`seal_round`], [`open_round`], [`MAX_ROUND_BYTES`].
//! - [`request`] — the signed-request scheme (headers, canonical string,
//!   [`verify_request`]).
//! - [`lookup`] — the live lookup: [`LookupRequest`] (customer or gift card, by the
//!   token's subject) and central's [`LookupAnswer`] (balance, tier, as of when).
//! - [`time`] — [`ServerTime`], central's clock signed with the sync key, in every answer.
//!
//! ## Versions
//! Paths are versioned (`/v1/…`, see [`paths`]) and every top-level message carries
//! `"v": 1` ([`VERSION`]); journal events carry their own `v` because they wait in a
//! till's outbox across upgrades. A change to a landed message is a new version.
//!
//! ## Encoding
//! JSON. Money is `{"amount": minor units, "currency": "EUR"}`; times are unix seconds;
//! byte strings (keys, signatures, ids, envelopes) are lowercase hex. Enum kinds are
//! tagged (`type`, `op`, `kind`, `what`, `status`) with snake_case names; codes a newer
//! central may add ([`RejectCode`], [`EventFlag`]) deserialize to `Unknown`.

pub mod batch;
pub mod delta;
pub mod enrol;
mod hex;
pub mod ids;
pub mod journal;
pub mod ledger;
pub mod limits;
pub mod lookup;
pub mod movement;
pub mod request;
pub mod returns;
pub mod round;
pub mod time;

pub use batch::{
    AckOutcome, BatchAck, BatchError, EventAck, EventFlag, MAX_BATCH_EVENTS, RejectCode,
    UploadBatch,
};
pub use delta::{
    BalanceDelta, Consent, Cursor, CustomerDelta, CustomerRecord, DeltaKind, DeltaPage, DeltaQuery,
    GiftCardDelta, GiftCardRecord, GiftCardStatus, MAX_PAGE_ITEMS, MAX_SEGMENTS_PER_CUSTOMER,
    PageError, PageRequest, PersonalPromotion, PersonalPromotionDelta, RevocationEnvelope,
    SIGNED_PAGE_MAX_AGE_SECS, SIGNED_PAGE_MEDIA_TYPE, SaleDelta, StoreReturn, StoreSale, open_page,
    seal_page, segments_problem,
};
pub use enrol::{
    CentralUrlError, EnrolCode, EnrolRequest, EnrolResponse, EnrolmentRecord, OfflinePolicy,
    ReplayPolicy, RootFingerprint, check_central_url, is_https,
};
pub use ids::{
    CustomerRef, EventId, GiftCardRef, HoldId, IdError, PromotionId, RegionId, SaleId, StoreId,
    Subject, TillId, TokenId,
};
pub use journal::{
    BalanceSource, EffectKindCode, EffectSummary, EventError, EventPayload, GiftCardHold,
    GiftCardMovement, GiftCardRelease, JournalEvent, LocalCustomer, Quantity, ReturnLine,
    ReturnRecorded, Reverses, SaleClosed, SaleLine, SaleTotals, SavingsMovement, SavingsReversal,
    SpendBasis, Tender, TokenKind, TokenUsed,
};
pub use ledger::{
    LEDGER_RETENTION_SECS, LedgerAccount, LedgerDelta, LedgerFlag, LedgerOutcome, LedgerSpend, mask,
};
pub use lookup::{LookupAnswer, LookupKind, LookupRequest};
pub use movement::{Account, Direction, Movement, TillDelta};
pub use request::{
    DEFAULT_WINDOW_SECS, HEADER_NONCE, HEADER_SIGNATURE, HEADER_TILL, HEADER_TIMESTAMP,
    RequestError, RequestNonce, RequestParts, SignedHeaders, VerifiedRequest, canonical_string,
    verify_request,
};
pub use returns::{ReturnedMoreThanSold, left_to_return};
pub use round::{
    EnvelopeUpdate, EnvelopeVersions, LEFT_SCOPE_PROTOCOL, MAX_ROUND_BYTES, ROUND_PAGE_ITEMS,
    ROUND_PROTOCOLS, RoundAnswer, RoundBinding, RoundRequest, RoundRequestError, RoundStreams,
    choose_protocol, open_round, seal_round,
};
pub use time::{HEADER_SERVER_TIME, ServerTime, ServerTimeError, key_id_of};

/// The version of every sync message defined here.
pub const VERSION: u16 = 1;

/// The paths of central's till-facing API.
pub mod paths {
    use super::DeltaKind;

    /// `POST`: enrol with a one-time code ([`super::EnrolRequest`] →
    /// [`super::EnrolResponse`]). Not signed.
    pub const ENROL: &str = "/v1/enrol";
    /// `POST`, signed: upload a journal batch ([`super::UploadBatch`] →
    /// [`super::BatchAck`]).
    pub const JOURNAL: &str = "/v1/journal";
    /// `GET`, signed, with `ETag` / `If-None-Match`: the current trust list envelope
    /// (`application/cose`).
    pub const TRUST_LIST: &str = "/v1/trust-list";
    /// `GET`, signed, with `ETag` / `If-None-Match`: the newest promotion catalog envelope
    /// (`application/cose`).
    pub const CATALOG: &str = "/v1/catalog";
    /// `GET`: central's signed time ([`super::ServerTime`]) as a JSON body, as well as in
    /// the header every answer carries.
    pub const TIME: &str = "/v1/time";
    /// `POST`, signed: the current balance of a customer or a gift card the till does
    /// not hold ([`super::LookupRequest`] → [`super::LookupAnswer`]).
    pub const LOOKUP: &str = "/v1/lookup";
    /// `POST`, signed: a whole sync round in one request ([`super::RoundRequest`] →
    /// [`super::RoundAnswer`]); `404` from a central older than it.
    pub const ROUND: &str = "/v1/sync/round";
    /// The prefix of delta paths.
    pub const DELTAS_PREFIX: &str = "/v1/deltas/";

    /// `GET`, signed: a [`super::DeltaPage`] of `kind`, e.g. `/v1/deltas/customers`.
    pub fn deltas(kind: DeltaKind) -> String {
        format!("{DELTAS_PREFIX}{}", kind.segment())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delta_paths() {
        assert_eq!(paths::deltas(DeltaKind::GiftCards), "/v1/deltas/gift-cards");
    }
}
