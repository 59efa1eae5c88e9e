//! Central's signed server time: every answer carries `Tillpass-Server-Time`, signed with
//! a sync key of the trust list and echoing the request's nonce. A verified time moves the
//! clock's high-water mark ([`Clock::observe_signed`]): the till never believes a wall clock
//! earlier than a time central signed for one of its own requests.

use thiserror::Error;
use tillpass_protocol::sync::{RequestNonce, ServerTime, ServerTimeError};
use tillpass_protocol::trust::{KeyId, KeyPurpose, TrustStore};

use crate::clock::Clock;

/// Why a server time was not believed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum TimeRefused {
    /// The answer had no server time.
    #[error("no server time in the answer")]
    Missing,
    /// The till has no trust list to check it with.
    #[error("no trust list to check the server time with")]
    NoTrust,
    /// The signing key is not a sync key of the trust list valid at that time.
    #[error("server time key: {0}")]
    Key(String),
    /// The header is malformed, the signature bad, or the nonce another request's.
    #[error(transparent)]
    Invalid(#[from] ServerTimeError),
}

/// Verifies a `Tillpass-Server-Time` header value against `trust`'s sync keys and the
/// request's `nonce`; returns the signed unix time.
pub fn verify(
    header: Option<&str>,
    trust: Option<&TrustStore>,
    nonce: &RequestNonce,
) -> Result<u64, TimeRefused> {
    let header = header.ok_or(TimeRefused::Missing)?;
    let trust = trust.ok_or(TimeRefused::NoTrust)?;
    let time = ServerTime::from_header_value(header)?;
    let unix = u64::try_from(time.unix).map_err(|_| ServerTimeError::Malformed)?;
    let key = trust
        .lookup(KeyId(time.key_id), KeyPurpose::Sync, unix)
        .map_err(|e| TimeRefused::Key(e.to_string()))?;
    time.verify(key.verifying_key(), Some(nonce))?;
    Ok(unix)
}

/// Verifies the header and, if it holds, feeds the time to `clock`. A refused time is
/// logged and otherwise ignored: the answer itself is judged on its own.
pub fn observe(
    clock: &Clock,
    header: Option<&str>,
    trust: Option<&TrustStore>,
    nonce: &RequestNonce,
) -> Option<u64> {
    match verify(header, trust, nonce) {
        Ok(unix) => {
            clock.observe_signed(unix);
            Some(unix)
        }
        Err(e) => {
            tracing::debug!(error = %e, "server time not believed");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::SigningKey;
    use std::sync::Arc;
    use tillpass_protocol::trust::TrustedKey;

    fn trust(key: &SigningKey, purpose: KeyPurpose) -> TrustStore {
        TrustStore::new(
            1,
            [TrustedKey::new(purpose, &key.verifying_key().to_bytes(), 0, u64::MAX).unwrap()],
        )
        .unwrap()
    }

    #[test]
    fn a_signed_time_for_our_request_moves_the_clock() {
        let sync = SigningKey::from_bytes(&[7; 32]);
        let nonce = RequestNonce([1; 16]);
        let header = ServerTime::sign(5_000, Some(nonce), &sync).to_header_value();
        let clock = Clock::new(Arc::new(|| 1_000), 60);
        let store = trust(&sync, KeyPurpose::Sync);
        assert_eq!(
            observe(&clock, Some(&header), Some(&store), &nonce),
            Some(5_000)
        );
        assert_eq!(clock.now(), 5_000);
    }

    #[test]
    fn forged_replayed_or_wrong_key_times_are_ignored() {
        let sync = SigningKey::from_bytes(&[7; 32]);
        let nonce = RequestNonce([1; 16]);
        let store = trust(&sync, KeyPurpose::Sync);
        let other_request = ServerTime::sign(5_000, Some(RequestNonce([2; 16])), &sync);
        assert!(matches!(
            verify(Some(&other_request.to_header_value()), Some(&store), &nonce),
            Err(TimeRefused::Invalid(ServerTimeError::NonceMismatch))
        ));
        let token_key = trust(&sync, KeyPurpose::Token);
        let header = ServerTime::sign(5_000, Some(nonce), &sync).to_header_value();
        assert!(matches!(
            verify(Some(&header), Some(&token_key), &nonce),
            Err(TimeRefused::Key(_))
        ));
        let mut forged = ServerTime::sign(5_000, Some(nonce), &sync);
        forged.unix = 9_000;
        assert!(matches!(
            verify(Some(&forged.to_header_value()), Some(&store), &nonce),
            Err(TimeRefused::Invalid(ServerTimeError::BadSignature))
        ));
        assert_eq!(
            verify(None, Some(&store), &nonce),
            Err(TimeRefused::Missing)
        );
        assert_eq!(
            verify(Some(&header), None, &nonce),
            Err(TimeRefused::NoTrust)
        );
        let clock = Clock::new(Arc::new(|| 1_000), 60);
        assert_eq!(observe(&clock, Some("t=1"), Some(&store), &nonce), None);
        assert_eq!(clock.mark(), 0);
    }
}
