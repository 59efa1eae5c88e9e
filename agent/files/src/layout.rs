//! Where the till's files are: their names, and an installed till's folders.
//!
//! The installer stages these below a root (`tillpass-install --root`); the agent finds
//! them through systemd's directories, its configuration or these defaults.

/// The agent's configuration file, in the configuration folder.
pub const CONFIG_FILE: &str = "config.toml";
/// The till's Ed25519 key (hex seed), mode 0600; also the name of its systemd credential.
pub const TILL_KEY_FILE: &str = "till.key";
/// The POS API's bearer token, mode 0600; also the name of its systemd credential.
pub const API_TOKEN_FILE: &str = "api.token";
/// What central answered at enrolment (`protocol::sync::EnrolmentRecord`), in the state
/// folder.
pub const ENROLMENT_FILE: &str = "enrolment.json";
/// The agent's SQLite database (with its `-wal` and `-shm`), in the state folder.
pub const DB_FILE: &str = "tillpass.db";

/// An installed till's configuration folder, relative to the root (the unit's
/// `ConfigurationDirectory=`).
pub const INSTALLED_CONFIG_DIR: &str = "etc/tillpass";
/// An installed till's state folder, relative to the root (the unit's `StateDirectory=`).
pub const INSTALLED_STATE_DIR: &str = "var/lib/tillpass";

/// Mode of a secret file (the till key, the API token): the owner's alone.
pub const SECRET_FILE_MODE: u32 = 0o600;
/// Mode of a private folder (the agent's state, the demo's folder).
pub const PRIVATE_DIR_MODE: u32 = 0o700;
