//! The roots a till trusts for HTTPS to central: the system's certificate store (on
//! Debian, the `ca-certificates` package; `SSL_CERT_FILE` / `SSL_CERT_DIR` override it)
//! and, for a central behind a private CA, the certificates of a PEM CA file (the agent's
//! `[central] ca_file`, which `tillpass-install --central-ca` installs).
//!
//! A root store that cannot be loaded is a [`TlsError`] naming the file or the system
//! store — never a network error later. rustls uses the ring provider.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::RootCertStore;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use thiserror::Error;

/// Installs the process-wide rustls provider, once. Safe to call again.
pub fn init() {
    // An error means a provider is already installed, which is what we want.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

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
    /// The system's root store gave no usable certificate and no CA file was given.
    #[error(
        "the system's trusted root certificates could not be loaded ({detail}): install \
         ca-certificates, or give central's CA certificate (`tillpass-install --central-ca \
         FILE`, the agent's `[central] ca_file`)"
    )]
    NoRoots {
        /// What the loader said.
        detail: String,
    },
    /// rustls refused the configuration.
    #[error("TLS configuration: {0}")]
    Config(String),
}

/// A client configuration, and what of the system's store could not be read (the
/// configuration is usable; say so in the log).
#[derive(Debug)]
pub struct Trusted {
    /// The rustls client configuration.
    pub config: rustls::ClientConfig,
    /// Problems reading some of the system's roots, when others were loaded.
    pub problems: Vec<String>,
}

/// The certificates of a PEM CA file, checked: at least one must be usable.
pub fn read_ca_file(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let bad = |detail: String| TlsError::CaFile {
        path: path.to_owned(),
        detail,
    };
    let bytes = std::fs::read(path).map_err(|e| bad(e.to_string()))?;
    let certs = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad(format!("not PEM certificates: {e}")))?;
    let mut probe = RootCertStore::empty();
    let (added, _) = probe.add_parsable_certificates(certs.iter().cloned());
    if added == 0 {
        return Err(bad("no usable certificate in it".to_owned()));
    }
    Ok(certs)
}

/// A rustls client configuration trusting the system's roots plus those of `ca_file`.
pub fn trusted(ca_file: Option<&Path>) -> Result<Trusted, TlsError> {
    let mut roots = RootCertStore::empty();
    if let Some(path) = ca_file {
        roots.add_parsable_certificates(read_ca_file(path)?);
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
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Config(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Trusted { config, problems })
}

/// [`trusted`]'s configuration alone.
pub fn client_config(ca_file: Option<&Path>) -> Result<rustls::ClientConfig, TlsError> {
    trusted(ca_file).map(|t| t.config)
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
