//! Keyboard-wedge and HID-POS scanners, replayed from the recorded streams in
//! `tests/fixtures/` (evemu-record and hid-recorder text; see `fixtures.rs` for how they were
//! made: there is no USB on the build machines).

use std::fs;

use tillpass_hardware::clock::Timestamp;
use tillpass_hardware::config::{
    DeviceConfig, HidPosConfig, HidPosVendor, KeyboardConfig, LayoutChoice, ScannerConfig,
};
use tillpass_hardware::hidpos::descriptor_has_barcode_page;
use tillpass_hardware::keymap::Country;
use tillpass_hardware::pipeline::{Input, Output, Pipeline};
use tillpass_hardware::recording::{Evemu, HidRecording};
use tillpass_hardware::wedge::KeyValue;
use tillpass_hardware::{ScannerError, Symbology};

use crate::fixtures;
use crate::util::{fixtures_dir, labels, replay, replay_reports, scanner};

fn read(name: &str) -> String {
    fs::read_to_string(fixtures_dir().join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn keyboard(keymap: Country, shared: bool) -> ScannerConfig {
    scanner(
        "wedge",
        DeviceConfig::Keyboard(KeyboardConfig {
            path: "/dev/input/by-id/usb-test-event-kbd".into(),
            keymap,
            shared_with_keyboard: shared,
            machine_keys: 4,
            machine_gap_ms: 20,
        }),
    )
}

fn hidpos(vendor: HidPosVendor) -> ScannerConfig {
    scanner(
        "pos",
        DeviceConfig::HidPos(HidPosConfig {
            path: "/dev/tillpass/scanner0".into(),
            layout: LayoutChoice::Named(vendor),
        }),
    )
}

#[test]
fn committed_fixtures_match_their_generator() {
    for (name, text) in fixtures::all() {
        assert_eq!(
            read(name),
            text,
            "{name}: regenerate with --ignored regenerate"
        );
    }
}

#[test]
fn us_keyboard_wedge() {
    let rec = Evemu::parse(&read("wedge-us-honeywell.evemu")).unwrap();
    assert_eq!(rec.id, Some([3, 0x0c2e, 0x0b61, 0x0111]));
    let keys = rec.key_events(Timestamp::ZERO);
    let out = replay(&mut Pipeline::new(&keyboard(Country::Us, false)), &keys);
    assert_eq!(
        labels(&out),
        vec![fixtures::us_token(), "TPA20240607".to_owned()]
    );
    let Output::Scan { label, raw, .. } = &out[0] else {
        panic!()
    };
    assert_eq!(label.symbology, Symbology::QrCode);
    assert_eq!(label.text.len(), 270);
    assert!(raw.starts_with(b"]Q1TPX"));
    // The same stream read with the wrong keymap is not silently accepted as the same text.
    let wrong = replay(&mut Pipeline::new(&keyboard(Country::Fr, false)), &keys);
    assert_ne!(labels(&wrong).first(), Some(&fixtures::us_token()));
}

#[test]
fn es_keyboard_wedge_with_altgr() {
    let rec = Evemu::parse(&read("wedge-es-datalogic.evemu")).unwrap();
    let keys = rec.key_events(Timestamp::ZERO);
    assert!(
        keys.iter()
            .any(|k| k.code == tillpass_hardware::keycode::KEY_RIGHTALT)
    );
    let out = replay(&mut Pipeline::new(&keyboard(Country::Es, false)), &keys);
    assert_eq!(
        labels(&out),
        vec![fixtures::es_token(), "TP-01/Ñ".to_owned()]
    );
    let Output::Scan { label, .. } = &out[1] else {
        panic!()
    };
    assert_eq!(label.symbology, Symbology::Code128);
    // Read as US, AltGr+] is still ] but - / Ñ come out wrong: the error is visible.
    let us = replay(&mut Pipeline::new(&keyboard(Country::Us, false)), &keys);
    assert_ne!(labels(&us).get(1).map(String::as_str), Some("TP-01/Ñ"));
}

#[test]
fn alt_numpad_sequences() {
    let rec = Evemu::parse(&read("wedge-alt-numpad-zebra.evemu")).unwrap();
    let keys = rec.key_events(Timestamp::ZERO);
    let out = replay(&mut Pipeline::new(&keyboard(Country::It, false)), &keys);
    assert_eq!(labels(&out), vec!["TP~`42".to_owned(), "TP7".to_owned()]);
}

#[test]
fn a_scanner_sharing_a_device_with_a_person() {
    let rec = Evemu::parse(&read("wedge-shared-keyboard.evemu")).unwrap();
    let keys = rec.key_events(Timestamp::ZERO);
    let out = replay(&mut Pipeline::new(&keyboard(Country::Us, true)), &keys);
    assert_eq!(labels(&out), vec!["TP123456".to_owned()]);
    let forwarded: Vec<u16> = out
        .iter()
        .filter_map(|o| match o {
            Output::Forward(k) if k.value == KeyValue::Press => Some(k.code),
            _ => None,
        })
        .collect();
    use tillpass_hardware::keycode::{KEY_H, KEY_I, KEY_X};
    assert_eq!(forwarded, vec![KEY_H, KEY_I, KEY_X], "{out:#?}");
    // Without the timing rule the person's keys would be part of the scan.
    let plain = replay(&mut Pipeline::new(&keyboard(Country::Us, false)), &keys);
    assert!(!labels(&plain).contains(&"TP123456".to_owned()));
}

#[test]
fn honeywell_hidpos_joins_continued_reports() {
    let rec = HidRecording::parse(&read("hidpos-honeywell.hidrec")).unwrap();
    assert!(descriptor_has_barcode_page(&rec.descriptor));
    assert_eq!(rec.reports.len(), 6);
    assert_eq!(rec.reports[0].1[63], 1, "continued");
    let out = replay_reports(
        &mut Pipeline::new(&hidpos(HidPosVendor::Honeywell)),
        &rec.reports,
    );
    assert_eq!(
        labels(&out),
        vec![fixtures::us_token(), "4006381333931".to_owned()]
    );
    let symbologies: Vec<_> = out
        .iter()
        .filter_map(|o| match o {
            Output::Scan { label, .. } => Some(label.symbology),
            _ => None,
        })
        .collect();
    assert_eq!(symbologies, vec![Symbology::QrCode, Symbology::EanUpc]);
}

#[test]
fn a_stalled_multi_report_scan_is_reported_not_dropped() {
    let rec = HidRecording::parse(&read("hidpos-honeywell.hidrec")).unwrap();
    // Only the first three reports of the token arrive (the cable was pulled).
    let out = replay_reports(
        &mut Pipeline::new(&hidpos(HidPosVendor::Honeywell)),
        &rec.reports[..3],
    );
    assert_eq!(out.len(), 1, "{out:#?}");
    let Output::Error(ScannerError::Partial { raw, .. }) = &out[0] else {
        panic!("{out:?}")
    };
    assert_eq!(raw.as_slice(), &fixtures::us_token().as_bytes()[..168]);
    // And on a disconnect it is flushed at once.
    let mut pipeline = Pipeline::new(&hidpos(HidPosVendor::Honeywell));
    let mut out = Vec::new();
    pipeline.push(Input::Report(&rec.reports[0].1), Timestamp::ZERO, &mut out);
    pipeline.flush(Timestamp::from_micros(1), &mut out);
    assert!(
        matches!(
            out.as_slice(),
            [Output::Error(ScannerError::Partial { .. })]
        ),
        "{out:?}"
    );
}

#[test]
fn newland_hidpos() {
    let rec = HidRecording::parse(&read("hidpos-newland.hidrec")).unwrap();
    let out = replay_reports(
        &mut Pipeline::new(&hidpos(HidPosVendor::Newland)),
        &rec.reports,
    );
    assert_eq!(labels(&out), vec![fixtures::newland_token()]);
    // Read with Honeywell's offsets, the same report is garbage, and says so.
    let wrong = replay_reports(
        &mut Pipeline::new(&hidpos(HidPosVendor::Honeywell)),
        &rec.reports,
    );
    assert_ne!(labels(&wrong), vec![fixtures::newland_token()]);
}

#[test]
fn a_key_the_keymap_cannot_type_spoils_its_scan_visibly() {
    use tillpass_hardware::keycode::{KEY_1, KEY_ENTER, KEY_LEFTSHIFT, KEY_T};
    use tillpass_hardware::wedge::KeyEvent;
    let t = |ms: u64| Timestamp::from_micros(ms * 1000);
    let ev = |code, value, ms| KeyEvent {
        code,
        value,
        at: t(ms),
    };
    let keys = [
        ev(KEY_LEFTSHIFT, KeyValue::Press, 0),
        ev(KEY_T, KeyValue::Press, 0),
        ev(KEY_T, KeyValue::Release, 1),
        ev(KEY_LEFTSHIFT, KeyValue::Release, 1),
        ev(60, KeyValue::Press, 2), // F2
        ev(60, KeyValue::Release, 3),
        ev(KEY_1, KeyValue::Press, 4),
        ev(KEY_1, KeyValue::Release, 5),
        ev(KEY_ENTER, KeyValue::Press, 6),
        ev(KEY_ENTER, KeyValue::Release, 7),
    ];
    let out = replay(&mut Pipeline::new(&keyboard(Country::Us, false)), &keys);
    assert_eq!(
        out,
        vec![Output::Error(ScannerError::Undecodable {
            detail: "KEY_F2 types nothing on the us keymap".into(),
            raw: b"T1".to_vec(),
        })]
    );
}
