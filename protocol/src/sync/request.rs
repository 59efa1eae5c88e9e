//! Signed requests, till → central.
//!
//! Every till request after enrolment carries four headers:
//!
//! | header | value |
//! |---|---|
//! | `Tillpass-Till` ([`HEADER_TILL`]) | the till id |
//! | `Tillpass-Timestamp` ([`HEADER_TIMESTAMP`]) | unix seconds, decimal |
//! | `Tillpass-Nonce` ([`HEADER_NONCE`]) | 16 random bytes, 32 lowercase hex digits |
//! | `Tillpass-Signature` ([`HEADER_SIGNATURE`]) | Ed25519 signature, 128 lowercase hex digits |
//!
//! The signature is the till key's over the UTF-8 bytes of the canonical string
//! ([`canonical_string`]): seven lines joined by `\n`, with no trailing newline:
//!
//! ```text
//! tillpass-request-v1
//! POST
//! /v1/journal
//! 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08
//! 1751371200
//! 000102030405060708090a0b0c0d0e0f
//! S001-T01
//! ```
//!
//! that is: the context string, the method (upper case), the path with its query exactly as
//! sent, the SHA-256 of the body in lowercase hex (of the empty string for no body), the
//! timestamp, the nonce and the till id. No field can hold a newline, so the string is
//! unambiguous.
//!
//! Central calls [`SignedHeaders::from_headers`], looks up the till's public key by
//! [`SignedHeaders::till`], then [`verify_request`], which checks the signature
//! (`verify_strict`) and then that the timestamp lies within `± window` of `now`. It
//! returns the nonce: the caller refuses a nonce it has seen, and may forget it after
//! [`VerifiedRequest::forget_after`].

use std::fmt;
use std::str::FromStr;

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha256};
use thiserror::Error;

use super::ids::TillId;

/// The header naming the till.
pub const HEADER_TILL: &str = "tillpass-till";
/// The header with the request's unix time.
pub const HEADER_TIMESTAMP: &str = "tillpass-timestamp";
/// The header with the request's nonce. Central echoes it in its signed server time.
pub const HEADER_NONCE: &str = "tillpass-nonce";
/// The header with the till's signature.
pub const HEADER_SIGNATURE: &str = "tillpass-signature";

/// The first line of the canonical string.
pub const REQUEST_CONTEXT: &str = "tillpass-request-v1";

/// How far a request's timestamp may be from central's clock, by default: 5 minutes.
pub const DEFAULT_WINDOW_SECS: u64 = 300;

/// The longest path with query accepted, in bytes.
pub const MAX_PATH_LEN: usize = 4096;

/// A request's nonce: 16 random bytes, written as 32 lowercase hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RequestNonce(pub [u8; 16]);

impl RequestNonce {
    /// The 32 lowercase hex digits.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

impl fmt::Display for RequestNonce {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for RequestNonce {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RequestNonce({self})")
    }
}

impl FromStr for RequestNonce {
    type Err = RequestError;
    fn from_str(text: &str) -> Result<RequestNonce, RequestError> {
        super::hex::decode_array(text)
            .map(RequestNonce)
            .ok_or(RequestError::BadHeader(HEADER_NONCE))
    }
}

impl Serialize for RequestNonce {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_hex())
    }
}

impl<'de> Deserialize<'de> for RequestNonce {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<RequestNonce, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        text.parse()
            .map_err(|_| serde::de::Error::custom("expected 32 hex digits"))
    }
}

/// The parts of an HTTP request that are signed.
#[derive(Debug, Clone, Copy)]
pub struct RequestParts<'a> {
    /// The method, upper case: `GET`, `POST`…
    pub method: &'a str,
    /// The path and query exactly as sent: `/v1/deltas/customers?cursor=&limit=100`.
    pub path_and_query: &'a str,
    /// The body bytes (empty for none).
    pub body: &'a [u8],
}

/// The signature headers of a request, parsed.
#[derive(Clone, PartialEq, Eq)]
pub struct SignedHeaders {
    /// The till that claims to sign.
    pub till: TillId,
    /// When the till signed: unix seconds.
    pub timestamp: i64,
    /// Random for each request: central refuses one it has already seen.
    pub nonce: RequestNonce,
    /// The Ed25519 signature over the canonical string.
    pub signature: [u8; 64],
}

impl fmt::Debug for SignedHeaders {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SignedHeaders")
            .field("till", &self.till)
            .field("timestamp", &self.timestamp)
            .field("nonce", &self.nonce)
            .finish_non_exhaustive()
    }
}

impl SignedHeaders {
    /// Signs a request as `till` with the till's key. `timestamp` is the till's clock and
    /// `nonce` 16 fresh random bytes: the caller supplies both.
    pub fn sign(
        parts: &RequestParts<'_>,
        till: TillId,
        timestamp: i64,
        nonce: RequestNonce,
        key: &SigningKey,
    ) -> Result<SignedHeaders, RequestError> {
        let canonical = canonical_string(parts, &till, timestamp, &nonce)?;
        let signature = key.sign(canonical.as_bytes()).to_bytes();
        Ok(SignedHeaders {
            till,
            timestamp,
            nonce,
            signature,
        })
    }

    /// Parses the four header values; a missing one is [`RequestError::MissingHeader`], a
    /// malformed one [`RequestError::BadHeader`].
    pub fn from_headers(
        till: Option<&str>,
        timestamp: Option<&str>,
        nonce: Option<&str>,
        signature: Option<&str>,
    ) -> Result<SignedHeaders, RequestError> {
        let till = till.ok_or(RequestError::MissingHeader(HEADER_TILL))?;
        let timestamp = timestamp.ok_or(RequestError::MissingHeader(HEADER_TIMESTAMP))?;
        let nonce = nonce.ok_or(RequestError::MissingHeader(HEADER_NONCE))?;
        let signature = signature.ok_or(RequestError::MissingHeader(HEADER_SIGNATURE))?;
        let till = TillId::new(till).map_err(|_| RequestError::BadHeader(HEADER_TILL))?;
        let timestamp = parse_unix(timestamp).ok_or(RequestError::BadHeader(HEADER_TIMESTAMP))?;
        let nonce = nonce.parse()?;
        let signature =
            super::hex::decode_array(signature).ok_or(RequestError::BadHeader(HEADER_SIGNATURE))?;
        Ok(SignedHeaders {
            till,
            timestamp,
            nonce,
            signature,
        })
    }

    /// The four headers to send, as (name, value) pairs.
    pub fn to_headers(&self) -> [(&'static str, String); 4] {
        [
            (HEADER_TILL, self.till.to_string()),
            (HEADER_TIMESTAMP, self.timestamp.to_string()),
            (HEADER_NONCE, self.nonce.to_hex()),
            (HEADER_SIGNATURE, hex::encode(self.signature)),
        ]
    }
}

/// A request whose signature and timestamp were found good.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedRequest {
    /// The till that signed it.
    pub till: TillId,
    /// When it was signed: unix seconds.
    pub timestamp: i64,
    /// Its nonce: refuse it if seen before.
    pub nonce: RequestNonce,
}

impl VerifiedRequest {
    /// The unix time after which a replay of this request would be refused as stale
    /// anyway, so its nonce may leave the replay cache: `timestamp + window`.
    pub fn forget_after(&self, window_secs: u64) -> i64 {
        let window = i64::try_from(window_secs).unwrap_or(i64::MAX);
        self.timestamp.saturating_add(window)
    }
}

/// Why a signed request was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum RequestError {
    /// A signature header is absent.
    #[error("missing header {0}")]
    MissingHeader(&'static str),
    /// A signature header is malformed.
    #[error("malformed header {0}")]
    BadHeader(&'static str),
    /// The method is not 1 to 16 upper-case ASCII letters.
    #[error("malformed method")]
    BadMethod,
    /// The path does not start with `/`, is too long or holds characters outside
    /// visible ASCII.
    #[error("malformed path")]
    BadPath,
    /// The signature does not verify: tampered, or signed by another key.
    #[error("bad signature")]
    BadSignature,
    /// The timestamp is too far from central's clock.
    #[error("stale request: {skew_secs} s from the server's clock")]
    Stale {
        /// How far, in seconds.
        skew_secs: u64,
    },
}

/// The canonical string of a request: see the [module documentation](self).
pub fn canonical_string(
    parts: &RequestParts<'_>,
    till: &TillId,
    timestamp: i64,
    nonce: &RequestNonce,
) -> Result<String, RequestError> {
    let method = parts.method;
    if method.is_empty() || method.len() > 16 || !method.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err(RequestError::BadMethod);
    }
    let path = parts.path_and_query;
    if !path.starts_with('/')
        || path.len() > MAX_PATH_LEN
        || !path.bytes().all(|b| (0x21..=0x7e).contains(&b))
    {
        return Err(RequestError::BadPath);
    }
    let body_hash = hex::encode(Sha256::digest(parts.body));
    Ok(format!(
        "{REQUEST_CONTEXT}\n{method}\n{path}\n{body_hash}\n{timestamp}\n{nonce}\n{till}"
    ))
}

/// Verifies a signed request against the till's public key, then its timestamp against
/// `now ± window_secs`. Pure: the caller supplies `now` and keeps the replay cache.
pub fn verify_request(
    parts: &RequestParts<'_>,
    headers: &SignedHeaders,
    key: &VerifyingKey,
    now: i64,
    window_secs: u64,
) -> Result<VerifiedRequest, RequestError> {
    let canonical = canonical_string(parts, &headers.till, headers.timestamp, &headers.nonce)?;
    let signature = Signature::from_bytes(&headers.signature);
    key.verify_strict(canonical.as_bytes(), &signature)
        .map_err(|_| RequestError::BadSignature)?;
    let skew_secs = now.abs_diff(headers.timestamp);
    if skew_secs > window_secs {
        return Err(RequestError::Stale { skew_secs });
    }
    Ok(VerifiedRequest {
        till: headers.till.clone(),
        timestamp: headers.timestamp,
        nonce: headers.nonce,
    })
}

/// Parses non-negative decimal unix seconds (digits only, at most 18 of them).
pub(crate) fn parse_unix(text: &str) -> Option<i64> {
    if text.is_empty() || text.len() > 18 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_751_371_200;

    fn key() -> SigningKey {
        SigningKey::from_bytes(&[7; 32])
    }

    fn parts(body: &[u8]) -> RequestParts<'_> {
        RequestParts {
            method: "POST",
            path_and_query: "/v1/journal",
            body,
        }
    }

    fn signed(body: &[u8], timestamp: i64) -> SignedHeaders {
        SignedHeaders::sign(
            &parts(body),
            TillId::new("S001-T01").unwrap(),
            timestamp,
            RequestNonce([0xab; 16]),
            &key(),
        )
        .unwrap()
    }

    fn through_headers(headers: &SignedHeaders) -> SignedHeaders {
        let values = headers.to_headers();
        let get = |name: &str| {
            values
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.as_str())
        };
        SignedHeaders::from_headers(
            get(HEADER_TILL),
            get(HEADER_TIMESTAMP),
            get(HEADER_NONCE),
            get(HEADER_SIGNATURE),
        )
        .unwrap()
    }

    #[test]
    fn canonical_string_is_as_documented() {
        let text = canonical_string(
            &RequestParts {
                method: "POST",
                path_and_query: "/v1/journal",
                body: b"test",
            },
            &TillId::new("S001-T01").unwrap(),
            NOW,
            &RequestNonce(core::array::from_fn(|i| u8::try_from(i).unwrap())),
        )
        .unwrap();
        assert_eq!(
            text,
            "tillpass-request-v1\nPOST\n/v1/journal\n\
             9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08\n\
             1751371200\n000102030405060708090a0b0c0d0e0f\nS001-T01"
        );
    }

    #[test]
    fn a_signed_request_verifies_and_yields_its_nonce() {
        let headers = through_headers(&signed(b"{}", NOW));
        let verified = verify_request(
            &parts(b"{}"),
            &headers,
            &key().verifying_key(),
            NOW + 10,
            DEFAULT_WINDOW_SECS,
        )
        .unwrap();
        assert_eq!(verified.nonce, RequestNonce([0xab; 16]));
        assert_eq!(verified.till.as_str(), "S001-T01");
        assert_eq!(verified.forget_after(300), NOW + 300);
    }

    #[test]
    fn tampering_is_refused() {
        let headers = signed(b"{}", NOW);
        let vk = key().verifying_key();
        let check = |parts: RequestParts<'_>, headers: &SignedHeaders| {
            verify_request(&parts, headers, &vk, NOW, DEFAULT_WINDOW_SECS)
        };
        assert_eq!(
            check(parts(b"{ }"), &headers),
            Err(RequestError::BadSignature)
        );
        let mut other = parts(b"{}");
        other.path_and_query = "/v1/journal?x=1";
        assert_eq!(check(other, &headers), Err(RequestError::BadSignature));
        other = parts(b"{}");
        other.method = "PUT";
        assert_eq!(check(other, &headers), Err(RequestError::BadSignature));
        let mut moved = headers.clone();
        moved.timestamp += 1;
        assert_eq!(check(parts(b"{}"), &moved), Err(RequestError::BadSignature));
        let mut renamed = headers.clone();
        renamed.till = TillId::new("S001-T02").unwrap();
        assert_eq!(
            check(parts(b"{}"), &renamed),
            Err(RequestError::BadSignature)
        );
        let mut flipped = headers.clone();
        flipped.signature[10] ^= 1;
        assert_eq!(
            check(parts(b"{}"), &flipped),
            Err(RequestError::BadSignature)
        );
        let other_key = SigningKey::from_bytes(&[8; 32]).verifying_key();
        assert_eq!(
            verify_request(&parts(b"{}"), &headers, &other_key, NOW, 300),
            Err(RequestError::BadSignature)
        );
    }

    #[test]
    fn stale_requests_are_refused_both_ways() {
        let vk = key().verifying_key();
        let old = signed(b"", NOW - 301);
        assert_eq!(
            verify_request(&parts(b""), &old, &vk, NOW, 300),
            Err(RequestError::Stale { skew_secs: 301 })
        );
        let future = signed(b"", NOW + 301);
        assert!(matches!(
            verify_request(&parts(b""), &future, &vk, NOW, 300),
            Err(RequestError::Stale { .. })
        ));
        let edge = signed(b"", NOW - 300);
        assert!(verify_request(&parts(b""), &edge, &vk, NOW, 300).is_ok());
        let extreme = signed(b"", 0);
        assert!(verify_request(&parts(b""), &extreme, &vk, i64::MIN, 300).is_err());
    }

    #[test]
    fn malformed_headers_and_parts_are_refused() {
        let good = signed(b"", NOW).to_headers();
        let v = |i: usize| Some(good[i].1.as_str());
        assert_eq!(
            SignedHeaders::from_headers(None, v(1), v(2), v(3)),
            Err(RequestError::MissingHeader(HEADER_TILL))
        );
        assert_eq!(
            SignedHeaders::from_headers(v(0), Some("-5"), v(2), v(3)),
            Err(RequestError::BadHeader(HEADER_TIMESTAMP))
        );
        assert_eq!(
            SignedHeaders::from_headers(v(0), v(1), Some("xyz"), v(3)),
            Err(RequestError::BadHeader(HEADER_NONCE))
        );
        assert_eq!(
            SignedHeaders::from_headers(v(0), v(1), v(2), Some("00")),
            Err(RequestError::BadHeader(HEADER_SIGNATURE))
        );
        assert_eq!(
            SignedHeaders::from_headers(Some("a\nb"), v(1), v(2), v(3)),
            Err(RequestError::BadHeader(HEADER_TILL))
        );
        let till = TillId::new("T").unwrap();
        let nonce = RequestNonce([0; 16]);
        for (method, path) in [
            ("post", "/x"),
            ("", "/x"),
            ("GET", "x"),
            ("GET", "/a b"),
            ("GET", "/a\nb"),
        ] {
            let parts = RequestParts {
                method,
                path_and_query: path,
                body: b"",
            };
            assert!(
                canonical_string(&parts, &till, NOW, &nonce).is_err(),
                "{method} {path}"
            );
        }
    }
}
