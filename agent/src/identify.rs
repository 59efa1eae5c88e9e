//! The identification pipeline: scan text → protocol verification (decode, trust, signature,
//! time, revocation) → replay policy → customer lookup → an [`Identification`] or a
//! [`ScanRefusal`] with a reason the cashier can act on.
//!
//! Everything a scan changes — the token's use, the journal event central will see, an
//! earn-only profile for a customer first seen here, the scan log — is written in one
//! transaction.

use std::sync::{Arc, RwLock};
use std::time::Instant;

use serde::Serialize;
use tillpass_protocol::lang::Bilingual;
use tillpass_protocol::sync::{self, CustomerRef, EventPayload, LocalCustomer, TokenUsed};
use tillpass_protocol::token::{self, RevocationList, TokenKind, VerifiedToken, VerifyPolicy};

use crate::clock::Clock;
use crate::metrics::Metrics;
use crate::slot::Slot;
use crate::store::customers::{self, CustomerView};
use crate::store::journal::{self, TillIdentity};
use crate::store::scans::{self, ScanRecord};
use crate::store::tokens::{self, StoredTrust};
use crate::store::{Store, StoreError, sql};

/// The longest scan text looked at; anything longer is refused unread.
pub const MAX_SCAN_LEN: usize = 4096;

/// An accepted scan: what the POS shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Identification {
    /// Which scanner, or `api`.
    pub source: String,
    /// `customer_pass`, `gift_card` or `voucher`.
    pub token_kind: &'static str,
    /// The token's id, hex.
    pub token_id: String,
    /// The subject: the customer, gift-card or voucher reference.
    pub subject: String,
    /// When the token expires, unix seconds.
    pub expires_at: u64,
    /// The id of the key that signed it, hex.
    pub key_id: String,
    /// How often this token has now been used here. A voucher's scan does not use it: the
    /// sale that closes with it does (`sessions::close`), so a cancelled sale leaves it
    /// to the customer.
    pub uses: u32,
    /// How often it may be used.
    pub max_uses: u32,
    /// For a customer pass: the customer.
    pub customer: Option<CustomerView>,
    /// Whether the customer was unknown here and an earn-only profile was made.
    pub new_customer: bool,
    /// When, unix seconds.
    pub at: u64,
}

/// A refused scan: a stable code and what to tell the cashier.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ScanRefusal {
    /// Which scanner, or `api`.
    pub source: String,
    /// A stable code: the protocol's (`expired`, `bad_signature`, …) or the agent's
    /// (`replayed`, `not_enrolled`, `unknown_scanner_data`, `store_unavailable`).
    pub code: &'static str,
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
    fn new(
        source: &str,
        code: &'static str,
        detail: Option<String>,
        m: Bilingual,
        at: u64,
    ) -> Self {
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
        "unknown_scanner_data",
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
    max_uses_per_pass: u32,
    who: Option<TillIdentity>,
    clock: Arc<Clock>,
    slot: Slot,
    metrics: Arc<Metrics>,
}

/// What an [`Identifier`] is built from.
#[derive(Debug)]
pub struct IdentifierParts {
    /// The store.
    pub store: Arc<Store>,
    /// The verification policy.
    pub policy: VerifyPolicy,
    /// How often one pass may identify a sale.
    pub max_uses_per_pass: u32,
    /// Who this till is (None until enrolled).
    pub who: Option<TillIdentity>,
    /// The clock.
    pub clock: Arc<Clock>,
    /// The current-customer slot.
    pub slot: Slot,
    /// Metrics.
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
            max_uses_per_pass: parts.max_uses_per_pass,
            who: parts.who,
            clock: parts.clock,
            slot: parts.slot,
            metrics: parts.metrics,
        })
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
        let now = self.clock.now();
        let refuse = |code, detail, m| ScanRefusal::new(source, code, detail, m, now);
        if text.len() > MAX_SCAN_LEN {
            return Err(refuse(
                "malformed",
                Some("too_long".to_owned()),
                BAD_SUBJECT,
            ));
        }
        let trust = self.trust.read().unwrap_or_else(|p| p.into_inner());
        let Some(trust) = trust.as_ref() else {
            return Err(refuse("not_enrolled", None, NOT_ENROLLED));
        };
        let revocations = self.revocations.read().unwrap_or_else(|p| p.into_inner());
        let verified = token::verify(text, &trust.store, &self.policy, &*revocations, now)
            .map_err(|r| {
                ScanRefusal::new(
                    source,
                    r.code(),
                    r.detail_code().map(str::to_owned),
                    r.messages(),
                    now,
                )
            })?;
        let subject = subject_text(verified.subject().as_bytes())
            .ok_or_else(|| refuse("malformed", None, BAD_SUBJECT))?;
        Ok((verified.kind(), subject))
    }

    /// Identifies one scan. Blocking (SQLite): call from a blocking thread.
    pub fn identify(&self, text: &str, source: &str) -> Result<Identification, ScanRefusal> {
        let started = Instant::now();
        let now = self.clock.now();
        let result = self.run(text, source, now);
        let latency = started.elapsed();
        self.metrics
            .observe_scan(result.as_ref().err().map(|r| r.code), latency.as_secs_f64());
        let latency_us = i64::try_from(latency.as_micros()).unwrap_or(i64::MAX);
        let record = match &result {
            Ok(id) => ScanRecord {
                at: to_i64(now),
                source: source.to_owned(),
                accepted: true,
                code: None,
                detail: None,
                token_kind: Some(id.token_kind.to_owned()),
                subject_masked: Some(mask(&id.subject)),
                latency_us,
            },
            Err(r) => ScanRecord {
                at: to_i64(now),
                source: source.to_owned(),
                accepted: false,
                code: Some(r.code.to_owned()),
                detail: r.detail.clone(),
                token_kind: None,
                subject_masked: None,
                latency_us,
            },
        };
        // Accepted scans were logged inside their transaction; refusals are logged here.
        if !record.accepted
            && let Err(e) = scans::log(&self.store.conn(), &record)
        {
            tracing::warn!(error = %e, "scan log write failed");
        }
        match &result {
            Ok(id) => {
                tracing::info!(source, kind = id.token_kind, subject = %mask(&id.subject), "identified");
                // Only a customer pass makes a customer current; a voucher or a gift card
                // scanned during their sale leaves them in place.
                if id.token_kind == TokenKind::CustomerPass.code() {
                    self.slot.set(id.clone());
                }
            }
            Err(r) => tracing::info!(source, code = r.code, detail = ?r.detail, "scan refused"),
        }
        result
    }

    fn run(&self, text: &str, source: &str, now: u64) -> Result<Identification, ScanRefusal> {
        let refuse = |code, detail, m| ScanRefusal::new(source, code, detail, m, now);
        if text.len() > MAX_SCAN_LEN {
            return Err(refuse(
                "malformed",
                Some("too_long".to_owned()),
                BAD_SUBJECT,
            ));
        }
        let verified = {
            let trust = self.trust.read().unwrap_or_else(|p| p.into_inner());
            let Some(trust) = trust.as_ref() else {
                return Err(refuse("not_enrolled", None, NOT_ENROLLED));
            };
            let revocations = self.revocations.read().unwrap_or_else(|p| p.into_inner());
            token::verify(text, &trust.store, &self.policy, &*revocations, now).map_err(|r| {
                ScanRefusal::new(
                    source,
                    r.code(),
                    r.detail_code().map(str::to_owned),
                    r.messages(),
                    now,
                )
            })?
        };
        let Some(who) = &self.who else {
            return Err(refuse("not_enrolled", None, NOT_ENROLLED));
        };
        self.commit(&verified, who, source, now)
            .map_err(|e| match e {
                Commit::Refused(code, m) => refuse(code, None, m),
                Commit::Store(e) => {
                    tracing::error!(error = %e, "identification could not be stored");
                    refuse("store_unavailable", Some(e.to_string()), STORE_UNAVAILABLE)
                }
            })
    }

    fn commit(
        &self,
        verified: &VerifiedToken,
        who: &TillIdentity,
        source: &str,
        now: u64,
    ) -> Result<Identification, Commit> {
        let kind = verified.kind();
        let token_id = verified.token_id();
        let subject_text = subject_text(verified.subject().as_bytes())
            .ok_or(Commit::Refused("malformed", BAD_SUBJECT))?;
        let max_uses = match kind {
            TokenKind::CustomerPass => self.max_uses_per_pass,
            _ => 1,
        };
        let token_hex = hex::encode(token_id.0);
        // A re-scan of the pass already in the slot is the same visit.
        let rescan = self.slot.current().is_some_and(|c| c.token_id == token_hex);

        let mut conn = self.store.conn();
        let tx = conn.transaction().map_err(|e| Commit::Store(sql(e)))?;
        let mut uses = tokens::uses(&tx, &token_id)?;
        // A voucher is only checked here: it is spent by the sale that closes with it.
        let spent_by_sale = kind == TokenKind::Voucher;
        if !rescan && uses >= max_uses {
            return Err(Commit::Refused("replayed", REPLAYED));
        }
        if !rescan && !spent_by_sale {
            tokens::record_use(
                &tx,
                &token_id,
                kind,
                verified.subject(),
                verified.expires_at(),
                to_i64(now),
            )?;
            uses += 1;
            journal::append(
                &tx,
                who,
                to_i64(now),
                EventPayload::TokenUsed(TokenUsed {
                    token_id: sync::TokenId::new(&token_id.0)
                        .map_err(|e| Commit::Store(StoreError::Corrupted(e.to_string())))?,
                    kind: sync_kind(kind),
                    subject: sync::Subject::new(subject_text.clone())
                        .map_err(|_| Commit::Refused("malformed", BAD_SUBJECT))?,
                    key_id: verified.kid().0,
                    sale_id: None,
                }),
            )?;
        }
        let mut new_customer = false;
        let customer = if kind == TokenKind::CustomerPass {
            match customers::lookup(&tx, &subject_text, to_i64(now))? {
                Some(c) => Some(c),
                None => {
                    let reference = CustomerRef::new(subject_text.clone())
                        .map_err(|_| Commit::Refused("malformed", BAD_SUBJECT))?;
                    customers::create_local(&tx, &subject_text, to_i64(now))?;
                    journal::append(
                        &tx,
                        who,
                        to_i64(now),
                        EventPayload::CustomerCreated(LocalCustomer {
                            customer: reference,
                            first_name: None,
                            lang: None,
                        }),
                    )?;
                    new_customer = true;
                    customers::lookup(&tx, &subject_text, to_i64(now))?
                }
            }
        } else {
            None
        };
        scans::log(
            &tx,
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
        tx.commit().map_err(|e| Commit::Store(sql(e)))?;
        Ok(Identification {
            source: source.to_owned(),
            token_kind: kind.code(),
            token_id: token_hex,
            subject: subject_text,
            expires_at: verified.expires_at(),
            key_id: hex::encode(verified.kid().0),
            uses,
            max_uses,
            customer,
            new_customer,
            at: now,
        })
    }
}

enum Commit {
    Refused(&'static str, Bilingual),
    Store(StoreError),
}

impl From<StoreError> for Commit {
    fn from(e: StoreError) -> Commit {
        Commit::Store(e)
    }
}

fn sync_kind(kind: TokenKind) -> sync::TokenKind {
    match kind {
        TokenKind::GiftCard => sync::TokenKind::GiftCard,
        TokenKind::Voucher => sync::TokenKind::Voucher,
        // Customer passes, and any kind a newer protocol adds, travel as passes.
        _ => sync::TokenKind::CustomerPass,
    }
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
