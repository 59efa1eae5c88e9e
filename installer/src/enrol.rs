//! Enrolment: the till presents a one-time code and its own public key to central, and
//! keeps what central answers (its ids, the trust list and the offline policy) in
//! `enrolment.json` in the state directory.
//!
//! A code works once, so a re-run of `install` on an enrolled till must not spend it
//! again: [`Enrolment::matches`] tells whether the record on disk already belongs to this
//! key and this central.

use std::time::Duration;

use serde::Deserialize;
use thiserror::Error;
use tillpass_protocol::sync::{EnrolRequest, EnrolResponse};

/// What the installer keeps of an enrolment (shared with the agent, which reads it).
pub use tillpass_protocol::sync::EnrolmentRecord as Enrolment;

fn normalise(url: &str) -> &str {
    url.trim_end_matches('/')
}

/// Why enrolment failed, with what to do.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum EnrolError {
    /// The URL is not an http(s) URL.
    #[error("central URL {0:?} must start with https:// (or http:// for a test central)")]
    BadUrl(String),
    /// Central could not be reached.
    #[error(
        "could not reach central at {url}: {detail}. Check the URL, the till's network and \
         any proxy, then run install again"
    )]
    Unreachable {
        /// The URL tried.
        url: String,
        /// What the network said.
        detail: String,
    },
    /// Central refused the code.
    #[error(
        "central refused the enrolment ({status}): {detail}. Ask central IT for a new \
         enrolment code for this till"
    )]
    Refused {
        /// The HTTP status.
        status: u16,
        /// Central's explanation.
        detail: String,
    },
    /// Central answered something that is not an enrolment.
    #[error("central's answer is not a valid enrolment: {0}")]
    BadAnswer(String),
}

/// Enrols with central: sends `code` and the till's public key, returns what central
/// answered.
pub fn enrol(
    central: &str,
    code: &str,
    till_public_key: [u8; 32],
    hostname: &str,
) -> Result<EnrolResponse, EnrolError> {
    let base = normalise(central);
    if !(base.starts_with("https://") || base.starts_with("http://")) {
        return Err(EnrolError::BadUrl(central.to_owned()));
    }
    crate::tls::init();
    let url = format!("{base}{}", tillpass_protocol::sync::paths::ENROL);
    let request = EnrolRequest::new(
        code.trim(),
        till_public_key,
        env!("CARGO_PKG_VERSION"),
        hostname,
    );
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .map_err(|e| EnrolError::Unreachable {
            url: url.clone(),
            detail: e.to_string(),
        })?;
    let answer = client
        .post(&url)
        .json(&request)
        .send()
        .map_err(|e| EnrolError::Unreachable {
            url: url.clone(),
            detail: e.to_string(),
        })?;
    let status = answer.status();
    let body = answer.bytes().map_err(|e| EnrolError::Unreachable {
        url: url.clone(),
        detail: e.to_string(),
    })?;
    if !status.is_success() {
        return Err(EnrolError::Refused {
            status: status.as_u16(),
            detail: problem_detail(&body),
        });
    }
    let response: EnrolResponse =
        serde_json::from_slice(&body).map_err(|e| EnrolError::BadAnswer(e.to_string()))?;
    if response.v != tillpass_protocol::sync::VERSION {
        return Err(EnrolError::BadAnswer(format!(
            "message version {} (this installer speaks {})",
            response.v,
            tillpass_protocol::sync::VERSION
        )));
    }
    Ok(response)
}

/// The `detail` (or `title`) of an `application/problem+json` body, or a short excerpt.
fn problem_detail(body: &[u8]) -> String {
    #[derive(Deserialize)]
    struct Problem {
        title: Option<String>,
        detail: Option<String>,
    }
    match serde_json::from_slice::<Problem>(body) {
        Ok(Problem {
            detail: Some(d), ..
        }) => d,
        Ok(Problem { title: Some(t), .. }) => t,
        _ => String::from_utf8_lossy(body).chars().take(200).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn problem_details_are_read_or_excerpted() {
        assert_eq!(
            problem_detail(br#"{"title":"Bad","detail":"code already used"}"#),
            "code already used"
        );
        assert_eq!(problem_detail(br#"{"title":"Bad"}"#), "Bad");
        assert_eq!(problem_detail(b"plain"), "plain");
    }

    #[test]
    fn a_url_without_scheme_is_refused_before_any_network() {
        let e = enrol("loyalty.example.com", "CODE", [1; 32], "till").unwrap_err();
        assert!(matches!(e, EnrolError::BadUrl(_)));
    }
}
