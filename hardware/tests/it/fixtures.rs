//! How the recorded-stream fixtures in `tests/fixtures/` were made.
//!
//! The build machines have no USB, so these are not captures from real scanners: they are
//! written here, in the exact text formats of `evemu-record` (keyboard wedge) and
//! `hid-recorder` (HID-POS), from hand-written models of what each scanner sends. The models
//! below spell out every key press by key code, independently of the crate's keymap tables,
//! so replaying them checks those tables. Real captures can be dropped in beside them.
//!
//! Regenerate with `cargo test -p tillpass-hardware --test it -- --ignored regenerate`.

use std::fmt::Write as _;
use std::fs;

use tillpass_hardware::keycode::*;

use crate::util::{fixtures_dir, token};

/// One HID report's worth of keys going down (then all coming up in the next report).
type Chord = Vec<u16>;

/// A key-by-key model of a scanner typing text on a host with the given layout.
fn us_chord(ch: char) -> Chord {
    let letter = |c: char| KEY_LETTERS[usize::from(c.to_ascii_lowercase() as u8 - b'a')];
    match ch {
        'a'..='z' => vec![letter(ch)],
        'A'..='Z' => vec![KEY_LEFTSHIFT, letter(ch)],
        '1'..='9' => vec![KEY_1 + u16::from(ch as u8 - b'1')],
        '0' => vec![KEY_0],
        ']' => vec![KEY_RIGHTBRACE],
        '\r' => vec![KEY_ENTER],
        _ => panic!("the US model does not type {ch:?}"),
    }
}

/// Spanish layout: letters and digits where US has them; `]` is AltGr + the `+` key, `-` is
/// the key right of `.`, `/` is Shift+7, `Ñ` is Shift + the key right of L.
fn es_chord(ch: char) -> Chord {
    match ch {
        ']' => vec![KEY_RIGHTALT, KEY_RIGHTBRACE],
        '-' => vec![KEY_SLASH],
        '/' => vec![KEY_LEFTSHIFT, KEY_7],
        'Ñ' => vec![KEY_LEFTSHIFT, KEY_SEMICOLON],
        _ => us_chord(ch),
    }
}

const KEY_LETTERS: [u16; 26] = [
    KEY_A, KEY_B, KEY_C, KEY_D, KEY_E, KEY_F, KEY_G, KEY_H, KEY_I, KEY_J, KEY_K, KEY_L, KEY_M,
    KEY_N, KEY_O, KEY_P, KEY_Q, KEY_R, KEY_S, KEY_T, KEY_U, KEY_V, KEY_W, KEY_X, KEY_Y, KEY_Z,
];

/// Alt held, the digits on the keypad, Alt released.
fn alt_code(code: &str) -> Vec<Chord> {
    let mut chords = vec![vec![KEY_LEFTALT]];
    for d in code.bytes() {
        chords.push(vec![KEY_LEFTALT, KEYPAD_DIGITS[usize::from(d - b'0')]]);
    }
    chords
}

fn key_name(code: u16) -> String {
    if let Some(i) = KEY_LETTERS.iter().position(|&k| k == code) {
        return format!("KEY_{}", char::from(b'A' + i as u8));
    }
    if (KEY_1..=KEY_0).contains(&code) {
        return format!("KEY_{}", (code - KEY_1 + 1) % 10);
    }
    if let Some(d) = KEYPAD_DIGITS.iter().position(|&k| k == code) {
        return format!("KEY_KP{d}");
    }
    match code {
        KEY_RIGHTBRACE => "KEY_RIGHTBRACE".into(),
        KEY_SEMICOLON => "KEY_SEMICOLON".into(),
        KEY_SLASH => "KEY_SLASH".into(),
        other => name(other),
    }
}

/// Writes evemu-record text: each chord is one HID report (keys down), followed by a report
/// with them released, `gap_us` apart; an `EV_MSC/MSC_SCAN` precedes each key as the USB HID
/// driver sends it.
struct Evemu {
    text: String,
    t_us: u64,
    held: Vec<u16>,
}

impl Evemu {
    fn new(header: &str, name: &str, id: &str) -> Evemu {
        let mut text = String::new();
        text.push_str("# EVEMU 1.3\n");
        for line in header.lines() {
            writeln!(text, "# {line}").unwrap();
        }
        writeln!(text, "N: {name}").unwrap();
        writeln!(text, "I: {id}").unwrap();
        text.push_str("P: 00 00 00 00 00 00 00 00\n");
        text.push_str("B: 00 0b 00 00 00 00 00 00 00\n");
        text.push_str("################################\n#      Waiting for events      #\n################################\n");
        Evemu {
            text,
            t_us: 0,
            held: Vec::new(),
        }
    }

    fn event(&mut self, kind: u16, code: u16, value: i32, comment: &str) {
        let (s, us) = (self.t_us / 1_000_000, self.t_us % 1_000_000);
        writeln!(
            self.text,
            "E: {s}.{us:06} {kind:04x} {code:04x} {value:04}\t# {comment}"
        )
        .unwrap();
    }

    fn report(&mut self, down: &[u16]) {
        let releases: Vec<u16> = self
            .held
            .iter()
            .copied()
            .filter(|k| !down.contains(k))
            .collect();
        let presses: Vec<u16> = down
            .iter()
            .copied()
            .filter(|k| !self.held.contains(k))
            .collect();
        for (keys, value) in [(releases, 0), (presses, 1)] {
            for key in keys {
                let usage = hid_usage(key).unwrap();
                self.event(4, 4, i32::try_from(usage).unwrap(), "EV_MSC / MSC_SCAN");
                self.event(
                    1,
                    key,
                    value,
                    &format!("EV_KEY / {} {value}", key_name(key)),
                );
            }
        }
        self.event(0, 0, 0, "------------ SYN_REPORT (0) ----------");
        self.held = down.to_vec();
    }

    /// Types chords `gap_us` apart (key down, then up).
    fn chords(&mut self, chords: &[Chord], gap_us: u64) {
        for chord in chords {
            self.report(chord);
            self.t_us += gap_us;
            // Keep Alt held between the digits of an Alt code.
            let keep: Vec<u16> = chord
                .iter()
                .copied()
                .filter(|k| *k == KEY_LEFTALT)
                .collect();
            self.report(&keep);
            self.t_us += gap_us;
        }
    }

    fn release_all(&mut self, gap_us: u64) {
        self.report(&[]);
        self.t_us += gap_us;
    }

    fn pause(&mut self, us: u64) {
        self.t_us += us;
    }
}

fn typed(text: &str, model: fn(char) -> Chord) -> Vec<Chord> {
    text.chars().map(model).collect()
}

pub fn us_token() -> String {
    token("TPX", 267, 1900)
}

pub fn es_token() -> String {
    token("TPQ", 120, 2430)
}

fn wedge_us() -> String {
    let mut rec = Evemu::new(
        "Honeywell Voyager 1900g, USB keyboard (PC), country United States, suffix CR, AIM ID on.\n\
         Written by tests/it/fixtures.rs in evemu-record's format (no USB on the build machines).",
        "Honeywell Imaging & Mobility 1900",
        "0003 0c2e 0b61 0111",
    );
    rec.chords(&typed(&format!("]Q1{}\r", us_token()), us_chord), 1_000);
    rec.pause(1_500_000);
    rec.chords(&typed("]Q1TPA20240607\r", us_chord), 1_000);
    rec.text
}

fn wedge_es() -> String {
    let mut rec = Evemu::new(
        "Datalogic QuickScan QD2430, USB keyboard, country Spain, suffix CR, AIM ID on.\n\
         Written by tests/it/fixtures.rs in evemu-record's format (no USB on the build machines).",
        "Datalogic ADC, Inc. Handheld Barcode Scanner",
        "0003 05f9 2214 0110",
    );
    rec.chords(&typed(&format!("]Q1{}\r", es_token()), es_chord), 4_000);
    rec.pause(2_000_000);
    rec.chords(&typed("]C0TP-01/Ñ\r", es_chord), 4_000);
    rec.text
}

fn wedge_alt_numpad() -> String {
    let mut rec = Evemu::new(
        "Zebra DS2208, USB keyboard, country Italy, unknown characters as Alt+keypad (leading 0),\n\
         then a scan in 'emulate keypad' mode (every character as Alt+decimal, no leading 0).\n\
         Written by tests/it/fixtures.rs in evemu-record's format (no USB on the build machines).",
        "Symbol Technologies, Inc, 2008 Symbol Bar Code Scanner",
        "0003 05e0 1200 0100",
    );
    let mut chords = typed("TP", us_chord);
    chords.extend(alt_code("0126")); // ~
    chords.push(vec![]);
    chords.extend(alt_code("0096")); // `
    chords.push(vec![]);
    chords.extend(typed("42\r", us_chord));
    rec.chords(&chords, 2_000);
    rec.release_all(2_000);
    rec.pause(1_000_000);
    let mut chords = Vec::new();
    for code in ["84", "80", "55"] {
        chords.extend(alt_code(code));
        chords.push(vec![]);
    }
    chords.push(vec![KEY_ENTER]);
    rec.chords(&chords, 2_000);
    rec.text
}

fn wedge_shared() -> String {
    let mut rec = Evemu::new(
        "A USB keyboard with a scanner port: a person types, the scanner scans, the person types.\n\
         Written by tests/it/fixtures.rs in evemu-record's format (no USB on the build machines).",
        "Cherry POS Keyboard with Scanner Port",
        "0003 046a 0023 0111",
    );
    for ch in ["h", "i"] {
        rec.chords(&typed(ch, us_chord), 90_000);
        rec.pause(180_000);
    }
    rec.chords(&typed("TP123456\r", us_chord), 2_000);
    rec.pause(400_000);
    rec.chords(&typed("x", us_chord), 80_000);
    rec.text
}

/// hid-recorder text for a list of (time µs, report).
fn hid_recorder(
    header: &str,
    name: &str,
    id: &str,
    descriptor: &[u8],
    reports: &[(u64, Vec<u8>)],
) -> String {
    let hex = |bytes: &[u8]| {
        bytes
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<Vec<_>>()
            .join(" ")
    };
    let mut text = String::new();
    for line in header.lines() {
        writeln!(text, "# {line}").unwrap();
    }
    writeln!(text, "R: {} {}", descriptor.len(), hex(descriptor)).unwrap();
    writeln!(text, "N: {name}").unwrap();
    text.push_str("P: usb-0000:00:14.0-2/input1\n");
    writeln!(text, "I: {id}").unwrap();
    text.push_str("D: 0\n");
    for (t, report) in reports {
        writeln!(
            text,
            "E: {:06}.{:06} {} {}",
            t / 1_000_000,
            t % 1_000_000,
            report.len(),
            hex(report)
        )
        .unwrap();
    }
    text
}

/// A HID-POS report descriptor: usage page 0x8C, report 2 (63 input bytes), report 4
/// (63 output bytes).
const POS_DESCRIPTOR: [u8; 35] = [
    0x06, 0x8c, 0x00, 0x09, 0x02, 0xa1, 0x01, 0x85, 0x02, 0x15, 0x00, 0x26, 0xff, 0x00, 0x75, 0x08,
    0x95, 0x3f, 0x09, 0x12, 0x81, 0x02, 0x85, 0x04, 0x95, 0x3f, 0x09, 0x13, 0x91, 0x02, 0x09, 0x14,
    0xb1, 0x02, 0xc0,
];

/// Honeywell's 64-byte report 2: length, AIM id, 56 data bytes, code id, reserved, continued.
fn honeywell_reports(
    data: &[u8],
    aim: &[u8; 3],
    code_id: u8,
    start_us: u64,
) -> Vec<(u64, Vec<u8>)> {
    let chunks: Vec<&[u8]> = data.chunks(56).collect();
    chunks
        .iter()
        .enumerate()
        .map(|(i, chunk)| {
            let mut r = vec![0u8; 64];
            r[0] = 0x02;
            r[1] = chunk.len() as u8;
            r[2..5].copy_from_slice(aim);
            r[5..5 + chunk.len()].copy_from_slice(chunk);
            r[61] = code_id;
            r[63] = u8::from(i + 1 < chunks.len());
            (start_us + 1_000 * i as u64, r)
        })
        .collect()
}

fn hidpos_honeywell() -> String {
    let mut reports = honeywell_reports(us_token().as_bytes(), b"]Q1", b's', 0);
    reports.extend(honeywell_reports(b"4006381333931", b"]E0", b'd', 2_000_000));
    hid_recorder(
        "Honeywell Voyager 1900g in USB HID-POS mode: a 270-character QR token (5 reports\n\
         joined on the continued flag), then an EAN-13.\n\
         Written by tests/it/fixtures.rs in hid-recorder's format (no USB on the build machines).",
        "Honeywell Imaging & Mobility 1900",
        "3 0c2e 0b6a",
        &POS_DESCRIPTOR,
        &reports,
    )
}

fn hidpos_newland() -> String {
    let data = token("TPN", 40, 40);
    let mut r = vec![0u8; 64];
    r[0] = 0x02;
    r[1] = data.len() as u8;
    r[2..2 + data.len()].copy_from_slice(data.as_bytes());
    r[62] = b'Q';
    hid_recorder(
        "Newland FR40 in USB HID-POS mode: one short QR token in one report.\n\
         Written by tests/it/fixtures.rs in hid-recorder's format (no USB on the build machines).",
        "Newland NLS-FR40",
        "3 1eab 1d06",
        &POS_DESCRIPTOR,
        &[(0, r)],
    )
}

pub fn newland_token() -> String {
    token("TPN", 40, 40)
}

/// Every fixture: file name and contents.
pub fn all() -> Vec<(&'static str, String)> {
    vec![
        ("wedge-us-honeywell.evemu", wedge_us()),
        ("wedge-es-datalogic.evemu", wedge_es()),
        ("wedge-alt-numpad-zebra.evemu", wedge_alt_numpad()),
        ("wedge-shared-keyboard.evemu", wedge_shared()),
        ("hidpos-honeywell.hidrec", hidpos_honeywell()),
        ("hidpos-newland.hidrec", hidpos_newland()),
    ]
}

#[test]
#[ignore = "rewrites tests/fixtures; run by hand after changing a scanner model"]
fn regenerate() {
    let dir = fixtures_dir();
    fs::create_dir_all(&dir).unwrap();
    for (name, text) in all() {
        fs::write(dir.join(name), text).unwrap();
    }
}
