//! The token test vectors themselves: how each text is made and what a verifier must
//! answer. `vector_file` writes them out; `vector_check` checks the written file.

use ed25519_dalek::Signer;
use tillpass_protocol::money::Currency;
use tillpass_protocol::token::{
    self, Balance, SIGNING_CONTEXT, Subject, TokenBody, TokenId, TokenKind, VerifyPolicy,
};

use crate::util::{self, T0};
use crate::vector_edges::{self as edges, Corpus, IDENTITY, IDENTITY_NON_CANONICAL};

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
    let corpus = Corpus::load();
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
        // Strict signature checks: texts a permissive Ed25519 verifier accepts.
        refused(
            derived(
                "strict_small_order_r",
                "customer_pass_full re-signed with R = the identity point (small order) and S = k·a: the cofactorless equation holds; verify_strict refuses small-order R.",
                edges::identity_r(&good_bytes, &util::key("token-2026"), IDENTITY),
            ),
            "bad_signature",
            None,
        ),
        refused(
            derived(
                "strict_s_plus_ell",
                "customer_pass_full with S replaced by S + ℓ (not reduced): refused, S must be below ℓ.",
                edges::s_plus_ell(&good_bytes),
            ),
            "bad_signature",
            None,
        ),
        refused(
            derived(
                "strict_non_canonical_r",
                "customer_pass_full re-signed with R = the identity encoded non-canonically (y = p + 1) and S = k·a over those R bytes.",
                edges::identity_r(
                    &good_bytes,
                    &util::key("token-2026"),
                    IDENTITY_NON_CANONICAL,
                ),
            ),
            "bad_signature",
            None,
        ),
        refused(
            derived(
                "strict_small_order_key",
                "customer_pass_full's body naming the kid of the small-order key (the identity point), R = identity, S = 0: valid for any message under that key. No trust list may hold it, so it is unknown; a verifier that trusted it must still refuse it.",
                edges::small_order_key(&good_bytes),
            ),
            "unknown_key",
            None,
        ),
        // Keyboard layouts: customer_pass_full typed by a US-configured scanner on hosts
        // with other layouts (from tests/vectors/layouts.json).
        derived(
            "layout_belgian_caps_lock",
            "Belgian AZERTY with Caps Lock: § for 6, ! for 8, accented letters upper-cased.",
            corpus.typed("be", true, &good_text),
        ),
        derived(
            "layout_czech",
            "Czech QWERTZ: +ěščřžýáíé for 1234567890 (é is 0 here, 2 on AZERTY).",
            corpus.typed("cz", false, &good_text),
        ),
        derived(
            "layout_czech_caps_lock",
            "Czech with Caps Lock: +ĚŠČŘŽÝÁÍÉ, and the prefix in lower case.",
            corpus.typed("cz", true, &good_text),
        ),
        derived(
            "layout_slovak",
            "Slovak QWERTZ: +ľščťžýáíé.",
            corpus.typed("sk", false, &good_text),
        ),
        derived(
            "layout_hungarian",
            "Hungarian: the key that types 0 on a US host types ö.",
            corpus.typed("hu", false, &good_text),
        ),
        derived(
            "layout_lithuanian_caps_lock",
            "Lithuanian with Caps Lock: ĄČĘĖĮŠŲŪ„“ for 1234567890.",
            corpus.typed("lt", true, &good_text),
        ),
        derived(
            "layout_russian",
            "Russian: the prefix keys type ЕЗ.",
            corpus.typed("ru", false, &good_text),
        ),
        derived(
            "layout_greek_caps_lock",
            "Greek with Caps Lock: the prefix keys type τπ.",
            corpus.typed("gr", true, &good_text),
        ),
        derived(
            "layout_turkish_f",
            "Turkish F: the prefix keys type OP.",
            corpus.typed("tr(f)", false, &good_text),
        ),
        derived(
            "layout_dvorak",
            "US Dvorak: the prefix keys type YL.",
            corpus.typed("us(dvorak)", false, &good_text),
        ),
        derived(
            "layout_programmer_dvorak",
            "Programmer Dvorak: the digit keys type &[{}(=*)+] unshifted.",
            corpus.typed("us(dvp)", false, &good_text),
        ),
        derived(
            "layout_programmer_dvorak_caps_lock",
            "Programmer Dvorak with Caps Lock: the digit keys type the shifted digits 7531902468 (and & for 1).",
            corpus.typed("us(dvp)", true, &good_text),
        ),
        derived(
            "layout_colemak",
            "Colemak: the prefix keys type G: (Shift+P is a colon).",
            corpus.typed("us(colemak)", false, &good_text),
        ),
        derived(
            "layout_bepo",
            "French BÉPO: the prefix keys type ÈJ, the digit keys \"«»()@+-/*.",
            corpus.typed("fr(bepo)", false, &good_text),
        ),
        derived(
            "layout_azerty_scanner_on_us_host",
            "A scanner set to AZERTY types digits with Shift: on a US host they arrive as )!@#$%^&*(.",
            format!(
                "TP{}",
                good_text[2..]
                    .chars()
                    .map(|c| [')', '!', '@', '#', '$', '%', '^', '&', '*', '(']
                        [c.to_digit(10).unwrap() as usize])
                    .collect::<String>()
            ),
        ),
        derived(
            "full_width",
            "Full-width forms from an East Asian input method: ＴＰ０１….",
            good_text
                .chars()
                .map(|c| char::from_u32(u32::from(c) + 0xfee0).unwrap())
                .collect(),
        ),
        refused(
            derived(
                "layout_czech_digit_changed",
                "layout_czech with one signature digit changed (ř for 5 became ž for 6).",
                {
                    let cz = corpus.typed("cz", false, &good_text);
                    let at = cz.char_indices().rev().find(|(_, c)| *c == 'ř').unwrap().0;
                    format!("{}ž{}", &cz[..at], &cz[at + 'ř'.len_utf8()..])
                },
            ),
            "bad_signature",
            None,
        ),
        refused(
            derived(
                "layout_azerty_truncated",
                "azerty_digits without its last character.",
                {
                    let mut t = azerty(&good_text);
                    t.pop();
                    t
                },
            ),
            "malformed",
            Some("digit_count"),
        ),
        refused(
            derived(
                "layouts_mixed",
                "azerty_digits with its 11th digit typed on Czech (ě): no one layout types it; the furthest reading (AZERTY) stops there.",
                {
                    let t: Vec<char> = azerty(&good_text).chars().collect();
                    t.iter()
                        .enumerate()
                        .map(|(i, &c)| if i == 12 { 'ě' } else { c })
                        .collect()
                },
            ),
            "malformed",
            Some("invalid_character"),
        ),
        // Scanner framing.
        derived(
            "framing_stx_etx",
            "customer_pass_full between STX (0x02) and ETX (0x03).",
            format!("\u{2}{good_text}\u{3}"),
        ),
        derived(
            "framing_nul_before",
            "customer_pass_full after a NUL.",
            format!("\u{0}{good_text}"),
        ),
        derived(
            "framing_nul_after",
            "customer_pass_full before a NUL.",
            format!("{good_text}\u{0}"),
        ),
        derived(
            "framing_bom",
            "customer_pass_full after a byte-order mark (U+FEFF).",
            format!("\u{feff}{good_text}"),
        ),
        derived(
            "framing_whitespace_and_controls",
            "customer_pass_full between Tab, no-break space, GS (0x1d) and EOT (0x04): every Unicode whitespace and control character at either end is framing.",
            format!("\t\u{a0}\u{1d}{good_text}\u{4}\r\n"),
        ),
        derived(
            "aim_german",
            "The AIM identifier ]Q1 typed on German: +Q1.",
            format!("{}{}", corpus.typed("de", false, "]Q1"), good_text),
        ),
        derived(
            "aim_azerty",
            "The AIM identifier ]Q1 and the text typed on French AZERTY: $A& then the AZERTY digits.",
            corpus.typed("fr", false, &format!("]Q1{good_text}")),
        ),
        derived(
            "aim_eci",
            "The AIM identifier ]Q2 (ECI) then the ECI escape \\000026 (UTF-8) before the text.",
            format!("]Q2\\000026{good_text}"),
        ),
        derived(
            "doubled_read",
            "customer_pass_full read twice into one text: the first token is taken.",
            format!("{good_text}{good_text}"),
        ),
        derived(
            "doubled_read_lines",
            "customer_pass_full read twice, each read ending in CR LF.",
            format!("{good_text}\r\n{good_text}\r\n"),
        ),
        // Which refusal wins.
        refused(
            derived(
                "prefix_only",
                "TP with no digits: zero digits encode zero bytes, which end before the body.",
                "TP".to_owned(),
            ),
            "malformed",
            Some("truncated"),
        ),
        refused(
            derived(
                "invalid_character_before_digit_count",
                "customer_pass_full without its last digit, then X: characters are checked before the digit count.",
                format!("{}X", &good_text[..good_text.len() - 1]),
            ),
            "malformed",
            Some("invalid_character"),
        ),
        refused(
            at(
                issued(
                    "expired_and_revoked",
                    "revoked_token_id's token after its expiry: time is checked before revocation.",
                    TokenBody {
                        token_id: TokenId(*b"REVOKED!"),
                        ..pass()
                    },
                    "token-2026",
                ),
                t0 + 86_400 + skew + 1,
            ),
            "expired",
            None,
        ),
        refused(
            derived(
                "balance_without_minor_unit",
                "A balance in gold (XAU, ISO 4217 959, no minor unit), validly signed.",
                resigned(&pass(), "token-2026", |b| {
                    let n = b.len();
                    b[n - 2..].copy_from_slice(&959u16.to_be_bytes());
                }),
            ),
            "malformed",
            Some("unknown_currency"),
        ),
    ]
}
