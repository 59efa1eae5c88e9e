//! Manager passwords: Argon2id (RFC 9106) with the `argon2` crate's default cost — 19 MiB,
//! two passes, one lane, OWASP's recommendation — and a random 16-byte salt, stored as a
//! PHC string (`$argon2id$v=19$m=19456,t=2,p=1$…`). The cost travels in the string, so a
//! later change of cost still verifies old hashes.

use argon2::password_hash::phc::PasswordHash;
use argon2::{
    ARGON2ID_IDENT, Algorithm, Argon2, Params, PasswordHasher, PasswordVerifier, Version,
};

/// The shortest password accepted.
pub const MIN_LEN: usize = 10;
/// The longest password accepted, in bytes.
pub const MAX_LEN: usize = 1024;

/// Why a password cannot be used or hashed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum PasswordError {
    /// Too short.
    #[error("the password must have at least {MIN_LEN} characters")]
    TooShort,
    /// Too long.
    #[error("the password must have at most {MAX_LEN} bytes")]
    TooLong,
    /// No randomness for the salt, or the hash could not be made.
    #[error("the password could not be hashed: {0}")]
    Hash(String),
}

fn argon2() -> Argon2<'static> {
    Argon2::new(Algorithm::Argon2id, Version::V0x13, Params::default())
}

/// Checks a new password's length.
pub fn check(password: &str) -> Result<(), PasswordError> {
    if password.chars().count() < MIN_LEN {
        return Err(PasswordError::TooShort);
    }
    if password.len() > MAX_LEN {
        return Err(PasswordError::TooLong);
    }
    Ok(())
}

/// Hashes a new password (after [`check`]) as an Argon2id PHC string.
pub fn hash(password: &str) -> Result<String, PasswordError> {
    check(password)?;
    let mut salt = [0_u8; 16];
    getrandom::fill(&mut salt).map_err(|e| PasswordError::Hash(e.to_string()))?;
    argon2()
        .hash_password_with_salt(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| PasswordError::Hash(e.to_string()))
}

/// Whether `password` matches the stored PHC string. Only Argon2id hashes are accepted;
/// anything unreadable is a mismatch.
pub fn verify(password: &str, stored: &str) -> bool {
    if password.len() > MAX_LEN {
        return false;
    }
    let Ok(parsed) = PasswordHash::new(stored) else {
        return false;
    };
    if parsed.algorithm != ARGON2ID_IDENT {
        return false;
    }
    argon2()
        .verify_password(password.as_bytes(), &parsed)
        .is_ok()
}

/// Spends the time of one verification, for a name that has no account: the answer's
/// timing then does not tell which names exist.
pub fn verify_nobody(password: &str) {
    static DECOY: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    if let Some(decoy) = DECOY.get_or_init(|| hash("decoy password, never matches").ok()) {
        let _ = verify(password, decoy);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_argon2id_salted_and_verify() {
        let a = hash("correct horse battery").unwrap();
        let b = hash("correct horse battery").unwrap();
        assert!(a.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{a}");
        assert_ne!(a, b, "a fresh salt each time");
        assert!(verify("correct horse battery", &a));
        assert!(verify("correct horse battery", &b));
        assert!(!verify("correct horse batterY", &a));
        assert!(!verify("", &a));
        assert!(!verify("correct horse battery", "not a hash"));
        assert!(!verify("correct horse battery", ""));
    }

    #[test]
    fn other_algorithms_are_refused() {
        // A valid Argon2i hash of the same password does not sign anyone in.
        let argon2i = Argon2::new(Algorithm::Argon2i, Version::V0x13, Params::default())
            .hash_password_with_salt(b"correct horse battery", &[7; 16])
            .unwrap()
            .to_string();
        assert!(argon2i.starts_with("$argon2i$"));
        assert!(!verify("correct horse battery", &argon2i));
    }

    #[test]
    fn weak_passwords_are_refused() {
        assert_eq!(hash("short"), Err(PasswordError::TooShort));
        assert_eq!(hash(&"x".repeat(MAX_LEN + 1)), Err(PasswordError::TooLong));
        assert!(!verify(&"x".repeat(MAX_LEN + 1), "$argon2id$"));
        assert!(check("ñandú ñandú").is_ok(), "counted in characters");
    }
}
