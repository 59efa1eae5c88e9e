//! The one error type of the central library. Each variant says what the HTTP layer
//! should answer; the detail of internal failures is logged, never sent.

use thiserror::Error;

/// What can go wrong in central.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum Error {
    /// The request is not acceptable as sent (a bad field, a bad id). The text is safe to
    /// show to the caller: it names the field, never internal state.
    #[error("{0}")]
    Invalid(String),
    /// The thing asked for does not exist.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The request conflicts with the current state (an id taken, a code already used).
    #[error("{0}")]
    Conflict(String),
    /// The caller is not who they claim, or did not say who they are.
    #[error("{0}")]
    Unauthorized(String),
    /// A catalog failed validation; every problem is listed.
    #[error("catalog refused:\n{0}")]
    Catalog(String),
    /// The database failed.
    #[error("database: {0}")]
    Db(#[from] rusqlite::Error),
    /// PostgreSQL failed.
    #[error("postgresql: {0}")]
    Postgres(#[from] tokio_postgres::Error),
    /// The database cannot take more work now (every pooled connection in use past the
    /// wait): worth a retry, as contention is.
    #[error("database busy: {0}")]
    Busy(String),
    /// A file (a key, the database directory) could not be read or written.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The cause.
        source: std::io::Error,
    },
    /// An operation not offered on this database's backend yet (named).
    #[error("{0} is not available on this database's backend yet")]
    NotOnThisBackend(&'static str),
    /// Something central itself got wrong (a key missing, a value that cannot encode).
    #[error("internal: {0}")]
    Internal(String),
}

impl Error {
    /// An [`Error::Invalid`] from anything displayable.
    pub fn invalid(message: impl std::fmt::Display) -> Error {
        Error::Invalid(message.to_string())
    }

    /// An [`Error::Internal`] from anything displayable.
    pub fn internal(message: impl std::fmt::Display) -> Error {
        Error::Internal(message.to_string())
    }

    /// Whether this is contention — SQLite busy or locked by another connection;
    /// PostgreSQL's serialization failure or deadlock (one of two transactions is chosen
    /// to give way); no pooled connection free — worth a retry, and never the caller's
    /// fault nor a server fault.
    pub fn is_busy(&self) -> bool {
        match self {
            Error::Db(rusqlite::Error::SqliteFailure(e, _)) => matches!(
                e.code,
                rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked
            ),
            Error::Postgres(e) => e.code().is_some_and(|code| {
                *code == tokio_postgres::error::SqlState::T_R_SERIALIZATION_FAILURE
                    || *code == tokio_postgres::error::SqlState::T_R_DEADLOCK_DETECTED
            }),
            Error::Busy(_) => true,
            _ => false,
        }
    }

    /// An [`Error::Io`] with its context.
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Error {
        Error::Io {
            context: context.into(),
            source,
        }
    }
}

/// The result type of the central library.
pub type Result<T, E = Error> = std::result::Result<T, E>;
