//! A token QR rendered as PNG and read back by an independent decoder (`rqrr`), and the
//! measured sizes of typical tokens against the targets of the format.

use std::io::Cursor;

use tillpass_protocol::money::Currency;
use tillpass_protocol::qr::{EC_LEVEL, TokenQr};
use tillpass_protocol::token::{self, Balance, NoRevocations, Subject, TokenBody, TokenKind};
use tillpass_protocol::trust::KeyPurpose;

use crate::util;

/// Decodes a PNG into 8-bit greyscale and reads every QR code in it.
fn scan_png(png_bytes: &[u8]) -> Vec<(usize, String)> {
    let mut decoder = png::Decoder::new(Cursor::new(png_bytes));
    decoder.set_transformations(png::Transformations::EXPAND);
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    assert_eq!(info.color_type, png::ColorType::Grayscale);
    let (w, h, line) = (info.width as usize, info.height as usize, info.line_size);
    let mut image = rqrr::PreparedImage::prepare_from_greyscale(w, h, |x, y| buf[y * line + x]);
    image
        .detect_grids()
        .iter()
        .map(|grid| {
            let (meta, content) = grid.decode().unwrap();
            (meta.version.0, content)
        })
        .collect()
}

#[test]
fn a_png_token_is_read_back_by_another_decoder_and_verifies() {
    let key = util::key("token");
    let issued = token::issue(&util::typical_pass(), &key);
    let qr = TokenQr::new(&issued).unwrap();
    let scans = scan_png(&qr.to_png(4).unwrap());
    assert_eq!(scans, vec![(usize::from(qr.version()), issued.to_text())]);

    let store = util::store(&[(KeyPurpose::Token, &key)]);
    let verified = token::verify(
        &scans[0].1,
        &store,
        &Default::default(),
        &NoRevocations,
        u64::from(util::T0) + 60,
    )
    .unwrap();
    assert_eq!(verified.body(), &util::typical_pass());
}

/// Bytes, characters, QR version and modules of a token body.
fn measure(body: &TokenBody) -> (usize, usize, u8, usize) {
    let issued = token::issue(body, &util::key("token"));
    let qr = TokenQr::new(&issued).unwrap();
    (
        issued.as_bytes().len(),
        issued.to_text().len(),
        qr.version(),
        qr.width(),
    )
}

#[test]
fn a_typical_customer_pass_meets_the_size_targets() {
    let (bytes, chars, version, _) = measure(&util::typical_pass());
    assert!(bytes <= 110, "{bytes} bytes");
    assert!(chars <= 270, "{chars} characters");
    assert!(version <= 7, "QR version {version} at {EC_LEVEL:?}");
}

#[test]
fn measured_sizes() {
    // Printed for protocol/TOKEN.md: cargo test -p tillpass-protocol --test integration
    // measured_sizes -- --nocapture
    let pass = util::typical_pass();
    let minimal = TokenBody {
        tier: None,
        balance: None,
        ..pass
    };
    let gift = TokenBody {
        kind: TokenKind::GiftCard,
        subject: Subject::new(b"GC-0000123456").unwrap(),
        lifetime_secs: 365 * 86_400,
        tier: None,
        balance: Some(Balance {
            amount: 5_000,
            currency: Currency::EUR,
        }),
        ..pass
    };
    let largest = TokenBody {
        subject: Subject::new(&[0xff; 16]).unwrap(),
        ..pass
    };
    println!("| token | bytes | characters | QR version (ECC M) | modules |");
    println!("|---|---|---|---|---|");
    for (name, body) in [
        ("customer pass, 8-byte subject, tier + balance", pass),
        ("customer pass, 8-byte subject, no claims", minimal),
        ("gift card, 13-byte subject, balance", gift),
        ("largest: 16-byte subject, tier + balance", largest),
    ] {
        let (bytes, chars, version, width) = measure(&body);
        println!("| {name} | {bytes} | {chars} | {version} | {width}×{width} |");
        assert!(version <= 7, "{name}");
    }
}
