//! The gateway's error type and its mapping to the exit codes README.md ("CLI") lists.

use seliq_connectors::{ConnectorError, SettingsError};
use thiserror::Error;

use crate::slug::SlugError;
use crate::store::StoreError;
use crate::vault::VaultError;

#[derive(Debug, Error)]
pub enum Error {
    /// Invalid input or usage (exit 2).
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Slug(#[from] SlugError),
    #[error(transparent)]
    Settings(#[from] SettingsError),
    #[error("the data directory {0} is not initialised; run `seliq-gateway init` first")]
    NotInitialised(String),
    /// Slug taken, source already bound, concurrent rotation (exit 3).
    #[error("{0}")]
    Conflict(String),
    /// Unknown workspace or integration (exit 4).
    #[error("{0}")]
    NotFound(String),
    #[error(transparent)]
    Connector(#[from] ConnectorError),
    /// Some integrations of a pull failed, others succeeded (exit 6).
    #[error("{0}")]
    Partial(String),
    #[error(transparent)]
    Store(StoreError),
    #[error(transparent)]
    Vault(VaultError),
    /// Any other runtime failure (exit 1).
    #[error("{0}")]
    Runtime(String),
}

impl From<StoreError> for Error {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict(m) => Error::Conflict(m),
            other => Error::Store(other),
        }
    }
}

impl From<VaultError> for Error {
    fn from(e: VaultError) -> Self {
        match e {
            VaultError::Store(s) => s.into(),
            VaultError::BadMasterKey { .. } | VaultError::KeyFilePermissions { .. } => {
                Error::Invalid(e.to_string())
            }
            other => Error::Vault(other),
        }
    }
}

/// What a command's exit status means: the one table of exit codes (the README's CLI section
/// lists the same). Errors map to it through [`Error::exit`], a pull's mixed outcome through
/// `PullReport::exit`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Ok,
    /// Anything else: a vendor or store failure, an internal error.
    Failure,
    /// Bad input (arguments, settings, a file that is not ours): nothing was done.
    Invalid,
    /// Another process got there first (a binding, a checkpoint, a lock).
    Conflict,
    NotFound,
    /// The vendor refused the credential: retrying cannot help until it changes.
    CredentialRejected,
    /// Some of the work succeeded and some did not.
    Partial,
}

impl Exit {
    pub const fn code(self) -> u8 {
        match self {
            Exit::Ok => 0,
            Exit::Failure => 1,
            Exit::Invalid => 2,
            Exit::Conflict => 3,
            Exit::NotFound => 4,
            Exit::CredentialRejected => 5,
            Exit::Partial => 6,
        }
    }
}

impl Error {
    pub fn exit(&self) -> Exit {
        match self {
            Error::Invalid(_) | Error::Slug(_) | Error::Settings(_) | Error::NotInitialised(_) => {
                Exit::Invalid
            }
            Error::Conflict(_) => Exit::Conflict,
            Error::NotFound(_) => Exit::NotFound,
            Error::Connector(ConnectorError::Settings(_)) => Exit::Invalid,
            Error::Connector(c) if c.is_credential_rejected() => Exit::CredentialRejected,
            Error::Partial(_) => Exit::Partial,
            Error::Connector(_) | Error::Store(_) | Error::Vault(_) | Error::Runtime(_) => {
                Exit::Failure
            }
        }
    }

    pub fn exit_code(&self) -> u8 {
        self.exit().code()
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
