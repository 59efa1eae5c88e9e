//! QR codes for token texts: the symbol ([`TokenQr`]) and its renderings — SVG, PNG bytes
//! and terminal text (Unicode half blocks).
//!
//! The symbol is built segment by segment: the prefix in alphanumeric mode, the digits in
//! numeric mode (10 bits per 3 digits), at error-correction level M, in the smallest
//! version that holds them. Every rendering includes the 4-module quiet zone.

use std::fmt;

use qrcode::bits::Bits;
use qrcode::render::svg;
use qrcode::{Color, EcLevel, QrCode, Version};
use thiserror::Error;

use crate::token::SignedToken;

/// The error-correction level of every token QR: M (about 15% of the symbol recoverable).
pub const EC_LEVEL: EcLevel = EcLevel::M;
/// The light border around the symbol, in modules, as ISO/IEC 18004 requires.
pub const QUIET_ZONE: usize = 4;
/// The largest module size, in pixels, [`TokenQr::to_png`] and [`TokenQr::to_svg`] accept.
pub const MAX_MODULE_PX: u32 = 64;

/// Why a QR could not be made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum QrError {
    /// The text is not upper-case letters followed by digits.
    #[error("not a token text (upper-case prefix then digits)")]
    NotTokenText,
    /// The text does not fit in any QR version at level M.
    #[error("text too long for a QR code")]
    TooLong,
    /// A module size of 0 or above [`MAX_MODULE_PX`].
    #[error("module size out of range")]
    ModuleSize,
    /// The PNG encoder failed.
    #[error("PNG encoding failed")]
    Png,
}

/// Which way round to draw a QR in a terminal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TerminalBackground {
    /// Light text on a dark background (the usual terminal): characters draw the light
    /// modules.
    #[default]
    Dark,
    /// Dark text on a light background: characters draw the dark modules.
    Light,
}

/// The QR symbol of one token text.
pub struct TokenQr {
    code: QrCode,
    colors: Vec<Color>,
}

impl fmt::Debug for TokenQr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenQr")
            .field("version", &self.version())
            .field("width", &self.width())
            .finish()
    }
}

impl TokenQr {
    /// The QR of a token's text.
    pub fn new(token: &SignedToken) -> Result<TokenQr, QrError> {
        TokenQr::from_text(&token.to_text())
    }

    /// The QR of a text made of upper-case letters then digits (a token text, or any text
    /// of that shape).
    pub fn from_text(text: &str) -> Result<TokenQr, QrError> {
        let split = text
            .find(|c: char| !c.is_ascii_uppercase())
            .unwrap_or(text.len());
        let (prefix, digits) = text.split_at_checked(split).ok_or(QrError::NotTokenText)?;
        if prefix.is_empty() || digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(QrError::NotTokenText);
        }
        for version in 1..=40 {
            if let Ok(bits) = segments(Version::Normal(version), prefix, digits) {
                let code = QrCode::with_bits(bits, EC_LEVEL).map_err(|_| QrError::TooLong)?;
                let colors = code.to_colors();
                return Ok(TokenQr { code, colors });
            }
        }
        Err(QrError::TooLong)
    }

    /// The QR version (1 to 40): the symbol is 17 + 4 × version modules wide.
    pub fn version(&self) -> u8 {
        match self.code.version() {
            Version::Normal(v) | Version::Micro(v) => u8::try_from(v).unwrap_or(0),
        }
    }

    /// The width of the symbol in modules, without the quiet zone.
    pub fn width(&self) -> usize {
        self.code.width()
    }

    /// Whether the module at column `x`, row `y` is dark. Outside the symbol (the quiet
    /// zone and beyond) everything is light.
    pub fn is_dark(&self, x: usize, y: usize) -> bool {
        let w = self.width();
        x < w
            && y < w
            && self
                .colors
                .get(y * w + x)
                .is_some_and(|c| *c == Color::Dark)
    }

    /// Whether the module at (`x`, `y`) of the symbol with its quiet zone is dark.
    fn is_dark_padded(&self, x: usize, y: usize) -> bool {
        match (x.checked_sub(QUIET_ZONE), y.checked_sub(QUIET_ZONE)) {
            (Some(x), Some(y)) => self.is_dark(x, y),
            _ => false,
        }
    }

    /// The width in modules with the quiet zone on both sides.
    fn padded_width(&self) -> usize {
        self.width() + 2 * QUIET_ZONE
    }

    /// An SVG document, `module_px` user units per module, black on white.
    pub fn to_svg(&self, module_px: u32) -> Result<String, QrError> {
        check_module_px(module_px)?;
        Ok(self
            .code
            .render::<svg::Color<'_>>()
            .quiet_zone(true)
            .module_dimensions(module_px, module_px)
            .build())
    }

    /// A PNG image (1-bit greyscale), `module_px` pixels per module.
    pub fn to_png(&self, module_px: u32) -> Result<Vec<u8>, QrError> {
        check_module_px(module_px)?;
        let scale = usize::try_from(module_px).map_err(|_| QrError::ModuleSize)?;
        let side_px = self.padded_width() * scale;
        let side = u32::try_from(side_px).map_err(|_| QrError::ModuleSize)?;
        let row_bytes = side_px.div_ceil(8);
        let mut pixels = vec![0u8; row_bytes * side_px];
        for (py, row) in pixels.chunks_exact_mut(row_bytes).enumerate() {
            for px in 0..side_px {
                // In 1-bit greyscale, 1 is white.
                if !self.is_dark_padded(px / scale, py / scale)
                    && let Some(byte) = row.get_mut(px / 8)
                {
                    *byte |= 0x80 >> (px % 8);
                }
            }
        }
        let mut out = Vec::new();
        let mut encoder = png::Encoder::new(&mut out, side, side);
        encoder.set_color(png::ColorType::Grayscale);
        encoder.set_depth(png::BitDepth::One);
        let mut writer = encoder.write_header().map_err(|_| QrError::Png)?;
        writer.write_image_data(&pixels).map_err(|_| QrError::Png)?;
        writer.finish().map_err(|_| QrError::Png)?;
        Ok(out)
    }

    /// Lines of Unicode half blocks (`▀ ▄ █` and space), two module rows per line, quiet
    /// zone included, for a terminal with the given background.
    pub fn to_terminal(&self, background: TerminalBackground) -> String {
        let side = self.padded_width();
        let lit = |x: usize, y: usize| {
            // Below the last row is quiet zone too.
            let dark = y < side && self.is_dark_padded(x, y);
            match background {
                TerminalBackground::Dark => !dark,
                TerminalBackground::Light => dark,
            }
        };
        let mut out = String::with_capacity((side + 1) * side.div_ceil(2) * 3);
        for y in (0..side).step_by(2) {
            for x in 0..side {
                out.push(match (lit(x, y), lit(x, y + 1)) {
                    (true, true) => '█',
                    (true, false) => '▀',
                    (false, true) => '▄',
                    (false, false) => ' ',
                });
            }
            out.push('\n');
        }
        out
    }
}

fn check_module_px(module_px: u32) -> Result<(), QrError> {
    if (1..=MAX_MODULE_PX).contains(&module_px) {
        Ok(())
    } else {
        Err(QrError::ModuleSize)
    }
}

/// The data bits of `prefix` (alphanumeric) and `digits` (numeric) in `version`, or an
/// error if they do not fit.
fn segments(version: Version, prefix: &str, digits: &str) -> qrcode::types::QrResult<Bits> {
    let mut bits = Bits::new(version);
    bits.push_alphanumeric_data(prefix.as_bytes())?;
    bits.push_numeric_data(digits.as_bytes())?;
    bits.push_terminator(EC_LEVEL)?;
    Ok(bits)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> TokenQr {
        TokenQr::from_text(&format!("TP{}", "0123456789".repeat(25))).unwrap()
    }

    #[test]
    fn segments_beat_automatic_byte_mode_sizing() {
        let text = format!("TP{}", "9".repeat(251));
        let ours = TokenQr::from_text(&text).unwrap();
        // 24 bits of prefix, 14 of header and 837 of digits: 875 bits, over version 6-M's
        // 864, within version 7-M's 992.
        assert_eq!(ours.version(), 7);
        let auto = QrCode::with_error_correction_level(text.as_bytes(), EC_LEVEL).unwrap();
        assert!(
            ours.version()
                <= u8::try_from(match auto.version() {
                    Version::Normal(v) | Version::Micro(v) => v,
                })
                .unwrap()
        );
    }

    #[test]
    fn only_prefix_then_digits_is_accepted() {
        for bad in ["", "TP", "123", "tp123", "TP12a", "TP 12", "TPé1"] {
            assert_eq!(
                TokenQr::from_text(bad).map(|_| ()),
                Err(QrError::NotTokenText),
                "{bad:?}"
            );
        }
        let too_long = format!("TP{}", "1".repeat(8_000));
        assert_eq!(
            TokenQr::from_text(&too_long).map(|_| ()),
            Err(QrError::TooLong)
        );
    }

    #[test]
    fn terminal_rendering_encodes_every_module_with_its_quiet_zone() {
        let qr = sample();
        let side = qr.width() + 2 * QUIET_ZONE;
        for background in [TerminalBackground::Light, TerminalBackground::Dark] {
            let lines: Vec<Vec<char>> = qr
                .to_terminal(background)
                .lines()
                .map(|l| l.chars().collect())
                .collect();
            assert_eq!(lines.len(), side.div_ceil(2));
            for (row, line) in lines.iter().enumerate() {
                assert_eq!(line.len(), side);
                for (x, c) in line.iter().enumerate() {
                    for (y, lit) in [
                        (2 * row, matches!(c, '█' | '▀')),
                        (2 * row + 1, matches!(c, '█' | '▄')),
                    ] {
                        let dark = y < side && qr.is_dark_padded(x, y);
                        let expected = match background {
                            TerminalBackground::Light => dark,
                            TerminalBackground::Dark => !dark,
                        };
                        assert_eq!(lit, expected, "{background:?} ({x}, {y})");
                    }
                }
            }
        }
    }

    #[test]
    fn svg_has_the_quiet_zone_in_its_size() {
        let qr = sample();
        let svg = qr.to_svg(3).unwrap();
        let side = (qr.width() + 2 * QUIET_ZONE) * 3;
        assert!(
            svg.contains(&format!(r#"width="{side}" height="{side}""#)),
            "{svg}"
        );
        assert_eq!(qr.to_svg(0).map(|_| ()), Err(QrError::ModuleSize));
        assert_eq!(
            qr.to_png(MAX_MODULE_PX + 1).map(|_| ()),
            Err(QrError::ModuleSize)
        );
    }

    #[test]
    fn corners_hold_finder_patterns() {
        let qr = sample();
        let w = qr.width();
        for (x, y) in [(0, 0), (w - 1, 0), (0, w - 1), (6, 6), (3, 3)] {
            assert!(qr.is_dark(x, y), "({x}, {y})");
        }
        assert!(!qr.is_dark(w - 1, w - 1 - 7), "separator");
        assert!(!qr.is_dark(w, 0), "outside the symbol");
        assert!(!qr.is_dark(0, usize::MAX), "far outside, without overflow");
    }
}
