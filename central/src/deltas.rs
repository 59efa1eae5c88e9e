//! Delta pages for tills: the current state of every customer, balance, gift card and
//! personal promotion in the till's store's scope ([`crate::scope`]), and every sale and
//! ledger item of its store, changed after the cursor (from [`crate::changes`]), or the revocations made after it, sealed as one envelope
//! ([`crate::revocations`]). Before a page of balances, pending savings due by central's
//! clock are released ([`crate::pending::release_due`]), so the page carries them.
//!
//! A till that asks for it gets the page signed ([`signed_page`]): a `delta-page` envelope
//! sealed by the sync key for that one request (`tillpass_protocol::sync::delta`, "Signed
//! pages"). A till that does not ask gets the page as bare JSON, as before.

use ed25519_dalek::SigningKey;
use rusqlite::Connection;
use serde::Serialize;
use tillpass_protocol::envelope::EnvelopePurpose;
use tillpass_protocol::money::Money;
use tillpass_protocol::sync::{
    BalanceDelta, Cursor, CustomerDelta, CustomerRef, DeltaKind, DeltaPage, DeltaQuery,
    GiftCardDelta, GiftCardRef, LedgerDelta, PageRequest, PersonalPromotionDelta, PromotionId,
    SaleDelta, StoreId, seal_page,
};

use crate::changes::{self, Changed, Entry, decode_cursor, encode_cursor};
use crate::clock::to_u64;
use crate::error::{Error, Result};
use crate::{customers, giftcards, ledger, pending, revocations, scope, settings, store_sales};

/// Items per page when the till does not say.
pub const DEFAULT_LIMIT: u32 = 200;

/// A page of any kind, serialized as the page itself.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum AnyPage {
    /// Customers.
    Customers(DeltaPage<CustomerDelta>),
    /// Balances.
    Balances(DeltaPage<BalanceDelta>),
    /// Gift cards.
    GiftCards(DeltaPage<GiftCardDelta>),
    /// Personal promotions.
    PersonalPromotions(DeltaPage<PersonalPromotionDelta>),
    /// Revocations.
    Revocations(DeltaPage<tillpass_protocol::sync::RevocationEnvelope>),
    /// The store's sales.
    Sales(DeltaPage<SaleDelta>),
    /// The store's offline-risk ledger.
    Ledger(DeltaPage<LedgerDelta>),
}

impl AnyPage {
    /// An empty page of `kind` whose next page starts at `next`.
    pub fn empty(kind: DeltaKind, next: Cursor) -> AnyPage {
        match kind {
            DeltaKind::Customers => AnyPage::Customers(DeltaPage::new(Vec::new(), next, false)),
            DeltaKind::Balances => AnyPage::Balances(DeltaPage::new(Vec::new(), next, false)),
            DeltaKind::GiftCards => AnyPage::GiftCards(DeltaPage::new(Vec::new(), next, false)),
            DeltaKind::PersonalPromotions => {
                AnyPage::PersonalPromotions(DeltaPage::new(Vec::new(), next, false))
            }
            DeltaKind::Revocations => AnyPage::Revocations(DeltaPage::new(Vec::new(), next, false)),
            DeltaKind::Sales => AnyPage::Sales(DeltaPage::new(Vec::new(), next, false)),
            DeltaKind::Ledger => AnyPage::Ledger(DeltaPage::new(Vec::new(), next, false)),
        }
    }

    /// Its items.
    pub fn len(&self) -> usize {
        match self {
            AnyPage::Customers(p) => p.items.len(),
            AnyPage::Balances(p) => p.items.len(),
            AnyPage::GiftCards(p) => p.items.len(),
            AnyPage::PersonalPromotions(p) => p.items.len(),
            AnyPage::Revocations(p) => p.items.len(),
            AnyPage::Sales(p) => p.items.len(),
            AnyPage::Ledger(p) => p.items.len(),
        }
    }

    /// Whether it has no items.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Where the next page starts.
    pub fn next_cursor(&self) -> &Cursor {
        match self {
            AnyPage::Customers(p) => &p.next_cursor,
            AnyPage::Balances(p) => &p.next_cursor,
            AnyPage::GiftCards(p) => &p.next_cursor,
            AnyPage::PersonalPromotions(p) => &p.next_cursor,
            AnyPage::Revocations(p) => &p.next_cursor,
            AnyPage::Sales(p) => &p.next_cursor,
            AnyPage::Ledger(p) => &p.next_cursor,
        }
    }

    /// Whether more items wait past it.
    pub fn has_more(&self) -> bool {
        match self {
            AnyPage::Customers(p) => p.has_more,
            AnyPage::Balances(p) => p.has_more,
            AnyPage::GiftCards(p) => p.has_more,
            AnyPage::PersonalPromotions(p) => p.has_more,
            AnyPage::Revocations(p) => p.has_more,
            AnyPage::Sales(p) => p.has_more,
            AnyPage::Ledger(p) => p.has_more,
        }
    }
}

/// The page of `kind` after `query.cursor` for a till of `store`. `sync_key` seals
/// revocations. A customers page carries no lapse notices ([`page_for`]): the page of
/// `GET /v1/deltas/{kind}` and of round protocol 1.
pub fn page(
    conn: &Connection,
    kind: DeltaKind,
    query: &DeltaQuery,
    store: &StoreId,
    sync_key: &SigningKey,
    now: i64,
) -> Result<AnyPage> {
    page_for(conn, kind, query, store, sync_key, now, false)
}

/// [`page`], a customers page carrying the store's lapse notices
/// ([`CustomerDelta::LeftScope`]) when `notices` (round protocol 2). Either way a
/// customers page first tells the store of the customers whose scope there lapsed
/// ([`scope::tell_lapses`]: writes only when there is one).
pub fn page_for(
    conn: &Connection,
    kind: DeltaKind,
    query: &DeltaQuery,
    store: &StoreId,
    sync_key: &SigningKey,
    now: i64,
    notices: bool,
) -> Result<AnyPage> {
    let after = decode_cursor(&query.cursor)?;
    let limit = query.effective_limit(DEFAULT_LIMIT);
    if kind == DeltaKind::Revocations {
        let (item, last, has_more) = revocations::page(conn, sync_key, after, limit, now)?;
        return Ok(AnyPage::Revocations(DeltaPage::new(
            item.into_iter().collect(),
            encode_cursor(last)?,
            has_more,
        )));
    }
    if kind == DeltaKind::Balances {
        let tx = conn.unchecked_transaction()?;
        pending::release_due(&tx, None, now)?;
        tx.commit()?;
    }
    let (entries, next, has_more) = if scope::subjects_of(kind).is_some() {
        let notices = if kind == DeltaKind::Customers {
            let horizon = scope::horizon(now, scope::days(conn)?);
            scope::tell_lapses(conn, store.as_str(), horizon, now)?;
            if notices {
                changes::notices(conn, store.as_str(), after, limit)?
            } else {
                Vec::new()
            }
        } else {
            Vec::new()
        };
        let page = changes::since_in_scope(conn, kind, store.as_str(), after, limit)?;
        page.with_notices(notices, limit)?
    } else {
        // Sales and the ledger: the store's own keys.
        let (changed, has_more) = changes::since(conn, kind, Some(store.as_str()), after, limit)?;
        let next = changed.last().map_or(after, |c| c.seq);
        (
            changed.into_iter().map(Entry::Change).collect(),
            next,
            has_more,
        )
    };
    let next = encode_cursor(next)?;
    if kind == DeltaKind::Customers {
        let mut items = Vec::with_capacity(entries.len());
        for entry in &entries {
            match entry {
                Entry::Change(c) => items.extend(customer(conn, c)?),
                Entry::Notice(n) => items.push(CustomerDelta::LeftScope {
                    customer: CustomerRef::new(n.customer.clone()).map_err(Error::internal)?,
                    at: n.at,
                }),
            }
        }
        return Ok(AnyPage::Customers(DeltaPage::new(items, next, has_more)));
    }
    let changed: Vec<Changed> = entries
        .into_iter()
        .filter_map(|e| match e {
            Entry::Change(c) => Some(c),
            Entry::Notice(_) => None,
        })
        .collect();
    Ok(match kind {
        DeltaKind::Customers => unreachable_customers()?,
        DeltaKind::Balances => AnyPage::Balances(DeltaPage::new(
            collect(conn, &changed, balance)?,
            next,
            has_more,
        )),
        DeltaKind::GiftCards => AnyPage::GiftCards(DeltaPage::new(
            collect(conn, &changed, gift_card)?,
            next,
            has_more,
        )),
        DeltaKind::PersonalPromotions | DeltaKind::Revocations => AnyPage::PersonalPromotions(
            DeltaPage::new(collect(conn, &changed, personal_promotion)?, next, has_more),
        ),
        DeltaKind::Sales => AnyPage::Sales(DeltaPage::new(
            collect(conn, &changed, |conn, c| {
                store_sales::item(conn, &c.key, now)
            })?,
            next,
            has_more,
        )),
        DeltaKind::Ledger => AnyPage::Ledger(DeltaPage::new(
            collect(conn, &changed, |conn, c| ledger::item(conn, &c.key, now))?,
            next,
            has_more,
        )),
    })
}

/// Customers pages are built above; reaching the kind's arm again is a bug.
fn unreachable_customers() -> Result<AnyPage> {
    Err(Error::internal("customers page built twice"))
}

/// The page of `request.kind` after `query.cursor` for a till of `store`, sealed by
/// `sync_key` for `request` (its kind, till, cursor and nonce) under the next `delta-page`
/// sequence.
pub fn signed_page(
    conn: &Connection,
    request: &PageRequest,
    query: &DeltaQuery,
    store: &StoreId,
    sync_key: &SigningKey,
    now: i64,
) -> Result<Vec<u8>> {
    signed_page_counted(conn, request, query, store, sync_key, now).map(|(sealed, _)| sealed)
}

/// [`signed_page`], with the number of items it carries.
pub fn signed_page_counted(
    conn: &Connection,
    request: &PageRequest,
    query: &DeltaQuery,
    store: &StoreId,
    sync_key: &SigningKey,
    now: i64,
) -> Result<(Vec<u8>, usize)> {
    let page = page(conn, request.kind, query, store, sync_key, now)?;
    let json = serde_json::to_vec(&page).map_err(Error::internal)?;
    let sequence = settings::next_sequence(conn, EnvelopePurpose::DeltaPage.code())?;
    let sealed = seal_page(request, &json, sequence, to_u64(now), sync_key)
        .map_err(|e| Error::internal(format!("sealing a delta page: {e}")))?;
    Ok((sealed, page.len()))
}

fn collect<T>(
    conn: &Connection,
    changed: &[Changed],
    item: impl Fn(&Connection, &Changed) -> Result<Option<T>>,
) -> Result<Vec<T>> {
    let mut items = Vec::with_capacity(changed.len());
    for c in changed {
        items.extend(item(conn, c)?);
    }
    Ok(items)
}

fn customer(conn: &Connection, c: &Changed) -> Result<Option<CustomerDelta>> {
    if let Some(record) = customers::record(conn, &c.key)? {
        return Ok(Some(CustomerDelta::Upsert { customer: record }));
    }
    customers::erased_at(conn, &c.key)?
        .map(|erased_at| {
            Ok(CustomerDelta::Erased {
                customer: CustomerRef::new(c.key.clone()).map_err(Error::internal)?,
                erased_at,
            })
        })
        .transpose()
}

fn balance(conn: &Connection, c: &Changed) -> Result<Option<BalanceDelta>> {
    let customer = CustomerRef::new(c.key.clone()).map_err(Error::internal)?;
    Ok(Some(match customers::balance(conn, &c.key)? {
        Some((savings, debt, updated_at)) => {
            let pending = pending::of(conn, &c.key)?;
            BalanceDelta::Upsert {
                customer,
                savings,
                debt,
                updated_at,
                pending: Some(Money::new(pending.amount, savings.currency)),
                next_release_at: pending.next_release_at,
            }
        }
        None => BalanceDelta::Removed { customer },
    }))
}

fn gift_card(conn: &Connection, c: &Changed) -> Result<Option<GiftCardDelta>> {
    Ok(Some(match giftcards::get(conn, &c.key)? {
        Some(card) => GiftCardDelta::Upsert { card },
        None => GiftCardDelta::Removed {
            card: GiftCardRef::new(c.key.clone()).map_err(Error::internal)?,
        },
    }))
}

fn personal_promotion(conn: &Connection, c: &Changed) -> Result<Option<PersonalPromotionDelta>> {
    if let Some(promotion) = customers::promotion(conn, &c.key)? {
        return Ok(Some(PersonalPromotionDelta::Upsert { promotion }));
    }
    let Some(owner) = &c.owner else {
        return Ok(None);
    };
    Ok(Some(PersonalPromotionDelta::Removed {
        id: PromotionId::new(c.key.clone()).map_err(Error::internal)?,
        customer: CustomerRef::new(owner.clone()).map_err(Error::internal)?,
    }))
}
