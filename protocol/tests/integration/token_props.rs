//! Property tests of tokens: round trip, truncations, bit flips, hostile input.

use ed25519_dalek::SigningKey;
use proptest::prelude::*;
use tillpass_protocol::money::Currency;
use tillpass_protocol::token::text::{MAX_DIGITS, PREFIX};
use tillpass_protocol::token::{
    self, Balance, NoRevocations, Refusal, SignedToken, Subject, TokenBody, TokenId, TokenKind,
};
use tillpass_protocol::trust::KeyPurpose;

use crate::util;

fn arb_currency() -> impl Strategy<Value = Currency> {
    prop::sample::select(vec!["EUR", "USD", "GBP", "JPY", "BHD", "CHF"])
        .prop_map(|code| Currency::from_code(code).unwrap())
}

fn arb_body() -> impl Strategy<Value = TokenBody> {
    (
        prop::sample::select(vec![
            TokenKind::CustomerPass,
            TokenKind::GiftCard,
            TokenKind::Voucher,
        ]),
        prop::collection::vec(any::<u8>(), 1..=16),
        any::<u32>(),
        any::<u32>(),
        any::<[u8; 8]>(),
        any::<Option<u8>>(),
        prop::option::of((any::<u32>(), arb_currency())),
    )
        .prop_map(
            |(kind, subject, issued_at, lifetime_secs, id, tier, balance)| TokenBody {
                kind,
                subject: Subject::new(&subject).unwrap(),
                issued_at,
                lifetime_secs,
                token_id: TokenId(id),
                tier,
                balance: balance.map(|(amount, currency)| Balance { amount, currency }),
            },
        )
}

/// Verifies `text` against a store trusting `key`, at the token's issue time.
fn verify_at_issue(text: &str, key: &SigningKey, issued_at: u32) -> Result<(), Refusal> {
    let store = util::store(&[(KeyPurpose::Token, key)]);
    token::verify(
        text,
        &store,
        &util::any_lifetime(),
        &NoRevocations,
        u64::from(issued_at),
    )
    .map(|_| ())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn issue_encode_decode_verify_round_trips(body in arb_body(), seed in any::<[u8; 32]>()) {
        let key = SigningKey::from_bytes(&seed);
        let issued = token::issue(&body, &key);
        let text = issued.to_text();
        prop_assert!(text.len() <= PREFIX.len() + MAX_DIGITS);
        prop_assert!(text.bytes().skip(2).all(|b| b.is_ascii_digit()));

        let decoded = token::decode(&text).unwrap();
        prop_assert_eq!(&decoded, &issued);
        prop_assert_eq!(SignedToken::from_bytes(issued.as_bytes()).unwrap(), issued);

        let store = util::store(&[(KeyPurpose::Token, &key)]);
        let verified = token::verify(
            &text, &store, &util::any_lifetime(), &NoRevocations, u64::from(body.issued_at),
        ).unwrap();
        prop_assert_eq!(verified.body(), &body);
        prop_assert_eq!(verified.expires_at(), u64::from(body.issued_at) + u64::from(body.lifetime_secs));
    }

    #[test]
    fn every_truncation_of_a_valid_text_is_refused(body in arb_body()) {
        let text = token::issue(&body, &util::key("truncation")).to_text();
        // Token texts are ASCII: every byte offset is a character boundary.
        for end in 0..text.len() {
            prop_assert!(token::decode(&text[..end]).is_err(), "decoded a prefix of {} chars", end);
        }
        // Dropping whole bytes (keeping a valid digit count) fails too.
        let bytes = token::decode(&text).unwrap().as_bytes().to_vec();
        for len in 0..bytes.len() {
            let shorter = token::text::encode(&bytes[..len]);
            prop_assert!(token::decode(&shorter).is_err(), "decoded {} of {} bytes", len, bytes.len());
        }
    }

    #[test]
    fn appended_bytes_are_refused(body in arb_body(), extra in prop::collection::vec(any::<u8>(), 1..8)) {
        let mut bytes = token::issue(&body, &util::key("trailing")).as_bytes().to_vec();
        bytes.extend_from_slice(&extra);
        let text = token::text::encode(&bytes);
        prop_assert!(token::decode(&text).is_err());
    }
}

proptest! {
    // Each case verifies about 900 signatures; a few cases cover every bit position.
    #![proptest_config(ProptestConfig::with_cases(3))]

    #[test]
    fn every_single_bit_flip_of_body_or_signature_is_refused(body in arb_body()) {
        let key = util::key("bit flips");
        let bytes = token::issue(&body, &key).as_bytes().to_vec();
        for bit in 0..bytes.len() * 8 {
            let mut flipped = bytes.clone();
            flipped[bit / 8] ^= 1 << (bit % 8);
            let text = token::text::encode(&flipped);
            prop_assert!(
                verify_at_issue(&text, &key, body.issued_at).is_err(),
                "bit {} flipped still verifies", bit
            );
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    #[test]
    fn arbitrary_text_never_panics(text in any::<String>()) {
        let _ = token::decode(&text);
        let _ = verify_at_issue(&text, &util::key("hostile"), 0);
    }

    #[test]
    fn token_shaped_text_never_panics(
        head in prop::sample::select(vec!["TP", "tp", "]Q1TP", " \r\nTP", "]Z9tp", "T", ""]),
        digits in "[0-9&é\"'(\\-è_çàX ]{0,300}",
    ) {
        let text = format!("{head}{digits}");
        let _ = verify_at_issue(&text, &util::key("hostile"), 0);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..160)) {
        let _ = SignedToken::from_bytes(&bytes);
        let text = token::text::encode(&bytes);
        let _ = verify_at_issue(&text, &util::key("hostile"), 0);
    }
}
