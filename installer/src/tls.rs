//! TLS for talking to central: rustls with the ring provider, installed once per process.

/// Installs the process-wide rustls provider, once. Safe to call again.
pub fn init() {
    // An error means a provider is already installed, which is what we want.
    let _ = rustls::crypto::ring::default_provider().install_default();
}
