//! Verifying a token: the policy, the order of checks, and the verified result.
//!
//! Order (the signature before any use of the claims): length and shape → decode → key by
//! kid in the trust store (purpose `token`, validity window covering issued-at) →
//! `verify_strict` over context ‖ body → time (issued-at not beyond now + skew; now not
//! beyond expiry + skew; lifetime within the policy for the kind) → revocation (key, token
//! id, subject revoked-before). Replay and customer lookup are the agent's.

use super::body::{Balance, Subject, TokenBody, TokenId, TokenKind};
use super::candidates::decide;
use super::refusal::Refusal;
use super::revocation::{Revocations, revoked_by};
use super::signed::{MAX_MESSAGE_LEN, SignedToken};
use crate::trust::{KeyId, KeyLookupError, KeyPurpose, TrustStore};

/// What a till accepts, beyond a valid signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VerifyPolicy {
    /// How far the till's clock and the issuer's may disagree, in seconds: a token issued
    /// up to this far in the future, or expired up to this long ago, is still accepted.
    pub clock_skew_secs: u32,
    /// The longest lifetime accepted for a customer pass, in seconds.
    pub max_lifetime_customer_pass_secs: u32,
    /// The longest lifetime accepted for a gift-card token, in seconds.
    pub max_lifetime_gift_card_secs: u32,
    /// The longest lifetime accepted for a voucher token, in seconds.
    pub max_lifetime_voucher_secs: u32,
}

const DAY: u32 = 86_400;

impl Default for VerifyPolicy {
    /// Five minutes of skew; passes up to 7 days, gift cards up to 366 days, vouchers up
    /// to 90 days.
    fn default() -> VerifyPolicy {
        VerifyPolicy {
            clock_skew_secs: 300,
            max_lifetime_customer_pass_secs: 7 * DAY,
            max_lifetime_gift_card_secs: 366 * DAY,
            max_lifetime_voucher_secs: 90 * DAY,
        }
    }
}

impl VerifyPolicy {
    /// The longest lifetime accepted for tokens of `kind`.
    pub fn max_lifetime_secs(&self, kind: TokenKind) -> u32 {
        match kind {
            TokenKind::CustomerPass => self.max_lifetime_customer_pass_secs,
            TokenKind::GiftCard => self.max_lifetime_gift_card_secs,
            TokenKind::Voucher => self.max_lifetime_voucher_secs,
        }
    }
}

/// A token that passed every check. Only [`verify`] and [`verify_token`] make one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VerifiedToken {
    body: TokenBody,
    kid: KeyId,
}

impl VerifiedToken {
    /// The whole verified body.
    pub fn body(&self) -> &TokenBody {
        &self.body
    }

    /// The key that signed it.
    pub fn kid(&self) -> KeyId {
        self.kid
    }

    /// What the token stands for.
    pub fn kind(&self) -> TokenKind {
        self.body.kind
    }

    /// The subject reference (customer, gift card or voucher id).
    pub fn subject(&self) -> &Subject {
        &self.body.subject
    }

    /// The token id, for the agent's replay records.
    pub fn token_id(&self) -> TokenId {
        self.body.token_id
    }

    /// When it was issued, unix seconds.
    pub fn issued_at(&self) -> u64 {
        u64::from(self.body.issued_at)
    }

    /// When it expires, unix seconds.
    pub fn expires_at(&self) -> u64 {
        self.body.expires_at()
    }

    /// The tier claim.
    pub fn tier(&self) -> Option<u8> {
        self.body.tier
    }

    /// The balance snapshot claim, as of [`issued_at`](VerifiedToken::issued_at).
    pub fn balance(&self) -> Option<Balance> {
        self.body.balance
    }
}

impl From<KeyLookupError> for Refusal {
    fn from(e: KeyLookupError) -> Refusal {
        match e {
            KeyLookupError::Unknown(kid) => Refusal::UnknownKey { kid },
            KeyLookupError::WrongPurpose { kid, has, .. } => {
                Refusal::KeyWrongPurpose { kid, purpose: has }
            }
            KeyLookupError::OutsideValidity { kid, .. } => Refusal::KeyNotValidAtIssue { kid },
        }
    }
}

/// Decodes and verifies a scanned text. `now` is unix seconds.
///
/// Every reading of the text (keyboard layouts, Caps Lock, framing) that parses as a token
/// is verified, at most [`MAX_READINGS`](super::MAX_READINGS); the one whose signature
/// verifies is the token. Two such readings are refused (`ambiguous_reading`). When none
/// verifies, the refusal is that of the reading that got furthest.
pub fn verify(
    text: &str,
    trust: &TrustStore,
    policy: &VerifyPolicy,
    revocations: &impl Revocations,
    now: u64,
) -> Result<VerifiedToken, Refusal> {
    decide(text, |token| {
        verify_token(token, trust, policy, revocations, now)
    })
}

/// Verifies an already decoded token. `now` is unix seconds.
pub fn verify_token(
    token: &SignedToken,
    trust: &TrustStore,
    policy: &VerifyPolicy,
    revocations: &impl Revocations,
    now: u64,
) -> Result<VerifiedToken, Refusal> {
    let body = token.body();
    let issued_at = u64::from(body.issued_at);

    let key = trust.lookup(token.kid(), KeyPurpose::Token, issued_at)?;
    let mut buf = [0u8; MAX_MESSAGE_LEN];
    key.verifying_key()
        .verify_strict(token.signed_message(&mut buf), &token.signature())
        .map_err(|_| Refusal::BadSignature)?;

    let skew = u64::from(policy.clock_skew_secs);
    if issued_at > now.saturating_add(skew) {
        return Err(Refusal::NotYetValid { issued_at, now });
    }
    let expires_at = body.expires_at();
    if now > expires_at.saturating_add(skew) {
        return Err(Refusal::Expired { expires_at, now });
    }
    let max_secs = policy.max_lifetime_secs(body.kind);
    if body.lifetime_secs > max_secs {
        return Err(Refusal::LifetimeTooLong {
            lifetime_secs: body.lifetime_secs,
            max_secs,
        });
    }
    if let Some(by) = revoked_by(revocations, token.kid(), body) {
        return Err(Refusal::Revoked(by));
    }
    Ok(VerifiedToken {
        body: *body,
        kid: token.kid(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::token::refusal::RevokedBy;
    use crate::token::{NoRevocations, RevocationDelta, RevocationList, decode, issue};
    use crate::trust::TrustedKey;
    use ed25519_dalek::SigningKey;

    const IAT: u32 = 1_750_000_000;

    fn signer() -> SigningKey {
        SigningKey::from_bytes(&[11; 32])
    }

    fn store(purpose: KeyPurpose, not_before: u64) -> TrustStore {
        let key = TrustedKey::from_verifying_key(
            purpose,
            signer().verifying_key(),
            not_before,
            u64::from(IAT) + 1_000_000,
        )
        .unwrap();
        TrustStore::new(1, [key]).unwrap()
    }

    fn text(lifetime_secs: u32) -> String {
        let body = TokenBody {
            kind: TokenKind::CustomerPass,
            subject: Subject::new(b"cust-1").unwrap(),
            issued_at: IAT,
            lifetime_secs,
            token_id: TokenId([3; 8]),
            tier: Some(2),
            balance: None,
        };
        issue(&body, &signer()).to_text()
    }

    fn check(text: &str, trust: &TrustStore, now: u64) -> Result<VerifiedToken, Refusal> {
        verify(text, trust, &VerifyPolicy::default(), &NoRevocations, now)
    }

    #[test]
    fn a_fresh_token_verifies_and_exposes_its_claims() {
        let trust = store(KeyPurpose::Token, 0);
        let ok = check(&text(3_600), &trust, u64::from(IAT) + 10).unwrap();
        assert_eq!(ok.kind(), TokenKind::CustomerPass);
        assert_eq!(ok.subject().as_bytes(), b"cust-1");
        assert_eq!(ok.tier(), Some(2));
        assert_eq!(ok.expires_at(), u64::from(IAT) + 3_600);
        assert_eq!(ok.kid(), KeyId::of(&signer().verifying_key()));
    }

    #[test]
    fn time_bounds_include_the_skew_exactly() {
        let trust = store(KeyPurpose::Token, 0);
        let skew = u64::from(VerifyPolicy::default().clock_skew_secs);
        let iat = u64::from(IAT);
        let t = text(3_600);
        assert!(check(&t, &trust, iat - skew).is_ok());
        assert_eq!(
            check(&t, &trust, iat - skew - 1),
            Err(Refusal::NotYetValid {
                issued_at: iat,
                now: iat - skew - 1
            })
        );
        assert!(check(&t, &trust, iat + 3_600 + skew).is_ok());
        assert_eq!(
            check(&t, &trust, iat + 3_600 + skew + 1).map_err(|r| r.code()),
            Err("expired")
        );
    }

    #[test]
    fn lifetime_beyond_the_policy_for_the_kind_is_refused() {
        let trust = store(KeyPurpose::Token, 0);
        let max = VerifyPolicy::default().max_lifetime_customer_pass_secs;
        assert!(check(&text(max), &trust, u64::from(IAT)).is_ok());
        assert_eq!(
            check(&text(max + 1), &trust, u64::from(IAT)),
            Err(Refusal::LifetimeTooLong {
                lifetime_secs: max + 1,
                max_secs: max
            })
        );
    }

    #[test]
    fn the_key_must_be_a_token_key_valid_at_issue() {
        let now = u64::from(IAT);
        assert_eq!(
            check(&text(60), &store(KeyPurpose::Catalog, 0), now).map_err(|r| r.code()),
            Err("key_wrong_purpose")
        );
        assert_eq!(
            check(&text(60), &store(KeyPurpose::Token, now + 1), now).map_err(|r| r.code()),
            Err("key_not_valid_at_issue")
        );
        assert_eq!(
            check(&text(60), &TrustStore::default(), now).map_err(|r| r.code()),
            Err("unknown_key")
        );
    }

    #[test]
    fn a_bad_signature_is_refused_before_time_is_looked_at() {
        let trust = store(KeyPurpose::Token, 0);
        let token = decode(&text(60)).unwrap();
        let mut bytes = token.as_bytes().to_vec();
        let last = bytes.len() - 1;
        bytes[last] ^= 0x01;
        let forged = SignedToken::from_bytes(&bytes).unwrap();
        // Even long after expiry, the refusal is the signature.
        let later = u64::from(IAT) + 10_000_000;
        assert_eq!(
            verify_token(
                &forged,
                &trust,
                &VerifyPolicy::default(),
                &NoRevocations,
                later
            ),
            Err(Refusal::BadSignature)
        );
    }

    #[test]
    fn revocations_are_checked_last() {
        let trust = store(KeyPurpose::Token, 0);
        let mut list = RevocationList::new();
        list.apply(&RevocationDelta {
            token_ids: vec![TokenId([3; 8])],
            ..RevocationDelta::default()
        });
        let policy = VerifyPolicy::default();
        let t = text(60);
        assert_eq!(
            verify(&t, &trust, &policy, &list, u64::from(IAT)),
            Err(Refusal::Revoked(RevokedBy::TokenId))
        );
        // An expired revoked token reports expiry: time comes first.
        assert_eq!(
            verify(&t, &trust, &policy, &list, u64::from(IAT) + 100_000).map_err(|r| r.code()),
            Err("expired")
        );
    }
}
