//! AIM symbology identifiers (ISO/IEC 15424) and the symbologies they name.
//!
//! A scanner set to "transmit AIM ID" prefixes every scan with `]` + a code character + a
//! modifier character, e.g. `]Q1` for a QR Code (model 2, no ECI). HID-POS scanners carry the
//! same three characters in a field of the report instead.

use std::fmt;

/// The three characters `]`, code, modifier of an AIM symbology identifier.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct AimId {
    code: u8,
    modifier: u8,
}

impl AimId {
    /// Parses `]cm` at the start of `bytes`: a code letter and an alphanumeric modifier.
    #[must_use]
    pub fn parse_prefix(bytes: &[u8]) -> Option<AimId> {
        match bytes {
            [b']', code, modifier, ..] => Self::from_parts(*code, *modifier),
            _ => None,
        }
    }

    /// An identifier from its code and modifier characters, if they are well formed.
    #[must_use]
    pub fn from_parts(code: u8, modifier: u8) -> Option<AimId> {
        (code.is_ascii_alphabetic() && modifier.is_ascii_alphanumeric())
            .then_some(AimId { code, modifier })
    }

    /// The code character (`Q` in `]Q1`).
    #[must_use]
    pub fn code(self) -> char {
        char::from(self.code)
    }

    /// The modifier character (`1` in `]Q1`).
    #[must_use]
    pub fn modifier(self) -> char {
        char::from(self.modifier)
    }

    /// The three bytes as transmitted.
    #[must_use]
    pub fn to_bytes(self) -> [u8; 3] {
        [b']', self.code, self.modifier]
    }

    /// The symbology this identifier names.
    #[must_use]
    pub fn symbology(self) -> Symbology {
        match (self.code, self.modifier) {
            (b'A', _) => Symbology::Code39,
            (b'C', b'1') => Symbology::Gs1_128,
            (b'C', _) => Symbology::Code128,
            (b'E', b'4') => Symbology::Ean8,
            (b'E', _) => Symbology::EanUpc,
            (b'F', _) => Symbology::Codabar,
            (b'G', _) => Symbology::Code93,
            (b'I', _) => Symbology::Interleaved2of5,
            (b'L', _) => Symbology::Pdf417,
            (b'Q', _) => Symbology::QrCode,
            (b'U', _) => Symbology::MaxiCode,
            (b'd', _) => Symbology::DataMatrix,
            (b'e', _) => Symbology::Gs1DataBar,
            (b'z', _) => Symbology::Aztec,
            (b'h', _) => Symbology::HanXin,
            (code, _) => Symbology::Other(char::from(code)),
        }
    }

    /// Whether the modifier says the data uses the ECI protocol, i.e. may contain `\nnnnnn`
    /// escapes (and `\\` for a backslash) that switch the character set.
    #[must_use]
    pub fn eci_protocol(self) -> bool {
        match self.code {
            // QR Code: 2, 4, 6 = model 2 with ECI (plain, FNC1 first, FNC1 second).
            b'Q' => matches!(self.modifier, b'2' | b'4' | b'6'),
            // Data Matrix: 4, 5, 6 = ECC 200 with ECI.
            b'd' => matches!(self.modifier, b'4' | b'5' | b'6'),
            // Aztec: 3, 4, 5 = with ECI.
            b'z' => matches!(self.modifier, b'3' | b'4' | b'5'),
            // PDF417: 1 = ECI protocol implemented.
            b'L' => self.modifier == b'1',
            // MaxiCode: 2, 3 = ECI.
            b'U' => matches!(self.modifier, b'2' | b'3'),
            _ => false,
        }
    }
}

impl fmt::Display for AimId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "]{}{}", self.code(), self.modifier())
    }
}

impl fmt::Debug for AimId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AimId({self})")
    }
}

impl serde::Serialize for AimId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// The barcode symbology of a scan, as far as the scanner told us.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[non_exhaustive]
pub enum Symbology {
    /// No AIM identifier was transmitted.
    Unknown,
    /// QR Code (`]Q`).
    QrCode,
    /// Data Matrix (`]d`).
    DataMatrix,
    /// Aztec (`]z`).
    Aztec,
    /// PDF417 or MicroPDF417 (`]L`).
    Pdf417,
    /// MaxiCode (`]U`).
    MaxiCode,
    /// Han Xin (`]h`).
    HanXin,
    /// Code 128 (`]C`).
    Code128,
    /// GS1-128 (`]C1`).
    #[serde(rename = "GS1-128")]
    Gs1_128,
    /// Code 39 (`]A`).
    Code39,
    /// Code 93 (`]G`).
    Code93,
    /// EAN-13, UPC-A, UPC-E and add-ons (`]E`).
    EanUpc,
    /// EAN-8 (`]E4`).
    Ean8,
    /// Codabar (`]F`).
    Codabar,
    /// Interleaved 2 of 5 (`]I`).
    Interleaved2of5,
    /// GS1 DataBar (`]e`).
    Gs1DataBar,
    /// Another AIM code character.
    Other(char),
}

impl fmt::Display for Symbology {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            Symbology::Unknown => "unknown",
            Symbology::QrCode => "QR Code",
            Symbology::DataMatrix => "Data Matrix",
            Symbology::Aztec => "Aztec",
            Symbology::Pdf417 => "PDF417",
            Symbology::MaxiCode => "MaxiCode",
            Symbology::HanXin => "Han Xin",
            Symbology::Code128 => "Code 128",
            Symbology::Gs1_128 => "GS1-128",
            Symbology::Code39 => "Code 39",
            Symbology::Code93 => "Code 93",
            Symbology::EanUpc => "EAN/UPC",
            Symbology::Ean8 => "EAN-8",
            Symbology::Codabar => "Codabar",
            Symbology::Interleaved2of5 => "Interleaved 2 of 5",
            Symbology::Gs1DataBar => "GS1 DataBar",
            Symbology::Other(c) => return write!(f, "AIM ]{c}"),
        };
        f.write_str(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_prefixes() {
        let id = AimId::parse_prefix(b"]Q1TP123").unwrap();
        assert_eq!(id.to_string(), "]Q1");
        assert_eq!(id.symbology(), Symbology::QrCode);
        assert!(!id.eci_protocol());
        assert!(AimId::parse_prefix(b"]Q2").unwrap().eci_protocol());
        assert!(AimId::parse_prefix(b"]d4").unwrap().eci_protocol());
        assert_eq!(
            AimId::parse_prefix(b"]C1x").unwrap().symbology(),
            Symbology::Gs1_128
        );
        assert_eq!(
            AimId::parse_prefix(b"]X0").unwrap().symbology(),
            Symbology::Other('X')
        );
        assert_eq!(AimId::parse_prefix(b"]Q"), None);
        assert_eq!(AimId::parse_prefix(b"]1Q"), None);
        assert_eq!(AimId::parse_prefix(b"]Q "), None);
        assert_eq!(AimId::parse_prefix(b"Q1"), None);
    }
}
