//! The token body: its fields, and its fixed binary layout (version 1).
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 1 | version, `0x01` |
//! | 1 | 1 | type: `0x01` customer pass, `0x02` gift card, `0x03` voucher |
//! | 2 | 4 | key id of the signer |
//! | 6 | 4 | issued-at, unix seconds, u32 big-endian |
//! | 10 | 4 | lifetime in seconds, u32 big-endian (expiry = issued-at + lifetime) |
//! | 14 | 8 | token id (random nonce chosen by the issuer) |
//! | 22 | 1 | subject length `n`, 1 to 16 |
//! | 23 | n | subject reference (opaque bytes, no personal data) |
//! | 23+n | 1 | claim flags: bit 0 tier, bit 1 balance; other bits must be 0 |
//! | … | 1 | tier, if flagged |
//! | … | 6 | balance, if flagged: amount u32 BE minor units, currency u16 BE ISO 4217 numeric |
//!
//! The 64-byte Ed25519 signature follows the body.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::lang::{Bilingual, Lang};
use crate::money::{Currency, Money};
use crate::trust::KeyId;

use super::refusal::Malformed;

/// The body layout version this module reads and writes.
pub const VERSION: u8 = 1;
/// The longest subject reference, in bytes.
pub const MAX_SUBJECT_LEN: usize = 16;
/// The length of an Ed25519 signature.
pub const SIGNATURE_LEN: usize = 64;
/// Bytes before the subject: version, type, kid, issued-at, lifetime, token id, length.
const FIXED_LEN: usize = 1 + 1 + 4 + 4 + 4 + 8 + 1;
/// The longest body: every optional claim present, longest subject.
pub const MAX_BODY_LEN: usize = FIXED_LEN + MAX_SUBJECT_LEN + 1 + 1 + 6;
/// The shortest body: one-byte subject, no claims.
pub const MIN_BODY_LEN: usize = FIXED_LEN + 1 + 1;
/// The longest token (body and signature), in bytes.
pub const MAX_TOKEN_LEN: usize = MAX_BODY_LEN + SIGNATURE_LEN;
/// The shortest token, in bytes.
pub const MIN_TOKEN_LEN: usize = MIN_BODY_LEN + SIGNATURE_LEN;

const FLAG_TIER: u8 = 0b01;
const FLAG_BALANCE: u8 = 0b10;

/// What a token stands for: the type byte of the body, and the kind the journal, the POS
/// and the dashboard name (`customer_pass`, `gift_card`, `voucher`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum TokenKind {
    /// A loyalty customer's pass: the subject is the customer reference.
    CustomerPass,
    /// A gift card: the subject is the card id.
    GiftCard,
    /// A voucher: the subject is the voucher id.
    Voucher,
}

impl TokenKind {
    /// The type byte on the wire.
    pub fn to_byte(self) -> u8 {
        match self {
            TokenKind::CustomerPass => 1,
            TokenKind::GiftCard => 2,
            TokenKind::Voucher => 3,
        }
    }

    /// The kind for a type byte.
    pub fn from_byte(byte: u8) -> Option<TokenKind> {
        match byte {
            1 => Some(TokenKind::CustomerPass),
            2 => Some(TokenKind::GiftCard),
            3 => Some(TokenKind::Voucher),
            _ => None,
        }
    }

    /// A stable snake_case name: `customer_pass`, `gift_card`, `voucher`.
    pub fn code(self) -> &'static str {
        match self {
            TokenKind::CustomerPass => "customer_pass",
            TokenKind::GiftCard => "gift_card",
            TokenKind::Voucher => "voucher",
        }
    }

    /// The kind named `code` (as [`TokenKind::code`] writes it).
    pub fn from_code(code: &str) -> Option<TokenKind> {
        [
            TokenKind::CustomerPass,
            TokenKind::GiftCard,
            TokenKind::Voucher,
        ]
        .into_iter()
        .find(|k| k.code() == code)
    }

    /// What a cashier or a manager reads for the kind, in every language.
    pub fn labels(self) -> Bilingual {
        let (es, en) = match self {
            TokenKind::CustomerPass => ("Pase de cliente", "Customer pass"),
            TokenKind::GiftCard => ("Tarjeta regalo", "Gift card"),
            TokenKind::Voucher => ("Cupón", "Voucher"),
        };
        Bilingual { es, en }
    }

    /// What a cashier or a manager reads for the kind in `lang`.
    pub fn label(self, lang: Lang) -> &'static str {
        self.labels().get(lang)
    }
}

/// An opaque subject reference of 1 to 16 bytes: a customer, gift-card or voucher id as
/// central knows it. Never personal data: a QR image can be forwarded.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Subject {
    len: u8,
    /// Bytes past `len` are always zero, so the derived comparisons are exact.
    bytes: [u8; MAX_SUBJECT_LEN],
}

impl Subject {
    /// A subject from its bytes; `None` unless 1 to 16 bytes long.
    pub fn new(reference: &[u8]) -> Option<Subject> {
        let len = u8::try_from(reference.len()).ok()?;
        let mut bytes = [0u8; MAX_SUBJECT_LEN];
        bytes.get_mut(..reference.len())?.copy_from_slice(reference);
        (len > 0).then_some(Subject { len, bytes })
    }

    /// The reference bytes.
    pub fn as_bytes(&self) -> &[u8] {
        self.bytes.get(..usize::from(self.len)).unwrap_or(&[])
    }
}

impl fmt::Debug for Subject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Subject({})", hex::encode(self.as_bytes()))
    }
}

/// A token id: 8 random bytes chosen by the issuer, so a till can recognise a replayed or a
/// revoked token.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TokenId(pub [u8; 8]);

impl fmt::Debug for TokenId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TokenId({})", hex::encode(self.0))
    }
}

impl fmt::Display for TokenId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

/// A signed balance snapshot as of the token's issued-at: the customer's savings, or a gift
/// card's remaining value. Lets a till that has never seen the subject honour a capped
/// offline redemption.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Balance {
    /// Minor units (cents for EUR).
    pub amount: u32,
    /// The currency.
    pub currency: Currency,
}

impl Balance {
    /// The balance as [`Money`].
    pub fn to_money(self) -> Money {
        Money::new(i64::from(self.amount), self.currency)
    }
}

/// What a token says, before it is signed. Times are unix seconds in a `u32` (good until
/// 2106).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TokenBody {
    /// What the token stands for.
    pub kind: TokenKind,
    /// Who or what it refers to.
    pub subject: Subject,
    /// When it was issued.
    pub issued_at: u32,
    /// How long it is valid after `issued_at`, in seconds.
    pub lifetime_secs: u32,
    /// The issuer's random nonce.
    pub token_id: TokenId,
    /// The customer's loyalty tier, if the issuer includes it.
    pub tier: Option<u8>,
    /// A balance snapshot, if the issuer includes one.
    pub balance: Option<Balance>,
}

impl TokenBody {
    /// When the token expires: issued-at plus lifetime, unix seconds.
    pub fn expires_at(&self) -> u64 {
        u64::from(self.issued_at) + u64::from(self.lifetime_secs)
    }

    /// Appends the body, signed by the key `kid`, to `out`.
    pub(crate) fn encode(&self, kid: KeyId, out: &mut Vec<u8>) {
        out.push(VERSION);
        out.push(self.kind.to_byte());
        out.extend_from_slice(&kid.0);
        out.extend_from_slice(&self.issued_at.to_be_bytes());
        out.extend_from_slice(&self.lifetime_secs.to_be_bytes());
        out.extend_from_slice(&self.token_id.0);
        out.push(self.subject.len);
        out.extend_from_slice(self.subject.as_bytes());
        let flags = if self.tier.is_some() { FLAG_TIER } else { 0 }
            | if self.balance.is_some() {
                FLAG_BALANCE
            } else {
                0
            };
        out.push(flags);
        if let Some(tier) = self.tier {
            out.push(tier);
        }
        if let Some(balance) = self.balance {
            out.extend_from_slice(&balance.amount.to_be_bytes());
            out.extend_from_slice(&balance.currency.numeric().to_be_bytes());
        }
    }

    /// Reads a body from the front of `bytes`, returning it, its signer's key id and the
    /// rest (which should be the signature). Refuses unknown versions, types and flags,
    /// bad subject lengths and unknown currencies.
    pub(crate) fn parse(bytes: &[u8]) -> Result<(TokenBody, KeyId, &[u8]), Malformed> {
        let mut r = Reader(bytes);
        let version = r.byte()?;
        if version != VERSION {
            return Err(Malformed::UnknownVersion(version));
        }
        let kind_byte = r.byte()?;
        let kind = TokenKind::from_byte(kind_byte).ok_or(Malformed::UnknownType(kind_byte))?;
        let kid = KeyId(r.array()?);
        let issued_at = u32::from_be_bytes(r.array()?);
        let lifetime_secs = u32::from_be_bytes(r.array()?);
        let token_id = TokenId(r.array()?);
        let subject_len = r.byte()?;
        if subject_len == 0 || usize::from(subject_len) > MAX_SUBJECT_LEN {
            return Err(Malformed::SubjectLength(subject_len));
        }
        let subject = Subject::new(r.take(usize::from(subject_len))?)
            .ok_or(Malformed::SubjectLength(subject_len))?;
        let flags = r.byte()?;
        if flags & !(FLAG_TIER | FLAG_BALANCE) != 0 {
            return Err(Malformed::UnknownClaims(flags));
        }
        let tier = if flags & FLAG_TIER != 0 {
            Some(r.byte()?)
        } else {
            None
        };
        let balance = if flags & FLAG_BALANCE != 0 {
            let amount = u32::from_be_bytes(r.array()?);
            let numeric = u16::from_be_bytes(r.array()?);
            let currency =
                Currency::from_numeric(numeric).map_err(|_| Malformed::UnknownCurrency(numeric))?;
            Some(Balance { amount, currency })
        } else {
            None
        };
        let body = TokenBody {
            kind,
            subject,
            issued_at,
            lifetime_secs,
            token_id,
            tier,
            balance,
        };
        Ok((body, kid, r.0))
    }
}

/// A cursor over untrusted bytes: every read is bounds-checked.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn byte(&mut self) -> Result<u8, Malformed> {
        let (&b, rest) = self.0.split_first().ok_or(Malformed::Truncated)?;
        self.0 = rest;
        Ok(b)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], Malformed> {
        let (head, rest) = self
            .0
            .split_first_chunk::<N>()
            .ok_or(Malformed::Truncated)?;
        self.0 = rest;
        Ok(*head)
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], Malformed> {
        let (head, rest) = self.0.split_at_checked(n).ok_or(Malformed::Truncated)?;
        self.0 = rest;
        Ok(head)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body() -> TokenBody {
        TokenBody {
            kind: TokenKind::GiftCard,
            subject: Subject::new(b"card-0042").unwrap(),
            issued_at: 0x0102_0304,
            lifetime_secs: 3_600,
            token_id: TokenId([9; 8]),
            tier: Some(3),
            balance: Some(Balance {
                amount: 2_500,
                currency: Currency::EUR,
            }),
        }
    }

    #[test]
    fn layout_puts_each_field_at_its_documented_offset() {
        let mut out = Vec::new();
        body().encode(KeyId([0xaa, 0xbb, 0xcc, 0xdd]), &mut out);
        assert_eq!(out.len(), FIXED_LEN + 9 + 1 + 1 + 6);
        assert_eq!(out[0], VERSION);
        assert_eq!(out[1], 2);
        assert_eq!(out[2..6], [0xaa, 0xbb, 0xcc, 0xdd]);
        assert_eq!(out[6..10], [1, 2, 3, 4]);
        assert_eq!(out[10..14], 3_600u32.to_be_bytes());
        assert_eq!(out[14..22], [9; 8]);
        assert_eq!(out[22], 9);
        assert_eq!(&out[23..32], b"card-0042");
        assert_eq!(out[32], FLAG_TIER | FLAG_BALANCE);
        assert_eq!(out[33], 3);
        assert_eq!(out[34..38], 2_500u32.to_be_bytes());
        assert_eq!(out[38..40], 978u16.to_be_bytes());
    }

    #[test]
    fn parse_reads_back_what_encode_wrote_and_leaves_the_rest() {
        let kid = KeyId([1, 2, 3, 4]);
        let mut out = Vec::new();
        body().encode(kid, &mut out);
        out.extend_from_slice(b"sig");
        let (parsed, parsed_kid, rest) = TokenBody::parse(&out).unwrap();
        assert_eq!((parsed, parsed_kid, rest), (body(), kid, &b"sig"[..]));
    }

    #[test]
    fn every_prefix_of_a_body_is_truncated() {
        let mut out = Vec::new();
        body().encode(KeyId([0; 4]), &mut out);
        for len in 0..out.len() {
            assert_eq!(
                TokenBody::parse(&out[..len]).map(|_| ()),
                Err(Malformed::Truncated),
                "prefix of {len} bytes"
            );
        }
    }

    #[test]
    fn unknown_version_type_flags_currency_and_subject_lengths_are_refused() {
        let mut good = Vec::new();
        body().encode(KeyId([0; 4]), &mut good);
        let with = |at: usize, value: u8| {
            let mut b = good.clone();
            b[at] = value;
            TokenBody::parse(&b).map(|_| ())
        };
        assert_eq!(with(0, 2), Err(Malformed::UnknownVersion(2)));
        assert_eq!(with(1, 0), Err(Malformed::UnknownType(0)));
        assert_eq!(with(1, 4), Err(Malformed::UnknownType(4)));
        assert_eq!(with(22, 0), Err(Malformed::SubjectLength(0)));
        assert_eq!(with(22, 17), Err(Malformed::SubjectLength(17)));
        assert_eq!(with(32, 0b111), Err(Malformed::UnknownClaims(0b111)));
        // 0x0300 = 768 is not an ISO 4217 number.
        assert_eq!(with(39, 0), Err(Malformed::UnknownCurrency(0x0300)));
    }

    #[test]
    fn subjects_are_one_to_sixteen_bytes() {
        assert!(Subject::new(b"").is_none());
        assert!(Subject::new(&[1; 17]).is_none());
        assert_eq!(Subject::new(&[1; 16]).unwrap().as_bytes(), &[1; 16]);
        assert_ne!(Subject::new(&[0]), Subject::new(&[0, 0]));
    }
}
