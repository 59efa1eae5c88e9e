//! Delta pages: what changed at central since a cursor, one kind of data at a time.
//!
//! `GET /v1/deltas/{kind}?cursor=…&limit=…` ([`super::paths::deltas`]), signed by the till,
//! answers a [`DeltaPage`] of that kind's items. The till stores `next_cursor` only after it
//! applied the page, and asks again while `has_more`. Cursors are opaque: the till never
//! parses one. An empty cursor means "from the beginning".
//!
//! Each item is the **current state** of one entity (an upsert) or its removal; an entity
//! that changed several times since the cursor appears once. Erasing a customer at central
//! (GDPR) yields [`CustomerDelta::Erased`]: the till deletes every trace of that customer.
//!
//! A store whose scope no longer holds a customer (central's scoped feeds: the customer was
//! not seen there within the scope period, or was unassigned from it) stops receiving the
//! customer's changes; its tills get one [`CustomerDelta::LeftScope`] in the `customers`
//! stream: they stop trusting what they cached of the customer (not an erasure). Tills
//! that speak round protocol 2 or later ([`super::round::ROUND_PROTOCOLS`]) receive it; a
//! page for round protocol 1 or `GET /v1/deltas/customers` never carries it, because a
//! till of an earlier build refuses a whole page holding an `op` it does not know.
//!
//! The `sales` kind is the one stream scoped to the asking till's **store**: every sale
//! closed at a till of the store, with the returns recorded against it so far
//! ([`SaleDelta`]), so that goods bought at one till can be returned at another. A sale
//! appears again each time a return is recorded against it.
//!
//! ## Signed pages
//!
//! A till that sends `Accept: application/cose` ([`SIGNED_PAGE_MEDIA_TYPE`]) gets the page
//! as a `delta-page` envelope (`crate::envelope`, signed by a `sync` key of the trust list)
//! instead of bare JSON: its payload ([`seal_page`], [`open_page`]) holds the page's JSON
//! bytes together with the request it answers — kind, till, cursor and the request's nonce
//! ([`PageRequest`]) — so a page can neither be altered, nor replayed to another request,
//! another till or another stream. It may be opened for [`SIGNED_PAGE_MAX_AGE_SECS`]. A
//! till that does not ask (an older build) still gets bare JSON.

use std::fmt;

use ed25519_dalek::SigningKey;
use serde::{Deserialize, Serialize};
use thiserror::Error;

use super::VERSION;
use super::ids::{CustomerRef, GiftCardRef, PromotionId, TillId};
use super::journal::{ReturnRecorded, SaleClosed};
use super::request::RequestNonce;
use crate::catalog::validate::MAX_NAME;
use crate::envelope::{
    self, CborBytes, EnvelopeError, EnvelopeHeader, EnvelopePurpose, SignerKeys,
};
use crate::lang::Lang;
use crate::money::Money;

/// The most items one page may hold; central may send fewer.
pub const MAX_PAGE_ITEMS: u32 = 1000;

/// The longest cursor, in bytes.
pub const MAX_CURSOR_LEN: usize = 256;

/// The kinds of delta.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DeltaKind {
    /// Customer profiles and erasure tombstones: [`CustomerDelta`].
    Customers,
    /// Savings balances and debts: [`BalanceDelta`].
    Balances,
    /// Gift cards: [`GiftCardDelta`].
    GiftCards,
    /// Personal promotions: [`PersonalPromotionDelta`].
    PersonalPromotions,
    /// Revoked tokens, keys and subjects: [`RevocationEnvelope`].
    Revocations,
    /// Sales closed at the store's tills, with their returns: [`SaleDelta`].
    Sales,
    /// The store's offline-risk ledger: [`super::ledger::LedgerDelta`].
    Ledger,
}

impl DeltaKind {
    /// Every kind, in the order a till should pull them.
    /// Sales come after customers, so that an erasure is applied before the sales that
    /// no longer name the erased customer.
    pub const ALL: [DeltaKind; 7] = [
        DeltaKind::Revocations,
        DeltaKind::Customers,
        DeltaKind::Balances,
        DeltaKind::GiftCards,
        DeltaKind::PersonalPromotions,
        DeltaKind::Sales,
        DeltaKind::Ledger,
    ];

    /// The path segment: `customers`, `balances`, `gift-cards`, `personal-promotions`,
    /// `revocations`, `sales`, `ledger`.
    pub fn segment(self) -> &'static str {
        match self {
            DeltaKind::Customers => "customers",
            DeltaKind::Balances => "balances",
            DeltaKind::GiftCards => "gift-cards",
            DeltaKind::PersonalPromotions => "personal-promotions",
            DeltaKind::Revocations => "revocations",
            DeltaKind::Sales => "sales",
            DeltaKind::Ledger => "ledger",
        }
    }

    /// The kind for a path segment.
    pub fn from_segment(segment: &str) -> Option<DeltaKind> {
        DeltaKind::ALL.into_iter().find(|k| k.segment() == segment)
    }
}

impl fmt::Display for DeltaKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.segment())
    }
}

/// An opaque position in a delta stream: 0 to 256 characters of ASCII letters, digits,
/// `-`, `_` and `.` (safe in a query string as is).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Cursor(String);

impl Cursor {
    /// The cursor before everything.
    pub fn start() -> Cursor {
        Cursor(String::new())
    }

    /// Checks and wraps a cursor; `None` when it is too long or holds other characters.
    pub fn new(text: impl Into<String>) -> Option<Cursor> {
        let text = text.into();
        let ok = text.len() <= MAX_CURSOR_LEN
            && text
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
        ok.then_some(Cursor(text))
    }

    /// The cursor's text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether this is the cursor before everything.
    pub fn is_start(&self) -> bool {
        self.0.is_empty()
    }
}

impl TryFrom<String> for Cursor {
    type Error = &'static str;
    fn try_from(text: String) -> Result<Cursor, &'static str> {
        Cursor::new(text).ok_or("malformed cursor")
    }
}

impl From<Cursor> for String {
    fn from(cursor: Cursor) -> String {
        cursor.0
    }
}

/// The query of a delta request: `?cursor=…&limit=…`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct DeltaQuery {
    /// Where to start; absent or empty for the beginning.
    #[serde(default)]
    pub cursor: Cursor,
    /// How many items at most; absent for central's default, capped at
    /// [`MAX_PAGE_ITEMS`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
}

impl DeltaQuery {
    /// The query string, without the `?`. Cursors need no escaping.
    pub fn to_query_string(&self) -> String {
        match self.limit {
            Some(limit) => format!("cursor={}&limit={limit}", self.cursor.as_str()),
            None => format!("cursor={}", self.cursor.as_str()),
        }
    }

    /// The limit to use: the asked one capped at [`MAX_PAGE_ITEMS`], at least 1, or
    /// `default`.
    pub fn effective_limit(&self, default: u32) -> u32 {
        self.limit.unwrap_or(default).clamp(1, MAX_PAGE_ITEMS)
    }
}

/// One page of a delta stream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeltaPage<T> {
    /// The message version, [`VERSION`].
    pub v: u16,
    /// The changes, oldest first.
    pub items: Vec<T>,
    /// Where the next request starts. Stored by the till once the page is applied.
    pub next_cursor: Cursor,
    /// Whether more items wait past `next_cursor`.
    pub has_more: bool,
}

impl<T> DeltaPage<T> {
    /// A page of the current version.
    pub fn new(items: Vec<T>, next_cursor: Cursor, has_more: bool) -> DeltaPage<T> {
        DeltaPage {
            v: VERSION,
            items,
            next_cursor,
            has_more,
        }
    }
}

/// What a customer allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Consent {
    /// Digital receipts may be produced and sent to them.
    pub receipts: bool,
    /// They may receive marketing messages.
    pub marketing: bool,
}

/// The most segments one customer may be in.
pub const MAX_SEGMENTS_PER_CUSTOMER: usize = 32;

/// Why a customer's segment list cannot be sent to tills, if it cannot: at most
/// [`MAX_SEGMENTS_PER_CUSTOMER`] names, each named as a catalog names a segment in
/// `conditions.segments` (1 to [`MAX_NAME`] characters, no control characters), none twice.
pub fn segments_problem(segments: &[String]) -> Option<String> {
    if segments.len() > MAX_SEGMENTS_PER_CUSTOMER {
        return Some(format!(
            "segments: at most {MAX_SEGMENTS_PER_CUSTOMER} per customer"
        ));
    }
    for (i, name) in segments.iter().enumerate() {
        if name.is_empty() || name.chars().count() > MAX_NAME || name.chars().any(char::is_control)
        {
            return Some(format!(
                "segments[{i}]: 1 to {MAX_NAME} characters, no control characters"
            ));
        }
        if segments.iter().take(i).any(|n| n == name) {
            return Some(format!("segments[{i}]: {name:?} is listed twice"));
        }
    }
    None
}

/// A customer as a till keeps them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomerRecord {
    /// The opaque reference (the pass's subject).
    pub customer: CustomerRef,
    /// The first name, to greet them at the till. Empty for earn-only profiles.
    pub first_name: String,
    /// The loyalty tier, one of the catalog's tiers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tier: Option<String>,
    /// Their language.
    pub lang: Lang,
    /// What they allow.
    pub consent: Consent,
    /// A profile created by a till for a customer central had not sent yet: it may earn
    /// but not redeem.
    #[serde(default)]
    pub earn_only: bool,
    /// The segments central put the customer in, for the catalog's `conditions.segments`
    /// (see [`segments_problem`]). Absent from centrals before segments were delivered:
    /// no segment.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub segments: Vec<String>,
}

/// A change to a customer. Serialized with an `op` tag.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum CustomerDelta {
    /// The customer as they are now.
    Upsert {
        /// The profile.
        customer: CustomerRecord,
    },
    /// The customer was erased (GDPR): delete every trace of them.
    Erased {
        /// Who.
        customer: CustomerRef,
        /// When central erased them: unix seconds.
        erased_at: i64,
    },
    /// This till's store no longer receives the customer's changes (their scope at the
    /// store lapsed, or central IT unassigned them): forget the cached profile, balance,
    /// personal promotions and the gift cards they own ([`GiftCardRecord::owner`]) —
    /// keeping what this till has not synced — so that the next scan asks central live,
    /// as for a customer the till never held. Sent only for round protocol 2 or later.
    LeftScope {
        /// Who.
        customer: CustomerRef,
        /// When central noticed: unix seconds.
        at: i64,
    },
}

/// A change to a savings balance. Serialized with an `op` tag.
///
/// Savings a sale earned stay **pending** until its return window closes: central keeps
/// them apart from the spendable `savings` and releases them at their time by its own
/// clock (a new item follows the release). A till shows pending savings but never lets
/// them be spent. `pending` and `next_release_at` are absent from centrals that did not
/// keep pending savings apart (read as none).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum BalanceDelta {
    /// The balance as it is now.
    Upsert {
        /// Whose.
        customer: CustomerRef,
        /// The savings the customer may spend.
        savings: Money,
        /// What the customer owes from offline overspends (zero or positive).
        debt: Money,
        /// When central last changed it: unix seconds.
        updated_at: i64,
        /// Savings earned and still inside their return window: not spendable.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pending: Option<Money>,
        /// When the next pending savings become spendable: unix seconds, by central's
        /// clock. Absent when nothing is pending.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        next_release_at: Option<i64>,
    },
    /// The account is gone (its customer was erased).
    Removed {
        /// Whose.
        customer: CustomerRef,
    },
}

/// The state of a gift card.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GiftCardStatus {
    /// Usable.
    Active,
    /// Blocked by central (lost, stolen, disputed).
    Blocked,
}

/// A gift card as a till keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GiftCardRecord {
    /// The card.
    pub card: GiftCardRef,
    /// What is left on it.
    pub balance: Money,
    /// What the card owes from offline overspends (zero or positive).
    pub debt: Money,
    /// Usable or not.
    pub status: GiftCardStatus,
    /// When it stops being usable: unix seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<i64>,
    /// The customer who owns it (a card in their chat wallet), if any. A till keeps it
    /// so that a [`CustomerDelta::LeftScope`] for the owner also stops it trusting the
    /// card's cached balance: the store stops receiving an owned card's changes with its
    /// owner's. Absent from centrals before it was sent, and for an unowned card.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<CustomerRef>,
}

/// A change to a gift card. Serialized with an `op` tag.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum GiftCardDelta {
    /// The card as it is now.
    Upsert {
        /// The card.
        card: GiftCardRecord,
    },
    /// The card is gone.
    Removed {
        /// The card.
        card: GiftCardRef,
    },
}

/// A promotion offered to one customer, which they may switch on and off in the chat.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PersonalPromotion {
    /// This offer's id.
    pub id: PromotionId,
    /// Whose.
    pub customer: CustomerRef,
    /// The catalog promotion it unlocks.
    pub promotion_id: PromotionId,
    /// Switched on by the customer.
    pub enabled: bool,
    /// From when: unix seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_from: Option<i64>,
    /// Until when: unix seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_until: Option<i64>,
}

/// A change to a personal promotion. Serialized with an `op` tag.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum PersonalPromotionDelta {
    /// The offer as it is now.
    Upsert {
        /// The offer.
        promotion: PersonalPromotion,
    },
    /// The offer is gone.
    Removed {
        /// The offer's id.
        id: PromotionId,
        /// Whose it was.
        customer: CustomerRef,
    },
}

/// A sale of the store, as it is now. Serialized with an `op` tag.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum SaleDelta {
    /// The sale and every return recorded against it so far.
    Upsert {
        /// The sale.
        sale: StoreSale,
    },
}

/// A sale closed at one of the store's tills, as central received it. The customer is
/// left out once they were erased.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoreSale {
    /// The till that closed it.
    pub till: TillId,
    /// When it closed: unix seconds (the event's time at the till).
    pub closed_at: i64,
    /// The sale, as journaled by its till.
    pub sale: SaleClosed,
    /// The returns recorded against it at any till of the store, oldest first.
    #[serde(default)]
    pub returns: Vec<StoreReturn>,
}

/// A return recorded against a store sale.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoreReturn {
    /// The till that recorded it.
    pub till: TillId,
    /// When: unix seconds (the event's time at the till).
    pub returned_at: i64,
    /// The return, as journaled by its till.
    #[serde(rename = "return")]
    pub record: ReturnRecorded,
}

/// Revocations, as a delta item: a `revocations` envelope (`crate::envelope`, purpose
/// `revocations`, signed by a sync key) whose payload is a `crate::token::RevocationDelta`
/// holding every revocation between the request's cursor and the page's `next_cursor`.
///
/// Central seals it for this answer, so its issued-at is fresh and its sequence is above
/// any revocations envelope it sealed before; a till opens it with the sequence of the
/// last one it accepted. A page holds at most one such item (none when nothing changed).
/// Revocations are never withdrawn.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevocationEnvelope {
    /// The envelope's sequence number (also inside its signed header).
    pub sequence: u64,
    /// The envelope bytes, hex-encoded.
    #[serde(with = "super::hex::blob")]
    pub envelope: Vec<u8>,
}

/// The media type a till asks for (`Accept`) and central answers (`Content-Type`) for a
/// signed delta page.
pub const SIGNED_PAGE_MEDIA_TYPE: &str = "application/cose";

/// How long after central sealed it a signed page may be opened, in seconds: one exchange.
pub const SIGNED_PAGE_MAX_AGE_SECS: u64 = 300;

/// The request a signed page answers; sealed into the page and checked when it is opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageRequest {
    /// The stream.
    pub kind: DeltaKind,
    /// The till that asked.
    pub till: TillId,
    /// The cursor it asked from.
    pub cursor: Cursor,
    /// The nonce of its signed request (`Tillpass-Nonce`).
    pub nonce: RequestNonce,
}

/// The payload of a `delta-page` envelope: a CBOR map with these text keys, no others.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SignedPagePayload {
    v: u16,
    kind: DeltaKind,
    till: TillId,
    cursor: Cursor,
    nonce: CborBytes,
    /// The page, as the JSON bytes central would have answered unsigned.
    page: CborBytes,
}

/// Why a signed page was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum PageError {
    /// The envelope failed a check of `crate::envelope::open`, or its payload is not a page
    /// payload.
    #[error(transparent)]
    Envelope(#[from] EnvelopeError),
    /// The page is signed but answers another request (named: `kind`, `till`, `cursor`,
    /// `nonce`), or a newer message version.
    #[error("the signed page answers another request: its {0} differs")]
    OtherRequest(&'static str),
}

impl PageError {
    /// A stable snake_case code: the envelope's code, or `other_request`.
    pub fn code(&self) -> &'static str {
        match self {
            PageError::Envelope(e) => e.code(),
            PageError::OtherRequest(_) => "other_request",
        }
    }
}

/// Seals `page_json` (a [`DeltaPage`]'s JSON bytes) for `request`, signed by `key` (a sync
/// key) with envelope `sequence`, issued at `issued_at` (unix seconds).
pub fn seal_page(
    request: &PageRequest,
    page_json: &[u8],
    sequence: u64,
    issued_at: u64,
    key: &SigningKey,
) -> Result<Vec<u8>, EnvelopeError> {
    let payload = SignedPagePayload {
        v: VERSION,
        kind: request.kind,
        till: request.till.clone(),
        cursor: request.cursor.clone(),
        nonce: CborBytes(request.nonce.0.to_vec()),
        page: CborBytes(page_json.to_vec()),
    };
    let header = EnvelopeHeader {
        purpose: EnvelopePurpose::DeltaPage,
        sequence,
        issued_at,
        max_age_secs: SIGNED_PAGE_MAX_AGE_SECS,
    };
    envelope::sign(&header, &envelope::to_cbor(&payload)?, key)
}

/// Opens a signed page that must answer `request`: every envelope check (sync key of
/// `keys`, purpose, not from the future, not older than its maximum age), then the request
/// it was sealed for. Returns the page's JSON bytes. Freshness comes from the nonce, so no
/// sequence is kept between pages.
pub fn open_page(
    bytes: &[u8],
    request: &PageRequest,
    keys: &impl SignerKeys,
    now: u64,
) -> Result<Vec<u8>, PageError> {
    let opened = envelope::open(bytes, EnvelopePurpose::DeltaPage, keys, now, 0)?;
    let payload: SignedPagePayload = envelope::from_cbor(&opened.payload)?;
    let checks = [
        ("version", payload.v == VERSION),
        ("kind", payload.kind == request.kind),
        ("till", payload.till == request.till),
        ("cursor", payload.cursor == request.cursor),
        ("nonce", payload.nonce.0 == request.nonce.0),
    ];
    if let Some((field, _)) = checks.into_iter().find(|(_, ok)| !ok) {
        return Err(PageError::OtherRequest(field));
    }
    Ok(payload.page.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::money::Currency;
    use crate::trust::{KeyPurpose, TrustStore, TrustedKey};

    const NOW: u64 = 1_750_000_000;

    fn sync_key() -> SigningKey {
        SigningKey::from_bytes(&[3; 32])
    }

    fn trust(purpose: KeyPurpose) -> TrustStore {
        let key = TrustedKey::from_verifying_key(purpose, sync_key().verifying_key(), 0, u64::MAX)
            .unwrap();
        TrustStore::new(1, [key]).unwrap()
    }

    fn request() -> PageRequest {
        PageRequest {
            kind: DeltaKind::Balances,
            till: TillId::new("S1-T1").unwrap(),
            cursor: Cursor::new("41").unwrap(),
            nonce: RequestNonce([7; 16]),
        }
    }

    #[test]
    fn a_signed_page_opens_only_for_the_request_it_answers() {
        let sealed = seal_page(&request(), br#"{"v":1}"#, 9, NOW, &sync_key()).unwrap();
        let keys = trust(KeyPurpose::Sync);
        assert_eq!(
            open_page(&sealed, &request(), &keys, NOW).unwrap(),
            br#"{"v":1}"#
        );
        let other = |change: fn(&mut PageRequest)| {
            let mut r = request();
            change(&mut r);
            open_page(&sealed, &r, &keys, NOW).unwrap_err()
        };
        assert_eq!(
            other(|r| r.kind = DeltaKind::GiftCards),
            PageError::OtherRequest("kind")
        );
        assert_eq!(
            other(|r| r.till = TillId::new("S1-T2").unwrap()),
            PageError::OtherRequest("till")
        );
        assert_eq!(
            other(|r| r.cursor = Cursor::start()),
            PageError::OtherRequest("cursor")
        );
        assert_eq!(
            other(|r| r.nonce = RequestNonce([8; 16])),
            PageError::OtherRequest("nonce")
        );
    }

    #[test]
    fn a_page_of_any_size_within_the_bound_opens() {
        let keys = trust(KeyPurpose::Sync);
        let big = vec![b'x'; 3 * 1024 * 1024];
        let sealed = seal_page(&request(), &big, 2, NOW, &sync_key()).unwrap();
        assert_eq!(open_page(&sealed, &request(), &keys, NOW).unwrap(), big);
    }

    #[test]
    fn altered_stale_or_wrongly_signed_pages_are_refused() {
        let keys = trust(KeyPurpose::Sync);
        let sealed = seal_page(&request(), b"{}", 1, NOW, &sync_key()).unwrap();
        let mut altered = sealed.clone();
        let at = altered.len() - 70;
        altered[at] ^= 1;
        assert_eq!(
            open_page(&altered, &request(), &keys, NOW).map_err(|e| e.code()),
            Err("bad_signature")
        );
        assert_eq!(
            open_page(
                &sealed,
                &request(),
                &keys,
                NOW + SIGNED_PAGE_MAX_AGE_SECS + 1
            )
            .map_err(|e| e.code()),
            Err("too_old")
        );
        let catalog_keys = trust(KeyPurpose::Catalog);
        assert_eq!(
            open_page(&sealed, &request(), &catalog_keys, NOW).map_err(|e| e.code()),
            Err("key_wrong_purpose")
        );
        assert_eq!(
            open_page(b"{\"v\":1}", &request(), &keys, NOW).map_err(|e| e.code()),
            Err("malformed")
        );
    }

    #[test]
    fn pages_round_trip() {
        let page = DeltaPage::new(
            vec![
                CustomerDelta::Upsert {
                    customer: CustomerRecord {
                        customer: CustomerRef::new("c1").unwrap(),
                        first_name: "Lucía".into(),
                        tier: Some("gold".into()),
                        lang: Lang::Es,
                        consent: Consent {
                            receipts: true,
                            marketing: false,
                        },
                        earn_only: false,
                        segments: vec!["students".into()],
                    },
                },
                CustomerDelta::Erased {
                    customer: CustomerRef::new("c2").unwrap(),
                    erased_at: 5,
                },
            ],
            Cursor::new("17").unwrap(),
            true,
        );
        let json = serde_json::to_string(&page).unwrap();
        assert!(json.contains(r#""op":"erased""#), "{json}");
        assert!(
            json.contains(r#""next_cursor":"17","has_more":true"#),
            "{json}"
        );
        assert_eq!(
            serde_json::from_str::<DeltaPage<CustomerDelta>>(&json).unwrap(),
            page
        );

        let balances = DeltaPage::new(
            vec![BalanceDelta::Upsert {
                customer: CustomerRef::new("c1").unwrap(),
                savings: Money::new(120, Currency::EUR),
                debt: Money::zero(Currency::EUR),
                updated_at: 9,
                pending: Some(Money::new(3990, Currency::EUR)),
                next_release_at: Some(1_209_609),
            }],
            Cursor::start(),
            false,
        );
        let json = serde_json::to_string(&balances).unwrap();
        assert_eq!(
            serde_json::from_str::<DeltaPage<BalanceDelta>>(&json).unwrap(),
            balances
        );

        let revocations = DeltaPage::new(
            vec![RevocationEnvelope {
                sequence: 7,
                envelope: vec![0xd2, 0x84, 0x43],
            }],
            Cursor::new("9").unwrap(),
            false,
        );
        let json = serde_json::to_string(&revocations).unwrap();
        assert!(
            json.contains(r#""sequence":7,"envelope":"d28443""#),
            "{json}"
        );
        assert_eq!(
            serde_json::from_str::<DeltaPage<RevocationEnvelope>>(&json).unwrap(),
            revocations
        );
    }

    #[test]
    fn store_sales_round_trip() {
        let super::super::EventPayload::SaleClosed(sale) =
            crate::sync::journal::tests::sale_event(1).payload
        else {
            panic!("not a sale");
        };
        let record = ReturnRecorded {
            return_id: crate::sync::SaleId::new("R-1").unwrap(),
            original_sale_id: sale.sale_id.clone(),
            customer: sale.customer.clone(),
            lines: vec![],
            refunds: vec![],
            savings_reversed: Money::zero(Currency::EUR),
        };
        let page = DeltaPage::new(
            vec![SaleDelta::Upsert {
                sale: StoreSale {
                    till: TillId::new("S001-T01").unwrap(),
                    closed_at: 10,
                    sale,
                    returns: vec![StoreReturn {
                        till: TillId::new("S001-T02").unwrap(),
                        returned_at: 20,
                        record,
                    }],
                },
            }],
            Cursor::new("v1.4").unwrap(),
            false,
        );
        let json = serde_json::to_string(&page).unwrap();
        assert!(
            json.contains(r#""op":"upsert","sale":{"till":"S001-T01""#),
            "{json}"
        );
        assert!(json.contains(r#""return":{"return_id":"R-1""#), "{json}");
        assert_eq!(
            serde_json::from_str::<DeltaPage<SaleDelta>>(&json).unwrap(),
            page
        );
    }

    #[test]
    fn an_old_balance_item_reads_as_nothing_pending_and_segments_are_checked() {
        let old = r#"{"op":"upsert","customer":"c1","savings":{"amount":5,"currency":"EUR"},
                      "debt":{"amount":0,"currency":"EUR"},"updated_at":1}"#;
        let BalanceDelta::Upsert {
            pending,
            next_release_at,
            ..
        } = serde_json::from_str::<BalanceDelta>(old).unwrap()
        else {
            panic!("not an upsert");
        };
        assert_eq!((pending, next_release_at), (None, None));
        let old = r#"{"op":"upsert","customer":{"customer":"c1","first_name":"A","lang":"es",
                      "consent":{"receipts":false,"marketing":false}}}"#;
        let CustomerDelta::Upsert { customer } = serde_json::from_str(old).unwrap() else {
            panic!("not an upsert");
        };
        assert!(customer.segments.is_empty());

        assert_eq!(segments_problem(&["students".into(), "vip".into()]), None);
        for bad in [
            vec![String::new()],
            vec!["a\tb".into()],
            vec!["x".repeat(65)],
            vec!["vip".into(), "vip".into()],
            (0..=MAX_SEGMENTS_PER_CUSTOMER)
                .map(|i| format!("s{i}"))
                .collect(),
        ] {
            assert!(segments_problem(&bad).is_some(), "{bad:?}");
        }
    }

    /// A till built before pending savings and segments reads a new central's items: the
    /// new fields are ignored, and `savings` is what may be spent.
    #[test]
    fn an_old_till_reads_new_items() {
        #[derive(Deserialize)]
        #[serde(tag = "op", rename_all = "snake_case")]
        enum OldBalanceDelta {
            Upsert {
                savings: Money,
                #[allow(dead_code)]
                debt: Money,
            },
        }
        #[derive(Deserialize)]
        #[serde(tag = "op", rename_all = "snake_case")]
        enum OldCustomerDelta {
            Upsert {
                #[allow(dead_code)]
                customer: OldCustomerRecord,
            },
        }
        #[derive(Deserialize)]
        struct OldCustomerRecord {
            #[allow(dead_code)]
            customer: CustomerRef,
            #[allow(dead_code)]
            first_name: String,
        }
        let item = BalanceDelta::Upsert {
            customer: CustomerRef::new("c1").unwrap(),
            savings: Money::new(100, Currency::EUR),
            debt: Money::zero(Currency::EUR),
            updated_at: 1,
            pending: Some(Money::new(3990, Currency::EUR)),
            next_release_at: Some(2),
        };
        let json = serde_json::to_string(&item).unwrap();
        let OldBalanceDelta::Upsert { savings, .. } = serde_json::from_str(&json).unwrap();
        assert_eq!(savings.amount, 100);
        let item = CustomerDelta::Upsert {
            customer: CustomerRecord {
                customer: CustomerRef::new("c1").unwrap(),
                first_name: "Ana".into(),
                tier: None,
                lang: Lang::Es,
                consent: Consent::default(),
                earn_only: false,
                segments: vec!["students".into()],
            },
        };
        let json = serde_json::to_string(&item).unwrap();
        assert!(
            serde_json::from_str::<OldCustomerDelta>(&json).is_ok(),
            "{json}"
        );
    }

    /// A `left_scope` item round-trips; a till built before it refuses a whole customers
    /// page that holds one (an unknown `op`), which is why central sends it only for round
    /// protocol 2 ([`super::super::round::LEFT_SCOPE_PROTOCOL`]).
    #[test]
    fn left_scope_round_trips_and_an_old_till_cannot_read_it() {
        #[derive(Deserialize)]
        #[serde(tag = "op", rename_all = "snake_case")]
        #[allow(dead_code)]
        enum OldCustomerDelta {
            Upsert {
                customer: serde_json::Value,
            },
            Erased {
                customer: CustomerRef,
                erased_at: i64,
            },
        }
        let page = DeltaPage::new(
            vec![CustomerDelta::LeftScope {
                customer: CustomerRef::new("c1").unwrap(),
                at: 7,
            }],
            Cursor::new("v1.9").unwrap(),
            false,
        );
        let json = serde_json::to_string(&page).unwrap();
        assert!(
            json.contains(r#"{"op":"left_scope","customer":"c1","at":7}"#),
            "{json}"
        );
        assert_eq!(
            serde_json::from_str::<DeltaPage<CustomerDelta>>(&json).unwrap(),
            page
        );
        assert!(serde_json::from_str::<DeltaPage<OldCustomerDelta>>(&json).is_err());
    }

    /// A card's owner is optional both ways: a till reads a card from a central that does
    /// not name owners, and an older till (whose record has no `owner`) reads one that
    /// does — so it needs no new round protocol.
    #[test]
    fn a_cards_owner_is_read_by_old_and_new_tills() {
        #[derive(Deserialize)]
        #[allow(dead_code)]
        struct OldGiftCardRecord {
            card: GiftCardRef,
            balance: Money,
            debt: Money,
            status: GiftCardStatus,
            #[serde(default)]
            expires_at: Option<i64>,
        }
        let owned = GiftCardRecord {
            card: GiftCardRef::new("G1").unwrap(),
            balance: Money::new(500, Currency::EUR),
            debt: Money::new(0, Currency::EUR),
            status: GiftCardStatus::Active,
            expires_at: None,
            owner: Some(CustomerRef::new("c1").unwrap()),
        };
        let json = serde_json::to_string(&owned).unwrap();
        assert!(json.contains(r#""owner":"c1""#), "{json}");
        assert_eq!(
            serde_json::from_str::<GiftCardRecord>(&json).unwrap(),
            owned
        );
        assert!(serde_json::from_str::<OldGiftCardRecord>(&json).is_ok());
        let unowned = GiftCardRecord {
            owner: None,
            ..owned
        };
        let json = serde_json::to_string(&unowned).unwrap();
        assert!(!json.contains("owner"), "{json}");
        assert_eq!(
            serde_json::from_str::<GiftCardRecord>(&json).unwrap(),
            unowned
        );
    }

    #[test]
    fn kinds_and_cursors() {
        for kind in DeltaKind::ALL {
            assert_eq!(DeltaKind::from_segment(kind.segment()), Some(kind));
        }
        assert_eq!(DeltaKind::from_segment("nope"), None);
        assert!(Cursor::new("a&b").is_none());
        assert!(Cursor::new("x".repeat(257)).is_none());
        assert!(serde_json::from_str::<Cursor>("\"a b\"").is_err());
        let query = DeltaQuery {
            cursor: Cursor::new("abc").unwrap(),
            limit: Some(5000),
        };
        assert_eq!(query.to_query_string(), "cursor=abc&limit=5000");
        assert_eq!(query.effective_limit(100), MAX_PAGE_ITEMS);
        assert_eq!(DeltaQuery::default().effective_limit(100), 100);
    }
}
