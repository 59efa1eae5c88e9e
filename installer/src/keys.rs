//! The till's own secrets: its Ed25519 key (which signs every request to central) and the
//! bearer token the POS software presents to the local API.
//!
//! Both files are text: the key is the 32-byte Ed25519 seed in lower-case hex, the token is
//! 32 random bytes in lower-case hex; each ends with a newline and has mode 0600.

use ed25519_dalek::{SigningKey, VerifyingKey};
use thiserror::Error;

/// A secret that could not be made or read.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The operating system's random source failed.
    #[error("the system random source failed: {0}")]
    Random(String),
    /// A key file does not hold a 32-byte hex seed.
    #[error("the till key file does not hold a 64-character hex Ed25519 seed")]
    Malformed,
}

fn random32() -> Result<[u8; 32], KeyError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| KeyError::Random(e.to_string()))?;
    Ok(bytes)
}

/// A fresh till key, as the text of its key file.
pub fn new_till_key_file() -> Result<String, KeyError> {
    Ok(format!("{}\n", hex::encode(random32()?)))
}

/// A fresh POS API bearer token, as the text of its file.
pub fn new_api_token_file() -> Result<String, KeyError> {
    Ok(format!("{}\n", hex::encode(random32()?)))
}

/// Reads a till key file's text.
pub fn parse_till_key(text: &str) -> Result<SigningKey, KeyError> {
    let mut seed = [0u8; 32];
    hex::decode_to_slice(text.trim(), &mut seed).map_err(|_| KeyError::Malformed)?;
    Ok(SigningKey::from_bytes(&seed))
}

/// The public half of a till key, in hex as central records it.
pub fn public_hex(key: &SigningKey) -> String {
    hex::encode(VerifyingKey::from(key).as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_files_round_trip_and_differ() {
        let a = new_till_key_file().unwrap();
        let b = new_till_key_file().unwrap();
        assert_ne!(a, b);
        assert_eq!(a.len(), 65);
        let key = parse_till_key(&a).unwrap();
        assert_eq!(public_hex(&key).len(), 64);
        assert!(matches!(parse_till_key("zz"), Err(KeyError::Malformed)));
        assert!(matches!(parse_till_key(&a[..40]), Err(KeyError::Malformed)));
    }
}
