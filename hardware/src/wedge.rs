//! The keyboard-wedge decoder: key presses back to the characters the scanner typed.
//!
//! A keyboard-wedge scanner types each character with the keys that produce it on a host set
//! to the scanner's keyboard country. The decoder tracks Shift, Ctrl, Alt, AltGr (right Alt,
//! or Ctrl+Alt as on Windows) and Caps Lock, resolves every press through the
//! [`Keymap`], combines dead keys, and reads Alt+numpad sequences the way Windows does:
//!
//! * Alt + keypad digits, released: with a leading zero the number is a Windows-1252 code
//!   (`Alt+0126` = `~`), without one it is a code page 437 code modulo 256 (`Alt+126` = `~`,
//!   `Alt+130` = `é`); a number above 255 with a leading zero is taken as a Unicode code point.
//! * Ctrl + a letter types the matching C0 control character; Ctrl + the keys in the US
//!   positions of `[ \ ]` type ESC, FS and GS (GS is the GS1 separator), and Ctrl+Shift
//!   + the US positions of `^ _ @` type RS, US and NUL, as Windows layouts do.
//! * Enter and keypad Enter type CR, Tab types TAB; keypad keys type their digit or sign
//!   (Num Lock is assumed on, as scanners assume it).
//!
//! A key that types nothing in the keymap is reported, never skipped: the frame it belongs to
//! becomes an [`crate::event::ScannerError::Undecodable`] error. Key repeats are ignored (the
//! kernel generates them, not the scanner).

use crate::charset;
use crate::clock::Timestamp;
use crate::keycode::{self, *};
use crate::keymap::{Keymap, Sym, compose};

/// A key going down, up or repeating.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KeyValue {
    /// Released (evdev value 0).
    Release,
    /// Pressed (evdev value 1).
    Press,
    /// Auto-repeat (evdev value 2).
    Repeat,
}

impl KeyValue {
    /// From an evdev `EV_KEY` value.
    #[must_use]
    pub fn from_evdev(value: i32) -> Option<Self> {
        match value {
            0 => Some(KeyValue::Release),
            1 => Some(KeyValue::Press),
            2 => Some(KeyValue::Repeat),
            _ => None,
        }
    }

    /// The evdev `EV_KEY` value.
    #[must_use]
    pub fn to_evdev(self) -> i32 {
        match self {
            KeyValue::Release => 0,
            KeyValue::Press => 1,
            KeyValue::Repeat => 2,
        }
    }
}

/// One key event, with the kernel's timestamp.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct KeyEvent {
    /// The Linux key code (`KEY_*`).
    pub code: u16,
    /// Press, release or repeat.
    pub value: KeyValue,
    /// When it happened.
    pub at: Timestamp,
}

/// Key events to characters, for one device.
#[derive(Debug, Clone)]
pub struct KeyDecoder {
    map: &'static Keymap,
    shift_l: bool,
    shift_r: bool,
    ctrl_l: bool,
    ctrl_r: bool,
    alt_l: bool,
    alt_r: bool,
    caps_lock: bool,
    dead: Option<char>,
    /// Keypad digits typed while Alt is held.
    alt_digits: Vec<u8>,
}

impl KeyDecoder {
    /// A decoder for a scanner set to `map`'s country.
    #[must_use]
    pub fn new(map: &'static Keymap) -> Self {
        KeyDecoder {
            map,
            shift_l: false,
            shift_r: false,
            ctrl_l: false,
            ctrl_r: false,
            alt_l: false,
            alt_r: false,
            caps_lock: false,
            dead: None,
            alt_digits: Vec::new(),
        }
    }

    /// The keymap.
    #[must_use]
    pub fn keymap(&self) -> &'static Keymap {
        self.map
    }

    /// Sets the Caps Lock state (read from the device's LED when it is opened).
    pub fn set_caps_lock(&mut self, on: bool) {
        self.caps_lock = on;
    }

    /// Forgets held modifiers and pending dead keys or Alt codes (after a reconnect).
    pub fn reset(&mut self) {
        let caps = self.caps_lock;
        *self = KeyDecoder::new(self.map);
        self.caps_lock = caps;
    }

    /// Decodes one event, appending typed characters to `text`.
    ///
    /// # Errors
    /// A description of a key (or Alt code) that types nothing; `text` may still have
    /// received characters typed before it.
    pub fn push(&mut self, ev: KeyEvent, text: &mut String) -> Result<(), String> {
        let pressed = match ev.value {
            KeyValue::Press => true,
            KeyValue::Release => false,
            KeyValue::Repeat => return Ok(()),
        };
        match ev.code {
            KEY_LEFTSHIFT => self.shift_l = pressed,
            KEY_RIGHTSHIFT => self.shift_r = pressed,
            KEY_LEFTCTRL => self.ctrl_l = pressed,
            KEY_RIGHTCTRL => self.ctrl_r = pressed,
            KEY_LEFTALT | KEY_RIGHTALT => {
                let was_alt = self.alt_code_mode();
                if ev.code == KEY_LEFTALT {
                    self.alt_l = pressed;
                } else {
                    self.alt_r = pressed;
                }
                if was_alt && !self.alt_code_mode() {
                    return self.finish_alt_code(text);
                }
            }
            KEY_LEFTMETA | KEY_RIGHTMETA | KEY_NUMLOCK => {}
            KEY_CAPSLOCK if pressed => self.caps_lock = !self.caps_lock,
            code if pressed => return self.press(code, text),
            _ => {}
        }
        Ok(())
    }

    fn shift(&self) -> bool {
        self.shift_l || self.shift_r
    }

    fn ctrl(&self) -> bool {
        self.ctrl_l || self.ctrl_r
    }

    /// AltGr: the right Alt on layouts with one, or Ctrl + left Alt.
    fn altgr(&self) -> bool {
        self.map.has_altgr() && (self.alt_r || (self.ctrl() && self.alt_l))
    }

    /// Alt (not AltGr) is held: keypad digits build an Alt code.
    fn alt_code_mode(&self) -> bool {
        let alt = self.alt_l || (self.alt_r && !self.map.has_altgr());
        alt && !self.altgr()
    }

    fn press(&mut self, code: u16, text: &mut String) -> Result<(), String> {
        if self.alt_code_mode() {
            if let Some(digit) = keycode::keypad_digit(code) {
                self.alt_digits.push(digit);
                return Ok(());
            }
            return Err(format!(
                "Alt+{} is a shortcut, not a character",
                keycode::name(code)
            ));
        }
        let special = match code {
            KEY_ENTER | KEY_KPENTER => Some('\r'),
            KEY_TAB => Some('\t'),
            KEY_ESC => Some('\u{1b}'),
            KEY_BACKSPACE => Some('\u{8}'),
            KEY_KPDOT => Some(self.map.keypad_decimal()),
            KEY_KPSLASH => Some('/'),
            KEY_KPASTERISK => Some('*'),
            KEY_KPMINUS => Some('-'),
            KEY_KPPLUS => Some('+'),
            _ => keycode::keypad_digit(code).map(|d| char::from(b'0' + d)),
        };
        if let Some(ch) = special {
            self.emit(ch, text);
            return Ok(());
        }
        if self.ctrl() && !self.altgr() {
            // Letters by the layout; the others by key position, as Windows layouts do.
            let control = match (code, self.shift()) {
                (KEY_LEFTBRACE, _) => Some(0x1b),
                (KEY_BACKSLASH, _) => Some(0x1c),
                (KEY_RIGHTBRACE, _) => Some(0x1d),
                (KEY_6, true) => Some(0x1e),
                (KEY_MINUS, true) => Some(0x1f),
                (KEY_2, true) => Some(0x00),
                _ => match self.map.resolve(code, false, false, false) {
                    Sym::Char(ch) if ch.is_ascii_alphabetic() => {
                        Some(u8::try_from(ch).unwrap_or(0) & 0x1f)
                    }
                    _ => None,
                },
            };
            return match control {
                Some(byte) => {
                    self.emit(char::from(byte), text);
                    Ok(())
                }
                None => Err(format!(
                    "Ctrl+{} is not a control character",
                    keycode::name(code)
                )),
            };
        }
        match self
            .map
            .resolve(code, self.shift(), self.altgr(), self.caps_lock)
        {
            Sym::Char(ch) => {
                self.emit(ch, text);
                Ok(())
            }
            Sym::Dead(accent) => {
                if let Some(previous) = self.dead.replace(accent) {
                    text.push(previous);
                }
                Ok(())
            }
            Sym::None => {
                self.flush_dead(text);
                Err(format!(
                    "{}{}{} types nothing on the {} keymap",
                    if self.shift() { "Shift+" } else { "" },
                    if self.altgr() { "AltGr+" } else { "" },
                    keycode::name(code),
                    self.map.country()
                ))
            }
        }
    }

    fn emit(&mut self, ch: char, text: &mut String) {
        match self.dead.take() {
            None => text.push(ch),
            Some(accent) => match compose(accent, ch) {
                Some(composed) => text.push(composed),
                None if ch == ' ' => text.push(accent),
                None => {
                    text.push(accent);
                    text.push(ch);
                }
            },
        }
    }

    fn flush_dead(&mut self, text: &mut String) {
        if let Some(accent) = self.dead.take() {
            text.push(accent);
        }
    }

    fn finish_alt_code(&mut self, text: &mut String) -> Result<(), String> {
        let digits = std::mem::take(&mut self.alt_digits);
        if digits.is_empty() {
            return Ok(());
        }
        let describe = || {
            let typed: String = digits.iter().map(|d| char::from(b'0' + d)).collect();
            format!("Alt+{typed} is not a character")
        };
        if digits.len() > 7 {
            return Err(describe());
        }
        let value = digits.iter().fold(0u32, |n, &d| n * 10 + u32::from(d));
        let ch = if digits.first() == Some(&0) {
            match u8::try_from(value) {
                Ok(byte) => Some(charset::cp1252(byte)),
                Err(_) => char::from_u32(value),
            }
        } else {
            u8::try_from(value % 256).ok().map(charset::cp437)
        };
        match ch {
            Some(ch) => {
                self.emit(ch, text);
                Ok(())
            }
            None => Err(describe()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keymap::Country;

    fn decode(country: Country, keys: &[(u16, i32)]) -> (String, Vec<String>) {
        let mut dec = KeyDecoder::new(country.keymap());
        let mut text = String::new();
        let mut problems = Vec::new();
        for &(code, value) in keys {
            let ev = KeyEvent {
                code,
                value: KeyValue::from_evdev(value).unwrap(),
                at: Timestamp::ZERO,
            };
            if let Err(p) = dec.push(ev, &mut text) {
                problems.push(p);
            }
        }
        (text, problems)
    }

    fn tap(code: u16) -> [(u16, i32); 2] {
        [(code, 1), (code, 0)]
    }

    #[test]
    fn shift_caps_and_enter() {
        let mut keys = vec![(KEY_LEFTSHIFT, 1)];
        keys.extend(tap(KEY_T));
        keys.push((KEY_LEFTSHIFT, 0));
        keys.extend(tap(KEY_CAPSLOCK));
        keys.extend(tap(KEY_P));
        keys.extend(tap(KEY_1));
        keys.extend(tap(KEY_ENTER));
        assert_eq!(decode(Country::Us, &keys), ("TP1\r".into(), vec![]));
    }

    #[test]
    fn altgr_on_es_and_ctrl_alt_as_altgr() {
        let mut keys = vec![(KEY_RIGHTALT, 1)];
        keys.extend(tap(KEY_RIGHTBRACE));
        keys.push((KEY_RIGHTALT, 0));
        keys.extend([(KEY_LEFTCTRL, 1), (KEY_LEFTALT, 1)]);
        keys.extend(tap(KEY_2));
        keys.extend([(KEY_LEFTALT, 0), (KEY_LEFTCTRL, 0)]);
        assert_eq!(decode(Country::Es, &keys), ("]@".into(), vec![]));
    }

    #[test]
    fn dead_keys() {
        // ES: dead ´ + e = é; Shift+dead ^ + space = ^; dead ` + x = `x.
        let mut keys = Vec::new();
        keys.extend(tap(KEY_APOSTROPHE));
        keys.extend(tap(KEY_E));
        keys.push((KEY_LEFTSHIFT, 1));
        keys.extend(tap(KEY_LEFTBRACE));
        keys.push((KEY_LEFTSHIFT, 0));
        keys.extend(tap(KEY_SPACE));
        keys.extend(tap(KEY_LEFTBRACE));
        keys.extend(tap(KEY_X));
        assert_eq!(decode(Country::Es, &keys), ("é^`x".into(), vec![]));
    }

    #[test]
    fn alt_numpad() {
        let alt = |digits: &[u16]| {
            let mut keys = vec![(KEY_LEFTALT, 1)];
            for &d in digits {
                keys.extend(tap(d));
            }
            keys.push((KEY_LEFTALT, 0));
            keys
        };
        let mut keys = alt(&[KEY_KP0, KEY_KP1, KEY_KP2, KEY_KP6]);
        keys.extend(alt(&[KEY_KP1, KEY_KP3, KEY_KP0]));
        keys.extend(alt(&[KEY_KP0, KEY_KP1, KEY_KP2, KEY_KP8]));
        keys.extend(alt(&[KEY_KP2, KEY_KP9]));
        keys.extend(alt(&[KEY_KP0, KEY_KP8, KEY_KP3, KEY_KP6, KEY_KP4]));
        assert_eq!(decode(Country::It, &keys), ("~é€\u{1d}€".into(), vec![]));
        // On US the right Alt is a plain Alt.
        let mut keys = vec![(KEY_RIGHTALT, 1)];
        keys.extend(tap(KEY_KP6));
        keys.extend(tap(KEY_KP5));
        keys.push((KEY_RIGHTALT, 0));
        assert_eq!(decode(Country::Us, &keys).0, "A");
    }

    #[test]
    fn control_characters_and_keypad() {
        let mut keys = vec![(KEY_LEFTCTRL, 1)];
        keys.extend(tap(KEY_RIGHTBRACE));
        keys.push((KEY_LEFTCTRL, 0));
        keys.extend(tap(KEY_KP4));
        keys.extend(tap(KEY_KPDOT));
        keys.extend(tap(KEY_TAB));
        assert_eq!(decode(Country::De, &keys), ("\u{1d}4,\t".into(), vec![]));
    }

    #[test]
    fn unmapped_keys_are_reported() {
        let mut keys = Vec::new();
        keys.extend(tap(KEY_A));
        keys.extend(tap(59));
        keys.extend(tap(KEY_GRAVE));
        let (text, problems) = decode(Country::Fr, &keys);
        assert_eq!(text, "q²");
        assert_eq!(
            problems,
            vec!["KEY_F1 types nothing on the fr keymap".to_owned()]
        );
        let mut keys = vec![(KEY_LEFTALT, 1)];
        keys.extend(tap(KEY_TAB));
        keys.push((KEY_LEFTALT, 0));
        assert_eq!(decode(Country::Us, &keys).1.len(), 1);
    }
}
