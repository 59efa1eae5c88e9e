//! The QR text form of a token: the prefix `TP` then decimal digits, and its tolerant
//! decoder.
//!
//! Bytes are cut into groups of 7 from the front; each group, read as a big-endian integer,
//! is written as exactly 17 decimal digits (leading zeros kept). A shorter last group of `n`
//! bytes is written with exactly [`group_digits`]`(n)` digits: 3, 5, 8, 10, 13 or 15 for 1
//! to 6 bytes. A group whose value does not fit its bytes is refused, so every token has
//! exactly one text form.
//!
//! `T` and `P` sit on the same key in QWERTY, QWERTZ and AZERTY and are in the QR
//! alphanumeric set; digits are QR numeric mode. The decoder tolerates what scanners and
//! keyboard layouts do to that text: surrounding whitespace and CR/LF, an AIM symbology
//! identifier (`]Q1`, or `]` + letter + digit), a lower-case prefix, and the AZERTY
//! unshifted digit row `&é"'(-è_çà` in place of `1234567890`.

use std::fmt::Write;

use super::body::MAX_TOKEN_LEN;
use super::refusal::Malformed;

/// The prefix of every token text.
pub const PREFIX: &str = "TP";
/// Bytes per full group.
const GROUP_BYTES: usize = 7;
/// Digits per full group: 2^56 - 1 has 17 decimal digits.
const GROUP_DIGITS: usize = 17;
/// The most digits a token text can have.
pub const MAX_DIGITS: usize = text_digits(MAX_TOKEN_LEN);
/// Input longer than this many bytes is refused before any other work (whitespace and
/// two-byte AZERTY characters included).
pub const MAX_SCAN_BYTES: usize = 1024;

/// The digits that encode a group of `bytes` bytes (0 to 7): the fewest decimal digits
/// that can hold 256^bytes - 1.
pub const fn group_digits(bytes: usize) -> usize {
    match bytes {
        0 => 0,
        1 => 3,
        2 => 5,
        3 => 8,
        4 => 10,
        5 => 13,
        6 => 15,
        _ => GROUP_DIGITS,
    }
}

/// The bytes a last group of `digits` digits encodes, if that count is valid.
fn group_bytes(digits: usize) -> Option<usize> {
    (0..=GROUP_BYTES).find(|&n| group_digits(n) == digits)
}

/// The number of digits in the text of `len` token bytes (the prefix not counted).
pub const fn text_digits(len: usize) -> usize {
    len / GROUP_BYTES * GROUP_DIGITS + group_digits(len % GROUP_BYTES)
}

/// Writes `bytes` in text form: the prefix, then the digit groups. (Use
/// [`SignedToken::to_text`](super::SignedToken::to_text) for a token; this is for tools and
/// tests that build bytes by hand.)
pub fn encode(bytes: &[u8]) -> String {
    let mut text = String::with_capacity(PREFIX.len() + text_digits(bytes.len()));
    text.push_str(PREFIX);
    for chunk in bytes.chunks(GROUP_BYTES) {
        let value = chunk.iter().fold(0u64, |v, &b| (v << 8) | u64::from(b));
        let width = group_digits(chunk.len());
        // Writing to a String cannot fail.
        let _ = write!(text, "{value:0width$}");
    }
    text
}

/// Decodes a scanned text into `out`, returning the number of bytes written.
pub(crate) fn decode(text: &str, out: &mut [u8; MAX_TOKEN_LEN]) -> Result<usize, Malformed> {
    if text.len() > MAX_SCAN_BYTES {
        return Err(Malformed::TooLong);
    }
    let text = strip_aim_identifier(text.trim());
    let rest = match text.get(..PREFIX.len()) {
        Some(p) if p.eq_ignore_ascii_case(PREFIX) => text.get(PREFIX.len()..).unwrap_or(""),
        _ => return Err(Malformed::MissingPrefix),
    };

    let mut digits = [0u8; MAX_DIGITS];
    let mut count = 0;
    for (position, c) in rest.chars().enumerate() {
        let digit = digit_value(c).ok_or(Malformed::InvalidCharacter { position })?;
        *digits.get_mut(count).ok_or(Malformed::TooLong)? = digit;
        count += 1;
    }
    let digits = digits.get(..count).unwrap_or(&[]);

    let last_bytes =
        group_bytes(count % GROUP_DIGITS).ok_or(Malformed::DigitCount { digits: count })?;
    let mut written = 0;
    for (group, chunk) in digits.chunks(GROUP_DIGITS).enumerate() {
        let n = if chunk.len() == GROUP_DIGITS {
            GROUP_BYTES
        } else {
            last_bytes
        };
        // At most 17 digits: below 10^17, well inside a u64.
        let value = chunk.iter().fold(0u64, |v, &d| v * 10 + u64::from(d));
        if value >> (8 * n) != 0 {
            return Err(Malformed::GroupOutOfRange { group });
        }
        let be = value.to_be_bytes();
        let src = be.get(be.len() - n..).ok_or(Malformed::TooLong)?;
        out.get_mut(written..written + n)
            .ok_or(Malformed::TooLong)?
            .copy_from_slice(src);
        written += n;
    }
    Ok(written)
}

/// Removes a leading AIM symbology identifier: `]`, a letter, then a digit (or an AZERTY
/// unshifted digit).
fn strip_aim_identifier(text: &str) -> &str {
    let mut chars = text.chars();
    match (chars.next(), chars.next(), chars.next()) {
        (Some(']'), Some(letter), Some(modifier))
            if letter.is_ascii_alphabetic() && digit_value(modifier).is_some() =>
        {
            chars.as_str()
        }
        _ => text,
    }
}

/// The value of a digit, or of the AZERTY character on the digit's key without Shift
/// (upper-case accented letters too, as Caps Lock sends them on some systems).
fn digit_value(c: char) -> Option<u8> {
    let d = match c {
        '0'..='9' => return c.to_digit(10).and_then(|d| u8::try_from(d).ok()),
        '&' => 1,
        'é' | 'É' => 2,
        '"' => 3,
        '\'' => 4,
        '(' => 5,
        '-' => 6,
        'è' | 'È' => 7,
        '_' => 8,
        'ç' | 'Ç' => 9,
        'à' | 'À' => 0,
        _ => return None,
    };
    Some(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decoded(text: &str) -> Result<Vec<u8>, Malformed> {
        let mut out = [0u8; MAX_TOKEN_LEN];
        let n = decode(text, &mut out)?;
        Ok(out[..n].to_vec())
    }

    #[test]
    fn group_digits_is_the_width_of_the_largest_value() {
        for n in 0..=GROUP_BYTES {
            let largest = if n == 0 { 0 } else { (1u128 << (8 * n)) - 1 };
            let width = if n == 0 { 0 } else { largest.to_string().len() };
            assert_eq!(group_digits(n), width, "{n} bytes");
        }
    }

    #[test]
    fn every_length_round_trips_and_has_the_predicted_digit_count() {
        for len in 0..=MAX_TOKEN_LEN {
            let bytes: Vec<u8> = (0..len)
                .map(|i| ((i * 37 + 255) % 256).to_le_bytes()[0])
                .collect();
            let text = encode(&bytes);
            assert_eq!(text.len(), PREFIX.len() + text_digits(len));
            assert_eq!(decoded(&text), Ok(bytes), "{len} bytes");
        }
    }

    #[test]
    fn extreme_group_values_round_trip() {
        for bytes in [vec![0u8; 13], vec![0xff; 13]] {
            assert_eq!(decoded(&encode(&bytes)), Ok(bytes));
        }
        assert_eq!(encode(&[0xff; 7]), "TP72057594037927935");
        assert_eq!(encode(&[0, 0, 1]), "TP00000001");
    }

    #[test]
    fn out_of_range_groups_are_refused() {
        // 2^56 does not fit 7 bytes; 256 does not fit 1 byte.
        let too_big = format!("TP{}", 1u64 << 56);
        assert_eq!(
            decoded(&too_big),
            Err(Malformed::GroupOutOfRange { group: 0 })
        );
        assert_eq!(
            decoded("TP72057594037927935256"),
            Err(Malformed::GroupOutOfRange { group: 1 })
        );
    }

    #[test]
    fn digit_counts_that_no_length_produces_are_refused() {
        for (digits, valid) in [(1, false), (2, false), (3, true), (4, false), (16, false)] {
            let text = format!("TP{}", "0".repeat(digits));
            assert_eq!(decoded(&text).is_ok(), valid, "{digits} digits");
        }
        assert_eq!(decoded("TP0000"), Err(Malformed::DigitCount { digits: 4 }));
    }

    #[test]
    fn scanner_and_layout_noise_is_tolerated() {
        let clean = decoded("TP72057594037927935").unwrap();
        for noisy in [
            "  TP72057594037927935\r\n",
            "]Q1TP72057594037927935",
            "]Q&TP72057594037927935",
            "tp72057594037927935",
            "Tp72057594037927935\n",
        ] {
            assert_eq!(decoded(noisy).as_ref(), Ok(&clean), "{noisy:?}");
        }
        let azerty: String = "TP72057594037927935"
            .chars()
            .map(|c| match c.to_digit(10) {
                Some(d) => "à&é\"'(-è_ç".chars().nth(d as usize).unwrap(),
                None => c,
            })
            .collect();
        assert_eq!(azerty, "TPèéà(è(ç'à\"èçéèç\"(");
        assert_eq!(decoded(&azerty).as_ref(), Ok(&clean));
    }

    #[test]
    fn anything_else_is_refused_with_a_reason() {
        assert_eq!(decoded(""), Err(Malformed::MissingPrefix));
        assert_eq!(decoded("T"), Err(Malformed::MissingPrefix));
        assert_eq!(decoded("XP000"), Err(Malformed::MissingPrefix));
        assert_eq!(decoded("éP000"), Err(Malformed::MissingPrefix));
        assert_eq!(
            decoded("TP00 0"),
            Err(Malformed::InvalidCharacter { position: 2 })
        );
        assert_eq!(
            decoded("TP000A"),
            Err(Malformed::InvalidCharacter { position: 3 })
        );
        let long = format!("TP{}", "0".repeat(MAX_DIGITS + 1));
        assert_eq!(decoded(&long), Err(Malformed::TooLong));
        let huge = format!("TP{}", " ".repeat(MAX_SCAN_BYTES));
        assert_eq!(decoded(&huge), Err(Malformed::TooLong));
    }
}
