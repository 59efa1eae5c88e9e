//! Signed server time: central's clock, signed with the sync key, in every answer.
//!
//! Central adds a `Tillpass-Server-Time` header ([`HEADER_SERVER_TIME`]) to every response,
//! errors and `304 Not Modified` included:
//!
//! ```text
//! Tillpass-Server-Time: t=1751371200; kid=1a2b3c4d; nonce=000102…0f; sig=<128 hex digits>
//! ```
//!
//! `nonce` echoes the request's `Tillpass-Nonce` when it had one (it proves the time is
//! fresh, not replayed) and is absent otherwise. The signature is the sync key's over
//! `"tillpass-server-time-v1\n{t}\n{kid}\n{nonce}"` (the nonce empty when absent); `kid`
//! is the sync key's id (the first 4 bytes of SHA-256 of its public key, as in
//! `crate::trust`), so the till finds it in its trust list. A till never believes a wall
//! clock earlier than the newest server time it has verified.

use std::fmt;

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use thiserror::Error;

use super::request::{RequestNonce, parse_unix};

/// The response header carrying the signed server time.
pub const HEADER_SERVER_TIME: &str = "tillpass-server-time";

/// The first line of the signed message.
pub const SERVER_TIME_CONTEXT: &str = "tillpass-server-time-v1";

/// Central's clock at the time of an answer, signed with the sync key.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerTime {
    /// Unix seconds.
    pub unix: i64,
    /// The signing key's id (8 hex digits).
    #[serde(with = "super::hex::array")]
    pub key_id: [u8; 4],
    /// The request's nonce, echoed, when it had one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nonce: Option<RequestNonce>,
    /// The Ed25519 signature (128 hex digits).
    #[serde(with = "super::hex::array")]
    pub signature: [u8; 64],
}

impl fmt::Debug for ServerTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerTime")
            .field("unix", &self.unix)
            .field("key_id", &hex::encode(self.key_id))
            .field("nonce", &self.nonce)
            .finish_non_exhaustive()
    }
}

/// Why a server time was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum ServerTimeError {
    /// The header value is not `t=…; kid=…; [nonce=…;] sig=…`.
    #[error("malformed server time header")]
    Malformed,
    /// The key id is not the one of the key given to verify with.
    #[error("server time signed by another key")]
    WrongKey,
    /// The signature does not verify.
    #[error("bad server time signature")]
    BadSignature,
    /// The echoed nonce is not the request's.
    #[error("server time answers another request")]
    NonceMismatch,
}

/// Fills an empty slot with a parsed value; a second value or a parse failure is malformed.
fn set<T>(slot: &mut Option<T>, value: Option<T>) -> Result<(), ServerTimeError> {
    match (slot.is_some(), value) {
        (false, Some(value)) => {
            *slot = Some(value);
            Ok(())
        }
        _ => Err(ServerTimeError::Malformed),
    }
}

/// The id of an Ed25519 public key: the first 4 bytes of its SHA-256.
pub fn key_id_of(key: &VerifyingKey) -> [u8; 4] {
    let digest: [u8; 32] = Sha256::digest(key.as_bytes()).into();
    let [a, b, c, d, ..] = digest;
    [a, b, c, d]
}

fn message(unix: i64, key_id: &[u8; 4], nonce: Option<&RequestNonce>) -> String {
    let nonce = nonce.map(RequestNonce::to_hex).unwrap_or_default();
    format!(
        "{SERVER_TIME_CONTEXT}\n{unix}\n{}\n{nonce}",
        hex::encode(key_id)
    )
}

impl ServerTime {
    /// Signs `unix` (and the request's nonce, if any) with the sync key.
    pub fn sign(unix: i64, nonce: Option<RequestNonce>, key: &SigningKey) -> ServerTime {
        let key_id = key_id_of(&key.verifying_key());
        let signature = key
            .sign(message(unix, &key_id, nonce.as_ref()).as_bytes())
            .to_bytes();
        ServerTime {
            unix,
            key_id,
            nonce,
            signature,
        }
    }

    /// Verifies the signature with the sync key and, when `expected_nonce` is given, that
    /// the time answers that request. Returns the unix time.
    pub fn verify(
        &self,
        key: &VerifyingKey,
        expected_nonce: Option<&RequestNonce>,
    ) -> Result<i64, ServerTimeError> {
        if key_id_of(key) != self.key_id {
            return Err(ServerTimeError::WrongKey);
        }
        let signature = Signature::from_bytes(&self.signature);
        key.verify_strict(
            message(self.unix, &self.key_id, self.nonce.as_ref()).as_bytes(),
            &signature,
        )
        .map_err(|_| ServerTimeError::BadSignature)?;
        if let Some(expected) = expected_nonce
            && self.nonce.as_ref() != Some(expected)
        {
            return Err(ServerTimeError::NonceMismatch);
        }
        Ok(self.unix)
    }

    /// The header value: `t=…; kid=…; nonce=…; sig=…` (no `nonce` when absent).
    pub fn to_header_value(&self) -> String {
        match &self.nonce {
            Some(nonce) => format!(
                "t={}; kid={}; nonce={nonce}; sig={}",
                self.unix,
                hex::encode(self.key_id),
                hex::encode(self.signature)
            ),
            None => format!(
                "t={}; kid={}; sig={}",
                self.unix,
                hex::encode(self.key_id),
                hex::encode(self.signature)
            ),
        }
    }

    /// Parses a header value written by [`ServerTime::to_header_value`]. Verify it next.
    pub fn from_header_value(value: &str) -> Result<ServerTime, ServerTimeError> {
        let mut unix = None;
        let mut key_id = None;
        let mut nonce = None;
        let mut signature = None;
        for field in value.split(';') {
            let (name, text) = field
                .trim()
                .split_once('=')
                .ok_or(ServerTimeError::Malformed)?;
            match name {
                "t" => set(&mut unix, parse_unix(text))?,
                "kid" => set(&mut key_id, super::hex::decode_array(text))?,
                "nonce" => set(&mut nonce, text.parse().ok())?,
                "sig" => set(&mut signature, super::hex::decode_array(text))?,
                _ => return Err(ServerTimeError::Malformed),
            }
        }
        Ok(ServerTime {
            unix: unix.ok_or(ServerTimeError::Malformed)?,
            key_id: key_id.ok_or(ServerTimeError::Malformed)?,
            nonce,
            signature: signature.ok_or(ServerTimeError::Malformed)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> SigningKey {
        SigningKey::from_bytes(&[3; 32])
    }

    #[test]
    fn server_time_round_trips_through_the_header() {
        let nonce = RequestNonce([5; 16]);
        for n in [Some(nonce), None] {
            let time = ServerTime::sign(1_751_371_200, n, &key());
            let header = time.to_header_value();
            let back = ServerTime::from_header_value(&header).unwrap();
            assert_eq!(back, time);
            assert_eq!(
                back.verify(&key().verifying_key(), n.as_ref()),
                Ok(1_751_371_200)
            );
            let json = serde_json::to_string(&time).unwrap();
            assert_eq!(serde_json::from_str::<ServerTime>(&json).unwrap(), time);
        }
    }

    #[test]
    fn forged_or_misdirected_times_are_refused() {
        let vk = key().verifying_key();
        let nonce = RequestNonce([5; 16]);
        let mut time = ServerTime::sign(100, Some(nonce), &key());
        assert_eq!(
            time.verify(&vk, Some(&RequestNonce([6; 16]))),
            Err(ServerTimeError::NonceMismatch)
        );
        time.unix = 200;
        assert_eq!(time.verify(&vk, None), Err(ServerTimeError::BadSignature));
        let other = SigningKey::from_bytes(&[4; 32]).verifying_key();
        assert_eq!(
            ServerTime::sign(100, None, &key()).verify(&other, None),
            Err(ServerTimeError::WrongKey)
        );
        for bad in [
            "",
            "t=1",
            "t=1; kid=00; sig=00",
            "t=x; kid=01020304; sig=00",
            "t=1; t=1",
        ] {
            assert_eq!(
                ServerTime::from_header_value(bad),
                Err(ServerTimeError::Malformed),
                "{bad}"
            );
        }
    }
}
