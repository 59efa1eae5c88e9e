//! A signed token: body bytes and signature, held in a fixed buffer (no allocation when
//! decoding a scan); issuing one; and the signing context.

use std::fmt;

use ed25519_dalek::{Signature, Signer, SigningKey};

use super::body::{MAX_BODY_LEN, MAX_TOKEN_LEN, SIGNATURE_LEN, TokenBody};
use super::refusal::Malformed;
use super::text;
use crate::trust::KeyId;

/// The domain-separation context: the Ed25519 signature covers `SIGNING_CONTEXT ‖ body`.
pub const SIGNING_CONTEXT: &[u8] = b"tillpass/token/v1\0";

/// The longest signed message: context and the longest body.
pub(crate) const MAX_MESSAGE_LEN: usize = SIGNING_CONTEXT.len() + MAX_BODY_LEN;

/// A token as issued or as decoded from a scan: its parsed body, the signer's key id, and
/// the exact bytes. Decoding checks the layout only; the signature is checked by
/// [`verify_token`](super::verify_token).
#[derive(Clone, PartialEq, Eq)]
pub struct SignedToken {
    body: TokenBody,
    kid: KeyId,
    /// Body then signature; bytes past `len` are zero.
    bytes: [u8; MAX_TOKEN_LEN],
    len: usize,
}

impl SignedToken {
    /// Reads a token from its bytes (body then 64-byte signature), refusing anything but
    /// exactly one well-formed body and one signature.
    pub fn from_bytes(bytes: &[u8]) -> Result<SignedToken, Malformed> {
        let (body, kid, signature) = TokenBody::parse(bytes)?;
        if signature.len() < SIGNATURE_LEN {
            return Err(Malformed::Truncated);
        }
        if signature.len() > SIGNATURE_LEN {
            return Err(Malformed::TrailingBytes);
        }
        let mut buf = [0u8; MAX_TOKEN_LEN];
        buf.get_mut(..bytes.len())
            .ok_or(Malformed::TrailingBytes)?
            .copy_from_slice(bytes);
        Ok(SignedToken {
            body,
            kid,
            bytes: buf,
            len: bytes.len(),
        })
    }

    /// The body, as decoded. Not yet verified unless this came from [`issue`].
    pub fn body(&self) -> &TokenBody {
        &self.body
    }

    /// The key id of the signer the token names.
    pub fn kid(&self) -> KeyId {
        self.kid
    }

    /// The exact bytes: body then signature.
    pub fn as_bytes(&self) -> &[u8] {
        self.bytes.get(..self.len).unwrap_or(&[])
    }

    /// The body bytes (what is signed, after the context).
    pub fn body_bytes(&self) -> &[u8] {
        self.bytes
            .get(..self.len.saturating_sub(SIGNATURE_LEN))
            .unwrap_or(&[])
    }

    /// The signature.
    pub fn signature(&self) -> Signature {
        let tail = self
            .bytes
            .get(self.len.saturating_sub(SIGNATURE_LEN)..self.len)
            .and_then(|s| <&[u8; SIGNATURE_LEN]>::try_from(s).ok());
        Signature::from_bytes(tail.unwrap_or(&[0; SIGNATURE_LEN]))
    }

    /// The QR text: `TP` and digits.
    pub fn to_text(&self) -> String {
        text::encode(self.as_bytes())
    }

    /// Writes `SIGNING_CONTEXT ‖ body` into `buf` and returns it: the message the signature
    /// covers.
    pub(crate) fn signed_message<'b>(&self, buf: &'b mut [u8; MAX_MESSAGE_LEN]) -> &'b [u8] {
        let body = self.body_bytes();
        let len = SIGNING_CONTEXT.len() + body.len();
        for (dst, src) in buf.iter_mut().zip(SIGNING_CONTEXT.iter().chain(body)) {
            *dst = *src;
        }
        buf.get(..len).unwrap_or(&[])
    }
}

impl fmt::Debug for SignedToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SignedToken")
            .field("body", &self.body)
            .field("kid", &self.kid)
            .field("len", &self.len)
            .finish()
    }
}

/// Signs `body` with `key`: the key id written in the body is that of `key`, and the
/// signature covers [`SIGNING_CONTEXT`] ‖ body.
pub fn issue(body: &TokenBody, key: &SigningKey) -> SignedToken {
    let kid = KeyId::of(&key.verifying_key());
    let mut message = Vec::with_capacity(MAX_MESSAGE_LEN);
    message.extend_from_slice(SIGNING_CONTEXT);
    body.encode(kid, &mut message);
    let signature = key.sign(&message).to_bytes();
    let body_bytes = message.get(SIGNING_CONTEXT.len()..).unwrap_or(&[]);

    let len = body_bytes.len() + SIGNATURE_LEN;
    debug_assert!(len <= MAX_TOKEN_LEN, "a body never exceeds MAX_BODY_LEN");
    let mut bytes = [0u8; MAX_TOKEN_LEN];
    for (dst, src) in bytes.iter_mut().zip(body_bytes.iter().chain(&signature)) {
        *dst = *src;
    }
    SignedToken {
        body: *body,
        kid,
        bytes,
        len: len.min(MAX_TOKEN_LEN),
    }
}

/// Decodes a scanned text into its most likely token reading (tolerantly: framing,
/// keyboard layouts and Caps Lock, see `reading`), checking its shape and layout but not
/// its signature. [`verify`](super::verify) reads the text the same way but lets the
/// signature decide between readings.
pub fn decode(text: &str) -> Result<SignedToken, Malformed> {
    super::candidates::most_likely(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::token::{Subject, TokenId, TokenKind};
    use ed25519_dalek::Verifier;

    fn body() -> TokenBody {
        TokenBody {
            kind: TokenKind::CustomerPass,
            subject: Subject::new(&[0x42; 8]).unwrap(),
            issued_at: 1_750_000_000,
            lifetime_secs: 86_400,
            token_id: TokenId([1, 2, 3, 4, 5, 6, 7, 8]),
            tier: None,
            balance: None,
        }
    }

    #[test]
    fn the_signature_covers_the_context_and_the_body() {
        let key = SigningKey::from_bytes(&[5; 32]);
        let token = issue(&body(), &key);
        let mut message = SIGNING_CONTEXT.to_vec();
        message.extend_from_slice(token.body_bytes());
        assert!(
            key.verifying_key()
                .verify(&message, &token.signature())
                .is_ok()
        );
        // Without the context the same signature is worthless.
        assert!(
            key.verifying_key()
                .verify(token.body_bytes(), &token.signature())
                .is_err()
        );
        let mut buf = [0u8; MAX_MESSAGE_LEN];
        assert_eq!(token.signed_message(&mut buf), message.as_slice());
    }

    #[test]
    fn issue_decode_round_trip_keeps_every_byte() {
        let key = SigningKey::from_bytes(&[5; 32]);
        let token = issue(&body(), &key);
        assert_eq!(token.kid(), KeyId::of(&key.verifying_key()));
        let decoded = decode(&token.to_text()).unwrap();
        assert_eq!(decoded, token);
        assert_eq!(
            decoded.as_bytes().len(),
            token.body_bytes().len() + SIGNATURE_LEN
        );
    }

    #[test]
    fn a_missing_or_extra_signature_byte_is_refused() {
        let token = issue(&body(), &SigningKey::from_bytes(&[5; 32]));
        let bytes = token.as_bytes();
        assert_eq!(
            SignedToken::from_bytes(&bytes[..bytes.len() - 1]),
            Err(Malformed::Truncated)
        );
        let mut longer = bytes.to_vec();
        longer.push(0);
        assert_eq!(
            SignedToken::from_bytes(&longer),
            Err(Malformed::TrailingBytes)
        );
        // Far too long input is also trailing bytes, never a buffer overrun.
        longer.resize(4 * MAX_TOKEN_LEN, 7);
        assert_eq!(
            SignedToken::from_bytes(&longer),
            Err(Malformed::TrailingBytes)
        );
    }
}
