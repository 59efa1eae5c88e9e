//! Turns a frame into a label: strip the configured suffix and prefix, read the AIM
//! identifier, undo ECI escapes, and decode the text.
//!
//! Scanners emit `[prefix][AIM id][data][suffix][terminator]`; the framer already removed the
//! terminator. Text is UTF-8 when the bytes are valid UTF-8 and ISO-8859-1 otherwise (the
//! default character set of QR Code and most 1D symbologies); under the ECI protocol each
//! `\nnnnnn` escape switches the character set and `\\` stands for one backslash.

use serde::{Deserialize, Serialize};

use crate::charset;
use crate::symbology::{AimId, Symbology};

/// Whether frames carry an AIM identifier.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AimMode {
    /// Read one if the frame starts with `]` + code + modifier (the default).
    #[default]
    Auto,
    /// Every frame must start with one; a frame without is an error.
    Require,
    /// Never read one: a leading `]` is data.
    Ignore,
}

/// A parsed label.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Label {
    /// The decoded text, without the AIM identifier, ECI escapes undone.
    pub text: String,
    /// The symbology, from the AIM identifier.
    pub symbology: Symbology,
    /// The AIM identifier.
    pub aim: Option<AimId>,
}

/// Why a frame is not a label.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, thiserror::Error)]
#[non_exhaustive]
pub enum LabelError {
    /// `aim = "require"` and the frame has no AIM identifier.
    #[error("no AIM symbology identifier at the start of the scan (aim = \"require\")")]
    MissingAim,
    /// Nothing left once the prefix, suffix and AIM identifier are removed.
    #[error("empty label")]
    Empty,
    /// A backslash under the ECI protocol not followed by six digits or a backslash.
    #[error("malformed ECI escape at byte {at}")]
    BadEciEscape {
        /// Offset in the data after the AIM identifier.
        at: usize,
    },
    /// An ECI designator this crate does not decode.
    #[error("unsupported ECI {0:06}")]
    UnsupportedEci(u32),
    /// Bytes that are not valid in the character set their ECI designates.
    #[error("bytes not valid in ECI {0:06}")]
    InvalidForEci(u32),
}

/// Label settings.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LabelParser {
    prefix: Vec<u8>,
    suffix: Vec<u8>,
    aim: AimMode,
    eci: bool,
}

impl LabelParser {
    /// A parser stripping `prefix` and `suffix` when present, reading AIM identifiers per
    /// `aim` and undoing ECI escapes if `eci`.
    #[must_use]
    pub fn new(prefix: &str, suffix: &str, aim: AimMode, eci: bool) -> Self {
        LabelParser {
            prefix: prefix.as_bytes().to_vec(),
            suffix: suffix.as_bytes().to_vec(),
            aim,
            eci,
        }
    }

    /// Parses one frame. `aim_hint` is an identifier carried outside the data (HID-POS).
    ///
    /// # Errors
    /// See [`LabelError`].
    pub fn parse(&self, frame: &[u8], aim_hint: Option<AimId>) -> Result<Label, LabelError> {
        let mut data = frame;
        if !self.suffix.is_empty()
            && let Some(rest) = data.strip_suffix(self.suffix.as_slice())
        {
            data = rest;
        }
        if !self.prefix.is_empty()
            && let Some(rest) = data.strip_prefix(self.prefix.as_slice())
        {
            data = rest;
        }
        let aim = match self.aim {
            AimMode::Ignore => None,
            AimMode::Auto | AimMode::Require => {
                let inline = AimId::parse_prefix(data);
                if let Some(id) = inline
                    && (aim_hint.is_none() || aim_hint == Some(id))
                {
                    data = data.get(3..).unwrap_or_default();
                }
                aim_hint.or(inline)
            }
        };
        if self.aim == AimMode::Require && aim.is_none() {
            return Err(LabelError::MissingAim);
        }
        let text = match aim {
            Some(id) if self.eci && id.eci_protocol() => decode_eci(data)?,
            _ => decode_default(data),
        };
        if text.is_empty() {
            return Err(LabelError::Empty);
        }
        Ok(Label {
            text,
            symbology: aim.map_or(Symbology::Unknown, AimId::symbology),
            aim,
        })
    }
}

/// UTF-8 if valid, else ISO-8859-1.
fn decode_default(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(s) => s.to_owned(),
        Err(_) => bytes.iter().map(|&b| charset::latin1(b)).collect(),
    }
}

/// Splits `data` at ECI escapes and decodes each segment in its character set.
fn decode_eci(data: &[u8]) -> Result<String, LabelError> {
    let mut text = String::with_capacity(data.len());
    let mut segment: Vec<u8> = Vec::new();
    let mut eci: Option<u32> = None;
    let mut i = 0;
    while let Some(&b) = data.get(i) {
        if b != b'\\' {
            segment.push(b);
            i += 1;
            continue;
        }
        match data.get(i + 1) {
            Some(b'\\') => {
                segment.push(b'\\');
                i += 2;
            }
            _ => {
                let digits = data
                    .get(i + 1..i + 7)
                    .filter(|d| d.iter().all(u8::is_ascii_digit))
                    .ok_or(LabelError::BadEciEscape { at: i })?;
                decode_segment(eci, &segment, &mut text)?;
                segment.clear();
                eci = Some(
                    digits
                        .iter()
                        .fold(0u32, |n, d| n * 10 + u32::from(d - b'0')),
                );
                i += 7;
            }
        }
    }
    decode_segment(eci, &segment, &mut text)?;
    Ok(text)
}

fn decode_segment(eci: Option<u32>, bytes: &[u8], out: &mut String) -> Result<(), LabelError> {
    let Some(eci) = eci else {
        out.push_str(&decode_default(bytes));
        return Ok(());
    };
    match eci {
        0 | 2 => out.extend(bytes.iter().map(|&b| charset::cp437(b))),
        1 | 3 | 899 => out.extend(bytes.iter().map(|&b| charset::latin1(b))),
        23 => out.extend(bytes.iter().map(|&b| charset::cp1252(b))),
        26 => out.push_str(std::str::from_utf8(bytes).map_err(|_| LabelError::InvalidForEci(eci))?),
        27 | 170 => {
            if !bytes.is_ascii() {
                return Err(LabelError::InvalidForEci(eci));
            }
            out.extend(bytes.iter().map(|&b| char::from(b)));
        }
        25 | 33 => {
            if !bytes.len().is_multiple_of(2) {
                return Err(LabelError::InvalidForEci(eci));
            }
            let units = bytes.chunks_exact(2).map(|p| match (eci, p) {
                (25, [hi, lo]) | (_, [lo, hi]) => u16::from_be_bytes([*hi, *lo]),
                _ => 0,
            });
            for c in char::decode_utf16(units) {
                out.push(c.map_err(|_| LabelError::InvalidForEci(eci))?);
            }
        }
        other => return Err(LabelError::UnsupportedEci(other)),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auto() -> LabelParser {
        LabelParser::new("", "", AimMode::Auto, true)
    }

    #[test]
    fn strips_aim_and_names_the_symbology() {
        let label = auto().parse(b"]Q1TP0123", None).unwrap();
        assert_eq!(label.text, "TP0123");
        assert_eq!(label.symbology, Symbology::QrCode);
        let label = auto().parse(b"TP0123", None).unwrap();
        assert_eq!(
            (label.text.as_str(), label.symbology),
            ("TP0123", Symbology::Unknown)
        );
        let ignore = LabelParser::new("", "", AimMode::Ignore, true);
        assert_eq!(ignore.parse(b"]Q1TP", None).unwrap().text, "]Q1TP");
        let require = LabelParser::new("", "", AimMode::Require, true);
        assert_eq!(require.parse(b"TP", None), Err(LabelError::MissingAim));
    }

    #[test]
    fn prefix_suffix_then_aim() {
        let p = LabelParser::new("\u{2}", "#", AimMode::Auto, true);
        let label = p.parse(b"\x02]Q1TP42#", None).unwrap();
        assert_eq!(label.text, "TP42");
        // Absent prefix/suffix are tolerated.
        assert_eq!(p.parse(b"TP42", None).unwrap().text, "TP42");
        assert_eq!(p.parse(b"\x02#", None), Err(LabelError::Empty));
    }

    #[test]
    fn aim_from_the_report_and_a_duplicate_in_the_data() {
        let hint = AimId::parse_prefix(b"]Q1");
        assert_eq!(auto().parse(b"TP1", hint).unwrap().aim, hint);
        assert_eq!(auto().parse(b"]Q1TP1", hint).unwrap().text, "TP1");
        assert_eq!(auto().parse(b"]C0TP1", hint).unwrap().text, "]C0TP1");
    }

    #[test]
    fn eci_escapes_are_undone() {
        // ECI 3 (Latin-1) then ECI 26 (UTF-8), with an escaped backslash.
        let mut frame = b"]Q2A\\000003\xE9\\\\\\000026".to_vec();
        frame.extend_from_slice("é€".as_bytes());
        assert_eq!(auto().parse(&frame, None).unwrap().text, "Aé\\é€");
        assert_eq!(
            auto().parse(b"]Q2AB\\12", None),
            Err(LabelError::BadEciEscape { at: 2 })
        );
        assert_eq!(
            auto().parse(b"]Q2\\000020AB", None),
            Err(LabelError::UnsupportedEci(20))
        );
        assert_eq!(
            auto().parse(b"]Q2\\000027\xE9", None),
            Err(LabelError::InvalidForEci(27))
        );
        assert_eq!(
            auto().parse(b"]Q2\\000025\x00A\x00B", None).unwrap().text,
            "AB"
        );
        assert_eq!(auto().parse(b"]Q2\\000033A\x00", None).unwrap().text, "A");
        // Without the ECI modifier a backslash is data.
        assert_eq!(
            auto().parse(b"]Q1A\\000003", None).unwrap().text,
            "A\\000003"
        );
        // And ECI handling can be switched off.
        let no_eci = LabelParser::new("", "", AimMode::Auto, false);
        assert_eq!(no_eci.parse(b"]Q2A\\\\", None).unwrap().text, "A\\\\");
    }

    #[test]
    fn latin1_fallback() {
        assert_eq!(auto().parse(b"caf\xE9", None).unwrap().text, "café");
        assert_eq!(auto().parse("café".as_bytes(), None).unwrap().text, "café");
    }
}
