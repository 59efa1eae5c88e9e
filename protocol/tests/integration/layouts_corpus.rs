//! The layouts corpus: tokens typed by a US keyboard-wedge scanner through every layout of
//! `tests/vectors/layouts.json` (generated from xkeyboard-config by `protocol/xkbgen`), with
//! Caps Lock off and on, in every framing a scanner adds. Every readable text identifies
//! its token; every corrupted one is refused with the reason its canonical text gets.
//!
//! The typing here uses only the corpus file, not the decoder's tables, as another
//! implementation would.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;
use tillpass_protocol::money::Currency;
use tillpass_protocol::token::{
    self, Balance, NoRevocations, Refusal, SignedToken, Subject, TokenBody, TokenKind,
    VerifiedToken,
};
use tillpass_protocol::trust::{KeyPurpose, TrustStore};

use crate::util::{self, T0};

const PATH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/vectors/layouts.json");
const NOW: u64 = T0 as u64 + 600;

/// One layout in one Caps Lock state: what it types for each US character.
struct Host {
    label: String,
    class: String,
    typed: BTreeMap<char, Option<String>>,
    readable: bool,
    /// What the digit keys type with Shift (a scanner set to AZERTY on this host).
    shifted_digits: BTreeMap<char, Option<String>>,
    readable_shifted: bool,
}

impl Host {
    /// `us` (US characters) as this host types it, if every character can be typed.
    fn type_text(&self, us: &str) -> Option<String> {
        us.chars()
            .map(|c| self.typed.get(&c).cloned().flatten())
            .collect()
    }

    /// A token text as a scanner set to AZERTY types it here: the prefix as usual, the
    /// digits with Shift.
    fn type_shifted(&self, us: &str) -> Option<String> {
        us.chars()
            .enumerate()
            .map(|(i, c)| {
                let table = if i < 2 {
                    &self.typed
                } else {
                    &self.shifted_digits
                };
                table.get(&c).cloned().flatten()
            })
            .collect()
    }
}

fn char_map(v: &Value) -> BTreeMap<char, Option<String>> {
    v.as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.chars().next().unwrap(), v.as_str().map(str::to_owned)))
        .collect()
}

fn hosts() -> Vec<Host> {
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(PATH).unwrap()).unwrap();
    let mut hosts = Vec::new();
    for layout in doc["layouts"].as_array().unwrap() {
        for state in ["caps_off", "caps_on"] {
            let s = &layout[state];
            hosts.push(Host {
                label: format!("{} {state}", layout["name"].as_str().unwrap()),
                class: layout["class"].as_str().unwrap().to_owned(),
                typed: char_map(&s["typed"]),
                readable: s["readable"] == Value::Bool(true),
                shifted_digits: char_map(&s["shifted_digits"]),
                readable_shifted: s["readable_shifted"] == Value::Bool(true),
            });
        }
    }
    hosts
}

fn tokens() -> Vec<SignedToken> {
    let key = util::key("token-2026");
    let pass = util::typical_pass();
    vec![
        token::issue(&pass, &key),
        token::issue(
            &TokenBody {
                kind: TokenKind::GiftCard,
                subject: Subject::new(b"GC-0000123456").unwrap(),
                lifetime_secs: 86_400 * 30,
                tier: None,
                balance: Some(Balance {
                    amount: 5_000,
                    currency: Currency::EUR,
                }),
                ..pass
            },
            &key,
        ),
        token::issue(
            &TokenBody {
                kind: TokenKind::Voucher,
                subject: Subject::new(b"V-9").unwrap(),
                tier: None,
                balance: None,
                ..pass
            },
            &key,
        ),
    ]
}

fn trust() -> TrustStore {
    util::store(&[(KeyPurpose::Token, &util::key("token-2026"))])
}

fn verify(text: &str, trust: &TrustStore) -> Result<VerifiedToken, Refusal> {
    token::verify(text, trust, &util::any_lifetime(), &NoRevocations, NOW)
}

/// The framings a scanner adds, around a text typed on `host` (US characters in the
/// framing are typed on the host too). `None` where the host cannot type the framing.
fn framings(host: &Host, typed: &str) -> Vec<(&'static str, Option<String>)> {
    let aim = host.type_text("]Q1");
    let eci = host.type_text("]Q2\\000026");
    vec![
        ("plain", Some(typed.to_owned())),
        ("enter", Some(format!("{typed}\r\n"))),
        ("stx_etx", Some(format!("\u{2}{typed}\u{3}"))),
        ("nul_before", Some(format!("\u{0}{typed}"))),
        ("nul_after", Some(format!("{typed}\u{0}"))),
        ("bom", Some(format!("\u{feff}{typed}"))),
        ("aim", aim.as_ref().map(|a| format!("{a}{typed}"))),
        ("aim_eci", eci.map(|e| format!("{e}{typed}"))),
        ("doubled", Some(format!("{typed}{typed}"))),
        ("doubled_lines", Some(format!("{typed}\r\n{typed}\r\n"))),
        (
            "doubled_aim",
            aim.map(|a| format!("\u{2}{a}{typed}\u{3}\u{2}{a}{typed}\u{3}")),
        ),
        ("full_width", Some(typed.chars().map(full_width).collect())),
    ]
}

/// The full-width form of an ASCII character, as East Asian input methods send it.
fn full_width(c: char) -> char {
    match c {
        '!'..='~' => char::from_u32(u32::from(c) + 0xfee0).unwrap(),
        other => other,
    }
}

/// Corruptions of a canonical text, each a function of the US text.
fn corruptions(canonical: &str) -> Vec<(&'static str, String)> {
    let digits = &canonical[2..];
    let n = digits.len();
    // A digit inside the signature that is not the first of its 17-digit group.
    let at = 2 + n - 30;
    let changed = |text: &str| {
        let mut t: Vec<char> = text.chars().collect();
        t[at] = char::from_digit((t[at].to_digit(10).unwrap() + 1) % 10, 10).unwrap();
        t.into_iter().collect::<String>()
    };
    vec![
        (
            "one_digit_short",
            canonical[..canonical.len() - 1].to_owned(),
        ),
        (
            "last_group_cut",
            canonical[..canonical.len() - 13].to_owned(),
        ),
        ("digit_changed", changed(canonical)),
        (
            "group_overflow",
            format!("TP{}{}", 1u64 << 56, &canonical[19..]),
        ),
        ("digits_doubled", format!("{canonical}{}", &canonical[2..])),
        ("empty_body", "TP".to_owned()),
    ]
}

fn outcome(result: &Result<VerifiedToken, Refusal>) -> String {
    match result {
        Ok(v) => format!("accept {}", v.token_id()),
        Err(r) => format!("{} {:?}", r.code(), r.detail_code()),
    }
}

#[test]
fn the_corpus_covers_every_layout_class() {
    let hosts = hosts();
    let layouts: BTreeSet<&str> = hosts
        .iter()
        .map(|h| h.label.split(' ').next().unwrap())
        .collect();
    assert!(layouts.len() >= 30, "{} layouts", layouts.len());
    let classes: BTreeSet<&str> = hosts.iter().map(|h| h.class.as_str()).collect();
    for class in [
        "latin",
        "central_european",
        "baltic",
        "nordic",
        "cyrillic",
        "greek",
        "turkish",
        "dvorak",
        "colemak",
        "east_asian",
    ] {
        assert!(classes.contains(class), "no {class} layout");
    }
    // The classes the independent corpus found refused are in, and readable.
    for label in [
        "be caps_off",
        "be caps_on",
        "cz caps_on",
        "sk caps_off",
        "hu caps_off",
        "lt caps_on",
        "us(dvorak) caps_off",
        "us(dvp) caps_off",
        "us(colemak) caps_off",
        "tr(f) caps_off",
        "ru caps_off",
        "gr caps_on",
    ] {
        let host = hosts.iter().find(|h| h.label == label).unwrap();
        assert!(host.readable, "{label}");
    }
}

#[test]
fn every_readable_text_identifies_its_token() {
    let trust = trust();
    let mut checked = 0;
    let mut failures = Vec::new();
    for host in hosts() {
        for token in tokens() {
            let canonical = token.to_text();
            let Some(typed) = host.type_text(&canonical) else {
                assert!(!host.readable, "{}: readable but not typeable", host.label);
                continue;
            };
            for (framing, text) in framings(&host, &typed) {
                let Some(text) = text else { continue };
                let result = verify(&text, &trust);
                checked += 1;
                let right = result
                    .as_ref()
                    .is_ok_and(|v| v.token_id() == token.body().token_id);
                if host.readable && !right {
                    failures.push(format!("{} {framing}: {}", host.label, outcome(&result)));
                }
                // An unreadable layout's text is refused; it never verifies as another token.
                if !host.readable {
                    assert!(result.is_err() || right, "{} {framing}", host.label);
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {checked}:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(checked > 3_000, "{checked}");
}

#[test]
fn every_corrupted_text_is_refused_with_its_canonical_reason() {
    let trust = trust();
    let token = &tokens()[0];
    let canonical = token.to_text();
    let expected: Vec<(&str, String, String)> = corruptions(&canonical)
        .into_iter()
        .map(|(name, text)| {
            let result = verify(&text, &trust);
            assert!(result.is_err(), "{name}: corrupted canonical text accepted");
            (name, text, outcome(&result))
        })
        .collect();
    // The reasons themselves, on the canonical text.
    let reasons: BTreeMap<&str, &str> = expected
        .iter()
        .map(|(name, _, reason)| (*name, reason.as_str()))
        .collect();
    assert_eq!(
        reasons["one_digit_short"],
        "malformed Some(\"digit_count\")"
    );
    assert_eq!(reasons["last_group_cut"], "malformed Some(\"truncated\")");
    assert_eq!(reasons["digit_changed"], "bad_signature None");
    assert_eq!(
        reasons["group_overflow"],
        "malformed Some(\"group_out_of_range\")"
    );
    assert_eq!(reasons["digits_doubled"], "malformed Some(\"too_long\")");
    assert_eq!(reasons["empty_body"], "malformed Some(\"truncated\")");

    let mut failures = Vec::new();
    for host in hosts().iter().filter(|h| h.readable) {
        for (name, text, reason) in &expected {
            let Some(typed) = host.type_text(text) else {
                continue;
            };
            let got = outcome(&verify(&typed, &trust));
            if &got != reason {
                failures.push(format!("{} {name}: {got}, expected {reason}", host.label));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn a_scanner_set_to_azerty_is_read_on_every_host() {
    let trust = trust();
    let mut read = 0;
    let mut failures = Vec::new();
    for host in hosts() {
        for token in tokens() {
            let Some(text) = host.type_shifted(&token.to_text()) else {
                continue;
            };
            let result = verify(&format!("{text}\r\n"), &trust);
            let right = result
                .as_ref()
                .is_ok_and(|v| v.token_id() == token.body().token_id);
            if host.readable_shifted && !right {
                failures.push(format!("{}: {}", host.label, outcome(&result)));
            }
            assert!(result.is_err() || right, "{}", host.label);
            read += 1;
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(read > 300, "{read}");
    // On a US host, the AZERTY scanner's digits are the US shifted symbols.
    let us = hosts()
        .into_iter()
        .find(|h| h.label == "us caps_off")
        .unwrap();
    assert_eq!(us.type_shifted("TP0123456789").unwrap(), "TP)!@#$%^&*(");
}
