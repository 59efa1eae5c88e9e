//! Linux input key codes (`linux/input-event-codes.h`) for the keys a scanner types.
//!
//! Kept here, rather than taken from `evdev`, so that the keymaps and the keyboard decoder
//! compile and run on every platform (recordings are replayed anywhere).

#![allow(missing_docs)]

pub const KEY_ESC: u16 = 1;
pub const KEY_1: u16 = 2;
pub const KEY_2: u16 = 3;
pub const KEY_3: u16 = 4;
pub const KEY_4: u16 = 5;
pub const KEY_5: u16 = 6;
pub const KEY_6: u16 = 7;
pub const KEY_7: u16 = 8;
pub const KEY_8: u16 = 9;
pub const KEY_9: u16 = 10;
pub const KEY_0: u16 = 11;
pub const KEY_MINUS: u16 = 12;
pub const KEY_EQUAL: u16 = 13;
pub const KEY_BACKSPACE: u16 = 14;
pub const KEY_TAB: u16 = 15;
pub const KEY_Q: u16 = 16;
pub const KEY_W: u16 = 17;
pub const KEY_E: u16 = 18;
pub const KEY_R: u16 = 19;
pub const KEY_T: u16 = 20;
pub const KEY_Y: u16 = 21;
pub const KEY_U: u16 = 22;
pub const KEY_I: u16 = 23;
pub const KEY_O: u16 = 24;
pub const KEY_P: u16 = 25;
pub const KEY_LEFTBRACE: u16 = 26;
pub const KEY_RIGHTBRACE: u16 = 27;
pub const KEY_ENTER: u16 = 28;
pub const KEY_LEFTCTRL: u16 = 29;
pub const KEY_A: u16 = 30;
pub const KEY_S: u16 = 31;
pub const KEY_D: u16 = 32;
pub const KEY_F: u16 = 33;
pub const KEY_G: u16 = 34;
pub const KEY_H: u16 = 35;
pub const KEY_J: u16 = 36;
pub const KEY_K: u16 = 37;
pub const KEY_L: u16 = 38;
pub const KEY_SEMICOLON: u16 = 39;
pub const KEY_APOSTROPHE: u16 = 40;
pub const KEY_GRAVE: u16 = 41;
pub const KEY_LEFTSHIFT: u16 = 42;
pub const KEY_BACKSLASH: u16 = 43;
pub const KEY_Z: u16 = 44;
pub const KEY_X: u16 = 45;
pub const KEY_C: u16 = 46;
pub const KEY_V: u16 = 47;
pub const KEY_B: u16 = 48;
pub const KEY_N: u16 = 49;
pub const KEY_M: u16 = 50;
pub const KEY_COMMA: u16 = 51;
pub const KEY_DOT: u16 = 52;
pub const KEY_SLASH: u16 = 53;
pub const KEY_RIGHTSHIFT: u16 = 54;
pub const KEY_KPASTERISK: u16 = 55;
pub const KEY_LEFTALT: u16 = 56;
pub const KEY_SPACE: u16 = 57;
pub const KEY_CAPSLOCK: u16 = 58;
pub const KEY_NUMLOCK: u16 = 69;
pub const KEY_KP7: u16 = 71;
pub const KEY_KP8: u16 = 72;
pub const KEY_KP9: u16 = 73;
pub const KEY_KPMINUS: u16 = 74;
pub const KEY_KP4: u16 = 75;
pub const KEY_KP5: u16 = 76;
pub const KEY_KP6: u16 = 77;
pub const KEY_KPPLUS: u16 = 78;
pub const KEY_KP1: u16 = 79;
pub const KEY_KP2: u16 = 80;
pub const KEY_KP3: u16 = 81;
pub const KEY_KP0: u16 = 82;
pub const KEY_KPDOT: u16 = 83;
pub const KEY_102ND: u16 = 86;
pub const KEY_KPENTER: u16 = 96;
pub const KEY_RIGHTCTRL: u16 = 97;
pub const KEY_KPSLASH: u16 = 98;
pub const KEY_RIGHTALT: u16 = 100;
pub const KEY_LEFTMETA: u16 = 125;
pub const KEY_RIGHTMETA: u16 = 126;

/// The keypad digit keys, 0 to 9.
pub const KEYPAD_DIGITS: [u16; 10] = [
    KEY_KP0, KEY_KP1, KEY_KP2, KEY_KP3, KEY_KP4, KEY_KP5, KEY_KP6, KEY_KP7, KEY_KP8, KEY_KP9,
];

/// The digit a keypad key types, if it is a keypad digit.
#[must_use]
pub fn keypad_digit(code: u16) -> Option<u8> {
    KEYPAD_DIGITS
        .iter()
        .position(|&k| k == code)
        .and_then(|d| u8::try_from(d).ok())
}

/// Whether `code` is a modifier key (Shift, Ctrl, Alt, AltGr, Meta).
#[must_use]
pub fn is_modifier(code: u16) -> bool {
    matches!(
        code,
        KEY_LEFTSHIFT
            | KEY_RIGHTSHIFT
            | KEY_LEFTCTRL
            | KEY_RIGHTCTRL
            | KEY_LEFTALT
            | KEY_RIGHTALT
            | KEY_LEFTMETA
            | KEY_RIGHTMETA
    )
}

/// A readable name for error messages (`KEY_F1`, or `key 59`).
#[must_use]
pub fn name(code: u16) -> String {
    let known = match code {
        KEY_ESC => "KEY_ESC",
        KEY_BACKSPACE => "KEY_BACKSPACE",
        KEY_TAB => "KEY_TAB",
        KEY_ENTER => "KEY_ENTER",
        KEY_SPACE => "KEY_SPACE",
        KEY_CAPSLOCK => "KEY_CAPSLOCK",
        KEY_NUMLOCK => "KEY_NUMLOCK",
        KEY_LEFTSHIFT => "KEY_LEFTSHIFT",
        KEY_RIGHTSHIFT => "KEY_RIGHTSHIFT",
        KEY_LEFTCTRL => "KEY_LEFTCTRL",
        KEY_RIGHTCTRL => "KEY_RIGHTCTRL",
        KEY_LEFTALT => "KEY_LEFTALT",
        KEY_RIGHTALT => "KEY_RIGHTALT",
        KEY_KPENTER => "KEY_KPENTER",
        59..=68 => return format!("KEY_F{}", code - 58),
        87 | 88 => return format!("KEY_F{}", code - 76),
        103 => "KEY_UP",
        105 => "KEY_LEFT",
        106 => "KEY_RIGHT",
        108 => "KEY_DOWN",
        _ => return format!("key {code}"),
    };
    known.to_owned()
}

/// The USB HID usage (page 7) of a key, for writing evemu-style `EV_MSC/MSC_SCAN` lines in
/// recordings; `None` for keys outside the table.
#[must_use]
pub fn hid_usage(code: u16) -> Option<u32> {
    const LETTERS: [(u16, u32); 26] = [
        (KEY_A, 0x04),
        (KEY_B, 0x05),
        (KEY_C, 0x06),
        (KEY_D, 0x07),
        (KEY_E, 0x08),
        (KEY_F, 0x09),
        (KEY_G, 0x0a),
        (KEY_H, 0x0b),
        (KEY_I, 0x0c),
        (KEY_J, 0x0d),
        (KEY_K, 0x0e),
        (KEY_L, 0x0f),
        (KEY_M, 0x10),
        (KEY_N, 0x11),
        (KEY_O, 0x12),
        (KEY_P, 0x13),
        (KEY_Q, 0x14),
        (KEY_R, 0x15),
        (KEY_S, 0x16),
        (KEY_T, 0x17),
        (KEY_U, 0x18),
        (KEY_V, 0x19),
        (KEY_W, 0x1a),
        (KEY_X, 0x1b),
        (KEY_Y, 0x1c),
        (KEY_Z, 0x1d),
    ];
    let usage = match code {
        KEY_1..=KEY_0 => 0x1e + u32::from(code - KEY_1),
        KEY_ENTER => 0x28,
        KEY_ESC => 0x29,
        KEY_BACKSPACE => 0x2a,
        KEY_TAB => 0x2b,
        KEY_SPACE => 0x2c,
        KEY_MINUS => 0x2d,
        KEY_EQUAL => 0x2e,
        KEY_LEFTBRACE => 0x2f,
        KEY_RIGHTBRACE => 0x30,
        KEY_BACKSLASH => 0x32,
        KEY_SEMICOLON => 0x33,
        KEY_APOSTROPHE => 0x34,
        KEY_GRAVE => 0x35,
        KEY_COMMA => 0x36,
        KEY_DOT => 0x37,
        KEY_SLASH => 0x38,
        KEY_CAPSLOCK => 0x39,
        KEY_KPSLASH => 0x54,
        KEY_KPASTERISK => 0x55,
        KEY_KPMINUS => 0x56,
        KEY_KPPLUS => 0x57,
        KEY_KPENTER => 0x58,
        KEY_KP1..=KEY_KP3 => 0x59 + u32::from(code - KEY_KP1),
        KEY_KP4..=KEY_KP6 => 0x5c + u32::from(code - KEY_KP4),
        KEY_KP7..=KEY_KP9 => 0x5f + u32::from(code - KEY_KP7),
        KEY_KP0 => 0x62,
        KEY_KPDOT => 0x63,
        KEY_102ND => 0x64,
        KEY_LEFTCTRL => 0xe0,
        KEY_LEFTSHIFT => 0xe1,
        KEY_LEFTALT => 0xe2,
        KEY_RIGHTCTRL => 0xe4,
        KEY_RIGHTSHIFT => 0xe5,
        KEY_RIGHTALT => 0xe6,
        _ => LETTERS.iter().find(|(k, _)| *k == code)?.1,
    };
    Some(0x70000 | usage)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keypad_and_names() {
        assert_eq!(keypad_digit(KEY_KP0), Some(0));
        assert_eq!(keypad_digit(KEY_KP9), Some(9));
        assert_eq!(keypad_digit(KEY_9), None);
        assert_eq!(name(59), "KEY_F1");
        assert_eq!(name(88), "KEY_F12");
        assert_eq!(name(200), "key 200");
        assert_eq!(hid_usage(KEY_A), Some(0x70004));
        assert_eq!(hid_usage(KEY_0), Some(0x70027));
        assert_eq!(hid_usage(KEY_KP0), Some(0x70062));
        assert_eq!(hid_usage(KEY_KP5), Some(0x7005d));
    }
}
