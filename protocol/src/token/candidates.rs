//! Deciding what a scanned text is: every reading of it (one per keyboard profile, most
//! likely first, see [`reading`](super::reading)), decided by the signature.
//!
//! 1. Input over [`MAX_SCAN_BYTES`] is refused (`too_long`) before any other work.
//! 2. The text is read under every profile. Readings that give the same bytes count once;
//!    readings that fail to parse as a token are kept only as reasons. On a text of the
//!    prefix and ASCII digits alone, profiles that could only repeat the US profile's
//!    reading or fail are skipped (the US reading's reason is always at least as far).
//! 3. More than [`MAX_READINGS`] distinct token readings: refused (`ambiguous_reading`),
//!    so a text never costs more than that many signature checks. A genuine token text
//!    uses all ten digit keys and has one reading.
//! 4. Each token reading is checked (trust, signature, time, revocation). A reading whose
//!    signature verifies identifies the token, accepted or refused for its time or
//!    revocation. Two readings whose signatures verify are two different tokens: refused
//!    (`ambiguous_reading`); with Ed25519 it does not happen.
//! 5. When no signature verifies, the refusal is that of the reading that got furthest —
//!    past the signature, then the signature, the key, the byte layout, the group values,
//!    the digit count, then the characters and the prefix. A bad character counts as
//!    further only after a full group of digits (the later the position, the further);
//!    before that it ranks with a missing prefix. Between equals, the most likely reading.

use super::body::MAX_TOKEN_LEN;
use super::keyboards::PROFILES;
use super::reading::{self, Profile};
use super::refusal::{Malformed, Refusal};
use super::signed::SignedToken;
use super::text::MAX_SCAN_BYTES;
use super::verify::VerifiedToken;

/// For each profile, whether it can only repeat the US reading of a plain text (see
/// [`Profile::reads_plain_as_us`]), worked out when compiling.
static PLAIN_AS_US: [bool; PROFILES.len()] = {
    let mut plain = [false; PROFILES.len()];
    let mut i = 0;
    while i < plain.len() {
        plain[i] = PROFILES[i].reads_plain_as_us();
        i += 1;
    }
    plain
};

/// The most distinct token readings of one text that are checked; more is refused.
pub const MAX_READINGS: usize = 4;

/// Digits a reading must have read before its `invalid_character` counts as further than
/// another reading's (one full group): junk that happens to start like some layout's prefix
/// is a `missing_prefix`, as the most likely reading says, not that layout's bad character.
const EVIDENCE_DIGITS: usize = 17;

/// How far a refused reading got: higher is further.
fn malformed_rank(m: Malformed) -> (u8, usize) {
    match m {
        Malformed::MissingPrefix => (1, 0),
        Malformed::InvalidCharacter { position } if position < EVIDENCE_DIGITS => (1, 0),
        Malformed::InvalidCharacter { position } => (1, position),
        Malformed::TooLong => (2, 0),
        Malformed::DigitCount { .. } => (3, 0),
        Malformed::GroupOutOfRange { group } => (4, group),
        _ => (5, 0),
    }
}

fn refusal_rank(r: &Refusal) -> (u8, usize) {
    match r {
        Refusal::Malformed(m) => malformed_rank(*m),
        Refusal::UnknownKey { .. }
        | Refusal::KeyWrongPurpose { .. }
        | Refusal::KeyNotValidAtIssue { .. } => (6, 0),
        Refusal::BadSignature => (7, 0),
        _ => (8, 0),
    }
}

/// Whether a check's result means the signature verified (the reading is the token).
fn signature_verified(result: &Result<VerifiedToken, Refusal>) -> bool {
    match result {
        Ok(_) => true,
        Err(r) => refusal_rank(r).0 == 8,
    }
}

/// The furthest reason seen so far; the earlier of equals.
struct Furthest<T>(Option<((u8, usize), T)>);

impl<T> Furthest<T> {
    fn note(&mut self, rank: (u8, usize), reason: T) {
        if self.0.as_ref().is_none_or(|(best, _)| rank > *best) {
            self.0 = Some((rank, reason));
        }
    }
}

/// The distinct token readings of a text, most likely first, and the furthest reason a
/// reading failed to parse.
struct Readings {
    tokens: [Option<SignedToken>; MAX_READINGS],
    count: usize,
    too_many: bool,
    failed: Furthest<Malformed>,
}

impl Readings {
    fn tokens(&self) -> impl Iterator<Item = &SignedToken> {
        self.tokens.iter().flatten()
    }
}

/// Whether `text` (unframed) is the prefix in either case and ASCII digits alone.
fn is_plain_ascii(text: &str) -> bool {
    let bytes = text.as_bytes();
    bytes.len() >= 2
        && bytes
            .get(..2)
            .is_some_and(|p| p.eq_ignore_ascii_case(b"TP"))
        && bytes.iter().skip(2).all(u8::is_ascii_digit)
}

fn readings(text: &str) -> Result<Readings, Malformed> {
    if text.len() > MAX_SCAN_BYTES {
        return Err(Malformed::TooLong);
    }
    let text = reading::unframe(text);
    let plain = is_plain_ascii(text);
    let mut found = Readings {
        tokens: Default::default(),
        count: 0,
        too_many: false,
        failed: Furthest(None),
    };
    for (i, profile) in PROFILES.iter().enumerate() {
        if plain && i > 0 && PLAIN_AS_US.get(i).copied().unwrap_or(false) {
            continue;
        }
        match read_token(text, profile) {
            Ok(token) => {
                if found.tokens().any(|t| t.as_bytes() == token.as_bytes()) {
                    continue;
                }
                match found.tokens.get_mut(found.count) {
                    Some(slot) => {
                        *slot = Some(token);
                        found.count += 1;
                    }
                    None => {
                        found.too_many = true;
                        break;
                    }
                }
            }
            Err(m) => found.failed.note(malformed_rank(m), m),
        }
    }
    Ok(found)
}

fn read_token(text: &str, profile: &Profile) -> Result<SignedToken, Malformed> {
    let mut buf = [0u8; MAX_TOKEN_LEN];
    let len = reading::read(text, profile, &mut buf)?;
    SignedToken::from_bytes(buf.get(..len).unwrap_or(&[]))
}

/// The most likely reading of `text` that parses as a token (its signature unchecked).
pub(crate) fn most_likely(text: &str) -> Result<SignedToken, Malformed> {
    let mut found = readings(text)?;
    match found.tokens.first_mut().and_then(Option::take) {
        Some(token) => Ok(token),
        None => Err(found.failed.0.map_or(Malformed::MissingPrefix, |(_, m)| m)),
    }
}

/// Decides what `text` is: the one reading whose signature `check` verifies, or the
/// refusal of the reading that got furthest. `check` verifies one token (trust,
/// signature, time, revocation).
pub(crate) fn decide(
    text: &str,
    check: impl FnMut(&SignedToken) -> Result<VerifiedToken, Refusal>,
) -> Result<VerifiedToken, Refusal> {
    decide_between(readings(text)?, check)
}

fn decide_between(
    found: Readings,
    mut check: impl FnMut(&SignedToken) -> Result<VerifiedToken, Refusal>,
) -> Result<VerifiedToken, Refusal> {
    if found.too_many {
        return Err(Malformed::AmbiguousReading.into());
    }
    let mut refused: Furthest<Refusal> = Furthest(None);
    if let Some((rank, m)) = found.failed.0 {
        refused.note(rank, Refusal::Malformed(m));
    }
    let mut identified = None;
    for token in found.tokens() {
        let result = check(token);
        if signature_verified(&result) {
            if identified.is_some() {
                return Err(Malformed::AmbiguousReading.into());
            }
            identified = Some(result);
        } else if let Err(r) = result {
            refused.note(refusal_rank(&r), r);
        }
    }
    match (identified, refused.0) {
        (Some(result), _) => result,
        (None, Some((_, refusal))) => Err(refusal),
        (None, None) => Err(Malformed::MissingPrefix.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::token::{
        NoRevocations, Subject, TokenBody, TokenId, TokenKind, VerifyPolicy, issue, verify_token,
    };
    use crate::trust::{KeyPurpose, TrustStore, TrustedKey};
    use ed25519_dalek::SigningKey;

    const IAT: u32 = 1_750_000_000;

    fn key() -> SigningKey {
        SigningKey::from_bytes(&[21; 32])
    }

    fn trust() -> TrustStore {
        let k =
            TrustedKey::from_verifying_key(KeyPurpose::Token, key().verifying_key(), 0, u64::MAX)
                .unwrap();
        TrustStore::new(1, [k]).unwrap()
    }

    fn token(id: u8) -> SignedToken {
        let body = TokenBody {
            kind: TokenKind::CustomerPass,
            subject: Subject::new(b"C-1").unwrap(),
            issued_at: IAT,
            lifetime_secs: 3_600,
            token_id: TokenId([id; 8]),
            tier: None,
            balance: None,
        };
        issue(&body, &key())
    }

    fn check(t: &SignedToken) -> Result<VerifiedToken, Refusal> {
        verify_token(
            t,
            &trust(),
            &VerifyPolicy::default(),
            &NoRevocations,
            u64::from(IAT),
        )
    }

    fn found(tokens: &[SignedToken]) -> Readings {
        let mut r = Readings {
            tokens: Default::default(),
            count: 0,
            too_many: tokens.len() > MAX_READINGS,
            failed: Furthest(None),
        };
        for (slot, t) in r.tokens.iter_mut().zip(tokens) {
            *slot = Some(t.clone());
            r.count += 1;
        }
        r
    }

    fn forged(t: &SignedToken) -> SignedToken {
        let mut bytes = t.as_bytes().to_vec();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        SignedToken::from_bytes(&bytes).unwrap()
    }

    #[test]
    fn the_one_reading_whose_signature_verifies_is_the_token() {
        let good = token(1);
        let ok = decide_between(
            found(&[forged(&token(2)), good.clone(), forged(&good)]),
            check,
        )
        .unwrap();
        assert_eq!(ok.token_id(), TokenId([1; 8]));
    }

    #[test]
    fn two_readings_that_verify_are_refused() {
        // Two validly signed tokens as two readings of one text: with Ed25519 no text
        // reads as both, but if one did, neither may be accepted.
        assert_eq!(
            decide_between(found(&[token(1), token(2)]), check),
            Err(Refusal::Malformed(Malformed::AmbiguousReading))
        );
        // Also when the second is refused for its time: its signature identified it.
        let late = |t: &SignedToken| {
            verify_token(
                t,
                &trust(),
                &VerifyPolicy::default(),
                &NoRevocations,
                u64::from(IAT) + 10_000,
            )
        };
        assert_eq!(
            decide_between(found(&[token(1), token(2)]), late),
            Err(Refusal::Malformed(Malformed::AmbiguousReading))
        );
    }

    #[test]
    fn more_readings_than_are_checked_are_refused_without_checking_any() {
        let many: Vec<SignedToken> = (1..=5).map(token).collect();
        let mut checks = 0;
        let result = decide_between(found(&many), |t| {
            checks += 1;
            check(t)
        });
        assert_eq!(result, Err(Refusal::Malformed(Malformed::AmbiguousReading)));
        assert_eq!(checks, 0);
    }

    #[test]
    fn without_a_verified_reading_the_furthest_refusal_wins() {
        let mut r = found(&[forged(&token(1))]);
        r.failed.note(
            malformed_rank(Malformed::DigitCount { digits: 4 }),
            Malformed::DigitCount { digits: 4 },
        );
        assert_eq!(decide_between(r, check), Err(Refusal::BadSignature));
        let failed = |reasons: &[Malformed]| {
            let mut r = found(&[]);
            for &m in reasons {
                r.failed.note(malformed_rank(m), m);
            }
            decide_between(r, check)
        };
        let bad = |position| Malformed::InvalidCharacter { position };
        // After a full group, the later bad character is the further.
        assert_eq!(
            failed(&[bad(3), bad(40), bad(20), Malformed::MissingPrefix]),
            Err(Refusal::Malformed(bad(40)))
        );
        // Before it, a bad character ranks with a missing prefix: the first reading wins,
        // so junk that starts like another layout's prefix stays `missing_prefix`.
        assert_eq!(
            failed(&[Malformed::MissingPrefix, bad(5)]),
            Err(Refusal::Malformed(Malformed::MissingPrefix))
        );
        assert_eq!(
            failed(&[bad(2), Malformed::MissingPrefix, bad(9)]),
            Err(Refusal::Malformed(bad(2)))
        );
        assert_eq!(
            failed(&[bad(2), Malformed::DigitCount { digits: 4 }]),
            Err(Refusal::Malformed(Malformed::DigitCount { digits: 4 }))
        );
    }

    #[test]
    fn oversized_input_is_refused_before_reading() {
        let huge = format!("TP{}", " ".repeat(MAX_SCAN_BYTES));
        assert_eq!(
            decide(&huge, check),
            Err(Refusal::Malformed(Malformed::TooLong))
        );
        assert_eq!(most_likely(&huge).err(), Some(Malformed::TooLong));
    }

    #[test]
    fn junk_that_starts_like_a_layout_prefix_is_a_missing_prefix() {
        // `YL` is the prefix on Dvorak hosts; what follows is no layout's digits there.
        for junk in ["YL!x", "YL7?abc", "yl1234567890123456#", "G:0x", "+Q1YL0Z"] {
            assert_eq!(
                decide(junk, check),
                Err(Refusal::Malformed(Malformed::MissingPrefix)),
                "{junk}"
            );
        }
        // With a full group of digits read, the bad character is the reason.
        assert_eq!(
            decide("YL12345678901234567#", check),
            Err(Refusal::Malformed(Malformed::InvalidCharacter {
                position: 17
            }))
        );
    }

    #[test]
    fn a_plain_text_is_read_once() {
        let text = token(1).to_text();
        let r = readings(&text).unwrap();
        assert_eq!(r.count, 1);
        // Every other profile could only repeat it or fail: none was tried.
        assert!(r.failed.0.is_none());
        // Those that could read it differently are tried: a profile reading ASCII digits
        // as other digits (programmer Dvorak with Caps Lock) has another prefix.
        let differing = PROFILES
            .iter()
            .skip(1)
            .filter(|p| !p.reads_plain_as_us())
            .count();
        assert_eq!(differing, 0);
    }
}
