//! TLS for talking to central: the roots a till trusts (the system's store plus
//! `--central-ca`), shared with the agent: `tillpass_tillfiles::tls`.

pub use tillpass_tillfiles::tls::{TlsError, client_config, init, read_ca_file};
