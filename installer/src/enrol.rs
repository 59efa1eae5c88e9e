//! Enrolment: the till presents a one-time code and its own public key to central, and
//! keeps what central answers (its ids, the trust list and the offline policy) in
//! `enrolment.json` in the state directory.
//!
//! A code works once, so a re-run of `install` on an enrolled till must not spend it
//! again: [`Enrolment::matches`] tells whether the record on disk already belongs to this
//! key and this central.
//!
//! ## Trust
//!
//! Central's answer carries the root key the till will trust for everything after, so it
//! is taken only when it matches a root pinned beforehand ([`Pinned`]): the fingerprint the
//! code carries (`tillpass-central enrol-code` prints `CODE-<fingerprint>`), or, for a code
//! of an older central, the fingerprint given on its own (`--central-root`). A code without
//! a fingerprint and no `--central-root` is refused before anything is sent. Central's URL
//! must be `https://` (system roots plus an optional CA file, [`crate::tls`]) or `http://`
//! to this machine only.

use std::path::Path;
use std::time::Duration;

use serde::Deserialize;
use thiserror::Error;
use tillpass_protocol::sync::{
    CentralUrlError, EnrolCode, EnrolRequest, EnrolResponse, RootFingerprint, check_central_url,
    is_https,
};

use crate::tls::TlsError;

/// What the installer keeps of an enrolment (shared with the agent, which reads it).
pub use tillpass_protocol::sync::EnrolmentRecord as Enrolment;

fn normalise(url: &str) -> &str {
    url.trim_end_matches('/')
}

/// Why enrolment failed, with what to do.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum EnrolError {
    /// The URL may not be used: not a URL, or plain `http://` to another machine.
    #[error(transparent)]
    BadUrl(#[from] CentralUrlError),
    /// The code carries no fingerprint of central's root key and none was given.
    #[error(
        "the enrolment code carries no fingerprint of central's root key (a code from an \
         older central): ask central IT for a new code (`tillpass-central enrol-code` prints \
         CODE-<fingerprint>), or give the root key's fingerprint with --central-root"
    )]
    NoPinnedRoot,
    /// The code's fingerprint and `--central-root` differ.
    #[error(
        "the enrolment code pins central's root key {in_code} but --central-root says \
         {given}: check both with central IT"
    )]
    PinConflict {
        /// The fingerprint the enrolment code carries.
        in_code: RootFingerprint,
        /// The fingerprint given with `--central-root`.
        given: RootFingerprint,
    },
    /// Central's answer carries another root key than the one pinned: someone between the
    /// till and central may be answering in its place. Nothing was written.
    #[error(
        "central's enrolment answer carries a root key with fingerprint {received}, not the \
         pinned {pinned}: the connection to central may be intercepted. Nothing was written; \
         the code may be spent — report this to central IT and ask for a new code"
    )]
    RootMismatch {
        /// The fingerprint pinned (code or `--central-root`).
        pinned: RootFingerprint,
        /// The fingerprint of the root key in the answer.
        received: RootFingerprint,
    },
    /// The roots trusted for HTTPS could not be loaded.
    #[error(transparent)]
    Tls(#[from] TlsError),
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
        /// Central's HTTP status.
        status: u16,
        /// Central's explanation.
        detail: String,
    },
    /// Central answered something that is not an enrolment.
    #[error("central's answer is not a valid enrolment: {0}")]
    BadAnswer(String),
}

/// The one-time code to send and the root fingerprint to hold central's answer to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pinned {
    /// The one-time part of the code.
    pub code: String,
    /// The fingerprint central's root key must have.
    pub root: RootFingerprint,
}

impl Pinned {
    /// The pin of a code as typed (`CODE-<fingerprint>`), or of an older code together with
    /// `central_root`; both given must agree.
    pub fn from_code(
        code: &str,
        central_root: Option<RootFingerprint>,
    ) -> Result<Pinned, EnrolError> {
        let parsed = EnrolCode::parse(code);
        let root = match (parsed.root, central_root) {
            (Some(in_code), Some(given)) if in_code != given => {
                return Err(EnrolError::PinConflict { in_code, given });
            }
            (Some(root), _) | (None, Some(root)) => root,
            (None, None) => return Err(EnrolError::NoPinnedRoot),
        };
        Ok(Pinned {
            code: parsed.code,
            root,
        })
    }
}

/// Where and how to enrol.
#[derive(Debug, Clone, Copy)]
pub struct Target<'a> {
    /// Central's base URL.
    pub central: &'a str,
    /// The one-time code and the pinned root.
    pub pinned: &'a Pinned,
    /// A PEM file of CA certificates trusted for central besides the system's.
    pub ca_file: Option<&'a Path>,
}

/// Checks what can be checked before anything is written or sent: the URL, and for
/// `https://` that the trusted roots load.
pub fn preflight(central: &str, ca_file: Option<&Path>) -> Result<(), EnrolError> {
    check_central_url(central)?;
    if is_https(central) {
        crate::tls::client_config(ca_file)?;
    }
    Ok(())
}

/// Enrols with central: `code` as printed (it pins the root key), the system's roots.
/// See [`enrol_with`].
pub fn enrol(
    central: &str,
    code: &str,
    till_public_key: [u8; 32],
    hostname: &str,
) -> Result<EnrolResponse, EnrolError> {
    let pinned = Pinned::from_code(code, None)?;
    let target = Target {
        central,
        pinned: &pinned,
        ca_file: None,
    };
    enrol_with(&target, till_public_key, hostname)
}

/// Enrols with central: sends the one-time code and the till's public key, returns what
/// central answered — only if its root key has the pinned fingerprint.
pub fn enrol_with(
    target: &Target<'_>,
    till_public_key: [u8; 32],
    hostname: &str,
) -> Result<EnrolResponse, EnrolError> {
    check_central_url(target.central)?;
    let base = normalise(target.central.trim());
    crate::tls::init();
    let url = format!("{base}{}", tillpass_protocol::sync::paths::ENROL);
    let request = EnrolRequest::new(
        target.pinned.code.trim(),
        till_public_key,
        env!("CARGO_PKG_VERSION"),
        hostname,
    );
    // No redirects: the enrolment answer must come from the URL that was checked.
    let mut builder = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(30))
        .redirect(reqwest::redirect::Policy::none());
    if is_https(base) {
        builder = builder.tls_backend_preconfigured(crate::tls::client_config(target.ca_file)?);
    }
    let unreachable = |e: &dyn std::error::Error| EnrolError::Unreachable {
        url: url.clone(),
        detail: error_chain(e),
    };
    let client = builder.build().map_err(|e| unreachable(&e))?;
    let answer = client
        .post(&url)
        .json(&request)
        .send()
        .map_err(|e| unreachable(&e))?;
    let status = answer.status();
    let body = answer.bytes().map_err(|e| unreachable(&e))?;
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
    if !target.pinned.root.matches(&response.root_public_key) {
        return Err(EnrolError::RootMismatch {
            pinned: target.pinned.root,
            received: RootFingerprint::of(&response.root_public_key),
        });
    }
    Ok(response)
}

/// An error and its causes on one line (the HTTP client keeps the useful part, such as a
/// certificate refusal, in the sources).
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
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

    fn pinned() -> Pinned {
        Pinned {
            code: "BCDF-GHJK".into(),
            root: RootFingerprint::of(&[1; 32]),
        }
    }

    fn target<'a>(central: &'a str, pinned: &'a Pinned) -> Target<'a> {
        Target {
            central,
            pinned,
            ca_file: None,
        }
    }

    #[test]
    fn a_url_without_scheme_or_plain_http_to_another_host_is_refused_before_any_network() {
        let pinned = pinned();
        let e = enrol_with(&target("loyalty.example.com", &pinned), [1; 32], "till").unwrap_err();
        assert!(matches!(e, EnrolError::BadUrl(_)), "{e}");
        // 192.0.2.1 (TEST-NET-1) is never reached: the URL is refused first.
        let e = enrol_with(&target("http://192.0.2.1:8440", &pinned), [1; 32], "till").unwrap_err();
        assert!(
            matches!(e, EnrolError::BadUrl(CentralUrlError::PlainHttp { .. })),
            "{e}"
        );
        assert!(e.to_string().contains("use https://"), "{e}");
        assert!(preflight("http://192.0.2.1", None).is_err());
        assert!(preflight("http://127.0.0.1:8440", None).is_ok());
    }

    #[test]
    fn the_root_is_pinned_by_the_code_or_given_on_its_own() {
        let root = RootFingerprint::of(&[1; 32]);
        let other = RootFingerprint::of(&[2; 32]);
        let code = EnrolCode::with_root("BCDF-GHJK-MNPR-TVX2", root);
        assert_eq!(
            Pinned::from_code(&code, None).unwrap(),
            Pinned {
                code: "BCDF-GHJK-MNPR-TVX2".into(),
                root
            }
        );
        assert_eq!(Pinned::from_code(&code, Some(root)).unwrap().root, root);
        assert!(matches!(
            Pinned::from_code(&code, Some(other)),
            Err(EnrolError::PinConflict { .. })
        ));
        // An old code: only with --central-root.
        let e = Pinned::from_code("BCDF-GHJK-MNPR-TVX2", None).unwrap_err();
        assert!(matches!(e, EnrolError::NoPinnedRoot));
        assert!(e.to_string().contains("--central-root"), "{e}");
        assert_eq!(
            Pinned::from_code("BCDF-GHJK-MNPR-TVX2", Some(other))
                .unwrap()
                .root,
            other
        );
        // The demo's and scripts' entry point refuses an old code before any network.
        assert!(matches!(
            enrol("http://127.0.0.1:9", "BCDF-GHJK", [1; 32], "till"),
            Err(EnrolError::NoPinnedRoot)
        ));
    }
}
