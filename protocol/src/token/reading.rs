//! Reading a scanned text back into the token text a scanner typed: what scanners add
//! around a read (framing), and what a host's keyboard layout does to a keyboard-wedge
//! scanner's key codes.
//!
//! A keyboard-wedge scanner types a token text as US key codes: `T` and `P` with Shift,
//! then the digit keys without. The host turns each key code into a character through its
//! own layout and Caps Lock state, so `TP0123…` arrives as `TPà&é"…` on French AZERTY,
//! `TPé+ěš…` on Czech, `ЕЗ0123…` on Russian, `YL]&[{…` on programmer Dvorak. A
//! [`Profile`] says what one layout in one Caps Lock state types for those keys; the
//! profiles are generated from xkeyboard-config (`keyboards.rs`), most likely first, then
//! the same layouts with the digit keys typed with Shift (a scanner set to AZERTY types
//! digits that way: `TP)!@#…` on a US host).
//! [`read`] reads a text under one profile; the signature decides between profiles
//! (`candidates.rs`).
//!
//! Under every profile, a reading:
//! 1. folds full-width forms (`ＴＰ０１`, from East Asian input methods) to ASCII;
//! 2. ignores framing at both ends: whitespace, control characters (NUL, STX, ETX, CR,
//!    LF, Tab, GS, …) and a byte-order mark;
//! 3. strips an AIM symbology identifier when the text does not start with the prefix:
//!    the `]` key (as the layout types it, or `]`), any one character for the symbology,
//!    and a modifier (a digit key as the layout types it, or an ASCII letter or digit);
//!    then an ECI escape if one follows: the `\` key (as the layout types it, or `\`)
//!    and six digit keys;
//! 4. takes the prefix in either case (`TP`, `tp`, `Tp`; `ЕЗ` on Russian);
//! 5. reads each following character as the digit whose key types it on the layout;
//! 6. stops at the first character that is not a digit key when a second read starts
//!    there (after at most 8 framing characters: the prefix, or an AIM identifier): the
//!    first token of a doubled read is taken, the rest ignored. Any other character is
//!    `invalid_character`.

use super::body::MAX_TOKEN_LEN;
use super::refusal::Malformed;
use super::text::{MAX_DIGITS, bytes_from_digits};

/// What a host with one keyboard layout and Caps Lock state types for the US key codes of
/// a token text. `'\0'` stands for a key that types nothing usable (a dead key).
#[derive(Debug)]
pub(crate) struct Profile {
    /// The `T` and `P` keys with Shift, upper-cased.
    pub(crate) prefix: [char; 2],
    /// The digit keys without Shift: `digits[d]` is what the key of digit `d` types.
    pub(crate) digits: [char; 10],
    /// The `]` key without Shift (opens an AIM identifier).
    pub(crate) aim: char,
    /// The `\` key without Shift (opens an ECI escape).
    pub(crate) eci: char,
}

impl Profile {
    /// The digit whose key types `c`.
    fn digit(&self, c: char) -> Option<u8> {
        if let Some(d) = c.to_digit(10)
            && self.digits.get(d as usize) == Some(&c)
        {
            return u8::try_from(d).ok();
        }
        self.digits
            .iter()
            .position(|&k| k == c)
            .and_then(|d| u8::try_from(d).ok())
    }

    /// Whether this profile can only repeat the first (US) profile's reading of a text of
    /// `TP` (either case) and ASCII digits, or fail: its prefix is `TP` and every ASCII
    /// digit it reads stands for itself, or its prefix is not `TP` and no AIM identifier
    /// can start with `T`.
    pub(crate) const fn reads_plain_as_us(&self) -> bool {
        if self.prefix[0] != 'T' || self.prefix[1] != 'P' {
            return !self.is_aim_open('T') && !self.is_aim_open('t');
        }
        let mut d = 0;
        while d < self.digits.len() {
            let k = self.digits[d];
            if k.is_ascii_digit() && k as usize != '0' as usize + d {
                return false;
            }
            d += 1;
        }
        true
    }

    const fn is_aim_open(&self, c: char) -> bool {
        c == ']' || (c == self.aim && c != '\0')
    }

    fn is_eci_escape(&self, c: char) -> bool {
        c == '\\' || (c == self.eci && c != '\0')
    }
}

/// A character as the till reads it: full-width forms folded to ASCII.
fn fold(c: char) -> char {
    match c {
        '\u{ff01}'..='\u{ff5e}' => char::from_u32(u32::from(c) - 0xfee0).unwrap_or(c),
        '\u{3000}' => ' ',
        _ => c,
    }
}

/// What a scanner adds around a read: whitespace, control characters, a byte-order mark.
fn is_framing(c: char) -> bool {
    c.is_whitespace() || c.is_control() || c == '\u{feff}'
}

/// `text` without the framing at either end.
pub(crate) fn unframe(text: &str) -> &str {
    text.trim_matches(|c| is_framing(fold(c)))
}

/// The single-character upper case of `c`, or `c`.
fn upper(c: char) -> char {
    if c.is_ascii() {
        return c.to_ascii_uppercase();
    }
    let mut up = c.to_uppercase();
    match (up.next(), up.next()) {
        (Some(u), None) => u,
        _ => c,
    }
}

/// The rest of `text` after the prefix, in either case.
fn after_prefix<'t>(text: &'t str, p: &Profile) -> Option<&'t str> {
    let mut chars = text.chars();
    let t = upper(fold(chars.next()?));
    let q = upper(fold(chars.next()?));
    (t == p.prefix[0] && q == p.prefix[1]).then_some(chars.as_str())
}

/// The rest of `text` after an AIM identifier and an optional ECI escape.
fn after_aim<'t>(text: &'t str, p: &Profile) -> Option<&'t str> {
    let mut chars = text.chars();
    if !p.is_aim_open(fold(chars.next()?)) {
        return None;
    }
    if is_framing(fold(chars.next()?)) {
        return None;
    }
    let modifier = fold(chars.next()?);
    if !(modifier.is_ascii_alphanumeric() || p.digit(modifier).is_some()) {
        return None;
    }
    let rest = chars.as_str();
    Some(after_eci(rest, p).unwrap_or(rest))
}

/// The rest of `text` after an ECI escape: `\` and six digits.
fn after_eci<'t>(text: &'t str, p: &Profile) -> Option<&'t str> {
    let mut chars = text.chars();
    if !p.is_eci_escape(fold(chars.next()?)) {
        return None;
    }
    for _ in 0..6 {
        p.digit(fold(chars.next()?))?;
    }
    Some(chars.as_str())
}

/// The digits of `text` after its header (AIM identifier, ECI, prefix).
fn body<'t>(text: &'t str, p: &Profile) -> Result<&'t str, Malformed> {
    if let Some(rest) = after_prefix(text, p) {
        return Ok(rest);
    }
    after_aim(text, p)
        .and_then(|rest| after_prefix(rest, p))
        .ok_or(Malformed::MissingPrefix)
}

/// The most framing characters between the reads of a doubled read (CR LF, ETX STX, …):
/// bounds the look-ahead, so a long run of blanks inside a text costs nothing per profile.
const MAX_SEPARATOR: usize = 8;

/// Whether a second read starts at `text`, after at most [`MAX_SEPARATOR`] framing
/// characters.
fn starts_a_read(text: &str, p: &Profile) -> bool {
    let mut rest = text;
    for _ in 0..MAX_SEPARATOR {
        let mut chars = rest.chars();
        match chars.next() {
            Some(c) if is_framing(fold(c)) => rest = chars.as_str(),
            _ => break,
        }
    }
    after_prefix(rest, p).is_some()
        || after_aim(rest, p)
            .and_then(|r| after_prefix(r, p))
            .is_some()
}

/// Reads `text` (already [`unframe`]d) under `profile`, writing the token bytes into `out`
/// and returning their number.
pub(crate) fn read(
    text: &str,
    profile: &Profile,
    out: &mut [u8; MAX_TOKEN_LEN],
) -> Result<usize, Malformed> {
    let body = body(text, profile)?;
    let mut digits = [0u8; MAX_DIGITS];
    let mut count = 0;
    for (position, (at, c)) in body.char_indices().enumerate() {
        match profile.digit(fold(c)) {
            Some(d) => {
                *digits.get_mut(count).ok_or(Malformed::TooLong)? = d;
                count += 1;
            }
            None if starts_a_read(body.get(at..).unwrap_or(""), profile) => break,
            None => return Err(Malformed::InvalidCharacter { position }),
        }
    }
    bytes_from_digits(digits.get(..count).unwrap_or(&[]), out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::token::keyboards::PROFILES;

    const CLEAN: &str = "TP72057594037927935";

    fn us() -> &'static Profile {
        &PROFILES[0]
    }

    fn profile_of(prefix: [char; 2], zero: char) -> &'static Profile {
        PROFILES
            .iter()
            .find(|p| p.prefix == prefix && p.digits[0] == zero)
            .unwrap()
    }

    fn read_as(text: &str, p: &Profile) -> Result<Vec<u8>, Malformed> {
        let mut out = [0u8; MAX_TOKEN_LEN];
        let n = read(unframe(text), p, &mut out)?;
        Ok(out[..n].to_vec())
    }

    /// `CLEAN` as a host with profile `p` types it.
    fn typed(p: &Profile, text: &str) -> String {
        text.chars()
            .enumerate()
            .map(|(i, c)| match c.to_digit(10) {
                Some(d) if i >= 2 => p.digits[d as usize],
                _ if i < 2 => p.prefix[i],
                _ => c,
            })
            .collect()
    }

    #[test]
    fn the_first_profile_is_us() {
        assert_eq!(us().prefix, ['T', 'P']);
        assert_eq!(
            us().digits,
            ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9']
        );
        assert_eq!((us().aim, us().eci), (']', '\\'));
        assert!(us().reads_plain_as_us());
    }

    #[test]
    fn framing_is_ignored() {
        let clean = read_as(CLEAN, us()).unwrap();
        for framed in [
            format!("  {CLEAN}\r\n"),
            format!("\u{2}{CLEAN}\u{3}"),
            format!("\u{0}{CLEAN}"),
            format!("{CLEAN}\u{0}"),
            format!("\u{feff}{CLEAN}"),
            format!("]Q1{CLEAN}"),
            format!("]Q2\\000026{CLEAN}"),
            format!("]d1{CLEAN}"),
            format!("\u{2}]Q1{CLEAN}\u{3}\r\n"),
            format!("tp{}", &CLEAN[2..]),
            format!("Tp{}", &CLEAN[2..]),
            format!("{CLEAN}{CLEAN}"),
            format!("{CLEAN}\r\n{CLEAN}\r\n"),
            format!("{CLEAN}\u{3}\r\n\u{2}{CLEAN}"),
            format!("]Q1{CLEAN}]Q1{CLEAN}"),
            "ＴＰ７２０５７５９４０３７９２７９３５".to_owned(),
        ] {
            assert_eq!(read_as(&framed, us()).as_ref(), Ok(&clean), "{framed:?}");
        }
    }

    #[test]
    fn layouts_are_read_through_their_profile() {
        let clean = read_as(CLEAN, us()).unwrap();
        let azerty = profile_of(['T', 'P'], 'à');
        assert_eq!(typed(azerty, CLEAN), "TPèéà(è(ç'à\"èçéèç\"(");
        assert_eq!(read_as(&typed(azerty, CLEAN), azerty).as_ref(), Ok(&clean));
        // The AIM identifier typed on AZERTY: `]` is `$`, `Q` is `A`, `1` is `&`.
        let aim = format!("$A&{}", typed(azerty, CLEAN));
        assert_eq!(read_as(&aim, azerty).as_ref(), Ok(&clean));
        let czech = profile_of(['T', 'P'], 'é');
        assert_eq!(read_as(&typed(czech, CLEAN), czech).as_ref(), Ok(&clean));
        // é is 2 on AZERTY but 0 on Czech: the same character, two readings.
        assert_ne!(azerty.digit('é'), czech.digit('é'));
        let russian = profile_of(['Е', 'З'], '0');
        assert_eq!(
            read_as(&typed(russian, CLEAN), russian).as_ref(),
            Ok(&clean)
        );
        assert_eq!(
            read_as(&format!("ез{}", &CLEAN[2..]), russian).as_ref(),
            Ok(&clean)
        );
        assert_eq!(read_as(CLEAN, russian), Err(Malformed::MissingPrefix));
    }

    #[test]
    fn anything_else_is_refused_with_a_reason() {
        assert_eq!(read_as("", us()), Err(Malformed::MissingPrefix));
        assert_eq!(read_as("T", us()), Err(Malformed::MissingPrefix));
        assert_eq!(read_as("XP000", us()), Err(Malformed::MissingPrefix));
        assert_eq!(read_as("]Q1XP000", us()), Err(Malformed::MissingPrefix));
        assert_eq!(
            read_as("TP00 0", us()),
            Err(Malformed::InvalidCharacter { position: 2 })
        );
        assert_eq!(
            read_as("TP000A", us()),
            Err(Malformed::InvalidCharacter { position: 3 })
        );
        assert_eq!(
            read_as(&format!("{CLEAN}X{CLEAN}"), us()),
            Err(Malformed::InvalidCharacter { position: 17 })
        );
        assert_eq!(read_as("TP", us()), Ok(vec![]));
        // More framing between two reads than a scanner puts there: not a doubled read.
        let far = format!("{CLEAN}{}{CLEAN}", " ".repeat(9));
        assert_eq!(
            read_as(&far, us()),
            Err(Malformed::InvalidCharacter { position: 17 })
        );
        let long = format!("TP{}", "0".repeat(MAX_DIGITS + 1));
        assert_eq!(read_as(&long, us()), Err(Malformed::TooLong));
    }
}
