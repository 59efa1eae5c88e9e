//! Delta pulls: what changed at central since the till's cursor, one kind at a time
//! (revocations, customers, balances, gift cards, personal promotions, the store's sales —
//! in that order), page by page. Each page is applied in **one SQLite transaction together with its
//! cursor**: a crash leaves either the whole page and its cursor or neither, and a restart
//! asks for the same page again (items are current states, so a replay is harmless).
//!
//! ## Signed pages
//!
//! Every page is asked for signed (`Accept: application/cose`) and taken only as a
//! `delta-page` envelope that opens with a sync key of the trust list in force, within its
//! age, for exactly this request — kind, till, cursor and the request's nonce
//! (`tillpass_protocol::sync::open_page`). A page that fails, or comes back unsigned, is
//! refused whole before anything of it is read ([`SyncError::PageRefused`]): it is logged,
//! counted, and its stream waits for the next round while the other streams go on
//! ([`Puller::pull_all`]).
//!
//! ## Balances and what this till spent that central has not seen
//!
//! The till keeps, per savings account, `synced_balance` (central's spendable balance),
//! `synced_pending` and `next_release_at` (central's pending savings, still inside their
//! return window, and when the next of them is released), `pending` (earned here) and
//! `unsynced_spent` (spent here); per gift card, `synced_balance` and `unsynced_spent`.
//! Pending savings — central's and this till's — are never spendable
//! (`store::customers::Savings::available`); they become spendable only when central
//! releases them by its own clock and a balance item says so. The POS session code moves `pending` and `unsynced_spent` in the
//! same transaction as the journal event that records the movement
//! (`store::balances`): savings earned → `pending += a`; redeemed → `unsynced_spent += a`;
//! an earn reversed → `pending -= a`; a redemption reversed → `unsynced_spent -= a`; a
//! gift card debited → `unsynced_spent += a`; credited → `unsynced_spent -= a`.
//!
//! The invariant is: **local = central's balance + the effect of this till's events that
//! central's balance does not reflect yet.** An event is reflected once central applied
//! it; the relay deletes it from the outbox only after central acknowledged it, so an
//! event still in the outbox is *not* reflected — with two exceptions the sync task rules
//! out before it reads a balance:
//!
//! 1. **An upload in flight.** Central may apply a batch while its acknowledgement is on
//!    the way: the balance read would reflect events the outbox still holds. Balance and
//!    gift-card pages are therefore fetched *and applied* while holding the relay's gate
//!    ([`crate::sync::relay::Relay::gate`]): no acknowledgement can arrive in between.
//! 2. **An upload in doubt.** A batch central applied whose answer was lost (a cut
//!    connection, a crash) leaves `till_state.relay_in_doubt` set. Under the gate the sync
//!    task first uploads again — central answers `duplicate` for what it already has, so
//!    the outbox is settled and the mark cleared — and skips money pages if it cannot.
//!    (Uploads always send the oldest unsent events, so one successful answer settles
//!    every event an earlier attempt may have delivered.)
//!
//! Under those two conditions the outbox holds exactly the events central's balance does
//! not reflect, and applying a balance item sets, in one transaction:
//! `synced_balance = savings − debt` (a debt from an offline overspend makes it negative:
//! nothing is spendable until it is paid), `synced_pending = pending` (zero from a central
//! that sends none), `pending` = Σ unsynced earns − earn reversals,
//! `unsynced_spent` = Σ unsynced redemptions − redemption reversals; for a gift card,
//! `synced_balance = balance − debt` and `unsynced_spent` = Σ unsynced debits − credits.
//! These are the values the session code's increments would have given had central's
//! balance been the starting point, so nothing is counted twice or lost. How each event
//! moves these counters is `tillpass_protocol::sync::movement`'s rule, the one central
//! applies. Events central rejected stay in the outbox; one that took money from the
//! holder (a redemption, a debit, an earn taken back) keeps counting — central never
//! applied it, and the customer did take the money at this till — while one that brought
//! money to the holder (an earn, a redemption given back, a credit) stops counting:
//! central will never give that money ([`journal::unreflected`]).
//!
//! An acknowledged event stops counting only when a balance fetched after its
//! acknowledgement is applied — and such a balance always comes, since the event changed
//! the balance at central and so put the account in the change log past the till's cursor.
//!
//! ## Erasure
//! [`CustomerDelta::Erased`] deletes the profile, savings, personal promotions, promotion
//! uses and replay records of the customer, unlinks their sales, sessions and gift cards,
//! records a local revocation of their passes (as central does) and empties the
//! current-customer slot if they are in it. Outbox events naming them stay until central
//! acknowledges them (central refuses them as `customer_erased`).
//!
//! ## Leaving the store's scope
//! Central sends a customer's changes only to the stores whose scope holds them; when the
//! scope lapses it tells the store once, [`CustomerDelta::LeftScope`] (round protocol 2).
//! What the till cached would go stale, so it stops trusting it: the personal promotions
//! go, and — when the till has nothing unsynced for the customer — the profile and the
//! savings account too (and any claim), so the next scan asks central live or uses the
//! token's snapshot, exactly as for a customer the till never held. When the till still
//! counts savings central has not applied (`pending`, `unsynced_spent`, or savings
//! events in the outbox), the account and profile stay and the balance is marked
//! unconfirmed instead ([`claims::unconfirm`]: a `snapshot` claim as of 0), so the next
//! scan still asks central live and any newer claim replaces it, while the counters keep
//! what the journal has not delivered. The gift cards the customer owns
//! (`GiftCardRecord::owner`, kept as `gift_cards.owner_ref`) stop reaching the store with
//! their owner, so they go the same way, each on its own: a card with nothing unsynced
//! (no `unsynced_spent`, no card movement in the outbox, no hold of a sale in progress)
//! goes with any claim; another stays and its balance becomes unconfirmed. Sales, store
//! sales, the ledger, token and promotion uses stay: they are the store's history. It is
//! not an erasure: no revocation.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use rusqlite::{Connection, OptionalExtension, params};
use serde::de::DeserializeOwned;
use tillpass_protocol::sync::{
    Account, BalanceDelta, Cursor, CustomerDelta, CustomerRef, DeltaKind, DeltaPage, DeltaQuery,
    GiftCardDelta, GiftCardStatus, MAX_PAGE_ITEMS, PageRequest, PersonalPromotionDelta,
    RevocationEnvelope, SIGNED_PAGE_MEDIA_TYPE, TillDelta, open_page, paths, segments_problem,
};
use tillpass_protocol::token::{
    RevocationDelta, Subject, SubjectRevocation, TokenKind as TokenType,
};

use super::client::Answer;
use super::{CentralClient, SyncError, blocking, store_sales};
use crate::identify::Identifier;
use crate::store::{Store, StoreError, claims, journal, sql, sync_state, tokens};
use crate::sync::relay::{Relay, RelayError};

/// What pulling deltas needs.
#[derive(Debug, Clone)]
pub struct Puller {
    pub store: Arc<Store>,
    /// The client to central.
    pub client: Arc<CentralClient>,
    /// The relay (its gate and in-doubt uploads).
    pub relay: Arc<Relay>,
    /// The identification pipeline: revocations are reloaded into it, an erased customer
    /// leaves its slot. `None` in benchmarks.
    pub identifier: Option<Arc<Identifier>>,
    /// Items asked per page.
    pub page_limit: u32,
}

/// What one page changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Applied {
    /// Items applied.
    pub items: usize,
    /// References of the customers this pull erased.
    pub erased: Vec<String>,
    /// Whether revocations were added.
    pub revoked: bool,
}

/// A delta page refused whole (see the module documentation).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefusedPage {
    /// The stream.
    pub kind: DeltaKind,
    /// The stable reason.
    pub code: &'static str,
    /// The reason for people.
    pub detail: String,
}

/// What a round of pulls did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pulled {
    /// Items applied.
    pub items: usize,
    /// Pages refused, one per stream at most (a refused page stops its stream).
    pub refused: Vec<RefusedPage>,
}

impl Puller {
    /// Pulls every kind, every page, in [`DeltaKind::ALL`]'s order. Returns the items
    /// applied and the pages refused.
    ///
    /// A page refused for its signature or binding stops its own stream only: it is logged
    /// and returned, and the other streams go on. The store's ledger only feeds the
    /// dashboard, and is treated as the sales are. The store's sales only serve returns at
    /// this till: a failure there (a central that does not offer them yet, a page this
    /// build cannot read) is logged and the round goes on — it must never hold back the
    /// catalog, the sync status or the offline policy.
    pub async fn pull_all(&self) -> Result<Pulled, SyncError> {
        let mut pulled = Pulled::default();
        for kind in DeltaKind::ALL {
            match self.pull(kind).await {
                Ok(n) => pulled.items += n,
                Err(SyncError::PageRefused { kind, code, detail }) => {
                    tracing::warn!(%kind, reason = code, error = %detail, "delta page refused; nothing of it applied");
                    pulled.refused.push(RefusedPage { kind, code, detail });
                }
                Err(SyncError::Status { status: 404, .. }) if kind == DeltaKind::Sales => {
                    tracing::debug!("central does not offer the store's sales yet");
                }
                Err(e) if kind == DeltaKind::Sales => {
                    tracing::warn!(error = %e, "the store's sales could not be pulled; returns of other tills' sales wait");
                }
                Err(SyncError::Status { status: 404, .. }) if kind == DeltaKind::Ledger => {
                    tracing::debug!("central does not offer the store's ledger yet");
                }
                Err(e) if kind == DeltaKind::Ledger => {
                    tracing::warn!(error = %e, "the store's ledger could not be pulled; the Sync page shows it as it was");
                }
                Err(e) => return Err(e),
            }
        }
        Ok(pulled)
    }

    /// Pulls every page of `kind`. Returns the items applied.
    pub async fn pull(&self, kind: DeltaKind) -> Result<usize, SyncError> {
        let mut total = 0;
        loop {
            let (applied, has_more) = self.page(kind).await?;
            total += applied;
            if !has_more {
                return Ok(total);
            }
        }
    }

    /// Fetches and applies one page of `kind`; returns the items applied and whether more
    /// wait.
    pub async fn page(&self, kind: DeltaKind) -> Result<(usize, bool), SyncError> {
        let money = matches!(kind, DeltaKind::Balances | DeltaKind::GiftCards);
        let gate = if money {
            let guard = self.relay.gate().lock().await;
            if !self.settled(&guard).await? {
                return Err(SyncError::Network(
                    "a journal upload is still in doubt; balances wait".into(),
                ));
            }
            Some(guard)
        } else {
            None
        };
        let store = self.store.clone();
        let cursor = blocking(move || Ok(sync_state::cursor(&store.conn(), kind)?)).await?;
        let query = DeltaQuery {
            cursor: cursor.clone(),
            limit: Some(self.page_limit.clamp(1, MAX_PAGE_ITEMS)),
        };
        let path = format!("{}?{}", paths::deltas(kind), query.to_query_string());
        let answer = self
            .client
            .get_accepting(&path, SIGNED_PAGE_MEDIA_TYPE)
            .await?;
        if !answer.is_success() {
            return Err(answer.error());
        }
        let body = self.verified(kind, &cursor, &answer)?;
        let (applied, has_more) = self.apply(kind, &cursor, body).await?;
        drop(gate);
        Ok((applied, has_more))
    }

    /// Applies a verified page of `kind` asked from `cursor` (its JSON bytes) in one
    /// transaction with its cursor, then what must follow outside the store; returns the
    /// items applied and whether more wait. The caller holds the relay's gate for money
    /// pages.
    pub async fn apply(
        &self,
        kind: DeltaKind,
        cursor: &Cursor,
        body: Vec<u8>,
    ) -> Result<(usize, bool), SyncError> {
        let now = i64::try_from(self.client.clock().now()).unwrap_or(i64::MAX);
        let store = self.store.clone();
        let (applied, has_more, next) = match kind {
            DeltaKind::Customers => {
                let page: DeltaPage<CustomerDelta> = json(&body, "customers page")?;
                apply_in(store, kind, page, move |c, items| {
                    apply_customers(c, items, now)
                })
                .await?
            }
            DeltaKind::Balances => {
                let page: DeltaPage<BalanceDelta> = json(&body, "balances page")?;
                apply_in(store, kind, page, move |c, items| {
                    apply_balances(c, items, now)
                })
                .await?
            }
            DeltaKind::GiftCards => {
                let page: DeltaPage<GiftCardDelta> = json(&body, "gift cards page")?;
                apply_in(store, kind, page, move |c, items| {
                    apply_gift_cards(c, items, now)
                })
                .await?
            }
            DeltaKind::PersonalPromotions => {
                let page: DeltaPage<PersonalPromotionDelta> =
                    json(&body, "personal promotions page")?;
                apply_in(store, kind, page, apply_personal_promotions).await?
            }
            DeltaKind::Sales => {
                // Items one by one: one this build cannot read is skipped, not the page.
                let page: DeltaPage<serde_json::Value> = json(&body, "sales page")?;
                apply_in(store, kind, page, store_sales::apply_sales).await?
            }
            DeltaKind::Ledger => {
                // Items one by one: one this build cannot read is skipped, not the page.
                let page: DeltaPage<serde_json::Value> = json(&body, "ledger page")?;
                apply_in(store, kind, page, move |c, items| {
                    super::ledger::apply_ledger(c, items, now)
                })
                .await?
            }
            DeltaKind::Revocations => {
                let page: DeltaPage<RevocationEnvelope> = json(&body, "revocations page")?;
                let at = self.client.clock().now();
                apply_in(store, kind, page, move |c, items| {
                    apply_revocations(c, items, at)
                })
                .await?
            }
        };
        if has_more && next == *cursor {
            return Err(SyncError::Refused(format!(
                "{kind} page says more follow but its cursor did not move"
            )));
        }
        self.after(&applied)?;
        if applied.items > 0 {
            tracing::debug!(%kind, items = applied.items, "delta page applied");
        }
        Ok((applied.items, has_more))
    }

    /// Whether money pages may be read now (the caller holds the relay's `gate`): no
    /// upload in doubt, or one settled by uploading again.
    pub async fn settled(&self, gate: &tokio::sync::MutexGuard<'_, ()>) -> Result<bool, SyncError> {
        if self.relay.in_doubt().await.map_err(relay_error)? {
            self.relay.upload_locked(gate).await.map_err(relay_error)?;
            return Ok(!self.relay.in_doubt().await.map_err(relay_error)?);
        }
        Ok(true)
    }

    /// The page's JSON bytes, once the answer proved to be a page signed by central's sync
    /// key for this very request; [`SyncError::PageRefused`] otherwise.
    fn verified(
        &self,
        kind: DeltaKind,
        cursor: &Cursor,
        answer: &Answer,
    ) -> Result<Vec<u8>, SyncError> {
        let refused =
            |code: &'static str, detail: String| SyncError::PageRefused { kind, code, detail };
        let signed = answer
            .content_type
            .as_deref()
            .and_then(|t| t.split(';').next())
            .is_some_and(|t| t.trim().eq_ignore_ascii_case(SIGNED_PAGE_MEDIA_TYPE));
        if !signed {
            return Err(refused(
                "unsigned",
                "central answered an unsigned page (is central older than this till?)".into(),
            ));
        }
        let request = PageRequest {
            kind,
            till: self.client.till().clone(),
            cursor: cursor.clone(),
            nonce: answer.nonce,
        };
        let now = self.client.clock().now();
        self.client.with_trust(|trust| {
            let Some(trust) = trust else {
                return Err(refused(
                    "no_trust_list",
                    "no trust list to check the page's signature against".into(),
                ));
            };
            open_page(&answer.body, &request, trust, now)
                .map_err(|e| refused(e.code(), e.to_string()))
        })
    }

    /// What must follow a committed page outside the store.
    fn after(&self, applied: &Applied) -> Result<(), SyncError> {
        let Some(identifier) = &self.identifier else {
            return Ok(());
        };
        if applied.revoked || !applied.erased.is_empty() {
            identifier.reload_revocations()?;
        }
        if let Some(current) = identifier.slot().current()
            && applied.erased.contains(&current.subject)
        {
            identifier.slot().clear();
        }
        Ok(())
    }
}

fn relay_error(e: RelayError) -> SyncError {
    match e {
        RelayError::Store(e) => SyncError::Store(e),
        // Central's `Retry-After` is kept, so the round waits as asked.
        RelayError::Busy {
            retry_after,
            detail,
        } => SyncError::Status {
            status: 503,
            retry_after: Some(retry_after),
            detail,
        },
        other => SyncError::Network(other.to_string()),
    }
}

/// Applies a page and stores its cursor in one transaction.
async fn apply_in<T: Send + 'static>(
    store: Arc<Store>,
    kind: DeltaKind,
    page: DeltaPage<T>,
    apply: impl FnOnce(&Connection, &[T]) -> Result<Applied, SyncError> + Send + 'static,
) -> Result<(Applied, bool, tillpass_protocol::sync::Cursor), SyncError> {
    blocking(move || {
        let mut conn = store.conn();
        let tx = conn.transaction().map_err(sql)?;
        let applied = apply(&tx, &page.items)?;
        sync_state::set_cursor(&tx, kind, &page.next_cursor)?;
        tx.commit().map_err(sql)?;
        Ok((applied, page.has_more, page.next_cursor))
    })
    .await
}

/// Reads a verified page's JSON.
fn json<T: DeserializeOwned>(body: &[u8], what: &str) -> Result<T, SyncError> {
    serde_json::from_slice(body).map_err(|e| SyncError::Refused(format!("{what}: {e}")))
}

/// Reads a page body; exposed for tests of the wire shapes.
pub fn parse_page<T: DeserializeOwned>(body: &[u8]) -> Result<DeltaPage<T>, SyncError> {
    serde_json::from_slice(body).map_err(|e| SyncError::Refused(e.to_string()))
}

/// Creates a placeholder profile (earn-only until central's profile arrives) so that a
/// balance or an offer may refer to it.
fn ensure_customer(conn: &Connection, customer: &str, now: i64) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO customers(customer_ref, earn_only, created_locally, updated_at)
         VALUES (?1, 1, 0, ?2) ON CONFLICT(customer_ref) DO NOTHING",
    )
    .and_then(|mut s| s.execute(params![customer, now]))
    .map_err(sql)?;
    Ok(())
}

/// Applies customer profiles and erasures.
pub fn apply_customers(
    conn: &Connection,
    items: &[CustomerDelta],
    now: i64,
) -> Result<Applied, SyncError> {
    let mut applied = Applied::default();
    let mut upsert = conn
        .prepare_cached(
            "INSERT INTO customers(customer_ref, first_name, tier, lang, consent_receipts,
               consent_marketing, earn_only, created_locally, updated_at, segments)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 0, ?8, ?9)
             ON CONFLICT(customer_ref) DO UPDATE SET first_name = excluded.first_name,
               tier = excluded.tier, lang = excluded.lang,
               consent_receipts = excluded.consent_receipts,
               consent_marketing = excluded.consent_marketing,
               earn_only = excluded.earn_only, created_locally = 0,
               updated_at = excluded.updated_at, segments = excluded.segments",
        )
        .map_err(sql)?;
    for item in items {
        match item {
            CustomerDelta::Upsert { customer } => {
                let name = Some(customer.first_name.as_str()).filter(|n| !n.is_empty());
                // Segments this build cannot hold are left out (the customer then meets
                // no segment condition), so that one bad profile never stops the stream.
                let segments: &[String] = match segments_problem(&customer.segments) {
                    None => &customer.segments,
                    Some(problem) => {
                        tracing::warn!(customer = customer.customer.as_str(), %problem,
                            "customer segments left out");
                        &[]
                    }
                };
                let segments = serde_json::to_string(segments)
                    .map_err(|e| SyncError::Refused(e.to_string()))?;
                upsert
                    .execute(params![
                        customer.customer.as_str(),
                        name,
                        customer.tier,
                        customer.lang.code(),
                        customer.consent.receipts,
                        customer.consent.marketing,
                        customer.earn_only,
                        now,
                        segments
                    ])
                    .map_err(sql)?;
            }
            CustomerDelta::Erased {
                customer,
                erased_at,
            } => {
                erase(conn, customer.as_str(), *erased_at)?;
                applied.erased.push(customer.as_str().to_owned());
            }
            CustomerDelta::LeftScope { customer, .. } => {
                leave_scope(conn, customer.as_str())?;
            }
        }
        applied.items += 1;
    }
    Ok(applied)
}

/// Stops trusting what the till cached of a customer its store no longer receives updates
/// for (see the module documentation, "Leaving the store's scope").
fn leave_scope(conn: &Connection, customer: &str) -> Result<(), SyncError> {
    conn.execute(
        "DELETE FROM personal_promotions WHERE customer_ref = ?1",
        [customer],
    )
    .map_err(sql)?;
    let wanted = HashSet::from([customer]);
    let in_outbox = savings_in_outbox(conn, &wanted)?.contains_key(customer);
    let counted: Option<bool> = conn
        .prepare_cached(
            "SELECT pending <> 0 OR unsynced_spent <> 0 FROM savings_accounts
             WHERE customer_ref = ?1",
        )
        .map_err(sql)?
        .query_row([customer], |r| r.get(0))
        .optional()
        .map_err(sql)?;
    match counted {
        Some(counted) if counted || in_outbox => {
            // What this till has not synced lives in the account's counters: keep them,
            // and the account with its profile; only the balance stops being central's.
            claims::unconfirm(conn, claims::Kind::Customer, customer)?;
        }
        _ => {
            // Nothing unsynced: the customer goes as if never held (the account and
            // offers go with the profile). The store's sales, ledger and promotion uses
            // stay: they are the store's history.
            claims::forget(conn, claims::Kind::Customer, customer)?;
            conn.execute("DELETE FROM customers WHERE customer_ref = ?1", [customer])
                .map_err(sql)?;
        }
    }
    leave_scope_cards(conn, customer)
}

/// [`leave_scope`] for the gift cards `customer` owns: each goes, or when this till has
/// not synced all it did with the card, stays with its balance unconfirmed.
fn leave_scope_cards(conn: &Connection, customer: &str) -> Result<(), SyncError> {
    let owned: Vec<(String, bool)> = conn
        .prepare_cached(
            "SELECT card_ref, unsynced_spent <> 0
               OR EXISTS (SELECT 1 FROM gift_card_holds h WHERE h.card_ref = g.card_ref)
             FROM gift_cards g WHERE owner_ref = ?1 ORDER BY card_ref",
        )
        .map_err(sql)?
        .query_map([customer], |r| Ok((r.get(0)?, r.get(1)?)))
        .map_err(sql)?
        .collect::<Result<_, _>>()
        .map_err(sql)?;
    if owned.is_empty() {
        return Ok(());
    }
    let wanted: HashSet<&str> = owned.iter().map(|(card, _)| card.as_str()).collect();
    let in_outbox = cards_in_outbox(conn, &wanted)?;
    for (card, counted) in &owned {
        if *counted || in_outbox.contains_key(card) {
            claims::unconfirm(conn, claims::Kind::GiftCard, card)?;
        } else {
            claims::forget(conn, claims::Kind::GiftCard, card)?;
            conn.execute("DELETE FROM gift_cards WHERE card_ref = ?1", [card])
                .map_err(sql)?;
        }
    }
    Ok(())
}

/// Deletes every trace of an erased customer (see the module documentation).
fn erase(conn: &Connection, customer: &str, erased_at: i64) -> Result<(), StoreError> {
    for statement in [
        // The reference also sits inside the stored receipts and sessions (and a session
        // keeps the pass it was scanned with): scrub them before unlinking the rows.
        "UPDATE sales SET receipt = json_set(receipt, '$.customer_ref', NULL)
         WHERE customer_ref = ?1",
        "UPDATE pos_sessions SET body = json_set(body, '$.customer_ref', NULL,
           '$.customer_scan', NULL) WHERE customer_ref = ?1",
        "DELETE FROM balance_claims WHERE kind = 'customer' AND subject = ?1",
        "DELETE FROM personal_promotions WHERE customer_ref = ?1",
        "DELETE FROM savings_accounts WHERE customer_ref = ?1",
        "DELETE FROM promotion_uses WHERE customer_ref = ?1",
        "UPDATE gift_cards SET owner_ref = NULL WHERE owner_ref = ?1",
        "UPDATE sales SET customer_ref = NULL WHERE customer_ref = ?1",
        "UPDATE pos_sessions SET customer_ref = NULL WHERE customer_ref = ?1",
        "DELETE FROM customers WHERE customer_ref = ?1",
    ] {
        conn.execute(statement, [customer]).map_err(sql)?;
    }
    conn.execute(
        "DELETE FROM token_uses WHERE kind = ?1 AND subject = ?2",
        params![TokenType::CustomerPass.code(), customer.as_bytes()],
    )
    .map_err(sql)?;
    if let Some(subject) = Subject::new(customer.as_bytes()) {
        let before = u64::try_from(erased_at.saturating_add(1)).unwrap_or(0);
        tokens::add_revocations(
            conn,
            &RevocationDelta {
                subjects: vec![SubjectRevocation {
                    kind: TokenType::CustomerPass,
                    subject,
                    before,
                }],
                ..RevocationDelta::default()
            },
        )?;
    }
    Ok(())
}

/// The savings movements still in the outbox, for the customers in `wanted`: per customer,
/// `pending` is savings earned less earns taken back, `spent` redemptions less redemptions
/// given back (`tillpass_protocol::sync::movement`).
pub fn savings_in_outbox(
    conn: &Connection,
    wanted: &HashSet<&str>,
) -> Result<HashMap<String, TillDelta>, StoreError> {
    let mut sums: HashMap<String, TillDelta> = HashMap::new();
    for event in journal::unreflected(
        conn,
        &["savings_earned", "savings_redeemed", "savings_reversed"],
    )? {
        if let Some(m) = event.payload.movement()
            && let Account::Savings(customer) = m.account
            && wanted.contains(customer.as_str())
        {
            let sum = sums.entry(customer.as_str().to_owned()).or_default();
            *sum = sum.plus(m.till_delta());
        }
    }
    Ok(sums)
}

/// The gift-card movements still in the outbox, for the cards in `wanted`: per card,
/// debited less credited.
pub fn cards_in_outbox(
    conn: &Connection,
    wanted: &HashSet<&str>,
) -> Result<HashMap<String, i64>, StoreError> {
    let mut sums: HashMap<String, i64> = HashMap::new();
    for event in journal::unreflected(conn, &["gift_card_debited", "gift_card_credited"])? {
        if let Some(m) = event.payload.movement()
            && let Account::GiftCard(card) = m.account
            && wanted.contains(card.as_str())
        {
            let sum = sums.entry(card.as_str().to_owned()).or_default();
            *sum = sum.saturating_add(m.till_delta().spent);
        }
    }
    Ok(sums)
}

/// Applies savings balances (see the module documentation for the arithmetic).
pub fn apply_balances(
    conn: &Connection,
    items: &[BalanceDelta],
    now: i64,
) -> Result<Applied, SyncError> {
    let wanted: HashSet<&str> = items
        .iter()
        .map(|i| match i {
            BalanceDelta::Upsert { customer, .. } | BalanceDelta::Removed { customer } => {
                customer.as_str()
            }
        })
        .collect();
    let unreflected = savings_in_outbox(conn, &wanted)?;
    let mut upsert = conn
        .prepare_cached(
            "INSERT INTO savings_accounts(customer_ref, currency, synced_balance, pending,
               unsynced_spent, synced_pending, next_release_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
             ON CONFLICT(customer_ref) DO UPDATE SET currency = excluded.currency,
               synced_balance = excluded.synced_balance, pending = excluded.pending,
               unsynced_spent = excluded.unsynced_spent,
               synced_pending = excluded.synced_pending,
               next_release_at = excluded.next_release_at",
        )
        .map_err(sql)?;
    let mut applied = Applied::default();
    for item in items {
        match item {
            BalanceDelta::Upsert {
                customer,
                savings,
                debt,
                pending,
                next_release_at,
                ..
            } => {
                ensure_customer(conn, customer.as_str(), now)?;
                let local = unreflected
                    .get(customer.as_str())
                    .copied()
                    .unwrap_or_default();
                upsert
                    .execute(params![
                        customer.as_str(),
                        savings.currency.code(),
                        savings.amount.saturating_sub(debt.amount),
                        local.pending,
                        local.spent,
                        pending.map_or(0, |p| p.amount.max(0)),
                        next_release_at
                    ])
                    .map_err(sql)?;
                claims::forget(conn, claims::Kind::Customer, customer.as_str())?;
            }
            BalanceDelta::Removed { customer } => {
                conn.execute(
                    "DELETE FROM savings_accounts WHERE customer_ref = ?1",
                    [customer.as_str()],
                )
                .map_err(sql)?;
                claims::forget(conn, claims::Kind::Customer, customer.as_str())?;
            }
        }
        applied.items += 1;
    }
    Ok(applied)
}

/// Applies gift cards (see the module documentation for the arithmetic).
pub fn apply_gift_cards(
    conn: &Connection,
    items: &[GiftCardDelta],
    now: i64,
) -> Result<Applied, SyncError> {
    let wanted: HashSet<&str> = items
        .iter()
        .map(|i| match i {
            GiftCardDelta::Upsert { card } => card.card.as_str(),
            GiftCardDelta::Removed { card } => card.as_str(),
        })
        .collect();
    let unreflected = cards_in_outbox(conn, &wanted)?;
    let mut upsert = conn
        .prepare_cached(
            "INSERT INTO gift_cards(card_ref, currency, synced_balance, unsynced_spent,
               expires_at, blocked, updated_at, owner_ref)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
             ON CONFLICT(card_ref) DO UPDATE SET currency = excluded.currency,
               synced_balance = excluded.synced_balance,
               unsynced_spent = excluded.unsynced_spent, expires_at = excluded.expires_at,
               blocked = excluded.blocked, updated_at = excluded.updated_at,
               owner_ref = excluded.owner_ref",
        )
        .map_err(sql)?;
    let mut applied = Applied::default();
    for item in items {
        match item {
            GiftCardDelta::Upsert { card } => {
                upsert
                    .execute(params![
                        card.card.as_str(),
                        card.balance.currency.code(),
                        card.balance.amount.saturating_sub(card.debt.amount),
                        unreflected.get(card.card.as_str()).copied().unwrap_or(0),
                        card.expires_at,
                        card.status == GiftCardStatus::Blocked,
                        now,
                        card.owner.as_ref().map(CustomerRef::as_str)
                    ])
                    .map_err(sql)?;
                claims::forget(conn, claims::Kind::GiftCard, card.card.as_str())?;
            }
            GiftCardDelta::Removed { card } => {
                conn.execute(
                    "DELETE FROM gift_card_holds WHERE card_ref = ?1",
                    [card.as_str()],
                )
                .map_err(sql)?;
                conn.execute(
                    "DELETE FROM gift_cards WHERE card_ref = ?1",
                    [card.as_str()],
                )
                .map_err(sql)?;
                claims::forget(conn, claims::Kind::GiftCard, card.as_str())?;
            }
        }
        applied.items += 1;
    }
    Ok(applied)
}

/// Applies personal promotions.
pub fn apply_personal_promotions(
    conn: &Connection,
    items: &[PersonalPromotionDelta],
) -> Result<Applied, SyncError> {
    let mut applied = Applied::default();
    for item in items {
        match item {
            PersonalPromotionDelta::Upsert { promotion: p } => {
                ensure_customer(conn, p.customer.as_str(), 0)?;
                // The offer may have moved to another promotion: drop its old row.
                conn.execute(
                    "DELETE FROM personal_promotions WHERE offer_id = ?1
                     AND NOT (customer_ref = ?2 AND promotion_id = ?3)",
                    params![p.id.as_str(), p.customer.as_str(), p.promotion_id.as_str()],
                )
                .map_err(sql)?;
                conn.execute(
                    "INSERT INTO personal_promotions(customer_ref, promotion_id, active, offer_id,
                       valid_from, valid_until) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                     ON CONFLICT(customer_ref, promotion_id) DO UPDATE SET
                       active = excluded.active, offer_id = excluded.offer_id,
                       valid_from = excluded.valid_from, valid_until = excluded.valid_until",
                    params![
                        p.customer.as_str(),
                        p.promotion_id.as_str(),
                        p.enabled,
                        p.id.as_str(),
                        p.valid_from,
                        p.valid_until
                    ],
                )
                .map_err(sql)?;
            }
            PersonalPromotionDelta::Removed { id, customer } => {
                conn.execute(
                    "DELETE FROM personal_promotions WHERE offer_id = ?1 AND customer_ref = ?2",
                    params![id.as_str(), customer.as_str()],
                )
                .map_err(sql)?;
            }
        }
        applied.items += 1;
    }
    Ok(applied)
}

/// Opens each revocations envelope with the trust list in force (purpose `revocations`,
/// a sync key, sequence above the last applied) and records its revocations.
pub fn apply_revocations(
    conn: &Connection,
    items: &[RevocationEnvelope],
    now: u64,
) -> Result<Applied, SyncError> {
    let mut applied = Applied::default();
    if items.is_empty() {
        return Ok(applied);
    }
    let trust = tokens::load_trust(conn)
        .map_err(|e| SyncError::Refused(e.to_string()))?
        .ok_or_else(|| SyncError::Refused("no trust list to open revocations with".into()))?;
    let mut last = sync_state::revocations_sequence(conn)?;
    for item in items {
        let (delta, header) = RevocationDelta::open(&item.envelope, &trust.store, now, last)
            .map_err(|e| SyncError::Refused(format!("revocations envelope: {}: {e}", e.code())))?;
        tokens::add_revocations(conn, &delta)?;
        last = header.sequence;
        applied.items += delta.kids.len() + delta.token_ids.len() + delta.subjects.len();
        applied.revoked = true;
    }
    sync_state::set_revocations_sequence(conn, last)?;
    Ok(applied)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::customers;
    use crate::store::journal::{self, TillIdentity};
    use tillpass_protocol::money::{Currency, Money};
    use tillpass_protocol::sync::{
        Consent, CustomerRecord, CustomerRef, EventPayload, GiftCardMovement, GiftCardRecord,
        GiftCardRef, Reverses, SavingsMovement, SavingsReversal, StoreId, TillId,
    };

    fn who() -> TillIdentity {
        TillIdentity {
            store: StoreId::new("S1").unwrap(),
            till: TillId::new("S1-T1").unwrap(),
        }
    }

    fn eur(a: i64) -> Money {
        Money::new(a, Currency::EUR)
    }

    fn c(r: &str) -> CustomerRef {
        CustomerRef::new(r).unwrap()
    }

    fn savings(conn: &Connection, r: &str) -> (i64, i64, i64) {
        conn.query_row(
            "SELECT synced_balance, pending, unsynced_spent FROM savings_accounts
             WHERE customer_ref = ?1",
            [r],
            |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
        )
        .unwrap()
    }

    /// What the session code does to savings with each event (`store::balances`).
    fn moved(conn: &Connection, r: &str, pending: i64, spent: i64) {
        conn.execute(
            "UPDATE savings_accounts SET pending = pending + ?2,
               unsynced_spent = unsynced_spent + ?3 WHERE customer_ref = ?1",
            params![r, pending, spent],
        )
        .unwrap();
    }

    fn card_spent(conn: &Connection, card: &str, spent: i64) {
        conn.execute(
            "UPDATE gift_cards SET unsynced_spent = unsynced_spent + ?2 WHERE card_ref = ?1",
            params![card, spent],
        )
        .unwrap();
    }

    fn card(conn: &Connection, card: &str) -> Option<(i64, i64, bool)> {
        use rusqlite::OptionalExtension;
        conn.query_row(
            "SELECT synced_balance, unsynced_spent, blocked FROM gift_cards WHERE card_ref = ?1",
            [card],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()
        .unwrap()
    }

    /// A sale as the session code records it: the movement and its event together.
    fn redeem(conn: &Connection, r: &str, amount: i64) -> String {
        moved(conn, r, 0, amount);
        journal::append(
            conn,
            &who(),
            1,
            EventPayload::SavingsRedeemed(SavingsMovement {
                customer: c(r),
                amount: eur(amount),
                sale_id: None,
                basis: None,
            }),
        )
        .unwrap()
        .id
        .to_string()
    }

    fn upsert(r: &str, balance: i64, debt: i64) -> BalanceDelta {
        BalanceDelta::Upsert {
            customer: c(r),
            savings: eur(balance),
            debt: eur(debt),
            updated_at: 1,
            pending: None,
            next_release_at: None,
        }
    }

    fn with_pending(r: &str, balance: i64, pending: i64, release: Option<i64>) -> BalanceDelta {
        BalanceDelta::Upsert {
            customer: c(r),
            savings: eur(balance),
            debt: eur(0),
            updated_at: 1,
            pending: Some(eur(pending)),
            next_release_at: release,
        }
    }

    fn earned(conn: &Connection, r: &str, amount: i64) {
        moved(conn, r, amount, 0);
        journal::append(
            conn,
            &who(),
            1,
            EventPayload::SavingsEarned(SavingsMovement {
                customer: c(r),
                amount: eur(amount),
                sale_id: None,
                basis: None,
            }),
        )
        .unwrap();
    }

    /// (available, pending) as the POS sees them.
    fn spendable(conn: &Connection, r: &str) -> (i64, i64) {
        let s = customers::lookup(conn, r, 10)
            .unwrap()
            .unwrap()
            .savings
            .unwrap();
        (s.available(), s.pending())
    }

    /// The repro at the till: €39.90 earned, pending for 14 days. Before central
    /// kept pending savings apart, one sync turned them into spendable savings.
    #[test]
    fn pending_savings_stay_unspendable_across_a_sync_until_central_releases_them() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let conn = store.conn();
        apply_balances(&conn, &[with_pending("ana", 0, 0, None)], 1).unwrap();
        earned(&conn, "ana", 3990);
        assert_eq!(spendable(&conn, "ana"), (0, 3990), "earned here: pending");
        // Central applied the earn (the relay deleted it) and holds it pending.
        conn.execute("DELETE FROM outbox", []).unwrap();
        apply_balances(&conn, &[with_pending("ana", 0, 3990, Some(99))], 2).unwrap();
        assert_eq!(
            spendable(&conn, "ana"),
            (0, 3990),
            "after a sync: still pending"
        );
        let view = customers::lookup(&conn, "ana", 10).unwrap().unwrap();
        assert_eq!(view.savings.unwrap().next_release_at, Some(99));

        // A return here takes back pending first; beyond it, spendable savings.
        apply_balances(&conn, &[with_pending("ana", 500, 3990, Some(99))], 3).unwrap();
        assert_eq!(spendable(&conn, "ana"), (500, 3990));
        moved(&conn, "ana", -3990, 100);
        journal::append(
            &conn,
            &who(),
            1,
            EventPayload::SavingsReversed(SavingsReversal {
                customer: c("ana"),
                amount: eur(4090),
                reverses: Reverses::Earn,
                original_event: None,
                sale_id: None,
            }),
        )
        .unwrap();
        assert_eq!(spendable(&conn, "ana"), (400, 0));
        // Central has not seen the return yet: the same split after a sync.
        apply_balances(&conn, &[with_pending("ana", 500, 3990, Some(99))], 4).unwrap();
        assert_eq!(spendable(&conn, "ana"), (400, 0));
        // Central applied it (pending first, then spendable).
        conn.execute("DELETE FROM outbox", []).unwrap();
        apply_balances(&conn, &[with_pending("ana", 400, 0, None)], 5).unwrap();
        assert_eq!(spendable(&conn, "ana"), (400, 0));

        // Released by central: spendable.
        apply_balances(&conn, &[with_pending("bob", 0, 700, Some(50))], 6).unwrap();
        assert_eq!(spendable(&conn, "bob"), (0, 700));
        apply_balances(&conn, &[with_pending("bob", 700, 0, None)], 7).unwrap();
        assert_eq!(spendable(&conn, "bob"), (700, 0));
        // A central that sends no pending figure: nothing pending.
        apply_balances(&conn, &[upsert("bob", 700, 0)], 8).unwrap();
        assert_eq!(spendable(&conn, "bob"), (700, 0));
    }

    #[test]
    fn a_balance_never_counts_a_spend_twice_or_loses_one() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let conn = store.conn();
        apply_balances(&conn, &[upsert("ana", 1000, 0)], 1).unwrap();
        assert_eq!(savings(&conn, "ana"), (1000, 0, 0));
        let first = redeem(&conn, "ana", 100);
        redeem(&conn, "ana", 50);
        moved(&conn, "ana", 30, 0);
        journal::append(
            &conn,
            &who(),
            1,
            EventPayload::SavingsEarned(SavingsMovement {
                customer: c("ana"),
                amount: eur(30),
                sale_id: None,
                basis: None,
            }),
        )
        .unwrap();
        assert_eq!(savings(&conn, "ana"), (1000, 30, 150));
        // Central has not seen anything yet: the same balance again changes nothing.
        apply_balances(&conn, &[upsert("ana", 1000, 0)], 2).unwrap();
        assert_eq!(savings(&conn, "ana"), (1000, 30, 150));
        // Central acknowledged the first redemption (the relay deleted it) and its
        // balance reflects it: 100 moves from unsynced to synced, nothing else.
        conn.execute("DELETE FROM outbox WHERE event_id = ?1", [&first])
            .unwrap();
        apply_balances(&conn, &[upsert("ana", 900, 0)], 3).unwrap();
        assert_eq!(savings(&conn, "ana"), (900, 30, 50));
        // A redemption reversed locally (a return) is re-credited.
        moved(&conn, "ana", 0, -50);
        journal::append(
            &conn,
            &who(),
            1,
            EventPayload::SavingsReversed(SavingsReversal {
                customer: c("ana"),
                amount: eur(50),
                reverses: Reverses::Redemption,
                original_event: None,
                sale_id: None,
            }),
        )
        .unwrap();
        apply_balances(&conn, &[upsert("ana", 900, 0)], 4).unwrap();
        assert_eq!(savings(&conn, "ana"), (900, 30, 0));
        // Everything acknowledged and reflected.
        conn.execute("DELETE FROM outbox", []).unwrap();
        apply_balances(&conn, &[upsert("ana", 880, 0)], 5).unwrap();
        assert_eq!(savings(&conn, "ana"), (880, 0, 0));
        // A debt leaves nothing spendable.
        apply_balances(&conn, &[upsert("ana", 0, 70)], 6).unwrap();
        assert_eq!(savings(&conn, "ana"), (-70, 0, 0));
        let view = customers::lookup(&conn, "ana", 10).unwrap().unwrap();
        assert_eq!(view.savings.unwrap().available(), 0);
        assert!(view.earn_only, "a placeholder until the profile arrives");
        apply_balances(&conn, &[BalanceDelta::Removed { customer: c("ana") }], 7).unwrap();
        assert!(
            customers::lookup(&conn, "ana", 10)
                .unwrap()
                .unwrap()
                .savings
                .is_none()
        );
    }

    #[test]
    fn gift_cards_keep_unsynced_debits_and_credits() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let conn = store.conn();
        let delta = |balance, debt, status| GiftCardDelta::Upsert {
            card: GiftCardRecord {
                card: GiftCardRef::new("G1").unwrap(),
                balance: eur(balance),
                debt: eur(debt),
                status,
                expires_at: None,
                owner: None,
            },
        };
        apply_gift_cards(&conn, &[delta(5000, 0, GiftCardStatus::Active)], 1).unwrap();
        for (payload, spent) in [
            (
                EventPayload::GiftCardDebited(GiftCardMovement {
                    card: GiftCardRef::new("G1").unwrap(),
                    amount: eur(2000),
                    sale_id: None,
                    hold_id: None,
                    basis: None,
                }),
                2000,
            ),
            (
                EventPayload::GiftCardCredited(GiftCardMovement {
                    card: GiftCardRef::new("G1").unwrap(),
                    amount: eur(500),
                    sale_id: None,
                    hold_id: None,
                    basis: None,
                }),
                -500,
            ),
        ] {
            card_spent(&conn, "G1", spent);
            journal::append(&conn, &who(), 1, payload).unwrap();
        }
        apply_gift_cards(&conn, &[delta(5000, 0, GiftCardStatus::Blocked)], 2).unwrap();
        assert_eq!(card(&conn, "G1"), Some((5000, 1500, true)));
        conn.execute("DELETE FROM outbox", []).unwrap();
        // Another till overspent it offline: central's corrected balance, with the debt.
        apply_gift_cards(&conn, &[delta(0, 500, GiftCardStatus::Active)], 3).unwrap();
        assert_eq!(card(&conn, "G1"), Some((-500, 0, false)));
        apply_gift_cards(
            &conn,
            &[GiftCardDelta::Removed {
                card: GiftCardRef::new("G1").unwrap(),
            }],
            4,
        )
        .unwrap();
        assert_eq!(card(&conn, "G1"), None);
    }

    /// Central rejected some of this till's events. A rejected event that took money from
    /// the holder (a redemption, a gift-card debit, an earn taken back) keeps counting: the
    /// customer did take the money here. One that brought money to the holder (an earn, a
    /// redemption given back, a gift card credited) stops counting: central will never give
    /// that money, so the till must not let it be spent.
    #[test]
    fn rejected_events_count_only_when_they_took_money_from_the_holder() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let conn = store.conn();
        apply_balances(&conn, &[upsert("ana", 1000, 0)], 1).unwrap();
        let card_delta = GiftCardDelta::Upsert {
            card: GiftCardRecord {
                card: GiftCardRef::new("G1").unwrap(),
                balance: eur(5000),
                debt: eur(0),
                status: GiftCardStatus::Active,
                expires_at: None,
                owner: None,
            },
        };
        apply_gift_cards(&conn, std::slice::from_ref(&card_delta), 1).unwrap();
        let reversal = |amount, reverses| {
            EventPayload::SavingsReversed(SavingsReversal {
                customer: c("ana"),
                amount: eur(amount),
                reverses,
                original_event: None,
                sale_id: None,
            })
        };
        let gift = |amount| GiftCardMovement {
            card: GiftCardRef::new("G1").unwrap(),
            amount: eur(amount),
            sale_id: None,
            hold_id: None,
            basis: None,
        };
        let movement = |amount| SavingsMovement {
            customer: c("ana"),
            amount: eur(amount),
            sale_id: None,
            basis: None,
        };
        for payload in [
            EventPayload::SavingsEarned(movement(30)),
            EventPayload::SavingsRedeemed(movement(100)),
            reversal(40, Reverses::Redemption),
            reversal(5, Reverses::Earn),
            EventPayload::GiftCardDebited(gift(2000)),
            EventPayload::GiftCardCredited(gift(700)),
        ] {
            let event = journal::append(&conn, &who(), 1, payload).unwrap();
            let id = event.id.to_string();
            assert!(journal::mark_rejected(&conn, &id, "invalid", "refused", 2).unwrap());
        }
        apply_balances(&conn, &[upsert("ana", 1000, 0)], 3).unwrap();
        apply_gift_cards(&conn, &[card_delta], 3).unwrap();
        // Pending: the rejected earn no longer counts, the earn taken back still does.
        // Spent: the redemption counts, its give-back does not.
        assert_eq!(savings(&conn, "ana"), (1000, -5, 100));
        assert_eq!(spendable(&conn, "ana"), (895, 0));
        // The gift card: the debit counts, the credit does not.
        assert_eq!(card(&conn, "G1"), Some((5000, 2000, false)));

        // Re-driven, they are waiting for central again: all of them count.
        assert_eq!(journal::retry(&conn, &journal::Retry::All).unwrap(), 6);
        apply_balances(&conn, &[upsert("ana", 1000, 0)], 4).unwrap();
        assert_eq!(savings(&conn, "ana"), (1000, 25, 60));
        let delta = GiftCardDelta::Upsert {
            card: GiftCardRecord {
                card: GiftCardRef::new("G1").unwrap(),
                balance: eur(5000),
                debt: eur(0),
                status: GiftCardStatus::Active,
                expires_at: None,
                owner: None,
            },
        };
        apply_gift_cards(&conn, &[delta], 4).unwrap();
        assert_eq!(card(&conn, "G1"), Some((5000, 1300, false)));
    }

    /// `left_scope`: a customer with nothing unsynced goes as if never held (the store's
    /// sales stay); one with unsynced spends and earns keeps them, the balance marked
    /// unconfirmed, so the next scan asks central live and a newer claim or central's own
    /// balance replaces it without losing what this till spent or earned.
    #[test]
    fn a_customer_who_left_the_scope_is_not_trusted_and_nothing_unsynced_is_lost() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let conn = store.conn();
        let record = |r: &str| CustomerRecord {
            customer: c(r),
            first_name: "Lucía".into(),
            tier: Some("gold".into()),
            lang: tillpass_protocol::lang::Lang::Es,
            consent: Consent::default(),
            earn_only: false,
            segments: vec![],
        };
        apply_customers(
            &conn,
            &[
                CustomerDelta::Upsert {
                    customer: record("ana"),
                },
                CustomerDelta::Upsert {
                    customer: record("bob"),
                },
            ],
            1,
        )
        .unwrap();
        apply_balances(&conn, &[upsert("ana", 1000, 0), upsert("bob", 500, 0)], 1).unwrap();
        for who in ["ana", "bob"] {
            apply_personal_promotions(
                &conn,
                &[PersonalPromotionDelta::Upsert {
                    promotion: tillpass_protocol::sync::PersonalPromotion {
                        id: tillpass_protocol::sync::PromotionId::new(format!("OFFER-{who}"))
                            .unwrap(),
                        customer: c(who),
                        promotion_id: tillpass_protocol::sync::PromotionId::new("P1").unwrap(),
                        enabled: true,
                        valid_from: None,
                        valid_until: None,
                    },
                }],
            )
            .unwrap();
        }
        conn.execute(
            "INSERT INTO sales(sale_id, till_id, origin, closed_at, customer_ref, currency, gross,
               discount, net, savings_earned, savings_redeemed, gift_card_tendered, line_count,
               sale, receipt)
             VALUES ('S-0', 'T1', 'local', 1, 'ana', 'EUR', 100, 0, 100, 1, 0, 0, 1, '{}', '{}')",
            [],
        )
        .unwrap();
        // Bob spent 30 and earned 5 here; central has not seen it.
        redeem(&conn, "bob", 30);
        earned(&conn, "bob", 5);
        assert!(claims::holds_cached(&conn, claims::Kind::Customer, "ana").unwrap());

        let left = |r: &str| CustomerDelta::LeftScope {
            customer: c(r),
            at: 7,
        };
        let applied = apply_customers(&conn, &[left("ana"), left("bob")], 2).unwrap();
        assert_eq!(applied.items, 2);
        assert!(applied.erased.is_empty(), "not an erasure");

        // Ana: as if never held — no profile, account, offers or claim; her sale stays.
        assert!(customers::lookup(&conn, "ana", 10).unwrap().is_none());
        assert!(!claims::holds_cached(&conn, claims::Kind::Customer, "ana").unwrap());
        let count = |sql: &str| -> i64 { conn.query_row(sql, [], |r| r.get(0)).unwrap() };
        assert_eq!(
            count("SELECT count(*) FROM personal_promotions WHERE customer_ref = 'ana'"),
            0
        );
        assert_eq!(
            count("SELECT count(*) FROM sales WHERE customer_ref = 'ana'"),
            1
        );
        assert_eq!(
            count("SELECT count(*) FROM revocations"),
            0,
            "no revocation"
        );

        // Bob: what he spent and earned here stays, with its events; the balance is no
        // longer central's (a snapshot claim as of 0), so the next scan asks live.
        assert_eq!(savings(&conn, "bob"), (500, 5, 30));
        assert_eq!(journal::depth(&conn).unwrap().0, 2);
        assert!(!claims::holds_cached(&conn, claims::Kind::Customer, "bob").unwrap());
        let view = customers::lookup(&conn, "bob", 10).unwrap().unwrap();
        assert_eq!(
            view.balance_source,
            tillpass_protocol::sync::BalanceSource::Snapshot
        );
        assert!(view.active_promotions.is_empty());
        // Central's live answer replaces the balance and keeps what was spent here.
        let live = claims::Claim {
            source: tillpass_protocol::sync::BalanceSource::Live,
            token_id: None,
            amount: 450,
            currency: "EUR".into(),
            as_of: 10,
        };
        assert!(claims::apply(&conn, claims::Kind::Customer, "bob", &live, 10).unwrap());
        assert_eq!(savings(&conn, "bob"), (450, 5, 30));
        // Back in scope, central's own balance replaces the claim, still counting them.
        apply_balances(&conn, &[upsert("bob", 420, 0)], 11).unwrap();
        assert_eq!(savings(&conn, "bob"), (420, 5, 30));
        assert!(claims::holds_cached(&conn, claims::Kind::Customer, "bob").unwrap());
        // Told again with nothing unsynced left? Still kept while the outbox holds them.
        apply_customers(&conn, &[left("bob")], 12).unwrap();
        assert_eq!(savings(&conn, "bob"), (420, 5, 30));
    }

    /// `left_scope` and the gift cards the customer owns: central stops sending an owned
    /// card's changes with its owner's, so each of her cards goes (nothing unsynced) or
    /// stays with its balance unconfirmed (a debit not yet synced, a hold of a sale in
    /// progress) — never trusted as cached. Cards of others and unowned cards stay.
    #[test]
    fn the_cards_of_a_customer_who_left_the_scope_are_not_trusted() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let conn = store.conn();
        let card_of = |card: &str, owner: Option<&str>| GiftCardDelta::Upsert {
            card: GiftCardRecord {
                card: GiftCardRef::new(card).unwrap(),
                balance: eur(5000),
                debt: eur(0),
                status: GiftCardStatus::Active,
                expires_at: None,
                owner: owner.map(c),
            },
        };
        apply_gift_cards(
            &conn,
            &[
                card_of("G-IDLE", Some("ana")),
                card_of("G-DEBITED", Some("ana")),
                card_of("G-HELD", Some("ana")),
                card_of("G-BOB", Some("bob")),
                card_of("G-NOBODY", None),
            ],
            1,
        )
        .unwrap();
        // A debit of G-DEBITED not yet synced; a hold on G-HELD for a sale in progress.
        card_spent(&conn, "G-DEBITED", 2000);
        journal::append(
            &conn,
            &who(),
            1,
            EventPayload::GiftCardDebited(GiftCardMovement {
                card: GiftCardRef::new("G-DEBITED").unwrap(),
                amount: eur(2000),
                sale_id: None,
                hold_id: None,
                basis: None,
            }),
        )
        .unwrap();
        conn.execute(
            "INSERT INTO gift_card_holds(hold_id, card_ref, session_id, amount, expires_at)
             VALUES ('H1', 'G-HELD', 'S1', 100, 99)",
            [],
        )
        .unwrap();
        for card in ["G-IDLE", "G-DEBITED", "G-HELD"] {
            assert!(claims::holds_cached(&conn, claims::Kind::GiftCard, card).unwrap());
        }

        let left = CustomerDelta::LeftScope {
            customer: c("ana"),
            at: 7,
        };
        apply_customers(&conn, &[left], 2).unwrap();

        assert_eq!(card(&conn, "G-IDLE"), None, "as if never held");
        for card_ref in ["G-DEBITED", "G-HELD"] {
            assert!(
                !claims::holds_cached(&conn, claims::Kind::GiftCard, card_ref).unwrap(),
                "{card_ref} is no longer trusted as cached"
            );
        }
        assert_eq!(
            card(&conn, "G-DEBITED"),
            Some((5000, 2000, false)),
            "the debit stays"
        );
        assert_eq!(card(&conn, "G-HELD"), Some((5000, 0, false)));
        for card_ref in ["G-BOB", "G-NOBODY"] {
            assert!(claims::holds_cached(&conn, claims::Kind::GiftCard, card_ref).unwrap());
        }
        // Back in scope, central's card replaces the claim and keeps the debit.
        apply_gift_cards(&conn, &[card_of("G-DEBITED", Some("ana"))], 3).unwrap();
        assert!(claims::holds_cached(&conn, claims::Kind::GiftCard, "G-DEBITED").unwrap());
        assert_eq!(card(&conn, "G-DEBITED"), Some((5000, 2000, false)));
    }

    #[test]
    fn an_erased_customer_leaves_no_profile_and_their_passes_are_revoked() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let conn = store.conn();
        let record = CustomerRecord {
            customer: c("C-1"),
            first_name: "Lucía".into(),
            tier: Some("gold".into()),
            lang: tillpass_protocol::lang::Lang::Es,
            consent: Consent {
                receipts: true,
                marketing: false,
            },
            earn_only: false,
            segments: vec!["students".into()],
        };
        apply_customers(
            &conn,
            &[CustomerDelta::Upsert {
                customer: record.clone(),
            }],
            1,
        )
        .unwrap();
        apply_balances(&conn, &[upsert("C-1", 500, 0)], 1).unwrap();
        apply_personal_promotions(
            &conn,
            &[PersonalPromotionDelta::Upsert {
                promotion: tillpass_protocol::sync::PersonalPromotion {
                    id: tillpass_protocol::sync::PromotionId::new("OFFER-1").unwrap(),
                    customer: c("C-1"),
                    promotion_id: tillpass_protocol::sync::PromotionId::new("P1").unwrap(),
                    enabled: true,
                    valid_from: None,
                    valid_until: None,
                },
            }],
        )
        .unwrap();
        conn.execute(
            "INSERT INTO pos_sessions(session_id, version, state, customer_ref, body, created_at, updated_at)
             VALUES ('S-1', 1, 'open', 'C-1', '{\"customer_ref\":\"C-1\",\"customer_scan\":\"TP123\"}', 1, 1)",
            [],
        )
        .unwrap();
        conn.execute(
            "INSERT INTO sales(sale_id, till_id, origin, closed_at, customer_ref, currency, gross,
               discount, net, savings_earned, savings_redeemed, gift_card_tendered, line_count,
               sale, receipt)
             VALUES ('S-0', 'T1', 'local', 1, 'C-1', 'EUR', 100, 0, 100, 1, 0, 0, 1, '{}',
               '{\"sale_id\":\"S-0\",\"customer_ref\":\"C-1\"}')",
            [],
        )
        .unwrap();
        let view = customers::lookup(&conn, "C-1", 10).unwrap().unwrap();
        assert_eq!(view.first_name.as_deref(), Some("Lucía"));
        assert_eq!(view.segments, ["students"]);
        assert!(!view.earn_only);
        assert_eq!(view.active_promotions, ["P1"]);
        // An offer counts only inside its validity: from `valid_from`, before `valid_until`.
        apply_personal_promotions(
            &conn,
            &[PersonalPromotionDelta::Upsert {
                promotion: tillpass_protocol::sync::PersonalPromotion {
                    id: tillpass_protocol::sync::PromotionId::new("OFFER-2").unwrap(),
                    customer: c("C-1"),
                    promotion_id: tillpass_protocol::sync::PromotionId::new("P2").unwrap(),
                    enabled: true,
                    valid_from: Some(100),
                    valid_until: Some(200),
                },
            }],
        )
        .unwrap();
        for (at, expected) in [(99, vec!["P1"]), (100, vec!["P1", "P2"]), (200, vec!["P1"])] {
            let view = customers::lookup(&conn, "C-1", at).unwrap().unwrap();
            assert_eq!(view.active_promotions, expected, "at {at}");
        }
        let applied = apply_customers(
            &conn,
            &[CustomerDelta::Erased {
                customer: c("C-1"),
                erased_at: 50,
            }],
            2,
        )
        .unwrap();
        assert_eq!(applied.erased, ["C-1"]);
        assert!(customers::lookup(&conn, "C-1", 10).unwrap().is_none());
        let left: i64 = conn
            .query_row(
                "SELECT (SELECT count(*) FROM sales WHERE instr(receipt, 'C-1') > 0)
                      + (SELECT count(*) FROM pos_sessions
                         WHERE instr(body, 'C-1') > 0 OR instr(body, 'TP123') > 0)",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(left, 0, "no trace of the customer in receipts or sessions");
        for table in ["savings_accounts", "personal_promotions"] {
            let n: i64 = conn
                .query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
                .unwrap();
            assert_eq!(n, 0, "{table}");
        }
        let revoked = tokens::load_revocations(&conn).unwrap();
        use tillpass_protocol::token::Revocations;
        assert_eq!(
            revoked.subject_revoked_before(TokenType::CustomerPass, &Subject::new(b"C-1").unwrap()),
            Some(51)
        );
        // Removing the offer by its id.
        apply_customers(&conn, &[CustomerDelta::Upsert { customer: record }], 3).unwrap();
        apply_personal_promotions(
            &conn,
            &[PersonalPromotionDelta::Removed {
                id: tillpass_protocol::sync::PromotionId::new("OFFER-1").unwrap(),
                customer: c("C-1"),
            }],
        )
        .unwrap();
        assert!(
            customers::lookup(&conn, "C-1", 10)
                .unwrap()
                .unwrap()
                .active_promotions
                .is_empty()
        );
    }
}
