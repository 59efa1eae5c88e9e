//! Keyboard countries: which character each key types, per modifier level.
//!
//! A keyboard-wedge scanner is configured for a "keyboard country" and types each character
//! with the key presses that produce it on a host set to that country's layout. To read it
//! back we need the same table. Two sources:
//!
//! - **Windows tables** for `us uk de fr es it pt` (each a file of its own: `us.rs`, `uk.rs`,
//!   `de.rs`, `fr.rs`, `es.rs`, `it.rs`, `pt.rs`), which is what scanners emulate; where
//!   Linux xkb differs (for instance AltGr+é on the French layout), Windows wins for these
//!   codes. Caps Lock acts as Shift on keys whose base symbol is a letter with an
//!   upper-case form on the Shift level (so on `es` it affects `ñ`, not `º`).
//! - **xkb layouts** for every other code: `xkb.rs`, generated from xkeyboard-config by
//!   `protocol/xkbgen` (the same data the token decoder reads texts with), named as xkb names
//!   them: `cz`, `sk(qwerty)`, `us(dvorak)`, `ru`, … ([`Country::xkb`]). Caps Lock follows
//!   xkb: on keys of an alphabetic type it selects the Shift level; on others it upper-cases
//!   what the key types (`ě` → `Ě` on the Czech digit row).
//!
//! Levels are: base, Shift, AltGr, Shift+AltGr. Dead keys (`^` `` ` `` `´` `¨` `~`) combine
//! with the next character the way Windows does: with a vowel (or `n`) into the accented
//! letter, with Space into the accent itself, with anything else into the accent followed by
//! that character.

use std::fmt;

use serde::{Deserialize, Serialize};

mod de;
mod es;
mod fr;
mod it;
mod pt;
pub mod typing;
mod uk;
mod us;
mod xkb;

/// What a key types at one level.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sym {
    /// Nothing.
    None,
    /// A character.
    Char(char),
    /// A dead key; the character is the accent on its own (what Dead + Space types).
    Dead(char),
}

/// A modifier level.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Level {
    /// No modifier.
    Base,
    /// Shift (or Caps Lock on a letter).
    Shift,
    /// AltGr (right Alt on layouts that have one).
    AltGr,
    /// Shift + AltGr.
    ShiftAltGr,
}

impl Level {
    /// All levels, in order of preference for typing.
    pub const ALL: [Level; 4] = [Level::Base, Level::Shift, Level::AltGr, Level::ShiftAltGr];

    /// The level for these modifier states.
    #[must_use]
    pub fn from_modifiers(shift: bool, altgr: bool) -> Level {
        match (shift, altgr) {
            (false, false) => Level::Base,
            (true, false) => Level::Shift,
            (false, true) => Level::AltGr,
            (true, true) => Level::ShiftAltGr,
        }
    }

    /// Whether Shift is part of this level.
    #[must_use]
    pub fn shift(self) -> bool {
        matches!(self, Level::Shift | Level::ShiftAltGr)
    }

    /// Whether AltGr is part of this level.
    #[must_use]
    pub fn altgr(self) -> bool {
        matches!(self, Level::AltGr | Level::ShiftAltGr)
    }

    fn index(self) -> usize {
        match self {
            Level::Base => 0,
            Level::Shift => 1,
            Level::AltGr => 2,
            Level::ShiftAltGr => 3,
        }
    }
}

/// A scanner's keyboard country: one of the Windows tables or a generated xkb layout.
/// Written in configuration as its code (`es`, `cz`, `us(dvorak)`).
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Country(u16);

/// The Windows tables, in the order of [`Country::ALL`].
static WINDOWS: [&Keymap; 7] = [&US, &UK, &DE, &FR, &ES, &IT, &PT];
const WINDOWS_CODES: [&str; 7] = ["us", "uk", "de", "fr", "es", "it", "pt"];

#[allow(non_upper_case_globals)]
impl Country {
    /// United States (also the scanners' factory default).
    pub const Us: Country = Country(0);
    /// United Kingdom (also written `gb`).
    pub const Uk: Country = Country(1);
    /// Germany (QWERTZ).
    pub const De: Country = Country(2);
    /// France (AZERTY).
    pub const Fr: Country = Country(3);
    /// Spain.
    pub const Es: Country = Country(4);
    /// Italy.
    pub const It: Country = Country(5);
    /// Portugal.
    pub const Pt: Country = Country(6);

    /// The countries with a Windows table.
    pub const ALL: [Country; 7] = [
        Country::Us,
        Country::Uk,
        Country::De,
        Country::Fr,
        Country::Es,
        Country::It,
        Country::Pt,
    ];

    /// Every generated xkb layout whose code is not one of [`Country::ALL`]'s.
    pub fn xkb() -> impl Iterator<Item = Country> {
        (0..XKB_KEYMAPS.len())
            .filter(|&i| !WINDOWS_CODES.contains(&xkb::LAYOUTS[i].name))
            .filter_map(|i| u16::try_from(i + WINDOWS.len()).ok())
            .map(Country)
    }

    /// The country written `code`: a Windows table's code (`gb` for `uk`), else an xkb
    /// layout name.
    #[must_use]
    pub fn from_code(code: &str) -> Option<Country> {
        let code = if code == "gb" { "uk" } else { code };
        if let Some(i) = WINDOWS_CODES.iter().position(|c| *c == code) {
            return u16::try_from(i).ok().map(Country);
        }
        Country::xkb().find(|c| c.code() == code)
    }

    /// Its keymap.
    #[must_use]
    pub fn keymap(self) -> &'static Keymap {
        let i = usize::from(self.0);
        match WINDOWS.get(i) {
            Some(map) => map,
            None => XKB_KEYMAPS.get(i - WINDOWS.len()).unwrap_or(&US),
        }
    }

    /// The code used in configuration files.
    #[must_use]
    pub fn code(self) -> &'static str {
        let i = usize::from(self.0);
        match WINDOWS_CODES.get(i) {
            Some(code) => code,
            None => xkb::LAYOUTS.get(i - WINDOWS.len()).map_or("us", |l| l.name),
        }
    }
}

impl fmt::Display for Country {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl fmt::Debug for Country {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Country({})", self.code())
    }
}

impl Serialize for Country {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.code())
    }
}

impl<'de> Deserialize<'de> for Country {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Country, D::Error> {
        let code = String::deserialize(d)?;
        Country::from_code(&code).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "unknown keymap `{code}`: expected us, uk, de, fr, es, it, pt or an xkb layout \
                 name such as cz, sk(qwerty), us(dvorak), ru"
            ))
        })
    }
}

/// One generated xkb layout: its main block in the order of `xkb::KEY_CODES`.
struct XkbLayout {
    name: &'static str,
    altgr: bool,
    kp_decimal: char,
    /// Bit `i`: Caps Lock selects the Shift level on key `i` (else it upper-cases).
    caps_shift: u64,
    keys: [[Sym; 4]; 49],
}

/// How Caps Lock acts on a keymap.
#[derive(Debug)]
enum CapsRule {
    /// As Shift on keys whose base is a letter with its upper case on the Shift level.
    Windows,
    /// As xkb: Shift on the keys marked (by key code), upper-casing elsewhere.
    Xkb([bool; TABLE_SIZE]),
}

/// Key codes covered by the tables (the main block of a PC keyboard).
const TABLE_SIZE: usize = 128;

/// One row of a layout table: a key code and its four levels.
type Row = (u16, [Sym; 4]);

/// A keyboard layout.
#[derive(Debug)]
pub struct Keymap {
    country: Country,
    has_altgr: bool,
    kp_decimal: char,
    caps: CapsRule,
    table: [[Sym; 4]; TABLE_SIZE],
}

impl Keymap {
    const fn build(country: Country, has_altgr: bool, kp_decimal: char, rows: &[Row]) -> Keymap {
        let mut table = [[Sym::None; 4]; TABLE_SIZE];
        let mut i = 0;
        while i < rows.len() {
            let (code, syms) = rows[i];
            table[code as usize] = syms;
            i += 1;
        }
        Keymap {
            country,
            has_altgr,
            kp_decimal,
            caps: CapsRule::Windows,
            table,
        }
    }

    const fn from_xkb(index: usize, layout: &XkbLayout) -> Keymap {
        let mut table = [[Sym::None; 4]; TABLE_SIZE];
        let mut caps = [false; TABLE_SIZE];
        let mut i = 0;
        while i < xkb::KEY_CODES.len() {
            let code = xkb::KEY_CODES[i] as usize;
            table[code] = layout.keys[i];
            caps[code] = layout.caps_shift & (1 << i) != 0;
            i += 1;
        }
        // The table is a few dozen layouts: the index fits a u16 (asserted below).
        #[allow(clippy::cast_possible_truncation)]
        let country = Country((index + WINDOWS.len()) as u16);
        Keymap {
            country,
            has_altgr: layout.altgr,
            kp_decimal: layout.kp_decimal,
            caps: CapsRule::Xkb(caps),
            table,
        }
    }

    /// The country.
    #[must_use]
    pub fn country(&self) -> Country {
        self.country
    }

    /// Whether the right Alt key is AltGr (false on `us`, where it is a second Alt).
    #[must_use]
    pub fn has_altgr(&self) -> bool {
        self.has_altgr
    }

    /// What the keypad decimal key types (`,` on `de`).
    #[must_use]
    pub fn keypad_decimal(&self) -> char {
        self.kp_decimal
    }

    /// What `code` types at `level`, ignoring Caps Lock.
    #[must_use]
    pub fn sym(&self, code: u16, level: Level) -> Sym {
        self.table
            .get(usize::from(code))
            .map_or(Sym::None, |syms| syms[level.index()])
    }

    /// Whether Caps Lock acts as Shift on `code` (a letter key).
    #[must_use]
    pub fn caps_applies(&self, code: u16) -> bool {
        if let CapsRule::Xkb(shift) = &self.caps {
            return shift.get(usize::from(code)).copied().unwrap_or(false);
        }
        match (self.sym(code, Level::Base), self.sym(code, Level::Shift)) {
            (Sym::Char(lower), Sym::Char(upper)) => {
                lower.is_alphabetic() && lower.to_uppercase().eq(std::iter::once(upper))
            }
            _ => false,
        }
    }

    /// What `code` types with these modifiers and Caps Lock state.
    #[must_use]
    pub fn resolve(&self, code: u16, shift: bool, altgr: bool, caps_lock: bool) -> Sym {
        let applies = caps_lock && self.caps_applies(code);
        let sym = self.sym(
            code,
            Level::from_modifiers(shift ^ applies, altgr && self.has_altgr),
        );
        match sym {
            // xkb upper-cases what a key of another type types under Caps Lock.
            Sym::Char(c) if caps_lock && !applies && matches!(self.caps, CapsRule::Xkb(_)) => {
                Sym::Char(upper(c))
            }
            other => other,
        }
    }

    /// Every key that types something, with its levels.
    pub fn keys(&self) -> impl Iterator<Item = (u16, &[Sym; 4])> + '_ {
        self.table
            .iter()
            .enumerate()
            .filter(|(_, syms)| syms.iter().any(|s| *s != Sym::None))
            .filter_map(|(code, syms)| Some((u16::try_from(code).ok()?, syms)))
    }
}

/// The keymap generated from xkb for the layout `name`, also for the seven codes the
/// Windows tables answer to (to compare them).
#[must_use]
pub fn xkb_keymap(name: &str) -> Option<&'static Keymap> {
    xkb::LAYOUTS
        .iter()
        .position(|l| l.name == name)
        .and_then(|i| XKB_KEYMAPS.get(i))
}

/// The single-character upper case of `c`, or `c`.
fn upper(c: char) -> char {
    let mut up = c.to_uppercase();
    match (up.next(), up.next()) {
        (Some(u), None) => u,
        _ => c,
    }
}

/// What a dead key followed by `base` composes to, if anything.
#[must_use]
pub fn compose(dead: char, base: char) -> Option<char> {
    let table: &[(char, char)] = match dead {
        '`' => &[
            ('a', 'à'),
            ('e', 'è'),
            ('i', 'ì'),
            ('o', 'ò'),
            ('u', 'ù'),
            ('A', 'À'),
            ('E', 'È'),
            ('I', 'Ì'),
            ('O', 'Ò'),
            ('U', 'Ù'),
        ],
        '´' => &[
            ('a', 'á'),
            ('e', 'é'),
            ('i', 'í'),
            ('o', 'ó'),
            ('u', 'ú'),
            ('y', 'ý'),
            ('A', 'Á'),
            ('E', 'É'),
            ('I', 'Í'),
            ('O', 'Ó'),
            ('U', 'Ú'),
            ('Y', 'Ý'),
        ],
        '^' => &[
            ('a', 'â'),
            ('e', 'ê'),
            ('i', 'î'),
            ('o', 'ô'),
            ('u', 'û'),
            ('A', 'Â'),
            ('E', 'Ê'),
            ('I', 'Î'),
            ('O', 'Ô'),
            ('U', 'Û'),
        ],
        '¨' => &[
            ('a', 'ä'),
            ('e', 'ë'),
            ('i', 'ï'),
            ('o', 'ö'),
            ('u', 'ü'),
            ('y', 'ÿ'),
            ('A', 'Ä'),
            ('E', 'Ë'),
            ('I', 'Ï'),
            ('O', 'Ö'),
            ('U', 'Ü'),
        ],
        '~' => &[
            ('a', 'ã'),
            ('n', 'ñ'),
            ('o', 'õ'),
            ('A', 'Ã'),
            ('N', 'Ñ'),
            ('O', 'Õ'),
        ],
        _ => &[],
    };
    table.iter().find(|(b, _)| *b == base).map(|(_, c)| *c)
}

// Shorthands for the layout tables.
const N: Sym = Sym::None;
const fn c(ch: char) -> Sym {
    Sym::Char(ch)
}
const fn d(ch: char) -> Sym {
    Sym::Dead(ch)
}
/// A letter key: lower case, upper case.
const fn letter(code: u16, ch: char) -> Row {
    (code, [c(ch), c(ch.to_ascii_uppercase()), N, N])
}
/// A key with base and Shift levels.
const fn key(code: u16, base: Sym, shift: Sym) -> Row {
    (code, [base, shift, N, N])
}
/// A key with base, Shift and AltGr levels.
const fn key3(code: u16, base: Sym, shift: Sym, altgr: Sym) -> Row {
    (code, [base, shift, altgr, N])
}
/// A key with all four levels.
const fn key4(code: u16, base: Sym, shift: Sym, altgr: Sym, shift_altgr: Sym) -> Row {
    (code, [base, shift, altgr, shift_altgr])
}

static US: Keymap = Keymap::build(Country::Us, false, '.', us::ROWS);
static UK: Keymap = Keymap::build(Country::Uk, true, '.', uk::ROWS);
static DE: Keymap = Keymap::build(Country::De, true, ',', de::ROWS);
static FR: Keymap = Keymap::build(Country::Fr, true, '.', fr::ROWS);
static ES: Keymap = Keymap::build(Country::Es, true, '.', es::ROWS);
static IT: Keymap = Keymap::build(Country::It, true, '.', it::ROWS);
static PT: Keymap = Keymap::build(Country::Pt, true, '.', pt::ROWS);

const _: () = assert!(xkb::LAYOUTS.len() + 7 < u16::MAX as usize);

/// The keymaps of the generated xkb layouts, in the order of `xkb::LAYOUTS`.
static XKB_KEYMAPS: [Keymap; xkb::LAYOUTS.len()] = {
    const EMPTY: Keymap = Keymap {
        country: Country::Us,
        has_altgr: false,
        kp_decimal: '.',
        caps: CapsRule::Windows,
        table: [[Sym::None; 4]; TABLE_SIZE],
    };
    let mut maps = [EMPTY; xkb::LAYOUTS.len()];
    let mut i = 0;
    while i < maps.len() {
        maps[i] = Keymap::from_xkb(i, &xkb::LAYOUTS[i]);
        i += 1;
    }
    maps
};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keycode::*;

    #[test]
    fn spot_checks() {
        let us = Country::Us.keymap();
        assert_eq!(us.resolve(KEY_A, false, false, false), Sym::Char('a'));
        assert_eq!(us.resolve(KEY_A, true, false, false), Sym::Char('A'));
        assert_eq!(us.resolve(KEY_A, false, false, true), Sym::Char('A'));
        assert_eq!(us.resolve(KEY_A, true, false, true), Sym::Char('a'));
        assert_eq!(us.resolve(KEY_1, false, false, true), Sym::Char('1'));
        assert_eq!(
            us.resolve(KEY_RIGHTBRACE, false, true, false),
            Sym::Char(']')
        );
        let de = Country::De.keymap();
        assert_eq!(de.resolve(KEY_Y, false, false, false), Sym::Char('z'));
        assert_eq!(de.resolve(KEY_Q, false, true, false), Sym::Char('@'));
        assert_eq!(de.resolve(KEY_GRAVE, false, false, false), Sym::Dead('^'));
        let fr = Country::Fr.keymap();
        assert_eq!(fr.resolve(KEY_1, false, false, false), Sym::Char('&'));
        assert_eq!(fr.resolve(KEY_1, true, false, false), Sym::Char('1'));
        assert_eq!(fr.resolve(KEY_Q, false, false, false), Sym::Char('a'));
        assert_eq!(
            fr.resolve(KEY_SEMICOLON, false, false, false),
            Sym::Char('m')
        );
        let es = Country::Es.keymap();
        assert_eq!(
            es.resolve(KEY_RIGHTBRACE, false, true, false),
            Sym::Char(']')
        );
        assert_eq!(
            es.resolve(KEY_SEMICOLON, false, false, true),
            Sym::Char('Ñ')
        );
        assert!(!es.caps_applies(KEY_GRAVE));
    }

    #[test]
    fn every_country_types_every_letter_and_digit() {
        for country in Country::ALL {
            let map = country.keymap();
            for ch in ('a'..='z').chain('A'..='Z').chain('0'..='9') {
                let found = map
                    .keys()
                    .any(|(_, syms)| Level::ALL.iter().any(|l| syms[l.index()] == Sym::Char(ch)));
                assert!(found, "{country}: {ch}");
            }
        }
    }

    #[test]
    fn composes() {
        assert_eq!(compose('´', 'e'), Some('é'));
        assert_eq!(compose('~', 'n'), Some('ñ'));
        assert_eq!(compose('^', 'x'), None);
    }
}
