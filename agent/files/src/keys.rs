//! The till's own secrets: its Ed25519 key (which signs every request to central) and the
//! bearer token the POS software presents to the local API.
//!
//! Both files are text: the key is the 32-byte Ed25519 seed in lower-case hex, the token is
//! 32 random bytes in lower-case hex; each ends with a newline and has mode 0600
//! ([`SECRET_FILE_MODE`](crate::layout::SECRET_FILE_MODE)).

use std::io::Write;
use std::path::{Path, PathBuf};

use ed25519_dalek::{SigningKey, VerifyingKey};
use thiserror::Error;

/// A secret that could not be made, read or written.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The operating system's random source failed.
    #[error("the system random source failed: {0}")]
    Random(String),
    /// A key file does not hold a 32-byte hex seed.
    #[error("the till key file does not hold a 64-character hex Ed25519 seed")]
    Malformed,
    /// A token file is empty.
    #[error("the API token file {0} is empty")]
    EmptyToken(PathBuf),
    /// This process may not read the file (a run by hand as another user than the
    /// unit's, which is handed the file as a credential).
    #[error("this process may not read {0}")]
    Forbidden(PathBuf),
    /// The file is not there.
    #[error("{0} does not exist")]
    Missing(PathBuf),
    /// Another I/O error.
    #[error("{path}: {detail}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What the system said.
        detail: String,
    },
}

impl KeyError {
    fn io(path: &Path, e: &std::io::Error) -> KeyError {
        match e.kind() {
            std::io::ErrorKind::PermissionDenied => KeyError::Forbidden(path.to_owned()),
            std::io::ErrorKind::NotFound => KeyError::Missing(path.to_owned()),
            _ => KeyError::Io {
                path: path.to_owned(),
                detail: e.to_string(),
            },
        }
    }
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

/// Reads the till key file at `path`.
pub fn read_till_key(path: &Path) -> Result<SigningKey, KeyError> {
    let text = std::fs::read_to_string(path).map_err(|e| KeyError::io(path, &e))?;
    parse_till_key(&text)
}

/// Reads the API token file at `path`: the token, without the line's end.
pub fn read_api_token(path: &Path) -> Result<String, KeyError> {
    let text = std::fs::read_to_string(path).map_err(|e| KeyError::io(path, &e))?;
    let token = text.trim();
    if token.is_empty() {
        return Err(KeyError::EmptyToken(path.to_owned()));
    }
    Ok(token.to_owned())
}

/// The public half of a till key, in hex as central records it.
pub fn public_hex(key: &SigningKey) -> String {
    hex::encode(VerifyingKey::from(key).as_bytes())
}

/// Writes a secret file (a till key, an API token) with mode 0600 whatever the umask,
/// replacing what was there.
pub fn write_secret(path: &Path, text: &str) -> Result<(), KeyError> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let io = |e: std::io::Error| KeyError::io(path, &e);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(crate::layout::SECRET_FILE_MODE)
        .open(path)
        .map_err(io)?;
    file.set_permissions(std::fs::Permissions::from_mode(
        crate::layout::SECRET_FILE_MODE,
    ))
    .map_err(io)?;
    file.write_all(text.as_bytes()).map_err(io)?;
    file.sync_all().map_err(io)
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

    #[test]
    fn secrets_are_written_private_and_read_back() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let key_file = dir.path().join(crate::layout::TILL_KEY_FILE);
        let text = new_till_key_file().unwrap();
        // A file another tool left world-readable is narrowed.
        std::fs::write(&key_file, "old").unwrap();
        std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o644)).unwrap();
        write_secret(&key_file, &text).unwrap();
        let mode = std::fs::metadata(&key_file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(
            read_till_key(&key_file).unwrap().to_bytes(),
            parse_till_key(&text).unwrap().to_bytes()
        );

        let token_file = dir.path().join(crate::layout::API_TOKEN_FILE);
        write_secret(&token_file, "abc\n").unwrap();
        assert_eq!(read_api_token(&token_file).unwrap(), "abc");
        write_secret(&token_file, "\n").unwrap();
        assert!(matches!(
            read_api_token(&token_file),
            Err(KeyError::EmptyToken(_))
        ));
        assert!(matches!(
            read_till_key(&dir.path().join("absent")),
            Err(KeyError::Missing(_))
        ));
    }
}
