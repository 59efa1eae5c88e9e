//! `X-Hub-Signature-256`: `sha256=` and the hex HMAC-SHA256 of a delivery's **raw body**,
//! keyed with the app secret — checked before the body is parsed, in constant time.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// The header Meta signs deliveries in.
pub const HEADER: &str = "x-hub-signature-256";

/// The header's value for `body` under `secret` (what Meta — and the fake Graph API —
/// send).
pub fn sign(secret: &[u8], body: &[u8]) -> String {
    format!("sha256={}", hex::encode(mac(secret, body)))
}

/// Whether `header` is the signature of `body` under `secret`.
pub fn verify(secret: &[u8], body: &[u8], header: Option<&str>) -> bool {
    let Some(hex_mac) = header.and_then(|h| h.trim().strip_prefix("sha256=")) else {
        return false;
    };
    let mut given = [0u8; 32];
    if hex::decode_to_slice(hex_mac, &mut given).is_err() {
        return false;
    }
    bool::from(mac(secret, body).as_slice().ct_eq(&given))
}

fn mac(secret: &[u8], body: &[u8]) -> [u8; 32] {
    // HMAC takes a key of any length.
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret) else {
        return [0; 32];
    };
    mac.update(body);
    mac.finalize().into_bytes().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_matches_its_body_and_secret_only() {
        let body = br#"{"object":"whatsapp_business_account"}"#;
        let header = sign(b"secret", body);
        assert!(verify(b"secret", body, Some(&header)));
        assert!(!verify(b"other", body, Some(&header)));
        assert!(!verify(b"secret", b"{}", Some(&header)));
        assert!(!verify(b"secret", body, None));
        assert!(!verify(b"secret", body, Some("sha256=zz")));
        assert!(!verify(
            b"secret",
            body,
            Some(header.trim_start_matches("sha256="))
        ));
        // The HMAC-SHA256 test vector of RFC 4231, case 2.
        assert_eq!(
            sign(b"Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
