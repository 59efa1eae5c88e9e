//! The roots the till trusts for HTTPS to central: those of `tillpass_tillfiles::tls` (the
//! system's store plus `[central] ca_file`), shared with the installer; what of the
//! system's store could not be read is logged.

use std::path::Path;

pub use tillpass_tillfiles::tls::TlsError;

/// A rustls client configuration trusting the system's roots plus those of `ca_file`.
pub fn client_config(ca_file: Option<&Path>) -> Result<rustls::ClientConfig, TlsError> {
    let trusted = tillpass_tillfiles::tls::trusted(ca_file)?;
    if !trusted.problems.is_empty() {
        tracing::warn!(
            problems = %trusted.problems.join("; "),
            "some system root certificates could not be read"
        );
    }
    Ok(trusted.config)
}
