//! Issued passes, gift-card tokens and vouchers: text, SVG and PNG that decode and verify.

use base64::Engine as _;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tillpass_protocol::token::{self, NoRevocations, TokenKind, VerifyPolicy};

use crate::util::Central;

/// Reads the QR in a PNG.
fn read_qr(png_bytes: &[u8]) -> String {
    let mut decoder = png::Decoder::new(std::io::Cursor::new(png_bytes));
    decoder.set_transformations(png::Transformations::EXPAND);
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    assert_eq!(info.color_type, png::ColorType::Grayscale);
    let (width, height, line) = (
        usize::try_from(info.width).unwrap(),
        usize::try_from(info.height).unwrap(),
        info.line_size,
    );
    let mut image =
        rqrr::PreparedImage::prepare_from_greyscale(width, height, |x, y| buf[y * line + x]);
    let grids = image.detect_grids();
    assert_eq!(grids.len(), 1);
    grids[0].decode().unwrap().1
}

async fn issue(central: &Central, path: &str, body: Value) -> Value {
    let (status, issued) = central.admin_json(Method::POST, path, body).await;
    assert_eq!(status, StatusCode::CREATED, "{issued}");
    issued
}

#[tokio::test]
async fn a_pass_comes_as_text_svg_and_png_that_verify() {
    let central = Central::start().await;
    central.create_customer("C-000123", 1234, false).await;
    let till = central.enrol("S001", "S001-T01").await;
    let trust = till.trust(central.now());

    let issued = issue(&central, "/v1/customers/C-000123/pass", Value::Null).await;
    let text = issued["text"].as_str().unwrap();
    assert!(text.starts_with("TP"), "{text}");
    let now = u64::try_from(central.now()).unwrap();
    let verified =
        token::verify(text, &trust, &VerifyPolicy::default(), &NoRevocations, now).unwrap();
    assert_eq!(verified.kind(), TokenKind::CustomerPass);
    assert_eq!(verified.subject().as_bytes(), b"C-000123");
    assert_eq!(verified.balance().unwrap().amount, 1234);
    assert_eq!(
        hex::encode(verified.token_id().0),
        issued["token_id"].as_str().unwrap()
    );

    let svg = issued["svg"].as_str().unwrap();
    assert!(svg.contains("<svg"), "{svg}");
    let png = base64::engine::general_purpose::STANDARD
        .decode(issued["png_base64"].as_str().unwrap())
        .unwrap();
    assert_eq!(read_qr(&png), text);

    // Two passes for the same customer are different tokens.
    let again = issue(
        &central,
        "/v1/customers/C-000123/pass",
        json!({ "lifetime_secs": 600 }),
    )
    .await;
    assert_ne!(again["token_id"], issued["token_id"]);
    assert_eq!(
        again["expires_at"].as_i64().unwrap() - again["issued_at"].as_i64().unwrap(),
        600
    );

    let (status, _) = central
        .admin_json(Method::POST, "/v1/customers/NOBODY/pass", Value::Null)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn gift_card_tokens_and_vouchers_verify_too() {
    let central = Central::start().await;
    let till = central.enrol("S001", "S001-T01").await;
    let trust = till.trust(central.now());
    let now = u64::try_from(central.now()).unwrap();
    let (status, _) = central
        .admin_json(
            Method::POST,
            "/admin/v1/gift-cards",
            json!({ "card": "GC-42", "balance": 5000 }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);

    let card = issue(&central, "/v1/gift-cards/GC-42/token", Value::Null).await;
    let verified = token::verify(
        card["text"].as_str().unwrap(),
        &trust,
        &VerifyPolicy::default(),
        &NoRevocations,
        now,
    )
    .unwrap();
    assert_eq!(verified.kind(), TokenKind::GiftCard);
    assert_eq!(verified.balance().unwrap().amount, 5000);

    let voucher = issue(
        &central,
        "/v1/vouchers",
        json!({ "code": "WELCOME5", "promotion_id": "WELCOME" }),
    )
    .await;
    let verified = token::verify(
        voucher["text"].as_str().unwrap(),
        &trust,
        &VerifyPolicy::default(),
        &NoRevocations,
        now,
    )
    .unwrap();
    assert_eq!(verified.kind(), TokenKind::Voucher);
    assert_eq!(verified.subject().as_bytes(), b"WELCOME5");
    let png = base64::engine::general_purpose::STANDARD
        .decode(voucher["png_base64"].as_str().unwrap())
        .unwrap();
    assert_eq!(read_qr(&png), voucher["text"].as_str().unwrap());

    // A blocked card gets no token.
    central
        .admin_json(
            Method::POST,
            "/admin/v1/gift-cards/GC-42/block",
            Value::Null,
        )
        .await;
    let (status, _) = central
        .admin_json(Method::POST, "/v1/gift-cards/GC-42/token", Value::Null)
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
}

#[tokio::test]
async fn after_a_token_key_rotation_old_and_new_passes_verify() {
    let central = Central::start().await;
    central.create_customer("C-1", 0, false).await;
    let old = issue(&central, "/v1/customers/C-1/pass", Value::Null).await;
    let (status, _) = central
        .admin_json(Method::POST, "/admin/v1/keys/token/rotate", Value::Null)
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let new = issue(&central, "/v1/customers/C-1/pass", Value::Null).await;
    assert_ne!(old["kid"], new["kid"]);

    let till = central.enrol("S001", "S001-T01").await;
    let trust = till.trust(central.now());
    let now = u64::try_from(central.now()).unwrap();
    for pass in [&old, &new] {
        token::verify(
            pass["text"].as_str().unwrap(),
            &trust,
            &VerifyPolicy::default(),
            &NoRevocations,
            now,
        )
        .unwrap();
    }
}
