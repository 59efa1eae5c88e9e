//! The canonical QR text form of a token: the prefix `TP` then decimal digits.
//!
//! Bytes are cut into groups of 7 from the front; each group, read as a big-endian integer,
//! is written as exactly 17 decimal digits (leading zeros kept). A shorter last group of `n`
//! bytes is written with exactly [`group_digits`]`(n)` digits: 3, 5, 8, 10, 13 or 15 for 1
//! to 6 bytes. A group whose value does not fit its bytes is refused, so every token has
//! exactly one text form.
//!
//! `T` and `P` sit on the same key in QWERTY, QWERTZ and AZERTY and are in the QR
//! alphanumeric set; digits are QR numeric mode. What scanners and keyboard layouts do to
//! this text (framing, AIM identifiers, other layouts, Caps Lock, doubled reads) is undone
//! by [`reading`](super::reading) before the digits come here.

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
/// Input longer than this many bytes is refused before any other work: room for a doubled
/// read of the longest token typed in three-byte characters (full-width digits), with its
/// framing.
pub const MAX_SCAN_BYTES: usize = 4096;

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

/// Writes the bytes that `digits` (each 0 to 9, the whole text after the prefix) encode
/// into `out`, returning their number. Refuses digit counts that no byte length produces
/// and groups whose value does not fit their bytes, so each token has exactly one text.
pub(crate) fn bytes_from_digits(
    digits: &[u8],
    out: &mut [u8; MAX_TOKEN_LEN],
) -> Result<usize, Malformed> {
    if digits.len() > MAX_DIGITS {
        return Err(Malformed::TooLong);
    }
    let count = digits.len();
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Decodes a canonical text: the prefix, then ASCII digits.
    fn decoded(text: &str) -> Result<Vec<u8>, Malformed> {
        let rest = text.strip_prefix(PREFIX).ok_or(Malformed::MissingPrefix)?;
        let digits: Vec<u8> = rest
            .bytes()
            .enumerate()
            .map(|(position, b)| {
                b.is_ascii_digit()
                    .then(|| b - b'0')
                    .ok_or(Malformed::InvalidCharacter { position })
            })
            .collect::<Result<_, _>>()?;
        let mut out = [0u8; MAX_TOKEN_LEN];
        let n = bytes_from_digits(&digits, &mut out)?;
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
}
