//! The token test vectors themselves: how each text is made and what a verifier must
//! answer. `vector_file` writes them out; `vector_check` checks the written file.

use ed25519_dalek::Signer;
use tillpass_protocol::money::Currency;
use tillpass_protocol::token::{
    self, Balance, SIGNING_CONTEXT, Subject, TokenBody, TokenId, TokenKind, VerifyPolicy,
};

use crate::util::{self, T0};

const DAY: u32 = 86_400;
/// The default `now` of the vectors: ten minutes after T0.
const NOW: u64 = T0 as u64 + 600;

fn pass() -> TokenBody {
    util::typical_pass()
}

/// One vector: how its text was made and what a verifier must say.
pub struct Vector {
    pub name: &'static str,
    pub description: &'static str,
    pub text: String,
    pub now: u64,
    /// `None` to accept, else the refusal code and detail.
    pub refusal: Option<(&'static str, Option<&'static str>)>,
    /// The body and key the text was issued from, when it was issued as is.
    pub issued: Option<(TokenBody, &'static str)>,
}

fn issued(
    name: &'static str,
    description: &'static str,
    body: TokenBody,
    key: &'static str,
) -> Vector {
    Vector {
        name,
        description,
        text: token::issue(&body, &util::key(key)).to_text(),
        now: NOW,
        refusal: None,
        issued: Some((body, key)),
    }
}

fn refused(mut v: Vector, code: &'static str, detail: Option<&'static str>) -> Vector {
    v.refusal = Some((code, detail));
    v
}

fn at(mut v: Vector, now: u64) -> Vector {
    v.now = now;
    v
}

fn derived(name: &'static str, description: &'static str, text: String) -> Vector {
    Vector {
        name,
        description,
        text,
        now: NOW,
        refusal: None,
        issued: None,
    }
}

/// The bytes of `body` issued by `key`, altered by `alter`, then signed again: a token
/// whose signature is valid but whose layout is not.
fn resigned(body: &TokenBody, key: &str, alter: impl Fn(&mut Vec<u8>)) -> String {
    let key = util::key(key);
    let bytes = token::issue(body, &key).as_bytes().to_vec();
    let mut body_bytes = bytes[..bytes.len() - 64].to_vec();
    alter(&mut body_bytes);
    let mut message = SIGNING_CONTEXT.to_vec();
    message.extend_from_slice(&body_bytes);
    body_bytes.extend_from_slice(&key.sign(&message).to_bytes());
    token::text::encode(&body_bytes)
}

fn azerty(text: &str) -> String {
    const ROW: [char; 10] = ['à', '&', 'é', '"', '\'', '(', '-', 'è', '_', 'ç'];
    text.chars()
        .map(|c| c.to_digit(10).map_or(c, |d| ROW[d as usize]))
        .collect()
}

pub fn vectors() -> Vec<Vector> {
    let policy = VerifyPolicy::default();
    let skew = u64::from(policy.clock_skew_secs);
    let t0 = u64::from(T0);
    let good = token::issue(&pass(), &util::key("token-2026"));
    let good_text = good.to_text();
    let good_bytes = good.as_bytes().to_vec();
    let flip = |at: usize| {
        let mut b = good_bytes.clone();
        b[at] ^= 0x01;
        token::text::encode(&b)
    };
    let subject_len = pass().subject.as_bytes().len();
    let last_group = match good_bytes.len() % 7 {
        0 => 17,
        n => token::text::group_digits(n),
    };
    assert_eq!(
        good_bytes.len(),
        103,
        "update the truncated_last_group description"
    );
    let eur = |amount| {
        Some(Balance {
            amount,
            currency: Currency::EUR,
        })
    };

    vec![
        issued(
            "customer_pass_full",
            "Customer pass, 8-byte subject, tier 2, savings balance 12.50 EUR.",
            pass(),
            "token-2026",
        ),
        issued(
            "customer_pass_minimal",
            "Customer pass without claims.",
            TokenBody {
                tier: None,
                balance: None,
                ..pass()
            },
            "token-2026",
        ),
        issued(
            "gift_card",
            "Gift card: the subject is the card id; balance 50.00 EUR; valid 180 days.",
            TokenBody {
                kind: TokenKind::GiftCard,
                subject: Subject::new(b"GC-0000123456").unwrap(),
                lifetime_secs: 180 * DAY,
                tier: None,
                balance: eur(5_000),
                ..pass()
            },
            "token-2026",
        ),
        issued(
            "voucher",
            "Voucher with a 16-byte subject, valid 30 days.",
            TokenBody {
                kind: TokenKind::Voucher,
                subject: Subject::new(b"V-SPRING26-00042").unwrap(),
                lifetime_secs: 30 * DAY,
                tier: None,
                balance: None,
                ..pass()
            },
            "token-2026",
        ),
        issued(
            "balance_in_yen",
            "A balance in a currency with no minor unit: 3000 JPY (ISO 4217 392).",
            TokenBody {
                balance: Some(Balance {
                    amount: 3_000,
                    currency: Currency::from_code("JPY").unwrap(),
                }),
                ..pass()
            },
            "token-2026",
        ),
        at(
            issued(
                "valid_until_expiry_plus_skew",
                "Accepted at exactly expiry + skew.",
                pass(),
                "token-2026",
            ),
            t0 + 86_400 + skew,
        ),
        refused(
            at(
                issued(
                    "expired",
                    "One second after expiry + skew.",
                    pass(),
                    "token-2026",
                ),
                t0 + 86_400 + skew + 1,
            ),
            "expired",
            None,
        ),
        at(
            issued(
                "valid_from_issue_minus_skew",
                "Accepted at exactly issued-at - skew (till clock behind).",
                pass(),
                "token-2026",
            ),
            t0 - skew,
        ),
        refused(
            at(
                issued(
                    "not_yet_valid",
                    "One second before issued-at - skew.",
                    pass(),
                    "token-2026",
                ),
                t0 - skew - 1,
            ),
            "not_yet_valid",
            None,
        ),
        refused(
            issued(
                "lifetime_too_long",
                "A customer pass valid 7 days + 1 second; the policy allows 7 days.",
                TokenBody {
                    lifetime_secs: 7 * DAY + 1,
                    ..pass()
                },
                "token-2026",
            ),
            "lifetime_too_long",
            None,
        ),
        refused(
            derived(
                "bad_signature",
                "customer_pass_full with the lowest bit of the last signature byte flipped.",
                flip(good_bytes.len() - 1),
            ),
            "bad_signature",
            None,
        ),
        refused(
            derived(
                "body_tampered",
                "customer_pass_full with the tier changed from 2 to 3, signature kept.",
                flip(23 + subject_len + 1),
            ),
            "bad_signature",
            None,
        ),
        refused(
            issued(
                "unknown_key",
                "Signed by a key that is not in the trust store.",
                pass(),
                "token-unlisted",
            ),
            "unknown_key",
            None,
        ),
        refused(
            issued(
                "key_wrong_purpose",
                "Signed by a catalog key.",
                pass(),
                "catalog-2026",
            ),
            "key_wrong_purpose",
            None,
        ),
        refused(
            issued(
                "key_not_valid_at_issue",
                "Signed by a token key whose window ended 30 days before issued-at.",
                pass(),
                "token-retired",
            ),
            "key_not_valid_at_issue",
            None,
        ),
        refused(
            issued(
                "revoked_key",
                "Signed by a token key listed in the revocations.",
                pass(),
                "token-revoked",
            ),
            "revoked",
            Some("key"),
        ),
        refused(
            issued(
                "revoked_token_id",
                "Its token id is listed in the revocations.",
                TokenBody {
                    token_id: TokenId(*b"REVOKED!"),
                    ..pass()
                },
                "token-2026",
            ),
            "revoked",
            Some("token_id"),
        ),
        refused(
            issued(
                "revoked_subject",
                "Its subject's tokens issued before T0 + 1 are revoked; issued at T0.",
                TokenBody {
                    subject: Subject::new(b"LOST-PHONE-0007").unwrap(),
                    ..pass()
                },
                "token-2026",
            ),
            "revoked",
            Some("subject"),
        ),
        issued(
            "reissued_after_subject_revocation",
            "Same subject, issued at T0 + 1: not revoked.",
            TokenBody {
                subject: Subject::new(b"LOST-PHONE-0007").unwrap(),
                issued_at: T0 + 1,
                ..pass()
            },
            "token-2026",
        ),
        refused(
            derived(
                "truncated_one_digit",
                "customer_pass_full without its last digit.",
                good_text[..good_text.len() - 1].to_owned(),
            ),
            "malformed",
            Some("digit_count"),
        ),
        refused(
            derived(
                "truncated_last_group",
                "customer_pass_full without its last group of digits (its last 103 mod 7 = 5 bytes).",
                good_text[..good_text.len() - last_group].to_owned(),
            ),
            "malformed",
            Some("truncated"),
        ),
        refused(
            derived(
                "trailing_byte",
                "customer_pass_full's bytes plus one byte 0x00 after the signature, encoded.",
                token::text::encode(&[good_bytes.as_slice(), &[0]].concat()),
            ),
            "malformed",
            Some("trailing_bytes"),
        ),
        refused(
            derived(
                "appended_digits",
                "customer_pass_full's text followed by 000: no byte length has that many digits.",
                format!("{good_text}000"),
            ),
            "malformed",
            Some("digit_count"),
        ),
        refused(
            derived(
                "trailing_garbage",
                "customer_pass_full followed by X.",
                format!("{good_text}X"),
            ),
            "malformed",
            Some("invalid_character"),
        ),
        derived(
            "aim_identifier",
            "customer_pass_full behind the AIM identifier ]Q1.",
            format!("]Q1{good_text}"),
        ),
        derived(
            "lower_case_prefix",
            "customer_pass_full with a lower-case prefix.",
            format!("tp{}", &good_text[2..]),
        ),
        derived(
            "azerty_digits",
            "customer_pass_full as typed by a scanner on an AZERTY keyboard without Shift.",
            azerty(&good_text),
        ),
        derived(
            "surrounding_whitespace",
            "customer_pass_full with spaces before and CR LF after.",
            format!("  {good_text}\r\n"),
        ),
        refused(
            derived(
                "group_out_of_range",
                "customer_pass_full with its first group replaced by 2^56 (does not fit 7 bytes).",
                format!("TP{}{}", 1u64 << 56, &good_text[19..]),
            ),
            "malformed",
            Some("group_out_of_range"),
        ),
        refused(
            derived(
                "missing_prefix",
                "customer_pass_full without its prefix.",
                good_text[2..].to_owned(),
            ),
            "malformed",
            Some("missing_prefix"),
        ),
        refused(
            derived("empty", "An empty scan.", String::new()),
            "malformed",
            Some("missing_prefix"),
        ),
        refused(
            derived(
                "unknown_version",
                "Version byte 2, validly signed.",
                resigned(&pass(), "token-2026", |b| b[0] = 2),
            ),
            "malformed",
            Some("unknown_version"),
        ),
        refused(
            derived(
                "unknown_type",
                "Type byte 9, validly signed.",
                resigned(&pass(), "token-2026", |b| b[1] = 9),
            ),
            "malformed",
            Some("unknown_type"),
        ),
        refused(
            derived(
                "unknown_claim_flag",
                "Claim flag bit 2 set, validly signed.",
                resigned(&pass(), "token-2026", |b| b[23 + subject_len] |= 0b100),
            ),
            "malformed",
            Some("unknown_claims"),
        ),
    ]
}
