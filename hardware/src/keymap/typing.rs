//! How a scanner types text through a keymap: the inverse of the keyboard decoder.
//!
//! Used to check the decoder (every typeable text must decode back to itself), to write the
//! recorded-stream fixtures and the benchmarks, and to estimate how long a scan takes as key
//! presses. Each character becomes one [`Stroke`]; [`key_events`] turns strokes into the
//! press/release events a USB keyboard-wedge scanner produces, one HID report per `gap`.

use std::time::Duration;

use super::{Keymap, Level, Sym, compose};
use crate::charset;
use crate::clock::Timestamp;
use crate::keycode::KEYPAD_DIGITS;
use crate::keycode::{KEY_ENTER, KEY_LEFTALT, KEY_LEFTSHIFT, KEY_RIGHTALT, KEY_SPACE, KEY_TAB};
use crate::wedge::{KeyEvent, KeyValue};

/// The key presses for one character.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Stroke {
    /// One key at one level.
    Key {
        /// The key code.
        code: u16,
        /// The level (which modifiers to hold).
        level: Level,
    },
    /// A dead key then a second key (an accented letter, or the accent then Space).
    Dead {
        /// The dead key.
        dead: (u16, Level),
        /// The key after it.
        then: (u16, Level),
    },
    /// Alt held while the digits are typed on the keypad (Windows-1252 code with a leading
    /// zero, e.g. `0126` for `~`).
    AltNumpad(Vec<u8>),
}

/// How to type.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TypingOptions {
    /// Caps Lock is on at the host (so letters are typed without Shift for upper case).
    pub caps_lock: bool,
    /// Type characters missing from the keymap with Alt+numpad, as scanners do.
    pub alt_fallback: bool,
}

/// A character the keymap cannot type (and Alt+numpad was not allowed or cannot either).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the {country} keymap cannot type {ch:?}")]
pub struct Untypable {
    /// The keymap's country.
    pub country: super::Country,
    /// The character.
    pub ch: char,
}

/// The strokes that type `text` on `map`.
///
/// # Errors
/// The first character that cannot be typed.
pub fn strokes(map: &Keymap, text: &str, opts: TypingOptions) -> Result<Vec<Stroke>, Untypable> {
    text.chars().map(|ch| stroke(map, ch, opts)).collect()
}

/// The stroke that types `ch` on `map`.
///
/// # Errors
/// If it cannot be typed.
pub fn stroke(map: &Keymap, ch: char, opts: TypingOptions) -> Result<Stroke, Untypable> {
    match ch {
        '\r' | '\n' => return Ok(plain(KEY_ENTER)),
        '\t' => return Ok(plain(KEY_TAB)),
        _ => {}
    }
    if let Some(key) = find(map, Sym::Char(ch), opts) {
        return Ok(Stroke::Key {
            code: key.0,
            level: key.1,
        });
    }
    if let Some(dead) = find(map, Sym::Dead(ch), opts) {
        return Ok(Stroke::Dead {
            dead,
            then: (KEY_SPACE, Level::Base),
        });
    }
    for (code, syms) in map.keys() {
        for level in Level::ALL {
            let Sym::Dead(accent) = syms[level_index(level)] else {
                continue;
            };
            let bases = map.keys().flat_map(|(_, syms)| syms.iter().copied());
            for base in bases {
                if let Sym::Char(base) = base
                    && compose(accent, base) == Some(ch)
                    && let Some(then) = find(map, Sym::Char(base), opts)
                {
                    return Ok(Stroke::Dead {
                        dead: (code, level),
                        then,
                    });
                }
            }
        }
    }
    if opts.alt_fallback
        && let Some(byte) = charset::encode_cp1252(ch)
    {
        let digits = format!("{byte:04}")
            .into_bytes()
            .iter()
            .map(|d| d - b'0')
            .collect();
        return Ok(Stroke::AltNumpad(digits));
    }
    Err(Untypable {
        country: map.country(),
        ch,
    })
}

fn plain(code: u16) -> Stroke {
    Stroke::Key {
        code,
        level: Level::Base,
    }
}

fn level_index(level: Level) -> usize {
    level.index()
}

/// The key and level that type `sym`, taking Caps Lock into account.
fn find(map: &Keymap, sym: Sym, opts: TypingOptions) -> Option<(u16, Level)> {
    for level in Level::ALL {
        if level.altgr() && !map.has_altgr() {
            continue;
        }
        for (code, syms) in map.keys() {
            if syms[level_index(level)] == sym {
                let caps = opts.caps_lock && map.caps_applies(code);
                let level = if caps {
                    Level::from_modifiers(!level.shift(), level.altgr())
                } else {
                    level
                };
                // Under Caps Lock an xkb keymap may upper-case what this key types.
                if map.resolve(code, level.shift(), level.altgr(), opts.caps_lock) == sym {
                    return Some((code, level));
                }
            }
        }
    }
    None
}

/// The key events of `strokes`, starting at `start`, one HID report every `gap`: a key and
/// its modifiers go down in one report and up in the next, as USB scanners send them.
#[must_use]
pub fn key_events(strokes: &[Stroke], start: Timestamp, gap: Duration) -> Vec<KeyEvent> {
    let mut events = Vec::with_capacity(strokes.len() * 6);
    let mut t = start;
    let report = |events: &mut Vec<KeyEvent>, keys: &[(u16, KeyValue)], t: &mut Timestamp| {
        events.extend(keys.iter().map(|&(code, value)| KeyEvent {
            code,
            value,
            at: *t,
        }));
        *t = t.saturating_add(gap);
    };
    let key = |events: &mut Vec<KeyEvent>, t: &mut Timestamp, (code, level): (u16, Level)| {
        let mut down = Vec::with_capacity(3);
        if level.shift() {
            down.push((KEY_LEFTSHIFT, KeyValue::Press));
        }
        if level.altgr() {
            down.push((KEY_RIGHTALT, KeyValue::Press));
        }
        down.push((code, KeyValue::Press));
        let up: Vec<_> = down
            .iter()
            .rev()
            .map(|&(c, _)| (c, KeyValue::Release))
            .collect();
        report(events, &down, t);
        report(events, &up, t);
    };
    for stroke in strokes {
        match stroke {
            Stroke::Key { code, level } => key(&mut events, &mut t, (*code, *level)),
            Stroke::Dead { dead, then } => {
                key(&mut events, &mut t, *dead);
                key(&mut events, &mut t, *then);
            }
            Stroke::AltNumpad(digits) => {
                events.push(KeyEvent {
                    code: KEY_LEFTALT,
                    value: KeyValue::Press,
                    at: t,
                });
                for &d in digits {
                    let code = KEYPAD_DIGITS[usize::from(d % 10)];
                    events.push(KeyEvent {
                        code,
                        value: KeyValue::Press,
                        at: t,
                    });
                    t = t.saturating_add(gap);
                    events.push(KeyEvent {
                        code,
                        value: KeyValue::Release,
                        at: t,
                    });
                    t = t.saturating_add(gap);
                }
                events.push(KeyEvent {
                    code: KEY_LEFTALT,
                    value: KeyValue::Release,
                    at: t,
                });
                t = t.saturating_add(gap);
            }
        }
    }
    events
}

/// Types `text` on `map` as key events (a convenience over [`strokes`] and [`key_events`]).
///
/// # Errors
/// The first character that cannot be typed.
pub fn type_text(
    map: &Keymap,
    text: &str,
    opts: TypingOptions,
    start: Timestamp,
    gap: Duration,
) -> Result<Vec<KeyEvent>, Untypable> {
    Ok(key_events(&strokes(map, text, opts)?, start, gap))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keycode::*;
    use crate::keymap::Country;

    #[test]
    fn picks_the_plainest_key() {
        let us = Country::Us.keymap();
        let opts = TypingOptions::default();
        assert_eq!(
            stroke(us, 'a', opts),
            Ok(Stroke::Key {
                code: KEY_A,
                level: Level::Base
            })
        );
        assert_eq!(
            stroke(us, 'A', opts),
            Ok(Stroke::Key {
                code: KEY_A,
                level: Level::Shift
            })
        );
        let caps = TypingOptions {
            caps_lock: true,
            ..opts
        };
        assert_eq!(
            stroke(us, 'A', caps),
            Ok(Stroke::Key {
                code: KEY_A,
                level: Level::Base
            })
        );
        let es = Country::Es.keymap();
        assert_eq!(
            stroke(es, ']', opts),
            Ok(Stroke::Key {
                code: KEY_RIGHTBRACE,
                level: Level::AltGr
            })
        );
        assert_eq!(
            stroke(es, '^', opts),
            Ok(Stroke::Dead {
                dead: (KEY_LEFTBRACE, Level::Shift),
                then: (KEY_SPACE, Level::Base)
            })
        );
        assert_eq!(
            stroke(es, 'á', opts),
            Ok(Stroke::Dead {
                dead: (KEY_APOSTROPHE, Level::Base),
                then: (KEY_A, Level::Base)
            })
        );
        let it = Country::It.keymap();
        assert!(stroke(it, '~', opts).is_err());
        let alt = TypingOptions {
            alt_fallback: true,
            ..opts
        };
        assert_eq!(
            stroke(it, '~', alt),
            Ok(Stroke::AltNumpad(vec![0, 1, 2, 6]))
        );
    }

    #[test]
    fn events_for_a_shifted_key() {
        let events = type_text(
            Country::Us.keymap(),
            "A",
            TypingOptions::default(),
            Timestamp::ZERO,
            Duration::from_millis(1),
        )
        .unwrap();
        let codes: Vec<_> = events.iter().map(|e| (e.code, e.value)).collect();
        assert_eq!(
            codes,
            vec![
                (KEY_LEFTSHIFT, KeyValue::Press),
                (KEY_A, KeyValue::Press),
                (KEY_A, KeyValue::Release),
                (KEY_LEFTSHIFT, KeyValue::Release),
            ]
        );
        assert_eq!(events[3].at, Timestamp::from_micros(1000));
    }
}
