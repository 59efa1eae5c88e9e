//! The stores' poster: a click-to-chat QR, `https://wa.me/<number>?text=<first message>`,
//! as PNG and SVG. Scanning it opens the chat with the first message written.

use qrcode::render::svg;
use qrcode::{Color, EcLevel, QrCode};

use crate::error::{Error, Result};

/// The longest first message on a poster, in characters.
pub const MAX_TEXT: usize = 200;

/// The default first message: the language detector reads it as Spanish.
pub const DEFAULT_TEXT: &str = "Hola, quiero unirme";

/// The click-to-chat link.
pub fn link(number: &str, text: &str) -> Result<String> {
    if !super::delivery::is_wa_id(number) {
        return Err(Error::invalid("number: the business number, digits only"));
    }
    if text.chars().count() > MAX_TEXT || text.chars().any(char::is_control) {
        return Err(Error::invalid(format!(
            "text: at most {MAX_TEXT} printable characters"
        )));
    }
    let encoded = percent_encoding::utf8_percent_encode(text, percent_encoding::NON_ALPHANUMERIC);
    Ok(format!("https://wa.me/{number}?text={encoded}"))
}

fn code(link: &str) -> Result<QrCode> {
    QrCode::with_error_correction_level(link.as_bytes(), EcLevel::M)
        .map_err(|e| Error::invalid(format!("the link does not fit a QR: {e}")))
}

/// The poster's QR as an SVG document.
pub fn svg(link: &str) -> Result<String> {
    Ok(code(link)?
        .render::<svg::Color<'_>>()
        .quiet_zone(true)
        .module_dimensions(8, 8)
        .build())
}

/// The poster's QR as a PNG (1-bit greyscale, 8 pixels a module, quiet zone of 4).
pub fn png(link: &str) -> Result<Vec<u8>> {
    const SCALE: usize = 8;
    const QUIET: usize = 4;
    let code = code(link)?;
    let width = code.width();
    let colors = code.to_colors();
    let side = (width + 2 * QUIET) * SCALE;
    let row_bytes = side.div_ceil(8);
    let mut pixels = vec![0u8; row_bytes * side];
    for (py, row) in pixels.chunks_exact_mut(row_bytes).enumerate() {
        for px in 0..side {
            let (mx, my) = (
                (px / SCALE).checked_sub(QUIET),
                (py / SCALE).checked_sub(QUIET),
            );
            let dark = match (mx, my) {
                (Some(x), Some(y)) if x < width && y < width => {
                    colors.get(y * width + x) == Some(&Color::Dark)
                }
                _ => false,
            };
            if !dark && let Some(byte) = row.get_mut(px / 8) {
                *byte |= 0x80 >> (px % 8);
            }
        }
    }
    let side = u32::try_from(side).map_err(Error::internal)?;
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, side, side);
    encoder.set_color(png::ColorType::Grayscale);
    encoder.set_depth(png::BitDepth::One);
    let mut writer = encoder.write_header().map_err(Error::internal)?;
    writer.write_image_data(&pixels).map_err(Error::internal)?;
    writer.finish().map_err(Error::internal)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_poster_opens_the_chat_with_its_first_message() {
        let link = link("34600111222", "Hola, quiero unirme").unwrap();
        assert_eq!(
            link,
            "https://wa.me/34600111222?text=Hola%2C%20quiero%20unirme"
        );
        let png = png(&link).unwrap();
        let image = rqrr_decode(&png);
        assert_eq!(image, link);
        assert!(svg(&link).unwrap().starts_with("<?xml"));
        assert!(super::link("+34 600", "x").is_err());
    }

    fn rqrr_decode(png_bytes: &[u8]) -> String {
        let decoder = png::Decoder::new(std::io::Cursor::new(png_bytes));
        let mut reader = decoder.read_info().unwrap();
        let mut buf = vec![0; reader.output_buffer_size().unwrap()];
        let info = reader.next_frame(&mut buf).unwrap();
        let (w, h) = (info.width as usize, info.height as usize);
        let row = info.line_size;
        let mut img = rqrr::PreparedImage::prepare_from_greyscale(w, h, |x, y| {
            let bit = buf[y * row + x / 8] & (0x80 >> (x % 8));
            if bit == 0 { 0 } else { 255 }
        });
        let grids = img.detect_grids();
        grids[0].decode().unwrap().1
    }
}
