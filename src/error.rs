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

impl Error {
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Invalid(_) | Error::Slug(_) | Error::Settings(_) | Error::NotInitialised(_) => 2,
            Error::Conflict(_) => 3,
            Error::NotFound(_) => 4,
            Error::Connector(ConnectorError::Settings(_)) => 2,
            Error::Connector(c) if c.is_credential_rejected() => 5,
            Error::Partial(_) => 6,
            Error::Connector(_) | Error::Store(_) | Error::Vault(_) | Error::Runtime(_) => 1,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
