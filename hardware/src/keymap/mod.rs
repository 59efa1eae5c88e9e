//! Keyboard countries: which character each key types, per modifier level.
//!
//! A keyboard-wedge scanner is configured for a "keyboard country" and types each character
//! with the key presses that produce it on a host set to that country's layout. To read it
//! back we need the same table. The tables here follow the **Windows** layouts of each
//! country, which is what scanners emulate (where Linux xkb differs, for instance AltGr+é on
//! the French layout, Windows wins). Each table is a file of its own: `us.rs`, `uk.rs`,
//! `de.rs`, `fr.rs`, `es.rs`, `it.rs`, `pt.rs`.
//!
//! Levels are: base, Shift, AltGr, Shift+AltGr. Caps Lock acts as Shift on keys whose base
//! symbol is a letter with an upper-case form on the Shift level (so on `es` it affects `ñ`,
//! not `º`). Dead keys (`^` `` ` `` `´` `¨` `~`) combine with the next character the way
//! Windows does: with a vowel (or `n`) into the accented letter, with Space into the accent
//! itself, with anything else into the accent followed by that character.

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

/// A scanner's keyboard country.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Country {
    /// United States (also the scanners' factory default).
    #[default]
    Us,
    /// United Kingdom.
    #[serde(alias = "gb")]
    Uk,
    /// Germany (QWERTZ).
    De,
    /// France (AZERTY).
    Fr,
    /// Spain.
    Es,
    /// Italy.
    It,
    /// Portugal.
    Pt,
}

impl Country {
    /// Every supported country.
    pub const ALL: [Country; 7] = [
        Country::Us,
        Country::Uk,
        Country::De,
        Country::Fr,
        Country::Es,
        Country::It,
        Country::Pt,
    ];

    /// Its keymap.
    #[must_use]
    pub fn keymap(self) -> &'static Keymap {
        match self {
            Country::Us => &US,
            Country::Uk => &UK,
            Country::De => &DE,
            Country::Fr => &FR,
            Country::Es => &ES,
            Country::It => &IT,
            Country::Pt => &PT,
        }
    }

    /// The lower-case code used in configuration files.
    #[must_use]
    pub fn code(self) -> &'static str {
        match self {
            Country::Us => "us",
            Country::Uk => "uk",
            Country::De => "de",
            Country::Fr => "fr",
            Country::Es => "es",
            Country::It => "it",
            Country::Pt => "pt",
        }
    }
}

impl fmt::Display for Country {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
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
        let shift = shift ^ (caps_lock && self.caps_applies(code));
        self.sym(code, Level::from_modifiers(shift, altgr && self.has_altgr))
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
