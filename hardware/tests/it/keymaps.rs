//! Property: any text typed through any supported keymap decodes back to the same text.

use std::time::Duration;

use proptest::prelude::*;
use tillpass_hardware::clock::Timestamp;
use tillpass_hardware::config::{DeviceConfig, KeyboardConfig};
use tillpass_hardware::keymap::Country;
use tillpass_hardware::keymap::typing::{self, TypingOptions};
use tillpass_hardware::label::AimMode;
use tillpass_hardware::pipeline::Pipeline;
use tillpass_hardware::wedge::{KeyDecoder, KeyEvent};

use crate::util::{labels, replay, scanner};

fn decode(country: Country, caps_lock: bool, events: &[KeyEvent]) -> (String, Vec<String>) {
    let mut dec = KeyDecoder::new(country.keymap());
    dec.set_caps_lock(caps_lock);
    let mut text = String::new();
    let mut problems = Vec::new();
    for ev in events {
        if let Err(p) = dec.push(*ev, &mut text) {
            problems.push(p);
        }
    }
    (text, problems)
}

fn country() -> impl Strategy<Value = Country> {
    prop::sample::select(Country::ALL.to_vec())
}

/// Token texts: an upper-case prefix of 2-4 letters, then up to 270 digits.
fn token_text() -> impl Strategy<Value = String> {
    ("[A-Z]{2,4}", "[0-9]{0,270}").prop_map(|(p, d)| p + &d)
}

fn type_on(country: Country, text: &str, opts: TypingOptions) -> Vec<KeyEvent> {
    typing::type_text(
        country.keymap(),
        text,
        opts,
        Timestamp::ZERO,
        Duration::from_millis(2),
    )
    .unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn tokens_round_trip_on_every_keymap(country in country(), text in token_text(), caps in any::<bool>()) {
        // Every keymap types letters and digits directly, no Alt codes needed.
        let opts = TypingOptions { caps_lock: caps, alt_fallback: false };
        let events = type_on(country, &text, opts);
        prop_assert_eq!(decode(country, caps, &events), (text, vec![]));
    }

    #[test]
    fn printable_ascii_round_trips_where_the_keymap_types_it(
        country in country(),
        text in "[ -~]{0,80}",
    ) {
        let opts = TypingOptions::default();
        if let Ok(strokes) = typing::strokes(country.keymap(), &text, opts) {
            let events = typing::key_events(&strokes, Timestamp::ZERO, Duration::from_millis(1));
            prop_assert_eq!(decode(country, false, &events), (text, vec![]));
        }
    }

    #[test]
    fn printable_ascii_round_trips_everywhere_with_alt_codes(
        country in country(),
        text in "[ -~]{0,80}",
        caps in any::<bool>(),
    ) {
        let opts = TypingOptions { caps_lock: caps, alt_fallback: true };
        let events = type_on(country, &text, opts);
        prop_assert_eq!(decode(country, caps, &events), (text, vec![]));
    }

    #[test]
    fn latin1_letters_round_trip_with_dead_keys_and_alt_codes(
        country in country(),
        text in "[a-zA-Z0-9àáâäèéêëìíîïòóôöùúûüñçÀÉÑÇ€£§°]{0,40}",
    ) {
        let opts = TypingOptions { caps_lock: false, alt_fallback: true };
        let events = type_on(country, &text, opts);
        prop_assert_eq!(decode(country, false, &events), (text, vec![]));
    }

    #[test]
    fn whole_pipeline_scans_typed_tokens(country in country(), text in token_text()) {
        let mut config = scanner(
            "wedge",
            DeviceConfig::Keyboard(KeyboardConfig {
                path: "/dev/input/by-id/test".into(),
                keymap: country,
                shared_with_keyboard: false,
                machine_keys: 4,
                machine_gap_ms: 20,
            }),
        );
        config.label.aim = AimMode::Ignore;
        let mut pipeline = Pipeline::new(&config);
        let events = type_on(country, &format!("{text}\r{text}\r"), TypingOptions::default());
        let out = replay(&mut pipeline, &events);
        prop_assert_eq!(labels(&out), vec![text.clone(), text]);
        prop_assert_eq!(out.len(), 2);
    }
}

#[test]
fn the_italian_keymap_needs_alt_codes_for_backtick_and_tilde() {
    let it = Country::It.keymap();
    assert!(typing::strokes(it, "`", TypingOptions::default()).is_err());
    assert!(typing::strokes(it, "~", TypingOptions::default()).is_err());
    for country in Country::ALL.into_iter().filter(|c| *c != Country::It) {
        let all: String = (' '..='~').collect();
        assert!(
            typing::strokes(country.keymap(), &all, TypingOptions::default()).is_ok(),
            "{country} types all of printable ASCII"
        );
    }
}

#[test]
fn a_scanner_set_to_any_xkb_layout_is_read_back() {
    let xkb: Vec<Country> = Country::xkb().collect();
    assert!(xkb.len() >= 40, "{} xkb layouts", xkb.len());
    let text = "TP0028305981288919324128]Q1\\000026";
    let mut read = 0;
    for country in xkb {
        for caps in [false, true] {
            // A scanner set to a Cyrillic or Greek layout types Latin letters with Alt
            // codes, as scanners do; every other layout types them directly.
            let opts = TypingOptions {
                caps_lock: caps,
                alt_fallback: true,
            };
            let Ok(strokes) = typing::strokes(country.keymap(), text, opts) else {
                continue;
            };
            let events = typing::key_events(&strokes, Timestamp::ZERO, Duration::from_millis(2));
            assert_eq!(
                decode(country, caps, &events),
                (text.to_owned(), vec![]),
                "{country} caps {caps}"
            );
            read += 1;
        }
    }
    assert!(read >= 80, "{read}");
}

#[test]
fn xkb_layouts_type_what_xkeyboard_config_says() {
    use tillpass_hardware::keycode::{KEY_0, KEY_2, KEY_P, KEY_Q, KEY_T};
    use tillpass_hardware::keymap::Sym;
    let cz = Country::from_code("cz").unwrap();
    assert_eq!(cz.code(), "cz");
    let map = cz.keymap();
    assert_eq!(map.resolve(KEY_2, false, false, false), Sym::Char('ě'));
    // Caps Lock upper-cases the Czech digit row, and the digits stay on Shift.
    assert_eq!(map.resolve(KEY_2, false, false, true), Sym::Char('Ě'));
    assert_eq!(map.resolve(KEY_2, true, false, false), Sym::Char('2'));
    assert_eq!(map.resolve(KEY_0, false, false, false), Sym::Char('é'));
    let ru = Country::from_code("ru").unwrap().keymap();
    assert_eq!(ru.resolve(KEY_T, true, false, false), Sym::Char('Е'));
    assert_eq!(ru.resolve(KEY_Q, false, false, true), Sym::Char('Й'));
    let dvorak = Country::from_code("us(dvorak)").unwrap().keymap();
    assert_eq!(dvorak.resolve(KEY_P, false, false, false), Sym::Char('l'));
    // Programmer Dvorak's digit keys are of an alphabetic type: Caps Lock shifts them.
    let dvp = Country::from_code("us(dvp)").unwrap().keymap();
    assert_eq!(dvp.resolve(KEY_2, false, false, false), Sym::Char('['));
    assert_eq!(dvp.resolve(KEY_2, false, false, true), Sym::Char('7'));
    assert_eq!(
        Country::from_code("de(nodeadkeys)")
            .unwrap()
            .keymap()
            .keypad_decimal(),
        ','
    );
    // The Windows tables keep their codes.
    assert_eq!(Country::from_code("fr"), Some(Country::Fr));
    assert_eq!(Country::from_code("gb"), Some(Country::Uk));
    assert_eq!(Country::from_code("xx"), None);
}

#[test]
fn the_windows_tables_agree_with_xkb_on_letters_and_digits() {
    use tillpass_hardware::keycode::{KEY_0, KEY_1, KEY_A, KEY_M, KEY_Q, KEY_Z};
    use tillpass_hardware::keymap::Level;
    let keys: Vec<u16> = (KEY_1..=KEY_0)
        .chain(KEY_Q..=tillpass_hardware::keycode::KEY_P)
        .chain(KEY_A..=tillpass_hardware::keycode::KEY_L)
        .chain(KEY_Z..=KEY_M)
        .collect();
    for (country, name) in Country::ALL
        .iter()
        .zip(["us", "gb", "de", "fr", "es", "it", "pt"])
    {
        let windows = country.keymap();
        let generated = tillpass_hardware::keymap::xkb_keymap(name).unwrap();
        for &code in &keys {
            for level in [Level::Base, Level::Shift] {
                assert_eq!(
                    windows.sym(code, level),
                    generated.sym(code, level),
                    "{country} key {code} {level:?}"
                );
            }
        }
    }
}
