//! The identification pipeline: scan text → protocol verification (decode, trust, signature,
//! time, revocation) → replay rule → customer lookup → an [`Identification`] or a
//! [`ScanRefusal`] with a reason the cashier can act on.
//!
//! Verification ([`Identifier::verify`]) reads no store. Everything a read of a token
//! changes — the token's use bound to what it was used for, the journal event central will
//! see, an earn-only profile for a customer first seen here, the scan log — is written by
//! [`Identifier::record`] in the caller's transaction: a scan at the till's scanner in its
//! own, a scan a POS request carries in the request's, so a refused or interrupted request
//! uses no token. What one use is (a pass's visit, a gift card's sale, a voucher's closed
//! sale) is `protocol::token::replay`'s rule.
//!
//! A customer or a gift card the till does not hold from central's deltas is not left
//! without a balance: [`Identifier::consult`] (before the transaction) asks central live
//! within a time budget ([`live`]), and [`Identifier::record`] applies what came back — or,
//! when central did not answer in time, the balance and tier the token itself claims,
//! signed by central at issue — as a claim (`store::claims`). The cashier sees where the
//! balance came from (`balance_source`: `cached`, `snapshot` or `live`); spending from a
//! snapshot stays within the catalog's offline caps.

pub mod live;
pub mod slot;

use std::sync::{Arc, RwLock};
use std::time::Instant;

use rusqlite::Connection;
use serde::Serialize;
use tillpass_protocol::lang::Bilingual;
use tillpass_protocol::sync::{
    self, BalanceSource, CustomerRef, EventPayload, LocalCustomer, LookupAnswer, LookupKind,
    TokenUsed,
};
use tillpass_protocol::token::replay::{self, CurrentUse, ReplayRule, SaleState, Verdict};
use tillpass_protocol::token::{
    self, RefusalCode, RevocationList, TokenId, TokenKind, VerifiedToken, VerifyPolicy,
};

use crate::catalog::Catalogs;
use crate::clock::Clock;
use crate::metrics::Metrics;
use crate::store::claims::{self, Claim};
use crate::store::customers::{self, CustomerView};
use crate::store::journal::{self, TillIdentity};
use crate::store::scans::{self, ScanRecord};
use crate::store::tokens::{self, StoredTrust, UseRow};
use crate::store::{Store, StoreError, pos_sessions, sql};
use slot::Slot;

/// The longest scan text looked at; anything longer is refused unread.
pub const MAX_SCAN_LEN: usize = 4096;

/// An accepted scan: what the POS shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Identification {
    /// Which scanner, or `api`.
    pub source: String,
    /// What the token stands for: `customer_pass`, `gift_card` or `voucher`.
    pub token_kind: TokenKind,
    /// The token's id, hex.
    pub token_id: String,
    /// The subject: the customer, gift-card or voucher reference.
    pub subject: String,
    /// When the token expires, unix seconds.
    pub expires_at: u64,
    /// The id of the key that signed it, hex.
    pub key_id: String,
    /// How often this token has now been used here: a pass's visits, the sales a gift card
    /// paid, whether a voucher was spent. A voucher's scan does not use it: the sale that
    /// closes with it does (`sessions::close`), so a cancelled sale leaves it to the
    /// customer.
    pub uses: u32,
    /// How often it may be used; `None` for a gift card, whose balance decides.
    pub max_uses: Option<u32>,
    /// For a customer pass: the customer.
    pub customer: Option<CustomerView>,
    /// Whether the customer was unknown here and a profile was made (earn-only unless a
    /// balance claim came with it).
    pub new_customer: bool,
    /// For a customer pass or a gift card: where its balance comes from — `cached`
    /// (central's, from the till's deltas), `snapshot` (the token's signed claim) or
    /// `live` (central's answer to the lookup); `None` when the till has no balance for it.
    pub balance_source: Option<BalanceSource>,
    /// When, unix seconds.
    pub at: u64,
}

/// A refused scan: a stable code and what to tell the cashier.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ScanRefusal {
    /// Which scanner, or `api`.
    pub source: String,
    /// A stable code (`expired`, `bad_signature`, `replayed`, `not_enrolled`, …).
    pub code: RefusalCode,
    /// More detail (e.g. which part was malformed), if any.
    pub detail: Option<String>,
    /// The cashier message in Spanish.
    pub message_es: &'static str,
    /// The cashier message in English.
    pub message_en: &'static str,
    /// When, unix seconds.
    pub at: u64,
}

impl ScanRefusal {
    fn new(source: &str, code: RefusalCode, detail: Option<String>, m: Bilingual, at: u64) -> Self {
        ScanRefusal {
            source: source.to_owned(),
            code,
            detail,
            message_es: m.es,
            message_en: m.en,
            at,
        }
    }
}

const REPLAYED: Bilingual = Bilingual {
    es: "Este QR ya se ha usado: pida al cliente un QR nuevo en WhatsApp",
    en: "This QR was already used: ask the customer for a new QR in WhatsApp",
};
const NOT_ENROLLED: Bilingual = Bilingual {
    es: "La caja no está dada de alta: avise al responsable de la tienda",
    en: "This till is not enrolled yet: tell the store manager",
};
const STORE_UNAVAILABLE: Bilingual = Bilingual {
    es: "No se pudo guardar la lectura: inténtelo de nuevo; si sigue, avise al responsable",
    en: "The scan could not be saved: try again; if it keeps failing, tell the manager",
};
const UNKNOWN_DATA: Bilingual = Bilingual {
    es: "Código no reconocido: escanee el QR de fidelización del cliente",
    en: "Code not recognised: scan the customer's loyalty QR",
};
const BAD_SUBJECT: Bilingual = Bilingual {
    es: "QR no válido: pida al cliente un QR nuevo en WhatsApp",
    en: "Invalid QR: ask the customer for a new QR in WhatsApp",
};

/// A refusal for something a scanner read but could not frame or decode (oversized,
/// partial, undecodable).
pub fn unreadable(source: &str, detail: String, at: u64) -> ScanRefusal {
    ScanRefusal::new(
        source,
        RefusalCode::UnknownScannerData,
        Some(detail),
        UNKNOWN_DATA,
        at,
    )
}

/// The identification pipeline and what it needs.
#[derive(Debug)]
pub struct Identifier {
    store: Arc<Store>,
    trust: RwLock<Option<StoredTrust>>,
    revocations: RwLock<RevocationList>,
    policy: VerifyPolicy,
    rule: ReplayRule,
    who: Option<TillIdentity>,
    clock: Arc<Clock>,
    slot: Slot,
    metrics: Arc<Metrics>,
    catalogs: Option<Arc<Catalogs>>,
    live: Option<Arc<dyn live::Lookup>>,
}

/// What an [`Identifier`] is built from.
#[derive(Debug)]
pub struct IdentifierParts {
    pub store: Arc<Store>,
    /// The verification policy.
    pub policy: VerifyPolicy,
    /// How many visits one pass may make at this till.
    pub max_uses_per_pass: u32,
    /// Who this till is (None until enrolled).
    pub who: Option<TillIdentity>,
    pub clock: Arc<Clock>,
    /// The current-customer slot; its timeout is also how long a pass's visit lasts after
    /// its last read.
    pub slot: Slot,
    pub metrics: Arc<Metrics>,
}

impl Identifier {
    /// Builds the pipeline, loading the trust list and revocations from the store.
    pub fn new(parts: IdentifierParts) -> Result<Identifier, StoreError> {
        let conn = parts.store.conn();
        let trust = match tokens::load_trust(&conn) {
            Ok(t) => t,
            Err(e) => {
                tracing::error!(error = %e, "the stored trust list cannot be used");
                None
            }
        };
        if let Some(t) = &trust {
            parts.clock.observe_signed(t.issued_at);
        }
        let revocations = tokens::load_revocations(&conn)?;
        drop(conn);
        Ok(Identifier {
            store: parts.store,
            trust: RwLock::new(trust),
            revocations: RwLock::new(revocations),
            policy: parts.policy,
            rule: ReplayRule {
                max_uses_per_pass: parts.max_uses_per_pass,
                visit_secs: parts.slot.timeout().as_secs(),
            },
            who: parts.who,
            clock: parts.clock,
            slot: parts.slot,
            metrics: parts.metrics,
            catalogs: None,
            live: None,
        })
    }

    /// Names a pass's claimed tier (a position in the catalog's tier list) with the tiers
    /// of the catalog in force.
    pub fn with_catalogs(mut self, catalogs: Arc<Catalogs>) -> Identifier {
        self.catalogs = Some(catalogs);
        self
    }

    /// Asks central live about customers and gift cards the till does not hold.
    pub fn with_live(mut self, lookup: Arc<dyn live::Lookup>) -> Identifier {
        self.live = Some(lookup);
        self
    }

    /// The trust list in force, if any.
    pub fn trust_sequence(&self) -> Option<(u64, u64)> {
        self.trust
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .map(|t| (t.sequence, t.issued_at))
    }

    /// Replaces the trust list in force (after the store accepted a newer one).
    pub fn set_trust(&self, trust: StoredTrust) {
        self.clock.observe_signed(trust.issued_at);
        *self.trust.write().unwrap_or_else(|p| p.into_inner()) = Some(trust);
    }

    /// Reloads the revocations from the store.
    pub fn reload_revocations(&self) -> Result<(), StoreError> {
        let list = tokens::load_revocations(&self.store.conn())?;
        *self.revocations.write().unwrap_or_else(|p| p.into_inner()) = list;
        Ok(())
    }

    /// The current-customer slot.
    pub fn slot(&self) -> &Slot {
        &self.slot
    }

    /// The clock.
    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    /// The store.
    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    /// Who this till is, once enrolled.
    pub fn who(&self) -> Option<&TillIdentity> {
        self.who.as_ref()
    }

    /// Verifies a scan without recording anything (a dry run): its kind and subject, or
    /// the refusal. Replays are not checked: nothing is used.
    pub fn check(&self, text: &str, source: &str) -> Result<(TokenKind, String), ScanRefusal> {
        self.verify(text, source).map(|v| (v.kind(), v.subject))
    }

    /// Verifies a scan — its form, signature, key, time and revocations — without reading
    /// or writing the store. Whether it is a replay is the store's to say: see
    /// [`Identifier::peek`] and [`Identifier::record`].
    pub fn verify(&self, text: &str, source: &str) -> Result<Verified, ScanRefusal> {
        let started = Instant::now();
        let now = self.clock.now();
        let refuse = |code, detail, m| ScanRefusal::new(source, code, detail, m, now);
        if text.len() > MAX_SCAN_LEN {
            return Err(refuse(
                RefusalCode::Malformed,
                Some("too_long".to_owned()),
                BAD_SUBJECT,
            ));
        }
        let token = {
            let trust = self.trust.read().unwrap_or_else(|p| p.into_inner());
            let Some(trust) = trust.as_ref() else {
                return Err(refuse(RefusalCode::NotEnrolled, None, NOT_ENROLLED));
            };
            let revocations = self.revocations.read().unwrap_or_else(|p| p.into_inner());
            token::verify(text, &trust.store, &self.policy, &*revocations, now).map_err(|r| {
                ScanRefusal::new(
                    source,
                    r.kind(),
                    r.detail_code().map(str::to_owned),
                    r.messages(),
                    now,
                )
            })?
        };
        let subject = subject_text(token.subject().as_bytes())
            .ok_or_else(|| refuse(RefusalCode::Malformed, None, BAD_SUBJECT))?;
        Ok(Verified {
            token,
            subject,
            started,
            live: None,
        })
    }

    /// Asks central live about the subject of a verified customer pass or gift-card token
    /// the till does not hold a cached balance for, within the lookup's budget; the answer
    /// (if any) travels with the scan to [`Identifier::record`]. Reads the store briefly,
    /// holds no connection while it waits. Blocking: call from a blocking thread.
    pub fn consult(&self, verified: &mut Verified) {
        let Some(lookup) = &self.live else {
            return;
        };
        let (kind, claim_kind) = match verified.kind() {
            TokenKind::CustomerPass => (LookupKind::Customer, claims::Kind::Customer),
            TokenKind::GiftCard => (LookupKind::GiftCard, claims::Kind::GiftCard),
            _ => return,
        };
        let cached = {
            let conn = self.store.conn();
            claims::holds_cached(&conn, claim_kind, &verified.subject)
        };
        match cached {
            Ok(true) => {}
            Ok(false) => verified.live = lookup.lookup(kind, &verified.subject),
            Err(e) => tracing::warn!(error = %e, "cannot tell whether the balance is cached"),
        }
    }

    /// Identifies one scan at the till's scanner or `POST /v1/identify`: verified, then
    /// its read recorded in one transaction (see [`Identifier::record`]). Blocking
    /// (SQLite): call from a blocking thread.
    pub fn identify(&self, text: &str, source: &str) -> Result<Identification, ScanRefusal> {
        let started = Instant::now();
        let mut verified = match self.verify(text, source) {
            Ok(v) => v,
            Err(r) => {
                self.refused(&r, started);
                return Err(r);
            }
        };
        self.consult(&mut verified);
        let result = (|| {
            let mut conn = self.store.conn();
            let tx = conn.transaction().map_err(|e| RecordError::Store(sql(e)))?;
            let id = self.record(&tx, &verified, source, None)?;
            tx.commit().map_err(|e| RecordError::Store(sql(e)))?;
            Ok(id)
        })();
        match result {
            Ok(id) => {
                self.accepted(&id, verified.started);
                Ok(id)
            }
            Err(e) => {
                let r = self.refusal(e, source);
                self.refused(&r, verified.started);
                Err(r)
            }
        }
    }

    /// Whether a verified scan read for the sale `read_for` would be refused as a replay,
    /// without writing anything: so a request refuses a used token before it changes
    /// anything. [`Identifier::record`] judges again inside the request's transaction.
    pub fn peek(
        &self,
        conn: &Connection,
        verified: &Verified,
        read_for: Option<&str>,
    ) -> Result<(), ScanRefusal> {
        let now = self.clock.now();
        match self.judge(conn, verified, read_for, now) {
            Ok((Verdict::Replayed, _)) => Err(self.replayed("api", now)),
            Ok(_) => Ok(()),
            Err(e) => Err(self.refusal(RecordError::Store(e), "api")),
        }
    }

    /// Records a verified scan in the caller's transaction, as one read of its token for
    /// the sale `read_for` (`None`: at the scanner or `POST /v1/identify`): a new use of
    /// the token (with its `token_used` event for central, naming the sale), the same use
    /// as an earlier read, or a replay to refuse (`protocol::token::replay` decides). A
    /// customer pass also looks its customer up, and makes an earn-only profile for one
    /// first seen here. The accepted scan is logged in the same transaction: if the
    /// transaction is rolled back (the request it belongs to was refused, or the till
    /// stopped), the token was not used.
    pub fn record(
        &self,
        tx: &Connection,
        verified: &Verified,
        source: &str,
        read_for: Option<&str>,
    ) -> Result<Identification, RecordError> {
        let now = self.clock.now();
        let Some(who) = &self.who else {
            return Err(RecordError::Refused(ScanRefusal::new(
                source,
                RefusalCode::NotEnrolled,
                None,
                NOT_ENROLLED,
                now,
            )));
        };
        let malformed = || {
            RecordError::Refused(ScanRefusal::new(
                source,
                RefusalCode::Malformed,
                None,
                BAD_SUBJECT,
                now,
            ))
        };
        let token = &verified.token;
        let kind = token.kind();
        let token_id = token.token_id();
        let subject_text = verified.subject.clone();
        let (verdict, current) = self.judge(tx, verified, read_for, now)?;
        let mut uses = current.map(|c| c.uses).unwrap_or(0);
        match verdict {
            Verdict::Replayed => return Err(RecordError::Refused(self.replayed(source, now))),
            Verdict::Check => {}
            Verdict::SameUse => tokens::same_use(tx, &token_id, to_i64(now), read_for)?,
            Verdict::NewUse => {
                let sale_id = read_for
                    .map(sync::SaleId::new)
                    .transpose()
                    .map_err(|e| RecordError::Store(StoreError::Corrupted(e.to_string())))?;
                tokens::record_use(
                    tx,
                    &token_id,
                    kind,
                    token.subject(),
                    token.expires_at(),
                    to_i64(now),
                    read_for,
                )?;
                uses = uses.saturating_add(1);
                journal::append(
                    tx,
                    who,
                    to_i64(now),
                    EventPayload::TokenUsed(TokenUsed {
                        token_id: sync::TokenId::new(&token_id.0).map_err(|e| {
                            RecordError::Store(StoreError::Corrupted(e.to_string()))
                        })?,
                        kind,
                        subject: sync::Subject::new(subject_text.clone())
                            .map_err(|_| malformed())?,
                        key_id: token.kid().0,
                        sale_id,
                    }),
                )?;
            }
        }
        let mut new_customer = false;
        let mut balance_source = None;
        let customer = if kind == TokenKind::CustomerPass {
            let claimed = self.claim(verified, now);
            match customers::lookup(tx, &subject_text, to_i64(now))? {
                // Central's own balance is held: a claim changes nothing.
                Some(c)
                    if claimed.is_none()
                        || (c.balance_source == BalanceSource::Cached && c.savings.is_some()) =>
                {
                    Some(c)
                }
                Some(_) => {
                    self.apply_claim(tx, claims::Kind::Customer, &subject_text, claimed, now)?;
                    customers::lookup(tx, &subject_text, to_i64(now))?
                }
                None => {
                    let reference =
                        CustomerRef::new(subject_text.clone()).map_err(|_| malformed())?;
                    customers::create_local(tx, &subject_text, to_i64(now))?;
                    journal::append(
                        tx,
                        who,
                        to_i64(now),
                        EventPayload::CustomerCreated(LocalCustomer {
                            customer: reference,
                            first_name: None,
                            lang: None,
                        }),
                    )?;
                    new_customer = true;
                    self.apply_claim(tx, claims::Kind::Customer, &subject_text, claimed, now)?;
                    customers::lookup(tx, &subject_text, to_i64(now))?
                }
            }
        } else {
            None
        };
        if let Some(c) = &customer {
            balance_source = c.savings.as_ref().map(|_| c.balance_source);
        }
        if kind == TokenKind::GiftCard {
            let claimed = self.claim(verified, now);
            self.apply_claim(tx, claims::Kind::GiftCard, &subject_text, claimed, now)?;
            balance_source = match claims::get(tx, claims::Kind::GiftCard, &subject_text)? {
                Some(c) => Some(c.source),
                None => {
                    crate::store::balances::card(tx, &subject_text)?.map(|_| BalanceSource::Cached)
                }
            };
        }
        scans::log(
            tx,
            &ScanRecord {
                at: to_i64(now),
                source: source.to_owned(),
                accepted: true,
                code: None,
                detail: None,
                token_kind: Some(kind.code().to_owned()),
                subject_masked: Some(mask(&subject_text)),
                latency_us: 0,
            },
        )?;
        Ok(Identification {
            source: source.to_owned(),
            token_kind: kind,
            token_id: hex::encode(token_id.0),
            subject: subject_text,
            expires_at: token.expires_at(),
            key_id: hex::encode(token.kid().0),
            uses,
            max_uses: match kind {
                TokenKind::CustomerPass => Some(self.rule.max_uses_per_pass),
                TokenKind::GiftCard => None,
                _ => Some(1),
            },
            customer,
            new_customer,
            balance_source,
            at: now,
        })
    }

    /// The balance claim a verified scan brings: central's live answer when it came (and
    /// nothing when central said it holds no usable balance), else the token's signed
    /// snapshot; with the tier it names.
    fn claim(&self, verified: &Verified, now: u64) -> Option<(Claim, Option<String>)> {
        let token_id = Some(verified.token_id());
        if let Some(answer) = &verified.live {
            let balance = answer.balance.filter(|_| answer.found)?;
            return Some((
                Claim {
                    source: BalanceSource::Live,
                    token_id,
                    amount: balance.amount.max(0),
                    currency: balance.currency.code().to_owned(),
                    as_of: answer.as_of.max(to_i64(now)),
                },
                answer.tier.clone(),
            ));
        }
        let balance = verified.token.balance()?;
        let tier = verified.token.tier().and_then(|i| {
            let engine = self.catalogs.as_ref()?.engine()?;
            engine.catalog().tiers.get(usize::from(i)).cloned()
        });
        Some((
            Claim {
                source: BalanceSource::Snapshot,
                token_id,
                amount: i64::from(balance.amount),
                currency: balance.currency.code().to_owned(),
                as_of: to_i64(verified.token.issued_at()),
            },
            tier,
        ))
    }

    /// Applies a scan's claim to the customer or card in the caller's transaction (a claim
    /// never replaces central's cached balance, see `store::claims`), and a claimed tier
    /// to a profile made here.
    fn apply_claim(
        &self,
        tx: &Connection,
        kind: claims::Kind,
        subject: &str,
        claimed: Option<(Claim, Option<String>)>,
        now: u64,
    ) -> Result<(), StoreError> {
        let Some((claim, tier)) = claimed else {
            return Ok(());
        };
        let applied = claims::apply(tx, kind, subject, &claim, to_i64(now))?;
        if applied
            && kind == claims::Kind::Customer
            && let Some(tier) = tier
        {
            customers::set_local_tier(tx, subject, &tier)?;
        }
        Ok(())
    }

    /// Binds the current visit of the pass `token_id` (hex) to the sale `sale_id` that
    /// took the till's current customer, in the caller's transaction — unless the visit
    /// already identifies another sale that has not been cancelled. Not a new use: the
    /// customer was identified in this visit.
    pub fn bind_current(
        &self,
        tx: &Connection,
        token_id: &str,
        sale_id: &str,
    ) -> Result<(), StoreError> {
        let Some(id) = hex::decode(token_id)
            .ok()
            .and_then(|b| <[u8; 8]>::try_from(b).ok())
        else {
            return Ok(());
        };
        let id = TokenId(id);
        let Some(current) = tokens::current_use(tx, &id)? else {
            return Ok(());
        };
        let free = match current.sale_id.as_deref() {
            None => true,
            Some(bound) => bound != sale_id && sale_state(tx, bound)? == SaleState::Cancelled,
        };
        if free {
            tokens::bind(tx, &id, sale_id)?;
        }
        Ok(())
    }

    /// Takes note of an accepted scan once its transaction committed: metrics, the log, and
    /// for a customer pass the till's current customer.
    pub fn accepted(&self, id: &Identification, started: Instant) {
        self.metrics
            .observe_scan(None, started.elapsed().as_secs_f64());
        tracing::info!(source = id.source, kind = id.token_kind.code(), subject = %mask(&id.subject), "identified");
        // Only a customer pass makes a customer current; a voucher or a gift card
        // scanned during their sale leaves them in place.
        if id.token_kind == TokenKind::CustomerPass {
            self.slot.set(id.clone());
        }
    }

    /// Takes note of a refused scan: metrics, the log and the scan log (in its own
    /// transaction: nothing else was written). Call it holding no store connection.
    pub fn refused(&self, refusal: &ScanRefusal, started: Instant) {
        let latency = started.elapsed();
        self.metrics
            .observe_scan(Some(refusal.code.code()), latency.as_secs_f64());
        let record = ScanRecord {
            at: to_i64(refusal.at),
            source: refusal.source.clone(),
            accepted: false,
            code: Some(refusal.code.code().to_owned()),
            detail: refusal.detail.clone(),
            token_kind: None,
            subject_masked: None,
            latency_us: i64::try_from(latency.as_micros()).unwrap_or(i64::MAX),
        };
        if let Err(e) = scans::log(&self.store.conn(), &record) {
            tracing::warn!(error = %e, "scan log write failed");
        }
        tracing::info!(source = refusal.source, code = refusal.code.code(), detail = ?refusal.detail, "scan refused");
    }

    /// The refusal a failed [`Identifier::record`] answers.
    pub fn refusal(&self, e: RecordError, source: &str) -> ScanRefusal {
        match e {
            RecordError::Refused(r) => r,
            RecordError::Store(e) => {
                tracing::error!(error = %e, "identification could not be stored");
                ScanRefusal::new(
                    source,
                    RefusalCode::StoreUnavailable,
                    Some(e.to_string()),
                    STORE_UNAVAILABLE,
                    self.clock.now(),
                )
            }
        }
    }

    fn replayed(&self, source: &str, now: u64) -> ScanRefusal {
        ScanRefusal::new(source, RefusalCode::Replayed, None, REPLAYED, now)
    }

    /// The replay rule's verdict on a read, with what the store holds of the token's use.
    fn judge(
        &self,
        conn: &Connection,
        verified: &Verified,
        read_for: Option<&str>,
        now: u64,
    ) -> Result<(Verdict, Option<UseRow>), StoreError> {
        let row = tokens::current_use(conn, &verified.token.token_id())?;
        let state = match row.as_ref().and_then(|r| r.sale_id.as_deref()) {
            Some(sale) => Some(sale_state(conn, sale)?),
            None => None,
        };
        let current = row.as_ref().map(|r| CurrentUse {
            uses: r.uses,
            last_read_at: u64::try_from(r.last_read_at).unwrap_or(0),
            sale: r.sale_id.as_deref().zip(state),
        });
        let verdict = replay::judge(verified.kind(), current.as_ref(), read_for, now, &self.rule);
        Ok((verdict, row))
    }
}

/// A scan that passed verification; nothing recorded yet.
#[derive(Debug, Clone)]
pub struct Verified {
    token: VerifiedToken,
    subject: String,
    started: Instant,
    /// Central's live answer about the subject, when [`Identifier::consult`] got one.
    live: Option<LookupAnswer>,
}

impl Verified {
    /// What the token stands for.
    pub fn kind(&self) -> TokenKind {
        self.token.kind()
    }

    /// Its subject: the customer, gift-card or voucher reference.
    pub fn subject(&self) -> &str {
        &self.subject
    }

    /// The token id, hex.
    pub fn token_id(&self) -> String {
        hex::encode(self.token.token_id().0)
    }

    /// The id of the key that signed it, hex.
    pub fn key_id(&self) -> String {
        hex::encode(self.token.kid().0)
    }

    /// When it expires, unix seconds.
    pub fn expires_at(&self) -> u64 {
        self.token.expires_at()
    }

    /// Central's live answer about its subject, if one came.
    pub fn live(&self) -> Option<&LookupAnswer> {
        self.live.as_ref()
    }

    /// When its verification started (for the scan latency metric).
    pub fn started(&self) -> Instant {
        self.started
    }
}

/// Why [`Identifier::record`] did not record a read.
#[derive(Debug)]
pub enum RecordError {
    /// The read is refused (a replay, a subject that is not a reference, a till not
    /// enrolled).
    Refused(ScanRefusal),
    /// The store failed.
    Store(StoreError),
}

impl From<StoreError> for RecordError {
    fn from(e: StoreError) -> RecordError {
        RecordError::Store(e)
    }
}

/// The state of a sale a token's use is bound to.
fn sale_state(conn: &Connection, sale_id: &str) -> Result<SaleState, StoreError> {
    Ok(match pos_sessions::state(conn, sale_id)?.as_deref() {
        Some("open") => SaleState::Open,
        Some("cancelled") => SaleState::Cancelled,
        Some("closed") => SaleState::Closed,
        _ => SaleState::Unknown,
    })
}

/// A subject's bytes as the reference central issued (printable ASCII), or `None`.
fn subject_text(bytes: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(bytes).ok()?;
    text.bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        .then(|| text.to_owned())
}

/// A reference masked for logs and the dashboard: the first two and last two characters.
pub fn mask(reference: &str) -> String {
    let chars: Vec<char> = reference.chars().collect();
    if chars.len() <= 4 {
        return "•".repeat(chars.len());
    }
    let head: String = chars.iter().take(2).collect();
    let tail: String = chars.iter().skip(chars.len() - 2).collect();
    format!("{head}{}{tail}", "•".repeat(chars.len() - 4))
}

fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_keep_only_the_ends() {
        assert_eq!(mask("C-000123"), "C-••••23");
        assert_eq!(mask("abc"), "•••");
    }

    #[test]
    fn subjects_must_be_references() {
        assert_eq!(subject_text(b"C-1.a_b"), Some("C-1.a_b".to_owned()));
        assert_eq!(subject_text(b"a b"), None);
        assert_eq!(subject_text(&[0xff]), None);
    }
}
