//! The roots the till trusts for HTTPS to central: the system's certificate store (on
//! Debian, the `ca-certificates` package; `SSL_CERT_FILE` / `SSL_CERT_DIR` override it)
//! and, for a central behind a private CA, the CA certificates of `[central] ca_file`.
//!
//! A root store that cannot be loaded is a [`TlsError`] at start, naming the file or the
//! system store — never a network error later.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::RootCertStore;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use thiserror::Error;

/// Why the trusted roots could not be loaded.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum TlsError {
    /// The CA file could not be read or holds no usable PEM certificate.
    #[error("the CA file {path} for central cannot be used: {detail}")]
    CaFile {
        /// The file.
        path: PathBuf,
        /// Why.
        detail: String,
    },
    /// The system's root store gave no usable certificate and no CA file was configured.
    #[error(
        "the system's trusted root certificates could not be loaded ({detail}): install \
         ca-certificates, or set [central] ca_file to central's CA certificate"
    )]
    NoRoots {
        /// What the loader said.
        detail: String,
    },
    /// rustls refused the configuration.
    #[error("TLS configuration: {0}")]
    Config(String),
}

/// A rustls client configuration trusting the system's roots plus those of `ca_file`.
pub fn client_config(ca_file: Option<&Path>) -> Result<rustls::ClientConfig, TlsError> {
    let mut roots = RootCertStore::empty();
    if let Some(path) = ca_file {
        let bad = |detail: String| TlsError::CaFile {
            path: path.to_owned(),
            detail,
        };
        let bytes = std::fs::read(path).map_err(|e| bad(e.to_string()))?;
        let certs = CertificateDer::pem_slice_iter(&bytes)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| bad(format!("not PEM certificates: {e}")))?;
        let (added, _) = roots.add_parsable_certificates(certs);
        if added == 0 {
            return Err(bad("no usable certificate in it".to_owned()));
        }
    }
    let system = rustls_native_certs::load_native_certs();
    let (added, ignored) = roots.add_parsable_certificates(system.certs);
    let problems: Vec<String> = system.errors.iter().map(ToString::to_string).collect();
    if added == 0 && ca_file.is_none() {
        let detail = if problems.is_empty() {
            format!("no certificate found ({ignored} unusable)")
        } else {
            problems.join("; ")
        };
        return Err(TlsError::NoRoots { detail });
    }
    if !problems.is_empty() {
        tracing::warn!(problems = %problems.join("; "), loaded = added, "some system root certificates could not be read");
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Config(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unreadable_or_empty_ca_file_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.pem");
        let e = client_config(Some(&missing)).unwrap_err();
        assert!(matches!(e, TlsError::CaFile { .. }), "{e}");
        assert!(e.to_string().contains("missing.pem"), "{e}");

        let junk = dir.path().join("junk.pem");
        std::fs::write(&junk, "not a certificate\n").unwrap();
        let e = client_config(Some(&junk)).unwrap_err();
        assert!(e.to_string().contains("no usable certificate"), "{e}");
    }
}
