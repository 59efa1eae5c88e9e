//! Issuing tokens — customer passes, gift-card tokens and vouchers — as the WhatsApp bot
//! sends them into the chat: the text, an SVG and a PNG of the QR.
//!
//! A customer pass carries the customer's tier (its position in the current catalog's
//! tier list, lowest 0) and a snapshot of their savings, so a till that has never seen
//! them can still honour a capped offline redemption; a gift-card token carries the card's
//! balance. Every issued token is recorded (id, kind, subject, key, times) so it can be
//! revoked by id.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};
use tillpass_protocol::catalog::Catalog;
use tillpass_protocol::money::Money;
use tillpass_protocol::qr::TokenQr;
use tillpass_protocol::sync::{GiftCardStatus, PromotionId};
use tillpass_protocol::token::{self, Balance, Subject, TokenBody, TokenId, TokenKind};
use tillpass_protocol::trust::KeyId;

use crate::error::{Error, Result};
use crate::keys::{self, KeyDir, Purpose, random_bytes};
use crate::{customers, giftcards, pending};

/// A customer pass lives an hour unless asked otherwise.
pub const DEFAULT_PASS_LIFETIME_SECS: u32 = 3_600;
/// A gift-card token lives a year unless asked otherwise (or until the card expires).
pub const DEFAULT_GIFT_CARD_LIFETIME_SECS: u32 = 365 * 86_400;
/// A voucher lives 30 days unless asked otherwise.
pub const DEFAULT_VOUCHER_LIFETIME_SECS: u32 = 30 * 86_400;
/// The longest lifetime anyone may ask for: 400 days.
pub const MAX_LIFETIME_SECS: u32 = 400 * 86_400;
/// Pixels per QR module in the PNG and SVG unless asked otherwise.
pub const DEFAULT_MODULE_PX: u32 = 8;

/// Options of an issuing request (all optional).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IssueOptions {
    /// How long the token is valid, in seconds.
    #[serde(default)]
    pub lifetime_secs: Option<u32>,
    /// Pixels per QR module.
    #[serde(default)]
    pub module_px: Option<u32>,
}

/// What a voucher request says.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewVoucher {
    /// The voucher code a catalog promotion asks for (1 to 16 characters).
    pub code: PromotionId,
    /// The promotion it unlocks, for central's records.
    #[serde(default)]
    pub promotion_id: Option<PromotionId>,
    /// Issuing options.
    #[serde(flatten)]
    pub options: IssueOptions,
}

/// A token just issued: what the bot sends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssuedToken {
    /// `customer_pass`, `gift_card` or `voucher`.
    pub kind: String,
    /// The subject: customer, gift card or voucher code.
    pub subject: String,
    /// The token id, hex.
    pub token_id: String,
    /// The signing key's id.
    pub kid: String,
    /// When it was issued: unix seconds.
    pub issued_at: i64,
    /// When it expires: unix seconds.
    pub expires_at: i64,
    /// The QR text.
    pub text: String,
    /// The QR as an SVG document.
    pub svg: String,
    /// The QR as a PNG, base64.
    pub png_base64: String,
}

/// Issues a fresh pass for a customer.
pub fn customer_pass(
    conn: &Connection,
    dir: &KeyDir,
    customer: &str,
    options: &IssueOptions,
    now: i64,
) -> Result<IssuedToken> {
    let record = customers::record(conn, customer)?.ok_or(Error::NotFound("customer"))?;
    if conn.is_autocommit() {
        let tx = conn.unchecked_transaction()?;
        pending::release_due(&tx, Some(customer), now)?;
        tx.commit()?;
    } else {
        pending::release_due(conn, Some(customer), now)?;
    }
    let (savings, _, _) = customers::balance(conn, customer)?.ok_or(Error::NotFound("customer"))?;
    let tier = match &record.tier {
        Some(tier) => tier_index(conn, tier)?,
        None => None,
    };
    let lifetime = options.lifetime_secs.unwrap_or(DEFAULT_PASS_LIFETIME_SECS);
    issue(
        conn,
        dir,
        TokenKind::CustomerPass,
        customer,
        tier,
        snapshot(savings),
        lifetime,
        options,
        now,
    )
}

/// Issues a token for a gift card.
pub fn gift_card_token(
    conn: &Connection,
    dir: &KeyDir,
    card: &str,
    options: &IssueOptions,
    now: i64,
) -> Result<IssuedToken> {
    let record = giftcards::get(conn, card)?.ok_or(Error::NotFound("gift card"))?;
    let lifetime = gift_card_lifetime(&record, options, now)?;
    issue(
        conn,
        dir,
        TokenKind::GiftCard,
        card,
        None,
        snapshot(record.balance),
        lifetime,
        options,
        now,
    )
}

/// How long a token of the gift card `record` lives: refused for a blocked or expired
/// card, never past the card's expiry.
pub(crate) fn gift_card_lifetime(
    record: &tillpass_protocol::sync::GiftCardRecord,
    options: &IssueOptions,
    now: i64,
) -> Result<u32> {
    if record.status == GiftCardStatus::Blocked {
        return Err(Error::Conflict("the gift card is blocked".into()));
    }
    let mut lifetime = options
        .lifetime_secs
        .unwrap_or(DEFAULT_GIFT_CARD_LIFETIME_SECS);
    if let Some(expires_at) = record.expires_at {
        let left = u32::try_from(expires_at.saturating_sub(now).max(0)).unwrap_or(u32::MAX);
        if left == 0 {
            return Err(Error::Conflict("the gift card has expired".into()));
        }
        lifetime = lifetime.min(left);
    }
    Ok(lifetime)
}

/// Issues a voucher token.
pub fn voucher(conn: &Connection, dir: &KeyDir, new: &NewVoucher, now: i64) -> Result<IssuedToken> {
    conn.execute(
        "INSERT INTO vouchers (code, promotion_id, created_at) VALUES (?1, ?2, ?3)
         ON CONFLICT (code) DO UPDATE SET promotion_id = excluded.promotion_id",
        params![
            new.code.as_str(),
            new.promotion_id.as_ref().map(PromotionId::as_str),
            now
        ],
    )?;
    let lifetime = new
        .options
        .lifetime_secs
        .unwrap_or(DEFAULT_VOUCHER_LIFETIME_SECS);
    issue(
        conn,
        dir,
        TokenKind::Voucher,
        new.code.as_str(),
        None,
        None,
        lifetime,
        &new.options,
        now,
    )
}

pub(crate) fn snapshot(money: Money) -> Option<Balance> {
    u32::try_from(money.amount).ok().map(|amount| Balance {
        amount,
        currency: money.currency,
    })
}

/// The position of `tier` in the current catalog's tiers (lowest 0), if there is one.
fn tier_index(conn: &Connection, tier: &str) -> Result<Option<u8>> {
    let cbor: Option<Vec<u8>> = conn
        .query_row(SEALED_CATALOG, [], |row| row.get(0))
        .optional()?;
    cbor.map_or(Ok(None), |cbor| tier_position(&cbor, tier))
}

/// The SQL that reads the body of the catalog last sealed, which names the tiers.
pub(crate) const SEALED_CATALOG: &str = "SELECT c.body_cbor FROM envelopes e
     JOIN catalogs c ON c.id = e.source
     WHERE e.purpose = 'catalog' ORDER BY e.sequence DESC LIMIT 1";

/// The position of `tier` among the tiers of the catalog whose CBOR body is `cbor`.
pub(crate) fn tier_position(cbor: &[u8], tier: &str) -> Result<Option<u8>> {
    let catalog: Catalog = ciborium::from_reader(cbor).map_err(Error::internal)?;
    Ok(catalog
        .tiers
        .iter()
        .position(|t| t == tier)
        .and_then(|i| u8::try_from(i).ok()))
}

#[allow(clippy::too_many_arguments)]
fn issue(
    conn: &Connection,
    dir: &KeyDir,
    kind: TokenKind,
    subject: &str,
    tier: Option<u8>,
    balance: Option<Balance>,
    lifetime_secs: u32,
    options: &IssueOptions,
    now: i64,
) -> Result<IssuedToken> {
    let asked = Asked {
        kind,
        subject,
        tier,
        balance,
        lifetime_secs,
        options,
    };
    let key = keys::active(conn, dir, Purpose::Token)?;
    let issued = sign(&asked, &key, now)?;
    conn.execute(
        "INSERT INTO issued_tokens (token_id, kind, subject, kid, issued_at, expires_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![
            issued.token_id,
            issued.kind,
            issued.subject,
            issued.kid,
            issued.issued_at,
            issued.expires_at
        ],
    )?;
    Ok(issued)
}

/// What a token is issued for.
pub(crate) struct Asked<'a> {
    pub(crate) kind: TokenKind,
    pub(crate) subject: &'a str,
    pub(crate) tier: Option<u8>,
    pub(crate) balance: Option<Balance>,
    pub(crate) lifetime_secs: u32,
    pub(crate) options: &'a IssueOptions,
}

/// Signs the token `asked` for with the token key `key` and draws its QR; the caller
/// records it in `issued_tokens`.
pub(crate) fn sign(
    asked: &Asked<'_>,
    key: &ed25519_dalek::SigningKey,
    now: i64,
) -> Result<IssuedToken> {
    let Asked {
        kind,
        subject,
        tier,
        balance,
        lifetime_secs,
        options,
    } = *asked;
    if lifetime_secs == 0 || lifetime_secs > MAX_LIFETIME_SECS {
        return Err(Error::invalid(format!(
            "lifetime_secs: 1 to {MAX_LIFETIME_SECS} seconds"
        )));
    }
    let module_px = options.module_px.unwrap_or(DEFAULT_MODULE_PX);
    let subject_bytes = Subject::new(subject.as_bytes())
        .ok_or_else(|| Error::invalid("subject: a token subject is 1 to 16 bytes"))?;
    let issued_at = u32::try_from(now).map_err(|_| Error::internal("clock out of token range"))?;
    let body = TokenBody {
        kind,
        subject: subject_bytes,
        issued_at,
        lifetime_secs,
        token_id: TokenId(random_bytes::<8>()?),
        tier,
        balance,
    };
    let kid = KeyId::of(&key.verifying_key());
    let signed = token::issue(&body, key);
    let text = signed.to_text();
    let qr = TokenQr::new(&signed).map_err(|e| Error::internal(format!("QR: {e}")))?;
    let svg = qr
        .to_svg(module_px)
        .map_err(|e| Error::invalid(format!("module_px: {e}")))?;
    let png = qr
        .to_png(module_px)
        .map_err(|e| Error::invalid(format!("module_px: {e}")))?;
    let expires_at = i64::try_from(body.expires_at()).map_err(Error::internal)?;
    Ok(IssuedToken {
        kind: kind.code().to_owned(),
        subject: subject.to_owned(),
        token_id: hex::encode(body.token_id.0),
        kid: kid.to_string(),
        issued_at: now,
        expires_at,
        text,
        svg,
        png_base64: STANDARD.encode(png),
    })
}
