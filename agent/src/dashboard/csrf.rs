//! Anti-forgery tokens. Every form that changes anything is a POST carrying a `csrf`
//! field, checked before anything else is read:
//!
//! - signed in, it must equal the session's own token (kept with the session in SQLite);
//! - on the sign-in form, where there is no session yet, it must equal the random value of
//!   the `tillpass_login` cookie set with the form (double submit): another site can
//!   neither read that cookie nor, with `SameSite=Strict`, make the browser send it.
//!
//! Read-only pages are GETs and take no token: a token in a URL would end up in the
//! history and the logs.

use subtle::ConstantTimeEq;

/// A fresh random token: 32 bytes, hex.
pub(crate) fn token() -> Result<String, getrandom::Error> {
    let mut bytes = [0_u8; 32];
    getrandom::fill(&mut bytes)?;
    Ok(hex::encode(bytes))
}

/// Whether the presented token is the expected one, compared in constant time. An empty
/// expected token never matches.
pub(crate) fn matches(expected: &str, presented: &str) -> bool {
    !expected.is_empty() && bool::from(expected.as_bytes().ct_eq(presented.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_and_compared_exactly() {
        let a = token().unwrap();
        let b = token().unwrap();
        assert_eq!(a.len(), 64);
        assert_ne!(a, b);
        assert!(matches(&a, &a.clone()));
        assert!(!matches(&a, &b));
        assert!(!matches(&a, &a[..63]));
        assert!(!matches(&a, ""));
        assert!(!matches("", ""), "no token never matches");
    }
}
